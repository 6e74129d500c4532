// Per model-version statistics for the statistics API (Triton's inference_stats, batch_stats,
// counts). Lock-free counters: the request path only does relaxed atomic adds.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace onnxd::server {

struct DurationStat {
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> ns{0};
  void Add(uint64_t d) {
    count.fetch_add(1, std::memory_order_relaxed);
    ns.fetch_add(d, std::memory_order_relaxed);
  }
};

struct ModelStats {
  static constexpr int kMaxTrackedBatch = 256;
  DurationStat success, fail, queue, compute_input, compute_infer, compute_output;
  std::atomic<uint64_t> inference_count{0};  // rows (batch elements) inferred
  std::atomic<uint64_t> execution_count{0};  // engine runs
  std::atomic<uint64_t> last_inference_ms{0};
  std::atomic<int64_t> pending{0};  // requests queued, not yet running
  struct Batch {
    DurationStat compute_input, compute_infer, compute_output;
  };
  std::array<Batch, kMaxTrackedBatch + 1> batch;  // index = batch size
};

}  // namespace onnxd::server
