#include "loader/tensor_proto.h"

#include "onnxd/engine/value_io.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "onnx/onnx-data.pb.h"
#include "onnx/onnx-ml.pb.h"

namespace onnxd::engine {
namespace fs = std::filesystem;

StatusOr<std::string> ResolveInside(const std::string& base_dir, const std::string& relative) {
  if (base_dir.empty()) return InvalidArgument("external data '" + relative + "' but the model has no directory");
  if (relative.empty()) return InvalidArgument("external data location is empty");
  fs::path rel(relative);
  if (rel.is_absolute()) return InvalidArgument("external data location '" + relative + "' is absolute");
  for (const auto& part : rel) {
    if (part == "..") return InvalidArgument("external data location '" + relative + "' leaves the model directory");
  }
  std::error_code ec;
  fs::path base = fs::canonical(base_dir, ec);
  if (ec) return InvalidArgument("model directory '" + base_dir + "': " + ec.message());
  fs::path full = fs::canonical(base / rel, ec);
  if (ec) return InvalidArgument("external data file '" + relative + "': " + ec.message());
  auto b = base.string();
  auto f = full.string();
  if (f.compare(0, b.size(), b) != 0 || (f.size() > b.size() && f[b.size()] != '/'))
    return InvalidArgument("external data file '" + relative + "' resolves outside the model directory");
  return f;
}

namespace {

Status ReadExternal(const onnx::TensorProto& p, const std::string& base_dir, size_t expected, std::string* out) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : p.external_data()) {
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") offset = std::strtoll(kv.value().c_str(), nullptr, 10);
    else if (kv.key() == "length") length = std::strtoll(kv.value().c_str(), nullptr, 10);
  }
  std::string path;
  ASSIGN_OR_RETURN(path, ResolveInside(base_dir, location));
  std::ifstream f(path, std::ios::binary);
  if (!f) return InvalidArgument("cannot open external data file '" + location + "'");
  f.seekg(0, std::ios::end);
  int64_t size = f.tellg();
  if (offset < 0 || offset > size) return InvalidArgument("external data offset out of range in '" + location + "'");
  if (length < 0) length = static_cast<int64_t>(expected);
  if (offset + length > size)
    return InvalidArgument("external data '" + location + "' is shorter than tensor '" + p.name() + "' needs");
  out->resize(static_cast<size_t>(length));
  f.seekg(offset);
  f.read(out->data(), length);
  if (!f) return InvalidArgument("reading external data '" + location + "' failed");
  return Status::Ok();
}

template <typename Src, typename Dst>
void ConvertField(const Src& field, Dst* out) {
  for (int i = 0; i < field.size(); ++i) out[i] = static_cast<Dst>(field.Get(i));
}

// Sub-byte types on the wire: `bits` (4 or 2) per element, first element in the low bits. In
// memory: one element per byte, signed types sign-extended (types.h).
void UnpackSubByte(DataType dt, const uint8_t* packed, int64_t n, uint8_t* out) {
  const int bits = BitWidth(dt);
  const int per_byte = 8 / bits;
  const uint32_t mask = (1u << bits) - 1;
  const bool sign_extend = dt == DataType::kInt4 || dt == DataType::kInt2;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t v = (packed[i / per_byte] >> ((i % per_byte) * bits)) & mask;
    if (sign_extend && (v & (1u << (bits - 1)))) v |= ~mask;  // two's complement into the whole byte
    out[i] = static_cast<uint8_t>(v);
  }
}

void PackSubByte(DataType dt, const uint8_t* in, int64_t n, uint8_t* packed) {
  const int bits = BitWidth(dt);
  const int per_byte = 8 / bits;
  const uint32_t mask = (1u << bits) - 1;
  std::memset(packed, 0, PackedBytes(dt, n));
  for (int64_t i = 0; i < n; ++i)
    packed[i / per_byte] = static_cast<uint8_t>(packed[i / per_byte] | ((in[i] & mask) << ((i % per_byte) * bits)));
}

}  // namespace

