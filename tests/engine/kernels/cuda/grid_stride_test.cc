// When a grid-stride loop may count in int32_t (kernels/cuda/grid_stride.h), checked against the
// loop itself: the largest index it computes is the last index below n plus one grid step.
#include "kernels/cuda/grid_stride.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace onnxd::cuda {
namespace {

// The largest value `i += gridDim.x * blockDim.x` reaches in the loop `for (i = ...; i < n; ...)`.
int64_t LargestIndexComputed(int64_t n, int block) { return n - 1 + int64_t{GridBlocks(n, block)} * block; }

TEST(GridStrideTest, GridBlocksCoversEveryElementUpToTheCap) {
  EXPECT_EQ(GridBlocks(0), 0);
  EXPECT_EQ(GridBlocks(1), 1);
  EXPECT_EQ(GridBlocks(256), 1);
  EXPECT_EQ(GridBlocks(257), 2);
  EXPECT_EQ(GridBlocks(1000, 128), 8);
  for (int block : {128, 256, 512}) {
    const int64_t full = kMaxGridBlocks * block;  // the most elements one thread each covers
    EXPECT_EQ(GridBlocks(full, block), kMaxGridBlocks) << block;
    EXPECT_EQ(GridBlocks(full - block, block), kMaxGridBlocks - 1) << block;
    EXPECT_EQ(GridBlocks(full + 1, block), kMaxGridBlocks) << block;
    EXPECT_EQ(GridBlocks(int64_t{1} << 40, block), kMaxGridBlocks) << block;
  }
}

TEST(GridStrideTest, Int32OnlyWhileTheLastStepFits) {
  for (int block : {128, 256, 512}) {
    SCOPED_TRACE(block);
    const int64_t limit = int64_t{0x7fffffff} - kMaxGridBlocks * block;
    EXPECT_TRUE(FitsInt32GridStride(limit, block));
    EXPECT_LE(LargestIndexComputed(limit, block), int64_t{0x7fffffff});
    EXPECT_FALSE(FitsInt32GridStride(limit + 1, block));
    EXPECT_FALSE(FitsInt32GridStride(0x7fffffff, block));
    for (int64_t n : {int64_t{1}, int64_t{1000}, int64_t{1} << 20, int64_t{1} << 29, limit / 2, limit - 1, limit})
      if (FitsInt32GridStride(n, block)) {
        EXPECT_LE(LargestIndexComputed(n, block), int64_t{0x7fffffff}) << n;
      }
  }
  // With 256 threads a block: up to 1,610,620,927 elements in int32_t. 2^31 - 1 elements, which
  // the old bound let through, would step an index past INT32_MAX.
  EXPECT_TRUE(FitsInt32GridStride(1610620927, 256));
  EXPECT_FALSE(FitsInt32GridStride(1610620928, 256));
  EXPECT_GT(LargestIndexComputed(0x7fffffff, 256), int64_t{0x7fffffff});
}

}  // namespace
}  // namespace onnxd::cuda
