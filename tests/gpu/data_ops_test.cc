// The data-movement and mask kernels (kernels/cuda/data_ops.h) against plain CPU references, on
// every element size the copy kernels move and the types the arithmetic ones take, with negative
// indices, negative steps, broadcasting and sizes that leave partial blocks.
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/cuda/data_ops.h"
#include "kernels/cuda/tensor_shape.h"

namespace onnxd::cuda {
namespace {

using Dims = std::vector<int64_t>;

class DataOpsTest : public testing::DeviceTest {};

template <typename T>
std::vector<T> Iota(size_t n, T start = T(0)) {
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<T>(start + static_cast<T>(i));
  return v;
}

std::vector<int64_t> ContiguousStrides(const Dims& d) {
  std::vector<int64_t> s(d.size());
  int64_t st = 1;
  for (size_t i = d.size(); i-- > 0;) {
    s[i] = st;
    st *= d[i];
  }
  return s;
}

// Reference for StridedCopy: walk every coordinate.
template <typename T>
std::vector<T> ReferenceStrided(const std::vector<T>& src, int64_t off, const std::vector<int64_t>& ss, const Dims& dims) {
  std::vector<T> out(static_cast<size_t>(NumElements(dims)));
  std::vector<int64_t> c(dims.size(), 0);
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t rem = static_cast<int64_t>(i), si = off;
    for (size_t d = dims.size(); d-- > 0;) {
      c[d] = rem % dims[d];
      rem /= dims[d];
      si += c[d] * ss[d];
    }
    out[i] = src[si];
  }
  return out;
}

TEST_F(DataOpsTest, StridedCopyTakesNegativeAndZeroStridesForEveryElementSize) {
  const Dims xd = {5, 7, 3};
  const auto xs = ContiguousStrides(xd);
  // Slice: rows 4, 2, 0 (step -2), columns 1, 3, 5 (step 2), the last axis reversed.
  const Dims od = {3, 3, 3};
  const std::vector<int64_t> ss = {-2 * xs[0], 2 * xs[1], -1 * xs[2]};
  const int64_t off = 4 * xs[0] + 1 * xs[1] + 2 * xs[2];
  const auto os = ContiguousStrides(od);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> x = Iota<T>(static_cast<size_t>(NumElements(xd)), T(1));
    DeviceBuffer dx = Up(x);
    DeviceBuffer dy = Out(NumElements(od) * sizeof(T));
    Status st = StridedCopy(dx.data(), off, ss, dy.data(), 0, os, od, sizeof(T), stream_->get());
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(Down<T>(dy, NumElements(od)), ReferenceStrided(x, off, ss, od)) << sizeof(T) << "-byte elements";
  };
  run(uint8_t{});
  run(int16_t{});
  run(int32_t{});
  run(int64_t{});
  // Expand: [3, 1] -> [2, 3, 4] with zero strides.
  std::vector<float> e = {1.f, 2.f, 3.f};
  DeviceBuffer de = Up(e);
  const Dims ed = {2, 3, 4};
  DeviceBuffer dy = Out(24 * sizeof(float));
  const std::vector<int64_t> es = {0, 1, 0};
  ASSERT_TRUE(StridedCopy(de.data(), 0, es, dy.data(), 0, ContiguousStrides(ed), ed, 4, stream_->get()).ok());
  EXPECT_EQ(Down<float>(dy, 24), ReferenceStrided(e, 0, es, ed));
  // An element size the kernels do not move.
  EXPECT_EQ(StridedCopy(de.data(), 0, es, dy.data(), 0, ContiguousStrides(ed), ed, 16, stream_->get()).code(),
            StatusCode::kUnimplemented);
}

