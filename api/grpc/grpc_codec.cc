#include "grpc/grpc_codec.h"

#include "http/json_codec.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>
#include <type_traits>

namespace onnxd::api::grpc_codec {
namespace {

using inference::InferParameter;
using inference::InferTensorContents;
using inference::ModelInferRequest;
using inference::ModelInferResponse;

// The typed-contents fields of InferTensorContents, for "which field is set" diagnostics.
enum class Field { kNone, kBool, kInt, kInt64, kUint, kUint64, kFp32, kFp64, kBytes };

const char* FieldName(Field f) {
  switch (f) {
    case Field::kBool: return "bool_contents";
    case Field::kInt: return "int_contents";
    case Field::kInt64: return "int64_contents";
    case Field::kUint: return "uint_contents";
    case Field::kUint64: return "uint64_contents";
    case Field::kFp32: return "fp32_contents";
    case Field::kFp64: return "fp64_contents";
    case Field::kBytes: return "bytes_contents";
    default: return "no contents";
  }
}

// The field that carries `dtype` in InferTensorContents (kNone: raw only, FP16/BF16).
Field FieldFor(DataType dtype) {
  switch (dtype) {
    case DataType::kBool: return Field::kBool;
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32: return Field::kInt;
    case DataType::kInt64: return Field::kInt64;
    case DataType::kUInt8:
    case DataType::kUInt16:
    case DataType::kUInt32: return Field::kUint;
    case DataType::kUInt64: return Field::kUint64;
    case DataType::kFloat: return Field::kFp32;
    case DataType::kDouble: return Field::kFp64;
    case DataType::kString: return Field::kBytes;
    default: return Field::kNone;
  }
}

int FieldSize(const InferTensorContents& c, Field f) {
  switch (f) {
    case Field::kBool: return c.bool_contents_size();
    case Field::kInt: return c.int_contents_size();
    case Field::kInt64: return c.int64_contents_size();
    case Field::kUint: return c.uint_contents_size();
    case Field::kUint64: return c.uint64_contents_size();
    case Field::kFp32: return c.fp32_contents_size();
    case Field::kFp64: return c.fp64_contents_size();
    case Field::kBytes: return c.bytes_contents_size();
    default: return 0;
  }
}

constexpr Field kAllFields[] = {Field::kBool,   Field::kInt,  Field::kInt64, Field::kUint,
                                Field::kUint64, Field::kFp32, Field::kFp64,  Field::kBytes};

// First non-empty contents field other than `expected`, or kNone.
Field OtherFieldSet(const InferTensorContents& c, Field expected) {
  for (Field f : kAllFields) {
    if (f != expected && FieldSize(c, f) > 0) return f;
  }
  return Field::kNone;
}

std::string InputContext(const ModelInferRequest& req, const std::string& name) {
  return "input '" + name + "' for model '" + req.model_name() + "'";
}

std::string ShapeString(const google::protobuf::RepeatedField<int64_t>& shape) {
  std::string s = "[";
  for (int i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// Copies `n` wire values of type W into a new tensor of element type T, checking the range.
template <typename T, typename W>
Status NarrowInto(const W* src, int64_t n, DataType dtype, const Shape& shape, const std::string& ctx,
                  Tensor* out) {
  W lo = std::numeric_limits<W>::max(), hi = std::numeric_limits<W>::lowest();
  for (int64_t i = 0; i < n; ++i) {
    lo = src[i] < lo ? src[i] : lo;
    hi = src[i] > hi ? src[i] : hi;
  }
  if (n > 0 && (static_cast<int64_t>(lo) < static_cast<int64_t>(std::numeric_limits<T>::lowest()) ||
                static_cast<int64_t>(hi) > static_cast<int64_t>(std::numeric_limits<T>::max()))) {
    return InvalidArgument(ctx + ": a value of the contents is out of range for " +
                           DataTypeKServeName(dtype));
  }
  Tensor t = Tensor::Allocate(dtype, shape);
  T* dst = t.data<T>();
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(src[i]);
  *out = std::move(t);
  return Status::Ok();
}

template <typename W>
Tensor ViewOf(const google::protobuf::RepeatedField<W>& f, DataType dtype, const Shape& shape) {
  static_assert(std::is_arithmetic_v<W>);
  // Views of an empty field still need a non-null pointer for "defined data".
  static W empty{};
  const W* p = f.size() > 0 ? f.data() : &empty;
  return Tensor::View(dtype, shape, const_cast<W*>(p));
}

Status DecodeTyped(const ModelInferRequest& req, const ModelInferRequest::InferInputTensor& in,
                   DataType dtype, const Shape& shape, int64_t n, Tensor* out) {
  const std::string ctx = InputContext(req, in.name());
  const InferTensorContents& c = in.contents();
  const Field expected = FieldFor(dtype);
  if (expected == Field::kNone) {
    return InvalidArgument(ctx + ": " + DataTypeKServeName(dtype) +
                           " data must be sent in raw_input_contents (InferTensorContents has no " +
                           DataTypeKServeName(dtype) + " field)");
  }
  if (Field other = OtherFieldSet(c, expected); other != Field::kNone) {
    return InvalidArgument(ctx + ": datatype " + in.datatype() + " expects " + FieldName(expected) +
                           " but the input carries " + FieldName(other));
  }
  const int64_t got = FieldSize(c, expected);
  if (got != n) {
    return InvalidArgument(ctx + ": expected " + std::to_string(n) + " elements in " +
                           FieldName(expected) + " for shape " + ShapeString(in.shape()) + ", got " +
                           std::to_string(got));
  }
  switch (dtype) {
    case DataType::kBool: *out = ViewOf(c.bool_contents(), dtype, shape); break;
    case DataType::kInt32: *out = ViewOf(c.int_contents(), dtype, shape); break;
    case DataType::kInt64: *out = ViewOf(c.int64_contents(), dtype, shape); break;
    case DataType::kUInt32: *out = ViewOf(c.uint_contents(), dtype, shape); break;
    case DataType::kUInt64: *out = ViewOf(c.uint64_contents(), dtype, shape); break;
    case DataType::kFloat: *out = ViewOf(c.fp32_contents(), dtype, shape); break;
    case DataType::kDouble: *out = ViewOf(c.fp64_contents(), dtype, shape); break;
    case DataType::kInt8: return NarrowInto<int8_t>(c.int_contents().data(), n, dtype, shape, ctx, out);
    case DataType::kInt16: return NarrowInto<int16_t>(c.int_contents().data(), n, dtype, shape, ctx, out);
    case DataType::kUInt8: return NarrowInto<uint8_t>(c.uint_contents().data(), n, dtype, shape, ctx, out);
    case DataType::kUInt16: return NarrowInto<uint16_t>(c.uint_contents().data(), n, dtype, shape, ctx, out);
    case DataType::kString: {
      Tensor t = Tensor::Allocate(dtype, shape);
      std::string* dst = t.data<std::string>();
      for (int64_t i = 0; i < n; ++i) dst[i] = c.bytes_contents(static_cast<int>(i));
      *out = std::move(t);
      break;
    }
    default:
      return InvalidArgument(ctx + ": unsupported datatype " + in.datatype());
  }
  return Status::Ok();
}

Status DecodeRaw(const ModelInferRequest& req, const ModelInferRequest::InferInputTensor& in,
                 const std::string& raw, DataType dtype, const Shape& shape, int64_t n, Tensor* out) {
  if (dtype == DataType::kString) {
    Tensor t = Tensor::Allocate(dtype, shape);
    std::string* dst = t.data<std::string>();
    const char* p = raw.data();
    size_t left = raw.size();
    for (int64_t i = 0; i < n; ++i) {
      if (left < 4) {
        return InvalidArgument(InputContext(req, in.name()) + ": raw BYTES data ends inside the length of element " +
                               std::to_string(i) + " of " + std::to_string(n));
      }
      uint32_t len = static_cast<uint32_t>(static_cast<uint8_t>(p[0])) |
                     static_cast<uint32_t>(static_cast<uint8_t>(p[1])) << 8 |
                     static_cast<uint32_t>(static_cast<uint8_t>(p[2])) << 16 |
                     static_cast<uint32_t>(static_cast<uint8_t>(p[3])) << 24;
      p += 4;
      left -= 4;
      if (len > left) {
        return InvalidArgument(InputContext(req, in.name()) + ": raw BYTES element " + std::to_string(i) +
                               " declares " + std::to_string(len) + " bytes but only " +
                               std::to_string(left) + " remain");
      }
      dst[i].assign(p, len);
      p += len;
      left -= len;
    }
    if (left != 0) {
      return InvalidArgument(InputContext(req, in.name()) + ": raw BYTES data has " + std::to_string(left) +
                             " bytes after the " + std::to_string(n) + " elements of shape " +
                             ShapeString(in.shape()));
    }
    *out = std::move(t);
    return Status::Ok();
  }
  const size_t esize = ElementSize(dtype);
  const size_t expected = static_cast<size_t>(n) * esize;
  if (raw.size() != expected) {
    return InvalidArgument(InputContext(req, in.name()) + ": expected " + std::to_string(expected) +
                           " bytes of raw_input_contents for " + in.datatype() + " " +
                           ShapeString(in.shape()) + ", got " + std::to_string(raw.size()));
  }
  // A view over the message's bytes. std::string storage is at least 8-byte aligned in practice;
  // copy if it is not aligned for the element type.
  if (reinterpret_cast<uintptr_t>(raw.data()) % esize != 0) {
    Tensor t = Tensor::Allocate(dtype, shape);
    if (expected) std::memcpy(t.raw_data(), raw.data(), expected);
    *out = std::move(t);
  } else {
    *out = Tensor::View(dtype, shape, const_cast<char*>(raw.data()));
  }
  return Status::Ok();
}

void AppendNumeric(const Tensor& t, std::string* out) {
  const size_t bytes = t.bytes();
  if (bytes) out->append(static_cast<const char*>(t.raw_data()), bytes);
}

void AppendLengthPrefixed(std::string_view s, std::string* out) {
  const auto len = static_cast<uint32_t>(s.size());
  const char prefix[4] = {static_cast<char>(len & 0xff), static_cast<char>((len >> 8) & 0xff),
                          static_cast<char>((len >> 16) & 0xff), static_cast<char>((len >> 24) & 0xff)};
  out->append(prefix, 4);
  out->append(s.data(), s.size());
}

}  // namespace

void AppendValueJson(const Value& v, std::string* out) {
  // The same text the HTTP front end writes for a non-tensor output row.
  http::AppendJsonValue(out, v);
}

Status DecodeParameters(const google::protobuf::Map<std::string, InferParameter>& in,
                        const std::string& what, server::Parameters* out) {
  for (const auto& [key, p] : in) {
    switch (p.parameter_choice_case()) {
      case InferParameter::kBoolParam: (*out)[key] = p.bool_param(); break;
      case InferParameter::kInt64Param: (*out)[key] = p.int64_param(); break;
      case InferParameter::kStringParam: (*out)[key] = p.string_param(); break;
      case InferParameter::kDoubleParam: (*out)[key] = p.double_param(); break;
      case InferParameter::kUint64Param: (*out)[key] = p.uint64_param(); break;
      default:
        return InvalidArgument("parameter '" + key + "' of " + what + " has no value set");
    }
  }
  return Status::Ok();
}

void EncodeParameters(const server::Parameters& in,
                      google::protobuf::Map<std::string, InferParameter>* out) {
  for (const auto& [key, value] : in) {
    InferParameter& p = (*out)[key];
    std::visit(
        [&p](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, bool>) p.set_bool_param(v);
          else if constexpr (std::is_same_v<T, int64_t>) p.set_int64_param(v);
          else if constexpr (std::is_same_v<T, std::string>) p.set_string_param(v);
          else if constexpr (std::is_same_v<T, double>) p.set_double_param(v);
          else if constexpr (std::is_same_v<T, uint64_t>) p.set_uint64_param(v);
        },
        value);
  }
}

Status DecodeInferRequest(const ModelInferRequest& req, server::InferRequest* out) {
  if (req.model_name().empty()) return InvalidArgument("ModelInferRequest.model_name is empty");
  out->model_name = req.model_name();
  out->model_version = req.model_version();
  out->id = req.id();
  RETURN_IF_ERROR(DecodeParameters(req.parameters(), "the request", &out->parameters));

  // "timeout" in microseconds (as Triton); 0 = none.
  if (auto it = out->parameters.find("timeout"); it != out->parameters.end()) {
    int64_t us = 0;
    if (const auto* i = std::get_if<int64_t>(&it->second)) {
      us = *i;
    } else if (const auto* u = std::get_if<uint64_t>(&it->second)) {
      us = *u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
               ? std::numeric_limits<int64_t>::max()
               : static_cast<int64_t>(*u);
    } else {
      return InvalidArgument("request parameter 'timeout' must be an integer (microseconds)");
    }
    if (us < 0) return InvalidArgument("request parameter 'timeout' must not be negative, got " + std::to_string(us));
    // Far-future timeouts stay "no deadline" rather than overflowing the time point.
    constexpr int64_t kMaxUs = int64_t{100} * 365 * 24 * 3600 * 1000000;
    if (us > 0 && us < kMaxUs) {
      auto d = out->received + std::chrono::microseconds(us);
      if (d < out->deadline) out->deadline = d;
    }
  }

  const bool raw = req.raw_input_contents_size() > 0;
  if (raw && req.raw_input_contents_size() != req.inputs_size()) {
    return InvalidArgument("model '" + req.model_name() + "': " + std::to_string(req.inputs_size()) +
                           " inputs but " + std::to_string(req.raw_input_contents_size()) +
                           " raw_input_contents; when raw_input_contents is used it must hold one entry "
                           "per input, in input order");
  }

  out->inputs.clear();
  out->inputs.reserve(req.inputs_size());
  for (int i = 0; i < req.inputs_size(); ++i) {
    const auto& in = req.inputs(i);
    const std::string ctx = InputContext(req, in.name());
    if (in.name().empty()) {
      return InvalidArgument("input " + std::to_string(i) + " for model '" + req.model_name() + "' has no name");
    }
    for (int j = 0; j < i; ++j) {
      if (req.inputs(j).name() == in.name()) return InvalidArgument(ctx + " is given more than once");
    }
    const DataType dtype = DataTypeFromKServeName(in.datatype());
    if (dtype == DataType::kUndefined || in.datatype() != DataTypeKServeName(dtype)) {
      return InvalidArgument(ctx + ": unknown datatype '" + in.datatype() +
                             "' (expected BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, "
                             "FP16, BF16, FP32, FP64 or BYTES)");
    }
    if (in.shape_size() > 64) {
      return InvalidArgument(ctx + ": rank " + std::to_string(in.shape_size()) + " is too large");
    }
    int64_t n = 1;
    for (int d = 0; d < in.shape_size(); ++d) {
      const int64_t dim = in.shape(d);
      if (dim < 0) {
        return InvalidArgument(ctx + ": dim " + std::to_string(d) + " of shape " + ShapeString(in.shape()) +
                               " is negative");
      }
      if (__builtin_mul_overflow(n, dim, &n) || n > (int64_t{1} << 40)) {
        return InvalidArgument(ctx + ": shape " + ShapeString(in.shape()) + " has too many elements");
      }
    }
    const Shape shape(std::span<const int64_t>(in.shape().data(), in.shape_size()));

    server::InferInput& dst = out->inputs.emplace_back();
    dst.name = in.name();
    RETURN_IF_ERROR(DecodeParameters(in.parameters(), ctx, &dst.parameters));
    if (raw) {
      if (in.has_contents()) {
        if (Field f = OtherFieldSet(in.contents(), Field::kNone); f != Field::kNone) {
          return InvalidArgument(ctx + ": carries " + std::string(FieldName(f)) +
                                 " but the request uses raw_input_contents; then all inputs must use "
                                 "raw_input_contents");
        }
      }
      RETURN_IF_ERROR(DecodeRaw(req, in, req.raw_input_contents(i), dtype, shape, n, &dst.tensor));
    } else {
      RETURN_IF_ERROR(DecodeTyped(req, in, dtype, shape, n, &dst.tensor));
    }
  }

  out->outputs.clear();
  out->outputs.reserve(req.outputs_size());
  for (const auto& o : req.outputs()) {
    if (o.name().empty()) return InvalidArgument("a requested output for model '" + req.model_name() + "' has no name");
    server::RequestedOutput& dst = out->outputs.emplace_back();
    dst.name = o.name();
    RETURN_IF_ERROR(DecodeParameters(o.parameters(), "requested output '" + o.name() + "'", &dst.parameters));
  }
  return Status::Ok();
}

Status EncodeInferResponse(const server::InferResponse& resp, ModelInferResponse* out) {
  out->set_model_name(resp.model_name);
  out->set_model_version(resp.model_version);
  out->set_id(resp.id);
  EncodeParameters(resp.parameters, out->mutable_parameters());
  for (const server::InferOutput& o : resp.outputs) {
    auto* t = out->add_outputs();
    t->set_name(o.name);
    EncodeParameters(o.parameters, t->mutable_parameters());
    std::string* raw = out->add_raw_output_contents();
    if (o.value.is_tensor()) {
      const Tensor& x = o.value.tensor();
      if (!x.defined() || ElementSize(x.dtype()) == 0) {
        return Internal("output '" + o.name + "' has a tensor of unsupported type " + DataTypeName(x.dtype()));
      }
      t->set_datatype(DataTypeKServeName(x.dtype()));
      for (int64_t d : x.shape()) t->add_shape(d);
      if (x.dtype() == DataType::kString) {
        const std::string* s = x.data<std::string>();
        const int64_t n = x.num_elements();
        size_t total = 0;
        for (int64_t i = 0; i < n; ++i) total += 4 + s[i].size();
        raw->reserve(total);
        for (int64_t i = 0; i < n; ++i) AppendLengthPrefixed(s[i], raw);
      } else {
        AppendNumeric(x, raw);
      }
      continue;
    }
    // Non-tensor: one JSON element per sequence element (a ZipMap row), or one for a map.
    t->set_datatype("BYTES");
    (*t->mutable_parameters())["content_type"].set_string_param("application/json");
    std::string text;
    if (o.value.is_sequence()) {
      t->add_shape(static_cast<int64_t>(o.value.sequence().size()));
      for (const Value& e : o.value.sequence()) {
        text.clear();
        AppendValueJson(e, &text);
        AppendLengthPrefixed(text, raw);
      }
    } else if (o.value.is_map()) {
      t->add_shape(1);
      AppendValueJson(o.value, &text);
      AppendLengthPrefixed(text, raw);
    } else {  // empty optional: no elements
      t->add_shape(0);
    }
  }
  return Status::Ok();
}

}  // namespace onnxd::api::grpc_codec
