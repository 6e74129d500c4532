#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "onnxd/engine/engine.h"
#include "passes/passes.h"
#include "test_models.h"
#include "value_compare.h"

namespace onnxd {
namespace {

using testing::FloatInitializer;
using testing::Node;
using testing::TensorInfo;

std::vector<float> Random(size_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// x[1,3,8,8] -> Conv 3->4 (3x3, pad 1) -> BatchNormalization -> Relu -> y
onnx::ModelProto ConvBnRelu(bool with_bias) {
  std::mt19937 rng(7);
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", onnx::TensorProto::FLOAT, {1, 3, 8, 8});
  *g->add_output() = TensorInfo("y", onnx::TensorProto::FLOAT, {1, 4, 8, 8});
  *g->add_initializer() = FloatInitializer("w", {4, 3, 3, 3}, Random(108, rng, -1, 1));
  std::vector<std::string> conv_in = {"x", "w"};
  if (with_bias) {
    *g->add_initializer() = FloatInitializer("b", {4}, Random(4, rng, -1, 1));
    conv_in.push_back("b");
  }
  *g->add_initializer() = FloatInitializer("scale", {4}, Random(4, rng, 0.5, 2));
  *g->add_initializer() = FloatInitializer("shift", {4}, Random(4, rng, -1, 1));
  *g->add_initializer() = FloatInitializer("mean", {4}, Random(4, rng, -1, 1));
  *g->add_initializer() = FloatInitializer("var", {4}, Random(4, rng, 0.1, 2));
  auto conv = Node("Conv", conv_in, {"c"}, "conv");
  auto* a = conv.add_attribute();
  a->set_name("pads");
  a->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) a->add_ints(1);
  *g->add_node() = conv;
  *g->add_node() = Node("BatchNormalization", {"c", "scale", "shift", "mean", "var"}, {"bn"}, "bn");
  *g->add_node() = Node("Relu", {"bn"}, {"y"}, "relu");
  return m;
}

TEST(FoldConvBatchNormTest, RemovesTheBatchNormalization) {
  auto m = ConvBnRelu(true);
  EXPECT_EQ(engine::FoldConvBatchNorm(m.mutable_graph()), 1);
  ASSERT_EQ(m.graph().node_size(), 2);
  EXPECT_EQ(m.graph().node(0).op_type(), "Conv");
  EXPECT_EQ(m.graph().node(0).output(0), "bn");
}

TEST(FoldConvAddTest, MnistZooBiasAddsFoldIntoItsConvs) {
  std::ifstream f(std::string(ONNXD_SHARED_MODELS) + "/tutorial/mnist-zoo-opset7/model.onnx", std::ios::binary);
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromIstream(&f));
  int adds_before = 0, adds_after = 0;
  for (const auto& n : m.graph().node()) adds_before += n.op_type() == "Add";
  EXPECT_EQ(engine::FoldConvAdd(m.mutable_graph()), 2);
  for (const auto& n : m.graph().node()) adds_after += n.op_type() == "Add";
  EXPECT_EQ(adds_after, adds_before - 2);
  // The zoo model's outputs with the rewrite are checked against its test data in engine_test.cc.
}

TEST(FuseConvActivationTest, ReluIsFusedIntoTheConv) {
  auto m = ConvBnRelu(true);
  engine::FoldConvBatchNorm(m.mutable_graph());
  EXPECT_EQ(engine::FuseConvActivation(m.mutable_graph(), 13), 1);
  ASSERT_EQ(m.graph().node_size(), 1);
  EXPECT_EQ(m.graph().node(0).output(0), "y");
}

// Both rewrites (BatchNormalization folded, Relu fused) against the unoptimised graph.
TEST(FoldConvBatchNormTest, FoldedModelComputesTheSameAsTheOriginal) {
  for (bool bias : {true, false}) {
    auto bytes = ConvBnRelu(bias).SerializeAsString();
    Engine engine;
    CompileOptions plain;
    plain.optimize = false;
    auto folded = engine.CompileBytes(bytes, "");
    auto reference = engine.CompileBytes(bytes, "", plain);
    ASSERT_TRUE(folded.ok() && reference.ok()) << folded.status().ToString() << reference.status().ToString();
    std::mt19937 rng(3);
    std::vector<Value> in{Value(Tensor::FromVector(Random(192, rng, -2, 2), Shape{1, 3, 8, 8}))}, a, b;
    ASSERT_TRUE((*folded)->CreateSession()->Run(in, &a).ok());
    ASSERT_TRUE((*reference)->CreateSession()->Run(in, &b).ok());
    EXPECT_EQ(testing::CompareValues(a[0], b[0], 1e-5, 1e-5), "") << "bias " << bias;
  }
}

}  // namespace
}  // namespace onnxd
