// Narrow element types: float8 / float4 / e8m0 decoding and encoding, narrow integer wrapping.
// (tests/python/test_narrow_types.py checks the same conversions against onnxruntime and the ONNX
// reference on every float16 value; these pin down the formats' landmarks.)
#include "onnxd/engine/types.h"

#include <gtest/gtest.h>

#include <cmath>

namespace onnxd {
namespace {

const DataType kNarrowFloats[] = {DataType::kFloat8E4M3FN, DataType::kFloat8E4M3FNUZ, DataType::kFloat8E5M2,
                                  DataType::kFloat8E5M2FNUZ, DataType::kFloat4E2M1};

TEST(NarrowTypesTest, SizesAndWidths) {
  for (DataType t : kNarrowFloats) EXPECT_EQ(ElementSize(t), 1u) << DataTypeName(t);
  EXPECT_EQ(ElementSize(DataType::kInt4), 1u);
  EXPECT_EQ(BitWidth(DataType::kInt4), 4);
  EXPECT_EQ(BitWidth(DataType::kUInt2), 2);
  EXPECT_EQ(BitWidth(DataType::kFloat8E5M2), 8);
  EXPECT_EQ(PackedBytes(DataType::kUInt4, 5), 3u);
  EXPECT_EQ(PackedBytes(DataType::kInt2, 5), 2u);
  EXPECT_EQ(PackedBytes(DataType::kFloat, 5), 20u);
  EXPECT_TRUE(IsSupportedDataType(22));
  EXPECT_STREQ(DataTypeName(DataType::kFloat8E4M3FNUZ), "float8e4m3fnuz");
}

TEST(NarrowTypesTest, DecodesTheFormatsLandmarks) {
  EXPECT_EQ(NarrowFloatToFloat(DataType::kFloat8E4M3FN, 0x7e), 448.0f);
  EXPECT_TRUE(std::isnan(NarrowFloatToFloat(DataType::kFloat8E4M3FN, 0xff)));
  EXPECT_EQ(NarrowFloatToFloat(DataType::kFloat8E4M3FN, 0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(NarrowFloatToFloat(DataType::kFloat8E4M3FN, 0x38), 1.0f);
  EXPECT_EQ(NarrowFloatToFloat(DataType::kFloat8E4M3FNUZ, 0x7f), 240.0f);
  EXPECT_TRUE(std::isnan(NarrowFloatToFloat(DataType::kFloat8E4M3FNUZ, 0x80)));
  EXPECT_EQ(NarrowFloatToFloat(DataType::kFloat8E5M2, 0x7b), 57344.0f);
  EXPECT_EQ(NarrowFloatToFloat(DataType::kFloat8E5M2, 0xfc), -INFINITY);
  EXPECT_TRUE(std::isnan(NarrowFloatToFloat(DataType::kFloat8E5M2, 0x7e)));
  EXPECT_EQ(NarrowFloatToFloat(DataType::kFloat8E5M2FNUZ, 0x7f), 57344.0f);
  EXPECT_EQ(NarrowFloatToFloat(DataType::kFloat8E5M2FNUZ, 0x01), std::ldexp(1.0f, -17));
  EXPECT_EQ(NarrowFloatToFloat(DataType::kFloat4E2M1, 0x7), 6.0f);
  EXPECT_EQ(NarrowFloatToFloat(DataType::kFloat4E2M1, 0x1), 0.5f);
  EXPECT_EQ(NarrowFloatToFloat(DataType::kFloat4E2M1, 0xb), -1.5f);
  EXPECT_EQ(NarrowFloatToFloat(DataType::kFloat8E8M0, 127), 1.0f);
  EXPECT_EQ(NarrowFloatToFloat(DataType::kFloat8E8M0, 0), std::ldexp(1.0f, -127));
  EXPECT_TRUE(std::isnan(NarrowFloatToFloat(DataType::kFloat8E8M0, 255)));
}

TEST(NarrowTypesTest, EveryCodeRoundTrips) {
  for (DataType t : kNarrowFloats) {
    const int codes = t == DataType::kFloat4E2M1 ? 16 : 256;
    for (int c = 0; c < codes; ++c) {
      const float v = NarrowFloatToFloat(t, static_cast<uint8_t>(c));
      if (std::isnan(v)) continue;
      EXPECT_EQ(FloatToNarrowFloat(t, v, false), c) << DataTypeName(t) << " code " << c << " = " << v;
      if (!std::isinf(v)) EXPECT_EQ(FloatToNarrowFloat(t, v, true), c) << DataTypeName(t) << " code " << c << " = " << v;
    }
  }
}

TEST(NarrowTypesTest, RoundsToNearestEven) {
  // 1 + 1/16 lies halfway between 1 (0x38, even) and 1.125 (0x39): down; 1 + 3/16: up to 1.25.
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat8E4M3FN, 1.0625f), 0x38);
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat8E4M3FN, 1.1875f), 0x3a);
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat8E4M3FN, std::nextafter(1.0625f, 2.0f)), 0x39);
  // Subnormals: 2^-10 is half the smallest e4m3fn step: ties to 0; 3 * 2^-10 ties up to 2 * 2^-9.
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat8E4M3FN, std::ldexp(1.0f, -10)), 0x00);
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat8E4M3FN, 3 * std::ldexp(1.0f, -10)), 0x02);
  // float4e2m1: 0.25 -> 0, 0.75 -> 1, 2.5 -> 2, 5 -> 4 (ties to the even code).
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat4E2M1, 0.25f), 0x0);
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat4E2M1, 0.75f), 0x2);
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat4E2M1, 2.5f), 0x4);
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat4E2M1, -5.0f), 0xe);
}

