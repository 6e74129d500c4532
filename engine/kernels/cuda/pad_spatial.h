// Zeros around the two spatial axes of a 4-D tensor (NCHW, or NHWC in memory), or the three of a
// 5-D one (NCDHW): the part of a
// convolution's pads that cuDNN cannot take, because they differ between the ends of an axis
// (auto_pad SAME_*, asymmetric `pads`; window_geometry.h SplitPads).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/window_geometry.h"
#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// y (s.out_count() elements, s's layout) = x padded with s.top / s.bottom / s.left / s.right
// zeros. x and y must not overlap. Queued on `stream`.
Status PadSpatial(const float* x, float* y, const SpatialPadShape& s, cudaStream_t stream);
Status PadSpatial(const __half* x, __half* y, const SpatialPadShape& s, cudaStream_t stream);

}  // namespace onnxd::cuda
