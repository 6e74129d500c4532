// GEMM with the bias added in cuBLASLt's epilogue: out[M, N] = a[M, K] * w[K, N] + bias[N]
// (row-major), one kernel instead of a GEMM and a broadcast Add over its whole output (BERT's
// six bias adds a layer). One object per shape and precision; cuBLASLt's heuristic picks the
// algorithm once, at creation.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>

#include "kernels/cuda/cuda_libs.h"
#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// A cuBLASLt handle (one per session).
class LtHandle {
 public:
  static StatusOr<std::unique_ptr<LtHandle>> Create();
  ~LtHandle();
  cublasLtHandle_t get() const { return handle_; }

 private:
  LtHandle() = default;
  cublasLtHandle_t handle_ = nullptr;
};

class BiasGemm {
 public:
  // `half`: fp16 data (fp32 accumulation); else fp32, with TF32 tensor cores only when `tf32`.
  // Unimplemented when cuBLASLt offers no algorithm for it.
  static StatusOr<std::unique_ptr<BiasGemm>> Create(const LtHandle& lt, int64_t m, int64_t n, int64_t k, bool half,
                                                    bool tf32, size_t max_workspace);
  ~BiasGemm();
  size_t workspace_bytes() const { return workspace_; }
  Status Run(const LtHandle& lt, const void* a, const void* w, const void* bias, void* out, void* workspace,
             cudaStream_t stream) const;

 private:
  BiasGemm() = default;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t w_layout_ = nullptr, a_layout_ = nullptr, out_layout_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
  size_t workspace_ = 0;
};

// max |a - b| and max |b| over n elements (float or half), for checking one path against another
// on the device; synchronises `stream`.
StatusOr<std::pair<float, float>> MaxAbsDiff(const void* a, const void* b, int64_t n, bool half, cudaStream_t stream);

// How many of n elements (float or half) differ beyond atol + rtol * |b|: NaN agrees only with NaN,
// an infinity only with the same infinity. Synchronises `stream`.
StatusOr<int64_t> CountMismatches(const void* a, const void* b, int64_t n, bool half, float atol, float rtol,
                                  cudaStream_t stream);

}  // namespace onnxd::cuda
