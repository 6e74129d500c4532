// Memory planning by record and replay.
//
// The first run of a session for a given set of input shapes records, for every value a node
// allocates, its size and the node that defines it, plus per-node scratch. From that recording and
// the graph's liveness (GraphPlan::last_use, extended through zero-copy aliases), BuildMemoryPlan
// assigns each block an offset in one arena so that blocks alive at the same time never overlap.
// Later runs with the same input shapes take every buffer from the arena: no heap allocation.
// This handles data-dependent shapes too: a value whose size differs from the recording falls back
// to the heap for that run.
#pragma once

#include <cstdint>
#include <vector>

namespace onnxd::engine {

class GraphPlan;

struct MemoryRecording {
  std::vector<int64_t> value_bytes;    // per value id; -1 when not allocated through the planner
  std::vector<int> alias_root;         // per value id; the value whose storage it views, or -1
  std::vector<int64_t> scratch_bytes;  // per node index, total (aligned) scratch requested

  void Reset(int num_values, int num_nodes);
};

struct MemoryPlan {
  std::vector<int64_t> value_offset;   // per value id; -1 when not planned
  std::vector<int64_t> value_bytes;
  std::vector<int64_t> scratch_offset; // per node; -1 when none
  std::vector<int64_t> scratch_bytes;
  int64_t arena_bytes = 0;
  int64_t total_block_bytes = 0;       // sum of all blocks: what no reuse would cost
};

constexpr int64_t kArenaAlignment = 64;
inline int64_t AlignUp(int64_t n) { return (n + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

MemoryPlan BuildMemoryPlan(const GraphPlan& graph, const MemoryRecording& rec);

}  // namespace onnxd::engine
