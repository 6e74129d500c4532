// The channels-last pooling kernels against plain CPU references over odd shapes, strides and
// pads (fp32 and fp16), with a NaN among the inputs; average pooling and dilated max pooling with
// end pads that differ from the beginning ones and ceil_mode grids against the window math of
// window_geometry.h (itself checked against the CPU ops on the CPU), LpPool likewise; and the
// zero-padding kernel
// (pad_spatial.h) in both layouts.
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/cuda/pad_spatial.h"
#include "kernels/cuda/pool_nhwc.h"
#include "math_test_util.h"

namespace onnxd::cuda {
namespace {

using namespace ::onnxd::cuda::testing;  // NOLINT: RandomVector, Upload, Empty, Download, PoolByTaps

std::vector<float> ReferenceMaxPoolNhwc(const std::vector<float>& x, const MaxPoolNhwcShape& s) {
  std::vector<float> y(static_cast<size_t>(s.n * s.out_h * s.out_w * s.c));
  for (int64_t b = 0; b < s.n; ++b)
    for (int64_t oh = 0; oh < s.out_h; ++oh)
      for (int64_t ow = 0; ow < s.out_w; ++ow)
        for (int64_t ch = 0; ch < s.c; ++ch) {
          float m = -INFINITY;
          bool nan = false;
          for (int64_t dh = 0; dh < s.kh; ++dh)
            for (int64_t dw = 0; dw < s.kw; ++dw) {
              const int64_t hh = oh * s.stride_h - s.pad_top + dh, ww = ow * s.stride_w - s.pad_left + dw;
              if (hh < 0 || hh >= s.h || ww < 0 || ww >= s.w) continue;
              const float v = x[static_cast<size_t>(((b * s.h + hh) * s.w + ww) * s.c + ch)];
              nan |= std::isnan(v);
              m = std::max(m, v);
            }
          y[static_cast<size_t>(((b * s.out_h + oh) * s.out_w + ow) * s.c + ch)] = nan ? NAN : m;
        }
  return y;
}

class PoolNhwcTest : public testing::DeviceTest {};

MaxPoolNhwcShape Geometry(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t stride, int64_t pad) {
  MaxPoolNhwcShape s;
  s.n = n;
  s.h = h;
  s.w = w;
  s.c = c;
  s.kh = s.kw = k;
  s.stride_h = s.stride_w = stride;
  s.pad_top = s.pad_left = pad;
  s.out_h = (h + 2 * pad - k) / stride + 1;
  s.out_w = (w + 2 * pad - k) / stride + 1;
  return s;
}

TEST_F(PoolNhwcTest, MatchesReference) {
  const MaxPoolNhwcShape cases[] = {Geometry(2, 9, 7, 5, 3, 2, 1), Geometry(1, 112, 112, 64, 3, 2, 1),
                                    Geometry(3, 4, 4, 3, 2, 2, 0), Geometry(1, 5, 6, 33, 3, 1, 2)};
  uint32_t seed = 500;
  for (const auto& s : cases) {
    SCOPED_TRACE(::testing::Message() << s.n << "x" << s.h << "x" << s.w << "x" << s.c << " k" << s.kh << " s"
                                      << s.stride_h << " p" << s.pad_top);
    const size_t count = static_cast<size_t>(s.n * s.h * s.w * s.c);
    auto x = RandomVector(count, seed++);
    x[count / 2] = NAN;
    const auto want = ReferenceMaxPoolNhwc(x, s);
    const size_t out_count = want.size();
    auto dx = Upload(pool_, x);
    auto dy = Empty(pool_, out_count);
    ASSERT_TRUE(MaxPoolNhwc(dx.as<float>(), dy.as<float>(), s, stream_->get()).ok());
    const auto got = Download(dy, out_count, *stream_);
    for (size_t i = 0; i < out_count; ++i) {
      if (std::isnan(want[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << "element " << i;
      } else {
        ASSERT_EQ(got[i], want[i]) << "element " << i;
      }
    }
    // fp16: the same windows over the rounded values.
    std::vector<__half> xh(count);
    std::vector<float> xr(count);
    for (size_t i = 0; i < count; ++i) {
      xh[i] = __float2half_rn(x[i]);
      xr[i] = __half2float(xh[i]);
    }
    const auto want_h = ReferenceMaxPoolNhwc(xr, s);
    auto hx = pool_.Allocate(count * sizeof(__half));
    auto hy = pool_.Allocate(out_count * sizeof(__half));
    ASSERT_TRUE(hx.ok() && hy.ok());
    ASSERT_EQ(cudaMemcpy(hx->data(), xh.data(), count * sizeof(__half), cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_TRUE(MaxPoolNhwc(hx->as<__half>(), hy->as<__half>(), s, stream_->get()).ok());
    ASSERT_TRUE(stream_->Synchronize().ok());
    std::vector<__half> yh(out_count);
    ASSERT_EQ(cudaMemcpy(yh.data(), hy->data(), out_count * sizeof(__half), cudaMemcpyDeviceToHost), cudaSuccess);
    for (size_t i = 0; i < out_count; ++i) {
      const float g = __half2float(yh[i]);
      if (std::isnan(want_h[i])) {
        EXPECT_TRUE(std::isnan(g)) << "fp16 element " << i;
      } else {
        ASSERT_EQ(g, want_h[i]) << "fp16 element " << i;
      }
    }
  }
}

// Geometry through window_geometry.h as the session builds it: attributes resolved, then laid out.
PoolShape Resolved(int64_t n, int64_t c, int64_t h, int64_t w, std::vector<int64_t> k, std::vector<int64_t> strides,
                   std::vector<int64_t> dilations, std::vector<int64_t> pads, AutoPad auto_pad, bool ceil,
                   bool include_pad, bool nhwc) {
  WindowAxis axes[2];
  const int64_t in[2] = {h, w};
  std::string why;
  EXPECT_TRUE(ResolveWindow(2, in, k.data(), strides, dilations, pads, auto_pad, ceil, axes, &why)) << why;
  return MakePoolShape(n, c, axes, nhwc, include_pad);
}

// 3-D: NCDHW as [n * c, d, h, w, 1].
PoolShape Resolved3d(int64_t n, int64_t c, int64_t d, int64_t h, int64_t w, std::vector<int64_t> k,
                     std::vector<int64_t> strides, std::vector<int64_t> dilations, std::vector<int64_t> pads, bool ceil,
                     bool include_pad) {
  WindowAxis axes[3];
  const int64_t in[3] = {d, h, w};
  std::string why;
  EXPECT_TRUE(ResolveWindow(3, in, k.data(), strides, dilations, pads, AutoPad::kNotSet, ceil, axes, &why)) << why;
  return MakePoolShape3d(n, c, axes, include_pad);
}

TEST_F(PoolNhwcTest, AverageAndDilatedMaxMatchTheWindowMath) {
  const PoolShape cases[] = {
      Resolved(2, 5, 9, 7, {3, 3}, {2, 2}, {}, {1, 0, 0, 2}, AutoPad::kNotSet, true, false, true),
      Resolved(2, 5, 9, 7, {3, 3}, {2, 2}, {}, {1, 0, 0, 2}, AutoPad::kNotSet, true, true, true),
      Resolved(1, 33, 8, 8, {3, 2}, {2, 2}, {}, {}, AutoPad::kSameUpper, false, true, true),
      Resolved(1, 3, 8, 8, {3, 2}, {2, 1}, {2, 2}, {}, AutoPad::kSameLower, false, false, false),
      Resolved(3, 2, 6, 6, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}, AutoPad::kNotSet, true, true, false),
      Resolved(1, 64, 56, 56, {3, 3}, {2, 2}, {1, 1}, {0, 0, 1, 1}, AutoPad::kNotSet, false, false, true),
      Resolved3d(2, 3, 5, 7, 6, {2, 3, 2}, {2, 1, 2}, {1, 2, 1}, {1, 0, 1, 0, 1, 1}, true, true),
      Resolved3d(1, 2, 6, 5, 7, {3, 2, 2}, {2, 2, 1}, {}, {}, false, false),
      // SAME pads around a dilation wider than the input: the window at oh 1 has no row inside.
      Resolved(1, 2, 3, 5, {2, 2}, {}, {4, 1}, {}, AutoPad::kSameUpper, false, false, false),
      // Pads as wide as the kernel (ours since CudnnPoolable refuses them): windows wholly in the pads.
      Resolved(1, 2, 4, 5, {2, 2}, {}, {}, {2, 0, 2, 3}, AutoPad::kNotSet, false, false, true)};
  uint32_t seed = 600;
  for (const auto& s : cases) {
    SCOPED_TRACE(::testing::Message() << s.n << "x" << s.d << "x" << s.h << "x" << s.w << "x" << s.c << " k" << s.kd
                                      << "x" << s.kh << "x" << s.kw
                                      << " s" << s.stride_h << "x" << s.stride_w << " d" << s.dil_h << "x" << s.dil_w
                                      << " pads " << s.pad_top << "," << s.pad_left << "," << s.pad_bottom << ","
                                      << s.pad_right << " out " << s.out_h << "x" << s.out_w
                                      << (s.count_include_pad ? " include_pad" : ""));
    const size_t count = static_cast<size_t>(s.n * s.d * s.h * s.w * s.c);
    const size_t out_count = static_cast<size_t>(s.out_count());
    auto x = RandomVector(count, seed++);
    auto dx = Upload(pool_, x);
    auto dy = Empty(pool_, out_count);
    ASSERT_TRUE(AveragePoolNhwc(dx.as<float>(), dy.as<float>(), s, stream_->get()).ok());
    ExpectClose(Download(dy, out_count, *stream_), PoolByTaps(x.data(), s, true), 1e-5f, 1e-6f);
    for (float lp : {2.f, 3.f}) {
      ASSERT_TRUE(LpPoolNhwc(dx.as<float>(), dy.as<float>(), s, lp, stream_->get()).ok());
      ExpectClose(Download(dy, out_count, *stream_), PoolByTaps(x.data(), s, false, lp), 1e-5f, 1e-6f);
    }
    x[count / 3] = NAN;
    auto dxn = Upload(pool_, x);
    ASSERT_TRUE(MaxPoolNhwc(dxn.as<float>(), dy.as<float>(), s, stream_->get()).ok());
    const auto got = Download(dy, out_count, *stream_), want = PoolByTaps(x.data(), s, false);
    for (size_t i = 0; i < out_count; ++i) {
      if (std::isnan(want[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << "max element " << i;
      } else {
        ASSERT_EQ(got[i], want[i]) << "max element " << i;
      }
    }
  }
  // fp16 storage, fp32 sums: one case, within fp16's rounding of the result.
  const PoolShape s = cases[1];
  const size_t count = static_cast<size_t>(s.n * s.h * s.w * s.c);
  const size_t out_count = static_cast<size_t>(s.n * s.out_h * s.out_w * s.c);
  const auto x = RandomVector(count, 700);
  std::vector<__half> xh(count);
  std::vector<float> xr(count);
  for (size_t i = 0; i < count; ++i) {
    xh[i] = __float2half_rn(x[i]);
    xr[i] = __half2float(xh[i]);
  }
  auto hx = pool_.Allocate(count * sizeof(__half));
  auto hy = pool_.Allocate(out_count * sizeof(__half));
  ASSERT_TRUE(hx.ok() && hy.ok());
  ASSERT_EQ(cudaMemcpy(hx->data(), xh.data(), count * sizeof(__half), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_TRUE(AveragePoolNhwc(hx->as<__half>(), hy->as<__half>(), s, stream_->get()).ok());
  ASSERT_TRUE(stream_->Synchronize().ok());
  std::vector<__half> yh(out_count);
  ASSERT_EQ(cudaMemcpy(yh.data(), hy->data(), out_count * sizeof(__half), cudaMemcpyDeviceToHost), cudaSuccess);
  std::vector<float> got(out_count);
  for (size_t i = 0; i < out_count; ++i) got[i] = __half2float(yh[i]);
  ExpectClose(got, PoolByTaps(xr.data(), s, true), 1e-3f, 1e-3f);
}

TEST_F(PoolNhwcTest, PadSpatialAddsZerosInBothLayouts) {
  for (int form = 0; form < 3; ++form) {  // NCHW, NHWC, NCDHW
    SpatialPadShape s;
    s.n = 2;
    s.c = 3;
    s.h = 5;
    s.w = 4;
    s.top = 0;
    s.bottom = 1;
    s.left = 2;
    s.right = 0;
    s.nhwc = form == 1;
    if (form == 2) {
      s.d = 3;
      s.front = 1;
      s.back = 0;
    }
    const size_t count = static_cast<size_t>(s.n * s.c * s.d * s.h * s.w);
    const size_t out_count = static_cast<size_t>(s.out_count());
    const auto x = RandomVector(count, 800 + form);
    auto dx = Upload(pool_, x);
    auto dy = Empty(pool_, out_count);
    ASSERT_TRUE(PadSpatial(dx.as<float>(), dy.as<float>(), s, stream_->get()).ok());
    const auto got = Download(dy, out_count, *stream_);
    // Element by element from first principles: (b, ch, z, y, x) of the padded tensor.
    int inside = 0;
    for (int64_t b = 0; b < s.n; ++b)
      for (int64_t ch = 0; ch < s.c; ++ch)
        for (int64_t q = 0; q < s.out_d(); ++q)
          for (int64_t y = 0; y < s.out_h(); ++y)
            for (int64_t z = 0; z < s.out_w(); ++z) {
              const int64_t o = s.nhwc ? ((b * s.out_h() + y) * s.out_w() + z) * s.c + ch
                                       : (((b * s.c + ch) * s.out_d() + q) * s.out_h() + y) * s.out_w() + z;
              const int64_t dd = q - s.front, hh = y - s.top, ww = z - s.left;
              float want = 0.f;
              if (dd >= 0 && dd < s.d && hh >= 0 && hh < s.h && ww >= 0 && ww < s.w) {
                ++inside;
                want = x[static_cast<size_t>(s.nhwc ? ((b * s.h + hh) * s.w + ww) * s.c + ch
                                                    : (((b * s.c + ch) * s.d + dd) * s.h + hh) * s.w + ww)];
              }
              ASSERT_EQ(got[static_cast<size_t>(o)], want) << "form " << form << ": " << b << "," << ch << "," << q
                                                           << "," << y << "," << z;
            }
    EXPECT_EQ(inside, static_cast<int>(count));
  }
}

}  // namespace
}  // namespace onnxd::cuda
