// Host helpers shared by the tests of the CUDA math headers: the CPU tests here and the GPU kernel
// tests (tests/gpu) that check the kernels against the same host evaluation. Host code only; no
// engine or ONNX dependency, so both test binaries can include it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cuda/window_geometry.h"

namespace onnxd::cuda::testing {

// "[2,3,4]": dims (or pads, axes...) for test messages.
inline std::string ListText(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

// What pool_nhwc.cu computes, on the host, over x laid out as MakePoolShape says (channels last:
// NCHW as [n * c, h, w, 1], NHWC as [n, h, w, c]): PoolTapsAt's windows, AverageDivisor's
// divisor, LpScale for LpPool (lp > 0), and for MaxPool a NaN in the window wins and a window
// without a tap in the input gives 0 (the CPU op's values). s.out_count() outputs.
inline std::vector<float> PoolByTaps(const float* x, const PoolShape& s, bool average, float lp = 0.f) {
  std::vector<float> y(static_cast<size_t>(s.out_count()));
  for (size_t i = 0; i < y.size(); ++i) {
    const int64_t ch = static_cast<int64_t>(i) % s.c;
    int64_t rest = static_cast<int64_t>(i) / s.c;
    const int64_t ow = rest % s.out_w;
    rest /= s.out_w;
    const int64_t oh = rest % s.out_h;
    rest /= s.out_h;
    const int64_t od = rest % s.out_d, b = rest / s.out_d;
    const PoolTaps td = PoolTapsAt(od, s.d, s.kd, s.stride_d, s.dil_d, s.pad_front, s.pad_back);
    const PoolTaps th = PoolTapsAt(oh, s.h, s.kh, s.stride_h, s.dil_h, s.pad_top, s.pad_bottom);
    const PoolTaps tw = PoolTapsAt(ow, s.w, s.kw, s.stride_w, s.dil_w, s.pad_left, s.pad_right);
    float m = -INFINITY, sum = 0.f, sum_p = 0.f;
    bool nan = false;
    for (int64_t dz = td.lo; dz < td.hi; ++dz)
      for (int64_t dh = th.lo; dh < th.hi; ++dh)
        for (int64_t dw = tw.lo; dw < tw.hi; ++dw) {
          const int64_t z = td.start + dz * s.dil_d, yy = th.start + dh * s.dil_h, xx = tw.start + dw * s.dil_w;
          const float v = x[(((b * s.d + z) * s.h + yy) * s.w + xx) * s.c + ch];
          nan |= std::isnan(v);
          m = std::max(m, v);
          sum += v;
          if (lp > 0.f) sum_p += std::pow(std::fabs(v), lp);
        }
    const int64_t div = AverageDivisor(td, th, tw, s.count_include_pad);
    y[i] = lp > 0.f                  ? std::pow(sum_p * LpScale(s, td, th, tw), 1.f / lp)
           : average                 ? (div > 0 ? sum / static_cast<float>(div) : 0.f)
           : !HasInputTap(td, th, tw) ? 0.f
                                      : (nan ? NAN : m);
  }
  return y;
}

}  // namespace onnxd::cuda::testing
