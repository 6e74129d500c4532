// ArgMax / ArgMin's per-output computation for the CUDA kernel (kernels/cuda/misc_ops.cu runs
// ArgReduceIndex once per output element) and for the host: tests/engine/kernels/cuda/
// arg_reduce_math_test.cc runs it on the CPU against the CPU ops (ops/reduction_ops.cc), ties,
// select_last_index and NaN included. No CUDA dependency.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define ONNXD_ARG_REDUCE_FN __host__ __device__ inline
#else
#define ONNXD_ARG_REDUCE_FN inline
#endif

namespace onnxd::cuda {

// The input viewed as [outer, axis_len, inner] around the reduced axis; output element i (of
// outer * inner, packed) is the index along the axis of the max (kMax) or min of
// load(o * axis_len * inner + r * inner + k), with o = i / inner, k = i % inner. Ties go to the
// first index, or the last with `last` (select_last_index). The comparisons are the CPU op's, so
// NaN behaves alike: it never replaces the best, and a NaN at index 0 is never replaced. axis_len
// >= 1.
template <bool kMax, typename Load>
ONNXD_ARG_REDUCE_FN int64_t ArgReduceIndex(Load load, int64_t i, int64_t axis_len, int64_t inner, bool last) {
  const int64_t o = i / inner, k = i % inner;
  const int64_t base = o * axis_len * inner + k;
  float best = load(base);
  int64_t idx = 0;
  for (int64_t r = 1; r < axis_len; ++r) {
    const float v = load(base + r * inner);
    const bool better = kMax ? (last ? v >= best : v > best) : (last ? v <= best : v < best);
    if (better) {
      best = v;
      idx = r;
    }
  }
  return idx;
}

}  // namespace onnxd::cuda
