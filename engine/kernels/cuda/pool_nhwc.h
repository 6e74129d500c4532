// Pooling of channels-last (NHWC) data, and of NCHW data as [N * C, H, W, 1]: one thread an output
// element, the channels of a window read together (coalesced across threads). cuDNN's NHWC max
// pooling ran 4x slower than its NCHW one for ResNet-50's stem at batch 64 in fp16 (0.68 vs
// 0.17 ms); and these kernels take what cuDNN's pooling does not: pads that differ between the
// ends of an axis, ceil_mode's grid, dilations, and ONNX's average divisors for windows cut by the
// input's edge, the pads and ceil_mode's extra end (window_geometry.h).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/window_geometry.h"
#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// The geometry (window_geometry.h PoolShape): input [N, H, W, C] in memory, windows starting at
// -pad_top / -pad_left, output [N, out_h, out_w, C]; positions outside the input are skipped.
using MaxPoolNhwcShape = PoolShape;

// y = max over each window (NaN if any element of the window is NaN; 0 for a window with no
// element inside the input, as the CPU op: window_geometry.h HasInputTap).
Status MaxPoolNhwc(const float* x, float* y, const PoolShape& s, cudaStream_t stream);
Status MaxPoolNhwc(const __half* x, __half* y, const PoolShape& s, cudaStream_t stream);

// MaxPool's Indices output too (the CPU op's choice of element and numbering, for ONNX's NC[D]HW
// input as [N * C, (D,) H, W, 1], or channels-last): indices[i] is the flat NC[D]HW index of the
// element y[i] took, row-major over the spatial axes, or column-major with `col_major`
// (storage_order 1).
Status MaxPoolWithIndices(const float* x, float* y, int64_t* indices, const PoolShape& s, bool col_major,
                          cudaStream_t stream);
Status MaxPoolWithIndices(const __half* x, __half* y, int64_t* indices, const PoolShape& s, bool col_major,
                          cudaStream_t stream);

// y = the window's sum over AverageDivisor (window_geometry.h): the elements inside the input, or
// with s.count_include_pad those inside the padded input (pad_bottom / pad_right count there);
// 0 for a window with none. Summed in fp32.
Status AveragePoolNhwc(const float* x, float* y, const PoolShape& s, cudaStream_t stream);
Status AveragePoolNhwc(const __half* x, __half* y, const PoolShape& s, cudaStream_t stream);

// LpPool: y = (LpScale * the window's sum of |x|^p) ^ (1 / p) (window_geometry.h), in fp32.
Status LpPoolNhwc(const float* x, float* y, const PoolShape& s, float p, cudaStream_t stream);
Status LpPoolNhwc(const __half* x, __half* y, const PoolShape& s, float p, cudaStream_t stream);

}  // namespace onnxd::cuda
