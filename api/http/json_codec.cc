#include "http/json_codec.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <utility>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>

#include "onnxd/engine/types.h"

namespace onnxd::api::http {
namespace {

using json = nlohmann::json;
using server::InferRequest;
using server::InferResponse;
using server::Parameter;
using server::Parameters;

// ---------------------------------------------------------------------------------------------
// Small helpers

std::string ShapeText(std::span<const int64_t> dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

const char* const kKServeTypes[] = {"BOOL",  "UINT8", "UINT16", "UINT32", "UINT64",
                                    "INT8",  "INT16", "INT32",  "INT64",  "FP16",
                                    "FP32",  "FP64",  "BF16",   "BYTES"};


std::string KServeTypeList() {
  std::string s;
  for (const char* k : kKServeTypes) {
    if (!s.empty()) s += ", ";
    s += k;
  }
  return s;
}

std::string InputLabel(const std::string& name, size_t index) {
  if (!name.empty()) return "input '" + name + "'";
  return "input " + std::to_string(index);
}

// Product of dims with overflow detection; -1 on overflow.
int64_t CheckedNumElements(std::span<const int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return -1;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// JSON scalars into typed storage

enum class ScalarKind : uint8_t { kInt, kUInt, kFloat, kBool, kNull };

struct JsonScalar {
  ScalarKind kind;
  union {
    int64_t i;
    uint64_t u;
    double d;
    bool b;
  };
};

std::string ScalarText(const JsonScalar& s) {
  switch (s.kind) {
    case ScalarKind::kInt: return std::to_string(s.i);
    case ScalarKind::kUInt: return std::to_string(s.u);
    case ScalarKind::kFloat: {
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof(buf), s.d);
      return std::string(buf, r.ptr);
    }
    case ScalarKind::kBool: return s.b ? "true" : "false";
    case ScalarKind::kNull: return "null";
  }
  return "?";
}

template <typename T>
bool StoreInt(const JsonScalar& s, T* dst, DataType dtype, std::string* err) {
  using L = std::numeric_limits<T>;
  switch (s.kind) {
    case ScalarKind::kInt:
      if constexpr (std::is_signed_v<T>) {
        if (s.i >= static_cast<int64_t>(L::min()) && s.i <= static_cast<int64_t>(L::max())) {
          *dst = static_cast<T>(s.i);
          return true;
        }
      } else {
        if (s.i >= 0 && static_cast<uint64_t>(s.i) <= static_cast<uint64_t>(L::max())) {
          *dst = static_cast<T>(s.i);
          return true;
        }
      }
      break;
    case ScalarKind::kUInt:
      if (s.u <= static_cast<uint64_t>(L::max())) {
        *dst = static_cast<T>(s.u);
        return true;
      }
      break;
    case ScalarKind::kFloat:
      // Integral floats (1.0) are accepted; anything with a fraction is not.
      if (std::isfinite(s.d) && std::trunc(s.d) == s.d && s.d >= static_cast<double>(L::min()) &&
          s.d <= static_cast<double>(L::max())) {
        *dst = static_cast<T>(s.d);
        return true;
      }
      if (std::isfinite(s.d) && std::trunc(s.d) != s.d) {
        *err = "expected an integer for " + std::string(DataTypeKServeName(dtype)) + ", got " +
               ScalarText(s);
        return false;
      }
      break;
    case ScalarKind::kBool:
      *dst = static_cast<T>(s.b ? 1 : 0);
      return true;
    case ScalarKind::kNull:
      *err = "null is not a valid " + std::string(DataTypeKServeName(dtype)) + " value";
      return false;
  }
  *err = ScalarText(s) + " is out of range for " + DataTypeKServeName(dtype);
  return false;
}

double ScalarAsDouble(const JsonScalar& s) {
  switch (s.kind) {
    case ScalarKind::kInt: return static_cast<double>(s.i);
    case ScalarKind::kUInt: return static_cast<double>(s.u);
    case ScalarKind::kFloat: return s.d;
    case ScalarKind::kBool: return s.b ? 1.0 : 0.0;
    default: return 0.0;
  }
}

// Stores one JSON scalar as element `idx` of a `dtype` array at `base`.
bool StoreScalar(DataType dtype, const JsonScalar& s, void* base, int64_t idx, std::string* err) {
  if (s.kind == ScalarKind::kNull) {
    *err = "null is not a valid " + std::string(DataTypeKServeName(dtype)) + " value";
    return false;
  }
  switch (dtype) {
    case DataType::kFloat:
    case DataType::kDouble:
    case DataType::kFloat16:
    case DataType::kBFloat16: {
      if (s.kind == ScalarKind::kBool) {
        *err = "expected a number for " + std::string(DataTypeKServeName(dtype)) + ", got " +
               ScalarText(s);
        return false;
      }
      double v = ScalarAsDouble(s);
      if (dtype == DataType::kFloat) static_cast<float*>(base)[idx] = static_cast<float>(v);
      else if (dtype == DataType::kDouble) static_cast<double*>(base)[idx] = v;
      else if (dtype == DataType::kFloat16)
        static_cast<Float16*>(base)[idx] = Float16(static_cast<float>(v));
      else static_cast<BFloat16*>(base)[idx] = BFloat16(static_cast<float>(v));
      return true;
    }
    case DataType::kBool:
      if (s.kind == ScalarKind::kBool) {
        static_cast<bool*>(base)[idx] = s.b;
        return true;
      }
      if ((s.kind == ScalarKind::kInt && (s.i == 0 || s.i == 1)) ||
          (s.kind == ScalarKind::kUInt && s.u <= 1)) {
        static_cast<bool*>(base)[idx] = s.kind == ScalarKind::kInt ? s.i != 0 : s.u != 0;
        return true;
      }
      *err = "expected true or false for BOOL, got " + ScalarText(s);
      return false;
    case DataType::kInt8: return StoreInt(s, static_cast<int8_t*>(base) + idx, dtype, err);
    case DataType::kInt16: return StoreInt(s, static_cast<int16_t*>(base) + idx, dtype, err);
    case DataType::kInt32: return StoreInt(s, static_cast<int32_t*>(base) + idx, dtype, err);
    case DataType::kInt64: return StoreInt(s, static_cast<int64_t*>(base) + idx, dtype, err);
    case DataType::kUInt8: return StoreInt(s, static_cast<uint8_t*>(base) + idx, dtype, err);
    case DataType::kUInt16: return StoreInt(s, static_cast<uint16_t*>(base) + idx, dtype, err);
    case DataType::kUInt32: return StoreInt(s, static_cast<uint32_t*>(base) + idx, dtype, err);
    case DataType::kUInt64: return StoreInt(s, static_cast<uint64_t*>(base) + idx, dtype, err);
    case DataType::kString:
      *err = "expected a string for BYTES, got " + ScalarText(s);
      return false;
    default:
      *err = std::string("datatype ") + DataTypeName(dtype) + " is not supported";
      return false;
  }
}

// ---------------------------------------------------------------------------------------------
// SAX parsing: a DOM for everything but inputs[i].data, whose elements go straight into typed
// storage (the tensor itself when "datatype" and "shape" came before "data", as clients send).

struct DataCapture {
  bool present = false;
  DataType dtype = DataType::kUndefined;  // known when capture began; else elements are generic
  Tensor tensor;                          // preallocated destination (numeric or string)
  int64_t capacity = -1;                  // elements of `tensor`, -1 when not preallocated
  std::vector<uint8_t> bytes;             // typed numeric elements when not preallocated
  std::vector<std::string> strings;       // BYTES elements when not preallocated
  std::vector<JsonScalar> generic;        // elements when the dtype was not known yet
  std::vector<int64_t> string_slots;      // generic: positions that hold strings (into strings)
  int64_t count = 0;
  std::string error;                      // first problem, without the input's name

  void Fail(std::string e) {
    if (error.empty()) error = "data element " + std::to_string(count) + ": " + std::move(e);
  }

  void AddScalar(const JsonScalar& s) {
    if (!error.empty()) {
      ++count;
      return;
    }
    if (dtype == DataType::kUndefined) {
      generic.push_back(s);
    } else if (dtype == DataType::kString) {
      Fail("expected a string for BYTES, got " + ScalarText(s));
    } else if (capacity >= 0) {
      if (count < capacity) {
        std::string err;
        if (!StoreScalar(dtype, s, tensor.raw_data(), count, &err)) Fail(std::move(err));
      }
    } else {
      size_t es = ElementSize(dtype);
      bytes.resize(bytes.size() + es);
      std::string err;
      if (!StoreScalar(dtype, s, bytes.data() + bytes.size() - es, 0, &err)) Fail(std::move(err));
    }
    ++count;
  }

  void AddString(std::string& v) {
    if (!error.empty()) {
      ++count;
      return;
    }
    if (dtype == DataType::kUndefined) {
      JsonScalar s{};
      s.kind = ScalarKind::kNull;
      s.i = static_cast<int64_t>(strings.size());
      string_slots.push_back(count);
      generic.push_back(s);
      strings.push_back(std::move(v));
    } else if (dtype != DataType::kString) {
      Fail("expected a number for " + std::string(DataTypeKServeName(dtype)) +
           ", got the string \"" + v.substr(0, 32) + "\"");
    } else if (capacity >= 0) {
      if (count < capacity) tensor.data<std::string>()[count] = std::move(v);
    } else {
      strings.push_back(std::move(v));
    }
    ++count;
  }
};

// A JSON parser for infer requests: builds a DOM for everything except inputs[i].data, whose
// elements are parsed with from_chars and stored straight into typed storage (the tensor itself
// when "datatype" and "shape" came before "data", as clients send them).
class RequestParser {
 public:
  RequestParser(std::string_view text) : p_(text.data()), begin_(text.data()), end_(text.data() + text.size()) {}

  json root;
  std::vector<DataCapture> captures;  // by input index

  // False on a syntax error (see error()).
  bool Parse() {
    SkipWs();
    if (p_ < end_ && *p_ == '{') {
      if (!ParseRootObject()) return false;
    } else if (!ParseValue(&root, 0)) {
      return false;
    }
    SkipWs();
    if (p_ != end_) return Fail("unexpected text after the JSON value");
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  static constexpr int kMaxDepth = 64;

  bool Fail(const std::string& what) {
    if (error_.empty()) error_ = what + " at offset " + std::to_string(p_ - begin_);
    return false;
  }
  void SkipWs() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool Expect(char c) {
    SkipWs();
    if (p_ >= end_ || *p_ != c) return Fail(std::string("expected '") + c + "'");
    ++p_;
    return true;
  }
  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word)
      return Fail("invalid literal");
    p_ += word.size();
    return true;
  }

  // Iterates the members of an object at p_ ('{' not yet consumed), calling member(key).
  template <typename F>
  bool Members(F&& member) {
    if (!Expect('{')) return false;
    SkipWs();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    std::string key;
    while (true) {
      SkipWs();
      if (p_ >= end_ || *p_ != '"') return Fail("expected a string key");
      key.clear();
      if (!ParseString(&key)) return false;
      if (!Expect(':')) return false;
      SkipWs();
      if (!member(key)) return false;
      SkipWs();
      if (p_ < end_ && *p_ == ',') {
        ++p_;
        continue;
      }
      if (p_ < end_ && *p_ == '}') {
        ++p_;
        return true;
      }
      return Fail("expected ',' or '}'");
    }
  }
  template <typename F>
  bool Elements(F&& element) {
    if (!Expect('[')) return false;
    SkipWs();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    while (true) {
      SkipWs();
      if (!element()) return false;
      SkipWs();
      if (p_ < end_ && *p_ == ',') {
        ++p_;
        continue;
      }
      if (p_ < end_ && *p_ == ']') {
        ++p_;
        return true;
      }
      return Fail("expected ',' or ']'");
    }
  }

  bool ParseRootObject() {
    root = json::object();
    return Members([this](const std::string& key) {
      json& slot = root[key];
      if (key == "inputs" && p_ < end_ && *p_ == '[') {
        slot = json::array();
        size_t index = 0;
        return Elements([this, &slot, &index] {
          slot.push_back(json());
          json& in = slot.back();
          if (p_ < end_ && *p_ == '{') return ParseInputObject(&in, index++);
          ++index;
          return ParseValue(&in, 2);
        });
      }
      return ParseValue(&slot, 1);
    });
  }

  bool ParseInputObject(json* obj, size_t index) {
    if (captures.size() <= index) captures.resize(index + 1);
    *obj = json::object();
    return Members([this, obj, index](const std::string& key) {
      if (key == "data") return ParseData(*obj, &captures[index]);
      return ParseValue(&(*obj)[key], 3);
    });
  }

  bool ParseValue(json* out, int depth) {
    if (depth > kMaxDepth) return Fail("JSON nested too deeply");
    SkipWs();
    if (p_ >= end_) return Fail("unexpected end of the JSON text");
    switch (*p_) {
      case '{':
        *out = json::object();
        return Members([this, out, depth](const std::string& key) {
          return ParseValue(&(*out)[key], depth + 1);
        });
      case '[':
        *out = json::array();
        return Elements([this, out, depth] {
          out->push_back(json());
          return ParseValue(&out->back(), depth + 1);
        });
      case '"': {
        std::string v;
        if (!ParseString(&v)) return false;
        *out = std::move(v);
        return true;
      }
      case 't':
        *out = true;
        return Literal("true");
      case 'f':
        *out = false;
        return Literal("false");
      case 'n':
        *out = nullptr;
        return Literal("null");
      default: {
        JsonScalar s{};
        if (!ParseNumber(&s, nullptr)) return false;
        if (s.kind == ScalarKind::kInt) *out = s.i;
        else if (s.kind == ScalarKind::kUInt) *out = s.u;
        else *out = s.d;
        return true;
      }
    }
  }

  // "data": elements go to the capture; nesting is flattened row-major.
  bool ParseData(const json& input, DataCapture* c) {
    if (c->present) c->Fail("'data' given twice");
    c->present = true;
    SetUpCapture(input, c);
    return ParseDataValue(c, 0);
  }

  bool ParseDataValue(DataCapture* c, int depth) {
    if (depth > kMaxDepth) return Fail("'data' nested too deeply");
    SkipWs();
    if (p_ >= end_) return Fail("unexpected end of the JSON text");
    switch (*p_) {
      case '[':
        return Elements([this, c, depth] { return ParseDataValue(c, depth + 1); });
      case '"': {
        std::string v;
        if (!ParseString(&v)) return false;
        c->AddString(v);
        return true;
      }
      case '{': {
        json ignored;
        if (!ParseValue(&ignored, depth + 4)) return false;
        c->Fail("objects are not valid tensor elements");
        c->count++;
        return true;
      }
      case 't':
      case 'f': {
        bool v = *p_ == 't';
        if (!Literal(v ? "true" : "false")) return false;
        JsonScalar s{};
        s.kind = ScalarKind::kBool;
        s.b = v;
        c->AddScalar(s);
        return true;
      }
      case 'n':
        if (!Literal("null")) return false;
        c->Fail("null is not a valid tensor element");
        c->count++;
        return true;
      default: {
        // Fast path: FP32 straight into the preallocated tensor.
        if (c->dtype == DataType::kFloat && c->capacity > c->count && c->error.empty()) {
          float f;
          if (!ParseNumber(nullptr, &f)) return false;
          c->tensor.data<float>()[c->count++] = f;
          return true;
        }
        JsonScalar s{};
        if (!ParseNumber(&s, nullptr)) return false;
        c->AddScalar(s);
        return true;
      }
    }
  }

  void SetUpCapture(const json& obj, DataCapture* c) {
    auto dt = obj.find("datatype");
    if (dt != obj.end() && dt->is_string()) {
      DataType d = ParseKServeDatatype(dt->get_ref<const std::string&>());
      if (d != DataType::kUndefined) c->dtype = d;
    }
    auto sh = obj.find("shape");
    if (c->dtype == DataType::kUndefined || sh == obj.end() || !sh->is_array() || sh->size() > 64)
      return;
    std::vector<int64_t> dims;
    for (const json& d : *sh) {
      if (!d.is_number_integer()) return;
      if (d.is_number_unsigned() && d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return;
      dims.push_back(d.get<int64_t>());
    }
    int64_t n = CheckedNumElements(dims);
    // Each element takes at least one character of JSON, so a bigger shape cannot match.
    if (n < 0 || static_cast<uint64_t>(n) > static_cast<uint64_t>(end_ - begin_)) return;
    c->tensor = Tensor::Allocate(c->dtype, Shape(std::span<const int64_t>(dims)));
    c->capacity = n;
  }

  // A JSON number (plus NaN / Infinity / -Infinity, as Python writes them). Exactly one of
  // `s` (integers kept exact) and `f` (parsed as float directly) is set.
  bool ParseNumber(JsonScalar* s, float* f) {
    const char* start = p_;
    const char* q = p_;
    if (q < end_ && *q == '-') ++q;
    if (q < end_ && (*q == 'N' || *q == 'I')) {
      bool neg = q != start;
      std::string_view rest(q, end_ - q);
      double v;
      if (!neg && rest.substr(0, 3) == "NaN") {
        v = std::numeric_limits<double>::quiet_NaN();
        p_ = q + 3;
      } else if (rest.substr(0, 8) == "Infinity") {
        v = neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
        p_ = q + 8;
      } else {
        return Fail("invalid literal");
      }
      if (f) *f = static_cast<float>(v);
      if (s) {
        s->kind = ScalarKind::kFloat;
        s->d = v;
      }
      return true;
    }
    const char* digits = q;
    while (q < end_ && *q >= '0' && *q <= '9') ++q;
    if (q == digits) return Fail("invalid value");
    if (*digits == '0' && q - digits > 1) return Fail("invalid number (leading zero)");
    bool integral = true;
    if (q < end_ && *q == '.') {
      integral = false;
      const char* frac = ++q;
      while (q < end_ && *q >= '0' && *q <= '9') ++q;
      if (q == frac) return Fail("invalid number");
    }
    if (q < end_ && (*q == 'e' || *q == 'E')) {
      integral = false;
      ++q;
      if (q < end_ && (*q == '+' || *q == '-')) ++q;
      const char* exp = q;
      while (q < end_ && *q >= '0' && *q <= '9') ++q;
      if (q == exp) return Fail("invalid number");
    }
    p_ = q;
    if (f) {
      // from_chars takes no leading '+' and none is possible here.
      auto r = std::from_chars(start, q, *f);
      if (r.ec == std::errc::result_out_of_range) {
        *f = (*start == '-') ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
        double d;
        if (std::from_chars(start, q, d).ec == std::errc()) *f = static_cast<float>(d);
      } else if (r.ec != std::errc()) {
        return Fail("invalid number");
      }
      return true;
    }
    if (integral) {
      if (*start == '-') {
        int64_t v;
        if (std::from_chars(start, q, v).ec == std::errc()) {
          s->kind = ScalarKind::kInt;
          s->i = v;
          return true;
        }
      } else {
        uint64_t v;
        if (std::from_chars(start, q, v).ec == std::errc()) {
          if (v <= static_cast<uint64_t>(INT64_MAX)) {
            s->kind = ScalarKind::kInt;
            s->i = static_cast<int64_t>(v);
          } else {
            s->kind = ScalarKind::kUInt;
            s->u = v;
          }
          return true;
        }
      }
      // Too big for 64 bits: fall through to a double.
    }
    double d;
    auto r = std::from_chars(start, q, d);
    if (r.ec == std::errc::result_out_of_range) {
      d = (*start == '-') ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    } else if (r.ec != std::errc()) {
      return Fail("invalid number");
    }
    s->kind = ScalarKind::kFloat;
    s->d = d;
    return true;
  }

  static int Hex4(const char* p) {
    int v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = p[i];
      int h = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    return v;
  }
  static void AppendUtf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // A string literal at p_ (the opening quote). Bytes are taken as they are (no UTF-8 check).
  bool ParseString(std::string* out) {
    ++p_;
    const char* run = p_;
    while (true) {
      if (p_ >= end_) return Fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out->append(run, p_ - run);
        ++p_;
        return true;
      }
      if (c < 0x20) return Fail("control character in a string");
      if (c != '\\') {
        ++p_;
        continue;
      }
      out->append(run, p_ - run);
      if (end_ - p_ < 2) return Fail("unterminated string");
      char e = p_[1];
      p_ += 2;
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          if (end_ - p_ < 4) return Fail("bad \\u escape");
          int cp = Hex4(p_);
          if (cp < 0) return Fail("bad \\u escape");
          p_ += 4;
          uint32_t code = static_cast<uint32_t>(cp);
          if (code >= 0xD800 && code <= 0xDBFF) {
            if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u') return Fail("unpaired surrogate");
            int lo = Hex4(p_ + 2);
            if (lo < 0xDC00 || lo > 0xDFFF) return Fail("unpaired surrogate");
            p_ += 6;
            code = 0x10000 + ((code - 0xD800) << 10) + (static_cast<uint32_t>(lo) - 0xDC00);
          } else if (code >= 0xDC00 && code <= 0xDFFF) {
            return Fail("unpaired surrogate");
          }
          AppendUtf8(out, code);
          break;
        }
        default: return Fail("bad escape");
      }
      run = p_;
    }
  }

