// Pad, Tile, Trilu, CumSum, TopK, PRelu, ArgMax / ArgMin and InstanceNormalization on the GPU. Pad and Tile are copy
// kernels that move elements by size (1, 2, 4 or 8 bytes), so one kernel serves every element type
// of that size; their per-element index arithmetic and the host set-up that validates a node's
// pads / repeats are in kernels/cuda/pad_tile_math.h (tested on the CPU), ArgMax / ArgMin's in
// kernels/cuda/arg_reduce_math.h. Pointers are device memory; calls queue on `stream` and return
// at once; an empty output queues nothing.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <span>

#include "kernels/cuda/arg_reduce_math.h"
#include "kernels/cuda/pad_tile_math.h"
#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// out (g.out_dims, packed) = Pad(in) by g (MakePadGeometry). `constant` holds the padding value's
// bits in its low `elem_size` bytes (kConstant only).
Status Pad(const void* in, void* out, const PadTileGeometry& g, uint64_t constant, int elem_size, cudaStream_t stream);

// out (g.out_dims, packed) = Tile(in) by g (MakeTileGeometry).
Status Tile(const void* in, void* out, const PadTileGeometry& g, int elem_size, cudaStream_t stream);

// Trilu over the last two axes of `n` elements of [..., rows, cols]: y = x where the element's
// column - row >= k (upper) or <= k (lower), else 0 (all bits clear). Any element size 1, 2, 4, 8.
Status Trilu(const void* in, void* out, int64_t n, int64_t rows, int64_t cols, int64_t k, bool upper, int elem_size,
             cudaStream_t stream);

// CumSum: x viewed as [outer, len, inner]; each of the outer * inner lines summed along len in order
// (reversed when `reverse`), out[t] = the sum before t (exclusive) or through t. One thread a line,
// adding in the CPU op's order: fp32 for float and fp16 (rounded once at each store), int32 and
// int64 wrap as they do there, double in double.
template <typename T>
Status CumSum(const T* in, T* out, int64_t outer, int64_t len, int64_t inner, bool exclusive, bool reverse,
              cudaStream_t stream);

// TopK along one axis: x viewed as [outer, len, inner], len <= kTopKMaxLen (the caller falls back
// beyond). For each line, the k largest (or smallest) values, sorted, into values / indices
// ([outer, k, inner], packed) with the CPU op's order: NaN above every number, -0 equal to 0, equal
// values by lower index. One block a line sorts (key, index) pairs in shared memory (bitonic).
// values or indices may be null (that output is not wanted).
inline constexpr int64_t kTopKMaxLen = 2048;
template <typename T>
Status TopK(const T* x, int64_t outer, int64_t len, int64_t inner, int64_t k, bool largest, T* values,
            int64_t* indices, cudaStream_t stream);

// PRelu: out (x's shape, packed) = x < 0 ? slope * x : x, with slope broadcast to x (numpy rules,
// unidirectional: the caller checks that the broadcast shape is x's). Rank <= 6; fp32 arithmetic.
Status PRelu(const float* x, std::span<const int64_t> x_shape, const float* slope,
             std::span<const int64_t> slope_shape, float* out, cudaStream_t stream);
Status PRelu(const __half* x, std::span<const int64_t> x_shape, const __half* slope,
             std::span<const int64_t> slope_shape, __half* out, cudaStream_t stream);

// ArgMax (max) / ArgMin: x viewed as [outer, axis_len, inner]; out[o * inner + k] (int64) is
// ArgReduceIndex (kernels/cuda/arg_reduce_math.h) for each of the outer * inner outputs.
// axis_len >= 1 when there are outputs. fp32 comparisons.
Status ArgReduce(bool max, const float* x, int64_t outer, int64_t axis_len, int64_t inner, bool select_last,
                 int64_t* out, cudaStream_t stream);
Status ArgReduce(bool max, const __half* x, int64_t outer, int64_t axis_len, int64_t inner, bool select_last,
                 int64_t* out, cudaStream_t stream);

// InstanceNormalization: x and y are [rows = N * channels, inner], packed; row r is normalised by
// its own mean and (biased) variance, then scaled and shifted by scale / bias[r % channels]:
//   y = (x - mean) / sqrt(var + epsilon) * scale[c] + bias[c]
// in fp32 (two passes over the row). x == y is allowed.
Status InstanceNorm(const float* x, float* y, int64_t rows, int64_t channels, int64_t inner, const float* scale,
                    const float* bias, float epsilon, cudaStream_t stream);
Status InstanceNorm(const __half* x, __half* y, int64_t rows, int64_t channels, int64_t inner, const __half* scale,
                    const __half* bias, float epsilon, cudaStream_t stream);

// GroupNormalization: x and y are [N, groups * group_channels, spatial], packed; each (n, group) is
// normalised by its own mean and (biased) variance over its group_channels * spatial values, then
// channel c of group g takes scale / bias[per_group ? g : g * group_channels + c] (opset 18's
// per-group parameters, opset 21's per-channel ones). fp32 math. InstanceNorm is the case
// group_channels = 1.
struct GroupNormShape {
  int64_t n = 0, groups = 0, group_channels = 0, spatial = 0;
  bool per_group = false;
};
Status GroupNorm(const float* x, float* y, const GroupNormShape& s, const float* scale, const float* bias,
                 float epsilon, cudaStream_t stream);
Status GroupNorm(const __half* x, __half* y, const GroupNormShape& s, const __half* scale, const __half* bias,
                 float epsilon, cudaStream_t stream);

}  // namespace onnxd::cuda
