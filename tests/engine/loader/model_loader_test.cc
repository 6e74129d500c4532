#include "loader/model_loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "../test_models.h"
#include "onnxd/engine/engine.h"

namespace onnxd {
namespace {

namespace fs = std::filesystem;
using testing::AddReluModel;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::vector<float> RunAddRelu(const CompiledModel& m, std::vector<float> x) {
  Tensor t = Tensor::FromVector(x, Shape{static_cast<int64_t>(x.size() / 4), 4});
  std::vector<Value> in{Value(t)}, out;
  auto s = m.CreateSession();
  Status st = s->Run(in, &out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (!st.ok()) return {};
  const Tensor& y = out[0].tensor();
  return std::vector<float>(y.data<float>(), y.data<float>() + y.num_elements());
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/onnxd_test_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ModelLoaderTest, LoadsAcrossIrVersionsAndInitializerEncodings) {
  Engine engine;
  for (int64_t ir : {3, 4, 7, 8, 9, 10}) {
    for (bool raw : {true, false}) {
      auto m = AddReluModel(ir, ir <= 3 ? 7 : 13);
      *m.mutable_graph()->mutable_initializer(0) =
          testing::FloatInitializer("bias", {4}, {1.f, -2.f, 3.f, -4.f}, raw);
      auto c = engine.CompileBytes(m.SerializeAsString(), "");
      ASSERT_TRUE(c.ok()) << "ir " << ir << ": " << c.status().ToString();
      EXPECT_EQ(RunAddRelu(**c, {1, 1, 1, 1}), (std::vector<float>{2, 0, 4, 0}));
    }
  }
}

TEST(ModelLoaderTest, GraphInputThatIsAnInitializerIsNotARequiredInput) {
  auto m = AddReluModel();
  *m.mutable_graph()->add_input() = testing::TensorInfo("bias", onnx::TensorProto::FLOAT, {4});
  Engine engine;
  auto c = engine.CompileBytes(m.SerializeAsString(), "");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ((*c)->inputs().size(), 1u);
  EXPECT_EQ((*c)->inputs()[0].name, "x");
  EXPECT_EQ(RunAddRelu(**c, {0, 0, 0, 0}), (std::vector<float>{1, 0, 3, 0}));
}

TEST(ModelLoaderTest, UnknownOpNamesNodeAndOp) {
  auto m = AddReluModel();
  m.mutable_graph()->mutable_node(1)->set_op_type("FrobnicateX");
  m.mutable_graph()->mutable_node(1)->set_name("the_node");
  Engine engine;
  auto c = engine.CompileBytes(m.SerializeAsString(), "");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(c.status().message().find("the_node"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("FrobnicateX"), std::string::npos) << c.status().message();
}

TEST(ModelLoaderTest, EveryUnsupportedOpIsListed) {
  auto m = AddReluModel();
  m.mutable_graph()->mutable_node(0)->set_op_type("FrobA");
  m.mutable_graph()->mutable_node(1)->set_op_type("FrobB");
  Engine engine;
  auto c = engine.CompileBytes(m.SerializeAsString(), "");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("FrobA"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("FrobB"), std::string::npos) << c.status().message();
}

TEST(ModelLoaderTest, MissingOpsetIsAnError) {
  auto m = AddReluModel();
  m.mutable_graph()->mutable_node(1)->set_domain("ai.onnx.ml");
  Engine engine;
  auto c = engine.CompileBytes(m.SerializeAsString(), "");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("opset_import"), std::string::npos) << c.status().message();
  m.clear_opset_import();
  c = engine.CompileBytes(m.SerializeAsString(), "");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("opset_import"), std::string::npos) << c.status().message();
}

TEST(ModelLoaderTest, BadAttributeNamesNodeAndOp) {
  auto m = AddReluModel();
  auto* g = m.mutable_graph();
  *g->add_node() = testing::Node("Cast", {"y"}, {"z"}, "bad_cast");
  auto* a = g->mutable_node(2)->add_attribute();
  a->set_name("to");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(999);
  *g->add_output() = testing::TensorInfo("z", onnx::TensorProto::FLOAT, {-1, 4});
  Engine engine;
  auto c = engine.CompileBytes(m.SerializeAsString(), "");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("bad_cast"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("Cast"), std::string::npos) << c.status().message();
}

TEST(ModelLoaderTest, UndefinedInputIsAnError) {
  auto m = AddReluModel();
  m.mutable_graph()->mutable_node(1)->set_input(0, "nowhere");
  Engine engine;
  auto c = engine.CompileBytes(m.SerializeAsString(), "");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("nowhere"), std::string::npos) << c.status().message();
}

onnx::ModelProto ExternalBiasModel(const std::string& location) {
  auto m = AddReluModel();
  auto* t = m.mutable_graph()->mutable_initializer(0);
  t->clear_raw_data();
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* kv = t->add_external_data();
  kv->set_key("location");
  kv->set_value(location);
  kv = t->add_external_data();
  kv->set_key("offset");
  kv->set_value("16");
  kv = t->add_external_data();
  kv->set_key("length");
  kv->set_value("16");
  return m;
}

void WriteBias(const std::string& path) {
  std::vector<float> data = {0, 0, 0, 0, 10, 20, 30, 40};
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float));
}

