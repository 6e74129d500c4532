// KServe v2 JSON codec: request decoding (flat / nested / scalar data, every datatype, the binary
// tensor data extension, BYTES length prefixes), the error messages, response encoding (JSON,
// binary, non-tensor outputs) and protobuf -> JSON.
#include "http/json_codec.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "model_config.pb.h"

namespace onnxd::api::http {
namespace {

using server::InferRequest;
using server::InferResponse;
using json = nlohmann::json;

Status Decode(const std::string& text, InferRequest* req, std::span<const uint8_t> binary = {}) {
  return DecodeInferRequest(text, binary, req);
}

// Decodes and expects an INVALID_ARGUMENT whose message contains every one of `parts`.
void ExpectError(const std::string& text, std::initializer_list<std::string> parts,
                 std::span<const uint8_t> binary = {}, StatusCode code = StatusCode::kInvalidArgument) {
  InferRequest req;
  Status s = Decode(text, &req, binary);
  ASSERT_FALSE(s.ok()) << text;
  EXPECT_EQ(s.code(), code) << s.message();
  for (const auto& p : parts) EXPECT_NE(s.message().find(p), std::string::npos) << s.message() << " lacks " << p;
}

std::string LE32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(JsonCodecTest, DecodesFlatData) {
  InferRequest req;
  ASSERT_TRUE(Decode(R"({"id":"a1","inputs":[{"name":"x","shape":[2,3],"datatype":"FP32",
                        "data":[1,2,3,4.5,5,-6]}]})",
                     &req)
                  .ok());
  EXPECT_EQ(req.id, "a1");
  ASSERT_EQ(req.inputs.size(), 1u);
  const Tensor& t = req.inputs[0].tensor;
  EXPECT_EQ(t.dtype(), DataType::kFloat);
  EXPECT_EQ(t.shape(), Shape({2, 3}));
  EXPECT_FLOAT_EQ(t.data<float>()[3], 4.5f);
  EXPECT_FLOAT_EQ(t.data<float>()[5], -6.f);
  EXPECT_TRUE(req.outputs.empty());
}

TEST(JsonCodecTest, DecodesNestedDataRowMajor) {
  InferRequest req;
  ASSERT_TRUE(Decode(R"({"inputs":[{"name":"x","shape":[2,2],"datatype":"INT64",
                        "data":[[1,2],[3,-4]]}]})",
                     &req)
                  .ok());
  const Tensor& t = req.inputs[0].tensor;
  EXPECT_EQ(t.dtype(), DataType::kInt64);
  EXPECT_EQ((std::vector<int64_t>(t.data<int64_t>(), t.data<int64_t>() + 4)),
            (std::vector<int64_t>{1, 2, 3, -4}));
}

TEST(JsonCodecTest, DecodesDataBeforeDatatypeAndShape) {
  InferRequest req;
  ASSERT_TRUE(Decode(R"({"inputs":[{"data":[[1,2],[3,4]],"name":"x","datatype":"UINT16","shape":[4]}]})", &req).ok());
  const Tensor& t = req.inputs[0].tensor;
  EXPECT_EQ(t.dtype(), DataType::kUInt16);
  EXPECT_EQ(t.data<uint16_t>()[3], 4);
  InferRequest req2;
  ASSERT_TRUE(Decode(R"({"inputs":[{"data":["a","bc"],"name":"s","datatype":"BYTES","shape":[2]}]})", &req2).ok());
  EXPECT_EQ(req2.inputs[0].tensor.data<std::string>()[1], "bc");
}

