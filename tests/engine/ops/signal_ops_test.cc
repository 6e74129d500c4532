// Unit tests for signal_ops.cc (DFT, STFT, windows) and detection_ops.cc (NonMaxSuppression,
// RoiAlign) beyond the ONNX node suite: exact small cases, error reporting, allocation-free runs.
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

// Naive DFT of a real signal for checking.
void NaiveDft(const std::vector<double>& x, int64_t n, std::vector<double>* re, std::vector<double>* im) {
  re->assign(n, 0);
  im->assign(n, 0);
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t j = 0; j < n && j < static_cast<int64_t>(x.size()); ++j) {
      const double a = -2 * M_PI * static_cast<double>(j * k % n) / static_cast<double>(n);
      (*re)[k] += x[j] * std::cos(a);
      (*im)[k] += x[j] * std::sin(a);
    }
  }
}

TEST(SignalOps, DftMatchesNaiveForOddAndPow2Lengths) {
  for (int64_t n : {1, 2, 5, 8, 12, 31, 64}) {
    onnx::ModelProto m = NewModel(20);
    auto* g = m.mutable_graph();
    *g->add_input() = testing::TensorInfo("x", onnx::TensorProto::DOUBLE, {3, n, 1});
    g->add_output()->set_name("y");
    AddInit(g, "axis", Tensor::FromVector<int64_t>({1}, Shape{}));
    *g->add_node() = Node("DFT", {"x", "", "axis"}, {"y"});
    Tensor x = Tensor::Allocate(DataType::kDouble, Shape{3, n, 1});
    for (int64_t i = 0; i < x.num_elements(); ++i) x.data<double>()[i] = std::sin(0.7 * i) + 0.1 * i;
    auto out = RunModel(m, {Value(x)});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    const Tensor& y = (*out)[0].tensor();
    ASSERT_EQ(y.shape(), (Shape{3, n, 2}));
    for (int64_t b = 0; b < 3; ++b) {
      std::vector<double> sig(x.data<double>() + b * n, x.data<double>() + (b + 1) * n), re, im;
      NaiveDft(sig, n, &re, &im);
      for (int64_t k = 0; k < n; ++k) {
        EXPECT_NEAR(y.data<double>()[(b * n + k) * 2], re[k], 1e-9) << "n=" << n << " b=" << b << " k=" << k;
        EXPECT_NEAR(y.data<double>()[(b * n + k) * 2 + 1], im[k], 1e-9) << "n=" << n << " b=" << b << " k=" << k;
      }
    }
  }
}

TEST(SignalOps, DftRejectsLastAxis) {
  onnx::ModelProto m = NewModel(20);
  auto* g = m.mutable_graph();
  *g->add_input() = testing::TensorInfo("x", onnx::TensorProto::FLOAT, {2, 4, 1});
  g->add_output()->set_name("y");
  AddInit(g, "axis", Tensor::FromVector<int64_t>({-1}, Shape{}));
  *g->add_node() = Node("DFT", {"x", "", "axis"}, {"y"});
  auto out = RunModel(m, {Value(Tensor::Allocate(DataType::kFloat, Shape{2, 4, 1}))});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().ToString().find("axis"), std::string::npos) << out.status().ToString();
}

TEST(SignalOps, HannWindowSymmetric) {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  g->add_output()->set_name("y");
  AddInit(g, "n", Tensor::FromVector<int64_t>({5}, Shape{}));
  onnx::NodeProto w = Node("HannWindow", {"n"}, {"y"});
  SetAttr(&w, "periodic", int64_t{0});
  *g->add_node() = w;
  auto out = RunModel(m, {});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const float expect[5] = {0, 0.5f, 1, 0.5f, 0};
  for (int i = 0; i < 5; ++i) EXPECT_NEAR((*out)[0].tensor().data<float>()[i], expect[i], 1e-6) << i;
}

TEST(DetectionOps, NmsSuppressesOverlapsPerClass) {
  onnx::ModelProto m = NewModel(11);
  auto* g = m.mutable_graph();
  *g->add_input() = testing::TensorInfo("boxes", onnx::TensorProto::FLOAT, {1, 3, 4});
  *g->add_input() = testing::TensorInfo("scores", onnx::TensorProto::FLOAT, {1, 1, 3});
  g->add_output()->set_name("y");
  AddInit(g, "max", Tensor::FromVector<int64_t>({10}, Shape{1}));
  AddInit(g, "iou", Tensor::FromVector<float>({0.5f}, Shape{1}));
  *g->add_node() = Node("NonMaxSuppression", {"boxes", "scores", "max", "iou"}, {"y"});
  // Box 1 overlaps box 0 heavily; box 2 is apart. Scores: 0.5, 0.9, 0.7.
  Tensor boxes = Tensor::FromVector<float>({0, 0, 10, 10, 0, 1, 10, 11, 20, 20, 30, 30}, Shape{1, 3, 4});
  Tensor scores = Tensor::FromVector<float>({0.5f, 0.9f, 0.7f}, Shape{1, 1, 3});
  auto out = RunModel(m, {Value(boxes), Value(scores)});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const Tensor& y = (*out)[0].tensor();
  ASSERT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.data<int64_t>()[2], 1);
  EXPECT_EQ(y.data<int64_t>()[5], 2);
}

