// The window geometry behind the CUDA session's Conv / MaxPool / AveragePool forms that cuDNN does
// not take as ONNX gives them (kernels/cuda/window_geometry.h; host and device code, so tested
// here on the CPU), against the CPU ops (checked against onnxruntime by the node suite):
//  - a convolution with its pads resolved and split (the common part to cuDNN, the rest padded
//    explicitly by PaddedSource) equals the CPU Conv with the original attributes;
//  - pooling by PoolTapsAt / AverageDivisor over MakePoolShape's geometry (what the kernels in
//    pool_nhwc.cu compute, element by element) equals the CPU MaxPool / AveragePool.
// Cases: auto_pad NOTSET / VALID / SAME_UPPER / SAME_LOWER, asymmetric pads, strides, dilations,
// ceil_mode, count_include_pad, 1-D, 2-D and 3-D, NCHW and channels-last.
#include "kernels/cuda/window_geometry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
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
using testing::ListText;

Tensor RandomTensor(const std::vector<int64_t>& dims, uint32_t seed) {
  Tensor t = Tensor::Allocate(DataType::kFloat, Shape(std::span<const int64_t>(dims)));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

struct Attrs {
  std::string auto_pad = "NOTSET";
  std::vector<int64_t> kernel, strides, dilations, pads;
  bool ceil_mode = false, count_include_pad = false;
  int64_t p = 0;  // LpPool's p (0: not set)
};

std::string Describe(const std::vector<int64_t>& x, const Attrs& a) {
  return "x " + ListText(x) + " auto_pad " + a.auto_pad + " kernel " + ListText(a.kernel) + " strides " +
         ListText(a.strides) + " dilations " + ListText(a.dilations) + " pads " + ListText(a.pads) +
         (a.ceil_mode ? " ceil" : "") + (a.count_include_pad ? " include_pad" : "");
}

// One CPU node over x (and w for Conv) with the attributes.
Tensor RunCpu(const std::string& op, const Tensor& x, const Tensor* w, const Attrs& a, int opset = 19) {
  onnx::ModelProto m = ModelWithFloatX(opset, x.shape().ToVector());
  auto* g = m.mutable_graph();
  std::vector<std::string> in = {"x"};
  if (w != nullptr) {
    *g->add_input() = onnxd::testing::TensorInfo("w", onnx::TensorProto::FLOAT, w->shape().ToVector());
    in.push_back("w");
  }
  onnx::NodeProto n = Node(op, in, {"y"});
  if (a.auto_pad != "NOTSET") SetAttr(&n, "auto_pad", a.auto_pad);
  if (op != "Conv" || !a.kernel.empty()) SetAttr(&n, "kernel_shape", a.kernel);
  if (!a.strides.empty()) SetAttr(&n, "strides", a.strides);
  if (!a.dilations.empty()) SetAttr(&n, "dilations", a.dilations);
  if (!a.pads.empty()) SetAttr(&n, "pads", a.pads);
  if (a.ceil_mode) SetAttr(&n, "ceil_mode", int64_t{1});
  if (a.count_include_pad) SetAttr(&n, "count_include_pad", int64_t{1});
  if (a.p > 0) SetAttr(&n, "p", a.p);
  *g->add_node() = n;
  std::vector<Value> ins = {Value(x)};
  if (w != nullptr) ins.push_back(Value(*w));
  auto out = RunModel(m, ins);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  if (!out.ok()) return Tensor();
  return (*out)[0].tensor();
}

// The session's resolution (runtime/cuda_session_gpu.cc RunConvOrPool): 1-D ops as 2-D with a
// trivial second axis.
void Resolve(const std::vector<int64_t>& x, const std::vector<int64_t>& k, const Attrs& a, bool ceil,
             WindowAxis axes[3]) {
  const int spatial = static_cast<int>(x.size()) - 2;
  std::string why;
  axes[0] = axes[1] = axes[2] = WindowAxis();
  ASSERT_TRUE(ResolveWindow(spatial, x.data() + 2, k.data(), a.strides, a.dilations, a.pads, ParseAutoPad(a.auto_pad),
                            ceil, axes, &why))
      << why;
}

void ExpectNear(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  int bad = 0;
  for (int64_t i = 0; i < want.num_elements(); ++i) {
    const float g = got.data<float>()[i], w = want.data<float>()[i];
    if (!(std::fabs(g - w) <= 1e-5f + 1e-5f * std::fabs(w)) && ++bad <= 3)
      ADD_FAILURE() << what << ": element " << i << " got " << g << ", want " << w;
  }
  EXPECT_EQ(bad, 0) << what;
}

// x in NCHW ([n, c, h] or [n, c, h, w]) to NHWC memory order and back.
// (NCDHW to NDHWC the same way: the spatial axes as one.)
std::vector<float> ToNhwc(const Tensor& x) {
  const int64_t n = x.dim(0), c = x.dim(1), spatial = n * c > 0 ? x.num_elements() / (n * c) : 0;
  std::vector<float> v(static_cast<size_t>(x.num_elements()));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < spatial; ++p)
        v[static_cast<size_t>((b * spatial + p) * c + ch)] = x.data<float>()[(b * c + ch) * spatial + p];
  return v;
}

