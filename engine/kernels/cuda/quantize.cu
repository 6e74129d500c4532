#include "kernels/cuda/quantize.h"

#include <cuda_fp16.h>

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/grid_stride.h"

namespace onnxd::cuda {
namespace {

template <typename X, typename Q>
__global__ void QuantizeKernel(const X* __restrict__ x, Q* __restrict__ y, int64_t n, float scale, int32_t zero_point,
                               int32_t lo, int32_t hi) {
  // The CPU op clamps to +-2^21 before rounding (its rounding trick's range); the result clamps to
  // the type's range after either way.
  constexpr float kLim = 2097152.f;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v = ToFloat(x[i]) / scale;
    v = !(v >= -kLim) ? -kLim : (v > kLim ? kLim : v);
    int32_t r = static_cast<int32_t>(rintf(v)) + zero_point;
    r = r < lo ? lo : (r > hi ? hi : r);
    y[i] = static_cast<Q>(r);
  }
}

template <typename Q, typename Y>
__global__ void DequantizeKernel(const Q* __restrict__ x, Y* __restrict__ y, int64_t n, float scale,
                                 int32_t zero_point) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[i] = FromFloat<Y>(static_cast<float>(static_cast<int32_t>(x[i]) - zero_point) * scale);
}

template <typename X, typename Q>
Status LaunchQuantize(const void* x, void* y, int64_t n, float scale, int32_t zero_point, int32_t lo, int32_t hi,
                      cudaStream_t stream) {
  QuantizeKernel<X, Q><<<GridBlocks(n), kGridStrideBlock, 0, stream>>>(static_cast<const X*>(x), static_cast<Q*>(y), n,
                                                                        scale, zero_point, lo, hi);
  return CudaStatus(cudaGetLastError(), "QuantizeLinear launch");
}

template <typename Q, typename Y>
Status LaunchDequantize(const void* x, void* y, int64_t n, float scale, int32_t zero_point, cudaStream_t stream) {
  DequantizeKernel<Q, Y><<<GridBlocks(n), kGridStrideBlock, 0, stream>>>(static_cast<const Q*>(x), static_cast<Y*>(y),
                                                                          n, scale, zero_point);
  return CudaStatus(cudaGetLastError(), "DequantizeLinear launch");
}

}  // namespace

Status QuantizeLinear(const void* x, ElemType x_type, void* y, ElemType y_type, int64_t n, float scale,
                      int32_t zero_point, cudaStream_t stream) {
  if (n <= 0) return Status::Ok();
  const bool half = x_type == ElemType::kHalf;
  if (!half && x_type != ElemType::kFloat) return InvalidArgument("QuantizeLinear: x must be float or float16");
  if (y_type == ElemType::kUInt8)
    return half ? LaunchQuantize<__half, uint8_t>(x, y, n, scale, zero_point, 0, 255, stream)
                : LaunchQuantize<float, uint8_t>(x, y, n, scale, zero_point, 0, 255, stream);
  if (y_type == ElemType::kInt8)
    return half ? LaunchQuantize<__half, int8_t>(x, y, n, scale, zero_point, -128, 127, stream)
                : LaunchQuantize<float, int8_t>(x, y, n, scale, zero_point, -128, 127, stream);
  return InvalidArgument("QuantizeLinear: y must be int8 or uint8");
}

Status DequantizeLinear(const void* x, ElemType x_type, void* y, ElemType y_type, int64_t n, float scale,
                        int32_t zero_point, cudaStream_t stream) {
  if (n <= 0) return Status::Ok();
  const bool half = y_type == ElemType::kHalf;
  if (!half && y_type != ElemType::kFloat) return InvalidArgument("DequantizeLinear: y must be float or float16");
  if (x_type == ElemType::kUInt8)
    return half ? LaunchDequantize<uint8_t, __half>(x, y, n, scale, zero_point, stream)
                : LaunchDequantize<uint8_t, float>(x, y, n, scale, zero_point, stream);
  if (x_type == ElemType::kInt8)
    return half ? LaunchDequantize<int8_t, __half>(x, y, n, scale, zero_point, stream)
                : LaunchDequantize<int8_t, float>(x, y, n, scale, zero_point, stream);
  return InvalidArgument("DequantizeLinear: x must be int8 or uint8");
}

}  // namespace onnxd::cuda
