// Our CUDA kernels against straightforward CPU references on random inputs, with odd sizes that
// leave partial blocks and warps.
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <numeric>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/cuda/binary_elementwise.h"
#include "kernels/cuda/layer_norm.h"
#include "kernels/cuda/reduce_last_axis.h"
#include "kernels/cuda/select.h"
#include "kernels/cuda/softmax.h"
#include "kernels/cuda/tensor_shape.h"
#include "kernels/cuda/transpose.h"
#include "kernels/cuda/unary_elementwise.h"

namespace onnxd::cuda {
namespace {

using testing::Download;
using testing::Empty;
using testing::ExpectClose;
using testing::RandomVector;
using testing::Upload;
using testing::kAtol;
using testing::kRtol;

using Shape = std::vector<int64_t>;

class CudaKernelTest : public testing::DeviceTest {};

// ---- binary broadcast ----

// out = f(a, b) under numpy broadcasting, element by element on the host.
template <typename T, typename F>
std::vector<T> ReferenceBroadcast(const std::vector<T>& a, const Shape& as, const std::vector<T>& b, const Shape& bs,
                                  const Shape& out, F f) {
  const size_t r = out.size();
  auto index = [&](const Shape& s, const std::vector<int64_t>& coord) {
    int64_t idx = 0;
    for (size_t d = 0; d < s.size(); ++d) {
      int64_t c = coord[d + r - s.size()];
      idx = idx * s[d] + (s[d] == 1 ? 0 : c);
    }
    return idx;
  };
  std::vector<T> y(NumElements(out));
  std::vector<int64_t> coord(r, 0);
  for (size_t i = 0; i < y.size(); ++i) {
    int64_t rem = i;
    for (int d = static_cast<int>(r) - 1; d >= 0; --d) {
      coord[d] = rem % out[d];
      rem /= out[d];
    }
    y[i] = f(a[index(as, coord)], b[index(bs, coord)]);
  }
  return y;
}

std::vector<float> ReferenceBinary(BinaryOp op, const std::vector<float>& a, const Shape& as, const std::vector<float>& b,
                                   const Shape& bs, const Shape& out) {
  return ReferenceBroadcast(a, as, b, bs, out, [op](float x, float z) {
    return op == BinaryOp::kAdd   ? x + z
           : op == BinaryOp::kSub ? x - z
           : op == BinaryOp::kMul ? x * z
           : op == BinaryOp::kPow ? static_cast<float>(std::pow(static_cast<double>(x), static_cast<double>(z)))
                                  : x / z;
  });
}

TEST_F(CudaKernelTest, BinaryBroadcastMatchesReference) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{1000}, {1000}},          {{7, 13}, {1}},           {{7, 13}, {13}},         {{5, 1, 9}, {1, 4, 1}},
      {{2, 3, 4, 5, 6, 7}, {1, 3, 1, 5, 1, 7}}, {{3}, {2, 4, 3}}, {{1, 1}, {6, 1}},  {{2, 0, 3}, {3}},
      {{4, 1, 1}, {}},           {{4, 5, 6}, {1, 5, 6}},   {{1, 6}, {3, 4, 6}},     {{2, 3, 128}, {128}},
      {{1, 1, 7}, {3, 2, 7}}};
  int seed = 10;
  for (const auto& [as, bs] : cases) {
    auto out_shape = BroadcastShape(as, bs);
    ASSERT_TRUE(out_shape.ok());
    const size_t n = NumElements(*out_shape);
    auto a = RandomVector(NumElements(as), seed++);
    auto b = RandomVector(NumElements(bs), seed++, 0.5f, 2.f);  // away from 0 for Div
    auto da = Upload(pool_, a), db = Upload(pool_, b);
    // Pow: negative bases with fractional exponents are NaN on both sides.
    for (BinaryOp op : {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kDiv, BinaryOp::kPow}) {
      SCOPED_TRACE(::testing::Message() << "op " << static_cast<int>(op) << " a rank " << as.size() << " b rank "
                                        << bs.size() << " n " << n);
      auto dy = Empty(pool_, n);
      Status st = BinaryElementwise(op, da.as<float>(), as, db.as<float>(), bs, dy.as<float>(), stream_->get());
      ASSERT_TRUE(st.ok()) << st.message();
      ExpectClose(Download(dy, n, *stream_), ReferenceBinary(op, a, as, b, bs, *out_shape));
    }
  }
}

