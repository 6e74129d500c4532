// The shape collapsing behind the CUDA Transpose and broadcast kernels (host code, so tested here
// on the CPU): for random shapes, moving data with the collapsed description must give what the
// full description gives.
#include "kernels/cuda/shape_collapse.h"
#include "kernels/cuda/transpose_rows.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

namespace onnxd::cuda {
namespace {

// out = transpose(in) by a naive walk over the output's full index space.
std::vector<int> NaiveTranspose(const std::vector<int>& in, const std::vector<int64_t>& dims, const std::vector<int64_t>& perm) {
  const int r = static_cast<int>(dims.size());
  std::vector<int64_t> in_strides(r, 1), out_dims(r);
  for (int d = r - 2; d >= 0; --d) in_strides[d] = in_strides[d + 1] * dims[d + 1];
  for (int k = 0; k < r; ++k) out_dims[k] = dims[perm[k]];
  std::vector<int> out(in.size());
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t rem = static_cast<int64_t>(i), src = 0;
    for (int k = r - 1; k >= 0; --k) {
      src += (rem % out_dims[k]) * in_strides[perm[k]];
      rem /= out_dims[k];
    }
    out[i] = in[src];
  }
  return out;
}

std::vector<int> Iota(size_t n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST(ShapeCollapseTest, TransposeMovesDataAsTheFullDescription) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 400; ++trial) {
    const int r = 1 + static_cast<int>(rng() % 6);
    std::vector<int64_t> dims(r), perm(r);
    for (auto& d : dims) d = 1 + static_cast<int64_t>(rng() % 4);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    int64_t n = 1;
    for (auto d : dims) n *= d;
    auto in = Iota(static_cast<size_t>(n));
    CollapsedTranspose c = CollapseTranspose(dims, perm);
    std::vector<int64_t> cd(c.in_dims, c.in_dims + c.rank), cp(c.perm, c.perm + c.rank);
    int64_t cn = 1;
    for (auto d : cd) cn *= d;
    ASSERT_EQ(cn, n);
    for (int k = 0; k < c.rank; ++k) EXPECT_GT(c.in_dims[k], 1);
    // No two output-consecutive axes left that are input-consecutive.
    for (int k = 1; k < c.rank; ++k) EXPECT_NE(c.perm[k], c.perm[k - 1] + 1);
    EXPECT_EQ(NaiveTranspose(in, cd, cp), NaiveTranspose(in, dims, perm)) << "trial " << trial;
  }
}

// The row path (transpose_rows.h): output row r copied from TransposeRowSource(r), for every
// collapsed transpose that keeps its last axis.
TEST(ShapeCollapseTest, RowTransposesMoveDataAsTheFullDescription) {
  std::mt19937 rng(9);
  int tried = 0;
  for (int trial = 0; trial < 2000 && tried < 300; ++trial) {
    const int r = 2 + static_cast<int>(rng() % 5);
    std::vector<int64_t> dims(r), perm(r);
    for (auto& d : dims) d = 1 + static_cast<int64_t>(rng() % 4);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end() - 1, rng);  // the last axis stays last
    CollapsedTranspose c = CollapseTranspose(dims, perm);
    if (c.rank < 2 || c.perm[c.rank - 1] != c.rank - 1) continue;
    ++tried;
    int64_t n = 1;
    for (auto d : dims) n *= d;
    auto in = Iota(static_cast<size_t>(n));
    TransposeRows t = MakeTransposeRows(c);
    std::vector<int> out(static_cast<size_t>(n));
    for (int64_t row = 0; row < n / t.row; ++row) {
      const int64_t src = TransposeRowSource(t, row);
      ASSERT_EQ(src % t.row, 0);  // rows start on row boundaries (the 16-byte copies rely on it)
      for (int64_t k = 0; k < t.row; ++k) out[static_cast<size_t>(row * t.row + k)] = in[static_cast<size_t>(src + k)];
    }
    EXPECT_EQ(out, NaiveTranspose(in, dims, perm)) << "trial " << trial;
  }
  EXPECT_GT(tried, 100);
  // Attention's heads: [B, S, H, D] -> [B, H, S, D].
  CollapsedTranspose h = CollapseTranspose(std::vector<int64_t>{2, 3, 4, 5}, std::vector<int64_t>{0, 2, 1, 3});
  TransposeRows t = MakeTransposeRows(h);
  EXPECT_EQ(t.row, 5);
  EXPECT_EQ(t.outer_rank, 3);
  EXPECT_EQ(TransposeRowSource(t, 1), 4 * 5);  // output row (b0, h0, s1) starts at input (0, 1, 0, 0)
}

