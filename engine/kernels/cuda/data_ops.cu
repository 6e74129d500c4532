#include "kernels/cuda/data_ops.h"

#include <cuda_fp16.h>

#include <string>
#include <type_traits>

#include "kernels/cuda/broadcast_index.cuh"
#include "kernels/cuda/by_size.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/grid_stride.h"
#include "kernels/cuda/shape_collapse.h"

namespace onnxd::cuda {
namespace {

constexpr int kBlock = kGridStrideBlock;

#define ONNXD_GRID_STRIDE(i, n)                                                           \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// ---------------------------------------------------------------------------------------------
// Strided copy

// The copy's axes after collapsing (extent-1 axes dropped, axes that are contiguous in both source
// and destination merged); strides in elements.
struct CopyGeometry {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t src[kMaxRank] = {};
  int64_t dst[kMaxRank] = {};
};

// Index is int32_t when every offset the copy reaches fits (the divisions are several times
// cheaper), else int64_t. src / dst point at the first element (offsets applied).
template <typename E, typename Index>
__global__ void StridedCopyKernel(const E* __restrict__ src, E* __restrict__ dst, Index n, CopyGeometry g) {
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    Index rem = i, si = 0, di = 0;
    for (int d = g.rank - 1; d >= 0; --d) {
      const Index dim = static_cast<Index>(g.dims[d]);
      const Index c = rem % dim;
      rem /= dim;
      si += c * static_cast<Index>(g.src[d]);
      di += c * static_cast<Index>(g.dst[d]);
    }
    dst[di] = src[si];
  }
}

// ---------------------------------------------------------------------------------------------
// Gathers

__device__ __forceinline__ int64_t IndexAt(const int64_t* idx64, const int32_t* idx32, int64_t k) {
  return idx64 != nullptr ? idx64[k] : static_cast<int64_t>(idx32[k]);
}

template <typename E, typename Index>
__global__ void GatherAxisKernel(const E* __restrict__ data, Index axis_dim, Index inner,
                                 const int64_t* __restrict__ idx64, const int32_t* __restrict__ idx32, Index n_idx,
                                 E* __restrict__ out, Index n) {
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index in = i % inner;
    const Index t = i / inner;
    const Index j = t % n_idx;
    const Index o = t / n_idx;
    int64_t k = IndexAt(idx64, idx32, j);
    if (k < 0) k += axis_dim;
    out[i] = k >= 0 && k < axis_dim ? data[(o * axis_dim + static_cast<Index>(k)) * inner + in] : E{};
  }
}

// data_strides: contiguous strides of data, right-aligned like idx_dims (both of the same rank).
struct ElementsGeometry {
  int64_t idx_dims[kMaxRank];
  int64_t data_dims[kMaxRank];
  int64_t data_strides[kMaxRank];
};

template <typename E>
__global__ void GatherElementsKernel(const E* __restrict__ data, const int64_t* __restrict__ idx64,
                                     const int32_t* __restrict__ idx32, int axis_slot, E* __restrict__ out, int64_t n,
                                     ElementsGeometry g) {
  ONNXD_GRID_STRIDE(i, n) {
    int64_t k = IndexAt(idx64, idx32, i);
    const int64_t axis_dim = g.data_dims[axis_slot];
    if (k < 0) k += axis_dim;
    bool ok = k >= 0 && k < axis_dim;
    int64_t rem = i, off = 0;
#pragma unroll
    for (int d = kMaxRank - 1; d >= 0; --d) {
      const int64_t c = rem % g.idx_dims[d];
      rem /= g.idx_dims[d];
      off += (d == axis_slot ? k : c) * g.data_strides[d];
    }
    out[i] = ok ? data[off] : E{};
  }
}

// GatherND: out index = ((batch * n_tuples) + tuple) * inner + e.
struct NdGeometry {
  int64_t dims[kMaxRank];     // data dims b .. b+k-1
  int64_t strides[kMaxRank];  // their contiguous strides in data
  int k = 0;
  int64_t n_tuples = 1;       // prod(indices.shape[b:-1])
  int64_t inner = 1;          // prod(data.shape[b+k:])
  int64_t batch_stride = 0;   // prod(data.shape[b:])
};

