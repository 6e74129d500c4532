#include "kernels/cuda/activations.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/grid_stride.h"

namespace onnxd::cuda {
namespace {

constexpr int kBlock = kGridStrideBlock;

template <ActivationOp Op>
__device__ __forceinline__ float Apply(float x, float alpha, float beta, float gamma) {
  if constexpr (Op == ActivationOp::kHardSigmoid) return fminf(1.f, fmaxf(0.f, alpha * x + beta));
  if constexpr (Op == ActivationOp::kHardSwish) return x * fminf(1.f, fmaxf(0.f, x * (1.f / 6.f) + 0.5f));
  if constexpr (Op == ActivationOp::kLeakyRelu) return x >= 0.f ? x : alpha * x;
  if constexpr (Op == ActivationOp::kElu) return x >= 0.f ? x : alpha * expm1f(x);
  if constexpr (Op == ActivationOp::kSelu) return x > 0.f ? gamma * x : gamma * (alpha * expf(x) - alpha);
  if constexpr (Op == ActivationOp::kSoftplus) return x > 0.f ? x + log1pf(expf(-x)) : log1pf(expf(x));
  // NaN fails every comparison and comes back as it is.
  if constexpr (Op == ActivationOp::kSign) return x > 0.f ? 1.f : (x < 0.f ? -1.f : (x == 0.f ? 0.f : x));
  if constexpr (Op == ActivationOp::kFloor) return floorf(x);
  if constexpr (Op == ActivationOp::kCeil) return ceilf(x);
  // rintf rounds in the default mode, to nearest with halves to even (ONNX Round).
  if constexpr (Op == ActivationOp::kRound) return rintf(x);
  if constexpr (Op == ActivationOp::kMish) {
    const float sp = x > 0.f ? x + log1pf(expf(-x)) : log1pf(expf(x));
    return x * tanhf(sp);
  }
  if constexpr (Op == ActivationOp::kSin) return sinf(x);
  if constexpr (Op == ActivationOp::kCos) return cosf(x);
  if constexpr (Op == ActivationOp::kSoftsign) return x / (1.f + fabsf(x));
  if constexpr (Op == ActivationOp::kThresholdedRelu) return x > alpha ? x : 0.f;
  // As the CPU op writes it (max(0, x) + min(0, ...) would turn NaN into 0).
  if constexpr (Op == ActivationOp::kCelu) return x >= 0.f ? x : alpha * expm1f(x / alpha);
  (void)beta;
  (void)gamma;
  return alpha * x;  // kScale
}

template <ActivationOp Op, typename T>
__global__ void ActivationKernel(const T* in, T* out, int64_t n, float alpha, float beta, float gamma) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = FromFloat<T>(Apply<Op>(ToFloat(in[i]), alpha, beta, gamma));
}

template <ActivationOp Op, typename T>
Status Launch(const ActivationParams& p, const T* in, T* out, int64_t n, cudaStream_t stream) {
  if (n <= 0) return Status::Ok();
  ActivationKernel<Op, T><<<GridBlocks(n), kBlock, 0, stream>>>(in, out, n, p.alpha, p.beta, p.gamma);
  return CudaStatus(cudaGetLastError(), "Activation launch");
}

template <typename T>
Status Dispatch(ActivationOp op, const ActivationParams& p, const T* in, T* out, int64_t n, cudaStream_t stream) {
  switch (op) {
    case ActivationOp::kHardSigmoid: return Launch<ActivationOp::kHardSigmoid>(p, in, out, n, stream);
    case ActivationOp::kHardSwish: return Launch<ActivationOp::kHardSwish>(p, in, out, n, stream);
    case ActivationOp::kLeakyRelu: return Launch<ActivationOp::kLeakyRelu>(p, in, out, n, stream);
    case ActivationOp::kElu: return Launch<ActivationOp::kElu>(p, in, out, n, stream);
    case ActivationOp::kSelu: return Launch<ActivationOp::kSelu>(p, in, out, n, stream);
    case ActivationOp::kSoftplus: return Launch<ActivationOp::kSoftplus>(p, in, out, n, stream);
    case ActivationOp::kSign: return Launch<ActivationOp::kSign>(p, in, out, n, stream);
    case ActivationOp::kFloor: return Launch<ActivationOp::kFloor>(p, in, out, n, stream);
    case ActivationOp::kCeil: return Launch<ActivationOp::kCeil>(p, in, out, n, stream);
    case ActivationOp::kRound: return Launch<ActivationOp::kRound>(p, in, out, n, stream);
    case ActivationOp::kScale: return Launch<ActivationOp::kScale>(p, in, out, n, stream);
    case ActivationOp::kMish: return Launch<ActivationOp::kMish>(p, in, out, n, stream);
    case ActivationOp::kSin: return Launch<ActivationOp::kSin>(p, in, out, n, stream);
    case ActivationOp::kCos: return Launch<ActivationOp::kCos>(p, in, out, n, stream);
    case ActivationOp::kSoftsign: return Launch<ActivationOp::kSoftsign>(p, in, out, n, stream);
    case ActivationOp::kThresholdedRelu: return Launch<ActivationOp::kThresholdedRelu>(p, in, out, n, stream);
    case ActivationOp::kCelu: return Launch<ActivationOp::kCelu>(p, in, out, n, stream);
  }
  return InvalidArgument("Activation: unknown op");
}

// One thread an element over the flat [outer, channels, inner] index; the channel is
// (i / inner) % channels.
template <typename T, typename P>
__global__ void BatchNormKernel(const T* x, T* y, int64_t n, int64_t channels, int64_t inner, const P* scale,
                                const P* bias, const P* mean, const P* var, float epsilon) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = (i / inner) % channels;
    const float inv = 1.f / sqrtf(ToFloat(var[c]) + epsilon);
    y[i] = FromFloat<T>((ToFloat(x[i]) - ToFloat(mean[c])) * inv * ToFloat(scale[c]) + ToFloat(bias[c]));
  }
}

