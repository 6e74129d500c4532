// The activation, rounding and BatchNormalization kernels (kernels/cuda/activations.h) against
// plain CPU references written from the ONNX formulas, in fp32 and fp16, on sizes that leave partial
// blocks and on the values where the formulas turn (0, the HardSigmoid / HardSwish knees, halves
// for Round, large |x| for Softplus, NaN).
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/cuda/activations.h"

namespace onnxd::cuda {
namespace {

using testing::ExpectClose;
using testing::FromHalf;
using testing::RandomVector;
using testing::ToHalf;

class ActivationsTest : public testing::DeviceTest {};

// The ONNX formulas in double.
double Reference(ActivationOp op, const ActivationParams& p, double x) {
  switch (op) {
    case ActivationOp::kHardSigmoid: return std::min(1.0, std::max(0.0, p.alpha * x + p.beta));
    case ActivationOp::kHardSwish: return x * std::min(1.0, std::max(0.0, x / 6.0 + 0.5));
    case ActivationOp::kLeakyRelu: return x >= 0 ? x : p.alpha * x;
    case ActivationOp::kElu: return x >= 0 ? x : p.alpha * (std::exp(x) - 1.0);
    case ActivationOp::kSelu: return x > 0 ? p.gamma * x : p.gamma * (p.alpha * std::exp(x) - p.alpha);
    case ActivationOp::kSoftplus: return std::log1p(std::exp(-std::fabs(x))) + std::max(x, 0.0);
    case ActivationOp::kSign: return std::isnan(x) ? x : (x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0));
    case ActivationOp::kFloor: return std::floor(x);
    case ActivationOp::kCeil: return std::ceil(x);
    case ActivationOp::kRound: return std::nearbyint(x);  // default rounding: halves to even
    case ActivationOp::kScale: return p.alpha * x;
    case ActivationOp::kMish: return x * std::tanh(std::log1p(std::exp(-std::fabs(x))) + std::max(x, 0.0));
    case ActivationOp::kSin: return std::sin(x);
    case ActivationOp::kCos: return std::cos(x);
    case ActivationOp::kSoftsign: return x / (1.0 + std::fabs(x));
    case ActivationOp::kThresholdedRelu: return x > p.alpha ? x : 0.0;
    case ActivationOp::kCelu: return x >= 0 ? x : p.alpha * std::expm1(x / p.alpha);  // NaN stays NaN
  }
  return 0;
}

struct Case {
  const char* name;
  ActivationOp op;
  ActivationParams params;
};

const Case kCases[] = {
    {"HardSigmoid", ActivationOp::kHardSigmoid, {0.2f, 0.5f, 0.f}},
    {"HardSigmoid(1/6, 1/2)", ActivationOp::kHardSigmoid, {1.f / 6.f, 0.5f, 0.f}},
    {"HardSwish", ActivationOp::kHardSwish, {}},
    {"LeakyRelu", ActivationOp::kLeakyRelu, {0.1f, 0.f, 0.f}},
    {"Elu", ActivationOp::kElu, {0.7f, 0.f, 0.f}},
    {"Selu", ActivationOp::kSelu, {1.67326319217681884765625f, 0.f, 1.05070102214813232421875f}},
    {"Softplus", ActivationOp::kSoftplus, {}},
    {"Sign", ActivationOp::kSign, {}},
    {"Floor", ActivationOp::kFloor, {}},
    {"Ceil", ActivationOp::kCeil, {}},
    {"Round", ActivationOp::kRound, {}},
    {"Scale", ActivationOp::kScale, {0.25f, 0.f, 0.f}},
    {"Mish", ActivationOp::kMish, {}},
    {"Sin", ActivationOp::kSin, {}},
    {"Cos", ActivationOp::kCos, {}},
    {"Softsign", ActivationOp::kSoftsign, {}},
    {"ThresholdedRelu", ActivationOp::kThresholdedRelu, {1.f, 0.f, 0.f}},
    {"ThresholdedRelu(2.5)", ActivationOp::kThresholdedRelu, {2.5f, 0.f, 0.f}},
    {"Celu", ActivationOp::kCelu, {1.f, 0.f, 0.f}},
    {"Celu(0.4)", ActivationOp::kCelu, {0.4f, 0.f, 0.f}},
};

// Random values in [-8, 8], the knees and halves, large magnitudes, and a NaN.
std::vector<float> Inputs() {
  std::vector<float> x = RandomVector(1000, 11, -8.f, 8.f);
  const float special[] = {0.f,   -0.f,  -3.f, 3.f,   -2.5f, 2.5f,  -0.5f, 0.5f,  1.5f, -1.5f,
                           2.f,   -2.f,  4.5f, 40.f,  -40.f, 100.f, -100.f, 1e-3f, -1e-3f,
                           std::numeric_limits<float>::quiet_NaN()};
  x.insert(x.end(), std::begin(special), std::end(special));
  return x;  // 1020 elements: a partial last block
}

TEST_F(ActivationsTest, EveryOpInFp32MatchesTheOnnxFormula) {
  const std::vector<float> x = Inputs();
  DeviceBuffer dx = Up(x);
  for (const Case& c : kCases) {
    DeviceBuffer dy = Out(x.size() * sizeof(float));
    Status st = Activation(c.op, c.params, dx.as<float>(), dy.as<float>(), static_cast<int64_t>(x.size()),
                           stream_->get());
    ASSERT_TRUE(st.ok()) << c.name << ": " << st.message();
    std::vector<float> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = static_cast<float>(Reference(c.op, c.params, x[i]));
    SCOPED_TRACE(c.name);
    ExpectClose(Down<float>(dy, x.size()), want, 1e-5f, 1e-6f);
  }
}

TEST_F(ActivationsTest, RoundGoesToEvenAtHalves) {
  const std::vector<float> x = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4999998f, 3.5f};
  const std::vector<float> want = {0.f, 2.f, 2.f, -0.f, -2.f, -2.f, 2.f, 4.f};
  DeviceBuffer dx = Up(x);
  DeviceBuffer dy = Out(x.size() * sizeof(float));
  ASSERT_TRUE(Activation(ActivationOp::kRound, {}, dx.as<float>(), dy.as<float>(), 8, stream_->get()).ok());
  EXPECT_EQ(Down<float>(dy, 8), want);
}

