// The fused attention kernel's arithmetic (kernels/cuda/flash_attention.h: masking, the online
// softmax's running maximum / sum / rescale, the causal early end, fully masked rows) simulated tile
// by tile as the kernel walks it (64 query rows, 64 key columns, weights rounded to fp16), against
// a direct softmax(mask(scale * Q K^T)) V.
#include "kernels/cuda/flash_attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "onnxd/engine/types.h"

namespace onnxd::cuda {
namespace {

float ToHalf(float x) { return static_cast<float>(Float16(x)); }

struct Problem {
  FlashAttentionArgs a;
  std::vector<float> q, k, v, bias;  // packed [B, Hq, Sq, D], [B, Hkv, T, D] twice, bias per layout
  std::vector<int64_t> nonpad;
  std::vector<int64_t> bias_dims;
};

float BiasAt(const Problem& p, int64_t b, int64_t h, int64_t i, int64_t j) {
  if (p.a.bias == nullptr) return 0.f;
  const int64_t row = (b * p.a.Hq + h) * p.a.Sq + i;
  return p.bias[static_cast<size_t>(p.a.bias_layout.RowOffset(row) + j * p.a.bias_layout.col_stride)];
}

// The kernel's walk for one (b, h), with the same tiles and state.
std::vector<float> Simulate(const Problem& p, int64_t b, int64_t h) {
  const FlashAttentionArgs& a = p.a;
  const int64_t kvh = h / (a.Hq / a.Hkv);
  int64_t end = a.T;
  if (a.nonpad != nullptr) end = std::min(end, std::max<int64_t>(a.nonpad[b], 0));
  std::vector<float> out(static_cast<size_t>(a.Sq * a.D));
  for (int64_t r0 = 0; r0 < a.Sq; r0 += kFlashRows) {
    const int64_t rows = std::min<int64_t>(kFlashRows, a.Sq - r0);
    std::vector<float> m(rows, -INFINITY), l(rows, 0.f), o(static_cast<size_t>(rows * a.D), 0.f);
    int64_t t_end = a.T;
    if (a.causal) t_end = std::min(t_end, std::max<int64_t>(r0 + rows - 1 + a.past + 1, 0));
    for (int64_t c0 = 0; c0 < t_end; c0 += kFlashCols) {
      const int64_t cols = std::min<int64_t>(kFlashCols, a.T - c0);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = r0 + r;
        std::vector<float> sc(kFlashCols, -INFINITY);
        float mx = -INFINITY;
        for (int64_t c = 0; c < cols; ++c) {
          const int64_t j = c0 + c;
          float raw = 0.f;
          for (int64_t d = 0; d < a.D; ++d)
            raw += p.q[static_cast<size_t>(((b * a.Hq + h) * a.Sq + i) * a.D + d)] *
                   p.k[static_cast<size_t>(((b * a.Hkv + kvh) * a.T + j) * a.D + d)];
          sc[c] = FlashScore(a, raw, BiasAt(p, b, h, i, j), i, j, end, ToHalf);
          mx = std::max(mx, sc[c]);
        }
        const float m_new = std::max(m[r], mx);
        const float alpha = FlashRescale(m[r], m_new);
        float sum = 0.f;
        std::vector<float> w(kFlashCols);
        for (int64_t c = 0; c < kFlashCols; ++c) {
          w[c] = static_cast<float>(Float16(FlashWeight(sc[c], m_new)));  // fp16 weights, as the kernel's P tile
          sum += w[c];
        }
        l[r] = l[r] * alpha + sum;
        m[r] = m_new;
        for (int64_t d = 0; d < a.D; ++d) {
          float pv = 0.f;
          for (int64_t c = 0; c < cols; ++c)
            pv += w[c] * p.v[static_cast<size_t>(((b * a.Hkv + kvh) * a.T + c0 + c) * a.D + d)];
          o[static_cast<size_t>(r * a.D + d)] = o[static_cast<size_t>(r * a.D + d)] * alpha + pv;
        }
      }
    }
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t d = 0; d < a.D; ++d) {
        float val = o[static_cast<size_t>(r * a.D + d)] / l[r];
        if (a.nan_to_zero && std::isnan(val)) val = 0.f;
        out[static_cast<size_t>((r0 + r) * a.D + d)] = val;
      }
  }
  return out;
}

