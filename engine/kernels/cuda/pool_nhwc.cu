#include "kernels/cuda/pool_nhwc.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/grid_stride.h"

namespace onnxd::cuda {
namespace {

// Output element i = (((b * out_d + od) * out_h + oh) * out_w + ow) * c + ch (out_d = 1 in 2-D).
struct OutIndex {
  int64_t b, od, oh, ow, ch;
};

__device__ __forceinline__ OutIndex Decompose(int64_t i, const PoolShape& s) {
  OutIndex o;
  o.ch = i % s.c;
  int64_t rest = i / s.c;
  o.ow = rest % s.out_w;
  rest /= s.out_w;
  o.oh = rest % s.out_h;
  rest /= s.out_h;
  o.od = rest % s.out_d;
  o.b = rest / s.out_d;
  return o;
}

// The window's taps along each axis.
struct Taps {
  PoolTaps d, h, w;
};

__device__ __forceinline__ Taps TapsOf(const OutIndex& o, const PoolShape& s) {
  return {PoolTapsAt(o.od, s.d, s.kd, s.stride_d, s.dil_d, s.pad_front, s.pad_back),
          PoolTapsAt(o.oh, s.h, s.kh, s.stride_h, s.dil_h, s.pad_top, s.pad_bottom),
          PoolTapsAt(o.ow, s.w, s.kw, s.stride_w, s.dil_w, s.pad_left, s.pad_right)};
}

// Element (b, z, y, x, ch) of the input, z / y / x input positions.
__device__ __forceinline__ int64_t InputIndex(const PoolShape& s, int64_t b, int64_t z, int64_t y, int64_t x,
                                              int64_t ch) {
  return (((b * s.d + z) * s.h + y) * s.w + x) * s.c + ch;
}

template <typename T>
__global__ void MaxPoolNhwcKernel(const T* __restrict__ x, T* __restrict__ y, int64_t total, PoolShape s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const OutIndex o = Decompose(i, s);
    const Taps t = TapsOf(o, s);
    float m = -INFINITY;
    bool nan = false;
    for (int64_t dz = t.d.lo; dz < t.d.hi; ++dz) {
      const int64_t z = t.d.start + dz * s.dil_d;
      for (int64_t dh = t.h.lo; dh < t.h.hi; ++dh) {
        const T* row = x + InputIndex(s, o.b, z, t.h.start + dh * s.dil_h, 0, o.ch);
        for (int64_t dw = t.w.lo; dw < t.w.hi; ++dw) {
          const float v = ToFloat(row[(t.w.start + dw * s.dil_w) * s.c]);
          nan |= v != v;
          m = v > m ? v : m;
        }
      }
    }
    y[i] = FromFloat<T>(!HasInputTap(t.d, t.h, t.w) ? 0.f : nan ? NAN : m);
  }
}

// MaxPool with its Indices output, as the CPU op computes both: the first tap of the window in
// scan order (z, then y, then x), replaced only by a strictly greater value (so a NaN is kept only
// when it comes first); y is that element, 0 for a window with no tap inside the input (index of
// the plane's first element). Indices number the input as NCDHW: (b * c + ch) * d * h * w plus
// the spatial offset, row-major, or column-major over the spatial axes with `col_major`
// (storage_order 1: z + y * d + x * d * h).
template <typename T>
__global__ void MaxPoolIndicesKernel(const T* __restrict__ x, T* __restrict__ y, int64_t* __restrict__ ind,
                                     int64_t total, PoolShape s, bool col_major) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const OutIndex o = Decompose(i, s);
    const Taps t = TapsOf(o, s);
    float best = 0.f;
    int64_t bz = -1, by = 0, bx = 0;
    for (int64_t dz = t.d.lo; dz < t.d.hi; ++dz) {
      const int64_t z = t.d.start + dz * s.dil_d;
      for (int64_t dh = t.h.lo; dh < t.h.hi; ++dh) {
        const int64_t yy = t.h.start + dh * s.dil_h;
        const T* row = x + InputIndex(s, o.b, z, yy, 0, o.ch);
        for (int64_t dw = t.w.lo; dw < t.w.hi; ++dw) {
          const int64_t xx = t.w.start + dw * s.dil_w;
          const float v = ToFloat(row[xx * s.c]);
          if (bz < 0 || v > best) {
            best = v;
            bz = z;
            by = yy;
            bx = xx;
          }
        }
      }
    }
    y[i] = FromFloat<T>(bz < 0 ? 0.f : best);
    if (bz < 0) bz = 0;
    const int64_t plane = (o.b * s.c + o.ch) * s.d * s.h * s.w;
    ind[i] = plane + (col_major ? bz + (by + bx * s.h) * s.d : (bz * s.h + by) * s.w + bx);
  }
}

// The sum of term(x) over the taps of output element o's window.
template <typename T, typename Term>
__device__ __forceinline__ float WindowSum(const T* __restrict__ x, const PoolShape& s, const OutIndex& o,
                                           const Taps& t, Term term) {
  float sum = 0.f;
  for (int64_t dz = t.d.lo; dz < t.d.hi; ++dz) {
    const int64_t z = t.d.start + dz * s.dil_d;
    for (int64_t dh = t.h.lo; dh < t.h.hi; ++dh) {
      const T* row = x + InputIndex(s, o.b, z, t.h.start + dh * s.dil_h, 0, o.ch);
      for (int64_t dw = t.w.lo; dw < t.w.hi; ++dw) sum += term(ToFloat(row[(t.w.start + dw * s.dil_w) * s.c]));
    }
  }
  return sum;
}

