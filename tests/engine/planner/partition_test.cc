// Device placement (engine/planner/partition): pure logic, checked on small graphs through the
// public CompiledModel::placement() that `onnxd inspect --device cuda` prints. No GPU needed.
#include "planner/partition.h"

#include <gtest/gtest.h>

#include "onnx/onnx-ml.pb.h"
#include "test_models.h"

namespace onnxd {
namespace {

using testing::FloatInitializer;
using testing::NewModel;
using testing::Node;
using testing::SetAttr;
using testing::TensorInfo;

constexpr int kFloat = onnx::TensorProto::FLOAT;

PlacementInfo Place(const onnx::ModelProto& m, Device target = Device::kCuda) {
  Engine engine;
  CompileOptions options;
  options.device = target;
  auto model = engine.CompileBytes(m.SerializeAsString(), "", options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return {};
  return (*model)->placement();
}

std::string Devices(const PlacementInfo& p) {
  std::string s;
  for (const auto& n : p.nodes) s += std::string(n.device == Device::kCuda ? "G" : "C");
  return s;
}

// x[2,4] -> MatMul(W) -> Add(b) -> Relu -> y
onnx::ModelProto Chain() {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", kFloat, {2, 4});
  *g->add_output() = TensorInfo("y", kFloat, {2, 3});
  *g->add_initializer() = FloatInitializer("W", {4, 3}, std::vector<float>(12, 0.5f));
  *g->add_initializer() = FloatInitializer("b", {3}, {1.f, 2.f, 3.f});
  *g->add_node() = Node("MatMul", {"x", "W"}, {"xw"}, "mm");
  *g->add_node() = Node("Add", {"xw", "b"}, {"s"}, "add");
  *g->add_node() = Node("Relu", {"s"}, {"y"}, "relu");
  return m;
}

TEST(PartitionTest, CpuTargetRunsEverythingOnCpuWithoutCopies) {
  PlacementInfo p = Place(Chain(), Device::kCpu);
  EXPECT_EQ(Devices(p), "CCC");
  EXPECT_EQ(p.total_copies(), 0);
  EXPECT_EQ(p.uploaded_constants, 0);
}

TEST(PartitionTest, AllCudaChainCopiesOnlyInputAndOutput) {
  PlacementInfo p = Place(Chain());
  EXPECT_EQ(Devices(p), "GGG");
  EXPECT_EQ(p.input_copies, 1);
  EXPECT_EQ(p.internal_copies, 0);
  EXPECT_EQ(p.output_copies, 1);
  EXPECT_EQ(p.total_copies(), 2);
  EXPECT_EQ(p.uploaded_constants, 2);  // W and b, once per session
  EXPECT_NE(p.summary.find("3 of 3 nodes on cuda"), std::string::npos) << p.summary;
}

TEST(PartitionTest, UnsupportedOpInTheMiddleAddsTwoCopies) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", kFloat, {2, 4});
  *g->add_output() = TensorInfo("y", kFloat, {2, 4});
  *g->add_node() = Node("Relu", {"x"}, {"a"}, "relu");
  *g->add_node() = Node("Floor", {"a"}, {"b"}, "floor");  // no CUDA kernel
  *g->add_node() = Node("Sigmoid", {"b"}, {"y"}, "sigmoid");
  PlacementInfo p = Place(m);
  EXPECT_EQ(Devices(p), "GCG");
  EXPECT_EQ(p.input_copies, 1);
  EXPECT_EQ(p.internal_copies, 2);  // a to the host, b back to the device
  EXPECT_EQ(p.output_copies, 1);
  EXPECT_NE(p.nodes[1].reason.find("no CUDA kernel for Floor"), std::string::npos) << p.nodes[1].reason;
  EXPECT_TRUE(p.nodes[0].reason.empty());
}

TEST(PartitionTest, CpuOnlyGraphOnCudaTargetCopiesNothing) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", kFloat, {2, 4});
  *g->add_output() = TensorInfo("y", kFloat, {2, 4});
  *g->add_node() = Node("Floor", {"x"}, {"a"}, "floor");
  *g->add_node() = Node("Ceil", {"a"}, {"y"}, "ceil");
  PlacementInfo p = Place(m);
  EXPECT_EQ(Devices(p), "CC");
  EXPECT_EQ(p.total_copies(), 0);
}

TEST(PartitionTest, AValueReadTwiceOnTheOtherDeviceIsCopiedOnce) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", kFloat, {2, 4});
  *g->add_output() = TensorInfo("y", kFloat, {2, 4});
  *g->add_output() = TensorInfo("z", kFloat, {2, 4});
  *g->add_node() = Node("Relu", {"x"}, {"a"}, "relu");
  *g->add_node() = Node("Floor", {"a"}, {"y"}, "floor");
  *g->add_node() = Node("Ceil", {"a"}, {"z"}, "ceil");
  PlacementInfo p = Place(m);
  EXPECT_EQ(Devices(p), "GCC");
  EXPECT_EQ(p.input_copies, 1);
  EXPECT_EQ(p.internal_copies, 1);
  EXPECT_EQ(p.output_copies, 0);
}