TEST_F(ActivationsTest, EveryOpInFp16ComputesInFp32AndRounds) {
  const std::vector<float> xf = Inputs();
  std::vector<__half> xh;
  for (float v : xf) xh.push_back(__float2half_rn(v));
  DeviceBuffer dx = Up(xh);
  for (const Case& c : kCases) {
    DeviceBuffer dy = Out(xh.size() * sizeof(__half));
    Status st = Activation(c.op, c.params, dx.as<__half>(), dy.as<__half>(), static_cast<int64_t>(xh.size()),
                           stream_->get());
    ASSERT_TRUE(st.ok()) << c.name << ": " << st.message();
    std::vector<__half> got = Down<__half>(dy, xh.size());
    std::vector<float> g(got.size()), want(got.size());
    for (size_t i = 0; i < got.size(); ++i) {
      g[i] = __half2float(got[i]);
      // The reference on the fp16 input, rounded to fp16 as the kernel stores it.
      want[i] = __half2float(__float2half_rn(static_cast<float>(Reference(c.op, c.params, __half2float(xh[i])))));
    }
    SCOPED_TRACE(c.name);
    ExpectClose(g, want, 1e-3f, 1e-3f);
  }
}

TEST_F(ActivationsTest, InPlaceAndEmpty) {
  std::vector<float> x = {-4.f, -1.f, 0.f, 1.f, 4.f};
  DeviceBuffer dx = Up(x);
  ASSERT_TRUE(Activation(ActivationOp::kHardSwish, {}, dx.as<float>(), dx.as<float>(), 5, stream_->get()).ok());
  std::vector<float> want;
  for (float v : x) want.push_back(static_cast<float>(Reference(ActivationOp::kHardSwish, {}, v)));
  ExpectClose(Down<float>(dx, 5), want, 1e-6f, 1e-7f);
  EXPECT_TRUE(Activation(ActivationOp::kHardSwish, {}, dx.as<float>(), dx.as<float>(), 0, stream_->get()).ok());
}

// y[o, c, i] = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c] in double.
std::vector<float> ReferenceBatchNorm(const std::vector<float>& x, int64_t outer, int64_t ch, int64_t inner,
                                      const std::vector<float>& scale, const std::vector<float>& bias,
                                      const std::vector<float>& mean, const std::vector<float>& var, float eps) {
  std::vector<float> y(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < ch; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        const size_t k = static_cast<size_t>((o * ch + c) * inner + i);
        y[k] = static_cast<float>((x[k] - static_cast<double>(mean[c])) / std::sqrt(static_cast<double>(var[c]) + eps) *
                                      scale[c] +
                                  bias[c]);
      }
  return y;
}

