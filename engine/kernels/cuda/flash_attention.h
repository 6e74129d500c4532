// Fused attention (flash attention's tiling: scores never leave the chip) for fp16 on tensor cores:
// O = softmax(mask(scale * Q K^T)) V over query tiles of 64 rows (16 when the grid would be small)
// and key tiles of 64 columns, with the softmax done online (a running row maximum and sum, the
// partial output rescaled as the maximum grows); each warp keeps its 16 rows' scores, weights and
// output in registers between mma.sync products. Q, K, V and O are strided views (the head transposes of exported attention
// folded, as the CUDA session's strided GEMMs read them); the mask is an additive bias broadcast by
// SoftmaxBiasLayout, a causal limit with a KV-cache offset, and non-padded lengths.
//
// Its results equal the unfused path's (GEMM, softmax kernel, GEMM) within fp16 rounding: scores
// stay fp32 here, the probabilities are rounded to fp16 for the second product, as there. A row
// with every column masked is NaN (0 / 0), as the unfused softmax gives; nan_to_zero makes it 0.
//
// The masking and the online-softmax arithmetic below are host and device code, tested on the CPU
// by a tile-by-tile simulation in tests/engine/kernels/cuda/flash_attention_test.cc.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/cuda/softmax_bias.h"

#if defined(__CUDACC__)
#define ONNXD_FLASH_FN __host__ __device__ __forceinline__
#else
#define ONNXD_FLASH_FN inline
#endif

namespace onnxd::cuda {

inline constexpr int kFlashRows = 64;  // query rows a block (16 a warp, 4 warps; one warp at small grids)
inline constexpr int kFlashCols = 64;  // key columns a step

struct FlashAttentionArgs {
  int64_t B = 0, Hq = 0, Hkv = 0, Sq = 0, T = 0, D = 0;  // Dv == D
  // Element strides; the head-size axis is packed (stride 1) in each.
  const void* q = nullptr;
  int64_t q_sb = 0, q_sh = 0, q_ss = 0;
  const void* k = nullptr;
  int64_t k_sb = 0, k_sh = 0, k_st = 0;
  const void* v = nullptr;
  int64_t v_sb = 0, v_sh = 0, v_st = 0;
  void* o = nullptr;
  int64_t o_sb = 0, o_sh = 0, o_ss = 0;
  float scale = 1.f;
  float softcap = 0.f;               // > 0: c * tanh(s / c) before the mask
  const void* bias = nullptr;        // fp16, rows (b * Hq + h) * Sq + i over T columns, by bias_layout
  SoftmaxBiasLayout bias_layout;
  bool causal = false;
  int64_t past = 0;                  // causal: column j is visible to query i when j <= i + past
  const int64_t* nonpad = nullptr;   // [B]: columns at or past nonpad[b] are masked
  bool nan_to_zero = false;
  // Round as the unfused path does, so the two agree: the scaled score to fp16 (the scores GEMM
  // writes fp16: both the Attention op's path and an exported block's), and the score plus the bias
  // to fp16 (an exported block's Add: a -65504 mask on a score below about -16 becomes -inf there;
  // the Attention op adds its mask in fp32).
  bool round_scores = false;
  bool round_masked = false;
};

// Score (b, h, i, j) after scale, softcap, bias and the causal / length limits (-inf: masked).
// `raw` is the product q_i . k_j; `bias_value` the bias element (0 without one); `end` the row's
// non-padded length; `round` rounds to fp16 (applied as round_scores / round_masked say).
template <typename Round>
ONNXD_FLASH_FN float FlashScore(const FlashAttentionArgs& a, float raw, float bias_value, int64_t i, int64_t j,
                                int64_t end, Round round) {
  float v = raw * a.scale;
  if (a.round_scores) v = round(v);
  if (a.softcap > 0.f) v = a.softcap * tanhf(v * (1.f / a.softcap));
  v += bias_value;
  if (a.round_masked) v = round(v);
  if (j >= end || (a.causal && j > i + a.past)) v = -INFINITY;
  return v;
}

// The factor the running sum and partial output are multiplied by when the row maximum goes from
// m_old to m_new (0 while nothing was seen: the partial output is still 0).
ONNXD_FLASH_FN float FlashRescale(float m_old, float m_new) {
  return m_old == -INFINITY ? 0.f : expf(m_old - m_new);
}

// A column's weight under the running maximum m (0 while the row has seen only masked columns).
ONNXD_FLASH_FN float FlashWeight(float score, float m) { return m == -INFINITY ? 0.f : expf(score - m); }

}  // namespace onnxd::cuda
