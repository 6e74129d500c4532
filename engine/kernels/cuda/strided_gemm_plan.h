// MatMul over strided operands as cuBLAS calls (host code only; tested on the CPU in
// tests/engine/kernels/cuda/strided_gemm_plan_test.cc).
//
// A MatMul whose operand comes from a Transpose, or whose result goes to one, need not move the
// data: cuBLAS reads and writes a matrix with any row stride (its leading dimension) as long as one
// of the two matrix axes is packed, and a batch of matrices with any stride between them. The
// attention of transformer exports is the case in point: Q, K and V are [B, S, H, D] projections
// transposed to [B, H, S, D] (K to [B, H, D, S]) for the two MatMuls, whose [B, H, S, D] result is
// transposed back; planned here, the four Transposes of each layer cost nothing.
//
// PlanStridedGemm takes the three operands as strided views (logical dims, element strides) and
// returns the cuBLAS-shaped description: one row-major GEMM (GemmArgs' conventions, see
// gemm_cuda.h) repeated over up to kMaxGemmBatchAxes batch axes, each with its own stride per
// operand, after merging what merges (broadcast batch folded into M, adjacent batch axes with
// compatible strides). One batch axis or none is one cublasGemmStridedBatchedEx call; more take a
// pointer array (cublasGemmBatchedEx).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#if defined(__CUDACC__)
#define ONNXD_GEMM_PLAN_FN __host__ __device__ inline
#else
#define ONNXD_GEMM_PLAN_FN inline
#endif

namespace onnxd::cuda {

inline constexpr int kMaxGemmBatchAxes = 6;

// A tensor as its elements are addressed: element (i_0, ..., i_{r-1}) is at sum(i_k * strides[k]).
struct StridedView {
  std::vector<int64_t> dims;
  std::vector<int64_t> strides;
};

// The packed strides of `dims` (row-major).
inline std::vector<int64_t> PackedStrides(std::span<const int64_t> dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t d = dims.size(); d-- > 1;) s[d - 1] = s[d] * dims[d];
  return s;
}

// A packed tensor of dims `phys` seen through a permutation: logical axis k is physical axis
// perm[k] (what Transpose(phys, perm) is, without moving anything). An empty perm is the identity.
inline StridedView PermutedView(std::span<const int64_t> phys, std::span<const int64_t> perm) {
  StridedView v;
  const std::vector<int64_t> ps = PackedStrides(phys);
  if (perm.empty()) {
    v.dims.assign(phys.begin(), phys.end());
    v.strides = ps;
    return v;
  }
  for (int64_t p : perm) {
    v.dims.push_back(phys[static_cast<size_t>(p)]);
    v.strides.push_back(ps[static_cast<size_t>(p)]);
  }
  return v;
}

// The packed tensor a permuted view stands over: phys[perm[k]] = dims[k] (dims as they are for an
// empty perm).
inline std::vector<int64_t> PhysicalDims(std::span<const int64_t> dims, std::span<const int64_t> perm) {
  std::vector<int64_t> phys(dims.begin(), dims.end());
  for (size_t k = 0; k < perm.size(); ++k) phys[static_cast<size_t>(perm[k])] = dims[k];
  return phys;
}

// The strided view of a value with logical dims `dims` held as a permuted view (`perm`; empty:
// packed).
inline StridedView ViewOfPermuted(std::span<const int64_t> dims, std::span<const int64_t> perm) {
  return PermutedView(PhysicalDims(dims, perm), perm);
}