  const char* p_;
  const char* begin_;
  const char* end_;
  std::string error_;
};

// ---------------------------------------------------------------------------------------------
// DOM -> request

StatusOr<Parameter> JsonToParameter(const std::string& key, const json& v, const std::string& where) {
  if (v.is_boolean()) return Parameter(v.get<bool>());
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u <= static_cast<uint64_t>(INT64_MAX)) return Parameter(static_cast<int64_t>(u));
    return Parameter(u);
  }
  if (v.is_number_integer()) return Parameter(v.get<int64_t>());
  if (v.is_number_float()) return Parameter(v.get<double>());
  if (v.is_string()) return Parameter(v.get<std::string>());
  return InvalidArgument(where + "parameter '" + key + "' must be a bool, number or string, got " +
                         std::string(v.type_name()));
}

Status JsonToParameters(const json& obj, const std::string& where, Parameters* out) {
  if (!obj.is_object())
    return InvalidArgument(where + "'parameters' must be a JSON object, got " +
                           std::string(obj.type_name()));
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    ASSIGN_OR_RETURN(Parameter p, JsonToParameter(it.key(), it.value(), where));
    (*out)[it.key()] = std::move(p);
  }
  return Status::Ok();
}

std::optional<int64_t> ParamInt(const Parameters& p, const std::string& key) {
  auto it = p.find(key);
  if (it == p.end()) return std::nullopt;
  if (auto* i = std::get_if<int64_t>(&it->second)) return *i;
  if (auto* u = std::get_if<uint64_t>(&it->second))
    return *u <= static_cast<uint64_t>(INT64_MAX) ? std::optional<int64_t>(static_cast<int64_t>(*u))
                                                  : std::nullopt;
  return std::nullopt;
}

