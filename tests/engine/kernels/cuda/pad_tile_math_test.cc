// The CUDA Pad and Tile kernels' whole computation, run on the host: kernels/cuda/misc_ops.cu
// copies element PadSourceOffset / TileSourceOffset (kernels/cuda/pad_tile_math.h) of the input,
// or Pad's constant, for each output element, over the geometry MakePadGeometry / MakeTileGeometry
// build from the node's values (as runtime/cuda_data_ops.cc calls them). Here the same calls run
// in a host loop, in both index widths the kernels use, and every output element must equal the
// CPU op's (ops/shape_ops.cc, checked against onnxruntime by the ONNX node suite). Only the launch
// is left to the GPU checks (tests/gpu).
#include "kernels/cuda/pad_tile_math.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "math_test_util.h"
#include "onnx/onnx-ml.pb.h"
#include "onnxd/engine/engine.h"
#include "test_models.h"

namespace onnxd::cuda {
namespace {

using onnxd::testing::AddInit;
using onnxd::testing::ModelWithFloatX;
using onnxd::testing::Node;
using onnxd::testing::RunModel;
using onnxd::testing::SetAttr;
using onnxd::testing::SetFloatAttr;
using testing::ListText;

Tensor RandomTensor(const std::vector<int64_t>& dims, uint32_t seed) {
  Tensor t = Tensor::Allocate(DataType::kFloat, Shape(std::span<const int64_t>(dims)));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-1000, 1000);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = static_cast<float>(d(rng)) / 8.f;
  return t;
}

// Every output element of the geometry's evaluation equals `want`'s, in int32 and int64 indices.
// pad: the constant where the offset is -1 (Tile otherwise).
void ExpectSameElements(const PadTileGeometry& g, const Tensor& x, const Tensor& want, bool pad, float constant,
                        const std::string& what) {
  ASSERT_EQ(g.rank, want.rank()) << what;
  for (int d = 0; d < g.rank; ++d) ASSERT_EQ(g.out_dims[d], want.dim(d)) << what << " dim " << d;
  ASSERT_EQ(PadTileOutputElements(g), want.num_elements()) << what;
  const float* xs = x.data<float>();
  const float* ys = want.data<float>();
  int bad = 0;
  for (int64_t i = 0; i < want.num_elements(); ++i) {
    const int64_t o64 = pad ? PadSourceOffset<int64_t>(g, i) : TileSourceOffset<int64_t>(g, i);
    const int32_t o32 = pad ? PadSourceOffset<int32_t>(g, static_cast<int32_t>(i))
                            : TileSourceOffset<int32_t>(g, static_cast<int32_t>(i));
    EXPECT_EQ(o64, int64_t{o32}) << what << " element " << i;
    ASSERT_GE(o64, -1) << what;
    ASSERT_LT(o64, x.num_elements()) << what;
    const float got = o64 < 0 ? constant : xs[o64];
    if (got != ys[i] && ++bad <= 3) ADD_FAILURE() << what << ": element " << i << " got " << got << ", want " << ys[i];
  }
  EXPECT_EQ(bad, 0) << what;
}

PadMode ModeOf(const std::string& m) {
  if (m == "reflect") return PadMode::kReflect;
  if (m == "edge") return PadMode::kEdge;
  if (m == "wrap") return PadMode::kWrap;
  return PadMode::kConstant;
}

// Pad from opset 11 on (pads, constant_value and, from 18, axes as inputs), against the CPU op.
void CheckPad(const std::vector<int64_t>& dims, const std::string& mode, const std::vector<int64_t>& pads,
              const std::vector<int64_t>& axes, float constant, uint32_t seed) {
  const std::string what =
      "Pad " + mode + " x " + ListText(dims) + " pads " + ListText(pads) + " axes " + ListText(axes);
  const int opset = axes.empty() && mode != "wrap" ? 13 : 19;
  onnx::ModelProto m = ModelWithFloatX(opset, dims);
  auto* g = m.mutable_graph();
  AddInit(g, "pads", Tensor::FromVector<int64_t>(pads, Shape{static_cast<int64_t>(pads.size())}));
  std::vector<std::string> in = {"x", "pads"};
  if (mode == "constant") {
    AddInit(g, "cv", Tensor::FromVector<float>({constant}, Shape{}));
    in.push_back("cv");
  }
  if (!axes.empty()) {
    AddInit(g, "axes", Tensor::FromVector<int64_t>(axes, Shape{static_cast<int64_t>(axes.size())}));
    if (in.size() == 2) in.push_back("");
    in.push_back("axes");
  }
  onnx::NodeProto n = Node("Pad", in, {"y"});
  SetAttr(&n, "mode", mode);
  *g->add_node() = n;
  const Tensor x = RandomTensor(dims, seed);
  auto out = RunModel(m, {Value(x)});
  ASSERT_TRUE(out.ok()) << what << ": " << out.status().ToString();
  PadTileGeometry geo;
  const std::string why =
      MakePadGeometry(dims.data(), static_cast<int>(dims.size()), ModeOf(mode), pads.data(),
                      static_cast<int>(pads.size()), axes.empty() ? nullptr : axes.data(), static_cast<int>(axes.size()), &geo);
  ASSERT_EQ(why, "") << what;
  ExpectSameElements(geo, x, (*out)[0].tensor(), true, mode == "constant" ? constant : 0.f, what);
}

TEST(PadTileMath, PadMatchesTheCpuOpInEveryMode) {
  uint32_t seed = 1;
  for (const std::string mode : {"constant", "reflect", "edge", "wrap"}) {
    // tf2onnx's explicit Conv padding: NCHW, H and W only, asymmetric.
    CheckPad({2, 3, 5, 7}, mode, {0, 0, 1, 2, 0, 0, 2, 1}, {}, 1.5f, seed++);
    // Wider than the input (reflect / wrap fold several times; reflect needs pads < dim).
    if (mode == "constant" || mode == "edge" || mode == "wrap") CheckPad({3, 4}, mode, {5, 9, 7, 6}, {}, -2.f, seed++);
    else CheckPad({3, 4}, mode, {2, 3, 1, 2}, {}, 0.f, seed++);
    // Negative pads crop; a dim of 1.
    CheckPad({4, 1, 6}, mode, {-1, 2, 1, 0, 2, -2}, {}, 3.f, seed++);
    CheckPad({1, 2, 3, 4, 5, 2}, mode, {1, 0, 1, 0, 2, 1, 0, 1, 0, 2, 1, 0}, {}, 0.25f, seed++);
    // Axes (opset 18+), negative and out of order.
    CheckPad({2, 5, 6}, mode, {1, 2, 3, 0}, {-1, 1}, -1.f, seed++);
    // A 1-D input.
    CheckPad({9}, mode, {3, 4}, {}, 7.f, seed++);
  }
}

TEST(PadTileMath, PadByAttributeBeforeOpset11) {
  // Pad-2: pads and value as attributes (the session reads them into CudaNodeParams).
  onnx::ModelProto m = ModelWithFloatX(2, {2, 3, 4});
  auto* g = m.mutable_graph();
  onnx::NodeProto n = Node("Pad", {"x"}, {"y"});
  const std::vector<int64_t> pads = {0, 1, 2, 1, 0, 3};
  SetAttr(&n, "pads", pads);
  SetFloatAttr(&n, "value", -4.5f);
  *g->add_node() = n;
  const Tensor x = RandomTensor({2, 3, 4}, 50);
  auto out = RunModel(m, {Value(x)});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const int64_t dims[3] = {2, 3, 4};
  PadTileGeometry geo;
  ASSERT_EQ(MakePadGeometry(dims, 3, PadMode::kConstant, pads.data(), 6, nullptr, 0, &geo), "");
  ExpectSameElements(geo, x, (*out)[0].tensor(), true, -4.5f, "Pad-2");
}

TEST(PadTileMath, PadGeometryRefusesWhatTheCpuOpRefuses) {
  const int64_t dims[3] = {2, 0, 4};
  const int64_t pads[6] = {0, 1, 0, 0, 1, 0};
  PadTileGeometry geo;
  EXPECT_NE(MakePadGeometry(dims, 3, PadMode::kReflect, pads, 6, nullptr, 0, &geo), "");  // empty dim padded
  EXPECT_EQ(MakePadGeometry(dims, 3, PadMode::kConstant, pads, 6, nullptr, 0, &geo), "");
  EXPECT_EQ(geo.out_dims[1], 2);
  EXPECT_NE(MakePadGeometry(dims, 3, PadMode::kConstant, pads, 4, nullptr, 0, &geo), "");  // too few pads
  const int64_t crop[6] = {0, 0, -3, 0, 0, -2};
  EXPECT_NE(MakePadGeometry(dims, 3, PadMode::kConstant, crop, 6, nullptr, 0, &geo), "");  // negative dim
  const int64_t axes[1] = {3};
  EXPECT_NE(MakePadGeometry(dims, 3, PadMode::kConstant, pads, 2, axes, 1, &geo), "");  // axis out of range
  const int64_t seven[7] = {1, 1, 1, 1, 1, 1, 1};
  EXPECT_NE(MakePadGeometry(seven, 7, PadMode::kConstant, pads, 0, nullptr, 0, &geo), "");  // rank 7
}

void CheckTile(const std::vector<int64_t>& dims, const std::vector<int64_t>& repeats, uint32_t seed) {
  const std::string what = "Tile x " + ListText(dims) + " repeats " + ListText(repeats);
  onnx::ModelProto m = ModelWithFloatX(13, dims);
  auto* g = m.mutable_graph();
  AddInit(g, "r", Tensor::FromVector<int64_t>(repeats, Shape{static_cast<int64_t>(repeats.size())}));
  *g->add_node() = Node("Tile", {"x", "r"}, {"y"});
  const Tensor x = RandomTensor(dims, seed);
  auto out = RunModel(m, {Value(x)});
  ASSERT_TRUE(out.ok()) << what << ": " << out.status().ToString();
  PadTileGeometry geo;
  ASSERT_EQ(MakeTileGeometry(dims.data(), static_cast<int>(dims.size()), repeats.data(),
                             static_cast<int>(repeats.size()), &geo),
            "")
      << what;
  ExpectSameElements(geo, x, (*out)[0].tensor(), false, 0.f, what);
}

TEST(PadTileMath, TileMatchesTheCpuOp) {
  CheckTile({5}, {3}, 60);
  CheckTile({2, 3}, {2, 1}, 61);
  CheckTile({2, 3}, {1, 4}, 62);
  CheckTile({3, 1, 4}, {2, 5, 3}, 63);
  CheckTile({1, 2, 1, 3, 2, 1}, {2, 1, 3, 1, 2, 4}, 64);
  CheckTile({2, 3, 4}, {1, 0, 2}, 65);  // an empty output
}

TEST(PadTileMath, TileGeometryRefusesBadRepeats) {
  const int64_t dims[2] = {2, 3};
  const int64_t neg[2] = {1, -1};
  PadTileGeometry geo;
  EXPECT_NE(MakeTileGeometry(dims, 2, neg, 2, &geo), "");
  EXPECT_NE(MakeTileGeometry(dims, 2, neg, 1, &geo), "");
}

}  // namespace
}  // namespace onnxd::cuda
