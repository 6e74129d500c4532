// The depthwise convolution kernel's launcher (kernels/cuda/depthwise_conv.h has the arithmetic).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include "kernels/cuda/depthwise_conv.h"
#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// y (NCHW [N, C, OH, OW], or channels-last [N, OH, OW, C] when nhwc, as x) = act(depthwise(x, w) +
// bias). w is [C, 1, KH, KW]; bias [C] or null. fp32 accumulation. Queued on `stream`.
Status DepthwiseConv2d(const float* x, const float* w, const float* bias, float* y, const DepthwiseGeometry& g,
                       bool nhwc, cudaStream_t stream);
Status DepthwiseConv2d(const __half* x, const __half* w, const __half* bias, __half* y, const DepthwiseGeometry& g,
                       bool nhwc, cudaStream_t stream);

}  // namespace onnxd::cuda
