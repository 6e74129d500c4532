#include "kernels/cuda/layer_norm.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/row_reduce.cuh"

namespace onnxd::cuda {
namespace {

// Two passes over the row (mean, then squared deviations) rather than E[x^2] - E[x]^2, which
// cancels badly when |mean| >> stddev.
__global__ void LayerNormKernel(const float* x, const float* scale, const float* bias, float* y, int64_t cols,
                                float epsilon) {
  __shared__ float shared[32];
  const float* xr = x + blockIdx.x * cols;
  float* yr = y + blockIdx.x * cols;
  float s = 0.f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += xr[c];
  const float mean = BlockReduce<false>(s, shared) / static_cast<float>(cols);
  float v = 0.f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float d = xr[c] - mean;
    v += d * d;
  }
  const float inv_std = rsqrtf(BlockReduce<false>(v, shared) / static_cast<float>(cols) + epsilon);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    yr[c] = (xr[c] - mean) * inv_std * scale[c] + (bias ? bias[c] : 0.f);
}

}  // namespace

Status LayerNormLastAxis(const float* x, const float* scale, const float* bias, float* y, int64_t rows, int64_t cols,
                         float epsilon, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return Status::Ok();
  if (rows > 0x7fffffff) return Unimplemented("LayerNormLastAxis: more than 2^31-1 rows");
  if (!scale) return InvalidArgument("LayerNormLastAxis: scale is required");
  LayerNormKernel<<<static_cast<unsigned>(rows), RowBlockSize(cols), 0, stream>>>(x, scale, bias, y, cols, epsilon);
  return CudaStatus(cudaGetLastError(), "LayerNormLastAxis launch");
}

}  // namespace onnxd::cuda
