#include "kernels/cuda/flash_kernel.h"

#include <cuda_fp16.h>

#include <cstdint>
#include <string>

#include "kernels/cuda/cuda_status.h"

namespace onnxd::cuda {
namespace {

// One m16n8k16 tensor-core product, D += A B (fp16 in, fp32 accumulated), in the register layout
// PTX documents for mma.sync.aligned.m16n8k16.row.col. For lane l, g = l / 4 and t = l % 4; a register
// holds two halves, the lower-numbered column (A, C) or row (B) in its low 16 bits:
//   A (16 x 16): a[0] = A[g][2t, 2t+1], a[1] = A[g+8][2t, 2t+1], a[2] = A[g][2t+8, 2t+9], a[3] = A[g+8][2t+8, 2t+9]
//   B (16 x 8):  b[0] = B[2t, 2t+1][g], b[1] = B[2t+8, 2t+9][g]
//   D (16 x 8):  d[0], d[1] = D[g][2t, 2t+1]; d[2], d[3] = D[g+8][2t, 2t+1]
// The emulated build (tests/cuda_emu) gathers the operands with warp shuffles and multiplies in fp32.
__device__ __forceinline__ void Mma16816(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(ONNXD_CUDA_EMU)
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  auto lo = [](uint32_t r) { return __half2float(__half(__half_raw{static_cast<unsigned short>(r & 0xffffu)})); };
  auto hi = [](uint32_t r) { return __half2float(__half(__half_raw{static_cast<unsigned short>(r >> 16)})); };
  float arow[2][16], bcol[2][16];
  for (int q = 0; q < 4; ++q) {
    const int src = 4 * g + q;  // holds A's columns 2q, 2q+1, 2q+8, 2q+9 of rows g and g+8
    const uint32_t r0 = __shfl_sync(0xffffffffu, a[0], src), r1 = __shfl_sync(0xffffffffu, a[1], src);
    const uint32_t r2 = __shfl_sync(0xffffffffu, a[2], src), r3 = __shfl_sync(0xffffffffu, a[3], src);
    arow[0][2 * q] = lo(r0), arow[0][2 * q + 1] = hi(r0), arow[1][2 * q] = lo(r1), arow[1][2 * q + 1] = hi(r1);
    arow[0][2 * q + 8] = lo(r2), arow[0][2 * q + 9] = hi(r2), arow[1][2 * q + 8] = lo(r3), arow[1][2 * q + 9] = hi(r3);
  }
  for (int c = 0; c < 2; ++c)
    for (int q = 0; q < 4; ++q) {
      const int src = 4 * (2 * t + c) + q;  // holds B's rows 2q, 2q+1, 2q+8, 2q+9 of column 2t + c
      const uint32_t r0 = __shfl_sync(0xffffffffu, b[0], src), r1 = __shfl_sync(0xffffffffu, b[1], src);
      bcol[c][2 * q] = lo(r0), bcol[c][2 * q + 1] = hi(r0), bcol[c][2 * q + 8] = lo(r1), bcol[c][2 * q + 9] = hi(r1);
    }
  for (int i = 0; i < 2; ++i)
    for (int c = 0; c < 2; ++c) {
      float acc = d[2 * i + c];
      for (int k = 0; k < 16; ++k) acc += arow[i][k] * bcol[c][k];
      d[2 * i + c] = acc;
    }
#else
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

__device__ __forceinline__ uint32_t PackHalves(__half lo, __half hi) {
  const __half_raw l = lo, h = hi;
  return static_cast<uint32_t>(l.x) | (static_cast<uint32_t>(h.x) << 16);
}

// Two adjacent halves of shared memory (4-byte aligned) as one register.
__device__ __forceinline__ uint32_t LoadPair(const __half* p) { return *reinterpret_cast<const uint32_t*>(p); }

// Grid: (query tiles of 16 * kWarps rows, B * Hq). Warp w owns rows 16w .. 16w + 15 of its block's tile;
// its Q fragments, scores, probabilities and output stay in registers. Each step stages 64 keys:
// K row-major and V transposed in shared memory, their rows padded by 8 halves so that the fragment
// reads of a warp hit 32 different banks. `vec`: K and V rows start 16-byte aligned (8 halves at a time);
// `qvec`: Q's rows likewise (pairs of halves as one word).
template <int kD, int kWarps>
__global__ void __launch_bounds__(kWarps * 32) FlashKernel(FlashAttentionArgs a, bool vec, bool qvec) {
  constexpr int kThreads = kWarps * 32, kRows = 16 * kWarps, kC = kFlashCols;
  constexpr int kKs = kD + 8, kVs = kC + 8;  // row strides (halves) of the K and transposed-V tiles
  __shared__ __align__(16) __half k_s[kC * kKs];
  __shared__ __align__(16) __half vt_s[kD * kVs];

  const int64_t bh = blockIdx.y;
  const int64_t b = bh / a.Hq, h = bh % a.Hq, kvh = h / (a.Hq / a.Hkv);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int64_t r0 = static_cast<int64_t>(blockIdx.x) * kRows;
  const int rows = static_cast<int>(min(static_cast<int64_t>(kRows), a.Sq - r0));
  const __half* q = static_cast<const __half*>(a.q) + b * a.q_sb + h * a.q_sh;
  const __half* k = static_cast<const __half*>(a.k) + b * a.k_sb + kvh * a.k_sh;
  const __half* v = static_cast<const __half*>(a.v) + b * a.v_sb + kvh * a.v_sh;
  const __half* bias = static_cast<const __half*>(a.bias);
  int64_t end = a.T;
  if (a.nonpad != nullptr) end = min(end, max(a.nonpad[b], int64_t{0}));

  // This lane's two rows (tile rows 16w + g and 16w + g + 8) and whether they exist.
  const int lr[2] = {warp * 16 + g, warp * 16 + g + 8};
  const int64_t gi[2] = {r0 + lr[0], r0 + lr[1]};
  const bool live[2] = {lr[0] < rows, lr[1] < rows};
  // Each row's bias (its start; the columns step by col_stride, 0 or 1).
  const __half* brow[2] = {bias, bias};
  const int bcs = static_cast<int>(a.bias_layout.col_stride);
  for (int i = 0; i < 2; ++i)
    if (live[i] && bias != nullptr) brow[i] = bias + a.bias_layout.RowOffset((b * a.Hq + h) * a.Sq + gi[i]);

  // Q as A fragments, once (rows past Sq and head dims past D are zeros).
  uint32_t qf[kD / 16][4];
  auto q_pair = [&](int i, int d) -> uint32_t {  // halves d and d + 1 of row i (d even)
    if (!live[i] || d >= a.D) return 0u;
    const __half* row = q + gi[i] * a.q_ss;
    if (qvec) return *reinterpret_cast<const uint32_t*>(row + d);
    return PackHalves(row[d], d + 1 < a.D ? row[d + 1] : __float2half(0.f));
  };
#pragma unroll
  for (int ks = 0; ks < kD / 16; ++ks) {
    const int d0 = ks * 16 + 2 * t;
    qf[ks][0] = q_pair(0, d0);
    qf[ks][1] = q_pair(1, d0);
    qf[ks][2] = q_pair(0, d0 + 8);
    qf[ks][3] = q_pair(1, d0 + 8);
  }

  float o[kD / 8][4];
#pragma unroll
  for (int n = 0; n < kD / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY};
  float l[2] = {0.f, 0.f};  // this lane's share of each row's running sum (its 2 columns of every 8)

  // Causal: no column past the tile's last row's limit is visible to any of its rows.
  int64_t t_end = a.T;
  if (a.causal) t_end = min(t_end, max(r0 + rows - 1 + a.past + 1, int64_t{0}));

  for (int64_t c0 = 0; c0 < t_end; c0 += kC) {
    const int cols = static_cast<int>(min(static_cast<int64_t>(kC), a.T - c0));
    if (c0 > 0) __syncthreads();  // every warp is done with the previous step's tiles
    if (vec) {
      // 8 halves a thread and step; consecutive threads take consecutive keys for V (its transposed
      // stores then fall in different banks) and consecutive chunks of a row for K (coalesced).
      // Loads go out 4 steps at a time before their stores, so their latencies overlap.
      constexpr int kChunks = kD / 8, kSteps = kC * kChunks / kThreads, kBatch = kSteps < 4 ? kSteps : 4;
      static_assert(kC * kChunks % kThreads == 0 && kSteps % kBatch == 0);
      for (int s0 = 0; s0 < kSteps; s0 += kBatch) {
        uint4 kv[kBatch], vv[kBatch];
#pragma unroll
        for (int u = 0; u < kBatch; ++u) {
          const int e = threadIdx.x + (s0 + u) * kThreads;
          const int c = e / kChunks, d0 = (e % kChunks) * 8, vc = e % kC, vd0 = (e / kC) * 8;
          kv[u] = vv[u] = make_uint4(0, 0, 0, 0);
          if (c < cols && d0 < a.D) kv[u] = *reinterpret_cast<const uint4*>(k + (c0 + c) * a.k_st + d0);
          if (vc < cols && vd0 < a.D) vv[u] = *reinterpret_cast<const uint4*>(v + (c0 + vc) * a.v_st + vd0);
        }
#pragma unroll
        for (int u = 0; u < kBatch; ++u) {
          const int e = threadIdx.x + (s0 + u) * kThreads;
          const int c = e / kChunks, d0 = (e % kChunks) * 8, vc = e % kC, vd0 = (e / kC) * 8;
          *reinterpret_cast<uint4*>(k_s + c * kKs + d0) = kv[u];
          const __half* vh = reinterpret_cast<const __half*>(&vv[u]);
#pragma unroll
          for (int i = 0; i < 8; ++i) vt_s[(vd0 + i) * kVs + vc] = vh[i];
        }
      }
    } else {
      for (int e = threadIdx.x; e < kC * kD; e += kThreads) {
        const int c = e / kD, d = e % kD;
        const bool in = c < cols && d < a.D;
        k_s[c * kKs + d] = in ? k[(c0 + c) * a.k_st + d] : __float2half(0.f);
        const int vc = e % kC, vd = e / kC;
        vt_s[vd * kVs + vc] = vc < cols && vd < a.D ? v[(c0 + vc) * a.v_st + vd] : __float2half(0.f);
      }
    }
    __syncthreads();

    // S = Q K^T: 8 tiles of 8 keys; B[d][key] = K[key][d], so b reads K's row g.
    float s[kC / 8][4];
#pragma unroll
    for (int n = 0; n < kC / 8; ++n) {
      s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
      const __half* krow = k_s + (n * 8 + g) * kKs + 2 * t;
#pragma unroll
      for (int ks = 0; ks < kD / 16; ++ks) {
        const uint32_t bf[2] = {LoadPair(krow + ks * 16), LoadPair(krow + ks * 16 + 8)};
        Mma16816(s[n], qf[ks], bf);
      }
    }

    // Scale, softcap, mask; each row's new maximum over the 4 lanes that share it.
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < kC / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int i = e >> 1, c = n * 8 + 2 * t + (e & 1);
        float x = -INFINITY;
        if (live[i] && c < cols) {
          const int64_t j = c0 + c;
          const float bv = bias != nullptr ? __half2float(brow[i][j * bcs]) : 0.f;
          x = FlashScore(a, s[n][e], bv, gi[i], j, end, [](float y) { return __half2float(__float2half_rn(y)); });
        }
        s[n][e] = x;
        mx[i] = fmaxf(mx[i], x);
      }
    float alpha[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
      mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
      const float m_new = fmaxf(m[i], mx[i]);
      alpha[i] = FlashRescale(m[i], m_new);
      m[i] = m_new;
      l[i] *= alpha[i];
    }
#pragma unroll
    for (int n = 0; n < kD / 8; ++n) {
      o[n][0] *= alpha[0], o[n][1] *= alpha[0];
      o[n][2] *= alpha[1], o[n][3] *= alpha[1];
    }

    // The weights in fp16 (as the second product reads them; the sum adds the rounded values), then
    // O += P V, P's A fragments taken straight from the score registers.
    __half p[kC / 8][4];
#pragma unroll
    for (int n = 0; n < kC / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        p[n][e] = __float2half(FlashWeight(s[n][e], m[e >> 1]));
        l[e >> 1] += __half2float(p[n][e]);
      }
#pragma unroll
    for (int ks = 0; ks < kC / 16; ++ks) {
      const uint32_t pf[4] = {PackHalves(p[2 * ks][0], p[2 * ks][1]), PackHalves(p[2 * ks][2], p[2 * ks][3]),
                              PackHalves(p[2 * ks + 1][0], p[2 * ks + 1][1]),
                              PackHalves(p[2 * ks + 1][2], p[2 * ks + 1][3])};
#pragma unroll
      for (int n = 0; n < kD / 8; ++n) {
        const __half* vrow = vt_s + (n * 8 + g) * kVs + ks * 16 + 2 * t;
        const uint32_t bf[2] = {LoadPair(vrow), LoadPair(vrow + 8)};
        Mma16816(o[n], pf, bf);
      }
    }
  }

  // O / l (the row's sum over its 4 lanes): a row that saw only masked columns is 0 / 0 (NaN), as the
  // unfused softmax gives.
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
  }
  __half* out = static_cast<__half*>(a.o) + b * a.o_sb + h * a.o_sh;
#pragma unroll
  for (int n = 0; n < kD / 8; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int i = e >> 1, d = n * 8 + 2 * t + (e & 1);
      if (!live[i] || d >= a.D) continue;
      float val = o[n][e] / l[i];
      if (a.nan_to_zero && isnan(val)) val = 0.f;
      out[gi[i] * a.o_ss + d] = __float2half(val);
    }
}

// Whether a view's rows can be read 8 halves at a time: 16-byte aligned base and strides in multiples of 8.
bool Aligned8(const void* p, int64_t sb, int64_t sh, int64_t st) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0 && sb % 8 == 0 && sh % 8 == 0 && st % 8 == 0;
}

