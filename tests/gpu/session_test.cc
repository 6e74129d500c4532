// The CUDA session end to end (issue 8): small models compiled for Device::kCuda run through the
// public Session API and are compared with the CPU session of the same model on the same inputs
// (the CPU engine is checked against onnxruntime by the node suite). Each test also checks that
// the copies a run makes are the ones the placement plan counted. Skipped without a device
// (gpu_test_main.cc).
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "model_builder.h"
#include "onnx/onnx-ml.pb.h"
#include "onnxd/engine/engine.h"

namespace onnxd {
namespace {

using namespace ::onnxd::gpu_test;  // NOLINT: the model builders

struct Result {
  std::vector<std::vector<float>> outputs;
  std::vector<std::vector<int64_t>> shapes;
  int copies = 0;
  Session::CudaRunStats first_run;  // the first (node by node) run's
};

// Runs `m` on `device` `runs` times (checking the runs agree) and returns the last run's outputs.
Result RunOn(const onnx::ModelProto& m, Device device, const std::vector<Value>& inputs, int runs = 2,
             bool tf32 = false, const PlacementInfo** placement_out = nullptr, bool fp16 = false) {
  CompileOptions options;
  options.device = device;
  options.allow_tf32 = tf32;
  options.fp16 = fp16;
  auto model = CompileKept(m, options);
  Result r;
  if (model == nullptr) return r;
  if (placement_out != nullptr) *placement_out = &model->placement();
  auto session = model->CreateSession();
  std::vector<std::vector<float>> first;
  for (int k = 0; k < runs; ++k) {
    std::vector<Value> outs;
    Status st = session->Run(inputs, &outs);
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok()) return r;
    r.outputs.clear();
    r.shapes.clear();
    for (const auto& v : outs) {
      r.outputs.push_back(ToFloats(v.tensor()));
      r.shapes.push_back(v.tensor().shape().ToVector());
    }
    if (k == 0) {
      first = r.outputs;
      r.first_run = session->last_run_cuda_stats();
    } else {
      // Bit for bit (NaN included: a fully masked row is NaN on every run).
      bool same = first.size() == r.outputs.size();
      for (size_t o = 0; same && o < first.size(); ++o)
        same = first[o].size() == r.outputs[o].size() &&
               std::memcmp(first[o].data(), r.outputs[o].data(), first[o].size() * sizeof(float)) == 0;
      EXPECT_TRUE(same) << "run " << k << " differs from the first run";
    }
    r.copies = session->last_run_copies();
  }
  return r;
}

void ExpectClose(const Result& got, const Result& want, float rtol = 1e-3f, float atol = 1e-5f) {
  ASSERT_EQ(got.outputs.size(), want.outputs.size());
  for (size_t o = 0; o < got.outputs.size(); ++o) {
    EXPECT_EQ(got.shapes[o], want.shapes[o]) << "output " << o;
    ASSERT_EQ(got.outputs[o].size(), want.outputs[o].size());
    int bad = 0;
    for (size_t i = 0; i < got.outputs[o].size(); ++i) {
      float g = got.outputs[o][i], w = want.outputs[o][i];
      if (g == w || (std::isnan(g) && std::isnan(w))) continue;  // equal infinities (masked scores), NaN for NaN
      if (!(std::fabs(g - w) <= atol + rtol * std::fabs(w)) && ++bad <= 5)
        ADD_FAILURE() << "output " << o << " element " << i << ": cuda " << g << ", cpu " << w;
    }
    EXPECT_EQ(bad, 0) << "output " << o << " of " << got.outputs[o].size() << " elements";
  }
}

// Compiles for both devices, runs, compares, and checks the copies against the plan.
void CheckAgainstCpu(const onnx::ModelProto& m, const std::vector<Value>& inputs, int expect_cuda_nodes,
                     int expect_copies, float rtol = 1e-3f, float atol = 1e-5f) {
  const PlacementInfo* placement = nullptr;
  Result gpu = RunOn(m, Device::kCuda, inputs, 2, false, &placement);
  Result cpu = RunOn(m, Device::kCpu, inputs);
  ASSERT_NE(placement, nullptr);
  int on_cuda = 0;
  for (const auto& n : placement->nodes) on_cuda += n.device == Device::kCuda;
  EXPECT_EQ(on_cuda, expect_cuda_nodes) << placement->summary;
  EXPECT_EQ(placement->total_copies(), expect_copies) << placement->summary;
  EXPECT_EQ(gpu.copies, placement->total_copies()) << "copies made vs planned: " << placement->summary;
  ExpectClose(gpu, cpu, rtol, atol);
}

TEST(CudaSessionTest, MatMulAddReluChainMatchesCpu) {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 37});
  *g->add_output() = Info("y", kF32, {-1, 19});
  FloatInit(g, "W", {37, 19}, 1);
  FloatInit(g, "b", {19}, 2);
  AddNode(g, "MatMul", {"x", "W"}, {"xw"});
  AddNode(g, "Add", {"xw", "b"}, {"s"});
  AddNode(g, "Relu", {"s"}, {"y"});
  for (int64_t batch : {1, 5, 64})
    CheckAgainstCpu(m, {FloatTensor({batch, 37}, Random(batch * 37, 3))}, 3, 2);
}

TEST(CudaSessionTest, UnsupportedOpInTheMiddleRunsOnCpuWithCopies) {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {3, 50});
  *g->add_output() = Info("y", kF32, {3, 50});
  *g->add_output() = Info("z", kF32, {3, 50});
  AddNode(g, "Tanh", {"x"}, {"t"});
  AddNode(g, "Asin", {"t"}, {"f"});  // CPU (no CUDA kernel; t = tanh(x) is inside its domain)
  AddNode(g, "Sigmoid", {"f"}, {"y"});
  AddNode(g, "Mul", {"t", "y"}, {"z"});
  CheckAgainstCpu(m, {FloatTensor({3, 50}, Random(150, 4, 3.f))}, 3, 5);  // x in; t out, f in; y, z out
}

TEST(CudaSessionTest, GemmWithTransposeAlphaAndBias) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("a", kF32, {33, 7});
  *g->add_output() = Info("y", kF32, {7, 21});
  FloatInit(g, "B", {21, 33}, 5);
  FloatInit(g, "C", {21}, 6);
  auto* n = AddNode(g, "Gemm", {"a", "B", "C"}, {"y"});
  IntAttr(n, "transA", 1);
  IntAttr(n, "transB", 1);
  FloatAttr(n, "alpha", 0.75f);
  CheckAgainstCpu(m, {FloatTensor({33, 7}, Random(33 * 7, 7))}, 1, 2);
}

TEST(CudaSessionTest, BatchedAndBroadcastMatMul) {
  struct Case {
    std::vector<int64_t> a, b;
  };
  for (const Case& c : std::vector<Case>{{{2, 3, 5, 8}, {2, 3, 8, 4}},   // strided batched
                                         {{1, 5, 8}, {6, 8, 4}},         // A broadcast (stride 0)
                                         {{2, 1, 5, 8}, {1, 3, 8, 4}},   // general broadcast loop
                                         {{7, 8}, {2, 8, 3}},            // rank 2 x rank 3
                                         {{8}, {2, 8, 3}},               // vector A
                                         {{4, 5, 8}, {8}}}) {            // vector B
    onnx::ModelProto m = NewModel(17);
    auto* g = m.mutable_graph();
    *g->add_input() = Info("a", kF32, c.a);
    *g->add_input() = Info("b", kF32, c.b);
    *g->add_output() = Info("y", kF32, {});
    g->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
    AddNode(g, "MatMul", {"a", "b"}, {"y"});
    SCOPED_TRACE(::testing::Message() << "A rank " << c.a.size() << " B rank " << c.b.size());
    CheckAgainstCpu(m, {FloatTensor(c.a, Random(Count(c.a), 8)), FloatTensor(c.b, Random(Count(c.b), 9))}, 1, 3);
  }
}

// One BERT-style self-attention block with its LayerNorm and GELU feed-forward: every op but the
// Shape-free reshapes runs on the GPU and nothing crosses back until the output.
TEST(CudaSessionTest, AttentionBlockStaysOnTheGpu) {
  const int64_t B = 2, S = 16, H = 4, D = 8, E = H * D;
  onnx::ModelProto m = NewModel(20);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {B, S, E});
  *g->add_output() = Info("y", kF32, {B, S, E});
  FloatInit(g, "Wq", {E, E}, 11, 0.3f);
  FloatInit(g, "Wk", {E, E}, 12, 0.3f);
  FloatInit(g, "Wv", {E, E}, 13, 0.3f);
  FloatInit(g, "bq", {E}, 14);
  FloatInit(g, "W1", {E, 2 * E}, 15, 0.3f);
  FloatInit(g, "W2", {2 * E, E}, 16, 0.3f);
  FloatInit(g, "gamma", {E}, 17);
  FloatInit(g, "beta", {E}, 18);
  Int64Init(g, "heads", {B, S, H, D});
  Int64Init(g, "merged", {B, S, E});
  ScalarInit(g, "scale", std::sqrt(static_cast<float>(D)));
  AddNode(g, "MatMul", {"x", "Wq"}, {"q0"});
  AddNode(g, "Add", {"q0", "bq"}, {"q1"});
  AddNode(g, "MatMul", {"x", "Wk"}, {"k0"});
  AddNode(g, "MatMul", {"x", "Wv"}, {"v0"});
  SplitHeads(g, "q1", "k0", "v0", "heads");
  AddNode(g, "MatMul", {"q", "kt"}, {"scores0"});
  AddNode(g, "Div", {"scores0", "scale"}, {"scores"});
  AddNode(g, "Softmax", {"scores"}, {"probs"});
  AddNode(g, "MatMul", {"probs", "v"}, {"ctx0"});
  IntsAttr(AddNode(g, "Transpose", {"ctx0"}, {"ctx1"}), "perm", {0, 2, 1, 3});
  AddNode(g, "Reshape", {"ctx1", "merged"}, {"ctx"});
  AddNode(g, "Add", {"ctx", "x"}, {"res"});
  FloatAttr(AddNode(g, "LayerNormalization", {"res", "gamma", "beta"}, {"ln"}), "epsilon", 1e-5f);
  AddNode(g, "MatMul", {"ln", "W1"}, {"h0"});
  StringAttr(AddNode(g, "Gelu", {"h0"}, {"h1"}), "approximate", "none");
  AddNode(g, "MatMul", {"h1", "W2"}, {"h2"});
  AddNode(g, "Add", {"h2", "ln"}, {"y"});
  const int nodes = g->node_size();
  CheckAgainstCpu(m, {FloatTensor({B, S, E}, Random(B * S * E, 19))}, nodes, 2, 1e-3f, 1e-4f);
}

// Attention as torch's scaled_dot_product_attention exports: the scale applied to Q and to K^T
// before the MatMul (so a Mul sits between each Transpose and the MatMul), K^T as two Transposes,
// an additive mask. The Transposes fold into the GEMMs' strides (views), and the result is written
// straight into the output Transpose's layout; fp32 and fp16, batch 1 and 3, node by node and
// replayed from a CUDA graph (three runs).
// What the exported attention blocks below share: inputs q, k, v [B, S, H * D] and output y of that
// shape; the head shapes "heads" [0, S, H, D] and "merged" [0, S, H * D], "sqrt_scale"
// (sqrt(1 / sqrt(D)), applied to Q and to K^T); and q, k, v reshaped to heads as q2, k2, v2. The
// caller adds the mask input (after q, k, v) and the rest of the block.
onnx::GraphProto* AttentionHeads(onnx::ModelProto* m, int64_t S, int64_t H, int64_t D) {
  const int64_t E = H * D;
  auto* g = m->mutable_graph();
  for (const char* n : {"q", "k", "v"}) *g->add_input() = Info(n, kF32, {-1, S, E});
  *g->add_output() = Info("y", kF32, {-1, S, E});
  Int64Init(g, "heads", {0, S, H, D});
  Int64Init(g, "merged", {0, S, E});
  ScalarInit(g, "sqrt_scale", std::sqrt(1.f / std::sqrt(static_cast<float>(D))));
  for (const char* n : {"q", "k", "v"}) AddNode(g, "Reshape", {n, "heads"}, {std::string(n) + "2"});
  return g;
}

