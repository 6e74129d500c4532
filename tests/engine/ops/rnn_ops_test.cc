// Unit tests for rnn_ops.cc (RNN, GRU, LSTM) and loss_ops.cc beyond the ONNX node suite: small
// exact cases, sequence_lens semantics, error reporting and allocation-free steady state.
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

using testing::AddInit;
using testing::NewModel;
using testing::Node;
using testing::RunModel;
using testing::SetAttr;

Tensor Filled(const Shape& shape, float v) {
  Tensor t = Tensor::Allocate(DataType::kFloat, shape);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = v;
  return t;
}

// RNN, hidden 1, input 1: H_t = tanh(w * x_t + r * H_{t-1}); with sequence_lens the padded steps
// give zeros in Y and Y_h is the state after each entry's last step.
TEST(RnnOps, RnnSequenceLensAndReverse) {
  for (const char* dir : {"forward", "reverse"}) {
    onnx::ModelProto m = NewModel(14);
    auto* g = m.mutable_graph();
    *g->add_input() = testing::TensorInfo("x", onnx::TensorProto::FLOAT, {3, 2, 1});
    g->add_output()->set_name("y");
    g->add_output()->set_name("yh");
    AddInit(g, "w", Filled(Shape{1, 1, 1}, 0.5f));
    AddInit(g, "r", Filled(Shape{1, 1, 1}, 0.25f));
    AddInit(g, "lens", Tensor::FromVector<int32_t>({3, 2}, Shape{2}));
    onnx::NodeProto n = Node("RNN", {"x", "w", "r", "", "lens"}, {"y", "yh"});
    SetAttr(&n, "hidden_size", int64_t{1});
    SetAttr(&n, "direction", std::string(dir));
    *g->add_node() = n;
    Tensor x = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, Shape{3, 2, 1});  // x[t][b]
    auto out = RunModel(m, {Value(x)});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    const Tensor& y = (*out)[0].tensor();
    const Tensor& yh = (*out)[1].tensor();
    ASSERT_EQ(y.shape(), (Shape{3, 1, 2, 1}));
    ASSERT_EQ(yh.shape(), (Shape{1, 2, 1}));
    const bool rev = std::string(dir) == "reverse";
    const int lens[2] = {3, 2};
    for (int b = 0; b < 2; ++b) {
      double h = 0;
      double expect_y[3] = {0, 0, 0};
      for (int k = 0; k < lens[b]; ++k) {
        const int t = rev ? lens[b] - 1 - k : k;
        h = std::tanh(0.5 * x.data<float>()[t * 2 + b] + 0.25 * h);
        expect_y[t] = h;
      }
      for (int t = 0; t < 3; ++t) EXPECT_NEAR(y.data<float>()[t * 2 + b], expect_y[t], 1e-6) << dir << " b" << b << " t" << t;
      EXPECT_NEAR(yh.data<float>()[b], h, 1e-6) << dir << " b" << b;
    }
  }
}

TEST(RnnOps, LstmBadWeightShapeIsAnError) {
  onnx::ModelProto m = NewModel(14);
  auto* g = m.mutable_graph();
  *g->add_input() = testing::TensorInfo("x", onnx::TensorProto::FLOAT, {2, 1, 3});
  g->add_output()->set_name("y");
  AddInit(g, "w", Filled(Shape{1, 8, 3}, 0.1f));  // should be [1, 4*2, 3] -> ok; R is wrong below
  AddInit(g, "r", Filled(Shape{1, 8, 3}, 0.1f));  // should be [1, 8, 2]
  onnx::NodeProto n = Node("LSTM", {"x", "w", "r"}, {"y"});
  SetAttr(&n, "hidden_size", int64_t{2});
  *g->add_node() = n;
  auto out = RunModel(m, {Value(Filled(Shape{2, 1, 3}, 1.0f))});
  EXPECT_FALSE(out.ok());
}