TEST_F(DataOpsTest, StridedCopyWritesIntoAColumnBlockForConcat) {
  // [2, 3] into columns 4..6 of a [2, 7] output; the other columns keep the fill pattern.
  std::vector<int32_t> a = {1, 2, 3, 4, 5, 6};
  DeviceBuffer da = Up(a);
  DeviceBuffer dy = Out(14 * sizeof(int32_t));
  const Dims dims = {2, 3};
  const std::vector<int64_t> src = {3, 1}, dst = {7, 1};
  ASSERT_TRUE(StridedCopy(da.data(), 0, src, dy.data(), 4, dst, dims, 4, stream_->get()).ok());
  auto y = Down<int32_t>(dy, 14);
  int32_t fill;
  std::memset(&fill, 0x5a, sizeof(fill));
  const std::vector<int32_t> want = {fill, fill, fill, fill, 1, 2, 3, fill, fill, fill, fill, 4, 5, 6};
  EXPECT_EQ(y, want);
}

TEST_F(DataOpsTest, GatherAxisWrapsNegativeIndicesAndZeroesOutOfRangeOnes) {
  // data [3, 5, 4] gathered along axis 1 with indices [2, 3] (int64 and int32).
  const int64_t outer = 3, axis_dim = 5, inner = 4;
  std::vector<uint16_t> data = Iota<uint16_t>(outer * axis_dim * inner, 100);
  const std::vector<int64_t> idx = {0, -1, 4, 2, -5, 7};  // 7 is out of range
  DeviceBuffer dd = Up(data);
  DeviceBuffer di64 = Up(idx);
  std::vector<int32_t> idx32(idx.begin(), idx.end());
  DeviceBuffer di32 = Up(idx32);
  std::vector<uint16_t> want;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < 6; ++j)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t k = idx[j] < 0 ? idx[j] + axis_dim : idx[j];
        want.push_back(k >= 0 && k < axis_dim ? data[(o * axis_dim + k) * inner + i] : 0);
      }
  for (bool wide : {true, false}) {
    DeviceBuffer dy = Out(want.size() * sizeof(uint16_t));
    Status st = GatherAxis(dd.data(), outer, axis_dim, inner, wide ? static_cast<const int64_t*>(di64.data()) : nullptr,
                           wide ? nullptr : static_cast<const int32_t*>(di32.data()), 6, dy.data(), 2, stream_->get());
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(Down<uint16_t>(dy, want.size()), want) << (wide ? "int64" : "int32") << " indices";
  }
}

TEST_F(DataOpsTest, GatherAxisOfAnEmbeddingTable) {
  // The BERT case: rows of a [vocab, hidden] float table by [batch, seq] int64 ids.
  const int64_t vocab = 37, hidden = 33, n = 2 * 9;
  std::vector<float> table = testing::RandomVector(vocab * hidden, 11);
  std::vector<int64_t> ids(n);
  std::mt19937 rng(5);
  for (auto& v : ids) v = static_cast<int64_t>(rng() % vocab);
  DeviceBuffer dt = Up(table), di = Up(ids);
  DeviceBuffer dy = Out(n * hidden * sizeof(float));
  ASSERT_TRUE(GatherAxis(dt.data(), 1, vocab, hidden, static_cast<const int64_t*>(di.data()), nullptr, n, dy.data(), 4,
                         stream_->get())
                  .ok());
  std::vector<float> want;
  for (int64_t j = 0; j < n; ++j)
    for (int64_t h = 0; h < hidden; ++h) want.push_back(table[ids[j] * hidden + h]);
  EXPECT_EQ(Down<float>(dy, want.size()), want);
}