TEST(JsonCodecTest, DecodesEveryDatatype) {
  struct Case {
    const char* dt;
    const char* data;
    DataType type;
  };
  const Case cases[] = {
      {"BOOL", "[true,false]", DataType::kBool},      {"UINT8", "[0,255]", DataType::kUInt8},
      {"UINT16", "[0,65535]", DataType::kUInt16},     {"UINT32", "[0,4294967295]", DataType::kUInt32},
      {"UINT64", "[0,18446744073709551615]", DataType::kUInt64},
      {"INT8", "[-128,127]", DataType::kInt8},        {"INT16", "[-32768,32767]", DataType::kInt16},
      {"INT32", "[-2147483648,2147483647]", DataType::kInt32},
      {"INT64", "[-9223372036854775808,9223372036854775807]", DataType::kInt64},
      {"FP16", "[0.5,-2]", DataType::kFloat16},       {"FP32", "[0.5,-2]", DataType::kFloat},
      {"FP64", "[0.5,-2]", DataType::kDouble},        {"BF16", "[0.5,-2]", DataType::kBFloat16},
      {"BYTES", R"(["x","yz"])", DataType::kString},
  };
  for (const Case& c : cases) {
    InferRequest req;
    std::string text = std::string(R"({"inputs":[{"name":"v","shape":[2],"datatype":")") + c.dt +
                       R"(","data":)" + c.data + "}]}";
    Status s = Decode(text, &req);
    ASSERT_TRUE(s.ok()) << c.dt << ": " << s.message();
    EXPECT_EQ(req.inputs[0].tensor.dtype(), c.type) << c.dt;
  }
  InferRequest req;
  ASSERT_TRUE(Decode(R"({"inputs":[{"name":"v","shape":[2],"datatype":"UINT64","data":[0,18446744073709551615]}]})", &req).ok());
  EXPECT_EQ(req.inputs[0].tensor.data<uint64_t>()[1], 18446744073709551615ull);
  ASSERT_TRUE(Decode(R"({"inputs":[{"name":"v","shape":[2],"datatype":"FP16","data":[0.5,-2]}]})", &req).ok());
  EXPECT_FLOAT_EQ(static_cast<float>(req.inputs[0].tensor.data<Float16>()[1]), -2.f);
}

TEST(JsonCodecTest, ScalarDataAndEmptyTensors) {
  InferRequest req;
  ASSERT_TRUE(Decode(R"({"inputs":[{"name":"s","shape":[],"datatype":"INT32","data":7}]})", &req).ok());
  EXPECT_EQ(req.inputs[0].tensor.rank(), 0);
  EXPECT_EQ(req.inputs[0].tensor.data<int32_t>()[0], 7);
  InferRequest req2;
  ASSERT_TRUE(Decode(R"({"inputs":[{"name":"e","shape":[0,3],"datatype":"FP32","data":[]}]})", &req2).ok());
  EXPECT_EQ(req2.inputs[0].tensor.num_elements(), 0);
}

TEST(JsonCodecTest, ParametersOutputsAndTimeout) {
  InferRequest req;
  ASSERT_TRUE(Decode(R"({"parameters":{"timeout":5000,"binary_data_output":true,"tag":"t","f":0.5},
                        "inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],
                        "outputs":[{"name":"y","parameters":{"binary_data":false,"classification":3}}]})",
                     &req)
                  .ok());
  EXPECT_EQ(std::get<bool>(req.parameters.at("binary_data_output")), true);
  EXPECT_EQ(std::get<int64_t>(req.parameters.at("timeout")), 5000);
  EXPECT_EQ(std::get<std::string>(req.parameters.at("tag")), "t");
  EXPECT_DOUBLE_EQ(std::get<double>(req.parameters.at("f")), 0.5);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(req.deadline - req.received).count();
  EXPECT_EQ(us, 5000);
  ASSERT_EQ(req.outputs.size(), 1u);
  EXPECT_EQ(req.outputs[0].name, "y");
  EXPECT_EQ(std::get<bool>(req.outputs[0].parameters.at("binary_data")), false);
  EXPECT_EQ(std::get<int64_t>(req.outputs[0].parameters.at("classification")), 3);
}

