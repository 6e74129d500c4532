// Data-movement, mask and comparison kernels (issue #8): what keeps whole models on the GPU
// (embedding Gathers, attention-mask chains, ReLU6 Clip) instead of sending small tensors back and
// forth. The copy kernels move elements by size (1, 2, 4 or 8 bytes), so one kernel serves every
// element type of that size; the arithmetic ones take the element types listed by ElemType.
//
// Shapes are host spans (rank <= kMaxRank); every pointer other than the shapes is device memory.
// All calls queue on `stream` and return at once; an empty output queues nothing.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <span>

#include "kernels/cuda/tensor_shape.h"
#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// The element types the arithmetic kernels (Cast, comparisons, Max/Min, Range) take. kBool is one
// byte holding 0 or 1, as ONNX stores it.
enum class ElemType { kFloat, kHalf, kDouble, kInt64, kInt32, kInt8, kUInt8, kBool };

// Generic strided copy over an index space of up to kMaxRank dims:
//   dst[dst_offset + sum(c[d] * dst_strides[d])] = src[src_offset + sum(c[d] * src_strides[d])]
// for every coordinate c < dims. Strides and offsets are in elements; src strides may be negative
// (Slice with negative steps) or 0 (Expand). `elem_size` is 1, 2, 4 or 8. Serves Slice, Expand,
// Concat (one call per input), Split (one per output) and Transpose of any element type.
Status StridedCopy(const void* src, int64_t src_offset, std::span<const int64_t> src_strides, void* dst,
                   int64_t dst_offset, std::span<const int64_t> dst_strides, std::span<const int64_t> dims,
                   int elem_size, cudaStream_t stream);

// Gather along one axis, data viewed as [outer, axis_dim, inner], indices flat (count n_idx):
//   out[o, j, i] = data[o, idx[j] (+ axis_dim if negative), i]
// An index outside [-axis_dim, axis_dim) writes zeros (the host path answers INVALID_ARGUMENT;
// the device cannot stop the run). Indices are int64 (`idx64`) or int32 (`idx32`): pass one.
Status GatherAxis(const void* data, int64_t outer, int64_t axis_dim, int64_t inner, const int64_t* idx64,
                  const int32_t* idx32, int64_t n_idx, void* out, int elem_size, cudaStream_t stream);

// GatherElements: out has indices' shape; out[c] = data[c with c[axis] = idx[c]] (negative indices
// wrap; out of range writes zero).
Status GatherElements(const void* data, std::span<const int64_t> data_shape, const int64_t* idx64,
                      const int32_t* idx32, std::span<const int64_t> idx_shape, int axis, void* out, int elem_size,
                      cudaStream_t stream);

// GatherND with batch_dims b: indices [..., k]; out = indices.shape[:-1] + data.shape[b + k:].
// Negative indices wrap; out of range writes zero.
Status GatherND(const void* data, std::span<const int64_t> data_shape, const int64_t* idx64, const int32_t* idx32,
                std::span<const int64_t> idx_shape, int batch_dims, void* out, int elem_size, cudaStream_t stream);

// out[i] = (To)in[i] for i < n (ONNX Cast: float -> int truncates toward zero, anything -> bool is
// `!= 0`, bool -> anything is 0 / 1).
Status Cast(const void* in, ElemType from, void* out, ElemType to, int64_t n, cudaStream_t stream);

enum class CompareOp { kEqual, kLess, kGreater, kLessOrEqual, kGreaterOrEqual };
// out (bool) = a op b with numpy broadcasting; a and b of type `t`.
Status Compare(CompareOp op, ElemType t, const void* a, std::span<const int64_t> a_shape, const void* b,
               std::span<const int64_t> b_shape, uint8_t* out, cudaStream_t stream);

enum class LogicOp { kAnd, kOr, kXor };
// out = a op b on bool tensors with numpy broadcasting.
Status Logic(LogicOp op, const uint8_t* a, std::span<const int64_t> a_shape, const uint8_t* b,
             std::span<const int64_t> b_shape, uint8_t* out, cudaStream_t stream);

// out[i] = !in[i] on bool.
Status Not(const uint8_t* in, uint8_t* out, int64_t n, cudaStream_t stream);

enum class MinMaxOp { kMax, kMin };
// out = max(a, b) / min(a, b) with numpy broadcasting (a NaN operand gives NaN, as numpy's
// maximum). out may not alias a or b unless its shape equals theirs.
Status MinMax(MinMaxOp op, ElemType t, const void* a, std::span<const int64_t> a_shape, const void* b,
              std::span<const int64_t> b_shape, void* out, cudaStream_t stream);

// out[i] = start + i * delta for i < n, in type t (kFloat, kDouble, kInt64 or kInt32; start and
// delta given as double / int64 by the caller, whichever the type reads).
Status Range(ElemType t, double start_f, double delta_f, int64_t start_i, int64_t delta_i, void* out, int64_t n,
             cudaStream_t stream);

}  // namespace onnxd::cuda
