#include "kernels/cuda/pool_nhwc.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"

namespace onnxd::cuda {
namespace {

// Output element i = ((b * out_h + oh) * out_w + ow) * c + ch.
struct OutIndex {
  int64_t b, oh, ow, ch;
};

__device__ __forceinline__ OutIndex Decompose(int64_t i, const PoolShape& s) {
  OutIndex o;
  o.ch = i % s.c;
  int64_t rest = i / s.c;
  o.ow = rest % s.out_w;
  rest /= s.out_w;
  o.oh = rest % s.out_h;
  o.b = rest / s.out_h;
  return o;
}

template <typename T>
__global__ void MaxPoolNhwcKernel(const T* __restrict__ x, T* __restrict__ y, int64_t total, PoolShape s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const OutIndex o = Decompose(i, s);
    const PoolTaps th = PoolTapsAt(o.oh, s.h, s.kh, s.stride_h, s.dil_h, s.pad_top, s.pad_bottom);
    const PoolTaps tw = PoolTapsAt(o.ow, s.w, s.kw, s.stride_w, s.dil_w, s.pad_left, s.pad_right);
    float m = -INFINITY;
    bool nan = false;
    for (int64_t dh = th.lo; dh < th.hi; ++dh) {
      const T* row = x + ((o.b * s.h + th.start + dh * s.dil_h) * s.w) * s.c + o.ch;
      for (int64_t dw = tw.lo; dw < tw.hi; ++dw) {
        const float v = ToFloat(row[(tw.start + dw * s.dil_w) * s.c]);
        nan |= v != v;
        m = v > m ? v : m;
      }
    }
    y[i] = FromFloat<T>(nan ? NAN : m);
  }
}

template <typename T>
__global__ void AveragePoolNhwcKernel(const T* __restrict__ x, T* __restrict__ y, int64_t total, PoolShape s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const OutIndex o = Decompose(i, s);
    const PoolTaps th = PoolTapsAt(o.oh, s.h, s.kh, s.stride_h, s.dil_h, s.pad_top, s.pad_bottom);
    const PoolTaps tw = PoolTapsAt(o.ow, s.w, s.kw, s.stride_w, s.dil_w, s.pad_left, s.pad_right);
    float sum = 0.f;
    for (int64_t dh = th.lo; dh < th.hi; ++dh) {
      const T* row = x + ((o.b * s.h + th.start + dh * s.dil_h) * s.w) * s.c + o.ch;
      for (int64_t dw = tw.lo; dw < tw.hi; ++dw) sum += ToFloat(row[(tw.start + dw * s.dil_w) * s.c]);
    }
    const int64_t div = AverageDivisor(th, tw, s.count_include_pad);
    y[i] = FromFloat<T>(div > 0 ? sum / static_cast<float>(div) : 0.f);
  }
}

enum class Kind { kMax, kAverage };

template <Kind K, typename T>
Status Launch(const T* x, T* y, const PoolShape& s, cudaStream_t stream) {
  if (s.kh <= 0 || s.kw <= 0 || s.stride_h <= 0 || s.stride_w <= 0 || s.dil_h <= 0 || s.dil_w <= 0)
    return InvalidArgument("pooling: bad window");
  const int64_t total = s.n * s.out_h * s.out_w * s.c;
  if (total <= 0) return Status::Ok();
  constexpr int kBlock = 256;
  const int64_t g = (total + kBlock - 1) / kBlock;
  const int grid = static_cast<int>(g < 65535 * 32 ? g : 65535 * 32);
  if constexpr (K == Kind::kMax) {
    MaxPoolNhwcKernel<T><<<grid, kBlock, 0, stream>>>(x, y, total, s);
    return CudaStatus(cudaGetLastError(), "MaxPoolNhwc launch");
  } else {
    AveragePoolNhwcKernel<T><<<grid, kBlock, 0, stream>>>(x, y, total, s);
    return CudaStatus(cudaGetLastError(), "AveragePoolNhwc launch");
  }
}

}  // namespace

Status MaxPoolNhwc(const float* x, float* y, const PoolShape& s, cudaStream_t stream) {
  return Launch<Kind::kMax>(x, y, s, stream);
}

Status MaxPoolNhwc(const __half* x, __half* y, const PoolShape& s, cudaStream_t stream) {
  return Launch<Kind::kMax>(x, y, s, stream);
}

Status AveragePoolNhwc(const float* x, float* y, const PoolShape& s, cudaStream_t stream) {
  return Launch<Kind::kAverage>(x, y, s, stream);
}

Status AveragePoolNhwc(const __half* x, __half* y, const PoolShape& s, cudaStream_t stream) {
  return Launch<Kind::kAverage>(x, y, s, stream);
}

}  // namespace onnxd::cuda