// softmax(mask(scale * Q K^T)) V directly, in double; NaN for a row with every column masked.
std::vector<double> Direct(const Problem& p, int64_t b, int64_t h) {
  const FlashAttentionArgs& a = p.a;
  const int64_t kvh = h / (a.Hq / a.Hkv);
  int64_t end = a.T;
  if (a.nonpad != nullptr) end = std::min(end, std::max<int64_t>(a.nonpad[b], 0));
  std::vector<double> out(static_cast<size_t>(a.Sq * a.D));
  for (int64_t i = 0; i < a.Sq; ++i) {
    std::vector<double> s(a.T);
    double mx = -INFINITY;
    for (int64_t j = 0; j < a.T; ++j) {
      double raw = 0;
      for (int64_t d = 0; d < a.D; ++d)
        raw += static_cast<double>(p.q[static_cast<size_t>(((b * a.Hq + h) * a.Sq + i) * a.D + d)]) *
               p.k[static_cast<size_t>(((b * a.Hkv + kvh) * a.T + j) * a.D + d)];
      double v = raw * a.scale;
      if (a.round_scores) v = ToHalf(static_cast<float>(v));  // the unfused path's fp16 scores
      if (a.softcap > 0) v = a.softcap * std::tanh(v / a.softcap);
      v += BiasAt(p, b, h, i, j);
      if (a.round_masked) v = ToHalf(static_cast<float>(v));  // its fp16 Add
      if (j >= end || (a.causal && j > i + a.past)) v = -INFINITY;
      s[j] = v;
      mx = std::max(mx, v);
    }
    double sum = 0;
    for (int64_t j = 0; j < a.T; ++j) sum += s[j] = std::exp(s[j] - mx);  // all -inf: NaN throughout
    for (int64_t d = 0; d < a.D; ++d) {
      double acc = 0;
      for (int64_t j = 0; j < a.T; ++j)
        acc += s[j] / sum * p.v[static_cast<size_t>(((b * a.Hkv + kvh) * a.T + j) * a.D + d)];
      if (a.nan_to_zero && std::isnan(acc)) acc = 0;
      out[static_cast<size_t>(i * a.D + d)] = acc;
    }
  }
  return out;
}

// Every (b, h) of the simulated kernel against direct attention; *nan_rows counts the NaN rows.
void ExpectMatchesDirect(const Problem& p, int* nan_rows) {
  for (int64_t b = 0; b < p.a.B; ++b)
    for (int64_t h = 0; h < p.a.Hq; ++h) {
      const std::vector<float> got = Simulate(p, b, h);
      const std::vector<double> want = Direct(p, b, h);
      for (size_t e = 0; e < got.size(); ++e) {
        if (std::isnan(want[e])) {
          ASSERT_TRUE(std::isnan(got[e])) << "b " << b << " h " << h << " element " << e;
          *nan_rows += e % p.a.D == 0;
          continue;
        }
        ASSERT_NEAR(got[e], want[e], 3e-3 * (1 + std::abs(want[e]))) << "b " << b << " h " << h << " element " << e;
      }
    }
}

// Rounding as an exported block's fp16 nodes do: with a -65504 mask (fp16's lowest, as float16
// exports write it) a score below about -16 plus the mask rounds to -inf, so in a row masked whole
// only the columns scoring above that keep a weight, as the unfused nodes give (unrounded, every
// column would: a different softmax).
TEST(FlashAttentionTest, RoundingAsTheUnfusedNodes) {
  std::mt19937 rng(23);
  std::uniform_real_distribution<float> val(-1.f, 1.f);
  int nan_rows = 0;
  for (int trial = 0; trial < 12; ++trial) {
    Problem p;
    FlashAttentionArgs& a = p.a;
    a.B = 1, a.Hq = a.Hkv = 2, a.Sq = 40 + trial * 7, a.T = 50 + trial * 11, a.D = 16;
    a.scale = 0.25f;
    a.round_scores = a.round_masked = true;
    a.nan_to_zero = trial % 2 == 0;
    p.q.resize(static_cast<size_t>(a.B * a.Hq * a.Sq * a.D));
    p.k.resize(static_cast<size_t>(a.B * a.Hkv * a.T * a.D));
    p.v.resize(p.k.size());
    for (auto* vec : {&p.q, &p.k, &p.v})
      for (float& x : *vec) x = val(rng) * 4.f;  // scores of tens: some below -16
    p.bias_dims = {a.B, 1, a.Sq, a.T};
    p.bias.assign(static_cast<size_t>(a.B * a.Sq * a.T), 0.f);
    for (size_t e = 0; e < p.bias.size(); ++e)
      if ((e * 2654435761u) % 3 != 0 || (e / static_cast<size_t>(a.T)) % 5 == 0) p.bias[e] = -65504.f;  // rows i % 5 == 0: all
    a.bias_layout = *MakeSoftmaxBiasLayout(std::vector<int64_t>{a.B, a.Hq, a.Sq, a.T}, p.bias_dims);
    a.bias = p.bias.data();
    SCOPED_TRACE(::testing::Message() << "trial " << trial);
    ExpectMatchesDirect(p, &nan_rows);
  }
  (void)nan_rows;  // (rows whose every column rounds to -inf are rare at these scores)
}

