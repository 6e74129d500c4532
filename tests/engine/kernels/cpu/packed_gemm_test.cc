#include "kernels/cpu/packed_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "alloc_hook.h"

namespace onnxd::engine::cpu {
namespace {

struct Case {
  int64_t m, n, k;
  bool trans_b, accumulate, relu, bias;
  float alpha;
};

// Runs one product with padded leading dimensions and checks it against a double reference.
void Check(const Case& t, ThreadPool* pool, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  const int64_t lda = t.k + 3, ldb = (t.trans_b ? t.k : t.n) + 2, ldc = t.n + 5;
  std::vector<float> a(t.m * lda), b((t.trans_b ? t.n : t.k) * ldb), c(t.m * ldc), bias(t.n);
  for (auto& x : a) x = u(rng);
  for (auto& x : b) x = u(rng);
  for (auto& x : c) x = u(rng);
  for (auto& x : bias) x = u(rng);
  std::vector<double> ref(t.m * t.n);
  for (int64_t i = 0; i < t.m; ++i)
    for (int64_t j = 0; j < t.n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < t.k; ++p)
        s += static_cast<double>(a[i * lda + p]) * (t.trans_b ? b[j * ldb + p] : b[p * ldb + j]);
      s *= t.alpha;
      if (t.accumulate) s += c[i * ldc + j];
      if (t.bias) s += bias[j];
      if (t.relu) s = std::max(s, 0.0);
      ref[i * t.n + j] = s;
    }
  if (!t.accumulate)  // C must not be read
    for (auto& x : c) x = std::nanf("");
  const float guard = 12345.f;  // the padding between rows must stay untouched
  for (int64_t i = 0; i < t.m; ++i)
    for (int64_t j = t.n; j < ldc; ++j) c[i * ldc + j] = guard;
  PackedB packed;
  packed.Pack(t.trans_b, t.k, t.n, b.data(), ldb);
  PackedSgemm(t.m, a.data(), lda, packed, t.alpha, t.bias ? bias.data() : nullptr, t.accumulate, t.relu, c.data(),
              ldc, pool);
  const double tol = 1e-5 * (t.k + 4);
  for (int64_t i = 0; i < t.m; ++i) {
    for (int64_t j = 0; j < t.n; ++j)
      ASSERT_NEAR(c[i * ldc + j], ref[i * t.n + j], tol)
          << "m=" << t.m << " n=" << t.n << " k=" << t.k << " i=" << i << " j=" << j << " trans_b=" << t.trans_b
          << " acc=" << t.accumulate << " relu=" << t.relu << " bias=" << t.bias;
    for (int64_t j = t.n; j < ldc; ++j) ASSERT_EQ(c[i * ldc + j], guard) << "wrote past N at m=" << t.m;
  }
}

// GetParam(): true forces the portable tiles (the AVX-512 ones run otherwise, where supported).
class PackedGemmTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { PackedSgemmPortableOnlyForTests(GetParam()); }
  void TearDown() override { PackedSgemmPortableOnlyForTests(false); }
};

// Every row tail (1..12 and past the 12-row tiles), columns around 16 and 32, K odd and across
// the 512-deep K blocks.
TEST_P(PackedGemmTest, MatchesReferenceOnOddShapes) {
  std::mt19937 rng(7);
  for (int64_t m = 1; m <= 70; m += (m < 14 ? 1 : 7))
    for (int64_t n : {1, 7, 16, 17, 31, 32, 33, 50, 100})
      for (int64_t k : {1, 5, 33, 513}) {
        const bool odd = (m + n + k) % 2 == 1;
        Check({m, n, k, odd, m % 3 == 0, n % 2 == 1, m % 2 == 0, odd ? 1.5f : 1.f}, nullptr, rng);
      }
}

TEST_P(PackedGemmTest, EpilogueCombinations) {
  std::mt19937 rng(3);
  for (bool tb : {false, true})
    for (bool acc : {false, true})
      for (bool relu : {false, true})
        for (bool bias : {false, true}) Check({13, 45, 600, tb, acc, relu, bias, 0.75f}, nullptr, rng);
}

TEST_P(PackedGemmTest, ParallelMatchesReference) {
  ThreadPool pool(4);
  std::mt19937 rng(5);
  // Many panels (split N), few panels and many rows (split M), and past the 120-row M blocks.
  Check({64, 512, 96, false, false, false, true, 1.f}, &pool, rng);
  Check({250, 40, 130, true, true, true, false, 1.f}, &pool, rng);
  Check({301, 77, 513, false, false, false, false, 2.f}, &pool, rng);
}

TEST_P(PackedGemmTest, ZeroKIsTheEpilogue) {
  std::mt19937 rng(9);
  Check({5, 20, 0, false, true, true, true, 1.f}, nullptr, rng);
  Check({5, 20, 0, false, false, false, false, 1.f}, nullptr, rng);
}

// The pointwise-convolution form: B read in place with no padding after it (its last row ends the
// buffer, so a read past column N would show under ASan), a bias per row.
TEST_P(PackedGemmTest, InPlaceBMatchesReference) {
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t m : {1, 5, 12, 13, 32, 70, 128})
    for (int64_t n : {1, 9, 16, 31, 33, 49, 100, 196})
      for (int64_t k : {1, 3, 32, 130, 515}) {
        const bool relu = (m + n) % 2 == 0, has_bias = k % 2 == 1;
        const int64_t lda = k + 1, ldc = n + 3;
        std::vector<float> a(m * lda), b(k * n), bias(m), c(m * ldc, std::nanf(""));
        for (auto& x : a) x = u(rng);
        for (auto& x : b) x = u(rng);
        for (auto& x : bias) x = u(rng);
        SgemmInPlaceB(m, n, k, a.data(), lda, b.data(), n, has_bias ? bias.data() : nullptr, relu, c.data(), ldc);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double s = has_bias ? bias[i] : 0.0;
            for (int64_t p = 0; p < k; ++p) s += static_cast<double>(a[i * lda + p]) * b[p * n + j];
            if (relu) s = std::max(s, 0.0);
            ASSERT_NEAR(c[i * ldc + j], s, 1e-5 * (k + 4)) << "m=" << m << " n=" << n << " k=" << k << " i=" << i
                                                            << " j=" << j;
          }
      }
}

INSTANTIATE_TEST_SUITE_P(Paths, PackedGemmTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Portable" : "Native"; });

TEST(PackedGemmAllocTest, RunAllocatesNothing) {
  std::vector<float> a(64 * 512, 1.f), b(512 * 500, 1.f), c(64 * 500);
  PackedB packed;
  packed.Pack(false, 512, 500, b.data(), 500);
  ThreadPool pool(2);
  PackedSgemm(64, a.data(), 512, packed, 1.f, nullptr, false, false, c.data(), 500, &pool);  // warm the pool
  testing::StartCountingAllocations();
  PackedSgemm(64, a.data(), 512, packed, 1.f, nullptr, false, false, c.data(), 500, &pool);
  EXPECT_EQ(testing::StopCountingAllocations(), 0);
  EXPECT_FLOAT_EQ(c[0], 512.f);
  EXPECT_FLOAT_EQ(c[64 * 500 - 1], 512.f);
}

}  // namespace
}  // namespace onnxd::engine::cpu
