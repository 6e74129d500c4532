#include "kernels/cuda/reduce_last_axis.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/row_reduce.cuh"

namespace onnxd::cuda {
namespace {

// BlockReduce's product (row_reduce.cuh has sum and max): every thread gets the block's product.
__device__ __forceinline__ float BlockProduct(float v, float* shared /* >= 32 floats */) {
  for (int off = 16; off > 0; off >>= 1) v *= __shfl_xor_sync(0xffffffffu, v, off);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : 1.f;
  for (int off = 16; off > 0; off >>= 1) v *= __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// The max with NaN winning on either side, as the CPU ReduceMax / ReduceMin compare (fmaxf would
// drop the NaN).
__device__ __forceinline__ float MaxOrNaN(float a, float b) { return (b > a || b != b) ? b : a; }

// BlockReduce's max with MaxOrNaN: a NaN anywhere in the block reaches every thread.
__device__ __forceinline__ float BlockMaxOrNaN(float v, float* shared /* >= 32 floats */) {
  for (int off = 16; off > 0; off >>= 1) v = MaxOrNaN(v, __shfl_xor_sync(0xffffffffu, v, off));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : -INFINITY;
  for (int off = 16; off > 0; off >>= 1) v = MaxOrNaN(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// One block per row (row_reduce.cuh).
template <ReduceOp Op, typename T>
__global__ void ReduceRowKernel(const T* in, T* out, int64_t cols) {
  __shared__ float shared[32];
  const T* x = in + blockIdx.x * cols;
  float r = 0.f;
  if constexpr (Op == ReduceOp::kMax || Op == ReduceOp::kMin || Op == ReduceOp::kLogSumExp) {
    // The min as the max of the negated values.
    constexpr float kSign = Op == ReduceOp::kMin ? -1.f : 1.f;
    float v = -INFINITY;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) v = MaxOrNaN(v, kSign * ToFloat(x[c]));
    v = BlockMaxOrNaN(v, shared);
    if constexpr (Op == ReduceOp::kLogSumExp) {
      const float shift = isfinite(v) ? v : 0.f;
      float s = 0.f;
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += expf(ToFloat(x[c]) - shift);
      s = BlockReduce<false>(s, shared);
      r = logf(s) + shift;
    } else {
      r = kSign * v;
    }
  } else if constexpr (Op == ReduceOp::kProd) {
    float v = 1.f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) v *= ToFloat(x[c]);
    r = BlockProduct(v, shared);
  } else {
    constexpr bool kSquare = Op == ReduceOp::kL2 || Op == ReduceOp::kSumSquare;
    float v = 0.f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float e = ToFloat(x[c]);
      v += kSquare ? e * e : e;
    }
    v = BlockReduce<false>(v, shared);
    r = Op == ReduceOp::kMean ? v / static_cast<float>(cols) : Op == ReduceOp::kL2 ? sqrtf(v) : v;
  }
  if (threadIdx.x == 0) out[blockIdx.x] = FromFloat<T>(r);
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
    case ReduceOp::kMin: return Launch<ReduceOp::kMin>(in, out, rows, cols, stream);
    case ReduceOp::kProd: return Launch<ReduceOp::kProd>(in, out, rows, cols, stream);
    case ReduceOp::kL2: return Launch<ReduceOp::kL2>(in, out, rows, cols, stream);
    case ReduceOp::kLogSumExp: return Launch<ReduceOp::kLogSumExp>(in, out, rows, cols, stream);
    case ReduceOp::kSumSquare: return Launch<ReduceOp::kSumSquare>(in, out, rows, cols, stream);
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
