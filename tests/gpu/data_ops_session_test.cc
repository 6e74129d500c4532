// The data-movement and mask ops through CUDA sessions (runtime/cuda_data_ops.cc), compared with
// the CPU session of the same model on the same inputs: each op on small graphs, a MobileNetV2-like
// Conv + Clip (ReLU6) block and a BERT-like embedding Gather with its attention-mask chain. Each
// test checks where the plan put the nodes and that a run makes exactly the copies it counted.
// Skipped without a device (gpu_test_main.cc).
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "model_builder.h"
#include "onnx/onnx-ml.pb.h"
#include "onnxd/engine/engine.h"

namespace onnxd {
namespace {

using namespace ::onnxd::gpu_test;  // NOLINT: the model builders

void FloatScalar(onnx::GraphProto* g, const std::string& name, float v) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(kF32);
  t->add_float_data(v);
}

// dims empty: a scalar.
void Int64Init(onnx::GraphProto* g, const std::string& name, const std::vector<int64_t>& dims,
               const std::vector<int64_t>& values) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(kI64);
  for (int64_t d : dims) t->add_dims(d);
  for (int64_t v : values) t->add_int64_data(v);
}

Value Int64Tensor(const std::vector<int64_t>& dims, const std::vector<int64_t>& data) {
  Tensor t = Tensor::Allocate(DataType::kInt64, Shape(std::span<const int64_t>(dims)));
  std::copy(data.begin(), data.end(), t.data<int64_t>());
  return Value(t);
}

Value Int32Tensor(const std::vector<int64_t>& dims, const std::vector<int32_t>& data) {
  Tensor t = Tensor::Allocate(DataType::kInt32, Shape(std::span<const int64_t>(dims)));
  std::copy(data.begin(), data.end(), t.data<int32_t>());
  return Value(t);
}

// Every element as a double, whatever the type (the comparison's common ground).
std::vector<double> ToDoubles(const Tensor& t) {
  const size_t n = static_cast<size_t>(t.num_elements());
  std::vector<double> v(n);
  const void* p = t.raw_data();
  for (size_t i = 0; i < n; ++i) {
    switch (t.dtype()) {
      case DataType::kFloat: v[i] = static_cast<const float*>(p)[i]; break;
      case DataType::kFloat16: v[i] = __half2float(static_cast<const __half*>(p)[i]); break;
      case DataType::kDouble: v[i] = static_cast<const double*>(p)[i]; break;
      case DataType::kInt64: v[i] = static_cast<double>(static_cast<const int64_t*>(p)[i]); break;
      case DataType::kInt32: v[i] = static_cast<const int32_t*>(p)[i]; break;
      case DataType::kBool:
      case DataType::kUInt8: v[i] = static_cast<const uint8_t*>(p)[i]; break;
      default: ADD_FAILURE() << "output type " << DataTypeName(t.dtype()); return v;
    }
  }
  return v;
}

struct Result {
  std::vector<std::vector<double>> outputs;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<DataType> types;
  int copies = 0;
};

Result RunOn(const onnx::ModelProto& m, Device device, const std::vector<Value>& inputs, bool fp16 = false,
             const PlacementInfo** placement_out = nullptr) {
  CompileOptions options;
  options.device = device;
  options.fp16 = fp16;
  auto model = CompileKept(m, options);
  Result r;
  if (model == nullptr) return r;
  if (placement_out != nullptr) *placement_out = &model->placement();
  auto session = model->CreateSession();
  // Twice: the second run reuses pooled buffers (and may replay a captured graph).
  for (int k = 0; k < 2; ++k) {
    std::vector<Value> outs;
    Status st = session->Run(inputs, &outs);
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok()) return r;
    Result now;
    for (const auto& v : outs) {
      now.outputs.push_back(ToDoubles(v.tensor()));
      now.shapes.push_back(v.tensor().shape().ToVector());
      now.types.push_back(v.tensor().dtype());
    }
    now.copies = session->last_run_copies();
    if (k == 1) {
      bool same = now.outputs.size() == r.outputs.size();
      for (size_t o = 0; same && o < now.outputs.size(); ++o) {
        same = now.outputs[o].size() == r.outputs[o].size();
        for (size_t i = 0; same && i < now.outputs[o].size(); ++i) {
          same = RunsAgree(r.outputs[o][i], now.outputs[o][i], fp16);
        }
      }
      EXPECT_TRUE(same) << "the second run differs from the first";
    }
    r = std::move(now);
  }
  return r;
}

void ExpectClose(const Result& got, const Result& want, double rtol, double atol) {
  ASSERT_EQ(got.outputs.size(), want.outputs.size());
  for (size_t o = 0; o < got.outputs.size(); ++o) {
    EXPECT_EQ(got.shapes[o], want.shapes[o]) << "output " << o;
    EXPECT_EQ(got.types[o], want.types[o]) << "output " << o;
    ASSERT_EQ(got.outputs[o].size(), want.outputs[o].size());
    // Integers and bools must match exactly.
    const DataType t = want.types[o];
    const bool exact = t != DataType::kFloat && t != DataType::kFloat16 && t != DataType::kDouble;
    int bad = 0;
    for (size_t i = 0; i < got.outputs[o].size(); ++i) {
      const double g = got.outputs[o][i], w = want.outputs[o][i];
      const bool ok = exact ? g == w : std::fabs(g - w) <= atol + rtol * std::fabs(w) || (std::isnan(g) && std::isnan(w));
      if (!ok && ++bad <= 5) ADD_FAILURE() << "output " << o << " element " << i << ": cuda " << g << ", cpu " << w;
    }
    EXPECT_EQ(bad, 0) << "output " << o << " of " << got.outputs[o].size() << " elements";
  }
}

// Compiles for both devices, runs, compares. `expect_cpu_nodes`: how many nodes the plan leaves on
// the CPU; `expect_copies` (when >= 0): the copies per run, planned and made. fp16: the CUDA
// session holds floats as fp16 (compared loosely; the copy count is not checked).
void CheckAgainstCpu(const onnx::ModelProto& m, const std::vector<Value>& inputs, int expect_cpu_nodes,
                     int expect_copies, bool fp16 = false) {
  const PlacementInfo* placement = nullptr;
  Result gpu = RunOn(m, Device::kCuda, inputs, fp16, &placement);
  Result cpu = RunOn(m, Device::kCpu, inputs);
  ASSERT_NE(placement, nullptr);
  int on_cpu = 0;
  std::string cpu_nodes;
  for (const auto& n : placement->nodes)
    if (n.device == Device::kCpu) {
      ++on_cpu;
      cpu_nodes += " " + n.op_type + " '" + n.name + "' (" + n.reason + ")";
    }
  EXPECT_EQ(on_cpu, expect_cpu_nodes) << placement->summary << ";" << cpu_nodes;
  if (!fp16 && expect_copies >= 0) {
    EXPECT_EQ(placement->total_copies(), expect_copies) << placement->summary;
    EXPECT_EQ(gpu.copies, placement->total_copies()) << "copies made vs planned: " << placement->summary;
  }
  if (fp16) ExpectClose(gpu, cpu, 2e-2, 2e-2);
  else ExpectClose(gpu, cpu, 1e-4, 1e-5);
}

// ---- MobileNetV2's ReLU6 (TorchScript export: Clip with constant min / max inputs) ----

onnx::ModelProto ReluSixBlock() {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 8, 9, 9});
  *g->add_output() = AnyShape("y", kF32);
  FloatInit(g, "w1", {16, 8, 1, 1}, 1, 2.f);
  FloatInit(g, "w2", {16, 1, 3, 3}, 2, 2.f);
  FloatInit(g, "b2", {16, 1, 1}, 3, 1.f);
  FloatInit(g, "w3", {8, 16, 1, 1}, 4, 1.f);
  FloatScalar(g, "lo", 0.f);
  FloatScalar(g, "hi", 6.f);
  AddNode(g, "Conv", {"x", "w1"}, {"c1"});
  AddNode(g, "Clip", {"c1", "lo", "hi"}, {"r1"});
  auto* dw = AddNode(g, "Conv", {"r1", "w2"}, {"c2"});
  IntAttr(dw, "group", 16);
  IntsAttr(dw, "pads", {1, 1, 1, 1});
  AddNode(g, "Add", {"c2", "b2"}, {"a2"});  // keeps this Clip apart from its Conv (no fusion)
  AddNode(g, "Clip", {"a2", "lo", "hi"}, {"r2"});
  AddNode(g, "Conv", {"r2", "w3"}, {"c3"});
  AddNode(g, "Clip", {"c3", "", "hi"}, {"y"});  // max only
  return m;
}

TEST(CudaDataOpsSessionTest, MobileNetReluSixBlockRunsWhollyOnTheGpu) {
  for (int64_t batch : {1, 3})
    CheckAgainstCpu(ReluSixBlock(), {FloatTensor({batch, 8, 9, 9}, Random(batch * 648, 5, 3.f))}, 0, 2);
}

TEST(CudaDataOpsSessionTest, MobileNetReluSixBlockInFp16) {
  CheckAgainstCpu(ReluSixBlock(), {FloatTensor({2, 8, 9, 9}, Random(2 * 648, 6, 3.f))}, 0, -1, true);
}

TEST(CudaDataOpsSessionTest, ClipWithAttributeBoundsBeforeOpset11) {
  onnx::ModelProto m = NewModel(6);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {3, 37});
  *g->add_output() = Info("y", kF32, {3, 37});
  auto* c = AddNode(g, "Clip", {"x"}, {"y"});
  FloatAttr(c, "min", -0.5f);
  FloatAttr(c, "max", 0.75f);
  CheckAgainstCpu(m, {FloatTensor({3, 37}, Random(111, 7, 2.f))}, 0, 2);
}