TEST_F(DataOpsTest, GatherElementsAlongEachAxis) {
  const Dims dd = {3, 4, 5};
  std::vector<int64_t> data = Iota<int64_t>(60, 1000);
  DeviceBuffer ddata = Up(data);
  const auto ds = ContiguousStrides(dd);
  for (int axis = 0; axis < 3; ++axis) {
    const Dims id = {2, 3, 4};  // smaller than data on every axis (allowed)
    std::vector<int64_t> idx(24);
    std::mt19937 rng(axis);
    for (auto& v : idx) v = static_cast<int64_t>(rng() % (2 * dd[axis])) - dd[axis];  // in [-d, d)
    DeviceBuffer didx = Up(idx);
    DeviceBuffer dy = Out(24 * sizeof(int64_t));
    ASSERT_TRUE(GatherElements(ddata.data(), dd, static_cast<const int64_t*>(didx.data()), nullptr, id, axis, dy.data(),
                               8, stream_->get())
                    .ok());
    std::vector<int64_t> want(24);
    for (int64_t i = 0; i < 24; ++i) {
      int64_t c[3] = {i / 12, (i / 4) % 3, i % 4};
      int64_t k = idx[i] < 0 ? idx[i] + dd[axis] : idx[i];
      c[axis] = k;
      want[i] = data[c[0] * ds[0] + c[1] * ds[1] + c[2] * ds[2]];
    }
    EXPECT_EQ(Down<int64_t>(dy, 24), want) << "axis " << axis;
  }
}

TEST_F(DataOpsTest, GatherNDWithAndWithoutBatchDims) {
  // data [2, 3, 4]; batch_dims 0 with tuples of 2 -> out [5, 4]; batch_dims 1 with tuples of 1 ->
  // out [2, 2, 4]; full tuples of 3 -> scalars.
  const Dims dd = {2, 3, 4};
  std::vector<float> data = Iota<float>(24, 1.f);
  DeviceBuffer ddata = Up(data);
  {
    std::vector<int64_t> idx = {0, 0, 1, 2, -1, -1, 0, 1, 1, 0};
    DeviceBuffer di = Up(idx);
    DeviceBuffer dy = Out(20 * sizeof(float));
    ASSERT_TRUE(GatherND(ddata.data(), dd, static_cast<const int64_t*>(di.data()), nullptr, Dims{5, 2}, 0, dy.data(), 4,
                         stream_->get())
                    .ok());
    std::vector<float> want;
    for (int t = 0; t < 5; ++t) {
      int64_t a = idx[2 * t] < 0 ? idx[2 * t] + 2 : idx[2 * t], b = idx[2 * t + 1] < 0 ? idx[2 * t + 1] + 3 : idx[2 * t + 1];
      for (int e = 0; e < 4; ++e) want.push_back(data[(a * 3 + b) * 4 + e]);
    }
    EXPECT_EQ(Down<float>(dy, 20), want);
  }
  {
    std::vector<int32_t> idx = {2, 0, 1, -3};  // [2 batches, 2 tuples, 1]
    DeviceBuffer di = Up(idx);
    DeviceBuffer dy = Out(16 * sizeof(float));
    ASSERT_TRUE(GatherND(ddata.data(), dd, nullptr, static_cast<const int32_t*>(di.data()), Dims{2, 2, 1}, 1, dy.data(),
                         4, stream_->get())
                    .ok());
    std::vector<float> want;
    for (int b = 0; b < 2; ++b)
      for (int t = 0; t < 2; ++t) {
        int64_t k = idx[b * 2 + t] < 0 ? idx[b * 2 + t] + 3 : idx[b * 2 + t];
        for (int e = 0; e < 4; ++e) want.push_back(data[(b * 3 + k) * 4 + e]);
      }
    EXPECT_EQ(Down<float>(dy, 16), want);
  }
  {
    std::vector<int64_t> idx = {1, 2, 3, 0, 0, 0};
    DeviceBuffer di = Up(idx);
    DeviceBuffer dy = Out(2 * sizeof(float));
    ASSERT_TRUE(GatherND(ddata.data(), dd, static_cast<const int64_t*>(di.data()), nullptr, Dims{2, 3}, 0, dy.data(), 4,
                         stream_->get())
                    .ok());
    EXPECT_EQ(Down<float>(dy, 2), (std::vector<float>{data[23], data[0]}));
  }
}

