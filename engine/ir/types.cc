#include "onnxd/engine/types.h"

#include <array>
#include <cmath>
#include <limits>
#include <string>

namespace onnxd {

size_t ElementSize(DataType t) {
  switch (t) {
    case DataType::kFloat: return 4;
    case DataType::kUInt8: return 1;
    case DataType::kInt8: return 1;
    case DataType::kUInt16: return 2;
    case DataType::kInt16: return 2;
    case DataType::kInt32: return 4;
    case DataType::kInt64: return 8;
    case DataType::kString: return sizeof(std::string);
    case DataType::kBool: return 1;
    case DataType::kFloat16: return 2;
    case DataType::kDouble: return 8;
    case DataType::kUInt32: return 4;
    case DataType::kUInt64: return 8;
    case DataType::kBFloat16: return 2;
    // Narrow types: unpacked, one element per byte (see types.h).
    case DataType::kFloat8E4M3FN:
    case DataType::kFloat8E4M3FNUZ:
    case DataType::kFloat8E5M2:
    case DataType::kFloat8E5M2FNUZ:
    case DataType::kUInt4:
    case DataType::kInt4:
    case DataType::kFloat4E2M1:
    case DataType::kFloat8E8M0:
    case DataType::kUInt2:
    case DataType::kInt2: return 1;
    default: return 0;
  }
}

const char* DataTypeName(DataType t) {
  switch (t) {
    case DataType::kFloat: return "float";
    case DataType::kUInt8: return "uint8";
    case DataType::kInt8: return "int8";
    case DataType::kUInt16: return "uint16";
    case DataType::kInt16: return "int16";
    case DataType::kInt32: return "int32";
    case DataType::kInt64: return "int64";
    case DataType::kString: return "string";
    case DataType::kBool: return "bool";
    case DataType::kFloat16: return "float16";
    case DataType::kDouble: return "double";
    case DataType::kUInt32: return "uint32";
    case DataType::kUInt64: return "uint64";
    case DataType::kComplex64: return "complex64";
    case DataType::kComplex128: return "complex128";
    case DataType::kBFloat16: return "bfloat16";
    case DataType::kFloat8E4M3FN: return "float8e4m3fn";
    case DataType::kFloat8E4M3FNUZ: return "float8e4m3fnuz";
    case DataType::kFloat8E5M2: return "float8e5m2";
    case DataType::kFloat8E5M2FNUZ: return "float8e5m2fnuz";
    case DataType::kUInt4: return "uint4";
    case DataType::kInt4: return "int4";
    case DataType::kFloat4E2M1: return "float4e2m1";
    case DataType::kFloat8E8M0: return "float8e8m0";
    case DataType::kUInt2: return "uint2";
    case DataType::kInt2: return "int2";
    default: return "undefined";
  }
}

const char* DataTypeKServeName(DataType t) {
  switch (t) {
    case DataType::kFloat: return "FP32";
    case DataType::kUInt8: return "UINT8";
    case DataType::kInt8: return "INT8";
    case DataType::kUInt16: return "UINT16";
    case DataType::kInt16: return "INT16";
    case DataType::kInt32: return "INT32";
    case DataType::kInt64: return "INT64";
    case DataType::kString: return "BYTES";
    case DataType::kBool: return "BOOL";
    case DataType::kFloat16: return "FP16";
    case DataType::kDouble: return "FP64";
    case DataType::kUInt32: return "UINT32";
    case DataType::kUInt64: return "UINT64";
    case DataType::kBFloat16: return "BF16";
    default: return "INVALID";
  }
}

DataType DataTypeFromKServeName(std::string_view name) {
  static const DataType kAll[] = {DataType::kFloat,  DataType::kUInt8,  DataType::kInt8,    DataType::kUInt16,
                                  DataType::kInt16,  DataType::kInt32,  DataType::kInt64,   DataType::kString,
                                  DataType::kBool,   DataType::kFloat16, DataType::kDouble, DataType::kUInt32,
                                  DataType::kUInt64, DataType::kBFloat16};
  for (DataType t : kAll) {
    if (name == DataTypeKServeName(t) || name == DataTypeName(t)) return t;
  }
  return DataType::kUndefined;
}

bool IsSupportedDataType(int32_t onnx_type) {
  return ElementSize(static_cast<DataType>(onnx_type)) != 0;
}

int BitWidth(DataType t) {
  switch (t) {
    case DataType::kUInt4:
    case DataType::kInt4:
    case DataType::kFloat4E2M1: return 4;
    case DataType::kUInt2:
    case DataType::kInt2: return 2;
    default: return static_cast<int>(ElementSize(t) * 8);
  }
}

size_t PackedBytes(DataType t, int64_t n) {
  const int bits = BitWidth(t);
  if (bits >= 8) return static_cast<size_t>(n) * ElementSize(t);
  return (static_cast<size_t>(n) * static_cast<size_t>(bits) + 7) / 8;
}

int32_t NarrowIntMin(DataType t) {
  switch (t) {
    case DataType::kInt4: return -8;
    case DataType::kInt2: return -2;
    default: return 0;
  }
}

int32_t NarrowIntMax(DataType t) {
  switch (t) {
    case DataType::kInt4: return 7;
    case DataType::kUInt4: return 15;
    case DataType::kInt2: return 1;
    case DataType::kUInt2: return 3;
    default: return 0;
  }
}

int32_t WrapNarrowInt(DataType t, int64_t v) {
  const uint64_t u = static_cast<uint64_t>(v);
  switch (t) {
    case DataType::kInt4: return static_cast<int32_t>((u & 0xfu) ^ 0x8u) - 8;
    case DataType::kUInt4: return static_cast<int32_t>(u & 0xfu);
    case DataType::kInt2: return static_cast<int32_t>((u & 0x3u) ^ 0x2u) - 2;
    case DataType::kUInt2: return static_cast<int32_t>(u & 0x3u);
    default: return static_cast<int32_t>(v);
  }
}

namespace {

// A small float format: sign, `exp_bits` exponent bits with `bias`, `mant_bits` mantissa bits.
struct MiniFloat {
  int bits;          // total width (8, or 4 for float4e2m1)
  int exp_bits, mant_bits, bias;
  enum Special { kFn, kFnuz, kIeee, kNone } special;  // how NaN / inf are encoded
  uint8_t max_code;  // largest finite magnitude code: what rounds above it overflows
};

// E4M3FN: NaN = S.1111.111, no inf. FNUZ: NaN = 0x80, no inf, no -0. E5M2: IEEE-like.
constexpr MiniFloat kE4M3FN{8, 4, 3, 7, MiniFloat::kFn, 0x7e};
constexpr MiniFloat kE4M3FNUZ{8, 4, 3, 8, MiniFloat::kFnuz, 0x7f};
constexpr MiniFloat kE5M2{8, 5, 2, 15, MiniFloat::kIeee, 0x7b};
constexpr MiniFloat kE5M2FNUZ{8, 5, 2, 16, MiniFloat::kFnuz, 0x7f};
constexpr MiniFloat kE2M1{4, 2, 1, 1, MiniFloat::kNone, 0x7};

const MiniFloat* FormatOf(DataType t) {
  switch (t) {
    case DataType::kFloat8E4M3FN: return &kE4M3FN;
    case DataType::kFloat8E4M3FNUZ: return &kE4M3FNUZ;
    case DataType::kFloat8E5M2: return &kE5M2;
    case DataType::kFloat8E5M2FNUZ: return &kE5M2FNUZ;
    case DataType::kFloat4E2M1: return &kE2M1;
    default: return nullptr;
  }
}

float Decode(const MiniFloat& f, uint32_t code) {
  const uint32_t sign_bit = 1u << (f.bits - 1);
  const uint32_t mag = code & (sign_bit - 1);
  const bool neg = (code & sign_bit) != 0;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const uint32_t exp_field = mag >> f.mant_bits;
  const uint32_t mant = mag & ((1u << f.mant_bits) - 1);
  switch (f.special) {
    case MiniFloat::kFnuz:
      if (code == sign_bit) return nan;
      break;
    case MiniFloat::kFn:
      if (mag == sign_bit - 1) return neg ? -nan : nan;
      break;
    case MiniFloat::kIeee:
      if (exp_field == (1u << f.exp_bits) - 1) {
        if (mant != 0) return neg ? -nan : nan;
        return neg ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
      }
      break;
    case MiniFloat::kNone: break;
  }
  float v;
  if (exp_field == 0) v = std::ldexp(static_cast<float>(mant), 1 - f.bias - f.mant_bits);
  else v = std::ldexp(static_cast<float>(mant | (1u << f.mant_bits)), static_cast<int>(exp_field) - f.bias - f.mant_bits);
  return neg ? -v : v;
}

uint8_t Encode(const MiniFloat& f, float x, bool saturate) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  const bool neg = (u >> 31) != 0;
  const uint32_t abs = u & 0x7fffffffu;
  const uint8_t sign_bit = static_cast<uint8_t>(1u << (f.bits - 1));
  const uint8_t sbit = neg ? sign_bit : 0;
  if (f.special == MiniFloat::kNone) saturate = true;
  if (abs > 0x7f800000u) {  // NaN
    switch (f.special) {
      case MiniFloat::kFn: return static_cast<uint8_t>(sbit | 0x7f);
      case MiniFloat::kFnuz: return 0x80;
      case MiniFloat::kIeee: return static_cast<uint8_t>(sbit | 0x7e);
      case MiniFloat::kNone: return neg ? 0 : sign_bit;  // ml_dtypes maps NaN to a zero of the other sign
    }
  }
  const float a = std::fabs(x);
  auto overflow = [&]() -> uint8_t {
    if (saturate) return static_cast<uint8_t>(sbit | f.max_code);
    switch (f.special) {
      case MiniFloat::kFn: return static_cast<uint8_t>(sbit | 0x7f);
      case MiniFloat::kIeee: return static_cast<uint8_t>(sbit | 0x7c);
      default: return 0x80;
    }
  };
  const int emin = 1 - f.bias;  // exponent of the smallest normal
  const int e = static_cast<int>(abs >> 23) - 127;
  uint32_t code;
  if (e < emin) {
    // Subnormal (or zero) in the target: the count of its smallest steps, rounded to nearest even
    // (the scaling by a power of two is exact).
    code = static_cast<uint32_t>(std::nearbyint(std::ldexp(a, f.mant_bits - emin)));
  } else {
    const int shift = 23 - f.mant_bits;
    const uint32_t mant = abs & 0x7fffffu;
    code = (static_cast<uint32_t>(e - emin + 1) << f.mant_bits) | (mant >> shift);
    const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (code & 1u))) ++code;  // a carry moves into the exponent
  }
  // Rounded past the largest finite value (inf lands here too: its exponent field is all ones).
  if (code > f.max_code) return overflow();
  if (code == 0 && f.special == MiniFloat::kFnuz) return 0;  // no negative zero
  return static_cast<uint8_t>(sbit | code);
}