// ---- BERT's front end (dynamo export): embeddings and the attention-mask chain ----

onnx::ModelProto BertLikeFrontEnd() {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("input_ids", kI64, {-1, -1}, {"batch", "seq"});
  *g->add_input() = Info("attention_mask", kI64, {-1, -1}, {"batch", "seq"});
  *g->add_output() = AnyShape("hidden", kF32);
  *g->add_output() = AnyShape("mask_add", kF32);
  FloatInit(g, "word_emb", {30, 8}, 11, 1.f);
  FloatInit(g, "pos_emb", {16, 8}, 12, 1.f);
  FloatInit(g, "type_emb", {2, 8}, 13, 1.f);
  Int64Init(g, "zero", {}, {0});
  Int64Init(g, "one", {}, {1});
  Int64Init(g, "axis0", {1}, {0});
  Int64Init(g, "axes01", {2}, {0, 1});
  Int64Init(g, "minus1", {1}, {-1});
  Int64Init(g, "token_types", {1, 16}, std::vector<int64_t>(16, 0));
  Int64Init(g, "zero1", {1}, {0});
  Int64Init(g, "one1", {1}, {1});
  FloatScalar(g, "neg", -10000.f);
  FloatInit(g, "ln_scale", {8}, 14, 1.f);
  FloatInit(g, "ln_bias", {8}, 15, 1.f);
  AddNode(g, "Gather", {"word_emb", "input_ids"}, {"words"}, "embedding");
  AddNode(g, "Shape", {"input_ids"}, {"ids_shape"}, "shape");
  AddNode(g, "Gather", {"ids_shape", "one"}, {"seq"}, "seq_len");
  AddNode(g, "Range", {"zero", "seq", "one"}, {"positions"}, "arange");
  AddNode(g, "Gather", {"pos_emb", "positions"}, {"pos"}, "pos_embedding");
  // Token types: a constant buffer sliced to the sequence, expanded to [batch, seq].
  AddNode(g, "Unsqueeze", {"seq", "axis0"}, {"seq1"}, "unsqueeze_seq");
  AddNode(g, "Slice", {"token_types", "zero1", "seq1", "one1", "one1"}, {"types"}, "slice_types");
  AddNode(g, "Slice", {"ids_shape", "zero1", "one1"}, {"batch1"}, "batch_dim");
  auto* cat = AddNode(g, "Concat", {"batch1", "seq1"}, {"bs"}, "concat_bs");
  IntAttr(cat, "axis", 0);
  AddNode(g, "Expand", {"types", "bs"}, {"types_bs"}, "expand_types");
  AddNode(g, "Gather", {"type_emb", "types_bs"}, {"typ"}, "type_embedding");
  AddNode(g, "Add", {"words", "pos"}, {"wp"}, "add");
  AddNode(g, "Add", {"wp", "typ"}, {"emb"}, "add_types");
  auto* ln = AddNode(g, "LayerNormalization", {"emb", "ln_scale", "ln_bias"}, {"normed"}, "ln");
  IntAttr(ln, "axis", -1);
  auto* flat_shape = AddNode(g, "Concat", {"minus1", "seq1"}, {"new_shape"}, "concat_shape");
  IntAttr(flat_shape, "axis", 0);
  AddNode(g, "Reshape", {"normed", "new_shape"}, {"hidden"}, "reshape");
  // The mask: [batch, 1, 1, seq] of 0 (keep) / -10000 (drop), also dropping positions >= 3.
  auto* to_bool = AddNode(g, "Cast", {"attention_mask"}, {"mask_b"}, "mask_cast");
  IntAttr(to_bool, "to", kBool);
  Int64Init(g, "three", {}, {3});
  AddNode(g, "Less", {"positions", "three"}, {"early"}, "lt");
  AddNode(g, "Not", {"early"}, {"late"}, "not_early");
  AddNode(g, "Or", {"late", "mask_b"}, {"visible"}, "or");  // [batch, seq]
  AddNode(g, "And", {"visible", "mask_b"}, {"keep"}, "and");
  AddNode(g, "Not", {"keep"}, {"drop"}, "not");
  auto* to_float = AddNode(g, "Cast", {"drop"}, {"drop_f"}, "drop_cast");
  IntAttr(to_float, "to", kF32);
  AddNode(g, "Unsqueeze", {"drop_f", "axes01"}, {"drop4"}, "unsqueeze_mask");  // [1, 1, batch, seq]
  AddNode(g, "Mul", {"drop4", "neg"}, {"mask_add"}, "scale");
  return m;
}

std::vector<Value> BertInputs(int64_t batch, int64_t seq, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int64_t> ids(batch * seq), mask(batch * seq);
  for (auto& v : ids) v = static_cast<int64_t>(rng() % 30);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < seq; ++s) mask[b * seq + s] = s < seq - b ? 1 : 0;  // padded tails
  return {Int64Tensor({batch, seq}, ids), Int64Tensor({batch, seq}, mask)};
}

TEST(CudaDataOpsSessionTest, BertLikeEmbeddingAndMaskChainCopyOnlyInputsAndOutputs) {
  // CPU nodes: Shape, the seq_len Gather, the two Unsqueeze / Slice / Concat of shape arithmetic.
  for (auto [batch, seq] : std::vector<std::pair<int64_t, int64_t>>{{1, 5}, {3, 11}})
    CheckAgainstCpu(BertLikeFrontEnd(), BertInputs(batch, seq, 21), 6, 4);
}

TEST(CudaDataOpsSessionTest, BertLikeEmbeddingAndMaskChainInFp16) {
  CheckAgainstCpu(BertLikeFrontEnd(), BertInputs(2, 9, 22), 6, -1, true);
}

// ---- each op ----

TEST(CudaDataOpsSessionTest, GatherAlongEachAxisWithNegativeIndices) {
  for (int64_t axis : {0, 1, 2, -1}) {
    for (bool int32 : {false, true}) {
      onnx::ModelProto m = NewModel(13);
      auto* g = m.mutable_graph();
      *g->add_input() = Info("x", kF32, {4, 5, 6});
      *g->add_input() = Info("i", int32 ? onnx::TensorProto::INT32 : kI64, {2, 2});
      *g->add_output() = AnyShape("y", kF32);
      auto* n = AddNode(g, "Gather", {"x", "i"}, {"y"});
      IntAttr(n, "axis", axis);
      std::vector<int64_t> idx = {0, -1, 3, -2};
      Value iv = int32 ? Int32Tensor({2, 2}, {0, -1, 3, -2}) : Int64Tensor({2, 2}, idx);
      CheckAgainstCpu(m, {FloatTensor({4, 5, 6}, Random(120, 8)), iv}, 0, 3);
    }
  }
}

TEST(CudaDataOpsSessionTest, GatherOfInt64DataAndScalarIndex) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kI64, {3, 4});
  *g->add_output() = AnyShape("y", kI64);
  Int64Init(g, "k", {}, {2});
  auto* n = AddNode(g, "Gather", {"x", "k"}, {"y"});
  IntAttr(n, "axis", 1);
  CheckAgainstCpu(m, {Int64Tensor({3, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})}, 0, 2);
}

// CumSum on the GPU (the axis read on the host): an int64 mask's running count along the sequence
// (RoBERTa's position ids start so), then a float CumSum over the middle axis of a 3-D tensor,
// exclusive and reversed, in fp32 and fp16.
TEST(CudaDataOpsSessionTest, CumSumRunsOnTheGpu) {
  {
    onnx::ModelProto m = NewModel(14);
    auto* g = m.mutable_graph();
    *g->add_input() = Info("mask", kI64, {2, 7});
    *g->add_output() = AnyShape("c", kI64);
    Int64Init(g, "axis", {}, {1});
    AddNode(g, "CumSum", {"mask", "axis"}, {"c"});
    CheckAgainstCpu(m, {Int64Tensor({2, 7}, {1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1})}, 0, 2);
  }
  for (bool fp16 : {false, true}) {
    onnx::ModelProto m = NewModel(14);
    auto* g = m.mutable_graph();
    *g->add_input() = Info("x", kF32, {3, 40, 5});
    *g->add_output() = AnyShape("y", kF32);
    Int64Init(g, "axis", {}, {-2});
    auto* n = AddNode(g, "CumSum", {"x", "axis"}, {"y"});
    IntAttr(n, "exclusive", 1);
    IntAttr(n, "reverse", 1);
    CheckAgainstCpu(m, {FloatTensor({3, 40, 5}, Random(600, 31, 1.f))}, 0, 2, fp16);
  }
}

