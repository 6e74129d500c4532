#include "kernels/cuda/resize.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/grid_stride.h"

namespace onnxd::cuda {
namespace {

template <typename T, typename Acc, int kMaxTaps>
__global__ void ResizeKernel(const T* x, T* y, int64_t n, resize::Params p, resize::ElementShape s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Acc v =
        resize::ResizeElement<Acc, kMaxTaps>(p, s, i, [x](int64_t k) { return static_cast<Acc>(ToFloat(x[k])); });
    y[i] = FromFloat<T>(static_cast<float>(v));
  }
}

template <typename T>
Status Launch(const T* x, T* y, int64_t n, const resize::Params& p, const resize::ElementShape& s,
              cudaStream_t stream) {
  if (n <= 0) return Status::Ok();
  constexpr int kBlock = 256;
  const int grid = GridBlocks(n, kBlock);
  // Cubic sums 16 to 64 signed taps, antialiased filters many more: in fp64, as the CPU op (linear
  // and nearest in fp32).
  if (p.antialias && p.mode != resize::InterpMode::kNearest)
    ResizeKernel<T, double, resize::kAntialiasMaxTaps><<<grid, kBlock, 0, stream>>>(x, y, n, p, s);
  else if (p.mode == resize::InterpMode::kCubic)
    ResizeKernel<T, double, resize::kElementMaxTaps><<<grid, kBlock, 0, stream>>>(x, y, n, p, s);
  else
    ResizeKernel<T, float, resize::kElementMaxTaps><<<grid, kBlock, 0, stream>>>(x, y, n, p, s);
  return CudaStatus(cudaGetLastError(), "Resize launch");
}

}  // namespace

Status Resize(const float* x, float* y, int64_t n, const resize::Params& p, const resize::ElementShape& s,
              cudaStream_t stream) {
  return Launch(x, y, n, p, s, stream);
}
Status Resize(const __half* x, __half* y, int64_t n, const resize::Params& p, const resize::ElementShape& s,
              cudaStream_t stream) {
  return Launch(x, y, n, p, s, stream);
}

}  // namespace onnxd::cuda
