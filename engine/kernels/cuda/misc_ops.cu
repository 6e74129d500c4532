#include "kernels/cuda/misc_ops.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/cuda/binary_elementwise.h"
#include "kernels/cuda/by_size.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/grid_stride.h"
#include "kernels/cuda/row_reduce.cuh"
#include "kernels/cuda/tensor_shape.h"

namespace onnxd::cuda {
namespace {

constexpr int kBlock = kGridStrideBlock;

// Index is int32_t when the output and the input both have fewer elements than the int32 grid
// stride allows (grid_stride.h), else int64_t.
template <typename E, typename Index>
__global__ void PadKernel(const E* __restrict__ in, E* __restrict__ out, Index n, PadTileGeometry g, E constant) {
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index src = PadSourceOffset<Index>(g, i);
    out[i] = src < 0 ? constant : in[src];
  }
}

template <typename E, typename Index>
__global__ void TileKernel(const E* __restrict__ in, E* __restrict__ out, Index n, PadTileGeometry g) {
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<Index>(gridDim.x) * blockDim.x)
    out[i] = in[TileSourceOffset<Index>(g, i)];
}

int64_t InputElements(const PadTileGeometry& g) {
  int64_t n = 1;
  for (int d = 0; d < g.rank; ++d) n *= g.in_dims[d];
  return n;
}

template <typename T>
Status LaunchPRelu(const T* x, std::span<const int64_t> xs, const T* slope, std::span<const int64_t> ss, T* out,
                   cudaStream_t stream) {
  if (xs.size() > static_cast<size_t>(kMaxRank) || ss.size() > static_cast<size_t>(kMaxRank))
    return Unimplemented("PRelu: rank above 6 on the GPU");
  auto shape = BroadcastShape(xs, ss);
  if (!shape.ok()) return shape.status();
  if (!std::equal(shape->begin(), shape->end(), xs.begin(), xs.end()))
    return InvalidArgument("PRelu: the slope does not broadcast to X");
  // The output is X's shape: the binary elementwise kernels (with their flat and row paths).
  return BinaryElementwise(BinaryOp::kPRelu, x, xs, slope, ss, out, stream);
}

// One thread an output: it walks the reduced axis (stride `inner`, so neighbouring threads read
// neighbouring elements when inner > 1).
template <bool kMax, typename T>
__global__ void ArgReduceKernel(const T* __restrict__ x, int64_t n, int64_t axis_len, int64_t inner, bool last,
                                int64_t* __restrict__ out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = ArgReduceIndex<kMax>([x](int64_t k) { return ToFloat(x[k]); }, i, axis_len, inner, last);
}

template <typename T>
Status LaunchArgReduce(bool max, const T* x, int64_t outer, int64_t axis_len, int64_t inner, bool last, int64_t* out,
                       cudaStream_t stream) {
  const int64_t n = outer * inner;
  if (n <= 0) return Status::Ok();
  if (axis_len < 1) return InvalidArgument("ArgMax / ArgMin over an empty axis");
  if (max) ArgReduceKernel<true, T><<<GridBlocks(n), kBlock, 0, stream>>>(x, n, axis_len, inner, last, out);
  else ArgReduceKernel<false, T><<<GridBlocks(n), kBlock, 0, stream>>>(x, n, axis_len, inner, last, out);
  return CudaStatus(cudaGetLastError(), "ArgReduce launch");
}

// One block a row, a row being one (image, group) (row_reduce.cuh): the mean, then the variance
// about it, then each channel's affine map.
template <typename T>
__global__ void GroupNormKernel(const T* x, T* y, GroupNormShape s, const T* scale, const T* bias, float epsilon) {
  __shared__ float shared[32];
  const int64_t row = blockIdx.x;
  const int64_t inner = s.group_channels * s.spatial;
  const T* xr = x + row * inner;
  T* yr = y + row * inner;
  const float2 mv = BlockMeanVariance([xr](long long i) { return ToFloat(xr[i]); }, inner, shared);
  const int64_t g = row % s.groups;
  const float deviation = sqrtf(mv.y + epsilon);
  for (int64_t c = 0; c < s.group_channels; ++c) {
    const int64_t pi = s.per_group ? g : g * s.group_channels + c;
    const float a = ToFloat(scale[pi]) / deviation;
    const float b = ToFloat(bias[pi]) - mv.x * a;
    const T* xc = xr + c * s.spatial;
    T* yc = yr + c * s.spatial;
    for (int64_t i = threadIdx.x; i < s.spatial; i += blockDim.x) yc[i] = FromFloat<T>(ToFloat(xc[i]) * a + b);
  }
}