TEST(DetectionOps, RoiAlignRejectsBadBatchIndex) {
  onnx::ModelProto m = NewModel(16);
  auto* g = m.mutable_graph();
  *g->add_input() = testing::TensorInfo("x", onnx::TensorProto::FLOAT, {1, 1, 4, 4});
  g->add_output()->set_name("y");
  AddInit(g, "rois", Tensor::FromVector<float>({0, 0, 2, 2}, Shape{1, 4}));
  AddInit(g, "bi", Tensor::FromVector<int64_t>({3}, Shape{1}));
  *g->add_node() = Node("RoiAlign", {"x", "rois", "bi"}, {"y"});
  auto out = RunModel(m, {Value(Tensor::Allocate(DataType::kFloat, Shape{1, 1, 4, 4}))});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().ToString().find("batch_indices"), std::string::npos) << out.status().ToString();
}

TEST(SignalOps, SteadyStateRunsDoNotAllocate) {
  // x -> STFT (length-12 Bluestein frames, real pairs) ; x2 -> DFT (pow2, complex) ; boxes -> NMS ;
  // feat -> RoiAlign.
  onnx::ModelProto m = NewModel(20);
  auto* g = m.mutable_graph();
  *g->add_input() = testing::TensorInfo("x", onnx::TensorProto::FLOAT, {2, 100, 1});
  *g->add_input() = testing::TensorInfo("x2", onnx::TensorProto::FLOAT, {3, 16, 2});
  *g->add_input() = testing::TensorInfo("boxes", onnx::TensorProto::FLOAT, {1, 4, 4});
  *g->add_input() = testing::TensorInfo("scores", onnx::TensorProto::FLOAT, {1, 2, 4});
  *g->add_input() = testing::TensorInfo("feat", onnx::TensorProto::FLOAT, {1, 2, 8, 8});
  for (const char* o : {"s", "d", "n", "r"}) g->add_output()->set_name(o);
  AddInit(g, "step", Tensor::FromVector<int64_t>({5}, Shape{}));
  AddInit(g, "flen", Tensor::FromVector<int64_t>({12}, Shape{}));
  AddInit(g, "axis", Tensor::FromVector<int64_t>({1}, Shape{}));
  AddInit(g, "max", Tensor::FromVector<int64_t>({3}, Shape{1}));
  AddInit(g, "iou", Tensor::FromVector<float>({0.3f}, Shape{1}));
  AddInit(g, "rois", Tensor::FromVector<float>({0, 0, 4, 4, 1, 2, 7, 6}, Shape{2, 4}));
  AddInit(g, "bi", Tensor::FromVector<int64_t>({0, 0}, Shape{2}));
  *g->add_node() = Node("STFT", {"x", "step", "", "flen"}, {"s"});
  *g->add_node() = Node("DFT", {"x2", "", "axis"}, {"d"});
  *g->add_node() = Node("NonMaxSuppression", {"boxes", "scores", "max", "iou"}, {"n"});
  *g->add_node() = Node("RoiAlign", {"feat", "rois", "bi"}, {"r"});
  Engine engine;
  auto model = engine.CompileBytes(m.SerializeAsString(), "");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto session = (*model)->CreateSession();
  auto fill = [](const Shape& s) {
    Tensor t = Tensor::Allocate(DataType::kFloat, s);
    for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = std::cos(0.37f * i) * (i % 7);
    return t;
  };
  Tensor boxes = Tensor::FromVector<float>({0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 2, 2, 3, 3, 2, 2, 3.2f, 3}, Shape{1, 4, 4});
  Tensor scores = Tensor::FromVector<float>({0.1f, 0.2f, 0.3f, 0.4f, 0.9f, 0.8f, 0.7f, 0.6f}, Shape{1, 2, 4});
  std::vector<Value> ins = {Value(fill(Shape{2, 100, 1})), Value(fill(Shape{3, 16, 2})), Value(boxes), Value(scores),
                            Value(fill(Shape{1, 2, 8, 8}))},
                     outs;
  for (int i = 0; i < 3; ++i) {
    Status warm = session->Run(ins, &outs);
    ASSERT_TRUE(warm.ok()) << warm.ToString();
  }
  testing::StartCountingAllocations();
  Status st = session->Run(ins, &outs);
  long allocs = testing::StopCountingAllocations();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(allocs, 0);
  EXPECT_EQ(outs[0].tensor().shape(), (Shape{2, 18, 7, 2}));
  EXPECT_EQ(outs[1].tensor().shape(), (Shape{3, 16, 2}));
  EXPECT_EQ(outs[2].tensor().shape(), (Shape{4, 3}));
  EXPECT_EQ(outs[3].tensor().shape(), (Shape{2, 2, 1, 1}));
}

}  // namespace
}  // namespace onnxd