template <typename E>
__global__ void GatherNDKernel(const E* __restrict__ data, const int64_t* __restrict__ idx64,
                               const int32_t* __restrict__ idx32, E* __restrict__ out, int64_t n, NdGeometry g) {
  ONNXD_GRID_STRIDE(i, n) {
    const int64_t e = i % g.inner;
    const int64_t t = i / g.inner;  // batch * n_tuples + tuple
    const int64_t batch = t / g.n_tuples;
    int64_t off = batch * g.batch_stride + e;
    bool ok = true;
    for (int j = 0; j < g.k; ++j) {
      int64_t v = IndexAt(idx64, idx32, t * g.k + j);
      if (v < 0) v += g.dims[j];
      ok = ok && v >= 0 && v < g.dims[j];
      off += v * g.strides[j];
    }
    out[i] = ok ? data[off] : E{};
  }
}

// ---------------------------------------------------------------------------------------------
// Cast: one kernel for every pair, the types chosen at run time (uniform branches). Integer and
// bool sources carry an int64, floating ones a double, so int64 -> int64 stays exact.

__device__ __forceinline__ void LoadValue(const void* p, int64_t i, ElemType t, double* f, int64_t* v, bool* is_int) {
  switch (t) {
    case ElemType::kFloat: *f = static_cast<const float*>(p)[i]; *is_int = false; break;
    case ElemType::kHalf: *f = __half2float(static_cast<const __half*>(p)[i]); *is_int = false; break;
    case ElemType::kDouble: *f = static_cast<const double*>(p)[i]; *is_int = false; break;
    case ElemType::kInt64: *v = static_cast<const int64_t*>(p)[i]; *is_int = true; break;
    case ElemType::kInt32: *v = static_cast<const int32_t*>(p)[i]; *is_int = true; break;
    case ElemType::kInt8: *v = static_cast<const int8_t*>(p)[i]; *is_int = true; break;
    case ElemType::kUInt8: *v = static_cast<const uint8_t*>(p)[i]; *is_int = true; break;
    case ElemType::kBool: *v = static_cast<const uint8_t*>(p)[i] != 0 ? 1 : 0; *is_int = true; break;
  }
}

template <typename I>
__device__ __forceinline__ I FloatToInt(double f) {
  // Truncation toward zero, as C++'s static_cast (the CPU kernel); NaN gives 0.
  return f != f ? I(0) : static_cast<I>(static_cast<int64_t>(f));
}

__device__ __forceinline__ void StoreValue(void* p, int64_t i, ElemType t, double f, int64_t v, bool is_int) {
  switch (t) {
    case ElemType::kFloat: static_cast<float*>(p)[i] = is_int ? static_cast<float>(v) : static_cast<float>(f); break;
    case ElemType::kHalf:
      static_cast<__half*>(p)[i] = __float2half_rn(is_int ? static_cast<float>(v) : static_cast<float>(f));
      break;
    case ElemType::kDouble: static_cast<double*>(p)[i] = is_int ? static_cast<double>(v) : f; break;
    case ElemType::kInt64: static_cast<int64_t*>(p)[i] = is_int ? v : FloatToInt<int64_t>(f); break;
    case ElemType::kInt32:
      static_cast<int32_t*>(p)[i] = is_int ? static_cast<int32_t>(v) : FloatToInt<int32_t>(f);
      break;
    case ElemType::kInt8: static_cast<int8_t*>(p)[i] = is_int ? static_cast<int8_t>(v) : FloatToInt<int8_t>(f); break;
    case ElemType::kUInt8:
      static_cast<uint8_t*>(p)[i] = is_int ? static_cast<uint8_t>(v) : FloatToInt<uint8_t>(f);
      break;
    case ElemType::kBool: static_cast<uint8_t*>(p)[i] = (is_int ? v != 0 : f != 0.0) ? 1 : 0; break;
  }
}

__global__ void CastKernel(const void* in, ElemType from, void* out, ElemType to, int64_t n) {
  ONNXD_GRID_STRIDE(i, n) {
    double f = 0;
    int64_t v = 0;
    bool is_int = false;
    LoadValue(in, i, from, &f, &v, &is_int);
    StoreValue(out, i, to, f, v, is_int);
  }
}

