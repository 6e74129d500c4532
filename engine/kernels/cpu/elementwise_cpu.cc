#include "kernels/cpu/elementwise_cpu.h"

namespace onnxd::engine {

bool BroadcastPlan::Init(const Shape& out, const Shape* const* ins, int n) {
  num_inputs = n;
  total = out.NumElements();
  rank = 0;
  const int out_rank = out.rank();
  bool prev_bcast[kMaxInputs] = {};
  for (int i = 0; i < out_rank; ++i) {
    const int64_t d = out[i];
    if (d == 1) continue;
    bool bcast[kMaxInputs];
    for (int k = 0; k < n; ++k) {
      const Shape& s = *ins[k];
      const int j = i - (out_rank - s.rank());
      bcast[k] = j < 0 || s[j] == 1;
    }
    bool merge = rank > 0;
    for (int k = 0; k < n && merge; ++k) merge = bcast[k] == prev_bcast[k];
    if (merge) {
      dims[rank - 1] *= d;
    } else {
      if (rank == kMaxRank) return false;
      dims[rank] = d;
      for (int k = 0; k < n; ++k) strides[k][rank] = bcast[k] ? 0 : 1;  // marker, fixed below
      ++rank;
    }
    for (int k = 0; k < n; ++k) prev_bcast[k] = bcast[k];
  }
  if (rank == 0) {
    rank = 1;
    dims[0] = 1;
    for (int k = 0; k < n; ++k) strides[k][0] = 0;
    return true;
  }
  for (int k = 0; k < n; ++k) {
    int64_t s = 1;
    for (int j = rank - 1; j >= 0; --j) {
      if (strides[k][j] != 0) {
        strides[k][j] = s;
        s *= dims[j];
      }
    }
  }
  return true;
}

}  // namespace onnxd::engine
