// Instance groups as Triton reads them, against a GPU count given by the test (no GPU needed):
// `count` instances on each GPU of `gpus`, every GPU when `gpus` is empty, and a load error naming
// a GPU that does not exist.
#include "repository/instance_groups.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

namespace onnxd::server {
namespace {

inference::ModelConfig Config(const std::string& text) {
  inference::ModelConfig c;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &c)) << text;
  return c;
}

GpuInventory Gpus(int n) {
  GpuInventory g;
  g.count = n;
  if (n == 0) g.why_none = "cudaGetDeviceCount returned 0 devices";
  return g;
}

std::vector<int> GpusOf(const std::vector<InstancePlacement>& p) {
  std::vector<int> out;
  for (const auto& i : p) out.push_back(i.gpu);
  return out;
}

TEST(InstanceGroupsTest, CountInstancesOnEachListedGpu) {
  auto c = Config("name: 'm' instance_group [{ kind: KIND_GPU, count: 2, gpus: [0, 2] }]");
  ASSERT_TRUE(CompleteInstanceGroups(Device::kCuda, Gpus(4), &c).ok());
  EXPECT_EQ(c.instance_group(0).gpus_size(), 2) << "a list the config gives stays as it is";
  auto p = PlaceInstances(c);
  EXPECT_EQ(GpusOf(p), (std::vector<int>{0, 2, 0, 2}));
  EXPECT_EQ(DescribeInstances(p), "2 instances on GPU 0, 2 on GPU 2");
}

TEST(InstanceGroupsTest, NoGpusListedMeansEveryGpuAndTheCompletedConfigListsThem) {
  auto c = Config("name: 'm' instance_group [{ kind: KIND_GPU, count: 1 }]");
  ASSERT_TRUE(CompleteInstanceGroups(Device::kCuda, Gpus(3), &c).ok());
  ASSERT_EQ(c.instance_group(0).gpus_size(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.instance_group(0).gpus(i), i);
  EXPECT_EQ(GpusOf(PlaceInstances(c)), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(DescribeInstances(PlaceInstances(c)), "1 instance on GPU 0, 1 on GPU 1, 1 on GPU 2");
}

TEST(InstanceGroupsTest, OneGpuGivesCountInstancesOnGpuZero) {
  auto c = Config("name: 'm' instance_group [{ kind: KIND_GPU, count: 3 }]");
  ASSERT_TRUE(CompleteInstanceGroups(Device::kCuda, Gpus(1), &c).ok());
  EXPECT_EQ(GpusOf(PlaceInstances(c)), (std::vector<int>{0, 0, 0}));
}

TEST(InstanceGroupsTest, AGpuThatDoesNotExistFailsNamingItAndTheCount) {
  auto c = Config("name: 'm' instance_group [{ name: 'big', kind: KIND_GPU, count: 1, gpus: [0, 2] }]");
  Status st = CompleteInstanceGroups(Device::kCuda, Gpus(2), &c);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(),
            "instance_group 'big' lists GPU 2, which does not exist: this process sees 2 GPUs (ordinals 0-1)");

  GpuInventory restricted = Gpus(1);
  restricted.cuda_visible_devices = "3";
  auto gpu_only = Config("name: 'm' instance_group [{ kind: KIND_GPU, gpus: [1] }]");
  st = CompleteInstanceGroups(Device::kCuda, restricted, &gpu_only);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "instance_group 0 lists GPU 1, which does not exist: this process sees 1 GPU (ordinal 0, "
                          "after CUDA_VISIBLE_DEVICES=3)");

  auto negative = Config("name: 'm' instance_group [{ kind: KIND_GPU, gpus: [-1] }]");
  st = CompleteInstanceGroups(Device::kCuda, Gpus(2), &negative);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("GPU -1"), std::string::npos) << st.message();
}

TEST(InstanceGroupsTest, KindGpuWithoutAGpuOrACudaPlanFails) {
  auto c = Config("name: 'm' instance_group [{ kind: KIND_GPU }]");
  Status st = CompleteInstanceGroups(Device::kCuda, Gpus(0), &c);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("no GPU is usable: cudaGetDeviceCount returned 0 devices"), std::string::npos)
      << st.message();
  st = CompleteInstanceGroups(Device::kCpu, Gpus(2), &c);
  EXPECT_EQ(st.code(), StatusCode::kInternal) << st.message();
}