template <typename T>
Status LaunchGroupNorm(const T* x, T* y, const GroupNormShape& s, const T* scale, const T* bias, float epsilon,
                       cudaStream_t stream) {
  const int64_t rows = s.n * s.groups, inner = s.group_channels * s.spatial;
  if (rows <= 0 || inner <= 0) return Status::Ok();
  if (rows > 0x7fffffff) return Unimplemented("GroupNorm: more than 2^31-1 rows");
  // The block strides over a channel's spatial values: no wider than they are.
  GroupNormKernel<T><<<static_cast<unsigned>(rows), RowBlockSize(s.group_channels == 1 ? inner : s.spatial), 0,
                       stream>>>(x, y, s, scale, bias, epsilon);
  return CudaStatus(cudaGetLastError(), "GroupNorm launch");
}

template <typename T>
Status LaunchInstanceNorm(const T* x, T* y, int64_t rows, int64_t channels, int64_t inner, const T* scale,
                          const T* bias, float epsilon, cudaStream_t stream) {
  if (channels <= 0) return Status::Ok();
  GroupNormShape s;
  s.n = rows / channels;
  s.groups = channels;
  s.group_channels = 1;
  s.spatial = inner;
  return LaunchGroupNorm(x, y, s, scale, bias, epsilon, stream);
}

}  // namespace

Status InstanceNorm(const float* x, float* y, int64_t rows, int64_t channels, int64_t inner, const float* scale,
                    const float* bias, float epsilon, cudaStream_t stream) {
  return LaunchInstanceNorm(x, y, rows, channels, inner, scale, bias, epsilon, stream);
}

Status InstanceNorm(const __half* x, __half* y, int64_t rows, int64_t channels, int64_t inner, const __half* scale,
                    const __half* bias, float epsilon, cudaStream_t stream) {
  return LaunchInstanceNorm(x, y, rows, channels, inner, scale, bias, epsilon, stream);
}

Status GroupNorm(const float* x, float* y, const GroupNormShape& s, const float* scale, const float* bias,
                 float epsilon, cudaStream_t stream) {
  return LaunchGroupNorm(x, y, s, scale, bias, epsilon, stream);
}

Status GroupNorm(const __half* x, __half* y, const GroupNormShape& s, const __half* scale, const __half* bias,
                 float epsilon, cudaStream_t stream) {
  return LaunchGroupNorm(x, y, s, scale, bias, epsilon, stream);
}

Status ArgReduce(bool max, const float* x, int64_t outer, int64_t axis_len, int64_t inner, bool select_last,
                 int64_t* out, cudaStream_t stream) {
  return LaunchArgReduce(max, x, outer, axis_len, inner, select_last, out, stream);
}

Status ArgReduce(bool max, const __half* x, int64_t outer, int64_t axis_len, int64_t inner, bool select_last,
                 int64_t* out, cudaStream_t stream) {
  return LaunchArgReduce(max, x, outer, axis_len, inner, select_last, out, stream);
}

Status PRelu(const float* x, std::span<const int64_t> x_shape, const float* slope, std::span<const int64_t> slope_shape,
             float* out, cudaStream_t stream) {
  return LaunchPRelu(x, x_shape, slope, slope_shape, out, stream);
}

Status PRelu(const __half* x, std::span<const int64_t> x_shape, const __half* slope,
             std::span<const int64_t> slope_shape, __half* out, cudaStream_t stream) {
  return LaunchPRelu(x, x_shape, slope, slope_shape, out, stream);
}

