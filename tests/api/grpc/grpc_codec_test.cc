// The gRPC codec: ModelInferRequest -> InferRequest (typed and raw contents, BYTES, errors) and
// InferResponse -> ModelInferResponse (raw outputs, non-tensor outputs as JSON BYTES).
#include "grpc/grpc_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

namespace onnxd::api::grpc_codec {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;

ModelInferRequest::InferInputTensor* AddInput(ModelInferRequest* req, const std::string& name,
                                               const std::string& dtype, std::vector<int64_t> shape) {
  auto* in = req->add_inputs();
  in->set_name(name);
  in->set_datatype(dtype);
  for (int64_t d : shape) in->add_shape(d);
  return in;
}

ModelInferRequest BaseRequest() {
  ModelInferRequest req;
  req.set_model_name("m");
  req.set_model_version("1");
  req.set_id("req-1");
  return req;
}

template <typename T>
std::string RawOf(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

std::string LengthPrefixed(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    uint32_t n = static_cast<uint32_t>(s.size());
    char p[4] = {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                 static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 24) & 0xff)};
    out.append(p, 4);
    out += s;
  }
  return out;
}

void ExpectInvalid(const ModelInferRequest& req, const std::string& needle1, const std::string& needle2 = "") {
  server::InferRequest r;
  Status s = DecodeInferRequest(req, &r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.message();
  EXPECT_NE(s.message().find(needle1), std::string::npos) << s.message();
  if (!needle2.empty()) EXPECT_NE(s.message().find(needle2), std::string::npos) << s.message();
}

TEST(GrpcCodecDecode, TypedFp32IsAViewOfTheMessage) {
  ModelInferRequest req = BaseRequest();
  auto* in = AddInput(&req, "x", "FP32", {2, 2});
  for (float f : {1.f, 2.f, 3.f, 4.f}) in->mutable_contents()->add_fp32_contents(f);
  auto* p = req.add_outputs();
  p->set_name("y");
  (*p->mutable_parameters())["classification"].set_int64_param(2);
  (*req.mutable_parameters())["custom"].set_string_param("v");

  server::InferRequest r;
  ASSERT_TRUE(DecodeInferRequest(req, &r).ok());
  EXPECT_EQ(r.model_name, "m");
  EXPECT_EQ(r.model_version, "1");
  EXPECT_EQ(r.id, "req-1");
  ASSERT_EQ(r.inputs.size(), 1u);
  const Tensor& t = r.inputs[0].tensor;
  EXPECT_EQ(t.dtype(), DataType::kFloat);
  EXPECT_EQ(t.shape(), (Shape{2, 2}));
  EXPECT_EQ(t.data<float>(), req.inputs(0).contents().fp32_contents().data());
  EXPECT_FLOAT_EQ(t.data<float>()[3], 4.f);
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0].name, "y");
  EXPECT_EQ(std::get<int64_t>(r.outputs[0].parameters.at("classification")), 2);
  EXPECT_EQ(std::get<std::string>(r.parameters.at("custom")), "v");
  EXPECT_EQ(r.deadline, std::chrono::steady_clock::time_point::max());
}

TEST(GrpcCodecDecode, TypedIntegerTypes) {
  ModelInferRequest req = BaseRequest();
  auto* a = AddInput(&req, "i8", "INT8", {3});
  for (int v : {-128, 0, 127}) a->mutable_contents()->add_int_contents(v);
  auto* b = AddInput(&req, "u16", "UINT16", {2});
  for (unsigned v : {0u, 65535u}) b->mutable_contents()->add_uint_contents(v);
  auto* c = AddInput(&req, "i64", "INT64", {2});
  for (int64_t v : {int64_t{-5}, int64_t{1} << 40}) c->mutable_contents()->add_int64_contents(v);
  auto* d = AddInput(&req, "b", "BOOL", {2});
  d->mutable_contents()->add_bool_contents(true);
  d->mutable_contents()->add_bool_contents(false);
  auto* e = AddInput(&req, "f64", "FP64", {1});
  e->mutable_contents()->add_fp64_contents(2.5);
  auto* f = AddInput(&req, "u64", "UINT64", {1});
  f->mutable_contents()->add_uint64_contents(~uint64_t{0});
  auto* g = AddInput(&req, "u8", "UINT8", {1});
  g->mutable_contents()->add_uint_contents(255);

  server::InferRequest r;
  Status s = DecodeInferRequest(req, &r);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(r.inputs.size(), 7u);
  EXPECT_EQ(r.inputs[0].tensor.dtype(), DataType::kInt8);
  EXPECT_EQ(r.inputs[0].tensor.data<int8_t>()[0], -128);
  EXPECT_EQ(r.inputs[0].tensor.data<int8_t>()[2], 127);
  EXPECT_EQ(r.inputs[1].tensor.data<uint16_t>()[1], 65535);
  EXPECT_EQ(r.inputs[2].tensor.data<int64_t>()[1], int64_t{1} << 40);
  EXPECT_TRUE(r.inputs[3].tensor.data<bool>()[0]);
  EXPECT_FALSE(r.inputs[3].tensor.data<bool>()[1]);
  EXPECT_DOUBLE_EQ(r.inputs[4].tensor.data<double>()[0], 2.5);
  EXPECT_EQ(r.inputs[5].tensor.data<uint64_t>()[0], ~uint64_t{0});
  EXPECT_EQ(r.inputs[6].tensor.data<uint8_t>()[0], 255);
}

