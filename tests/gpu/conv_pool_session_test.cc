// Conv and pooling forms that cuDNN does not take as ONNX gives them, through CUDA sessions
// (runtime/cuda_session_gpu.cc RunConvOrPool), compared with the CPU session of the same model on
// the same inputs (the CPU ops are checked against onnxruntime by the node suite). Each model runs
// in three modes: fp32 (NCHW), TF32 and fp16 (channels-last: the pooled or convolved value is
// computed on the device, so the session lays it out NHWC). Every node must be placed on the GPU.
// Skipped without a device (gpu_test_main.cc). The index and shape math these paths share is
// tested on the CPU in tests/engine/kernels/cuda/window_geometry_test.cc.
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "model_builder.h"
#include "onnx/onnx-ml.pb.h"
#include "onnxd/engine/engine.h"

namespace onnxd {
namespace {

using namespace ::onnxd::gpu_test;  // NOLINT: the model builders

enum class Mode { kFp32, kTf32, kFp16 };

const char* ModeName(Mode m) { return m == Mode::kFp32 ? "fp32" : m == Mode::kTf32 ? "tf32" : "fp16"; }

struct Outputs {
  std::vector<std::vector<float>> values;
  std::vector<std::vector<int64_t>> shapes;
};

// Runs `m` twice on `device` (the second run may replay a captured graph; both must agree).
Outputs RunOn(const onnx::ModelProto& m, Device device, Mode mode, const std::vector<Value>& inputs,
              bool expect_all_gpu) {
  CompileOptions options;
  options.device = device;
  options.allow_tf32 = mode == Mode::kTf32;
  options.fp16 = mode == Mode::kFp16;
  Outputs r;
  auto model = CompileKept(m, options);
  if (model == nullptr) return r;
  if (device == Device::kCuda && expect_all_gpu) {
    for (const auto& n : model->placement().nodes)
      EXPECT_EQ(n.device, Device::kCuda) << n.op_type << " stays on the CPU: " << n.reason;
  }
  auto session = model->CreateSession();
  for (int k = 0; k < 2; ++k) {
    std::vector<Value> outs;
    Status st = session->Run(inputs, &outs);
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok()) return Outputs();
    Outputs now;
    for (const auto& v : outs) {
      now.values.push_back(ToFloats(v.tensor()));
      now.shapes.push_back(v.tensor().shape().ToVector());
    }
    if (k == 1) {
      bool same = now.values.size() == r.values.size();
      for (size_t o = 0; same && o < now.values.size(); ++o) {
        same = now.values[o].size() == r.values[o].size();
        for (size_t e = 0; same && e < now.values[o].size(); ++e)
          same = RunsAgree(r.values[o][e], now.values[o][e], mode == Mode::kFp16);
      }
      EXPECT_TRUE(same) << "the second run differs from the first";
    }
    r = std::move(now);
  }
  return r;
}

// The model on the GPU in each mode against the fp32 CPU session. `rtol_tc` / `atol_tc` are the
// tolerances with tensor-core math (TF32, fp16 storage).
void CheckAllModes(const onnx::ModelProto& m, const std::vector<Value>& inputs, float rtol_tc = 2e-2f,
                   float atol_tc = 2e-2f) {
  const Outputs want = RunOn(m, Device::kCpu, Mode::kFp32, inputs, false);
  ASSERT_FALSE(want.values.empty());
  for (Mode mode : {Mode::kFp32, Mode::kTf32, Mode::kFp16}) {
    SCOPED_TRACE(ModeName(mode));
    const Outputs got = RunOn(m, Device::kCuda, mode, inputs, true);
    ASSERT_EQ(got.values.size(), want.values.size());
    const float rtol = mode == Mode::kFp32 ? 1e-4f : rtol_tc, atol = mode == Mode::kFp32 ? 1e-5f : atol_tc;
    for (size_t o = 0; o < got.values.size(); ++o) {
      EXPECT_EQ(got.shapes[o], want.shapes[o]) << "output " << o;
      ASSERT_EQ(got.values[o].size(), want.values[o].size()) << "output " << o;
      int bad = 0;
      for (size_t i = 0; i < got.values[o].size(); ++i) {
        const float g = got.values[o][i], w = want.values[o][i];
        if (!(std::fabs(g - w) <= atol + rtol * std::fabs(w)) && ++bad <= 5)
          ADD_FAILURE() << "output " << o << " element " << i << ": cuda " << g << ", cpu " << w;
      }
      EXPECT_EQ(bad, 0) << "output " << o << " of " << got.values[o].size() << " elements";
    }
  }
}

// A float input of `dims`, uniform in [-scale, scale].
Value RandomInput(const std::vector<int64_t>& dims, uint32_t seed, float scale) {
  return FloatTensor(dims, Random(static_cast<size_t>(Count(dims)), seed, scale));
}

// x -> Sigmoid -> (the op under test, built by `add`) -> y: the Sigmoid makes the op's input a
// computed value (channels-last in TF32 and fp16 modes).
template <typename AddOp>
onnx::ModelProto AfterSigmoid(const std::vector<int64_t>& x_dims, AddOp add, int opset = 13) {
  onnx::ModelProto m = NewModel(opset);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, x_dims);
  *g->add_output() = AnyShape("y", kF32);
  AddNode(g, "Sigmoid", {"x"}, {"s"});
  add(g);
  return m;
}