// ---------------------------------------------------------------------------------------------
// Broadcast binary ops (comparisons, logic, Max/Min)

template <typename T>
__device__ __forceinline__ auto Widen(T v) {
  if constexpr (std::is_same_v<T, __half>) return __half2float(v);
  else return v;
}

// Over the collapsed broadcast (shape_collapse.h); Index as in StridedCopyKernel.
template <typename T, typename Out, typename F, typename Index>
__global__ void BroadcastKernel(const T* __restrict__ a, const T* __restrict__ b, Out* __restrict__ out, Index n,
                                CollapsedBroadcast g, F f) {
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    Index off[2];
    BroadcastOffsets<2>(g, i, off);
    out[i] = f(a[off[0]], b[off[1]]);
  }
}

template <typename T, typename Out, typename F>
Status LaunchBroadcast(const void* a, std::span<const int64_t> as, const void* b, std::span<const int64_t> bs,
                       void* out, F f, cudaStream_t stream, const char* what) {
  if (as.size() > static_cast<size_t>(kMaxRank) || bs.size() > static_cast<size_t>(kMaxRank))
    return Unimplemented("rank above 6 on the GPU");
  auto shape = BroadcastShape(as, bs);
  if (!shape.ok()) return shape.status();
  const int64_t n = NumElements(*shape);
  if (n == 0) return Status::Ok();
  const std::span<const int64_t> ops[2] = {as, bs};
  const CollapsedBroadcast g = CollapseBroadcast(*shape, ops);
  const auto* pa = static_cast<const T*>(a);
  const auto* pb = static_cast<const T*>(b);
  auto* po = static_cast<Out*>(out);
  if (FitsInt32GridStride(n, kBlock))
    BroadcastKernel<T, Out, F, int32_t><<<GridBlocks(n), kBlock, 0, stream>>>(pa, pb, po, static_cast<int32_t>(n), g,
                                                                               f);
  else
    BroadcastKernel<T, Out, F, int64_t><<<GridBlocks(n), kBlock, 0, stream>>>(pa, pb, po, n, g, f);
  return CudaStatus(cudaGetLastError(), what);
}

// Calls f(T{}) with the storage type of `t`.
template <typename F>
Status ByType(ElemType t, F&& f) {
  switch (t) {
    case ElemType::kFloat: return f(float{});
    case ElemType::kHalf: return f(__half{});
    case ElemType::kDouble: return f(double{});
    case ElemType::kInt64: return f(int64_t{});
    case ElemType::kInt32: return f(int32_t{});
    case ElemType::kInt8: return f(int8_t{});
    case ElemType::kUInt8:
    case ElemType::kBool: return f(uint8_t{});
  }
  return Unimplemented("element type on the GPU");
}

template <typename T>
struct CompareFn {
  CompareOp op;
  __device__ uint8_t operator()(T x, T y) const {
    const auto a = Widen(x);
    const auto b = Widen(y);
    switch (op) {
      case CompareOp::kEqual: return a == b;
      case CompareOp::kLess: return a < b;
      case CompareOp::kGreater: return a > b;
      case CompareOp::kLessOrEqual: return a <= b;
      case CompareOp::kGreaterOrEqual: return a >= b;
    }
    return 0;
  }
};

struct LogicFn {
  LogicOp op;
  __device__ uint8_t operator()(uint8_t x, uint8_t y) const {
    const bool a = x != 0, b = y != 0;
    switch (op) {
      case LogicOp::kAnd: return a && b;
      case LogicOp::kOr: return a || b;
      case LogicOp::kXor: return a != b;
    }
    return 0;
  }
};

template <typename T>
struct MinMaxFn {
  MinMaxOp op;
  __device__ T operator()(T x, T y) const {
    const auto a = Widen(x);
    const auto b = Widen(y);
    // As the CPU kernel: a NaN on either side wins (x is returned when it is NaN, else y when the
    // comparison fails, which it does when y is NaN).
    if (op == MinMaxOp::kMax) return (a != a || a > b) ? x : y;
    return (a != a || a < b) ? x : y;
  }
};