Status DecodeShape(const json& in, const std::string& label, std::vector<int64_t>* dims) {
  auto sh = in.find("shape");
  if (sh == in.end()) return InvalidArgument(label + " has no 'shape'");
  if (!sh->is_array())
    return InvalidArgument(label + ": 'shape' must be an array of integers, got " +
                           std::string(sh->type_name()));
  dims->clear();
  for (size_t i = 0; i < sh->size(); ++i) {
    const json& d = (*sh)[i];
    if (!d.is_number_integer())
      return InvalidArgument(label + ": shape dim " + std::to_string(i) +
                             " must be an integer, got " + d.dump());
    if (d.is_number_unsigned() && d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      return InvalidArgument(label + ": shape dim " + std::to_string(i) + " (" + d.dump() +
                             ") is too large");
    int64_t v = d.get<int64_t>();
    if (v < 0)
      return InvalidArgument(label + ": shape dim " + std::to_string(i) + " is " +
                             std::to_string(v) + "; dims must be >= 0");
    dims->push_back(v);
  }
  if (CheckedNumElements(*dims) < 0)
    return InvalidArgument(label + ": shape " + ShapeText(*dims) + " has too many elements");
  return Status::Ok();
}

uint32_t ReadLE32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

StatusOr<Tensor> DecodeBinaryInput(const std::string& label, DataType dtype, const Shape& shape,
                                   const uint8_t* p, size_t size) {
  int64_t n = shape.NumElements();
  if (dtype == DataType::kString) {
    if (n > 0 && static_cast<uint64_t>(n) > size / 4)
      return InvalidArgument(label + ": shape " + shape.ToString() + " has " + std::to_string(n) +
                             " BYTES elements, which need at least " + std::to_string(4 * n) +
                             " bytes (4-byte length each), but binary_data_size is " +
                             std::to_string(size));
    Tensor t = Tensor::Allocate(DataType::kString, shape);
    std::string* dst = t.data<std::string>();
    size_t pos = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (size - pos < 4)
        return InvalidArgument(label + ": BYTES element " + std::to_string(i) +
                               ": its 4-byte length prefix is past the end of the input's " +
                               std::to_string(size) + " bytes");
      uint32_t len = ReadLE32(p + pos);
      pos += 4;
      if (len > size - pos)
        return InvalidArgument(label + ": BYTES element " + std::to_string(i) + " has length " +
                               std::to_string(len) + " but only " + std::to_string(size - pos) +
                               " bytes of the input's data remain");
      dst[i].assign(reinterpret_cast<const char*>(p + pos), len);
      pos += len;
    }
    if (pos != size)
      return InvalidArgument(label + ": " + std::to_string(n) + " BYTES elements use " +
                             std::to_string(pos) + " bytes but binary_data_size is " +
                             std::to_string(size));
    return t;
  }
  size_t es = ElementSize(dtype);
  if (static_cast<uint64_t>(n) > std::numeric_limits<uint64_t>::max() / es ||
      static_cast<uint64_t>(n) * es != size)
    return InvalidArgument(label + ": binary_data_size is " + std::to_string(size) +
                           " bytes but shape " + shape.ToString() + " of " +
                           DataTypeKServeName(dtype) + " needs " +
                           std::to_string(static_cast<uint64_t>(n) * es) + " bytes");
  if (dtype == DataType::kBool) {
    for (size_t i = 0; i < size; ++i)
      if (p[i] > 1)
        return InvalidArgument(label + ": BOOL element " + std::to_string(i) + " is byte " +
                               std::to_string(p[i]) + "; expected 0 or 1");
  }
  if (reinterpret_cast<uintptr_t>(p) % es == 0)
    return Tensor::View(dtype, shape, const_cast<uint8_t*>(p));
  Tensor t = Tensor::Allocate(dtype, shape);
  if (size) std::memcpy(t.raw_data(), p, size);
  return t;
}