// The window attributes Conv and the pools share; NOTSET and empty lists are left out (the defaults).
void WindowAttrs(onnx::NodeProto* n, const std::string& auto_pad, const std::vector<int64_t>& pads,
                 const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations) {
  if (auto_pad != "NOTSET") StringAttr(n, "auto_pad", auto_pad);
  if (!pads.empty()) IntsAttr(n, "pads", pads);
  if (!strides.empty()) IntsAttr(n, "strides", strides);
  if (!dilations.empty()) IntsAttr(n, "dilations", dilations);
}

// Conv from "s" with random weights W of `w` and bias B (seeds *seed and *seed + 1), then Relu when
// `relu`, into "y"; the test sets the Conv's window attributes.
onnx::NodeProto* AddConv(onnx::GraphProto* g, const std::vector<int64_t>& w, bool relu, uint32_t* seed) {
  FloatInit(g, "W", w, (*seed)++, 0.5f);
  FloatInit(g, "B", {w[0]}, (*seed)++, 0.5f);
  auto* conv = AddNode(g, "Conv", {"s", "W", "B"}, {relu ? "c" : "y"});
  if (relu) AddNode(g, "Relu", {"c"}, {"y"});
  return conv;
}

// The pooling forms of the tests below: `op` from "s" to "y"; LpPool with p = 3.
struct PoolForm {
  std::vector<int64_t> kernel;
  std::string auto_pad;
  std::vector<int64_t> pads, strides, dilations;
  bool ceil;
};

void AddPool(onnx::GraphProto* g, const std::string& op, const PoolForm& f, bool count_include_pad) {
  auto* pool = AddNode(g, op, {"s"}, {"y"});
  IntsAttr(pool, "kernel_shape", f.kernel);
  WindowAttrs(pool, f.auto_pad, f.pads, f.strides, f.dilations);
  if (f.ceil) IntAttr(pool, "ceil_mode", 1);
  if (count_include_pad) IntAttr(pool, "count_include_pad", 1);
  if (op == "LpPool") IntAttr(pool, "p", 3);
}