TEST(PartitionTest, GraphOutputAlreadyCopiedForACpuReaderIsNotCopiedAgain) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", kFloat, {2, 4});
  *g->add_output() = TensorInfo("a", kFloat, {2, 4});
  *g->add_output() = TensorInfo("y", kFloat, {2, 4});
  *g->add_node() = Node("Relu", {"x"}, {"a"}, "relu");
  *g->add_node() = Node("Floor", {"a"}, {"y"}, "floor");
  PlacementInfo p = Place(m);
  EXPECT_EQ(Devices(p), "GC");
  EXPECT_EQ(p.internal_copies, 1);
  EXPECT_EQ(p.output_copies, 0);
}

TEST(PartitionTest, ReshapeFollowsItsDataAndShapeReadsOnlyDims) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", kFloat, {2, 4});
  *g->add_output() = TensorInfo("y", kFloat, {8});
  *g->add_output() = TensorInfo("z", kFloat, {2, 4});
  *g->add_node() = Node("Relu", {"x"}, {"a"}, "relu");
  *g->add_node() = Node("Flatten", {"a"}, {"f"}, "flatten");
  *g->add_node() = Node("Shape", {"f"}, {"shp"}, "shape");      // host, reads dims of a device value
  *g->add_node() = Node("Reshape", {"a", "shp"}, {"r"}, "reshape");  // data on device, shape on host
  *g->add_node() = Node("Sigmoid", {"r"}, {"s"}, "sigmoid");
  onnx::TensorProto flat;
  flat.set_name("flat");
  flat.set_data_type(onnx::TensorProto::INT64);
  flat.add_dims(1);
  flat.add_int64_data(-1);
  *g->add_initializer() = flat;
  *g->add_node() = Node("Reshape", {"s", "flat"}, {"y"}, "to_1d");
  *g->add_node() = Node("Identity", {"x"}, {"z"}, "identity");  // input on the host: stays there
  PlacementInfo p = Place(m);
  EXPECT_EQ(Devices(p), "GGCGGGC");
  EXPECT_EQ(p.input_copies, 1);
  EXPECT_EQ(p.internal_copies, 0);
  EXPECT_EQ(p.output_copies, 1);
  EXPECT_EQ(p.uploaded_constants, 0);  // the shape constant is read on the host
}

TEST(PartitionTest, IntegerTensorsStayOnTheCpu) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", onnx::TensorProto::INT32, {2, 4});
  *g->add_input() = TensorInfo("w", onnx::TensorProto::INT32, {2, 4});
  *g->add_output() = TensorInfo("y", onnx::TensorProto::INT32, {2, 4});
  *g->add_node() = Node("Add", {"x", "w"}, {"y"}, "add");
  PlacementInfo p = Place(m);
  EXPECT_EQ(Devices(p), "C");
  EXPECT_NE(p.nodes[0].reason.find("int32"), std::string::npos) << p.nodes[0].reason;
  EXPECT_EQ(p.total_copies(), 0);
}