// Q K^T as the exporters write it, sqrt_scale on each side: qt, kt (heads first) -> scores.
void AddScaledScores(onnx::GraphProto* g) {
  AddNode(g, "Mul", {"qt", "sqrt_scale"}, {"qs"});
  AddNode(g, "Mul", {"kt", "sqrt_scale"}, {"ks"});
  AddNode(g, "MatMul", {"qs", "ks"}, {"scores"});
}

// The dynamo and TorchScript blocks' end: softmax of "masked", NaN rows to 0 (the caller adds
// "zero"), times V (vt), heads merged -> y.
void AddCleanedContext(onnx::GraphProto* g) {
  IntAttr(AddNode(g, "Softmax", {"masked"}, {"p"}), "axis", -1);
  AddNode(g, "IsNaN", {"p"}, {"nan"});
  AddNode(g, "Where", {"nan", "zero", "p"}, {"probs"});
  AddNode(g, "MatMul", {"probs", "vt"}, {"ctx"});
  IntsAttr(AddNode(g, "Transpose", {"ctx"}, {"ctx_t"}), "perm", {0, 2, 1, 3});
  AddNode(g, "Reshape", {"ctx_t", "merged"}, {"y"});
}

onnx::ModelProto SdpaAttention(int64_t S, int64_t H, int64_t D) {
  onnx::ModelProto m = NewModel(17);
  auto* g = AttentionHeads(&m, S, H, D);
  *g->add_input() = Info("mask", kF32, {-1, 1, 1, S});
  IntsAttr(AddNode(g, "Transpose", {"q2"}, {"qt"}), "perm", {0, 2, 1, 3});
  IntsAttr(AddNode(g, "Transpose", {"k2"}, {"kh"}), "perm", {0, 2, 1, 3});
  IntsAttr(AddNode(g, "Transpose", {"kh"}, {"kt"}), "perm", {0, 1, 3, 2});
  IntsAttr(AddNode(g, "Transpose", {"v2"}, {"vt"}), "perm", {0, 2, 1, 3});
  AddScaledScores(g);
  AddNode(g, "Add", {"scores", "mask"}, {"masked"});
  IntAttr(AddNode(g, "Softmax", {"masked"}, {"probs"}), "axis", -1);
  AddNode(g, "MatMul", {"probs", "vt"}, {"ctx"});
  IntsAttr(AddNode(g, "Transpose", {"ctx"}, {"ctx_t"}), "perm", {0, 2, 1, 3});
  AddNode(g, "Reshape", {"ctx_t", "merged"}, {"y"});
  return m;
}

TEST(CudaTransposeFoldTest, SdpaAttentionMatchesCpu) {
  const int64_t S = 24, H = 4, D = 16, E = H * D;
  const onnx::ModelProto m = SdpaAttention(S, H, D);
  for (int64_t B : {1, 3}) {
    std::vector<float> mask(static_cast<size_t>(B * S), 0.f);
    for (int64_t s = S - 5; s < S; ++s) mask[static_cast<size_t>((B - 1) * S + s)] = -10000.f;  // padding
    const std::vector<Value> in = {FloatTensor({B, S, E}, Random(B * S * E, 61)),
                                   FloatTensor({B, S, E}, Random(B * S * E, 62)),
                                   FloatTensor({B, S, E}, Random(B * S * E, 63)), FloatTensor({B, 1, 1, S}, mask)};
    SCOPED_TRACE(::testing::Message() << "batch " << B);
    const Result cpu = RunOn(m, Device::kCpu, in);
    const Result gpu = RunOn(m, Device::kCuda, in, 3);
    ExpectClose(gpu, cpu, 1e-3f, 1e-5f);
    EXPECT_EQ(gpu.first_run.moved_transposes, 0) << "every Transpose folds into a GEMM";
    EXPECT_EQ(gpu.first_run.folded_scales, 2) << "Q's and K's scale Muls become the GEMM's alpha";
    EXPECT_EQ(gpu.first_run.fused_softmax, 1);
    // fp16: the block (QK^T, mask, softmax, PV) as the fused attention kernel, checked at first use
    // against the nodes run as they are; with ONNXD_CUDA_FLASH=0, those nodes.
    const Result flash = RunOn(m, Device::kCuda, in, 3, false, nullptr, /*fp16=*/true);
    ExpectClose(flash, cpu, 2e-2f, 5e-3f);
    EXPECT_EQ(flash.first_run.flash_attention, 1);
    setenv("ONNXD_CUDA_FLASH", "0", 1);
    const Result no_flash = RunOn(m, Device::kCuda, in, 3, false, nullptr, /*fp16=*/true);
    unsetenv("ONNXD_CUDA_FLASH");
    EXPECT_EQ(no_flash.first_run.flash_attention, 0);
    ExpectClose(no_flash, cpu, 2e-2f, 5e-3f);
    setenv("ONNXD_CUDA_FOLD_TRANSPOSE", "0", 1);
    const Result unfolded = RunOn(m, Device::kCuda, in, 3);
    unsetenv("ONNXD_CUDA_FOLD_TRANSPOSE");
    EXPECT_EQ(unfolded.first_run.moved_transposes, 5);
    ExpectClose(unfolded, cpu, 1e-3f, 1e-5f);
  }
}

// Attention as torch's dynamo exporter writes it (tests/data/transformers/README.md): K^T as
// Transpose(0,2,1,3) -> Reshape [B*H, S, D] -> Transpose(0,2,1) -> Reshape [B, H, D, S], a full mask
// and the IsNaN / Where cleanup. The first Reshape merges axes that are apart in memory (B and H,
// unless B is 1), so one transpose moves data; the rest of the block folds (views through the
// splitting Reshape too).
TEST(CudaTransposeFoldTest, DynamoAttentionMovesOneTranspose) {
  const int64_t S = 16, H = 4, D = 8, E = H * D;
  onnx::ModelProto m = NewModel(18);
  auto* g = AttentionHeads(&m, S, H, D);
  *g->add_input() = Info("mask", kF32, {-1, 1, S, S});
  Int64Init(g, "bh", {-1, S, D});
  Int64Init(g, "kt_shape", {-1, H, D, S});
  ScalarInit(g, "zero", 0.f);
  IntsAttr(AddNode(g, "Transpose", {"q2"}, {"qt"}), "perm", {0, 2, 1, 3});
  IntsAttr(AddNode(g, "Transpose", {"k2"}, {"kh"}), "perm", {0, 2, 1, 3});
  AddNode(g, "Reshape", {"kh", "bh"}, {"k3"});
  IntsAttr(AddNode(g, "Transpose", {"k3"}, {"k3t"}), "perm", {0, 2, 1});
  AddNode(g, "Reshape", {"k3t", "kt_shape"}, {"kt"});
  IntsAttr(AddNode(g, "Transpose", {"v2"}, {"vt"}), "perm", {0, 2, 1, 3});
  AddScaledScores(g);
  AddNode(g, "Add", {"scores", "mask"}, {"masked"});
  AddCleanedContext(g);
  for (int64_t B : {1, 3}) {
    SCOPED_TRACE(::testing::Message() << "batch " << B);
    std::vector<float> mask(static_cast<size_t>(B * S * S), 0.f);
    for (int64_t e = 0; e < B * S * S; ++e)
      if (e % S >= S - 3) mask[static_cast<size_t>(e)] = -3.4028234663852886e38f;  // float lowest, as dynamo
    const std::vector<Value> in = {FloatTensor({B, S, E}, Random(B * S * E, 67)), FloatTensor({B, S, E}, Random(B * S * E, 68)),
                                   FloatTensor({B, S, E}, Random(B * S * E, 69)), FloatTensor({B, 1, S, S}, mask)};
    const Result cpu = RunOn(m, Device::kCpu, in);
    const Result gpu = RunOn(m, Device::kCuda, in, 3);
    ExpectClose(gpu, cpu, 1e-3f, 1e-5f);
    // With one image the merged B and H are adjacent after all: nothing moves.
    EXPECT_EQ(gpu.first_run.moved_transposes, B == 1 ? 0 : 1);
    const Result flash = RunOn(m, Device::kCuda, in, 3, false, nullptr, /*fp16=*/true);
    ExpectClose(flash, cpu, 2e-2f, 5e-3f);
    EXPECT_EQ(flash.first_run.flash_attention, 1);
  }
}

// TorchScript's form: the additive mask is built per layer (Where(bool mask, 0, -inf)) after the
// scores' MatMul; the session runs that Where first so the block still fuses (fp16).
TEST(CudaTransposeFoldTest, MaskBuiltAfterTheScoresStillFuses) {
  const int64_t S = 20, H = 2, D = 16, E = H * D, B = 2;
  onnx::ModelProto m = NewModel(17);
  auto* g = AttentionHeads(&m, S, H, D);
  *g->add_input() = Info("keep", kBool, {-1, 1, S, S});
  ScalarInit(g, "zero", 0.f, {1});
  ScalarInit(g, "ninf", -INFINITY, {1});
  IntsAttr(AddNode(g, "Transpose", {"q2"}, {"qt"}), "perm", {0, 2, 1, 3});
  IntsAttr(AddNode(g, "Transpose", {"k2"}, {"kt"}), "perm", {0, 2, 3, 1});
  IntsAttr(AddNode(g, "Transpose", {"v2"}, {"vt"}), "perm", {0, 2, 1, 3});
  AddScaledScores(g);
  AddNode(g, "Where", {"keep", "zero", "ninf"}, {"maskadd"});  // after the MatMul, as exported
  AddNode(g, "Add", {"scores", "maskadd"}, {"masked"});
  AddCleanedContext(g);
  Tensor keep = Tensor::Allocate(DataType::kBool, Shape{B, 1, S, S});
  for (int64_t e = 0; e < B * S * S; ++e) keep.data<bool>()[e] = e % S < S - 3 || e / (S * S) == 0;
  const std::vector<Value> in = {FloatTensor({B, S, E}, Random(B * S * E, 111)), FloatTensor({B, S, E}, Random(B * S * E, 112)),
                                 FloatTensor({B, S, E}, Random(B * S * E, 113)), Value(std::move(keep))};
  const Result cpu = RunOn(m, Device::kCpu, in);
  ExpectClose(RunOn(m, Device::kCuda, in, 3), cpu, 1e-3f, 1e-5f);
  const Result flash = RunOn(m, Device::kCuda, in, 3, false, nullptr, /*fp16=*/true);
  ExpectClose(flash, cpu, 2e-2f, 5e-3f);
  EXPECT_EQ(flash.first_run.flash_attention, 1);
}

// An odd head size: the GEMMs' operands start at addresses only 4- (fp32) or 2-byte (fp16) aligned.
TEST(CudaTransposeFoldTest, OddHeadSizeMatchesCpu) {
  const int64_t S = 9, H = 3, D = 7, E = H * D, B = 2;
  const onnx::ModelProto m = SdpaAttention(S, H, D);
  const std::vector<Value> in = {FloatTensor({B, S, E}, Random(B * S * E, 64)), FloatTensor({B, S, E}, Random(B * S * E, 65)),
                                 FloatTensor({B, S, E}, Random(B * S * E, 66)),
                                 FloatTensor({B, 1, 1, S}, std::vector<float>(B * S, 0.f))};
  const Result cpu = RunOn(m, Device::kCpu, in);
  ExpectClose(RunOn(m, Device::kCuda, in, 3), cpu, 1e-3f, 1e-5f);
  ExpectClose(RunOn(m, Device::kCuda, in, 3, false, nullptr, /*fp16=*/true), cpu, 2e-2f, 5e-3f);
}

