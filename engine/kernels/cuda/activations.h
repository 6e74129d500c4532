// Elementwise ops with parameters, and the cheap rounding ops, on fp32 or fp16 (computed in fp32):
// what keeps MobileNetV3's HardSwish / HardSigmoid and the other activations on the GPU. Also
// BatchNormalization in its inference form (DenseNet keeps it unfolded after its ReLUs) and the
// scaling that Mean of several inputs ends with.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// The ONNX formulas (alpha, beta, gamma as the op's attributes):
//   kHardSigmoid  max(0, min(1, alpha x + beta))       kHardSwish  x max(0, min(1, x / 6 + 1 / 2))
//   kLeakyRelu    x >= 0 ? x : alpha x                  kElu        x >= 0 ? x : alpha (e^x - 1)
//   kSelu         gamma (x > 0 ? x : alpha (e^x - 1))   kSoftplus   log(1 + e^x), without overflow
//   kSign         -1 / 0 / 1 (NaN stays NaN)            kFloor, kCeil
//   kRound        to nearest, halves to even             kScale      alpha x
//   kMish         x tanh(softplus(x))                   kSin, kCos
//   kSoftsign     x / (1 + |x|)                         kThresholdedRelu  x > alpha ? x : 0
//   kCelu         x >= 0 ? x : alpha (e^(x / alpha) - 1)  (= max(0, x) + min(0, ...); NaN stays NaN)
enum class ActivationOp {
  kHardSigmoid,
  kHardSwish,
  kLeakyRelu,
  kElu,
  kSelu,
  kSoftplus,
  kSign,
  kFloor,
  kCeil,
  kRound,
  kScale,
  kMish,
  kSin,
  kCos,
  kSoftsign,
  kThresholdedRelu,
  kCelu
};

struct ActivationParams {
  float alpha = 0.f, beta = 0.f, gamma = 0.f;
};

// out[i] = op(in[i]) for i < n; in == out is allowed. Queued on `stream`.
Status Activation(ActivationOp op, const ActivationParams& params, const float* in, float* out, int64_t n,
                  cudaStream_t stream);
Status Activation(ActivationOp op, const ActivationParams& params, const __half* in, __half* out, int64_t n,
                  cudaStream_t stream);

// BatchNormalization (inference): x and y are [outer, channels, inner] (NCHW: outer = N, inner =
// the spatial size), scale / bias / mean / var are [channels] of type P (float or __half, as the
// session holds its constants):
//   y[o, c, i] = (x[o, c, i] - mean[c]) / sqrt(var[c] + epsilon) * scale[c] + bias[c]
// in fp32. x == y is allowed.
Status BatchNormInference(const float* x, float* y, int64_t outer, int64_t channels, int64_t inner,
                          const float* scale, const float* bias, const float* mean, const float* var, float epsilon,
                          cudaStream_t stream);
Status BatchNormInference(const __half* x, __half* y, int64_t outer, int64_t channels, int64_t inner,
                          const __half* scale, const __half* bias, const __half* mean, const __half* var,
                          float epsilon, cudaStream_t stream);
Status BatchNormInference(const __half* x, __half* y, int64_t outer, int64_t channels, int64_t inner,
                          const float* scale, const float* bias, const float* mean, const float* var, float epsilon,
                          cudaStream_t stream);

}  // namespace onnxd::cuda
