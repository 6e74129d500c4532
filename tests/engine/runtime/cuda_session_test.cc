// Device kCuda without a usable GPU (CI, or an onnxd built without CUDA): compiling works (the
// plan needs no GPU), and runs fail with UNAVAILABLE and the reason instead of falling back
// silently. On a machine with a GPU these checks are skipped; tests/gpu covers that side.
#include "runtime/cuda_session.h"

#include <gtest/gtest.h>

#include "test_models.h"

namespace onnxd {
namespace {

TEST(CudaSessionTest, WithoutAGpuRunsFailWithTheReason) {
  std::string why;
  if (Engine::CudaAvailable(&why)) GTEST_SKIP() << "a GPU is present: tests/gpu runs the CUDA session";
  EXPECT_FALSE(why.empty());
  Engine engine;
  CompileOptions options;
  options.device = Device::kCuda;
  auto model = engine.CompileBytes(testing::AddReluModel().SerializeAsString(), "", options);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->placement().target, Device::kCuda);
  auto session = (*model)->CreateSession();
  std::vector<Value> outs;
  Status st = session->Run(std::vector<Value>{Value(Tensor::FromVector<float>({1, 2, 3, 4}, Shape{1, 4}))}, &outs);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find(why), std::string::npos) << st.message();
}

TEST(CudaSessionTest, WithoutAGpuNoDeviceIsCountedAndSessionsOnAnyGpuSayWhy) {
  std::string why;
  if (Engine::CudaAvailable(&why)) GTEST_SKIP() << "a GPU is present: tests/gpu runs the CUDA session";
  std::string count_why;
  EXPECT_EQ(Engine::CudaDeviceCount(&count_why), 0);
  EXPECT_FALSE(count_why.empty());
  Engine engine;
  CompileOptions options;
  options.device = Device::kCuda;
  auto model = engine.CompileBytes(testing::AddReluModel().SerializeAsString(), "", options);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  for (int gpu : {0, 1}) {
    auto session = (*model)->CreateSession(gpu);
    EXPECT_EQ(session->status().code(), StatusCode::kUnavailable) << gpu << ": " << session->status().ToString();
    EXPECT_NE(session->status().message().find(why), std::string::npos) << session->status().message();
  }
}

TEST(CudaSessionTest, CpuSessionsIgnoreTheGpuOrdinal) {
  Engine engine;
  auto model = engine.CompileBytes(testing::AddReluModel().SerializeAsString(), "");
  ASSERT_TRUE(model.ok());
  auto session = (*model)->CreateSession(3);
  EXPECT_TRUE(session->status().ok()) << session->status().ToString();
  std::vector<Value> outs;
  ASSERT_TRUE(session->Run(std::vector<Value>{Value(Tensor::FromVector<float>({1, -2, 3, -4}, Shape{1, 4}))}, &outs).ok());
  EXPECT_EQ(outs[0].tensor().data<float>()[2], 6.f);
}

TEST(CudaSessionTest, CpuDeviceIsUnchangedByThePlacementStep) {
  Engine engine;
  auto model = engine.CompileBytes(testing::AddReluModel().SerializeAsString(), "");
  ASSERT_TRUE(model.ok());
  EXPECT_EQ((*model)->placement().target, Device::kCpu);
  auto session = (*model)->CreateSession();
  std::vector<Value> outs;
  ASSERT_TRUE(session->Run(std::vector<Value>{Value(Tensor::FromVector<float>({1, 2, 3, 4}, Shape{1, 4}))}, &outs).ok());
  const float* y = outs[0].tensor().data<float>();
  EXPECT_EQ(std::vector<float>(y, y + 4), (std::vector<float>{2, 0, 6, 0}));
  EXPECT_EQ(session->last_run_copies(), 0);
}

}  // namespace
}  // namespace onnxd
