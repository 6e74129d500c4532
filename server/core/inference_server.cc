#include "core/inference_server.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <chrono>
#include <thread>

#include "core/log.h"
#include "lifecycle/model_manager.h"
#include "repository/repository_watcher.h"
#include "scheduling/scheduler.h"
#include "workers/worker_pool.h"

namespace onnxd::server {
namespace {

// The process's one engine (owns nothing per model; the thread pool is process-wide).
const Engine& ProcessEngine() {
  static const Engine engine;
  return engine;
}

uint64_t NsSince(std::chrono::steady_clock::time_point t) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t).count());
}

std::vector<int64_t> MetadataShape(const IoSpec& s) {
  if (s.type.kind != ValueKind::kTensor) return {-1};
  if (!s.type.has_shape) return {-1};
  return s.type.dims;
}


// Triton's classification extension: the top `k` entries of each batch row (or of the whole tensor
// when the model does not batch) as BYTES "value:index", largest first, ties to the lower index.
StatusOr<Tensor> Classify(const std::string& name, const Tensor& t, int64_t k, bool batched) {
  if (!t.defined() || t.dtype() == DataType::kString || t.dtype() == DataType::kBool)
    return InvalidArgument("output '" + name + "': classification needs a numeric tensor");
  const int64_t rows = batched && t.rank() > 0 ? t.dim(0) : 1;
  const int64_t per_row = rows > 0 ? t.num_elements() / rows : 0;
  const int64_t kk = std::min(k, per_row);
  Tensor out = Tensor::Allocate(DataType::kString, batched ? Shape{rows, kk} : Shape{kk});
  std::vector<double> values(static_cast<size_t>(per_row));
  std::vector<int64_t> order(static_cast<size_t>(per_row));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < per_row; ++i) {
      Tensor one = Tensor::View(t.dtype(), Shape{},
                                const_cast<char*>(static_cast<const char*>(t.raw_data())) +
                                    (r * per_row + i) * static_cast<int64_t>(ElementSize(t.dtype())));
      double v = 0;
      switch (t.dtype()) {
        case DataType::kFloat: v = *one.data<float>(); break;
        case DataType::kDouble: v = *one.data<double>(); break;
        case DataType::kFloat16: v = static_cast<float>(*one.data<Float16>()); break;
        case DataType::kBFloat16: v = static_cast<float>(*one.data<BFloat16>()); break;
        case DataType::kInt8: v = *one.data<int8_t>(); break;
        case DataType::kInt16: v = *one.data<int16_t>(); break;
        case DataType::kInt32: v = *one.data<int32_t>(); break;
        case DataType::kInt64: v = static_cast<double>(*one.data<int64_t>()); break;
        case DataType::kUInt8: v = *one.data<uint8_t>(); break;
        case DataType::kUInt16: v = *one.data<uint16_t>(); break;
        case DataType::kUInt32: v = *one.data<uint32_t>(); break;
        case DataType::kUInt64: v = static_cast<double>(*one.data<uint64_t>()); break;
        default: break;
      }
      values[static_cast<size_t>(i)] = v;
      order[static_cast<size_t>(i)] = i;
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return values[static_cast<size_t>(a)] > values[static_cast<size_t>(b)]; });
    for (int64_t j = 0; j < kk; ++j) {
      const int64_t idx = order[static_cast<size_t>(j)];
      out.data<std::string>()[r * kk + j] = std::to_string(values[static_cast<size_t>(idx)]) + ":" + std::to_string(idx);
    }
  }
  return out;
}

int64_t ClassificationCount(const Parameters& p) {
  auto it = p.find("classification");
  if (it == p.end()) return 0;
  if (const auto* i = std::get_if<int64_t>(&it->second)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&it->second)) return static_cast<int64_t>(*u);
  return 0;
}

}  // namespace

InferenceServer::InferenceServer(ServerOptions options)
    : options_(std::move(options)),
      workers_(std::make_unique<WorkerPool>(options_.scheduler_threads)),
      models_(std::make_unique<ModelManager>(options_, ProcessEngine(), *workers_)) {
  ModelScheduler::SetInlineMaxNs(std::max<int64_t>(0, options_.inline_max_us) * 1000);
}

