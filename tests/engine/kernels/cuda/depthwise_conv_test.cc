// The depthwise convolution kernel's per-output arithmetic (kernels/cuda/depthwise_conv.h, host
// and device code) against a direct convolution written here from ONNX's definition, over random
// geometries (strides, dilations, pads, asymmetric ends through the output size), both layouts and
// every fused activation.
#include "kernels/cuda/depthwise_conv.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace onnxd::cuda {
namespace {

TEST(DepthwiseConvTest, MatchesDirectConvolution) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> small(1, 4), k(1, 5), pad(0, 2), act(0, 3);
  std::uniform_real_distribution<float> val(-1.f, 1.f);
  int checked = 0;
  for (int trial = 0; trial < 300; ++trial) {
    DepthwiseGeometry g;
    g.n = small(rng);
    g.c = small(rng) + 1;
    g.h = small(rng) + 3;
    g.w = small(rng) + 4;
    g.kh = k(rng);
    g.kw = k(rng);
    g.stride_h = small(rng) % 3 + 1;
    g.stride_w = small(rng) % 3 + 1;
    g.dil_h = small(rng) % 2 + 1;
    g.dil_w = small(rng) % 2 + 1;
    g.pad_top = pad(rng);
    g.pad_left = pad(rng);
    const int64_t pad_bottom = pad(rng), pad_right = pad(rng);
    const int64_t eh = (g.kh - 1) * g.dil_h + 1, ew = (g.kw - 1) * g.dil_w + 1;
    if (g.h + g.pad_top + pad_bottom < eh || g.w + g.pad_left + pad_right < ew) continue;
    g.out_h = (g.h + g.pad_top + pad_bottom - eh) / g.stride_h + 1;
    g.out_w = (g.w + g.pad_left + pad_right - ew) / g.stride_w + 1;
    g.act = act(rng);
    g.alpha = g.act == 2 ? -0.3f : 0.1f;
    g.beta = 0.4f;
    const bool nhwc = trial % 2 == 1;
    const bool with_bias = trial % 3 != 0;
    std::vector<float> x(static_cast<size_t>(g.n * g.c * g.h * g.w)), w(static_cast<size_t>(g.c * g.kh * g.kw)),
        bias(static_cast<size_t>(g.c));
    for (float& v : x) v = val(rng);
    for (float& v : w) v = val(rng);
    for (float& v : bias) v = val(rng);
    // x as NCHW for the reference; its channels-last copy for the kernel when nhwc.
    std::vector<float> xk = x;
    if (nhwc)
      for (int64_t b = 0; b < g.n; ++b)
        for (int64_t c = 0; c < g.c; ++c)
          for (int64_t i = 0; i < g.h; ++i)
            for (int64_t j = 0; j < g.w; ++j)
              xk[static_cast<size_t>(((b * g.h + i) * g.w + j) * g.c + c)] =
                  x[static_cast<size_t>(((b * g.c + c) * g.h + i) * g.w + j)];
    auto id = [](float v) { return v; };
    for (int64_t b = 0; b < g.n; ++b)
      for (int64_t c = 0; c < g.c; ++c)
        for (int64_t oh = 0; oh < g.out_h; ++oh)
          for (int64_t ow = 0; ow < g.out_w; ++ow) {
            // Direct: sum over the padded input's window (zeros outside the input).
            double want = with_bias ? bias[static_cast<size_t>(c)] : 0.0;
            for (int64_t i = 0; i < g.kh; ++i)
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t ph = oh * g.stride_h + i * g.dil_h, pw = ow * g.stride_w + j * g.dil_w;  // padded coords
                const int64_t ih = ph - g.pad_top, iw = pw - g.pad_left;
                if (ih < 0 || iw < 0 || ih >= g.h || iw >= g.w) continue;
                want += static_cast<double>(x[static_cast<size_t>(((b * g.c + c) * g.h + ih) * g.w + iw)]) *
                        w[static_cast<size_t>((c * g.kh + i) * g.kw + j)];
              }
            if (g.act == 1) want = std::max(want, 0.0);
            if (g.act == 2) want = std::min(std::max(want, static_cast<double>(g.alpha)), static_cast<double>(g.beta));
            if (g.act == 3 && want < 0) want *= g.alpha;
            const float got = DepthwiseOutput(xk.data(), w.data(), with_bias ? bias.data() : nullptr, g, nhwc, b, c,
                                              oh, ow, id);
            ASSERT_NEAR(got, want, 1e-5) << "trial " << trial;
          }
    ++checked;
  }
  EXPECT_GT(checked, 200);
}

}  // namespace
}  // namespace onnxd::cuda
