// Softmax and LogSoftmax over the last axis on fp32 or fp16 (fp32 arithmetic): in and out are [rows, cols], packed.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// out = exp(x - max) / sum(exp(x - max)) per row. in == out is allowed. Queued on `stream`.
Status SoftmaxLastAxis(const float* in, float* out, int64_t rows, int64_t cols, cudaStream_t stream);
Status SoftmaxLastAxis(const __half* in, __half* out, int64_t rows, int64_t cols, cudaStream_t stream);

// LogSoftmax: out = x - max - log(sum(exp(x - max))) per row, as the CPU op computes it. in == out
// is allowed.
Status LogSoftmaxLastAxis(const float* in, float* out, int64_t rows, int64_t cols, cudaStream_t stream);
Status LogSoftmaxLastAxis(const __half* in, __half* out, int64_t rows, int64_t cols, cudaStream_t stream);

}  // namespace onnxd::cuda