InferenceServer::~InferenceServer() {
  if (watcher_) watcher_->Stop();
  // Queued work finishes (or is answered) before the models it holds go.
  workers_->Stop();
}

Status InferenceServer::Start() {
  models_->LoadInitial();
  if (options_.model_control_mode == "poll") {
    watcher_ = std::make_unique<RepositoryWatcher>(
        options_.model_repository, std::chrono::seconds(std::max(options_.repository_poll_secs, 1)),
        std::chrono::milliseconds(std::max(options_.repository_settle_ms, 10)),
        [this](const std::string& name, RepositoryWatcher::Change change) {
          if (shutting_down_.load()) return;
          if (change == RepositoryWatcher::Change::kRemoved) {
            (void)models_->Unload(name);
          } else {
            (void)models_->Load(name, "");  // failures are logged and shown in the index
          }
        });
    watcher_->Start();
  }
  started_.store(true);
  return Status::Ok();
}

void InferenceServer::BeginShutdown() {
  shutting_down_.store(true);
  if (watcher_) watcher_->Stop();
}

bool InferenceServer::Live() const { return true; }

bool InferenceServer::Ready() const {
  if (!started_.load() || shutting_down_.load()) return false;
  return !options_.strict_readiness || models_->AllModelsReady();
}

ServerMetadata InferenceServer::Metadata() const {
  return {"onnxd", "0.1.0", {"classification", "model_repository", "model_repository(unload_dependents)",
                              "schedule_policy", "model_configuration", "statistics", "binary_tensor_data"}};
}

Status InferenceServer::ModelReady(const std::string& name, const std::string& version) const {
  return models_->Get(name, version).status();
}

StatusOr<ModelMetadata> InferenceServer::GetModelMetadata(const std::string& name, const std::string& version) const {
  std::shared_ptr<ModelVersion> mv;
  ASSIGN_OR_RETURN(mv, models_->Get(name, version));
  ModelMetadata md;
  md.name = name;
  for (const auto& v : models_->ReadyVersions(name)) md.versions.push_back(std::to_string(v->version));
  md.platform = "onnxruntime_onnx";
  for (const auto& s : mv->model->inputs())
    md.inputs.push_back({s.name, s.type.kind == ValueKind::kTensor ? DataTypeKServeName(s.type.elem_type) : "BYTES",
                         MetadataShape(s)});
  for (const auto& s : mv->model->outputs())
    md.outputs.push_back({s.name, s.type.kind == ValueKind::kTensor ? DataTypeKServeName(s.type.elem_type) : "BYTES",
                          MetadataShape(s)});
  return md;
}

StatusOr<inference::ModelConfig> InferenceServer::GetModelConfig(const std::string& name,
                                                                 const std::string& version) const {
  std::shared_ptr<ModelVersion> mv;
  ASSIGN_OR_RETURN(mv, models_->Get(name, version));
  return mv->config;
}

namespace {
void FillDuration(const DurationStat& d, inference::StatisticDuration* out) {
  out->set_count(d.count.load(std::memory_order_relaxed));
  out->set_ns(d.ns.load(std::memory_order_relaxed));
}

void FillStats(const ModelVersion& mv, inference::ModelStatistics* out) {
  const ModelStats& s = mv.stats();
  out->set_name(mv.name);
  out->set_version(std::to_string(mv.version));
  out->set_last_inference(s.last_inference_ms.load());
  out->set_inference_count(s.inference_count.load());
  out->set_execution_count(s.execution_count.load());
  auto* is = out->mutable_inference_stats();
  FillDuration(s.success, is->mutable_success());
  FillDuration(s.fail, is->mutable_fail());
  FillDuration(s.queue, is->mutable_queue());
  FillDuration(s.compute_input, is->mutable_compute_input());
  FillDuration(s.compute_infer, is->mutable_compute_infer());
  FillDuration(s.compute_output, is->mutable_compute_output());
  is->mutable_cache_hit();
  is->mutable_cache_miss();
  for (size_t b = 1; b < s.batch.size(); ++b) {
    if (s.batch[b].compute_infer.count.load() == 0) continue;
    auto* bs = out->add_batch_stats();
    bs->set_batch_size(b);
    FillDuration(s.batch[b].compute_input, bs->mutable_compute_input());
    FillDuration(s.batch[b].compute_infer, bs->mutable_compute_infer());
    FillDuration(s.batch[b].compute_output, bs->mutable_compute_output());
  }
}
}  // namespace

