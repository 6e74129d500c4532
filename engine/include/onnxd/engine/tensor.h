// Tensors and the other ONNX values (sequences, maps, empty optionals).
//
// A Tensor is a dtype, a shape and a pointer into a Buffer. Buffers are shared (copying a Tensor
// never copies data) or borrowed (a view of memory someone else owns, e.g. a session's arena).
// Values passed into the engine are never written to.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "onnxd/engine/types.h"

namespace onnxd {

// Dims of a tensor. Rank <= kInline lives inline, so building and copying shapes on the request
// path allocates nothing for any practical model.
class Shape {
 public:
  static constexpr int kInline = 8;
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) { Assign(dims.begin(), dims.size()); }
  explicit Shape(std::span<const int64_t> dims) { Assign(dims.data(), dims.size()); }
  Shape(const Shape& o) { Assign(o.data(), o.size()); }
  Shape& operator=(const Shape& o) {
    if (this != &o) Assign(o.data(), o.size());
    return *this;
  }

  size_t size() const { return rank_; }
  int rank() const { return static_cast<int>(rank_); }
  const int64_t* data() const { return rank_ <= kInline ? inline_ : heap_.data(); }
  int64_t* data() { return rank_ <= kInline ? inline_ : heap_.data(); }
  int64_t operator[](size_t i) const { return data()[i]; }
  int64_t& operator[](size_t i) { return data()[i]; }
  const int64_t* begin() const { return data(); }
  const int64_t* end() const { return data() + rank_; }
  std::span<const int64_t> dims() const { return {data(), rank_}; }
  std::vector<int64_t> ToVector() const { return {begin(), end()}; }

  void Resize(size_t rank, int64_t fill = 0);
  void PushBack(int64_t d);
  void Assign(const int64_t* dims, size_t rank);
  void Clear() { rank_ = 0; }

  // Product of dims (1 for rank 0).
  int64_t NumElements() const;
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string ToString() const;  // "[1,3,224,224]"

 private:
  size_t rank_ = 0;
  int64_t inline_[kInline] = {};
  std::vector<int64_t> heap_;
};

// An owned, 64-byte aligned block. String buffers construct their std::string elements.
class Buffer {
 public:
  static std::shared_ptr<Buffer> Allocate(DataType dtype, int64_t num_elements);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  Buffer() = default;
  void* data_ = nullptr;
  size_t bytes_ = 0;
  int64_t strings_ = 0;  // number of constructed std::string objects
};

class Tensor {
 public:
  Tensor() = default;
  // A new tensor owning zero-initialised (numeric) or empty-string (string) storage.
  static Tensor Allocate(DataType dtype, const Shape& shape);
  // A tensor over memory owned elsewhere; the caller keeps it alive while the view is used.
  static Tensor View(DataType dtype, const Shape& shape, void* data);
  // A scalar or 1-D tensor built from host values (tests, tools).
  template <typename T>
  static Tensor FromVector(const std::vector<T>& v, const Shape& shape);

  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  int64_t dim(int i) const { return shape_[i]; }
  int64_t num_elements() const { return shape_.NumElements(); }
  size_t bytes() const { return static_cast<size_t>(num_elements()) * ElementSize(dtype_); }
  bool defined() const { return dtype_ != DataType::kUndefined; }

  void* raw_data() { return data_; }
  const void* raw_data() const { return data_; }
  template <typename T> T* data() { return static_cast<T*>(data_); }
  template <typename T> const T* data() const { return static_cast<const T*>(data_); }

  // Same data, other dims (element counts must match; checked by the caller).
  Tensor Reshaped(const Shape& shape) const {
    Tensor t = *this;
    t.shape_ = shape;
    return t;
  }
  // A deep copy that owns its storage.
  Tensor Clone() const;
  // This tensor if it shares ownership of its storage, else a Clone: what must be kept beyond the
  // run that produced a view into a session's arena.
  Tensor Owned() const { return buffer_ != nullptr ? *this : Clone(); }
  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }

 private:
  DataType dtype_ = DataType::kUndefined;
  Shape shape_;
  void* data_ = nullptr;
  std::shared_ptr<Buffer> buffer_;  // null for views
};

template <typename T>
Tensor Tensor::FromVector(const std::vector<T>& v, const Shape& shape) {
  Tensor t = Allocate(DataTypeOf<T>::value, shape);
  T* d = t.data<T>();
  for (size_t i = 0; i < v.size() && static_cast<int64_t>(i) < t.num_elements(); ++i) d[i] = v[i];
  return t;
}

enum class ValueKind { kNone, kTensor, kSequence, kMap };

class Value;

// ONNX map(K, V) as produced by ZipMap / CastMap / DictVectorizer's input: parallel 1-D tensors.
struct MapValue {
  Tensor keys;    // int64 or string
  Tensor values;  // one element per key
};

// Any ONNX value: a tensor, a sequence of values, a map, or an empty optional (kNone).
class Value {
 public:
  Value() = default;
  Value(Tensor t) : kind_(ValueKind::kTensor), tensor_(std::move(t)) {}  // NOLINT
  static Value Sequence(std::vector<Value> elements, DataType elem_type = DataType::kUndefined);
  static Value Map(Tensor keys, Tensor values);
  static Value None() { return Value(); }

  ValueKind kind() const { return kind_; }
  bool is_tensor() const { return kind_ == ValueKind::kTensor; }
  bool is_sequence() const { return kind_ == ValueKind::kSequence; }
  bool is_map() const { return kind_ == ValueKind::kMap; }
  bool is_none() const { return kind_ == ValueKind::kNone; }

  const Tensor& tensor() const { return tensor_; }
  Tensor& tensor() { return tensor_; }
  const std::vector<Value>& sequence() const { return *sequence_; }
  // Element dtype of a sequence of tensors (known even when the sequence is empty).
  DataType sequence_elem_type() const { return tensor_.dtype(); }
  const MapValue& map() const { return *map_; }

  std::string DebugString(int max_elements = 16) const;
  // The same value with every tensor inside it (sequence elements, map keys and values) Owned().
  Value Owned() const;

 private:
  ValueKind kind_ = ValueKind::kNone;
  Tensor tensor_;  // the tensor; for sequences, an empty tensor carrying the element dtype
  std::shared_ptr<const std::vector<Value>> sequence_;
  std::shared_ptr<const MapValue> map_;
};

// The declared type of a model input or output.
struct TypeInfo {
  ValueKind kind = ValueKind::kTensor;  // kNone is used for optional(...) wrapper
  DataType elem_type = DataType::kUndefined;  // tensors; map values
  DataType key_type = DataType::kUndefined;   // maps
  bool has_shape = false;
  std::vector<int64_t> dims;             // -1 where dynamic
  std::vector<std::string> dim_params;   // symbolic names where given, else ""
  std::shared_ptr<TypeInfo> element;     // sequence element / optional content / map value type
  std::string ToString() const;          // "tensor(float)[?,4]", "seq(map(int64,tensor(float)))"
};

struct IoSpec {
  std::string name;
  TypeInfo type;
};

}  // namespace onnxd
