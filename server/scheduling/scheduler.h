// The scheduler between the front ends and the engine (ARCHITECTURE.md, request path):
//
//   front end -> ModelScheduler::Enqueue -> BatchQueue (per model, per-model lock)
//             -> WorkerPool thread: forms a batch, takes a free instance, runs it on the engine
//             -> outputs split back per request -> ScheduledJob::Finish (the response callback)
//
// WorkerPool is the process's one set of scheduler threads (a fixed number proportional to the
// cores, however many models are loaded). Models with queued work are handed to it through a
// lock-free ring; idle threads sleep on a futex. A model is "scheduled" (in the ring or being
// drained by one thread) at most once at a time, so batch formation needs only the model's lock;
// while one thread runs a batch another may form the next batch for another free instance.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "lifecycle/model_stats.h"
#include "onnxd/engine/engine.h"
#include "onnxd/engine/status.h"
#include "scheduling/batch_queue.h"
#include "workers/worker_pool.h"

namespace onnxd::server {

// Timing of the batch a job ran in.
struct ExecTiming {
  TimePoint dispatched{};   // taken off the queue
  uint64_t input_ns = 0;    // gathering the batch's inputs
  uint64_t infer_ns = 0;    // the engine run
  uint64_t output_ns = 0;   // splitting the outputs back per request
  int64_t batch_rows = 0;   // rows in the batch
  size_t batch_requests = 0;
};

// A request as the scheduler runs it. The server derives from this to build its response.
struct ScheduledJob : QueuedJob {
  // In the model's input order; may view the request's buffers, which outlive the job.
  std::vector<Value> inputs;
  // Called exactly once on a scheduler thread (or on the caller's thread when Enqueue fails it is
  // not called: the caller answers). On success `outputs` holds one owned value per model output
  // with this request's rows; `timing` is null when the job never ran.
  virtual void Finish(Status status, std::vector<Value>* outputs, const ExecTiming* timing) = 0;
};

// The queue, the instances and the statistics of one model version.
class ModelScheduler final : public Schedulable, public std::enable_shared_from_this<ModelScheduler> {
 public:
  // `instances` sessions of `model`, each its own memory plans; compute threads are the engine's.
  ModelScheduler(WorkerPool& pool, std::shared_ptr<const CompiledModel> model, BatchPolicy policy, int instances);
  // One session per entry of `gpus`, on that GPU (CompiledModel::CreateSession(gpu); ignored for
  // a CPU model). While several are free the first listed is taken first: list them round robin
  // over the GPUs (PlaceInstances) and a model with fewer runs in flight than instances spreads
  // them over its GPUs. Instances add no threads: the pool's threads run every model's batches.
  ModelScheduler(WorkerPool& pool, std::shared_ptr<const CompiledModel> model, BatchPolicy policy,
                 const std::vector<int>& gpus);

  // Queues a request. On failure (queue full, bad priority, stopped) `job` stays with the caller,
  // which answers it; Finish is not called.
  //
  // Fast models run on the calling thread: when no run is in flight in the process, nothing is
  // queued, an instance is free, ordering need not be kept and the model's runs have recently
  // taken under kInlineMaxNs a row (times the job's rows; SetInlineMaxNs changes the bound), the
  // job runs and is answered (Finish) before Enqueue returns. That spares a request the two thread
  // switches of going through the worker pool and back, which cost more than the run for small
  // models; a slow model never holds a front-end thread, and under load the pool takes the runs.
  Status Enqueue(std::unique_ptr<ScheduledJob>& job, uint64_t priority = 0, uint64_t timeout_override_us = 0);
  static constexpr int64_t kInlineMaxNs = 100'000;
  // Process-wide (--inline-max-us); 0 sends every request through the worker pool.
  static void SetInlineMaxNs(int64_t ns);

  // Before the model is published, so that the first requests find their memory plans built: the
  // config's model_warmup samples (zero_data, random_data, or input_data_file read from
  // <model_dir>/warmup/), `count` runs each on every instance; without any, one run per instance
  // on zeros of the model's input shapes (dynamic dims 1). Errors name the sample and input.
  Status WarmUp(const inference::ModelConfig& config, const std::string& model_dir);
  // What the warm-up's tuning chose for the first instance (GPU models), "" when nothing was tuned.
  std::string Tuning() const { return sessions_.empty() ? std::string() : sessions_[0]->last_tuning(); }
  // Answers everything still queued with UNAVAILABLE and refuses new work.
  void Stop(const std::string& reason);

  ModelStats& stats() { return stats_; }
  const ModelStats& stats() const { return stats_; }
  const BatchPolicy& policy() const { return policy_; }
  int instances() const { return static_cast<int>(sessions_.size()); }
  // OK, or why an instance cannot run ("instance 2 (GPU 1): ..."): its session could not be set
  // up (Session::status), so the model must not be served.
  Status InstancesStatus() const;
  size_t queued() const;
  // The most batches that have run at the same time (instances busy together).
  int peak_concurrency() const { return peak_running_.load(std::memory_order_relaxed); }

  void RunScheduled() override;

 private:
  // Runs `batch` on `session`, gives the session back (Release), then answers every job.
  void Execute(Session& session, std::vector<std::unique_ptr<QueuedJob>> batch);
  void Release(Session& session);
  void Deliver(std::unique_ptr<ScheduledJob> job, Status status, std::vector<Value> outputs, const ExecTiming* timing);
  void ScheduleLocked();  // requires mu_

  WorkerPool& pool_;
  const std::shared_ptr<const CompiledModel> model_;
  const BatchPolicy policy_;
  std::vector<std::unique_ptr<Session>> sessions_;
  std::vector<int> gpus_;  // per session: its GPU (for messages)
  ModelStats stats_;
  std::atomic<int> running_{0};
  std::atomic<int> peak_running_{0};
  // Moving average of a run's compute time (ns), and runs seen, for the inline decision.
  std::atomic<int64_t> run_ns_avg_{0};
  std::atomic<uint32_t> runs_seen_{0};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  BatchQueue queue_;             // guarded by mu_
  std::vector<Session*> free_;  // guarded by mu_
  bool scheduled_ = false;       // in the pool's ring or being drained; guarded by mu_
  bool waiting_ = false;         // the drainer waits for a batch to fill; guarded by mu_
  TimePoint wait_until_{};       // when it looks again; guarded by mu_
  bool stopped_ = false;         // guarded by mu_

  // preserve_ordering: finished jobs wait here until every earlier one is answered.
  struct Done {
    std::unique_ptr<ScheduledJob> job;
    Status status;
    std::vector<Value> outputs;
    bool has_timing = false;
    ExecTiming timing;
  };
  std::mutex order_mu_;
  std::map<uint64_t, Done> reorder_;  // by sequence; guarded by order_mu_
  uint64_t next_delivery_ = 0;        // guarded by order_mu_
  bool delivering_ = false;           // guarded by order_mu_
};

}  // namespace onnxd::server