// RoBERTa's position ids: mask = input_ids != pad, cumsum(mask) * mask + pad (int32 arithmetic, then
// int64), looked up in a position embedding. Every node on the GPU (the CumSum's axis read on the
// host, a constant), so nothing the data path computes is read on the host and the runs after the
// first replay a CUDA graph.
TEST(CudaDataOpsSessionTest, RobertaPositionIdsStayOnTheGpuAndAreCaptured) {
  onnx::ModelProto m = NewModel(14);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("input_ids", kI64, {2, 7});
  *g->add_output() = AnyShape("positions", kF32);
  Int64Init(g, "pad", {}, {1});
  Int64Init(g, "axis", {}, {1});
  FloatInit(g, "pos_emb", {16, 4}, 51);
  AddNode(g, "Equal", {"input_ids", "pad"}, {"is_pad"});
  AddNode(g, "Not", {"is_pad"}, {"keep"});
  IntAttr(AddNode(g, "Cast", {"keep"}, {"mask"}), "to", onnx::TensorProto::INT32);
  AddNode(g, "CumSum", {"mask", "axis"}, {"count"});
  AddNode(g, "Mul", {"count", "mask"}, {"counted"});
  IntAttr(AddNode(g, "Cast", {"counted"}, {"counted64"}), "to", onnx::TensorProto::INT64);
  AddNode(g, "Add", {"counted64", "pad"}, {"ids"});
  AddNode(g, "Gather", {"pos_emb", "ids"}, {"positions"});
  const std::vector<int64_t> ids = {0, 5, 9, 7, 2, 1, 1, 0, 3, 3, 1, 1, 1, 1};  // padded with 1
  CheckAgainstCpu(m, {Int64Tensor({2, 7}, ids)}, 0, 2);
  CompileOptions options;
  options.device = Device::kCuda;
  auto model = Engine().CompileBytes(m.SerializeAsString(), "", options);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto session = (*model)->CreateSession();
  std::vector<Value> outs;
  const std::vector<Value> in = {Int64Tensor({2, 7}, ids)};
  for (int run = 0; run < 3; ++run) {
    ASSERT_TRUE(session->Run(in, &outs).ok());
    EXPECT_EQ(session->last_run_replayed_graph(), run > 0) << "run " << run;
  }
}

// TopK on the GPU against the CPU op: NaN above every number, -0 equal to 0 (the lower index first),
// repeated values, largest and smallest, the last axis and a middle one, fp32 and fp16 (every value
// exact in fp16, so rounding makes no new ties); an axis past kTopKMaxLen falls back to the CPU op.
TEST(CudaDataOpsSessionTest, TopKMatchesTheCpuOp) {
  auto model = [](int64_t rows, int64_t len, int64_t axis, int64_t k, bool largest) {
    onnx::ModelProto m = NewModel(11);
    auto* g = m.mutable_graph();
    *g->add_input() = Info("x", kF32, {rows, len});
    *g->add_output() = AnyShape("values", kF32);
    *g->add_output() = AnyShape("indices", kI64);
    Int64Init(g, "k", {1}, {k});
    auto* n = AddNode(g, "TopK", {"x", "k"}, {"values", "indices"});
    IntAttr(n, "axis", axis);
    IntAttr(n, "largest", largest ? 1 : 0);
    return m;
  };
  const float nan = std::nanf("");
  std::vector<float> x = {1.5f, nan, -2.f, 7.f, 0.25f, 7.f, -0.f, 3.f, nan, 2.f,     // NaNs, a repeated 7
                          -0.f, 0.f, -1.f, 0.f, -0.f, 5.5f, -3.25f, 0.f, 1.f, -0.f,  // zeros of both signs
                          4.f, 4.f, 4.f, -4.f, -4.f, 8.f, 0.5f, 4.f, -4.f, 8.f};     // ties everywhere
  for (bool fp16 : {false, true})
    for (bool largest : {true, false}) {
      SCOPED_TRACE(std::string(fp16 ? "fp16" : "fp32") + (largest ? " largest" : " smallest"));
      CheckAgainstCpu(model(3, 10, 1, 4, largest), {FloatTensor({3, 10}, x)}, 0, 3, fp16);
      CheckAgainstCpu(model(3, 10, 0, 2, largest), {FloatTensor({3, 10}, x)}, 0, 3, fp16);
    }
  const std::vector<float> wide = Random(2 * 3000, 41, 10.f);
  CheckAgainstCpu(model(2, 3000, 1, 5, true), {FloatTensor({2, 3000}, wide)}, 0, -1);
}

TEST(CudaDataOpsSessionTest, GatherElementsAndGatherND) {
  {
    onnx::ModelProto m = NewModel(13);
    auto* g = m.mutable_graph();
    *g->add_input() = Info("x", kF32, {3, 4});
    *g->add_input() = Info("i", kI64, {3, 2});
    *g->add_output() = AnyShape("y", kF32);
    auto* n = AddNode(g, "GatherElements", {"x", "i"}, {"y"});
    IntAttr(n, "axis", 1);
    CheckAgainstCpu(m, {FloatTensor({3, 4}, Random(12, 9)), Int64Tensor({3, 2}, {0, 3, -1, 1, 2, -4})}, 0, 3);
  }
  for (int64_t batch_dims : {0, 1}) {
    onnx::ModelProto m = NewModel(13);
    auto* g = m.mutable_graph();
    *g->add_input() = Info("x", kF32, {2, 3, 4});
    *g->add_input() = Info("i", kI64, {2, 2, 1});
    *g->add_output() = AnyShape("y", kF32);
    auto* n = AddNode(g, "GatherND", {"x", "i"}, {"y"});
    IntAttr(n, "batch_dims", batch_dims);
    CheckAgainstCpu(m, {FloatTensor({2, 3, 4}, Random(24, 10)), Int64Tensor({2, 2, 1}, {1, 0, -1, 1})}, 0, 3);
  }
}

TEST(CudaDataOpsSessionTest, CastChains) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {5, 7});
  *g->add_input() = Info("n", kI64, {5, 7});
  *g->add_output() = AnyShape("as_int", kI64);
  *g->add_output() = AnyShape("back", kF32);
  *g->add_output() = AnyShape("as_bool", kBool);
  *g->add_output() = AnyShape("as_double", onnx::TensorProto::DOUBLE);
  *g->add_output() = AnyShape("n_float", kF32);
  *g->add_output() = AnyShape("n_i32", onnx::TensorProto::INT32);
  IntAttr(AddNode(g, "Cast", {"x"}, {"as_int"}), "to", kI64);
  IntAttr(AddNode(g, "Cast", {"as_int"}, {"back"}), "to", kF32);
  IntAttr(AddNode(g, "Cast", {"x"}, {"as_bool"}), "to", kBool);
  IntAttr(AddNode(g, "Cast", {"x"}, {"as_double"}), "to", onnx::TensorProto::DOUBLE);
  IntAttr(AddNode(g, "Cast", {"n"}, {"n_float"}), "to", kF32);
  IntAttr(AddNode(g, "Cast", {"n"}, {"n_i32"}), "to", onnx::TensorProto::INT32);
  std::vector<float> x = Random(35, 11, 4.f);
  x[0] = 0.f;
  x[1] = -0.f;
  std::vector<int64_t> n(35);
  for (int i = 0; i < 35; ++i) n[i] = (i - 17) * 1000003LL;
  CheckAgainstCpu(m, {FloatTensor({5, 7}, x), Int64Tensor({5, 7}, n)}, 0, 8);
}

TEST(CudaDataOpsSessionTest, CastOfAHalvedFloatInFp16Mode) {
  // fp16 mode: x is held as fp16; Cast to int64 reads fp16, Cast to float stays fp16 and comes
  // back as float.
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {4, 9});
  *g->add_output() = AnyShape("i", kI64);
  *g->add_output() = AnyShape("f", kF32);
  IntAttr(AddNode(g, "Cast", {"x"}, {"i"}), "to", kI64);
  AddNode(g, "Relu", {"x"}, {"r"});
  IntAttr(AddNode(g, "Cast", {"r"}, {"f"}), "to", kF32);
  std::vector<float> x(36);
  for (int k = 0; k < 36; ++k) x[k] = static_cast<float>(k - 18) * 0.5f;  // exact in fp16
  CheckAgainstCpu(m, {FloatTensor({4, 9}, x)}, 0, -1, true);
}

TEST(CudaDataOpsSessionTest, SliceWithStepsAxesAndNegativeBounds) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {6, 7, 5});
  *g->add_output() = AnyShape("a", kF32);
  *g->add_output() = AnyShape("b", kF32);
  *g->add_output() = AnyShape("c", kF32);
  Int64Init(g, "s1", {2}, {-1, 1});
  Int64Init(g, "e1", {2}, {-100, 100});
  Int64Init(g, "ax1", {2}, {0, -1});
  Int64Init(g, "st1", {2}, {-2, 3});
  AddNode(g, "Slice", {"x", "s1", "e1", "ax1", "st1"}, {"a"});  // rows 5,3,1; cols 1,4
  Int64Init(g, "s2", {1}, {2});
  Int64Init(g, "e2", {1}, {-2});
  AddNode(g, "Slice", {"x", "s2", "e2"}, {"b"});  // axis 0 from 2 to 4
  Int64Init(g, "s3", {1}, {9});
  Int64Init(g, "e3", {1}, {10});
  Int64Init(g, "ax3", {1}, {1});
  AddNode(g, "Slice", {"x", "s3", "e3", "ax3"}, {"c"});  // empty
  CheckAgainstCpu(m, {FloatTensor({6, 7, 5}, Random(210, 12))}, 0, 4);
}

TEST(CudaDataOpsSessionTest, SliceWithAttributesBeforeOpset10) {
  onnx::ModelProto m = NewModel(9);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {4, 6});
  *g->add_output() = AnyShape("y", kF32);
  auto* n = AddNode(g, "Slice", {"x"}, {"y"});
  IntsAttr(n, "starts", {1, -4});
  IntsAttr(n, "ends", {3, 1000});
  IntsAttr(n, "axes", {0, 1});
  CheckAgainstCpu(m, {FloatTensor({4, 6}, Random(24, 13))}, 0, 2);
}

