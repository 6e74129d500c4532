// ai.onnx.ml kernels on the tutorial's random forest (sklearn RF on iris, via skl2onnx), compared with
// onnxruntime's outputs for the same rows.
#include <gtest/gtest.h>

#include <cmath>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "alloc_hook.h"
#include "onnx/onnx-ml.pb.h"
#include "onnxd/engine/engine.h"

namespace onnxd {
namespace {

const std::string kRfModel = std::string(ONNXD_SHARED_MODELS) + "/tutorial/sklearn-rf-iris/model.onnx";

// onnxruntime 1.32 on float_input = [[4.5,4.9,5.1,5.4],[1.5,2.9,3.1,1.4],[7.5,6.9,8.1,6.4]].
const int64_t kLabels[3] = {2, 1, 2};
const float kProbs[3][3] = {{0.03999999910593033f, 0.10999998450279236f, 0.8499994874000549f},
                            {0.029999999329447746f, 0.8299995064735413f, 0.13999998569488525f},
                            {0.0f, 0.0f, 0.9999993443489075f}};

Tensor RfInput() {
  return Tensor::FromVector<float>({4.5f, 4.9f, 5.1f, 5.4f, 1.5f, 2.9f, 3.1f, 1.4f, 7.5f, 6.9f, 8.1f, 6.4f}, Shape{3, 4});
}

void CheckRfOutputs(const std::vector<Value>& out) {
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[0].is_tensor());
  ASSERT_EQ(out[0].tensor().dtype(), DataType::kInt64);
  ASSERT_EQ(out[0].tensor().shape(), (Shape{3}));
  for (int r = 0; r < 3; ++r) EXPECT_EQ(out[0].tensor().data<int64_t>()[r], kLabels[r]) << "row " << r;
  ASSERT_TRUE(out[1].is_sequence());
  ASSERT_EQ(out[1].sequence().size(), 3u);
  for (int r = 0; r < 3; ++r) {
    const Value& m = out[1].sequence()[r];
    ASSERT_TRUE(m.is_map());
    ASSERT_EQ(m.map().keys.dtype(), DataType::kInt64);
    ASSERT_EQ(m.map().values.dtype(), DataType::kFloat);
    ASSERT_EQ(m.map().keys.num_elements(), 3);
    for (int c = 0; c < 3; ++c) {
      EXPECT_EQ(m.map().keys.data<int64_t>()[c], c);
      EXPECT_NEAR(m.map().values.data<float>()[c], kProbs[r][c], 1e-6) << "row " << r << " class " << c;
    }
  }
}

std::vector<Value> RunModel(const std::string& bytes, Status* st) {
  Engine engine;
  auto model = engine.CompileBytes(bytes, "");
  if (!model.ok()) {
    *st = model.status();
    return {};
  }
  auto session = (*model)->CreateSession();
  std::vector<Value> in{Value(RfInput())}, out;
  for (int i = 0; i < 3; ++i) {  // record run, then planned runs
    *st = session->Run(in, &out);
    if (!st->ok()) return {};
  }
  return out;
}

TEST(MlOpsTest, RandomForestIrisMatchesOnnxruntime) {
  std::ifstream f(kRfModel, std::ios::binary);
  ASSERT_TRUE(f.good()) << kRfModel;
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  Status st;
  auto out = RunModel(bytes, &st);
  if (st.code() == StatusCode::kUnimplemented && st.message().find("Cast") != std::string::npos)
    GTEST_SKIP() << "Cast is not implemented yet";
  ASSERT_TRUE(st.ok()) << st.ToString();
  CheckRfOutputs(out);
}

TEST(MlOpsTest, RandomForestIrisWithoutCast) {
  onnx::ModelProto m;
  std::ifstream f(kRfModel, std::ios::binary);
  ASSERT_TRUE(m.ParseFromIstream(&f));
  auto* g = m.mutable_graph();
  std::string cast_in, cast_out;
  for (int i = 0; i < g->node_size(); ++i) {
    if (g->node(i).op_type() != "Cast") continue;
    cast_in = g->node(i).input(0);
    cast_out = g->node(i).output(0);
    g->mutable_node()->DeleteSubrange(i, 1);
    break;
  }
  ASSERT_FALSE(cast_in.empty());
  for (auto& n : *g->mutable_node())
    for (auto& o : *n.mutable_output())
      if (o == cast_in) o = cast_out;
  Status st;
  auto out = RunModel(m.SerializeAsString(), &st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  CheckRfOutputs(out);
}

}  // namespace
}  // namespace onnxd

namespace onnxd {
namespace {

// Timing helper, skipped unless ONNXD_ML_BENCH_MODEL names a model with one float [N, F] input;
// ONNXD_ML_BENCH_INPUT names a .pb input for it.
TEST(MlOpsTest, BenchFromEnvironment) {
  const char* path = std::getenv("ONNXD_ML_BENCH_MODEL");
  const char* input = std::getenv("ONNXD_ML_BENCH_INPUT");
  if (path == nullptr || input == nullptr) GTEST_SKIP() << "set ONNXD_ML_BENCH_MODEL and ONNXD_ML_BENCH_INPUT";
  Engine engine;
  auto model = engine.CompileFile(path);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto session = (*model)->CreateSession();
  onnx::TensorProto tp;
  std::ifstream f(input, std::ios::binary);
  ASSERT_TRUE(tp.ParseFromIstream(&f));
  Shape s;
  for (auto d : tp.dims()) s.PushBack(d);
  Tensor x = Tensor::Allocate(DataType::kFloat, s);
  std::memcpy(x.raw_data(), tp.raw_data().data(), x.bytes());
  std::vector<Value> in{Value(x)}, out;
  ASSERT_TRUE(session->Run(in, &out).ok());
  const int iters = 20;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) ASSERT_TRUE(session->Run(in, &out).ok());
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / iters;
  std::printf("onnxd: %.3f ms per run\n", ms);
}

}  // namespace
}  // namespace onnxd

namespace onnxd {
namespace {

// The tree classifier alone (ZipMap and Cast removed): steady-state runs allocate nothing.
TEST(MlOpsTest, TreeEnsembleClassifierSteadyStateMakesNoHeapAllocation) {
  onnx::ModelProto m;
  std::ifstream f(kRfModel, std::ios::binary);
  ASSERT_TRUE(m.ParseFromIstream(&f));
  auto* g = m.mutable_graph();
  onnx::NodeProto tree;
  for (const auto& n : g->node())
    if (n.op_type() == "TreeEnsembleClassifier") tree = n;
  g->clear_node();
  *g->add_node() = tree;
  g->clear_output();
  for (int i = 0; i < 2; ++i) {
    auto* o = g->add_output();
    o->set_name(tree.output(i));
    auto* t = o->mutable_type()->mutable_tensor_type();
    t->set_elem_type(i == 0 ? onnx::TensorProto::INT64 : onnx::TensorProto::FLOAT);
  }
  Engine engine;
  auto model = engine.CompileBytes(m.SerializeAsString(), "");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto session = (*model)->CreateSession();
  std::vector<Value> in{Value(RfInput())}, out;
  out.reserve(2);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(session->Run(in, &out).ok());
  testing::StartCountingAllocations();
  Status st;
  for (int i = 0; i < 5 && st.ok(); ++i) st = session->Run(in, &out);
  long allocations = testing::StopCountingAllocations();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(allocations, 0);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(out[0].tensor().data<int64_t>()[r], kLabels[r]);
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(out[1].tensor().data<float>()[r * 3 + c], kProbs[r][c], 1e-6);
  }
}

}  // namespace
}  // namespace onnxd
