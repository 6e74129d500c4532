#include "kernels/cuda/gemm_cuda.h"

#include <gtest/gtest.h>

#include "gpu_test_util.h"

namespace onnxd::cuda {
namespace {

using testing::Download;
using testing::Empty;
using testing::ExpectClose;
using testing::RandomVector;
using testing::Upload;

// Plain row-major reference in double.
std::vector<float> ReferenceGemm(const GemmArgs& g, const std::vector<float>& a, const std::vector<float>& b,
                                 const std::vector<float>& c0) {
  std::vector<float> c(g.m * g.n);
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = 0; j < g.n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < g.k; ++p) {
        double av = g.trans_a ? a[p * g.m + i] : a[i * g.k + p];
        double bv = g.trans_b ? b[j * g.k + p] : b[p * g.n + j];
        s += av * bv;
      }
      c[i * g.n + j] = static_cast<float>(g.alpha * s + g.beta * c0[i * g.n + j]);
    }
  return c;
}

struct GemmCase {
  int64_t m, n, k;
  bool ta, tb;
  float alpha, beta;
};

class GemmCudaTest : public ::testing::TestWithParam<GemmCase> {};

TEST_P(GemmCudaTest, MatchesCpuReferenceFp32) {
  const GemmCase p = GetParam();
  auto stream = Stream::Create();
  ASSERT_TRUE(stream.ok()) << stream.status().message();
  auto blas = Blas::Create(stream->get());
  ASSERT_TRUE(blas.ok()) << blas.status().message();
  DevicePool pool;
  GemmArgs g{p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.beta};
  auto a = RandomVector(p.m * p.k, 1), b = RandomVector(p.k * p.n, 2), c0 = RandomVector(p.m * p.n, 3);
  auto da = Upload(pool, a), db = Upload(pool, b), dc = Upload(pool, c0);
  Status st = blas->Gemm(g, da.as<float>(), db.as<float>(), dc.as<float>(), GemmMath::kFp32);
  ASSERT_TRUE(st.ok()) << st.message();
  // Sums of k products of values in [-2, 2]: scale atol with sqrt(k) for the accumulation order.
  ExpectClose(Download(dc, p.m * p.n, *stream), ReferenceGemm(g, a, b, c0), 1e-3f, 1e-5f * (1 + p.k));
}

TEST_P(GemmCudaTest, Tf32IsCloseToReference) {
  const GemmCase p = GetParam();
  auto stream = Stream::Create();
  ASSERT_TRUE(stream.ok());
  auto blas = Blas::Create(stream->get());
  ASSERT_TRUE(blas.ok());
  DevicePool pool;
  GemmArgs g{p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.beta};
  auto a = RandomVector(p.m * p.k, 4), b = RandomVector(p.k * p.n, 5), c0 = RandomVector(p.m * p.n, 6);
  auto da = Upload(pool, a), db = Upload(pool, b), dc = Upload(pool, c0);
  ASSERT_TRUE(blas->Gemm(g, da.as<float>(), db.as<float>(), dc.as<float>(), GemmMath::kTf32).ok());
  // TF32 keeps 10 mantissa bits: relative error per product ~1e-3, growing like sqrt(k).
  ExpectClose(Download(dc, p.m * p.n, *stream), ReferenceGemm(g, a, b, c0), 1e-2f, 2e-3f * (1 + p.k));
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmCudaTest,
                         ::testing::Values(GemmCase{1, 1, 1, false, false, 1.f, 0.f},
                                           GemmCase{17, 33, 65, false, false, 1.f, 0.f},
                                           GemmCase{64, 48, 31, true, false, 0.5f, 1.f},
                                           GemmCase{31, 64, 48, false, true, 1.f, 0.25f},
                                           GemmCase{37, 29, 101, true, true, -1.5f, 0.f},
                                           GemmCase{256, 384, 128, false, true, 1.f, 0.f},
                                           GemmCase{3, 5, 0, false, false, 1.f, 2.f}));

TEST(GemmCudaArgsTest, RejectsShortLeadingDimension) {
  auto stream = Stream::Create();
  ASSERT_TRUE(stream.ok());
  auto blas = Blas::Create(stream->get());
  ASSERT_TRUE(blas.ok());
  GemmArgs g{false, false, 4, 4, 4};
  g.lda = 3;
  Status st = blas->Gemm(g, nullptr, nullptr, nullptr);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace onnxd::cuda