Status Pad(const void* in, void* out, const PadTileGeometry& g, uint64_t constant, int elem_size, cudaStream_t stream) {
  if (g.rank < 0 || g.rank > kPadTileMaxRank) return Unimplemented("Pad: rank above 6 on the GPU");
  const int64_t n = PadTileOutputElements(g);
  if (n <= 0) return Status::Ok();
  const bool narrow = FitsInt32GridStride(n, kBlock) && FitsInt32GridStride(InputElements(g), kBlock);
  return BySize(elem_size, [&](auto tag) -> Status {
    using E = decltype(tag);
    E c;
    std::memcpy(&c, &constant, sizeof(E));  // the low bytes on a little-endian host
    const auto* src = static_cast<const E*>(in);
    auto* dst = static_cast<E*>(out);
    if (narrow)
      PadKernel<E, int32_t><<<GridBlocks(n), kBlock, 0, stream>>>(src, dst, static_cast<int32_t>(n), g, c);
    else
      PadKernel<E, int64_t><<<GridBlocks(n), kBlock, 0, stream>>>(src, dst, n, g, c);
    return CudaStatus(cudaGetLastError(), "Pad launch");
  });
}

template <typename E>
__global__ void TriluKernel(const E* __restrict__ in, E* __restrict__ out, int64_t n, int64_t rows, int64_t cols,
                            int64_t k, bool upper) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t col = i % cols, row = (i / cols) % rows;
    const bool keep = upper ? col - row >= k : col - row <= k;
    out[i] = keep ? in[i] : E{};
  }
}

Status Trilu(const void* in, void* out, int64_t n, int64_t rows, int64_t cols, int64_t k, bool upper, int elem_size,
             cudaStream_t stream) {
  if (n <= 0 || rows <= 0 || cols <= 0) return Status::Ok();
  return BySize(elem_size, [&](auto tag) -> Status {
    using E = decltype(tag);
    TriluKernel<E><<<GridBlocks(n), kBlock, 0, stream>>>(static_cast<const E*>(in), static_cast<E*>(out), n, rows,
                                                           cols, k, upper);
    return CudaStatus(cudaGetLastError(), "Trilu launch");
  });
}

template <typename T>
__global__ void CumSumKernel(const T* __restrict__ in, T* __restrict__ out, int64_t outer, int64_t len, int64_t inner,
                             bool exclusive, bool reverse) {
  using A = Accum<T>;  // as the CPU op's ComputeType
  const int64_t lines = outer * inner;
  for (int64_t line = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; line < lines;
       line += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t o = line / inner, i = line % inner;
    const T* x = in + o * len * inner + i;
    T* y = out + o * len * inner + i;
    // Adjacent threads take adjacent lines of the inner axis: their loads and stores coalesce.
    A acc = A(0);
    for (int64_t step = 0; step < len; ++step) {
      const int64_t t = (reverse ? len - 1 - step : step) * inner;
      const A v = static_cast<A>(x[t]);
      if (!exclusive) acc = acc + v;
      y[t] = static_cast<T>(acc);
      if (exclusive) acc = acc + v;
    }
  }
}

template <typename T>
Status CumSum(const T* in, T* out, int64_t outer, int64_t len, int64_t inner, bool exclusive, bool reverse,
              cudaStream_t stream) {
  if (outer <= 0 || len <= 0 || inner <= 0) return Status::Ok();
  CumSumKernel<T><<<GridBlocks(outer * inner), kBlock, 0, stream>>>(in, out, outer, len, inner, exclusive, reverse);
  return CudaStatus(cudaGetLastError(), "CumSum launch");
}
template Status CumSum<float>(const float*, float*, int64_t, int64_t, int64_t, bool, bool, cudaStream_t);
template Status CumSum<__half>(const __half*, __half*, int64_t, int64_t, int64_t, bool, bool, cudaStream_t);
template Status CumSum<double>(const double*, double*, int64_t, int64_t, int64_t, bool, bool, cudaStream_t);
template Status CumSum<int32_t>(const int32_t*, int32_t*, int64_t, int64_t, int64_t, bool, bool, cudaStream_t);
template Status CumSum<int64_t>(const int64_t*, int64_t*, int64_t, int64_t, int64_t, bool, bool, cudaStream_t);

