#include "kernels/cuda/binary_elementwise.h"

#include <type_traits>

#include "kernels/cuda/broadcast_index.cuh"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/grid_stride.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/tensor_shape.h"

namespace onnxd::cuda {
namespace {

// Elements computed in Accum<T>: fp32 for float and fp16, the integer type itself for int32 and int64
// (which wrap on overflow, as the CPU ops do).
template <typename T>
__device__ __forceinline__ Accum<T> In(T v) {
  if constexpr (std::is_integral_v<T>) return v;
  else return ToFloat(v);
}
template <typename T>
__device__ __forceinline__ T Out(Accum<T> v) {
  if constexpr (std::is_integral_v<T>) return v;
  else return FromFloat<T>(v);
}

template <BinaryOp Op, typename C>
__device__ __forceinline__ C Apply(C x, C y) {
  if constexpr (std::is_integral_v<C>) {
    // Add, Sub and Mul only (BinaryElementwise refuses the rest), in unsigned arithmetic: two's complement
    // wrap-around without signed overflow.
    using U = std::make_unsigned_t<C>;
    const U a = static_cast<U>(x), b = static_cast<U>(y);
    if constexpr (Op == BinaryOp::kAdd) return static_cast<C>(a + b);
    if constexpr (Op == BinaryOp::kSub) return static_cast<C>(a - b);
    return static_cast<C>(a * b);
  } else {
    if constexpr (Op == BinaryOp::kAdd) return x + y;
    if constexpr (Op == BinaryOp::kSub) return x - y;
    if constexpr (Op == BinaryOp::kMul) return x * y;
    if constexpr (Op == BinaryOp::kPow) return powf(x, y);
    if constexpr (Op == BinaryOp::kPRelu) return x < 0.f ? y * x : x;
    return x / y;
  }
}

// Same shape, or b a single value (the common bias/scale cases): no index arithmetic.
template <BinaryOp Op, bool kScalarB, typename T>
__global__ void BinaryFlatKernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out, int64_t n) {
  const Accum<T> bs = kScalarB ? In(b[0]) : Accum<T>(0);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = Out<T>(Apply<Op>(In(a[i]), kScalarB ? bs : In(b[i])));
}

// One operand full, the other a "row" repeated along the leading axes (a bias [C] on [..., C], a
// mask row): the row's element is i % row_n. kRowIsB: the row is the right operand.
template <BinaryOp Op, bool kRowIsB, typename T, typename Index>
__global__ void BinaryRowKernel(const T* __restrict__ full, const T* __restrict__ row, T* __restrict__ out,
                                Index n, Index row_n) {
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Accum<T> f = In(full[i]), r = In(row[i % row_n]);
    out[i] = Out<T>(kRowIsB ? Apply<Op>(f, r) : Apply<Op>(r, f));
  }
}

// True when `x` (leading 1s aside) equals the trailing dims of `out`: x repeats along the rest.
bool IsTrailingRow(std::span<const int64_t> out, std::span<const int64_t> x) {
  size_t skip = 0;
  while (skip < x.size() && x[skip] == 1) ++skip;
  const size_t k = x.size() - skip;
  if (k > out.size()) return false;
  for (size_t j = 0; j < k; ++j)
    if (x[skip + j] != out[out.size() - k + j]) return false;
  return true;
}

template <BinaryOp Op, bool kRowIsB, typename T>
void LaunchRow(const T* full, const T* row, T* out, int64_t n, int64_t row_n, int grid, int block,
               cudaStream_t stream) {
  if (FitsInt32GridStride(n, block))
    BinaryRowKernel<Op, kRowIsB, T, int32_t><<<grid, block, 0, stream>>>(full, row, out, static_cast<int32_t>(n),
                                                                         static_cast<int32_t>(row_n));
  else
    BinaryRowKernel<Op, kRowIsB, T, int64_t><<<grid, block, 0, stream>>>(full, row, out, n, row_n);
}

// General broadcast over the collapsed axes (shape_collapse.h).
template <BinaryOp Op, typename T, typename Index>
__global__ void BinaryBroadcastKernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out, Index n,
                                      CollapsedBroadcast shape) {
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    Index off[2];
    BroadcastOffsets<2>(shape, i, off);
    out[i] = Out<T>(Apply<Op>(In(a[off[0]]), In(b[off[1]])));
  }
}

