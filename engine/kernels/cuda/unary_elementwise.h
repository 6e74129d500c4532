// Elementwise activations on fp32 or fp16 (computed in fp32): Relu, Sigmoid, Tanh, Gelu (exact erf form, and ONNX Gelu's
// approximate="tanh" form), and the math ops exported models decompose GELU / LayerNorm into: Erf, Sqrt, Exp, Log,
// Neg, Abs, Reciprocal.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "onnxd/engine/status.h"

namespace onnxd::cuda {

enum class UnaryOp { kRelu, kSigmoid, kTanh, kGelu, kGeluTanh, kErf, kSqrt, kExp, kLog, kNeg, kAbs, kReciprocal };

// out[i] = op(in[i]) for i < n; in == out is allowed. Queued on `stream`.
Status UnaryElementwise(UnaryOp op, const float* in, float* out, int64_t n, cudaStream_t stream);
Status UnaryElementwise(UnaryOp op, const __half* in, __half* out, int64_t n, cudaStream_t stream);

// out[i] = min(max(in[i], lo), hi) (Clip; NaN stays NaN); in == out is allowed.
Status ClipElementwise(const float* in, float* out, int64_t n, float lo, float hi, cudaStream_t stream);
Status ClipElementwise(const __half* in, __half* out, int64_t n, float lo, float hi, cudaStream_t stream);

// out[i] = in[i] * scale (rounded once); in == out is allowed.
Status ScaleElementwise(const float* in, float* out, int64_t n, float scale, cudaStream_t stream);
Status ScaleElementwise(const __half* in, __half* out, int64_t n, float scale, cudaStream_t stream);

}  // namespace onnxd::cuda