TEST_F(DataOpsTest, CastBetweenTheSupportedTypes) {
  const std::vector<float> f = {0.f, 1.5f, -2.75f, 3.f, -0.f, 1e6f, -7.9f, 0.25f, 100.4f};
  const size_t n = f.size();
  DeviceBuffer df = Up(f);
  // float -> int64 (truncation), int32, uint8 (of the non-negative ones), bool, double, half.
  {
    DeviceBuffer dy = Out(n * 8);
    ASSERT_TRUE(Cast(df.data(), ElemType::kFloat, dy.data(), ElemType::kInt64, n, stream_->get()).ok());
    std::vector<int64_t> want;
    for (float v : f) want.push_back(static_cast<int64_t>(v));
    EXPECT_EQ(Down<int64_t>(dy, n), want);
  }
  {
    DeviceBuffer dy = Out(n * 4);
    ASSERT_TRUE(Cast(df.data(), ElemType::kFloat, dy.data(), ElemType::kInt32, n, stream_->get()).ok());
    std::vector<int32_t> want;
    for (float v : f) want.push_back(static_cast<int32_t>(v));
    EXPECT_EQ(Down<int32_t>(dy, n), want);
  }
  {
    DeviceBuffer dy = Out(n);
    ASSERT_TRUE(Cast(df.data(), ElemType::kFloat, dy.data(), ElemType::kBool, n, stream_->get()).ok());
    std::vector<uint8_t> want;
    for (float v : f) want.push_back(v != 0.f);
    EXPECT_EQ(Down<uint8_t>(dy, n), want);
  }
  {
    DeviceBuffer dy = Out(n * 8);
    ASSERT_TRUE(Cast(df.data(), ElemType::kFloat, dy.data(), ElemType::kDouble, n, stream_->get()).ok());
    std::vector<double> want(f.begin(), f.end());
    EXPECT_EQ(Down<double>(dy, n), want);
  }
  {
    DeviceBuffer dh = Out(n * 2);
    ASSERT_TRUE(Cast(df.data(), ElemType::kFloat, dh.data(), ElemType::kHalf, n, stream_->get()).ok());
    DeviceBuffer dy = Out(n * 4);
    ASSERT_TRUE(Cast(dh.data(), ElemType::kHalf, dy.data(), ElemType::kFloat, n, stream_->get()).ok());
    auto got = Down<float>(dy, n);
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(got[i], __half2float(__float2half_rn(f[i]))) << i;
  }
  // int64 -> float, bool, int32; bool -> float, int64.
  const std::vector<int64_t> v = {0, 1, -1, 123456789012LL, 7, -300, 2};
  DeviceBuffer dv = Up(v);
  {
    DeviceBuffer dy = Out(v.size() * 4);
    ASSERT_TRUE(Cast(dv.data(), ElemType::kInt64, dy.data(), ElemType::kFloat, v.size(), stream_->get()).ok());
    std::vector<float> want;
    for (int64_t x : v) want.push_back(static_cast<float>(x));
    EXPECT_EQ(Down<float>(dy, v.size()), want);
  }
  {
    DeviceBuffer dy = Out(v.size());
    ASSERT_TRUE(Cast(dv.data(), ElemType::kInt64, dy.data(), ElemType::kBool, v.size(), stream_->get()).ok());
    std::vector<uint8_t> want;
    for (int64_t x : v) want.push_back(x != 0);
    EXPECT_EQ(Down<uint8_t>(dy, v.size()), want);
  }
  {
    DeviceBuffer dy = Out(v.size() * 4);
    ASSERT_TRUE(Cast(dv.data(), ElemType::kInt64, dy.data(), ElemType::kInt32, v.size(), stream_->get()).ok());
    std::vector<int32_t> want;
    for (int64_t x : v) want.push_back(static_cast<int32_t>(x));
    EXPECT_EQ(Down<int32_t>(dy, v.size()), want);
  }
  const std::vector<uint8_t> b = {1, 0, 0, 1, 1};
  DeviceBuffer db = Up(b);
  {
    DeviceBuffer dy = Out(b.size() * 4);
    ASSERT_TRUE(Cast(db.data(), ElemType::kBool, dy.data(), ElemType::kFloat, b.size(), stream_->get()).ok());
    EXPECT_EQ(Down<float>(dy, b.size()), (std::vector<float>{1.f, 0.f, 0.f, 1.f, 1.f}));
  }
  {
    DeviceBuffer dy = Out(b.size() * 8);
    ASSERT_TRUE(Cast(db.data(), ElemType::kBool, dy.data(), ElemType::kInt64, b.size(), stream_->get()).ok());
    EXPECT_EQ(Down<int64_t>(dy, b.size()), (std::vector<int64_t>{1, 0, 0, 1, 1}));
  }
}

