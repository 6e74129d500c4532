// Autotuning (CompileOptions::cuda_autotune, RunOptions::tune): a tuning run that captures its
// signature's CUDA Graph captures it in each execution variant (channels-last or NCHW; cuDNN's
// heuristic or measured algorithms; with or without the fused calls; fp16 attention fused or not),
// times replays and keeps the fastest. Whatever
// wins, the answers must be the CPU's; the report must name every candidate. Skipped without a
// device (gpu_test_main.cc).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "model_builder.h"
#include "onnx/onnx-ml.pb.h"
#include "onnxd/engine/engine.h"

namespace onnxd {
namespace {

using namespace ::onnxd::gpu_test;  // NOLINT: the model builders

// Conv -> Relu -> MaxPool -> Conv -> Add (residual) -> Relu -> GlobalAveragePool.
onnx::ModelProto SmallCnn() {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 8, 16, 16});
  *g->add_output() = AnyShape("y", kF32);
  FloatInit(g, "w1", {16, 8, 3, 3}, 1);
  FloatInit(g, "b1", {16}, 2);
  FloatInit(g, "w2", {16, 16, 3, 3}, 3);
  auto* c1 = AddNode(g, "Conv", {"x", "w1", "b1"}, {"c1"});
  IntsAttr(c1, "pads", {1, 1, 1, 1});
  AddNode(g, "Relu", {"c1"}, {"r1"});
  auto* p = AddNode(g, "MaxPool", {"r1"}, {"p"});
  IntsAttr(p, "kernel_shape", {2, 2});
  IntsAttr(p, "strides", {2, 2});
  auto* c2 = AddNode(g, "Conv", {"p", "w2"}, {"c2"});
  IntsAttr(c2, "pads", {1, 1, 1, 1});
  AddNode(g, "Add", {"c2", "p"}, {"a"});
  AddNode(g, "Relu", {"a"}, {"r2"});
  AddNode(g, "GlobalAveragePool", {"r2"}, {"y"});
  return m;
}

std::vector<float> RunModel(const CompiledModel& model, const Tensor& x, bool tune, int runs, std::string* tuning) {
  auto session = model.CreateSession();
  RunOptions options;
  options.tune = tune;
  std::vector<Value> outs;
  for (int k = 0; k < runs; ++k) {
    const std::vector<Value> in = {Value(x)};
    Status st = session->Run(in, &outs, options);
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok()) return {};
  }
  if (tuning != nullptr) *tuning = session->last_tuning();
  const Tensor& y = outs[0].tensor();
  return std::vector<float>(y.data<float>(), y.data<float>() + y.num_elements());
}

void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, float tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol * (1 + std::fabs(want[i]))) << i;
}

