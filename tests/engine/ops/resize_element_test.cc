// The CUDA Resize kernel's whole computation, run on the host: kernels/cuda/resize.cu evaluates
// resize::ResizeElement (ops/resize_math.h) once per output element, with the geometry
// ResizeRunGeometry (ops/resize.h) takes from the node's CPU kernel. Here the same calls run in a
// host loop, and every output element must match the CPU op, which computes Resize another way
// (a table and a pass per axis) and is itself checked by the ONNX node suite. Only the launch is
// left to the GPU checks (tests/gpu, the GPU node suite).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "onnx/onnx-ml.pb.h"
#include "ops/op_kernel.h"
#include "ops/resize.h"
#include "test_models.h"

namespace onnxd {
namespace {

using testing::AddInit;
using testing::ModelWithFloatX;
using testing::Node;
using testing::RunModel;
using testing::SetAttr;
using testing::SetFloatAttr;

struct Case {
  std::string op = "Resize";
  int opset = 19;
  std::vector<int64_t> x_dims;
  std::string mode = "nearest";
  std::string ctm;      // "" leaves the attribute out
  std::string nearest;  // "" leaves it out
  std::vector<float> scales;
  std::vector<int64_t> sizes;
  std::vector<float> roi;
  std::vector<int64_t> axes;
  int exclude_outside = 0;
  int antialias = 0;
  float cubic_a = 0;  // 0 leaves it out
  float extrapolation = 0;
  std::string policy;  // keep_aspect_ratio_policy
  std::string Name() const {
    std::string s = op + "-" + std::to_string(opset) + " " + mode;
    if (!ctm.empty()) s += " " + ctm;
    if (!nearest.empty()) s += " " + nearest;
    if (exclude_outside) s += " exclude_outside";
    if (antialias) s += " antialias";
    if (!policy.empty()) s += " " + policy;
    s += " x[";
    for (int64_t d : x_dims) s += std::to_string(d) + ",";
    s += "]";
    if (!scales.empty()) {
      s += " scales[";
      for (float v : scales) s += std::to_string(v) + ",";
      s += "]";
    }
    if (!sizes.empty()) {
      s += " sizes[";
      for (int64_t v : sizes) s += std::to_string(v) + ",";
      s += "]";
    }
    return s;
  }
};

// Runs one case both ways; returns the number of output elements compared.
int64_t CheckCase(const Case& c, std::mt19937* rng) {
  SCOPED_TRACE(c.Name());
  // The node, as a one-node model for the CPU op and as a NodeInfo for the CPU kernel's settings.
  std::vector<std::string> inputs = {"x"};
  Tensor roi, scales, sizes;
  if (c.op == "Upsample" || c.opset < 11) {
    scales = Tensor::FromVector<float>(c.scales, Shape{static_cast<int64_t>(c.scales.size())});
    inputs.push_back("scales");
  } else {
    inputs.push_back(c.roi.empty() ? "" : "roi");
    inputs.push_back(c.scales.empty() ? "" : "scales");
    if (!c.sizes.empty()) inputs.push_back("sizes");
    if (!c.roi.empty()) roi = Tensor::FromVector<float>(c.roi, Shape{static_cast<int64_t>(c.roi.size())});
    if (!c.scales.empty()) scales = Tensor::FromVector<float>(c.scales, Shape{static_cast<int64_t>(c.scales.size())});
    if (!c.sizes.empty()) sizes = Tensor::FromVector<int64_t>(c.sizes, Shape{static_cast<int64_t>(c.sizes.size())});
  }
  onnx::NodeProto n = Node(c.op, inputs, {"y"});
  SetAttr(&n, "mode", c.mode);
  if (!c.ctm.empty()) SetAttr(&n, "coordinate_transformation_mode", c.ctm);
  if (!c.nearest.empty()) SetAttr(&n, "nearest_mode", c.nearest);
  if (c.exclude_outside) SetAttr(&n, "exclude_outside", int64_t{1});
  if (c.antialias) SetAttr(&n, "antialias", int64_t{1});
  if (c.cubic_a != 0) SetFloatAttr(&n, "cubic_coeff_a", c.cubic_a);
  if (c.extrapolation != 0) SetFloatAttr(&n, "extrapolation_value", c.extrapolation);
  if (!c.axes.empty()) SetAttr(&n, "axes", c.axes);
  if (!c.policy.empty()) SetAttr(&n, "keep_aspect_ratio_policy", c.policy);

  onnx::ModelProto m = ModelWithFloatX(c.opset, c.x_dims);
  auto* g = m.mutable_graph();
  if (roi.defined()) AddInit(g, "roi", roi);
  if (scales.defined()) AddInit(g, "scales", scales);
  if (sizes.defined()) AddInit(g, "sizes", sizes);
  *g->add_node() = n;

  Tensor x = Tensor::Allocate(DataType::kFloat, Shape(std::span<const int64_t>(c.x_dims)));
  std::uniform_real_distribution<float> dist(-2.f, 2.f);
  for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = dist(*rng);
  auto cpu = RunModel(m, {Value(x)});
  EXPECT_TRUE(cpu.ok()) << cpu.status().ToString();
  if (!cpu.ok()) return 0;
  const Tensor& want = (*cpu)[0].tensor();

  auto kernel = testing::MakeCpuKernel(n, c.opset);
  EXPECT_TRUE(kernel.ok()) << kernel.status().ToString();
  if (!kernel.ok()) return 0;
  resize::Params p;
  resize::AxisGeom geo[engine::kResizeMaxRank];
  const bool legacy = c.op == "Upsample" || c.opset < 11;
  Status st = engine::ResizeRunGeometry(**kernel, x, legacy ? &scales : (roi.defined() ? &roi : nullptr),
                                        legacy ? nullptr : (scales.defined() ? &scales : nullptr),
                                        legacy ? nullptr : (sizes.defined() ? &sizes : nullptr), &p, geo);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (!st.ok()) return 0;
  const int rank = x.rank();
  EXPECT_STREQ(resize::ElementUnsupported(p, rank, geo), "");
  for (int d = 0; d < rank; ++d) EXPECT_EQ(geo[d].out, want.dim(d)) << "axis " << d;
  const resize::ElementShape shape = resize::MakeElementShape(p, rank, x.shape().dims().data(), geo);
  const float* xs = x.data<float>();
  const float* ys = want.data<float>();
  for (int64_t o = 0; o < want.num_elements(); ++o) {
    // As the CUDA kernel does: fp64 for cubic and antialiased filters, fp32 otherwise.
    float got;
    if (p.antialias && p.mode != resize::InterpMode::kNearest)
      got = static_cast<float>(resize::ResizeElement<double, resize::kAntialiasMaxTaps>(
          p, shape, o, [&](int64_t k) { return double{xs[k]}; }));
    else if (p.mode == resize::InterpMode::kCubic)
      got = static_cast<float>(resize::ResizeElement<double>(p, shape, o, [&](int64_t k) { return double{xs[k]}; }));
    else
      got = resize::ResizeElement<float>(p, shape, o, [&](int64_t k) { return xs[k]; });
    if (p.mode == resize::InterpMode::kNearest) {
      EXPECT_EQ(got, ys[o]) << "element " << o;
    } else {
      EXPECT_NEAR(got, ys[o], 2e-6f + 2e-6f * std::fabs(ys[o])) << "element " << o;
    }
    if (::testing::Test::HasFailure()) return o;
  }
  return want.num_elements();
}

TEST(ResizeElement, MatchesTheCpuOpAcrossModesAndTransformations) {
  std::mt19937 rng(7);
  const std::vector<std::string> ctms = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                                         "asymmetric"};
  const std::vector<std::vector<float>> scale_sets = {{1, 1, 2, 2}, {1, 1, 0.5f, 0.5f}, {1, 1, 1.7f, 0.6f},
                                                       {1, 1, 3, 1}, {1, 2, 1.5f, 1}};
  int64_t compared = 0;
  int cases = 0;
  for (const std::string mode : {"nearest", "linear", "cubic"}) {
    for (const std::string& ctm : ctms) {
      for (const auto& sc : scale_sets) {
        // Linear and cubic over 3 axes is the kernel's limit; {1, 2, 1.5, 1} resizes 2.
        Case c;
        c.x_dims = {2, 3, 5, 7};
        c.mode = mode;
        c.ctm = ctm;
        c.scales = sc;
        if (mode == "nearest")
          for (const std::string nm : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}) {
            c.nearest = nm;
            compared += CheckCase(c, &rng);
            ++cases;
          }
        else
          compared += CheckCase(c, &rng);
        ++cases;
        if (mode == "cubic") {
          c.exclude_outside = 1;
          c.cubic_a = -0.5f;
          compared += CheckCase(c, &rng);
          ++cases;
        }
        if (HasFailure()) return;
      }
    }
  }
  EXPECT_GT(cases, 100);
  EXPECT_GT(compared, 10000);
}