// The forms around the fold, each against the CPU: a Transpose whose value is also read whole
// (a graph output, a Softmax), an operand no GEMM can read strided, results written transposed
// (N moved: the C^T = B^T A^T form; batch moved), elementwise ops between a Transpose and the
// MatMul, Transposes composed, vector operands; and with ONNXD_CUDA_FOLD_TRANSPOSE=0.
TEST(CudaTransposeFoldTest, FoldFormsMatchCpu) {
  struct Case {
    const char* name;
    std::vector<std::vector<int64_t>> inputs;
    std::function<void(onnx::GraphProto*)> build;  // inputs x0, x1...; outputs y0, y1...
    int outputs = 1;
  };
  auto perm = [](onnx::NodeProto* n, std::vector<int64_t> p) { IntsAttr(n, "perm", p); };
  // x0 transposed by p into `t`, then MatMul(t, x1) -> y0: the common start of the cases below.
  auto t_matmul = [&](onnx::GraphProto* g, std::vector<int64_t> p, const std::string& t = "a") {
    perm(AddNode(g, "Transpose", {"x0"}, {t}), p);
    AddNode(g, "MatMul", {t, "x1"}, {"y0"});
  };
  const std::vector<Case> cases = {
      {"A packed down M (trans_a)", {{2, 6, 5}, {2, 6, 3}},
       [&](onnx::GraphProto* g) {
         t_matmul(g, {0, 2, 1});
       }},
      {"Transpose also a graph output", {{2, 6, 5}, {2, 6, 3}},
       [&](onnx::GraphProto* g) {
         t_matmul(g, {0, 2, 1}, "y1");
       },
       2},
      {"Transpose also read by a Softmax", {{2, 6, 5}, {2, 6, 3}},
       [&](onnx::GraphProto* g) {
         t_matmul(g, {0, 2, 1});
         AddNode(g, "Softmax", {"a"}, {"y1"});
       },
       2},
      {"neither matrix axis packed", {{6, 5, 3}, {6, 4}},
       [&](onnx::GraphProto* g) {
         perm(AddNode(g, "Transpose", {"x0"}, {"a"}), {2, 1, 0});  // [3, 5, 6]: K strided, M strided
         AddNode(g, "MatMul", {"a", "x1"}, {"y0"});
       }},
      {"result written with N moved", {{3, 5, 6}, {3, 6, 4}},
       [&](onnx::GraphProto* g) {
         AddNode(g, "MatMul", {"x0", "x1"}, {"c"});
         perm(AddNode(g, "Transpose", {"c"}, {"y0"}), {0, 2, 1});
       }},
      {"result written with the batch moved, then Relu", {{3, 5, 6}, {3, 6, 4}},
       [&](onnx::GraphProto* g) {
         AddNode(g, "MatMul", {"x0", "x1"}, {"c"});
         perm(AddNode(g, "Transpose", {"c"}, {"t"}), {1, 0, 2});
         AddNode(g, "Relu", {"t"}, {"y0"});
       }},
      {"Relu and a scalar Mul between Transposes and the MatMul", {{2, 3, 6, 5}, {2, 4, 3, 6}},
       [&](onnx::GraphProto* g) {
         ScalarInit(g, "half", 0.5f);
         perm(AddNode(g, "Transpose", {"x0"}, {"a0"}), {0, 1, 3, 2});  // [2, 3, 5, 6]
         AddNode(g, "Relu", {"a0"}, {"a"});
         perm(AddNode(g, "Transpose", {"x1"}, {"b0"}), {0, 2, 1, 3});  // [2, 3, 4, 6]
         AddNode(g, "Mul", {"b0", "half"}, {"b1"});
         perm(AddNode(g, "Transpose", {"b1"}, {"b"}), {0, 1, 3, 2});  // [2, 3, 6, 4]
         AddNode(g, "MatMul", {"a", "b"}, {"y0"});
       }},
      {"a scaled view materialized by a merging Reshape", {{2, 3, 4, 5}, {15, 6}},
       [&](onnx::GraphProto* g) {
         ScalarInit(g, "s", 0.75f);
         Int64Init(g, "merge", {2, 4, 15});
         perm(AddNode(g, "Transpose", {"x0"}, {"t"}), {0, 2, 1, 3});  // [2, 4, 3, 5]
         AddNode(g, "Mul", {"t", "s"}, {"ts"});
         AddNode(g, "Reshape", {"ts", "merge"}, {"r"});  // merges 3 and 5: apart in memory
         AddNode(g, "MatMul", {"r", "x1"}, {"y0"});
       }},
      {"a scaled view into a Transpose that is an output", {{3, 4}, {4, 2}},
       [&](onnx::GraphProto* g) {
         ScalarInit(g, "s", -2.f);
         AddNode(g, "Mul", {"x0", "s"}, {"xs"});
         perm(AddNode(g, "Transpose", {"xs"}, {"y1"}), {1, 0});
         AddNode(g, "MatMul", {"xs", "x1"}, {"y0"});
       },
       2},
      {"two Transposes that cancel", {{4, 5}, {5, 3}},
       [&](onnx::GraphProto* g) {
         perm(AddNode(g, "Transpose", {"x0"}, {"t"}), {1, 0});
         perm(AddNode(g, "Transpose", {"t"}, {"a"}), {1, 0});
         AddNode(g, "MatMul", {"a", "x1"}, {"y0"});
       }},
      {"vector B, broadcast batch", {{5, 2, 6}, {6}},
       [&](onnx::GraphProto* g) {
         t_matmul(g, {1, 0, 2});
       }},
      {"A view against a shared B", {{7, 3, 6}, {6, 4}},
       [&](onnx::GraphProto* g) {
         t_matmul(g, {1, 0, 2});
       }},
      {"a view also read by an Add of a full-size tensor (materialized there)", {{2, 6, 5}, {2, 6, 3}, {2, 5, 6}},
       [&](onnx::GraphProto* g) {
         t_matmul(g, {0, 2, 1});
         AddNode(g, "Add", {"a", "x2"}, {"y1"});
       },
       2},
      {"a view also read by Shape", {{2, 6, 5}, {2, 6, 3}},
       [&](onnx::GraphProto* g) {
         t_matmul(g, {0, 2, 1});
         AddNode(g, "Shape", {"a"}, {"s"});
         IntAttr(AddNode(g, "Cast", {"s"}, {"y1"}), "to", kF32);
       },
       2},
      {"rank 7 with a Transpose reader (the CPU's)", {{2, 1, 2, 1, 2, 3, 4}, {2, 1, 2, 1, 2, 4, 5}},
       [&](onnx::GraphProto* g) {
         AddNode(g, "MatMul", {"x0", "x1"}, {"c"});
         perm(AddNode(g, "Transpose", {"c"}, {"y0"}), {6, 5, 4, 3, 2, 1, 0});
       }},
      {"residual Conv fusion with a transposed operand", {{1, 4, 5, 5}, {1, 5, 5, 4}},
       [&](onnx::GraphProto* g) {
         FloatInit(g, "w", {4, 4, 3, 3}, 77);
         auto* conv = AddNode(g, "Conv", {"x0", "w"}, {"c"});
         IntsAttr(conv, "pads", {1, 1, 1, 1});
         perm(AddNode(g, "Transpose", {"x1"}, {"z"}), {0, 3, 1, 2});
         AddNode(g, "Add", {"c", "z"}, {"sum"});
         AddNode(g, "Relu", {"sum"}, {"r"});
         perm(AddNode(g, "Transpose", {"r"}, {"rt"}), {0, 1, 3, 2});
         AddNode(g, "MatMul", {"rt", "r"}, {"y0"});
       }},
  };
  for (bool fold : {true, false}) {
    if (!fold) setenv("ONNXD_CUDA_FOLD_TRANSPOSE", "0", 1);
    for (const Case& c : cases) {
      SCOPED_TRACE(::testing::Message() << c.name << (fold ? "" : " (fold off)"));
      onnx::ModelProto m = NewModel(17);
      auto* g = m.mutable_graph();
      std::vector<Value> in;
      for (size_t k = 0; k < c.inputs.size(); ++k) {
        *g->add_input() = Info("x" + std::to_string(k), kF32, c.inputs[k]);
        in.push_back(FloatTensor(c.inputs[k], Random(Count(c.inputs[k]), 70 + static_cast<uint32_t>(k))));
      }
      for (int k = 0; k < c.outputs; ++k) *g->add_output() = AnyShape("y" + std::to_string(k), kF32);
      c.build(g);
      const Result cpu = RunOn(m, Device::kCpu, in);
      ExpectClose(RunOn(m, Device::kCuda, in, 3), cpu, 1e-4f, 1e-5f);
      ExpectClose(RunOn(m, Device::kCuda, in, 3, false, nullptr, /*fp16=*/true), cpu, 1e-2f, 1e-2f);
    }
  }
  unsetenv("ONNXD_CUDA_FOLD_TRANSPOSE");
}

// The fused softmax chains (scale, mask, NaN cleanup in the softmax kernel) against the CPU, in the
// forms exporters write: eager BERT's scale after the MatMul and a per-batch padding mask; sdpa's
// full [B,1,S,S] mask with -inf rows and IsNaN/Where; the cleanup alone; and chains the fusion must
// leave alone (the probabilities also an output, a mask that widens the scores). fp32 and fp16,
// node by node and replayed.
TEST(CudaSoftmaxFusionTest, ChainsMatchCpu) {
  const int64_t B = 2, H = 3;
  struct Case {
    const char* name;
    bool full_mask;  // mask [B, 1, S, S], else [B, 1, 1, S]
    std::function<void(onnx::GraphProto*)> build;  // inputs x, mask; output y0 (and y1)
    int outputs = 1;
    bool masked_row = false;  // mask one row whole: NaN, which the chain's cleanup must turn into 0
    int fused = 1;            // chains run as one kernel
    std::vector<int64_t> x_dims = {};  // default [B, H, S, S]
    std::vector<int64_t> mask_dims = {};
  };
  const std::vector<Case> cases = {
      {"scale, padding mask", false,
       [&](onnx::GraphProto* g) {
         ScalarInit(g, "scale", 0.25f);
         AddNode(g, "Mul", {"x", "scale"}, {"xs"});
         AddNode(g, "Add", {"xs", "mask"}, {"xm"});
         IntAttr(AddNode(g, "Softmax", {"xm"}, {"y0"}), "axis", -1);
       }},
      {"mask first in the Add, full mask, NaN cleanup", true,
       [&](onnx::GraphProto* g) {
         ScalarInit(g, "zero", 0.f, {1});
         AddNode(g, "Add", {"mask", "x"}, {"xm"});
         IntAttr(AddNode(g, "Softmax", {"xm"}, {"p"}), "axis", -1);
         AddNode(g, "IsNaN", {"p"}, {"nan"});
         AddNode(g, "Where", {"nan", "zero", "p"}, {"y0"});
       },
       1, true},
      {"NaN cleanup alone", false,
       [&](onnx::GraphProto* g) {
         ScalarInit(g, "zero", 0.f);
         IntAttr(AddNode(g, "Softmax", {"x"}, {"p"}), "axis", -1);
         AddNode(g, "IsNaN", {"p"}, {"nan"});
         AddNode(g, "Where", {"nan", "zero", "p"}, {"y0"});
         AddNode(g, "Identity", {"mask"}, {"y1"});
       },
       2},
      {"probabilities also an output (the cleanup stays apart)", true,
       [&](onnx::GraphProto* g) {
         ScalarInit(g, "zero", 0.f);
         AddNode(g, "Add", {"x", "mask"}, {"xm"});
         IntAttr(AddNode(g, "Softmax", {"xm"}, {"y1"}), "axis", -1);
         AddNode(g, "IsNaN", {"y1"}, {"nan"});
         AddNode(g, "Where", {"nan", "zero", "y1"}, {"y0"});
       },
       2},
      {"operands that both widen (not fused)", true,
       [&](onnx::GraphProto* g) {
         AddNode(g, "Add", {"x", "mask"}, {"xm"});
         IntAttr(AddNode(g, "Softmax", {"xm"}, {"y0"}), "axis", -1);
       },
       1, false, 0, {B, 1, -1, -1}, {1, H, -1, -1}},
  };
  for (int64_t S : {20, 100, 600}) {  // the warp kernels (one and four values a lane) and the block kernel
    for (const Case& c : cases) {
      SCOPED_TRACE(::testing::Message() << c.name << ", " << S << " columns");
      auto dims = [&](std::vector<int64_t> d) {
        for (int64_t& v : d)
          if (v < 0) v = S;
        return d;
      };
      const std::vector<int64_t> xd = c.x_dims.empty() ? std::vector<int64_t>{B, H, S, S} : dims(c.x_dims);
      const std::vector<int64_t> md = !c.mask_dims.empty() ? dims(c.mask_dims)
                                      : c.full_mask        ? std::vector<int64_t>{B, 1, S, S}
                                                           : std::vector<int64_t>{B, 1, 1, S};
      onnx::ModelProto m = NewModel(17);
      auto* g = m.mutable_graph();
      *g->add_input() = Info("x", kF32, xd);
      *g->add_input() = Info("mask", kF32, md);
      for (int k = 0; k < c.outputs; ++k) *g->add_output() = AnyShape("y" + std::to_string(k), kF32);
      c.build(g);
      // Masks of 0 and -inf; masked_row: row 0 of batch 1 is masked whole (NaN before the cleanup).
      std::vector<float> mask(static_cast<size_t>(Count(md)), 0.f);
      for (size_t e = 0; e < mask.size(); ++e)
        if (static_cast<int64_t>(e) % S >= S - 4) mask[e] = -INFINITY;
      if (c.masked_row)
        for (int64_t s = 0; s < S; ++s) mask[static_cast<size_t>(1 * S * S + s)] = -INFINITY;
      const std::vector<Value> in = {FloatTensor(xd, Random(Count(xd), 81, 4.f)), FloatTensor(md, mask)};
      const Result cpu = RunOn(m, Device::kCpu, in);
      const Result gpu = RunOn(m, Device::kCuda, in, 3);
      ExpectClose(gpu, cpu, 1e-4f, 1e-6f);
      EXPECT_EQ(gpu.first_run.fused_softmax, c.fused);
      EXPECT_EQ(gpu.first_run.fallbacks, 0);
      ExpectClose(RunOn(m, Device::kCuda, in, 3, false, nullptr, /*fp16=*/true), cpu, 1e-2f, 1e-3f);
    }
  }
}

