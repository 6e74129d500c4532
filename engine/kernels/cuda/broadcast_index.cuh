// Device side of shape_collapse.h: the operands' element offsets for output element i of a
// collapsed broadcast. Index is int32_t when the output has fewer than 2^31 elements (the
// divisions are several times cheaper), else int64_t.
#pragma once

#include <cstdint>

#include "kernels/cuda/shape_collapse.h"

namespace onnxd::cuda {

template <int kOps, typename Index>
__device__ __forceinline__ void BroadcastOffsets(const CollapsedBroadcast& c, Index i, Index (&off)[kOps]) {
#pragma unroll
  for (int o = 0; o < kOps; ++o) off[o] = 0;
  // Unrolled over every slot (constant indices keep the dims and strides out of local memory);
  // slots past the rank are skipped, the same way by every thread.
#pragma unroll
  for (int d = kMaxCollapsedRank - 1; d >= 0; --d) {
    if (d >= c.rank) continue;
    const Index dim = static_cast<Index>(c.out_dims[d]);
    const Index k = i % dim;
    i /= dim;
#pragma unroll
    for (int o = 0; o < kOps; ++o) off[o] += k * static_cast<Index>(c.strides[o][d]);
  }
}

}  // namespace onnxd::cuda