TEST(ShapeCollapseTest, CommonTransposesBecomeTheFastCases) {
  // NCHW -> NHWC: [N, C, HW] -> [N, HW, C].
  CollapsedTranspose a = CollapseTranspose(std::vector<int64_t>{2, 64, 7, 7}, std::vector<int64_t>{0, 2, 3, 1});
  ASSERT_EQ(a.rank, 3);
  EXPECT_EQ((std::vector<int64_t>(a.in_dims, a.in_dims + 3)), (std::vector<int64_t>{2, 64, 49}));
  EXPECT_EQ((std::vector<int>(a.perm, a.perm + 3)), (std::vector<int>{0, 2, 1}));
  // K^T in attention: [B, H, S, D] -> [B, H, D, S] is [BH, S, D] -> [BH, D, S].
  CollapsedTranspose k = CollapseTranspose(std::vector<int64_t>{4, 12, 128, 64}, std::vector<int64_t>{0, 1, 3, 2});
  ASSERT_EQ(k.rank, 3);
  EXPECT_EQ(k.in_dims[0], 48);
  // Heads split out: [B, S, H, D] -> [B, H, S, D] keeps the last axis.
  CollapsedTranspose h = CollapseTranspose(std::vector<int64_t>{4, 128, 12, 64}, std::vector<int64_t>{0, 2, 1, 3});
  ASSERT_EQ(h.rank, 4);
  EXPECT_EQ(h.perm[3], 3);
  // Batch 1 drops out; the identity collapses to one axis.
  CollapsedTranspose one = CollapseTranspose(std::vector<int64_t>{1, 5, 6}, std::vector<int64_t>{0, 2, 1});
  EXPECT_EQ(one.rank, 2);
  CollapsedTranspose id = CollapseTranspose(std::vector<int64_t>{3, 4, 5}, std::vector<int64_t>{0, 1, 2});
  EXPECT_EQ(id.rank, 1);
}

TEST(ShapeCollapseTest, BroadcastIndexesAsTheFullDescription) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 400; ++trial) {
    const int r = 1 + static_cast<int>(rng() % 6);
    std::vector<int64_t> out(r);
    for (auto& d : out) d = 1 + static_cast<int64_t>(rng() % 4);
    std::vector<std::vector<int64_t>> shapes(1 + rng() % 3);
    for (auto& s : shapes) {
      const int sr = static_cast<int>(rng() % (r + 1));
      s.resize(sr);
      for (int d = 0; d < sr; ++d) s[d] = rng() % 2 ? out[r - sr + d] : 1;
    }
    std::vector<std::span<const int64_t>> spans(shapes.begin(), shapes.end());
    CollapsedBroadcast c = CollapseBroadcast(out, spans);
    int64_t n = 1;
    for (auto d : out) n *= d;
    int64_t cn = 1;
    for (int d = 0; d < c.rank; ++d) cn *= c.out_dims[d];
    ASSERT_EQ(cn, n);
    for (size_t o = 0; o < shapes.size(); ++o) {
      // Full description: right-aligned strides, 0 where the operand's extent is 1.
      const int off = r - static_cast<int>(shapes[o].size());
      std::vector<int64_t> st(r, 0);
      int64_t stride = 1;
      for (int d = r - 1; d >= off; --d) {
        st[d] = shapes[o][d - off] == 1 ? 0 : stride;
        stride *= shapes[o][d - off];
      }
      for (int64_t i = 0; i < n; ++i) {
        int64_t rem = i, full = 0, collapsed = 0;
        for (int d = r - 1; d >= 0; --d) {
          full += (rem % out[d]) * st[d];
          rem /= out[d];
        }
        rem = i;
        for (int d = c.rank - 1; d >= 0; --d) {
          collapsed += (rem % c.out_dims[d]) * c.strides[o][d];
          rem /= c.out_dims[d];
        }
        ASSERT_EQ(collapsed, full) << "trial " << trial << " operand " << o << " element " << i;
      }
    }
  }
}

TEST(ShapeCollapseTest, AttentionMaskBroadcastBecomesThreeAxes) {
  const std::vector<int64_t> out{32, 12, 128, 128}, scores{32, 12, 128, 128}, mask{32, 1, 1, 128};
  std::vector<std::span<const int64_t>> ops{scores, mask};
  CollapsedBroadcast c = CollapseBroadcast(out, ops);
  ASSERT_EQ(c.rank, 3);
  EXPECT_EQ((std::vector<int64_t>(c.out_dims, c.out_dims + 3)), (std::vector<int64_t>{32, 1536, 128}));
  EXPECT_EQ((std::vector<int64_t>(c.strides[1], c.strides[1] + 3)), (std::vector<int64_t>{128, 0, 1}));
}

}  // namespace
}  // namespace onnxd::cuda