TEST_F(ActivationsTest, BatchNormPerChannelInFp32ForSeveralRanks) {
  // [N, C, H, W] = [2, 5, 7, 3], [N, C] (inner 1) and [N, C, L] = [3, 4, 1].
  const int64_t shapes[][3] = {{2, 5, 21}, {3, 6, 1}, {3, 4, 1}, {1, 1, 300}};
  for (const auto& s : shapes) {
    const int64_t outer = s[0], ch = s[1], inner = s[2];
    const std::vector<float> x = RandomVector(static_cast<size_t>(outer * ch * inner), 5, -3.f, 3.f);
    const std::vector<float> scale = RandomVector(ch, 6, 0.5f, 2.f), bias = RandomVector(ch, 7);
    const std::vector<float> mean = RandomVector(ch, 8), var = RandomVector(ch, 9, 0.1f, 3.f);
    DeviceBuffer dx = Up(x), ds = Up(scale), db = Up(bias), dm = Up(mean), dv = Up(var);
    DeviceBuffer dy = Out(x.size() * sizeof(float));
    Status st = BatchNormInference(dx.as<float>(), dy.as<float>(), outer, ch, inner, ds.as<float>(), db.as<float>(),
                                   dm.as<float>(), dv.as<float>(), 1e-3f, stream_->get());
    ASSERT_TRUE(st.ok()) << st.message();
    SCOPED_TRACE(::testing::Message() << outer << "x" << ch << "x" << inner);
    ExpectClose(Down<float>(dy, x.size()), ReferenceBatchNorm(x, outer, ch, inner, scale, bias, mean, var, 1e-3f),
                1e-5f, 1e-5f);
  }
}

TEST_F(ActivationsTest, BatchNormInFp16WithFp16AndFp32Statistics) {
  const int64_t outer = 2, ch = 3, inner = 50;
  const std::vector<float> x = RandomVector(static_cast<size_t>(outer * ch * inner), 15, -3.f, 3.f);
  const std::vector<float> scale = RandomVector(ch, 16, 0.5f, 2.f), bias = RandomVector(ch, 17);
  const std::vector<float> mean = RandomVector(ch, 18), var = RandomVector(ch, 19, 0.1f, 3.f);
  // The reference on the fp16-rounded inputs.
  const std::vector<float> xr = FromHalf(ToHalf(x));
  DeviceBuffer dx = Up(ToHalf(x));
  {
    DeviceBuffer ds = Up(ToHalf(scale)), db = Up(ToHalf(bias)), dm = Up(ToHalf(mean)), dv = Up(ToHalf(var));
    DeviceBuffer dy = Out(x.size() * sizeof(__half));
    ASSERT_TRUE(BatchNormInference(dx.as<__half>(), dy.as<__half>(), outer, ch, inner, ds.as<__half>(),
                                   db.as<__half>(), dm.as<__half>(), dv.as<__half>(), 1e-5f, stream_->get())
                    .ok());
    const auto want = ReferenceBatchNorm(xr, outer, ch, inner, FromHalf(ToHalf(scale)), FromHalf(ToHalf(bias)),
                                         FromHalf(ToHalf(mean)), FromHalf(ToHalf(var)), 1e-5f);
    ExpectClose(FromHalf(Down<__half>(dy, x.size())), want, 2e-3f, 2e-3f);
  }
  {
    DeviceBuffer ds = Up(scale), db = Up(bias), dm = Up(mean), dv = Up(var);
    DeviceBuffer dy = Out(x.size() * sizeof(__half));
    ASSERT_TRUE(BatchNormInference(dx.as<__half>(), dy.as<__half>(), outer, ch, inner, ds.as<float>(),
                                   db.as<float>(), dm.as<float>(), dv.as<float>(), 1e-5f, stream_->get())
                    .ok());
    ExpectClose(FromHalf(Down<__half>(dy, x.size())),
                ReferenceBatchNorm(xr, outer, ch, inner, scale, bias, mean, var, 1e-5f), 2e-3f, 2e-3f);
  }
}

}  // namespace
}  // namespace onnxd::cuda
