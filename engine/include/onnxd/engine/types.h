// Element types of tensors. The numeric values equal onnx.TensorProto.DataType so that
// conversion to and from the wire formats is a cast.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace onnxd {

enum class DataType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBFloat16 = 16,
  kFloat8E4M3FN = 17,
  kFloat8E4M3FNUZ = 18,
  kFloat8E5M2 = 19,
  kFloat8E5M2FNUZ = 20,
  kUInt4 = 21,
  kInt4 = 22,
  kFloat4E2M1 = 23,
  kFloat8E8M0 = 24,
  kUInt2 = 25,
  kInt2 = 26,
};

// Narrow types (the four float8 formats, float8e8m0, float4e2m1, int4/uint4, int2/uint2) are held
// unpacked inside the engine, one element per byte:
//   - the float formats as their bit pattern (float4e2m1 in the low 4 bits);
//   - the integers as their value: int4/int2 sign-extended in an int8_t, uint4/uint2 in a uint8_t.
// So ElementSize() is 1 for all of them, data-movement kernels (Reshape, Transpose, Concat,
// Gather, Slice, ...) treat them as bytes, and DequantizeLinear reads int4 as int8. Only the wire
// format packs: TensorProto raw_data / int32_data / external data hold 4-bit types two per byte
// and 2-bit types four per byte, first element in the least significant bits
// (loader/tensor_proto.cc converts at that boundary; see BitWidth()).

// Bytes per element; 0 for kUndefined and for types the engine does not hold (complex).
// kString reports sizeof(std::string): string tensors hold constructed std::string objects.
size_t ElementSize(DataType t);
// ONNX spelling: "float", "int64", "string", ...
const char* DataTypeName(DataType t);
// KServe v2 / Triton spelling: "FP32", "INT64", "BYTES", ...
const char* DataTypeKServeName(DataType t);
// Parses either spelling (case-sensitive for KServe names); kUndefined when unknown.
DataType DataTypeFromKServeName(std::string_view name);
bool IsSupportedDataType(int32_t onnx_type);
// The wide floating-point types kernels compute in (float8/float4 are not among them: see IsNarrowFloat).
inline bool IsFloatingPoint(DataType t) {
  return t == DataType::kFloat || t == DataType::kDouble || t == DataType::kFloat16 ||
         t == DataType::kBFloat16;
}

// float8e4m3fn, float8e4m3fnuz, float8e5m2, float8e5m2fnuz, float8e8m0, float4e2m1.
inline bool IsNarrowFloat(DataType t) {
  return (t >= DataType::kFloat8E4M3FN && t <= DataType::kFloat8E5M2FNUZ) || t == DataType::kFloat4E2M1 ||
         t == DataType::kFloat8E8M0;
}
// int4, uint4, int2, uint2.
inline bool IsNarrowInt(DataType t) {
  return t == DataType::kInt4 || t == DataType::kUInt4 || t == DataType::kInt2 || t == DataType::kUInt2;
}
inline bool IsFloat8(DataType t) { return t >= DataType::kFloat8E4M3FN && t <= DataType::kFloat8E5M2FNUZ; }
// Bits per element on the wire: 4 for int4/uint4/float4e2m1, 2 for int2/uint2, else 8 * ElementSize.
int BitWidth(DataType t);
// Bytes that n elements take packed on the wire (ceil(n * BitWidth / 8)).
size_t PackedBytes(DataType t, int64_t n);
// Value range of a narrow integer type (int4: [-8, 7], uint2: [0, 3], ...).
int32_t NarrowIntMin(DataType t);
int32_t NarrowIntMax(DataType t);
// Two's-complement wrap of v into a narrow integer type, as numpy / ml_dtypes astype do.
int32_t WrapNarrowInt(DataType t, int64_t v);

// Narrow floats <-> float. Decoding is exact (a table lookup). Encoding rounds to nearest even, as
// ml_dtypes (the ONNX reference) does. With `saturate`, out-of-range values and infinities become
// the largest finite value of that sign; without it they become inf (float8e5m2) or NaN (the
// formats without inf). float4e2m1 has neither inf nor NaN and always saturates; NaN becomes a
// zero (ml_dtypes' choice). float8e8m0 (2^(e-127), no sign) encodes with FloatToFloat8E8M0.
float NarrowFloatToFloat(DataType t, uint8_t bits);
uint8_t FloatToNarrowFloat(DataType t, float f, bool saturate = true);
enum class E8M0Rounding { kUp, kDown, kNearest };
// The ONNX rounding of float8e8m0 (numpy_helper.to_float8e8m0): the float's exponent, rounded up,
// down or to nearest by its mantissa; NaN and inf become 0xFF (NaN).
uint8_t FloatToFloat8E8M0(float f, bool saturate, E8M0Rounding rounding);

// IEEE 754 half precision, stored as bits; arithmetic goes through float.
struct Float16 {
  uint16_t bits = 0;
  Float16() = default;
  explicit Float16(float f) : bits(FromFloat(f)) {}
  operator float() const { return ToFloat(bits); }  // NOLINT: implicit widening is intended
  static uint16_t FromFloat(float f);
  static float ToFloat(uint16_t h);
};

// bfloat16: the top 16 bits of a float32, rounded to nearest even.
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  explicit BFloat16(float f) : bits(FromFloat(f)) {}
  operator float() const {  // NOLINT
    uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  static uint16_t FromFloat(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
  }
};

template <typename T> struct DataTypeOf;
template <> struct DataTypeOf<float> { static constexpr DataType value = DataType::kFloat; };
template <> struct DataTypeOf<double> { static constexpr DataType value = DataType::kDouble; };
template <> struct DataTypeOf<Float16> { static constexpr DataType value = DataType::kFloat16; };
template <> struct DataTypeOf<BFloat16> { static constexpr DataType value = DataType::kBFloat16; };
template <> struct DataTypeOf<int8_t> { static constexpr DataType value = DataType::kInt8; };
template <> struct DataTypeOf<int16_t> { static constexpr DataType value = DataType::kInt16; };
template <> struct DataTypeOf<int32_t> { static constexpr DataType value = DataType::kInt32; };
template <> struct DataTypeOf<int64_t> { static constexpr DataType value = DataType::kInt64; };
template <> struct DataTypeOf<uint8_t> { static constexpr DataType value = DataType::kUInt8; };
template <> struct DataTypeOf<uint16_t> { static constexpr DataType value = DataType::kUInt16; };
template <> struct DataTypeOf<uint32_t> { static constexpr DataType value = DataType::kUInt32; };
template <> struct DataTypeOf<uint64_t> { static constexpr DataType value = DataType::kUInt64; };
template <> struct DataTypeOf<bool> { static constexpr DataType value = DataType::kBool; };
template <> struct DataTypeOf<std::string> { static constexpr DataType value = DataType::kString; };

}  // namespace onnxd