// int32 and int64 Add, Sub, Mul over the broadcast forms (flat, scalar, row, general), with values
// that overflow: two's complement wrap-around, as the CPU ops; Div stays refused.
TEST_F(CudaKernelTest, IntegerBinaryWrapsAsTheCpuOps) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{1000}, {1000}}, {{7, 13}, {1}}, {{7, 13}, {13}}, {{5, 1, 9}, {1, 4, 1}}, {{3}, {2, 4, 3}}, {{2, 0, 3}, {3}}};
  std::mt19937_64 rng(77);
  auto check = [&](auto tag) {
    using T = decltype(tag);
    using U = std::make_unsigned_t<T>;
    for (const auto& [as, bs] : cases) {
      auto out_shape = BroadcastShape(as, bs);
      ASSERT_TRUE(out_shape.ok());
      const size_t n = NumElements(*out_shape);
      auto values = [&](size_t count) {
        std::vector<T> v(count);
        for (size_t i = 0; i < count; ++i)  // near the type's ends every third element, else small
          v[i] = i % 3 == 0 ? static_cast<T>(rng()) : static_cast<T>(static_cast<int64_t>(rng() % 2001) - 1000);
        return v;
      };
      const std::vector<T> a = values(NumElements(as)), b = values(NumElements(bs));
      DeviceBuffer da = Up(a), db = Up(b), dy = Out(n * sizeof(T));
      for (BinaryOp op : {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul}) {
        SCOPED_TRACE(::testing::Message() << "op " << static_cast<int>(op) << " bytes " << sizeof(T) << " n " << n);
        ASSERT_TRUE(BinaryElementwise(op, da.as<T>(), as, db.as<T>(), bs, dy.as<T>(), stream_->get()).ok());
        const std::vector<T> want = ReferenceBroadcast(a, as, b, bs, *out_shape, [op](T x, T z) {
          const U ux = static_cast<U>(x), uz = static_cast<U>(z);
          return static_cast<T>(op == BinaryOp::kAdd ? ux + uz : op == BinaryOp::kSub ? ux - uz : ux * uz);
        });
        EXPECT_EQ(Down<T>(dy, n), want);
      }
      EXPECT_EQ(BinaryElementwise(BinaryOp::kDiv, da.as<T>(), as, db.as<T>(), bs, dy.as<T>(), stream_->get()).code(),
                StatusCode::kUnimplemented);
    }
  };
  check(int32_t{});
  check(int64_t{});
}

TEST_F(CudaKernelTest, BinaryRejectsNonBroadcastableShapes) {
  Shape as{3, 4}, bs{5};
  const float* none = nullptr;
  Status st = BinaryElementwise(BinaryOp::kAdd, none, as, none, bs, nullptr, stream_->get());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
}

// ---- unary ----

TEST_F(CudaKernelTest, UnaryMatchesReference) {
  const int64_t n = 100003;
  auto x = RandomVector(n, 20, -8.f, 8.f);
  auto dx = Upload(pool_, x);
  struct Case {
    UnaryOp op;
    double (*f)(double);
  };
  const Case cases[] = {
      {UnaryOp::kRelu, [](double v) { return v > 0 ? v : 0.0; }},
      {UnaryOp::kSigmoid, [](double v) { return 1 / (1 + std::exp(-v)); }},
      {UnaryOp::kTanh, [](double v) { return std::tanh(v); }},
      {UnaryOp::kGelu, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }},
      {UnaryOp::kGeluTanh,
       [](double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))); }},
      {UnaryOp::kErf, [](double v) { return std::erf(v); }},
      {UnaryOp::kSqrt, [](double v) { return std::sqrt(v); }},  // NaN below 0 on both sides
      {UnaryOp::kExp, [](double v) { return std::exp(v); }},
      {UnaryOp::kLog, [](double v) { return std::log(v); }},
      {UnaryOp::kNeg, [](double v) { return -v; }},
      {UnaryOp::kAbs, [](double v) { return std::fabs(v); }},
      {UnaryOp::kReciprocal, [](double v) { return 1 / v; }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(static_cast<int>(c.op));
    auto dy = Empty(pool_, n);
    ASSERT_TRUE(UnaryElementwise(c.op, dx.as<float>(), dy.as<float>(), n, stream_->get()).ok());
    std::vector<float> want(n);
    for (int64_t i = 0; i < n; ++i) want[i] = static_cast<float>(c.f(x[i]));
    ExpectClose(Download(dy, n, *stream_), want);
  }
}

// ---- reductions over the last axis ----

