// The channels-last max pooling kernel against a plain CPU reference over odd shapes, strides and
// pads (fp32 and fp16), with a NaN among the inputs.
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/cuda/pool_nhwc.h"

namespace onnxd::cuda {
namespace {

using namespace ::onnxd::cuda::testing;  // NOLINT: RandomVector, Upload, Empty, Download

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

}  // namespace
}  // namespace onnxd::cuda
