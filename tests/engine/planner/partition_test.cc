// Device placement (engine/planner/partition): pure logic, checked on small graphs through the
// public CompiledModel::placement() that `onnxd inspect --device cuda` prints. No GPU needed.
#include "planner/partition.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "onnx/onnx-ml.pb.h"
#include "ops/op_kernel.h"
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
  *g->add_node() = Node("Asin", {"a"}, {"b"}, "asin");  // no CUDA kernel
  *g->add_node() = Node("Sigmoid", {"b"}, {"y"}, "sigmoid");
  PlacementInfo p = Place(m);
  EXPECT_EQ(Devices(p), "GCG");
  EXPECT_EQ(p.input_copies, 1);
  EXPECT_EQ(p.internal_copies, 2);  // a to the host, b back to the device
  EXPECT_EQ(p.output_copies, 1);
  EXPECT_NE(p.nodes[1].reason.find("no CUDA kernel for Asin"), std::string::npos) << p.nodes[1].reason;
  EXPECT_TRUE(p.nodes[0].reason.empty());
}

TEST(PartitionTest, CpuOnlyGraphOnCudaTargetCopiesNothing) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", kFloat, {2, 4});
  *g->add_output() = TensorInfo("y", kFloat, {2, 4});
  *g->add_node() = Node("Asin", {"x"}, {"a"}, "asin");
  *g->add_node() = Node("Acos", {"a"}, {"y"}, "acos");
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
  *g->add_node() = Node("Asin", {"a"}, {"y"}, "asin");
  *g->add_node() = Node("Acos", {"a"}, {"z"}, "acos");
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
  *g->add_node() = Node("Asin", {"a"}, {"y"}, "asin");
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

// CompileOptions::cpu_when_no_cuda_node (the server's models placed on a GPU by default): a model
// none of whose nodes has a CUDA kernel becomes a CPU model in the one compile; one that has such a
// node keeps the CUDA target. Without the option the target is what was asked.
TEST(PartitionTest, ACudaTargetWithNothingForTheGpuBecomesACpuModelWhenAllowed) {
  onnx::ModelProto cpu_only = NewModel(13);
  auto* g = cpu_only.mutable_graph();
  *g->add_input() = TensorInfo("x", kFloat, {2, 4});
  *g->add_output() = TensorInfo("y", kFloat, {2, 4});
  *g->add_node() = Node("Asin", {"x"}, {"a"}, "asin");
  *g->add_node() = Node("Acos", {"a"}, {"y"}, "acos");
  auto target = [](const onnx::ModelProto& m, bool allowed) {
    Engine engine;
    CompileOptions options;
    options.device = Device::kCuda;
    options.cpu_when_no_cuda_node = allowed;
    auto model = engine.CompileBytes(m.SerializeAsString(), "", options);
    EXPECT_TRUE(model.ok()) << model.status().ToString();
    return model.ok() ? (*model)->placement().target : Device::kCuda;
  };
  EXPECT_EQ(target(cpu_only, true), Device::kCpu);
  EXPECT_EQ(target(cpu_only, false), Device::kCuda);
  EXPECT_EQ(target(Chain(), true), Device::kCuda);
}