// The ONNX Attention op (opsets 23 and 24) on the GPU against the CPU op, in the forms the node suite
// has at larger sizes: 3-D and 4-D, grouped kv heads, causal with a KV cache (past + present),
// float and bool masks broadcast over batch / heads, softcap, every qk_matmul_output mode, the
// non-padded lengths of opset 24, and fp16.
TEST(CudaAttentionTest, MatchesCpu) {
  struct Case {
    const char* name;
    bool three_d;
    int64_t B, Hq, Hkv, Sq, Skv, P, D, Dv;
    bool causal = false;
    // 0 none; float: 1 [B, 1, Sq, T], 3 [Hq, Sq, T], 4 [B, Hq, Sq, T], 5 [B, 1, Sq, T - 2] (shorter
    // than the sequence: the rest masked); 2 bool [Sq, T]
    int mask = 0;
    float softcap = 0.f;
    int qk_mode = -1;  // -1: no qk output
    int nonpad = 0;    // 0: none; 1: lengths T - 3b (at least 1); 2: batch 0's length 0 (NaN rows)
    bool fp16 = false;  // a float16 model (else float, run in fp32 and in fp16 mode)
  };
  const std::vector<Case> cases = {
      {"4-D", false, 2, 4, 4, 33, 33, 0, 16, 16},
      {"3-D, grouped kv heads, float mask", true, 2, 6, 2, 17, 40, 0, 8, 12, false, 1},
      {"causal with a KV cache", false, 2, 4, 2, 5, 5, 11, 16, 16, true},
      {"decoding one token with a KV cache, 4-D", false, 3, 8, 2, 1, 1, 20, 16, 16, true},
      {"decoding one token with a KV cache, 3-D", true, 2, 4, 1, 1, 1, 9, 8, 8, false, 1},
      {"bool mask, softcap, qk after the mask", false, 1, 2, 1, 9, 70, 0, 32, 32, false, 2, 30.f, 2},
      {"qk before softcap", true, 3, 2, 2, 4, 6, 0, 8, 8, false, 0, 5.f, 0},
      {"qk after softcap", true, 3, 2, 2, 4, 6, 0, 8, 8, false, 0, 5.f, 1},
      {"qk probabilities, causal", false, 2, 3, 3, 12, 12, 0, 8, 8, true, 0, 0.f, 3},
      {"qk with a KV cache", false, 2, 2, 1, 3, 3, 4, 8, 8, false, 1, 0.f, 2},
      {"3-D mask over heads", false, 2, 3, 3, 6, 7, 0, 8, 8, false, 3},
      {"4-D mask", true, 2, 3, 1, 6, 7, 0, 8, 8, false, 4},
      {"mask shorter than the sequence", false, 2, 2, 2, 5, 9, 0, 8, 8, false, 5},
      {"non-padded lengths", false, 3, 2, 1, 7, 9, 0, 16, 16, false, 0, 0.f, -1, 1},
      {"a batch row of length 0 (NaN)", false, 2, 2, 2, 4, 6, 0, 8, 8, false, 0, 0.f, -1, 2},
      {"float16 model, -65504 mask, a row masked whole", false, 2, 2, 2, 6, 6, 0, 16, 16, false, 1, 0.f, -1, 0, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const int64_t T = c.P + c.Skv;
    const int ft = c.fp16 ? kF16 : kF32;
    auto tensor = [&](const std::vector<int64_t>& dims, const std::vector<float>& v) {
      return c.fp16 ? HalfTensor(dims, v) : FloatTensor(dims, v);
    };
    onnx::ModelProto m = NewModel(c.nonpad ? 24 : 23);
    auto* g = m.mutable_graph();
    std::vector<int64_t> qd = c.three_d ? std::vector<int64_t>{c.B, c.Sq, c.Hq * c.D} : std::vector<int64_t>{c.B, c.Hq, c.Sq, c.D};
    std::vector<int64_t> kd = c.three_d ? std::vector<int64_t>{c.B, c.Skv, c.Hkv * c.D} : std::vector<int64_t>{c.B, c.Hkv, c.Skv, c.D};
    std::vector<int64_t> vd = c.three_d ? std::vector<int64_t>{c.B, c.Skv, c.Hkv * c.Dv} : std::vector<int64_t>{c.B, c.Hkv, c.Skv, c.Dv};
    std::vector<std::string> ins;
    std::vector<Value> values;
    auto add_input = [&](const std::string& name, Value v, int type) {
      std::vector<int64_t> dims = v.tensor().shape().ToVector();
      *g->add_input() = Info(name, type, dims);
      ins.push_back(name);
      values.push_back(std::move(v));
    };
    add_input("q", tensor(qd, Random(Count(qd), 91)), ft);
    add_input("k", tensor(kd, Random(Count(kd), 92)), ft);
    add_input("v", tensor(vd, Random(Count(vd), 93)), ft);
    if (c.mask == 2) {
      Tensor t = Tensor::Allocate(DataType::kBool, Shape{c.Sq, T});
      for (int64_t e = 0; e < c.Sq * T; ++e) t.data<bool>()[e] = (e * 7919) % 5 != 0 || e % T == 0;
      add_input("mask", Value(std::move(t)), kBool);
    } else if (c.mask != 0) {
      std::vector<int64_t> md = c.mask == 1   ? std::vector<int64_t>{c.B, 1, c.Sq, T}
                                : c.mask == 3 ? std::vector<int64_t>{c.Hq, c.Sq, T}
                                : c.mask == 4 ? std::vector<int64_t>{c.B, c.Hq, c.Sq, T}
                                              : std::vector<int64_t>{c.B, 1, c.Sq, T - 2};
      std::vector<float> mk = Random(static_cast<size_t>(Count(md)), 94, 2.f);
      const float lowest = c.fp16 ? -65504.f : -INFINITY;
      for (size_t e = 0; e < mk.size(); e += 7) mk[e] = lowest;
      if (c.fp16)  // a query row of batch 0 that sees no key
        for (int64_t j = 0; j < md.back(); ++j) mk[static_cast<size_t>(j)] = lowest;
      add_input("mask", tensor(md, mk), ft);
    } else if (c.P > 0 || c.nonpad) {
      ins.push_back("");
    }
    if (c.P > 0) {
      add_input("past_k", tensor({c.B, c.Hkv, c.P, c.D}, Random(c.B * c.Hkv * c.P * c.D, 95)), ft);
      add_input("past_v", tensor({c.B, c.Hkv, c.P, c.Dv}, Random(c.B * c.Hkv * c.P * c.Dv, 96)), ft);
    } else if (c.nonpad) {
      ins.push_back("");
      ins.push_back("");
    }
    if (c.nonpad) {
      Tensor t = Tensor::Allocate(DataType::kInt64, Shape{c.B});
      for (int64_t b = 0; b < c.B; ++b)
        t.data<int64_t>()[b] = c.nonpad == 2 && b == 0 ? 0 : std::max<int64_t>(1, T - 3 * b);
      add_input("nonpad", Value(std::move(t)), kI64);
    }
    std::vector<std::string> outs = {"y"};
    if (c.P > 0) outs = {"y", "present_k", "present_v"};
    if (c.qk_mode >= 0) {
      while (outs.size() < 3) outs.push_back("");
      outs.push_back("qk");
    }
    auto* n = AddNode(g, "Attention", ins, outs, "attn");
    if (c.three_d) {
      IntAttr(n, "q_num_heads", c.Hq);
      IntAttr(n, "kv_num_heads", c.Hkv);
    }
    if (c.causal) IntAttr(n, "is_causal", 1);
    if (c.softcap > 0) FloatAttr(n, "softcap", c.softcap);
    if (c.qk_mode >= 0) IntAttr(n, "qk_matmul_output_mode", c.qk_mode);
    for (const auto& o : outs)
      if (!o.empty()) *g->add_output() = AnyShape(o, ft);
    const PlacementInfo* placement = nullptr;
    const Result gpu = RunOn(m, Device::kCuda, values, 3, false, &placement);
    ASSERT_NE(placement, nullptr);
    EXPECT_EQ(placement->nodes[0].device, Device::kCuda) << placement->summary;
    EXPECT_EQ(gpu.first_run.fallbacks, 0) << "the GPU path ran, not the CPU op";
    const Result cpu = RunOn(m, Device::kCpu, values);
    if (c.fp16) {
      ExpectClose(gpu, cpu, 1e-2f, 2e-3f);
      EXPECT_EQ(gpu.first_run.flash_attention, 1) << "the fused kernel, checked against the unfused path";
      continue;
    }
    ExpectClose(gpu, cpu, 1e-4f, 1e-5f);
    ExpectClose(RunOn(m, Device::kCuda, values, 3, false, nullptr, /*fp16=*/true), cpu, 2e-2f, 5e-3f);
  }
}

// A transformer's residual Add -> LayerNormalization as one LayerNorm kernel reading both operands,
// at the widths of the register kernels (64, 768) and the block kernel (1500); a pre-LN sum that
// another node also reads stays a separate Add. fp32 and fp16.
TEST(CudaAddLayerNormTest, MatchesCpu) {
  struct Case {
    const char* name;
    std::vector<int64_t> b_dims;  // the second operand ({} : the first's shape)
    bool shared_sum = false;       // the sum also read by another node (written by the kernel too)
  };
  const std::vector<Case> cases = {{"residual", {}},
                                   {"a [1, S, C] position embedding", {1, 5, -1}},
                                   {"a [C] bias", {-1}},
                                   {"the sum read twice (pre-LN: the kernel writes it too)", {}, true}};
  for (int64_t C : {64, 768, 1500}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(::testing::Message() << C << " columns, " << c.name);
      std::vector<int64_t> bd = c.b_dims.empty() ? std::vector<int64_t>{3, 5, C} : c.b_dims;
      for (int64_t& d : bd)
        if (d < 0) d = C;
      onnx::ModelProto m = NewModel(17);
      auto* g = m.mutable_graph();
      *g->add_input() = Info("a", kF32, {3, 5, C});
      *g->add_input() = Info("b", kF32, bd);
      *g->add_output() = AnyShape("y", kF32);
      FloatInit(g, "gamma", {C}, 51);
      FloatInit(g, "beta", {C}, 52);
      AddNode(g, "Add", {"b", "a"}, {"sum"});  // the repeating operand first: the kernel takes either order
      FloatAttr(AddNode(g, "LayerNormalization", {"sum", "gamma", "beta"}, {"ln"}), "epsilon", 1e-5f);
      if (c.shared_sum) {
        AddNode(g, "Add", {"ln", "sum"}, {"y"});
      } else {
        AddNode(g, "Relu", {"ln"}, {"y"});
      }
      const std::vector<Value> in = {FloatTensor({3, 5, C}, Random(15 * C, 53, 2.f)),
                                     FloatTensor(bd, Random(Count(bd), 54, 2.f))};
      const Result cpu = RunOn(m, Device::kCpu, in);
      for (bool fp16 : {false, true}) {
        SCOPED_TRACE(fp16 ? "fp16" : "fp32");
        const Result gpu = RunOn(m, Device::kCuda, in, 3, false, nullptr, fp16);
        ExpectClose(gpu, cpu, fp16 ? 2e-2f : 1e-4f, fp16 ? 2e-2f : 1e-5f);
        EXPECT_EQ(gpu.first_run.fused_layer_norm, 1);
        // The fused kernel rounds the sum as the Add kernel does and normalizes with the same
        // LayerNorm kernel: bit for bit the unfused result.
        setenv("ONNXD_CUDA_FUSE", "0", 1);
        const Result unfused = RunOn(m, Device::kCuda, in, 1, false, nullptr, fp16);
        unsetenv("ONNXD_CUDA_FUSE");
        ASSERT_EQ(unfused.outputs.size(), gpu.outputs.size());
        EXPECT_EQ(unfused.outputs[0], gpu.outputs[0]);
      }
    }
  }
}

