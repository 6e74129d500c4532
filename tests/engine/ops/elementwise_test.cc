// Unit tests for the elementwise loops: broadcast planning and the fast float32 math.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/elementwise_cpu.h"
#include "ops/op_util.h"
#include "runtime/thread_pool.h"

namespace onnxd::engine {
namespace {

double RelErr(double got, double want) {
  if (got == want) return 0;
  return std::fabs(got - want) / std::max(std::fabs(want), 1e-30);
}

TEST(ElementwiseMath, FastExpIsAccurate) {
  double worst = 0;
  for (float x = -87.0f; x < 88.5f; x += 0.001237f) worst = std::max(worst, RelErr(FastExp(x), std::exp(double(x))));
  EXPECT_LT(worst, 3e-7);
  EXPECT_TRUE(std::isinf(FastExp(89.0f)));
  EXPECT_EQ(FastExp(-200.0f), 0.0f);
  EXPECT_EQ(FastExp(0.0f), 1.0f);
  EXPECT_TRUE(std::isnan(FastExp(NAN)));
  // Subnormal results.
  EXPECT_LT(RelErr(FastExp(-100.0f), std::exp(-100.0)), 1e-2);
}

TEST(ElementwiseMath, FastTanhAndSigmoidAreAccurate) {
  double worst_t = 0, worst_s = 0;
  for (float x = -30.0f; x < 30.0f; x += 0.000731f) {
    worst_t = std::max(worst_t, RelErr(FastTanh(x), std::tanh(double(x))));
    worst_s = std::max(worst_s, RelErr(FastSigmoid(x), 1.0 / (1.0 + std::exp(-double(x)))));
  }
  EXPECT_LT(worst_t, 1e-6);
  EXPECT_LT(worst_s, 1e-6);
  EXPECT_EQ(FastTanh(100.0f), 1.0f);
  EXPECT_EQ(FastTanh(-100.0f), -1.0f);
  EXPECT_EQ(FastSigmoid(-200.0f), 0.0f);
  EXPECT_EQ(FastSigmoid(200.0f), 1.0f);
  EXPECT_LT(RelErr(FastTanh(1e-30f), 1e-30), 1e-6);
}

TEST(ElementwiseMath, FastLogErfGeluAreAccurate) {
  double worst_log = 0, worst_erf = 0, worst_gelu = 0, worst_sp = 0;
  for (float x = 1e-30f; x < 1e30f; x *= 1.0137f) worst_log = std::max(worst_log, RelErr(FastLog(x), std::log(double(x))));
  for (float x = -6.0f; x < 6.0f; x += 0.000913f) {
    worst_erf = std::max(worst_erf, RelErr(FastErf(x), std::erf(double(x))));
    const double g = 0.5 * x * std::erfc(-double(x) / std::sqrt(2.0));
    // Beyond |x| = 4 the exp argument's float rounding dominates (values < 1e-4 there).
    if (std::fabs(x) < 4.0f) worst_gelu = std::max(worst_gelu, RelErr(FastGelu(x), g));
    ASSERT_LT(RelErr(FastGelu(x), g), 5e-6) << x;
  }
  for (float x = -80.0f; x < 80.0f; x += 0.00731f) {
    const double sp = x > 0 ? x + std::log1p(std::exp(-double(x))) : std::log1p(std::exp(double(x)));
    worst_sp = std::max(worst_sp, RelErr(FastSoftplus(x), sp));
  }
  EXPECT_LT(worst_log, 3e-7);
  EXPECT_LT(worst_erf, 1e-6);
  EXPECT_LT(worst_gelu, 2e-6);
  EXPECT_LT(worst_sp, 1e-6);
  EXPECT_TRUE(std::isinf(FastLog(0.0f)) && FastLog(0.0f) < 0);
  EXPECT_TRUE(std::isnan(FastLog(-1.0f)));
  EXPECT_TRUE(std::isinf(FastLog(INFINITY)));
  EXPECT_LT(RelErr(FastLog(1e-40f), std::log(1e-40)), 1e-6);
  EXPECT_EQ(FastErf(10.0f), 1.0f);
  EXPECT_EQ(FastErf(-10.0f), -1.0f);
  EXPECT_EQ(FastGelu(-30.0f), -0.0f);
  EXPECT_EQ(FastGelu(30.0f), 30.0f);
}

// The ISA-dispatched kernels agree with the scalar inline functions.
TEST(ElementwiseMath, DispatchedKernelsMatchScalar) {
  const int n = 1003;
  std::vector<float> x(n), y(n);
  for (int i = 0; i < n; ++i) x[i] = -9.0f + 18.0f * i / n;
  FloatUnaryF32(FloatUnaryKind::kExp, x.data(), y.data(), n);
  for (int i = 0; i < n; ++i) ASSERT_LT(RelErr(y[i], std::exp(double(x[i]))), 3e-7) << x[i];
  FloatUnaryF32(FloatUnaryKind::kTanh, x.data(), y.data(), n);
  for (int i = 0; i < n; ++i) ASSERT_LT(RelErr(y[i], std::tanh(double(x[i]))), 1e-6) << x[i];
  FloatUnaryF32(FloatUnaryKind::kErf, x.data(), y.data(), n);
  for (int i = 0; i < n; ++i) ASSERT_LT(RelErr(y[i], std::erf(double(x[i]))), 1e-6) << x[i];
  FloatUnaryF32(FloatUnaryKind::kSwish, x.data(), y.data(), n, 0.5f);
  for (int i = 0; i < n; ++i) ASSERT_LT(RelErr(y[i], x[i] / (1 + std::exp(-0.5 * x[i]))), 1e-6) << x[i];
  for (int i = 0; i < n; ++i) x[i] = 0.001f + i;
  FloatUnaryF32(FloatUnaryKind::kLog, x.data(), y.data(), n);
  for (int i = 0; i < n; ++i) ASSERT_LT(RelErr(y[i], std::log(double(x[i]))), 3e-7) << x[i];
}

TEST(BroadcastPlan, CollapsesDims) {
  BroadcastPlan p;
  Shape a{2, 3, 4, 5}, b{3, 1, 1};
  const Shape* ins[2] = {&a, &b};
  ASSERT_TRUE(p.Init(a, ins, 2));
  ASSERT_EQ(p.rank, 3);
  EXPECT_EQ(p.dims[0], 2);
  EXPECT_EQ(p.dims[1], 3);
  EXPECT_EQ(p.dims[2], 20);
  EXPECT_EQ(p.strides[1][0], 0);
  EXPECT_EQ(p.strides[1][1], 1);
  EXPECT_EQ(p.strides[1][2], 0);

  Shape c{4, 5}, d{4, 5};
  const Shape* ins2[2] = {&c, &d};
  ASSERT_TRUE(p.Init(c, ins2, 2));
  EXPECT_EQ(p.rank, 1);
  EXPECT_EQ(p.dims[0], 20);

  Shape s{};
  const Shape* ins3[2] = {&c, &s};
  ASSERT_TRUE(p.Init(c, ins3, 2));
  EXPECT_EQ(p.rank, 1);
  EXPECT_EQ(p.inner_stride(1), 0);
}

// Random broadcasts against a naive reference, serial and on the pool.
TEST(BroadcastPlan, MatchesNaiveBroadcast) {
  std::mt19937 rng(7);
  ThreadPool pool(4);
  for (int iter = 0; iter < 300; ++iter) {
    const int rank = 1 + rng() % 5;
    Shape out;
    out.Resize(rank);
    for (int i = 0; i < rank; ++i) out[i] = 1 + rng() % (iter % 3 == 0 ? 40 : 5);
    Shape sa, sb;
    const int ra = 1 + rng() % rank, rb = rng() % (rank + 1);
    sa.Resize(ra);
    sb.Resize(rb);
    for (int i = 0; i < ra; ++i) sa[i] = rng() % 2 ? out[rank - ra + i] : 1;
    for (int i = 0; i < rb; ++i) sb[i] = rng() % 3 ? out[rank - rb + i] : 1;
    auto full = BroadcastShapes(sa, sb);
    ASSERT_TRUE(full.ok());
    const Shape& os = *full;
    std::vector<float> va(sa.NumElements()), vb(sb.NumElements());
    for (auto& v : va) v = float(rng() % 1000);
    for (auto& v : vb) v = float(rng() % 1000);
    BroadcastPlan p;
    const Shape* ins[2] = {&sa, &sb};
    ASSERT_TRUE(p.Init(os, ins, 2));
    std::vector<float> got(os.NumElements());
    BinaryBroadcastLoop(pool, p, va.data(), vb.data(), got.data(), [](float x, float y) { return x * 1000 + y; },
                        /*grain=*/7);
    BroadcastIndexer bi;
    bi.Init(os, ins, 2);
    const int64_t n = os.NumElements();
    for (int64_t i = 0; i < n; ++i) {
      int64_t rem = i, oa = 0, ob = 0;
      for (int d = bi.rank - 1; d >= 0; --d) {
        const int64_t idx = rem % bi.out_dims[d];
        rem /= bi.out_dims[d];
        oa += idx * bi.in_strides[0][d];
        ob += idx * bi.in_strides[1][d];
      }
      ASSERT_EQ(got[i], va[oa] * 1000 + vb[ob]) << "iter " << iter << " a " << sa.ToString() << " b " << sb.ToString()
                                                << " i " << i;
    }
  }
}

}  // namespace
}  // namespace onnxd::engine