TEST(FlashAttentionTest, TiledOnlineSoftmaxMatchesDirectAttention) {
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> val(-1.f, 1.f);
  int nan_rows = 0, cases = 0;
  for (int trial = 0; trial < 60; ++trial) {
    Problem p;
    FlashAttentionArgs& a = p.a;
    a.B = 1 + trial % 2;
    a.Hkv = 1 + trial % 2;
    a.Hq = a.Hkv * (1 + (trial / 2) % 3);
    const int64_t seqs[] = {1, 5, 64, 70, 130};
    a.Sq = seqs[trial % 5];
    a.T = seqs[(trial / 5) % 5] + (trial % 3 == 0 ? 7 : 0);
    a.D = 4 + trial % 13;
    a.scale = 1.f / std::sqrt(static_cast<float>(a.D));
    a.softcap = trial % 7 == 3 ? 2.f : 0.f;
    a.causal = trial % 4 == 1;
    a.past = a.causal ? trial % 3 : 0;
    a.nan_to_zero = trial % 2 == 0;
    p.q.resize(static_cast<size_t>(a.B * a.Hq * a.Sq * a.D));
    p.k.resize(static_cast<size_t>(a.B * a.Hkv * a.T * a.D));
    p.v.resize(p.k.size());
    for (auto* vec : {&p.q, &p.k, &p.v})
      for (float& x : *vec) x = val(rng) * 2.f;
    if (trial % 3 != 2) {
      // A padding mask [B, 1, 1, T] (0 or -inf) or a full one [B, 1, Sq, T].
      p.bias_dims = trial % 3 == 0 ? std::vector<int64_t>{a.B, 1, 1, a.T} : std::vector<int64_t>{a.B, 1, a.Sq, a.T};
      int64_t n = 1;
      for (int64_t d : p.bias_dims) n *= d;
      p.bias.resize(static_cast<size_t>(n));
      for (size_t e = 0; e < p.bias.size(); ++e) p.bias[e] = (e * 2654435761u) % 5 == 0 ? -INFINITY : val(rng);
      // Left padding in batch 0 (every fourth trial): its first 70 columns masked, so whole key
      // tiles are masked before the row sees a visible column.
      if (trial % 4 == 0)
        for (size_t e = 0; e < p.bias.size() / static_cast<size_t>(a.B); ++e)
          if (static_cast<int64_t>(e) % a.T < 70) p.bias[e] = -INFINITY;
      const std::vector<int64_t> full = {a.B, a.Hq, a.Sq, a.T};
      a.bias_layout = *MakeSoftmaxBiasLayout(full, p.bias_dims);
      a.bias = p.bias.data();  // only compared with null here
    }
    if (trial % 5 == 4) {
      p.nonpad.resize(static_cast<size_t>(a.B));
      for (int64_t b = 0; b < a.B; ++b) p.nonpad[static_cast<size_t>(b)] = b == 0 ? 0 : a.T - 3;  // a row of length 0
      a.nonpad = p.nonpad.data();
    }
    SCOPED_TRACE(::testing::Message() << "trial " << trial);
    ExpectMatchesDirect(p, &nan_rows);
    ++cases;
  }
  EXPECT_EQ(cases, 60);
  EXPECT_GT(nan_rows, 0);  // fully masked rows were reached (and kept NaN without the cleanup)
}

}  // namespace
}  // namespace onnxd::cuda
