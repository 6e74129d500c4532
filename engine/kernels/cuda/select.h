// IsNaN and Where on fp32 or fp16 data (bool tensors are one byte per element, as ONNX stores them).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <span>

#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// out[i] = isnan(in[i]) (1 or 0). Queued on `stream`.
Status IsNaN(const float* in, uint8_t* out, int64_t n, cudaStream_t stream);
Status IsNaN(const __half* in, uint8_t* out, int64_t n, cudaStream_t stream);

// out = cond ? a : b with numpy broadcasting of the three (rank <= 6); out is packed with the
// broadcast shape. Queued on `stream`.
Status Where(const uint8_t* cond, std::span<const int64_t> cond_shape, const float* a, std::span<const int64_t> a_shape,
             const float* b, std::span<const int64_t> b_shape, float* out, cudaStream_t stream);
Status Where(const uint8_t* cond, std::span<const int64_t> cond_shape, const __half* a,
             std::span<const int64_t> a_shape, const __half* b, std::span<const int64_t> b_shape, __half* out,
             cudaStream_t stream);

}  // namespace onnxd::cuda