// A permuted view (logical dims `dims`, logical axis k being physical axis perm[k] of a packed
// tensor) reshaped to `to` (same element count) without moving data: the new physical dims and
// perm, when the reshape only splits axes or merges axes that are also adjacent, in order, in the
// physical layout (axes of extent 1 go anywhere). Nothing otherwise, or for an empty tensor.
struct ReshapedView {
  std::vector<int64_t> phys, perm;
};
inline std::optional<ReshapedView> ReshapeView(std::span<const int64_t> dims, std::span<const int64_t> perm,
                                               std::span<const int64_t> to) {
  const size_t r = dims.size();
  if (perm.size() != r) return std::nullopt;
  const std::vector<int64_t> phys = PhysicalDims(dims, perm);
  // Physical axes of extent > 1, in memory order, and each one's position among them.
  std::vector<int64_t> pos(r, -1);
  int64_t kept = 0;
  for (size_t a = 0; a < r; ++a) {
    if (phys[a] == 0) return std::nullopt;
    if (phys[a] > 1) pos[a] = kept++;
  }
  std::vector<size_t> in_axes, out_axes;  // logical axes of extent > 1
  for (size_t k = 0; k < r; ++k)
    if (dims[k] > 1) in_axes.push_back(k);
  for (size_t k = 0; k < to.size(); ++k) {
    if (to[k] == 0) return std::nullopt;
    if (to[k] > 1) out_axes.push_back(k);
  }
  // Groups of input axes and output axes with equal products; each input group must be one run of
  // adjacent physical axes in order. group_of_phys[position] = group; a group's output axes.
  std::vector<int64_t> group_at(static_cast<size_t>(kept), -1);
  std::vector<std::pair<size_t, size_t>> group_out;  // [first, last] index into out_axes
  size_t i = 0, j = 0;
  while (i < in_axes.size() || j < out_axes.size()) {
    if (i >= in_axes.size() || j >= out_axes.size()) return std::nullopt;
    const size_t i0 = i, j0 = j;
    int64_t pa = dims[in_axes[i]], pb = to[out_axes[j]];
    while (pa != pb) {
      if (pa < pb) {
        if (++i >= in_axes.size()) return std::nullopt;
        pa *= dims[in_axes[i]];
      } else {
        if (++j >= out_axes.size()) return std::nullopt;
        pb *= to[out_axes[j]];
      }
    }
    const int64_t first = pos[static_cast<size_t>(perm[in_axes[i0]])];
    for (size_t t = i0; t <= i; ++t) {
      if (pos[static_cast<size_t>(perm[in_axes[t]])] != first + static_cast<int64_t>(t - i0)) return std::nullopt;
      group_at[static_cast<size_t>(first + static_cast<int64_t>(t - i0))] = static_cast<int64_t>(group_out.size());
    }
    group_out.push_back({j0, j});
    ++i;
    ++j;
  }
  // The new physical layout: each group's output dims where its input run was, in memory order;
  // then the output's extent-1 axes.
  ReshapedView v;
  v.perm.assign(to.size(), -1);
  for (int64_t p = 0; p < kept; ++p) {
    if (p > 0 && group_at[static_cast<size_t>(p)] == group_at[static_cast<size_t>(p - 1)]) continue;
    const auto [first, last] = group_out[static_cast<size_t>(group_at[static_cast<size_t>(p)])];
    for (size_t t = first; t <= last; ++t) {
      v.perm[out_axes[t]] = static_cast<int64_t>(v.phys.size());
      v.phys.push_back(to[out_axes[t]]);
    }
  }
  for (size_t k = 0; k < to.size(); ++k)
    if (to[k] == 1) {
      v.perm[k] = static_cast<int64_t>(v.phys.size());
      v.phys.push_back(1);
    }
  return v;
}

// The inverse permutation: inv[perm[k]] = k.
inline std::vector<int64_t> InversePerm(std::span<const int64_t> perm) {
  std::vector<int64_t> inv(perm.size());
  for (size_t k = 0; k < perm.size(); ++k) inv[static_cast<size_t>(perm[k])] = static_cast<int64_t>(k);
  return inv;
}