StatusOr<Tensor> FinishJsonInput(const std::string& label, DataType dtype, const Shape& shape,
                                 DataCapture& c) {
  if (!c.error.empty()) return InvalidArgument(label + ": " + c.error);
  int64_t n = shape.NumElements();
  if (c.count != n)
    return InvalidArgument(label + ": shape " + shape.ToString() + " needs " + std::to_string(n) +
                           " elements but 'data' has " + std::to_string(c.count));
  if (c.dtype == dtype && c.capacity >= 0 && c.tensor.shape() == shape) return std::move(c.tensor);
  Tensor t = Tensor::Allocate(dtype, shape);
  if (c.dtype == dtype && c.capacity < 0) {
    if (dtype == DataType::kString) {
      std::string* dst = t.data<std::string>();
      for (int64_t i = 0; i < n; ++i) dst[i] = std::move(c.strings[i]);
    } else if (!c.bytes.empty()) {
      std::memcpy(t.raw_data(), c.bytes.data(), c.bytes.size());
    }
    return t;
  }
  if (c.dtype == DataType::kUndefined) {
    // Elements arrived before the datatype: convert now.
    for (int64_t i = 0; i < n; ++i) {
      const JsonScalar& s = c.generic[i];
      bool is_string = s.kind == ScalarKind::kNull &&
                       std::binary_search(c.string_slots.begin(), c.string_slots.end(), i);
      std::string err;
      if (dtype == DataType::kString) {
        if (!is_string)
          return InvalidArgument(label + ": data element " + std::to_string(i) +
                                 ": expected a string for BYTES, got " + ScalarText(s));
        t.data<std::string>()[i] = std::move(c.strings[s.i]);
        continue;
      }
      if (is_string)
        return InvalidArgument(label + ": data element " + std::to_string(i) +
                               ": expected a number for " + DataTypeKServeName(dtype) +
                               ", got a string");
      if (!StoreScalar(dtype, s, t.raw_data(), i, &err))
        return InvalidArgument(label + ": data element " + std::to_string(i) + ": " + err);
    }
    return t;
  }
  return InvalidArgument(label + ": 'datatype' or 'shape' given more than once");
}

}  // namespace

