#include "kernels/cuda/transpose.h"

#include <type_traits>

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/grid_stride.h"
#include "kernels/cuda/shape_collapse.h"
#include "kernels/cuda/transpose_rows.h"
#include "kernels/cuda/tensor_shape.h"

namespace onnxd::cuda {
namespace {

// One thread per output element over the collapsed axes (shape_collapse.h): decompose the output
// index over the output dims and gather with the input strides permuted into output order. Writes
// are coalesced; reads are too when the last axis stays last (whole rows move).
// kRank is a template argument so that the dims and strides stay in registers (a loop bound known
// only at run time indexes the parameter arrays through local memory).
template <typename T, typename Index, int kRank>
__global__ void TransposeKernel(const T* __restrict__ in, T* __restrict__ out, Index n, KernelShape out_shape,
                                KernelShape in_strides) {
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    Index rem = i, src = 0;
#pragma unroll
    for (int d = kRank - 1; d >= 0; --d) {
      const Index dim = static_cast<Index>(out_shape.dims[d]);
      const Index c = rem % dim;
      rem /= dim;
      src += c * static_cast<Index>(in_strides.strides[d]);
    }
    out[i] = in[src];
  }
}

// A transpose keeping its last axis: output unit i (a 16-byte piece of a row, or one element) is
// piece i % per_row of output row i / per_row, which starts at TransposeRowSource in the input.
template <typename V>
__global__ void TransposeRowsKernel(const V* __restrict__ in, V* __restrict__ out, int64_t total, int64_t per_row,
                                    TransposeRows rows, int64_t unit) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / per_row, k = i - r * per_row;
    out[i] = in[TransposeRowSource(rows, r) / unit + k];
  }
}

// [A, X, Y] -> [A, Y, X] through 32x32 tiles in shared memory, so that both the reads and the
// writes are coalesced (NCHW <-> NHWC, K^T in attention). Block 32x8; grid (Y tiles, X tiles, A).
constexpr int kTile = 32;
template <typename T>
__global__ void TransposeTiledKernel(const T* __restrict__ in, T* __restrict__ out, int64_t batches, int x_len,
                                     int y_len) {
  __shared__ T tile[kTile][kTile + 1];
  const int x0 = blockIdx.y * kTile, y0 = blockIdx.x * kTile;
  const int64_t plane = static_cast<int64_t>(x_len) * y_len;
  for (int64_t a = blockIdx.z; a < batches; a += gridDim.z) {
    const T* src = in + a * plane;
    T* dst = out + a * plane;
    for (int j = threadIdx.y; j < kTile; j += blockDim.y) {
      const int x = x0 + j, y = y0 + threadIdx.x;
      if (x < x_len && y < y_len) tile[j][threadIdx.x] = src[static_cast<int64_t>(x) * y_len + y];
    }
    __syncthreads();
    for (int j = threadIdx.y; j < kTile; j += blockDim.y) {
      const int y = y0 + j, x = x0 + threadIdx.x;
      if (y < y_len && x < x_len) dst[static_cast<int64_t>(y) * x_len + x] = tile[threadIdx.x][j];
    }
    __syncthreads();
  }
}