// The fused attention kernel itself over sizes that cross its tiles (64 query rows, 64 key
// columns) and head sizes padded to 32, 64 and 128: float16 Attention models (opsets 23 / 24)
// against the CPU op, with grouped kv heads, causal with a KV cache, a float mask and non-padded
// lengths; the kernel must be the one that ran (its first-use check passed).
TEST(CudaAttentionTest, FusedKernelAcrossTilesMatchesCpu) {
  struct Case {
    int64_t B, Hq, Hkv, Sq, Skv, P, D;
    bool causal = false, mask = false, nonpad = false;
  };
  const std::vector<Case> cases = {
      {2, 4, 4, 65, 130, 0, 64},                  // two query tiles, a partial key tile
      {1, 4, 2, 130, 200, 0, 80, false, true},    // D padded to 128, grouped heads, a mask
      {2, 2, 1, 1, 1, 63, 128, true},             // decoding one token after 63 cached
      {2, 3, 3, 70, 70, 0, 32, true, false, true},  // causal with non-padded lengths
      {1, 2, 2, 64, 64, 0, 7},                    // exact tiles, a head size of 7
  };
  for (const Case& c : cases) {
    const int64_t T = c.P + c.Skv;
    SCOPED_TRACE(::testing::Message() << "B " << c.B << " Hq " << c.Hq << " Sq " << c.Sq << " T " << T << " D "
                                      << c.D);
    onnx::ModelProto m = NewModel(c.nonpad ? 24 : 23);
    auto* g = m.mutable_graph();
    std::vector<std::string> ins;
    std::vector<Value> values;
    auto add = [&](const std::string& name, Value v, int type) {
      *g->add_input() = Info(name, type, v.tensor().shape().ToVector());
      ins.push_back(name);
      values.push_back(std::move(v));
    };
    auto half = [&](std::vector<int64_t> dims, uint32_t seed) { return HalfTensor(dims, Random(Count(dims), seed)); };
    add("q", half({c.B, c.Hq, c.Sq, c.D}, 101), kF16);
    add("k", half({c.B, c.Hkv, c.Skv, c.D}, 102), kF16);
    add("v", half({c.B, c.Hkv, c.Skv, c.D}, 103), kF16);
    if (c.mask) {
      std::vector<float> mk = Random(static_cast<size_t>(c.B * c.Sq * T), 104, 2.f);
      for (size_t e = 0; e < mk.size(); e += 5) mk[e] = -INFINITY;
      for (int64_t i = 0; i < c.Sq; ++i) mk[static_cast<size_t>(i * T)] = 0.f;  // every row sees column 0
      add("mask", HalfTensor({c.B, 1, c.Sq, T}, mk), kF16);
    } else if (c.P > 0 || c.nonpad) {
      ins.push_back("");
    }
    if (c.P > 0) {
      add("past_k", half({c.B, c.Hkv, c.P, c.D}, 105), kF16);
      add("past_v", half({c.B, c.Hkv, c.P, c.D}, 106), kF16);
    } else if (c.nonpad) {
      ins.push_back("");
      ins.push_back("");
    }
    if (c.nonpad) {
      Tensor t = Tensor::Allocate(DataType::kInt64, Shape{c.B});
      for (int64_t b = 0; b < c.B; ++b) t.data<int64_t>()[b] = T - 11 * b;
      add("nonpad", Value(std::move(t)), kI64);
    }
    auto* n = AddNode(g, "Attention", ins, {"y"}, "attn");
    if (c.causal) IntAttr(n, "is_causal", 1);
    *g->add_output() = AnyShape("y", kF16);
    const Result gpu = RunOn(m, Device::kCuda, values, 3);
    const Result cpu = RunOn(m, Device::kCpu, values);
    ExpectClose(gpu, cpu, 1e-2f, 3e-3f);
    EXPECT_EQ(gpu.first_run.flash_attention, 1);
    EXPECT_EQ(gpu.first_run.fallbacks, 0);
  }
}

// LayerNorm as exporters wrote it before opset 17: ReduceMean, Sub, Pow, Sqrt, Div... all on the GPU.
onnx::ModelProto DecomposedLayerNorm(int64_t rows, int64_t cols) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {rows, cols});
  *g->add_output() = Info("y", kF32, {rows, cols});
  FloatInit(g, "gamma", {cols}, 40);
  FloatInit(g, "beta", {cols}, 41);
  auto scalar = [&](const std::string& name, float v) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(kF32);
    t->set_raw_data(&v, sizeof(float));
  };
  scalar("two", 2.f);
  scalar("eps", 1e-5f);
  IntsAttr(AddNode(g, "ReduceMean", {"x"}, {"mean"}), "axes", {-1});
  AddNode(g, "Sub", {"x", "mean"}, {"d"});
  AddNode(g, "Pow", {"d", "two"}, {"d2"});
  IntsAttr(AddNode(g, "ReduceMean", {"d2"}, {"var"}), "axes", {-1});
  AddNode(g, "Add", {"var", "eps"}, {"ve"});
  AddNode(g, "Sqrt", {"ve"}, {"sd"});
  AddNode(g, "Div", {"d", "sd"}, {"n"});
  AddNode(g, "Mul", {"n", "gamma"}, {"ng"});
  AddNode(g, "Add", {"ng", "beta"}, {"y"});
  return m;
}

TEST(CudaSessionTest, ReduceMeanOverTrailingAxesAsGlobalPooling) {
  onnx::ModelProto m = NewModel(18);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {2, 16, 7, 7});
  *g->add_output() = Info("y", kF32, {});
  *g->add_output() = Info("z", kF32, {});
  g->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  g->mutable_output(1)->mutable_type()->mutable_tensor_type()->clear_shape();
  Int64Init(g, "axes", {-1, -2});
  AddNode(g, "ReduceMean", {"x", "axes"}, {"y"});
  IntAttr(AddNode(g, "ReduceSum", {"x", "axes"}, {"z"}), "keepdims", 0);
  CheckAgainstCpu(m, {FloatTensor({2, 16, 7, 7}, Random(2 * 16 * 49, 43))}, 2, 3, 1e-4f, 1e-4f);
}

// The dynamo exporter's attention cleanup: Softmax -> IsNaN -> Where(nan, 0, probs), all on the GPU.
TEST(CudaSessionTest, SoftmaxNanCleanupStaysOnTheGpu) {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {2, 4, 8, 8});
  *g->add_output() = Info("y", kF32, {2, 4, 8, 8});
  ScalarInit(g, "zero", 0.f);
  AddNode(g, "Softmax", {"x"}, {"p"});
  AddNode(g, "IsNaN", {"p"}, {"nan"});
  AddNode(g, "Where", {"nan", "zero", "p"}, {"y"});
  // Finite inputs (rows of all -inf are where the engines differ: NaN here, uniform on the CPU);
  // the kernel test covers the NaN path.
  CheckAgainstCpu(m, {FloatTensor({2, 4, 8, 8}, Random(2 * 4 * 64, 44, 3.f))}, 3, 2);
}

TEST(CudaSessionTest, DecomposedLayerNormStaysOnTheGpu) {
  onnx::ModelProto m = DecomposedLayerNorm(24, 768);
  CheckAgainstCpu(m, {FloatTensor({24, 768}, Random(24 * 768, 42, 3.f))}, 9, 2, 1e-3f, 1e-4f);
}

// A small CNN: Conv+Relu (fused by the graph pass), MaxPool, grouped Conv+Clip(0,6), AveragePool,
// GlobalAveragePool, Flatten, Gemm: all of it through cuDNN and our kernels.
TEST(CudaSessionTest, SmallCnnRunsOnCudnn) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 3, 20, 18});
  *g->add_output() = Info("y", kF32, {-1, 10});
  FloatInit(g, "W1", {8, 3, 3, 3}, 50, 0.4f);
  FloatInit(g, "B1", {8}, 51, 0.1f);
  FloatInit(g, "W2", {16, 4, 3, 3}, 52, 0.3f);
  FloatInit(g, "B2", {16}, 53, 0.1f);
  FloatInit(g, "Wfc", {16, 10}, 54, 0.5f);
  FloatInit(g, "Bfc", {10}, 55, 0.1f);
  auto scalar = [&](const std::string& name, float v) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(kF32);
    t->set_raw_data(&v, sizeof(float));
  };
  scalar("lo", 0.f);
  scalar("hi", 6.f);
  auto* c1 = AddNode(g, "Conv", {"x", "W1", "B1"}, {"c1"});
  IntsAttr(c1, "pads", {1, 1, 1, 1});
  AddNode(g, "Relu", {"c1"}, {"r1"});
  auto* mp = AddNode(g, "MaxPool", {"r1"}, {"p1"});
  IntsAttr(mp, "kernel_shape", {2, 2});
  IntsAttr(mp, "strides", {2, 2});
  auto* c2 = AddNode(g, "Conv", {"p1", "W2", "B2"}, {"c2"});
  IntsAttr(c2, "pads", {1, 1, 1, 1});
  IntsAttr(c2, "strides", {2, 1});
  IntAttr(c2, "group", 2);
  AddNode(g, "Clip", {"c2", "lo", "hi"}, {"r2"});
  auto* ap = AddNode(g, "AveragePool", {"r2"}, {"p2"});
  IntsAttr(ap, "kernel_shape", {3, 3});
  IntsAttr(ap, "pads", {1, 1, 1, 1});
  AddNode(g, "GlobalAveragePool", {"p2"}, {"gp"});
  AddNode(g, "Flatten", {"gp"}, {"f"});
  AddNode(g, "Gemm", {"f", "Wfc", "Bfc"}, {"y"});
  const PlacementInfo* placement = nullptr;
  std::vector<Value> in = {FloatTensor({2, 3, 20, 18}, Random(2 * 3 * 20 * 18, 56, 2.f))};
  Result gpu = RunOn(m, Device::kCuda, in, 2, false, &placement);
  ASSERT_NE(placement, nullptr);
  for (const auto& n : placement->nodes) EXPECT_EQ(n.device, Device::kCuda) << n.op_type << ": " << n.reason;
  EXPECT_EQ(placement->total_copies(), 2) << placement->summary;
  EXPECT_EQ(gpu.copies, 2);
  ExpectClose(gpu, RunOn(m, Device::kCpu, in), 1e-3f, 1e-4f);
}

// CompileOptions::fp16: the same fp32 models, held and computed in fp16 on the GPU; the API
// stays fp32. fp16 tolerances against the fp32 CPU session.
TEST(CudaSessionTest, Fp16ModeRunsFloatModelsInHalfPrecision) {
  onnx::ModelProto mlp = NewModel(17);
  {
    auto* g = mlp.mutable_graph();
    *g->add_input() = Info("x", kF32, {-1, 64});
    *g->add_output() = Info("y", kF32, {-1, 32});
    FloatInit(g, "W", {64, 32}, 60, 0.2f);
    FloatInit(g, "b", {32}, 61);
    AddNode(g, "MatMul", {"x", "W"}, {"xw"});
    AddNode(g, "Add", {"xw", "b"}, {"s"});
    AddNode(g, "Atan", {"s"}, {"f"});  // a CPU node in between (no CUDA kernel): converted back and forth
    AddNode(g, "Tanh", {"f"}, {"y"});
  }
  std::vector<Value> in = {FloatTensor({8, 64}, Random(8 * 64, 62))};
  Result half = RunOn(mlp, Device::kCuda, in, 2, false, nullptr, true);
  ASSERT_EQ(half.outputs.size(), 1u);
  ExpectClose(half, RunOn(mlp, Device::kCpu, in), 1e-2f, 1e-2f);
}