// Only the KServe spellings are accepted on the wire.
DataType ParseKServeDatatype(std::string_view name) {
  for (const char* k : kKServeTypes)
    if (name == k) return DataTypeFromKServeName(name);
  return DataType::kUndefined;
}

// ---------------------------------------------------------------------------------------------

Status SplitInferBody(std::string_view body, std::optional<size_t> header_length,
                      std::string_view* json_part, std::span<const uint8_t>* binary) {
  if (!header_length) {
    *json_part = body;
    *binary = {};
    return Status::Ok();
  }
  if (*header_length > body.size())
    return InvalidArgument("Inference-Header-Content-Length is " + std::to_string(*header_length) +
                           " but the request body has only " + std::to_string(body.size()) +
                           " bytes");
  *json_part = body.substr(0, *header_length);
  *binary = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(body.data()) + *header_length,
                                     body.size() - *header_length);
  return Status::Ok();
}

Status DecodeInferRequest(std::string_view text, std::span<const uint8_t> binary,
                          InferRequest* request) {
  RequestParser parser(text);
  if (!parser.Parse()) return InvalidArgument("failed to parse the request JSON: " + parser.error());
  const json& root = parser.root;
  if (!root.is_object())
    return InvalidArgument("the infer request must be a JSON object, got " +
                           std::string(root.type_name()));

  if (auto it = root.find("id"); it != root.end()) {
    if (!it->is_string())
      return InvalidArgument("'id' must be a string, got " + std::string(it->type_name()));
    request->id = it->get<std::string>();
  }
  if (auto it = root.find("parameters"); it != root.end())
    RETURN_IF_ERROR(JsonToParameters(*it, "request ", &request->parameters));
  if (auto t = ParamInt(request->parameters, "timeout"); t && *t > 0)
    request->deadline = request->received + std::chrono::microseconds(*t);

  auto inputs = root.find("inputs");
  if (inputs == root.end()) return InvalidArgument("the infer request has no 'inputs'");
  if (!inputs->is_array())
    return InvalidArgument("'inputs' must be an array, got " + std::string(inputs->type_name()));

  request->inputs.clear();
  request->inputs.reserve(inputs->size());
  size_t offset = 0;
  std::set<std::string> seen;
  std::vector<int64_t> dims;
  for (size_t i = 0; i < inputs->size(); ++i) {
    const json& in = (*inputs)[i];
    if (!in.is_object())
      return InvalidArgument("input " + std::to_string(i) + " must be a JSON object, got " +
                             std::string(in.type_name()));
    server::InferInput input;
    auto nm = in.find("name");
    if (nm == in.end() || !nm->is_string())
      return InvalidArgument("input " + std::to_string(i) + " has no 'name' string");
    input.name = nm->get<std::string>();
    std::string label = InputLabel(input.name, i);
    if (!seen.insert(input.name).second) return InvalidArgument(label + " is given more than once");

    auto dt = in.find("datatype");
    if (dt == in.end() || !dt->is_string()) return InvalidArgument(label + " has no 'datatype' string");
    const std::string& dts = dt->get_ref<const std::string&>();
    DataType dtype = ParseKServeDatatype(dts);
    if (dtype == DataType::kUndefined)
      return InvalidArgument(label + ": unknown datatype '" + dts + "'; expected one of " +
                             KServeTypeList());
    RETURN_IF_ERROR(DecodeShape(in, label, &dims));
    Shape shape{std::span<const int64_t>(dims)};

    if (auto p = in.find("parameters"); p != in.end())
      RETURN_IF_ERROR(JsonToParameters(*p, label + ": ", &input.parameters));
    if (input.parameters.count("shared_memory_region"))
      return Unimplemented(label + ": shared memory inputs are not supported");

    DataCapture* cap = i < parser.captures.size() ? &parser.captures[i] : nullptr;
    bool has_data = cap && cap->present;
    auto bds = input.parameters.find("binary_data_size");
    if (bds != input.parameters.end()) {
      auto size = ParamInt(input.parameters, "binary_data_size");
      if (!size || *size < 0)
        return InvalidArgument(label + ": parameter 'binary_data_size' must be a non-negative integer");
      if (has_data)
        return InvalidArgument(label + " has both 'data' and parameters.binary_data_size");
      size_t sz = static_cast<size_t>(*size);
      if (sz > binary.size() - offset)
        return InvalidArgument(label + ": binary_data_size " + std::to_string(sz) +
                               " goes past the end of the binary data (" +
                               std::to_string(binary.size() - offset) + " of " +
                               std::to_string(binary.size()) + " bytes left)");
      ASSIGN_OR_RETURN(input.tensor,
                       DecodeBinaryInput(label, dtype, shape, binary.data() + offset, sz));
      offset += sz;
    } else if (has_data) {
      ASSIGN_OR_RETURN(input.tensor, FinishJsonInput(label, dtype, shape, *cap));
    } else {
      return InvalidArgument(label + " has no 'data' and no parameters.binary_data_size");
    }
    request->inputs.push_back(std::move(input));
  }
  if (offset != binary.size())
    return InvalidArgument("the request has " + std::to_string(binary.size()) +
                           " bytes of binary data but its inputs' binary_data_size add up to " +
                           std::to_string(offset));

  request->outputs.clear();
  if (auto outs = root.find("outputs"); outs != root.end()) {
    if (!outs->is_array())
      return InvalidArgument("'outputs' must be an array, got " + std::string(outs->type_name()));
    std::set<std::string> out_seen;
    for (size_t i = 0; i < outs->size(); ++i) {
      const json& o = (*outs)[i];
      if (!o.is_object())
        return InvalidArgument("requested output " + std::to_string(i) +
                               " must be a JSON object, got " + std::string(o.type_name()));
      server::RequestedOutput ro;
      auto nm = o.find("name");
      if (nm == o.end() || !nm->is_string())
        return InvalidArgument("requested output " + std::to_string(i) + " has no 'name' string");
      ro.name = nm->get<std::string>();
      if (!out_seen.insert(ro.name).second)
        return InvalidArgument("output '" + ro.name + "' is requested more than once");
      if (auto p = o.find("parameters"); p != o.end())
        RETURN_IF_ERROR(JsonToParameters(*p, "output '" + ro.name + "': ", &ro.parameters));
      if (ro.parameters.count("shared_memory_region"))
        return Unimplemented("output '" + ro.name + "': shared memory outputs are not supported");
      request->outputs.push_back(std::move(ro));
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Encoding

void AppendJsonString(std::string* out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + start, i - start);
    start = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default: {
        char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out->append(u, 6);
      }
    }
  }
  out->append(s.data() + start, s.size() - start);
  out->push_back('"');
}