TEST(CudaDataOpsSessionTest, ExpandSplitAndConcat) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {3, 1});
  *g->add_input() = Info("n", kI64, {2, 5});
  *g->add_output() = AnyShape("e", kF32);
  *g->add_output() = AnyShape("p", kF32);
  *g->add_output() = AnyShape("q", kF32);
  *g->add_output() = AnyShape("c", kF32);
  *g->add_output() = AnyShape("ci", kI64);
  Int64Init(g, "shape", {3}, {2, 3, 4});
  AddNode(g, "Expand", {"x", "shape"}, {"e"});  // [2, 3, 4]
  Int64Init(g, "split", {2}, {1, 3});
  auto* sp = AddNode(g, "Split", {"e", "split"}, {"p", "q"});
  IntAttr(sp, "axis", -1);
  auto* c = AddNode(g, "Concat", {"q", "e", "p"}, {"c"});
  IntAttr(c, "axis", 2);
  auto* ci = AddNode(g, "Concat", {"n", "n"}, {"ci"});
  IntAttr(ci, "axis", 0);
  CheckAgainstCpu(m, {FloatTensor({3, 1}, {1.f, 2.f, 3.f}), Int64Tensor({2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10})}, 0,
                  7);
}

TEST(CudaDataOpsSessionTest, SplitIntoUnevenPartsAtOpset18AndByAttributeAtOpset11) {
  {
    onnx::ModelProto m = NewModel(18);
    auto* g = m.mutable_graph();
    *g->add_input() = Info("x", kF32, {7, 2});
    for (const char* o : {"a", "b", "c"}) *g->add_output() = AnyShape(o, kF32);
    auto* sp = AddNode(g, "Split", {"x"}, {"a", "b", "c"});
    IntAttr(sp, "num_outputs", 3);  // 3, 3, 1
    CheckAgainstCpu(m, {FloatTensor({7, 2}, Random(14, 14))}, 0, 4);
  }
  {
    onnx::ModelProto m = NewModel(11);
    auto* g = m.mutable_graph();
    *g->add_input() = Info("x", kF32, {2, 6});
    for (const char* o : {"a", "b"}) *g->add_output() = AnyShape(o, kF32);
    auto* sp = AddNode(g, "Split", {"x"}, {"a", "b"});
    IntAttr(sp, "axis", 1);
    IntsAttr(sp, "split", {4, 2});
    CheckAgainstCpu(m, {FloatTensor({2, 6}, Random(12, 15))}, 0, 3);
  }
}

TEST(CudaDataOpsSessionTest, ComparisonsLogicAndMaxMinWithBroadcast) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("a", kF32, {3, 1, 4});
  *g->add_input() = Info("b", kF32, {5, 1});
  *g->add_input() = Info("i", kI64, {5});
  *g->add_input() = Info("j", kI64, {1});
  const char* cmp[] = {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"};
  for (const char* op : cmp) {
    *g->add_output() = AnyShape(std::string(op) + "_f", kBool);
    *g->add_output() = AnyShape(std::string(op) + "_i", kBool);
    AddNode(g, op, {"a", "b"}, {std::string(op) + "_f"});
    AddNode(g, op, {"i", "j"}, {std::string(op) + "_i"});
  }
  AddNode(g, "Less", {"a", "b"}, {"lt"});
  AddNode(g, "Greater", {"a", "b"}, {"gt"});
  for (const char* op : {"And", "Or", "Xor"}) {
    *g->add_output() = AnyShape(op, kBool);
    AddNode(g, op, {"lt", "gt"}, {op});
  }
  *g->add_output() = AnyShape("not", kBool);
  AddNode(g, "Not", {"lt"}, {"not"});
  *g->add_output() = AnyShape("max", kF32);
  *g->add_output() = AnyShape("min", kF32);
  *g->add_output() = AnyShape("maxi", kI64);
  *g->add_output() = AnyShape("one", kF32);
  AddNode(g, "Max", {"a", "b"}, {"max"});
  AddNode(g, "Min", {"a", "b"}, {"min"});
  AddNode(g, "Max", {"i", "j"}, {"maxi"});
  AddNode(g, "Min", {"a"}, {"one"});
  std::vector<float> a = {-1.f, 0.f, 1.f, 2.f, 0.5f, -0.5f, 3.f, -2.f, 1.f, 1.f, 0.f, -3.f};
  std::vector<float> b = {0.f, 1.f, -1.f, 0.5f, 2.f};
  // 4 inputs; 10 + 3 + 1 + 4 = 18 outputs.
  CheckAgainstCpu(m, {FloatTensor({3, 1, 4}, a), FloatTensor({5, 1}, b), Int64Tensor({5}, {-2, 0, 3, 7, 1}),
                      Int64Tensor({1}, {1})},
                  0, 22);
}

TEST(CudaDataOpsSessionTest, RangeFromAShapeDerivedLimitFeedsTheGpu) {
  // positions = Range(0, len, 1) as float and int64, combined with data: Range runs on the GPU (its
  // scalars read on the host), so nothing crosses between devices.
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {2, -1});
  *g->add_input() = Info("n", kI64, {-1});
  *g->add_output() = AnyShape("y", kF32);
  *g->add_output() = AnyShape("z", kI64);
  Int64Init(g, "one", {}, {1});
  Int64Init(g, "zero", {}, {0});
  AddNode(g, "Shape", {"x"}, {"shp"});
  AddNode(g, "Gather", {"shp", "one"}, {"len"});
  IntAttr(AddNode(g, "Cast", {"len"}, {"len_f"}), "to", kF32);
  FloatScalar(g, "half", 0.5f);
  FloatScalar(g, "fzero", 0.25f);
  AddNode(g, "Range", {"fzero", "len_f", "half"}, {"pos_f"});  // 2 * len - 0 elements
  AddNode(g, "Shape", {"n"}, {"nshp"});
  AddNode(g, "Gather", {"nshp", "zero"}, {"nlen"});
  AddNode(g, "Range", {"zero", "nlen", "one"}, {"pos_i"});
  AddNode(g, "Max", {"n", "pos_i"}, {"z"});  // int64 (the CUDA Add takes floats only)
  IntAttr(AddNode(g, "Cast", {"pos_f"}, {"pos_ff"}), "to", kF32);
  IntAttr(AddNode(g, "Concat", {"x", "x"}, {"xx"}), "axis", 1);
  AddNode(g, "Add", {"xx", "pos_ff"}, {"y"});
  // x [2, 5]: len 5 -> pos_f = 0.25, 0.75, ..., 4.75 (10 values); xx is [2, 10].
  // CPU: Shape x2, the two shape Gathers and the Cast of the length (shape arithmetic).
  CheckAgainstCpu(m, {FloatTensor({2, 5}, Random(10, 16)), Int64Tensor({4}, {5, 6, 7, 8})}, 5, 4);
}

TEST(CudaDataOpsSessionTest, HostSideInputsThatAreGraphInputsAreReadAfreshEachRun) {
  // Slice's starts and Clip's max come straight from graph inputs: each run must use its own
  // values (a captured CUDA graph would bake the first run's in, so such runs are not captured).
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {4, 6});
  *g->add_input() = Info("starts", kI64, {1});
  *g->add_input() = Info("hi", kF32, {});
  *g->add_output() = AnyShape("y", kF32);
  Int64Init(g, "ends", {1}, {100});
  Int64Init(g, "axes", {1}, {1});
  AddNode(g, "Slice", {"x", "starts", "ends", "axes"}, {"s"});
  auto* lo = g->add_initializer();
  lo->set_name("lo");
  lo->set_data_type(kF32);
  lo->add_float_data(-0.25f);
  AddNode(g, "Clip", {"s", "lo", "hi"}, {"y"});
  static Engine engine;
  CompileOptions gpu_options, cpu_options;
  gpu_options.device = Device::kCuda;
  cpu_options.device = Device::kCpu;
  auto gpu_model = engine.CompileBytes(m.SerializeAsString(), "", gpu_options);
  auto cpu_model = engine.CompileBytes(m.SerializeAsString(), "", cpu_options);
  ASSERT_TRUE(gpu_model.ok() && cpu_model.ok());
  auto gpu = (*gpu_model)->CreateSession();
  auto cpu = (*cpu_model)->CreateSession();
  const std::vector<float> x = Random(24, 30, 2.f);
  for (int run = 0; run < 5; ++run) {
    Tensor hi = Tensor::Allocate(DataType::kFloat, Shape{});
    hi.data<float>()[0] = 0.1f * static_cast<float>(run);
    const std::vector<Value> inputs = {FloatTensor({4, 6}, x), Int64Tensor({1}, {run}), Value(hi)};
    std::vector<Value> got, want;
    ASSERT_TRUE(gpu->Run(inputs, &got).ok());
    ASSERT_TRUE(cpu->Run(inputs, &want).ok());
    EXPECT_EQ(got[0].tensor().shape().ToVector(), want[0].tensor().shape().ToVector()) << "run " << run;
    EXPECT_EQ(ToDoubles(got[0].tensor()), ToDoubles(want[0].tensor())) << "run " << run;
  }
}

// ---- Activations with parameters, rounding, BatchNormalization, variadic ops, ceil-mode MaxPool
// (kernels/cuda/activations.h, dispatched by runtime/cuda_data_ops.cc) ----

