// Transposes that keep the last axis in place (attention's [B,S,H,D] -> [B,H,S,D]) move whole
// rows: one index computation per row piece instead of per element, and the pieces copied 16
// bytes at a time when the rows allow. Host and device code; the index math is tested on the CPU
// (tests/engine/kernels/cuda/shape_collapse_test.cc).
#pragma once

#include <cstdint>

#include "kernels/cuda/shape_collapse.h"

#if defined(__CUDACC__)
#define ONNXD_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define ONNXD_HOST_DEVICE inline
#endif

namespace onnxd::cuda {

struct TransposeRows {
  int outer_rank = 0;                             // the axes before the kept last one
  int64_t out_dims[kMaxCollapsedRank - 1] = {};   // their extents, in output order
  int64_t in_strides[kMaxCollapsedRank - 1] = {}; // the input stride (elements) of each
  int64_t row = 1;                                // elements in a row (the last axis)
};

// For a collapsed transpose whose last axis stays last (c.perm[c.rank - 1] == c.rank - 1).
inline TransposeRows MakeTransposeRows(const CollapsedTranspose& c) {
  TransposeRows t;
  int64_t in_stride[kMaxCollapsedRank];
  int64_t stride = 1;
  for (int d = c.rank - 1; d >= 0; --d) {
    in_stride[d] = stride;
    stride *= c.in_dims[d];
  }
  t.outer_rank = c.rank - 1;
  for (int k = 0; k < t.outer_rank; ++k) {
    t.out_dims[k] = c.in_dims[c.perm[k]];
    t.in_strides[k] = in_stride[c.perm[k]];
  }
  t.row = c.in_dims[c.rank - 1];
  return t;
}

// The input element offset where output row `out_row` starts.
// Over every slot (a constant trip count, which the device compiler unrolls: constant indices keep
// the dims and strides in registers), those past outer_rank skipped.
ONNXD_HOST_DEVICE int64_t TransposeRowSource(const TransposeRows& t, int64_t out_row) {
  int64_t rem = out_row, src = 0;
  for (int d = kMaxCollapsedRank - 2; d >= 0; --d) {
    if (d >= t.outer_rank) continue;
    const int64_t c = rem % t.out_dims[d];
    rem /= t.out_dims[d];
    src += c * t.in_strides[d];
  }
  return src;
}

}  // namespace onnxd::cuda
