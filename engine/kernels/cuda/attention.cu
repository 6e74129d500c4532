#include "kernels/cuda/attention.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/grid_stride.h"
#include "kernels/cuda/row_reduce.cuh"

namespace onnxd::cuda {
namespace {

template <typename T>
__device__ __forceinline__ void StoreQk(const AttentionRowsArgs& a, int64_t row, int64_t j, float v, int stage) {
  if (a.qk != nullptr && a.qk_mode == stage) static_cast<T*>(a.qk)[row * a.T + j] = FromFloat<T>(v);
}

// Row `row`'s score j after softcap, mask and the causal / padding limit, in float (the CPU op's
// precision: an fp16 score plus an fp16 mask of -65504 is not rounded before the softmax);
// `stage_out`: also store the qk output stages 0-2.
template <typename T>
__device__ __forceinline__ float MaskedScore(const T* s, const AttentionRowsArgs& a, int64_t row, int64_t j,
                                             int64_t end, int64_t moff, bool stage_out) {
  float v = ToFloat(s[j]);
  if (stage_out) StoreQk<T>(a, row, j, v, 0);
  if (a.softcap > 0.f) v = a.softcap * tanhf(v * (1.f / a.softcap));  // as the CPU op
  if (stage_out) StoreQk<T>(a, row, j, v, 1);
  if (a.mask != nullptr) {
    if (j >= a.mask_len) v = -INFINITY;
    else if (a.mask_bool) v = static_cast<const bool*>(a.mask)[moff + j] ? v : -INFINITY;
    else v += ToFloat(static_cast<const T*>(a.mask)[moff + j]);
  }
  if (j >= end) v = -INFINITY;
  if (stage_out) StoreQk<T>(a, row, j, v, 2);
  return v;
}

// One block a row. Each pass recomputes the masked score from the raw product; only the last
// writes the row (each thread its own columns, the ones it read).
template <typename T>
__global__ void AttentionRowsKernel(T* scores, AttentionRowsArgs a) {
  __shared__ float shared[32];
  const int64_t row = blockIdx.x;
  const int64_t i = row % a.Sq, h = (row / a.Sq) % a.Hq, b = row / (a.Sq * a.Hq);
  T* s = scores + row * a.T;
  int64_t end = a.T;
  if (a.nonpad != nullptr) end = min(end, max(a.nonpad[b], int64_t{0}));
  if (a.causal) end = min(end, max(i + a.past + 1, int64_t{0}));
  const int64_t moff = b * a.mask_sb + h * a.mask_sh + i * a.mask_ss;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < a.T; j += blockDim.x) m = fmaxf(m, MaskedScore(s, a, row, j, end, moff, true));
  m = BlockReduce<true>(m, shared);
  float sum = 0.f;
  for (int64_t j = threadIdx.x; j < a.T; j += blockDim.x) sum += expf(MaskedScore(s, a, row, j, end, moff, false) - m);
  sum = BlockReduce<false>(sum, shared);
  const float inv = 1.f / sum;
  for (int64_t j = threadIdx.x; j < a.T; j += blockDim.x) {
    const float p = expf(MaskedScore(s, a, row, j, end, moff, false) - m) * inv;
    StoreQk<T>(a, row, j, p, 3);
    s[j] = FromFloat<T>(p);
  }
}

template <typename T>
Status LaunchRows(T* scores, const AttentionRowsArgs& a, cudaStream_t stream) {
  const int64_t rows = a.B * a.Hq * a.Sq;
  if (rows <= 0 || a.T <= 0) return Status::Ok();
  if (rows > 0x7fffffff) return Unimplemented("Attention: more than 2^31-1 query rows");
  AttentionRowsKernel<T><<<static_cast<unsigned>(rows), RowBlockSize(a.T), 0, stream>>>(scores, a);
  return CudaStatus(cudaGetLastError(), "AttentionRows launch");
}

template <typename E>
__global__ void ConcatKvKernel(const E* past, const E* cur, bool cur_3d, E* present, int64_t B, int64_t H, int64_t P,
                               int64_t S, int64_t D, int64_t n) {
  const int64_t T = P + S;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t d = e % D, t = (e / D) % T, bh = e / (D * T);
    const int64_t h = bh % H, b = bh / H;
    if (t < P) {
      present[e] = past[(bh * P + t) * D + d];
    } else {
      const int64_t s = t - P;
      present[e] = cur_3d ? cur[(b * S + s) * H * D + h * D + d] : cur[(bh * S + s) * D + d];
    }
  }
}

}  // namespace

Status AttentionRows(float* scores, const AttentionRowsArgs& args, cudaStream_t stream) {
  return LaunchRows(scores, args, stream);
}

Status AttentionRows(__half* scores, const AttentionRowsArgs& args, cudaStream_t stream) {
  return LaunchRows(scores, args, stream);
}

Status ConcatKv(const void* past, const void* cur, bool cur_3d, void* present, int64_t B, int64_t H, int64_t P,
                int64_t S, int64_t D, int elem_size, cudaStream_t stream) {
  const int64_t n = B * H * (P + S) * D;
  if (n <= 0) return Status::Ok();
  if (elem_size == 4)
    ConcatKvKernel<float><<<GridBlocks(n), kGridStrideBlock, 0, stream>>>(static_cast<const float*>(past),
                                                                  static_cast<const float*>(cur), cur_3d,
                                                                  static_cast<float*>(present), B, H, P, S, D, n);
  else if (elem_size == 2)
    ConcatKvKernel<__half><<<GridBlocks(n), kGridStrideBlock, 0, stream>>>(static_cast<const __half*>(past),
                                                                  static_cast<const __half*>(cur), cur_3d,
                                                                  static_cast<__half*>(present), B, H, P, S, D, n);
  else
    return InvalidArgument("ConcatKv: element size " + std::to_string(elem_size));
  return CudaStatus(cudaGetLastError(), "ConcatKv launch");
}

}  // namespace onnxd::cuda