// A float mask constant beyond fp16's range (torch.finfo(float32).min, as exported attention
// masks carry) saturates to -65504 in fp16 mode: (1 - mask) * min stays finite, and 0 where the
// mask is 1 (an infinity would give 0 * -inf = NaN there).
TEST(CudaSessionTest, Fp16ModeSaturatesFloatsBeyondTheHalfRange) {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("mask", kF32, {4});
  *g->add_output() = Info("y", kF32, {4});
  auto scalar = [&](const std::string& name, float v) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(kF32);
    t->set_raw_data(&v, sizeof(float));
  };
  scalar("one", 1.f);
  scalar("min", -3.4028234e38f);
  AddNode(g, "Sub", {"one", "mask"}, {"inv"});
  AddNode(g, "Mul", {"inv", "min"}, {"y"});
  Result half = RunOn(m, Device::kCuda, {FloatTensor({4}, {1.f, 0.f, 1.f, 0.f})}, 1, false, nullptr, true);
  ASSERT_EQ(half.outputs.size(), 1u);
  const std::vector<float>& y = half.outputs[0];
  ASSERT_EQ(y.size(), 4u);
  EXPECT_EQ(y[0], 0.f);
  EXPECT_EQ(y[1], -65504.f);
  EXPECT_EQ(y[2], 0.f);
  EXPECT_EQ(y[3], -65504.f);
}

TEST(CudaSessionTest, Conv1dWithDilationAndStride) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {2, 4, 50});
  *g->add_output() = Info("y", kF32, {});
  g->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  FloatInit(g, "W", {6, 4, 5}, 57, 0.4f);
  auto* c = AddNode(g, "Conv", {"x", "W"}, {"y"});
  IntsAttr(c, "dilations", {2});
  IntsAttr(c, "strides", {3});
  IntsAttr(c, "pads", {2, 2});
  CheckAgainstCpu(m, {FloatTensor({2, 4, 50}, Random(400, 58))}, 1, 2, 1e-3f, 1e-4f);
}

TEST(CudaSessionTest, SoftmaxBeforeOpset13FlattensAtAxis) {
  onnx::ModelProto m = NewModel(11);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {3, 4, 5});
  *g->add_output() = Info("y", kF32, {3, 4, 5});
  IntAttr(AddNode(g, "Softmax", {"x"}, {"y"}), "axis", 1);
  CheckAgainstCpu(m, {FloatTensor({3, 4, 5}, Random(60, 20, 4.f))}, 1, 2);
}

TEST(CudaSessionTest, ShapeOfADeviceValueNeedsNoCopy) {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {4, 6});
  *g->add_output() = Info("y", kF32, {24});
  *g->add_output() = Info("s", onnx::TensorProto::INT64, {2});
  AddNode(g, "Relu", {"x"}, {"r"});
  AddNode(g, "Shape", {"r"}, {"s"});
  Int64Init(g, "flat", {-1});
  AddNode(g, "Reshape", {"r", "flat"}, {"y"});
  const PlacementInfo* placement = nullptr;
  Result gpu = RunOn(m, Device::kCuda, {FloatTensor({4, 6}, Random(24, 21))}, 2, false, &placement);
  ASSERT_NE(placement, nullptr);
  EXPECT_EQ(placement->total_copies(), 2) << placement->summary;
  EXPECT_EQ(gpu.copies, 2);
  ASSERT_EQ(gpu.shapes.size(), 2u);
  EXPECT_EQ(gpu.shapes[0], std::vector<int64_t>{24});
}

TEST(CudaSessionTest, Tf32GemmStaysWithinTf32Tolerance) {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {64, 256});
  *g->add_output() = Info("y", kF32, {64, 128});
  FloatInit(g, "W", {256, 128}, 22);
  AddNode(g, "MatMul", {"x", "W"}, {"y"});
  std::vector<Value> in = {FloatTensor({64, 256}, Random(64 * 256, 23))};
  Result tf32 = RunOn(m, Device::kCuda, in, 1, true);
  Result cpu = RunOn(m, Device::kCpu, in, 1);
  // TF32 keeps 10 mantissa bits of each product's operands: ~1e-3 relative per product.
  ExpectClose(tf32, cpu, 1e-2f, 1e-2f);
}

TEST(CudaSessionTest, Float16ChainMatchesFloatReferenceWithinHalfTolerance) {
  auto build = [](int type) {
    onnx::ModelProto m = NewModel(17);
    auto* g = m.mutable_graph();
    *g->add_input() = Info("x", type, {8, 64});
    *g->add_input() = Info("w", type, {64, 32});
    *g->add_output() = Info("y", type, {8, 32});
    AddNode(g, "MatMul", {"x", "w"}, {"xw"});
    AddNode(g, "Tanh", {"xw"}, {"t"});
    AddNode(g, "Softmax", {"t"}, {"y"});
    return m;
  };
  // fp16-representable inputs, so that the fp32 CPU run sees exactly what the fp16 GPU run sees.
  auto round = [](std::vector<float> v) {
    for (float& x : v) x = __half2float(__float2half(x));
    return v;
  };
  auto xv = round(Random(8 * 64, 24)), wv = round(Random(64 * 32, 25, 0.25f));
  const PlacementInfo* placement = nullptr;
  Result half = RunOn(build(kF16), Device::kCuda, {HalfTensor({8, 64}, xv), HalfTensor({64, 32}, wv)}, 2, false,
                      &placement);
  ASSERT_NE(placement, nullptr);
  for (const auto& n : placement->nodes) EXPECT_EQ(n.device, Device::kCuda) << n.op_type << ": " << n.reason;
  Result ref = RunOn(build(kF32), Device::kCpu, {FloatTensor({8, 64}, xv), FloatTensor({64, 32}, wv)});
  ExpectClose(half, ref, 1e-2f, 1e-3f);
}

TEST(CudaSessionTest, CasesTheKernelDoesNotTakeFallBackToTheCpuKernel) {
  // Rank 7 is above the CUDA elementwise kernels' limit: the node runs its CPU kernel instead.
  const std::vector<int64_t> dims = {2, 1, 2, 1, 2, 1, 3};
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("a", kF32, dims);
  *g->add_input() = Info("b", kF32, dims);
  *g->add_output() = Info("y", kF32, dims);
  AddNode(g, "Add", {"a", "b"}, {"s"});
  AddNode(g, "Relu", {"s"}, {"y"});
  std::vector<Value> in = {FloatTensor(dims, Random(Count(dims), 30)), FloatTensor(dims, Random(Count(dims), 31))};
  ExpectClose(RunOn(m, Device::kCuda, in), RunOn(m, Device::kCpu, in));
}

TEST(CudaSessionTest, SessionsOfAModelShareItsUploadedWeights) {
  // Two instances read the same device copy of the weights; it outlives the first session.
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {4, 32});
  *g->add_output() = Info("y", kF32, {4, 16});
  FloatInit(g, "W", {32, 16}, 70);
  AddNode(g, "MatMul", {"x", "W"}, {"y"});
  Engine engine;
  CompileOptions options;
  options.device = Device::kCuda;
  auto model = engine.CompileBytes(m.SerializeAsString(), "", options);
  ASSERT_TRUE(model.ok());
  std::vector<Value> in = {FloatTensor({4, 32}, Random(128, 71))};
  auto a = (*model)->CreateSession();
  auto b = (*model)->CreateSession();
  std::vector<Value> ya, yb;
  ASSERT_TRUE(a->Run(in, &ya).ok());
  ASSERT_TRUE(b->Run(in, &yb).ok());
  EXPECT_EQ(ToFloats(ya[0].tensor()), ToFloats(yb[0].tensor()));
  const std::vector<float> first = ToFloats(ya[0].tensor());
  a.reset();
  ASSERT_TRUE(b->Run(in, &yb).ok());
  EXPECT_EQ(ToFloats(yb[0].tensor()), first);
  auto c = (*model)->CreateSession();
  std::vector<Value> yc;
  ASSERT_TRUE(c->Run(in, &yc).ok());
  EXPECT_EQ(ToFloats(yc[0].tensor()), first);
}

// instance_group `gpus`: sessions on a chosen GPU. Conv (cuDNN, whose algorithm cache is kept per
// device) -> Relu -> Flatten -> MatMul, compared with the CPU session on every GPU there is.
onnx::ModelProto ConvMatMulModel() {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 3, 8, 8});
  *g->add_output() = Info("y", kF32, {-1, 5});
  FloatInit(g, "W", {4, 3, 3, 3}, 80, 0.4f);
  FloatInit(g, "B", {4}, 81, 0.1f);
  FloatInit(g, "Wm", {256, 5}, 82, 0.2f);
  auto* c = AddNode(g, "Conv", {"x", "W", "B"}, {"c"});
  IntsAttr(c, "pads", {1, 1, 1, 1});
  AddNode(g, "Relu", {"c"}, {"r"});
  AddNode(g, "Flatten", {"r"}, {"f"});
  AddNode(g, "MatMul", {"f", "Wm"}, {"y"});
  return m;
}

std::shared_ptr<const CompiledModel> CompileFor(const onnx::ModelProto& m, Device device) {
  CompileOptions options;
  options.device = device;
  return CompileKept(m, options);
}

int CurrentDevice() {
  int d = -1;
  EXPECT_EQ(cudaGetDevice(&d), cudaSuccess);
  return d;
}

TEST(MultiGpuTest, SessionOnEachGpuMatchesCpu) {
  const int count = Engine::CudaDeviceCount();
  if (count < 2) GTEST_SKIP() << "one GPU here: sessions on GPU 1 need two";
  auto model = CompileFor(ConvMatMulModel(), Device::kCuda);
  auto cpu_model = CompileFor(ConvMatMulModel(), Device::kCpu);
  ASSERT_NE(model, nullptr);
  ASSERT_NE(cpu_model, nullptr);
  std::vector<Value> in = {FloatTensor({2, 3, 8, 8}, Random(2 * 3 * 8 * 8, 83, 2.f))};
  std::vector<Value> want;
  ASSERT_TRUE(cpu_model->CreateSession()->Run(in, &want).ok());
  const std::vector<float> expected = ToFloats(want[0].tensor());
  for (int gpu = 0; gpu < std::min(count, 4); ++gpu) {
    SCOPED_TRACE("GPU " + std::to_string(gpu));
    ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
    auto session = model->CreateSession(gpu);
    ASSERT_TRUE(session->status().ok()) << session->status().ToString();
    EXPECT_EQ(CurrentDevice(), 0) << "creating a session gives the thread its device back";
    // Node by node, captured, replayed: all three on this GPU.
    for (int run = 0; run < 3; ++run) {
      std::vector<Value> out;
      Status st = session->Run(in, &out);
      ASSERT_TRUE(st.ok()) << st.ToString();
      const std::vector<float> got = ToFloats(out[0].tensor());
      ASSERT_EQ(got.size(), expected.size());
      for (size_t i = 0; i < got.size(); ++i)
        EXPECT_NEAR(got[i], expected[i], 1e-4f + 1e-3f * std::fabs(expected[i])) << "run " << run << ", " << i;
    }
    EXPECT_TRUE(session->last_run_replayed_graph());
  }
}

TEST(MultiGpuTest, SessionsOfTwoGpusTakeTurnsOnOneThread) {
  // One scheduler thread runs instances of every GPU in turn: each run must find its own device,
  // weights and cuDNN plans, whatever ran on the thread before; each GPU has its own weights, so
  // one GPU's sessions going does not touch the other's.
  if (Engine::CudaDeviceCount() < 2) GTEST_SKIP() << "one GPU here";
  auto model = CompileFor(ConvMatMulModel(), Device::kCuda);
  ASSERT_NE(model, nullptr);
  std::vector<Value> in = {FloatTensor({3, 3, 8, 8}, Random(3 * 3 * 8 * 8, 84, 2.f))};
  auto a = model->CreateSession(0);
  auto b = model->CreateSession(1);
  std::vector<float> first;
  for (int k = 0; k < 6; ++k) {
    std::vector<Value> out;
    Status st = (k % 2 == 0 ? b : a)->Run(in, &out);
    ASSERT_TRUE(st.ok()) << k << ": " << st.ToString();
    if (k == 0) first = ToFloats(out[0].tensor());
    else EXPECT_EQ(ToFloats(out[0].tensor()), first) << "run " << k;
  }
  a.reset();
  std::vector<Value> out;
  ASSERT_TRUE(b->Run(in, &out).ok());
  EXPECT_EQ(ToFloats(out[0].tensor()), first);
}