TEST(JsonCodecTest, ErrorMessagesNameTheProblem) {
  ExpectError("{nope", {"failed to parse the request JSON"});
  ExpectError("[1]", {"must be a JSON object"});
  ExpectError(R"({"inputs":{}})", {"'inputs' must be an array"});
  ExpectError(R"({})", {"no 'inputs'"});
  ExpectError(R"({"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]})", {"input 0", "'name'"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[1],"data":[1]}]})", {"input 'x'", "'datatype'"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[1],"datatype":"float","data":[1]}]})",
              {"input 'x'", "unknown datatype 'float'", "FP32"});
  ExpectError(R"({"inputs":[{"name":"x","datatype":"FP32","data":[1]}]})", {"input 'x'", "'shape'"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[2,-3],"datatype":"FP32","data":[1]}]})",
              {"input 'x'", "dim 1", "-3"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[1.5],"datatype":"FP32","data":[1]}]})",
              {"input 'x'", "dim 0", "integer"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[4294967296,4294967296],"datatype":"FP32","data":[1]}]})",
              {"input 'x'", "too many elements"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[100000000000],"datatype":"FP32","data":[1,2]}]})",
              {"input 'x'", "needs 100000000000 elements", "has 2"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3]]}]})",
              {"input 'x'", "needs 4 elements", "has 3"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[2],"datatype":"UINT8","data":[1,256]}]})",
              {"input 'x'", "element 1", "256", "out of range for UINT8"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[2],"datatype":"INT8","data":[1,-129]}]})",
              {"input 'x'", "element 1", "out of range for INT8"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[2],"datatype":"INT32","data":[1,2.5]}]})",
              {"input 'x'", "element 1", "integer"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,"a"]}]})",
              {"input 'x'", "element 1", "expected a number for FP32"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":[1]}]})",
              {"input 'x'", "element 0", "expected a string for BYTES"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[1],"datatype":"BOOL","data":[2]}]})",
              {"input 'x'", "BOOL"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,null]}]})",
              {"input 'x'", "element 1", "null"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,{"a":[1,{}]}]}]})",
              {"input 'x'", "element 1", "objects"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[2],"datatype":"FP32"}]})",
              {"input 'x'", "no 'data'"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]},
                            {"name":"x","shape":[1],"datatype":"FP32","data":[1]}]})",
              {"input 'x'", "more than once"});
  ExpectError(R"({"id":3,"inputs":[]})", {"'id' must be a string"});
  ExpectError(R"({"parameters":{"p":[1]},"inputs":[]})", {"parameter 'p'"});
  ExpectError(R"({"inputs":[],"outputs":[{"parameters":{}}]})", {"output 0", "'name'"});
  ExpectError(R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"shared_memory_region":"r"}}]})",
              {"input 'x'", "shared memory"}, {}, StatusCode::kUnimplemented);
}

TEST(JsonCodecTest, SplitsBinaryBody) {
  std::string header = R"({"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]})";
  float v[2] = {1.5f, -2.5f};
  std::string body = header + std::string(reinterpret_cast<const char*>(v), 8);
  std::string_view js;
  std::span<const uint8_t> bin;
  ASSERT_TRUE(SplitInferBody(body, header.size(), &js, &bin).ok());
  EXPECT_EQ(js, header);
  EXPECT_EQ(bin.size(), 8u);
  ASSERT_TRUE(SplitInferBody(body, std::nullopt, &js, &bin).ok());
  EXPECT_EQ(js.size(), body.size());
  EXPECT_TRUE(bin.empty());
  Status s = SplitInferBody(body, body.size() + 1, &js, &bin);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("Inference-Header-Content-Length"), std::string::npos);
}

TEST(JsonCodecTest, BinaryInputsAreViewsWhenAligned) {
  std::string header = R"({"inputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},
                                     {"name":"b","shape":[1],"datatype":"INT64","data":[9]},
                                     {"name":"c","shape":[3],"datatype":"INT32","parameters":{"binary_data_size":12}}]})";
  alignas(64) uint8_t bin[20];
  float a[2] = {1.5f, -2.5f};
  int32_t c[3] = {7, 8, 9};
  std::memcpy(bin, a, 8);
  std::memcpy(bin + 8, c, 12);
  InferRequest req;
  Status s = Decode(header, &req, std::span<const uint8_t>(bin, 20));
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(req.inputs.size(), 3u);
  EXPECT_EQ(req.inputs[0].tensor.raw_data(), static_cast<void*>(bin));  // no copy
  EXPECT_EQ(req.inputs[0].tensor.buffer(), nullptr);
  EXPECT_FLOAT_EQ(req.inputs[0].tensor.data<float>()[1], -2.5f);
  EXPECT_EQ(req.inputs[1].tensor.data<int64_t>()[0], 9);
  EXPECT_EQ(req.inputs[2].tensor.raw_data(), static_cast<void*>(bin + 8));
  EXPECT_EQ(req.inputs[2].tensor.data<int32_t>()[2], 9);

  // Misaligned binary data is copied rather than viewed.
  alignas(64) uint8_t shifted[21];
  std::memcpy(shifted + 1, bin, 20);
  InferRequest req2;
  ASSERT_TRUE(Decode(header, &req2, std::span<const uint8_t>(shifted + 1, 20)).ok());
  EXPECT_NE(req2.inputs[0].tensor.buffer(), nullptr);
  EXPECT_FLOAT_EQ(req2.inputs[0].tensor.data<float>()[0], 1.5f);
}