template <int kD>
Status Launch(const FlashAttentionArgs& a, cudaStream_t stream) {
  const bool vec = a.D % 8 == 0 && Aligned8(a.k, a.k_sb, a.k_sh, a.k_st) && Aligned8(a.v, a.v_sb, a.v_sh, a.v_st);
  const bool qvec = a.D % 8 == 0 && Aligned8(a.q, a.q_sb, a.q_sh, a.q_ss);
  // Blocks of 4 warps (64 query rows) share each staged key tile four ways; when that leaves the
  // grid too small to fill the GPU (batch 1), blocks of one warp spread the rows over 4x the SMs.
  const int64_t tiles4 = (a.Sq + 63) / 64;
  if (tiles4 * a.B * a.Hq >= 256) {
    const dim3 grid(static_cast<unsigned>(tiles4), static_cast<unsigned>(a.B * a.Hq));
    FlashKernel<kD, 4><<<grid, 128, 0, stream>>>(a, vec, qvec);
  } else {
    const dim3 grid(static_cast<unsigned>((a.Sq + 15) / 16), static_cast<unsigned>(a.B * a.Hq));
    FlashKernel<kD, 1><<<grid, 32, 0, stream>>>(a, vec, qvec);
  }
  return CudaStatus(cudaGetLastError(), "FlashAttention launch");
}

}  // namespace

Status FlashAttention(const FlashAttentionArgs& a, cudaStream_t stream) {
  if (a.B <= 0 || a.Hq <= 0 || a.Sq <= 0) return Status::Ok();
  if (!FlashAttentionTakes(a.D) || a.Hkv <= 0 || a.Hq % a.Hkv != 0 || a.T <= 0)
    return Unimplemented("FlashAttention: head size " + std::to_string(a.D));
  if ((a.Sq + 15) / 16 > 0x7fffffff || a.B * a.Hq > 65535)
    return Unimplemented("FlashAttention: grid too large");
  if (a.D <= 32) return Launch<32>(a, stream);
  if (a.D <= 64) return Launch<64>(a, stream);
  return Launch<128>(a, stream);
}

}  // namespace onnxd::cuda
