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

// Max pooling of one plane with 2x2 windows, stride 2, no padding, every window inside the image
// (2*OH <= H, 2*OW <= W): y[OH, OW] from x rows W wide. NaN is skipped, as in the generic kernel.
void MaxPool2x2Stride2(const float* x, int64_t W, float* y, int64_t OH, int64_t OW);

// 2-D convolution (any stride up to 4, no dilation) of one image without im2col (conv_direct.cc). Use:
//   if (DirectConv2DApplies(g, C, M)) {
//     DirectConv2DPad(g, x, C, xpad, off);           // xpad: DirectConv2DPadFloats(g, C) floats,
//                                                   // off: C*KH*KW offsets
//     DirectConv2D(g, xpad, off, C, w, M, bias, q0, q1, y);  // any split of [0, DirectConv2DColumns(g))
//   }
// y[M, OH*OW] = w[M, C*KH*KW] * x + bias (bias may be null); no activation.
bool DirectConv2DApplies(const WindowGeom& g, int64_t channels, int64_t out_channels);
int64_t DirectConv2DPadFloats(const WindowGeom& g, int64_t channels);
// Width of a wide output row: OW + ceil(KW / stride) - 1.
int64_t DirectConv2DWideWidth(const WindowGeom& g);
inline int64_t DirectConv2DColumns(const WindowGeom& g) { return g.out[0] * DirectConv2DWideWidth(g); }
void DirectConv2DPad(const WindowGeom& g, const float* x, int64_t channels, float* xpad, int64_t* off);
void DirectConv2D(const WindowGeom& g, const float* xpad, const int64_t* off, int64_t channels, const float* w,
                  int64_t out_channels, const float* bias, int64_t q0, int64_t q1, float* y);
// Depthwise 2-D convolution of one plane over DirectConv2DPad(g, x, 1, xpad, off)'s output,
// when DirectConv2DApplies(g, 1, 1): y[OH*OW] = conv(x, w[KH*KW]) + bias.
void DepthwiseDirect2D(const WindowGeom& g, const float* xpad, const int64_t* off, const float* w, float bias,
                       float* y);
// Tests: true makes DirectConv2D use its portable kernel even where AVX-512 is there.
void DirectConv2DPortableOnlyForTests(bool on);

}  // namespace onnxd::engine::cpu
