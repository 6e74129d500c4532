// Unit tests for the data-movement ops (shape_ops.cc) and tensor ops (tensor_ops.cc) that the ONNX
// node suite covers thinly: the blocked transpose paths on every element size, string tensors,
// slicing edge cases, Cast's numpy-style number formatting, and allocation-free steady state.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "alloc_hook.h"
#include "loader/tensor_proto.h"
#include "onnx/onnx-ml.pb.h"
#include "onnxd/engine/engine.h"
#include "test_models.h"

namespace onnxd {
namespace {

using testing::Node;

struct Attr {
  std::string name;
  std::vector<int64_t> ints;
  bool is_int = false;
  int64_t i = 0;
  std::string s;
  bool is_string = false;
};

// Builds a one-node model whose inputs are graph inputs named in0, in1, ... and runs it.
std::vector<Value> RunOne(const std::string& op, const std::vector<Tensor>& inputs, int num_outputs,
                          const std::vector<Attr>& attrs = {}, int opset = 21) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* os = m.add_opset_import();
  os->set_domain("");
  os->set_version(opset);
  auto* g = m.mutable_graph();
  g->set_name("g");
  std::vector<std::string> in_names, out_names;
  for (size_t i = 0; i < inputs.size(); ++i) {
    in_names.push_back("in" + std::to_string(i));
    *g->add_input() = testing::TensorInfo(in_names.back(), static_cast<int>(inputs[i].dtype()), inputs[i].shape().ToVector());
  }
  for (int i = 0; i < num_outputs; ++i) {
    out_names.push_back("out" + std::to_string(i));
    auto* o = g->add_output();
    o->set_name(out_names.back());
  }
  onnx::NodeProto n = Node(op, in_names, out_names);
  for (const Attr& a : attrs) {
    auto* p = n.add_attribute();
    p->set_name(a.name);
    if (a.is_string) {
      p->set_type(onnx::AttributeProto::STRING);
      p->set_s(a.s);
    } else if (a.is_int) {
      p->set_type(onnx::AttributeProto::INT);
      p->set_i(a.i);
    } else {
      p->set_type(onnx::AttributeProto::INTS);
      for (int64_t v : a.ints) p->add_ints(v);
    }
  }
  *g->add_node() = n;
  Engine engine;
  auto model = engine.CompileBytes(m.SerializeAsString(), "");
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return {};
  auto session = (*model)->CreateSession();
  std::vector<Value> ins(inputs.begin(), inputs.end()), outs;
  Status st = session->Run(ins, &outs);
  EXPECT_TRUE(st.ok()) << st.ToString();
  // Own the results (they may point into the session's arena).
  for (auto& v : outs)
    if (v.is_tensor()) v = Value(v.tensor().Clone());
  return outs;
}

Attr Ints(const std::string& name, std::vector<int64_t> v) { return Attr{name, std::move(v), false, 0, "", false}; }
Attr Int(const std::string& name, int64_t v) { return Attr{name, {}, true, v, "", false}; }
Attr Str(const std::string& name, std::string v) { return Attr{name, {}, false, 0, std::move(v), true}; }

template <typename T>
Tensor Iota(DataType dt, const Shape& shape) {
  Tensor t = Tensor::Allocate(dt, shape);
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    if constexpr (std::is_same_v<T, std::string>) t.data<T>()[i] = "s" + std::to_string(i);
    else t.data<T>()[i] = static_cast<T>(i * 7 + 3);
  }
  return t;
}

template <typename T>
void CheckTranspose(DataType dt, const Shape& shape, const std::vector<int64_t>& perm) {
  Tensor x = Iota<T>(dt, shape);
  auto out = RunOne("Transpose", {x}, 1, {Ints("perm", perm)});
  ASSERT_EQ(out.size(), 1u);
  const Tensor& y = out[0].tensor();
  const int r = shape.rank();
  ASSERT_EQ(y.rank(), r);
  std::vector<int64_t> xs(r), idx(r, 0);
  int64_t s = 1;
  for (int i = r - 1; i >= 0; --i) {
    xs[i] = s;
    s *= shape[i];
  }
  for (int64_t o = 0; o < y.num_elements(); ++o) {
    int64_t off = 0;
    for (int d = 0; d < r; ++d) off += idx[d] * xs[perm[d]];
    ASSERT_EQ(y.data<T>()[o], x.data<T>()[off]) << "element " << o << " of " << shape.ToString();
    for (int d = r - 1; d >= 0; --d) {
      if (++idx[d] < y.dim(d)) break;
      idx[d] = 0;
    }
  }
}