TEST(PartitionTest, AttributesDecideToo) {
  auto softmax = [](int opset, int64_t axis) {
    onnx::ModelProto m = NewModel(opset);
    auto* g = m.mutable_graph();
    *g->add_input() = TensorInfo("x", kFloat, {2, 3, 4});
    *g->add_output() = TensorInfo("y", kFloat, {2, 3, 4});
    onnx::NodeProto n = Node("Softmax", {"x"}, {"y"}, "softmax");
    SetAttr(&n, "axis", axis);
    *g->add_node() = n;
    return Place(m);
  };
  EXPECT_EQ(Devices(softmax(13, -1)), "G");
  EXPECT_EQ(Devices(softmax(13, 1)), "C");  // rank 3: axis 1 is not the last
  EXPECT_EQ(Devices(softmax(13, 2)), "G");  // rank known from the input: axis 2 is the last
  EXPECT_NE(softmax(13, 1).nodes[0].reason.find("axis"), std::string::npos);
  EXPECT_EQ(Devices(softmax(11, 1)), "G");  // opset < 13 flattens at axis: a last-axis softmax

  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("a", kFloat, {2, 4});
  *g->add_input() = TensorInfo("c", kFloat, {2, 3});
  *g->add_output() = TensorInfo("y", kFloat, {2, 3});
  *g->add_initializer() = FloatInitializer("B", {4, 3}, std::vector<float>(12, 1.f));
  onnx::NodeProto gemm = Node("Gemm", {"a", "B", "c"}, {"y"}, "gemm");
  auto* beta = gemm.add_attribute();
  beta->set_name("beta");
  beta->set_type(onnx::AttributeProto::FLOAT);
  beta->set_f(0.5f);
  *g->add_node() = gemm;
  PlacementInfo p = Place(m);
  EXPECT_EQ(Devices(p), "C");
  EXPECT_NE(p.nodes[0].reason.find("beta"), std::string::npos);
}

TEST(PartitionTest, ReductionsGoToTheGpuOnlyOverTheLastAxisInAttributeForm) {
  auto reduce = [](int opset, const std::string& op, int64_t axis) {
    onnx::ModelProto m = NewModel(opset);
    auto* g = m.mutable_graph();
    *g->add_input() = TensorInfo("x", kFloat, {2, 3, 4});
    *g->add_output() = TensorInfo("y", kFloat, {});
    g->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
    onnx::NodeProto n = Node(op, {"x"}, {"y"}, "reduce");
    SetAttr(&n, "axes", std::vector<int64_t>{axis});
    *g->add_node() = n;
    return Devices(Place(m));
  };
  EXPECT_EQ(reduce(13, "ReduceMean", -1), "G");
  EXPECT_EQ(reduce(13, "ReduceMean", 2), "G");   // rank 3: the last axis
  EXPECT_EQ(reduce(13, "ReduceMean", 1), "C");
  EXPECT_EQ(reduce(11, "ReduceSum", -1), "G");
  EXPECT_EQ(reduce(13, "ReduceMax", -1), "G");

  // Opset 18: axes as a constant input; the trailing two (global average pooling as exported).
  auto reduce_input = [](const std::vector<int64_t>& axes) {
    onnx::ModelProto m = NewModel(18);
    auto* g = m.mutable_graph();
    *g->add_input() = TensorInfo("x", kFloat, {2, 3, 4, 5});
    *g->add_output() = TensorInfo("y", kFloat, {});
    g->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
    onnx::TensorProto t;
    t.set_name("axes");
    t.set_data_type(onnx::TensorProto::INT64);
    t.add_dims(static_cast<int64_t>(axes.size()));
    for (int64_t a : axes) t.add_int64_data(a);
    *g->add_initializer() = t;
    *g->add_node() = Node("ReduceMean", {"x", "axes"}, {"y"}, "reduce");
    return Devices(Place(m));
  };
  EXPECT_EQ(reduce_input({-1, -2}), "G");
  EXPECT_EQ(reduce_input({2, 3}), "G");
  EXPECT_EQ(reduce_input({1, 3}), "C");
}

