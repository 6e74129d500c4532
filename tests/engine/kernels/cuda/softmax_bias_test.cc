// Where a fused softmax(x + bias) finds each row's bias (kernels/cuda/softmax_bias.h, host code):
// for random shapes and broadcasts, x + bias through the layout equals numpy's broadcast add.
#include "kernels/cuda/softmax_bias.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace onnxd::cuda {
namespace {

int64_t Count(const std::vector<int64_t>& d) {
  int64_t n = 1;
  for (int64_t v : d) n *= v;
  return n;
}

TEST(SoftmaxBiasTest, LayoutGivesTheBroadcastBias) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> dim(1, 4), rank(1, 5), coin(0, 2);
  int checked = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<int64_t> x(rank(rng));
    for (auto& d : x) d = dim(rng);
    const int keep = std::uniform_int_distribution<int>(0, static_cast<int>(x.size()))(rng);
    std::vector<int64_t> b(x.end() - keep, x.end());
    for (auto& d : b)
      if (coin(rng) == 0) d = 1;
    auto layout = MakeSoftmaxBiasLayout(x, b);
    ASSERT_TRUE(layout.has_value());
    const int64_t cols = x.back(), rows = Count(x) / cols;
    // Reference: numpy broadcasting by full index arithmetic.
    std::vector<int64_t> idx(x.size());
    for (int64_t flat = 0; flat < rows * cols; ++flat) {
      int64_t rem = flat;
      for (size_t d = x.size(); d-- > 0;) idx[d] = rem % x[d], rem /= x[d];
      int64_t want = 0, s = 1;
      for (size_t d = b.size(); d-- > 0;) {
        const size_t xd = d + x.size() - b.size();
        want += (b[d] == 1 ? 0 : idx[xd]) * s;
        s *= b[d];
      }
      const int64_t got = layout->RowOffset(flat / cols) + (flat % cols) * layout->col_stride;
      ASSERT_EQ(got, want) << "trial " << trial << " element " << flat;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 2000);
}

TEST(SoftmaxBiasTest, AttentionMaskShapes) {
  // scores [B, H, S, S] with a [B, 1, 1, S] padding mask: row (b, h, i) starts at b * S.
  const std::vector<int64_t> x = {2, 3, 4, 4}, mask = {2, 1, 1, 4};
  auto l = MakeSoftmaxBiasLayout(x, mask);
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->col_stride, 1);
  EXPECT_EQ(l->RowOffset(0), 0);
  EXPECT_EQ(l->RowOffset(3 * 4 + 2), 4);  // b = 1, h = 0, i = 2
  // A mask that does not broadcast, or one of higher rank, has no layout.
  EXPECT_FALSE(MakeSoftmaxBiasLayout(x, std::vector<int64_t>{3, 4}).has_value());
  EXPECT_FALSE(MakeSoftmaxBiasLayout(std::vector<int64_t>{4, 4}, std::vector<int64_t>{1, 4, 4}).has_value());
}

}  // namespace
}  // namespace onnxd::cuda