TEST(GrpcCodecDecode, TypedOutOfRangeNamesTheInput) {
  ModelInferRequest req = BaseRequest();
  auto* a = AddInput(&req, "small", "INT8", {1});
  a->mutable_contents()->add_int_contents(200);
  ExpectInvalid(req, "'small'", "out of range");
}

TEST(GrpcCodecDecode, TypedBytes) {
  ModelInferRequest req = BaseRequest();
  auto* in = AddInput(&req, "s", "BYTES", {2, 1});
  in->mutable_contents()->add_bytes_contents("hello");
  in->mutable_contents()->add_bytes_contents(std::string("a\0b", 3));
  server::InferRequest r;
  ASSERT_TRUE(DecodeInferRequest(req, &r).ok());
  const Tensor& t = r.inputs[0].tensor;
  EXPECT_EQ(t.dtype(), DataType::kString);
  EXPECT_EQ(t.shape(), (Shape{2, 1}));
  EXPECT_EQ(t.data<std::string>()[0], "hello");
  EXPECT_EQ(t.data<std::string>()[1], std::string("a\0b", 3));
}

TEST(GrpcCodecDecode, RawNumericIsAViewOfTheMessage) {
  ModelInferRequest req = BaseRequest();
  AddInput(&req, "x", "FP32", {1, 3});
  AddInput(&req, "y", "INT64", {2});
  AddInput(&req, "h", "FP16", {2});
  req.add_raw_input_contents(RawOf<float>({1.5f, -2.f, 3.f}));
  req.add_raw_input_contents(RawOf<int64_t>({7, 8}));
  req.add_raw_input_contents(RawOf<uint16_t>({Float16(1.f).bits, Float16(-0.5f).bits}));
  server::InferRequest r;
  Status s = DecodeInferRequest(req, &r);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(r.inputs.size(), 3u);
  EXPECT_EQ(r.inputs[0].tensor.raw_data(), static_cast<const void*>(req.raw_input_contents(0).data()));
  EXPECT_FLOAT_EQ(r.inputs[0].tensor.data<float>()[1], -2.f);
  EXPECT_EQ(r.inputs[1].tensor.data<int64_t>()[1], 8);
  EXPECT_EQ(r.inputs[2].tensor.dtype(), DataType::kFloat16);
  EXPECT_FLOAT_EQ(static_cast<float>(r.inputs[2].tensor.data<Float16>()[1]), -0.5f);
}

TEST(GrpcCodecDecode, RawBytes) {
  ModelInferRequest req = BaseRequest();
  AddInput(&req, "s", "BYTES", {3});
  req.add_raw_input_contents(LengthPrefixed({"ab", "", "xyz"}));
  server::InferRequest r;
  Status s = DecodeInferRequest(req, &r);
  ASSERT_TRUE(s.ok()) << s.message();
  const Tensor& t = r.inputs[0].tensor;
  EXPECT_EQ(t.data<std::string>()[0], "ab");
  EXPECT_EQ(t.data<std::string>()[1], "");
  EXPECT_EQ(t.data<std::string>()[2], "xyz");
}

TEST(GrpcCodecDecode, RawBytesTruncatedOrTrailing) {
  {
    ModelInferRequest req = BaseRequest();
    AddInput(&req, "s", "BYTES", {2});
    std::string raw = LengthPrefixed({"ab", "cdef"});
    raw.resize(raw.size() - 1);
    req.add_raw_input_contents(raw);
    ExpectInvalid(req, "'s'", "element 1");
  }
  {
    ModelInferRequest req = BaseRequest();
    AddInput(&req, "s", "BYTES", {2});
    req.add_raw_input_contents(LengthPrefixed({"ab"}));
    ExpectInvalid(req, "'s'", "element 1");
  }
  {
    ModelInferRequest req = BaseRequest();
    AddInput(&req, "s", "BYTES", {1});
    req.add_raw_input_contents(LengthPrefixed({"ab", "c"}));
    ExpectInvalid(req, "'s'", "after the 1 elements");
  }
}