template <BinaryOp Op, typename T>
Status Launch(const T* a, std::span<const int64_t> a_shape, const T* b, std::span<const int64_t> b_shape, T* out,
              cudaStream_t stream) {
  auto out_shape = BroadcastShape(a_shape, b_shape);
  if (!out_shape.ok()) return out_shape.status();
  if (out_shape->size() > static_cast<size_t>(kMaxRank)) return Unimplemented("BinaryElementwise: rank > 6");
  const int64_t n = NumElements(*out_shape);
  if (n == 0) return Status::Ok();
  constexpr int kBlock = 256;
  const int grid = GridBlocks(n, kBlock);
  const int64_t na = NumElements(a_shape), nb = NumElements(b_shape);
  if (na == n && nb == n) {
    BinaryFlatKernel<Op, false, T><<<grid, kBlock, 0, stream>>>(a, b, out, n);
  } else if (na == n && nb == 1) {
    BinaryFlatKernel<Op, true, T><<<grid, kBlock, 0, stream>>>(a, b, out, n);
  } else if (na == n && nb > 0 && IsTrailingRow(*out_shape, b_shape)) {
    LaunchRow<Op, true>(a, b, out, n, nb, grid, kBlock, stream);
  } else if (nb == n && na > 0 && IsTrailingRow(*out_shape, a_shape)) {
    LaunchRow<Op, false>(b, a, out, n, na, grid, kBlock, stream);
  } else {
    const std::span<const int64_t> ops[2] = {a_shape, b_shape};
    const CollapsedBroadcast shape = CollapseBroadcast(*out_shape, ops);
    if (FitsInt32GridStride(n, kBlock))
      BinaryBroadcastKernel<Op, T, int32_t><<<grid, kBlock, 0, stream>>>(a, b, out, static_cast<int32_t>(n), shape);
    else
      BinaryBroadcastKernel<Op, T, int64_t><<<grid, kBlock, 0, stream>>>(a, b, out, n, shape);
  }
  return CudaStatus(cudaGetLastError(), "BinaryElementwise launch");
}

}  // namespace

template <typename T>
Status BinaryElementwise(BinaryOp op, const T* a, std::span<const int64_t> a_shape, const T* b,
                         std::span<const int64_t> b_shape, std::type_identity_t<T>* out, cudaStream_t stream) {
  switch (op) {
    case BinaryOp::kAdd: return Launch<BinaryOp::kAdd>(a, a_shape, b, b_shape, out, stream);
    case BinaryOp::kSub: return Launch<BinaryOp::kSub>(a, a_shape, b, b_shape, out, stream);
    case BinaryOp::kMul: return Launch<BinaryOp::kMul>(a, a_shape, b, b_shape, out, stream);
    default: break;
  }
  if constexpr (std::is_integral_v<T>) {
    return Unimplemented("BinaryElementwise: integer ops other than Add, Sub and Mul");
  } else {
    switch (op) {
      case BinaryOp::kDiv: return Launch<BinaryOp::kDiv>(a, a_shape, b, b_shape, out, stream);
      case BinaryOp::kPow: return Launch<BinaryOp::kPow>(a, a_shape, b, b_shape, out, stream);
      case BinaryOp::kPRelu: return Launch<BinaryOp::kPRelu>(a, a_shape, b, b_shape, out, stream);
      default: break;
    }
    return InvalidArgument("BinaryElementwise: unknown op");
  }
}

template Status BinaryElementwise<float>(BinaryOp, const float*, std::span<const int64_t>, const float*,
                                       std::span<const int64_t>, float*, cudaStream_t);
template Status BinaryElementwise<__half>(BinaryOp, const __half*, std::span<const int64_t>, const __half*,
                                       std::span<const int64_t>, __half*, cudaStream_t);
template Status BinaryElementwise<int32_t>(BinaryOp, const int32_t*, std::span<const int64_t>, const int32_t*,
                                       std::span<const int64_t>, int32_t*, cudaStream_t);
template Status BinaryElementwise<int64_t>(BinaryOp, const int64_t*, std::span<const int64_t>, const int64_t*,
                                       std::span<const int64_t>, int64_t*, cudaStream_t);

}  // namespace onnxd::cuda