TEST(MultiGpuTest, AGpuOrdinalThatDoesNotExistIsNamed) {
  const int count = Engine::CudaDeviceCount();
  ASSERT_GE(count, 1);
  auto model = CompileFor(ConvMatMulModel(), Device::kCuda);
  ASSERT_NE(model, nullptr);
  auto session = model->CreateSession(count);
  Status st = session->status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("GPU " + std::to_string(count) + " does not exist: this process sees " +
                              std::to_string(count) + " GPU"),
            std::string::npos)
      << st.message();
  std::vector<Value> in = {FloatTensor({1, 3, 8, 8}, Random(192, 85))}, out;
  EXPECT_EQ(session->Run(in, &out).code(), StatusCode::kInvalidArgument);
}

TEST(CudaSessionTest, BadInputShapeFailsWithAReasonAndTheSessionStaysUsable) {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("a", kF32, {-1, 4});
  *g->add_input() = Info("b", kF32, {-1, 4});
  *g->add_output() = Info("y", kF32, {-1, 4});
  AddNode(g, "Add", {"a", "b"}, {"y"});
  Engine engine;
  CompileOptions options;
  options.device = Device::kCuda;
  auto model = engine.CompileBytes(m.SerializeAsString(), "", options);
  ASSERT_TRUE(model.ok());
  auto session = (*model)->CreateSession();
  std::vector<Value> outs;
  Status st = session->Run(std::vector<Value>{FloatTensor({2, 4}, Random(8, 1)), FloatTensor({3, 4}, Random(12, 2))},
                           &outs);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("broadcast"), std::string::npos) << st.message();
  st = session->Run(std::vector<Value>{FloatTensor({2, 4}, std::vector<float>(8, 1.f)),
                                       FloatTensor({2, 4}, std::vector<float>(8, 2.f))},
                    &outs);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(ToFloats(outs[0].tensor()), std::vector<float>(8, 3.f));
}

// CUDA Graphs (CompileOptions::cuda_graphs): a signature's first run goes node by node, its
// second is captured and replayed, and every later one replays. Each run here gets new input
// values, compared with the CPU session on the same values: a graph that baked in the captured
// run's inputs, or read its slots before they were written, fails.
struct GraphRuns {
  std::vector<bool> replayed;
  std::vector<int> copies;
};

GraphRuns CheckRunsAgainstCpu(const onnx::ModelProto& m, const std::vector<std::vector<Value>>& runs,
                              bool fp16 = false, bool graphs = true, float rtol = 1e-3f, float atol = 1e-4f,
                              bool tf32 = false) {
  Engine engine;
  CompileOptions gpu_options;
  gpu_options.device = Device::kCuda;
  gpu_options.fp16 = fp16;
  gpu_options.cuda_graphs = graphs;
  gpu_options.allow_tf32 = tf32;
  auto gpu_model = engine.CompileBytes(m.SerializeAsString(), "", gpu_options);
  auto cpu_model = engine.CompileBytes(m.SerializeAsString(), "", CompileOptions());
  GraphRuns r;
  EXPECT_TRUE(gpu_model.ok() && cpu_model.ok());
  if (!gpu_model.ok() || !cpu_model.ok()) return r;
  auto gpu = (*gpu_model)->CreateSession();
  auto cpu = (*cpu_model)->CreateSession();
  for (size_t k = 0; k < runs.size(); ++k) {
    std::vector<Value> got, want;
    Status st = gpu->Run(runs[k], &got);
    EXPECT_TRUE(st.ok()) << "run " << k << ": " << st.ToString();
    EXPECT_TRUE(cpu->Run(runs[k], &want).ok());
    if (!st.ok()) return r;
    r.replayed.push_back(gpu->last_run_replayed_graph());
    r.copies.push_back(gpu->last_run_copies());
    Result a, b;
    for (const auto& v : got) {
      a.outputs.push_back(ToFloats(v.tensor()));
      a.shapes.push_back(v.tensor().shape().ToVector());
    }
    for (const auto& v : want) {
      b.outputs.push_back(ToFloats(v.tensor()));
      b.shapes.push_back(v.tensor().shape().ToVector());
    }
    SCOPED_TRACE("run " + std::to_string(k));
    ExpectClose(a, b, rtol, atol);
  }
  return r;
}

onnx::ModelProto GraphCnn() {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 3, 12, 10});
  *g->add_output() = Info("y", kF32, {-1, 5});
  *g->add_output() = Info("feat", kF32, {-1, 8, 6, 5});
  FloatInit(g, "W1", {8, 3, 3, 3}, 60, 0.4f);
  FloatInit(g, "B1", {8}, 61, 0.1f);
  FloatInit(g, "Wfc", {8, 5}, 62, 0.5f);
  FloatInit(g, "Bfc", {5}, 63, 0.1f);
  auto* c1 = AddNode(g, "Conv", {"x", "W1", "B1"}, {"c1"});
  IntsAttr(c1, "pads", {1, 1, 1, 1});
  AddNode(g, "Relu", {"c1"}, {"r1"});
  auto* mp = AddNode(g, "MaxPool", {"r1"}, {"feat"});
  IntsAttr(mp, "kernel_shape", {2, 2});
  IntsAttr(mp, "strides", {2, 2});
  AddNode(g, "GlobalAveragePool", {"feat"}, {"gp"});
  AddNode(g, "Flatten", {"gp"}, {"f"});
  AddNode(g, "Gemm", {"f", "Wfc", "Bfc"}, {"y"});
  return m;
}

TEST(CudaGraphTest, ReplaysWithEachRunsInputValues) {
  std::vector<std::vector<Value>> runs;
  for (uint32_t k = 0; k < 5; ++k) runs.push_back({FloatTensor({2, 3, 12, 10}, Random(2 * 3 * 12 * 10, 70 + k, 2.f))});
  GraphRuns r = CheckRunsAgainstCpu(GraphCnn(), runs);
  EXPECT_EQ(r.replayed, (std::vector<bool>{false, true, true, true, true}));
  EXPECT_EQ(r.copies, (std::vector<int>{3, 3, 3, 3, 3}));  // one input in, two outputs back
}

TEST(CudaGraphTest, EachInputShapeGetsItsOwnGraph) {
  std::vector<std::vector<Value>> runs;
  for (uint32_t k = 0; k < 6; ++k) {
    const int64_t n = k % 2 == 0 ? 1 : 4;
    runs.push_back({FloatTensor({n, 3, 12, 10}, Random(static_cast<size_t>(n) * 3 * 12 * 10, 80 + k, 2.f))});
  }
  GraphRuns r = CheckRunsAgainstCpu(GraphCnn(), runs);
  EXPECT_EQ(r.replayed, (std::vector<bool>{false, false, true, true, true, true}));
}

TEST(CudaGraphTest, Fp16ReplaysConvertInputsAndOutputs) {
  std::vector<std::vector<Value>> runs;
  for (uint32_t k = 0; k < 3; ++k) runs.push_back({FloatTensor({2, 3, 12, 10}, Random(2 * 3 * 12 * 10, 90 + k, 2.f))});
  GraphRuns r = CheckRunsAgainstCpu(GraphCnn(), runs, /*fp16=*/true, true, 2e-2f, 2e-2f);
  EXPECT_EQ(r.replayed, (std::vector<bool>{false, true, true}));
}

TEST(CudaGraphTest, OffMeansNodeByNode) {
  std::vector<std::vector<Value>> runs;
  for (uint32_t k = 0; k < 3; ++k) runs.push_back({FloatTensor({2, 3, 12, 10}, Random(2 * 3 * 12 * 10, 95 + k, 2.f))});
  GraphRuns r = CheckRunsAgainstCpu(GraphCnn(), runs, false, /*graphs=*/false);
  EXPECT_EQ(r.replayed, (std::vector<bool>{false, false, false}));
}

// A run past its deadline (or cancelled) when its signature would be captured fails, and the
// next run of that signature is captured all the same.
TEST(CudaGraphTest, ARunPastItsDeadlineDoesNotStopTheCapture) {
  Engine engine;
  CompileOptions options;
  options.device = Device::kCuda;
  options.cuda_graphs = true;
  auto model = engine.CompileBytes(GraphCnn().SerializeAsString(), "", options);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto session = (*model)->CreateSession();
  const std::vector<Value> in = {FloatTensor({2, 3, 12, 10}, Random(2 * 3 * 12 * 10, 99, 2.f))};
  std::vector<Value> outs;
  ASSERT_TRUE(session->Run(in, &outs).ok());
  EXPECT_FALSE(session->last_run_replayed_graph());
  RunOptions late;
  late.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  EXPECT_EQ(session->Run(in, &outs, late).code(), StatusCode::kDeadlineExceeded);
  std::atomic<bool> cancel{true};
  RunOptions cancelled;
  cancelled.cancelled = &cancel;
  EXPECT_EQ(session->Run(in, &outs, cancelled).code(), StatusCode::kCancelled);
  ASSERT_TRUE(session->Run(in, &outs).ok());
  EXPECT_TRUE(session->last_run_replayed_graph()) << "the failed runs marked the signature not capturable";
  ASSERT_TRUE(session->Run(in, &outs).ok());
  EXPECT_TRUE(session->last_run_replayed_graph());
}

// A CPU node reading an input's values must run every time: such a signature is never captured.
TEST(CudaGraphTest, HostNodeReadingAnInputIsNotCaptured) {
  onnx::ModelProto m = NewModel(14);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {2, 6});
  *g->add_output() = Info("y", kF32, {2, 6});
  ScalarInit(g, "d", 0.75f);
  IntAttr(AddNode(g, "Mod", {"x", "d"}, {"cs"}), "fmod", 1);  // Mod has no CUDA kernel
  AddNode(g, "Relu", {"cs"}, {"y"});
  std::vector<std::vector<Value>> runs;
  for (uint32_t k = 0; k < 4; ++k) runs.push_back({FloatTensor({2, 6}, Random(12, 100 + k, 2.f))});
  GraphRuns r = CheckRunsAgainstCpu(m, runs);
  EXPECT_EQ(r.replayed, (std::vector<bool>{false, false, false, false}));
}

// Host values computed from dims alone (Shape -> Concat -> Reshape) are fixed for a signature:
// such runs are captured.
TEST(CudaGraphTest, ShapeArithmeticOnTheHostIsCaptured) {
  onnx::ModelProto m = NewModel(14);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 4, 6});
  *g->add_output() = Info("y", kF32, {-1, 24});
  Int64Init(g, "zero", {0});
  Int64Init(g, "tail", {24});
  AddNode(g, "Relu", {"x"}, {"r"});
  AddNode(g, "Shape", {"x"}, {"s"});
  auto* gather = AddNode(g, "Gather", {"s", "zero"}, {"n"});
  IntAttr(gather, "axis", 0);
  auto* cat = AddNode(g, "Concat", {"n", "tail"}, {"shape"});
  IntAttr(cat, "axis", 0);
  AddNode(g, "Reshape", {"r", "shape"}, {"y"});
  std::vector<std::vector<Value>> runs;
  for (uint32_t k = 0; k < 4; ++k) runs.push_back({FloatTensor({3, 4, 6}, Random(72, 110 + k, 2.f))});
  GraphRuns r = CheckRunsAgainstCpu(m, runs);
  EXPECT_EQ(r.replayed, (std::vector<bool>{false, true, true, true}));
}