StatusOr<Tensor> TensorFromProto(const onnx::TensorProto& p, const std::string& base_dir) {
  const std::string tname = "tensor '" + p.name() + "'";
  if (!IsSupportedDataType(p.data_type()))
    return Unimplemented(tname + ": element type " + std::to_string(p.data_type()) + " is not supported");
  DataType dt = static_cast<DataType>(p.data_type());
  Shape shape;
  int64_t n = 1;
  for (int64_t d : p.dims()) {
    if (d < 0) return InvalidArgument(tname + " has a negative dim");
    if (d > 0 && n > (INT64_MAX / 16) / d) return InvalidArgument(tname + " is too large");
    n *= d;
    shape.PushBack(d);
  }
  const bool sub_byte = BitWidth(dt) < 8;
  const size_t expected = PackedBytes(dt, n);  // bytes on the wire
  std::string external;
  const std::string* raw = nullptr;
  if (p.data_location() == onnx::TensorProto::EXTERNAL) {
    if (dt == DataType::kString) return InvalidArgument(tname + ": string tensors cannot be external");
    RETURN_IF_ERROR(ReadExternal(p, base_dir, expected, &external).WithContext(tname + ": "));
    raw = &external;
  } else if (p.has_raw_data()) {
    raw = &p.raw_data();
  }
  if (raw != nullptr && dt != DataType::kString) {
    if (raw->size() != expected)
      return InvalidArgument(tname + ": raw data has " + std::to_string(raw->size()) + " bytes, shape " +
                             shape.ToString() + " of " + DataTypeName(dt) + " needs " + std::to_string(expected));
    Tensor t = Tensor::Allocate(dt, shape);
    if (sub_byte) UnpackSubByte(dt, reinterpret_cast<const uint8_t*>(raw->data()), n, t.data<uint8_t>());
    else if (expected) std::memcpy(t.raw_data(), raw->data(), expected);
    return t;
  }
  // Typed fields.
  auto count_mismatch = [&](int64_t have) {
    return InvalidArgument(tname + ": holds " + std::to_string(have) + " values, shape " + shape.ToString() +
                           " needs " + std::to_string(n));
  };
  Tensor t = Tensor::Allocate(dt, shape);
  if (sub_byte) {
    // int32_data holds one packed byte per value (two 4-bit or four 2-bit elements).
    const int64_t words = static_cast<int64_t>(expected);
    if (p.int32_data_size() != words)
      return InvalidArgument(tname + ": holds " + std::to_string(p.int32_data_size()) + " packed values, shape " +
                             shape.ToString() + " of " + DataTypeName(dt) + " needs " + std::to_string(words));
    std::string packed(static_cast<size_t>(words), '\0');
    for (int64_t i = 0; i < words; ++i) packed[static_cast<size_t>(i)] = static_cast<char>(p.int32_data(static_cast<int>(i)));
    UnpackSubByte(dt, reinterpret_cast<const uint8_t*>(packed.data()), n, t.data<uint8_t>());
    return t;
  }
  if (IsNarrowFloat(dt)) {  // float8 / e8m0: one bit pattern per int32
    if (p.int32_data_size() != n) return count_mismatch(p.int32_data_size());
    for (int64_t i = 0; i < n; ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(p.int32_data(static_cast<int>(i)));
    return t;
  }
  switch (dt) {
    case DataType::kFloat:
      if (p.float_data_size() != n) return count_mismatch(p.float_data_size());
      ConvertField(p.float_data(), t.data<float>());
      break;
    case DataType::kDouble:
      if (p.double_data_size() != n) return count_mismatch(p.double_data_size());
      ConvertField(p.double_data(), t.data<double>());
      break;
    case DataType::kInt64:
      if (p.int64_data_size() != n) return count_mismatch(p.int64_data_size());
      ConvertField(p.int64_data(), t.data<int64_t>());
      break;
    case DataType::kUInt32:
      if (p.uint64_data_size() != n) return count_mismatch(p.uint64_data_size());
      ConvertField(p.uint64_data(), t.data<uint32_t>());
      break;
    case DataType::kUInt64:
      if (p.uint64_data_size() != n) return count_mismatch(p.uint64_data_size());
      ConvertField(p.uint64_data(), t.data<uint64_t>());
      break;
    case DataType::kString: {
      if (p.string_data_size() != n) return count_mismatch(p.string_data_size());
      auto* s = t.data<std::string>();
      for (int64_t i = 0; i < n; ++i) s[i] = p.string_data(static_cast<int>(i));
      break;
    }
    case DataType::kInt32:
    case DataType::kInt16:
    case DataType::kInt8:
    case DataType::kUInt16:
    case DataType::kUInt8:
    case DataType::kBool:
    case DataType::kFloat16:
    case DataType::kBFloat16: {
      if (p.int32_data_size() != n) return count_mismatch(p.int32_data_size());
      for (int64_t i = 0; i < n; ++i) {
        int32_t v = p.int32_data(static_cast<int>(i));
        switch (dt) {
          case DataType::kInt32: t.data<int32_t>()[i] = v; break;
          case DataType::kInt16: t.data<int16_t>()[i] = static_cast<int16_t>(v); break;
          case DataType::kInt8: t.data<int8_t>()[i] = static_cast<int8_t>(v); break;
          case DataType::kUInt16: t.data<uint16_t>()[i] = static_cast<uint16_t>(v); break;
          case DataType::kUInt8: t.data<uint8_t>()[i] = static_cast<uint8_t>(v); break;
          case DataType::kBool: t.data<bool>()[i] = v != 0; break;
          case DataType::kFloat16: t.data<Float16>()[i].bits = static_cast<uint16_t>(v); break;
          case DataType::kBFloat16: t.data<BFloat16>()[i].bits = static_cast<uint16_t>(v); break;
          default: break;
        }
      }
      break;
    }
    default:
      return Unimplemented(tname + ": element type " + DataTypeName(dt) + " is not supported");
  }
  return t;
}

void TensorToProto(const Tensor& t, onnx::TensorProto* p) {
  p->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.shape()) p->add_dims(d);
  if (t.dtype() == DataType::kString) {
    const auto* s = t.data<std::string>();
    for (int64_t i = 0; i < t.num_elements(); ++i) p->add_string_data(s[i]);
  } else if (BitWidth(t.dtype()) < 8) {
    std::string packed(PackedBytes(t.dtype(), t.num_elements()), '\0');
    PackSubByte(t.dtype(), t.data<uint8_t>(), t.num_elements(), reinterpret_cast<uint8_t*>(packed.data()));
    p->set_raw_data(std::move(packed));
  } else {
    p->set_raw_data(t.raw_data(), t.bytes());
  }
}