struct ConvCase {
  std::vector<int64_t> x, w;
  Attrs a;
};

std::vector<ConvCase> ConvCases() {
  std::vector<ConvCase> cases;
  auto add = [&](std::vector<int64_t> x, std::vector<int64_t> w, Attrs a) { cases.push_back({x, w, a}); };
  for (const char* ap : {"SAME_UPPER", "SAME_LOWER", "VALID"}) {
    for (int64_t s : {1, 2, 3}) {
      Attrs a;
      a.auto_pad = ap;
      a.strides = {s, s};
      add({1, 3, 7, 8}, {4, 3, 3, 3}, a);
      add({2, 2, 9, 6}, {3, 2, 2, 4}, a);
      a.strides = {s};
      add({2, 3, 11}, {2, 3, 4}, a);
      a.dilations = {2};
      add({1, 2, 13}, {2, 2, 3}, a);
      a.strides = {s, 1};
      a.dilations = {2, 1};
      add({1, 2, 10, 9}, {3, 2, 3, 2}, a);
    }
  }
  Attrs a;
  a.pads = {0, 1, 2, 0};  // top 0, left 1, bottom 2, right 0
  add({1, 3, 6, 7}, {2, 3, 3, 3}, a);
  a.strides = {2, 2};
  add({2, 2, 9, 8}, {4, 2, 3, 2}, a);
  a.pads = {3, 0, 1, 2};
  a.dilations = {1, 2};
  add({1, 2, 8, 9}, {2, 2, 2, 3}, a);
  Attrs b;
  b.pads = {0, 2};
  add({1, 2, 9}, {3, 2, 3}, b);
  b.strides = {2};
  b.pads = {2, 1};
  add({2, 3, 10}, {2, 3, 4}, b);
  // 3-D.
  for (const char* ap : {"SAME_UPPER", "SAME_LOWER"}) {
    Attrs t;
    t.auto_pad = ap;
    t.strides = {2, 1, 2};
    add({1, 2, 5, 6, 7}, {3, 2, 2, 3, 2}, t);
  }
  Attrs t;
  t.pads = {1, 0, 2, 0, 1, 1};
  t.dilations = {2, 1, 1};
  add({2, 2, 6, 5, 4}, {2, 2, 2, 2, 3}, t);
  return cases;
}