// Integer Add, Sub and Mul have CUDA kernels; integer Div does not and stays on the CPU, naming the
// type. Mixed integer types stay too.
TEST(PartitionTest, IntegerAddSubMulRunOnTheGpuIntegerDivDoesNot) {
  auto place = [](const char* op, int type_a, int type_b) {
    onnx::ModelProto m = NewModel(13);
    auto* g = m.mutable_graph();
    *g->add_input() = TensorInfo("x", type_a, {2, 4});
    *g->add_input() = TensorInfo("w", type_b, {2, 4});
    *g->add_output() = TensorInfo("y", type_a, {2, 4});
    *g->add_node() = Node(op, {"x", "w"}, {"y"}, "op");
    return Place(m);
  };
  for (const char* op : {"Add", "Sub", "Mul"})
    for (int t : {onnx::TensorProto::INT32, onnx::TensorProto::INT64}) {
      PlacementInfo p = place(op, t, t);
      EXPECT_EQ(Devices(p), "G") << op << " " << t << ": " << p.nodes[0].reason;
      EXPECT_EQ(p.total_copies(), 3);  // two inputs up, the output down
    }
  PlacementInfo div = place("Div", onnx::TensorProto::INT32, onnx::TensorProto::INT32);
  EXPECT_EQ(Devices(div), "C");
  EXPECT_NE(div.nodes[0].reason.find("int32"), std::string::npos) << div.nodes[0].reason;
  EXPECT_EQ(div.total_copies(), 0);
  EXPECT_EQ(Devices(place("Add", onnx::TensorProto::INT32, onnx::TensorProto::INT64)), "C");
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
  // Pads that differ between the ends of an axis: cuDNN takes their common part, a padded input the rest.
  EXPECT_EQ(Devices(conv({0, 0, 1, 1}, "")), want);
  EXPECT_EQ(Devices(conv({1, 1, 1, 1}, "LeakyRelu")), want);  // the activation after the convolution

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
  EXPECT_EQ(Devices(p), want + want);  // MaxPool's ceil_mode by onnxd's own max pooling kernel
  onnx::NodeProto* ap = g->mutable_node(0);
  ap->set_op_type("AveragePool");
  p = Place(m);
  EXPECT_EQ(Devices(p), want + want);  // AveragePool's ceil_mode by onnxd's own average pooling kernel
  // auto_pad SAME_* resolved at run time; the Indices output and storage_order by onnxd's own
  // max pooling kernel too.
  SetAttr(ap, "auto_pad", std::string("SAME_LOWER"));
  EXPECT_EQ(Devices(Place(m)), want + want);
  ap->set_op_type("MaxPool");
  ap->add_output("indices");
  EXPECT_EQ(Devices(Place(m)), want + want);
  SetAttr(ap, "storage_order", static_cast<int64_t>(1));
  EXPECT_EQ(Devices(Place(m)), want + want);
}