template <typename T>
__global__ void AveragePoolNhwcKernel(const T* __restrict__ x, T* __restrict__ y, int64_t total, PoolShape s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const OutIndex o = Decompose(i, s);
    const Taps t = TapsOf(o, s);
    const float sum = WindowSum(x, s, o, t, [](float v) { return v; });
    const int64_t div = AverageDivisor(t.d, t.h, t.w, s.count_include_pad);
    y[i] = FromFloat<T>(div > 0 ? sum / static_cast<float>(div) : 0.f);
  }
}

template <typename T>
__global__ void LpPoolNhwcKernel(const T* __restrict__ x, T* __restrict__ y, int64_t total, PoolShape s, float p) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const OutIndex o = Decompose(i, s);
    const Taps t = TapsOf(o, s);
    const float sum = WindowSum(x, s, o, t, [p](float v) { return powf(fabsf(v), p); });
    y[i] = FromFloat<T>(powf(sum * LpScale(s, t.d, t.h, t.w), 1.f / p));
  }
}

enum class Kind { kMax, kAverage, kLp };

Status CheckWindow(const PoolShape& s) {
  if (s.kh <= 0 || s.kw <= 0 || s.kd <= 0 || s.stride_h <= 0 || s.stride_w <= 0 || s.stride_d <= 0 || s.dil_h <= 0 ||
      s.dil_w <= 0 || s.dil_d <= 0)
    return InvalidArgument("pooling: bad window");
  return Status::Ok();
}

template <Kind K, typename T>
Status Launch(const T* x, T* y, const PoolShape& s, cudaStream_t stream, float p = 2.f) {
  RETURN_IF_ERROR(CheckWindow(s));
  const int64_t total = s.out_count();
  if (total <= 0) return Status::Ok();
  constexpr int kBlock = kGridStrideBlock;
  const int grid = GridBlocks(total);
  if constexpr (K == Kind::kMax) {
    MaxPoolNhwcKernel<T><<<grid, kBlock, 0, stream>>>(x, y, total, s);
    return CudaStatus(cudaGetLastError(), "MaxPoolNhwc launch");
  } else if constexpr (K == Kind::kAverage) {
    AveragePoolNhwcKernel<T><<<grid, kBlock, 0, stream>>>(x, y, total, s);
    return CudaStatus(cudaGetLastError(), "AveragePoolNhwc launch");
  } else {
    if (!(p > 0.f)) return InvalidArgument("LpPool: p must be positive");
    LpPoolNhwcKernel<T><<<grid, kBlock, 0, stream>>>(x, y, total, s, p);
    return CudaStatus(cudaGetLastError(), "LpPoolNhwc launch");
  }
}

}  // namespace

Status MaxPoolNhwc(const float* x, float* y, const PoolShape& s, cudaStream_t stream) {
  return Launch<Kind::kMax>(x, y, s, stream);
}

Status MaxPoolNhwc(const __half* x, __half* y, const PoolShape& s, cudaStream_t stream) {
  return Launch<Kind::kMax>(x, y, s, stream);
}

template <typename T>
Status MaxPoolIndicesLaunch(const T* x, T* y, int64_t* indices, const PoolShape& s, bool col_major,
                            cudaStream_t stream) {
  RETURN_IF_ERROR(CheckWindow(s));
  const int64_t total = s.out_count();
  if (total <= 0) return Status::Ok();
  MaxPoolIndicesKernel<T><<<GridBlocks(total), kGridStrideBlock, 0, stream>>>(x, y, indices, total, s, col_major);
  return CudaStatus(cudaGetLastError(), "MaxPoolWithIndices launch");
}

Status MaxPoolWithIndices(const float* x, float* y, int64_t* indices, const PoolShape& s, bool col_major,
                          cudaStream_t stream) {
  return MaxPoolIndicesLaunch(x, y, indices, s, col_major, stream);
}

Status MaxPoolWithIndices(const __half* x, __half* y, int64_t* indices, const PoolShape& s, bool col_major,
                          cudaStream_t stream) {
  return MaxPoolIndicesLaunch(x, y, indices, s, col_major, stream);
}

Status AveragePoolNhwc(const float* x, float* y, const PoolShape& s, cudaStream_t stream) {
  return Launch<Kind::kAverage>(x, y, s, stream);
}

Status AveragePoolNhwc(const __half* x, __half* y, const PoolShape& s, cudaStream_t stream) {
  return Launch<Kind::kAverage>(x, y, s, stream);
}

Status LpPoolNhwc(const float* x, float* y, const PoolShape& s, float p, cudaStream_t stream) {
  return Launch<Kind::kLp>(x, y, s, stream, p);
}

Status LpPoolNhwc(const __half* x, __half* y, const PoolShape& s, float p, cudaStream_t stream) {
  return Launch<Kind::kLp>(x, y, s, stream, p);
}

}  // namespace onnxd::cuda
