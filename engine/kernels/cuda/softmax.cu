#include "kernels/cuda/softmax.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/row_reduce.cuh"

namespace onnxd::cuda {
namespace {

template <typename T>
__global__ void SoftmaxKernel(const T* in, T* out, int64_t cols) {
  __shared__ float shared[32];
  const T* x = in + blockIdx.x * cols;
  T* y = out + blockIdx.x * cols;
  float m = -INFINITY;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, ToFloat(x[c]));
  m = BlockReduce<true>(m, shared);
  float s = 0.f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += expf(ToFloat(x[c]) - m);
  s = BlockReduce<false>(s, shared);
  const float inv = 1.f / s;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) y[c] = FromFloat<T>(expf(ToFloat(x[c]) - m) * inv);
}

template <typename T>
Status Launch(const T* in, T* out, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return Status::Ok();
  if (rows > 0x7fffffff) return Unimplemented("SoftmaxLastAxis: more than 2^31-1 rows");
  SoftmaxKernel<T><<<static_cast<unsigned>(rows), RowBlockSize(cols), 0, stream>>>(in, out, cols);
  return CudaStatus(cudaGetLastError(), "SoftmaxLastAxis launch");
}

}  // namespace

Status SoftmaxLastAxis(const float* in, float* out, int64_t rows, int64_t cols, cudaStream_t stream) {
  return Launch(in, out, rows, cols, stream);
}

Status SoftmaxLastAxis(const __half* in, __half* out, int64_t rows, int64_t cols, cudaStream_t stream) {
  return Launch(in, out, rows, cols, stream);
}

}  // namespace onnxd::cuda
