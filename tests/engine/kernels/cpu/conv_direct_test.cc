#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "kernels/cpu/conv.h"

namespace onnxd::engine::cpu {
namespace {

struct Case {
  int64_t C, M, H, W, KH, KW, pt, pl, pb, pr;
  int64_t sh = 1, sw = 1;
};

WindowGeom GeomOf(const Case& c) {
  WindowGeom g;
  g.nd = 2;
  g.in[0] = c.H; g.in[1] = c.W; g.k[0] = c.KH; g.k[1] = c.KW;
  g.stride[0] = c.sh; g.stride[1] = c.sw;
  g.dil[0] = g.dil[1] = 1;
  g.pad[0] = c.pt; g.pad[1] = c.pl;
  g.out[0] = (c.H + c.pt + c.pb - c.KH) / c.sh + 1;
  g.out[1] = (c.W + c.pl + c.pr - c.KW) / c.sw + 1;
  return g;
}

// Straightforward convolution with zero padding, in double.
std::vector<float> Reference(const Case& c, const std::vector<float>& x, const std::vector<float>& w,
                             const std::vector<float>& b, int64_t OH, int64_t OW) {
  std::vector<float> y(static_cast<size_t>(c.M * OH * OW));
  for (int64_t m = 0; m < c.M; ++m)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double s = b[m];
        for (int64_t ci = 0; ci < c.C; ++ci)
          for (int64_t kh = 0; kh < c.KH; ++kh)
            for (int64_t kw = 0; kw < c.KW; ++kw) {
              const int64_t ih = oh * c.sh + kh - c.pt, iw = ow * c.sw + kw - c.pl;
              if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
              s += double(w[((m * c.C + ci) * c.KH + kh) * c.KW + kw]) * x[(ci * c.H + ih) * c.W + iw];
            }
        y[(m * OH + oh) * OW + ow] = static_cast<float>(s);
      }
  return y;
}

// Every row-block tail (M = 1..16 covers the 12/8/4/1 blocks), pads on each side alone, 1-row
// images, widths around the 32-column tile, and the wide columns split between callers at several
// points; with the AVX-512 kernel where the CPU has it, and with the portable one.
class DirectConv2DTest : public testing::TestWithParam<bool> {
 protected:
  void SetUp() override { DirectConv2DPortableOnlyForTests(GetParam()); }
  void TearDown() override { DirectConv2DPortableOnlyForTests(false); }
};
INSTANTIATE_TEST_SUITE_P(Kernels, DirectConv2DTest, testing::Values(false, true),
                         [](const testing::TestParamInfo<bool>& i) { return i.param ? "Portable" : "Native"; });

TEST_P(DirectConv2DTest, MatchesReference) {
  const Case cases[] = {
      {1, 8, 28, 28, 5, 5, 0, 0, 0, 0},  {8, 16, 12, 12, 5, 5, 0, 0, 0, 0}, {3, 13, 9, 17, 3, 3, 1, 1, 1, 1},
      {5, 7, 6, 33, 3, 2, 0, 1, 2, 0},   {2, 9, 1, 40, 1, 3, 0, 1, 0, 1},   {4, 12, 8, 8, 3, 3, 1, 1, 1, 1},
      {16, 4, 5, 31, 2, 4, 1, 0, 0, 3},  {1, 1, 3, 3, 3, 3, 2, 2, 2, 2},
      // Strided: phases of the padded input.
      {3, 16, 64, 64, 3, 3, 1, 1, 1, 1, 2, 2}, {5, 9, 13, 17, 3, 3, 1, 1, 1, 1, 2, 2},
      {3, 12, 20, 22, 7, 7, 3, 3, 3, 3, 2, 2}, {4, 5, 9, 10, 1, 1, 0, 0, 0, 0, 2, 2},
      {2, 4, 11, 14, 5, 4, 2, 1, 1, 2, 3, 2},  {2, 3, 2, 9, 2, 3, 0, 0, 0, 0, 1, 3},
  };
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  for (const Case& c : cases) {
    const WindowGeom g = GeomOf(c);
    ASSERT_TRUE(DirectConv2DApplies(g, c.C, c.M)) << c.C << "x" << c.H << "x" << c.W;
    std::vector<float> x(c.C * c.H * c.W), w(c.M * c.C * c.KH * c.KW), b(c.M);
    for (auto& v : x) v = u(rng);
    for (auto& v : w) v = u(rng);
    for (auto& v : b) v = u(rng);
    const auto ref = Reference(c, x, w, b, g.out[0], g.out[1]);
    std::vector<float> xpad(DirectConv2DPadFloats(g, c.C), 7.f);  // the kernel must clear it
    std::vector<int64_t> off(c.C * c.KH * c.KW);
    DirectConv2DPad(g, x.data(), c.C, xpad.data(), off.data());
    const int64_t cols = DirectConv2DColumns(g);
    for (int64_t split : {cols, int64_t{32}, int64_t{64}, cols / 2 / 32 * 32 + 32}) {
      std::vector<float> y(ref.size(), -99.f);
      for (int64_t q = 0; q < cols; q += split)
        DirectConv2D(g, xpad.data(), off.data(), c.C, w.data(), c.M, b.data(), q, q + split, y.data());
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_NEAR(y[i], ref[i], 1e-4) << "case C=" << c.C << " M=" << c.M << " " << c.H << "x" << c.W
                                        << " split " << split << " at " << i;
    }
  }
}

TEST(DepthwiseDirect2DTest, MatchesReference) {
  const Case cases[] = {{1, 1, 56, 56, 3, 3, 1, 1, 1, 1},       {1, 1, 7, 9, 5, 5, 2, 2, 2, 2},
                        {1, 1, 12, 40, 3, 1, 0, 0, 1, 0},       {1, 1, 1, 33, 1, 3, 0, 1, 0, 1},
                        {1, 1, 56, 56, 3, 3, 1, 1, 1, 1, 2, 2}, {1, 1, 15, 9, 3, 5, 0, 2, 1, 2, 2, 3}};
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-1, 1);
  for (const Case& c : cases) {
    const WindowGeom g = GeomOf(c);
    ASSERT_TRUE(DirectConv2DApplies(g, 1, 1));
    std::vector<float> x(c.H * c.W), w(c.KH * c.KW), b{u(rng)};
    for (auto& v : x) v = u(rng);
    for (auto& v : w) v = u(rng);
    const auto ref = Reference(c, x, w, b, g.out[0], g.out[1]);
    std::vector<float> xpad(DirectConv2DPadFloats(g, 1));
    std::vector<int64_t> off(c.KH * c.KW);
    DirectConv2DPad(g, x.data(), 1, xpad.data(), off.data());
    std::vector<float> y(ref.size(), -99.f);
    DepthwiseDirect2D(g, xpad.data(), off.data(), w.data(), b[0], y.data());
    for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], 1e-4) << c.H << "x" << c.W << " at " << i;
  }
}

