#include "core/inference_server.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/log.h"
#include "lifecycle/model_manager.h"

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
    : options_(std::move(options)), models_(std::make_unique<ModelManager>(options_, ProcessEngine())) {}

InferenceServer::~InferenceServer() = default;

Status InferenceServer::Start() {
  models_->LoadInitial();
  started_.store(true);
  return Status::Ok();
}

void InferenceServer::BeginShutdown() { shutting_down_.store(true); }

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
  const ModelStats& s = mv.stats;
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

Status InferenceServer::Infer(const InferRequest& request, InferResponse* response) {
  in_flight_.fetch_add(1, std::memory_order_acq_rel);
  struct Done {
    std::atomic<int>& n;
    ~Done() { n.fetch_sub(1, std::memory_order_acq_rel); }
  } done{in_flight_};
  if (shutting_down_.load(std::memory_order_acquire)) return Unavailable("the server is shutting down");
  std::shared_ptr<ModelVersion> mv;
  ASSIGN_OR_RETURN(mv, models_->Get(request.model_name, request.model_version));
  ModelStats& stats = mv->stats;
  const auto start = request.received;
  auto fail = [&](Status st) {
    stats.fail.Add(NsSince(start));
    return st;
  };
  const CompiledModel& model = *mv->model;
  const auto& specs = model.inputs();
  const std::string model_label = "model '" + request.model_name + "'";

  // Inputs in the model's order, checked against its declared types and the config's batch limit.
  std::vector<Value> inputs(specs.size());
  std::vector<bool> given(specs.size(), false);
  int64_t batch = 1;
  for (const InferInput& in : request.inputs) {
    int idx = model.InputIndex(in.name);
    if (idx < 0) return fail(InvalidArgument(model_label + " has no input named '" + in.name + "'"));
    if (given[idx]) return fail(InvalidArgument("input '" + in.name + "' is given twice"));
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
    if (mv->config.max_batch_size() > 0 && x.rank() > 0) {
      batch = x.dim(0);
      if (batch > mv->config.max_batch_size())
        return fail(InvalidArgument("input '" + in.name + "' has batch size " + std::to_string(batch) +
                                    ", above the model's max_batch_size " +
                                    std::to_string(mv->config.max_batch_size())));
    }
    inputs[idx] = Value(x);
    given[idx] = true;
  }
  for (size_t i = 0; i < specs.size(); ++i)
    if (!given[i]) return fail(InvalidArgument("missing input '" + specs[i].name + "' for " + model_label));
  std::vector<int> wanted;
  std::vector<int64_t> classify;  // per wanted output: top-k count, 0 = plain output
  for (const RequestedOutput& o : request.outputs) {
    int idx = model.OutputIndex(o.name);
    if (idx < 0) return fail(InvalidArgument(model_label + " has no output named '" + o.name + "'"));
    wanted.push_back(idx);
    const int64_t k = ClassificationCount(o.parameters);
    if (k < 0) return fail(InvalidArgument("output '" + o.name + "': classification count must be positive"));
    classify.push_back(k);
  }
  if (wanted.empty())
    for (size_t i = 0; i < model.outputs().size(); ++i) wanted.push_back(static_cast<int>(i));

  if (std::chrono::steady_clock::now() > request.deadline)
    return fail(DeadlineExceeded("the request's deadline passed before it could run"));
  if (request.cancelled && request.cancelled->load()) return fail(Cancelled("the client cancelled the request"));

  const auto queue_start = std::chrono::steady_clock::now();
  auto lease = mv->pool.Acquire(request.deadline);
  if (!lease.ok()) return fail(lease.status());
  const uint64_t queue_ns = NsSince(queue_start);
  const auto infer_start = std::chrono::steady_clock::now();
  RunOptions run_options;
  run_options.deadline = request.deadline;
  run_options.cancelled = request.cancelled.get();
  std::vector<Value> outputs;
  Status st = (*lease)->Run(inputs, &outputs, run_options);
  const uint64_t infer_ns = NsSince(infer_start);
  if (!st.ok()) return fail(st);
  const auto output_start = std::chrono::steady_clock::now();
  response->model_name = request.model_name;
  response->model_version = std::to_string(mv->version);
  response->id = request.id;
  response->outputs.clear();
  for (size_t w = 0; w < wanted.size(); ++w) {
    const int idx = wanted[w];
    const std::string& name = model.outputs()[idx].name;
    if (w < classify.size() && classify[w] > 0) {
      if (!outputs[idx].is_tensor()) return fail(InvalidArgument("output '" + name + "': classification needs a tensor"));
      auto top = Classify(name, outputs[idx].tensor(), classify[w], mv->config.max_batch_size() > 0);
      if (!top.ok()) return fail(top.status());
      response->outputs.push_back({name, Value(std::move(top).value()), {}});
    } else {
      response->outputs.push_back({name, outputs[idx].Owned(), {}});
    }
  }
  outputs.clear();
  const uint64_t output_ns = NsSince(output_start);

  stats.queue.Add(queue_ns);
  stats.compute_infer.Add(infer_ns);
  stats.compute_output.Add(output_ns);
  stats.compute_input.Add(0);
  stats.success.Add(NsSince(start));
  stats.inference_count.fetch_add(static_cast<uint64_t>(std::max<int64_t>(batch, 1)), std::memory_order_relaxed);
  stats.execution_count.fetch_add(1, std::memory_order_relaxed);
  stats.last_inference_ms.store(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                          std::chrono::system_clock::now().time_since_epoch())
                                                          .count()),
                                std::memory_order_relaxed);
  if (batch >= 1 && batch <= ModelStats::kMaxTrackedBatch) {
    auto& b = stats.batch[static_cast<size_t>(batch)];
    b.compute_input.Add(0);
    b.compute_infer.Add(infer_ns);
    b.compute_output.Add(output_ns);
  }
  return Status::Ok();
}

std::vector<ModelIndexEntry> InferenceServer::RepositoryIndex(bool ready_only) const { return models_->Index(ready_only); }

Status InferenceServer::LoadModel(const std::string& name, const std::string& config_json) {
  if (shutting_down_.load()) return Unavailable("the server is shutting down");
  return models_->Load(name, config_json);
}

Status InferenceServer::UnloadModel(const std::string& name) { return models_->Unload(name); }

}  // namespace onnxd::server
