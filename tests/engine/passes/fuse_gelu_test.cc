#include <gtest/gtest.h>

#include <cmath>
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

enum class Form { kErfDiv, kErfMul, kTanhPow, kTanhMulMul };
// Where the 0.5 goes: (x * s) * 0.5, (0.5 * x) * s, or (s * 0.5) * x.
enum class Half { kLast, kOnX, kOnSum };

struct GeluSpec {
  Form form = Form::kErfDiv;
  Half half = Half::kLast;
  bool swap = false;            // every commutative node with its operands the other way round
  bool constant_nodes = false;  // constants from Constant nodes instead of initializers
  int opset = 13;
  float half_value = 0.5f;
  float divisor = std::sqrt(2.0f);  // the erf form's Div
  std::vector<int64_t> const_dims = {};  // shape of each constant (one element)
};

// x[2,37] -> the GELU decomposition -> y.
class GeluModel {
 public:
  explicit GeluModel(const GeluSpec& s) : s_(s), m_(testing::NewModel(s.opset)), g_(m_.mutable_graph()) {
    *g_->add_input() = TensorInfo("x", onnx::TensorProto::FLOAT, {2, 37});
    *g_->add_output() = TensorInfo("y", onnx::TensorProto::FLOAT, {2, 37});
    std::string inner;
    if (s.form == Form::kErfDiv || s.form == Form::kErfMul) {
      if (s.form == Form::kErfDiv) Op("Div", {"x", Const(s.divisor)}, "scaled", false);
      else Op("Mul", {"x", Const(std::sqrt(0.5f))}, "scaled");
      Op("Erf", {"scaled"}, "act");
    } else {
      std::string cube;
      if (s.form == Form::kTanhPow) {
        Op("Pow", {"x", Const(3.0f)}, "cube", false);
      } else {
        Op("Mul", {"x", "x"}, "sq");
        Op("Mul", {"sq", "x"}, "cube");
      }
      Op("Mul", {"cube", Const(0.044715f)}, "cubic");
      Op("Add", {"x", "cubic"}, "inner");
      Op("Mul", {"inner", Const(0.7978845608f)}, "scaled");
      Op("Tanh", {"scaled"}, "act");
    }
    Op("Add", {"act", Const(1.0f)}, "sum");
    switch (s.half) {
      case Half::kLast:
        Op("Mul", {"x", "sum"}, "prod");
        Op("Mul", {"prod", Const(s.half_value)}, "y");
        break;
      case Half::kOnX:
        Op("Mul", {"x", Const(s.half_value)}, "halfx");
        Op("Mul", {"halfx", "sum"}, "y");
        break;
      case Half::kOnSum:
        Op("Mul", {"sum", Const(s.half_value)}, "halfsum");
        Op("Mul", {"halfsum", "x"}, "y");
        break;
    }
  }

  onnx::ModelProto& model() { return m_; }

 private:
  std::string Const(float v) {
    const std::string name = "c" + std::to_string(consts_++);
    auto t = FloatInitializer(name, s_.const_dims, {v});
    if (s_.constant_nodes) {
      auto n = Node("Constant", {}, {name}, name + "_node");
      auto* a = n.add_attribute();
      a->set_name("value");
      a->set_type(onnx::AttributeProto::TENSOR);
      *a->mutable_t() = t;
      *g_->add_node() = n;
    } else {
      *g_->add_initializer() = t;
    }
    return name;
  }

  void Op(const std::string& op, std::vector<std::string> in, const std::string& out, bool commutative = true) {
    if (commutative && s_.swap && in.size() == 2) std::swap(in[0], in[1]);
    *g_->add_node() = Node(op, in, {out}, out + "_node");
  }

  GeluSpec s_;
  int consts_ = 0;
  onnx::ModelProto m_;
  onnx::GraphProto* g_;
};

int CountOps(const onnx::GraphProto& g, const std::string& op) {
  int n = 0;
  for (const auto& node : g.node()) n += node.op_type() == op;
  return n;
}

std::string Approximate(const onnx::NodeProto& n) {
  for (const auto& a : n.attribute())
    if (a.name() == "approximate") return a.s();
  return "?";
}

// The optimised and the unoptimised compilation of `m` on the same input; the optimised plan holds
// one node, a Gelu.
void ExpectSameOutputs(const onnx::ModelProto& m) {
  const std::string bytes = m.SerializeAsString();
  Engine engine;
  CompileOptions plain;
  plain.optimize = false;
  auto fused = engine.CompileBytes(bytes, "");
  auto reference = engine.CompileBytes(bytes, "", plain);
  ASSERT_TRUE(fused.ok() && reference.ok()) << fused.status().ToString() << reference.status().ToString();
  const PlacementInfo& plan = (*fused)->placement();
  ASSERT_EQ(plan.nodes.size(), 1u);
  EXPECT_EQ(plan.nodes[0].op_type, "Gelu");
  EXPECT_GT((*reference)->placement().nodes.size(), 4u);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-6, 6);
  std::vector<float> x(74);
  for (auto& v : x) v = u(rng);
  std::vector<Value> in{Value(Tensor::FromVector(x, Shape{2, 37}))}, a, b;
  ASSERT_TRUE((*fused)->CreateSession()->Run(in, &a).ok());
  ASSERT_TRUE((*reference)->CreateSession()->Run(in, &b).ok());
  EXPECT_EQ(testing::CompareValues(a[0], b[0], 1e-5, 1e-5), "");
}