TEST(GrpcCodecDecode, RawSizeMismatch) {
  ModelInferRequest req = BaseRequest();
  AddInput(&req, "x", "FP32", {2, 2});
  req.add_raw_input_contents(RawOf<float>({1, 2, 3}));
  ExpectInvalid(req, "'x'", "expected 16 bytes");
}

TEST(GrpcCodecDecode, RawCountMustMatchInputs) {
  ModelInferRequest req = BaseRequest();
  AddInput(&req, "x", "FP32", {1});
  AddInput(&req, "y", "FP32", {1});
  req.add_raw_input_contents(RawOf<float>({1}));
  ExpectInvalid(req, "2 inputs but 1 raw_input_contents");
}

TEST(GrpcCodecDecode, RawAndTypedMixedIsRejected) {
  ModelInferRequest req = BaseRequest();
  AddInput(&req, "x", "FP32", {1});
  auto* y = AddInput(&req, "y", "FP32", {1});
  y->mutable_contents()->add_fp32_contents(1.f);
  req.add_raw_input_contents(RawOf<float>({1}));
  req.add_raw_input_contents(RawOf<float>({1}));
  ExpectInvalid(req, "'y'", "raw_input_contents");
}

TEST(GrpcCodecDecode, ElementCountMismatch) {
  ModelInferRequest req = BaseRequest();
  auto* in = AddInput(&req, "x", "FP32", {2, 3});
  for (int i = 0; i < 5; ++i) in->mutable_contents()->add_fp32_contents(1.f);
  ExpectInvalid(req, "'x'", "expected 6 elements in fp32_contents for shape [2,3], got 5");
}

TEST(GrpcCodecDecode, WrongContentsType) {
  ModelInferRequest req = BaseRequest();
  auto* in = AddInput(&req, "x", "FP32", {1});
  in->mutable_contents()->add_int_contents(1);
  ExpectInvalid(req, "'x'", "int_contents");
}

TEST(GrpcCodecDecode, Fp16NeedsRaw) {
  ModelInferRequest req = BaseRequest();
  auto* in = AddInput(&req, "h", "FP16", {1});
  in->mutable_contents()->add_fp32_contents(1.f);
  ExpectInvalid(req, "'h'", "raw_input_contents");
}

TEST(GrpcCodecDecode, BadDatatypeName) {
  ModelInferRequest req = BaseRequest();
  AddInput(&req, "x", "float", {1})->mutable_contents()->add_fp32_contents(1.f);
  ExpectInvalid(req, "'x'", "unknown datatype 'float'");
  ModelInferRequest req2 = BaseRequest();
  AddInput(&req2, "x", "FP8", {1});
  ExpectInvalid(req2, "'x'", "unknown datatype 'FP8'");
}

TEST(GrpcCodecDecode, NegativeDim) {
  ModelInferRequest req = BaseRequest();
  AddInput(&req, "x", "FP32", {-1, 2});
  ExpectInvalid(req, "'x'", "dim 0");
}

TEST(GrpcCodecDecode, HugeShapeIsRejectedWithoutAllocating) {
  ModelInferRequest req = BaseRequest();
  AddInput(&req, "x", "FP32", {1 << 30, 1 << 30, 1 << 30});
  req.add_raw_input_contents("");
  ExpectInvalid(req, "'x'", "too many elements");
}

TEST(GrpcCodecDecode, DuplicateInput) {
  ModelInferRequest req = BaseRequest();
  AddInput(&req, "x", "FP32", {1})->mutable_contents()->add_fp32_contents(1.f);
  AddInput(&req, "x", "FP32", {1})->mutable_contents()->add_fp32_contents(1.f);
  ExpectInvalid(req, "'x'", "more than once");
}

TEST(GrpcCodecDecode, EmptyTensorHasNoContents) {
  ModelInferRequest req = BaseRequest();
  AddInput(&req, "x", "FP32", {0, 4});
  server::InferRequest r;
  ASSERT_TRUE(DecodeInferRequest(req, &r).ok());
  EXPECT_EQ(r.inputs[0].tensor.num_elements(), 0);
}

TEST(GrpcCodecDecode, TimeoutParameterSetsDeadline) {
  ModelInferRequest req = BaseRequest();
  (*req.mutable_parameters())["timeout"].set_int64_param(250000);  // 250 ms
  server::InferRequest r;
  ASSERT_TRUE(DecodeInferRequest(req, &r).ok());
  EXPECT_EQ(r.deadline - r.received, std::chrono::microseconds(250000));

  ModelInferRequest bad = BaseRequest();
  (*bad.mutable_parameters())["timeout"].set_string_param("1s");
  ExpectInvalid(bad, "timeout");
}

TEST(GrpcCodecDecode, ParameterWithoutValue) {
  ModelInferRequest req = BaseRequest();
  (*req.mutable_parameters())["p"];  // no oneof set
  ExpectInvalid(req, "'p'", "no value");
}

