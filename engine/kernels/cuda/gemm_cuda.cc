#include "kernels/cuda/gemm_cuda.h"

#include <algorithm>
#include <limits>
#include <string>

#include "kernels/cuda/cuda_status.h"

namespace onnxd::cuda {

namespace {

// g's leading dimensions (0 in GemmArgs: packed), checked against the row lengths and cuBLAS's
// 32-bit interface. cuBLAS wants every leading dimension >= 1, even for an empty (k == 0) operand.
Status LeadingDims(const GemmArgs& g, int64_t batch, int64_t* lda, int64_t* ldb, int64_t* ldc) {
  if (g.m < 0 || g.n < 0 || g.k < 0) return InvalidArgument("Gemm: negative dimension");
  *lda = g.lda ? g.lda : std::max<int64_t>(1, g.trans_a ? g.m : g.k);
  *ldb = g.ldb ? g.ldb : std::max<int64_t>(1, g.trans_b ? g.k : g.n);
  *ldc = g.ldc ? g.ldc : g.n;
  if (*lda < (g.trans_a ? g.m : g.k) || *ldb < (g.trans_b ? g.k : g.n) || *ldc < g.n)
    return InvalidArgument("Gemm: leading dimension smaller than the row length");
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  if (g.m > kMax || g.n > kMax || g.k > kMax || *lda > kMax || *ldb > kMax || *ldc > kMax || batch > kMax)
    return InvalidArgument("Gemm: dimension exceeds the 32-bit cuBLAS interface");
  return Status::Ok();
}

}  // namespace

StatusOr<Blas> Blas::Create(cudaStream_t stream) {
  if (!libs::Cublas().loaded) return Unavailable(libs::Cublas().error);
  cublasHandle_t h = nullptr;
  Status st = CublasStatus(cublasCreate(&h), "cublasCreate");
  if (!st.ok()) return st;
  Blas blas(h);
  st = CublasStatus(cublasSetStream(h, stream), "cublasSetStream");
  if (!st.ok()) return st;
  return blas;
}

Blas& Blas::operator=(Blas&& o) noexcept {
  if (this != &o) {
    if (handle_) cublasDestroy(handle_);
    handle_ = o.handle_;
    o.handle_ = nullptr;
  }
  return *this;
}

Blas::~Blas() {
  if (handle_) cublasDestroy(handle_);
}

Status Blas::Gemm(const GemmArgs& args, const float* a, const float* b, float* c, GemmMath math) {
  return GemmEx(args, a, b, c, CUDA_R_32F,
                math == GemmMath::kTf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F);
}

Status Blas::GemmFp16(const GemmArgs& args, const void* a, const void* b, void* c) {
  return GemmEx(args, a, b, c, CUDA_R_16F, CUBLAS_COMPUTE_32F);
}

Status Blas::GemmStridedBatched(const GemmArgs& g, const void* a, int64_t stride_a, const void* b, int64_t stride_b,
                                void* c, int64_t stride_c, int64_t batch, bool fp16, GemmMath math) {
  if (batch < 0) return InvalidArgument("Gemm: negative batch");
  if (batch == 0 || g.m == 0 || g.n == 0) return Status::Ok();
  if (batch == 1) return GemmEx(g, a, b, c, fp16 ? CUDA_R_16F : CUDA_R_32F,
                                !fp16 && math == GemmMath::kTf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F);
  int64_t lda = 0, ldb = 0, ldc = 0;
  RETURN_IF_ERROR(LeadingDims(g, batch, &lda, &ldb, &ldc));
  const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cudaDataType_t type = fp16 ? CUDA_R_16F : CUDA_R_32F;
  const cublasComputeType_t compute =
      !fp16 && math == GemmMath::kTf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  const float alpha = g.alpha, beta = g.beta;
  // Same operand swap as GemmEx (row-major C = A*B is column-major C^T = B^T * A^T).
  return CublasStatus(
      cublasGemmStridedBatchedEx(handle_, op_b, op_a, static_cast<int>(g.n), static_cast<int>(g.m),
                                 static_cast<int>(g.k), &alpha, b, type, static_cast<int>(ldb), stride_b, a, type,
                                 static_cast<int>(lda), stride_a, &beta, c, type, static_cast<int>(ldc), stride_c,
                                 static_cast<int>(batch), compute, CUBLAS_GEMM_DEFAULT),
      "cublasGemmStridedBatchedEx");
}

Status Blas::GemmBatched(const GemmArgs& g, const void* const* a_array, const void* const* b_array,
                         void* const* c_array, int64_t batch, bool fp16, GemmMath math) {
  if (batch < 0) return InvalidArgument("Gemm: negative batch");
  if (batch == 0 || g.m == 0 || g.n == 0) return Status::Ok();
  int64_t lda = 0, ldb = 0, ldc = 0;
  RETURN_IF_ERROR(LeadingDims(g, batch, &lda, &ldb, &ldc));
  const cudaDataType_t type = fp16 ? CUDA_R_16F : CUDA_R_32F;
  const cublasComputeType_t compute =
      !fp16 && math == GemmMath::kTf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  const float alpha = g.alpha, beta = g.beta;
  // Same operand swap as GemmEx (row-major C = A*B is column-major C^T = B^T * A^T).
  return CublasStatus(
      cublasGemmBatchedEx(handle_, g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                          static_cast<int>(g.n), static_cast<int>(g.m), static_cast<int>(g.k), &alpha, b_array, type,
                          static_cast<int>(ldb), a_array, type, static_cast<int>(lda), &beta, c_array, type,
                          static_cast<int>(ldc), static_cast<int>(batch), compute, CUBLAS_GEMM_DEFAULT),
      "cublasGemmBatchedEx");
}

Status Blas::GemmEx(const GemmArgs& g, const void* a, const void* b, void* c, cudaDataType_t type,
                    cublasComputeType_t compute) {
  if (g.m < 0 || g.n < 0 || g.k < 0) return InvalidArgument("Gemm: negative dimension");
  if (g.m == 0 || g.n == 0) return Status::Ok();
  int64_t lda = 0, ldb = 0, ldc = 0;
  RETURN_IF_ERROR(LeadingDims(g, 1, &lda, &ldb, &ldc));
  // Column-major view: C^T[N,M] = op(B)^T[N,K] * op(A)^T[K,M]. The row-major buffer of A read
  // column-major is A^T, so op stays N for an untransposed operand.
  const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  // alpha/beta are fp32 for every compute type used here (32F, 32F_FAST_TF32).
  const float alpha = g.alpha, beta = g.beta;
  return CublasStatus(
      cublasGemmEx(handle_, op_b, op_a, static_cast<int>(g.n), static_cast<int>(g.m), static_cast<int>(g.k),
                   &alpha, b, type, static_cast<int>(ldb), a, type, static_cast<int>(lda), &beta, c, type,
                   static_cast<int>(ldc), compute, CUBLAS_GEMM_DEFAULT),
      "cublasGemmEx");
}

}  // namespace onnxd::cuda
