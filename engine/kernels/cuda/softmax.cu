#include "kernels/cuda/softmax.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/row_reduce.cuh"

namespace onnxd::cuda {
namespace {

// Row `row`'s input element c after the fused prologue (each step rounded to T).
template <typename T>
struct FusedRow {
  const T* x;
  const T* bias;  // nullptr: none
  int64_t bias_col_stride;
  float scale;
  bool has_scale;
  __device__ FusedRow(const T* in, int64_t row, int64_t cols, const SoftmaxFusion& f)
      : x(in + row * cols),
        bias(f.bias != nullptr ? static_cast<const T*>(f.bias) + f.layout.RowOffset(row) : nullptr),
        bias_col_stride(f.layout.col_stride),
        scale(f.scale),
        has_scale(f.has_scale) {}
  __device__ float operator[](int64_t c) const {
    float v = ToFloat(x[c]);
    // Rounded multiply, then rounded add (no contraction into one FMA): as the separate nodes.
    if (has_scale) v = ToFloat(FromFloat<T>(__fmul_rn(v, scale)));
    if (bias != nullptr) v = ToFloat(FromFloat<T>(__fadd_rn(v, ToFloat(bias[c * bias_col_stride]))));
    return v;
  }
};

__device__ __forceinline__ float NanToZero(float v, bool on) { return on && isnan(v) ? 0.f : v; }

// kLog: LogSoftmax (x - max - log(sum)) instead of Softmax.
template <typename T, bool kLog>
__global__ void SoftmaxKernel(const T* in, T* out, int64_t cols, SoftmaxFusion f) {
  __shared__ float shared[32];
  const FusedRow<T> x(in, blockIdx.x, cols, f);
  T* y = out + blockIdx.x * cols;
  float m = -INFINITY;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, x[c]);
  m = BlockReduce<true>(m, shared);
  float s = 0.f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += expf(x[c] - m);
  s = BlockReduce<false>(s, shared);
  if constexpr (kLog) {
    // (x - m) - log(s), as the CPU op: x - (m + log(s)) would round log(s) to m's ulp first.
    const float ls = logf(s);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) y[c] = FromFloat<T>((x[c] - m) - ls);
  } else {
    const float inv = 1.f / s;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
      y[c] = FromFloat<T>(NanToZero(expf(x[c] - m) * inv, f.nan_to_zero));
  }
}

// Rows of up to 32 * kPer elements (attention's 128-wide scores): one warp a row, its values in
// registers, reduced with shuffles alone; four rows a block.
constexpr int kWarpRowsPerBlock = 4;
template <typename T, int kPer, bool kLog>
__global__ void SoftmaxWarpKernel(const T* in, T* out, int64_t rows, int cols, SoftmaxFusion f) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpRowsPerBlock + (threadIdx.x >> 5);
  if (row >= rows) return;  // the whole warp: `row` is the same for its lanes
  const int lane = threadIdx.x & 31;
  const FusedRow<T> x(in, row, cols, f);
  T* y = out + row * cols;
  float v[kPer];
  float m = -INFINITY;
#pragma unroll
  for (int k = 0; k < kPer; ++k) {
    const int c = lane + 32 * k;
    v[k] = c < cols ? x[c] : -INFINITY;
    m = fmaxf(m, v[k]);
  }
  for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
  float s = 0.f;
#pragma unroll
  for (int k = 0; k < kPer; ++k) {
    const int c = lane + 32 * k;
    const float e = c < cols ? expf(v[k] - m) : 0.f;
    s += e;
    if constexpr (!kLog) v[k] = e;  // LogSoftmax keeps x
  }
  for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
  if constexpr (kLog) {
    const float ls = logf(s);  // (x - m) - log(s), as the block kernel
#pragma unroll
    for (int k = 0; k < kPer; ++k) {
      const int c = lane + 32 * k;
      if (c < cols) y[c] = FromFloat<T>((v[k] - m) - ls);
    }
  } else {
    const float inv = 1.f / s;
#pragma unroll
    for (int k = 0; k < kPer; ++k) {
      const int c = lane + 32 * k;
      if (c < cols) y[c] = FromFloat<T>(NanToZero(v[k] * inv, f.nan_to_zero));
    }
  }
}

template <typename T, int kPer, bool kLog>
void LaunchWarp(const T* in, T* out, int64_t rows, int64_t cols, cudaStream_t stream, const SoftmaxFusion& f) {
  const int64_t blocks = (rows + kWarpRowsPerBlock - 1) / kWarpRowsPerBlock;
  SoftmaxWarpKernel<T, kPer, kLog><<<static_cast<unsigned>(blocks), 32 * kWarpRowsPerBlock, 0, stream>>>(
      in, out, rows, static_cast<int>(cols), f);
}

template <typename T, bool kLog = false>
Status Launch(const T* in, T* out, int64_t rows, int64_t cols, cudaStream_t stream, const SoftmaxFusion& f = {}) {
  if (rows <= 0 || cols <= 0) return Status::Ok();
  if (rows > 0x7fffffff) return Unimplemented("SoftmaxLastAxis: more than 2^31-1 rows");
  if (cols <= 32) LaunchWarp<T, 1, kLog>(in, out, rows, cols, stream, f);
  else if (cols <= 64) LaunchWarp<T, 2, kLog>(in, out, rows, cols, stream, f);
  else if (cols <= 128) LaunchWarp<T, 4, kLog>(in, out, rows, cols, stream, f);
  else if (cols <= 256) LaunchWarp<T, 8, kLog>(in, out, rows, cols, stream, f);
  else if (cols <= 512) LaunchWarp<T, 16, kLog>(in, out, rows, cols, stream, f);
  else SoftmaxKernel<T, kLog><<<static_cast<unsigned>(rows), RowBlockSize(cols), 0, stream>>>(in, out, cols, f);
  return CudaStatus(cudaGetLastError(), kLog ? "LogSoftmaxLastAxis launch" : "SoftmaxLastAxis launch");
}

}  // namespace

Status SoftmaxLastAxis(const float* in, float* out, int64_t rows, int64_t cols, cudaStream_t stream,
                       const SoftmaxFusion& fusion) {
  return Launch(in, out, rows, cols, stream, fusion);
}

Status SoftmaxLastAxis(const __half* in, __half* out, int64_t rows, int64_t cols, cudaStream_t stream,
                       const SoftmaxFusion& fusion) {
  return Launch(in, out, rows, cols, stream, fusion);
}

Status LogSoftmaxLastAxis(const float* in, float* out, int64_t rows, int64_t cols, cudaStream_t stream) {
  return Launch<float, true>(in, out, rows, cols, stream);
}

Status LogSoftmaxLastAxis(const __half* in, __half* out, int64_t rows, int64_t cols, cudaStream_t stream) {
  return Launch<__half, true>(in, out, rows, cols, stream);
}

}  // namespace onnxd::cuda