// MobileNetV3's squeeze-excite block: Conv -> HardSwish, then a HardSigmoid gate on the pooled
// channels multiplied back.
onnx::ModelProto HardSwishBlock() {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 8, 9, 9});
  *g->add_output() = AnyShape("y", kF32);
  FloatInit(g, "w1", {16, 8, 1, 1}, 21, 2.f);
  FloatInit(g, "w2", {16, 16, 1, 1}, 22, 1.f);
  FloatInit(g, "b1", {16, 1, 1}, 23, 1.f);
  AddNode(g, "Conv", {"x", "w1"}, {"c1"});
  AddNode(g, "Add", {"c1", "b1"}, {"a1"});  // keeps the HardSwish apart from the Conv
  AddNode(g, "HardSwish", {"a1"}, {"h1"});
  AddNode(g, "GlobalAveragePool", {"h1"}, {"p"});
  AddNode(g, "Conv", {"p", "w2"}, {"c2"});
  auto* hs = AddNode(g, "HardSigmoid", {"c2"}, {"gate"});
  FloatAttr(hs, "alpha", 1.f / 6.f);
  AddNode(g, "Mul", {"h1", "gate"}, {"y"});
  return m;
}

TEST(CudaDataOpsSessionTest, MobileNetV3HardSwishBlockRunsWhollyOnTheGpu) {
  for (int64_t batch : {1, 3})
    CheckAgainstCpu(HardSwishBlock(), {FloatTensor({batch, 8, 9, 9}, Random(batch * 648, 24, 3.f))}, 0, 2);
}

TEST(CudaDataOpsSessionTest, MobileNetV3HardSwishBlockInFp16) {
  CheckAgainstCpu(HardSwishBlock(), {FloatTensor({2, 8, 9, 9}, Random(2 * 648, 25, 3.f))}, 0, -1, true);
}

// Every parameterised activation and rounding op, with attributes and with their defaults.
onnx::ModelProto ActivationZoo(bool rounding) {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {3, 5, 7});
  auto out = [&](const std::string& op, const std::string& name) {
    *g->add_output() = AnyShape(name, kF32);
    return AddNode(g, op, {"x"}, {name});
  };
  out("HardSigmoid", "hsig");
  FloatAttr(out("HardSigmoid", "hsig_ab"), "alpha", 0.3f);
  FloatAttr(g->mutable_node(g->node_size() - 1), "beta", 0.4f);
  out("HardSwish", "hswish");
  out("LeakyRelu", "leaky");
  FloatAttr(out("LeakyRelu", "leaky_a"), "alpha", 0.2f);
  out("Elu", "elu");
  FloatAttr(out("Elu", "elu_a"), "alpha", 0.5f);
  out("Selu", "selu");
  FloatAttr(out("Selu", "selu_ag"), "alpha", 1.5f);
  FloatAttr(g->mutable_node(g->node_size() - 1), "gamma", 2.f);
  out("Softplus", "softplus");
  if (rounding)
    for (const char* op : {"Sign", "Floor", "Ceil", "Round"}) out(op, op);
  return m;
}

std::vector<float> ActivationInputs() {
  std::vector<float> x = Random(105, 26, 6.f);
  const float special[] = {0.f, -3.f, 3.f, -2.5f, 2.5f, 0.5f, -0.5f, 1.5f, 40.f, -40.f};
  std::copy(std::begin(special), std::end(special), x.begin());
  return x;
}

TEST(CudaDataOpsSessionTest, ActivationsWithAttributesAndRoundingOps) {
  // 1 input; 14 outputs.
  CheckAgainstCpu(ActivationZoo(true), {FloatTensor({3, 5, 7}, ActivationInputs())}, 0, 15);
}

TEST(CudaDataOpsSessionTest, ActivationsWithAttributesInFp16) {
  CheckAgainstCpu(ActivationZoo(false), {FloatTensor({3, 5, 7}, ActivationInputs())}, 0, -1, true);
}

// DenseNet's unfolded BatchNormalization (after a Concat, before its ReLU and Conv), and the op on
// ranks 2 and 3.
onnx::ModelProto BatchNormModel() {
  onnx::ModelProto m = NewModel(15);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 6, 5, 4});
  *g->add_input() = Info("v", kF32, {-1, 6});
  *g->add_input() = Info("u", kF32, {-1, 6, 11});
  *g->add_output() = AnyShape("y", kF32);
  *g->add_output() = AnyShape("yv", kF32);
  *g->add_output() = AnyShape("yu", kF32);
  FloatInit(g, "w", {6, 6, 3, 3}, 31, 1.f);
  FloatInit(g, "scale", {6}, 32, 1.f);
  FloatInit(g, "bias", {6}, 33, 1.f);
  FloatInit(g, "mean", {6}, 34, 1.f);
  auto* var = g->add_initializer();
  var->set_name("var");
  var->set_data_type(kF32);
  var->add_dims(6);
  for (float v : {0.5f, 1.f, 2.f, 0.1f, 3.f, 0.01f}) var->add_float_data(v);
  auto* conv = AddNode(g, "Conv", {"x", "w"}, {"c"});
  IntsAttr(conv, "pads", {1, 1, 1, 1});  // c keeps x's dims: the Concat along H is valid
  auto* cat = AddNode(g, "Concat", {"x", "c"}, {"cat"});  // the BN does not fold into the Conv
  IntAttr(cat, "axis", 2);
  auto* bn = AddNode(g, "BatchNormalization", {"cat", "scale", "bias", "mean", "var"}, {"bn"});
  FloatAttr(bn, "epsilon", 1e-3f);
  AddNode(g, "Relu", {"bn"}, {"y"});
  AddNode(g, "BatchNormalization", {"v", "scale", "bias", "mean", "var"}, {"yv"});
  AddNode(g, "BatchNormalization", {"u", "scale", "bias", "mean", "var"}, {"yu"});
  return m;
}

TEST(CudaDataOpsSessionTest, BatchNormalizationPerChannelOnRanksTwoToFour) {
  // 3 inputs, 3 outputs.
  CheckAgainstCpu(BatchNormModel(),
                  {FloatTensor({2, 6, 5, 4}, Random(240, 35, 3.f)), FloatTensor({3, 6}, Random(18, 36, 3.f)),
                   FloatTensor({2, 6, 11}, Random(132, 37, 3.f))},
                  0, 6);
}

TEST(CudaDataOpsSessionTest, BatchNormalizationInFp16) {
  CheckAgainstCpu(BatchNormModel(),
                  {FloatTensor({2, 6, 5, 4}, Random(240, 38, 3.f)), FloatTensor({3, 6}, Random(18, 39, 3.f)),
                   FloatTensor({2, 6, 11}, Random(132, 40, 3.f))},
                  0, -1, true);
}

TEST(CudaDataOpsSessionTest, VariadicMaxMinSumMeanWithBroadcast) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("a", kF32, {2, 3, 4});
  *g->add_input() = Info("b", kF32, {3, 1});
  *g->add_input() = Info("c", kF32, {4});
  *g->add_input() = Info("i", kI64, {3, 1});
  *g->add_input() = Info("j", kI64, {2, 1, 1});
  for (const char* op : {"Max", "Min", "Sum", "Mean"}) {
    // The first pair already has the final shape, and (reversed) it does not.
    *g->add_output() = AnyShape(std::string(op) + "_abc", kF32);
    *g->add_output() = AnyShape(std::string(op) + "_cba", kF32);
    *g->add_output() = AnyShape(std::string(op) + "_one", kF32);
    AddNode(g, op, {"a", "b", "c"}, {std::string(op) + "_abc"});
    AddNode(g, op, {"c", "b", "a", "b"}, {std::string(op) + "_cba"});
    AddNode(g, op, {"b"}, {std::string(op) + "_one"});
  }
  *g->add_output() = AnyShape("maxi", kI64);
  AddNode(g, "Max", {"i", "j", "i"}, {"maxi"});
  std::vector<float> a = Random(24, 41, 3.f);
  a[0] = std::nanf("");
  // 5 inputs; 13 outputs.
  CheckAgainstCpu(m,
                  {FloatTensor({2, 3, 4}, a), FloatTensor({3, 1}, Random(3, 42, 3.f)), FloatTensor({4}, Random(4, 43, 3.f)),
                   Int64Tensor({3, 1}, {-5, 2, 9}), Int64Tensor({2, 1, 1}, {0, 4})},
                  0, 18);
}

// SqueezeNet's ceil-mode MaxPool: the grid rounded up (7x7 -> 3x3 with k3 s2), and the rule that
// drops a last window starting in the end padding (5 with k2 s2 p1: 4 -> 3).
onnx::ModelProto CeilMaxPoolModel() {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 4, 8, 8});
  *g->add_input() = Info("z", kF32, {-1, 3, 5, 5});
  *g->add_output() = AnyShape("y", kF32);
  *g->add_output() = AnyShape("yz", kF32);
  FloatInit(g, "w", {4, 4, 2, 2}, 51, 1.f);
  AddNode(g, "Conv", {"x", "w"}, {"c"});  // 7x7, computed on the GPU (NHWC where enabled)
  AddNode(g, "Relu", {"c"}, {"r"});
  auto* p1 = AddNode(g, "MaxPool", {"r"}, {"y"});
  IntsAttr(p1, "kernel_shape", {3, 3});
  IntsAttr(p1, "strides", {2, 2});
  IntAttr(p1, "ceil_mode", 1);
  auto* p2 = AddNode(g, "MaxPool", {"z"}, {"yz"});
  IntsAttr(p2, "kernel_shape", {2, 2});
  IntsAttr(p2, "strides", {2, 2});
  IntsAttr(p2, "pads", {1, 1, 1, 1});
  IntAttr(p2, "ceil_mode", 1);
  return m;
}