TEST_F(CudaKernelTest, ReduceLastAxisMatchesReference) {
  for (int64_t cols : {1, 31, 32, 33, 768, 1025, 5000}) {
    const int64_t rows = 37;
    auto x = RandomVector(rows * cols, 40 + static_cast<uint32_t>(cols), -3.f, 3.f);
    auto dx = Upload(pool_, x);
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMean, ReduceOp::kMax}) {
      SCOPED_TRACE(::testing::Message() << "op " << static_cast<int>(op) << " cols " << cols);
      auto dy = Empty(pool_, rows);
      ASSERT_TRUE(ReduceLastAxis(op, dx.as<float>(), dy.as<float>(), rows, cols, stream_->get()).ok());
      std::vector<float> want(rows);
      for (int64_t r = 0; r < rows; ++r) {
        double acc = op == ReduceOp::kMax ? -INFINITY : 0.0;
        for (int64_t c = 0; c < cols; ++c)
          acc = op == ReduceOp::kMax ? std::max(acc, static_cast<double>(x[r * cols + c])) : acc + x[r * cols + c];
        want[r] = static_cast<float>(op == ReduceOp::kMean ? acc / cols : acc);
      }
      // Sums of up to 5000 terms of magnitude 3 in fp32: absolute error grows with the sum.
      ExpectClose(Download(dy, rows, *stream_), want, 1e-4f, 1e-4f * std::sqrt(static_cast<float>(cols)));
    }
  }
}

// ---- IsNaN, Where ----

