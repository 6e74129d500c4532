// Tensor creation and conversion ops: Cast, CastLike, BitCast, Constant, ConstantOfShape, Range, Dropout
// (inference), EyeLike, OneHot, NonZero, TopK, CumSum, CumProd, Unique.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "onnx/onnx-ml.pb.h"
#include "ops/op_kernel.h"
#include "ops/op_util.h"

namespace onnxd::engine {

namespace {

constexpr int64_t kGrain = 16384;

#define REQUIRE_INPUT(var, i, what)                                                  \
  const Tensor* var = ctx.input(i);                                                  \
  if (var == nullptr) return ctx.Error(std::string("input ") + std::to_string(i) + " (" what ") is missing or not a tensor")

// Names of ONNX element types the engine does not hold, for clear messages.
std::string OnnxTypeName(int64_t t) {
  switch (t) {
    case 14: return "complex64";
    case 15: return "complex128";
    case 17: return "float8e4m3fn";
    case 18: return "float8e4m3fnuz";
    case 19: return "float8e5m2";
    case 20: return "float8e5m2fnuz";
    case 21: return "uint4";
    case 22: return "int4";
    case 23: return "float4e2m1";
    case 24: return "float8e8m0";
    case 25: return "uint2";
    case 26: return "int2";
    default: return "type " + std::to_string(t);
  }
}

bool IsCastable(DataType t) {
  return t != DataType::kUndefined && t != DataType::kComplex64 && t != DataType::kComplex128 &&
         IsSupportedDataType(static_cast<int32_t>(t));
}

// ---------------------------------------------------------------------------------------------
// Number <-> string conversions, following numpy's astype(str) / astype(number).

template <typename T>
constexpr int PositionalLimitExp() {
  if constexpr (std::is_same_v<T, double>) return 16;
  else if constexpr (std::is_same_v<T, float>) return 6;
  else return 3;
}

// Shortest round-trip decimal of v as "d.ddde[+-]x" scientific text.
template <typename T>
std::string ShortestScientific(T v) {
  char buf[64];
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
    return std::string(buf, r.ptr);
  } else {
    const float f = static_cast<float>(v);
    for (int p = 0; p < 9; ++p) {
      auto r = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific, p);
      float back = 0;
      std::from_chars(buf, r.ptr, back, std::chars_format::scientific);
      if (T(back).bits == v.bits) return std::string(buf, r.ptr);
    }
    auto r = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific);
    return std::string(buf, r.ptr);
  }
}

template <typename T>
std::string FormatFloat(T value) {
  const double d = static_cast<double>(static_cast<ComputeType<T>>(value));
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  std::string sci = ShortestScientific(value);
  std::string sign;
  size_t pos = 0;
  if (sci[0] == '-') {
    sign = "-";
    pos = 1;
  }
  const size_t epos = sci.find('e');
  std::string digits;
  for (size_t i = pos; i < epos; ++i)
    if (sci[i] != '.') digits += sci[i];
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const int exp10 = std::atoi(sci.c_str() + epos + 1);
  const double a = std::fabs(d);
  if (a >= 1e-4 && a < std::pow(10.0, PositionalLimitExp<T>())) {
    std::string out = sign;
    if (exp10 >= 0) {
      const size_t int_len = static_cast<size_t>(exp10) + 1;
      if (digits.size() <= int_len) {
        out += digits + std::string(int_len - digits.size(), '0') + ".0";
      } else {
        out += digits.substr(0, int_len) + "." + digits.substr(int_len);
      }
    } else {
      out += "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + digits;
    }
    return out;
  }
  std::string out = sign + digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  out += exp10 < 0 ? "e-" : "e+";
  const int ae = std::abs(exp10);
  if (ae < 10) out += "0";
  out += std::to_string(ae);
  return out;
}

template <typename S>
std::string ToStringValue(const S& v) {
  if constexpr (std::is_same_v<S, std::string>) return v;
  else if constexpr (std::is_same_v<S, bool>) return v ? "True" : "False";
  else if constexpr (std::is_same_v<S, float> || std::is_same_v<S, double> || std::is_same_v<S, Float16> ||
                     std::is_same_v<S, BFloat16>)
    return FormatFloat(v);
  else return std::to_string(v);
}