StatusOr<Value> ValueFromSequenceProto(const onnx::SequenceProto& p) {
  std::vector<Value> elems;
  DataType elem_type = DataType::kUndefined;
  switch (p.elem_type()) {
    case onnx::SequenceProto::TENSOR:
      for (const auto& t : p.tensor_values()) {
        Tensor x;
        ASSIGN_OR_RETURN(x, TensorFromProto(t));
        elems.emplace_back(std::move(x));
      }
      break;
    case onnx::SequenceProto::SEQUENCE:
      for (const auto& s : p.sequence_values()) {
        Value x;
        ASSIGN_OR_RETURN(x, ValueFromSequenceProto(s));
        elems.push_back(std::move(x));
      }
      break;
    case onnx::SequenceProto::MAP:
      for (const auto& m : p.map_values()) {
        Value x;
        ASSIGN_OR_RETURN(x, ValueFromMapProto(m));
        elems.push_back(std::move(x));
      }
      break;
    case onnx::SequenceProto::OPTIONAL:
      for (const auto& o : p.optional_values()) {
        Value x;
        ASSIGN_OR_RETURN(x, ValueFromOptionalProto(o));
        elems.push_back(std::move(x));
      }
      break;
    default:
      if (p.tensor_values_size() + p.sequence_values_size() + p.map_values_size() > 0)
        return InvalidArgument("sequence '" + p.name() + "' has an unknown element type");
  }
  return Value::Sequence(std::move(elems), elem_type);
}