__global__ void NotKernel(const uint8_t* __restrict__ in, uint8_t* __restrict__ out, int64_t n) {
  ONNXD_GRID_STRIDE(i, n) { out[i] = in[i] == 0 ? 1 : 0; }
}

template <typename T>
__global__ void RangeKernel(T start, T delta, T* __restrict__ out, int64_t n) {
  ONNXD_GRID_STRIDE(i, n) {
    // Rounded multiply, then add (no fused multiply-add): the CPU kernel's result bit for bit.
    if constexpr (std::is_same_v<T, float>) out[i] = __fadd_rn(start, __fmul_rn(static_cast<float>(i), delta));
    else if constexpr (std::is_same_v<T, double>) out[i] = __dadd_rn(start, __dmul_rn(static_cast<double>(i), delta));
    else out[i] = static_cast<T>(start + static_cast<T>(i) * delta);
  }
}

}  // namespace

Status StridedCopy(const void* src, int64_t src_offset, std::span<const int64_t> src_strides, void* dst,
                   int64_t dst_offset, std::span<const int64_t> dst_strides, std::span<const int64_t> dims,
                   int elem_size, cudaStream_t stream) {
  const int r = static_cast<int>(dims.size());
  if (r > kMaxRank) return Unimplemented("rank above 6 on the GPU");
  if (src_strides.size() != dims.size() || dst_strides.size() != dims.size())
    return InvalidArgument("StridedCopy: strides and dims of different ranks");
  if (elem_size != 1 && elem_size != 2 && elem_size != 4 && elem_size != 8)
    return Unimplemented("element size " + std::to_string(elem_size) + " on the GPU");
  const int64_t n = NumElements(dims);
  if (n == 0) return Status::Ok();
  // Collapse: drop extent-1 axes; merge an axis into the one before it when both the source and
  // the destination walk the pair as one contiguous run.
  CopyGeometry g;
  for (int j = 0; j < r; ++j) {
    if (dims[j] == 1) continue;
    if (g.rank > 0 && g.src[g.rank - 1] == src_strides[j] * dims[j] && g.dst[g.rank - 1] == dst_strides[j] * dims[j]) {
      g.dims[g.rank - 1] *= dims[j];
      g.src[g.rank - 1] = src_strides[j];
      g.dst[g.rank - 1] = dst_strides[j];
      continue;
    }
    g.dims[g.rank] = dims[j];
    g.src[g.rank] = src_strides[j];
    g.dst[g.rank] = dst_strides[j];
    ++g.rank;
  }
  const char* s = static_cast<const char*>(src) + src_offset * elem_size;
  char* d = static_cast<char*>(dst) + dst_offset * elem_size;
  // One contiguous run on both sides (Concat / Split on the outermost axis, a Slice of whole rows):
  // a plain copy.
  if (g.rank == 0 || (g.rank == 1 && g.src[0] == 1 && g.dst[0] == 1)) {
    return CudaStatus(cudaMemcpyAsync(d, s, static_cast<size_t>(n) * elem_size, cudaMemcpyDeviceToDevice, stream),
                      "StridedCopy memcpy");
  }
  int64_t reach_src = 0, reach_dst = 0;
  for (int k = 0; k < g.rank; ++k) {
    reach_src += (g.dims[k] - 1) * (g.src[k] < 0 ? -g.src[k] : g.src[k]);
    reach_dst += (g.dims[k] - 1) * (g.dst[k] < 0 ? -g.dst[k] : g.dst[k]);
  }
  const bool narrow = FitsInt32GridStride(n, kBlock) && reach_src <= 0x7fffffff && reach_dst <= 0x7fffffff;
  return BySize(elem_size, [&](auto tag) -> Status {
    using E = decltype(tag);
    const auto* se = reinterpret_cast<const E*>(s);
    auto* de = reinterpret_cast<E*>(d);
    if (narrow)
      StridedCopyKernel<E, int32_t><<<GridBlocks(n), kBlock, 0, stream>>>(se, de, static_cast<int32_t>(n), g);
    else
      StridedCopyKernel<E, int64_t><<<GridBlocks(n), kBlock, 0, stream>>>(se, de, n, g);
    return CudaStatus(cudaGetLastError(), "StridedCopy launch");
  });
}