// A float's bits as an unsigned key in the CPU op's order: -0 as 0, every NaN above +inf.
__device__ __forceinline__ uint32_t OrderKey(float v) {
  if (v != v) return 0xffffffffu;
  if (v == 0.f) v = 0.f;
  const uint32_t b = __float_as_uint(v);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

constexpr int kTopKThreads = 256;

// One block a line: keys (value order, then index) sorted ascending, so the first k are the answer.
template <typename T>
__global__ void __launch_bounds__(kTopKThreads) TopKKernel(const T* __restrict__ x, int64_t len, int64_t inner,
                                                            int64_t k, bool largest, int n2, T* __restrict__ values,
                                                            int64_t* __restrict__ indices) {
  __shared__ unsigned long long keys[kTopKMaxLen];
  const int64_t line = blockIdx.x;
  const int64_t o = line / inner, in = line % inner;
  const T* src = x + o * len * inner + in;
  for (int j = threadIdx.x; j < n2; j += blockDim.x) {
    unsigned long long key = ~0ull;  // padding sorts last
    if (j < len) {
      uint32_t ok = OrderKey(ToFloat(src[j * inner]));
      if (largest) ok = ~ok;
      key = (static_cast<unsigned long long>(ok) << 32) | static_cast<uint32_t>(j);
    }
    keys[j] = key;
  }
  __syncthreads();
  for (int size = 2; size <= n2; size <<= 1)
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int j = threadIdx.x; j < n2; j += blockDim.x) {
        const int partner = j ^ stride;
        if (partner > j) {
          const bool up = (j & size) == 0;
          const unsigned long long a = keys[j], b = keys[partner];
          if ((a > b) == up) {
            keys[j] = b;
            keys[partner] = a;
          }
        }
      }
      __syncthreads();
    }
  for (int j = threadIdx.x; j < k; j += blockDim.x) {
    const int64_t idx = static_cast<int64_t>(keys[j] & 0xffffffffull);
    if (values != nullptr) values[(o * k + j) * inner + in] = src[idx * inner];
    if (indices != nullptr) indices[(o * k + j) * inner + in] = idx;
  }
}

template <typename T>
Status TopK(const T* x, int64_t outer, int64_t len, int64_t inner, int64_t k, bool largest, T* values,
            int64_t* indices, cudaStream_t stream) {
  if (outer * inner == 0 || k == 0) return Status::Ok();
  if (len > kTopKMaxLen || k > len) return Unimplemented("TopK: axis of " + std::to_string(len) + " on the GPU");
  if (outer * inner > 0x7fffffff) return Unimplemented("TopK: too many lines for one grid");
  int n2 = 1;
  while (n2 < len) n2 <<= 1;
  TopKKernel<T><<<static_cast<unsigned>(outer * inner), kTopKThreads, 0, stream>>>(x, len, inner, k, largest, n2,
                                                                                  values, indices);
  return CudaStatus(cudaGetLastError(), "TopK launch");
}
template Status TopK<float>(const float*, int64_t, int64_t, int64_t, int64_t, bool, float*, int64_t*, cudaStream_t);
template Status TopK<__half>(const __half*, int64_t, int64_t, int64_t, int64_t, bool, __half*, int64_t*, cudaStream_t);

Status Tile(const void* in, void* out, const PadTileGeometry& g, int elem_size, cudaStream_t stream) {
  if (g.rank < 0 || g.rank > kPadTileMaxRank) return Unimplemented("Tile: rank above 6 on the GPU");
  const int64_t n = PadTileOutputElements(g);
  if (n <= 0) return Status::Ok();
  const bool narrow = FitsInt32GridStride(n, kBlock) && FitsInt32GridStride(InputElements(g), kBlock);
  return BySize(elem_size, [&](auto tag) -> Status {
    using E = decltype(tag);
    const auto* src = static_cast<const E*>(in);
    auto* dst = static_cast<E*>(out);
    if (narrow)
      TileKernel<E, int32_t><<<GridBlocks(n), kBlock, 0, stream>>>(src, dst, static_cast<int32_t>(n), g);
    else
      TileKernel<E, int64_t><<<GridBlocks(n), kBlock, 0, stream>>>(src, dst, n, g);
    return CudaStatus(cudaGetLastError(), "Tile launch");
  });
}

}  // namespace onnxd::cuda