// 3-D pooling (LpPool too) by onnxd's kernels (global pooling as 2-D by cuDNN), 3-D Conv by
// cuDNN's N-d descriptors; 4-D spatial data stays on the CPU.
TEST(PartitionTest, ThreeDConvAndPoolingGoToTheGpu) {
  const std::string want = engine::CudaConvAvailable() ? "G" : "C";
  for (const char* op : {"MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "Conv"}) {
    SCOPED_TRACE(op);
    onnx::ModelProto m = NewModel(19);
    auto* g = m.mutable_graph();
    *g->add_input() = TensorInfo("x", kFloat, {1, 2, 4, 4, 4});
    *g->add_output() = TensorInfo("y", kFloat, {});
    g->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
    const bool conv = std::string(op) == "Conv";
    if (conv) *g->add_initializer() = FloatInitializer("W", {2, 2, 2, 2, 2}, std::vector<float>(32, 0.1f));
    onnx::NodeProto n = Node(op, conv ? std::vector<std::string>{"x", "W"} : std::vector<std::string>{"x"}, {"y"}, "op");
    if (!conv && std::string(op) != "GlobalAveragePool") SetAttr(&n, "kernel_shape", std::vector<int64_t>{2, 2, 2});
    *g->add_node() = n;
    EXPECT_EQ(Devices(Place(m)), want);
    // One spatial axis more: the CPU.
    g->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(4);
    if (conv) {
      *g->mutable_initializer(0) = FloatInitializer("W", {2, 2, 2, 2, 2, 2}, std::vector<float>(64, 0.1f));
    } else if (std::string(op) != "GlobalAveragePool") {
      g->mutable_node(0)->mutable_attribute(0)->add_ints(2);
    }
    PlacementInfo p = Place(m);
    EXPECT_EQ(Devices(p), "C");
    EXPECT_FALSE(p.nodes[0].reason.empty());
  }
}

TEST(PartitionTest, ActivationsBatchNormAndVariadicOpsGoToTheGpu) {
  onnx::ModelProto m = NewModel(15);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", kFloat, {1, 3, 4, 4});
  *g->add_input() = TensorInfo("i", onnx::TensorProto::INT64, {3});
  *g->add_output() = TensorInfo("y", kFloat, {});
  *g->add_output() = TensorInfo("t", kFloat, {});
  *g->add_output() = TensorInfo("s", onnx::TensorProto::INT64, {});
  for (int k = 0; k < 3; ++k) g->mutable_output(k)->mutable_type()->mutable_tensor_type()->clear_shape();
  for (const char* name : {"scale", "bias", "mean", "var"})
    *g->add_initializer() = FloatInitializer(name, {3}, std::vector<float>(3, 0.5f));
  *g->add_node() = Node("HardSwish", {"x"}, {"a"}, "hswish");
  *g->add_node() = Node("HardSigmoid", {"a"}, {"b"}, "hsig");
  *g->add_node() = Node("BatchNormalization", {"b", "scale", "bias", "mean", "var"}, {"c"}, "bn");
  *g->add_node() = Node("Max", {"a", "b", "c"}, {"d"}, "max3");
  *g->add_node() = Node("Mean", {"a", "b", "c", "d"}, {"y"}, "mean4");
  onnx::NodeProto train = Node("BatchNormalization", {"b", "scale", "bias", "mean", "var"}, {"t"}, "bn_train");
  SetAttr(&train, "training_mode", static_cast<int64_t>(1));
  *g->add_node() = train;
  *g->add_node() = Node("Sum", {"i", "i", "i"}, {"s"}, "sum_int");  // float16 / float only
  PlacementInfo p = Place(m);
  EXPECT_EQ(Devices(p), "GGGGGCC");
  EXPECT_FALSE(p.nodes[5].reason.empty());
  EXPECT_FALSE(p.nodes[6].reason.empty());
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
  // Cast to float on the CPU (a uint16 input: no CUDA Cast from it), then a float op on the GPU:
  // the type is known after Cast.
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", onnx::TensorProto::UINT16, {2, 4});
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

// MaxPool's Indices output is int64, not its input's type: a float op reading it (Neg here) stays
// on the CPU instead of being placed on the GPU as if it read floats.
TEST(PartitionTest, MaxPoolIndicesAreInt64) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", kFloat, {1, 2, 4, 4});
  *g->add_output() = TensorInfo("y", kFloat, {});
  *g->add_output() = TensorInfo("n", onnx::TensorProto::INT64, {});
  for (int k = 0; k < 2; ++k) g->mutable_output(k)->mutable_type()->mutable_tensor_type()->clear_shape();
  onnx::NodeProto mp = Node("MaxPool", {"x"}, {"y", "i"}, "maxpool");
  SetAttr(&mp, "kernel_shape", std::vector<int64_t>{2, 2});
  *g->add_node() = mp;
  *g->add_node() = Node("Neg", {"i"}, {"n"}, "neg");
  PlacementInfo p = Place(m);
  ASSERT_EQ(p.nodes.size(), 2u);
  // The MaxPool runs on the GPU with its Indices (our kernel); the Indices are typed int64, so the
  // Neg reading them stays on the CPU for its element type.
  EXPECT_EQ(Devices(p), "GC") << p.nodes[0].reason;
  EXPECT_NE(p.nodes[1].reason.find("int64"), std::string::npos) << p.nodes[1].reason;
}

TEST(PartitionTest, GroupNormalizationRunsOnTheGpu) {
  for (const int opset : {18, 21}) {
    onnx::ModelProto m = NewModel(opset);
    auto* g = m.mutable_graph();
    *g->add_input() = TensorInfo("x", kFloat, {2, 8, 4, 4});
    *g->add_input() = TensorInfo("scale", kFloat, {opset < 21 ? 4 : 8});
    *g->add_input() = TensorInfo("b", kFloat, {opset < 21 ? 4 : 8});
    *g->add_output() = TensorInfo("y", kFloat, {2, 8, 4, 4});
    onnx::NodeProto n = Node("GroupNormalization", {"x", "scale", "b"}, {"y"}, "gn");
    SetAttr(&n, "num_groups", int64_t{4});
    *g->add_node() = n;
    PlacementInfo p = Place(m);
    EXPECT_EQ(Devices(p), "G") << p.nodes[0].reason;
    EXPECT_EQ(p.input_copies, 3);
  }
}

onnx::TensorProto Int64Initializer(const std::string& name, const std::vector<int64_t>& dims,
                                   const std::vector<int64_t>& values) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::INT64);
  for (int64_t d : dims) t.add_dims(d);
  for (int64_t v : values) t.add_int64_data(v);
  return t;
}