TEST_F(DataOpsTest, ComparisonsBroadcastOverFloatsIntsAndHalves) {
  const Dims as = {3, 1, 5}, bs = {4, 1};
  const Dims os = {3, 4, 5};
  std::vector<float> a = testing::RandomVector(15, 1, -3.f, 3.f);
  std::vector<float> b = testing::RandomVector(4, 2, -3.f, 3.f);
  a[3] = b[1];  // an equal pair
  std::vector<int64_t> ai, bi;
  for (float x : a) ai.push_back(static_cast<int64_t>(std::round(x)));
  for (float x : b) bi.push_back(static_cast<int64_t>(std::round(x)));
  std::vector<__half> ah, bh;
  for (float x : a) ah.push_back(__float2half_rn(x));
  for (float x : b) bh.push_back(__float2half_rn(x));
  DeviceBuffer da = Up(a), db = Up(b), dai = Up(ai), dbi = Up(bi), dah = Up(ah), dbh = Up(bh);
  const CompareOp ops[] = {CompareOp::kEqual, CompareOp::kLess, CompareOp::kGreater, CompareOp::kLessOrEqual,
                           CompareOp::kGreaterOrEqual};
  auto ref = [](CompareOp op, double x, double y) -> uint8_t {
    switch (op) {
      case CompareOp::kEqual: return x == y;
      case CompareOp::kLess: return x < y;
      case CompareOp::kGreater: return x > y;
      case CompareOp::kLessOrEqual: return x <= y;
      case CompareOp::kGreaterOrEqual: return x >= y;
    }
    return 0;
  };
  for (CompareOp op : ops) {
    for (int type = 0; type < 3; ++type) {
      DeviceBuffer dy = Out(60);
      const ElemType t = type == 0 ? ElemType::kFloat : type == 1 ? ElemType::kInt64 : ElemType::kHalf;
      const void* pa = type == 0 ? da.data() : type == 1 ? dai.data() : dah.data();
      const void* pb = type == 0 ? db.data() : type == 1 ? dbi.data() : dbh.data();
      ASSERT_TRUE(Compare(op, t, pa, as, pb, bs, static_cast<uint8_t*>(dy.data()), stream_->get()).ok());
      std::vector<uint8_t> want(60);
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j)
          for (int k = 0; k < 5; ++k) {
            double x = type == 0 ? a[i * 5 + k] : type == 1 ? static_cast<double>(ai[i * 5 + k]) : __half2float(ah[i * 5 + k]);
            double y = type == 0 ? b[j] : type == 1 ? static_cast<double>(bi[j]) : __half2float(bh[j]);
            want[(i * 4 + j) * 5 + k] = ref(op, x, y);
          }
      EXPECT_EQ(Down<uint8_t>(dy, 60), want) << "op " << static_cast<int>(op) << " type " << type;
    }
  }
  (void)os;
}