// Conv followed by LeakyRelu: the graph pass fuses the activation into the Conv
// (onnxd_activation), and the session applies it after the convolution.
TEST(CudaConvPoolTest, ConvWithFusedLeakyRelu) {
  for (bool bias : {true, false}) {
    SCOPED_TRACE(bias ? "with bias" : "without bias");
    auto m = AfterSigmoid({2, 5, 11, 9}, [&](onnx::GraphProto* g) {
      FloatInit(g, "W", {6, 5, 3, 3}, 70, 0.6f);
      FloatInit(g, "B", {6}, 71, 0.5f);
      std::vector<std::string> in = {"s", "W"};
      if (bias) in.push_back("B");
      IntsAttr(AddNode(g, "Conv", in, {"c"}), "pads", {1, 1, 1, 1});
      FloatAttr(AddNode(g, "LeakyRelu", {"c"}, {"y"}), "alpha", 0.2f);
    });
    CheckAllModes(m, {RandomInput({2, 5, 11, 9}, 72, 3.f)});
  }
}

// auto_pad SAME_UPPER / SAME_LOWER and pads that differ between the ends of an axis: cuDNN takes
// the common part of the pads, a padded copy of the input the rest (NCHW and channels-last, fp32
// and fp16), including under cuDNN's fused Conv+Bias+ReLU call and in a 1-D convolution.
TEST(CudaConvPoolTest, ConvWithSameAndAsymmetricPads) {
  struct Case {
    std::vector<int64_t> x, w;
    std::string auto_pad;
    std::vector<int64_t> pads, strides, dilations;
    bool relu;
  };
  const Case cases[] = {
      {{2, 4, 13, 10}, {6, 4, 3, 3}, "SAME_UPPER", {}, {2, 2}, {}, false},
      {{1, 3, 9, 12}, {5, 3, 4, 2}, "SAME_LOWER", {}, {1, 1}, {}, true},   // even kernels: pads differ
      {{1, 3, 11, 11}, {4, 3, 3, 3}, "SAME_UPPER", {}, {3, 1}, {2, 1}, false},
      {{2, 4, 8, 9}, {4, 4, 3, 3}, "NOTSET", {0, 1, 2, 0}, {1, 2}, {}, true},
      {{2, 3, 17}, {4, 3, 4}, "SAME_UPPER", {}, {2}, {}, false},
      {{2, 3, 17}, {4, 3, 3}, "NOTSET", {0, 2}, {1}, {2}, false}};
  uint32_t seed = 80;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.auto_pad + " x rank " + std::to_string(c.x.size()) + (c.relu ? " +Relu" : ""));
    auto m = AfterSigmoid(c.x, [&](onnx::GraphProto* g) {
      WindowAttrs(AddConv(g, c.w, c.relu, &seed), c.auto_pad, c.pads, c.strides, c.dilations);
    });
    CheckAllModes(m, {RandomInput(c.x, seed++, 2.f)});
  }
}

// MaxPool and AveragePool in the forms cuDNN's pooling does not give as ONNX defines them, and
// LpPool (p = 3) in every form, by our kernels (kernels/cuda/pool_nhwc.h): auto_pad SAME_*, pads
// that differ between the ends, ceil_mode
// (windows cut by the rounding up, and a last window starting on the pad), dilations, with and
// without count_include_pad; 2-D (channels-last in TF32 / fp16) and 1-D.
TEST(CudaConvPoolTest, PoolingWithSamePadsCeilModeAndDilations) {
  struct Case {
    std::vector<int64_t> x;
    PoolForm f;
  };
  const Case cases[] = {
      {{2, 3, 9, 10}, {{3, 3}, "SAME_UPPER", {}, {2, 2}, {}, false}},
      {{1, 5, 8, 8}, {{2, 2}, "SAME_LOWER", {}, {1, 1}, {}, false}},
      {{2, 3, 9, 10}, {{3, 2}, "NOTSET", {1, 0, 0, 1}, {2, 2}, {}, false}},
      {{1, 4, 8, 9}, {{3, 3}, "NOTSET", {}, {2, 2}, {}, true}},
      {{1, 2, 6, 6}, {{3, 3}, "NOTSET", {1, 1, 1, 1}, {2, 2}, {}, true}},  // a last window on the pad is dropped
      {{2, 3, 10, 9}, {{2, 2}, "NOTSET", {0, 1, 1, 0}, {1, 2}, {2, 2}, true}},
      {{2, 3, 15}, {{4}, "SAME_UPPER", {}, {3}, {}, false}},
      {{2, 3, 15}, {{3}, "NOTSET", {2, 0}, {2}, {}, true}}};
  uint32_t seed = 90;
  for (const Case& c : cases) {
    for (const char* op : {"MaxPool", "AveragePool", "LpPool"}) {
      for (int include : {0, 1}) {
        if (std::string(op) != "AveragePool" && include) continue;
        SCOPED_TRACE(std::string(op) + " " + c.f.auto_pad + " rank " + std::to_string(c.x.size()) +
                     (c.f.ceil ? " ceil" : "") + (include ? " count_include_pad" : ""));
        auto m = AfterSigmoid(c.x, [&](onnx::GraphProto* g) { AddPool(g, op, c.f, include); }, 19);
        // fp16 holds the Sigmoid's output to ~5e-4; the pooling itself adds no error in TF32.
        CheckAllModes(m, {RandomInput(c.x, seed++, 3.f)}, 2e-3f, 2e-3f);
      }
    }
  }
}