// The session's asymmetric convolution: the common pads to cuDNN (here the CPU Conv with
// symmetric pads), the rest as an explicitly padded input.
TEST(WindowGeometryTest, SplitPadsAndPaddedInputGiveTheConvolution) {
  uint32_t seed = 1;
  for (const ConvCase& cc : ConvCases()) {
    const std::string what = Describe(cc.x, cc.a);
    SCOPED_TRACE(what);
    const Tensor x = RandomTensor(cc.x, seed++), w = RandomTensor(cc.w, seed++);
    const Tensor want = RunCpu("Conv", x, &w, cc.a);
    std::vector<int64_t> k(cc.w.begin() + 2, cc.w.end());
    const int spatial = static_cast<int>(cc.x.size()) - 2;
    WindowAxis axes[3];
    Resolve(cc.x, k, cc.a, false, axes);
    // The output extents.
    std::vector<int64_t> out = {cc.x[0], cc.w[0]};
    for (int i = 0; i < spatial; ++i) out.push_back(axes[i].out);
    ASSERT_EQ(want.shape().ToVector(), out);
    // The padded input, NCHW (NCDHW) and channels-last (the same elements in the other order).
    const SpatialPadShape ps =
        spatial == 3 ? ExtraPads3d(cc.x[0], cc.x[1], axes) : ExtraPads(cc.x[0], cc.x[1], axes, false);
    SpatialPadShape pn = ps;
    pn.nhwc = true;
    std::vector<int64_t> padded_dims = {ps.n, ps.c};
    if (spatial == 3) padded_dims.push_back(ps.out_d());
    padded_dims.push_back(ps.out_h());
    if (spatial >= 2) padded_dims.push_back(ps.out_w());
    if (spatial == 1) {
      ASSERT_EQ(ps.out_w(), 1);
    }
    if (spatial < 3) {
      ASSERT_EQ(ps.out_d(), 1);
    }
    Tensor padded = Tensor::Allocate(DataType::kFloat, Shape(std::span<const int64_t>(padded_dims)));
    ASSERT_EQ(padded.num_elements(), ps.out_count());
    for (int64_t i = 0; i < ps.out_count(); ++i) {
      const int64_t src = PaddedSource(i, ps);
      padded.data<float>()[i] = src >= 0 ? x.data<float>()[src] : 0.f;
    }
    const std::vector<float> x_nhwc = ToNhwc(x), padded_nhwc = ToNhwc(padded);
    for (int64_t i = 0; i < pn.out_count(); ++i) {
      const int64_t src = PaddedSource(i, pn);
      ASSERT_EQ(src >= 0 ? x_nhwc[static_cast<size_t>(src)] : 0.f, padded_nhwc[static_cast<size_t>(i)]) << "NHWC " << i;
    }
    // The convolution with the common pads.
    Attrs sym;
    sym.strides = cc.a.strides;
    sym.dilations = cc.a.dilations;
    std::vector<int64_t> both;
    for (int i = 0; i < spatial; ++i) {
      const PadSplit split = SplitPads(axes[i]);
      EXPECT_TRUE(split.extra_begin == 0 || split.extra_end == 0);
      both.push_back(split.both);
    }
    sym.pads = both;
    sym.pads.insert(sym.pads.end(), both.begin(), both.end());
    ExpectNear(RunCpu("Conv", padded, &w, sym), want, what);
  }
}

// The kernels' pooling on the host (math_test_util.h) as a tensor of `out_dims`.
Tensor PoolByTaps(const Tensor& x, const PoolShape& s, bool average, const std::vector<int64_t>& out_dims,
                  float lp = 0.f) {
  Tensor y = Tensor::Allocate(DataType::kFloat, Shape(std::span<const int64_t>(out_dims)));
  EXPECT_EQ(y.num_elements(), s.out_count());
  const std::vector<float> v = testing::PoolByTaps(x.data<float>(), s, average, lp);
  std::copy_n(v.begin(), std::min<size_t>(v.size(), static_cast<size_t>(y.num_elements())), y.data<float>());
  return y;
}

struct PoolCase {
  std::vector<int64_t> x;
  Attrs a;
};

// Over x [1, 2, 3, 5]: along H (3), kernel 2 with dilation 4 and SAME_UPPER's pads 2 and 2, the
// window at 1 reads rows -1 and 3, neither inside the input.
Attrs EmptyWindowAttrs(bool include_pad) {
  Attrs a;
  a.auto_pad = "SAME_UPPER";
  a.count_include_pad = include_pad;
  a.kernel = {2, 2};
  a.dilations = {4, 1};
  return a;
}