TEST(FuseGeluTest, EveryFormOrderAndConstantKindBecomesOneGelu) {
  for (Form form : {Form::kErfDiv, Form::kErfMul, Form::kTanhPow, Form::kTanhMulMul})
    for (Half half : {Half::kLast, Half::kOnX, Half::kOnSum})
      for (bool swap : {false, true})
        for (bool constant_nodes : {false, true}) {
          GeluSpec s;
          s.form = form;
          s.half = half;
          s.swap = swap;
          s.constant_nodes = constant_nodes;
          GeluModel gm(s);
          const std::string what = "form " + std::to_string(int(form)) + " half " + std::to_string(int(half)) +
                                   " swap " + std::to_string(swap) + " constant nodes " +
                                   std::to_string(constant_nodes);
          onnx::ModelProto m = gm.model();
          ASSERT_EQ(engine::FuseGelu(m.mutable_graph()), 1) << what;
          // The Constant nodes that fed the chain go with it.
          ASSERT_EQ(m.graph().node_size(), 1) << what;
          const auto& n = m.graph().node(0);
          EXPECT_EQ(n.op_type(), "Gelu") << what;
          ASSERT_EQ(n.input_size(), 1);
          EXPECT_EQ(n.input(0), "x") << what;
          EXPECT_EQ(n.output(0), "y") << what;
          const bool tanh = form == Form::kTanhPow || form == Form::kTanhMulMul;
          EXPECT_EQ(Approximate(n), tanh ? "tanh" : "none") << what;
          ExpectSameOutputs(gm.model());
        }
}

// Gelu is an opset-20 op; the fused node must run in models importing older opsets.
TEST(FuseGeluTest, FusedNodeRunsAtOldOpsets) {
  for (int opset : {7, 13, 17, 20}) {
    GeluSpec s;
    s.opset = opset;
    GeluModel gm(s);
    ExpectSameOutputs(gm.model());
  }
}

TEST(FuseGeluTest, OneElementTensorConstantsFuseWhenTheyKeepXsShape) {
  GeluSpec s;
  s.const_dims = {1};
  GeluModel a(s);
  EXPECT_EQ(engine::FuseGelu(a.model().mutable_graph()), 1);
  // [1,1,1] against a rank-2 x would make y rank 3: Gelu(x) would change the output's shape.
  s.const_dims = {1, 1, 1};
  GeluModel b(s);
  EXPECT_EQ(engine::FuseGelu(b.model().mutable_graph()), 0);
}

TEST(FuseGeluTest, WrongConstantDoesNotFuse) {
  GeluSpec s;
  s.half_value = 0.6f;
  for (Form form : {Form::kErfDiv, Form::kTanhPow})
    for (Half half : {Half::kLast, Half::kOnX, Half::kOnSum}) {
      s.form = form;
      s.half = half;
      GeluModel gm(s);
      EXPECT_EQ(engine::FuseGelu(gm.model().mutable_graph()), 0);
    }
  GeluSpec d;
  d.divisor = std::sqrt(3.0f);
  GeluModel gm(d);
  EXPECT_EQ(engine::FuseGelu(gm.model().mutable_graph()), 0);
}

TEST(FuseGeluTest, SharedIntermediateDoesNotFuse) {
  // Every intermediate in turn read by a second node (an Identity to a second output), and in turn
  // made a graph output itself.
  for (Form form : {Form::kErfDiv, Form::kTanhMulMul})
    for (Half half : {Half::kLast, Half::kOnX}) {
      GeluSpec s;
      s.form = form;
      s.half = half;
      GeluModel probe(s);
      std::vector<std::string> intermediates;
      for (const auto& n : probe.model().graph().node())
        if (n.op_type() != "Constant" && n.output(0) != "y") intermediates.push_back(n.output(0));
      ASSERT_GE(intermediates.size(), 4u);
      for (const std::string& v : intermediates)
        for (bool as_output : {false, true}) {
          GeluModel gm(s);
          auto* g = gm.model().mutable_graph();
          if (as_output) {
            *g->add_output() = TensorInfo(v, onnx::TensorProto::FLOAT, {2, 37});
          } else {
            *g->add_node() = Node("Identity", {v}, {"also"}, "also");
            *g->add_output() = TensorInfo("also", onnx::TensorProto::FLOAT, {2, 37});
          }
          EXPECT_EQ(engine::FuseGelu(g), 0) << v << " as output " << as_output;
        }
    }
}

TEST(FuseGeluTest, TwoChainsInOneGraph) {
  GeluModel gm(GeluSpec{});
  auto* g = gm.model().mutable_graph();
  // A second, tanh chain on y (names prefixed so they do not clash).
  GeluSpec t;
  t.form = Form::kTanhPow;
  t.half = Half::kOnX;
  GeluModel second(t);
  for (auto n : second.model().graph().node()) {
    for (auto& i : *n.mutable_input()) i = i == "x" ? "y" : "t_" + i;
    for (auto& o : *n.mutable_output()) o = o == "y" ? "z" : "t_" + o;
    *g->add_node() = n;
  }
  for (auto i : second.model().graph().initializer()) {
    i.set_name("t_" + i.name());
    *g->add_initializer() = i;
  }
  g->mutable_output(0)->set_name("z");
  EXPECT_EQ(engine::FuseGelu(g), 2);
  ASSERT_EQ(g->node_size(), 2);
  EXPECT_EQ(CountOps(*g, "Gelu"), 2);
  EXPECT_EQ(g->node(1).input(0), "y");
  EXPECT_EQ(Approximate(g->node(1)), "tanh");
}

}  // namespace
}  // namespace onnxd
