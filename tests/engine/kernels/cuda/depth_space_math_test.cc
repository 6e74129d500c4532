// DepthToSpace / SpaceToDepth as the CUDA session runs them: the 6-D strided copy that
// kernels/cuda/depth_space_math.h describes (cuda::StridedCopy moves it on the GPU and is tested
// there) done here by a host loop, against the CPU ops (ops/shape_ops.cc, checked against
// onnxruntime by the ONNX node suite), in both DepthToSpace modes and for several block sizes.
#include "kernels/cuda/depth_space_math.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "math_test_util.h"
#include "onnx/onnx-ml.pb.h"
#include "onnxd/engine/engine.h"
#include "test_models.h"

namespace onnxd::cuda {
namespace {

using onnxd::testing::ModelWithFloatX;
using onnxd::testing::Node;
using onnxd::testing::RunModel;
using onnxd::testing::SetAttr;

void Check(const std::string& op, const std::vector<int64_t>& dims, int64_t b, const std::string& mode) {
  const std::string what = op + " " + mode + " b " + std::to_string(b) + " x " + testing::ListText(dims);
  onnx::ModelProto m = ModelWithFloatX(13, dims);
  auto* g = m.mutable_graph();
  onnx::NodeProto n = Node(op, {"x"}, {"y"});
  SetAttr(&n, "blocksize", b);
  if (!mode.empty()) SetAttr(&n, "mode", mode);
  *g->add_node() = n;
  Tensor x = Tensor::Allocate(DataType::kFloat, Shape(std::span<const int64_t>(dims)));
  for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = static_cast<float>(i);  // each its own index
  auto out = RunModel(m, {Value(x)});
  ASSERT_TRUE(out.ok()) << what << ": " << out.status().ToString();
  const Tensor& want = (*out)[0].tensor();
  DepthSpaceCopy c;
  ASSERT_EQ(op == "DepthToSpace" ? MakeDepthToSpace(dims.data(), b, mode == "CRD", &c)
                                 : MakeSpaceToDepth(dims.data(), b, &c),
            "")
      << what;
  for (int d = 0; d < 4; ++d) ASSERT_EQ(c.out_dims[d], want.dim(d)) << what;
  // The strided copy, as kernels/cuda/data_ops.cu's StridedCopy walks it: packed over dims.
  int64_t n_out = 1;
  for (int64_t d : c.dims) n_out *= d;
  ASSERT_EQ(n_out, want.num_elements()) << what;
  int bad = 0;
  for (int64_t i = 0; i < n_out; ++i) {
    int64_t rem = i, src = 0;
    for (int d = 5; d >= 0; --d) {
      src += (rem % c.dims[d]) * c.src_strides[d];
      rem /= c.dims[d];
    }
    if (x.data<float>()[src] != want.data<float>()[i] && ++bad <= 3)
      ADD_FAILURE() << what << ": element " << i << " reads " << src << ", the CPU op has "
                    << want.data<float>()[i];
  }
  EXPECT_EQ(bad, 0) << what;
}

TEST(DepthSpaceMath, MatchesTheCpuOps) {
  for (int64_t b : {1, 2, 3}) {
    Check("DepthToSpace", {2, 36, 3, 4}, b, "DCR");
    Check("DepthToSpace", {2, 36, 3, 4}, b, "CRD");
    Check("DepthToSpace", {1, 36, 2, 5}, b, "");  // DCR by default
    Check("SpaceToDepth", {2, 3, 6, 12}, b, "");
  }
  Check("DepthToSpace", {1, 4, 1, 1}, 2, "CRD");
  Check("SpaceToDepth", {3, 1, 4, 4}, 4, "");
}

TEST(DepthSpaceMath, RefusesWhatTheCpuOpsRefuse) {
  DepthSpaceCopy c;
  const int64_t x[4] = {1, 6, 4, 4};
  EXPECT_NE(MakeDepthToSpace(x, 2, false, &c), "");  // 6 channels, b^2 = 4
  EXPECT_NE(MakeDepthToSpace(x, 0, false, &c), "");
  EXPECT_NE(MakeSpaceToDepth(x, 3, &c), "");  // 4 is not a multiple of 3
  EXPECT_EQ(MakeSpaceToDepth(x, 2, &c), "");
}

}  // namespace
}  // namespace onnxd::cuda