TEST(CudaDataOpsSessionTest, MaxPoolWithCeilMode) {
  onnx::ModelProto m = CeilMaxPoolModel();
  const std::vector<Value> in = {FloatTensor({2, 4, 8, 8}, Random(512, 52, 3.f)),
                                 FloatTensor({2, 3, 5, 5}, Random(150, 53, 3.f))};
  CheckAgainstCpu(m, in, 0, 4);
  Result cpu = RunOn(m, Device::kCpu, in);
  ASSERT_EQ(cpu.shapes.size(), 2u);
  EXPECT_EQ(cpu.shapes[0], (std::vector<int64_t>{2, 4, 3, 3}));
  EXPECT_EQ(cpu.shapes[1], (std::vector<int64_t>{2, 3, 3, 3}));
}

TEST(CudaDataOpsSessionTest, MaxPoolWithCeilModeInFp16Channelslast) {
  CheckAgainstCpu(CeilMaxPoolModel(),
                  {FloatTensor({1, 4, 8, 8}, Random(256, 54, 3.f)), FloatTensor({1, 3, 5, 5}, Random(75, 55, 3.f))}, 0,
                  -1, true);
}

// ---- Resize (runtime/cuda_resize.cc, kernels/cuda/resize.cu) ----

void FloatVectorInit(onnx::GraphProto* g, const std::string& name, const std::vector<float>& v) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(kF32);
  t->add_dims(static_cast<int64_t>(v.size()));
  for (float x : v) t->add_float_data(x);
}

struct ResizeForm {
  std::string mode, ctm, nearest;
  std::vector<float> scales;
  std::vector<int64_t> sizes;
  std::vector<float> roi;
  bool exclude_outside = false;
  bool antialias = false;
};

onnx::ModelProto ResizeModel(const ResizeForm& f, const std::vector<int64_t>& x_dims) {
  onnx::ModelProto m = NewModel(19);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, x_dims);
  *g->add_output() = AnyShape("y", kF32);
  if (!f.roi.empty()) FloatVectorInit(g, "roi", f.roi);
  if (!f.scales.empty()) FloatVectorInit(g, "scales", f.scales);
  if (!f.sizes.empty()) Int64Init(g, "sizes", {static_cast<int64_t>(f.sizes.size())}, f.sizes);
  std::vector<std::string> in = {"x", f.roi.empty() ? "" : "roi", f.scales.empty() ? "" : "scales"};
  if (!f.sizes.empty()) in.push_back("sizes");
  auto* n = AddNode(g, "Resize", in, {"y"});
  StringAttr(n, "mode", f.mode);
  if (!f.ctm.empty()) StringAttr(n, "coordinate_transformation_mode", f.ctm);
  if (!f.nearest.empty()) StringAttr(n, "nearest_mode", f.nearest);
  if (f.exclude_outside) IntAttr(n, "exclude_outside", 1);
  if (f.antialias) IntAttr(n, "antialias", 1);
  if (f.ctm == "tf_crop_and_resize") FloatAttr(n, "extrapolation_value", -7.f);
  return m;
}

TEST(CudaDataOpsSessionTest, ResizeInEveryModeRunsOnTheGpu) {
  const std::vector<ResizeForm> forms = {
      {"nearest", "asymmetric", "floor", {1, 1, 2, 2}, {}, {}},
      {"nearest", "half_pixel", "round_prefer_ceil", {1, 1, 0.5f, 1.5f}, {}, {}},
      {"linear", "half_pixel", "", {}, {2, 3, 17, 5}, {}},
      {"linear", "align_corners", "", {1, 1, 1.7f, 0.6f}, {}, {}},
      {"linear", "pytorch_half_pixel", "", {1, 1, 2, 2}, {}, {}},
      {"cubic", "half_pixel", "", {1, 1, 1.5f, 2.5f}, {}, {}, true},
      {"cubic", "asymmetric", "", {1, 1, 0.75f, 2}, {}, {}},
      {"linear", "tf_crop_and_resize", "", {}, {2, 3, 6, 6}, {0, 0, -0.2f, 0.1f, 1, 1, 0.8f, 1.3f}},
  };
  const std::vector<int64_t> dims = {2, 3, 10, 12};
  int k = 0;
  for (const ResizeForm& f : forms) {
    SCOPED_TRACE(f.mode + " " + f.ctm);
    const std::vector<Value> in = {FloatTensor(dims, Random(static_cast<size_t>(Count(dims)), 60 + k++, 3.f))};
    CheckAgainstCpu(ResizeModel(f, dims), in, 0, 2);
    CheckAgainstCpu(ResizeModel(f, dims), in, 0, -1, true);
  }
  // Nearest on a source coordinate at the rounding edge (1.50000012 for output 5; 1.5 if the
  // kernel fused its multiply-adds: tests/engine/ops/resize_element_test.cc): a pixel off would be
  // far outside the tolerance.
  const std::vector<int64_t> edge = {1, 2, 4, 4};
  CheckAgainstCpu(ResizeModel({"nearest", "tf_crop_and_resize", "round_prefer_floor", {}, {1, 2, 11, 11},
                               {0, 0, 0.4f, 0.4f, 1, 1, 0.6f, 0.6f}},
                              edge),
                  {FloatTensor(edge, Random(static_cast<size_t>(Count(edge)), 75, 3.f))}, 0, 2);
}

// Antialiased downscales on the GPU (filters of up to 16 taps an axis; the copies made are the
// planned two, so no run fell back); a filter wider than that (a tenth, linear: 20 taps) is placed
// there too and falls back to the CPU op at run time, with the same result.
TEST(CudaDataOpsSessionTest, ResizeAntialiasRunsOnTheGpu) {
  const std::vector<int64_t> dims = {2, 3, 24, 20};
  const std::vector<ResizeForm> forms = {
      {"linear", "half_pixel", "", {1, 1, 0.5f, 0.5f}, {}, {}, false, true},
      {"linear", "pytorch_half_pixel", "", {1, 1, 0.3f, 0.7f}, {}, {}, false, true},
      {"cubic", "half_pixel", "", {}, {2, 3, 7, 9}, {}, false, true},
      {"cubic", "align_corners", "", {1, 1, 0.4f, 1.5f}, {}, {}, false, true},
  };
  int k = 0;
  for (const ResizeForm& f : forms) {
    SCOPED_TRACE(f.mode + " " + f.ctm);
    const std::vector<Value> in = {FloatTensor(dims, Random(static_cast<size_t>(Count(dims)), 120 + k++, 3.f))};
    CheckAgainstCpu(ResizeModel(f, dims), in, 0, 2);
    CheckAgainstCpu(ResizeModel(f, dims), in, 0, -1, true);
  }
  SCOPED_TRACE("a tenth, linear");
  CheckAgainstCpu(ResizeModel({"linear", "half_pixel", "", {1, 1, 0.1f, 0.1f}, {}, {}, false, true}, dims),
                  {FloatTensor(dims, Random(static_cast<size_t>(Count(dims)), 130, 3.f))}, 0, -1);
}

// A QDQ block as onnxruntime.quantization writes one (the activations quantized per tensor around a
// float MatMul): every node on the GPU, against the CPU. x is a multiple of half the first scale
// (0.125), so x / scale lands on .5 ties (rounded to even) and past both ends of uint8 (clamped);
// the first quantized value is an output too, compared exactly.
TEST(CudaDataOpsSessionTest, QuantizeDequantizeAroundAMatMulRunOnTheGpu) {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {4, 16});
  *g->add_output() = AnyShape("q", onnx::TensorProto::UINT8);
  *g->add_output() = AnyShape("y", kF32);
  ScalarInit(g, "s1", 0.125f);
  ScalarInit(g, "s2", 0.25f);
  for (const auto& [name, v] : {std::pair<const char*, uint8_t>{"z1", 128}, {"z2", 100}}) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::UINT8);
    t->set_raw_data(&v, 1);
  }
  FloatInit(g, "W", {16, 8}, 140, 0.5f);
  AddNode(g, "QuantizeLinear", {"x", "s1", "z1"}, {"q"});
  AddNode(g, "DequantizeLinear", {"q", "s1", "z1"}, {"d"});
  AddNode(g, "MatMul", {"d", "W"}, {"mm"});
  AddNode(g, "QuantizeLinear", {"mm", "s2", "z2"}, {"q2"});
  AddNode(g, "DequantizeLinear", {"q2", "s2", "z2"}, {"y"});
  std::vector<float> x(64);
  std::mt19937 rng(141);
  std::uniform_int_distribution<int> k(-300, 300);
  for (float& v : x) v = static_cast<float>(k(rng)) * 0.0625f;
  CheckAgainstCpu(m, {FloatTensor({4, 16}, x)}, 0, 3);
  CheckAgainstCpu(m, {FloatTensor({4, 16}, x)}, 0, -1, true);
}

