// MaxAbsDiff (gemm_lt.h): a grid-stride pass, the two maxima kept as the bit patterns of
// non-negative floats (which order like unsigned integers), combined with atomicMax.
#include <cuda_fp16.h>

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/gemm_lt.h"

namespace onnxd::cuda {
namespace {

template <typename T>
__global__ void MaxAbsDiffKernel(const T* a, const T* b, int64_t n, unsigned int* out) {
  float d = 0.f, r = 0.f;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float x = ToFloat(a[i]), y = ToFloat(b[i]);
    float e = fabsf(x - y);
    if (e != e && !(x != x && y != y)) e = INFINITY;  // NaN on one side only counts as infinite
    if (e != e) e = 0.f;                              // NaN on both sides agrees
    d = fmaxf(d, e);
    r = fmaxf(r, fabsf(y));
  }
  for (int off = 16; off > 0; off >>= 1) {
    d = fmaxf(d, __shfl_xor_sync(0xffffffffu, d, off));
    r = fmaxf(r, __shfl_xor_sync(0xffffffffu, r, off));
  }
  if ((threadIdx.x & 31) == 0) {
    atomicMax(out, __float_as_uint(d));
    atomicMax(out + 1, __float_as_uint(r));
  }
}

template <typename T>
__global__ void CountMismatchesKernel(const T* a, const T* b, int64_t n, float atol, float rtol,
                                      unsigned long long* out) {
  unsigned long long bad = 0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float x = ToFloat(a[i]), y = ToFloat(b[i]);
    bool ok;
    if (x != x || y != y) ok = x != x && y != y;
    else if (isinf(x) || isinf(y)) ok = x == y;
    else ok = fabsf(x - y) <= atol + rtol * fabsf(y);
    bad += ok ? 0 : 1;
  }
  for (int off = 16; off > 0; off >>= 1) bad += __shfl_xor_sync(0xffffffffu, bad, off);
  if ((threadIdx.x & 31) == 0 && bad > 0) atomicAdd(out, bad);
}

}  // namespace

StatusOr<int64_t> CountMismatches(const void* a, const void* b, int64_t n, bool half, float atol, float rtol,
                                  cudaStream_t stream) {
  unsigned long long* dev = nullptr;
  ONNXD_CUDA_RETURN_IF_ERROR(cudaMallocAsync(reinterpret_cast<void**>(&dev), sizeof(unsigned long long), stream));
  cudaError_t err = cudaMemsetAsync(dev, 0, sizeof(unsigned long long), stream);
  if (err == cudaSuccess && n > 0) {
    const int64_t g = (n + 255) / 256;
    const int grid = static_cast<int>(g < 4096 ? g : 4096);
    if (half)
      CountMismatchesKernel<__half><<<grid, 256, 0, stream>>>(static_cast<const __half*>(a),
                                                              static_cast<const __half*>(b), n, atol, rtol, dev);
    else
      CountMismatchesKernel<float><<<grid, 256, 0, stream>>>(static_cast<const float*>(a), static_cast<const float*>(b),
                                                             n, atol, rtol, dev);
    err = cudaGetLastError();
  }
  unsigned long long host = 0;
  if (err == cudaSuccess) err = cudaMemcpyAsync(&host, dev, sizeof(host), cudaMemcpyDeviceToHost, stream);
  cudaFreeAsync(dev, stream);
  if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
  ONNXD_CUDA_RETURN_IF_ERROR(err);
  return static_cast<int64_t>(host);
}

StatusOr<std::pair<float, float>> MaxAbsDiff(const void* a, const void* b, int64_t n, bool half, cudaStream_t stream) {
  unsigned int* dev = nullptr;
  ONNXD_CUDA_RETURN_IF_ERROR(cudaMallocAsync(reinterpret_cast<void**>(&dev), 2 * sizeof(unsigned int), stream));
  cudaError_t err = cudaMemsetAsync(dev, 0, 2 * sizeof(unsigned int), stream);
  if (err == cudaSuccess && n > 0) {
    const int64_t g = (n + 255) / 256;
    const int grid = static_cast<int>(g < 4096 ? g : 4096);
    if (half)
      MaxAbsDiffKernel<__half><<<grid, 256, 0, stream>>>(static_cast<const __half*>(a), static_cast<const __half*>(b),
                                                         n, dev);
    else
      MaxAbsDiffKernel<float><<<grid, 256, 0, stream>>>(static_cast<const float*>(a), static_cast<const float*>(b), n,
                                                        dev);
    err = cudaGetLastError();
  }
  unsigned int host[2] = {0, 0};
  if (err == cudaSuccess) err = cudaMemcpyAsync(host, dev, sizeof(host), cudaMemcpyDeviceToHost, stream);
  cudaFreeAsync(dev, stream);
  if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
  ONNXD_CUDA_RETURN_IF_ERROR(err);
  float d, r;
  static_assert(sizeof(float) == sizeof(unsigned int));
  __builtin_memcpy(&d, &host[0], sizeof(d));
  __builtin_memcpy(&r, &host[1], sizeof(r));
  return std::make_pair(d, r);
}

}  // namespace onnxd::cuda