// The index of the node named `name` in the placement (-1 if absent).
int NodeIndex(const PlacementInfo& p, const std::string& name) {
  for (size_t i = 0; i < p.nodes.size(); ++i)
    if (p.nodes[i].name == name) return static_cast<int>(i);
  return -1;
}

Device DeviceOf(const PlacementInfo& p, const std::string& name) {
  const int i = NodeIndex(p, name);
  EXPECT_GE(i, 0) << name;
  return i >= 0 ? p.nodes[i].device : Device::kCpu;
}

TEST(PartitionTest, ClipWithConstantBoundsRunsOnTheGpuAndReadsItsBoundsOnTheHost) {
  // A MobileNetV2 block as the TorchScript exporter writes it: Conv, then ReLU6 as Clip whose
  // min / max are constant inputs (kept apart by a Relu so that no Conv+Clip fusion hides it).
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", kFloat, {1, 2, 5, 5});
  *g->add_output() = TensorInfo("y", kFloat, {1, 2, 5, 5});
  *g->add_initializer() = FloatInitializer("w", {2, 2, 1, 1}, {1.f, 0.f, 0.f, 1.f});
  *g->add_initializer() = FloatInitializer("lo", {}, {0.f});
  *g->add_initializer() = FloatInitializer("hi", {}, {6.f});
  *g->add_node() = Node("Sigmoid", {"x"}, {"s"}, "sig");
  *g->add_node() = Node("Clip", {"s", "lo", "hi"}, {"c"}, "clip");
  *g->add_node() = Node("Conv", {"c", "w"}, {"y"}, "conv");
  PlacementInfo p = Place(m);
  EXPECT_EQ(DeviceOf(p, "clip"), Device::kCuda) << p.nodes[NodeIndex(p, "clip")].reason;
  // Without cuDNN in the build the Conv runs on the CPU: its input comes back from the device
  // instead of its output (2 copies either way).
  EXPECT_EQ(p.internal_copies, engine::CudaConvAvailable() ? 0 : 1);
  EXPECT_EQ(p.total_copies(), 2);
  // lo and hi are read on the host: only what Conv reads goes up (w).
  EXPECT_EQ(p.uploaded_constants, Device::kCuda == DeviceOf(p, "conv") ? 1 : 0);
}