using DecodeTable = std::array<float, 256>;

DecodeTable MakeTable(DataType t) {
  DecodeTable table{};
  if (t == DataType::kFloat8E8M0) {
    for (int i = 0; i < 255; ++i) table[i] = std::ldexp(1.0f, i - 127);
    table[255] = std::numeric_limits<float>::quiet_NaN();
  } else if (const MiniFloat* f = FormatOf(t)) {
    for (int i = 0; i < (1 << f->bits); ++i) table[i] = Decode(*f, static_cast<uint32_t>(i));
  }
  return table;
}

}  // namespace

float NarrowFloatToFloat(DataType t, uint8_t bits) {
  static const DecodeTable kTables[] = {
      MakeTable(DataType::kFloat8E4M3FN), MakeTable(DataType::kFloat8E4M3FNUZ), MakeTable(DataType::kFloat8E5M2),
      MakeTable(DataType::kFloat8E5M2FNUZ), MakeTable(DataType::kFloat4E2M1), MakeTable(DataType::kFloat8E8M0)};
  switch (t) {
    case DataType::kFloat8E4M3FN: return kTables[0][bits];
    case DataType::kFloat8E4M3FNUZ: return kTables[1][bits];
    case DataType::kFloat8E5M2: return kTables[2][bits];
    case DataType::kFloat8E5M2FNUZ: return kTables[3][bits];
    case DataType::kFloat4E2M1: return kTables[4][bits & 0xfu];
    case DataType::kFloat8E8M0: return kTables[5][bits];
    default: return std::numeric_limits<float>::quiet_NaN();
  }
}

