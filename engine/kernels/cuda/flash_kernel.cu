#include "kernels/cuda/flash_kernel.h"

#include <cuda_fp16.h>
#include <mma.h>

#include <mutex>
#include <set>
#include <string>

#include "kernels/cuda/cuda_status.h"

namespace onnxd::cuda {
namespace {

using namespace nvcuda;  // NOLINT: wmma

constexpr int kWarps = kFlashRows / 16;
constexpr int kThreads = kWarps * 32;

__device__ __forceinline__ float WarpMax(float v) {
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}
__device__ __forceinline__ float WarpSum(float v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// Shared memory of one block, for head size (padded) kD: Q, K, V and P tiles in fp16; the score
// tile (then the step's P V) and the running output in fp32; each row's running max, sum and the
// step's rescale factor.
template <int kD>
struct FlashSmem {
  static constexpr int kSw = kD > kFlashCols ? kD : kFlashCols;  // row stride of the fp32 scratch
  static constexpr size_t kQ = 0;
  static constexpr size_t kK = kQ + sizeof(__half) * kFlashRows * kD;
  static constexpr size_t kV = kK + sizeof(__half) * kFlashCols * kD;
  static constexpr size_t kP = kV + sizeof(__half) * kFlashCols * kD;
  static constexpr size_t kS = kP + sizeof(__half) * kFlashRows * kFlashCols;
  static constexpr size_t kO = kS + sizeof(float) * kFlashRows * kSw;
  static constexpr size_t kM = kO + sizeof(float) * kFlashRows * kD;
  static constexpr size_t kL = kM + sizeof(float) * kFlashRows;
  static constexpr size_t kA = kL + sizeof(float) * kFlashRows;
  static constexpr size_t kBytes = kA + sizeof(float) * kFlashRows;
};

// Grid: (query tiles, B * Hq). Block: 4 warps, warp w owning tile rows 16w .. 16w + 15.
template <int kD>
__global__ void __launch_bounds__(kThreads) FlashKernel(FlashAttentionArgs a) {
  using L = FlashSmem<kD>;
  extern __shared__ __align__(128) unsigned char smem[];
  __half* q_s = reinterpret_cast<__half*>(smem + L::kQ);
  __half* k_s = reinterpret_cast<__half*>(smem + L::kK);
  __half* v_s = reinterpret_cast<__half*>(smem + L::kV);
  __half* p_s = reinterpret_cast<__half*>(smem + L::kP);
  float* s_s = reinterpret_cast<float*>(smem + L::kS);
  float* o_s = reinterpret_cast<float*>(smem + L::kO);
  float* m_s = reinterpret_cast<float*>(smem + L::kM);
  float* l_s = reinterpret_cast<float*>(smem + L::kL);
  float* alpha_s = reinterpret_cast<float*>(smem + L::kA);

  const int64_t bh = blockIdx.y;
  const int64_t b = bh / a.Hq, h = bh % a.Hq, kvh = h / (a.Hq / a.Hkv);
  const int64_t r0 = static_cast<int64_t>(blockIdx.x) * kFlashRows;
  const int rows = static_cast<int>(min(static_cast<int64_t>(kFlashRows), a.Sq - r0));
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const __half* q = static_cast<const __half*>(a.q) + b * a.q_sb + h * a.q_sh + r0 * a.q_ss;
  const __half* k = static_cast<const __half*>(a.k) + b * a.k_sb + kvh * a.k_sh;
  const __half* v = static_cast<const __half*>(a.v) + b * a.v_sb + kvh * a.v_sh;
  const __half* bias = static_cast<const __half*>(a.bias);
  int64_t end = a.T;
  if (a.nonpad != nullptr) end = min(end, max(a.nonpad[b], int64_t{0}));

  // The Q tile (rows past Sq and head dims past D are zeros), the running state.
  for (int e = threadIdx.x; e < kFlashRows * kD; e += kThreads) {
    const int r = e / kD, d = e % kD;
    q_s[e] = r < rows && d < a.D ? q[r * a.q_ss + d] : __float2half(0.f);
  }
  for (int e = threadIdx.x; e < kFlashRows * kD; e += kThreads) o_s[e] = 0.f;
  for (int r = threadIdx.x; r < kFlashRows; r += kThreads) {
    m_s[r] = -INFINITY;
    l_s[r] = 0.f;
  }
  // Causal: no column past the tile's last row's limit is visible to any of its rows.
  int64_t t_end = a.T;
  if (a.causal) t_end = min(t_end, max(r0 + rows - 1 + a.past + 1, int64_t{0}));
  __syncthreads();

  for (int64_t c0 = 0; c0 < t_end; c0 += kFlashCols) {
    const int cols = static_cast<int>(min(static_cast<int64_t>(kFlashCols), a.T - c0));
    for (int e = threadIdx.x; e < kFlashCols * kD; e += kThreads) {
      const int c = e / kD, d = e % kD;
      const bool in = c < cols && d < a.D;
      k_s[e] = in ? k[(c0 + c) * a.k_st + d] : __float2half(0.f);
      v_s[e] = in ? v[(c0 + c) * a.v_st + d] : __float2half(0.f);
    }
    __syncthreads();

    // S = Q K^T for this warp's 16 rows: K^T's column j is K's row j, so K read column-major.
    {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[kFlashCols / 16];
#pragma unroll
      for (int j = 0; j < kFlashCols / 16; ++j) wmma::fill_fragment(acc[j], 0.f);
#pragma unroll
      for (int kk = 0; kk < kD; kk += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
        wmma::load_matrix_sync(fa, q_s + warp * 16 * kD + kk, kD);
#pragma unroll
        for (int j = 0; j < kFlashCols / 16; ++j) {
          wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb;
          wmma::load_matrix_sync(fb, k_s + j * 16 * kD + kk, kD);
          wmma::mma_sync(acc[j], fa, fb, acc[j]);
        }
      }
#pragma unroll
      for (int j = 0; j < kFlashCols / 16; ++j)
        wmma::store_matrix_sync(s_s + warp * 16 * L::kSw + j * 16, acc[j], L::kSw, wmma::mem_row_major);
    }
    __syncwarp();

    // Each of the warp's rows: masked scores, the new maximum, the weights (fp16, for P V), the
    // running sum and the rescale factor of what came before.
    for (int rr = 0; rr < 16; ++rr) {
      const int r = warp * 16 + rr;
      const int64_t i = r0 + r;
      const float* srow = s_s + r * L::kSw;
      const int64_t brow = r < rows && bias != nullptr ? a.bias_layout.RowOffset((b * a.Hq + h) * a.Sq + i) : 0;
      float sc[kFlashCols / 32];
      float mx = -INFINITY;
#pragma unroll
      for (int t = 0; t < kFlashCols / 32; ++t) {
        const int c = lane + 32 * t;
        float s = -INFINITY;
        if (r < rows && c < cols) {
          const int64_t j = c0 + c;
          const float bv = bias != nullptr ? __half2float(bias[brow + j * a.bias_layout.col_stride]) : 0.f;
          s = FlashScore(a, srow[c], bv, i, j, end, [](float x) { return __half2float(__float2half_rn(x)); });
        }
        sc[t] = s;
        mx = fmaxf(mx, s);
      }
      mx = WarpMax(mx);
      const float m_old = m_s[r];
      const float m_new = fmaxf(m_old, mx);
      float sum = 0.f;
#pragma unroll
      for (int t = 0; t < kFlashCols / 32; ++t) {
        const int c = lane + 32 * t;
        const __half p = __float2half(FlashWeight(sc[t], m_new));
        p_s[r * kFlashCols + c] = p;
        sum += __half2float(p);
      }
      sum = WarpSum(sum);
      if (lane == 0) {
        const float alpha = FlashRescale(m_old, m_new);
        alpha_s[r] = alpha;
        l_s[r] = l_s[r] * alpha + sum;
        m_s[r] = m_new;
      }
    }
    __syncwarp();

    // This step's P V for the warp's rows into the scratch, then O = O * alpha + P V.
    {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> pv[kD / 16];
#pragma unroll
      for (int j = 0; j < kD / 16; ++j) wmma::fill_fragment(pv[j], 0.f);
#pragma unroll
      for (int kk = 0; kk < kFlashCols; kk += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fp;
        wmma::load_matrix_sync(fp, p_s + warp * 16 * kFlashCols + kk, kFlashCols);
#pragma unroll
        for (int j = 0; j < kD / 16; ++j) {
          wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> fv;
          wmma::load_matrix_sync(fv, v_s + kk * kD + j * 16, kD);
          wmma::mma_sync(pv[j], fp, fv, pv[j]);
        }
      }
#pragma unroll
      for (int j = 0; j < kD / 16; ++j)
        wmma::store_matrix_sync(s_s + warp * 16 * L::kSw + j * 16, pv[j], L::kSw, wmma::mem_row_major);
    }
    __syncwarp();
    for (int rr = 0; rr < 16; ++rr) {
      const int r = warp * 16 + rr;
      const float alpha = alpha_s[r];
      for (int d = lane; d < kD; d += 32) o_s[r * kD + d] = o_s[r * kD + d] * alpha + s_s[r * L::kSw + d];
    }
    __syncthreads();  // before the next step's K and V replace these
  }

  // O / l: a row that saw only masked columns is 0 / 0 (NaN), as the unfused softmax gives.
  __half* o = static_cast<__half*>(a.o) + b * a.o_sb + h * a.o_sh + r0 * a.o_ss;
  for (int e = threadIdx.x; e < rows * kD; e += kThreads) {
    const int r = e / kD, d = e % kD;
    if (d >= a.D) continue;
    float val = o_s[r * kD + d] / l_s[r];
    if (a.nan_to_zero && isnan(val)) val = 0.f;
    o[r * a.o_ss + d] = __float2half(val);
  }
}

// The dynamic shared memory the kernel asks for, allowed once per device (the limit is a
// per-device function attribute); Unimplemented where the device has less.
template <int kD>
Status AllowSharedMemory(size_t bytes) {
  static std::mutex mu;
  static std::set<int> done;  // devices the attribute is set on
  int device = 0;
  ONNXD_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(mu);
  if (done.count(device)) return Status::Ok();
  int optin = 0;
  ONNXD_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  if (static_cast<size_t>(optin) < bytes)
    return Unimplemented("FlashAttention: " + std::to_string(bytes) + " bytes of shared memory, the device has " +
                         std::to_string(optin));
  const cudaError_t err =
      cudaFuncSetAttribute(FlashKernel<kD>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (err != cudaSuccess) {
    cudaGetLastError();  // not left for an unrelated launch's check to find
    return CudaStatus(err, "FlashAttention shared memory");
  }
  done.insert(device);
  return Status::Ok();
}

template <int kD>
Status Launch(const FlashAttentionArgs& a, cudaStream_t stream) {
  constexpr size_t bytes = FlashSmem<kD>::kBytes;
  RETURN_IF_ERROR(AllowSharedMemory<kD>(bytes));
  const dim3 grid(static_cast<unsigned>((a.Sq + kFlashRows - 1) / kFlashRows), static_cast<unsigned>(a.B * a.Hq));
  FlashKernel<kD><<<grid, kThreads, bytes, stream>>>(a);
  return CudaStatus(cudaGetLastError(), "FlashAttention launch");
}

}  // namespace

Status FlashAttention(const FlashAttentionArgs& a, cudaStream_t stream) {
  if (a.B <= 0 || a.Hq <= 0 || a.Sq <= 0) return Status::Ok();
  if (!FlashAttentionTakes(a.D) || a.Hkv <= 0 || a.Hq % a.Hkv != 0 || a.T <= 0)
    return Unimplemented("FlashAttention: head size " + std::to_string(a.D));
  if ((a.Sq + kFlashRows - 1) / kFlashRows > 0x7fffffff || a.B * a.Hq > 65535)
    return Unimplemented("FlashAttention: grid too large");
  if (a.D <= 32) return Launch<32>(a, stream);
  if (a.D <= 64) return Launch<64>(a, stream);
  return Launch<128>(a, stream);
}

}  // namespace onnxd::cuda
