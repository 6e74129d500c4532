// The fused attention kernel (kernels/cuda/flash_kernel.h) on its own, against direct attention
// computed here in double from the same fp16 inputs: strided views as the CUDA session hands it
// ([B, S, H, D] projections read as [B, H, S, D], grouped kv heads, a broadcast batch), tiles crossed
// (query and key counts past 64, partial last tiles), head sizes padded to 32 / 64 / 128, an
// additive mask by SoftmaxBiasLayout, causal with a KV-cache offset, non-padded lengths, softcap,
// fully masked rows (NaN, or 0 with nan_to_zero). A failure names the element, so the first GPU
// run says what the session tests' first-use checks would only refuse.
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/cuda/flash_kernel.h"

namespace onnxd::cuda {
namespace {

class FlashKernelTest : public testing::DeviceTest {};

struct Case {
  int64_t B, Hq, Hkv, Sq, T, D;
  bool causal = false;
  int64_t past = 0;
  bool mask = false, nonpad = false;
  float softcap = 0.f;
  bool nan_to_zero = false;
};

TEST_F(FlashKernelTest, MatchesDirectAttentionOverStridedViews) {
  const std::vector<Case> cases = {
      {1, 1, 1, 1, 1, 16},
      {2, 4, 4, 65, 130, 64},
      {2, 4, 2, 130, 200, 80, false, 0, true},
      {1, 2, 1, 1, 64, 128, true, 63},
      {2, 3, 3, 70, 70, 32, true, 0, false, true},
      {1, 2, 2, 64, 64, 7, false, 0, true, false, 5.f, true},
      {3, 2, 1, 33, 97, 48, true, 5, true, true},
      {2, 2, 2, 5, 10, 16, false, 0, false, true},                     // batch 1's length 0: NaN rows
      {2, 2, 2, 5, 10, 16, false, 0, false, true, 0.f, true},          // ... cleaned up to 0
  };
  std::mt19937 rng(31);
  std::uniform_real_distribution<float> val(-1.f, 1.f);
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "B " << c.B << " Hq " << c.Hq << " Hkv " << c.Hkv << " Sq " << c.Sq << " T "
                                      << c.T << " D " << c.D);
    // Q and O as [B, Sq, Hq, D], K and V as [B, T, Hkv, D] (the projections' layout, read strided).
    auto halves = [&](size_t n, float scale) {
      std::vector<__half> h(n);
      for (auto& x : h) x = __float2half(val(rng) * scale);
      return h;
    };
    const std::vector<__half> q = halves(static_cast<size_t>(c.B * c.Sq * c.Hq * c.D), 2.f);
    const std::vector<__half> k = halves(static_cast<size_t>(c.B * c.T * c.Hkv * c.D), 2.f);
    const std::vector<__half> v = halves(static_cast<size_t>(c.B * c.T * c.Hkv * c.D), 1.f);
    std::vector<__half> mask;
    if (c.mask) {
      mask.resize(static_cast<size_t>(c.B * c.Sq * c.T));  // [B, 1, Sq, T]
      for (size_t e = 0; e < mask.size(); ++e) mask[e] = __float2half(e % 7 == 3 ? -INFINITY : val(rng));
      for (int64_t b = 0; b < c.B; ++b) mask[static_cast<size_t>(b * c.Sq * c.T)] = __float2half(-INFINITY);
    }
    std::vector<int64_t> nonpad(static_cast<size_t>(c.B));
    for (int64_t b = 0; b < c.B; ++b) nonpad[static_cast<size_t>(b)] = b == 0 ? c.T : std::max<int64_t>(0, c.T - 17 * b);
    DeviceBuffer dq = Up(q), dk = Up(k), dv = Up(v), dm = Up(mask), dn = Up(nonpad);
    DeviceBuffer dout = Out(static_cast<size_t>(c.B * c.Sq * c.Hq * c.D) * sizeof(__half));
    FlashAttentionArgs a;
    a.B = c.B, a.Hq = c.Hq, a.Hkv = c.Hkv, a.Sq = c.Sq, a.T = c.T, a.D = c.D;
    a.q = dq.data(), a.q_sb = c.Sq * c.Hq * c.D, a.q_sh = c.D, a.q_ss = c.Hq * c.D;
    a.k = dk.data(), a.k_sb = c.T * c.Hkv * c.D, a.k_sh = c.D, a.k_st = c.Hkv * c.D;
    a.v = dv.data(), a.v_sb = c.T * c.Hkv * c.D, a.v_sh = c.D, a.v_st = c.Hkv * c.D;
    a.o = dout.data(), a.o_sb = c.Sq * c.Hq * c.D, a.o_sh = c.D, a.o_ss = c.Hq * c.D;
    a.scale = 1.f / std::sqrt(static_cast<float>(c.D));
    a.softcap = c.softcap;
    a.causal = c.causal;
    a.past = c.past;
    a.nan_to_zero = c.nan_to_zero;
    if (c.mask) {
      a.bias = dm.data();
      a.bias_layout = *MakeSoftmaxBiasLayout(std::vector<int64_t>{c.B, c.Hq, c.Sq, c.T},
                                             std::vector<int64_t>{c.B, 1, c.Sq, c.T});
    }
    if (c.nonpad) a.nonpad = static_cast<const int64_t*>(dn.data());
    ASSERT_TRUE(FlashAttention(a, stream_->get()).ok());
    const std::vector<__half> got = Down<__half>(dout, static_cast<size_t>(c.B * c.Sq * c.Hq * c.D));
    int bad = 0;
    for (int64_t b = 0; b < c.B; ++b)
      for (int64_t h = 0; h < c.Hq; ++h) {
        const int64_t kvh = h / (c.Hq / c.Hkv);
        const int64_t end = c.nonpad ? nonpad[static_cast<size_t>(b)] : c.T;
        for (int64_t i = 0; i < c.Sq; ++i) {
          std::vector<double> s(static_cast<size_t>(c.T));
          double mx = -INFINITY;
          for (int64_t j = 0; j < c.T; ++j) {
            double raw = 0;
            for (int64_t d = 0; d < c.D; ++d)
              raw += static_cast<double>(__half2float(q[static_cast<size_t>(((b * c.Sq + i) * c.Hq + h) * c.D + d)])) *
                     __half2float(k[static_cast<size_t>(((b * c.T + j) * c.Hkv + kvh) * c.D + d)]);
            double x = raw * a.scale;
            if (c.softcap > 0) x = c.softcap * std::tanh(x / c.softcap);
            if (c.mask) x += __half2float(mask[static_cast<size_t>((b * c.Sq + i) * c.T + j)]);
            if (j >= end || (c.causal && j > i + c.past)) x = -INFINITY;
            s[static_cast<size_t>(j)] = x;
            mx = std::max(mx, x);
          }
          double sum = 0;
          for (double& x : s) sum += x = std::exp(x - mx);
          for (int64_t d = 0; d < c.D; ++d) {
            double want = 0;
            for (int64_t j = 0; j < c.T; ++j)
              want += s[static_cast<size_t>(j)] / sum *
                      __half2float(v[static_cast<size_t>(((b * c.T + j) * c.Hkv + kvh) * c.D + d)]);
            if (c.nan_to_zero && std::isnan(want)) want = 0;
            const float g = __half2float(got[static_cast<size_t>(((b * c.Sq + i) * c.Hq + h) * c.D + d)]);
            const bool ok = std::isnan(want) ? std::isnan(g) : std::fabs(g - want) <= 1e-2 + 1e-2 * std::fabs(want);
            if (!ok && ++bad <= 5)
              ADD_FAILURE() << "b " << b << " h " << h << " i " << i << " d " << d << ": got " << g << ", want " << want;
          }
        }
      }
    EXPECT_EQ(bad, 0);
  }
}

}  // namespace
}  // namespace onnxd::cuda
