#include "kernels/cpu/small_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "alloc_hook.h"

namespace onnxd::engine::cpu {
namespace {

// Sizes that hit every tail: rows 1..5 (4/2/1 blocks), columns around the 16 and 32 widths.
TEST(SmallGemmTest, MatchesReferenceOnOddShapes) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1, 1);
  for (bool tb : {false, true}) {
    for (int64_t m : {1, 2, 3, 4, 5, 9}) {
      for (int64_t n : {1, 7, 15, 16, 17, 31, 32, 33, 50, 128, 161, 300}) {
        for (int64_t k : {1, 3, 16, 17, 40}) {
          for (float beta : {0.f, 0.5f}) {
            const int64_t lda = k + 3, ldb = (tb ? k : n) + 2, ldc = n + 1;
            std::vector<float> a(m * lda), b((tb ? n : k) * ldb), c(m * ldc), ref;
            for (auto& x : a) x = u(rng);
            for (auto& x : b) x = u(rng);
            for (auto& x : c) x = u(rng);
            ref = c;
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = 0; j < n; ++j) {
                double s = 0;
                for (int64_t p = 0; p < k; ++p) s += a[i * lda + p] * (tb ? b[j * ldb + p] : b[p * ldb + j]);
                ref[i * ldc + j] = static_cast<float>(1.5 * s + beta * ref[i * ldc + j]);
              }
            if (beta == 0.f)  // C must not be read when beta is 0
              for (auto& x : c) x = std::nanf("");
            SmallSgemm(tb, m, n, k, 1.5f, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = 0; j < n; ++j)
                ASSERT_NEAR(c[i * ldc + j], ref[i * ldc + j], 1e-4)
                    << "tb=" << tb << " m=" << m << " n=" << n << " k=" << k << " beta=" << beta;
          }
        }
      }
    }
  }
}

TEST(SmallGemmTest, AllocatesNothing) {
  std::vector<float> a(64 * 200, 1.f), b(200 * 196, 1.f), c(64 * 196);
  testing::StartCountingAllocations();
  SmallSgemm(false, 64, 196, 200, 1.f, a.data(), 200, b.data(), 196, 0.f, c.data(), 196);
  EXPECT_EQ(testing::StopCountingAllocations(), 0);
  EXPECT_FLOAT_EQ(c[0], 200.f);
}

}  // namespace
}  // namespace onnxd::engine::cpu