uint8_t FloatToNarrowFloat(DataType t, float f, bool saturate) {
  if (t == DataType::kFloat8E8M0) return FloatToFloat8E8M0(f, saturate, E8M0Rounding::kUp);
  const MiniFloat* fmt = FormatOf(t);
  return fmt != nullptr ? Encode(*fmt, f, saturate) : 0;
}

uint8_t FloatToFloat8E8M0(float f, bool saturate, E8M0Rounding rounding) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint32_t exponent = (u >> 23) & 0xffu;  // the sign is dropped: e8m0 has none
  if (exponent == 0xffu) return 0xff;
  bool round_up = false;
  switch (rounding) {
    case E8M0Rounding::kNearest: {
      const bool g = (u & 0x400000u) != 0, r = (u & 0x200000u) != 0, s = (u & 0x1fffffu) != 0;
      round_up = g && (r || s || exponent > 0);
      break;
    }
    case E8M0Rounding::kUp: round_up = (u & 0x7fffffu) != 0; break;
    case E8M0Rounding::kDown: break;
  }
  if (saturate && exponent == 0xfeu) round_up = false;
  return static_cast<uint8_t>(exponent + (round_up ? 1u : 0u));
}

uint16_t Float16::FromFloat(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or NaN
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs < 0x38800000u) {  // subnormal half or zero
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);
    uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    // value = mant * 2^(e-150) and the half subnormal unit is 2^-24, so h = mant >> (126 - e).
    int shift = 126 - static_cast<int>(abs >> 23);
    uint32_t h = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t e = (abs >> 23) - 112;
  uint32_t mant = abs & 0x7fffffu;
  uint32_t h = (e << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float Float16::ToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu;
  uint32_t m = h & 0x3ffu;
  uint32_t out;
  if (e == 0) {
    if (m == 0) {
      out = sign;
    } else {  // subnormal
      int shift = 0;
      while ((m & 0x400u) == 0) {
        m <<= 1;
        ++shift;
      }
      m &= 0x3ffu;
      out = sign | (static_cast<uint32_t>(113 - shift) << 23) | (m << 13);
    }
  } else if (e == 31) {
    out = sign | 0x7f800000u | (m << 13);
  } else {
    out = sign | ((e + 112) << 23) | (m << 13);
  }
  float f;
  std::memcpy(&f, &out, 4);
  return f;
}

}  // namespace onnxd