TEST(JsonCodecTest, BinaryBytesLengthPrefixes) {
  std::string data = LE32(3) + "abc" + LE32(0) + LE32(2) + std::string("\x00\xff", 2);
  std::string header = R"({"inputs":[{"name":"s","shape":[3],"datatype":"BYTES","parameters":{"binary_data_size":)" +
                       std::to_string(data.size()) + "}}]}";
  InferRequest req;
  ASSERT_TRUE(Decode(header, &req, Bytes(data)).ok());
  const std::string* s = req.inputs[0].tensor.data<std::string>();
  EXPECT_EQ(s[0], "abc");
  EXPECT_EQ(s[1], "");
  EXPECT_EQ(s[2], std::string("\x00\xff", 2));
}

TEST(JsonCodecTest, BinaryErrors) {
  auto hdr = [](const std::string& name, const std::string& dt, const std::string& shape, size_t size) {
    return R"({"inputs":[{"name":")" + name + R"(","shape":)" + shape + R"(,"datatype":")" + dt +
           R"(","parameters":{"binary_data_size":)" + std::to_string(size) + "}}]}";
  };
  std::string eight(8, '\0');
  ExpectError(hdr("x", "FP32", "[2]", 12), {"input 'x'", "binary_data_size 12", "past the end"}, Bytes(eight));
  std::string twelve(12, '\0');
  ExpectError(hdr("x", "FP32", "[2]", 12), {"input 'x'", "12 bytes", "[2]", "needs 8 bytes"}, Bytes(twelve));
  ExpectError(hdr("x", "FP32", "[2]", 8), {"12 bytes of binary data", "add up to 8"}, Bytes(twelve));
  // BYTES: a length running past the data, a truncated prefix, leftover bytes, too few bytes.
  std::string d1 = LE32(30) + "abc";
  ExpectError(hdr("s", "BYTES", "[1]", d1.size()), {"input 's'", "BYTES element 0", "length 30"}, Bytes(d1));
  std::string d2 = LE32(3) + "abc" + std::string("\x01\x00", 2);
  ExpectError(hdr("s", "BYTES", "[2]", d2.size()), {"input 's'", "BYTES element 1", "4-byte length prefix"},
              Bytes(d2));
  std::string d3 = LE32(3) + "abcxy";
  ExpectError(hdr("s", "BYTES", "[1]", d3.size()), {"input 's'", "use 7 bytes", "binary_data_size is 9"}, Bytes(d3));
  std::string d4 = LE32(0);
  ExpectError(hdr("s", "BYTES", "[1000000]", d4.size()), {"input 's'", "at least 4000000 bytes"}, Bytes(d4));
  std::string d5 = "\x01\x07";
  ExpectError(hdr("b", "BOOL", "[2]", 2), {"input 'b'", "BOOL element 1"}, Bytes(d5));
  std::string both = R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],"parameters":{"binary_data_size":4}}]})";
  ExpectError(both, {"input 'x'", "both 'data' and"}, Bytes(std::string(4, '\0')));
  ExpectError(hdr("x", "FP32", "[1]", 0).replace(hdr("x", "FP32", "[1]", 0).find("0}}"), 1, "-4"),
              {"input 'x'", "binary_data_size", "non-negative"});
}