TEST_F(CudaKernelTest, IsNaNAndWhereMatchReference) {
  // x with NaNs at every 7th element; cond broadcast over rows; y a scalar.
  const int64_t rows = 33, cols = 65, n = rows * cols;
  auto x = RandomVector(n, 60);
  for (int64_t i = 0; i < n; i += 7) x[i] = NAN;
  auto dx = Upload(pool_, x);
  auto nan_mask = pool_.Allocate(n);
  ASSERT_TRUE(nan_mask.ok());
  ASSERT_TRUE(IsNaN(dx.as<float>(), nan_mask->as<uint8_t>(), n, stream_->get()).ok());
  ASSERT_TRUE(stream_->Synchronize().ok());
  std::vector<uint8_t> got_mask(n);
  ASSERT_EQ(cudaMemcpy(got_mask.data(), nan_mask->data(), n, cudaMemcpyDeviceToHost), cudaSuccess);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got_mask[i], std::isnan(x[i]) ? 1 : 0) << i;

  // Where(isnan(x), 0, x): the dynamo exporter's masked-softmax cleanup.
  auto zero = Upload(pool_, {0.f});
  auto dy = Empty(pool_, n);
  const Shape xs{rows, cols}, ss{};
  ASSERT_TRUE(Where(nan_mask->as<uint8_t>(), xs, zero.as<float>(), ss, dx.as<float>(), xs, dy.as<float>(),
                    stream_->get()).ok());
  std::vector<float> want(n);
  for (int64_t i = 0; i < n; ++i) want[i] = std::isnan(x[i]) ? 0.f : x[i];
  ExpectClose(Download(dy, n, *stream_), want);

  // A [cols] condition broadcast over the rows.
  std::vector<uint8_t> cond(cols);
  for (int64_t c = 0; c < cols; ++c) cond[c] = c % 3 == 0;
  auto dc = pool_.Allocate(cols);
  ASSERT_TRUE(dc.ok());
  ASSERT_EQ(cudaMemcpy(dc->data(), cond.data(), cols, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  auto b = RandomVector(n, 61);
  auto db = Upload(pool_, b);
  const Shape cs{cols};
  ASSERT_TRUE(Where(dc->as<uint8_t>(), cs, db.as<float>(), xs, zero.as<float>(), ss, dy.as<float>(),
                    stream_->get()).ok());
  for (int64_t i = 0; i < n; ++i) want[i] = cond[i % cols] ? b[i] : 0.f;
  ExpectClose(Download(dy, n, *stream_), want);
}

// ---- softmax ----

std::vector<float> ReferenceSoftmax(const std::vector<float>& x, int64_t rows, int64_t cols) {
  std::vector<float> want(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = &x[r * cols];
    double m = *std::max_element(xr, xr + cols), s = 0;
    for (int64_t c = 0; c < cols; ++c) s += std::exp(xr[c] - m);
    for (int64_t c = 0; c < cols; ++c) want[r * cols + c] = static_cast<float>(std::exp(xr[c] - m) / s);
  }
  return want;
}

// [rows, cols] for the Softmax / LogSoftmax row kernels (softmax.cu): one element, rows for its
// warp kernels and for its block kernel, long rows, many short rows.
constexpr std::pair<int64_t, int64_t> kRowShapes[] = {{1, 1},     {3, 7},   {64, 1000}, {5, 4097}, {2, 30000},
                                                      {1000, 33}, {7, 128}, {5, 200},   {3, 512},  {2, 513}};

TEST_F(CudaKernelTest, SoftmaxLastAxisMatchesReference) {
  int seed = 30;
  for (auto [rows, cols] : kRowShapes) {
    SCOPED_TRACE(::testing::Message() << rows << "x" << cols);
    auto x = RandomVector(rows * cols, seed++, -10.f, 10.f);
    x[0] = 80.f;  // exp overflows without the max subtraction
    auto dx = Upload(pool_, x);
    auto dy = Empty(pool_, rows * cols);
    ASSERT_TRUE(SoftmaxLastAxis(dx.as<float>(), dy.as<float>(), rows, cols, stream_->get()).ok());
    ExpectClose(Download(dy, rows * cols, *stream_), ReferenceSoftmax(x, rows, cols));
  }
}

// ---- layer norm ----

std::vector<float> ReferenceLayerNorm(const std::vector<float>& x, const std::vector<float>& gamma,
                                      const std::vector<float>* beta, int64_t rows, int64_t cols, double eps) {
  std::vector<float> want(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = &x[r * cols];
    double mean = 0, var = 0;
    for (int64_t c = 0; c < cols; ++c) mean += xr[c];
    mean /= cols;
    for (int64_t c = 0; c < cols; ++c) var += (xr[c] - mean) * (xr[c] - mean);
    var /= cols;
    const double inv = 1 / std::sqrt(var + eps);
    for (int64_t c = 0; c < cols; ++c)
      want[r * cols + c] = static_cast<float>((xr[c] - mean) * inv * gamma[c] + (beta ? (*beta)[c] : 0.0));
  }
  return want;
}

TEST_F(CudaKernelTest, LayerNormLastAxisMatchesReference) {
  const std::pair<int64_t, int64_t> shapes[] = {{1, 1},   {3, 7},   {128, 768}, {5, 4097}, {17, 1024},
                                                {4, 129}, {3, 256}, {2, 300},   {6, 1025}};
  int seed = 40;
  for (auto [rows, cols] : shapes) {
    for (bool shifted : {false, true}) {
      const bool with_bias = !shifted;
      SCOPED_TRACE(::testing::Message() << rows << "x" << cols << (shifted ? " mean ~100, no bias" : " bias"));
      auto x = RandomVector(rows * cols, seed++, -3.f, 5.f);
      if (shifted)
        for (float& v : x) v += 100.f;  // a large mean: a one-pass variance would cancel
      auto gamma = RandomVector(cols, seed++), beta = RandomVector(cols, seed++);
      auto dx = Upload(pool_, x), dg = Upload(pool_, gamma), db = Upload(pool_, beta);
      auto dy = Empty(pool_, rows * cols);
      const float eps = 1e-5f;
      ASSERT_TRUE(LayerNormLastAxis(dx.as<float>(), dg.as<float>(), with_bias ? db.as<float>() : nullptr,
                                    dy.as<float>(), rows, cols, eps, stream_->get())
                      .ok());
      std::vector<float> want = ReferenceLayerNorm(x, gamma, with_bias ? &beta : nullptr, rows, cols, eps);
      // Inputs near 100 carry ~4e-6 absolute rounding (and the fp32 mean ~1e-5), which normalisation
      // scales by gamma/stddev: those cases get atol 1e-4; the unshifted ones the suite's 1e-5.
      ExpectClose(Download(dy, rows * cols, *stream_), want, kRtol, shifted ? 1e-4f : kAtol);
    }
  }
}

// RMSNormalization: every kernel path (rows of up to 128 * 1, 2, 4, 8 columns in registers, and the
// two-pass kernel beyond 1024), against a double reference of x / sqrt(mean(x^2) + eps) * gamma.
TEST_F(CudaKernelTest, RmsNormLastAxisMatchesReference) {
  const std::pair<int64_t, int64_t> shapes[] = {{1, 1}, {3, 7}, {4, 129}, {3, 256}, {2, 300}, {17, 1024}, {6, 1025},
                                                {5, 4097}};
  int seed = 60;
  for (auto [rows, cols] : shapes) {
    SCOPED_TRACE(::testing::Message() << rows << "x" << cols);
    auto x = RandomVector(rows * cols, seed++, -3.f, 5.f);
    auto gamma = RandomVector(cols, seed++);
    auto dx = Upload(pool_, x), dg = Upload(pool_, gamma);
    auto dy = Empty(pool_, rows * cols);
    const float eps = 1e-3f;
    ASSERT_TRUE(RmsNormLastAxis(dx.as<float>(), dg.as<float>(), dy.as<float>(), rows, cols, eps, stream_->get()).ok());
    std::vector<float> want(x.size());
    for (int64_t r = 0; r < rows; ++r) {
      double ms = 0;
      for (int64_t c = 0; c < cols; ++c) ms += static_cast<double>(x[r * cols + c]) * x[r * cols + c];
      const double inv = 1.0 / std::sqrt(ms / static_cast<double>(cols) + eps);
      for (int64_t c = 0; c < cols; ++c) want[r * cols + c] = static_cast<float>(x[r * cols + c] * inv * gamma[c]);
    }
    ExpectClose(Download(dy, rows * cols, *stream_), want, kRtol, kAtol);
  }
}

// ---- transpose ----

std::vector<float> ReferenceTranspose(const std::vector<float>& x, const Shape& s, const Shape& perm) {
  const size_t r = s.size();
  Shape out(r), in_stride(r);
  int64_t st = 1;
  for (int d = static_cast<int>(r) - 1; d >= 0; --d) {
    in_stride[d] = st;
    st *= s[d];
  }
  for (size_t d = 0; d < r; ++d) out[d] = s[perm[d]];
  std::vector<float> y(x.size());
  for (size_t i = 0; i < y.size(); ++i) {
    int64_t rem = i, src = 0;
    for (int d = static_cast<int>(r) - 1; d >= 0; --d) {
      src += (rem % out[d]) * in_stride[perm[d]];
      rem /= out[d];
    }
    y[i] = x[src];
  }
  return y;
}

TEST_F(CudaKernelTest, TransposeMatchesReference) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{5}, {0}},           {{33, 65}, {1, 0}},         {{2, 3, 4}, {2, 0, 1}},
      {{1, 64, 56, 56}, {0, 2, 3, 1}},                  {{2, 3, 4, 5, 6}, {4, 2, 0, 3, 1}},
      {{2, 3, 1, 4, 5, 3}, {5, 4, 3, 2, 1, 0}},         {{3, 0, 2}, {2, 1, 0}},
      // The last axis kept (whole rows move): 16-byte pieces, and element by element for 7 floats.
      {{4, 16, 12, 64}, {0, 2, 1, 3}},                  {{3, 5, 7}, {1, 0, 2}},
      {{2, 3, 4, 5, 8}, {3, 0, 2, 1, 4}}};
  int seed = 50;
  for (const auto& [s, perm] : cases) {
    SCOPED_TRACE(::testing::Message() << "rank " << s.size());
    auto x = RandomVector(NumElements(s), seed++);
    auto dx = Upload(pool_, x);
    auto dy = Empty(pool_, x.size());
    Status st = Transpose(dx.as<float>(), s, perm, dy.as<float>(), stream_->get());
    ASSERT_TRUE(st.ok()) << st.message();
    // A copy is exact: no tolerance.
    EXPECT_EQ(Download(dy, x.size(), *stream_), ReferenceTranspose(x, s, perm));
  }
}