// MaxPool's Indices, row-major and column-major (storage_order 1), by our kernel against the CPU
// op: 1-D, 2-D with pads, strides, dilations and ceil_mode, 3-D. The input is a permutation of
// distinct integers, exact in fp16, so every window has one maximum in every mode; the Neg makes
// it a computed value (channels-last in TF32 and fp16 modes, which the Indices keep NCHW).
TEST(CudaConvPoolTest, MaxPoolIndicesInBothStorageOrders) {
  struct Case {
    std::vector<int64_t> x;
    PoolForm f;
  };
  const Case cases[] = {
      {{2, 3, 9, 10}, {{3, 2}, "NOTSET", {1, 0, 0, 1}, {2, 2}, {}, false}},
      {{1, 4, 8, 9}, {{3, 3}, "NOTSET", {}, {2, 2}, {}, true}},
      {{2, 3, 10, 9}, {{2, 2}, "NOTSET", {0, 1, 1, 0}, {1, 2}, {2, 2}, true}},
      {{2, 3, 9, 8}, {{3, 3}, "SAME_LOWER", {}, {2, 1}, {}, false}},
      {{2, 3, 15}, {{3}, "NOTSET", {2, 0}, {2}, {}, true}},
      {{1, 2, 5, 6, 7}, {{2, 3, 2}, "NOTSET", {0, 1, 0, 1, 0, 1}, {2, 2, 1}, {}, false}}};
  uint32_t seed = 130;
  for (const Case& c : cases) {
    for (int order : {0, 1}) {
      SCOPED_TRACE(c.f.auto_pad + " rank " + std::to_string(c.x.size()) + (c.f.ceil ? " ceil" : "") +
                   " storage_order " + std::to_string(order));
      onnx::ModelProto m = NewModel(12);
      auto* g = m.mutable_graph();
      *g->add_input() = Info("x", kF32, c.x);
      *g->add_output() = AnyShape("y", kF32);
      *g->add_output() = AnyShape("i", kI64);
      AddNode(g, "Neg", {"x"}, {"s"});
      auto* pool = AddNode(g, "MaxPool", {"s"}, {"y", "i"});
      IntsAttr(pool, "kernel_shape", c.f.kernel);
      WindowAttrs(pool, c.f.auto_pad, c.f.pads, c.f.strides, c.f.dilations);
      if (c.f.ceil) IntAttr(pool, "ceil_mode", 1);
      if (order) IntAttr(pool, "storage_order", 1);
      std::vector<float> v(static_cast<size_t>(Count(c.x)));
      std::iota(v.begin(), v.end(), 0.f);
      std::shuffle(v.begin(), v.end(), std::mt19937(seed++));
      CheckAllModes(m, {FloatTensor(c.x, v)}, 0.f, 0.f);
    }
  }
}

