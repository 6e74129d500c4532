// Per model-version statistics: the one source of both the statistics API (Triton's
// inference_stats, batch_stats, counts) and /metrics. Lock-free: the request path only does relaxed
// atomic adds (and, with histograms on, one bucket add and one sum add per histogram).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "metrics/registry.h"
#include "onnxd/engine/status.h"

namespace onnxd::server {

struct DurationStat {
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> ns{0};
  void Add(uint64_t d) {
    count.fetch_add(1, std::memory_order_relaxed);
    ns.fetch_add(d, std::memory_order_relaxed);
  }
};

// Why a request failed, as Triton's nv_inference_request_failure{reason} says it.
enum class FailureReason {
  kRejected = 0,  // refused by the scheduler: queue full, queue-policy timeout, model unloading
  kCanceled = 1,  // the client cancelled, or the request's own deadline (gRPC deadline, "timeout") passed
  kBackend = 2,   // the engine run (or splitting its outputs) failed
  kOther = 3,     // everything else: bad input, unknown output, bad parameters
};
inline constexpr int kFailureReasons = 4;
inline const char* FailureReasonName(FailureReason r) {
  switch (r) {
    case FailureReason::kRejected: return "REJECTED";
    case FailureReason::kCanceled: return "CANCELED";
    case FailureReason::kBackend: return "BACKEND";
    case FailureReason::kOther: return "OTHER";
  }
  return "OTHER";
}

// The reason of a failed request from its status and where it failed: `ran` when the engine ran
// the request's batch; `deadline_passed` when the request's end-to-end deadline is behind us (so a
// DEADLINE_EXCEEDED is the client's deadline, not the queue policy's timeout, which Triton counts as
// REJECTED).
inline FailureReason ClassifyFailure(StatusCode code, bool ran, bool deadline_passed) {
  switch (code) {
    case StatusCode::kCancelled: return FailureReason::kCanceled;
    case StatusCode::kDeadlineExceeded: return deadline_passed || ran ? FailureReason::kCanceled : FailureReason::kRejected;
    case StatusCode::kUnavailable:
    case StatusCode::kResourceExhausted: return ran ? FailureReason::kBackend : FailureReason::kRejected;
    default: return ran ? FailureReason::kBackend : FailureReason::kOther;
  }
}

// Latency and batch-size histograms of one version (onnxd_inference_*): present when histograms
// are on. Latencies in nanoseconds, batch sizes in rows.
struct ModelHistograms {
  ModelHistograms(std::shared_ptr<const HistogramBounds> latency, std::shared_ptr<const HistogramBounds> batch)
      : request(latency), queue(latency), compute(latency), batch_size(std::move(batch)) {}
  Histogram request;     // received -> response built, successful requests
  Histogram queue;       // queued -> taken off the queue, successful requests
  Histogram compute;     // input + infer + output of the request's batch, successful requests
  Histogram batch_size;  // rows per engine run (successful executions)
};

struct ModelStats {
  static constexpr int kMaxTrackedBatch = 256;
  DurationStat success, fail, queue, compute_input, compute_infer, compute_output;
  std::array<std::atomic<uint64_t>, kFailureReasons> failures{};  // by FailureReason; sum == fail.count
  std::atomic<uint64_t> inference_count{0};  // rows (batch elements) inferred
  std::atomic<uint64_t> execution_count{0};  // engine runs
  std::atomic<uint64_t> last_inference_ms{0};
  std::atomic<int64_t> pending{0};  // requests queued, not yet running
  std::atomic<uint64_t> load_ns{0};  // how long loading this version took (nv_model_load_duration_secs)
  struct Batch {
    DurationStat compute_input, compute_infer, compute_output;
  };
  std::array<Batch, kMaxTrackedBatch + 1> batch;  // index = batch size

  // Set once, before the version is published (requests see it through the snapshot's release);
  // null when histograms are off.
  std::unique_ptr<ModelHistograms> histograms;

  void AddFailure(FailureReason r, uint64_t ns) {
    fail.Add(ns);
    failures[static_cast<size_t>(r)].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t failures_of(FailureReason r) const {
    return failures[static_cast<size_t>(r)].load(std::memory_order_relaxed);
  }
};

}  // namespace onnxd::server