// Channels-last: with TF32 or fp16, 2-D convolutions and pooling run NHWC and their outputs stay
// NHWC through elementwise ops (the residual Add included); a Transpose, a Reshape and the graph
// outputs get NCHW back. Compared with the CPU session at TF32's and fp16's tolerances.
onnx::ModelProto ResidualBlockModel() {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 4, 10, 9});
  *g->add_output() = Info("y", kF32, {-1, 6});
  *g->add_output() = Info("block", kF32, {-1, 8, 10, 9});
  *g->add_output() = Info("t", kF32, {-1, 5, 5, 8});
  FloatInit(g, "W1", {8, 4, 3, 3}, 120, 0.3f);
  FloatInit(g, "B1", {8}, 121, 0.1f);
  FloatInit(g, "W2", {8, 8, 3, 3}, 122, 0.2f);
  FloatInit(g, "B2", {8}, 123, 0.1f);
  FloatInit(g, "Wd", {8, 4, 1, 1}, 124, 0.4f);
  FloatInit(g, "W3", {8, 2, 3, 3}, 125, 0.3f);
  FloatInit(g, "Wfc", {8, 6}, 126, 0.5f);
  FloatInit(g, "Bfc", {6}, 127, 0.1f);
  FloatInit(g, "scale", {1}, 128, 1.f);
  auto* c1 = AddNode(g, "Conv", {"x", "W1", "B1"}, {"c1"});
  IntsAttr(c1, "pads", {1, 1, 1, 1});
  AddNode(g, "Relu", {"c1"}, {"r1"});
  auto* c2 = AddNode(g, "Conv", {"r1", "W2", "B2"}, {"c2"});
  IntsAttr(c2, "pads", {1, 1, 1, 1});
  AddNode(g, "Conv", {"x", "Wd"}, {"down"});  // the shortcut's 1x1 projection
  AddNode(g, "Add", {"c2", "down"}, {"sum"});
  AddNode(g, "Mul", {"sum", "scale"}, {"scaled"});  // a one-element operand keeps the layout
  AddNode(g, "Relu", {"scaled"}, {"block"});
  auto* mp = AddNode(g, "MaxPool", {"block"}, {"p"});
  IntsAttr(mp, "kernel_shape", {2, 2});
  IntsAttr(mp, "strides", {2, 2});
  auto* c3 = AddNode(g, "Conv", {"p", "W3"}, {"c3"});  // grouped
  IntsAttr(c3, "pads", {1, 1, 1, 1});
  IntAttr(c3, "group", 4);
  auto* tr = AddNode(g, "Transpose", {"c3"}, {"t"});  // reads NCHW
  IntsAttr(tr, "perm", {0, 2, 3, 1});
  AddNode(g, "GlobalAveragePool", {"c3"}, {"gp"});
  AddNode(g, "Flatten", {"gp"}, {"f"});
  AddNode(g, "Gemm", {"f", "Wfc", "Bfc"}, {"y"});
  return m;
}

TEST(CudaChannelsLastTest, Tf32ResidualBlockMatchesCpu) {
  std::vector<std::vector<Value>> runs;
  for (uint32_t k = 0; k < 3; ++k) runs.push_back({FloatTensor({3, 4, 10, 9}, Random(3 * 4 * 10 * 9, 130 + k, 2.f))});
  GraphRuns r = CheckRunsAgainstCpu(ResidualBlockModel(), runs, false, true, 5e-3f, 5e-3f, /*tf32=*/true);
  EXPECT_EQ(r.replayed, (std::vector<bool>{false, true, true}));
}

TEST(CudaChannelsLastTest, Fp16ResidualBlockMatchesCpu) {
  std::vector<std::vector<Value>> runs;
  for (uint32_t k = 0; k < 3; ++k) runs.push_back({FloatTensor({2, 4, 10, 9}, Random(2 * 4 * 10 * 9, 140 + k, 2.f))});
  CheckRunsAgainstCpu(ResidualBlockModel(), runs, /*fp16=*/true, true, 2e-2f, 3e-2f);
}

TEST(CudaChannelsLastTest, NodeByNodeRunsMatchCpu) {
  std::vector<std::vector<Value>> runs;
  for (uint32_t k = 0; k < 2; ++k) runs.push_back({FloatTensor({1, 4, 10, 9}, Random(4 * 10 * 9, 150 + k, 2.f))});
  CheckRunsAgainstCpu(ResidualBlockModel(), runs, false, /*graphs=*/false, 5e-3f, 5e-3f, /*tf32=*/true);
}

// A channels-last value beside operands held NCHW on the device: a per-channel [1, C, 1, 1]
// constant scale and shift (a BatchNormalization written out as Mul and Add after a ReLU, which
// no pass folds into the Conv), a second graph input of the same dims, and a one-element 5-D
// operand that makes a product 5-D. Constants and graph inputs are held on the host too; each of
// these elementwise ops must read its channels-last operand as NCHW. And IsNaN of a channels-last
// value: its bool output cannot be transposed back, so it is computed NCHW.
onnx::ModelProto ChannelsLastBesideNchwModel() {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 4, 6, 5});
  *g->add_input() = Info("skip", kF32, {-1, 8, 6, 5});
  *g->add_output() = Info("y", kF32, {-1, 8, 6, 5});
  *g->add_output() = Info("bn", kF32, {-1, 8, 6, 5});
  *g->add_output() = Info("y5", kF32, {1, -1, 8, 6, 5});
  *g->add_output() = Info("clean", kF32, {-1, 8, 6, 5});
  FloatInit(g, "W1", {8, 4, 3, 3}, 200, 0.3f);
  FloatInit(g, "B1", {8}, 201, 0.1f);
  FloatInit(g, "W2", {8, 8, 3, 3}, 202, 0.2f);
  FloatInit(g, "scale", {1, 8, 1, 1}, 203, 2.f);
  FloatInit(g, "shift", {8, 1, 1}, 204, 1.f);
  FloatInit(g, "one5", {1, 1, 1, 1, 1}, 205, 1.f);
  FloatInit(g, "fill", {1}, 206, 1.f);
  auto* c1 = AddNode(g, "Conv", {"x", "W1", "B1"}, {"c1"});
  IntsAttr(c1, "pads", {1, 1, 1, 1});
  AddNode(g, "Relu", {"c1"}, {"r1"});
  auto* c2 = AddNode(g, "Conv", {"r1", "W2"}, {"c2"});  // reads a computed value: channels-last
  IntsAttr(c2, "pads", {1, 1, 1, 1});
  AddNode(g, "Relu", {"c2"}, {"r2"});  // channels-last, as are r3 and r4
  AddNode(g, "Add", {"r2", "skip"}, {"y"});
  AddNode(g, "Relu", {"c2"}, {"r3"});
  AddNode(g, "Mul", {"r3", "scale"}, {"bn_mul"});
  AddNode(g, "Add", {"shift", "bn_mul"}, {"bn"});
  AddNode(g, "Relu", {"c2"}, {"r4"});
  AddNode(g, "Mul", {"r4", "one5"}, {"y5"});
  AddNode(g, "Relu", {"c2"}, {"r5"});
  AddNode(g, "IsNaN", {"r5"}, {"nan"});  // a bool output: NCHW whatever its input
  AddNode(g, "Where", {"nan", "fill", "r5"}, {"clean"});
  return m;
}

TEST(CudaChannelsLastTest, NchwOperandsBesideAChannelsLastValueMatchCpu) {
  std::vector<std::vector<Value>> runs;
  for (uint32_t k = 0; k < 3; ++k)
    runs.push_back({FloatTensor({2, 4, 6, 5}, Random(2 * 4 * 6 * 5, 210 + k, 2.f)),
                    FloatTensor({2, 8, 6, 5}, Random(2 * 8 * 6 * 5, 220 + k, 2.f))});
  CheckRunsAgainstCpu(ChannelsLastBesideNchwModel(), runs, false, /*graphs=*/false, 5e-3f, 5e-3f, /*tf32=*/true);
  CheckRunsAgainstCpu(ChannelsLastBesideNchwModel(), runs, false, /*graphs=*/true, 5e-3f, 5e-3f, /*tf32=*/true);
  CheckRunsAgainstCpu(ChannelsLastBesideNchwModel(), runs, /*fp16=*/true, /*graphs=*/true, 2e-2f, 3e-2f);
}

// Conv -> Add -> Relu runs as one cuDNN call (relu(conv + z + bias)) where the Add's other operand
// is ready: here the projection shortcut's Conv comes last and takes the main branch as z, and the
// identity block takes its input as z. A third Add whose sum is also a graph output must not fold.
onnx::ModelProto ResidualChainModel() {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 4, 8, 7});
  *g->add_output() = Info("y", kF32, {-1, 8, 8, 7});
  *g->add_output() = Info("sum3", kF32, {-1, 8, 8, 7});
  FloatInit(g, "W1", {8, 4, 3, 3}, 160, 0.3f);
  FloatInit(g, "B1", {8}, 161, 0.1f);
  FloatInit(g, "Wd", {8, 4, 1, 1}, 162, 0.4f);
  FloatInit(g, "W2", {8, 8, 3, 3}, 163, 0.2f);
  FloatInit(g, "B2", {8}, 164, 0.1f);
  FloatInit(g, "W3", {8, 8, 1, 1}, 165, 0.3f);
  auto* c1 = AddNode(g, "Conv", {"x", "W1", "B1"}, {"main"});
  IntsAttr(c1, "pads", {1, 1, 1, 1});
  AddNode(g, "Conv", {"x", "Wd"}, {"down"});  // no bias: the fused call gets zeros
  AddNode(g, "Add", {"main", "down"}, {"sum1"});
  AddNode(g, "Relu", {"sum1"}, {"b1"});
  auto* c2 = AddNode(g, "Conv", {"b1", "W2", "B2"}, {"c2"});
  IntsAttr(c2, "pads", {1, 1, 1, 1});
  AddNode(g, "Add", {"b1", "c2"}, {"sum2"});  // identity shortcut
  AddNode(g, "Relu", {"sum2"}, {"b2"});
  AddNode(g, "Conv", {"b2", "W3"}, {"c3"});
  AddNode(g, "Add", {"c3", "b2"}, {"sum3"});  // also an output: stays unfused
  AddNode(g, "Relu", {"sum3"}, {"y"});
  return m;
}

TEST(CudaFusionTest, ResidualConvAddReluMatchesCpu) {
  std::vector<std::vector<Value>> runs;
  for (uint32_t k = 0; k < 3; ++k) runs.push_back({FloatTensor({2, 4, 8, 7}, Random(2 * 4 * 8 * 7, 170 + k, 2.f))});
  CheckRunsAgainstCpu(ResidualChainModel(), runs);                                       // fp32, NCHW
  CheckRunsAgainstCpu(ResidualChainModel(), runs, false, true, 5e-3f, 5e-3f, /*tf32=*/true);  // NHWC
  CheckRunsAgainstCpu(ResidualChainModel(), runs, /*fp16=*/true, true, 2e-2f, 3e-2f);      // NHWC, fp16
}

// MatMul -> Add(bias) as cuBLASLt's bias epilogue (checked once against cuBLAS + Add, then used,
// in replays too): a feed-forward block with a [N] bias and a [1, 1, N] one, in fp32, TF32 and fp16.
onnx::ModelProto FeedForwardModel() {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 5, 16});
  *g->add_output() = Info("y", kF32, {-1, 5, 16});
  FloatInit(g, "W1", {16, 48}, 180, 0.3f);
  FloatInit(g, "B1", {48}, 181, 0.2f);
  FloatInit(g, "W2", {48, 16}, 182, 0.3f);
  FloatInit(g, "B2", {1, 1, 16}, 183, 0.2f);
  AddNode(g, "MatMul", {"x", "W1"}, {"h"});
  AddNode(g, "Add", {"h", "B1"}, {"hb"});
  AddNode(g, "Relu", {"hb"}, {"r"});
  AddNode(g, "MatMul", {"r", "W2"}, {"o"});
  AddNode(g, "Add", {"B2", "o"}, {"y"});  // bias first: Add is commutative
  return m;
}

TEST(CudaFusionTest, MatMulBiasEpilogueMatchesCpu) {
  std::vector<std::vector<Value>> runs;
  for (uint32_t k = 0; k < 3; ++k) runs.push_back({FloatTensor({3, 5, 16}, Random(3 * 5 * 16, 190 + k, 2.f))});
  GraphRuns r = CheckRunsAgainstCpu(FeedForwardModel(), runs);
  EXPECT_EQ(r.replayed, (std::vector<bool>{false, true, true}));
  CheckRunsAgainstCpu(FeedForwardModel(), runs, false, true, 5e-3f, 5e-3f, /*tf32=*/true);
  CheckRunsAgainstCpu(FeedForwardModel(), runs, /*fp16=*/true, true, 2e-2f, 3e-2f);
  CheckRunsAgainstCpu(FeedForwardModel(), runs, false, /*graphs=*/false);
}

}  // namespace
}  // namespace onnxd
