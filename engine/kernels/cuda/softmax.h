// Softmax and LogSoftmax over the last axis on fp32 or fp16 (fp32 arithmetic): in and out are [rows, cols], packed.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/softmax_bias.h"
#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// What a fused softmax adds around the plain one, in the order separate nodes would apply it, each
// step rounded to the element type as theirs would be: x * scale (a scalar Mul), + bias (an
// attention mask, broadcast by `layout`), softmax, then NaN -> 0 (Where(IsNaN(p), 0, p), which
// exporters append for fully masked rows).
struct SoftmaxFusion {
  float scale = 1.f;
  bool has_scale = false;
  const void* bias = nullptr;  // the input's element type; nullptr: none
  SoftmaxBiasLayout layout;
  bool nan_to_zero = false;
};

// out = exp(x - max) / sum(exp(x - max)) per row. in == out is allowed. Queued on `stream`.
Status SoftmaxLastAxis(const float* in, float* out, int64_t rows, int64_t cols, cudaStream_t stream,
                       const SoftmaxFusion& fusion = {});
Status SoftmaxLastAxis(const __half* in, __half* out, int64_t rows, int64_t cols, cudaStream_t stream,
                       const SoftmaxFusion& fusion = {});

// LogSoftmax: out = x - max - log(sum(exp(x - max))) per row, as the CPU op computes it. in == out
// is allowed.
Status LogSoftmaxLastAxis(const float* in, float* out, int64_t rows, int64_t cols, cudaStream_t stream);
Status LogSoftmaxLastAxis(const __half* in, __half* out, int64_t rows, int64_t cols, cudaStream_t stream);

}  // namespace onnxd::cuda
