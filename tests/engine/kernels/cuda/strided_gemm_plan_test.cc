// The strided MatMul planning behind the CUDA session's Transpose folding (host code, so tested
// here on the CPU): each plan is executed with a host GEMM that follows cuBLAS's row-major
// conventions as gemm_cuda.h states them (trans flags, leading dimensions, strided batches, the
// operand swap), and compared with numpy-style matmul on the logical tensors.
#include "kernels/cuda/strided_gemm_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace onnxd::cuda {
namespace {

// What one GemmStridedBatched / GemmBatched call computes, on host buffers.
void HostGemm(const StridedGemmPlan& p, const double* a, const double* b, double* c) {
  for (int64_t t = 0; t < p.batch_count(); ++t) {
    int64_t oa = 0, ob = 0, oc = 0;
    BatchOffsets(p, t, &oa, &ob, &oc);
    for (int64_t i = 0; i < p.m; ++i)
      for (int64_t j = 0; j < p.n; ++j) {
        double s = 0;
        for (int64_t q = 0; q < p.k; ++q) {
          const double av = p.trans_a ? a[oa + q * p.lda + i] : a[oa + i * p.lda + q];
          const double bv = p.trans_b ? b[ob + j * p.ldb + q] : b[ob + q * p.ldb + j];
          s += av * bv;
        }
        c[oc + i * p.ldc + j] = s;
      }
  }
}

double At(const StridedView& v, const std::vector<double>& data, const std::vector<int64_t>& idx) {
  int64_t off = 0;
  for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * v.strides[d];
  return data[static_cast<size_t>(off)];
}

// numpy matmul on logical views (rank >= 2 each), result packed with dims `out`.
std::vector<double> NaiveMatMul(const StridedView& a, const std::vector<double>& ad, const StridedView& b,
                                const std::vector<double>& bd, const std::vector<int64_t>& out) {
  const size_t r = out.size();
  const int64_t m = out[r - 2], n = out[r - 1], k = a.dims.back();
  std::vector<double> c(static_cast<size_t>(std::accumulate(out.begin(), out.end(), int64_t{1}, std::multiplies<>())));
  std::vector<int64_t> idx(r, 0);
  for (size_t flat = 0; flat < c.size(); ++flat) {
    int64_t rem = static_cast<int64_t>(flat);
    for (size_t d = r; d-- > 0;) idx[d] = rem % out[d], rem /= out[d];
    auto sub = [&](const StridedView& v, int64_t row, int64_t col) {
      std::vector<int64_t> s(v.dims.size());
      const size_t off = r - v.dims.size();
      for (size_t d = 0; d + 2 < v.dims.size(); ++d) s[d] = v.dims[d] == 1 ? 0 : idx[d + off];
      s[s.size() - 2] = row;
      s[s.size() - 1] = col;
      return s;
    };
    double acc = 0;
    for (int64_t q = 0; q < k; ++q) acc += At(a, ad, sub(a, idx[r - 2], q)) * At(b, bd, sub(b, q, idx[r - 1]));
    c[flat] = acc;
    (void)m, (void)n;
  }
  return c;
}

std::vector<int64_t> RandomPerm(size_t r, std::mt19937& rng) {
  std::vector<int64_t> p(r);
  std::iota(p.begin(), p.end(), 0);
  std::shuffle(p.begin(), p.end(), rng);
  return p;
}

// Physical dims for a logical shape seen through `perm`: phys[perm[k]] = logical[k].
std::vector<int64_t> PhysFor(const std::vector<int64_t>& logical, const std::vector<int64_t>& perm) {
  if (perm.empty()) return logical;
  std::vector<int64_t> phys(logical.size());
  for (size_t k = 0; k < perm.size(); ++k) phys[static_cast<size_t>(perm[k])] = logical[k];
  return phys;
}

struct Outcome {
  bool planned = false;
  double max_err = 0;
};

// Runs one case: A, B and C as permuted views of packed buffers.
Outcome RunCase(const std::vector<int64_t>& al, const std::vector<int64_t>& ap, const std::vector<int64_t>& bl,
                const std::vector<int64_t>& bp, const std::vector<int64_t>& cl, const std::vector<int64_t>& cp,
                std::mt19937& rng, StridedGemmPlan* plan_out = nullptr) {
  const StridedView a = PermutedView(PhysFor(al, ap), ap), b = PermutedView(PhysFor(bl, bp), bp);
  const StridedView c = PermutedView(PhysFor(cl, cp), cp);
  auto count = [](const std::vector<int64_t>& d) {
    return static_cast<size_t>(std::accumulate(d.begin(), d.end(), int64_t{1}, std::multiplies<>()));
  };
  std::uniform_int_distribution<int> val(-4, 4);
  std::vector<double> ad(count(al)), bd(count(bl)), cd(count(cl), 1e300);
  for (double& v : ad) v = val(rng);
  for (double& v : bd) v = val(rng);
  Outcome o;
  auto plan = PlanStridedGemm(a, b, c);
  if (!plan) return o;
  o.planned = true;
  if (plan_out != nullptr) *plan_out = *plan;
  if (plan->swapped) HostGemm(*plan, bd.data(), ad.data(), cd.data());
  else HostGemm(*plan, ad.data(), bd.data(), cd.data());
  const std::vector<double> want = NaiveMatMul(a, ad, b, bd, cl);
  // Read C back through its view, in logical order.
  std::vector<int64_t> idx(cl.size(), 0);
  for (size_t flat = 0; flat < want.size(); ++flat) {
    int64_t rem = static_cast<int64_t>(flat);
    for (size_t d = cl.size(); d-- > 0;) idx[d] = rem % cl[d], rem /= cl[d];
    o.max_err = std::max(o.max_err, std::abs(At(c, cd, idx) - want[flat]));
  }
  return o;
}

TEST(StridedGemmPlanTest, AttentionTransposesFoldIntoOneCallEach) {
  std::mt19937 rng(7);
  const int64_t B = 3, S = 5, H = 4, D = 6;
  // Q: [B,S,H,D] -> [B,H,S,D]; K: [B,S,H,D] -> [B,H,D,S]; scores [B,H,S,S] packed.
  StridedGemmPlan p;
  Outcome o = RunCase({B, H, S, D}, {0, 2, 1, 3}, {B, H, D, S}, {0, 2, 3, 1}, {B, H, S, S}, {}, rng, &p);
  ASSERT_TRUE(o.planned);
  EXPECT_EQ(o.max_err, 0);
  EXPECT_FALSE(p.swapped);
  EXPECT_FALSE(p.trans_a);
  EXPECT_TRUE(p.trans_b);  // K^T read from K's rows
  EXPECT_EQ(p.lda, H * D);
  EXPECT_EQ(p.ldb, H * D);
  EXPECT_EQ(p.batch_rank, 2);  // B and H do not merge: a pointer-array call
  // Probabilities [B,H,S,S] x V [B,S,H,D] -> [B,H,S,D], written as [B,S,H,D] (the output Transpose).
  o = RunCase({B, H, S, S}, {}, {B, H, S, D}, {0, 2, 1, 3}, {B, H, S, D}, {0, 2, 1, 3}, rng, &p);
  ASSERT_TRUE(o.planned);
  EXPECT_EQ(o.max_err, 0);
  EXPECT_EQ(p.ldc, H * D);
  EXPECT_FALSE(p.trans_b);
}

TEST(StridedGemmPlanTest, PackedOperandsKeepTheirUsualForm) {
  std::mt19937 rng(1);
  StridedGemmPlan p;
  // [2,3,4,5] x [5,6]: B shared, so A's batch is more rows: one GEMM of M = 24.
  Outcome o = RunCase({2, 3, 4, 5}, {}, {5, 6}, {}, {2, 3, 4, 6}, {}, rng, &p);
  ASSERT_TRUE(o.planned);
  EXPECT_EQ(o.max_err, 0);
  EXPECT_EQ(p.batch_rank, 0);
  EXPECT_EQ(p.m, 24);
  // Same batch on both sides: one strided batch of 6.
  o = RunCase({2, 3, 4, 5}, {}, {2, 3, 5, 6}, {}, {2, 3, 4, 6}, {}, rng, &p);
  ASSERT_TRUE(o.planned);
  EXPECT_EQ(o.max_err, 0);
  EXPECT_EQ(p.batch_rank, 1);
  EXPECT_EQ(p.batch_dims[0], 6);
  // A broadcast against B's batch: A's stride 0.
  o = RunCase({4, 5}, {}, {2, 3, 5, 6}, {}, {2, 3, 4, 6}, {}, rng, &p);
  ASSERT_TRUE(o.planned);
  EXPECT_EQ(o.max_err, 0);
  EXPECT_EQ(p.batch_rank, 1);
  EXPECT_EQ(p.stride_a[0], 0);
}

TEST(StridedGemmPlanTest, NoPlanWhenNeitherMatrixAxisIsPacked) {
  // A [X, M, K] from phys [M, X, K]... packs K; from phys [K, M, X] (perm {2,1,0}) packs neither.
  const StridedView a = PermutedView(std::vector<int64_t>{5, 4, 3}, std::vector<int64_t>{2, 1, 0});
  const StridedView b = PermutedView(std::vector<int64_t>{3, 5, 6}, std::vector<int64_t>{});
  const StridedView c = PermutedView(std::vector<int64_t>{3, 4, 6}, std::vector<int64_t>{});
  EXPECT_FALSE(PlanStridedGemm(a, b, c).has_value());
}

// Random shapes, permutations and broadcasts: every plan made computes the matmul.
TEST(StridedGemmPlanTest, RandomViewsMatchNaiveMatMul) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> dim(1, 4), rank(0, 3), coin(0, 3);
  int planned = 0, swapped = 0, pointer_arrays = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const int r = rank(rng);  // batch rank of C
    std::vector<int64_t> batch(r);
    for (auto& d : batch) d = dim(rng);
    const int64_t m = dim(rng), n = dim(rng), k = dim(rng);
    // A and B take a suffix of the batch, with some dims broadcast (1).
    auto operand_batch = [&]() {
      const int keep = std::uniform_int_distribution<int>(0, r)(rng);
      std::vector<int64_t> b(batch.end() - keep, batch.end());
      for (auto& d : b)
        if (coin(rng) == 0) d = 1;
      return b;
    };
    std::vector<int64_t> al = operand_batch(), bl = operand_batch();
    // C's batch is the broadcast of the two: take the dims as they are (shorter ones broadcast).
    std::vector<int64_t> cb(r, 1);
    for (size_t i = 0; i < al.size(); ++i) cb[r - al.size() + i] = std::max(cb[r - al.size() + i], al[i]);
    for (size_t i = 0; i < bl.size(); ++i) cb[r - bl.size() + i] = std::max(cb[r - bl.size() + i], bl[i]);
    al.push_back(m), al.push_back(k);
    bl.push_back(k), bl.push_back(n);
    std::vector<int64_t> cl = cb;
    cl.push_back(m), cl.push_back(n);
    auto maybe_perm = [&](size_t rr) { return coin(rng) == 0 ? std::vector<int64_t>{} : RandomPerm(rr, rng); };
    StridedGemmPlan p;
    const Outcome o = RunCase(al, maybe_perm(al.size()), bl, maybe_perm(bl.size()), cl, maybe_perm(cl.size()), rng, &p);
    if (!o.planned) continue;
    ++planned;
    swapped += p.swapped;
    pointer_arrays += p.batch_rank > 1;
    ASSERT_EQ(o.max_err, 0) << "trial " << trial;
  }
  // The random cases reach every form.
  EXPECT_GT(planned, 1000);
  EXPECT_GT(swapped, 50);
  EXPECT_GT(pointer_arrays, 50);
}

}  // namespace
}  // namespace onnxd::cuda