TEST_F(CudaKernelTest, TransposeRejectsBadPermutation) {
  const float* none = nullptr;
  Shape s{2, 3}, bad{0, 0};
  EXPECT_EQ(Transpose(none, s, bad, nullptr, stream_->get()).code(), StatusCode::kInvalidArgument);
  Shape r7{1, 1, 1, 1, 1, 1, 1}, p7{0, 1, 2, 3, 4, 5, 6};
  EXPECT_EQ(Transpose(none, r7, p7, nullptr, stream_->get()).code(), StatusCode::kUnimplemented);
}

// ---- fp16 storage (fp32 arithmetic) ----
// Inputs are rounded to fp16 first and the reference runs in fp32/fp64 on those rounded values, so
// the only expected difference is the final rounding of each output to fp16 (half an ulp, 2^-11
// relative): rtol 2e-3, atol 1e-3.

constexpr float kHalfRtol = 2e-3f, kHalfAtol = 1e-3f;

std::vector<float> RoundToHalf(std::vector<float> v) {
  for (float& x : v) x = __half2float(__float2half(x));
  return v;
}

DeviceBuffer UploadHalf(DevicePool& pool, const std::vector<float>& host) {
  std::vector<__half> h(host.size());
  for (size_t i = 0; i < h.size(); ++i) h[i] = __float2half(host[i]);
  auto buf = pool.Allocate(h.size() * sizeof(__half));
  EXPECT_TRUE(buf.ok());
  if (!h.empty()) {
    EXPECT_EQ(cudaMemcpy(buf->data(), h.data(), h.size() * sizeof(__half), cudaMemcpyHostToDevice), cudaSuccess);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }
  return std::move(buf).value();
}

DeviceBuffer EmptyHalf(DevicePool& pool, size_t n) {
  auto buf = pool.Allocate(n * sizeof(__half));
  EXPECT_TRUE(buf.ok());
  return std::move(buf).value();
}

std::vector<float> DownloadHalf(const DeviceBuffer& buf, size_t n, const Stream& stream) {
  EXPECT_TRUE(stream.Synchronize().ok());
  std::vector<__half> h(n);
  if (n) {
    EXPECT_EQ(cudaMemcpy(h.data(), buf.data(), n * sizeof(__half), cudaMemcpyDeviceToHost), cudaSuccess);
  }
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = __half2float(h[i]);
  return out;
}

