// Helpers shared by op implementations: dtype dispatch, axis handling, broadcasting.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "onnxd/engine/status.h"
#include "onnxd/engine/tensor.h"

namespace onnxd::engine {

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<T>{}) for the C++ type of `dt` among the listed families; returns false when
// `dt` is not in them. Use: if (!DispatchFloat(dt, [&](auto tag) { using T = typename decltype(tag)::type; ... }))
template <typename F>
bool DispatchFloat(DataType dt, F&& f) {
  switch (dt) {
    case DataType::kFloat: f(TypeTag<float>{}); return true;
    case DataType::kDouble: f(TypeTag<double>{}); return true;
    case DataType::kFloat16: f(TypeTag<Float16>{}); return true;
    case DataType::kBFloat16: f(TypeTag<BFloat16>{}); return true;
    default: return false;
  }
}

template <typename F>
bool DispatchInteger(DataType dt, F&& f) {
  switch (dt) {
    case DataType::kInt8: f(TypeTag<int8_t>{}); return true;
    case DataType::kInt16: f(TypeTag<int16_t>{}); return true;
    case DataType::kInt32: f(TypeTag<int32_t>{}); return true;
    case DataType::kInt64: f(TypeTag<int64_t>{}); return true;
    case DataType::kUInt8: f(TypeTag<uint8_t>{}); return true;
    case DataType::kUInt16: f(TypeTag<uint16_t>{}); return true;
    case DataType::kUInt32: f(TypeTag<uint32_t>{}); return true;
    case DataType::kUInt64: f(TypeTag<uint64_t>{}); return true;
    default: return false;
  }
}

template <typename F>
bool DispatchNumeric(DataType dt, F&& f) {
  return DispatchFloat(dt, f) || DispatchInteger(dt, f);
}

template <typename F>
bool DispatchNumericOrBool(DataType dt, F&& f) {
  if (dt == DataType::kBool) {
    f(TypeTag<bool>{});
    return true;
  }
  return DispatchNumeric(dt, f);
}

template <typename F>
bool DispatchAny(DataType dt, F&& f) {
  if (dt == DataType::kString) {
    f(TypeTag<std::string>{});
    return true;
  }
  return DispatchNumericOrBool(dt, f);
}

// Float16/BFloat16 compute in float; everything else in itself.
template <typename T>
using ComputeType = std::conditional_t<std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>, float, T>;

// Normalises a possibly negative axis against `rank`; error when out of range.
StatusOr<int> NormalizeAxis(int64_t axis, int rank, const char* what = "axis");

// Numpy-style multidirectional broadcast of two shapes; error names both shapes.
StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b);

// Reads a 1-D (or scalar) int32/int64 tensor into `out` (shape inputs: Reshape, Slice, Expand...).
Status ReadInt64s(const Tensor& t, std::vector<int64_t>* out);
// Reads element 0 of a numeric tensor as double / int64.
double ScalarAsDouble(const Tensor& t);
int64_t ScalarAsInt64(const Tensor& t);

class KernelContext;
// Writes a tensor as output i through the planner (a copy), or a non-tensor value as is; nothing
// when the node does not want output i.
void EmitValue(KernelContext& ctx, int i, const Value& v);

// Copies `n` elements of dtype `dt` (strings by assignment).
void CopyElements(DataType dt, const void* src, void* dst, int64_t n);

// Strides (in elements) of a row-major shape.
void RowMajorStrides(const Shape& shape, int64_t* strides);

// For broadcasting: iterates output elements, tracking flat input offsets of up to N inputs.
// Kernels use it only on the general path; same-shape and scalar cases have fast paths.
struct BroadcastIndexer {
  static constexpr int kMaxInputs = 8;
  // Each input shape is aligned right against `out`.
  void Init(const Shape& out, const Shape* const* ins, int n);
  int rank = 0;
  int num_inputs = 0;
  int64_t out_dims[Shape::kInline * 2] = {};
  int64_t in_strides[kMaxInputs][Shape::kInline * 2] = {};  // 0 where broadcast
};

}  // namespace onnxd::engine