TEST(NarrowTypesTest, SaturatesOrOverflows) {
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat8E4M3FN, 464.0f, false), 0x7e);  // tie to even: 448
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat8E4M3FN, 470.0f, false), 0x7f);  // NaN
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat8E4M3FN, -1e6f, true), 0xfe);    // -448
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat8E4M3FN, INFINITY, false), 0x7f);
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat8E4M3FNUZ, 248.0f, false), 0x80);  // NaN
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat8E4M3FNUZ, -1e6f, true), 0xff);    // -240
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat8E4M3FNUZ, -0.0f), 0x00);           // no negative zero
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat8E5M2, 61440.0f, false), 0x7c);     // inf
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat8E5M2, -INFINITY, false), 0xfc);
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat8E5M2, INFINITY, true), 0x7b);
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat8E5M2, NAN), 0x7e);
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat8E5M2FNUZ, NAN), 0x80);
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat4E2M1, 100.0f, false), 0x7);  // float4 always saturates
  EXPECT_EQ(FloatToNarrowFloat(DataType::kFloat4E2M1, -INFINITY), 0xf);
}

TEST(NarrowTypesTest, E8M0RoundsByMode) {
  EXPECT_EQ(FloatToFloat8E8M0(1.0f, true, E8M0Rounding::kUp), 127);
  EXPECT_EQ(FloatToFloat8E8M0(1.1f, true, E8M0Rounding::kUp), 128);
  EXPECT_EQ(FloatToFloat8E8M0(1.9f, true, E8M0Rounding::kDown), 127);
  EXPECT_EQ(FloatToFloat8E8M0(1.4f, true, E8M0Rounding::kNearest), 127);
  EXPECT_EQ(FloatToFloat8E8M0(1.6f, true, E8M0Rounding::kNearest), 128);
  EXPECT_EQ(FloatToFloat8E8M0(-4.0f, true, E8M0Rounding::kUp), 129);  // no sign: the exponent only
  EXPECT_EQ(FloatToFloat8E8M0(3e38f, true, E8M0Rounding::kUp), 254);  // saturates at 2^127
  EXPECT_EQ(FloatToFloat8E8M0(3e38f, false, E8M0Rounding::kUp), 255);
  EXPECT_EQ(FloatToFloat8E8M0(INFINITY, true, E8M0Rounding::kUp), 255);
}

TEST(NarrowTypesTest, IntegersWrap) {
  EXPECT_EQ(WrapNarrowInt(DataType::kInt4, 8), -8);
  EXPECT_EQ(WrapNarrowInt(DataType::kInt4, -9), 7);
  EXPECT_EQ(WrapNarrowInt(DataType::kUInt4, -1), 15);
  EXPECT_EQ(WrapNarrowInt(DataType::kInt2, 2), -2);
  EXPECT_EQ(WrapNarrowInt(DataType::kUInt2, 300), 0);
  EXPECT_EQ(NarrowIntMin(DataType::kInt4), -8);
  EXPECT_EQ(NarrowIntMax(DataType::kUInt2), 3);
}

}  // namespace
}  // namespace onnxd
