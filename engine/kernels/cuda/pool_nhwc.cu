#include "kernels/cuda/pool_nhwc.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"

namespace onnxd::cuda {
namespace {

template <typename T>
__global__ void MaxPoolNhwcKernel(const T* __restrict__ x, T* __restrict__ y, int64_t total, MaxPoolNhwcShape s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    // i = ((b * out_h + oh) * out_w + ow) * c + ch
    const int64_t ch = i % s.c;
    int64_t rest = i / s.c;
    const int64_t ow = rest % s.out_w;
    rest /= s.out_w;
    const int64_t oh = rest % s.out_h;
    const int64_t b = rest / s.out_h;
    const int64_t h0 = oh * s.stride_h - s.pad_top, w0 = ow * s.stride_w - s.pad_left;
    float m = -INFINITY;
    bool nan = false;
    for (int64_t dh = 0; dh < s.kh; ++dh) {
      const int64_t hh = h0 + dh;
      if (hh < 0 || hh >= s.h) continue;
      const T* row = x + ((b * s.h + hh) * s.w) * s.c + ch;
      for (int64_t dw = 0; dw < s.kw; ++dw) {
        const int64_t ww = w0 + dw;
        if (ww < 0 || ww >= s.w) continue;
        const float v = ToFloat(row[ww * s.c]);
        nan |= v != v;
        m = v > m ? v : m;
      }
    }
    y[i] = FromFloat<T>(nan ? NAN : m);
  }
}

template <typename T>
Status Launch(const T* x, T* y, const MaxPoolNhwcShape& s, cudaStream_t stream) {
  if (s.kh <= 0 || s.kw <= 0 || s.stride_h <= 0 || s.stride_w <= 0) return InvalidArgument("MaxPoolNhwc: bad window");
  const int64_t total = s.n * s.out_h * s.out_w * s.c;
  if (total <= 0) return Status::Ok();
  constexpr int kBlock = 256;
  const int64_t g = (total + kBlock - 1) / kBlock;
  const int grid = static_cast<int>(g < 65535 * 32 ? g : 65535 * 32);
  MaxPoolNhwcKernel<T><<<grid, kBlock, 0, stream>>>(x, y, total, s);
  return CudaStatus(cudaGetLastError(), "MaxPoolNhwc launch");
}

}  // namespace

Status MaxPoolNhwc(const float* x, float* y, const MaxPoolNhwcShape& s, cudaStream_t stream) {
  return Launch(x, y, s, stream);
}

Status MaxPoolNhwc(const __half* x, __half* y, const MaxPoolNhwcShape& s, cudaStream_t stream) {
  return Launch(x, y, s, stream);
}

}  // namespace onnxd::cuda