TEST(PartitionTest, ConvAndPoolingGoToTheGpuInTheFormsCudnnTakes) {
  auto conv = [](const std::vector<int64_t>& pads, const std::string& then) {
    onnx::ModelProto m = NewModel(13);
    auto* g = m.mutable_graph();
    *g->add_input() = TensorInfo("x", kFloat, {1, 2, 8, 8});
    *g->add_output() = TensorInfo("y", kFloat, {});
    g->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
    *g->add_initializer() = FloatInitializer("W", {4, 2, 3, 3}, std::vector<float>(72, 0.1f));
    onnx::NodeProto n = Node("Conv", {"x", "W"}, {then.empty() ? "y" : "c"}, "conv");
    SetAttr(&n, "pads", pads);
    *g->add_node() = n;
    if (!then.empty()) *g->add_node() = Node(then, {"c"}, {"y"}, "act");  // fused into the Conv by the pass
    return Place(m);
  };
  const std::string want = engine::CudaConvAvailable() ? "G" : "C";
  EXPECT_EQ(Devices(conv({1, 1, 1, 1}, "")), want);
  EXPECT_EQ(Devices(conv({1, 1, 1, 1}, "Relu")), want);
  PlacementInfo asym = conv({0, 0, 1, 1}, "");
  EXPECT_EQ(Devices(asym), "C");
  EXPECT_FALSE(asym.nodes[0].reason.empty());
  EXPECT_EQ(Devices(conv({1, 1, 1, 1}, "LeakyRelu")), "C");  // no fused LeakyRelu on the GPU

  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", kFloat, {1, 2, 8, 8});
  *g->add_output() = TensorInfo("y", kFloat, {});
  g->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  onnx::NodeProto mp = Node("MaxPool", {"x"}, {"p"}, "maxpool");
  SetAttr(&mp, "kernel_shape", std::vector<int64_t>{2, 2});
  SetAttr(&mp, "ceil_mode", static_cast<int64_t>(1));
  *g->add_node() = mp;
  *g->add_node() = Node("GlobalAveragePool", {"p"}, {"y"}, "gap");
  PlacementInfo p = Place(m);
  EXPECT_EQ(Devices(p), std::string("C") + want);  // ceil_mode stays on the CPU
}

TEST(PartitionTest, WhereNeedsABoolConditionAndFloatValues) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", kFloat, {2, 4});
  *g->add_input() = TensorInfo("i", onnx::TensorProto::INT64, {2, 4});
  *g->add_output() = TensorInfo("y", kFloat, {2, 4});
  *g->add_output() = TensorInfo("z", onnx::TensorProto::INT64, {2, 4});
  *g->add_node() = Node("IsNaN", {"x"}, {"nan"}, "isnan");
  *g->add_node() = Node("Where", {"nan", "x", "x"}, {"y"}, "where");
  *g->add_node() = Node("Where", {"nan", "i", "i"}, {"z"}, "where_int");
  PlacementInfo p = Place(m);
  EXPECT_EQ(Devices(p), "GGC");
  EXPECT_EQ(p.internal_copies, 1);  // the bool mask, for the int64 Where on the CPU
}

TEST(PartitionTest, ElementTypesFlowThroughCpuNodes) {
  // Cast to float on the CPU (int input), then a float op on the GPU: the type is known after Cast.
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", onnx::TensorProto::INT64, {2, 4});
  *g->add_output() = TensorInfo("y", kFloat, {2, 4});
  onnx::NodeProto cast = Node("Cast", {"x"}, {"xf"}, "cast");
  SetAttr(&cast, "to", static_cast<int64_t>(kFloat));
  *g->add_node() = cast;
  *g->add_node() = Node("Tanh", {"xf"}, {"y"}, "tanh");
  PlacementInfo p = Place(m);
  EXPECT_EQ(Devices(p), "CG");
  EXPECT_EQ(p.input_copies, 0);
  EXPECT_EQ(p.internal_copies, 1);
  EXPECT_EQ(p.output_copies, 1);
}

}  // namespace
}  // namespace onnxd