InferResponse SimpleResponse() {
  InferResponse r;
  r.model_name = "m";
  r.model_version = "1";
  r.id = "id7";
  r.outputs.push_back({"y", Value(Tensor::FromVector<float>({1.5f, -2.f, 3.f, 0.25f}, {2, 2})), {}});
  r.outputs.push_back({"z", Value(Tensor::FromVector<std::string>({"ab", "q\"\n"}, {2})), {}});
  return r;
}

TEST(JsonCodecTest, EncodesJsonResponse) {
  InferRequest req;
  EncodedInferResponse enc;
  ASSERT_TRUE(EncodeInferResponse(req, SimpleResponse(), &enc).ok());
  EXPECT_FALSE(enc.header_length.has_value());
  json j = json::parse(enc.body);
  EXPECT_EQ(j["model_name"], "m");
  EXPECT_EQ(j["model_version"], "1");
  EXPECT_EQ(j["id"], "id7");
  ASSERT_EQ(j["outputs"].size(), 2u);
  EXPECT_EQ(j["outputs"][0]["datatype"], "FP32");
  EXPECT_EQ(j["outputs"][0]["shape"], json::array({2, 2}));
  EXPECT_EQ(j["outputs"][0]["data"], json::array({1.5, -2.0, 3.0, 0.25}));
  EXPECT_EQ(j["outputs"][1]["datatype"], "BYTES");
  EXPECT_EQ(j["outputs"][1]["data"], json::array({"ab", "q\"\n"}));
}

TEST(JsonCodecTest, EncodesBinaryOutputsAndSelection) {
  InferRequest req;
  req.outputs.push_back({"z", {{"binary_data", true}}});
  EncodedInferResponse enc;
  ASSERT_TRUE(EncodeInferResponse(req, SimpleResponse(), &enc).ok());
  ASSERT_TRUE(enc.header_length.has_value());
  json j = json::parse(enc.body.substr(0, *enc.header_length));
  ASSERT_EQ(j["outputs"].size(), 1u);  // only the requested output
  EXPECT_EQ(j["outputs"][0]["name"], "z");
  EXPECT_EQ(j["outputs"][0]["parameters"]["binary_data_size"], 4 + 2 + 4 + 3);
  EXPECT_EQ(enc.body.substr(*enc.header_length), LE32(2) + "ab" + LE32(3) + "q\"\n");

  // Request-level binary_data_output applies to all outputs; numeric data is raw little-endian.
  InferRequest all;
  all.parameters["binary_data_output"] = true;
  ASSERT_TRUE(EncodeInferResponse(all, SimpleResponse(), &enc).ok());
  ASSERT_TRUE(enc.header_length.has_value());
  json j2 = json::parse(enc.body.substr(0, *enc.header_length));
  EXPECT_EQ(j2["outputs"][0]["parameters"]["binary_data_size"], 16);
  float f[4];
  std::memcpy(f, enc.body.data() + *enc.header_length, 16);
  EXPECT_FLOAT_EQ(f[1], -2.f);
  EXPECT_EQ(enc.body.size(), *enc.header_length + 16 + 13);
}

TEST(JsonCodecTest, EncodesZipMapRowsAsJsonObjects) {
  std::vector<Value> rows;
  rows.push_back(Value::Map(Tensor::FromVector<int64_t>({0, 1}, {2}), Tensor::FromVector<float>({0.75f, 0.25f}, {2})));
  rows.push_back(Value::Map(Tensor::FromVector<int64_t>({0, 1}, {2}), Tensor::FromVector<float>({0.5f, 0.5f}, {2})));
  InferResponse resp;
  resp.model_name = "iris";
  resp.model_version = "1";
  resp.outputs.push_back({"probs", Value::Sequence(std::move(rows)), {}});
  InferRequest req;
  EncodedInferResponse enc;
  ASSERT_TRUE(EncodeInferResponse(req, resp, &enc).ok());
  json j = json::parse(enc.body);
  const json& o = j["outputs"][0];
  EXPECT_EQ(o["datatype"], "BYTES");
  EXPECT_EQ(o["shape"], json::array({2}));
  EXPECT_EQ(o["parameters"]["content_type"], "application/json");
  EXPECT_EQ(o["data"][0], (json{{"0", 0.75}, {"1", 0.25}}));
  EXPECT_EQ(o["data"][1]["1"], 0.5);

  req.parameters["binary_data_output"] = true;
  ASSERT_TRUE(EncodeInferResponse(req, resp, &enc).ok());
  ASSERT_TRUE(enc.header_length.has_value());
  std::string row0 = R"({"0":0.75,"1":0.25})";
  EXPECT_EQ(enc.body.substr(*enc.header_length, 4 + row0.size()), LE32(row0.size()) + row0);
}