std::string Trimmed(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

template <typename D>
D FromStringValue(const std::string& raw) {
  if constexpr (std::is_same_v<D, std::string>) {
    return raw;
  } else {
    const std::string s = Trimmed(raw);
    if constexpr (std::is_same_v<D, bool>) {
      if (s == "True" || s == "true") return true;
      if (s == "False" || s == "false" || s.empty()) return false;
      return std::strtod(s.c_str(), nullptr) != 0;
    } else if constexpr (std::is_integral_v<D>) {
      char* end = nullptr;
      if constexpr (std::is_unsigned_v<D>) {
        unsigned long long u = std::strtoull(s.c_str(), &end, 10);
        if (end != nullptr && *end == '\0' && !s.empty() && s[0] != '-') return static_cast<D>(u);
      } else {
        long long i = std::strtoll(s.c_str(), &end, 10);
        if (end != nullptr && *end == '\0' && !s.empty()) return static_cast<D>(i);
      }
      return static_cast<D>(std::strtod(s.c_str(), nullptr));
    } else {
      using C = ComputeType<D>;
      if constexpr (std::is_same_v<C, float>) return static_cast<D>(std::strtof(s.c_str(), nullptr));
      else return static_cast<D>(std::strtod(s.c_str(), nullptr));
    }
  }
}

template <typename S, typename D>
inline D ConvertValue(const S& s) {
  if constexpr (std::is_same_v<S, D>) {
    return s;
  } else if constexpr (std::is_same_v<D, std::string>) {
    return ToStringValue(s);
  } else if constexpr (std::is_same_v<S, std::string>) {
    return FromStringValue<D>(s);
  } else if constexpr (std::is_same_v<D, bool>) {
    return static_cast<ComputeType<S>>(s) != static_cast<ComputeType<S>>(0);
  } else if constexpr (std::is_same_v<D, Float16> || std::is_same_v<D, BFloat16>) {
    return D(static_cast<float>(static_cast<ComputeType<S>>(s)));
  } else {
    return static_cast<D>(static_cast<ComputeType<S>>(s));
  }
}

// float <-> float16 in bulk: F16C when the CPU has it, else the scalar conversions.
#if defined(__x86_64__)
__attribute__((target("avx,f16c"))) void FloatToHalfF16C(const float* s, Float16* d, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) d[i] = Float16(s[i]);
}
__attribute__((target("avx,f16c"))) void HalfToFloatF16C(const Float16* s, float* d, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
  for (; i < n; ++i) d[i] = static_cast<float>(s[i]);
}
bool HasF16C() {
  static const bool v = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
  return v;
}
#else
bool HasF16C() { return false; }
void FloatToHalfF16C(const float* s, Float16* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = Float16(s[i]);
}
void HalfToFloatF16C(const Float16* s, float* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = static_cast<float>(s[i]);
}
#endif

template <typename S, typename D>
void ConvertRun(const S* src, D* dst, int64_t n) {
  constexpr bool kToHalf = std::is_same_v<D, Float16> && !std::is_same_v<S, std::string>;
  constexpr bool kFromHalf = std::is_same_v<S, Float16> && !std::is_same_v<D, std::string>;
  if constexpr (kToHalf || kFromHalf) {
    if (HasF16C()) {
      if constexpr (std::is_same_v<S, float>) {
        FloatToHalfF16C(src, dst, n);
      } else if constexpr (std::is_same_v<D, float>) {
        HalfToFloatF16C(src, dst, n);
      } else {
        // Through a float buffer on the stack.
        constexpr int64_t kChunk = 256;
        alignas(64) float buf[kChunk];
        for (int64_t b = 0; b < n; b += kChunk) {
          const int64_t m = std::min(kChunk, n - b);
          if constexpr (kToHalf) {
            for (int64_t i = 0; i < m; ++i) buf[i] = ConvertValue<S, float>(src[b + i]);
            FloatToHalfF16C(buf, dst + b, m);
          } else {
            HalfToFloatF16C(src + b, buf, m);
            for (int64_t i = 0; i < m; ++i) dst[b + i] = ConvertValue<float, D>(buf[i]);
          }
        }
      }
      return;
    }
  }
  for (int64_t i = 0; i < n; ++i) dst[i] = ConvertValue<S, D>(src[i]);
}

// Options of a cast into a narrow type (Cast / CastLike attributes).
struct NarrowOptions {
  bool saturate = true;                             // float8: clamp out-of-range values
  E8M0Rounding rounding = E8M0Rounding::kUp;        // float8e8m0
};

bool IsNarrow(DataType t) { return IsNarrowFloat(t) || IsNarrowInt(t); }

// Casts where either side is a narrow type (types.h: one element per byte). Values go through a
// wide intermediate, kChunk at a time: float for narrow floats, int64 for narrow integers (float
// sources are truncated toward zero and wrapped, as numpy / ml_dtypes astype do).
template <typename S>
void NarrowSourceToWide(DataType st, const S* src, int64_t n, float* f, int64_t* i, bool to_int) {
  if constexpr (std::is_same_v<S, uint8_t>) {
    if (IsNarrowFloat(st)) {
      for (int64_t k = 0; k < n; ++k) f[k] = NarrowFloatToFloat(st, src[k]);
      if (to_int)
        for (int64_t k = 0; k < n; ++k) i[k] = std::isfinite(f[k]) ? static_cast<int64_t>(f[k]) : 0;
      return;
    }
    if (IsNarrowInt(st)) {
      const bool sign = st == DataType::kInt4 || st == DataType::kInt2;
      for (int64_t k = 0; k < n; ++k) i[k] = sign ? static_cast<int8_t>(src[k]) : src[k];
      if (!to_int)
        for (int64_t k = 0; k < n; ++k) f[k] = static_cast<float>(i[k]);
      return;
    }
  }
  if (to_int) {
    if constexpr (std::is_same_v<S, std::string>) {
      for (int64_t k = 0; k < n; ++k) i[k] = ConvertValue<std::string, int64_t>(src[k]);
    } else if constexpr (std::is_integral_v<S>) {
      for (int64_t k = 0; k < n; ++k) i[k] = static_cast<int64_t>(src[k]);
    } else {
      for (int64_t k = 0; k < n; ++k) {
        const double d = static_cast<double>(static_cast<ComputeType<S>>(src[k]));
        // Out of int64's range (and NaN): 0 once wrapped into any narrow type, as ml_dtypes gives.
        i[k] = std::fabs(d) < 9.2e18 ? static_cast<int64_t>(d) : 0;
      }
    }
  } else {
    for (int64_t k = 0; k < n; ++k) f[k] = ConvertValue<S, float>(src[k]);
  }
}

