#include "scheduling/scheduler.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

#include "repository/model_repository.h"
#include "scheduling/batch_io.h"

namespace onnxd::server {
namespace {

uint64_t NsBetween(TimePoint a, TimePoint b) {
  return b > a ? static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count()) : 0;
}

ScheduledJob& AsJob(const std::unique_ptr<QueuedJob>& q) { return static_cast<ScheduledJob&>(*q); }

std::unique_ptr<ScheduledJob> TakeJob(std::unique_ptr<QueuedJob>& q) {
  return std::unique_ptr<ScheduledJob>(static_cast<ScheduledJob*>(q.release()));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ModelScheduler

ModelScheduler::ModelScheduler(WorkerPool& pool, std::shared_ptr<const CompiledModel> model, BatchPolicy policy,
                               int instances)
    : ModelScheduler(pool, std::move(model), std::move(policy), std::vector<int>(std::max(instances, 1), 0)) {}

ModelScheduler::ModelScheduler(WorkerPool& pool, std::shared_ptr<const CompiledModel> model, BatchPolicy policy,
                               const std::vector<int>& gpus)
    : pool_(pool), model_(std::move(model)), policy_(policy), queue_(std::move(policy)) {
  gpus_ = gpus.empty() ? std::vector<int>{0} : gpus;
  for (int gpu : gpus_) sessions_.push_back(model_->CreateSession(gpu));
  // free_ is a stack (taken from the back): the first instance on top.
  for (auto it = sessions_.rbegin(); it != sessions_.rend(); ++it) free_.push_back(it->get());
}

Status ModelScheduler::InstancesStatus() const {
  for (size_t i = 0; i < sessions_.size(); ++i) {
    Status st = sessions_[i]->status();
    if (st.ok()) continue;
    std::string where = "instance " + std::to_string(i);
    if (model_->placement().target == Device::kCuda) where += " (GPU " + std::to_string(gpus_[i]) + ")";
    return Status(st.code(), where + ": " + st.message());
  }
  return Status::Ok();
}

size_t ModelScheduler::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

namespace {

// The inputs of one model_warmup sample, in the model's input order.
StatusOr<std::vector<Value>> WarmupInputs(const CompiledModel& model, const inference::ModelConfig& config,
                                          const inference::ModelWarmup& w, const std::string& model_dir) {
  const std::string where = "model_warmup '" + w.name() + "'";
  std::vector<Value> inputs;
  uint32_t seed = 12345;
  for (const auto& spec : model.inputs()) {
    auto it = w.inputs().find(spec.name);
    if (it == w.inputs().end()) return InvalidArgument(where + " gives no data for input '" + spec.name + "'");
    const inference::ModelWarmup::Input& in = it->second;
    if (spec.type.kind != ValueKind::kTensor || ConfigDataType(spec.type.elem_type) != in.data_type())
      return InvalidArgument(where + ": input '" + spec.name + "' has data_type " +
                             inference::DataType_Name(in.data_type()) + ", the model takes " + spec.type.ToString());
    Shape shape;
    if (config.max_batch_size() > 0) shape.PushBack(std::max<int64_t>(w.batch_size(), 1));
    for (int64_t d : in.dims()) shape.PushBack(d);
    Tensor t = Tensor::Allocate(spec.type.elem_type, shape);  // zero_data
    if (in.has_random_data() && t.dtype() != DataType::kString) {
      auto* bytes = static_cast<unsigned char*>(t.raw_data());
      if (t.dtype() == DataType::kFloat) {
        for (int64_t i = 0; i < t.num_elements(); ++i) {
          seed = seed * 1664525u + 1013904223u;
          t.data<float>()[i] = static_cast<float>(seed >> 8) / 16777216.0f;
        }
      } else {
        for (size_t i = 0; i < t.bytes(); ++i) {  // small non-negative integers, any byte pattern else
          seed = seed * 1664525u + 1013904223u;
          bytes[i] = static_cast<unsigned char>((seed >> 24) & 0x03);
        }
      }
    } else if (in.has_input_data_file()) {
      const std::string file = in.input_data_file();
      if (file.find("..") != std::string::npos || (!file.empty() && file[0] == '/'))
        return InvalidArgument(where + ": input_data_file '" + file + "' must name a file inside " + model_dir + "/warmup");
      std::ifstream f(model_dir + "/warmup/" + file, std::ios::binary);
      if (!f) return InvalidArgument(where + ": cannot read " + model_dir + "/warmup/" + file);
      std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      if (t.dtype() == DataType::kString || data.size() != t.bytes())
        return InvalidArgument(where + ": " + file + " holds " + std::to_string(data.size()) + " bytes, input '" +
                               spec.name + "' of shape " + shape.ToString() + " needs " + std::to_string(t.bytes()));
      std::memcpy(t.raw_data(), data.data(), data.size());
    }
    inputs.emplace_back(std::move(t));
  }
  return inputs;
}

}  // namespace

Status ModelScheduler::WarmUp(const inference::ModelConfig& config, const std::string& model_dir) {
  std::vector<Value> outputs;
  // Warm-up runs may tune: a GPU session's capture of a signature then times each execution
  // variant (CompileOptions::cuda_autotune) and keeps the fastest for that batch class.
  RunOptions tune;
  tune.tune = true;
  if (config.model_warmup_size() > 0) {
    for (const auto& w : config.model_warmup()) {
      std::vector<Value> inputs;
      ASSIGN_OR_RETURN(inputs, WarmupInputs(*model_, config, w, model_dir));
      for (auto& s : sessions_)
        for (uint32_t i = 0; i < std::max<uint32_t>(w.count(), 1); ++i) {
          Status st = s->Run(inputs, &outputs, tune);
          if (!st.ok()) return st.WithContext("model_warmup '" + w.name() + "': ");
        }
    }
    return Status::Ok();
  }
  // Zeros, every dynamic dim 1 but a dynamic batch dim `batch`; false when an input is not a tensor.
  auto invent = [&](int64_t batch, std::vector<Value>* inputs) {
    inputs->clear();
    for (const auto& spec : model_->inputs()) {
      if (spec.type.kind != ValueKind::kTensor) return false;  // nothing sensible to invent
      Shape shape;
      for (size_t k = 0; k < spec.type.dims.size(); ++k) {
        const int64_t d = spec.type.dims[k];
        shape.PushBack(d >= 0 ? d : (k == 0 ? batch : 1));
      }
      inputs->emplace_back(Tensor::Allocate(spec.type.elem_type, shape));
    }
    return true;
  };
  std::vector<Value> inputs;
  if (!invent(1, &inputs)) return Status::Ok();
  // A GPU session captures a CUDA Graph on the second run of a signature (tuned, here): two runs
  // leave batch 1 replaying before the model is ready.
  const bool gpu = model_->placement().target == Device::kCuda;
  const int runs = gpu ? 2 : 1;
  for (auto& s : sessions_)
    for (int k = 0; k < runs; ++k) RETURN_IF_ERROR(s->Run(inputs, &outputs, tune));
  // With dynamic batching, the same at the largest batch the batcher forms: its convolution
  // algorithms (cudnnFind times every candidate: tens of ms per geometry), its tuned variant and
  // its graph are settled before the model is ready, not by the first full batch of requests.
  // Other batch sizes in between take the tuned variant of their class, and pay for new plans on
  // their first run.
  const int64_t max_batch = config.max_batch_size();
  if (gpu && config.has_dynamic_batching() && max_batch > 1 && !model_->inputs().empty() &&
      !model_->inputs()[0].type.dims.empty() && model_->inputs()[0].type.dims[0] < 0 && invent(max_batch, &inputs)) {
    for (auto& s : sessions_)
      for (int k = 0; k < 2; ++k) {
        Status st = s->Run(inputs, &outputs, tune);
        if (!st.ok()) return st.WithContext("warm-up at max_batch_size " + std::to_string(max_batch) + ": ");
      }
  }
  return Status::Ok();
}

void ModelScheduler::ScheduleLocked() {
  scheduled_ = true;
  pool_.Submit(shared_from_this());
}

namespace {
std::atomic<int64_t> g_inline_max_ns{ModelScheduler::kInlineMaxNs};
// Runs executing now, all models together (one atomic add per run, not per request).
std::atomic<int> g_runs_in_flight{0};
}  // namespace

void ModelScheduler::SetInlineMaxNs(int64_t ns) { g_inline_max_ns.store(ns, std::memory_order_relaxed); }

Status ModelScheduler::Enqueue(std::unique_ptr<ScheduledJob>& job, uint64_t priority, uint64_t timeout_override_us) {
  // Inline: decided under the lock (nothing queued, an instance taken), run outside it.
  // Only while nothing runs anywhere: under load the front-end threads are better left to I/O
  // (measured: inline runs at concurrency 16 cost HTTP throughput), and the pool's threads take
  // the runs in parallel.
  if (priority == 0 && !policy_.preserve_ordering && g_runs_in_flight.load(std::memory_order_relaxed) == 0 &&
      runs_seen_.load(std::memory_order_relaxed) >= 8 &&
      run_ns_avg_.load(std::memory_order_relaxed) * std::max<int64_t>(1, job->rows) <
          g_inline_max_ns.load(std::memory_order_relaxed)) {
    Session* session = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stopped_ && queue_.size() == 0 && !free_.empty()) {
        session = free_.back();
        free_.pop_back();
        stats_.pending.fetch_add(1, std::memory_order_relaxed);
      }
    }
    if (session != nullptr) {
      job->enqueued = SteadyClock::now();
      std::vector<std::unique_ptr<QueuedJob>> batch;
      batch.emplace_back(job.release());
      Execute(*session, std::move(batch));
      return Status::Ok();
    }
  }
  std::unique_ptr<QueuedJob> q(job.release());
  Status st;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) {
      st = Unavailable("the model is being unloaded");
    } else {
      st = queue_.Push(q, SteadyClock::now(), priority, timeout_override_us);
    }
    if (st.ok()) {
      stats_.pending.fetch_add(1, std::memory_order_relaxed);
      if (waiting_) {
        // A waiting drainer wakes only for an arrival that changes its plan: under load most
        // arrivals just join the filling batch, and waking for each cost a switch per request.
        if (queue_.PushChangesNext(wait_until_)) cv_.notify_one();
      } else if (!scheduled_ && !free_.empty()) {
        ScheduleLocked();
      }
    }
  }
  if (!st.ok()) job.reset(static_cast<ScheduledJob*>(q.release()));
  return st;
}