// A feature pyramid's top-down step: the coarse map upsampled 2x (nearest) and added to the lateral
// 1x1 convolution, whose output is channels-last in fp16 (the Resize reads NCHW back).
TEST(CudaDataOpsSessionTest, FeaturePyramidUpsampleAddStaysOnTheGpu) {
  onnx::ModelProto m = NewModel(19);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 8, 16, 16});
  *g->add_output() = AnyShape("y", kF32);
  FloatInit(g, "w_lat", {8, 8, 1, 1}, 71);
  FloatInit(g, "w_down", {8, 8, 3, 3}, 72);
  FloatVectorInit(g, "scales", {1, 1, 2, 2});
  auto* down = AddNode(g, "Conv", {"x", "w_down"}, {"coarse"});
  IntsAttr(down, "strides", {2, 2});
  IntsAttr(down, "pads", {1, 1, 1, 1});
  AddNode(g, "Resize", {"coarse", "", "scales"}, {"up"});
  AddNode(g, "Conv", {"x", "w_lat"}, {"lat"});
  AddNode(g, "Add", {"up", "lat"}, {"y"});
  const std::vector<Value> in = {FloatTensor({2, 8, 16, 16}, Random(4096, 73, 2.f))};
  CheckAgainstCpu(m, in, 0, 2);
  CheckAgainstCpu(m, in, 0, -1, true);
}

// tf2onnx's explicit padding before a Conv (Pad with a constant, then an unpadded Conv), Pad in
// every mode (after a Conv too: channels-last in fp16, read back as NCHW), Pad with axes on int64
// data, and Tile: all on the GPU, their pads / repeats read on the host.
onnx::ModelProto PadTileModel() {
  onnx::ModelProto m = NewModel(19);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 3, 8, 8});
  *g->add_input() = Info("i", kI64, {2, 3});
  for (const char* o : {"y", "reflect", "edge", "wrap", "tiled"}) *g->add_output() = AnyShape(o, kF32);
  *g->add_output() = AnyShape("ipad", kI64);
  FloatInit(g, "w", {4, 3, 3, 3}, 80);
  FloatInit(g, "w1", {3, 3, 1, 1}, 81);
  Int64Init(g, "pads", {8}, {0, 0, 1, 2, 0, 0, 2, 1});
  Int64Init(g, "pads_big", {8}, {0, 1, 3, 2, 1, 0, 2, 3});
  Int64Init(g, "ipads", {2}, {1, 2});
  Int64Init(g, "iaxes", {1}, {-1});
  Int64Init(g, "repeats", {4}, {1, 2, 1, 3});
  FloatScalar(g, "cv", 0.5f);
  AddNode(g, "Pad", {"x", "pads", "cv"}, {"padded"});
  AddNode(g, "Conv", {"padded", "w"}, {"c"});
  AddNode(g, "Relu", {"c"}, {"y"});
  AddNode(g, "Conv", {"x", "w1"}, {"c1"});
  StringAttr(AddNode(g, "Pad", {"c1", "pads"}, {"reflect"}), "mode", "reflect");
  StringAttr(AddNode(g, "Pad", {"x", "pads_big"}, {"edge"}), "mode", "edge");
  StringAttr(AddNode(g, "Pad", {"x", "pads_big"}, {"wrap"}), "mode", "wrap");
  AddNode(g, "Tile", {"x", "repeats"}, {"tiled"});
  StringAttr(AddNode(g, "Pad", {"i", "ipads", "", "iaxes"}, {"ipad"}), "mode", "edge");
  return m;
}

TEST(CudaDataOpsSessionTest, PadInEveryModeAndTileRunOnTheGpu) {
  const std::vector<Value> in = {FloatTensor({2, 3, 8, 8}, Random(384, 82, 2.f)),
                                 Int64Tensor({2, 3}, {1, -2, 3, 40, 5, -6})};
  // 2 inputs, 6 outputs.
  CheckAgainstCpu(PadTileModel(), in, 0, 8);
  CheckAgainstCpu(PadTileModel(), in, 0, -1, true);
}

TEST(CudaDataOpsSessionTest, PadWithAttributesBeforeOpset11) {
  onnx::ModelProto m = NewModel(10);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {2, 3, 5});
  *g->add_output() = AnyShape("y", kF32);
  *g->add_output() = AnyShape("z", kF32);
  auto* pad = AddNode(g, "Pad", {"x"}, {"y"});
  IntsAttr(pad, "pads", {0, 1, 2, 1, 0, -1});
  FloatAttr(pad, "value", -3.5f);
  auto* edge = AddNode(g, "Pad", {"x"}, {"z"});
  IntsAttr(edge, "pads", {1, 0, 0, 0, 2, 3});
  StringAttr(edge, "mode", "edge");
  const std::vector<Value> in = {FloatTensor({2, 3, 5}, Random(30, 83, 2.f))};
  CheckAgainstCpu(m, in, 0, 3);
  CheckAgainstCpu(m, in, 0, -1, true);
}

// The activations without a kernel of their own until now (Mish, Sin, Cos, Softsign,
// ThresholdedRelu, Celu) with their defaults and attributes, and PRelu with its slope broadcast
// per channel, along the last axis, as one element and at X's full shape; then a Conv + PRelu +
// Mish block (channels-last in fp16: the [C, 1, 1] slope brings the value back to NCHW).
onnx::ModelProto ActivationZooTwo() {
  onnx::ModelProto m = NewModel(18);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {3, 5, 7});
  *g->add_input() = Info("img", kF32, {-1, 4, 6, 6});
  FloatInit(g, "s_chan", {5, 1}, 90);
  FloatInit(g, "s_last", {7}, 91);
  FloatInit(g, "s_one", {1}, 92);
  FloatInit(g, "s_full", {3, 5, 7}, 93);
  FloatInit(g, "s_conv", {4, 1, 1}, 94);
  FloatInit(g, "w", {4, 4, 3, 3}, 95);
  auto out = [&](const std::string& op, const std::string& name, const std::vector<std::string>& in) {
    *g->add_output() = AnyShape(name, kF32);
    return AddNode(g, op, in, {name});
  };
  for (const char* op : {"Mish", "Sin", "Cos", "Softsign", "ThresholdedRelu", "Celu"}) out(op, op, {"x"});
  FloatAttr(out("ThresholdedRelu", "trelu_a", {"x"}), "alpha", 2.5f);
  FloatAttr(out("Celu", "celu_a", {"x"}), "alpha", 0.4f);
  out("PRelu", "prelu_chan", {"x", "s_chan"});
  out("PRelu", "prelu_last", {"x", "s_last"});
  out("PRelu", "prelu_one", {"x", "s_one"});
  out("PRelu", "prelu_full", {"x", "s_full"});
  auto* conv = AddNode(g, "Conv", {"img", "w"}, {"c"});
  IntsAttr(conv, "pads", {1, 1, 1, 1});
  AddNode(g, "PRelu", {"c", "s_conv"}, {"pc"});
  out("Mish", "y", {"pc"});
  return m;
}

TEST(CudaDataOpsSessionTest, MoreActivationsAndPReluRunOnTheGpu) {
  const std::vector<Value> in = {FloatTensor({3, 5, 7}, ActivationInputs()),
                                 FloatTensor({2, 4, 6, 6}, Random(288, 96, 3.f))};
  // 2 inputs, 13 outputs.
  CheckAgainstCpu(ActivationZooTwo(), in, 0, 15);
  CheckAgainstCpu(ActivationZooTwo(), in, 0, -1, true);
}

// Before opset 7 a 1-D slope of X's channel count applies per channel (dim 1).
TEST(CudaDataOpsSessionTest, PReluPerChannelSlopeBeforeOpset7) {
  onnx::ModelProto m = NewModel(6);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {2, 4, 3, 5});
  *g->add_output() = AnyShape("y", kF32);
  FloatInit(g, "slope", {4}, 97);
  AddNode(g, "PRelu", {"x", "slope"}, {"y"});
  CheckAgainstCpu(m, {FloatTensor({2, 4, 3, 5}, Random(120, 98, 3.f))}, 0, 2);
}

// A classifier's head (LogSoftmax, then ArgMax over the classes), LogSoftmax before opset 13
// (flattened at its axis), ArgMax / ArgMin over inner axes with ties and select_last_index, and
// the further trailing-axes reductions, by attribute (opset 13) and by constant input (opset 18).
onnx::ModelProto ArgAndReduceModel(int opset) {
  onnx::ModelProto m = NewModel(opset);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 10});
  *g->add_input() = Info("t", kF32, {2, 3, 4, 5});
  *g->add_output() = AnyShape("logp", kF32);
  *g->add_output() = AnyShape("cls", kI64);
  AddNode(g, "LogSoftmax", {"x"}, {"logp"});
  auto* am = AddNode(g, "ArgMax", {"logp"}, {"cls"});
  IntAttr(am, "axis", 1);
  IntAttr(am, "keepdims", 0);
  *g->add_output() = AnyShape("lsm_flat", kF32);
  IntAttr(AddNode(g, "LogSoftmax", {"t"}, {"lsm_flat"}), "axis", opset < 13 ? 1 : -1);
  *g->add_output() = AnyShape("amax_last", kI64);
  *g->add_output() = AnyShape("amin_first", kI64);
  auto* a1 = AddNode(g, "ArgMax", {"t"}, {"amax_last"});
  IntAttr(a1, "axis", -2);
  if (opset >= 12) IntAttr(a1, "select_last_index", 1);
  auto* a2 = AddNode(g, "ArgMin", {"t"}, {"amin_first"});
  IntAttr(a2, "axis", 1);
  if (opset >= 18) Int64Init(g, "axes", {2}, {-1, -2});
  for (const char* op : {"ReduceMin", "ReduceProd", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare"}) {
    const std::string name = std::string(op) + "_out";
    *g->add_output() = AnyShape(name, kF32);
    auto* r = AddNode(g, op, opset >= 18 ? std::vector<std::string>{"t", "axes"} : std::vector<std::string>{"t"}, {name});
    if (opset < 18) IntsAttr(r, "axes", {2, 3});
    if (std::string(op) == "ReduceL2") IntAttr(r, "keepdims", 0);
  }
  return m;
}

