#include "onnxd/engine/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <thread>

#include "alloc_hook.h"
#include "onnxd/engine/value_io.h"
#include "test_models.h"
#include "value_compare.h"

namespace onnxd {
namespace {

const std::string kShared = ONNXD_SHARED_MODELS;

int Argmax(const Tensor& t) {
  const float* d = t.data<float>();
  return static_cast<int>(std::max_element(d, d + t.num_elements()) - d);
}

TEST(TutorialModelsTest, MnistZooReproducesItsTestDataSets) {
  Engine engine;
  auto model = engine.CompileFile(kShared + "/tutorial/mnist-zoo-opset7/model.onnx");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto session = (*model)->CreateSession();
  const int expected_argmax[] = {2, 0, 9};
  for (int k = 0; k < 3; ++k) {
    std::string dir = kShared + "/tutorial/mnist-zoo-opset7/test_data_set_" + std::to_string(k);
    auto input = ReadValueFile(dir + "/input_0.pb", &(*model)->inputs()[0].type);
    auto expected = ReadValueFile(dir + "/output_0.pb", nullptr);
    ASSERT_TRUE(input.ok() && expected.ok());
    std::vector<Value> in{*input}, out;
    Status st = session->Run(in, &out);
    ASSERT_TRUE(st.ok()) << st.ToString();
    // Logits are around 1e3: relative tolerance.
    EXPECT_EQ(testing::CompareValues(out[0], *expected, 1e-4, 0), "") << "data set " << k;
    EXPECT_EQ(Argmax(out[0].tensor()), expected_argmax[k]);
  }
}

// The mnist-zoo model compiled, one session of it, and its data set 0 input.
struct ZooSession {
  std::shared_ptr<const CompiledModel> model;
  std::unique_ptr<Session> session;
  std::vector<Value> in;
};

void OpenZooSession(Engine& engine, ZooSession* z) {
  auto model = engine.CompileFile(kShared + "/tutorial/mnist-zoo-opset7/model.onnx");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  z->model = *model;
  z->session = z->model->CreateSession();
  auto input = ReadValueFile(kShared + "/tutorial/mnist-zoo-opset7/test_data_set_0/input_0.pb", nullptr);
  ASSERT_TRUE(input.ok());
  z->in = {*input};
}

TEST(SessionTest, SteadyStateRunMakesNoHeapAllocation) {
  Engine engine;
  ZooSession z;
  ASSERT_NO_FATAL_FAILURE(OpenZooSession(engine, &z));
  auto& session = z.session;
  const std::vector<Value>& in = z.in;
  std::vector<Value> out;
  out.reserve(1);
  // First run records sizes, second builds on the plan; from then on nothing is allocated.
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(session->Run(in, &out).ok());
  const float first = out[0].tensor().data<float>()[0];
  testing::StartCountingAllocations();
  Status st;
  for (int i = 0; i < 5 && st.ok(); ++i) st = session->Run(in, &out);
  long allocations = testing::StopCountingAllocations();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(allocations, 0);
  EXPECT_EQ(session->cached_plans(), 1);
  EXPECT_GT(session->planned_arena_bytes(), 0);
  EXPECT_EQ(out[0].tensor().data<float>()[0], first);
}

TEST(SessionTest, NewInputShapesGetTheirOwnPlan) {
  Engine engine;
  auto model = engine.CompileBytes(testing::AddReluModel().SerializeAsString(), "");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto session = (*model)->CreateSession();
  for (int rep = 0; rep < 3; ++rep) {
    for (int64_t rows : {1, 3, 7}) {
      std::vector<float> x(rows * 4);
      for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) - 5.f;
      std::vector<Value> in{Value(Tensor::FromVector(x, Shape{rows, 4}))}, out;
      ASSERT_TRUE(session->Run(in, &out).ok());
      const float bias[] = {1, -2, 3, -4};
      ASSERT_EQ(out[0].tensor().shape(), (Shape{rows, 4}));
      for (int64_t i = 0; i < rows * 4; ++i)
        EXPECT_EQ(out[0].tensor().data<float>()[i], std::max(0.f, x[i] + bias[i % 4]));
    }
  }
  EXPECT_EQ(session->cached_plans(), 3);
}

TEST(SessionTest, BadInputsAreClearErrors) {
  Engine engine;
  auto model = engine.CompileBytes(testing::AddReluModel().SerializeAsString(), "");
  ASSERT_TRUE(model.ok());
  auto session = (*model)->CreateSession();
  std::vector<Value> out;
  struct Case {
    Value v;
    std::string expect;
  };
  std::vector<Case> cases = {
      {Value(Tensor::Allocate(DataType::kInt64, Shape{2, 4})), "element type"},
      {Value(Tensor::Allocate(DataType::kFloat, Shape{8})), "rank"},
      {Value(Tensor::Allocate(DataType::kFloat, Shape{2, 5})), "dim 1"},
  };
  for (const auto& c : cases) {
    std::vector<Value> in{c.v};
    Status st = session->Run(in, &out);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("input 'x'"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(c.expect), std::string::npos) << st.message();
  }
  std::vector<Value> none;
  EXPECT_FALSE(session->Run(none, &out).ok());
  // The session still works after errors.
  std::vector<Value> good{Value(Tensor::FromVector<float>({0, 0, 0, 0}, Shape{1, 4}))};
  EXPECT_TRUE(session->Run(good, &out).ok());
}

TEST(SessionTest, DeadlineAndCancellation) {
  Engine engine;
  auto model = engine.CompileBytes(testing::AddReluModel().SerializeAsString(), "");
  ASSERT_TRUE(model.ok());
  auto session = (*model)->CreateSession();
  std::vector<Value> in{Value(Tensor::FromVector<float>({0, 0, 0, 0}, Shape{1, 4}))}, out;
  RunOptions late;
  late.deadline = std::chrono::steady_clock::now() - std::chrono::milliseconds(1);
  EXPECT_EQ(session->Run(in, &out, late).code(), StatusCode::kDeadlineExceeded);
  std::atomic<bool> cancelled{true};
  RunOptions cancel;
  cancel.cancelled = &cancelled;
  EXPECT_EQ(session->Run(in, &out, cancel).code(), StatusCode::kCancelled);
  EXPECT_TRUE(session->Run(in, &out).ok());
}

TEST(SessionTest, ProfileTimesEveryNodeOfEachRun) {
  Engine engine;
  ZooSession z;
  ASSERT_NO_FATAL_FAILURE(OpenZooSession(engine, &z));
  auto& session = z.session;
  const std::vector<Value>& in = z.in;
  std::vector<Value> out;
  RunProfile prof;
  RunOptions opts;
  opts.profile = &prof;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(session->Run(in, &out, opts).ok());
  ASSERT_FALSE(prof.nodes.empty());
  bool conv = false;
  int64_t total = 0;
  for (const NodeTiming& t : prof.nodes) {
    EXPECT_EQ(t.calls, 3) << t.name;
    EXPECT_GE(t.ns, 0);
    total += t.ns;
    conv = conv || t.op_type == "Conv";
  }
  EXPECT_TRUE(conv) << "the model's Conv nodes are listed by op type";
  EXPECT_GT(total, 0);
  ASSERT_TRUE(session->Run(in, &out).ok());  // without the option nothing is added
  EXPECT_EQ(prof.nodes.front().calls, 3);
}

TEST(SessionTest, SessionsOfOneModelRunConcurrently) {
  Engine engine;
  auto model = engine.CompileFile(kShared + "/tutorial/mnist-zoo-opset7/model.onnx");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto session = (*model)->CreateSession();
      int k = t % 3;
      std::string dir = kShared + "/tutorial/mnist-zoo-opset7/test_data_set_" + std::to_string(k);
      auto input = ReadValueFile(dir + "/input_0.pb", nullptr);
      std::vector<Value> in{*input}, out;
      const int expected[] = {2, 0, 9};
      for (int i = 0; i < 20; ++i) {
        if (!session->Run(in, &out).ok() || Argmax(out[0].tensor()) != expected[k]) wrong++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace onnxd
