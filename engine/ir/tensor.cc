#include "onnxd/engine/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>

namespace onnxd {

void Shape::Assign(const int64_t* dims, size_t rank) {
  if (rank <= kInline) {
    if (dims != inline_) std::memmove(inline_, dims, rank * sizeof(int64_t));
    heap_.clear();
  } else {
    std::vector<int64_t> tmp(dims, dims + rank);
    heap_.swap(tmp);
  }
  rank_ = rank;
}

void Shape::Resize(size_t rank, int64_t fill) {
  if (rank <= kInline) {
    if (rank_ > kInline) std::memcpy(inline_, heap_.data(), rank * sizeof(int64_t));
    for (size_t i = rank_; i < rank; ++i) inline_[i] = fill;
    heap_.clear();
  } else {
    if (rank_ <= kInline) heap_.assign(inline_, inline_ + rank_);
    heap_.resize(rank, fill);
  }
  rank_ = rank;
}

void Shape::PushBack(int64_t d) {
  Resize(rank_ + 1, d);
}

int64_t Shape::NumElements() const {
  int64_t n = 1;
  for (size_t i = 0; i < rank_; ++i) n *= data()[i];
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (rank_ != o.rank_) return false;
  for (size_t i = 0; i < rank_; ++i)
    if (data()[i] != o.data()[i]) return false;
  return true;
}

std::string Shape::ToString() const {
  std::string s = "[";
  for (size_t i = 0; i < rank_; ++i) {
    if (i) s += ",";
    s += std::to_string(data()[i]);
  }
  return s + "]";
}

std::shared_ptr<Buffer> Buffer::Allocate(DataType dtype, int64_t num_elements) {
  auto b = std::shared_ptr<Buffer>(new Buffer());
  size_t bytes = static_cast<size_t>(num_elements) * ElementSize(dtype);
  size_t alloc = (bytes + 63) / 64 * 64;
  if (alloc == 0) alloc = 64;
  b->data_ = std::aligned_alloc(64, alloc);
  if (b->data_ == nullptr) throw std::bad_alloc();
  b->bytes_ = bytes;
  if (dtype == DataType::kString) {
    auto* s = static_cast<std::string*>(b->data_);
    for (int64_t i = 0; i < num_elements; ++i) new (s + i) std::string();
    b->strings_ = num_elements;
  } else {
    std::memset(b->data_, 0, alloc);
  }
  return b;
}

Buffer::~Buffer() {
  auto* s = static_cast<std::string*>(data_);
  for (int64_t i = 0; i < strings_; ++i) s[i].~basic_string();
  std::free(data_);
}

Tensor Tensor::Allocate(DataType dtype, const Shape& shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.buffer_ = Buffer::Allocate(dtype, shape.NumElements());
  t.data_ = t.buffer_->data();
  return t;
}

Tensor Tensor::View(DataType dtype, const Shape& shape, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.data_ = data;
  return t;
}

Tensor Tensor::Clone() const {
  Tensor t = Allocate(dtype_, shape_);
  if (dtype_ == DataType::kString) {
    const auto* src = data<std::string>();
    auto* dst = t.data<std::string>();
    for (int64_t i = 0; i < num_elements(); ++i) dst[i] = src[i];
  } else if (bytes() > 0) {
    std::memcpy(t.data_, data_, bytes());
  }
  return t;
}

Value Value::Sequence(std::vector<Value> elements, DataType elem_type) {
  Value v;
  v.kind_ = ValueKind::kSequence;
  if (elem_type == DataType::kUndefined && !elements.empty() && elements[0].is_tensor())
    elem_type = elements[0].tensor().dtype();
  v.tensor_ = Tensor::View(elem_type, Shape{0}, nullptr);
  v.sequence_ = std::make_shared<const std::vector<Value>>(std::move(elements));
  return v;
}

Value Value::Owned() const {
  switch (kind_) {
    case ValueKind::kTensor: return Value(tensor_.Owned());
    case ValueKind::kSequence: {
      std::vector<Value> elems;
      elems.reserve(sequence_->size());
      for (const Value& e : *sequence_) elems.push_back(e.Owned());
      return Sequence(std::move(elems), sequence_elem_type());
    }
    case ValueKind::kMap: return Map(map_->keys.Owned(), map_->values.Owned());
    case ValueKind::kNone: return *this;
  }
  return *this;
}

Value Value::Map(Tensor keys, Tensor values) {
  Value v;
  v.kind_ = ValueKind::kMap;
  v.map_ = std::make_shared<const MapValue>(MapValue{std::move(keys), std::move(values)});
  return v;
}

namespace {
template <typename T>
void AppendElements(std::ostringstream& os, const Tensor& t, int max_elements) {
  const T* d = t.data<T>();
  int64_t n = t.num_elements();
  for (int64_t i = 0; i < n && i < max_elements; ++i) {
    if (i) os << ", ";
    if constexpr (std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t>) {
      os << static_cast<int>(d[i]);
    } else if constexpr (std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>) {
      os << static_cast<float>(d[i]);
    } else if constexpr (std::is_same_v<T, std::string>) {
      os << '"' << d[i] << '"';
    } else if constexpr (std::is_same_v<T, bool>) {
      os << (d[i] ? "true" : "false");
    } else {
      os << d[i];
    }
  }
  if (n > max_elements) os << ", ...";
}

void AppendTensor(std::ostringstream& os, const Tensor& t, int max_elements) {
  os << "tensor(" << DataTypeName(t.dtype()) << ")" << t.shape().ToString() << " {";
  switch (t.dtype()) {
    case DataType::kFloat: AppendElements<float>(os, t, max_elements); break;
    case DataType::kDouble: AppendElements<double>(os, t, max_elements); break;
    case DataType::kFloat16: AppendElements<Float16>(os, t, max_elements); break;
    case DataType::kBFloat16: AppendElements<BFloat16>(os, t, max_elements); break;
    case DataType::kInt8: AppendElements<int8_t>(os, t, max_elements); break;
    case DataType::kInt16: AppendElements<int16_t>(os, t, max_elements); break;
    case DataType::kInt32: AppendElements<int32_t>(os, t, max_elements); break;
    case DataType::kInt64: AppendElements<int64_t>(os, t, max_elements); break;
    case DataType::kUInt8: AppendElements<uint8_t>(os, t, max_elements); break;
    case DataType::kUInt16: AppendElements<uint16_t>(os, t, max_elements); break;
    case DataType::kUInt32: AppendElements<uint32_t>(os, t, max_elements); break;
    case DataType::kUInt64: AppendElements<uint64_t>(os, t, max_elements); break;
    case DataType::kBool: AppendElements<bool>(os, t, max_elements); break;
    case DataType::kString: AppendElements<std::string>(os, t, max_elements); break;
    default:
      if (IsNarrowInt(t.dtype())) {
        if (t.dtype() == DataType::kInt4 || t.dtype() == DataType::kInt2) AppendElements<int8_t>(os, t, max_elements);
        else AppendElements<uint8_t>(os, t, max_elements);
      } else if (IsNarrowFloat(t.dtype())) {
        const uint8_t* d = t.data<uint8_t>();
        for (int64_t i = 0; i < t.num_elements() && i < max_elements; ++i)
          os << (i ? ", " : "") << NarrowFloatToFloat(t.dtype(), d[i]);
        if (t.num_elements() > max_elements) os << ", ...";
      } else {
        os << "?";
      }
      break;
  }
  os << "}";
}
}  // namespace

std::string Value::DebugString(int max_elements) const {
  std::ostringstream os;
  os.precision(7);
  switch (kind_) {
    case ValueKind::kNone: os << "none"; break;
    case ValueKind::kTensor: AppendTensor(os, tensor_, max_elements); break;
    case ValueKind::kSequence: {
      os << "seq[" << sequence_->size() << "] (";
      size_t i = 0;
      for (const Value& e : *sequence_) {
        if (i) os << ", ";
        if (static_cast<int>(i++) >= max_elements) {
          os << "...";
          break;
        }
        os << e.DebugString(max_elements);
      }
      os << ")";
      break;
    }
    case ValueKind::kMap: {
      os << "map{";
      Tensor k = map_->keys, v = map_->values;
      std::ostringstream ks, vs;
      AppendTensor(ks, k, max_elements);
      AppendTensor(vs, v, max_elements);
      os << "keys: " << ks.str() << ", values: " << vs.str() << "}";
      break;
    }
  }
  return os.str();
}

std::string TypeInfo::ToString() const {
  auto dims_str = [this]() {
    if (!has_shape) return std::string();
    std::string s = "[";
    for (size_t i = 0; i < dims.size(); ++i) {
      if (i) s += ",";
      if (dims[i] >= 0) s += std::to_string(dims[i]);
      else if (i < dim_params.size() && !dim_params[i].empty()) s += dim_params[i];
      else s += "?";
    }
    return s + "]";
  };
  switch (kind) {
    case ValueKind::kTensor: return std::string("tensor(") + DataTypeName(elem_type) + ")" + dims_str();
    case ValueKind::kSequence: return "seq(" + (element ? element->ToString() : std::string("?")) + ")";
    case ValueKind::kMap:
      return std::string("map(") + DataTypeName(key_type) + "," + (element ? element->ToString() : "?") + ")";
    case ValueKind::kNone: return "optional(" + (element ? element->ToString() : std::string("?")) + ")";
  }
  return "?";
}

}  // namespace onnxd