StatusOr<Value> ValueFromMapProto(const onnx::MapProto& p) {
  Tensor keys;
  int64_t n;
  if (p.key_type() == onnx::TensorProto::STRING) {
    n = p.string_keys_size();
    keys = Tensor::Allocate(DataType::kString, Shape{n});
    for (int64_t i = 0; i < n; ++i) keys.data<std::string>()[i] = p.string_keys(static_cast<int>(i));
  } else {
    n = p.keys_size();
    keys = Tensor::Allocate(DataType::kInt64, Shape{n});
    for (int64_t i = 0; i < n; ++i) keys.data<int64_t>()[i] = p.keys(static_cast<int>(i));
  }
  // Values: a sequence of scalar tensors, or one tensor with n elements.
  const auto& vs = p.values();
  Tensor values;
  if (vs.tensor_values_size() == 1 && vs.tensor_values(0).dims_size() == 1) {
    ASSIGN_OR_RETURN(values, TensorFromProto(vs.tensor_values(0)));
  } else {
    if (vs.tensor_values_size() != n) return InvalidArgument("map '" + p.name() + "': keys and values differ in count");
    for (int64_t i = 0; i < n; ++i) {
      Tensor x;
      ASSIGN_OR_RETURN(x, TensorFromProto(vs.tensor_values(static_cast<int>(i))));
      if (x.num_elements() != 1) return InvalidArgument("map '" + p.name() + "': values must be scalars");
      if (i == 0) values = Tensor::Allocate(x.dtype(), Shape{n});
      if (x.dtype() != values.dtype()) return InvalidArgument("map '" + p.name() + "': mixed value types");
      std::memcpy(static_cast<char*>(values.raw_data()) + i * ElementSize(x.dtype()), x.raw_data(),
                  ElementSize(x.dtype()));
    }
    if (n == 0) values = Tensor::Allocate(DataType::kFloat, Shape{0});
  }
  if (values.num_elements() != n) return InvalidArgument("map '" + p.name() + "': keys and values differ in count");
  return Value::Map(std::move(keys), std::move(values));
}

StatusOr<Value> ValueFromOptionalProto(const onnx::OptionalProto& p) {
  switch (p.elem_type()) {
    case onnx::OptionalProto::TENSOR: {
      if (!p.has_tensor_value()) return Value::None();
      Tensor t;
      ASSIGN_OR_RETURN(t, TensorFromProto(p.tensor_value()));
      return Value(std::move(t));
    }
    case onnx::OptionalProto::SEQUENCE:
      if (!p.has_sequence_value()) return Value::None();
      return ValueFromSequenceProto(p.sequence_value());
    case onnx::OptionalProto::MAP:
      if (!p.has_map_value()) return Value::None();
      return ValueFromMapProto(p.map_value());
    case onnx::OptionalProto::OPTIONAL:
      if (!p.has_optional_value()) return Value::None();
      return ValueFromOptionalProto(p.optional_value());
    default:
      return Value::None();
  }
}

void MapToProto(const Value& v, onnx::MapProto* p) {
  const MapValue& m = v.map();
  int64_t n = m.keys.num_elements();
  p->set_key_type(static_cast<int32_t>(m.keys.dtype()));
  for (int64_t i = 0; i < n; ++i) {
    if (m.keys.dtype() == DataType::kString) p->add_string_keys(m.keys.data<std::string>()[i]);
    else p->add_keys(m.keys.data<int64_t>()[i]);
  }
  auto* seq = p->mutable_values();
  seq->set_elem_type(onnx::SequenceProto::TENSOR);
  size_t es = ElementSize(m.values.dtype());
  for (int64_t i = 0; i < n; ++i) {
    Tensor scalar = Tensor::View(m.values.dtype(), Shape{},
                                 const_cast<char*>(static_cast<const char*>(m.values.raw_data())) + i * es);
    TensorToProto(scalar, seq->add_tensor_values());
  }
}