// Row-major GEMM per batch entry: C[M,N] = op(A) * op(B), with GemmArgs' conventions (op(A) is
// A[M,K] with row stride lda, or with trans_a A stored [K,M] with row stride lda; likewise B; C rows
// ldc apart). `swapped`: the caller's B is this plan's A and the caller's A its B (C was written
// transposed: C^T = B^T A^T).
struct StridedGemmPlan {
  bool swapped = false;
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  int batch_rank = 0;  // batch axes left after merging (0: one GEMM)
  int64_t batch_dims[kMaxGemmBatchAxes] = {};
  // Per batch axis, the element stride of each operand (of the plan's A and B: after the swap).
  int64_t stride_a[kMaxGemmBatchAxes] = {}, stride_b[kMaxGemmBatchAxes] = {}, stride_c[kMaxGemmBatchAxes] = {};
  ONNXD_GEMM_PLAN_FN int64_t batch_count() const {
    int64_t n_ = 1;
    for (int d = 0; d < batch_rank; ++d) n_ *= batch_dims[d];
    return n_;
  }
};

namespace strided_gemm_detail {

inline constexpr int64_t kMaxInt = std::numeric_limits<int>::max();

// One matrix operand [rows, cols] with strides (sr, sc): packed along cols (op N, ld = sr) or
// along rows (op T, ld = sc). Extents of 1 take any stride. False when neither axis is packed.
inline bool MatrixOperand(int64_t rows, int64_t cols, int64_t sr, int64_t sc, bool* trans, int64_t* ld) {
  if (cols == 1 || sc == 1) {
    *trans = false;
    *ld = rows == 1 ? std::max<int64_t>(cols, 1) : sr;
    if (*ld >= std::max<int64_t>(cols, 1) && *ld <= kMaxInt) return true;
  }
  if (rows == 1 || sr == 1) {
    *trans = true;
    *ld = cols == 1 ? std::max<int64_t>(rows, 1) : sc;
    if (*ld >= std::max<int64_t>(rows, 1) && *ld <= kMaxInt) return true;
  }
  return false;
}

}  // namespace strided_gemm_detail

