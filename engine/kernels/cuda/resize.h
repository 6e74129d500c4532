// Resize / Upsample on fp32 or fp16 data: each thread computes output elements straight from the
// input with ops/resize_math.h's ResizeElement (nearest, linear and cubic without antialias, any
// coordinate transformation; linear in fp32, cubic in fp64, as the CPU op accumulates).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "onnxd/engine/status.h"
#include "ops/resize_math.h"

namespace onnxd::cuda {

// y (n elements: the product of s.out_dims) from x, as described by p and s. Queued on `stream`.
Status Resize(const float* x, float* y, int64_t n, const resize::Params& p, const resize::ElementShape& s,
              cudaStream_t stream);
Status Resize(const __half* x, __half* y, int64_t n, const resize::Params& p, const resize::ElementShape& s,
              cudaStream_t stream);

}  // namespace onnxd::cuda