template <typename T, typename P>
Status LaunchBatchNorm(const T* x, T* y, int64_t outer, int64_t channels, int64_t inner, const P* scale,
                       const P* bias, const P* mean, const P* var, float epsilon, cudaStream_t stream) {
  const int64_t n = outer * channels * inner;
  if (n <= 0) return Status::Ok();
  BatchNormKernel<T, P><<<GridBlocks(n), kBlock, 0, stream>>>(x, y, n, channels, inner, scale, bias, mean, var,
                                                                epsilon);
  return CudaStatus(cudaGetLastError(), "BatchNormInference launch");
}

}  // namespace

Status Activation(ActivationOp op, const ActivationParams& params, const float* in, float* out, int64_t n,
                  cudaStream_t stream) {
  return Dispatch(op, params, in, out, n, stream);
}

Status Activation(ActivationOp op, const ActivationParams& params, const __half* in, __half* out, int64_t n,
                  cudaStream_t stream) {
  return Dispatch(op, params, in, out, n, stream);
}

Status BatchNormInference(const float* x, float* y, int64_t outer, int64_t channels, int64_t inner,
                          const float* scale, const float* bias, const float* mean, const float* var, float epsilon,
                          cudaStream_t stream) {
  return LaunchBatchNorm(x, y, outer, channels, inner, scale, bias, mean, var, epsilon, stream);
}

Status BatchNormInference(const __half* x, __half* y, int64_t outer, int64_t channels, int64_t inner,
                          const __half* scale, const __half* bias, const __half* mean, const __half* var,
                          float epsilon, cudaStream_t stream) {
  return LaunchBatchNorm(x, y, outer, channels, inner, scale, bias, mean, var, epsilon, stream);
}

Status BatchNormInference(const __half* x, __half* y, int64_t outer, int64_t channels, int64_t inner,
                          const float* scale, const float* bias, const float* mean, const float* var, float epsilon,
                          cudaStream_t stream) {
  return LaunchBatchNorm(x, y, outer, channels, inner, scale, bias, mean, var, epsilon, stream);
}

}  // namespace onnxd::cuda