Status GatherAxis(const void* data, int64_t outer, int64_t axis_dim, int64_t inner, const int64_t* idx64,
                  const int32_t* idx32, int64_t n_idx, void* out, int elem_size, cudaStream_t stream) {
  const int64_t n = outer * n_idx * inner;
  if (n == 0) return Status::Ok();
  if ((idx64 == nullptr) == (idx32 == nullptr)) return InvalidArgument("GatherAxis: pass one index array");
  const bool narrow = FitsInt32GridStride(n, kBlock) && outer * axis_dim * inner <= 0x7fffffff;
  return BySize(elem_size, [&](auto tag) -> Status {
    using E = decltype(tag);
    const auto* pd = static_cast<const E*>(data);
    auto* po = static_cast<E*>(out);
    if (narrow)
      GatherAxisKernel<E, int32_t><<<GridBlocks(n), kBlock, 0, stream>>>(
          pd, static_cast<int32_t>(axis_dim), static_cast<int32_t>(inner), idx64, idx32, static_cast<int32_t>(n_idx),
          po, static_cast<int32_t>(n));
    else
      GatherAxisKernel<E, int64_t><<<GridBlocks(n), kBlock, 0, stream>>>(pd, axis_dim, inner, idx64, idx32, n_idx,
                                                                           po, n);
    return CudaStatus(cudaGetLastError(), "Gather launch");
  });
}

Status GatherElements(const void* data, std::span<const int64_t> data_shape, const int64_t* idx64,
                      const int32_t* idx32, std::span<const int64_t> idx_shape, int axis, void* out, int elem_size,
                      cudaStream_t stream) {
  const int r = static_cast<int>(idx_shape.size());
  if (r > kMaxRank) return Unimplemented("rank above 6 on the GPU");
  if (static_cast<int>(data_shape.size()) != r) return InvalidArgument("GatherElements: ranks differ");
  if (axis < 0 || axis >= r) return InvalidArgument("GatherElements: axis out of range");
  if ((idx64 == nullptr) == (idx32 == nullptr)) return InvalidArgument("GatherElements: pass one index array");
  ElementsGeometry g;
  int64_t stride = 1;
  for (int d = kMaxRank - 1, j = r - 1; d >= 0; --d, --j) {
    g.idx_dims[d] = j >= 0 ? idx_shape[j] : 1;
    g.data_dims[d] = j >= 0 ? data_shape[j] : 1;
    g.data_strides[d] = j >= 0 ? stride : 0;
    if (j >= 0) stride *= data_shape[j];
  }
  const int axis_slot = kMaxRank - r + axis;
  const int64_t n = NumElements(idx_shape);
  if (n == 0) return Status::Ok();
  return BySize(elem_size, [&](auto tag) -> Status {
    using E = decltype(tag);
    GatherElementsKernel<E><<<GridBlocks(n), kBlock, 0, stream>>>(static_cast<const E*>(data), idx64, idx32, axis_slot,
                                                               static_cast<E*>(out), n, g);
    return CudaStatus(cudaGetLastError(), "GatherElements launch");
  });
}

Status GatherND(const void* data, std::span<const int64_t> data_shape, const int64_t* idx64, const int32_t* idx32,
                std::span<const int64_t> idx_shape, int batch_dims, void* out, int elem_size, cudaStream_t stream) {
  const int r = static_cast<int>(data_shape.size());
  const int q = static_cast<int>(idx_shape.size());
  const int b = batch_dims;
  if (q < 1 || b < 0 || b >= q || b > r) return InvalidArgument("GatherND: bad ranks or batch_dims");
  if ((idx64 == nullptr) == (idx32 == nullptr)) return InvalidArgument("GatherND: pass one index array");
  const int64_t k = idx_shape[q - 1];
  if (k < 0 || b + k > r || k > kMaxRank) return InvalidArgument("GatherND: indices' last dim too large");
  NdGeometry g;
  g.k = static_cast<int>(k);
  g.inner = 1;
  for (int d = b + g.k; d < r; ++d) g.inner *= data_shape[d];
  int64_t stride = g.inner;
  for (int j = g.k - 1; j >= 0; --j) {
    g.dims[j] = data_shape[b + j];
    g.strides[j] = stride;
    stride *= data_shape[b + j];
  }
  g.batch_stride = stride;  // prod(data.shape[b:])
  g.n_tuples = 1;
  for (int d = b; d < q - 1; ++d) g.n_tuples *= idx_shape[d];
  int64_t batch = 1;
  for (int d = 0; d < b; ++d) {
    if (idx_shape[d] != data_shape[d]) return InvalidArgument("GatherND: batch dims differ");
    batch *= data_shape[d];
  }
  const int64_t n = batch * g.n_tuples * g.inner;
  if (n == 0) return Status::Ok();
  return BySize(elem_size, [&](auto tag) -> Status {
    using E = decltype(tag);
    GatherNDKernel<E><<<GridBlocks(n), kBlock, 0, stream>>>(static_cast<const E*>(data), idx64, idx32,
                                                         static_cast<E*>(out), n, g);
    return CudaStatus(cudaGetLastError(), "GatherND launch");
  });
}