void SequenceToProto(const Value& v, onnx::SequenceProto* p) {
  const auto& elems = v.sequence();
  if (!elems.empty() && elems[0].is_map()) {
    p->set_elem_type(onnx::SequenceProto::MAP);
    for (const Value& e : elems) MapToProto(e, p->add_map_values());
  } else if (!elems.empty() && elems[0].is_sequence()) {
    p->set_elem_type(onnx::SequenceProto::SEQUENCE);
    for (const Value& e : elems) SequenceToProto(e, p->add_sequence_values());
  } else {
    p->set_elem_type(onnx::SequenceProto::TENSOR);
    for (const Value& e : elems) TensorToProto(e.tensor(), p->add_tensor_values());
  }
}

namespace {
StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot open '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

StatusOr<Value> ReadValueFile(const std::string& path, const onnx::TypeProto* type) {
  std::string bytes;
  ASSIGN_OR_RETURN(bytes, ReadWholeFile(path));
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".npy") == 0) {
    Tensor t;
    ASSIGN_OR_RETURN(t, ReadNpyFile(path));
    return Value(std::move(t));
  }
  auto bad = [&]() { return InvalidArgument("'" + path + "' is not a valid protobuf value file"); };
  if (type != nullptr && type->has_sequence_type()) {
    onnx::SequenceProto s;
    if (!s.ParseFromString(bytes)) return bad();
    return ValueFromSequenceProto(s);
  }
  if (type != nullptr && type->has_map_type()) {
    onnx::MapProto m;
    if (!m.ParseFromString(bytes)) return bad();
    return ValueFromMapProto(m);
  }
  if (type != nullptr && type->has_optional_type()) {
    onnx::OptionalProto o;
    if (!o.ParseFromString(bytes)) return bad();
    return ValueFromOptionalProto(o);
  }
  onnx::TensorProto t;
  if (!t.ParseFromString(bytes)) return bad();
  Tensor x;
  ASSIGN_OR_RETURN(x, TensorFromProto(t));
  return Value(std::move(x));
}

Status WriteValueFile(const Value& v, const std::string& name, const std::string& path) {
  std::string bytes;
  if (v.is_tensor()) {
    onnx::TensorProto p;
    TensorToProto(v.tensor(), &p);
    p.set_name(name);
    bytes = p.SerializeAsString();
  } else if (v.is_sequence()) {
    onnx::SequenceProto p;
    SequenceToProto(v, &p);
    p.set_name(name);
    bytes = p.SerializeAsString();
  } else if (v.is_map()) {
    onnx::MapProto p;
    MapToProto(v, &p);
    p.set_name(name);
    bytes = p.SerializeAsString();
  } else {
    onnx::OptionalProto p;
    p.set_name(name);
    bytes = p.SerializeAsString();
  }
  std::ofstream f(path, std::ios::binary);
  if (!f) return InvalidArgument("cannot write '" + path + "'");
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return f ? Status::Ok() : InvalidArgument("writing '" + path + "' failed");
}

