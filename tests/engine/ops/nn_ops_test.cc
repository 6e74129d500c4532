// Unit tests for nn_ops.cc beyond the ONNX node suite (whose cases use the newest opset): attribute
// forms of older opsets.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "onnx/onnx-ml.pb.h"
#include "onnxd/engine/engine.h"
#include "test_models.h"

namespace onnxd {
namespace {

using testing::NewModel;
using testing::Node;
using testing::RunModel;
using testing::SetAttr;

// LpPool over x [1, 1, 3, 3] with a 2x2 window at `opset`, its p attribute set by `set_p`.
template <typename SetP>
StatusOr<std::vector<Value>> RunLpPool(int opset, SetP set_p) {
  onnx::ModelProto m = NewModel(opset);
  auto* g = m.mutable_graph();
  *g->add_input() = testing::TensorInfo("x", onnx::TensorProto::FLOAT, {1, 1, 3, 3});
  g->add_output()->set_name("y");
  onnx::NodeProto n = Node("LpPool", {"x"}, {"y"});
  SetAttr(&n, "kernel_shape", std::vector<int64_t>{2, 2});
  set_p(&n);
  *g->add_node() = n;
  Tensor x = Tensor::FromVector<float>({1, -2, 3, 4, 5, -6, 7, 8, 9.5f}, Shape{1, 1, 3, 3});
  return RunModel(m, {Value(std::move(x))});
}

// p is a FLOAT attribute in LpPool-1 and an INT one from LpPool-2 on (onnx.defs); it was read as a
// float up to opset 10, so an opset-2..10 model's p = 3 read as 0 and failed ("p must be positive").
// Expected values: onnxruntime 1.32 (CPU), the same at opsets 10 and 11.
TEST(NnOps, LpPoolReadsItsIntPFromOpset2On) {
  const std::vector<float> want = {5.828476905822754f, 7.217652797698975f, 10.144567489624023f, 11.959062576293945f};
  auto int_p = [](onnx::NodeProto* n) { SetAttr(n, "p", int64_t{3}); };
  auto float_p = [](onnx::NodeProto* n) {
    auto* a = n->add_attribute();
    a->set_name("p");
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(3.f);
  };
  struct Case {
    int opset;
    bool float_attr;
  };
  for (const Case c : {Case{1, true}, Case{2, false}, Case{10, false}, Case{11, false}, Case{18, false}}) {
    SCOPED_TRACE("opset " + std::to_string(c.opset));
    auto out = c.float_attr ? RunLpPool(c.opset, float_p) : RunLpPool(c.opset, int_p);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    const Tensor& y = (*out)[0].tensor();
    ASSERT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(y.data<float>()[i], want[i], 1e-4f) << "element " << i;
  }
}

}  // namespace
}  // namespace onnxd