namespace {

template <typename F>
void AppendFloat(std::string* out, F v) {
  if (std::isnan(v)) {
    out->append("NaN");
  } else if (std::isinf(v)) {
    out->append(v > 0 ? "Infinity" : "-Infinity");
  } else {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out->append(buf, r.ptr);
  }
}

template <typename I>
void AppendInt(std::string* out, I v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

template <typename T, typename F>
void AppendArray(std::string* out, const T* p, int64_t n, F&& one) {
  out->push_back('[');
  for (int64_t i = 0; i < n; ++i) {
    if (i) out->push_back(',');
    one(out, p[i]);
  }
  out->push_back(']');
}

// Numeric arrays: to_chars straight into the string's buffer, sized for the worst case.
template <typename T, typename Conv>
void AppendNumericArray(std::string* out, const T* p, int64_t n, Conv&& conv) {
  constexpr size_t kMax = 32;  // longest element text plus a comma
  size_t pos = out->size();
  out->resize(pos + 2 + static_cast<size_t>(n) * kMax);
  char* w = out->data() + pos;
  char* const limit = out->data() + out->size();
  *w++ = '[';
  for (int64_t i = 0; i < n; ++i) {
    if (i) *w++ = ',';
    auto v = conv(p[i]);
    if constexpr (std::is_floating_point_v<decltype(v)>) {
      if (!std::isfinite(v)) {
        const char* t = std::isnan(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity");
        size_t len = std::strlen(t);
        std::memcpy(w, t, len);
        w += len;
        continue;
      }
    }
    w = std::to_chars(w, limit, v).ptr;
  }
  *w++ = ']';
  out->resize(static_cast<size_t>(w - out->data()));
}

// Flat JSON array of all elements.
void AppendFlatData(std::string* out, const Tensor& t) {
  int64_t n = t.num_elements();
  auto same = [](auto v) { return v; };
  auto widen = [](auto v) { return static_cast<int>(v); };
  switch (t.dtype()) {
    case DataType::kFloat: AppendNumericArray(out, t.data<float>(), n, same); break;
    case DataType::kDouble: AppendNumericArray(out, t.data<double>(), n, same); break;
    case DataType::kFloat16:
      AppendNumericArray(out, t.data<Float16>(), n, [](Float16 v) { return static_cast<float>(v); });
      break;
    case DataType::kBFloat16:
      AppendNumericArray(out, t.data<BFloat16>(), n, [](BFloat16 v) { return static_cast<float>(v); });
      break;
    case DataType::kInt8: AppendNumericArray(out, t.data<int8_t>(), n, widen); break;
    case DataType::kInt16: AppendNumericArray(out, t.data<int16_t>(), n, same); break;
    case DataType::kInt32: AppendNumericArray(out, t.data<int32_t>(), n, same); break;
    case DataType::kInt64: AppendNumericArray(out, t.data<int64_t>(), n, same); break;
    case DataType::kUInt8: AppendNumericArray(out, t.data<uint8_t>(), n, widen); break;
    case DataType::kUInt16: AppendNumericArray(out, t.data<uint16_t>(), n, same); break;
    case DataType::kUInt32: AppendNumericArray(out, t.data<uint32_t>(), n, same); break;
    case DataType::kUInt64: AppendNumericArray(out, t.data<uint64_t>(), n, same); break;
    case DataType::kBool:
      AppendArray(out, t.data<bool>(), n, [](std::string* o, bool v) { o->append(v ? "true" : "false"); });
      break;
    case DataType::kString:
      AppendArray(out, t.data<std::string>(), n, [](std::string* o, const std::string& v) { AppendJsonString(o, v); });
      break;
    default: out->append("[]"); break;
  }
}

void AppendLE32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v & 0xff), static_cast<char>((v >> 8) & 0xff),
               static_cast<char>((v >> 16) & 0xff), static_cast<char>((v >> 24) & 0xff)};
  out->append(b, 4);
}

void AppendParameterValue(std::string* out, const Parameter& p) {
  std::visit(
      [out](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, bool>) out->append(v ? "true" : "false");
        else if constexpr (std::is_same_v<V, std::string>) AppendJsonString(out, v);
        else if constexpr (std::is_same_v<V, double>) AppendFloat(out, v);
        else AppendInt(out, v);
      },
      p);
}

// Appends `"parameters":{...}` entries (without braces) for `params` minus `skip`.
bool AppendParameterEntries(std::string* out, const Parameters& params, bool first,
                            std::initializer_list<std::string_view> skip) {
  for (const auto& [k, v] : params) {
    bool skipped = false;
    for (auto s : skip) skipped |= k == s;
    if (skipped) continue;
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(out, k);
    out->push_back(':');
    AppendParameterValue(out, v);
  }
  return first;
}

std::optional<bool> ParamBool(const Parameters& p, const std::string& key) {
  auto it = p.find(key);
  if (it == p.end()) return std::nullopt;
  if (auto* b = std::get_if<bool>(&it->second)) return *b;
  if (auto i = ParamInt(p, key)) return *i != 0;
  return std::nullopt;
}

// Rows of a non-tensor output: a sequence gives one row per element; a map or anything else is
// one row.
std::vector<const Value*> NonTensorRows(const Value& v) {
  std::vector<const Value*> rows;
  if (v.is_sequence()) {
    for (const Value& e : v.sequence()) rows.push_back(&e);
  } else if (!v.is_none()) {
    rows.push_back(&v);
  }
  return rows;
}

void AppendKey(std::string* out, const Tensor& keys, int64_t i) {
  if (keys.dtype() == DataType::kString) {
    AppendJsonString(out, keys.data<std::string>()[i]);
    return;
  }
  std::string k;
  AppendJsonElement(&k, keys, i);
  AppendJsonString(out, k);
}

void AppendNested(std::string* out, const Tensor& t, int dim, int64_t* index) {
  if (dim == t.rank()) {
    AppendJsonElement(out, t, (*index)++);
    return;
  }
  out->push_back('[');
  for (int64_t i = 0; i < t.dim(dim); ++i) {
    if (i) out->push_back(',');
    AppendNested(out, t, dim + 1, index);
  }
  out->push_back(']');
}

}  // namespace

void AppendJsonElement(std::string* out, const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat: AppendFloat(out, t.data<float>()[i]); break;
    case DataType::kDouble: AppendFloat(out, t.data<double>()[i]); break;
    case DataType::kFloat16: AppendFloat(out, static_cast<float>(t.data<Float16>()[i])); break;
    case DataType::kBFloat16: AppendFloat(out, static_cast<float>(t.data<BFloat16>()[i])); break;
    case DataType::kInt8: AppendInt(out, t.data<int8_t>()[i]); break;
    case DataType::kInt16: AppendInt(out, t.data<int16_t>()[i]); break;
    case DataType::kInt32: AppendInt(out, t.data<int32_t>()[i]); break;
    case DataType::kInt64: AppendInt(out, t.data<int64_t>()[i]); break;
    case DataType::kUInt8: AppendInt(out, t.data<uint8_t>()[i]); break;
    case DataType::kUInt16: AppendInt(out, t.data<uint16_t>()[i]); break;
    case DataType::kUInt32: AppendInt(out, t.data<uint32_t>()[i]); break;
    case DataType::kUInt64: AppendInt(out, t.data<uint64_t>()[i]); break;
    case DataType::kBool: out->append(t.data<bool>()[i] ? "true" : "false"); break;
    case DataType::kString: AppendJsonString(out, t.data<std::string>()[i]); break;
    default: out->append("null"); break;
  }
}