Status Cast(const void* in, ElemType from, void* out, ElemType to, int64_t n, cudaStream_t stream) {
  if (n <= 0) return Status::Ok();
  CastKernel<<<GridBlocks(n), kBlock, 0, stream>>>(in, from, out, to, n);
  return CudaStatus(cudaGetLastError(), "Cast launch");
}

Status Compare(CompareOp op, ElemType t, const void* a, std::span<const int64_t> a_shape, const void* b,
               std::span<const int64_t> b_shape, uint8_t* out, cudaStream_t stream) {
  return ByType(t, [&](auto tag) -> Status {
    using T = decltype(tag);
    return LaunchBroadcast<T, uint8_t>(a, a_shape, b, b_shape, out, CompareFn<T>{op}, stream, "Compare launch");
  });
}

Status Logic(LogicOp op, const uint8_t* a, std::span<const int64_t> a_shape, const uint8_t* b,
             std::span<const int64_t> b_shape, uint8_t* out, cudaStream_t stream) {
  return LaunchBroadcast<uint8_t, uint8_t>(a, a_shape, b, b_shape, out, LogicFn{op}, stream, "Logic launch");
}

Status Not(const uint8_t* in, uint8_t* out, int64_t n, cudaStream_t stream) {
  if (n <= 0) return Status::Ok();
  NotKernel<<<GridBlocks(n), kBlock, 0, stream>>>(in, out, n);
  return CudaStatus(cudaGetLastError(), "Not launch");
}

Status MinMax(MinMaxOp op, ElemType t, const void* a, std::span<const int64_t> a_shape, const void* b,
              std::span<const int64_t> b_shape, void* out, cudaStream_t stream) {
  return ByType(t, [&](auto tag) -> Status {
    using T = decltype(tag);
    return LaunchBroadcast<T, T>(a, a_shape, b, b_shape, out, MinMaxFn<T>{op}, stream, "Max/Min launch");
  });
}

Status Range(ElemType t, double start_f, double delta_f, int64_t start_i, int64_t delta_i, void* out, int64_t n,
             cudaStream_t stream) {
  if (n <= 0) return Status::Ok();
  switch (t) {
    case ElemType::kFloat:
      RangeKernel<float><<<GridBlocks(n), kBlock, 0, stream>>>(static_cast<float>(start_f), static_cast<float>(delta_f),
                                                            static_cast<float*>(out), n);
      break;
    case ElemType::kDouble:
      RangeKernel<double><<<GridBlocks(n), kBlock, 0, stream>>>(start_f, delta_f, static_cast<double*>(out), n);
      break;
    case ElemType::kInt64:
      RangeKernel<int64_t><<<GridBlocks(n), kBlock, 0, stream>>>(start_i, delta_i, static_cast<int64_t*>(out), n);
      break;
    case ElemType::kInt32:
      RangeKernel<int32_t><<<GridBlocks(n), kBlock, 0, stream>>>(static_cast<int32_t>(start_i),
                                                              static_cast<int32_t>(delta_i),
                                                              static_cast<int32_t*>(out), n);
      break;
    default: return Unimplemented("Range element type on the GPU");
  }
  return CudaStatus(cudaGetLastError(), "Range launch");
}

}  // namespace onnxd::cuda