TEST_F(CudaKernelTest, Fp16BinaryBroadcastMatchesReference) {
  const Shape as{5, 1, 9, 3}, bs{4, 1, 3};
  auto out_shape = BroadcastShape(as, bs);
  ASSERT_TRUE(out_shape.ok());
  const size_t n = NumElements(*out_shape);
  auto a = RoundToHalf(RandomVector(NumElements(as), 60)), b = RoundToHalf(RandomVector(NumElements(bs), 61, 0.5f, 2.f));
  auto da = UploadHalf(pool_, a), db = UploadHalf(pool_, b);
  for (BinaryOp op : {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kDiv}) {
    SCOPED_TRACE(static_cast<int>(op));
    auto dy = EmptyHalf(pool_, n);
    ASSERT_TRUE(BinaryElementwise(op, da.as<__half>(), as, db.as<__half>(), bs, dy.as<__half>(), stream_->get()).ok());
    ExpectClose(DownloadHalf(dy, n, *stream_), ReferenceBinary(op, a, as, b, bs, *out_shape), kHalfRtol, kHalfAtol);
  }
}

TEST_F(CudaKernelTest, Fp16UnaryMatchesReference) {
  const int64_t n = 4099;
  auto x = RoundToHalf(RandomVector(n, 62, -6.f, 6.f));
  auto dx = UploadHalf(pool_, x);
  auto dy = EmptyHalf(pool_, n);
  ASSERT_TRUE(UnaryElementwise(UnaryOp::kGelu, dx.as<__half>(), dy.as<__half>(), n, stream_->get()).ok());
  std::vector<float> want(n);
  for (int64_t i = 0; i < n; ++i) want[i] = static_cast<float>(0.5 * x[i] * (1 + std::erf(x[i] / std::sqrt(2.0))));
  ExpectClose(DownloadHalf(dy, n, *stream_), want, kHalfRtol, kHalfAtol);
  ASSERT_TRUE(UnaryElementwise(UnaryOp::kSigmoid, dx.as<__half>(), dy.as<__half>(), n, stream_->get()).ok());
  for (int64_t i = 0; i < n; ++i) want[i] = static_cast<float>(1 / (1 + std::exp(-double(x[i]))));
  ExpectClose(DownloadHalf(dy, n, *stream_), want, kHalfRtol, kHalfAtol);
  // Views off the 16-byte grid (no vector path): x[1..] into y[0..].
  ASSERT_TRUE(UnaryElementwise(UnaryOp::kSigmoid, dx.as<__half>() + 1, dy.as<__half>(), n - 1, stream_->get()).ok());
  const std::vector<float> got = DownloadHalf(dy, n, *stream_);
  ExpectClose(std::vector<float>(got.begin(), got.end() - 1), std::vector<float>(want.begin() + 1, want.end()),
              kHalfRtol, kHalfAtol);
}

TEST_F(CudaKernelTest, Fp16SoftmaxAndLayerNormMatchReference) {
  const int64_t rows = 33, cols = 769;
  auto x = RoundToHalf(RandomVector(rows * cols, 63, -4.f, 4.f));
  auto gamma = RoundToHalf(RandomVector(cols, 64)), beta = RoundToHalf(RandomVector(cols, 65));
  auto dx = UploadHalf(pool_, x), dg = UploadHalf(pool_, gamma), db = UploadHalf(pool_, beta);
  auto dy = EmptyHalf(pool_, rows * cols);
  ASSERT_TRUE(SoftmaxLastAxis(dx.as<__half>(), dy.as<__half>(), rows, cols, stream_->get()).ok());
  ExpectClose(DownloadHalf(dy, rows * cols, *stream_), ReferenceSoftmax(x, rows, cols), kHalfRtol, kHalfAtol);
  ASSERT_TRUE(LayerNormLastAxis(dx.as<__half>(), dg.as<__half>(), db.as<__half>(), dy.as<__half>(), rows, cols, 1e-5f,
                                stream_->get())
                  .ok());
  ExpectClose(DownloadHalf(dy, rows * cols, *stream_), ReferenceLayerNorm(x, gamma, &beta, rows, cols, 1e-5),
              kHalfRtol, 4e-3f);
}

