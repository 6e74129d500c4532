// The fused attention kernel's launcher (kernels/cuda/flash_attention.h describes it).
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/cuda/flash_attention.h"
#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// Whether the kernel takes a head size (fp16, 1 to 128).
inline bool FlashAttentionTakes(int64_t head_size) { return head_size >= 1 && head_size <= 128; }

// O = softmax(mask(scale * Q K^T)) V for fp16 views (flash_attention.h). Queued on `stream`.
Status FlashAttention(const FlashAttentionArgs& args, cudaStream_t stream);

}  // namespace onnxd::cuda