TEST(ResizeElement, MatchesTheCpuOpWithSizesAxesAndAspectPolicies) {
  std::mt19937 rng(11);
  for (const std::string mode : {"nearest", "linear", "cubic"}) {
    Case c;
    c.mode = mode;
    c.x_dims = {1, 2, 6, 9};
    c.sizes = {1, 2, 4, 13};
    CheckCase(c, &rng);
    for (const std::string policy : {"not_larger", "not_smaller"}) {
      Case a = c;
      a.axes = {2, 3};
      a.sizes = {8, 8};
      a.policy = policy;
      CheckCase(a, &rng);
    }
    // Axes given out of order, negative, over a 3-D input (1-D resize of the last axis).
    Case b;
    b.mode = mode;
    b.x_dims = {2, 3, 11};
    b.axes = {-1};
    b.scales = {2.5f};
    CheckCase(b, &rng);
    // Three resized axes (trilinear / tricubic on a 5-D volume).
    Case t;
    t.mode = mode;
    t.x_dims = {1, 2, 3, 4, 5};
    t.scales = {1, 1, 2, 1.5f, 0.8f};
    CheckCase(t, &rng);
    if (HasFailure()) return;
  }
}

TEST(ResizeElement, MatchesTheCpuOpForCropAndResizeWithExtrapolation) {
  std::mt19937 rng(13);
  for (const std::string mode : {"nearest", "linear", "cubic"}) {
    Case c;
    c.mode = mode;
    c.ctm = "tf_crop_and_resize";
    c.x_dims = {1, 1, 6, 8};
    c.roi = {0, 0, -0.2f, 0.3f, 1, 1, 0.9f, 1.4f};  // partly outside the input
    c.sizes = {1, 1, 7, 5};
    c.extrapolation = 3.5f;
    CheckCase(c, &rng);
    if (HasFailure()) return;
  }
}