namespace onnxd::cuda {
namespace {

int64_t OffsetOf(const StridedView& v, int64_t flat) {
  int64_t off = 0;
  for (size_t d = v.dims.size(); d-- > 0;) {
    off += (flat % v.dims[d]) * v.strides[d];
    flat /= v.dims[d];
  }
  return off;
}

// A reshape keeps the logical (row-major) order: element f of the reshaped view must be the buffer
// element that element f of the original view is.
void ExpectSameElements(const StridedView& before, const StridedView& after) {
  int64_t n = 1;
  for (int64_t d : before.dims) n *= d;
  for (int64_t f = 0; f < n; ++f) ASSERT_EQ(OffsetOf(after, f), OffsetOf(before, f)) << "element " << f;
}

TEST(ReshapeViewTest, RandomReshapesOfPermutedViews) {
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> dim(1, 4), rank(1, 5), coin(0, 2);
  int made = 0, splits_made = 0, splits = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    std::vector<int64_t> phys(rank(rng));
    for (auto& d : phys) d = dim(rng);
    const std::vector<int64_t> perm = RandomPerm(phys.size(), rng);
    const StridedView v = PermutedView(phys, perm);
    // A random reshape of the logical dims: split some axes, merge some neighbours, add/drop 1s.
    std::vector<int64_t> to;
    bool only_splits = true;
    for (size_t k = 0; k < v.dims.size(); ++k) {
      int64_t d = v.dims[k];
      if (coin(rng) == 0 && k + 1 < v.dims.size()) {
        d *= v.dims[++k];
        only_splits = false;
      }
      if (d == 4 && coin(rng) == 0) {
        to.push_back(2), to.push_back(2);
      } else if (d > 1 || coin(rng) != 0) {
        to.push_back(d);
      }
      if (coin(rng) == 0) to.push_back(1);
    }
    if (to.empty()) to.push_back(1);
    auto r = ReshapeView(v.dims, perm, to);
    splits += only_splits;
    if (!r) {
      // Splitting axes and adding or dropping 1s never needs data moved.
      EXPECT_FALSE(only_splits) << "trial " << trial;
      continue;
    }
    ++made;
    splits_made += only_splits;
    ASSERT_EQ(r->perm.size(), to.size());
    const StridedView after = PermutedView(r->phys, r->perm);
    ASSERT_EQ(after.dims, to);
    ExpectSameElements(v, after);
  }
  EXPECT_GT(made, 2000);
  EXPECT_EQ(splits_made, splits);
}

TEST(ReshapeViewTest, AttentionShapes) {
  // K of a dynamo export: [B,S,H,D] -> Transpose(0,2,1,3) -> Reshape [B*H, S, D] merges B and H,
  // which are not adjacent in memory: data must move.
  const std::vector<int64_t> phys = {2, 5, 3, 4}, perm = {0, 2, 1, 3};
  const StridedView v = PermutedView(phys, perm);
  EXPECT_FALSE(ReshapeView(v.dims, perm, std::vector<int64_t>{6, 5, 4}).has_value());
  // ... then Transpose(0,2,1) of the packed [B*H, S, D] and Reshape [B, H, D, S]: a split.
  const std::vector<int64_t> p2 = {6, 5, 4}, q2 = {0, 2, 1};
  const StridedView v2 = PermutedView(p2, q2);
  auto r = ReshapeView(v2.dims, q2, std::vector<int64_t>{2, 3, 4, 5});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->phys, (std::vector<int64_t>{2, 3, 5, 4}));
  EXPECT_EQ(r->perm, (std::vector<int64_t>{0, 1, 3, 2}));
  // Merging the heads back after the context Transpose: [B,S,H,D] view of [B,H,S,D] -> [B,S,H*D].
  EXPECT_FALSE(ReshapeView(std::vector<int64_t>{2, 5, 3, 4}, std::vector<int64_t>{0, 2, 1, 3},
                           std::vector<int64_t>{2, 5, 12}).has_value());
}

}  // namespace
}  // namespace onnxd::cuda