// A BERT-like front end, shaped as the dynamo exporter writes it: an embedding Gather reading
// input_ids, position ids from Range over a dim read by Shape, the attention mask cast to bool,
// compared and turned into an additive float mask, and shape arithmetic for a Reshape.
onnx::ModelProto BertLikeFrontEnd() {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("input_ids", onnx::TensorProto::INT64, {2, -1});
  *g->add_input() = TensorInfo("attention_mask", onnx::TensorProto::INT64, {2, -1});
  *g->add_output() = TensorInfo("hidden", kFloat, {});
  *g->add_output() = TensorInfo("mask_add", kFloat, {});
  *g->add_initializer() = FloatInitializer("word_emb", {10, 4}, std::vector<float>(40, 0.25f));
  *g->add_initializer() = FloatInitializer("pos_emb", {16, 4}, std::vector<float>(64, 0.5f));
  *g->add_initializer() = Int64Initializer("zero", {}, {0});
  *g->add_initializer() = Int64Initializer("one", {}, {1});
  *g->add_initializer() = Int64Initializer("axis0", {1}, {0});
  *g->add_initializer() = Int64Initializer("minus1", {1}, {-1});
  *g->add_initializer() = FloatInitializer("neg", {}, {-10000.f});
  *g->add_node() = Node("Gather", {"word_emb", "input_ids"}, {"words"}, "embedding");
  *g->add_node() = Node("Shape", {"input_ids"}, {"ids_shape"}, "shape");
  *g->add_node() = Node("Gather", {"ids_shape", "one"}, {"seq"}, "seq_len");        // shape arithmetic
  *g->add_node() = Node("Range", {"zero", "seq", "one"}, {"positions"}, "arange");  // feeds the data path
  *g->add_node() = Node("Gather", {"pos_emb", "positions"}, {"pos"}, "pos_embedding");
  *g->add_node() = Node("Add", {"words", "pos"}, {"emb"}, "add");
  // Shape arithmetic for a Reshape: [-1] ++ ... stays small host int64 tensors.
  *g->add_node() = Node("Unsqueeze", {"seq", "axis0"}, {"seq1"}, "unsqueeze_seq");
  onnx::NodeProto concat = Node("Concat", {"minus1", "seq1"}, {"new_shape"}, "concat_shape");
  SetAttr(&concat, "axis", static_cast<int64_t>(0));
  *g->add_node() = concat;
  onnx::NodeProto flat = Node("Reshape", {"emb", "new_shape"}, {"hidden"}, "reshape");
  *g->add_node() = flat;
  // The mask chain.
  onnx::NodeProto to_bool = Node("Cast", {"attention_mask"}, {"mask_b"}, "mask_cast");
  SetAttr(&to_bool, "to", static_cast<int64_t>(onnx::TensorProto::BOOL));
  *g->add_node() = to_bool;
  *g->add_node() = Node("Unsqueeze", {"positions", "axis0"}, {"pos2"}, "unsqueeze_pos");
  *g->add_node() = Node("GreaterOrEqual", {"pos2", "zero"}, {"valid"}, "ge");
  *g->add_node() = Node("And", {"mask_b", "valid"}, {"keep"}, "and");
  *g->add_node() = Node("Not", {"keep"}, {"drop"}, "not");
  onnx::NodeProto to_float = Node("Cast", {"drop"}, {"drop_f"}, "drop_cast");
  SetAttr(&to_float, "to", static_cast<int64_t>(kFloat));
  *g->add_node() = to_float;
  *g->add_node() = Node("Mul", {"drop_f", "neg"}, {"mask_add"}, "scale");
  return m;
}

TEST(PartitionTest, TheDataPathGoesToTheGpuAndShapeArithmeticStaysOnTheHost) {
  PlacementInfo p = Place(BertLikeFrontEnd());
  // Everything reading the graph inputs' contents, or feeding what does, runs on the GPU.
  for (const char* n : {"embedding", "arange", "pos_embedding", "add", "reshape", "mask_cast", "unsqueeze_pos", "ge",
                        "and", "not", "drop_cast", "scale"})
    EXPECT_EQ(DeviceOf(p, n), Device::kCuda) << n << ": " << p.nodes[NodeIndex(p, n)].reason;
  // Shape arithmetic (from Shape, read by a Reshape and a Range on the host) stays there.
  for (const char* n : {"shape", "seq_len", "unsqueeze_seq", "concat_shape"})
    EXPECT_EQ(DeviceOf(p, n), Device::kCpu) << n;
  EXPECT_NE(p.nodes[NodeIndex(p, "seq_len")].reason.find("shape arithmetic"), std::string::npos)
      << p.nodes[NodeIndex(p, "seq_len")].reason;
  EXPECT_EQ(p.input_copies, 2);
  EXPECT_EQ(p.internal_copies, 0) << p.summary;
  EXPECT_EQ(p.output_copies, 2);
}

