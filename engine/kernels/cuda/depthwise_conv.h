// Depthwise 2-D convolution (group == channels == filters, one filter a channel: MobileNet's and
// EfficientNet's 3x3 / 5x5 layers) by our own kernel, NCHW or channels-last, with the bias and a
// ReLU / Clip / LeakyRelu fused. cuDNN's depthwise kernels are slow for some layouts and sizes; the
// CUDA session's autotuning measures this kernel against them. The per-output arithmetic below is
// host and device code, tested on the CPU against a direct convolution in
// tests/engine/kernels/cuda/depthwise_conv_test.cc.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define ONNXD_DW_FN __host__ __device__ __forceinline__
#else
#define ONNXD_DW_FN inline
#endif

namespace onnxd::cuda {

struct DepthwiseGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t kh = 1, kw = 1;
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  int64_t pad_top = 0, pad_left = 0;  // the ends' pads follow from out_h / out_w
  int64_t out_h = 0, out_w = 0;
  int act = 0;                        // 0 none, 1 Relu, 2 Clip(alpha, beta), 3 LeakyRelu(alpha)
  float alpha = 0.f, beta = 0.f;
  int64_t out_count() const { return n * c * out_h * out_w; }
};

ONNXD_DW_FN float DepthwiseActivation(float v, const DepthwiseGeometry& g) {
  switch (g.act) {
    case 1: return v > 0.f ? v : 0.f;
    case 2: return v < g.alpha ? g.alpha : (v > g.beta ? g.beta : v);
    case 3: return v < 0.f ? v * g.alpha : v;
    default: return v;
  }
}

// Output element (b, ch, oh, ow): the window's taps inside the input (pads are zeros), weights
// w[ch][kh][kw] ([C, 1, KH, KW] as ONNX stores them), plus bias[ch] (bias may be null), activated.
// x is NCHW, or channels-last [N, H, W, C] when nhwc. `load` turns an element into float.
template <typename T, typename Load>
ONNXD_DW_FN float DepthwiseOutput(const T* x, const T* w, const T* bias, const DepthwiseGeometry& g, bool nhwc,
                                  int64_t b, int64_t ch, int64_t oh, int64_t ow, Load load) {
  float acc = bias != nullptr ? load(bias[ch]) : 0.f;
  const T* wc = w + ch * g.kh * g.kw;
  for (int64_t i = 0; i < g.kh; ++i) {
    const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dil_h;
    if (ih < 0 || ih >= g.h) continue;
    for (int64_t j = 0; j < g.kw; ++j) {
      const int64_t iw = ow * g.stride_w - g.pad_left + j * g.dil_w;
      if (iw < 0 || iw >= g.w) continue;
      const int64_t at = nhwc ? ((b * g.h + ih) * g.w + iw) * g.c + ch : ((b * g.c + ch) * g.h + ih) * g.w + iw;
      acc += load(x[at]) * load(wc[i * g.kw + j]);
    }
  }
  return DepthwiseActivation(acc, g);
}

}  // namespace onnxd::cuda
