// Broadcast elementwise binary ops (Add, Sub, Mul, Div, Pow) on fp32 or fp16 (computed in fp32),
// and Add, Sub, Mul on int32 and int64 (wrapping on overflow); numpy broadcasting, rank <= 6.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <span>
#include <type_traits>

#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// kPRelu: a < 0 ? b * a : a (b the slope).
enum class BinaryOp { kAdd, kSub, kMul, kDiv, kPow, kPRelu };

// out (shape BroadcastShape(a_shape, b_shape), packed) = a op b. Queued on `stream`; returns the
// launch status (errors inside the kernel surface at the next synchronisation). T: float or __half
// (every op, computed in fp32), int32_t or int64_t (Add, Sub and Mul; UNIMPLEMENTED for the others).
template <typename T>
Status BinaryElementwise(BinaryOp op, const T* a, std::span<const int64_t> a_shape, const T* b,
                         std::span<const int64_t> b_shape, std::type_identity_t<T>* out, cudaStream_t stream);

}  // namespace onnxd::cuda
