#include "kernels/cuda/reduce_last_axis.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/row_reduce.cuh"

namespace onnxd::cuda {
namespace {

// One block per row (row_reduce.cuh).
template <ReduceOp Op, typename T>
__global__ void ReduceRowKernel(const T* in, T* out, int64_t cols) {
  __shared__ float shared[32];
  const T* x = in + blockIdx.x * cols;
  constexpr bool kMax = Op == ReduceOp::kMax;
  float v = kMax ? -INFINITY : 0.f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) v = kMax ? fmaxf(v, ToFloat(x[c])) : v + ToFloat(x[c]);
  v = BlockReduce<kMax>(v, shared);
  if (threadIdx.x == 0) out[blockIdx.x] = FromFloat<T>(Op == ReduceOp::kMean ? v / static_cast<float>(cols) : v);
}

template <ReduceOp Op, typename T>
Status Launch(const T* in, T* out, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows <= 0) return Status::Ok();
  if (cols <= 0) return InvalidArgument("ReduceLastAxis: empty rows");
  if (rows > 0x7fffffff) return Unimplemented("ReduceLastAxis: more than 2^31-1 rows");
  ReduceRowKernel<Op, T><<<static_cast<unsigned>(rows), RowBlockSize(cols), 0, stream>>>(in, out, cols);
  return CudaStatus(cudaGetLastError(), "ReduceLastAxis launch");
}

template <typename T>
Status Dispatch(ReduceOp op, const T* in, T* out, int64_t rows, int64_t cols, cudaStream_t stream) {
  switch (op) {
    case ReduceOp::kSum: return Launch<ReduceOp::kSum>(in, out, rows, cols, stream);
    case ReduceOp::kMean: return Launch<ReduceOp::kMean>(in, out, rows, cols, stream);
    case ReduceOp::kMax: return Launch<ReduceOp::kMax>(in, out, rows, cols, stream);
  }
  return InvalidArgument("ReduceLastAxis: unknown op");
}

}  // namespace

Status ReduceLastAxis(ReduceOp op, const float* in, float* out, int64_t rows, int64_t cols, cudaStream_t stream) {
  return Dispatch(op, in, out, rows, cols, stream);
}

Status ReduceLastAxis(ReduceOp op, const __half* in, __half* out, int64_t rows, int64_t cols, cudaStream_t stream) {
  return Dispatch(op, in, out, rows, cols, stream);
}

}  // namespace onnxd::cuda