Status CastNarrow(KernelContext& ctx, const Tensor& x, DataType to, const NarrowOptions& opt, Tensor* y) {
  const DataType from = x.dtype();
  const int64_t n = x.num_elements();
  const bool to_int = IsNarrowInt(to) || (IsNarrow(from) && !IsNarrowFloat(from) && !IsNarrow(to));
  auto with_source = [&](auto stag) {
    using S = typename decltype(stag)::type;
    const S* src = x.data<S>();
    ctx.pool().ParallelFor(n, 4096, [&](int64_t b, int64_t e) {
      constexpr int64_t kChunk = 256;
      float f[kChunk];
      int64_t iv[kChunk];
      for (int64_t c = b; c < e; c += kChunk) {
        const int64_t m = std::min(kChunk, e - c);
        NarrowSourceToWide<S>(from, src + c, m, f, iv, to_int);
        if (IsNarrowInt(to)) {
          uint8_t* d = y->data<uint8_t>() + c;
          for (int64_t k = 0; k < m; ++k) d[k] = static_cast<uint8_t>(WrapNarrowInt(to, iv[k]));
        } else if (to == DataType::kFloat8E8M0) {
          uint8_t* d = y->data<uint8_t>() + c;
          for (int64_t k = 0; k < m; ++k) d[k] = FloatToFloat8E8M0(f[k], opt.saturate, opt.rounding);
        } else if (IsNarrowFloat(to)) {
          uint8_t* d = y->data<uint8_t>() + c;
          for (int64_t k = 0; k < m; ++k) d[k] = FloatToNarrowFloat(to, f[k], opt.saturate);
        } else {
          DispatchAny(to, [&](auto dtag) {
            using D = typename decltype(dtag)::type;
            if (to_int) {
              for (int64_t k = 0; k < m; ++k) y->data<D>()[c + k] = ConvertValue<int64_t, D>(iv[k]);
            } else {
              ConvertRun<float, D>(f, y->data<D>() + c, m);
            }
          });
        }
      }
    });
  };
  if (IsNarrow(from)) {
    with_source(TypeTag<uint8_t>{});
    return Status::Ok();
  }
  if (!DispatchAny(from, with_source))
    return ctx.Error(std::string("cannot cast ") + DataTypeName(from) + " to " + DataTypeName(to));
  return Status::Ok();
}

Status CastTensor(KernelContext& ctx, const Tensor& x, DataType to, Tensor* y, const NarrowOptions& opt = {}) {
  if (IsNarrow(x.dtype()) || IsNarrow(to)) return CastNarrow(ctx, x, to, opt, y);
  const int64_t n = x.num_elements();
  bool ok = false;
  DispatchAny(x.dtype(), [&](auto stag) {
    using S = typename decltype(stag)::type;
    ok = DispatchAny(to, [&](auto dtag) {
      using D = typename decltype(dtag)::type;
      const S* src = x.data<S>();
      D* dst = y->data<D>();
      const bool heavy = std::is_same_v<S, std::string> || std::is_same_v<D, std::string>;
      ctx.pool().ParallelFor(n, heavy ? 1024 : kGrain,
                             [&](int64_t b, int64_t e) { ConvertRun<S, D>(src + b, dst + b, e - b); });
    });
  });
  if (!ok)
    return ctx.Error(std::string("cannot cast ") + DataTypeName(x.dtype()) + " to " + DataTypeName(to));
  return Status::Ok();
}

Status ParseNarrowOptions(const NodeInfo& n, NarrowOptions* opt) {
  opt->saturate = n.GetInt("saturate", 1) != 0;
  const std::string mode = n.GetString("round_mode", "up");
  if (mode == "up") opt->rounding = E8M0Rounding::kUp;
  else if (mode == "down") opt->rounding = E8M0Rounding::kDown;
  else if (mode == "nearest") opt->rounding = E8M0Rounding::kNearest;
  else return n.Error("round_mode must be 'up', 'down' or 'nearest', got '" + mode + "'");
  return Status::Ok();
}

class CastKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    int64_t to = 0;
    ASSIGN_OR_RETURN(to, n.RequireInt("to"));
    if (to <= 0 || to > 26 || !IsCastable(static_cast<DataType>(to)))
      return n.Unsupported("Cast to " + OnnxTypeName(to) + " is not supported (complex types are not implemented)");
    to_ = static_cast<DataType>(to);
    return ParseNarrowOptions(n, &opt_);
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "input");
    if (!IsCastable(x->dtype()))
      return Unimplemented(std::string("Cast from ") + DataTypeName(x->dtype()) + " is not supported");
    if (x->dtype() == to_) {
      ctx.SetOutputAlias(0, 0, x->shape());
      return Status::Ok();
    }
    Tensor* y = ctx.Output(0, to_, x->shape());
    return CastTensor(ctx, *x, to_, y, opt_);
  }

 private:
  DataType to_ = DataType::kFloat;
  NarrowOptions opt_;
};

class CastLikeKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) { return ParseNarrowOptions(n, &opt_); }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "input");
    REQUIRE_INPUT(like, 1, "target_type");
    const DataType to = like->dtype();
    if (!IsCastable(to) || !IsCastable(x->dtype()))
      return Unimplemented(std::string("CastLike from ") + DataTypeName(x->dtype()) + " to " + DataTypeName(to) +
                           " is not supported");
    if (x->dtype() == to) {
      ctx.SetOutputAlias(0, 0, x->shape());
      return Status::Ok();
    }
    Tensor* y = ctx.Output(0, to, x->shape());
    return CastTensor(ctx, *x, to, y, opt_);
  }

 private:
  NarrowOptions opt_;
};

// BitCast: the same bits read as another type of the same width (opset 26). Narrow types hold
// one element per byte (types.h), so between 4-bit (or 2-bit) types only the low bits carry
// over, sign-extended when the target is signed.
class BitCastKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    int64_t to = 0;
    ASSIGN_OR_RETURN(to, n.RequireInt("to"));
    to_ = static_cast<DataType>(to);
    if (to_ == DataType::kString || !IsSupportedDataType(static_cast<int32_t>(to)))
      return n.Unsupported("BitCast to " + OnnxTypeName(to) + " is not supported");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "input");
    const DataType from = x->dtype();
    if (from == DataType::kString || !IsSupportedDataType(static_cast<int32_t>(from)))
      return ctx.Error(std::string("BitCast from ") + DataTypeName(from) + " is not supported");
    if (BitWidth(from) != BitWidth(to_))
      return ctx.Error(std::string("BitCast needs types of one width: ") + DataTypeName(from) + " has " +
                       std::to_string(BitWidth(from)) + " bits, " + DataTypeName(to_) + " " + std::to_string(BitWidth(to_)));
    Tensor* y = ctx.Output(0, to_, x->shape());
    const int64_t n = x->num_elements();
    const int bits = BitWidth(to_);
    if (bits >= 8) {
      if (n > 0) std::memcpy(y->raw_data(), x->raw_data(), x->bytes());
      return Status::Ok();
    }
    const uint8_t* src = x->data<uint8_t>();
    uint8_t* dst = y->data<uint8_t>();
    const uint32_t mask = (1u << bits) - 1;
    const bool sign = to_ == DataType::kInt4 || to_ == DataType::kInt2;
    for (int64_t i = 0; i < n; ++i) {
      uint32_t v = src[i] & mask;
      if (sign && (v & (1u << (bits - 1)))) v |= ~mask;
      dst[i] = static_cast<uint8_t>(v);
    }
    return Status::Ok();
  }

 private:
  DataType to_ = DataType::kUndefined;
};

// ---------------------------------------------------------------------------------------------
// Constant, ConstantOfShape

class ConstantKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (n.has_attr("sparse_value")) return n.Unsupported("sparse_value constants are not supported");
    if (n.has_attr("value")) {
      ASSIGN_OR_RETURN(value_, n.GetTensor("value"));
    } else if (n.has_attr("value_float")) {
      value_ = Tensor::FromVector(std::vector<float>{n.GetFloat("value_float", 0)}, Shape{});
    } else if (n.has_attr("value_floats")) {
      auto v = n.GetFloats("value_floats");
      value_ = Tensor::FromVector(v, Shape{static_cast<int64_t>(v.size())});
    } else if (n.has_attr("value_int")) {
      value_ = Tensor::FromVector(std::vector<int64_t>{n.GetInt("value_int", 0)}, Shape{});
    } else if (n.has_attr("value_ints")) {
      auto v = n.GetInts("value_ints");
      value_ = Tensor::FromVector(v, Shape{static_cast<int64_t>(v.size())});
    } else if (n.has_attr("value_string")) {
      value_ = Tensor::FromVector(std::vector<std::string>{n.GetString("value_string", "")}, Shape{});
    } else if (n.has_attr("value_strings")) {
      auto v = n.GetStrings("value_strings");
      value_ = Tensor::FromVector(v, Shape{static_cast<int64_t>(v.size())});
    } else {
      return n.Error("no value attribute (value, value_float(s), value_int(s), value_string(s))");
    }
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    ctx.SetOutputValue(0, Value(value_));
    return Status::Ok();
  }

 private:
  Tensor value_;
};

class ConstantOfShapeKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (n.has_attr("value")) {
      ASSIGN_OR_RETURN(value_, n.GetTensor("value"));
      if (value_.num_elements() != 1) return n.Error("attribute 'value' must hold exactly one element");
    } else {
      value_ = Tensor::FromVector(std::vector<float>{0.0f}, Shape{1});
    }
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(s, 0, "input");
    if (s->dtype() != DataType::kInt64) return ctx.Error("input must be int64");
    if (s->rank() > 1) return ctx.Error("input must be 1-D");
    Shape out;
    out.Resize(static_cast<size_t>(s->num_elements()));
    for (int64_t i = 0; i < s->num_elements(); ++i) {
      out[i] = s->data<int64_t>()[i];
      if (out[i] < 0) return ctx.Error("shape " + out.ToString() + " has a negative dim");
    }
    Tensor* y = ctx.Output(0, value_.dtype(), out);
    const int64_t n = out.NumElements();
    auto fill = [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T v = value_.data<T>()[0];
      T* d = y->data<T>();
      ctx.pool().ParallelFor(n, kGrain * 4, [&](int64_t b, int64_t e) { std::fill(d + b, d + e, v); });
    };
    // Narrow types hold one byte per element (types.h).
    bool ok = IsNarrow(value_.dtype()) ? (fill(TypeTag<uint8_t>{}), true) : DispatchAny(value_.dtype(), fill);
    if (!ok) return ctx.Error(std::string("unsupported value type ") + DataTypeName(value_.dtype()));
    return Status::Ok();
  }

 private:
  Tensor value_;
};

