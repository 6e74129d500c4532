// The Pad, Tile and PRelu kernels (kernels/cuda/misc_ops.h). Pad and Tile against a host loop
// over the same index functions (kernels/cuda/pad_tile_math.h, themselves checked against the CPU
// ops on the CPU in tests/engine/kernels/cuda/pad_tile_math_test.cc): what is left to check here is
// the launch, every element size (1, 2, 4, 8 bytes) and partial blocks. PRelu against the formula
// with the slope broadcast in every way X takes it; InstanceNormalization against its formula.
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/cuda/misc_ops.h"

namespace onnxd::cuda {
namespace {

using testing::FromHalf;
using testing::ToHalf;

class MiscOpsTest : public testing::DeviceTest {
 protected:
  template <typename E>
  void CheckPad(const std::vector<int64_t>& dims, PadMode mode, const std::vector<int64_t>& pads, E constant) {
    PadTileGeometry g;
    ASSERT_EQ(MakePadGeometry(dims.data(), static_cast<int>(dims.size()), mode, pads.data(),
                              static_cast<int>(pads.size()), nullptr, 0, &g),
              "");
    Check<E>(dims, g, true, constant);
  }

  template <typename E>
  void CheckTile(const std::vector<int64_t>& dims, const std::vector<int64_t>& repeats) {
    PadTileGeometry g;
    ASSERT_EQ(MakeTileGeometry(dims.data(), static_cast<int>(dims.size()), repeats.data(),
                               static_cast<int>(repeats.size()), &g),
              "");
    Check<E>(dims, g, false, E{});
  }

