#include "kernels/cpu/gemm.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "runtime/thread_pool.h"

namespace onnxd::engine::cpu {
namespace {

// One row against a matrix too large for the small GEMM (the sgemv path), every transpose,
// alpha and beta, with and without the pool splitting the columns.
TEST(SgemmTest, OneRowMatchesReference) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  ThreadPool pool(2);
  const int64_t n = 1003, k = 1290;  // n*k above the small GEMM's 1e6 multiply-adds
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
        const int64_t lda = ta ? 3 : k + 1;  // A is [1,K], or [K,1] read down a column when ta
        const int64_t ldb = tb ? k + 2 : n + 2;
        std::vector<float> a(static_cast<size_t>(ta ? k * lda : lda)), b(static_cast<size_t>((tb ? n : k) * ldb));
        std::vector<float> c(static_cast<size_t>(n));
        for (auto& x : a) x = u(rng);
        for (auto& x : b) x = u(rng);
        for (auto& x : c) x = u(rng);
        std::vector<float> ref(c);
        for (int64_t j = 0; j < n; ++j) {
          double s = 0;
          for (int64_t q = 0; q < k; ++q)
            s += double(ta ? a[q * lda] : a[q]) * (tb ? b[j * ldb + q] : b[q * ldb + j]);
          ref[j] = static_cast<float>(0.5 * s + 0.25 * ref[j]);
        }
        Sgemm(ta, tb, 1, n, k, 0.5f, a.data(), lda, b.data(), ldb, 0.25f, c.data(), n, p);
        for (int64_t j = 0; j < n; ++j)
          ASSERT_NEAR(c[j], ref[j], 2e-3) << "ta=" << ta << " tb=" << tb << " pool=" << (p != nullptr) << " j=" << j;
      }
    }
  }
}

}  // namespace
}  // namespace onnxd::engine::cpu
