// Convolution building blocks (float32, channel-major NC[D]HW): im2col / col2im over a window
// geometry, and a direct depthwise 2-D kernel. Conv, ConvTranspose, ConvInteger and QLinearConv
// in ops/nn_ops.cc compose these with cpu::Sgemm.
#pragma once

#include <cstdint>

namespace onnxd::engine::cpu {

// Sliding-window geometry over `nd` spatial dims (1..kMaxDims). `in` is the image the window
// slides over, `out` the grid of window positions.
struct WindowGeom {
  static constexpr int kMaxDims = 6;
  int nd = 0;
  int64_t in[kMaxDims] = {};
  int64_t out[kMaxDims] = {};
  int64_t k[kMaxDims] = {};
  int64_t stride[kMaxDims] = {};
  int64_t dil[kMaxDims] = {};
  int64_t pad[kMaxDims] = {};  // leading pads

  int64_t InSize() const;
  int64_t OutSize() const;
  int64_t KernelSize() const;
  // True when every kernel dim is 1 with stride 1 and no padding (output == input grid).
  bool IsPointwise() const;
};

// Writes rows (c, k...) x columns [p0, p1) of the im2col matrix of `channels` channels of `x`
// (each InSize() long) into `col`, row-major with leading dimension (p1 - p0). Padding reads 0.
template <typename T>
void Im2Col(const WindowGeom& g, const T* x, int64_t channels, int64_t p0, int64_t p1, T* col, T pad_value);

// Adjoint of Im2Col over all columns: accumulates col[(c, k...), p] into x (which the caller zeroes).
void Col2Im(const WindowGeom& g, const float* col, int64_t channels, float* x);

// Depthwise 2-D: one output channel from one input channel (g.nd == 2), y = conv(x, w) + bias.
void DepthwiseConv2D(const WindowGeom& g, const float* x, const float* w, float bias, float* y);

}  // namespace onnxd::engine::cpu
