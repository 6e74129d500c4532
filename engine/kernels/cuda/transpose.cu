#include "kernels/cuda/transpose.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/tensor_shape.h"

namespace onnxd::cuda {
namespace {

// One thread per output element: decompose the output index over the output dims and gather
// with the input strides permuted into output order. Writes are coalesced; reads are not.
template <typename T>
__global__ void TransposeKernel(const T* __restrict__ in, T* __restrict__ out, int64_t n, KernelShape out_shape,
                                KernelShape in_strides) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t rem = i, src = 0;
#pragma unroll
    for (int d = kMaxRank - 1; d >= 0; --d) {
      const int64_t c = rem % out_shape.dims[d];
      rem /= out_shape.dims[d];
      src += c * in_strides.strides[d];
    }
    out[i] = in[src];
  }
}

template <typename T>
Status Launch(const T* in, std::span<const int64_t> in_shape, std::span<const int64_t> perm, T* out,
              cudaStream_t stream) {
  const int rank = static_cast<int>(in_shape.size());
  if (rank > kMaxRank) return Unimplemented("Transpose: rank > 6");
  if (static_cast<int>(perm.size()) != rank) return InvalidArgument("Transpose: perm length differs from the rank");
  bool seen[kMaxRank] = {};
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p]) return InvalidArgument("Transpose: perm is not a permutation");
    seen[p] = true;
  }
  int64_t in_stride[kMaxRank];
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    in_stride[d] = stride;
    stride *= in_shape[d];
  }
  const int64_t n = stride;
  if (n == 0) return Status::Ok();
  KernelShape out_shape, in_strides;
  const int pad = kMaxRank - rank;
  for (int d = 0; d < kMaxRank; ++d) {
    out_shape.dims[d] = d < pad ? 1 : in_shape[perm[d - pad]];
    in_strides.strides[d] = d < pad ? 0 : in_stride[perm[d - pad]];
  }
  constexpr int kBlock = 256;
  int64_t g = (n + kBlock - 1) / kBlock;
  const int grid = static_cast<int>(g < 65535 * 32 ? g : 65535 * 32);
  TransposeKernel<T><<<grid, kBlock, 0, stream>>>(in, out, n, out_shape, in_strides);
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