void ModelScheduler::Stop(const std::string& reason) {
  std::vector<std::unique_ptr<QueuedJob>> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    left = queue_.TakeAll();
    cv_.notify_all();
  }
  for (auto& j : left) {
    stats_.pending.fetch_sub(1, std::memory_order_relaxed);
    Deliver(TakeJob(j), Unavailable(reason), {}, nullptr);
  }
}

void ModelScheduler::RunScheduled() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (free_.empty()) {
      scheduled_ = false;  // the instance that frees up reschedules
      return;
    }
    BatchQueue::Decision d = queue_.Next(SteadyClock::now(), free_.size() < sessions_.size());
    if (!d.expired.empty()) {
      lock.unlock();
      for (auto& j : d.expired) {
        stats_.pending.fetch_sub(1, std::memory_order_relaxed);
        Status why = j->status;
        Deliver(TakeJob(j), std::move(why), {}, nullptr);
      }
      lock.lock();
    }
    if (d.batch.empty()) {
      if (d.wake == TimePoint::max() && queue_.size() == 0) {
        scheduled_ = false;
        return;
      }
      if (d.wake != TimePoint::max()) {
        waiting_ = true;
        wait_until_ = d.wake;
        cv_.wait_until(lock, d.wake);
        waiting_ = false;
      }
      continue;
    }
    Session* session = free_.back();
    free_.pop_back();
    // Another pool thread forms the next batch while this one runs, if there is work and an instance.
    if (queue_.size() > 0 && !free_.empty()) {
      ScheduleLocked();
    } else {
      scheduled_ = false;
    }
    lock.unlock();
    Execute(*session, std::move(d.batch));
    return;
  }
}