  template <typename E>
  void Check(const std::vector<int64_t>& dims, const PadTileGeometry& g, bool pad, E constant) {
    int64_t n_in = 1;
    for (int64_t d : dims) n_in *= d;
    std::vector<E> x(static_cast<size_t>(n_in));
    std::mt19937_64 rng(static_cast<uint64_t>(n_in) * 31 + sizeof(E));
    for (E& v : x) v = static_cast<E>(rng());
    const int64_t n = PadTileOutputElements(g);
    std::vector<E> want(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t src = pad ? PadSourceOffset<int64_t>(g, i) : TileSourceOffset<int64_t>(g, i);
      want[static_cast<size_t>(i)] = src < 0 ? constant : x[static_cast<size_t>(src)];
    }
    DeviceBuffer in = Up(x);
    DeviceBuffer out = Out(static_cast<size_t>(n) * sizeof(E));
    uint64_t bits = 0;
    std::memcpy(&bits, &constant, sizeof(E));
    Status st = pad ? Pad(in.data(), out.data(), g, bits, sizeof(E), stream_->get())
                    : Tile(in.data(), out.data(), g, sizeof(E), stream_->get());
    ASSERT_TRUE(st.ok()) << st.message();
    const std::vector<E> got = Down<E>(out, static_cast<size_t>(n));
    int bad = 0;
    for (size_t i = 0; i < got.size(); ++i)
      if (got[i] != want[i] && ++bad <= 5) ADD_FAILURE() << "element " << i;
    EXPECT_EQ(bad, 0) << "of " << n << " elements (" << sizeof(E) << "-byte elements)";
  }
};

TEST_F(MiscOpsTest, PadEveryModeAndElementSize) {
  for (PadMode mode : {PadMode::kConstant, PadMode::kReflect, PadMode::kEdge, PadMode::kWrap}) {
    SCOPED_TRACE(static_cast<int>(mode));
    CheckPad<float>({2, 3, 17, 19}, mode, {0, 0, 1, 2, 0, 0, 2, 1}, 1.5f);
    CheckPad<uint16_t>({3, 33, 5}, mode, {1, 2, 0, 0, 3, 4}, uint16_t{0x3c00});  // fp16 1.0
    CheckPad<int64_t>({5, 7}, mode, {-1, 3, 2, -2}, int64_t{-7});
    CheckPad<uint8_t>({1, 2, 3, 4, 5, 6}, mode, {0, 1, 0, 1, 2, 1, 1, 0, 1, 0, 1, 2}, uint8_t{1});
  }
  // Large enough for several blocks a thread... and an empty output.
  CheckPad<float>({4, 64, 56, 56}, PadMode::kConstant, {0, 0, 1, 1, 0, 0, 1, 1}, 0.f);
  CheckPad<float>({4, 0, 3}, PadMode::kConstant, {0, 0, 1, 0, 0, 1}, 2.f);
}

TEST_F(MiscOpsTest, TileEveryElementSize) {
  CheckTile<float>({3, 5, 7}, {2, 3, 4});
  CheckTile<uint16_t>({1, 33}, {65, 2});
  CheckTile<int64_t>({2, 1, 3, 1, 2, 1}, {1, 4, 1, 3, 2, 5});
  CheckTile<uint8_t>({257}, {3});
  CheckTile<float>({2, 3}, {0, 2});
}

// x < 0 ? slope * x : x with the slope broadcast to x, in double.
std::vector<float> ReferencePRelu(const std::vector<float>& x, const std::vector<int64_t>& xs,
                                  const std::vector<float>& slope, const std::vector<int64_t>& ss) {
  const int r = static_cast<int>(xs.size());
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    // The slope's element: x's coordinates right-aligned, 0 on its dims of 1.
    int64_t rem = static_cast<int64_t>(i), off = 0, stride = 1;
    for (int d = r - 1; d >= 0; --d) {
      const int64_t c = rem % xs[d];
      rem /= xs[d];
      const int j = d - (r - static_cast<int>(ss.size()));
      if (j >= 0) {
        if (ss[j] != 1) off += c * stride;
        stride *= ss[j];
      }
    }
    const double v = x[i];
    y[i] = static_cast<float>(v < 0 ? static_cast<double>(slope[static_cast<size_t>(off)]) * v : v);
  }
  return y;
}

TEST_F(MiscOpsTest, PReluBroadcastsTheSlopeInFp32AndFp16) {
  const std::vector<int64_t> xs = {2, 3, 17, 5};
  const std::vector<std::vector<int64_t>> slopes = {{3, 1, 1}, {5}, {1}, {2, 3, 17, 5}, {17, 1}, {}, {2, 1, 1, 1}};
  const std::vector<float> x = testing::RandomVector(2 * 3 * 17 * 5, 90, -3.f, 3.f);
  for (const auto& ss : slopes) {
    int64_t ns = 1;
    for (int64_t d : ss) ns *= d;
    const std::vector<float> slope = testing::RandomVector(static_cast<size_t>(ns), 91, -1.f, 1.f);
    SCOPED_TRACE(::testing::Message() << "slope rank " << ss.size() << " of " << ns << " elements");
    const std::vector<float> want = ReferencePRelu(x, xs, slope, ss);
    {
      DeviceBuffer dx = Up(x), ds = Up(slope);
      DeviceBuffer dy = Out(x.size() * sizeof(float));
      Status st = PRelu(dx.as<float>(), xs, ds.as<float>(), ss, dy.as<float>(), stream_->get());
      ASSERT_TRUE(st.ok()) << st.message();
      testing::ExpectClose(Down<float>(dy, x.size()), want, 1e-6f, 1e-7f);
    }
    {
      const std::vector<float> want16 = ReferencePRelu(FromHalf(ToHalf(x)), xs, FromHalf(ToHalf(slope)), ss);
      DeviceBuffer dx = Up(ToHalf(x)), ds = Up(ToHalf(slope));
      DeviceBuffer dy = Out(x.size() * sizeof(__half));
      Status st = PRelu(dx.as<__half>(), xs, ds.as<__half>(), ss, dy.as<__half>(), stream_->get());
      ASSERT_TRUE(st.ok()) << st.message();
      testing::ExpectClose(FromHalf(Down<__half>(dy, x.size())), want16, 1e-3f, 1e-3f);
    }
  }
  // A slope that does not broadcast to X (it would widen it) is refused.
  DeviceBuffer dx = Up(x), ds = Up(std::vector<float>(3, 0.5f));
  DeviceBuffer dy = Out(x.size() * sizeof(float));
  EXPECT_FALSE(PRelu(dx.as<float>(), xs, ds.as<float>(), std::vector<int64_t>{3, 1, 1, 1, 1}, dy.as<float>(),
                     stream_->get())
                   .ok());
}

// Per (n, group) row of group_channels * spatial values: (x - mean) / sqrt(var + eps), then channel
// c of group g scaled and shifted by the per-group or per-channel parameters; in double.
std::vector<float> ReferenceGroupNorm(const std::vector<float>& x, const GroupNormShape& s,
                                      const std::vector<float>& scale, const std::vector<float>& bias, double eps) {
  std::vector<float> y(x.size());
  const int64_t inner = s.group_channels * s.spatial;
  for (int64_t r = 0; r < s.n * s.groups; ++r) {
    const float* xr = &x[static_cast<size_t>(r * inner)];
    double mean = 0, var = 0;
    for (int64_t i = 0; i < inner; ++i) mean += xr[i];
    mean /= static_cast<double>(inner);
    for (int64_t i = 0; i < inner; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= static_cast<double>(inner);
    const int64_t g = r % s.groups;
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t pi = s.per_group ? g : g * s.group_channels + i / s.spatial;
      y[static_cast<size_t>(r * inner + i)] =
          static_cast<float>((xr[i] - mean) / std::sqrt(var + eps) * scale[pi] + bias[pi]);
    }
  }
  return y;
}

// Per (n, c) row: (x - mean) / sqrt(var + eps) * scale[c] + bias[c], in double: the group
// reference with one channel a group.
std::vector<float> ReferenceInstanceNorm(const std::vector<float>& x, int64_t rows, int64_t channels, int64_t inner,
                                         const std::vector<float>& scale, const std::vector<float>& bias, double eps) {
  GroupNormShape s;
  s.n = rows / channels;
  s.groups = channels;
  s.group_channels = 1;
  s.spatial = inner;
  return ReferenceGroupNorm(x, s, scale, bias, eps);
}

TEST_F(MiscOpsTest, InstanceNormPerImageAndChannelInFp32AndFp16) {
  // [N, C, inner]: style-transfer sized rows, rows shorter than a warp, one element a row.
  const int64_t shapes[][3] = {{2, 3, 4096}, {3, 5, 7}, {1, 4, 1}, {2, 16, 1025}};
  uint32_t seed = 120;
  for (const auto& sh : shapes) {
    const int64_t n = sh[0], ch = sh[1], inner = sh[2], rows = n * ch;
    SCOPED_TRACE(::testing::Message() << n << "x" << ch << "x" << inner);
    std::vector<float> x = testing::RandomVector(static_cast<size_t>(rows * inner), seed++, -2.f, 5.f);
    const std::vector<float> scale = testing::RandomVector(static_cast<size_t>(ch), seed++, 0.5f, 2.f);
    const std::vector<float> bias = testing::RandomVector(static_cast<size_t>(ch), seed++);
    {
      DeviceBuffer dx = Up(x), ds = Up(scale), db = Up(bias);
      DeviceBuffer dy = Out(x.size() * sizeof(float));
      ASSERT_TRUE(InstanceNorm(dx.as<float>(), dy.as<float>(), rows, ch, inner, ds.as<float>(), db.as<float>(), 1e-5f,
                               stream_->get())
                      .ok());
      testing::ExpectClose(Down<float>(dy, x.size()), ReferenceInstanceNorm(x, rows, ch, inner, scale, bias, 1e-5),
                           1e-4f, 1e-4f);
    }
    {
      DeviceBuffer dx = Up(ToHalf(x)), ds = Up(ToHalf(scale)), db = Up(ToHalf(bias));
      DeviceBuffer dy = Out(x.size() * sizeof(__half));
      ASSERT_TRUE(InstanceNorm(dx.as<__half>(), dy.as<__half>(), rows, ch, inner, ds.as<__half>(), db.as<__half>(),
                               1e-5f, stream_->get())
                      .ok());
      const auto want = ReferenceInstanceNorm(FromHalf(ToHalf(x)), rows, ch, inner, FromHalf(ToHalf(scale)),
                                              FromHalf(ToHalf(bias)), 1e-5);
      testing::ExpectClose(FromHalf(Down<__half>(dy, x.size())), want, 4e-3f, 4e-3f);
    }
  }
}

TEST_F(MiscOpsTest, GroupNormPerGroupAndPerChannelInFp32AndFp16) {
  // {n, groups, group_channels, spatial}: a diffusion UNet's 32 groups, channels without spatial
  // extent, one group of every channel (LayerNorm-like), one channel a group (InstanceNorm).
  const int64_t shapes[][4] = {{2, 32, 4, 256}, {3, 2, 5, 1}, {1, 1, 6, 33}, {2, 8, 1, 100}};
  uint32_t seed = 140;
  for (const auto& sh : shapes) {
    for (bool per_group : {false, true}) {
      GroupNormShape s;
      s.n = sh[0];
      s.groups = sh[1];
      s.group_channels = sh[2];
      s.spatial = sh[3];
      s.per_group = per_group;
      SCOPED_TRACE(::testing::Message() << s.n << "x" << s.groups << "x" << s.group_channels << "x" << s.spatial
                                        << (per_group ? " per group" : " per channel"));
      const size_t count = static_cast<size_t>(s.n * s.groups * s.group_channels * s.spatial);
      const size_t params = static_cast<size_t>(per_group ? s.groups : s.groups * s.group_channels);
      std::vector<float> x = testing::RandomVector(count, seed++, -2.f, 5.f);
      const std::vector<float> scale = testing::RandomVector(params, seed++, 0.5f, 2.f);
      const std::vector<float> bias = testing::RandomVector(params, seed++);
      {
        DeviceBuffer dx = Up(x), ds = Up(scale), db = Up(bias);
        DeviceBuffer dy = Out(count * sizeof(float));
        ASSERT_TRUE(GroupNorm(dx.as<float>(), dy.as<float>(), s, ds.as<float>(), db.as<float>(), 1e-5f, stream_->get())
                        .ok());
        testing::ExpectClose(Down<float>(dy, count), ReferenceGroupNorm(x, s, scale, bias, 1e-5), 1e-4f, 1e-4f);
      }
      {
        DeviceBuffer dx = Up(ToHalf(x)), ds = Up(ToHalf(scale)), db = Up(ToHalf(bias));
        DeviceBuffer dy = Out(count * sizeof(__half));
        ASSERT_TRUE(GroupNorm(dx.as<__half>(), dy.as<__half>(), s, ds.as<__half>(), db.as<__half>(), 1e-5f,
                              stream_->get())
                        .ok());
        const auto want =
            ReferenceGroupNorm(FromHalf(ToHalf(x)), s, FromHalf(ToHalf(scale)), FromHalf(ToHalf(bias)), 1e-5);
        testing::ExpectClose(FromHalf(Down<__half>(dy, count)), want, 4e-3f, 4e-3f);
      }
    }
  }
}

}  // namespace
}  // namespace onnxd::cuda