// Odd sizes (the last row and column left out), and NaN skipped as the generic pooling kernel does.
TEST(MaxPool2x2Stride2Test, MatchesReference) {
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto [H, W] : {std::pair<int64_t, int64_t>{24, 24}, {7, 9}, {2, 33}, {5, 2}}) {
    std::vector<float> x(static_cast<size_t>(H * W));
    for (auto& v : x) v = u(rng);
    x[1] = std::nanf("");
    x[static_cast<size_t>(W)] = std::nanf("");  // with x[1]: two of the first window's four
    const int64_t OH = H / 2, OW = W / 2;
    std::vector<float> y(static_cast<size_t>(OH * OW), -99.f);
    MaxPool2x2Stride2(x.data(), W, y.data(), OH, OW);
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t dh = 0; dh < 2; ++dh)
          for (int64_t dw = 0; dw < 2; ++dw) {
            const float v = x[(2 * oh + dh) * W + 2 * ow + dw];
            if (v > m) m = v;
          }
        ASSERT_EQ(y[oh * OW + ow], m) << H << "x" << W << " at " << oh << "," << ow;
      }
  }
}

TEST(DirectConv2DGeometry, DeclinesWhatItDoesNotCover) {
  WindowGeom g;
  g.nd = 2;
  g.in[0] = g.in[1] = 16; g.k[0] = g.k[1] = 3;
  g.stride[0] = g.stride[1] = g.dil[0] = g.dil[1] = 1;
  g.out[0] = g.out[1] = 14;
  EXPECT_TRUE(DirectConv2DApplies(g, 8, 8));
  g.stride[1] = 5;
  g.out[1] = 3;
  EXPECT_FALSE(DirectConv2DApplies(g, 8, 8));  // strides past 4
  g.stride[1] = 1;
  g.out[1] = 14;
  g.dil[0] = 2;
  EXPECT_FALSE(DirectConv2DApplies(g, 8, 8));  // dilated
  g.dil[0] = 1;
  g.k[0] = g.k[1] = 1;
  g.out[0] = g.out[1] = 16;
  EXPECT_FALSE(DirectConv2DApplies(g, 8, 8));  // pointwise: no im2col to save
}

}  // namespace
}  // namespace onnxd::engine::cpu
