// Shape collapsing for the CUDA data-movement kernels (host code only; tested on the CPU in
// tests/engine/kernels/cuda/shape_collapse_test.cc). Fewer, longer axes mean less index arithmetic per element
// and let the kernels recognise the cases they have fast paths for:
//   - a transpose keeping its last axis copies whole rows;
//   - [A, X, Y] -> [A, Y, X] (NCHW <-> NHWC, K^T in attention) is a tiled 2-D transpose;
//   - a broadcast operand spanning whole trailing axes is a row.
#pragma once

#include <cstdint>
#include <span>

namespace onnxd::cuda {

inline constexpr int kMaxCollapsedRank = 6;

// out[i_0, ..., i_{r-1}] = in[...] with out axis k being in axis perm[k].
struct CollapsedTranspose {
  int rank = 0;
  int64_t in_dims[kMaxCollapsedRank] = {};  // the input's dims after collapsing
  int perm[kMaxCollapsedRank] = {};
};

// Drops axes of extent 1 and merges input axes that stay next to each other, in order, in the
// output. `in_shape` and `perm` must describe a valid transpose of rank <= kMaxCollapsedRank.
inline CollapsedTranspose CollapseTranspose(std::span<const int64_t> in_shape, std::span<const int64_t> perm) {
  const int rank = static_cast<int>(in_shape.size());
  // Input axes kept (extent > 1), renumbered.
  int new_index[kMaxCollapsedRank];
  int kept = 0;
  for (int d = 0; d < rank; ++d) new_index[d] = in_shape[d] == 1 ? -1 : kept++;
  int64_t dims[kMaxCollapsedRank];
  for (int d = 0; d < rank; ++d)
    if (new_index[d] >= 0) dims[new_index[d]] = in_shape[d];
  int p[kMaxCollapsedRank];
  int pr = 0;
  for (int k = 0; k < rank; ++k)
    if (new_index[perm[k]] >= 0) p[pr++] = new_index[perm[k]];
  // Merge output-consecutive pairs that are input-consecutive too: (a, a + 1) becomes one axis.
  // group_of[input axis] = the merged axis it belongs to (the first axis of its run).
  CollapsedTranspose c;
  int group_first[kMaxCollapsedRank];  // per output run: its first input axis
  int64_t group_extent[kMaxCollapsedRank];
  int runs = 0;
  for (int k = 0; k < pr; ++k) {
    if (k > 0 && p[k] == p[k - 1] + 1) {
      group_extent[runs - 1] *= dims[p[k]];
    } else {
      group_first[runs] = p[k];
      group_extent[runs] = dims[p[k]];
      ++runs;
    }
  }
  // Runs ordered by their first input axis give the collapsed input; perm follows the output.
  int order[kMaxCollapsedRank];  // input position of each run
  for (int r = 0; r < runs; ++r) {
    int pos = 0;
    for (int q = 0; q < runs; ++q) pos += group_first[q] < group_first[r] ? 1 : 0;
    order[r] = pos;
  }
  c.rank = runs;
  for (int r = 0; r < runs; ++r) {
    c.in_dims[order[r]] = group_extent[r];
    c.perm[r] = order[r];
  }
  return c;
}

// Up to three operands broadcast to `out` (numpy rules; each operand's shape right-aligned).
struct CollapsedBroadcast {
  int rank = 0;
  int64_t out_dims[kMaxCollapsedRank] = {};
  int64_t strides[3][kMaxCollapsedRank] = {};  // per operand, in elements; 0 on broadcast axes
};

// Drops output axes of extent 1 and merges neighbouring axes on which every operand is either
// full on both or broadcast on both. `out` has rank <= kMaxCollapsedRank and every operand
// broadcasts to it.
inline CollapsedBroadcast CollapseBroadcast(std::span<const int64_t> out, std::span<const std::span<const int64_t>> ops) {
  const int rank = static_cast<int>(out.size());
  const int n_ops = static_cast<int>(ops.size());
  // full[o][d]: operand o spans output axis d (else it repeats along it).
  bool full[3][kMaxCollapsedRank] = {};
  for (int o = 0; o < n_ops; ++o) {
    const int off = rank - static_cast<int>(ops[o].size());
    for (int d = 0; d < rank; ++d) full[o][d] = d >= off && ops[o][d - off] != 1;
  }
  CollapsedBroadcast c;
  int64_t dims[kMaxCollapsedRank];
  bool f[3][kMaxCollapsedRank] = {};
  int r = 0;
  for (int d = 0; d < rank; ++d) {
    if (out[d] == 1) continue;
    bool same = r > 0;
    for (int o = 0; o < n_ops && same; ++o) same = f[o][r - 1] == full[o][d];
    if (same) {
      dims[r - 1] *= out[d];
    } else {
      dims[r] = out[d];
      for (int o = 0; o < n_ops; ++o) f[o][r] = full[o][d];
      ++r;
    }
  }
  c.rank = r;
  for (int d = 0; d < r; ++d) c.out_dims[d] = dims[d];
  for (int o = 0; o < n_ops; ++o) {
    int64_t stride = 1;
    for (int d = r - 1; d >= 0; --d) {
      c.strides[o][d] = f[o][d] ? stride : 0;
      if (f[o][d]) stride *= dims[d];
    }
  }
  return c;
}

}  // namespace onnxd::cuda