int Count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(CudaAutotuneTest, TunedRunsMatchTheCpuInEveryPrecision) {
  const onnx::ModelProto m = SmallCnn();
  CompileOptions cpu;
  auto cpu_model = CompileKept(m, cpu);
  ASSERT_NE(cpu_model, nullptr);
  for (int64_t batch : {2, 8}) {
    Tensor x = Tensor::Allocate(DataType::kFloat, Shape{batch, 8, 16, 16});
    const std::vector<float> r = Random(static_cast<size_t>(x.num_elements()), 7, 2.f);
    std::copy(r.begin(), r.end(), x.data<float>());
    const std::vector<float> want = RunModel(*cpu_model, x, false, 1, nullptr);
    struct Mode {
      bool tf32, fp16;
      float tol;
    };
    for (const Mode mode : {Mode{false, false, 1e-4f}, Mode{true, false, 1e-2f}, Mode{false, true, 2e-2f}}) {
      SCOPED_TRACE("batch " + std::to_string(batch) + (mode.tf32 ? " tf32" : "") + (mode.fp16 ? " fp16" : ""));
      CompileOptions options;
      options.device = Device::kCuda;
      options.allow_tf32 = mode.tf32;
      options.fp16 = mode.fp16;
      auto model = CompileKept(m, options);
      ASSERT_NE(model, nullptr);
      std::string tuning;
      // Run 1 node by node, run 2 tunes and captures, run 3 replays the chosen graph.
      ExpectClose(RunModel(*model, x, true, 3, &tuning), want, mode.tol);
      EXPECT_EQ(Count(tuning, " chosen"), 1) << tuning;
      // Both layouts x heuristic or measured algorithms x with or without the fused calls (the
      // Conv + Relu and the residual Add + Relu are fusion sites).
      EXPECT_EQ(Count(tuning, " ms"), 8) << tuning;
      const size_t list = tuning.find(" chosen; ");
      ASSERT_NE(list, std::string::npos) << tuning;
      EXPECT_EQ(Count(tuning.substr(list), "channels-last"), 4) << tuning;
      EXPECT_EQ(Count(tuning.substr(list), "unfused"), 4) << tuning;
      EXPECT_NE(tuning.find(batch >= 8 ? ">= 8" : "< 8"), std::string::npos) << tuning;
      // Without tuning: the default variant, no report, the same answers.
      std::string untuned;
      ExpectClose(RunModel(*model, x, false, 3, &untuned), want, mode.tol);
      EXPECT_EQ(untuned, "");
    }
  }
}

TEST(CudaAutotuneTest, AModelsOtherInstancesTakeTheTunedVariant) {
  // The first session of a model on a GPU tunes; the next one (alive at the same time, as a
  // server's instances are) captures in its choice without timing anything.
  CompileOptions options;
  options.device = Device::kCuda;
  options.fp16 = true;
  auto model = CompileKept(SmallCnn(), options);
  ASSERT_NE(model, nullptr);
  Tensor x = Tensor::Allocate(DataType::kFloat, Shape{2, 8, 16, 16});
  const std::vector<float> r = Random(static_cast<size_t>(x.num_elements()), 9, 2.f);
  std::copy(r.begin(), r.end(), x.data<float>());
  auto one = model->CreateSession();
  auto two = model->CreateSession();
  RunOptions tune;
  tune.tune = true;
  const std::vector<Value> in = {Value(x)};
  std::vector<Value> a, b;
  for (int k = 0; k < 3; ++k) ASSERT_TRUE(one->Run(in, &a, tune).ok());
  for (int k = 0; k < 3; ++k) ASSERT_TRUE(two->Run(in, &b, tune).ok());
  const std::string first = one->last_tuning(), second = two->last_tuning();
  EXPECT_EQ(Count(first, " ms"), 8) << first;
  EXPECT_NE(second.find("as tuned before"), std::string::npos) << second;
  EXPECT_EQ(Count(second, " ms"), 0) << second;
  // The same variant, so the same answers.
  const size_t chosen = first.find(": ") + 2;
  EXPECT_EQ(first.substr(chosen, first.find(" chosen") - chosen), second.substr(chosen, second.find(",") - chosen))
      << first << " / " << second;
  const Tensor& ya = a[0].tensor();
  const Tensor& yb = b[0].tensor();
  ExpectClose(std::vector<float>(yb.data<float>(), yb.data<float>() + yb.num_elements()),
              std::vector<float>(ya.data<float>(), ya.data<float>() + ya.num_elements()), 1e-6f);
}

TEST(CudaAutotuneTest, ModelsWithoutGpuConvolutionsAreNotTuned) {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 32});
  *g->add_output() = AnyShape("y", kF32);
  FloatInit(g, "w", {32, 16}, 11);
  AddNode(g, "MatMul", {"x", "w"}, {"y"});
  CompileOptions options;
  options.device = Device::kCuda;
  auto model = CompileKept(m, options);
  ASSERT_NE(model, nullptr);
  Tensor x = Tensor::Allocate(DataType::kFloat, Shape{4, 32});
  std::string tuning;
  RunModel(*model, x, true, 3, &tuning);
  EXPECT_EQ(tuning, "");
}

