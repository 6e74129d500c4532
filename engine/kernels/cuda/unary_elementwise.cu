#include "kernels/cuda/unary_elementwise.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/grid_stride.h"

namespace onnxd::cuda {
namespace {

template <UnaryOp Op>
__device__ __forceinline__ float Apply(float x) {
  if constexpr (Op == UnaryOp::kRelu) return x > 0.f ? x : 0.f;
  if constexpr (Op == UnaryOp::kSigmoid) return 1.f / (1.f + expf(-x));
  if constexpr (Op == UnaryOp::kTanh) return tanhf(x);
  if constexpr (Op == UnaryOp::kGelu) return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
  if constexpr (Op == UnaryOp::kErf) return erff(x);
  if constexpr (Op == UnaryOp::kSqrt) return sqrtf(x);
  if constexpr (Op == UnaryOp::kExp) return expf(x);
  if constexpr (Op == UnaryOp::kLog) return logf(x);
  if constexpr (Op == UnaryOp::kNeg) return -x;
  if constexpr (Op == UnaryOp::kAbs) return fabsf(x);
  if constexpr (Op == UnaryOp::kReciprocal) return 1.f / x;
  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  return 0.5f * x * (1.f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

template <UnaryOp Op, typename T>
__global__ void UnaryKernel(const T* in, T* out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = FromFloat<T>(Apply<Op>(ToFloat(in[i])));
}

// 16 bytes a thread and step (8 halves or 4 floats): in and out 16-byte aligned, n a multiple of kVec.
template <UnaryOp Op, typename T>
__global__ void UnaryKernelVec(const T* in, T* out, int64_t n_vec) {
  constexpr int kVec = 16 / sizeof(T);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n_vec;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint4 raw = reinterpret_cast<const uint4*>(in)[i];
    const T* v = reinterpret_cast<const T*>(&raw);
    uint4 res;
    T* r = reinterpret_cast<T*>(&res);
#pragma unroll
    for (int j = 0; j < kVec; ++j) r[j] = FromFloat<T>(Apply<Op>(ToFloat(v[j])));
    reinterpret_cast<uint4*>(out)[i] = res;
  }
}

template <UnaryOp Op, typename T>
Status Launch(const T* in, T* out, int64_t n, cudaStream_t stream) {
  if (n <= 0) return Status::Ok();
  constexpr int kBlock = 256;
  constexpr int64_t kVec = 16 / sizeof(T);
  // The bulk 16 bytes at a time where both ends are aligned; what is left one element a thread.
  int64_t done = 0;
  if (reinterpret_cast<uintptr_t>(in) % 16 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0 && n >= kVec) {
    const int64_t n_vec = n / kVec;
    UnaryKernelVec<Op, T><<<GridBlocks(n_vec, kBlock), kBlock, 0, stream>>>(in, out, n_vec);
    done = n_vec * kVec;
  }
  if (done < n) UnaryKernel<Op, T><<<GridBlocks(n - done, kBlock), kBlock, 0, stream>>>(in + done, out + done, n - done);
  return CudaStatus(cudaGetLastError(), "UnaryElementwise launch");
}

template <typename T>
Status Dispatch(UnaryOp op, const T* in, T* out, int64_t n, cudaStream_t stream) {
  switch (op) {
    case UnaryOp::kRelu: return Launch<UnaryOp::kRelu>(in, out, n, stream);
    case UnaryOp::kSigmoid: return Launch<UnaryOp::kSigmoid>(in, out, n, stream);
    case UnaryOp::kTanh: return Launch<UnaryOp::kTanh>(in, out, n, stream);
    case UnaryOp::kGelu: return Launch<UnaryOp::kGelu>(in, out, n, stream);
    case UnaryOp::kGeluTanh: return Launch<UnaryOp::kGeluTanh>(in, out, n, stream);
    case UnaryOp::kErf: return Launch<UnaryOp::kErf>(in, out, n, stream);
    case UnaryOp::kSqrt: return Launch<UnaryOp::kSqrt>(in, out, n, stream);
    case UnaryOp::kExp: return Launch<UnaryOp::kExp>(in, out, n, stream);
    case UnaryOp::kLog: return Launch<UnaryOp::kLog>(in, out, n, stream);
    case UnaryOp::kNeg: return Launch<UnaryOp::kNeg>(in, out, n, stream);
    case UnaryOp::kAbs: return Launch<UnaryOp::kAbs>(in, out, n, stream);
    case UnaryOp::kReciprocal: return Launch<UnaryOp::kReciprocal>(in, out, n, stream);
  }
  return InvalidArgument("UnaryElementwise: unknown op");
}

template <typename T>
__global__ void ClipKernel(const T* in, T* out, int64_t n, float lo, float hi) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    // min(max(x, lo), hi): with lo > hi every element is hi, as ONNX Clip says.
    const float x = ToFloat(in[i]);
    const float y = x < lo ? lo : x;
    out[i] = FromFloat<T>(x != x ? x : (y > hi ? hi : y));
  }
}

template <typename T>
Status LaunchClip(const T* in, T* out, int64_t n, float lo, float hi, cudaStream_t stream) {
  if (n <= 0) return Status::Ok();
  constexpr int kBlock = 256;
  const int grid = GridBlocks(n, kBlock);
  ClipKernel<T><<<grid, kBlock, 0, stream>>>(in, out, n, lo, hi);
  return CudaStatus(cudaGetLastError(), "ClipElementwise launch");
}

template <typename T>
__global__ void ScaleKernel(const T* in, T* out, int64_t n, float scale) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = FromFloat<T>(ToFloat(in[i]) * scale);
}

template <typename T>
Status LaunchScale(const T* in, T* out, int64_t n, float scale, cudaStream_t stream) {
  if (n <= 0) return Status::Ok();
  constexpr int kBlock = 256;
  ScaleKernel<T><<<GridBlocks(n, kBlock), kBlock, 0, stream>>>(in, out, n, scale);
  return CudaStatus(cudaGetLastError(), "ScaleElementwise launch");
}

}  // namespace

Status ScaleElementwise(const float* in, float* out, int64_t n, float scale, cudaStream_t stream) {
  return LaunchScale(in, out, n, scale, stream);
}

Status ScaleElementwise(const __half* in, __half* out, int64_t n, float scale, cudaStream_t stream) {
  return LaunchScale(in, out, n, scale, stream);
}

Status ClipElementwise(const float* in, float* out, int64_t n, float lo, float hi, cudaStream_t stream) {
  return LaunchClip(in, out, n, lo, hi, stream);
}

Status ClipElementwise(const __half* in, __half* out, int64_t n, float lo, float hi, cudaStream_t stream) {
  return LaunchClip(in, out, n, lo, hi, stream);
}

Status UnaryElementwise(UnaryOp op, const float* in, float* out, int64_t n, cudaStream_t stream) {
  return Dispatch(op, in, out, n, stream);
}

Status UnaryElementwise(UnaryOp op, const __half* in, __half* out, int64_t n, cudaStream_t stream) {
  return Dispatch(op, in, out, n, stream);
}

}  // namespace onnxd::cuda
