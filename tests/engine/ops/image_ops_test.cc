// Unit tests for image_ops.cc (Resize, GridSample, AffineGrid, Col2Im, CenterCropPad) beyond the
// ONNX node suite: exact small cases, error reporting, and allocation-free steady state.
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

Tensor Ramp(const Shape& shape) {
  Tensor t = Tensor::Allocate(DataType::kFloat, shape);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}

TEST(ImageOps, ResizeNearestAsymmetricRepeatsPixels) {
  onnx::ModelProto m = NewModel(19);
  auto* g = m.mutable_graph();
  *g->add_input() = testing::TensorInfo("x", onnx::TensorProto::FLOAT, {1, 1, 2, 3});
  g->add_output()->set_name("y");
  AddInit(g, "scales", Tensor::FromVector<float>({1, 1, 2, 2}, Shape{4}));
  onnx::NodeProto n = Node("Resize", {"x", "", "scales"}, {"y"});
  SetAttr(&n, "mode", std::string("nearest"));
  SetAttr(&n, "coordinate_transformation_mode", std::string("asymmetric"));
  SetAttr(&n, "nearest_mode", std::string("floor"));
  *g->add_node() = n;
  auto out = RunModel(m, {Value(Ramp(Shape{1, 1, 2, 3}))});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const Tensor& y = (*out)[0].tensor();
  ASSERT_EQ(y.shape(), (Shape{1, 1, 4, 6}));
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 6; ++c) EXPECT_EQ(y.data<float>()[r * 6 + c], static_cast<float>((r / 2) * 3 + c / 2));
}

TEST(ImageOps, ResizeBilinearAlignCorners) {
  onnx::ModelProto m = NewModel(19);
  auto* g = m.mutable_graph();
  *g->add_input() = testing::TensorInfo("x", onnx::TensorProto::FLOAT, {1, 1, 2, 2});
  g->add_output()->set_name("y");
  AddInit(g, "sizes", Tensor::FromVector<int64_t>({1, 1, 3, 3}, Shape{4}));
  onnx::NodeProto n = Node("Resize", {"x", "", "", "sizes"}, {"y"});
  SetAttr(&n, "mode", std::string("linear"));
  SetAttr(&n, "coordinate_transformation_mode", std::string("align_corners"));
  *g->add_node() = n;
  auto out = RunModel(m, {Value(Ramp(Shape{1, 1, 2, 2}))});  // [[0,1],[2,3]]
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const float expect[9] = {0, 0.5f, 1, 1, 1.5f, 2, 2, 2.5f, 3};
  const Tensor& y = (*out)[0].tensor();
  ASSERT_EQ(y.shape(), (Shape{1, 1, 3, 3}));
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(y.data<float>()[i], expect[i], 1e-6f) << i;
}

TEST(ImageOps, ResizeBadScalesIsAnError) {
  onnx::ModelProto m = NewModel(19);
  auto* g = m.mutable_graph();
  *g->add_input() = testing::TensorInfo("x", onnx::TensorProto::FLOAT, {1, 1, 2, 2});
  g->add_output()->set_name("y");
  AddInit(g, "scales", Tensor::FromVector<float>({2, 2}, Shape{2}));
  onnx::NodeProto n = Node("Resize", {"x", "", "scales"}, {"y"});
  *g->add_node() = n;
  auto out = RunModel(m, {Value(Ramp(Shape{1, 1, 2, 2}))});
  EXPECT_FALSE(out.ok());
}

