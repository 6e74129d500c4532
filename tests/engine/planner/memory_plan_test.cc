#include "planner/memory_plan.h"

#include <gtest/gtest.h>

#include <climits>

#include "runtime/graph_plan.h"

namespace onnxd::engine {
namespace {

// A chain v0 -> n0 -> v1 -> n1 -> v2 -> n2 -> v3 (graph output), plus v1 also read by n2.
GraphPlan ChainPlan() {
  GraphPlan g;
  g.value_names = {"in", "a", "b", "out"};
  g.producer = {-1, 0, 1, 2};
  g.last_use = {0, 2, 2, INT_MAX};
  g.is_constant = {0, 0, 0, 0};
  g.constants.resize(4);
  g.nodes.resize(3);
  return g;
}

bool Overlap(int64_t o1, int64_t s1, int64_t o2, int64_t s2) { return o1 < o2 + s2 && o2 < o1 + s1; }

TEST(MemoryPlanTest, LiveValuesNeverShareMemory) {
  GraphPlan g = ChainPlan();
  MemoryRecording rec;
  rec.Reset(4, 3);
  rec.value_bytes = {-1, 1000, 500, 1000};
  MemoryPlan p = BuildMemoryPlan(g, rec);
  EXPECT_EQ(p.value_offset[0], -1);  // graph input: not planned
  // a, b and out are all alive at node 2.
  EXPECT_FALSE(Overlap(p.value_offset[1], p.value_bytes[1], p.value_offset[2], p.value_bytes[2]));
  EXPECT_FALSE(Overlap(p.value_offset[1], p.value_bytes[1], p.value_offset[3], p.value_bytes[3]));
  EXPECT_FALSE(Overlap(p.value_offset[2], p.value_bytes[2], p.value_offset[3], p.value_bytes[3]));
  for (int v = 1; v < 4; ++v) EXPECT_EQ(p.value_offset[v] % kArenaAlignment, 0);
}

TEST(MemoryPlanTest, DeadValuesAreReused) {
  // v1 dies at node 1, v3 is born at node 2: they may share.
  GraphPlan g = ChainPlan();
  g.last_use = {0, 1, 2, INT_MAX};
  MemoryRecording rec;
  rec.Reset(4, 3);
  rec.value_bytes = {-1, 4096, 64, 4096};
  MemoryPlan p = BuildMemoryPlan(g, rec);
  EXPECT_LT(p.arena_bytes, p.total_block_bytes);
  EXPECT_EQ(p.arena_bytes, 4096 + 64);
}

TEST(MemoryPlanTest, AliasExtendsLifetimeOfItsStorage) {
  // v2 is a zero-copy view of v1 (e.g. Reshape) read until the end: v1's storage must stay reserved.
  GraphPlan g = ChainPlan();
  g.last_use = {0, 1, INT_MAX, INT_MAX};
  MemoryRecording rec;
  rec.Reset(4, 3);
  rec.value_bytes = {-1, 256, -1, 256};
  rec.alias_root[2] = 1;
  MemoryPlan p = BuildMemoryPlan(g, rec);
  EXPECT_FALSE(Overlap(p.value_offset[1], p.value_bytes[1], p.value_offset[3], p.value_bytes[3]));
}

TEST(MemoryPlanTest, ScratchDoesNotOverlapTheNodesOperands) {
  GraphPlan g = ChainPlan();
  MemoryRecording rec;
  rec.Reset(4, 3);
  rec.value_bytes = {-1, 128, 128, 128};
  rec.scratch_bytes = {0, 4096, 0};
  MemoryPlan p = BuildMemoryPlan(g, rec);
  ASSERT_GE(p.scratch_offset[1], 0);
  for (int v : {1, 2})
    EXPECT_FALSE(Overlap(p.scratch_offset[1], p.scratch_bytes[1], p.value_offset[v], p.value_bytes[v]));
}

}  // namespace
}  // namespace onnxd::engine
