// The CUDA ConvTranspose's whole computation, run on the host: runtime/cuda_conv_transpose.cc makes
// each image's columns with the GEMMs convt::ColGemmFor describes (cuBLAS, row-major as
// kernels/cuda/gemm_cuda.h documents) and kernels/cuda/conv_transpose.cu evaluates
// convt::ConvTransposeElement per output element, with the geometry ConvTransposeRunGeometry takes
// from the node's CPU kernel. Here a plain host GEMM follows the same descriptions, and every output
// element must match the CPU op (im2col's adjoint by scatter, checked by the ONNX node suite).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "onnx/onnx-ml.pb.h"
#include "ops/conv_transpose.h"
#include "ops/op_kernel.h"
#include "test_models.h"

namespace onnxd {
namespace {

using testing::AddInit;
using testing::ModelWithFloatX;
using testing::Node;
using testing::RunModel;
using testing::SetAttr;

// Row-major GEMM as gemm_cuda.h defines it, with trans_a (A stored [K, M]), `batch` times.
void HostGemm(const convt::ColGemm& c, const float* w, int64_t stride_w, const float* x, int64_t stride_x,
              float* col, int64_t stride_col, int64_t batch) {
  for (int64_t bi = 0; bi < batch; ++bi) {
    const float* a = w + bi * stride_w;
    const float* b = x + bi * stride_x;
    float* out = col + bi * stride_col;
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double acc = 0;
        for (int64_t kk = 0; kk < c.k; ++kk) acc += double{a[kk * c.lda + i]} * b[kk * c.ldb + j];
        out[i * c.ldc + j] = static_cast<float>(acc);
      }
  }
}

Tensor RandomTensor(const std::vector<int64_t>& dims, std::mt19937* rng) {
  Tensor t = Tensor::Allocate(DataType::kFloat, Shape(std::span<const int64_t>(dims)));
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = d(*rng);
  return t;
}

struct Case {
  std::vector<int64_t> x_dims, w_dims;
  bool bias = true;
  int64_t group = 1;
  std::vector<int64_t> strides, dilations, pads, output_padding, output_shape;
  std::string auto_pad;
};

void CheckCase(const Case& c, std::mt19937* rng) {
  std::string name = "x[";
  for (int64_t d : c.x_dims) name += std::to_string(d) + ",";
  name += "] w[";
  for (int64_t d : c.w_dims) name += std::to_string(d) + ",";
  name += "] group " + std::to_string(c.group) + " " + c.auto_pad;
  SCOPED_TRACE(name);
  Tensor x = RandomTensor(c.x_dims, rng), w = RandomTensor(c.w_dims, rng);
  Tensor b = RandomTensor({c.w_dims[1] * c.group}, rng);
  std::vector<std::string> in = {"x", "w"};
  if (c.bias) in.push_back("b");
  onnx::NodeProto n = Node("ConvTranspose", in, {"y"});
  if (c.group != 1) SetAttr(&n, "group", c.group);
  if (!c.strides.empty()) SetAttr(&n, "strides", c.strides);
  if (!c.dilations.empty()) SetAttr(&n, "dilations", c.dilations);
  if (!c.pads.empty()) SetAttr(&n, "pads", c.pads);
  if (!c.output_padding.empty()) SetAttr(&n, "output_padding", c.output_padding);
  if (!c.output_shape.empty()) SetAttr(&n, "output_shape", c.output_shape);
  if (!c.auto_pad.empty()) SetAttr(&n, "auto_pad", c.auto_pad);
  onnx::ModelProto m = ModelWithFloatX(17, c.x_dims);
  auto* g = m.mutable_graph();
  AddInit(g, "w", w);
  if (c.bias) AddInit(g, "b", b);
  *g->add_node() = n;
  auto cpu = RunModel(m, {Value(x)});
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  const Tensor& want = (*cpu)[0].tensor();

  auto kernel = testing::MakeCpuKernel(n, 17);
  ASSERT_TRUE(kernel.ok()) << kernel.status().ToString();
  convt::Geom geo;
  Status st = engine::ConvTransposeRunGeometry(**kernel, x, w, c.bias ? &b : nullptr, &geo);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(want.dim(0), geo.n);
  ASSERT_EQ(want.dim(1), geo.m);
  for (int i = 0; i < geo.nd; ++i) ASSERT_EQ(want.dim(2 + i), geo.yout[i]) << "spatial dim " << i;

  // The runner's steps: every image's columns, then the gather over all images at once.
  const convt::ColGemm cg = convt::ColGemmFor(geo);
  std::vector<float> col(static_cast<size_t>(geo.n * cg.col_per_image));
  for (int64_t i = 0; i < geo.n; ++i)
    HostGemm(cg, w.data<float>(), cg.stride_w, x.data<float>() + i * cg.x_per_image, cg.stride_x,
             col.data() + i * cg.col_per_image, cg.stride_col, cg.batch);
  const float* bias = c.bias ? b.data<float>() : nullptr;
  for (int64_t o = 0; o < want.num_elements(); ++o) {
    const float got = convt::ConvTransposeElement<float>(
        geo, o, [&](int64_t k) { return col[static_cast<size_t>(k)]; },
        [&](int64_t ch) { return bias != nullptr ? bias[ch] : 0.f; });
    const float expect = want.data<float>()[o];
    ASSERT_NEAR(got, expect, 1e-5f + 1e-5f * std::fabs(expect)) << "element " << o;
  }
}

TEST(ConvTransposeElement, MatchesTheCpuOpIn2D) {
  std::mt19937 rng(3);
  CheckCase({{2, 4, 5, 6}, {4, 3, 3, 3}}, &rng);                                       // plain
  CheckCase({{2, 4, 5, 6}, {4, 3, 2, 2}, true, 1, {2, 2}}, &rng);                      // U-Net's 2x2 / 2 upsampling
  CheckCase({{1, 4, 5, 6}, {4, 3, 3, 3}, false, 1, {2, 2}, {}, {1, 1, 1, 1}, {1, 1}}, &rng);  // PyTorch's padding + output_padding
  CheckCase({{2, 6, 4, 4}, {6, 2, 3, 3}, true, 3, {2, 1}, {1, 2}, {0, 2, 1, 0}}, &rng);      // groups, dilations, asymmetric pads
  CheckCase({{1, 4, 4, 4}, {4, 1, 3, 3}, true, 4, {2, 2}, {}, {1, 1, 1, 1}}, &rng);         // depthwise
  CheckCase({{1, 2, 3, 5}, {2, 3, 3, 3}, true, 1, {3, 2}, {}, {}, {}, {10, 9}}, &rng);       // output_shape
  CheckCase({{1, 2, 3, 5}, {2, 3, 4, 3}, true, 1, {2, 2}, {}, {}, {}, {}, "SAME_UPPER"}, &rng);
  CheckCase({{1, 2, 3, 5}, {2, 3, 4, 3}, true, 1, {2, 2}, {}, {}, {}, {}, "SAME_LOWER"}, &rng);
  CheckCase({{1, 2, 3, 5}, {2, 3, 2, 3}, true, 1, {1, 3}, {}, {}, {}, {}, "VALID"}, &rng);
}

TEST(ConvTransposeElement, MatchesTheCpuOpIn1DAnd3D) {
  std::mt19937 rng(5);
  CheckCase({{3, 4, 7}, {4, 2, 5}, true, 2, {3}, {2}, {1, 3}}, &rng);
  CheckCase({{1, 2, 3, 4, 3}, {2, 2, 2, 3, 2}, true, 1, {2, 1, 2}, {1, 1, 2}, {0, 1, 0, 1, 0, 1}}, &rng);
}

TEST(ConvTransposeElement, LeavesFourSpatialDimsToTheCpu) {
  onnx::NodeProto n = Node("ConvTranspose", {"x", "w"}, {"y"});
  auto kernel = testing::MakeCpuKernel(n, 17);
  ASSERT_TRUE(kernel.ok());
  std::mt19937 rng(1);
  Tensor x = RandomTensor({1, 1, 2, 2, 2, 2}, &rng), w = RandomTensor({1, 1, 1, 1, 1, 1}, &rng);
  convt::Geom geo;
  Status st = engine::ConvTransposeRunGeometry(**kernel, x, w, nullptr, &geo);
  EXPECT_EQ(st.code(), StatusCode::kUnimplemented) << st.ToString();
  // And a bad W is the CPU op's error.
  Tensor bad = RandomTensor({2, 1, 1, 1, 1, 1}, &rng);
  st = engine::ConvTransposeRunGeometry(**kernel, x, bad, nullptr, &geo);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("channels"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace onnxd
