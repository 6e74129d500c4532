// Broadcast elementwise binary ops (Add, Sub, Mul, Div, Pow) on fp32 or fp16 (computed in fp32),
// and Add, Sub, Mul on int32 and int64 (wrapping on overflow); numpy broadcasting, rank <= 6.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <span>

#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// kPRelu: a < 0 ? b * a : a (b the slope).
enum class BinaryOp { kAdd, kSub, kMul, kDiv, kPow, kPRelu };

// out (shape BroadcastShape(a_shape, b_shape), packed) = a op b. Queued on `stream`; returns the
// launch status (errors inside the kernel surface at the next synchronisation).
Status BinaryElementwise(BinaryOp op, const float* a, std::span<const int64_t> a_shape, const float* b,
                         std::span<const int64_t> b_shape, float* out, cudaStream_t stream);
Status BinaryElementwise(BinaryOp op, const __half* a, std::span<const int64_t> a_shape, const __half* b,
                         std::span<const int64_t> b_shape, __half* out, cudaStream_t stream);
// Add, Sub and Mul only (UNIMPLEMENTED for the others).
Status BinaryElementwise(BinaryOp op, const int32_t* a, std::span<const int64_t> a_shape, const int32_t* b,
                         std::span<const int64_t> b_shape, int32_t* out, cudaStream_t stream);
Status BinaryElementwise(BinaryOp op, const int64_t* a, std::span<const int64_t> a_shape, const int64_t* b,
                         std::span<const int64_t> b_shape, int64_t* out, cudaStream_t stream);

}  // namespace onnxd::cuda