TEST(ShapeOps, TransposeAllElementSizes) {
  const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
      {Shape{37, 53}, {1, 0}},          {Shape{3, 20, 9, 5}, {0, 2, 3, 1}}, {Shape{2, 64, 67}, {0, 2, 1}},
      {Shape{5, 1, 7, 3}, {3, 1, 0, 2}}, {Shape{2, 3, 4, 5, 6}, {4, 2, 0, 3, 1}}, {Shape{1}, {0}},
      {Shape{0, 4}, {1, 0}},            {Shape{129, 130}, {1, 0}}};
  for (const auto& [shape, perm] : cases) {
    CheckTranspose<uint8_t>(DataType::kUInt8, shape, perm);
    CheckTranspose<int16_t>(DataType::kInt16, shape, perm);
    CheckTranspose<float>(DataType::kFloat, shape, perm);
    CheckTranspose<int64_t>(DataType::kInt64, shape, perm);
    CheckTranspose<std::string>(DataType::kString, shape, perm);
  }
}

TEST(ShapeOps, SliceNegativeStepsAndClamping) {
  Tensor x = Iota<int32_t>(DataType::kInt32, Shape{10});
  auto run = [&](int64_t s, int64_t e, int64_t st) {
    auto out = RunOne("Slice", {x, Tensor::FromVector<int64_t>({s}, Shape{1}), Tensor::FromVector<int64_t>({e}, Shape{1}),
                                Tensor::FromVector<int64_t>({0}, Shape{1}), Tensor::FromVector<int64_t>({st}, Shape{1})},
                      1);
    std::vector<int32_t> v;
    const Tensor& y = out[0].tensor();
    for (int64_t i = 0; i < y.num_elements(); ++i) v.push_back((y.data<int32_t>()[i] - 3) / 7);
    return v;
  };
  EXPECT_EQ(run(100, -100, -3), (std::vector<int32_t>{9, 6, 3, 0}));
  EXPECT_EQ(run(-1, 0, -1), (std::vector<int32_t>{9, 8, 7, 6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(run(2, 2, 1), (std::vector<int32_t>{}));
  EXPECT_EQ(run(-100, 100, 4), (std::vector<int32_t>{0, 4, 8}));
  EXPECT_EQ(run(INT64_MAX, INT64_MIN, -4), (std::vector<int32_t>{9, 5, 1}));
}

TEST(ShapeOps, PadModesWiderThanInput) {
  Tensor x = Tensor::FromVector<float>({0, 1, 2}, Shape{3});
  Tensor pads = Tensor::FromVector<int64_t>({5, 4}, Shape{2});
  auto check = [&](const char* mode, const std::vector<float>& want) {
    auto out = RunOne("Pad", {x, pads}, 1, {Str("mode", mode)}, 19);
    const Tensor& y = out[0].tensor();
    ASSERT_EQ(y.num_elements(), static_cast<int64_t>(want.size())) << mode;
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(y.data<float>()[i], want[i]) << mode << " element " << i;
  };
  // numpy.pad([0, 1, 2], (5, 4), mode)
  check("reflect", {1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2});
  check("edge", {0, 0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2});
  check("wrap", {1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0});
  check("constant", {0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0});
}

TEST(ShapeOps, GatherStrings) {
  Tensor x = Iota<std::string>(DataType::kString, Shape{4, 2});
  auto out = RunOne("Gather", {x, Tensor::FromVector<int32_t>({3, -4}, Shape{2})}, 1);
  const Tensor& y = out[0].tensor();
  ASSERT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(y.data<std::string>()[0], "s6");
  EXPECT_EQ(y.data<std::string>()[1], "s7");
  EXPECT_EQ(y.data<std::string>()[2], "s0");
  EXPECT_EQ(y.data<std::string>()[3], "s1");
}

TEST(TensorOps, CastFloatToStringLikeNumpy) {
  Tensor x = Tensor::FromVector<float>({0.1f, 1e6f, 999999.0f, 1e-5f, 0.00012345f, -2.5f, 7.0f, 1.2345679e8f}, Shape{8});
  auto out = RunOne("Cast", {x}, 1, {Int("to", 8)});
  const std::vector<std::string> want = {"0.1", "1e+06", "999999.0", "1e-05", "0.00012345", "-2.5", "7.0", "1.2345679e+08"};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[0].tensor().data<std::string>()[i], want[i]);
  Tensor s = Tensor::FromVector<std::string>({"1.5", "-INF", " 3 ", "1e3"}, Shape{4});
  auto back = RunOne("Cast", {s}, 1, {Int("to", 1)});
  EXPECT_EQ(back[0].tensor().data<float>()[0], 1.5f);
  EXPECT_TRUE(std::isinf(back[0].tensor().data<float>()[1]));
  EXPECT_EQ(back[0].tensor().data<float>()[2], 3.0f);
  EXPECT_EQ(back[0].tensor().data<float>()[3], 1000.0f);
}

TEST(TensorOps, CastFloat16RoundTrip) {
  std::vector<float> v;
  for (int i = -600; i < 600; ++i) v.push_back(i * 0.37f);
  Tensor x = Tensor::FromVector<float>(v, Shape{static_cast<int64_t>(v.size())});
  auto h = RunOne("Cast", {x}, 1, {Int("to", 10)});
  for (size_t i = 0; i < v.size(); ++i)
    ASSERT_EQ(h[0].tensor().data<Float16>()[i].bits, Float16::FromFloat(v[i])) << "element " << i;
  auto f = RunOne("Cast", {h[0].tensor()}, 1, {Int("to", 1)});
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(f[0].tensor().data<float>()[i], static_cast<float>(h[0].tensor().data<Float16>()[i]));
}

TEST(TensorOps, TopKTiesPreferLowerIndex) {
  Tensor x = Tensor::FromVector<float>({1, 3, 3, 2, 3, 1}, Shape{6});
  auto out = RunOne("TopK", {x, Tensor::FromVector<int64_t>({4}, Shape{1})}, 2);
  const int64_t* idx = out[1].tensor().data<int64_t>();
  EXPECT_EQ(idx[0], 1);
  EXPECT_EQ(idx[1], 2);
  EXPECT_EQ(idx[2], 4);
  EXPECT_EQ(idx[3], 3);
}

TEST(ShapeOps, SteadyStateRunsDoNotAllocate) {
  // x[4,6,8] -> Transpose [8,4,6] -> Slice [8,4,5] -> Concat [8,8,5] -> Reshape [32,10] -> Gather [3,10] -> Pad [4,13]
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* os = m.add_opset_import();
  os->set_domain("");
  os->set_version(19);
  auto* g = m.mutable_graph();
  g->set_name("chain");
  *g->add_input() = testing::TensorInfo("x", onnx::TensorProto::FLOAT, {4, 6, 8});
  auto* o = g->add_output();
  o->set_name("y");
  auto init = [&](const std::string& name, const std::vector<int64_t>& v) {
    onnx::TensorProto t;
    engine::TensorToProto(Tensor::FromVector<int64_t>(v, Shape{static_cast<int64_t>(v.size())}), &t);
    t.set_name(name);
    *g->add_initializer() = t;
  };
  init("starts", {1});
  init("ends", {7});
  init("axes", {2});
  init("shape", {-1, 10});
  init("idx", {3, 0, 2});
  init("pads", {1, 2, 0, 1});
  onnx::NodeProto tr = Node("Transpose", {"x"}, {"t"});
  auto* p = tr.add_attribute();
  p->set_name("perm");
  p->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : {2, 0, 1}) p->add_ints(v);
  *g->add_node() = tr;
  *g->add_node() = Node("Slice", {"t", "starts", "ends", "axes"}, {"s"});
  onnx::NodeProto cc = Node("Concat", {"s", "s"}, {"c"});
  auto* a = cc.add_attribute();
  a->set_name("axis");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(1);
  *g->add_node() = cc;
  *g->add_node() = Node("Reshape", {"c", "shape"}, {"r"});
  *g->add_node() = Node("Gather", {"r", "idx"}, {"gth"});
  *g->add_node() = Node("Pad", {"gth", "pads"}, {"y"});
  Engine engine;
  auto model = engine.CompileBytes(m.SerializeAsString(), "");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto session = (*model)->CreateSession();
  Tensor x = Iota<float>(DataType::kFloat, Shape{4, 6, 8});
  std::vector<Value> ins = {Value(x)}, outs;
  for (int i = 0; i < 3; ++i) {
    Status warm = session->Run(ins, &outs);
    ASSERT_TRUE(warm.ok()) << warm.ToString();
  }
  testing::StartCountingAllocations();
  Status st = session->Run(ins, &outs);
  long allocs = testing::StopCountingAllocations();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(allocs, 0);
  EXPECT_EQ(outs[0].tensor().shape(), (Shape{4, 13}));
}

}  // namespace
}  // namespace onnxd