std::vector<PoolCase> PoolCases() {
  std::vector<PoolCase> cases;
  for (bool include : {false, true}) {
    for (const char* ap : {"SAME_UPPER", "SAME_LOWER", "VALID"}) {
      for (int64_t s : {1, 2, 3}) {
        Attrs a;
        a.auto_pad = ap;
        a.count_include_pad = include;
        a.kernel = {3, 2};
        a.strides = {s, s};
        cases.push_back({{1, 2, 7, 8}, a});
        a.kernel = {4};
        a.strides = {s};
        cases.push_back({{2, 3, 11}, a});
        a.kernel = {2, 3};
        a.strides = {s, 1};
        a.dilations = {2, 1};
        cases.push_back({{1, 3, 9, 7}, a});
      }
    }
    for (bool ceil : {false, true}) {
      Attrs a;
      a.count_include_pad = include;
      a.ceil_mode = ceil;
      a.kernel = {3, 3};
      a.strides = {2, 2};
      cases.push_back({{1, 2, 8, 9}, a});  // ceil: a last window cut by the input's end
      a.pads = {1, 0, 0, 2};
      cases.push_back({{2, 2, 7, 8}, a});
      a.pads = {1, 1, 1, 1};
      cases.push_back({{1, 1, 6, 6}, a});  // ceil: a last window that would start on the pad is dropped
      a.kernel = {2, 2};
      a.pads = {0, 1, 1, 0};
      a.dilations = {2, 2};
      cases.push_back({{1, 2, 9, 10}, a});
      a.kernel = {3};
      a.strides = {2};
      a.pads = {2, 0};
      a.dilations = {};
      cases.push_back({{2, 2, 10}, a});
      // 3-D (the node suite's averagepool_3d_* / maxpool_3d_* forms).
      a.kernel = {2, 3, 2};
      a.strides = {2, 1, 2};
      a.pads = {1, 0, 1, 0, 1, 1};
      a.dilations = {1, 2, 1};
      cases.push_back({{1, 2, 5, 7, 6}, a});
      a.pads = {};
      a.dilations = {2, 2, 2};
      a.kernel = {2, 2, 2};
      a.strides = {1, 1, 1};
      cases.push_back({{2, 1, 6, 5, 7}, a});
    }
    Attrs same;
    same.auto_pad = "SAME_UPPER";
    same.count_include_pad = include;
    same.kernel = {3, 2, 2};
    same.strides = {2, 2, 1};
    cases.push_back({{1, 3, 7, 6, 5}, same});
    // Windows with no tap inside the input: SAME pads around a dilation wider than the input, and
    // explicit pads as wide as the kernel.
    cases.push_back({{1, 2, 3, 5}, EmptyWindowAttrs(include)});
    Attrs wide;
    wide.count_include_pad = include;
    wide.kernel = {2, 2};
    wide.pads = {2, 0, 2, 3};
    cases.push_back({{1, 2, 4, 5}, wide});
  }
  return cases;
}

