// BatchQueue: the waiting requests of one model version and the rules that turn them into batches,
// as Triton's dynamic_batching describes them (preferred sizes, queue delay, priority levels, queue
// policies). Pure logic: time is always passed in, nothing here sleeps or locks, so the rules are
// tested with a fake clock (tests/server/batch_queue_test.cc). The caller (ModelScheduler) holds
// its model's mutex around every call.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "model_config.pb.h"
#include "onnxd/engine/status.h"

namespace onnxd::server {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;

// What the queue needs to know of a request. The server derives its job type from this.
struct QueuedJob {
  virtual ~QueuedJob() = default;

  int64_t rows = 1;  // batch rows this request carries (1 for models that do not batch)
  // Requests batch together only when their keys are equal: each input's dtype, rank and every dim
  // but the first.
  std::vector<int64_t> shape_key;
  uint32_t priority = 0;  // 0-based level (0 = highest); set by Push from the request's level
  TimePoint enqueued{};
  TimePoint deadline = TimePoint::max();        // end to end (gRPC deadline, "timeout" parameter)
  TimePoint queue_deadline = TimePoint::max();  // the queue policy's timeout
  const std::atomic<bool>* cancelled = nullptr;
  uint64_t sequence = 0;  // arrival order within the model (set by Push)
  bool delayed = false;   // moved behind every level by a DELAY queue policy
  Status status;          // why an expired job is answered early
};

// The batching rules of one model, read from its config.
struct BatchPolicy {
  bool dynamic_batching = false;  // else every request is its own batch
  int64_t max_batch_size = 0;     // rows per batch; 0: the model does not batch
  std::vector<int64_t> preferred_batch_sizes;  // ascending
  SteadyClock::duration max_queue_delay{0};
  bool preserve_ordering = false;
  struct Queue {
    bool delay_on_timeout = false;           // timeout_action DELAY (else REJECT)
    SteadyClock::duration default_timeout{0};  // 0: none
    bool allow_timeout_override = false;
    size_t max_queue_size = 0;  // 0: the server's default bound
  };
  uint32_t default_priority = 0;  // 0-based
  std::vector<Queue> queues;      // one per priority level (at least one)

  // From a completed config. `default_max_queue` bounds queues whose policy leaves max_queue_size 0
  // (Triton's "unbounded"), so that memory stays bounded under any overload.
  static BatchPolicy FromConfig(const inference::ModelConfig& config, size_t default_max_queue);
};

class BatchQueue {
 public:
  explicit BatchQueue(BatchPolicy policy);

  // Queues `job` at `priority_param` (the request's "priority" parameter, 1-based; 0 = the default
  // level) with an optional queue timeout override (microseconds, 0 = none). On failure (full queue,
  // bad priority) the job stays with the caller and the status says why.
  Status Push(std::unique_ptr<QueuedJob>& job, TimePoint now, uint64_t priority_param = 0,
              uint64_t timeout_override_us = 0);

  struct Decision {
    std::vector<std::unique_ptr<QueuedJob>> batch;    // run these now (empty: nothing to run yet)
    std::vector<std::unique_ptr<QueuedJob>> expired;  // answer these with their status
    // With an empty batch: when to look again (max: nothing queued; new arrivals also count).
    TimePoint wake = TimePoint::max();
  };
  // Called when an instance is free. Removes cancelled and timed-out jobs, then either hands out a
  // batch or says how long to wait for one to fill. `runs_in_flight`: whether the model has batches
  // running. The queue delay is a maximum: waiting pays only while runs are in flight (their clients
  // are about to send more); a model with nothing running sends what it has at once, so a lone
  // request is never delayed.
  Decision Next(TimePoint now, bool runs_in_flight = true);

  // After a successful Push, whether the new job can change what Next returns before `wake`, the
  // time a waiting drainer means to look again: it completes a full or preferred batch, cannot join
  // the batch at the front, or must be answered earlier. Other arrivals need not wake anyone.
  bool PushChangesNext(TimePoint wake) const { return push_urgent_ || push_due_ < wake; }

  size_t size() const { return size_; }
  int64_t rows() const { return rows_; }
  const BatchPolicy& policy() const { return policy_; }
  // Everything still queued (shutdown, unload without drain).
  std::vector<std::unique_ptr<QueuedJob>> TakeAll();

 private:
  void Sweep(TimePoint now, std::vector<std::unique_ptr<QueuedJob>>* expired);
  std::deque<std::unique_ptr<QueuedJob>>* FirstNonEmpty();

  BatchPolicy policy_;
  // One queue per priority level, then the delayed queue (timed-out jobs of DELAY policies).
  std::vector<std::deque<std::unique_ptr<QueuedJob>>> levels_;
  std::vector<size_t> level_limit_;
  size_t size_ = 0;
  int64_t rows_ = 0;  // batch rows of the jobs queued
  uint64_t next_sequence_ = 0;
  bool push_urgent_ = true;  // see PushChangesNext
  TimePoint push_due_ = TimePoint::max();
};

}  // namespace onnxd::server
