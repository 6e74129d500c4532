#include "kernels/cuda/conv_transpose.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/grid_stride.h"

namespace onnxd::cuda {
namespace {

template <typename T>
__global__ void GatherKernel(const T* col, const T* bias, T* y, int64_t n, convt::Geom g) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = convt::ConvTransposeElement<float>(
        g, i, [col](int64_t k) { return ToFloat(col[k]); },
        [bias](int64_t ch) { return bias != nullptr ? ToFloat(bias[ch]) : 0.f; });
    y[i] = FromFloat<T>(v);
  }
}

template <typename T>
Status Launch(const T* col, const T* bias, T* y, int64_t images, const convt::Geom& g, cudaStream_t stream) {
  const int64_t n = images * g.m * g.YSize();
  if (n <= 0) return Status::Ok();
  constexpr int kBlock = 256;
  const int grid = GridBlocks(n, kBlock);
  GatherKernel<T><<<grid, kBlock, 0, stream>>>(col, bias, y, n, g);
  return CudaStatus(cudaGetLastError(), "ConvTranspose gather launch");
}

}  // namespace

Status ConvTransposeGather(const float* col, const float* bias, float* y, int64_t images, const convt::Geom& g,
                           cudaStream_t stream) {
  return Launch(col, bias, y, images, g, stream);
}
Status ConvTransposeGather(const __half* col, const __half* bias, __half* y, int64_t images, const convt::Geom& g,
                           cudaStream_t stream) {
  return Launch(col, bias, y, images, g, stream);
}

}  // namespace onnxd::cuda