template <typename T>
Status Launch(const T* in, std::span<const int64_t> in_shape, std::span<const int64_t> perm, T* out,
              cudaStream_t stream) {
  const int full_rank = static_cast<int>(in_shape.size());
  if (full_rank > kMaxRank) return Unimplemented("Transpose: rank > 6");
  if (static_cast<int>(perm.size()) != full_rank) return InvalidArgument("Transpose: perm length differs from the rank");
  bool seen[kMaxRank] = {};
  for (int64_t p : perm) {
    if (p < 0 || p >= full_rank || seen[p]) return InvalidArgument("Transpose: perm is not a permutation");
    seen[p] = true;
  }
  const int64_t n = NumElements(in_shape);
  if (n == 0) return Status::Ok();
  const CollapsedTranspose c = CollapseTranspose(in_shape, perm);
  if (c.rank <= 1)
    return CudaStatus(cudaMemcpyAsync(out, in, static_cast<size_t>(n) * sizeof(T), cudaMemcpyDeviceToDevice, stream),
                      "Transpose copy");
  // A batched 2-D transpose: [X, Y] -> [Y, X] or [A, X, Y] -> [A, Y, X].
  const bool two_d = c.rank == 2 || (c.rank == 3 && c.perm[0] == 0);
  if (two_d) {
    const int64_t batches = c.rank == 3 ? c.in_dims[0] : 1;
    const int64_t x_len = c.in_dims[c.rank - 2], y_len = c.in_dims[c.rank - 1];
    const int64_t x_tiles = (x_len + kTile - 1) / kTile, y_tiles = (y_len + kTile - 1) / kTile;
    if (x_len <= 0x7fffffff && y_len <= 0x7fffffff && x_tiles <= 65535 && y_tiles <= 0x7fffffff) {
      const dim3 grid(static_cast<unsigned>(y_tiles), static_cast<unsigned>(x_tiles),
                      static_cast<unsigned>(batches < 65535 ? batches : 65535));
      TransposeTiledKernel<T><<<grid, dim3(kTile, 8), 0, stream>>>(in, out, batches, static_cast<int>(x_len),
                                                                   static_cast<int>(y_len));
      return CudaStatus(cudaGetLastError(), "Transpose launch");
    }
  }
  constexpr int kBlock = 256;
  // Rows of a multiple of 16 bytes move in 16-byte pieces; other rows go element by element
  // through the general kernel below (its index math is 32-bit and unrolled).
  if (c.perm[c.rank - 1] == c.rank - 1) {
    const TransposeRows rows = MakeTransposeRows(c);
    const bool aligned = reinterpret_cast<uintptr_t>(in) % 16 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0;
    if (aligned && (rows.row * static_cast<int64_t>(sizeof(T))) % 16 == 0) {
      const int64_t unit = 16 / static_cast<int64_t>(sizeof(T));  // elements in 16 bytes
      const int64_t total = n / unit;
      TransposeRowsKernel<uint4><<<GridBlocks(total, kBlock), kBlock, 0, stream>>>(
          reinterpret_cast<const uint4*>(in), reinterpret_cast<uint4*>(out), total, rows.row / unit, rows, unit);
      return CudaStatus(cudaGetLastError(), "Transpose launch");
    }
  }
  int64_t in_stride[kMaxRank];
  int64_t stride = 1;
  for (int d = c.rank - 1; d >= 0; --d) {
    in_stride[d] = stride;
    stride *= c.in_dims[d];
  }
  KernelShape out_shape, in_strides;
  for (int d = 0; d < c.rank; ++d) {
    out_shape.dims[d] = c.in_dims[c.perm[d]];
    in_strides.strides[d] = in_stride[c.perm[d]];
  }
  const int grid = GridBlocks(n, kBlock);
  // The collapsed rank is 2 to 6 here (rank <= 1 was a copy).
  auto launch = [&](auto rank_tag) {
    constexpr int kRank = decltype(rank_tag)::value;
    if (FitsInt32GridStride(n, kBlock))
      TransposeKernel<T, int32_t, kRank><<<grid, kBlock, 0, stream>>>(in, out, static_cast<int32_t>(n), out_shape,
                                                                      in_strides);
    else
      TransposeKernel<T, int64_t, kRank><<<grid, kBlock, 0, stream>>>(in, out, n, out_shape, in_strides);
  };
  switch (c.rank) {
    case 2: launch(std::integral_constant<int, 2>()); break;
    case 3: launch(std::integral_constant<int, 3>()); break;
    case 4: launch(std::integral_constant<int, 4>()); break;
    case 5: launch(std::integral_constant<int, 5>()); break;
    default: launch(std::integral_constant<int, 6>()); break;
  }
  return CudaStatus(cudaGetLastError(), "Transpose launch");
}

}  // namespace

Status Transpose(const float* in, std::span<const int64_t> in_shape, std::span<const int64_t> perm, float* out,
                 cudaStream_t stream) {
  return Launch(in, in_shape, perm, out, stream);
}

Status Transpose(const __half* in, std::span<const int64_t> in_shape, std::span<const int64_t> perm, __half* out,
                 cudaStream_t stream) {
  return Launch(in, in_shape, perm, out, stream);
}

}  // namespace onnxd::cuda
