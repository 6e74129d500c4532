#include "planner/memory_plan.h"

#include <algorithm>
#include <climits>

#include "runtime/graph_plan.h"

namespace onnxd::engine {

void MemoryRecording::Reset(int num_values, int num_nodes) {
  value_bytes.assign(num_values, -1);
  alias_root.assign(num_values, -1);
  scratch_bytes.assign(num_nodes, 0);
}

namespace {
struct Block {
  int64_t bytes;
  int start, end;  // inclusive node interval
  int id;          // value id, or -(node+1) for scratch
  int64_t offset = -1;
};
}  // namespace

MemoryPlan BuildMemoryPlan(const GraphPlan& graph, const MemoryRecording& rec) {
  const int nv = graph.num_values();
  const int nn = static_cast<int>(graph.nodes.size());
  MemoryPlan plan;
  plan.value_offset.assign(nv, -1);
  plan.value_bytes.assign(nv, 0);
  plan.scratch_offset.assign(nn, -1);
  plan.scratch_bytes.assign(nn, 0);

  // Lifetime end of each storage root: its own last use and that of every alias onto it.
  std::vector<int> end(nv, -1);
  for (int v = 0; v < nv; ++v) end[v] = graph.last_use[v];
  for (int v = 0; v < nv; ++v) {
    int r = rec.alias_root[v];
    // Follow chains (alias of alias) to the storage owner.
    int guard = 0;
    while (r >= 0 && rec.alias_root[r] >= 0 && guard++ < nv) r = rec.alias_root[r];
    if (r >= 0) end[r] = std::max(end[r], graph.last_use[v]);
  }

  std::vector<Block> blocks;
  for (int v = 0; v < nv; ++v) {
    if (rec.value_bytes[v] < 0 || graph.producer[v] < 0) continue;
    int e = end[v] < 0 ? graph.producer[v] : end[v];
    if (e == INT_MAX) e = nn;  // graph outputs live to the end
    blocks.push_back({AlignUp(std::max<int64_t>(rec.value_bytes[v], 1)), graph.producer[v], e, v});
  }
  for (int n = 0; n < nn; ++n) {
    if (rec.scratch_bytes[n] > 0) blocks.push_back({AlignUp(rec.scratch_bytes[n]), n, n, -(n + 1)});
  }
  // Largest first, then earliest: a standard greedy-by-size placement.
  std::sort(blocks.begin(), blocks.end(), [](const Block& a, const Block& b) {
    return a.bytes != b.bytes ? a.bytes > b.bytes : a.start < b.start;
  });
  std::vector<const Block*> placed;
  std::vector<std::pair<int64_t, int64_t>> busy;  // offset ranges of overlapping placed blocks
  for (auto& b : blocks) {
    busy.clear();
    for (const Block* p : placed) {
      if (p->start <= b.end && b.start <= p->end) busy.emplace_back(p->offset, p->offset + p->bytes);
    }
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& [lo, hi] : busy) {
      if (offset + b.bytes <= lo) break;
      offset = std::max(offset, hi);
    }
    b.offset = offset;
    placed.push_back(&b);
    plan.arena_bytes = std::max(plan.arena_bytes, offset + b.bytes);
    plan.total_block_bytes += b.bytes;
    if (b.id >= 0) {
      plan.value_offset[b.id] = offset;
      plan.value_bytes[b.id] = b.bytes;
    } else {
      int n = -b.id - 1;
      plan.scratch_offset[n] = offset;
      plan.scratch_bytes[n] = b.bytes;
    }
  }
  return plan;
}

}  // namespace onnxd::engine