StatusOr<inference::ModelStatisticsResponse> InferenceServer::GetStatistics(const std::string& name,
                                                                            const std::string& version) const {
  inference::ModelStatisticsResponse resp;
  if (name.empty()) {
    for (const auto& mv : models_->AllReady()) FillStats(*mv, resp.add_model_stats());
    return resp;
  }
  if (!version.empty()) {
    std::shared_ptr<ModelVersion> mv;
    ASSIGN_OR_RETURN(mv, models_->Get(name, version));
    FillStats(*mv, resp.add_model_stats());
    return resp;
  }
  auto versions = models_->ReadyVersions(name);
  if (versions.empty()) return models_->Get(name, "").status();
  for (const auto& mv : versions) FillStats(*mv, resp.add_model_stats());
  return resp;
}

bool InferenceServer::WaitIdle(std::chrono::steady_clock::time_point deadline) const {
  while (in_flight_.load() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

namespace {

uint64_t ParamUint(const Parameters& p, const char* key) {
  auto it = p.find(key);
  if (it == p.end()) return 0;
  if (const auto* i = std::get_if<int64_t>(&it->second)) return *i > 0 ? static_cast<uint64_t>(*i) : 0;
  if (const auto* u = std::get_if<uint64_t>(&it->second)) return *u;
  return 0;
}

// One line per request, at --log-verbose 1 only (never at the default level).
void LogRequest(const std::string& id, const ModelVersion& mv, const Status& status, uint64_t ns) {
  std::string msg = "request " + (id.empty() ? std::string("(no id)") : id) + " to model '" + mv.name + "' version " +
                    std::to_string(mv.version) + ": " + StatusCodeName(status.code()) + " after " +
                    std::to_string(ns / 1000) + " us";
  if (!status.ok()) msg += ": " + status.message();
  LogEvent(LogLevel::kVerbose, msg,
           {{"request_id", id},
            {"model", mv.name},
            {"version", std::to_string(mv.version)},
            {"status", StatusCodeName(status.code())},
            {"duration_us", std::to_string(ns / 1000)}});
}

uint64_t NowMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

}  // namespace

// One request on its way through the scheduler: what the response needs besides the outputs.
class InferenceServer::Job final : public ScheduledJob {
 public:
  Job(InferenceServer* server, std::shared_ptr<ModelVersion> mv, InferCallback done)
      : server_(server), mv_(std::move(mv)), done_(std::move(done)) {}
  ~Job() override { server_->in_flight_.fetch_sub(1, std::memory_order_acq_rel); }

  std::string id;
  std::vector<int> wanted;        // model output indices, in response order
  std::vector<int64_t> classify;  // per wanted output: top-k count, 0 = plain output
  TimePoint received{};
  std::shared_ptr<std::atomic<bool>> cancel_hold;  // keeps `cancelled` alive

  void Finish(Status status, std::vector<Value>* outputs, const ExecTiming* timing) override {
    ModelStats& stats = mv_->stats();
    InferResponse response;
    // The engine's verdict decides BACKEND; a response that cannot be built afterwards is OTHER.
    const bool ran = timing != nullptr && !status.ok();
    if (status.ok()) status = BuildResponse(outputs, &response);
    const TimePoint end = SteadyClock::now();
    const uint64_t total_ns = NsSince(received);
    if (!status.ok()) {
      stats.AddFailure(ClassifyFailure(status.code(), ran, end >= deadline), total_ns);
    } else {
      const uint64_t queue_ns = static_cast<uint64_t>(std::max<int64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(timing->dispatched - enqueued).count(), 0));
      const uint64_t output_ns = timing->output_ns + NsSince(end);
      stats.success.Add(total_ns);
      stats.queue.Add(queue_ns);
      stats.compute_input.Add(timing->input_ns);
      stats.compute_infer.Add(timing->infer_ns);
      stats.compute_output.Add(output_ns);
      stats.inference_count.fetch_add(static_cast<uint64_t>(std::max<int64_t>(rows, 1)), std::memory_order_relaxed);
      stats.last_inference_ms.store(NowMs(), std::memory_order_relaxed);
      if (ModelHistograms* h = stats.histograms.get()) {
        h->request.Observe(total_ns);
        h->queue.Observe(queue_ns);
        h->compute.Observe(timing->input_ns + timing->infer_ns + output_ns);
      }
    }
    if (LogEnabled(LogLevel::kVerbose)) LogRequest(id, *mv_, status, total_ns);
    InferCallback done = std::move(done_);
    done(std::move(status), std::move(response));
  }

 private:
  Status BuildResponse(std::vector<Value>* outputs, InferResponse* response) {
    const CompiledModel& model = *mv_->model;
    response->model_name = mv_->name;
    response->model_version = std::to_string(mv_->version);
    response->id = id;
    response->outputs.reserve(wanted.size());
    for (size_t w = 0; w < wanted.size(); ++w) {
      const int idx = wanted[w];
      const std::string& name = model.outputs()[idx].name;
      Value& v = (*outputs)[static_cast<size_t>(idx)];
      if (classify[w] > 0) {
        if (!v.is_tensor()) return InvalidArgument("output '" + name + "': classification needs a tensor");
        auto top = Classify(name, v.tensor(), classify[w], mv_->config.max_batch_size() > 0);
        if (!top.ok()) return top.status();
        response->outputs.push_back({name, Value(std::move(top).value()), {}});
      } else {
        response->outputs.push_back({name, v, {}});
      }
    }
    return Status::Ok();
  }

  InferenceServer* server_;
  std::shared_ptr<ModelVersion> mv_;
  InferCallback done_;
};

void InferenceServer::InferAsync(const InferRequest& request, InferCallback done) {
  // Counted from here; the Job takes the count over once it exists (its destructor gives it back).
  in_flight_.fetch_add(1, std::memory_order_acq_rel);
  auto refuse = [&](Status st) {
    done(std::move(st), InferResponse{});
    in_flight_.fetch_sub(1, std::memory_order_acq_rel);
  };
  if (shutting_down_.load(std::memory_order_acquire)) return refuse(Unavailable("the server is shutting down"));
  auto found = models_->Get(request.model_name, request.model_version);
  if (!found.ok()) return refuse(found.status());
  std::shared_ptr<ModelVersion> mv = std::move(found).value();
  ModelStats& stats = mv->stats();
  auto fail = [&](Status st) {
    const uint64_t ns = NsSince(request.received);
    stats.AddFailure(FailureReason::kOther, ns);
    if (LogEnabled(LogLevel::kVerbose)) LogRequest(request.id, *mv, st, ns);
    refuse(std::move(st));
  };
  const CompiledModel& model = *mv->model;
  const auto& specs = model.inputs();
  const std::string model_label = "model '" + request.model_name + "'";
  const int64_t max_batch = mv->config.max_batch_size();

  // Inputs in the model's order, checked against its declared types and the config's batch limit.
  std::vector<Value> inputs(specs.size());
  std::vector<int64_t> key;
  key.reserve(specs.size() * 4);
  int64_t batch = -1;
  std::string batch_input;
  for (const InferInput& in : request.inputs) {
    int idx = model.InputIndex(in.name);
    if (idx < 0) return fail(InvalidArgument(model_label + " has no input named '" + in.name + "'"));
    if (!inputs[static_cast<size_t>(idx)].is_none())
      return fail(InvalidArgument("input '" + in.name + "' is given twice"));
    const TypeInfo& t = specs[idx].type;
    const Tensor& x = in.tensor;
    if (t.kind == ValueKind::kTensor && t.elem_type != x.dtype())
      return fail(InvalidArgument("input '" + in.name + "' has datatype " + DataTypeKServeName(x.dtype()) + ", " +
                                  model_label + " expects " + DataTypeKServeName(t.elem_type)));
    if (t.has_shape) {
      if (static_cast<size_t>(x.rank()) != t.dims.size())
        return fail(InvalidArgument("input '" + in.name + "' has shape " + x.shape().ToString() + ", " + model_label +
                                    " expects " + std::to_string(t.dims.size()) + " dims"));
      for (size_t d = 0; d < t.dims.size(); ++d)
        if (t.dims[d] >= 0 && t.dims[d] != x.dim(static_cast<int>(d)))
          return fail(InvalidArgument("input '" + in.name + "' dim " + std::to_string(d) + " is " +
                                      std::to_string(x.dim(static_cast<int>(d))) + ", " + model_label + " expects " +
                                      std::to_string(t.dims[d])));
    }
    if (max_batch > 0) {
      if (x.rank() == 0)
        return fail(InvalidArgument("input '" + in.name + "' is a scalar, but " + model_label +
                                    " batches (max_batch_size " + std::to_string(max_batch) +
                                    "): its first dim is the batch"));
      if (x.dim(0) > max_batch)
        return fail(InvalidArgument("input '" + in.name + "' has batch size " + std::to_string(x.dim(0)) +
                                    ", above the model's max_batch_size " + std::to_string(max_batch)));
      if (batch >= 0 && x.dim(0) != batch)
        return fail(InvalidArgument("input '" + in.name + "' has batch size " + std::to_string(x.dim(0)) +
                                    ", input '" + batch_input + "' has " + std::to_string(batch) +
                                    ": every input must carry the same number of rows"));
      batch = x.dim(0);
      batch_input = in.name;
    }
    inputs[static_cast<size_t>(idx)] = Value(x);
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    if (inputs[i].is_none()) return fail(InvalidArgument("missing input '" + specs[i].name + "' for " + model_label));
    const Tensor& x = inputs[i].tensor();
    key.push_back(static_cast<int64_t>(x.dtype()));
    key.push_back(x.rank());
    for (int d = 1; d < x.rank(); ++d) key.push_back(x.dim(d));
  }
  auto job = std::make_unique<Job>(this, mv, std::move(done));
  for (const RequestedOutput& o : request.outputs) {
    int idx = model.OutputIndex(o.name);
    if (idx < 0) {
      job->Finish(InvalidArgument(model_label + " has no output named '" + o.name + "'"), nullptr, nullptr);
      return;
    }
    job->wanted.push_back(idx);
    const int64_t k = ClassificationCount(o.parameters);
    if (k < 0) {
      job->Finish(InvalidArgument("output '" + o.name + "': classification count must be positive"), nullptr, nullptr);
      return;
    }
    job->classify.push_back(k);
  }
  if (job->wanted.empty()) {
    for (size_t i = 0; i < model.outputs().size(); ++i) job->wanted.push_back(static_cast<int>(i));
    job->classify.assign(job->wanted.size(), 0);
  }
  job->id = request.id;
  job->received = request.received;
  job->inputs = std::move(inputs);
  job->rows = max_batch > 0 ? batch : 1;
  job->shape_key = std::move(key);
  job->deadline = request.deadline;
  job->cancelled = request.cancelled.get();
  job->cancel_hold = request.cancelled;
  std::unique_ptr<ScheduledJob> queued(std::move(job));
  Status st = mv->scheduler->Enqueue(queued, ParamUint(request.parameters, "priority"),
                                     ParamUint(request.parameters, "timeout"));
  if (!st.ok()) queued->Finish(std::move(st), nullptr, nullptr);
}

Status InferenceServer::Infer(const InferRequest& request, InferResponse* response) {
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  Status result;
  InferAsync(request, [&](Status st, InferResponse&& r) {
    std::lock_guard<std::mutex> lock(mu);
    result = std::move(st);
    *response = std::move(r);
    finished = true;
    cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return finished; });
  return result;
}

std::vector<ModelIndexEntry> InferenceServer::RepositoryIndex(bool ready_only) const { return models_->Index(ready_only); }

Status InferenceServer::LoadModel(const std::string& name, const std::string& config_json) {
  if (shutting_down_.load()) return Unavailable("the server is shutting down");
  return models_->Load(name, config_json);
}

Status InferenceServer::UnloadModel(const std::string& name) { return models_->Unload(name); }

}  // namespace onnxd::server