TEST(WindowGeometryTest, PoolTapsGiveTheCpuPooling) {
  uint32_t seed = 100;
  for (const PoolCase& pc : PoolCases()) {
    const std::string what = Describe(pc.x, pc.a);
    SCOPED_TRACE(what);
    const Tensor x = RandomTensor(pc.x, seed++);
    const bool ceil = pc.a.auto_pad == "NOTSET" && pc.a.ceil_mode;
    WindowAxis axes[3];
    PoolShape s;
    std::vector<int64_t> out = {pc.x[0], pc.x[1]};
    if (pc.x.size() == 5) {
      std::string why;
      ASSERT_TRUE(ResolveWindow(3, pc.x.data() + 2, pc.a.kernel.data(), pc.a.strides, pc.a.dilations, pc.a.pads,
                                ParseAutoPad(pc.a.auto_pad), ceil, axes, &why))
          << why;
      s = MakePoolShape3d(pc.x[0], pc.x[1], axes, pc.a.count_include_pad);
      for (int i = 0; i < 3; ++i) out.push_back(axes[i].out);
    } else {
      Resolve(pc.x, pc.a.kernel, pc.a, ceil, axes);
      s = MakePoolShape(pc.x[0], pc.x[1], axes, false, pc.a.count_include_pad);
      out.push_back(axes[0].out);
      if (pc.x.size() == 4) out.push_back(axes[1].out);
    }
    ExpectNear(PoolByTaps(x, s, true, out), RunCpu("AveragePool", x, nullptr, pc.a), "AveragePool " + what);
    if (!pc.a.count_include_pad) {
      ExpectNear(PoolByTaps(x, s, false, out), RunCpu("MaxPool", x, nullptr, pc.a), "MaxPool " + what);
      for (int64_t lp : {2, 3}) {
        Attrs a = pc.a;
        a.p = lp;
        ExpectNear(PoolByTaps(x, s, false, out, static_cast<float>(lp)), RunCpu("LpPool", x, nullptr, a),
                   "LpPool p=" + std::to_string(lp) + " " + what);
      }
    }
    // Channels-last: the same windows over the NHWC data.
    if (pc.x.size() == 4) {
      const PoolShape sn = MakePoolShape(pc.x[0], pc.x[1], axes, true, pc.a.count_include_pad);
      Tensor xn = Tensor::Allocate(DataType::kFloat, Shape{pc.x[0], pc.x[2], pc.x[3], pc.x[1]});
      const std::vector<float> v = ToNhwc(x);
      std::copy(v.begin(), v.end(), xn.data<float>());
      const Tensor yn = PoolByTaps(xn, sn, true, {pc.x[0], axes[0].out, axes[1].out, pc.x[1]});
      const Tensor want = RunCpu("AveragePool", x, nullptr, pc.a);
      const std::vector<float> want_nhwc = ToNhwc(want);
      for (int64_t i = 0; i < yn.num_elements(); ++i)
        ASSERT_NEAR(yn.data<float>()[i], want_nhwc[static_cast<size_t>(i)], 1e-5f) << "NHWC element " << i;
    }
  }
}

// MaxPool of a window with no tap inside the input is 0 on the CPU; the kernel's -inf there
// (before HasInputTap) differed.
TEST(WindowGeometryTest, MaxPoolOfAWindowOutsideTheInputIsZeroAsOnTheCpu) {
  const std::vector<int64_t> dims = {1, 2, 3, 5};
  const Attrs a = EmptyWindowAttrs(false);
  WindowAxis axes[3];
  Resolve(dims, a.kernel, a, false, axes);
  ASSERT_EQ(axes[0].out, 3);
  const PoolShape s = MakePoolShape(dims[0], dims[1], axes, false, false);
  const PoolTaps th = PoolTapsAt(1, s.h, s.kh, s.stride_h, s.dil_h, s.pad_top, s.pad_bottom);
  const PoolTaps tw = PoolTapsAt(0, s.w, s.kw, s.stride_w, s.dil_w, s.pad_left, s.pad_right);
  EXPECT_FALSE(HasInputTap(PoolTaps{0, 0, 1, 1}, th, tw));
  EXPECT_TRUE(HasInputTap(PoolTaps{0, 0, 1, 1},
                          PoolTapsAt(0, s.h, s.kh, s.stride_h, s.dil_h, s.pad_top, s.pad_bottom), tw));
  const Tensor x = RandomTensor(dims, 7);
  const Tensor want = RunCpu("MaxPool", x, nullptr, a);
  ASSERT_EQ(want.num_elements(), 2 * 3 * 5);
  for (int64_t ch = 0; ch < 2; ++ch)
    for (int64_t ow = 0; ow < 5; ++ow) EXPECT_EQ(want.data<float>()[(ch * 3 + 1) * 5 + ow], 0.f);
  ExpectNear(PoolByTaps(x, s, false, {1, 2, 3, 5}), want, "MaxPool with empty windows");
}