// Plans C = A x B (numpy matmul) for strided views of rank >= 2 each: A [..., M, K], B [..., K, N],
// C [batch..., M, N] where batch is the broadcast of A's and B's batch dims (the caller checks the
// shapes agree; rank-1 operands are promoted by the caller). Nothing when some operand has neither
// matrix axis packed, C's N axis and M axis both unpacked, or a leading dimension beyond int.
inline std::optional<StridedGemmPlan> PlanStridedGemm(const StridedView& a_in, const StridedView& b_in,
                                                      const StridedView& c) {
  using strided_gemm_detail::MatrixOperand;
  const size_t ra = a_in.dims.size(), rb = b_in.dims.size(), rc = c.dims.size();
  if (ra < 2 || rb < 2 || rc < 2 || a_in.strides.size() != ra || b_in.strides.size() != rb || c.strides.size() != rc)
    return std::nullopt;
  const int64_t m = c.dims[rc - 2], n = c.dims[rc - 1], k = a_in.dims[ra - 1];
  StridedGemmPlan p;
  // Matrix strides of each operand as the plan sees them; swapped: A' = B^T, B' = A^T, C' = C^T.
  int64_t a_sr = a_in.strides[ra - 2], a_sc = a_in.strides[ra - 1];
  int64_t b_sr = b_in.strides[rb - 2], b_sc = b_in.strides[rb - 1];
  int64_t c_sr = c.strides[rc - 2], c_sc = c.strides[rc - 1];
  int64_t pm = m, pn = n;
  if (!(n == 1 || c_sc == 1)) {
    if (!(m == 1 || c_sr == 1)) return std::nullopt;
    // C is packed down its columns: write C^T[N, M] = B^T[N, K] * A^T[K, M] instead.
    p.swapped = true;
    pm = n;
    pn = m;
    const int64_t a2_sr = b_sc, a2_sc = b_sr, b2_sr = a_sc, b2_sc = a_sr;
    a_sr = a2_sr, a_sc = a2_sc, b_sr = b2_sr, b_sc = b2_sc;
    std::swap(c_sr, c_sc);
  }
  if (!MatrixOperand(pm, k, a_sr, a_sc, &p.trans_a, &p.lda)) return std::nullopt;
  if (!MatrixOperand(k, pn, b_sr, b_sc, &p.trans_b, &p.ldb)) return std::nullopt;
  bool c_trans = false;
  if (!MatrixOperand(pm, pn, c_sr, c_sc, &c_trans, &p.ldc) || c_trans) return std::nullopt;
  p.m = pm;
  p.n = pn;
  p.k = k;
  // Batch axes of C, with each operand's stride along them (0 where it broadcasts).
  const size_t r = rc - 2;
  if (ra - 2 > r || rb - 2 > r) return std::nullopt;
  struct Axis {
    int64_t dim, sa, sb, sc;
  };
  std::vector<Axis> axes;
  for (size_t d = 0; d < r; ++d) {
    Axis ax{c.dims[d], 0, 0, c.strides[d]};
    if (ax.dim == 1) continue;  // contributes nothing
    const size_t off_a = r - (ra - 2), off_b = r - (rb - 2);
    if (d >= off_a) {
      const int64_t ad = a_in.dims[d - off_a];
      if (ad != 1 && ad != ax.dim) return std::nullopt;
      ax.sa = ad == 1 ? 0 : a_in.strides[d - off_a];
    }
    if (d >= off_b) {
      const int64_t bd = b_in.dims[d - off_b];
      if (bd != 1 && bd != ax.dim) return std::nullopt;
      ax.sb = bd == 1 ? 0 : b_in.strides[d - off_b];
    }
    if (p.swapped) std::swap(ax.sa, ax.sb);
    axes.push_back(ax);
  }
  // B' shared by the innermost batch axis, and A' and C' stepping over it by whole M-row blocks:
  // the axis is more rows of one GEMM ([batch * M, K] x [K, N]).
  while (!axes.empty() && axes.back().sb == 0 && !p.trans_a) {
    const Axis& ax = axes.back();
    if (p.m == 1) {
      if (ax.sa < std::max<int64_t>(k, 1) || ax.sc < std::max<int64_t>(pn, 1) || ax.sa > strided_gemm_detail::kMaxInt ||
          ax.sc > strided_gemm_detail::kMaxInt)
        break;
      p.lda = ax.sa;
      p.ldc = ax.sc;
    } else if (ax.sa != p.m * p.lda || ax.sc != p.m * p.ldc) {
      break;
    }
    p.m *= ax.dim;
    axes.pop_back();
  }
  // Adjacent batch axes whose outer stride is the inner one's span, for all three, are one axis.
  std::vector<Axis> merged;
  for (const Axis& ax : axes) {
    if (!merged.empty()) {
      Axis& o = merged.back();
      if (o.sa == ax.sa * ax.dim && o.sb == ax.sb * ax.dim && o.sc == ax.sc * ax.dim) {
        o.dim *= ax.dim;
        o.sa = ax.sa, o.sb = ax.sb, o.sc = ax.sc;
        continue;
      }
    }
    merged.push_back(ax);
  }
  if (merged.size() > static_cast<size_t>(kMaxGemmBatchAxes)) return std::nullopt;
  p.batch_rank = static_cast<int>(merged.size());
  for (int d = 0; d < p.batch_rank; ++d) {
    p.batch_dims[d] = merged[d].dim;
    p.stride_a[d] = merged[d].sa;
    p.stride_b[d] = merged[d].sb;
    p.stride_c[d] = merged[d].sc;
  }
  return p;
}

// Element offsets of batch entry `index` (0 <= index < batch_count(), the last axis fastest); the
// device fills pointer arrays with it.
ONNXD_GEMM_PLAN_FN void BatchOffsets(const StridedGemmPlan& p, int64_t index, int64_t* off_a, int64_t* off_b, int64_t* off_c) {
  int64_t a = 0, b = 0, c = 0;
  for (int d = p.batch_rank; d-- > 0;) {
    const int64_t i = index % p.batch_dims[d];
    index /= p.batch_dims[d];
    a += i * p.stride_a[d];
    b += i * p.stride_b[d];
    c += i * p.stride_c[d];
  }
  *off_a = a, *off_b = b, *off_c = c;
}

}  // namespace onnxd::cuda