TEST(ModelLoaderTest, ExternalDataInsideTheModelDirectory) {
  TempDir dir;
  fs::create_directories(dir.path() + "/weights");
  WriteBias(dir.path() + "/weights/bias.bin");
  std::ofstream(dir.path() + "/model.onnx", std::ios::binary) << ExternalBiasModel("weights/bias.bin").SerializeAsString();
  Engine engine;
  auto c = engine.CompileFile(dir.path() + "/model.onnx");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(RunAddRelu(**c, {1, 1, 1, 1}), (std::vector<float>{11, 21, 31, 41}));
}

TEST(ModelLoaderTest, ExternalDataEscapingTheModelDirectoryIsRefused) {
  TempDir outer;
  fs::create_directories(outer.path() + "/model");
  WriteBias(outer.path() + "/secret.bin");
  fs::create_symlink(outer.path() + "/secret.bin", outer.path() + "/model/link.bin");
  Engine engine;
  for (const std::string& loc : std::vector<std::string>{"../secret.bin", outer.path() + "/secret.bin", "link.bin",
                                                        "sub/../../secret.bin"}) {
    std::ofstream(outer.path() + "/model/model.onnx", std::ios::binary) << ExternalBiasModel(loc).SerializeAsString();
    auto c = engine.CompileFile(outer.path() + "/model/model.onnx");
    ASSERT_FALSE(c.ok()) << loc;
    EXPECT_NE(c.status().message().find("external data"), std::string::npos) << c.status().message();
  }
}

TEST(ModelLoaderTest, ModelLocalFunctionsAreInlined) {
  // custom.AddRelu(a, b) = Relu(Add(a, b)); the graph calls it twice.
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* os = m.add_opset_import();
  os->set_version(13);
  os = m.add_opset_import();
  os->set_domain("custom");
  os->set_version(1);
  auto* f = m.add_functions();
  f->set_name("AddRelu");
  f->set_domain("custom");
  f->add_input("a");
  f->add_input("b");
  f->add_output("c");
  *f->add_node() = testing::Node("Add", {"a", "b"}, {"t"});
  *f->add_node() = testing::Node("Relu", {"t"}, {"c"});
  auto* fo = f->add_opset_import();
  fo->set_version(13);
  auto* g = m.mutable_graph();
  *g->add_input() = testing::TensorInfo("x", onnx::TensorProto::FLOAT, {-1, 4});
  *g->add_output() = testing::TensorInfo("y", onnx::TensorProto::FLOAT, {-1, 4});
  *g->add_initializer() = testing::FloatInitializer("bias", {4}, {1.f, -2.f, 3.f, -4.f});
  *g->add_node() = testing::Node("AddRelu", {"x", "bias"}, {"h"}, "call1", "custom");
  *g->add_node() = testing::Node("AddRelu", {"h", "bias"}, {"y"}, "call2", "custom");
  Engine engine;
  auto c = engine.CompileBytes(m.SerializeAsString(), "");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  // x=1: h = relu(1+b) = [2,0,4,0]; y = relu(h+b) = [3,0,7,0]
  EXPECT_EQ(RunAddRelu(**c, {1, 1, 1, 1}), (std::vector<float>{3, 0, 7, 0}));
}

// Truncated and bit-flipped copies of the tutorial models: every one is an error or a model; none
// crashes the process.
TEST(ModelLoaderFuzzTest, TruncatedAndBitFlippedModelsNeverCrash) {
  Engine engine;
  std::mt19937 rng(1234);
  for (const char* rel : {"tutorial/mnist-zoo-opset7/model.onnx", "tutorial/pytorch-mnist/model.onnx",
                          "tutorial/sklearn-rf-iris/model.onnx"}) {
    std::string path = std::string(ONNXD_SHARED_MODELS) + "/" + rel;
    std::string bytes = ReadFile(path);
    ASSERT_FALSE(bytes.empty()) << path;
    int errors = 0;
    for (int k = 1; k <= 60; ++k) {
      size_t cut = bytes.size() * k / 61;
      auto c = engine.CompileBytes(bytes.substr(0, cut), "");
      errors += !c.ok();
    }
    EXPECT_GT(errors, 50) << rel << ": truncated models should mostly fail to load";
    for (int k = 0; k < 300; ++k) {
      std::string copy = bytes;
      int flips = 1 + static_cast<int>(rng() % 8);
      for (int f = 0; f < flips; ++f) {
        size_t pos = rng() % copy.size();
        copy[pos] = static_cast<char>(copy[pos] ^ (1u << (rng() % 8)));
      }
      auto c = engine.CompileBytes(copy, "");
      if (c.ok()) {
        // A model that still loads must also run (or fail cleanly) on well-formed inputs.
        const auto& model = **c;
        std::vector<Value> inputs;
        for (const auto& in : model.inputs()) {
          if (in.type.kind != ValueKind::kTensor || !IsSupportedDataType(static_cast<int32_t>(in.type.elem_type))) break;
          Shape s;
          for (int64_t d : in.type.dims) s.PushBack(d < 0 ? 1 : std::min<int64_t>(d, 64));
          inputs.emplace_back(Tensor::Allocate(in.type.elem_type, s));
        }
        if (inputs.size() == model.inputs().size()) {
          std::vector<Value> outputs;
          (void)model.CreateSession()->Run(inputs, &outputs);
        }
      }
    }
  }
}

}  // namespace
}  // namespace onnxd