// A source coordinate on the rounding edge, and why kernels/cuda/CMakeLists.txt compiles resize.cu
// with -fmad=false: tf_crop_and_resize over roi 0.4 .. 0.6 of 4 rows into 11 puts output 5 at
// 0.4 * 3 + (5 * 0.2 * 3) / 10 = 1.50000012 in float, as the host (and the CPU op) computes it, so
// round_prefer_floor reads row 2; with the first product fused into the add (nvcc's default
// contraction) the sum rounds to 1.5 and the same code reads row 1.
TEST(ResizeElement, CropCoordinateOnTheRoundingEdgeMatchesTheCpuOp) {
  resize::AxisGeom g;
  g.in = 4;
  g.out = 11;
  g.roi0 = 0.4f;
  g.roi1 = 0.6f;
  g.identity = false;
  bool extrap = true;
  const float x = resize::SourceCoord(resize::CoordMode::kTfCrop, 5.f, g, &extrap);
  EXPECT_FALSE(extrap);
  EXPECT_GT(x, 1.5f);
  const float q = (5.f * (g.roi1 - g.roi0) * 3.f) / 10.f;
  EXPECT_EQ(std::fma(g.roi0, 3.f, q), 1.5f);  // what a contracted a * b + c gives
  resize::Params p;
  p.coord = resize::CoordMode::kTfCrop;
  EXPECT_EQ(resize::NearestIndex(p, g, 5), 2);
  // The CPU op agrees with ResizeElement there (every element of the 11 x 11 output).
  std::mt19937 rng(19);
  Case c;
  c.ctm = "tf_crop_and_resize";
  c.nearest = "round_prefer_floor";
  c.x_dims = {1, 1, 4, 4};
  c.roi = {0, 0, 0.4f, 0.4f, 1, 1, 0.6f, 0.6f};
  c.sizes = {1, 1, 11, 11};
  EXPECT_EQ(CheckCase(c, &rng), 121);
}

