// Block-wide sum and max for the row kernels (Softmax, LayerNorm, InstanceNormalization): one
// block per row, blockDim.x a multiple of 32 and at most 1024. Every thread gets the result.
#pragma once

namespace onnxd::cuda {

template <bool kMax>
__device__ __forceinline__ float BlockReduce(float v, float* shared /* >= 32 floats */) {
  for (int off = 16; off > 0; off >>= 1) {
    float o = __shfl_xor_sync(0xffffffffu, v, off);
    v = kMax ? fmaxf(v, o) : v + o;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();  // `shared` may still be read by a previous reduction
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : (kMax ? -INFINITY : 0.f);
  for (int off = 16; off > 0; off >>= 1) {
    float o = __shfl_xor_sync(0xffffffffu, v, off);
    v = kMax ? fmaxf(v, o) : v + o;
  }
  return v;
}

// The mean (x) and the biased variance (y) of a row of n values that the block reads through
// load(i), in two passes: the mean, then the squared deviations from it (E[x^2] - E[x]^2 cancels
// badly when |mean| >> stddev). Every thread gets both.
template <typename Load>
__device__ __forceinline__ float2 BlockMeanVariance(Load load, long long n, float* shared /* >= 32 floats */) {
  float s = 0.f;
  for (long long i = threadIdx.x; i < n; i += blockDim.x) s += load(i);
  const float mean = BlockReduce<false>(s, shared) / static_cast<float>(n);
  float v = 0.f;
  for (long long i = threadIdx.x; i < n; i += blockDim.x) {
    const float d = load(i) - mean;
    v += d * d;
  }
  return make_float2(mean, BlockReduce<false>(v, shared) / static_cast<float>(n));
}

inline int RowBlockSize(long long cols) {
  int b = 32;
  while (b < 1024 && b < cols) b <<= 1;
  return b;
}

}  // namespace onnxd::cuda