TEST(GrpcCodecEncode, RawTensorOutputs) {
  server::InferResponse resp;
  resp.model_name = "m";
  resp.model_version = "1";
  resp.id = "abc";
  resp.parameters["sequence_id"] = int64_t{3};
  resp.outputs.push_back({"y", Tensor::FromVector<float>({1.f, 2.f, 3.f, 4.f}, Shape{2, 2}), {}});
  Tensor s = Tensor::Allocate(DataType::kString, Shape{2});
  s.data<std::string>()[0] = "hi";
  s.data<std::string>()[1] = "there";
  resp.outputs.push_back({"s", s, {}});
  resp.outputs.push_back({"b", Tensor::FromVector<bool>({true, false, true}, Shape{3}), {}});

  ModelInferResponse out;
  ASSERT_TRUE(EncodeInferResponse(resp, &out).ok());
  EXPECT_EQ(out.model_name(), "m");
  EXPECT_EQ(out.model_version(), "1");
  EXPECT_EQ(out.id(), "abc");
  EXPECT_EQ(out.parameters().at("sequence_id").int64_param(), 3);
  ASSERT_EQ(out.outputs_size(), 3);
  ASSERT_EQ(out.raw_output_contents_size(), 3);
  EXPECT_EQ(out.outputs(0).name(), "y");
  EXPECT_EQ(out.outputs(0).datatype(), "FP32");
  ASSERT_EQ(out.outputs(0).shape_size(), 2);
  EXPECT_EQ(out.outputs(0).shape(0), 2);
  EXPECT_FALSE(out.outputs(0).has_contents());
  EXPECT_EQ(out.raw_output_contents(0), RawOf<float>({1.f, 2.f, 3.f, 4.f}));
  EXPECT_EQ(out.outputs(1).datatype(), "BYTES");
  EXPECT_EQ(out.raw_output_contents(1), LengthPrefixed({"hi", "there"}));
  EXPECT_EQ(out.outputs(2).datatype(), "BOOL");
  EXPECT_EQ(out.raw_output_contents(2), std::string("\x01\x00\x01", 3));
}

TEST(GrpcCodecEncode, ZipMapRowsBecomeJsonBytes) {
  std::vector<Value> rows;
  rows.push_back(Value::Map(Tensor::FromVector<int64_t>({0, 1}, Shape{2}),
                            Tensor::FromVector<float>({0.9f, 0.1f}, Shape{2})));
  rows.push_back(Value::Map(Tensor::FromVector<int64_t>({0, 1}, Shape{2}),
                            Tensor::FromVector<float>({0.25f, 0.75f}, Shape{2})));
  Tensor keys = Tensor::Allocate(DataType::kString, Shape{1});
  keys.data<std::string>()[0] = "a\"b";
  rows.push_back(Value::Map(keys, Tensor::FromVector<float>({1.f}, Shape{1})));

  server::InferResponse resp;
  resp.model_name = "zm";
  resp.outputs.push_back({"probabilities", Value::Sequence(std::move(rows)), {}});
  ModelInferResponse out;
  ASSERT_TRUE(EncodeInferResponse(resp, &out).ok());
  ASSERT_EQ(out.outputs_size(), 1);
  EXPECT_EQ(out.outputs(0).datatype(), "BYTES");
  ASSERT_EQ(out.outputs(0).shape_size(), 1);
  EXPECT_EQ(out.outputs(0).shape(0), 3);
  EXPECT_EQ(out.outputs(0).parameters().at("content_type").string_param(), "application/json");
  EXPECT_EQ(out.raw_output_contents(0),
            LengthPrefixed({R"({"0":0.9,"1":0.1})", R"({"0":0.25,"1":0.75})", R"({"a\"b":1})"}));
}

TEST(GrpcCodecEncode, ValueJsonNestedTensorsAndNonFinite) {
  std::string s;
  AppendValueJson(Value::Sequence({Value(Tensor::FromVector<float>({1.f, 2.5f, 3.f, 4.f}, Shape{2, 2})),
                                   Value(Tensor::FromVector<double>({std::nan(""), -INFINITY}, Shape{2}))}),
                  &s);
  EXPECT_EQ(s, "[[[1,2.5],[3,4]],[NaN,-Infinity]]");
}

TEST(GrpcCodecEncode, ParametersRoundTrip) {
  server::Parameters in{{"b", true}, {"i", int64_t{-2}}, {"s", std::string("x")}, {"d", 0.5}, {"u", uint64_t{9}}};
  google::protobuf::Map<std::string, inference::InferParameter> wire;
  EncodeParameters(in, &wire);
  server::Parameters back;
  ASSERT_TRUE(DecodeParameters(wire, "test", &back).ok());
  EXPECT_EQ(back, in);
}

}  // namespace
}  // namespace onnxd::api::grpc_codec
