// NVML through dlopen: absent library -> no GPU metrics; a fake NVML -> Triton's gauges per gpu_uuid.
#include "metrics/gpu_metrics.h"

#include <gtest/gtest.h>

namespace onnxd::server {
namespace {

TEST(NvmlGpuMetricsTest, MissingLibraryMeansNoGpuMetrics) {
  std::string why;
  EXPECT_EQ(NvmlGpuMetrics::Load(&why, "libonnxd-no-such-nvml.so.1"), nullptr);
  EXPECT_NE(why.find("not found"), std::string::npos) << why;
}

#ifdef ONNXD_FAKE_NVML
TEST(NvmlGpuMetricsTest, FakeNvmlGivesTritonGauges) {
  std::string why;
  auto gpu = NvmlGpuMetrics::Load(&why, ONNXD_FAKE_NVML);
  ASSERT_NE(gpu, nullptr) << why;
  EXPECT_EQ(gpu->gpu_count(), 2u);
  ExpositionWriter w;
  gpu->Collect(w);
  const std::string& t = w.text();
  EXPECT_NE(t.find("# TYPE nv_gpu_utilization gauge\nnv_gpu_utilization{gpu_uuid=\"GPU-0000-fake\"} 0.37\n"),
            std::string::npos)
      << t;
  EXPECT_EQ(t.find("nv_gpu_utilization{gpu_uuid=\"GPU-0001-fake\"}"), std::string::npos) << t;  // not supported
  EXPECT_NE(t.find("nv_gpu_memory_total_bytes{gpu_uuid=\"GPU-0000-fake\"} 85899345920\n"), std::string::npos) << t;
  EXPECT_NE(t.find("nv_gpu_memory_total_bytes{gpu_uuid=\"GPU-0001-fake\"} 85899345920\n"), std::string::npos) << t;
  EXPECT_NE(t.find("nv_gpu_memory_used_bytes{gpu_uuid=\"GPU-0000-fake\"} 3221225472\n"), std::string::npos) << t;
  EXPECT_NE(t.find("nv_gpu_memory_used_bytes{gpu_uuid=\"GPU-0001-fake\"} 1048576\n"), std::string::npos) << t;
  EXPECT_NE(t.find("nv_gpu_power_usage{gpu_uuid=\"GPU-0000-fake\"} 123.456\n"), std::string::npos) << t;
  EXPECT_NE(t.find("nv_gpu_power_limit{gpu_uuid=\"GPU-0000-fake\"} 700\n"), std::string::npos) << t;
}

TEST(NvmlGpuMetricsTest, OnlyTheGpusVisibleToCudaAreReported) {
  // CUDA_VISIBLE_DEVICES leaves the process GPU 1 only: NVML still sees both.
  std::string why;
  const std::vector<std::string> visible = {"GPU-0001-fake"};
  auto gpu = NvmlGpuMetrics::Load(&why, ONNXD_FAKE_NVML, &visible);
  ASSERT_NE(gpu, nullptr) << why;
  EXPECT_EQ(gpu->gpu_count(), 1u);
  ExpositionWriter w;
  gpu->Collect(w);
  EXPECT_NE(w.text().find("nv_gpu_memory_used_bytes{gpu_uuid=\"GPU-0001-fake\"} 1048576\n"), std::string::npos)
      << w.text();
  EXPECT_EQ(w.text().find("GPU-0000-fake"), std::string::npos) << w.text();
  // UUIDs NVML does not know (MIG instances, say): every GPU, rather than none.
  const std::vector<std::string> unknown = {"MIG-1234"};
  auto all = NvmlGpuMetrics::Load(&why, ONNXD_FAKE_NVML, &unknown);
  ASSERT_NE(all, nullptr) << why;
  EXPECT_EQ(all->gpu_count(), 2u);
}
#endif

}  // namespace
}  // namespace onnxd::server