void AppendJsonValue(std::string* out, const Value& v) {
  if (v.is_tensor()) {
    int64_t index = 0;
    AppendNested(out, v.tensor(), 0, &index);
  } else if (v.is_map()) {
    const MapValue& m = v.map();
    out->push_back('{');
    int64_t n = std::min(m.keys.num_elements(), m.values.num_elements());
    for (int64_t i = 0; i < n; ++i) {
      if (i) out->push_back(',');
      AppendKey(out, m.keys, i);
      out->push_back(':');
      AppendJsonElement(out, m.values, i);
    }
    out->push_back('}');
  } else if (v.is_sequence()) {
    out->push_back('[');
    bool first = true;
    for (const Value& e : v.sequence()) {
      if (!first) out->push_back(',');
      first = false;
      AppendJsonValue(out, e);
    }
    out->push_back(']');
  } else {
    out->append("null");
  }
}

Status EncodeInferResponse(const InferRequest& request, const InferResponse& response,
                           EncodedInferResponse* out) {
  std::string& js = out->body;
  js.clear();
  std::string binary;
  bool default_binary = ParamBool(request.parameters, "binary_data_output").value_or(false);

  size_t estimate = 256;
  for (const auto& o : response.outputs)
    if (o.value.is_tensor()) estimate += static_cast<size_t>(o.value.tensor().num_elements()) * 12;
  js.reserve(estimate);

  js.append("{\"model_name\":");
  AppendJsonString(&js, response.model_name);
  js.append(",\"model_version\":");
  AppendJsonString(&js, response.model_version);
  const std::string& id = response.id.empty() ? request.id : response.id;
  if (!id.empty()) {
    js.append(",\"id\":");
    AppendJsonString(&js, id);
  }
  if (!response.parameters.empty()) {
    js.append(",\"parameters\":{");
    AppendParameterEntries(&js, response.parameters, true, {});
    js.push_back('}');
  }
  js.append(",\"outputs\":[");
  bool first_output = true;
  bool any_binary = false;
  for (const server::InferOutput& o : response.outputs) {
    const server::RequestedOutput* requested = nullptr;
    if (!request.outputs.empty()) {
      for (const auto& r : request.outputs)
        if (r.name == o.name) requested = &r;
      if (requested == nullptr) continue;  // not asked for
    }
    bool as_binary = default_binary;
    if (requested)
      if (auto b = ParamBool(requested->parameters, "binary_data")) as_binary = *b;

    if (!first_output) js.push_back(',');
    first_output = false;
    any_binary |= as_binary;
    js.append("{\"name\":");
    AppendJsonString(&js, o.name);

    if (o.value.is_tensor()) {
      const Tensor& t = o.value.tensor();
      const char* dt = DataTypeKServeName(t.dtype());
      js.append(",\"datatype\":");
      AppendJsonString(&js, dt ? dt : "");
      js.append(",\"shape\":[");
      for (int d = 0; d < t.rank(); ++d) {
        if (d) js.push_back(',');
        AppendInt(&js, t.dim(d));
      }
      js.push_back(']');
      if (as_binary) {
        size_t before = binary.size();
        if (t.dtype() == DataType::kString) {
          const std::string* s = t.data<std::string>();
          for (int64_t i = 0; i < t.num_elements(); ++i) {
            AppendLE32(&binary, static_cast<uint32_t>(s[i].size()));
            binary.append(s[i]);
          }
        } else {
          binary.append(static_cast<const char*>(t.raw_data()), t.bytes());
        }
        js.append(",\"parameters\":{");
        bool first = AppendParameterEntries(&js, o.parameters, true, {"binary_data_size"});
        if (!first) js.push_back(',');
        js.append("\"binary_data_size\":");
        AppendInt(&js, binary.size() - before);
        js.append("}}");
      } else {
        if (!o.parameters.empty()) {
          js.append(",\"parameters\":{");
          AppendParameterEntries(&js, o.parameters, true, {"binary_data_size"});
          js.push_back('}');
        }
        js.append(",\"data\":");
        AppendFlatData(&js, t);
        js.push_back('}');
      }
      continue;
    }

    // Non-tensor value (a ZipMap's sequence of maps): BYTES, one JSON document per row.
    std::vector<const Value*> rows = NonTensorRows(o.value);
    js.append(",\"datatype\":\"BYTES\",\"shape\":[");
    AppendInt(&js, rows.size());
    js.append("],\"parameters\":{");
    bool first = AppendParameterEntries(&js, o.parameters, true, {"binary_data_size", "content_type"});
    if (!first) js.push_back(',');
    js.append("\"content_type\":\"application/json\"");
    if (as_binary) {
      size_t before = binary.size();
      std::string row;
      for (const Value* r : rows) {
        row.clear();
        AppendJsonValue(&row, *r);
        AppendLE32(&binary, static_cast<uint32_t>(row.size()));
        binary.append(row);
      }
      js.append(",\"binary_data_size\":");
      AppendInt(&js, binary.size() - before);
      js.append("}}");
    } else {
      js.append("},\"data\":[");
      for (size_t i = 0; i < rows.size(); ++i) {
        if (i) js.push_back(',');
        AppendJsonValue(&js, *rows[i]);
      }
      js.append("]}");
    }
  }
  js.append("]}");
  if (any_binary) {
    out->header_length = js.size();
    js.append(binary);
  } else {
    out->header_length.reset();
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Protobuf -> JSON

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using ojson = nlohmann::ordered_json;

// A float as the shortest decimal that reads back as the same float (0.1f prints 0.1).
double FloatForJson(float f) {
  if (!std::isfinite(f)) return static_cast<double>(f);
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), f);
  double d = 0;
  std::from_chars(buf, r.ptr, d);
  return d;
}

ojson FieldToJson(const Message& m, const Reflection* r, const FieldDescriptor* f, int index) {
  bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: return rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f);
    case FieldDescriptor::CPPTYPE_INT64: return rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
    case FieldDescriptor::CPPTYPE_UINT32: return rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f);
    case FieldDescriptor::CPPTYPE_UINT64: return rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f);
    case FieldDescriptor::CPPTYPE_DOUBLE: return rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f);
    case FieldDescriptor::CPPTYPE_FLOAT:
      return FloatForJson(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_BOOL: return rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f);
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* e = rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f);
      return e ? ojson(e->name()) : ojson(rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f));
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string s = rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
      if (f->type() == FieldDescriptor::TYPE_BYTES) return Base64Encode(s);
      return s;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return ProtoToJson(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f));
  }
  return nullptr;
}

std::string MapKeyText(const Message& entry, const FieldDescriptor* kf) {
  const Reflection* r = entry.GetReflection();
  switch (kf->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: return r->GetString(entry, kf);
    case FieldDescriptor::CPPTYPE_INT32: return std::to_string(r->GetInt32(entry, kf));
    case FieldDescriptor::CPPTYPE_INT64: return std::to_string(r->GetInt64(entry, kf));
    case FieldDescriptor::CPPTYPE_UINT32: return std::to_string(r->GetUInt32(entry, kf));
    case FieldDescriptor::CPPTYPE_UINT64: return std::to_string(r->GetUInt64(entry, kf));
    case FieldDescriptor::CPPTYPE_BOOL: return r->GetBool(entry, kf) ? "true" : "false";
    default: return "";
  }
}

}  // namespace