namespace {

// A run splits its ops over the intra-op pool only while some core has nothing else to run; with
// as many runs in flight as cores (less one for the front ends), splitting just adds switches.
bool RunSerially(int other_runs) {
  static const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return other_runs >= std::max(1, cores - 1);
}

}  // namespace

void ModelScheduler::Execute(Session& session, std::vector<std::unique_ptr<QueuedJob>> batch) {
  ExecTiming t;
  t.dispatched = SteadyClock::now();
  const int other_runs = g_runs_in_flight.fetch_add(1, std::memory_order_relaxed);
  const int running = running_.fetch_add(1, std::memory_order_relaxed) + 1;
  for (int peak = peak_running_.load(std::memory_order_relaxed);
       running > peak && !peak_running_.compare_exchange_weak(peak, running, std::memory_order_relaxed);) {
  }
  t.batch_requests = batch.size();
  stats_.pending.fetch_sub(static_cast<int64_t>(batch.size()), std::memory_order_relaxed);
  std::vector<int64_t> rows;
  rows.reserve(batch.size());
  for (const auto& j : batch) {
    rows.push_back(j->rows);
    t.batch_rows += j->rows;
  }
  Status st;
  std::vector<Value> inputs;
  RunOptions run_options;
  if (batch.size() == 1) {
    const ScheduledJob& j = AsJob(batch.front());
    inputs = j.inputs;
    run_options.deadline = j.deadline;
    run_options.cancelled = j.cancelled;
  } else {
    // The batch stops when every request in it has passed its deadline.
    TimePoint latest{};
    for (const auto& j : batch) latest = std::max(latest, j->deadline);
    run_options.deadline = latest;
    const size_t n_inputs = AsJob(batch.front()).inputs.size();
    inputs.resize(n_inputs);
    std::vector<const Tensor*> parts(batch.size());
    for (size_t i = 0; i < n_inputs && st.ok(); ++i) {
      for (size_t b = 0; b < batch.size(); ++b) parts[b] = &AsJob(batch[b]).inputs[i].tensor();
      auto joined = ConcatRows(parts);
      if (!joined.ok()) {
        st = joined.status();
      } else {
        inputs[i] = Value(std::move(joined).value());
      }
    }
  }
  const TimePoint infer_start = SteadyClock::now();
  t.input_ns = NsBetween(t.dispatched, infer_start);
  std::vector<Value> outputs;
  run_options.serial = RunSerially(other_runs);
  if (st.ok()) st = session.Run(inputs, &outputs, run_options);
  g_runs_in_flight.fetch_sub(1, std::memory_order_relaxed);
  const TimePoint infer_end = SteadyClock::now();
  t.infer_ns = NsBetween(infer_start, infer_end);
  {
    // Per row, so that a large batch does not read as a slow model; racing updates may lose one.
    const int64_t per_row = static_cast<int64_t>(t.infer_ns) / std::max<int64_t>(1, t.batch_rows);
    const int64_t avg = run_ns_avg_.load(std::memory_order_relaxed);
    run_ns_avg_.store(runs_seen_.load(std::memory_order_relaxed) == 0 ? per_row : avg + (per_row - avg) / 8,
                      std::memory_order_relaxed);
    runs_seen_.fetch_add(1, std::memory_order_relaxed);
  }
  inputs.clear();

  // Per request outputs, owned (the session's arena is reused by the next run).
  std::vector<std::vector<Value>> per_job(batch.size());
  if (st.ok()) {
    if (batch.size() == 1) {
      per_job[0].reserve(outputs.size());
      for (const Value& v : outputs) per_job[0].push_back(v.Owned());
    } else {
      for (auto& p : per_job) p.reserve(outputs.size());
      std::vector<Value> pieces;
      for (size_t o = 0; o < outputs.size() && st.ok(); ++o) {
        st = SplitRows(model_->outputs()[o].name, outputs[o], rows, &pieces);
        if (st.ok())
          for (size_t b = 0; b < batch.size(); ++b) per_job[b].push_back(std::move(pieces[b]));
      }
    }
  }
  outputs.clear();
  t.output_ns = NsBetween(infer_end, SteadyClock::now());
  running_.fetch_sub(1, std::memory_order_relaxed);
  // The instance is free before any response leaves: a client that answers its response with the
  // next request at once must find the model idle, not wait out the queue delay for this run.
  Release(session);

  if (st.ok()) {
    stats_.execution_count.fetch_add(1, std::memory_order_relaxed);
    if (ModelHistograms* h = stats_.histograms.get()) h->batch_size.Observe(static_cast<uint64_t>(t.batch_rows));
    if (t.batch_rows >= 1 && t.batch_rows <= ModelStats::kMaxTrackedBatch) {
      auto& bs = stats_.batch[static_cast<size_t>(t.batch_rows)];
      bs.compute_input.Add(t.input_ns);
      bs.compute_infer.Add(t.infer_ns);
      bs.compute_output.Add(t.output_ns);
    }
  }
  for (size_t b = 0; b < batch.size(); ++b) Deliver(TakeJob(batch[b]), st, std::move(per_job[b]), &t);
}

