// Reductions over the last axis on fp32 or fp16 (fp32 accumulation): in is [rows, cols], packed;
// out is [rows].
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// kMin, kMax propagate NaN (a row with a NaN gives NaN), as the CPU ops. kLogSumExp is
// log(sum(exp(x - m))) + m with m the row's max (0 when not finite or NaN), as the CPU op; kL2 is
// sqrt(sum(x^2)); kSumSquare sum(x^2).
enum class ReduceOp { kSum, kMean, kMax, kMin, kProd, kL2, kLogSumExp, kSumSquare };

// out[r] = op(in[r, 0..cols)). cols must be >= 1. Queued on `stream`.
Status ReduceLastAxis(ReduceOp op, const float* in, float* out, int64_t rows, int64_t cols, cudaStream_t stream);
Status ReduceLastAxis(ReduceOp op, const __half* in, __half* out, int64_t rows, int64_t cols, cudaStream_t stream);

}  // namespace onnxd::cuda
