// Blas: a cuBLAS handle bound to one stream, and row-major GEMM on it.
//
// Gemm computes C[M,N] = alpha * op(A) * op(B) + beta * C with every matrix row-major, as the CPU
// Gemm/MatMul kernels take them: op(A) is A[M,K] (lda >= K) or, with trans_a, A stored as [K,M]
// (lda >= M); likewise op(B) is B[K,N] (ldb >= N) or B stored as [N,K] (ldb >= K); ldc >= N.
// Row-major C = A*B is column-major C^T = B^T * A^T, so the call swaps the operands.
// A Blas is used by one thread at a time.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/cuda_libs.h"
#include "onnxd/engine/status.h"

namespace onnxd::cuda {

enum class GemmMath {
  kFp32,  // IEEE fp32 products (CUBLAS_COMPUTE_32F): what the conformance tolerances assume
  kTf32,  // tensor-core TF32 products with fp32 accumulation (CUBLAS_COMPUTE_32F_FAST_TF32)
};

struct GemmArgs {
  bool trans_a = false;
  bool trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.f;
  float beta = 0.f;
  int64_t lda = 0, ldb = 0, ldc = 0;  // 0: the packed leading dimension
};

class Blas {
 public:
  static StatusOr<Blas> Create(cudaStream_t stream);
  Blas(Blas&& o) noexcept : handle_(o.handle_) { o.handle_ = nullptr; }
  Blas& operator=(Blas&& o) noexcept;
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;
  ~Blas();

  cublasHandle_t get() const { return handle_; }

  // fp32 in, fp32 out.
  Status Gemm(const GemmArgs& args, const float* a, const float* b, float* c, GemmMath math = GemmMath::kFp32);
  // fp16 in, fp16 out, fp32 accumulation (`half` is cuda_fp16's __half, passed untyped here).
  Status GemmFp16(const GemmArgs& args, const void* a, const void* b, void* c);
  // `batch` GEMMs of the same shape; matrix i of A starts stride_a elements after matrix i-1
  // (0 repeats one matrix for every batch: broadcasting), likewise B and C. fp16 selects
  // half-precision storage (fp32 accumulation); math applies to fp32 only.
  Status GemmStridedBatched(const GemmArgs& args, const void* a, int64_t stride_a, const void* b, int64_t stride_b,
                            void* c, int64_t stride_c, int64_t batch, bool fp16, GemmMath math = GemmMath::kFp32);
  // `batch` GEMMs of the same shape whose matrices lie anywhere: entry i reads a_array[i] and
  // b_array[i] and writes c_array[i] (device arrays of device pointers, read when the call runs).
  Status GemmBatched(const GemmArgs& args, const void* const* a_array, const void* const* b_array,
                     void* const* c_array, int64_t batch, bool fp16, GemmMath math = GemmMath::kFp32);

 private:
  explicit Blas(cublasHandle_t h) : handle_(h) {}
  Status GemmEx(const GemmArgs& args, const void* a, const void* b, void* c, cudaDataType_t type,
                cublasComputeType_t compute);
  cublasHandle_t handle_ = nullptr;
};

}  // namespace onnxd::cuda