TEST(InstanceGroupsTest, CpuGroupsAreCountedAsBeforeAndMayNotListGpus) {
  auto none = Config("name: 'm'");
  ASSERT_TRUE(CompleteInstanceGroups(Device::kCpu, Gpus(0), &none).ok());
  ASSERT_EQ(none.instance_group_size(), 1);
  EXPECT_EQ(none.instance_group(0).kind(), inference::ModelInstanceGroup::KIND_CPU);
  EXPECT_EQ(GpusOf(PlaceInstances(none)), (std::vector<int>{-1, -1}));
  EXPECT_EQ(DescribeInstances(PlaceInstances(none)), "2 instances on the CPU");

  auto zero = Config("name: 'm' instance_group [{ kind: KIND_AUTO, count: 0 }, { kind: KIND_CPU, count: 3 }]");
  ASSERT_TRUE(CompleteInstanceGroups(Device::kCpu, Gpus(0), &zero).ok());
  EXPECT_EQ(zero.instance_group(0).kind(), inference::ModelInstanceGroup::KIND_CPU);
  EXPECT_EQ(zero.instance_group(0).count(), 1);
  EXPECT_EQ(PlaceInstances(zero).size(), 4u);

  auto listed = Config("name: 'm' instance_group [{ kind: KIND_CPU, gpus: [0] }]");
  EXPECT_EQ(CompleteInstanceGroups(Device::kCpu, Gpus(1), &listed).code(), StatusCode::kInvalidArgument);
  auto mixed = Config("name: 'm' instance_group [{ kind: KIND_CPU }, { kind: KIND_GPU }]");
  EXPECT_EQ(CompleteInstanceGroups(Device::kCuda, Gpus(1), &mixed).code(), StatusCode::kUnimplemented);
  auto many = Config("name: 'm' instance_group [{ kind: KIND_GPU, count: 65 }]");
  EXPECT_EQ(CompleteInstanceGroups(Device::kCuda, Gpus(1), &many).code(), StatusCode::kInvalidArgument);
}

TEST(InstanceGroupsTest, InstancesAreHandedOutRoundRobinOverTheGpus) {
  // Two groups on different GPUs: the first instance of each GPU comes before any second one, so
  // two runs in flight use both GPUs.
  auto c = Config(
      "name: 'm' instance_group [{ name: 'a', kind: KIND_GPU, count: 3, gpus: [0] },"
      "                          { name: 'b', kind: KIND_GPU, count: 1, gpus: [1] }]");
  ASSERT_TRUE(CompleteInstanceGroups(Device::kCuda, Gpus(2), &c).ok());
  auto p = PlaceInstances(c);
  EXPECT_EQ(GpusOf(p), (std::vector<int>{0, 1, 0, 0}));
  EXPECT_EQ(p[1].group, "b");
  EXPECT_EQ(DescribeInstances(p), "3 instances on GPU 0, 1 on GPU 1");
}

TEST(InstanceGroupsTest, NoGroupOrKindAutoGoesOnTheGpusWhenThereAreAny) {
  // Triton's rule: without instance groups, one instance on each GPU; KIND_AUTO is KIND_GPU when a
  // GPU is usable; without one, both stay on the CPU.
  EXPECT_TRUE(WantsGpu(Config("name: 'm'"), Gpus(2)));
  EXPECT_FALSE(WantsGpu(Config("name: 'm'"), Gpus(0)));
  EXPECT_TRUE(WantsGpu(Config("name: 'm' instance_group [{ kind: KIND_AUTO, count: 2 }]"), Gpus(1)));
  EXPECT_FALSE(WantsGpu(Config("name: 'm' instance_group [{ kind: KIND_AUTO, count: 2 }]"), Gpus(0)));
  EXPECT_FALSE(WantsGpu(Config("name: 'm' instance_group [{ kind: KIND_AUTO }, { kind: KIND_CPU }]"), Gpus(1)))
      << "one model's instances are of one kind: an explicit KIND_CPU keeps KIND_AUTO beside it on the CPU";
  EXPECT_FALSE(WantsGpu(Config("name: 'm' instance_group [{ kind: KIND_CPU }]"), Gpus(4)));
  EXPECT_TRUE(WantsGpu(Config("name: 'm' instance_group [{ kind: KIND_GPU }]"), Gpus(0)))
      << "KIND_GPU asks for the GPU whatever there is (the load then fails with the reason)";
  EXPECT_FALSE(NeedsGpuProbe(Config("name: 'm' instance_group [{ kind: KIND_CPU }]")));
  EXPECT_TRUE(NeedsGpuProbe(Config("name: 'm'")));
  EXPECT_TRUE(NeedsGpuProbe(Config("name: 'm' instance_group [{ kind: KIND_AUTO }]")));

  auto none = Config("name: 'm'");
  ASSERT_TRUE(CompleteInstanceGroups(Device::kCuda, Gpus(2), &none).ok());
  ASSERT_EQ(none.instance_group_size(), 1);
  EXPECT_EQ(none.instance_group(0).kind(), inference::ModelInstanceGroup::KIND_GPU);
  EXPECT_EQ(DescribeInstances(PlaceInstances(none)), "1 instance on GPU 0, 1 on GPU 1");
  auto none_cpu = Config("name: 'm'");
  ASSERT_TRUE(CompleteInstanceGroups(Device::kCpu, Gpus(0), &none_cpu).ok());
  EXPECT_EQ(none_cpu.instance_group(0).kind(), inference::ModelInstanceGroup::KIND_CPU);
  EXPECT_EQ(none_cpu.instance_group(0).count(), 2);
  auto automatic = Config("name: 'm' instance_group [{ kind: KIND_AUTO, count: 2 }]");
  ASSERT_TRUE(CompleteInstanceGroups(Device::kCuda, Gpus(1), &automatic).ok());
  EXPECT_EQ(automatic.instance_group(0).kind(), inference::ModelInstanceGroup::KIND_GPU);
  EXPECT_EQ(DescribeInstances(PlaceInstances(automatic)), "2 instances on GPU 0");
}

}  // namespace
}  // namespace onnxd::server