// 3-D MaxPool / AveragePool (NCDHW) by our kernels, and the global pools over a 5-D input (as 2-D
// over D * H by cuDNN).
TEST(CudaConvPoolTest, ThreeDPoolingAndGlobalPooling) {
  const PoolForm cases[] = {{{2, 2, 2}, "NOTSET", {}, {}, {}, false},
                            {{2, 3, 2}, "NOTSET", {1, 0, 1, 0, 1, 1}, {2, 1, 2}, {1, 2, 1}, true},
                            {{3, 2, 2}, "SAME_UPPER", {}, {2, 2, 1}, {}, false}};
  const std::vector<int64_t> x = {2, 3, 7, 6, 5};
  uint32_t seed = 120;
  for (const PoolForm& c : cases) {
    for (const char* op : {"MaxPool", "AveragePool"}) {
      for (int include : {0, 1}) {
        if (std::string(op) == "MaxPool" && include) continue;
        SCOPED_TRACE(std::string(op) + " " + c.auto_pad + (c.ceil ? " ceil" : "") +
                     (include ? " count_include_pad" : ""));
        auto m = AfterSigmoid(x, [&](onnx::GraphProto* g) { AddPool(g, op, c, include); }, 19);
        CheckAllModes(m, {RandomInput(x, seed++, 3.f)}, 2e-3f, 2e-3f);
      }
    }
  }
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
    SCOPED_TRACE(op);
    auto m = AfterSigmoid(x, [&](onnx::GraphProto* g) { AddNode(g, op, {"s"}, {"y"}); });
    CheckAllModes(m, {RandomInput(x, seed++, 3.f)}, 2e-3f, 2e-3f);
  }
}

// 3-D Conv (NCDHW) through cuDNN's N-d descriptors: strides, dilations, groups, bias, a fused
// ReLU; and SAME_UPPER pads that differ between the ends (the rest of them as a padded input).
TEST(CudaConvPoolTest, ThreeDConv) {
  struct Case {
    std::vector<int64_t> x, w;
    std::string auto_pad;
    std::vector<int64_t> pads, strides, dilations;
    int64_t group;
    bool relu;
  };
  const Case cases[] = {{{2, 4, 6, 7, 5}, {6, 4, 3, 3, 3}, "NOTSET", {1, 1, 1, 1, 1, 1}, {}, {}, 1, true},
                        {{1, 4, 9, 8, 7}, {4, 2, 2, 3, 2}, "NOTSET", {0, 1, 1, 0, 1, 1}, {2, 1, 2}, {2, 1, 1}, 2,
                         false},
                        {{1, 3, 6, 6, 6}, {2, 3, 2, 2, 2}, "SAME_UPPER", {}, {1, 1, 1}, {}, 1, false},
                        {{2, 2, 7, 5, 6}, {3, 2, 3, 2, 2}, "SAME_LOWER", {}, {2, 1, 2}, {}, 1, true}};
  uint32_t seed = 140;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.auto_pad + " group " + std::to_string(c.group) + (c.relu ? " +Relu" : ""));
    auto m = AfterSigmoid(c.x, [&](onnx::GraphProto* g) {
      auto* conv = AddConv(g, c.w, c.relu, &seed);
      WindowAttrs(conv, c.auto_pad, c.pads, c.strides, c.dilations);
      if (c.group != 1) IntAttr(conv, "group", c.group);
    });
    CheckAllModes(m, {RandomInput(c.x, seed++, 2.f)});
  }
}

}  // namespace
}  // namespace onnxd