TEST(PartitionTest, NoCpuNodeReadsTheDataPathInTheBertLikeGraph) {
  // What CUDA Graph capture needs: CPU nodes depend on shapes alone. Checked generically: a CPU
  // node's non-constant inputs are Shape results or derived from them only.
  const onnx::ModelProto m = BertLikeFrontEnd();
  PlacementInfo p = Place(m);
  std::set<std::string> data = {"input_ids", "attention_mask"};
  for (const auto& n : m.graph().node()) {
    bool reads_data = false;
    if (n.op_type() != "Shape")
      for (const auto& in : n.input()) reads_data |= data.count(in) > 0;
    if (reads_data)
      for (const auto& out : n.output()) data.insert(out);
    if (reads_data) EXPECT_EQ(DeviceOf(p, n.name()), Device::kCuda) << n.name();
  }
}

// GPT-2's TorchScript causal mask: shape arithmetic (Range -> Unsqueeze) that the data path reads on
// the GPU and a node with no CUDA kernel reads too (there an int64 Add/Mul, which now has one; an
// int64 Mod here). Computed on the GPU, that node would read a device value mid-run (no CUDA graph);
// the shape arithmetic stays on the host and is uploaded for the GPU reader.
TEST(PartitionTest, ShapeArithmeticACpuNodeAlsoReadsStaysOnTheHost) {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("input_ids", onnx::TensorProto::INT64, {2, -1});
  *g->add_output() = TensorInfo("hidden", kFloat, {});
  *g->add_output() = TensorInfo("pos_twice", onnx::TensorProto::INT64, {});
  *g->add_initializer() = FloatInitializer("word_emb", {10, 4}, std::vector<float>(40, 0.25f));
  *g->add_initializer() = FloatInitializer("pos_emb", {16, 4}, std::vector<float>(64, 0.5f));
  *g->add_initializer() = Int64Initializer("zero", {}, {0});
  *g->add_initializer() = Int64Initializer("one", {}, {1});
  *g->add_initializer() = Int64Initializer("two", {}, {2});
  *g->add_initializer() = Int64Initializer("axis0", {1}, {0});
  *g->add_node() = Node("Gather", {"word_emb", "input_ids"}, {"words"}, "embedding");
  *g->add_node() = Node("Shape", {"input_ids"}, {"ids_shape"}, "shape");
  *g->add_node() = Node("Gather", {"ids_shape", "one"}, {"seq"}, "seq_len");
  *g->add_node() = Node("Range", {"zero", "seq", "one"}, {"positions"}, "arange");
  *g->add_node() = Node("Unsqueeze", {"positions", "axis0"}, {"pos2"}, "unsqueeze_pos");
  *g->add_node() = Node("Gather", {"pos_emb", "pos2"}, {"pos"}, "pos_embedding");
  *g->add_node() = Node("Add", {"words", "pos"}, {"hidden"}, "add");
  *g->add_node() = Node("Mod", {"pos2", "two"}, {"pos_twice"}, "int_mod");  // no CUDA kernel
  PlacementInfo p = Place(m);
  for (const char* n : {"arange", "unsqueeze_pos", "int_mod"})
    EXPECT_EQ(DeviceOf(p, n), Device::kCpu) << n << " (" << Devices(p) << ")";
  for (const char* n : {"embedding", "pos_embedding", "add"})
    EXPECT_EQ(DeviceOf(p, n), Device::kCuda) << n << ": " << p.nodes[NodeIndex(p, n)].reason;
  EXPECT_EQ(p.internal_copies, 1) << p.summary;  // pos2 goes up once
}