TEST(ResizeElement, MatchesTheLegacyForms) {
  std::mt19937 rng(17);
  for (const std::string mode : {"nearest", "linear"}) {
    Case u;  // Upsample-9: scales as an input
    u.op = "Upsample";
    u.opset = 9;
    u.mode = mode;
    u.x_dims = {1, 2, 3, 4};
    u.scales = {1, 1, 2, 3};
    CheckCase(u, &rng);
    Case r10 = u;  // Resize-10: asymmetric, Upsample's nearest rule, downscaling too
    r10.op = "Resize";
    r10.opset = 10;
    r10.scales = {1, 1, 0.6f, 1.5f};
    CheckCase(r10, &rng);
  }
  Case nn;  // Resize-11's tf_half_pixel_for_nn
  nn.opset = 11;
  nn.ctm = "tf_half_pixel_for_nn";
  nn.x_dims = {1, 1, 4, 6};
  nn.scales = {1, 1, 1.5f, 0.5f};
  CheckCase(nn, &rng);
}

// Antialiased downscales (the filter widened by 1 / scale, up to 16 taps an axis) against the CPU op,
// linear and cubic, by scales and by sizes, with every transformation the filters see.
TEST(ResizeElement, MatchesTheCpuOpWhenAntialiased) {
  std::mt19937 rng(11);
  int64_t compared = 0;
  for (const std::string mode : {"linear", "cubic"}) {
    for (const std::string ctm : {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"}) {
      for (const auto& sc : std::vector<std::vector<float>>{{1, 1, 0.5f, 0.5f}, {1, 1, 0.3f, 0.7f}, {1, 1, 1.5f, 0.6f}}) {
        Case c;
        c.x_dims = {1, 2, 17, 13};
        c.mode = mode;
        c.ctm = ctm;
        c.scales = sc;
        c.antialias = 1;
        compared += CheckCase(c, &rng);
        if (HasFailure()) return;
      }
    }
    Case c;
    c.x_dims = {2, 3, 20, 11};
    c.mode = mode;
    c.sizes = {2, 3, 6, 5};
    c.antialias = 1;
    compared += CheckCase(c, &rng);
  }
  EXPECT_GT(compared, 1000);
}

TEST(ResizeElement, LeavesVeryWideAntialiasAndManyAxesToTheCpu) {
  resize::Params p;
  resize::AxisGeom geo[5];
  for (auto& g : geo) g.identity = false;
  p.mode = resize::InterpMode::kLinear;
  EXPECT_STREQ(resize::ElementUnsupported(p, 3, geo), "");
  EXPECT_STRNE(resize::ElementUnsupported(p, 4, geo), "");  // four resized axes
  p.mode = resize::InterpMode::kNearest;
  EXPECT_STREQ(resize::ElementUnsupported(p, 5, geo), "");  // nearest: any number
  p.mode = resize::InterpMode::kCubic;
  p.antialias = true;
  geo[1].identity = geo[2].identity = true;
  geo[0].scale = 0.25f;  // 16 cubic taps: taken
  EXPECT_STREQ(resize::ElementUnsupported(p, 2, geo), "");
  geo[0].scale = 0.2f;  // 20: too wide
  EXPECT_STRNE(resize::ElementUnsupported(p, 2, geo), "");
  EXPECT_STRNE(resize::ElementUnsupported(p, 7, geo), "");  // rank above 6
}

}  // namespace
}  // namespace onnxd
