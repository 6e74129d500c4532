#include "kernels/cuda/layer_norm.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/row_reduce.cuh"

namespace onnxd::cuda {
namespace {

// Element c of a row: x, or x + residual rounded to T (no contraction: as a separate Add).
template <typename T>
__device__ __forceinline__ float RowValue(const T* xr, const T* rr, int64_t c) {
  return rr == nullptr ? ToFloat(xr[c]) : ToFloat(FromFloat<T>(__fadd_rn(ToFloat(xr[c]), ToFloat(rr[c]))));
}

// Two passes over the row (row_reduce.cuh BlockMeanVariance). kRms (RMSNormalization): no mean is
// subtracted, and the row's mean square (variance + mean^2) takes the variance's place.
template <typename T, bool kRms>
__global__ void LayerNormKernel(const T* x, const T* residual, int64_t residual_rows, const T* scale, const T* bias,
                                T* y, int64_t cols, float epsilon, T* sum_out) {
  __shared__ float shared[32];
  const T* xr = x + blockIdx.x * cols;
  const T* rr = residual != nullptr ? residual + (blockIdx.x % residual_rows) * cols : nullptr;
  T* yr = y + blockIdx.x * cols;
  const float2 mv = BlockMeanVariance([xr, rr](long long c) { return RowValue(xr, rr, c); }, cols, shared);
  const float mean = kRms ? 0.f : mv.x, inv_std = rsqrtf((kRms ? mv.y + mv.x * mv.x : mv.y) + epsilon);
  T* sr = sum_out != nullptr ? sum_out + blockIdx.x * cols : nullptr;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float v = RowValue(xr, rr, c);
    if (sr != nullptr) sr[c] = FromFloat<T>(v);
    yr[c] = FromFloat<T>((v - mean) * inv_std * ToFloat(scale[c]) + (bias ? ToFloat(bias[c]) : 0.f));
  }
}

// Rows of up to 128 * kPer elements (BERT's 768, 1024): 128 threads each keep their kPer values in
// registers, so the row is read from memory once (the kernel above reads it three times, with up
// to 1024 threads mostly waiting on each other).
constexpr int kRowThreads = 128;
template <typename T, int kPer, bool kRms>
__global__ void LayerNormRegistersKernel(const T* x, const T* residual, int64_t residual_rows, const T* scale,
                                         const T* bias, T* y, int cols, float epsilon, T* sum_out) {
  __shared__ float shared[32];
  const T* xr = x + static_cast<int64_t>(blockIdx.x) * cols;
  const T* rr = residual != nullptr ? residual + (static_cast<int64_t>(blockIdx.x) % residual_rows) * cols : nullptr;
  T* yr = y + static_cast<int64_t>(blockIdx.x) * cols;
  float v[kPer];
  float s = 0.f;
#pragma unroll
  for (int k = 0; k < kPer; ++k) {
    const int c = threadIdx.x + k * kRowThreads;
    v[k] = c < cols ? RowValue(xr, rr, c) : 0.f;
    s += v[k];
  }
  const float mean = kRms ? 0.f : BlockReduce<false>(s, shared) / static_cast<float>(cols);
  float q = 0.f;
#pragma unroll
  for (int k = 0; k < kPer; ++k) {
    const int c = threadIdx.x + k * kRowThreads;
    const float d = c < cols ? v[k] - mean : 0.f;
    q += d * d;
  }
  const float inv_std = rsqrtf(BlockReduce<false>(q, shared) / static_cast<float>(cols) + epsilon);
  T* sr = sum_out != nullptr ? sum_out + static_cast<int64_t>(blockIdx.x) * cols : nullptr;
#pragma unroll
  for (int k = 0; k < kPer; ++k) {
    const int c = threadIdx.x + k * kRowThreads;
    if (c < cols && sr != nullptr) sr[c] = FromFloat<T>(v[k]);
    if (c < cols) yr[c] = FromFloat<T>((v[k] - mean) * inv_std * ToFloat(scale[c]) + (bias ? ToFloat(bias[c]) : 0.f));
  }
}

template <bool kRms, typename T>
Status Launch(const T* x, const T* residual, int64_t residual_rows, const T* scale, const T* bias, T* y, int64_t rows,
              int64_t cols, float epsilon, cudaStream_t stream, T* sum_out = nullptr) {
  if (residual_rows <= 0) residual_rows = rows;
  if (rows <= 0 || cols <= 0) return Status::Ok();
  if (rows > 0x7fffffff) return Unimplemented("LayerNormLastAxis: more than 2^31-1 rows");
  if (!scale) return InvalidArgument("LayerNormLastAxis: scale is required");
  const unsigned grid = static_cast<unsigned>(rows);
  const int c = static_cast<int>(cols);
  if (cols <= 128)
    LayerNormRegistersKernel<T, 1, kRms><<<grid, kRowThreads, 0, stream>>>(x, residual, residual_rows, scale, bias, y, c,
                                                                        epsilon, sum_out);
  else if (cols <= 256)
    LayerNormRegistersKernel<T, 2, kRms><<<grid, kRowThreads, 0, stream>>>(x, residual, residual_rows, scale, bias, y, c,
                                                                        epsilon, sum_out);
  else if (cols <= 512)
    LayerNormRegistersKernel<T, 4, kRms><<<grid, kRowThreads, 0, stream>>>(x, residual, residual_rows, scale, bias, y, c,
                                                                        epsilon, sum_out);
  else if (cols <= 1024)
    LayerNormRegistersKernel<T, 8, kRms><<<grid, kRowThreads, 0, stream>>>(x, residual, residual_rows, scale, bias, y, c,
                                                                        epsilon, sum_out);
  else
    LayerNormKernel<T, kRms><<<grid, RowBlockSize(cols), 0, stream>>>(x, residual, residual_rows, scale, bias, y, cols,
                                                               epsilon, sum_out);
  return CudaStatus(cudaGetLastError(), "LayerNormLastAxis launch");
}

}  // namespace

Status LayerNormLastAxis(const float* x, const float* scale, const float* bias, float* y, int64_t rows, int64_t cols,
                         float epsilon, cudaStream_t stream, const float* residual, int64_t residual_rows,
                         float* sum_out) {
  return Launch<false>(x, residual, residual_rows, scale, bias, y, rows, cols, epsilon, stream, sum_out);
}

Status LayerNormLastAxis(const __half* x, const __half* scale, const __half* bias, __half* y, int64_t rows,
                         int64_t cols, float epsilon, cudaStream_t stream, const __half* residual,
                         int64_t residual_rows, __half* sum_out) {
  return Launch<false>(x, residual, residual_rows, scale, bias, y, rows, cols, epsilon, stream, sum_out);
}

Status RmsNormLastAxis(const float* x, const float* scale, float* y, int64_t rows, int64_t cols, float epsilon,
                       cudaStream_t stream) {
  return Launch<true>(x, static_cast<const float*>(nullptr), 0, scale, static_cast<const float*>(nullptr), y, rows,
                      cols, epsilon, stream);
}

Status RmsNormLastAxis(const __half* x, const __half* scale, __half* y, int64_t rows, int64_t cols, float epsilon,
                       cudaStream_t stream) {
  return Launch<true>(x, static_cast<const __half*>(nullptr), 0, scale, static_cast<const __half*>(nullptr), y, rows,
                      cols, epsilon, stream);
}

}  // namespace onnxd::cuda