nlohmann::ordered_json ProtoToJson(const Message& m) {
  ojson out = ojson::object();
  const Descriptor* d = m.GetDescriptor();
  const Reflection* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->is_map()) {
      ojson obj = ojson::object();
      const Descriptor* ed = f->message_type();
      const FieldDescriptor* kf = ed->field(0);
      const FieldDescriptor* vf = ed->field(1);
      // Sort entries by key for stable output (map order is unspecified).
      std::vector<std::pair<std::string, const Message*>> entries;
      for (int j = 0; j < r->FieldSize(m, f); ++j) {
        const Message& e = r->GetRepeatedMessage(m, f, j);
        entries.emplace_back(MapKeyText(e, kf), &e);
      }
      std::sort(entries.begin(), entries.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (const auto& [k, e] : entries)
        obj[k] = FieldToJson(*e, e->GetReflection(), vf, -1);
      out[f->name()] = std::move(obj);
    } else if (f->is_repeated()) {
      ojson arr = ojson::array();
      for (int j = 0; j < r->FieldSize(m, f); ++j) arr.push_back(FieldToJson(m, r, f, j));
      out[f->name()] = std::move(arr);
    } else {
      if (f->has_presence() && !r->HasField(m, f)) continue;
      out[f->name()] = FieldToJson(m, r, f, -1);
    }
  }
  return out;
}

std::string DumpJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
std::string DumpJson(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string JsonErrorBody(std::string_view message) {
  std::string out = "{\"error\":";
  AppendJsonString(&out, message);
  out.push_back('}');
  return out;
}

std::string Base64Encode(std::string_view in) {
  static const char kTable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    out.push_back(kTable[(v >> 18) & 63]);
    out.push_back(kTable[(v >> 12) & 63]);
    out.push_back(kTable[(v >> 6) & 63]);
    out.push_back(kTable[v & 63]);
  }
  if (i < in.size()) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<uint8_t>(in[i + 1]) << 8;
    out.push_back(kTable[(v >> 18) & 63]);
    out.push_back(kTable[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kTable[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

StatusOr<std::string> Base64Decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    int v = val(in[i]);
    if (v < 0) return InvalidArgument("invalid base64 character at offset " + std::to_string(i));
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits >= 6) return InvalidArgument("invalid base64 length");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Generic JSON values <-> tensors (TF-Serving v1 API)

void AppendJsonTensorRow(std::string* out, const Tensor& t, int64_t row) {
  if (t.rank() == 0) {
    AppendJsonElement(out, t, 0);
    return;
  }
  int64_t per_row = 1;
  for (int d = 1; d < t.rank(); ++d) per_row *= t.dim(d);
  int64_t index = row * per_row;
  AppendNested(out, t, 1, &index);
}

namespace {

std::vector<int64_t> NestedDims(const json& v) {
  std::vector<int64_t> dims;
  const json* p = &v;
  while (p->is_array()) {
    dims.push_back(static_cast<int64_t>(p->size()));
    if (p->empty()) break;
    p = &(*p)[0];
  }
  return dims;
}

Status StoreJsonLeaf(const json& v, DataType dtype, Tensor* t, int64_t idx, const std::string& what) {
  if (dtype == DataType::kString) {
    if (v.is_string()) {
      t->data<std::string>()[idx] = v.get<std::string>();
      return Status::Ok();
    }
    if (v.is_object() && v.size() == 1 && v.contains("b64") && v["b64"].is_string()) {
      auto decoded = Base64Decode(v["b64"].get_ref<const std::string&>());
      if (!decoded.ok())
        return InvalidArgument(what + ": element " + std::to_string(idx) + ": " +
                               decoded.status().message());
      t->data<std::string>()[idx] = std::move(*decoded);
      return Status::Ok();
    }
    return InvalidArgument(what + ": element " + std::to_string(idx) +
                           ": expected a string or {\"b64\": ...} for BYTES, got " + v.dump());
  }
  JsonScalar s{};
  if (v.is_boolean()) {
    s.kind = ScalarKind::kBool;
    s.b = v.get<bool>();
  } else if (v.is_number_unsigned()) {
    s.kind = ScalarKind::kUInt;
    s.u = v.get<uint64_t>();
  } else if (v.is_number_integer()) {
    s.kind = ScalarKind::kInt;
    s.i = v.get<int64_t>();
  } else if (v.is_number_float()) {
    s.kind = ScalarKind::kFloat;
    s.d = v.get<double>();
  } else {
    return InvalidArgument(what + ": element " + std::to_string(idx) + ": expected a number for " +
                           DataTypeKServeName(dtype) + ", got " + std::string(v.type_name()));
  }
  std::string err;
  if (!StoreScalar(dtype, s, t->raw_data(), idx, &err))
    return InvalidArgument(what + ": element " + std::to_string(idx) + ": " + err);
  return Status::Ok();
}

Status FillNested(const json& v, const std::vector<int64_t>& dims, size_t depth, DataType dtype,
                  Tensor* t, int64_t* idx, const std::string& what) {
  if (depth == dims.size()) {
    if (v.is_array())
      return InvalidArgument(what + ": nested arrays are ragged (deeper than the first element's " +
                             std::to_string(dims.size()) + " levels)");
    return StoreJsonLeaf(v, dtype, t, (*idx)++, what);
  }
  if (!v.is_array() || static_cast<int64_t>(v.size()) != dims[depth])
    return InvalidArgument(what + ": nested arrays are ragged: expected " +
                           std::to_string(dims[depth]) + " elements at depth " +
                           std::to_string(depth) + ", got " +
                           (v.is_array() ? std::to_string(v.size()) : std::string("a scalar")));
  for (const json& e : v) RETURN_IF_ERROR(FillNested(e, dims, depth + 1, dtype, t, idx, what));
  return Status::Ok();
}

}  // namespace

StatusOr<Tensor> JsonValueToTensor(const json& v, DataType dtype, const std::string& what) {
  std::vector<int64_t> dims = NestedDims(v);
  if (ElementSize(dtype) == 0)
    return InvalidArgument(what + ": datatype " + std::string(DataTypeName(dtype)) + " is not supported");
  Tensor t = Tensor::Allocate(dtype, Shape(std::span<const int64_t>(dims)));
  int64_t idx = 0;
  RETURN_IF_ERROR(FillNested(v, dims, 0, dtype, &t, &idx, what));
  return t;
}

StatusOr<Tensor> JsonRowsToTensor(const std::vector<const json*>& rows, DataType dtype,
                                  const std::string& what) {
  if (ElementSize(dtype) == 0)
    return InvalidArgument(what + ": datatype " + std::string(DataTypeName(dtype)) + " is not supported");
  std::vector<int64_t> row_dims = rows.empty() ? std::vector<int64_t>{} : NestedDims(*rows[0]);
  std::vector<int64_t> dims;
  dims.push_back(static_cast<int64_t>(rows.size()));
  dims.insert(dims.end(), row_dims.begin(), row_dims.end());
  Tensor t = Tensor::Allocate(dtype, Shape(std::span<const int64_t>(dims)));
  int64_t idx = 0;
  for (size_t r = 0; r < rows.size(); ++r)
    RETURN_IF_ERROR(FillNested(*rows[r], row_dims, 0, dtype, &t, &idx,
                               what + " (instance " + std::to_string(r) + ")"));
  return t;
}

}  // namespace onnxd::api::http
