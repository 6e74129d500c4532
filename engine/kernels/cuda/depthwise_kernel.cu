#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/depthwise_kernel.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/grid_stride.h"

namespace onnxd::cuda {
namespace {

struct LoadFloat {
  template <typename T>
  __device__ float operator()(T v) const {
    return ToFloat(v);
  }
};

// One thread an output element, over the output in its own layout: consecutive threads take
// consecutive columns (NCHW) or channels (channels-last), so loads and stores coalesce and a
// window's neighbours come from the same cache lines.
template <typename T, bool kNhwc>
__global__ void DepthwiseKernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                T* __restrict__ y, DepthwiseGeometry g, int64_t count) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t b, ch, oh, ow;
    if (kNhwc) {
      ch = e % g.c;
      ow = (e / g.c) % g.out_w;
      oh = (e / (g.c * g.out_w)) % g.out_h;
      b = e / (g.c * g.out_w * g.out_h);
    } else {
      ow = e % g.out_w;
      oh = (e / g.out_w) % g.out_h;
      ch = (e / (g.out_w * g.out_h)) % g.c;
      b = e / (g.out_w * g.out_h * g.c);
    }
    y[e] = FromFloat<T>(DepthwiseOutput(x, w, bias, g, kNhwc, b, ch, oh, ow, LoadFloat()));
  }
}

template <typename T>
Status Launch(const T* x, const T* w, const T* bias, T* y, const DepthwiseGeometry& g, bool nhwc, cudaStream_t s) {
  const int64_t count = g.out_count();
  if (count <= 0) return Status::Ok();
  if (nhwc) DepthwiseKernel<T, true><<<GridBlocks(count), kGridStrideBlock, 0, s>>>(x, w, bias, y, g, count);
  else DepthwiseKernel<T, false><<<GridBlocks(count), kGridStrideBlock, 0, s>>>(x, w, bias, y, g, count);
  return CudaStatus(cudaGetLastError(), "DepthwiseConv2d launch");
}

}  // namespace

Status DepthwiseConv2d(const float* x, const float* w, const float* bias, float* y, const DepthwiseGeometry& g,
                       bool nhwc, cudaStream_t stream) {
  return Launch(x, w, bias, y, g, nhwc, stream);
}

Status DepthwiseConv2d(const __half* x, const __half* w, const __half* bias, __half* y, const DepthwiseGeometry& g,
                       bool nhwc, cudaStream_t stream) {
  return Launch(x, w, bias, y, g, nhwc, stream);
}

}  // namespace onnxd::cuda