// ---------------------------------------------------------------------------------------------
// Range

class RangeKernel : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(ts, 0, "start");
    REQUIRE_INPUT(tl, 1, "limit");
    REQUIRE_INPUT(td, 2, "delta");
    const DataType dt = ts->dtype();
    if (tl->dtype() != dt || td->dtype() != dt) return ctx.Error("start, limit and delta must have the same type");
    if (ts->num_elements() != 1 || tl->num_elements() != 1 || td->num_elements() != 1)
      return ctx.Error("start, limit and delta must be scalars");
    Status st = Status::Ok();
    bool ok = DispatchNumeric(dt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = ComputeType<T>;
      const C start = static_cast<C>(ts->data<T>()[0]), limit = static_cast<C>(tl->data<T>()[0]),
              delta = static_cast<C>(td->data<T>()[0]);
      if (delta == C(0)) {
        st = ctx.Error("delta is zero");
        return;
      }
      int64_t n = 0;
      if constexpr (std::is_integral_v<C>) {
        const int64_t s = static_cast<int64_t>(start), l = static_cast<int64_t>(limit), d = static_cast<int64_t>(delta);
        if (d > 0 && l > s) n = (l - s + d - 1) / d;
        else if (d < 0 && s > l) n = (s - l + (-d) - 1) / (-d);
      } else {
        const double q = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) / static_cast<double>(delta));
        n = q > 0 ? static_cast<int64_t>(q) : 0;
      }
      Tensor* y = ctx.Output(0, dt, Shape{n});
      T* out = y->data<T>();
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(start + static_cast<C>(i) * delta);
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(dt));
    return st;
  }
};

// ---------------------------------------------------------------------------------------------
// Dropout (inference only)

class DropoutKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    opset_ = n.opset();
    // Before opset 7, is_test = 0 asked for training behaviour; an inference engine runs every
    // Dropout as the identity, as other runtimes do for these old models.
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "data");
    if (opset_ >= 12) {
      const Tensor* tm = ctx.input(2);
      if (tm != nullptr && tm->num_elements() > 0 && tm->dtype() == DataType::kBool && tm->data<bool>()[0]) {
        double ratio = 0.5;
        if (const Tensor* rt = ctx.input(1); rt != nullptr && rt->num_elements() > 0) ratio = ScalarAsDouble(*rt);
        if (ratio != 0.0)
          return Unimplemented("node '" + ctx.node_name() + "' (Dropout): training_mode = true with ratio " +
                               std::to_string(ratio) + " is not supported (inference only)");
      }
    }
    ctx.SetOutputAlias(0, 0, x->shape());
    if (ctx.num_outputs() > 1 && ctx.has_output(1)) {
      if (opset_ >= 10) {
        Tensor* m = ctx.Output(1, DataType::kBool, x->shape());
        std::fill(m->data<bool>(), m->data<bool>() + m->num_elements(), true);
      } else {
        Tensor* m = ctx.Output(1, x->dtype(), x->shape());
        DispatchNumericOrBool(x->dtype(), [&](auto tag) {
          using T = typename decltype(tag)::type;
          const T one = static_cast<T>(static_cast<ComputeType<T>>(1));
          std::fill(m->data<T>(), m->data<T>() + m->num_elements(), one);
        });
      }
    }
    return Status::Ok();
  }

 private:
  int opset_ = 0;
};

// ---------------------------------------------------------------------------------------------
// EyeLike, OneHot, NonZero

class EyeLikeKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    k_ = n.GetInt("k", 0);
    if (n.has_attr("dtype")) {
      const int64_t dt = n.GetInt("dtype", 1);
      if (dt <= 0 || dt > 16 || !IsCastable(static_cast<DataType>(dt)) || dt == static_cast<int64_t>(DataType::kString))
        return n.Unsupported("dtype " + OnnxTypeName(dt) + " is not supported");
      dtype_ = static_cast<DataType>(dt);
    }
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "input");
    if (x->rank() != 2) return ctx.Error("input must be 2-D, got " + x->shape().ToString());
    const DataType dt = dtype_ == DataType::kUndefined ? x->dtype() : dtype_;
    Tensor* y = ctx.Output(0, dt, x->shape());
    const int64_t R = x->dim(0), C = x->dim(1);
    bool ok = DispatchNumericOrBool(dt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* d = y->data<T>();
      const T zero = static_cast<T>(static_cast<ComputeType<T>>(0)), one = static_cast<T>(static_cast<ComputeType<T>>(1));
      std::fill(d, d + R * C, zero);
      for (int64_t i = 0; i < R; ++i) {
        const int64_t j = i + k_;
        if (j >= 0 && j < C) d[i * C + j] = one;
      }
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(dt));
    return Status::Ok();
  }

 private:
  int64_t k_ = 0;
  DataType dtype_ = DataType::kUndefined;
};

class OneHotKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    axis_ = n.GetInt("axis", -1);
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(ind, 0, "indices");
    REQUIRE_INPUT(dt, 1, "depth");
    REQUIRE_INPUT(vals, 2, "values");
    if (dt->num_elements() != 1) return ctx.Error("depth must hold one element");
    if (vals->num_elements() != 2) return ctx.Error("values must hold two elements [off, on]");
    const int64_t depth = static_cast<int64_t>(ScalarAsDouble(*dt));
    if (depth < 1) return ctx.Error("depth must be positive, got " + std::to_string(depth));
    const int out_rank = ind->rank() + 1;
    int64_t a = axis_ < 0 ? axis_ + out_rank : axis_;
    if (a < 0 || a >= out_rank)
      return ctx.Error("axis " + std::to_string(axis_) + " is out of range for output rank " + std::to_string(out_rank));
    Shape out;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < ind->rank(); ++d) {
      if (d == a) out.PushBack(depth);
      out.PushBack(ind->dim(d));
      (d < a ? outer : inner) *= ind->dim(d);
    }
    if (a == ind->rank()) out.PushBack(depth);
    Tensor* y = ctx.Output(0, vals->dtype(), out);
    // Indices as int64 (any numeric type).
    Status st = Status::Ok();
    bool ok = DispatchAny(vals->dtype(), [&](auto vtag) {
      using V = typename decltype(vtag)::type;
      const V off = vals->data<V>()[0], on = vals->data<V>()[1];
      V* d = y->data<V>();
      const int64_t total = outer * depth * inner;
      for (int64_t i = 0; i < total; ++i) d[i] = off;
      bool iok = DispatchNumeric(ind->dtype(), [&](auto itag) {
        using I = typename decltype(itag)::type;
        const I* iv = ind->data<I>();
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t i = 0; i < inner; ++i) {
            int64_t v = static_cast<int64_t>(static_cast<ComputeType<I>>(iv[o * inner + i]));
            if (v < 0) v += depth;
            if (v < 0 || v >= depth) continue;
            d[(o * depth + v) * inner + i] = on;
          }
      });
      if (!iok) st = ctx.Error(std::string("unsupported indices type ") + DataTypeName(ind->dtype()));
    });
    if (!ok) return ctx.Error(std::string("unsupported values type ") + DataTypeName(vals->dtype()));
    return st;
  }

 private:
  int64_t axis_ = -1;
};

template <typename T>
inline bool IsNonZero(const T& v) {
  if constexpr (std::is_same_v<T, std::string>) return !v.empty();
  else return static_cast<ComputeType<T>>(v) != static_cast<ComputeType<T>>(0);
}

class NonZeroKernel : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "X");
    if (x->rank() > 64) return ctx.Error("rank too large");
    const int r = std::max(1, x->rank());
    Shape xs = x->rank() == 0 ? Shape{1} : x->shape();
    const int64_t n = x->num_elements();
    bool ok = DispatchAny(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* v = x->data<T>();
      int64_t nnz = 0;
      for (int64_t i = 0; i < n; ++i) nnz += IsNonZero(v[i]) ? 1 : 0;
      Tensor* y = ctx.Output(0, DataType::kInt64, Shape{r, nnz});
      int64_t* out = y->data<int64_t>();
      int64_t idx[64] = {};
      int64_t col = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (IsNonZero(v[i])) {
          for (int d = 0; d < r; ++d) out[d * nnz + col] = idx[d];
          ++col;
        }
        for (int d = r - 1; d >= 0; --d) {
          if (++idx[d] < xs[d]) break;
          idx[d] = 0;
        }
      }
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }
};

// ---------------------------------------------------------------------------------------------
// TopK

// Orders NaN after every number (and equal to itself), so sorts stay strict weak orderings.
template <typename C>
inline bool LessNan(const C& a, const C& b) {
  if constexpr (std::is_floating_point_v<C>) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
  }
  return a < b;
}

template <typename C>
inline bool EqualNan(const C& a, const C& b) {
  if constexpr (std::is_floating_point_v<C>) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  }
  return a == b;
}

class TopKKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    axis_ = n.GetInt("axis", -1);
    largest_ = n.GetInt("largest", 1) != 0;
    if (n.opset() < 10) {
      ASSIGN_OR_RETURN(k_attr_, n.RequireInt("k"));
      use_attr_ = true;
    }
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "X");
    int64_t k = k_attr_;
    if (!use_attr_) {
      REQUIRE_INPUT(kt, 1, "K");
      if (kt->num_elements() != 1) return ctx.Error("K must hold one element");
      if (kt->dtype() != DataType::kInt64) return ctx.Error("K must be int64");
      k = kt->data<int64_t>()[0];
    }
    const int r = x->rank();
    if (r == 0) return ctx.Error("input must have rank >= 1");
    int64_t a = axis_ < 0 ? axis_ + r : axis_;
    if (a < 0 || a >= r) return ctx.Error("axis " + std::to_string(axis_) + " is out of range for rank " + std::to_string(r));
    const int64_t dim = x->dim(static_cast<int>(a));
    if (k < 0 || k > dim)
      return ctx.Error("k = " + std::to_string(k) + " is out of range for axis " + std::to_string(a) + " of size " +
                       std::to_string(dim));
    Shape out = x->shape();
    out[a] = k;
    Tensor* yv = ctx.Output(0, x->dtype(), out);
    Tensor* yi = ctx.Output(1, DataType::kInt64, out);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < a; ++d) outer *= x->dim(d);
    for (int d = static_cast<int>(a) + 1; d < r; ++d) inner *= x->dim(d);
    const int64_t slices = outer * inner;
    if (slices == 0 || k == 0) return Status::Ok();
    bool ok = DispatchNumeric(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = ComputeType<T>;
      struct Item {
        C v;
        int64_t i;
      };
      const T* src = x->data<T>();
      T* ov = yv->data<T>();
      int64_t* oi = yi->data<int64_t>();
      const int64_t groups = std::min<int64_t>(slices, std::max(1, ctx.pool().num_threads()) * 4);
      Item* bufs = static_cast<Item*>(ctx.Scratch(static_cast<size_t>(groups * dim) * sizeof(Item)));
      const bool largest = largest_;
      auto cmp = [largest](const Item& p, const Item& q) {
        if (EqualNan(p.v, q.v)) return p.i < q.i;
        return largest ? LessNan(q.v, p.v) : LessNan(p.v, q.v);
      };
      const int64_t per = (slices + groups - 1) / groups;
      ctx.pool().ParallelFor(groups, (dim * per) >= kGrain ? 1 : groups, [&](int64_t gb, int64_t ge) {
        for (int64_t g = gb; g < ge; ++g) {
          Item* buf = bufs + g * dim;
          for (int64_t s = g * per; s < std::min(slices, (g + 1) * per); ++s) {
            const int64_t o = s / inner, in = s % inner;
            const T* base = src + o * dim * inner + in;
            for (int64_t j = 0; j < dim; ++j) buf[j] = Item{static_cast<C>(base[j * inner]), j};
            if (k < dim) std::partial_sort(buf, buf + k, buf + dim, cmp);
            else std::sort(buf, buf + dim, cmp);
            T* dv = ov + o * k * inner + in;
            int64_t* di = oi + o * k * inner + in;
            for (int64_t j = 0; j < k; ++j) {
              dv[j * inner] = static_cast<T>(buf[j].v);
              di[j * inner] = buf[j].i;
            }
          }
        }
      });
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  int64_t axis_ = -1;
  bool largest_ = true;
  bool use_attr_ = false;
  int64_t k_attr_ = 0;
};

// ---------------------------------------------------------------------------------------------
// CumSum, CumProd

template <bool kProd>
class CumulativeKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    exclusive_ = n.GetInt("exclusive", 0) != 0;
    reverse_ = n.GetInt("reverse", 0) != 0;
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "x");
    REQUIRE_INPUT(at, 1, "axis");
    if (at->num_elements() != 1) return ctx.Error("axis must be a scalar");
    if (at->dtype() != DataType::kInt64 && at->dtype() != DataType::kInt32) return ctx.Error("axis must be int32 or int64");
    const int64_t axis = ScalarAsInt64(*at);
    const int r = x->rank();
    if (r == 0) return ctx.Error("input must have rank >= 1");
    int64_t a = axis < 0 ? axis + r : axis;
    if (a < 0 || a >= r) return ctx.Error("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(r));
    Tensor* y = ctx.Output(0, x->dtype(), x->shape());
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < a; ++d) outer *= x->dim(d);
    for (int d = static_cast<int>(a) + 1; d < r; ++d) inner *= x->dim(d);
    const int64_t dim = x->dim(static_cast<int>(a));
    bool ok = DispatchNumeric(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = ComputeType<T>;
      const T* src = x->data<T>();
      T* dst = y->data<T>();
      const C ident = kProd ? C(1) : C(0);
      ctx.pool().ParallelFor(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, dim * inner)), [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) {
          const T* s = src + o * dim * inner;
          T* d = dst + o * dim * inner;
          for (int64_t step = 0; step < dim; ++step) {
            const int64_t t = reverse_ ? dim - 1 - step : step;
            T* drow = d + t * inner;
            if (step == 0) {
              if (exclusive_) {
                for (int64_t i = 0; i < inner; ++i) drow[i] = static_cast<T>(ident);
              } else {
                for (int64_t i = 0; i < inner; ++i) drow[i] = s[t * inner + i];
              }
              continue;
            }
            const int64_t prev = reverse_ ? t + 1 : t - 1;
            const T* prow = d + prev * inner;
            const T* xrow = s + (exclusive_ ? prev : t) * inner;
            for (int64_t i = 0; i < inner; ++i) {
              const C p = static_cast<C>(prow[i]), v = static_cast<C>(xrow[i]);
              drow[i] = static_cast<T>(kProd ? p * v : p + v);
            }
          }
        }
      });
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  bool exclusive_ = false, reverse_ = false;
};

// ---------------------------------------------------------------------------------------------
// Unique

template <typename T>
inline bool ElemLess(const T& a, const T& b) {
  if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool>) return a < b;
  else return LessNan(static_cast<ComputeType<T>>(a), static_cast<ComputeType<T>>(b));
}
template <typename T>
inline bool ElemEqual(const T& a, const T& b) {
  if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool>) return a == b;
  else return EqualNan(static_cast<ComputeType<T>>(a), static_cast<ComputeType<T>>(b));
}

class UniqueKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    sorted_ = n.GetInt("sorted", 1) != 0;
    has_axis_ = n.has_attr("axis");
    axis_ = n.GetInt("axis", 0);
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "X");
    int64_t outer = 1, dim = x->num_elements(), inner = 1;
    int64_t a = 0;
    const int r = x->rank();
    if (has_axis_) {
      a = axis_ < 0 ? axis_ + r : axis_;
      if (a < 0 || a >= r) return ctx.Error("axis " + std::to_string(axis_) + " is out of range for rank " + std::to_string(r));
      outer = 1;
      for (int d = 0; d < a; ++d) outer *= x->dim(d);
      for (int d = static_cast<int>(a) + 1; d < r; ++d) inner *= x->dim(d);
      dim = x->dim(static_cast<int>(a));
    }
    const int64_t n = dim;
    bool ok = DispatchAny(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* v = x->data<T>();
      // Slice j: elements v[(o * dim + j) * inner + i] for o, i.
      auto slice_cmp = [&](int64_t p, int64_t q) -> int {
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t i = 0; i < inner; ++i) {
            const T& ea = v[(o * dim + p) * inner + i];
            const T& eb = v[(o * dim + q) * inner + i];
            if (ElemLess(ea, eb)) return -1;
            if (ElemLess(eb, ea)) return 1;
          }
        return 0;
      };
      const size_t nb = static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(int64_t);
      int64_t* perm = static_cast<int64_t*>(ctx.Scratch(nb));
      int64_t* group_of = static_cast<int64_t*>(ctx.Scratch(nb));  // position -> group (sorted order)
      int64_t* first = static_cast<int64_t*>(ctx.Scratch(nb));     // group -> first position
      int64_t* count = static_cast<int64_t*>(ctx.Scratch(nb));     // group -> count
      int64_t* rank_of = static_cast<int64_t*>(ctx.Scratch(nb));   // sorted group -> output slot
      int64_t* order = static_cast<int64_t*>(ctx.Scratch(nb));     // output slot -> sorted group
      for (int64_t i = 0; i < n; ++i) perm[i] = i;
      std::sort(perm, perm + n, [&](int64_t p, int64_t q) {
        int c = slice_cmp(p, q);
        return c != 0 ? c < 0 : p < q;
      });
      int64_t u = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (i == 0 || slice_cmp(perm[i - 1], perm[i]) != 0) {
          first[u] = perm[i];
          count[u] = 0;
          ++u;
        }
        group_of[perm[i]] = u - 1;
        ++count[u - 1];
      }
      for (int64_t g = 0; g < u; ++g) order[g] = g;
      if (!sorted_) std::sort(order, order + u, [&](int64_t p, int64_t q) { return first[p] < first[q]; });
      for (int64_t s = 0; s < u; ++s) rank_of[order[s]] = s;
      Shape ys;
      if (has_axis_) {
        ys = x->shape();
        ys[a] = u;
      } else {
        ys = Shape{u};
      }
      Tensor* y = ctx.Output(0, x->dtype(), ys);
      T* yd = y->data<T>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t s = 0; s < u; ++s) {
          const int64_t j = first[order[s]];
          for (int64_t i = 0; i < inner; ++i) yd[(o * u + s) * inner + i] = v[(o * dim + j) * inner + i];
        }
      if (ctx.num_outputs() > 1) {
        Tensor* yi = ctx.Output(1, DataType::kInt64, Shape{u});
        for (int64_t s = 0; s < u; ++s) yi->data<int64_t>()[s] = first[order[s]];
      }
      if (ctx.num_outputs() > 2) {
        Tensor* yv = ctx.Output(2, DataType::kInt64, Shape{n});
        for (int64_t i = 0; i < n; ++i) yv->data<int64_t>()[i] = rank_of[group_of[i]];
      }
      if (ctx.num_outputs() > 3) {
        Tensor* yc = ctx.Output(3, DataType::kInt64, Shape{u});
        for (int64_t s = 0; s < u; ++s) yc->data<int64_t>()[s] = count[order[s]];
      }
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  bool sorted_ = true;
  bool has_axis_ = false;
  int64_t axis_ = 0;
};

}  // namespace

void RegisterTensorOps(OpRegistry& r) {
  r.Add("", "Cast", Factory<CastKernel>());
  r.Add("", "CastLike", Factory<CastLikeKernel>());
  r.Add("", "BitCast", Factory<BitCastKernel>(), 26);
  r.Add("", "Constant", Factory<ConstantKernel>());
  r.Add("", "ConstantOfShape", Factory<ConstantOfShapeKernel>());
  r.Add("", "Range", Factory<RangeKernel>());
  r.Add("", "Dropout", Factory<DropoutKernel>());
  r.Add("", "EyeLike", Factory<EyeLikeKernel>());
  r.Add("", "OneHot", Factory<OneHotKernel>());
  r.Add("", "NonZero", Factory<NonZeroKernel>());
  r.Add("", "TopK", Factory<TopKKernel>());
  r.Add("", "CumSum", Factory<CumulativeKernel<false>>());
  r.Add("", "CumProd", Factory<CumulativeKernel<true>>());
  r.Add("", "Unique", Factory<UniqueKernel>());
}

}  // namespace onnxd::engine