TEST_F(DataOpsTest, LogicAndNot) {
  const std::vector<uint8_t> a = {0, 1, 0, 1, 1, 0}, b = {0, 1};  // [3, 2] and [2]
  DeviceBuffer da = Up(a), db = Up(b);
  const LogicOp ops[] = {LogicOp::kAnd, LogicOp::kOr, LogicOp::kXor};
  for (LogicOp op : ops) {
    DeviceBuffer dy = Out(6);
    ASSERT_TRUE(Logic(op, static_cast<const uint8_t*>(da.data()), Dims{3, 2}, static_cast<const uint8_t*>(db.data()),
                      Dims{2}, static_cast<uint8_t*>(dy.data()), stream_->get())
                    .ok());
    std::vector<uint8_t> want(6);
    for (int i = 0; i < 6; ++i) {
      bool x = a[i], y = b[i % 2];
      want[i] = op == LogicOp::kAnd ? (x && y) : op == LogicOp::kOr ? (x || y) : (x != y);
    }
    EXPECT_EQ(Down<uint8_t>(dy, 6), want);
  }
  DeviceBuffer dn = Out(6);
  ASSERT_TRUE(Not(static_cast<const uint8_t*>(da.data()), static_cast<uint8_t*>(dn.data()), 6, stream_->get()).ok());
  EXPECT_EQ(Down<uint8_t>(dn, 6), (std::vector<uint8_t>{1, 0, 1, 0, 0, 1}));
}

TEST_F(DataOpsTest, MaxMinBroadcastAndPropagateNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> a = {1.f, -2.f, nan, 4.f, 0.5f, -1.f};  // [2, 3]
  std::vector<float> b = {0.f, nan, 3.f};                    // [3]
  DeviceBuffer da = Up(a), db = Up(b);
  for (MinMaxOp op : {MinMaxOp::kMax, MinMaxOp::kMin}) {
    DeviceBuffer dy = Out(24);
    ASSERT_TRUE(MinMax(op, ElemType::kFloat, da.data(), Dims{2, 3}, db.data(), Dims{3}, dy.data(), stream_->get()).ok());
    auto got = Down<float>(dy, 6);
    for (int i = 0; i < 6; ++i) {
      float x = a[i], y = b[i % 3];
      float want = std::isnan(x) || std::isnan(y) ? nan : (op == MinMaxOp::kMax ? std::max(x, y) : std::min(x, y));
      if (std::isnan(want)) EXPECT_TRUE(std::isnan(got[i])) << i;
      else EXPECT_EQ(got[i], want) << i;
    }
  }
  std::vector<int64_t> ai = {5, -3, 9, 0}, bi = {2};
  DeviceBuffer dai = Up(ai), dbi = Up(bi);
  DeviceBuffer dy = Out(32);
  ASSERT_TRUE(MinMax(MinMaxOp::kMax, ElemType::kInt64, dai.data(), Dims{4}, dbi.data(), Dims{}, dy.data(),
                     stream_->get())
                  .ok());
  EXPECT_EQ(Down<int64_t>(dy, 4), (std::vector<int64_t>{5, 2, 9, 2}));
}

TEST_F(DataOpsTest, RangeInEachType) {
  DeviceBuffer dy = Out(1000 * 8);
  ASSERT_TRUE(Range(ElemType::kInt64, 0, 0, 7, -3, dy.data(), 1000, stream_->get()).ok());
  auto got = Down<int64_t>(dy, 1000);
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(got[i], 7 - 3 * i) << i;
  ASSERT_TRUE(Range(ElemType::kInt32, 0, 0, -5, 2, dy.data(), 300, stream_->get()).ok());
  auto got32 = Down<int32_t>(dy, 300);
  for (int32_t i = 0; i < 300; ++i) ASSERT_EQ(got32[i], -5 + 2 * i) << i;
  ASSERT_TRUE(Range(ElemType::kFloat, 0.5, 0.25, 0, 0, dy.data(), 333, stream_->get()).ok());
  auto gotf = Down<float>(dy, 333);
  for (int i = 0; i < 333; ++i) ASSERT_EQ(gotf[i], 0.5f + static_cast<float>(i) * 0.25f) << i;
}

}  // namespace
}  // namespace onnxd::cuda