TEST(RnnOps, SteadyStateRunsDoNotAllocate) {
  // Bidirectional LSTM with peepholes and sequence_lens, then a GRU on its Y_h, then
  // SoftmaxCrossEntropyLoss on the GRU output.
  const int64_t S = 4, B = 3, I = 5, H = 6;
  onnx::ModelProto m = NewModel(14);
  auto* g = m.mutable_graph();
  *g->add_input() = testing::TensorInfo("x", onnx::TensorProto::FLOAT, {S, B, I});
  g->add_output()->set_name("loss");
  g->add_output()->set_name("y");
  AddInit(g, "w", Filled(Shape{2, 4 * H, I}, 0.05f));
  AddInit(g, "r", Filled(Shape{2, 4 * H, H}, -0.03f));
  AddInit(g, "b", Filled(Shape{2, 8 * H}, 0.01f));
  AddInit(g, "p", Filled(Shape{2, 3 * H}, 0.2f));
  AddInit(g, "lens", Tensor::FromVector<int32_t>({4, 2, 3}, Shape{B}));
  AddInit(g, "gw", Filled(Shape{1, 3 * H, H}, 0.07f));
  AddInit(g, "gr", Filled(Shape{1, 3 * H, H}, 0.02f));
  onnx::NodeProto lstm = Node("LSTM", {"x", "w", "r", "b", "lens", "", "", "p"}, {"y", "yh", "yc"});
  SetAttr(&lstm, "hidden_size", H);
  SetAttr(&lstm, "direction", std::string("bidirectional"));
  *g->add_node() = lstm;
  onnx::NodeProto gru = Node("GRU", {"yh", "gw", "gr"}, {"gy"});
  SetAttr(&gru, "hidden_size", H);
  SetAttr(&gru, "linear_before_reset", int64_t{1});
  *g->add_node() = gru;
  // gy: [num_steps 2, 1, 3, 6] read as [N=2, C=1, d1=3, d2=6]; the only class is 0.
  AddInit(g, "labels", Tensor::Allocate(DataType::kInt64, Shape{2, 3, 6}));
  onnx::NodeProto sce = Node("SoftmaxCrossEntropyLoss", {"gy", "labels"}, {"loss"});
  SetAttr(&sce, "reduction", std::string("sum"));
  *g->add_node() = sce;
  Engine engine;
  auto model = engine.CompileBytes(m.SerializeAsString(), "");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto session = (*model)->CreateSession();
  Tensor x = Tensor::Allocate(DataType::kFloat, Shape{S, B, I});
  for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = std::sin(0.3f * static_cast<float>(i));
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
  EXPECT_EQ(outs[1].tensor().shape(), (Shape{S, 2, B, H}));
  EXPECT_NEAR(outs[0].tensor().data<float>()[0], 0.0f, 1e-6f);  // log_softmax over one class is 0
  // Padded steps of batch entry 1 (length 2) are zero in both directions.
  const float* y = outs[1].tensor().data<float>();
  for (int64_t t = 2; t < S; ++t)
    for (int64_t d = 0; d < 2; ++d)
      for (int64_t j = 0; j < H; ++j) EXPECT_EQ(y[((t * 2 + d) * B + 1) * H + j], 0.0f);
}

TEST(LossOps, NllMeanWithIgnoreIndexAndWeight) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = testing::TensorInfo("x", onnx::TensorProto::FLOAT, {3, 2});
  g->add_output()->set_name("loss");
  AddInit(g, "t", Tensor::FromVector<int64_t>({0, 1, -1}, Shape{3}));
  AddInit(g, "w", Tensor::FromVector<float>({2, 3}, Shape{2}));
  onnx::NodeProto n = Node("NegativeLogLikelihoodLoss", {"x", "t", "w"}, {"loss"});
  SetAttr(&n, "ignore_index", int64_t{-1});
  *g->add_node() = n;
  Tensor x = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, Shape{3, 2});
  auto out = RunModel(m, {Value(x)});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  // -(2*1 + 3*4) / (2 + 3)
  EXPECT_NEAR((*out)[0].tensor().data<float>()[0], -14.0f / 5.0f, 1e-6f);
}

TEST(LossOps, OutOfRangeTargetIsAnError) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = testing::TensorInfo("x", onnx::TensorProto::FLOAT, {2, 2});
  g->add_output()->set_name("loss");
  AddInit(g, "t", Tensor::FromVector<int64_t>({0, 2}, Shape{2}));
  *g->add_node() = Node("SoftmaxCrossEntropyLoss", {"x", "t"}, {"loss"});
  auto out = RunModel(m, {Value(Filled(Shape{2, 2}, 1.0f))});
  EXPECT_FALSE(out.ok());
}

}  // namespace
}  // namespace onnxd
