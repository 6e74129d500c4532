// The CUDA fusion plan's attention blocks when an export builds the mask after the scores'
// MatMul (planner/cuda_fusions.cc): the nodes the mask needs run before that MatMul when that is
// safe; it is refused when a moved node would free a value a node staying after the MatMul still
// reads (the release lists are the graph order's), and when the mask depends on the scores. Read
// through `onnxd inspect`'s fusions line (PlacementInfo::fusions); no GPU needed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "onnx/onnx-ml.pb.h"
#include "onnxd/engine/engine.h"
#include "test_models.h"

namespace onnxd {
namespace {

using testing::FloatInitializer;
using testing::NewModel;
using testing::Node;
using testing::TensorInfo;

constexpr int kFloat = onnx::TensorProto::FLOAT;

// q, kt, v [1, 2, 4, 4] and mask_in [1, 1, 4, 4]; scores = MatMul(q, kt); `late` adds the nodes
// that make "mask" after it; then Add(scores, mask) -> Softmax -> MatMul(., v) -> y.
onnx::ModelProto Block(const std::vector<onnx::NodeProto>& late, const std::vector<std::string>& extra_outputs = {}) {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  for (const char* n : {"q", "kt", "v"}) *g->add_input() = TensorInfo(n, kFloat, {1, 2, 4, 4});
  *g->add_input() = TensorInfo("mask_in", kFloat, {1, 1, 4, 4});
  *g->add_output() = TensorInfo("y", kFloat, {1, 2, 4, 4});
  for (const auto& o : extra_outputs) *g->add_output() = TensorInfo(o, kFloat, {});
  *g->add_initializer() = FloatInitializer("zero", {1}, {0.f});
  *g->add_node() = Node("MatMul", {"q", "kt"}, {"scores"}, "qk");
  for (const auto& n : late) *g->add_node() = n;
  *g->add_node() = Node("Add", {"scores", "mask"}, {"masked"}, "add_mask");
  *g->add_node() = Node("Softmax", {"masked"}, {"p"}, "softmax");
  *g->add_node() = Node("MatMul", {"p", "v"}, {"y"}, "pv");
  return m;
}

int AttentionBlocks(const onnx::ModelProto& m) {
  Engine engine;
  CompileOptions options;
  options.device = Device::kCuda;
  auto model = engine.CompileBytes(m.SerializeAsString(), "", options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return -1;
  const std::string& f = (*model)->placement().fusions;
  const size_t at = f.find("attention blocks ");
  EXPECT_NE(at, std::string::npos) << f;
  return at == std::string::npos ? -1 : std::stoi(f.substr(at + 17));
}

TEST(CudaFusionPlanTest, AMaskBuiltAfterTheScoresRunsFirst) {
  // TorchScript's per-layer mask: Where-like from an input, after the MatMul.
  EXPECT_EQ(AttentionBlocks(Block({Node("Add", {"mask_in", "zero"}, {"mask"}, "late_mask")})), 1);
  // Built before: nothing to move.
  onnx::ModelProto early = Block({});
  auto* g = early.mutable_graph();
  onnx::NodeProto mask = Node("Add", {"mask_in", "zero"}, {"mask"}, "early_mask");
  auto* nodes = g->mutable_node();
  nodes->Add()->CopyFrom(mask);
  // (put it first)
  for (int k = nodes->size() - 1; k > 0; --k) nodes->SwapElements(k, k - 1);
  EXPECT_EQ(AttentionBlocks(early), 1);
}

TEST(CudaFusionPlanTest, AMoveThatWouldFreeAValueStillReadIsRefused) {
  // The mask reads q last; the MatMul, which stays, reads it too.
  EXPECT_EQ(AttentionBlocks(Block({Node("Add", {"q", "zero"}, {"mask"}, "mask_of_q")})), 0);
  // A node between the MatMul and the mask reads mask_in, which the mask reads last.
  EXPECT_EQ(AttentionBlocks(Block({Node("Relu", {"mask_in"}, {"r"}, "between"),
                                   Node("Add", {"mask_in", "zero"}, {"mask"}, "late_mask")},
                                  {"r"})),
            0);
}

TEST(CudaFusionPlanTest, AMaskComputedFromTheScoresIsRefused) {
  EXPECT_EQ(AttentionBlocks(Block({Node("Relu", {"scores"}, {"mask"}, "mask_of_scores")})), 0);
}

}  // namespace
}  // namespace onnxd