TEST(PartitionTest, DataOpsOnTheDataPathGoToTheGpuWithHostSideIndexInputs) {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", kFloat, {4, 6});
  *g->add_input() = TensorInfo("i", onnx::TensorProto::INT64, {3});
  *g->add_output() = TensorInfo("y", kFloat, {});
  *g->add_output() = TensorInfo("z", onnx::TensorProto::BOOL, {});
  *g->add_initializer() = Int64Initializer("starts", {1}, {1});
  *g->add_initializer() = Int64Initializer("ends", {1}, {-1});
  *g->add_initializer() = Int64Initializer("axes", {1}, {1});
  *g->add_initializer() = Int64Initializer("shape", {3}, {2, 4, 4});
  *g->add_initializer() = Int64Initializer("split", {2}, {1, 3});
  *g->add_node() = Node("Slice", {"x", "starts", "ends", "axes"}, {"s"}, "slice");           // [4,4]
  *g->add_node() = Node("Expand", {"s", "shape"}, {"e"}, "expand");                          // [2,4,4]
  onnx::NodeProto split = Node("Split", {"e", "split"}, {"e0", "e1"}, "split");
  SetAttr(&split, "axis", static_cast<int64_t>(1));
  *g->add_node() = split;
  onnx::NodeProto concat = Node("Concat", {"e1", "e0"}, {"c"}, "concat");
  SetAttr(&concat, "axis", static_cast<int64_t>(1));
  *g->add_node() = concat;
  onnx::NodeProto gather = Node("Gather", {"c", "i"}, {"y"}, "gather");
  SetAttr(&gather, "axis", static_cast<int64_t>(2));
  *g->add_node() = gather;
  *g->add_node() = Node("Less", {"x", "x"}, {"z"}, "less");
  PlacementInfo p = Place(m);
  EXPECT_EQ(Devices(p), "GGGGGG") << p.summary;
  EXPECT_EQ(p.internal_copies, 0);
  EXPECT_EQ(p.uploaded_constants, 0);  // starts, ends, axes, shape and split are read on the host
}

TEST(PartitionTest, DataOpsStayOnTheCpuForTypesTheKernelsDoNotTake) {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("s", onnx::TensorProto::STRING, {3});
  *g->add_input() = TensorInfo("i", onnx::TensorProto::INT64, {2});
  *g->add_output() = TensorInfo("y", onnx::TensorProto::STRING, {2});
  *g->add_node() = Node("Gather", {"s", "i"}, {"y"}, "gather");
  PlacementInfo p = Place(m);
  EXPECT_EQ(Devices(p), "C");
  EXPECT_NE(p.nodes[0].reason.find("string"), std::string::npos) << p.nodes[0].reason;
}

// The text of file `path` under the source tree with its // comments cut out ("" when unreadable).
std::string SourceCode(const std::string& path) {
  std::ifstream in(std::string(ONNXD_SOURCE_DIR) + "/" + path);
  std::string code, line;
  while (std::getline(in, line)) code += line.substr(0, line.find("//")) + "\n";
  return code;
}

