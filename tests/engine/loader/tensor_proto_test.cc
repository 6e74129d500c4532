// TensorProto <-> Tensor for the narrow types: sub-byte values are packed on the wire (first
// element in the low bits) and unpacked, one per byte, in memory.
#include "loader/tensor_proto.h"

#include <gtest/gtest.h>

#include <vector>

#include "onnx/onnx-ml.pb.h"

namespace onnxd::engine {
namespace {

onnx::TensorProto Proto(DataType t, std::vector<int64_t> dims) {
  onnx::TensorProto p;
  p.set_name("w");
  p.set_data_type(static_cast<int32_t>(t));
  for (int64_t d : dims) p.add_dims(d);
  return p;
}

TEST(TensorProtoTest, Int4RawDataUnpacksWithSignExtension) {
  onnx::TensorProto p = Proto(DataType::kInt4, {3});
  p.set_raw_data(std::string("\xE1\x07", 2));  // 1, -2 | 7, (pad)
  auto t = TensorFromProto(p);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->num_elements(), 3);
  EXPECT_EQ(t->data<int8_t>()[0], 1);
  EXPECT_EQ(t->data<int8_t>()[1], -2);
  EXPECT_EQ(t->data<int8_t>()[2], 7);
}

TEST(TensorProtoTest, RawDataOfTheWrongPackedSizeIsRefused) {
  onnx::TensorProto p = Proto(DataType::kUInt4, {3});
  p.set_raw_data(std::string("\x01\x02\x03", 3));  // 3 elements pack into 2 bytes
  EXPECT_FALSE(TensorFromProto(p).ok());
}

TEST(TensorProtoTest, UInt2Int32DataHoldsOnePackedBytePerValue) {
  onnx::TensorProto p = Proto(DataType::kUInt2, {5});
  p.add_int32_data(0b11100100);  // 0, 1, 2, 3
  p.add_int32_data(0b10);        // 2
  auto t = TensorFromProto(p);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  const std::vector<uint8_t> want{0, 1, 2, 3, 2};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(t->data<uint8_t>()[i], want[i]) << i;
}

TEST(TensorProtoTest, Float8Int32DataHoldsOneBitPatternPerValue) {
  onnx::TensorProto p = Proto(DataType::kFloat8E4M3FN, {2});
  p.add_int32_data(0x7e);
  p.add_int32_data(0xb8);
  auto t = TensorFromProto(p);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(NarrowFloatToFloat(t->dtype(), t->data<uint8_t>()[0]), 448.0f);
  EXPECT_EQ(NarrowFloatToFloat(t->dtype(), t->data<uint8_t>()[1]), -1.0f);
}

TEST(TensorProtoTest, SubByteTypesRoundTripPacked) {
  for (DataType dt : {DataType::kInt4, DataType::kUInt4, DataType::kInt2, DataType::kUInt2, DataType::kFloat4E2M1}) {
    Tensor t = Tensor::Allocate(dt, Shape{7});
    for (int i = 0; i < 7; ++i) {
      const int32_t lo = NarrowIntMin(dt), span = dt == DataType::kFloat4E2M1 ? 16 : NarrowIntMax(dt) - lo + 1;
      t.data<uint8_t>()[i] = static_cast<uint8_t>(dt == DataType::kFloat4E2M1 ? (i * 5) % span : lo + (i * 5) % span);
    }
    onnx::TensorProto p;
    TensorToProto(t, &p);
    EXPECT_EQ(p.raw_data().size(), PackedBytes(dt, 7)) << DataTypeName(dt);
    auto back = TensorFromProto(p);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    for (int i = 0; i < 7; ++i) EXPECT_EQ(back->data<uint8_t>()[i], t.data<uint8_t>()[i]) << DataTypeName(dt) << " " << i;
  }
}

}  // namespace
}  // namespace onnxd::engine
