#include "kernels/cuda/pad_spatial.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/grid_stride.h"

namespace onnxd::cuda {
namespace {

template <typename T>
__global__ void PadSpatialKernel(const T* __restrict__ x, T* __restrict__ y, int64_t total, SpatialPadShape s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t src = PaddedSource(i, s);
    y[i] = src >= 0 ? x[src] : FromFloat<T>(0.f);
  }
}

template <typename T>
Status Launch(const T* x, T* y, const SpatialPadShape& s, cudaStream_t stream) {
  if (s.top < 0 || s.bottom < 0 || s.left < 0 || s.right < 0 || s.front < 0 || s.back < 0)
    return InvalidArgument("PadSpatial: negative pad");
  const int64_t total = s.out_count();
  if (total <= 0) return Status::Ok();
  constexpr int kBlock = 256;
  const int grid = GridBlocks(total, kBlock);
  PadSpatialKernel<T><<<grid, kBlock, 0, stream>>>(x, y, total, s);
  return CudaStatus(cudaGetLastError(), "PadSpatial launch");
}

}  // namespace

Status PadSpatial(const float* x, float* y, const SpatialPadShape& s, cudaStream_t stream) {
  return Launch(x, y, s, stream);
}

Status PadSpatial(const __half* x, __half* y, const SpatialPadShape& s, cudaStream_t stream) {
  return Launch(x, y, s, stream);
}

}  // namespace onnxd::cuda