// The body of the function whose definition starts with `head` in `code` (to the first line that
// is a lone "}"); "" when not found.
std::string FunctionBody(const std::string& code, const std::string& head) {
  const size_t begin = code.find(head);
  if (begin == std::string::npos) return "";
  const size_t end = code.find("\n}\n", begin);
  return code.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

// Every ai.onnx op that CudaSupport can place on the GPU as a kernel has a dispatch in the CUDA
// session: its name is a string literal in RunCudaKernel / RunConvOrPool
// (runtime/cuda_session_gpu.cc), or, for the ops IsCudaDataOp lists, in runtime/cuda_data_ops.cc
// (Resize and Upsample: RunCudaKernel). A placement without one answers INTERNAL ("placed on the
// GPU but has no CUDA path") on every run instead of running on the CPU: de2bfee's LogSoftmax and
// ReduceMin / Prod / L2 / LogSumExp / SumSquare, whose session hunk was lost. The session's code
// needs a GPU to run; its text does not. Each op is offered float, bool and int64 inputs of rank 4,
// with and without axes [-1] (an attribute, and a constant input from the opsets that take one)
// and Cast's `to`, at opsets 11, 13, 18 and 19.
TEST(PartitionTest, EveryOpTheGpuCanRunIsDispatchedByTheCudaSession) {
  const std::string session = SourceCode("engine/runtime/cuda_session_gpu.cc");
  const std::string kernels = FunctionBody(session, "Status CudaSessionImpl::RunCudaKernel(") +
                              FunctionBody(session, "Status CudaSessionImpl::RunConvOrPool(");
  const std::string data_ops = SourceCode("engine/runtime/cuda_data_ops.cc");
  ASSERT_NE(kernels.find("\"MatMul\""), std::string::npos) << "RunCudaKernel not found under " << ONNXD_SOURCE_DIR;
  ASSERT_NE(data_ops.find("\"Gather\""), std::string::npos) << "cuda_data_ops.cc not found under " << ONNXD_SOURCE_DIR;

  const std::vector<std::vector<DataType>> type_profiles = {
      std::vector<DataType>(5, DataType::kFloat),
      std::vector<DataType>(5, DataType::kBool),
      {DataType::kBool, DataType::kFloat, DataType::kFloat, DataType::kFloat, DataType::kFloat},
      {DataType::kFloat, DataType::kInt64, DataType::kInt64, DataType::kInt64, DataType::kInt64},
      std::vector<DataType>(5, DataType::kInt64)};
  const std::vector<int> ranks(5, 4);
  const Tensor axes = Tensor::FromVector<int64_t>({-1}, Shape{1});
  const std::vector<const Tensor*> constants = {nullptr, &axes, nullptr, nullptr, nullptr};
  std::set<std::string> placed;
  for (const std::string& key : engine::OpRegistry::Global().OpNames()) {
    if (key.empty() || key[0] != ':') continue;  // "domain:op"; ai.onnx only
    const std::string op = key.substr(1);
    for (int attrs = 0; attrs < 3; ++attrs) {
      onnx::NodeProto n = Node(op, {"a", "b", "c", "d", "e"}, {"y"}, "n");
      if (attrs == 1) SetAttr(&n, "axes", std::vector<int64_t>{-1});
      if (attrs == 2) SetAttr(&n, "to", static_cast<int64_t>(kFloat));
      for (int opset : {11, 13, 18, 19})
        for (const auto& types : type_profiles)
          if (engine::CudaSupport(n, opset, types, ranks, constants).placement == engine::CudaPlacement::kKernel)
            placed.insert(op);
    }
  }
  // The profiles reach the op families this session added (so the check below checks something).
  std::vector<std::string> expected = {"Add", "Gelu", "LogSoftmax", "ReduceMin", "ReduceSumSquare", "Gather",
                                       "Cast", "Pad", "Tile", "Resize", "Upsample", "ArgMax", "PRelu", "Mish",
                                       "InstanceNormalization", "DepthToSpace", "ConvTranspose", "Where", "Range"};
  if (engine::CudaConvAvailable()) expected.insert(expected.end(), {"Conv", "MaxPool", "LpPool", "GlobalMaxPool"});
  for (const std::string& op : expected) EXPECT_TRUE(placed.count(op)) << op << " is never placed on the GPU";

  for (const std::string& op : placed) {
    const std::string literal = "\"" + op + "\"";
    const bool in_kernels = kernels.find(literal) != std::string::npos;
    const bool dispatched = engine::IsCudaDataOp(op) ? in_kernels || data_ops.find(literal) != std::string::npos
                                                     : in_kernels;
    EXPECT_TRUE(dispatched) << op << " can be placed on the GPU, but the CUDA session has no dispatch for it";
  }
}

TEST(PartitionTest, AReshapeOfAGraphInputThatTheGpuReadsRunsThere) {
  // GPT-2 (dynamo export) views input_ids before the embedding Gather: the view runs on the GPU
  // after the input's copy, not on the host before a copy "between devices".
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("ids", onnx::TensorProto::INT64, {2, 3});
  *g->add_output() = TensorInfo("y", kFloat, {});
  *g->add_initializer() = FloatInitializer("emb", {10, 4}, std::vector<float>(40, 0.5f));
  *g->add_initializer() = Int64Initializer("flat", {2}, {-1, 3});
  *g->add_node() = Node("Reshape", {"ids", "flat"}, {"v"}, "view");
  *g->add_node() = Node("Gather", {"emb", "v"}, {"y"}, "embedding");
  PlacementInfo p = Place(m);
  EXPECT_EQ(Devices(p), "GG") << p.summary;
  EXPECT_EQ(p.input_copies, 1);
  EXPECT_EQ(p.internal_copies, 0);
}

}  // namespace
}  // namespace onnxd