void ModelScheduler::Release(Session& session) {
  std::lock_guard<std::mutex> lock(mu_);
  free_.push_back(&session);
  if (waiting_) cv_.notify_one();  // the drainer's reason to wait may be gone
  if (!scheduled_ && queue_.size() > 0) ScheduleLocked();
}

void ModelScheduler::Deliver(std::unique_ptr<ScheduledJob> job, Status status, std::vector<Value> outputs,
                             const ExecTiming* timing) {
  if (!policy_.preserve_ordering) {
    job->Finish(std::move(status), &outputs, timing);
    return;
  }
  // Responses leave in arrival order: one thread at a time delivers every job whose predecessors
  // are all answered.
  {
    std::lock_guard<std::mutex> lock(order_mu_);
    const uint64_t seq = job->sequence;
    Done& d = reorder_[seq];
    d.job = std::move(job);
    d.status = std::move(status);
    d.outputs = std::move(outputs);
    if (timing) {
      d.has_timing = true;
      d.timing = *timing;
    }
    if (delivering_) return;
    delivering_ = true;
  }
  std::vector<Done> ready;
  for (;;) {
    ready.clear();
    {
      std::lock_guard<std::mutex> lock(order_mu_);
      while (!reorder_.empty() && reorder_.begin()->first == next_delivery_) {
        ready.push_back(std::move(reorder_.begin()->second));
        reorder_.erase(reorder_.begin());
        ++next_delivery_;
      }
      if (ready.empty()) {
        delivering_ = false;
        return;
      }
    }
    for (Done& d : ready) d.job->Finish(std::move(d.status), &d.outputs, d.has_timing ? &d.timing : nullptr);
  }
}

}  // namespace onnxd::server
