#include "kernels/cuda/select.h"

#include "kernels/cuda/broadcast_index.cuh"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/grid_stride.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/tensor_shape.h"

namespace onnxd::cuda {
namespace {

template <typename T>
__global__ void IsNaNKernel(const T* in, uint8_t* out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float x = ToFloat(in[i]);
    out[i] = x != x ? 1 : 0;
  }
}

// Over the collapsed axes (shape_collapse.h): operands 0, 1, 2 are the condition, X and Y.
template <typename T, typename Index>
__global__ void WhereKernel(const uint8_t* cond, const T* a, const T* b, T* out, Index n, CollapsedBroadcast shape) {
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    Index off[3];
    BroadcastOffsets<3>(shape, i, off);
    out[i] = cond[off[0]] ? a[off[1]] : b[off[2]];
  }
}

template <typename T>
Status LaunchIsNaN(const T* in, uint8_t* out, int64_t n, cudaStream_t stream) {
  if (n <= 0) return Status::Ok();
  IsNaNKernel<T><<<GridBlocks(n, 256), 256, 0, stream>>>(in, out, n);
  return CudaStatus(cudaGetLastError(), "IsNaN launch");
}

template <typename T>
Status LaunchWhere(const uint8_t* cond, std::span<const int64_t> cshape, const T* a, std::span<const int64_t> ashape,
                   const T* b, std::span<const int64_t> bshape, T* out, cudaStream_t stream) {
  auto ab = BroadcastShape(ashape, bshape);
  if (!ab.ok()) return ab.status();
  auto shape = BroadcastShape(cshape, *ab);
  if (!shape.ok()) return shape.status();
  if (shape->size() > static_cast<size_t>(kMaxRank) || cshape.size() > static_cast<size_t>(kMaxRank) ||
      ashape.size() > static_cast<size_t>(kMaxRank) || bshape.size() > static_cast<size_t>(kMaxRank))
    return Unimplemented("Where: rank > 6");
  const int64_t n = NumElements(*shape);
  if (n == 0) return Status::Ok();
  const std::span<const int64_t> ops[3] = {cshape, ashape, bshape};
  const CollapsedBroadcast collapsed = CollapseBroadcast(*shape, ops);
  if (FitsInt32GridStride(n, 256))
    WhereKernel<T, int32_t><<<GridBlocks(n, 256), 256, 0, stream>>>(cond, a, b, out, static_cast<int32_t>(n),
                                                                     collapsed);
  else
    WhereKernel<T, int64_t><<<GridBlocks(n, 256), 256, 0, stream>>>(cond, a, b, out, n, collapsed);
  return CudaStatus(cudaGetLastError(), "Where launch");
}

}  // namespace

Status IsNaN(const float* in, uint8_t* out, int64_t n, cudaStream_t stream) { return LaunchIsNaN(in, out, n, stream); }
Status IsNaN(const __half* in, uint8_t* out, int64_t n, cudaStream_t stream) { return LaunchIsNaN(in, out, n, stream); }

Status Where(const uint8_t* cond, std::span<const int64_t> cond_shape, const float* a, std::span<const int64_t> a_shape,
             const float* b, std::span<const int64_t> b_shape, float* out, cudaStream_t stream) {
  return LaunchWhere(cond, cond_shape, a, a_shape, b, b_shape, out, stream);
}

Status Where(const uint8_t* cond, std::span<const int64_t> cond_shape, const __half* a,
             std::span<const int64_t> a_shape, const __half* b, std::span<const int64_t> b_shape, __half* out,
             cudaStream_t stream) {
  return LaunchWhere(cond, cond_shape, a, a_shape, b, b_shape, out, stream);
}

}  // namespace onnxd::cuda