TEST(ImageOps, Col2ImSumsOverlappingBlocks) {
  // 1 channel, 3x3 image, 2x2 blocks, stride 1: 4 blocks of ones -> overlap counts.
  onnx::ModelProto m = NewModel(18);
  auto* g = m.mutable_graph();
  *g->add_input() = testing::TensorInfo("x", onnx::TensorProto::FLOAT, {1, 4, 4});
  g->add_output()->set_name("y");
  AddInit(g, "im", Tensor::FromVector<int64_t>({3, 3}, Shape{2}));
  AddInit(g, "bl", Tensor::FromVector<int64_t>({2, 2}, Shape{2}));
  *g->add_node() = Node("Col2Im", {"x", "im", "bl"}, {"y"});
  Tensor x = Tensor::Allocate(DataType::kFloat, Shape{1, 4, 4});
  for (int i = 0; i < 16; ++i) x.data<float>()[i] = 1.0f;
  auto out = RunModel(m, {Value(x)});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const float expect[9] = {1, 2, 1, 2, 4, 2, 1, 2, 1};
  const Tensor& y = (*out)[0].tensor();
  ASSERT_EQ(y.shape(), (Shape{1, 1, 3, 3}));
  for (int i = 0; i < 9; ++i) EXPECT_EQ(y.data<float>()[i], expect[i]) << i;
}

TEST(ImageOps, SteadyStateRunsDoNotAllocate) {
  // x -> Resize linear -> Resize nearest -> Resize cubic antialias -> CenterCropPad -> GridSample;
  // AffineGrid builds the grid from a theta input.
  onnx::ModelProto m = NewModel(20);
  auto* g = m.mutable_graph();
  *g->add_input() = testing::TensorInfo("x", onnx::TensorProto::FLOAT, {2, 3, 8, 8});
  *g->add_input() = testing::TensorInfo("theta", onnx::TensorProto::FLOAT, {2, 2, 3});
  g->add_output()->set_name("y");
  AddInit(g, "s1", Tensor::FromVector<float>({1, 1, 2, 1.5f}, Shape{4}));
  AddInit(g, "s2", Tensor::FromVector<float>({1, 1, 0.5f, 1}, Shape{4}));
  AddInit(g, "s3", Tensor::FromVector<float>({1, 1, 0.6f, 0.6f}, Shape{4}));
  AddInit(g, "crop", Tensor::FromVector<int64_t>({5, 5}, Shape{2}));
  AddInit(g, "gsize", Tensor::FromVector<int64_t>({2, 3, 4, 6}, Shape{4}));
  onnx::NodeProto r1 = Node("Resize", {"x", "", "s1"}, {"a"});
  SetAttr(&r1, "mode", std::string("linear"));
  *g->add_node() = r1;
  onnx::NodeProto r2 = Node("Resize", {"a", "", "s2"}, {"b"});
  *g->add_node() = r2;
  onnx::NodeProto r3 = Node("Resize", {"b", "", "s3"}, {"c"});
  SetAttr(&r3, "mode", std::string("cubic"));
  SetAttr(&r3, "antialias", int64_t{1});
  *g->add_node() = r3;
  onnx::NodeProto cc = Node("CenterCropPad", {"c", "crop"}, {"d"});
  SetAttr(&cc, "axes", std::vector<int64_t>{2, 3});
  *g->add_node() = cc;
  *g->add_node() = Node("AffineGrid", {"theta", "gsize"}, {"grid"});
  onnx::NodeProto gs = Node("GridSample", {"d", "grid"}, {"y"});
  SetAttr(&gs, "mode", std::string("cubic"));
  SetAttr(&gs, "padding_mode", std::string("reflection"));
  *g->add_node() = gs;
  Engine engine;
  auto model = engine.CompileBytes(m.SerializeAsString(), "");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto session = (*model)->CreateSession();
  Tensor theta = Tensor::FromVector<float>({0.9f, 0.1f, 0.05f, -0.1f, 1.1f, 0.0f, 1, 0, 0, 0, 1, 0}, Shape{2, 2, 3});
  std::vector<Value> ins = {Value(Ramp(Shape{2, 3, 8, 8})), Value(theta)}, outs;
  for (int i = 0; i < 3; ++i) {
    Status warm = session->Run(ins, &outs);
    ASSERT_TRUE(warm.ok()) << warm.ToString();
  }
  testing::StartCountingAllocations();
  Status st = session->Run(ins, &outs);
  long allocs = testing::StopCountingAllocations();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(allocs, 0);
  EXPECT_EQ(outs[0].tensor().shape(), (Shape{2, 3, 4, 6}));
}

}  // namespace
}  // namespace onnxd