TEST(CudaAutotuneTest, Fp16AttentionTimesTheFusedKernelAgainstGemmsAndSoftmax) {
  // An exported attention block (projections, head split, scaled and masked scores, softmax,
  // context) and no
  // convolution: tuned all the same, the fused attention kernel against the unfused nodes.
  const int64_t S = 24, H = 2, D = 16, E = H * D;
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, S, E});
  *g->add_output() = AnyShape("y", kF32);
  FloatInit(g, "Wq", {E, E}, 21, 0.3f);
  FloatInit(g, "Wk", {E, E}, 22, 0.3f);
  FloatInit(g, "Wv", {E, E}, 23, 0.3f);
  FloatInit(g, "mask", {1, 1, 1, S}, 25);  // an additive bias over the keys
  Int64Init(g, "heads", {0, S, H, D});
  ScalarInit(g, "scale", 1.f / std::sqrt(static_cast<float>(D)));
  AddNode(g, "MatMul", {"x", "Wq"}, {"q0"});
  AddNode(g, "MatMul", {"x", "Wk"}, {"k0"});
  AddNode(g, "MatMul", {"x", "Wv"}, {"v0"});
  SplitHeads(g, "q0", "k0", "v0", "heads");
  AddNode(g, "MatMul", {"q", "kt"}, {"s0"});
  AddNode(g, "Mul", {"s0", "scale"}, {"s1"});
  AddNode(g, "Add", {"s1", "mask"}, {"s"});
  AddNode(g, "Softmax", {"s"}, {"p"});
  AddNode(g, "MatMul", {"p", "v"}, {"y"});
  CompileOptions cpu;
  auto cpu_model = CompileKept(m, cpu);
  ASSERT_NE(cpu_model, nullptr);
  CompileOptions options;
  options.device = Device::kCuda;
  options.fp16 = true;
  auto model = CompileKept(m, options);
  ASSERT_NE(model, nullptr);
  Tensor x = Tensor::Allocate(DataType::kFloat, Shape{3, S, E});
  const std::vector<float> r = Random(static_cast<size_t>(x.num_elements()), 24, 1.f);
  std::copy(r.begin(), r.end(), x.data<float>());
  std::string tuning;
  ExpectClose(RunModel(*model, x, true, 3, &tuning), RunModel(*cpu_model, x, false, 1, nullptr), 2e-2f);
  EXPECT_EQ(Count(tuning, " chosen"), 1) << tuning;
  // One layout and algorithm choice (no convolution), no fused calls (no bias GEMM): the fused
  // kernel, then the same with attention unfused.
  EXPECT_EQ(Count(tuning, " ms"), 2) << tuning;
  const size_t list = tuning.find(" chosen; ");
  ASSERT_NE(list, std::string::npos) << tuning;
  EXPECT_EQ(Count(tuning.substr(list), " + attention unfused "), 1) << tuning;
  // In fp32 the fused kernel never runs: nothing to time, no tuning.
  CompileOptions fp32;
  fp32.device = Device::kCuda;
  auto fp32_model = CompileKept(m, fp32);
  ASSERT_NE(fp32_model, nullptr);
  std::string untuned;
  ExpectClose(RunModel(*fp32_model, x, true, 3, &untuned), RunModel(*cpu_model, x, false, 1, nullptr), 1e-3f);
  EXPECT_EQ(untuned, "");
}

TEST(CudaAutotuneTest, TheCompileOptionTurnsItOff) {
  CompileOptions options;
  options.device = Device::kCuda;
  options.fp16 = true;
  options.cuda_autotune = false;
  auto model = CompileKept(SmallCnn(), options);
  ASSERT_NE(model, nullptr);
  Tensor x = Tensor::Allocate(DataType::kFloat, Shape{2, 8, 16, 16});
  std::string tuning;
  RunModel(*model, x, true, 3, &tuning);
  EXPECT_EQ(tuning, "");
}

}  // namespace
}  // namespace onnxd
