// Block-wide sum and max for the row kernels (Softmax, LayerNorm): one block per row,
// blockDim.x a multiple of 32 and at most 1024. Every thread gets the result.
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

inline int RowBlockSize(long long cols) {
  int b = 32;
  while (b < 1024 && b < cols) b <<= 1;
  return b;
}

}  // namespace onnxd::cuda
