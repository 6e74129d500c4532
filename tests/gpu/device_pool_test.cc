#include "kernels/cuda/device_pool.h"

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

namespace onnxd::cuda {
namespace {

TEST(DevicePoolTest, SizeClassesRoundUpWithBoundedWaste) {
  EXPECT_EQ(DevicePool::SizeClass(1), 256u);
  EXPECT_EQ(DevicePool::SizeClass(256), 256u);
  EXPECT_EQ(DevicePool::SizeClass(257), 512u);
  EXPECT_EQ(DevicePool::SizeClass(4096), 4096u);
  EXPECT_EQ(DevicePool::SizeClass(4097), 5120u);
  EXPECT_EQ(DevicePool::SizeClass(1 << 20), size_t{1} << 20);
  for (size_t b = 1; b < (size_t{1} << 24); b = b * 3 + 7) {
    size_t c = DevicePool::SizeClass(b);
    EXPECT_GE(c, b);
    EXPECT_LE(c, b < 4096 ? b + 255 : b + b / 4);
  }
}

TEST(DevicePoolTest, SteadyWorkloadReusesBlocksWithoutMalloc) {
  DevicePool pool;
  const size_t sizes[] = {1000, 4096, 123457, 1 << 20, 3 << 20};
  for (size_t s : sizes) {
    auto b = pool.Allocate(s);
    ASSERT_TRUE(b.ok()) << b.status().message();
  }
  const size_t mallocs = pool.stats().malloc_calls;
  EXPECT_EQ(mallocs, 5u);
  EXPECT_EQ(pool.stats().cached_blocks, 5u);
  for (int run = 0; run < 10; ++run) {
    std::vector<DeviceBuffer> held;
    for (size_t s : sizes) {
      auto b = pool.Allocate(s);
      ASSERT_TRUE(b.ok());
      EXPECT_NE(b->data(), nullptr);
      EXPECT_EQ(b->size(), s);
      held.push_back(std::move(b).value());
    }
  }
  EXPECT_EQ(pool.stats().malloc_calls, mallocs);
  EXPECT_EQ(pool.stats().in_use_bytes, 0u);
}

TEST(DevicePoolTest, DistinctLiveBlocksAndSameClassReuse) {
  DevicePool pool;
  auto a = pool.Allocate(5000);
  auto b = pool.Allocate(5000);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->data(), b->data());
  void* pa = a->data();
  a->reset();
  auto c = pool.Allocate(5100);  // same class as 5000 (5120)
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->data(), pa);
  EXPECT_EQ(pool.stats().malloc_calls, 2u);
}

TEST(DevicePoolTest, TrimAndDestructionReturnMemory) {
  size_t free_before = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_before, &total), cudaSuccess);
  {
    DevicePool pool;
    auto keep = pool.Allocate(256 << 20);
    ASSERT_TRUE(keep.ok());
    { auto tmp = pool.Allocate(128 << 20); ASSERT_TRUE(tmp.ok()); }
    EXPECT_EQ(pool.stats().cached_blocks, 1u);
    pool.Trim();
    EXPECT_EQ(pool.stats().cached_blocks, 0u);
    EXPECT_EQ(pool.stats().free_calls, 1u);
    EXPECT_EQ(pool.stats().reserved_bytes, size_t{256} << 20);
    // `keep` goes back to the pool first (declared after it), then the pool frees every block.
  }
  size_t free_after = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_after, &total), cudaSuccess);
  EXPECT_GE(free_after + (size_t{64} << 20), free_before);
}

TEST(DevicePoolTest, ZeroBytesIsAnEmptyBuffer) {
  DevicePool pool;
  auto b = pool.Allocate(0);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->data(), nullptr);
  EXPECT_EQ(pool.stats().malloc_calls, 0u);
}

}  // namespace
}  // namespace onnxd::cuda
