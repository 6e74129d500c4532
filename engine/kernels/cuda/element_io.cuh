// Loads and stores that compute in fp32 whatever the storage type (float or __half), so that one
// kernel template serves both precisions with fp32 arithmetic and accumulation.
#pragma once

#include <cuda_fp16.h>

namespace onnxd::cuda {

__device__ __forceinline__ float ToFloat(float v) { return v; }
__device__ __forceinline__ float ToFloat(__half v) { return __half2float(v); }

template <typename T>
__device__ __forceinline__ T FromFloat(float v);
template <>
__device__ __forceinline__ float FromFloat<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half FromFloat<__half>(float v) { return __float2half_rn(v); }

// The type a kernel computes an element type in: fp32 for fp16, the type itself otherwise (float,
// double, the integer types).
template <typename T>
struct AccumOf {
  using type = T;
};
template <>
struct AccumOf<__half> {
  using type = float;
};
template <typename T>
using Accum = typename AccumOf<T>::type;

}  // namespace onnxd::cuda
