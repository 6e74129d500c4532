// The ONNX Attention op's (opsets 23, 24) row pass and KV-cache concatenation on the GPU; the two
// GEMMs around the row pass are strided cuBLAS calls (kernels/cuda/gemm_strided.h), made by the
// CUDA session (runtime/cuda_session_gpu.cc). Semantics follow the CPU op (ops/attention_ops.cc).
// Pointers are device memory; calls queue on `stream`.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// One row a query: scores [B, Hq, Sq, T] packed (Q K^T already scaled), rewritten in place as the
// softmax probabilities after, in the CPU op's order: softcap (c * tanh(s / c) when softcap > 0),
// the mask (float: added; bool: false gives -inf; columns at or past mask_len: -inf), the causal
// limit (column j > i + past: -inf) and the non-padded length (j >= nonpad[b]: -inf), softmax (a
// row of -inf only gives NaN, as the CPU op). qk, when not null, gets the scores [B, Hq, Sq, T] as
// they are after step qk_mode (0: scaled product, 1: softcap, 2: mask, 3: softmax).
struct AttentionRowsArgs {
  int64_t B = 0, Hq = 0, Sq = 0, T = 0;
  float softcap = 0.f;
  const void* mask = nullptr;    // the scores' element type, or bool when mask_bool
  bool mask_bool = false;
  int64_t mask_sb = 0, mask_sh = 0, mask_ss = 0;  // element strides over b, h, i (0: broadcast)
  int64_t mask_len = 0;                            // the mask's last dim (<= T)
  bool causal = false;
  int64_t past = 0;
  const int64_t* nonpad = nullptr;  // [B], or null
  void* qk = nullptr;               // the scores' element type
  int qk_mode = 0;
};
Status AttentionRows(float* scores, const AttentionRowsArgs& args, cudaStream_t stream);
Status AttentionRows(__half* scores, const AttentionRowsArgs& args, cudaStream_t stream);

// present [B, H, P + S, D] = concat(past [B, H, P, D], cur) along the sequence axis; cur is 4-D
// [B, H, S, D] or (cur_3d) 3-D [B, S, H * D]. past may be null when P == 0. 2- or 4-byte elements.
Status ConcatKv(const void* past, const void* cur, bool cur_3d, void* present, int64_t B, int64_t H, int64_t P,
                int64_t S, int64_t D, int elem_size, cudaStream_t stream);

}  // namespace onnxd::cuda