// ONNX's node cases with known answers (onnx/backend/test/case/node/averagepool.py, maxpool.py,
// conv.py): the resolved pads and output extents.
TEST(WindowGeometryTest, ResolvesTheOnnxExamples) {
  // averagepool_2d_same_upper / same_lower: 32x32, kernel 2, stride 1: pads (0, 1) / (1, 0).
  WindowAxis a = ResolveWindowAxis(32, 2, 1, 1, 0, 0, AutoPad::kSameUpper, false);
  EXPECT_EQ(a.out, 32);
  EXPECT_EQ(a.pad_begin, 0);
  EXPECT_EQ(a.pad_end, 1);
  a = ResolveWindowAxis(32, 2, 1, 1, 0, 0, AutoPad::kSameLower, false);
  EXPECT_EQ(a.pad_begin, 1);
  EXPECT_EQ(a.pad_end, 0);
  // averagepool_2d_precomputed_same_upper: 5x5, kernel 3, stride 2: out 3, pads 1 and 1.
  a = ResolveWindowAxis(5, 3, 2, 1, 0, 0, AutoPad::kSameUpper, false);
  EXPECT_EQ(a.out, 3);
  EXPECT_EQ(a.pad_begin, 1);
  EXPECT_EQ(a.pad_end, 1);
  // averagepool_2d_ceil: 4x4, kernel 3, stride 2, ceil_mode: out 2 (floor would give 1).
  EXPECT_EQ(ResolveWindowAxis(4, 3, 2, 1, 0, 0, AutoPad::kNotSet, true).out, 2);
  EXPECT_EQ(ResolveWindowAxis(4, 3, 2, 1, 0, 0, AutoPad::kNotSet, false).out, 1);
  // maxpool_2d_ceil_output_size_reduce_by_one: 2x2, kernel 1, stride 2, ceil: out 1 (the window
  // that would start past the input is dropped).
  EXPECT_EQ(ResolveWindowAxis(2, 1, 2, 1, 0, 0, AutoPad::kNotSet, true).out, 1);
  // conv_with_autopad_same: 5x5, kernel 3, stride 2, SAME_LOWER: out 3, pads 1 and 1.
  a = ResolveWindowAxis(5, 3, 2, 1, 0, 0, AutoPad::kSameLower, false);
  EXPECT_EQ(a.out, 3);
  EXPECT_EQ(a.pad_begin, 1);
  EXPECT_EQ(a.pad_end, 1);
  // cuDNN takes the symmetric floor-grid windows only.
  WindowAxis axes[2];
  axes[0] = ResolveWindowAxis(8, 3, 2, 1, 1, 1, AutoPad::kNotSet, false);
  axes[1] = ResolveWindowAxis(9, 3, 2, 1, 1, 1, AutoPad::kNotSet, true);  // ceil_mode without an extra window
  EXPECT_TRUE(CudnnPoolable(axes));
  axes[1] = ResolveWindowAxis(8, 3, 2, 1, 0, 1, AutoPad::kNotSet, false);
  EXPECT_FALSE(CudnnPoolable(axes));
  axes[1] = ResolveWindowAxis(8, 3, 2, 1, 0, 0, AutoPad::kNotSet, true);  // ceil adds a window
  EXPECT_FALSE(CudnnPoolable(axes));
  axes[1] = ResolveWindowAxis(8, 3, 1, 2, 0, 0, AutoPad::kNotSet, false);
  EXPECT_FALSE(CudnnPoolable(axes));
  axes[1] = ResolveWindowAxis(8, 2, 1, 1, 2, 2, AutoPad::kNotSet, false);  // pads as wide as the kernel
  EXPECT_FALSE(CudnnPoolable(axes));
  axes[1] = ResolveWindowAxis(8, 3, 1, 1, 2, 2, AutoPad::kNotSet, false);
  EXPECT_TRUE(CudnnPoolable(axes));
  // Bad attributes are refused, not resolved.
  std::string why;
  const int64_t in[2] = {8, 8}, k[2] = {3, 3};
  EXPECT_FALSE(ResolveWindow(2, in, k, {1}, {}, {}, AutoPad::kNotSet, false, axes, &why));
  EXPECT_FALSE(ResolveWindow(2, in, k, {}, {}, {1, 1, 1}, AutoPad::kNotSet, false, axes, &why));
  EXPECT_FALSE(ResolveWindow(2, in, k, {0, 1}, {}, {}, AutoPad::kNotSet, false, axes, &why));
  EXPECT_FALSE(why.empty());
}

}  // namespace
}  // namespace onnxd::cuda