namespace onnxd {
namespace {

using namespace ::onnxd::gpu_test;  // NOLINT: the model builders

// MobileNet-style depthwise layers (3x3 with bias and ReLU6, 5x5 stride 2 with asymmetric pads and
// ReLU, 3x3 dilated) by our depthwise kernel (ONNXD_CUDA_DEPTHWISE=1), in every mode against the
// CPU; the session's counter says our kernel computed all three (it is checked against cuDNN at
// first use and dropped for cuDNN's answer if it differs), and none with ONNXD_CUDA_DEPTHWISE=0.
onnx::ModelProto DepthwiseStack() {
  const int64_t C = 8;
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {2, C, 13, 11});
  *g->add_output() = AnyShape("y", kF32);
  FloatInit(g, "w1", {C, 1, 3, 3}, 31);
  FloatInit(g, "b1", {C}, 32);
  FloatInit(g, "w2", {C, 1, 5, 5}, 33);
  FloatInit(g, "w3", {C, 1, 3, 3}, 34);
  ScalarInit(g, "lo", 0.f);
  ScalarInit(g, "hi", 6.f);
  auto conv = [&](const std::vector<std::string>& in, const std::string& out, std::vector<int64_t> pads,
                  std::vector<int64_t> strides, std::vector<int64_t> dil) {
    auto* n = AddNode(g, "Conv", in, {out});
    IntAttr(n, "group", C);
    IntsAttr(n, "pads", pads);
    IntsAttr(n, "strides", strides);
    IntsAttr(n, "dilations", dil);
  };
  conv({"x", "w1", "b1"}, "c1", {1, 1, 1, 1}, {1, 1}, {1, 1});
  AddNode(g, "Clip", {"c1", "lo", "hi"}, {"r1"});
  conv({"r1", "w2"}, "c2", {2, 1, 1, 2}, {2, 2}, {1, 1});
  AddNode(g, "Relu", {"c2"}, {"r2"});
  conv({"r2", "w3"}, "y", {2, 2, 2, 2}, {1, 1}, {2, 2});
  return m;
}

// Our kernel's uses in the first run; with `tune`, the runs after it tune (the capturing one) and
// *tuning gets what the tuning chose.
int OwnDepthwiseInFirstRun(const onnx::ModelProto& m, const std::vector<Value>& in, bool fp16, bool tune = false,
                           std::string* tuning = nullptr) {
  CompileOptions options;
  options.device = Device::kCuda;
  options.fp16 = fp16;
  auto model = CompileKept(m, options);
  if (model == nullptr) return -1;
  auto session = model->CreateSession();
  std::vector<Value> outs;
  Status st = session->Run(in, &outs);
  EXPECT_TRUE(st.ok()) << st.ToString();
  const int used = session->last_run_cuda_stats().own_depthwise;
  if (tune) {
    RunOptions ro;
    ro.tune = true;
    for (int k = 0; k < 2; ++k) EXPECT_TRUE(session->Run(in, &outs, ro).ok());
    if (tuning != nullptr) *tuning = session->last_tuning();
  }
  return used;
}

TEST(CudaDepthwiseTest, OwnKernelMatchesCpuInEveryMode) {
  const onnx::ModelProto m = DepthwiseStack();
  const std::vector<Value> in = {FloatTensor({2, 8, 13, 11}, Random(2 * 8 * 13 * 11, 36, 3.f))};
  setenv("ONNXD_CUDA_DEPTHWISE", "1", 1);
  CheckAllModes(m, in);
  EXPECT_EQ(OwnDepthwiseInFirstRun(m, in, false), 3);
  EXPECT_EQ(OwnDepthwiseInFirstRun(m, in, true), 3);
  // The setting holds through autotuning too: every candidate it times uses our kernel.
  std::string tuning;
  OwnDepthwiseInFirstRun(m, in, true, true, &tuning);
  EXPECT_NE(tuning.find("our depthwise kernel chosen"), std::string::npos) << tuning;
  setenv("ONNXD_CUDA_DEPTHWISE", "0", 1);
  EXPECT_EQ(OwnDepthwiseInFirstRun(m, in, false), 0);
  unsetenv("ONNXD_CUDA_DEPTHWISE");
}

}  // namespace
}  // namespace onnxd