TEST_F(CudaKernelTest, Fp16TransposeIsExact) {
  // Generic, attention's heads (rows of 64 halves in 16-byte pieces), and rows of 6 halves (12 bytes).
  const std::pair<Shape, Shape> cases[] = {{{2, 3, 4, 5, 6}, {4, 2, 0, 3, 1}},
                                           {{2, 8, 12, 64}, {0, 2, 1, 3}},
                                           {{3, 4, 6}, {1, 0, 2}}};
  for (const auto& [s, perm] : cases) {
    SCOPED_TRACE(::testing::Message() << "rank " << s.size() << " last " << s.back());
    auto x = RoundToHalf(RandomVector(NumElements(s), 66));
    auto dx = UploadHalf(pool_, x);
    auto dy = EmptyHalf(pool_, x.size());
    ASSERT_TRUE(Transpose(dx.as<__half>(), s, perm, dy.as<__half>(), stream_->get()).ok());
    EXPECT_EQ(DownloadHalf(dy, x.size(), *stream_), ReferenceTranspose(x, s, perm));
  }
}

// ---- LogSoftmax, the further reductions ----

// x - max - log(sum(exp(x - max))) per row, in double.
std::vector<float> ReferenceLogSoftmax(const std::vector<float>& x, int64_t rows, int64_t cols) {
  std::vector<float> want(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = &x[r * cols];
    double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < cols; ++c) m = std::max(m, static_cast<double>(xr[c]));
    for (int64_t c = 0; c < cols; ++c) s += std::exp(xr[c] - m);
    for (int64_t c = 0; c < cols; ++c) want[r * cols + c] = static_cast<float>(xr[c] - m - std::log(s));
  }
  return want;
}

TEST_F(CudaKernelTest, LogSoftmaxLastAxisMatchesReference) {
  int seed = 130;
  for (auto [rows, cols] : kRowShapes) {
    SCOPED_TRACE(::testing::Message() << rows << "x" << cols);
    auto x = RandomVector(rows * cols, seed++, -10.f, 10.f);
    x[0] = 80.f;  // exp overflows without the max subtraction
    auto dx = Upload(pool_, x);
    auto dy = Empty(pool_, rows * cols);
    ASSERT_TRUE(LogSoftmaxLastAxis(dx.as<float>(), dy.as<float>(), rows, cols, stream_->get()).ok());
    const auto want = ReferenceLogSoftmax(x, rows, cols);
    ExpectClose(Download(dy, rows * cols, *stream_), want, 1e-5f, 1e-4f);
    // In place.
    ASSERT_TRUE(LogSoftmaxLastAxis(dx.as<float>(), dx.as<float>(), rows, cols, stream_->get()).ok());
    ExpectClose(Download(dx, rows * cols, *stream_), want, 1e-5f, 1e-4f);
  }
  // fp16: a warp row and a block row.
  for (int64_t cols : {100, 769}) {
    const int64_t rows = 9;
    auto x = RoundToHalf(RandomVector(rows * cols, 150 + static_cast<uint32_t>(cols), -4.f, 4.f));
    auto dx = UploadHalf(pool_, x);
    auto dy = EmptyHalf(pool_, rows * cols);
    ASSERT_TRUE(LogSoftmaxLastAxis(dx.as<__half>(), dy.as<__half>(), rows, cols, stream_->get()).ok());
    ExpectClose(DownloadHalf(dy, rows * cols, *stream_), ReferenceLogSoftmax(x, rows, cols), kHalfRtol, 1e-2f);
  }
}

// Logits far from 0 (3000 + [-3, 3]): x - m is exact there, so (x - m) - log(s) keeps fp32's
// precision of the result, where x - (m + log(s)) lost log(s) to the ulp of 3000 (2.4e-4) first.
TEST_F(CudaKernelTest, LogSoftmaxKeepsPrecisionForLargeLogits) {
  for (int64_t cols : {100, 1000}) {  // the warp kernel and the block kernel
    const int64_t rows = 8;
    auto x = RandomVector(rows * cols, 170 + static_cast<uint32_t>(cols), -3.f, 3.f);
    for (float& v : x) v += 3000.f;
    auto dx = Upload(pool_, x);
    auto dy = Empty(pool_, rows * cols);
    ASSERT_TRUE(LogSoftmaxLastAxis(dx.as<float>(), dy.as<float>(), rows, cols, stream_->get()).ok());
    ExpectClose(Download(dy, rows * cols, *stream_), ReferenceLogSoftmax(x, rows, cols), 1e-6f, 2e-5f);
  }
}

// The reductions the session added beside Sum / Mean / Max, in double.
double ReferenceReduce(ReduceOp op, const float* x, int64_t cols) {
  double m = -INFINITY, mn = INFINITY, s = 0, sq = 0, p = 1;
  for (int64_t c = 0; c < cols; ++c) {
    m = std::max(m, static_cast<double>(x[c]));
    mn = std::min(mn, static_cast<double>(x[c]));
    s += x[c];
    sq += static_cast<double>(x[c]) * x[c];
    p *= x[c];
  }
  switch (op) {
    case ReduceOp::kMin: return mn;
    case ReduceOp::kProd: return p;
    case ReduceOp::kL2: return std::sqrt(sq);
    case ReduceOp::kSumSquare: return sq;
    case ReduceOp::kLogSumExp: {
      double e = 0;
      for (int64_t c = 0; c < cols; ++c) e += std::exp(x[c] - m);
      return std::log(e) + m;
    }
    default: return s;
  }
}