std::vector<Value> ArgAndReduceInputs() {
  // x: each row's logits 0.5 apart, so that fp16 finds the same class; t: -1, 0 and 1 only, so
  // that ArgMax / ArgMin meet ties (exact in fp16 too) and ReduceProd stays in fp16's range.
  std::vector<float> x(30);
  for (int i = 0; i < 30; ++i) x[i] = static_cast<float>((i * 7 + i / 10) % 10) * 0.5f - 2.f;
  std::vector<float> t = Random(120, 101, 1.4f);
  for (float& v : t) v = std::round(v);
  return {FloatTensor({3, 10}, x), FloatTensor({2, 3, 4, 5}, t)};
}

TEST(CudaDataOpsSessionTest, LogSoftmaxArgMaxArgMinAndReductionsRunOnTheGpu) {
  for (int opset : {11, 13, 18}) {
    SCOPED_TRACE(opset);
    // 2 inputs, 10 outputs.
    CheckAgainstCpu(ArgAndReduceModel(opset), ArgAndReduceInputs(), 0, 12);
  }
}

TEST(CudaDataOpsSessionTest, LogSoftmaxArgMaxAndReductionsInFp16) {
  // Ties in fp16 as in fp32 (small integers are exact); LogSoftmax of x feeds the ArgMax.
  CheckAgainstCpu(ArgAndReduceModel(18), ArgAndReduceInputs(), 0, -1, true);
}

// A style-transfer block (Conv, InstanceNormalization, Relu; rank 3 too), and a super-resolution
// tail: DepthToSpace in both modes (the pixel shuffle) after a Conv, and SpaceToDepth.
onnx::ModelProto InstanceNormDepthSpaceModel() {
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 4, 6, 8});
  *g->add_input() = Info("s", kF32, {-1, 4, 33});
  for (const char* o : {"y", "ys", "dcr", "crd", "s2d"}) *g->add_output() = AnyShape(o, kF32);
  FloatInit(g, "w", {8, 4, 3, 3}, 110);
  FloatInit(g, "scale", {8}, 111, 2.f);
  FloatInit(g, "bias", {8}, 112);
  FloatInit(g, "scale4", {4}, 113, 2.f);
  FloatInit(g, "bias4", {4}, 114);
  auto* conv = AddNode(g, "Conv", {"x", "w"}, {"c"});
  IntsAttr(conv, "pads", {1, 1, 1, 1});
  FloatAttr(AddNode(g, "InstanceNormalization", {"c", "scale", "bias"}, {"in"}), "epsilon", 1e-3f);
  AddNode(g, "Relu", {"in"}, {"y"});
  AddNode(g, "InstanceNormalization", {"s", "scale4", "bias4"}, {"ys"});
  IntAttr(AddNode(g, "DepthToSpace", {"c"}, {"dcr"}), "blocksize", 2);
  auto* crd = AddNode(g, "DepthToSpace", {"c"}, {"crd"});
  IntAttr(crd, "blocksize", 2);
  StringAttr(crd, "mode", "CRD");
  IntAttr(AddNode(g, "SpaceToDepth", {"x"}, {"s2d"}), "blocksize", 2);
  return m;
}

TEST(CudaDataOpsSessionTest, InstanceNormalizationAndDepthToSpaceRunOnTheGpu) {
  const std::vector<Value> in = {FloatTensor({2, 4, 6, 8}, Random(384, 115, 3.f)),
                                 FloatTensor({3, 4, 33}, Random(396, 116, 3.f))};
  // 2 inputs, 5 outputs.
  CheckAgainstCpu(InstanceNormDepthSpaceModel(), in, 0, 7);
  CheckAgainstCpu(InstanceNormDepthSpaceModel(), in, 0, -1, true);
}

// ---- ConvTranspose (runtime/cuda_conv_transpose.cc: GEMM + gather) ----

// A U-Net decoder step: the coarse map upsampled by a 2x2 / stride 2 ConvTranspose, joined with the
// skip connection, then a 3x3 Conv + Relu.
TEST(CudaDataOpsSessionTest, UNetDecoderStepRunsWhollyOnTheGpu) {
  onnx::ModelProto m = NewModel(17);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("coarse", kF32, {-1, 16, 8, 8});
  *g->add_input() = Info("skip", kF32, {-1, 8, 16, 16});
  *g->add_output() = AnyShape("y", kF32);
  FloatInit(g, "w_up", {16, 8, 2, 2}, 81);
  FloatInit(g, "b_up", {8}, 82);
  FloatInit(g, "w_c", {8, 16, 3, 3}, 83);
  auto* up = AddNode(g, "ConvTranspose", {"coarse", "w_up", "b_up"}, {"up"});
  IntsAttr(up, "strides", {2, 2});
  auto* cat = AddNode(g, "Concat", {"up", "skip"}, {"cat"});
  IntAttr(cat, "axis", 1);
  auto* conv = AddNode(g, "Conv", {"cat", "w_c"}, {"c"});
  IntsAttr(conv, "pads", {1, 1, 1, 1});
  AddNode(g, "Relu", {"c"}, {"y"});
  for (int64_t batch : {1, 3}) {
    const std::vector<Value> in = {FloatTensor({batch, 16, 8, 8}, Random(batch * 1024, 84, 2.f)),
                                   FloatTensor({batch, 8, 16, 16}, Random(batch * 2048, 85, 2.f))};
    CheckAgainstCpu(m, in, 0, 3);
    CheckAgainstCpu(m, in, 0, -1, true);
  }
}

// Groups, dilations, asymmetric pads and output_padding, 1-D and 3-D.
TEST(CudaDataOpsSessionTest, ConvTransposeFormsMatchTheCpu) {
  struct Form {
    std::vector<int64_t> x, w;
    int64_t group;
    std::vector<int64_t> strides, dilations, pads, output_padding;
  };
  const std::vector<Form> forms = {
      {{2, 6, 5, 7}, {6, 2, 3, 3}, 3, {2, 1}, {1, 2}, {0, 2, 1, 0}, {1, 0}},
      {{1, 4, 6, 6}, {4, 1, 4, 4}, 4, {2, 2}, {}, {1, 1, 1, 1}, {}},
      {{3, 4, 9}, {4, 2, 5}, 2, {3}, {2}, {1, 3}, {}},
      {{1, 2, 3, 4, 3}, {2, 2, 2, 3, 2}, 1, {2, 1, 2}, {1, 1, 2}, {0, 1, 0, 1, 0, 1}, {}},
  };
  int k = 0;
  for (const Form& f : forms) {
    onnx::ModelProto m = NewModel(17);
    auto* g = m.mutable_graph();
    *g->add_input() = Info("x", kF32, f.x);
    *g->add_output() = AnyShape("y", kF32);
    FloatInit(g, "w", f.w, 90 + k);
    FloatInit(g, "b", {f.w[1] * f.group}, 95 + k);
    auto* n = AddNode(g, "ConvTranspose", {"x", "w", "b"}, {"y"});
    if (f.group != 1) IntAttr(n, "group", f.group);
    if (!f.strides.empty()) IntsAttr(n, "strides", f.strides);
    if (!f.dilations.empty()) IntsAttr(n, "dilations", f.dilations);
    if (!f.pads.empty()) IntsAttr(n, "pads", f.pads);
    if (!f.output_padding.empty()) IntsAttr(n, "output_padding", f.output_padding);
    const std::vector<Value> in = {FloatTensor(f.x, Random(static_cast<size_t>(Count(f.x)), 100 + k++, 2.f))};
    CheckAgainstCpu(m, in, 0, 2);
    CheckAgainstCpu(m, in, 0, -1, true);
  }
}

// GroupNormalization as a diffusion UNet's ResNet block has it (Conv, GroupNorm, Sigmoid-weighted
// activation), at opset 18 (scale and B per group) and 21 (per channel).
onnx::ModelProto GroupNormModel(int opset) {
  onnx::ModelProto m = NewModel(opset);
  auto* g = m.mutable_graph();
  *g->add_input() = Info("x", kF32, {-1, 8, 6, 6});
  *g->add_output() = AnyShape("y", kF32);
  FloatInit(g, "w", {16, 8, 3, 3}, 150);
  const int64_t params = opset < 21 ? 4 : 16;
  FloatInit(g, "scale", {params}, 151, 1.5f);
  FloatInit(g, "bias", {params}, 152);
  auto* conv = AddNode(g, "Conv", {"x", "w"}, {"c"});
  IntsAttr(conv, "pads", {1, 1, 1, 1});
  auto* gn = AddNode(g, "GroupNormalization", {"c", "scale", "bias"}, {"n"});
  IntAttr(gn, "num_groups", 4);
  FloatAttr(gn, "epsilon", 1e-4f);
  AddNode(g, "Sigmoid", {"n"}, {"sg"});
  AddNode(g, "Mul", {"n", "sg"}, {"y"});
  return m;
}

TEST(CudaDataOpsSessionTest, GroupNormalizationRunsOnTheGpuAtOpsets18And21) {
  for (int opset : {18, 21}) {
    SCOPED_TRACE("opset " + std::to_string(opset));
    const std::vector<Value> in = {FloatTensor({2, 8, 6, 6}, Random(576, 153, 2.f))};
    CheckAgainstCpu(GroupNormModel(opset), in, 0, 2);
    CheckAgainstCpu(GroupNormModel(opset), in, 0, -1, true);
  }
}

}  // namespace
}  // namespace onnxd