StatusOr<Tensor> ReadNpyFile(const std::string& path) {
  std::string bytes;
  ASSIGN_OR_RETURN(bytes, ReadWholeFile(path));
  auto bad = [&](const std::string& why) { return InvalidArgument("'" + path + "': " + why); };
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) return bad("not a .npy file");
  int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, header_start;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    header_start = 10;
  } else {
    if (bytes.size() < 12) return bad("truncated header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    header_start = 12;
  }
  if (header_start + header_len > bytes.size()) return bad("truncated header");
  std::string header = bytes.substr(header_start, header_len);
  auto field = [&](const std::string& key) -> std::string {
    auto k = header.find("'" + key + "'");
    if (k == std::string::npos) return "";
    auto c = header.find(':', k);
    return c == std::string::npos ? "" : header.substr(c + 1);
  };
  std::string descr = field("descr");
  auto q1 = descr.find('\'');
  auto q2 = descr.find('\'', q1 + 1);
  if (q1 == std::string::npos || q2 == std::string::npos) return bad("no dtype");
  descr = descr.substr(q1 + 1, q2 - q1 - 1);
  if (field("fortran_order").find("True") == 0 || field("fortran_order").find(" True") == 0)
    return bad("Fortran order is not supported");
  static const std::pair<const char*, DataType> kTypes[] = {
      {"<f4", DataType::kFloat}, {"<f8", DataType::kDouble}, {"<f2", DataType::kFloat16},
      {"|i1", DataType::kInt8},  {"<i2", DataType::kInt16},  {"<i4", DataType::kInt32},
      {"<i8", DataType::kInt64}, {"|u1", DataType::kUInt8},  {"<u2", DataType::kUInt16},
      {"<u4", DataType::kUInt32}, {"<u8", DataType::kUInt64}, {"|b1", DataType::kBool}};
  DataType dt = DataType::kUndefined;
  for (const auto& [name, t] : kTypes)
    if (descr == name) dt = t;
  if (dt == DataType::kUndefined) return bad("unsupported dtype '" + descr + "'");
  std::string shape_s = field("shape");
  auto p1 = shape_s.find('(');
  auto p2 = shape_s.find(')');
  if (p1 == std::string::npos || p2 == std::string::npos) return bad("no shape");
  Shape shape;
  std::string dims = shape_s.substr(p1 + 1, p2 - p1 - 1);
  std::stringstream ds(dims);
  std::string item;
  while (std::getline(ds, item, ',')) {
    if (item.find_first_not_of(" ") == std::string::npos) continue;
    shape.PushBack(std::strtoll(item.c_str(), nullptr, 10));
  }
  size_t data_start = header_start + header_len;
  size_t need = static_cast<size_t>(shape.NumElements()) * ElementSize(dt);
  if (bytes.size() - data_start != need) return bad("data size does not match shape " + shape.ToString());
  Tensor t = Tensor::Allocate(dt, shape);
  if (need) std::memcpy(t.raw_data(), bytes.data() + data_start, need);
  return t;
}

TypeInfo TypeInfoFromProto(const onnx::TypeProto& t) {
  TypeInfo info;
  if (t.has_tensor_type()) {
    info.kind = ValueKind::kTensor;
    info.elem_type = static_cast<DataType>(t.tensor_type().elem_type());
    if (t.tensor_type().has_shape()) {
      info.has_shape = true;
      for (const auto& d : t.tensor_type().shape().dim()) {
        info.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
        info.dim_params.push_back(d.has_dim_param() ? d.dim_param() : "");
      }
    }
  } else if (t.has_sequence_type()) {
    info.kind = ValueKind::kSequence;
    info.element = std::make_shared<TypeInfo>(TypeInfoFromProto(t.sequence_type().elem_type()));
  } else if (t.has_map_type()) {
    info.kind = ValueKind::kMap;
    info.key_type = static_cast<DataType>(t.map_type().key_type());
    info.element = std::make_shared<TypeInfo>(TypeInfoFromProto(t.map_type().value_type()));
    info.elem_type = info.element->elem_type;
  } else if (t.has_optional_type()) {
    info.kind = ValueKind::kNone;
    info.element = std::make_shared<TypeInfo>(TypeInfoFromProto(t.optional_type().elem_type()));
  }
  return info;
}

}  // namespace onnxd::engine

namespace onnxd {

StatusOr<Value> ReadValueFile(const std::string& path, const TypeInfo* type) {
  onnx::TypeProto proto;
  const onnx::TypeProto* tp = nullptr;
  if (type != nullptr) {
    if (type->kind == ValueKind::kSequence) proto.mutable_sequence_type();
    else if (type->kind == ValueKind::kMap) proto.mutable_map_type();
    else if (type->kind == ValueKind::kNone) proto.mutable_optional_type();
    else proto.mutable_tensor_type();
    tp = &proto;
  }
  return engine::ReadValueFile(path, tp);
}

Status WriteValueFile(const Value& value, const std::string& name, const std::string& path) {
  return engine::WriteValueFile(value, name, path);
}

}  // namespace onnxd