// A NaN anywhere in a row makes its max and min NaN, as the CPU ReduceMax / ReduceMin give (the
// kernels once dropped it with fmaxf); the NaN is put in a different warp and block part each row.
TEST_F(CudaKernelTest, ReduceMaxAndMinPropagateNaN) {
  for (int64_t cols : {1, 31, 33, 768, 5000}) {
    const int64_t rows = 6;
    auto x = RandomVector(rows * cols, 160 + static_cast<uint32_t>(cols), -3.f, 3.f);
    for (int64_t r = 0; r + 1 < rows; ++r) x[r * cols + (r * 37) % cols] = NAN;  // the last row has none
    auto dx = Upload(pool_, x);
    for (ReduceOp op : {ReduceOp::kMax, ReduceOp::kMin, ReduceOp::kLogSumExp}) {
      SCOPED_TRACE(::testing::Message() << "op " << static_cast<int>(op) << " cols " << cols);
      auto dy = Empty(pool_, rows);
      ASSERT_TRUE(ReduceLastAxis(op, dx.as<float>(), dy.as<float>(), rows, cols, stream_->get()).ok());
      const auto got = Download(dy, rows, *stream_);
      for (int64_t r = 0; r + 1 < rows; ++r) EXPECT_TRUE(std::isnan(got[r])) << "row " << r << ": " << got[r];
      const float* last = &x[(rows - 1) * cols];
      const double want = op == ReduceOp::kMax ? *std::max_element(last, last + cols)
                          : op == ReduceOp::kMin ? *std::min_element(last, last + cols)
                                                 : ReferenceReduce(op, last, cols);
      EXPECT_NEAR(got[rows - 1], want, 1e-4 * (1 + std::fabs(want)));
    }
  }
}

TEST_F(CudaKernelTest, MinProdL2LogSumExpSumSquareMatchReference) {
  for (int64_t cols : {1, 31, 32, 33, 768, 1025, 5000}) {
    const int64_t rows = 37;
    for (ReduceOp op : {ReduceOp::kMin, ReduceOp::kProd, ReduceOp::kL2, ReduceOp::kLogSumExp, ReduceOp::kSumSquare}) {
      SCOPED_TRACE(::testing::Message() << "op " << static_cast<int>(op) << " cols " << cols);
      // The product of values near 1, so that 5000 of them stay in range.
      const bool prod = op == ReduceOp::kProd;
      auto x = RandomVector(rows * cols, 140 + static_cast<uint32_t>(cols), prod ? 0.97f : -3.f, prod ? 1.03f : 3.f);
      if (op == ReduceOp::kLogSumExp) x[0] = 90.f;  // exp overflows without the shift
      auto dx = Upload(pool_, x);
      auto dy = Empty(pool_, rows);
      ASSERT_TRUE(ReduceLastAxis(op, dx.as<float>(), dy.as<float>(), rows, cols, stream_->get()).ok());
      std::vector<float> want(rows);
      for (int64_t r = 0; r < rows; ++r) want[r] = static_cast<float>(ReferenceReduce(op, &x[r * cols], cols));
      ExpectClose(Download(dy, rows, *stream_), want, prod ? 1e-3f : 1e-4f, 1e-4f * std::sqrt(static_cast<float>(cols)));
    }
  }
  // fp16 in, fp32 accumulation.
  const int64_t rows = 5, cols = 700;
  auto x = RoundToHalf(RandomVector(rows * cols, 149, -2.f, 2.f));
  auto dx = UploadHalf(pool_, x);
  for (ReduceOp op : {ReduceOp::kMin, ReduceOp::kL2, ReduceOp::kLogSumExp, ReduceOp::kSumSquare}) {
    SCOPED_TRACE(::testing::Message() << "fp16 op " << static_cast<int>(op));
    auto dy = EmptyHalf(pool_, rows);
    ASSERT_TRUE(ReduceLastAxis(op, dx.as<__half>(), dy.as<__half>(), rows, cols, stream_->get()).ok());
    std::vector<float> want(rows);
    for (int64_t r = 0; r < rows; ++r) want[r] = static_cast<float>(ReferenceReduce(op, &x[r * cols], cols));
    ExpectClose(DownloadHalf(dy, rows, *stream_), want, kHalfRtol, kHalfAtol);
  }
}

}  // namespace
}  // namespace onnxd::cuda