TEST(JsonCodecTest, EncodedFloatsRoundTrip) {
  InferResponse resp;
  resp.outputs.push_back({"y", Value(Tensor::FromVector<float>({0.1f, 1e-30f, 3.4028235e38f}, {3})), {}});
  EncodedInferResponse enc;
  ASSERT_TRUE(EncodeInferResponse(InferRequest{}, resp, &enc).ok());
  json j = json::parse(enc.body);
  EXPECT_EQ(static_cast<float>(j["outputs"][0]["data"][0].get<double>()), 0.1f);
  EXPECT_EQ(static_cast<float>(j["outputs"][0]["data"][1].get<double>()), 1e-30f);
  EXPECT_EQ(static_cast<float>(j["outputs"][0]["data"][2].get<double>()), 3.4028235e38f);
}

TEST(JsonCodecTest, ProtoToJsonPrintsInt64AsNumbers) {
  inference::ModelConfig c;
  c.set_name("m");
  c.set_max_batch_size(8);
  auto* in = c.add_input();
  in->set_name("x");
  in->set_data_type(inference::TYPE_FP32);
  in->add_dims(-1);
  in->add_dims(int64_t{1} << 40);
  (*c.mutable_parameters())["k"].set_string_value("v");
  auto j = ProtoToJson(c);
  EXPECT_EQ(j["name"], "m");
  EXPECT_EQ(j["max_batch_size"], 8);
  EXPECT_TRUE(j["input"][0]["dims"][1].is_number_integer());
  EXPECT_EQ(j["input"][0]["dims"][1].get<int64_t>(), int64_t{1} << 40);
  EXPECT_EQ(j["input"][0]["data_type"], "TYPE_FP32");
  EXPECT_EQ(j["parameters"]["k"]["string_value"], "v");
  EXPECT_TRUE(j["output"].is_array());
}

TEST(JsonCodecTest, JsonValueToTensorForV1) {
  auto t = JsonValueToTensor(json::parse("[[1,2,3],[4,5,6]]"), DataType::kFloat, "input 'x'");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->shape(), Shape({2, 3}));
  EXPECT_FLOAT_EQ(t->data<float>()[5], 6.f);
  auto bad = JsonValueToTensor(json::parse("[[1,2],[3]]"), DataType::kFloat, "input 'x'");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("input 'x'"), std::string::npos);
  EXPECT_NE(bad.status().message().find("ragged"), std::string::npos);
  auto b64 = JsonValueToTensor(json::parse(R"([{"b64":"aGk="}])"), DataType::kString, "input 's'");
  ASSERT_TRUE(b64.ok());
  EXPECT_EQ(b64->data<std::string>()[0], "hi");
  json r0 = json::parse("[1,2]"), r1 = json::parse("[3,4]");
  auto rows = JsonRowsToTensor({&r0, &r1}, DataType::kInt32, "input 'x'");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->shape(), Shape({2, 2}));
  EXPECT_EQ(rows->data<int32_t>()[3], 4);
}

TEST(JsonCodecTest, Base64RoundTrip) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\x00\xff\x10", 3)}) {
    auto d = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, s);
  }
  EXPECT_FALSE(Base64Decode("ab$c").ok());
}

TEST(JsonCodecTest, ErrorBodyIsJson) {
  json j = json::parse(JsonErrorBody("bad \"thing\"\n"));
  EXPECT_EQ(j["error"], "bad \"thing\"\n");
}

}  // namespace
}  // namespace onnxd::api::http
