// Transpose of a packed fp32 or fp16 tensor by a permutation of rank <= 6 (ONNX Transpose semantics:
// output dim i is input dim perm[i]).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <span>

#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// InvalidArgument when perm is not a permutation of 0..rank-1. Queued on `stream`.
Status Transpose(const float* in, std::span<const int64_t> in_shape, std::span<const int64_t> perm, float* out,
                 cudaStream_t stream);
Status Transpose(const __half* in, std::span<const int64_t> in_shape, std::span<const int64_t> perm, __half* out,
                 cudaStream_t stream);

}  // namespace onnxd::cuda
