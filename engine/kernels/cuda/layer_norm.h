// LayerNormalization over the last axis on fp32 or fp16 (fp32 arithmetic): x and y are [rows, cols], packed;
// scale (gamma) and bias (beta) are [cols]; bias may be null.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// y = (x - mean) / sqrt(var + epsilon) * scale + bias per row (population variance, as ONNX).
// `residual` (optional): x + residual instead of x, the sum rounded to the element type as a
// separate Add would (a transformer's Add -> LayerNormalization in one pass). It has
// `residual_rows` rows of cols (0: as x), repeating over x's rows (a [1, S, C] position embedding
// added to [B, S, C], a [C] bias). `sum_out` (optional, with a residual): the rounded sums, [rows,
// cols], for the sum's other readers (a pre-LN block's residual stream).
// Queued on `stream`.
Status LayerNormLastAxis(const float* x, const float* scale, const float* bias, float* y, int64_t rows, int64_t cols,
                         float epsilon, cudaStream_t stream, const float* residual = nullptr,
                         int64_t residual_rows = 0, float* sum_out = nullptr);
Status LayerNormLastAxis(const __half* x, const __half* scale, const __half* bias, __half* y, int64_t rows,
                         int64_t cols, float epsilon, cudaStream_t stream, const __half* residual = nullptr,
                         int64_t residual_rows = 0, __half* sum_out = nullptr);

// RMSNormalization over the last axis: y = x / sqrt(mean(x^2) + epsilon) * scale per row (fp32
// arithmetic), scale [cols]. Queued on `stream`.
Status RmsNormLastAxis(const float* x, const float* scale, float* y, int64_t rows, int64_t cols, float epsilon,
                       cudaStream_t stream);
Status RmsNormLastAxis(const __half* x, const __half* scale, __half* y, int64_t rows, int64_t cols, float epsilon,
                       cudaStream_t stream);

}  // namespace onnxd::cuda
