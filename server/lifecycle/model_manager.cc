#include "lifecycle/model_manager.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <functional>

#include "core/log.h"
#include "repository/instance_groups.h"
#include "repository/model_repository.h"
#include "repository/repository_watcher.h"

namespace onnxd::server {

ModelVersion::ReturnMemory::~ReturnMemory() { malloc_trim(0); }

const char* ModelStateName(ModelState s) {
  switch (s) {
    case ModelState::kLoading: return "LOADING";
    case ModelState::kReady: return "READY";
    case ModelState::kUnavailable: return "UNAVAILABLE";
    case ModelState::kUnloading: return "UNLOADING";
  }
  return "UNKNOWN";
}

ModelManager::ModelManager(const ServerOptions& options, const Engine& engine, WorkerPool& workers)
    : options_(options), engine_(engine), workers_(workers), snapshot_(std::make_shared<const Snapshot>()) {}

void ModelManager::SetModel(const std::string& name, ModelEntry entry) {
  auto next = std::make_shared<Snapshot>(*Current());
  (*next)[name] = std::move(entry);
  Publish(std::move(next));
}

void ModelManager::LoadInitial() {
  auto models = ScanRepository(options_.model_repository);
  if (!models.ok()) {
    LOG_ERROR("model repository: " << models.status().message());
    return;
  }
  bool all = options_.model_control_mode != "explicit" ||
             std::find(options_.load_models.begin(), options_.load_models.end(), "*") != options_.load_models.end();
  for (const auto& m : *models) {
    if (!all && std::find(options_.load_models.begin(), options_.load_models.end(), m.name) == options_.load_models.end())
      continue;
    (void)Load(m.name, "");
  }
  if (!all) {
    for (const auto& n : options_.load_models) {
      if (n == "*") continue;
      bool found = false;
      for (const auto& m : *models) found |= m.name == n;
      if (!found) LOG_ERROR("--load-model " << n << ": no such model in " << options_.model_repository);
    }
  }
}

Status ModelManager::Load(const std::string& name, const std::string& config_json) {
  std::lock_guard<std::mutex> lock(write_mu_);
  const auto t0 = std::chrono::steady_clock::now();
  ModelEntry entry;
  auto fail_model = [&](const Status& st) {
    entry.failed = true;
    entry.reason = st.message();
    // Versions that were serving keep serving when the new load fails.
    auto cur = Current();
    auto it = cur->find(name);
    if (it != cur->end()) {
      for (const auto& v : it->second.versions)
        if (v.state == ModelState::kReady) entry.versions.push_back(v);
    }
    LOG_ERROR("model '" << name << "' failed to load: " << st.message());
    SetModel(name, std::move(entry));
    return st;
  };
  auto repo_model = ScanModel(options_.model_repository, name);
  if (!repo_model.ok()) {
    if (repo_model.status().code() == StatusCode::kNotFound) return repo_model.status();
    return fail_model(repo_model.status());
  }
  auto loaded_config = ReadModelConfig(repo_model->dir, config_json);
  if (!loaded_config.ok()) return fail_model(loaded_config.status());
  inference::ModelConfig base = loaded_config->config;
  if (!base.name().empty() && base.name() != name && config_json.empty())
    return fail_model(InvalidArgument("config.pbtxt names the model '" + base.name() + "', its folder is '" + name + "'"));
  base.set_name(name);
  if (!base.platform().empty() && base.platform() != "onnxruntime_onnx" && base.platform() != "onnx")
    return fail_model(InvalidArgument("platform '" + base.platform() + "' is not served by onnxd (ONNX models only)"));
  if (!base.backend().empty() && base.backend() != "onnxruntime" && base.backend() != "onnxd")
    return fail_model(InvalidArgument("backend '" + base.backend() + "' is not served by onnxd (ONNX models only)"));
  if (repo_model->versions.empty()) return fail_model(NotFound("model '" + name + "' has no version folders"));
  std::vector<int64_t> wanted = SelectVersions(base, repo_model->versions);
  if (wanted.empty()) return fail_model(NotFound("the version policy selects none of the model's versions"));

  Status first_error;
  // A version whose files and config are unchanged keeps its loaded instance (and its queue and
  // statistics): reloading a model touches only what changed.
  const uint64_t config_fp = std::hash<std::string>{}(base.SerializeAsString() + "\n" + config_json);
  const auto before = Current();
  const auto before_it = before->find(name);
  for (int64_t v : wanted) {
    VersionEntry ve;
    ve.version = v;
    ve.fingerprint = TreeFingerprint(repo_model->dir + "/" + std::to_string(v)) ^ (config_fp * 0x9e3779b97f4a7c15ull);
    if (before_it != before->end()) {
      const VersionEntry* same = nullptr;
      for (const auto& old : before_it->second.versions)
        if (old.version == v && old.state == ModelState::kReady && old.fingerprint == ve.fingerprint) same = &old;
      if (same) {
        entry.versions.push_back(*same);
        continue;
      }
    }
    const auto version_t0 = std::chrono::steady_clock::now();
    LogModelState(name, v, ModelStateName(ModelState::kLoading), "");
    const std::string path = ModelFilePath(*repo_model, v, base);
    // KIND_GPU instances run a CUDA plan (CompleteConfig fails the load when no GPU is usable or
    // a group lists a GPU that does not exist), `count` of them on each GPU of the group; so do a
    // config without instance groups and KIND_AUTO groups when a GPU is usable, as in Triton;
    // the config's parameter allow_tf32 "true" lets its GEMMs and convolutions use TF32, and
    // precision "fp16" runs its float values in fp16 on the GPU.
    CompileOptions compile_options;
    if (WantsGpu(base, NeedsGpuProbe(base) ? GpuInventory::Probe() : GpuInventory()))
      compile_options.device = Device::kCuda;
    // Chosen for the GPU by default (no KIND_GPU group), but no node of it has a CUDA kernel (a
    // scikit-learn tree ensemble, say): the CPU serves it without a CUDA session's overhead.
    compile_options.cpu_when_no_cuda_node = !AsksForGpu(base);
    if (auto p = base.parameters().find("allow_tf32"); p != base.parameters().end())
      compile_options.allow_tf32 = p->second.string_value() == "true";
    if (auto p = base.parameters().find("precision"); p != base.parameters().end())
      compile_options.fp16 = p->second.string_value() == "fp16";
    // cuda_graphs "false": no CUDA Graph capture (each run launches node by node).
    if (auto p = base.parameters().find("cuda_graphs"); p != base.parameters().end())
      compile_options.cuda_graphs = p->second.string_value() != "false";
    // cuda_autotune "false": warm-up captures in the default variant only (no timing of variants).
    if (auto p = base.parameters().find("cuda_autotune"); p != base.parameters().end())
      compile_options.cuda_autotune = p->second.string_value() != "false";
    auto compiled = engine_.CompileFile(path, compile_options);
    Status st = compiled.ok() ? Status::Ok() : compiled.status();
    inference::ModelConfig config = base;
    if (st.ok())
      st = CompleteConfig(**compiled, loaded_config->explicit_max_batch_size, options_.default_max_batch_size, &config);
    std::shared_ptr<ModelVersion> mv;
    std::vector<InstancePlacement> instances;
    if (st.ok()) {
      instances = PlaceInstances(config);
      std::vector<int> gpus;
      for (const auto& p : instances) gpus.push_back(std::max(p.gpu, 0));
      std::shared_ptr<const CompiledModel> model = std::move(compiled).value();
      auto scheduler = std::make_shared<ModelScheduler>(
          workers_, model, BatchPolicy::FromConfig(config, options_.default_max_queue_size), gpus);
      // An instance whose GPU could not be set up (its memory, its driver) fails the load: a
      // model whose runs would all fail on it must not be READY.
      st = scheduler->InstancesStatus();
      if (st.ok())
        mv = std::make_shared<ModelVersion>(name, v, std::move(config), std::move(model), std::move(scheduler));
    }
    if (st.ok()) {
      if (options_.latency_buckets && options_.batch_size_buckets)
        mv->stats().histograms = std::make_unique<ModelHistograms>(options_.latency_buckets, options_.batch_size_buckets);
      // Warm-up off the request path: the config's model_warmup (whose failure fails the load, as
      // in Triton), else one run on zeros that builds each instance's first memory plan (some
      // models cannot run on zeros, index inputs say: that is not a load failure).
      Status warm = mv->scheduler->WarmUp(mv->config, repo_model->dir);
      if (!warm.ok() && mv->config.model_warmup_size() > 0) {
        st = warm;
      } else if (!warm.ok()) {
        LOG_VERBOSE("model '" << name << "' version " << v << " warm-up skipped: " << warm.message());
      }
    }
    if (st.ok()) {
      const auto load_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - version_t0);
      mv->stats().load_ns.store(static_cast<uint64_t>(load_ns.count()), std::memory_order_relaxed);
      ve.state = ModelState::kReady;
      ve.ready = std::move(mv);
      std::string detail = "loaded in " + std::to_string(load_ns.count() / 1000000) + " ms";
      if (ve.ready->model->placement().target == Device::kCuda)
        detail += "; " + DescribeInstances(instances) + "; " + ve.ready->model->placement().summary;
      if (const std::string tuning = ve.ready->scheduler->Tuning(); !tuning.empty()) detail += "; autotune " + tuning;
      LogModelState(name, v, ModelStateName(ve.state), detail);
    } else {
      ve.state = ModelState::kUnavailable;
      ve.reason = st.message();
      if (first_error.ok()) first_error = st;
      LogModelState(name, v, ModelStateName(ve.state), "failed to load: " + st.message(), true);
    }
    entry.versions.push_back(std::move(ve));
  }
  // A failed version must not take down a version of the same number that was serving, and while
  // a new version fails to load the versions that were serving go on serving (until one of the
  // versions the policy selects loads).
  auto cur = Current();
  auto it = cur->find(name);
  if (it != cur->end()) {
    for (auto& ve : entry.versions) {
      if (ve.state == ModelState::kReady) continue;
      for (const auto& old : it->second.versions)
        if (old.version == ve.version && old.state == ModelState::kReady) {
          std::string reason = ve.reason;
          ve = old;
          ve.reason = "reload failed, still serving the previous load: " + reason;
        }
    }
    if (!first_error.ok()) {
      for (const auto& old : it->second.versions) {
        if (old.state != ModelState::kReady) continue;
        bool listed = false;
        for (const auto& ve : entry.versions) listed |= ve.version == old.version;
        if (listed) continue;
        VersionEntry kept = old;
        kept.reason = "kept serving: a newer version failed to load (" + first_error.message() + ")";
        LOG_WARNING("model '" << name << "' version " << old.version << " keeps serving: " << first_error.message());
        entry.versions.push_back(std::move(kept));
      }
      std::sort(entry.versions.begin(), entry.versions.end(),
                [](const VersionEntry& a, const VersionEntry& b) { return a.version < b.version; });
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int ready = 0;
  for (const auto& ve : entry.versions) ready += ve.state == ModelState::kReady;
  if (ready > 0) LOG_INFO("model '" << name << "' loaded: " << ready << " version(s) ready in " << secs << " s");
  SetModel(name, std::move(entry));
  return first_error;
}

Status ModelManager::Unload(const std::string& name) {
  std::lock_guard<std::mutex> lock(write_mu_);
  auto cur = Current();
  if (cur->find(name) == cur->end()) return NotFound("model '" + name + "' is not loaded");
  auto next = std::make_shared<Snapshot>(*cur);
  const ModelEntry& old = cur->at(name);  // `cur` keeps the old snapshot alive
  next->erase(name);
  Publish(std::move(next));
  // In-flight requests hold their version's handle; its memory goes when the last one finishes.
  for (const auto& ve : old.versions)
    if (ve.state == ModelState::kReady) LogModelState(name, ve.version, "UNLOADED", "unloaded on request");
  return Status::Ok();
}

StatusOr<std::shared_ptr<ModelVersion>> ModelManager::Get(const std::string& name, const std::string& version) const {
  auto snap = Current();
  auto it = snap->find(name);
  if (it == snap->end()) return NotFound("unknown model '" + name + "'");
  const ModelEntry& e = it->second;
  if (version.empty()) {
    for (auto v = e.versions.rbegin(); v != e.versions.rend(); ++v)
      if (v->state == ModelState::kReady) return v->ready;
    return Unavailable("model '" + name + "' is not ready" + (e.reason.empty() ? std::string() : ": " + e.reason) +
                       (e.versions.empty() || e.versions.back().reason.empty() ? std::string()
                                                                              : ": " + e.versions.back().reason));
  }
  int64_t v = 0;
  try {
    size_t used = 0;
    v = std::stoll(version, &used);
    if (used != version.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    return InvalidArgument("model version '" + version + "' is not an integer");
  }
  for (const auto& ve : e.versions) {
    if (ve.version != v) continue;
    if (ve.state == ModelState::kReady) return ve.ready;
    return Unavailable("model '" + name + "' version " + version + " is not ready: " + ve.reason);
  }
  return NotFound("model '" + name + "' has no version " + version);
}

std::vector<std::shared_ptr<ModelVersion>> ModelManager::ReadyVersions(const std::string& name) const {
  std::vector<std::shared_ptr<ModelVersion>> out;
  auto snap = Current();
  auto it = snap->find(name);
  if (it == snap->end()) return out;
  for (const auto& ve : it->second.versions)
    if (ve.state == ModelState::kReady) out.push_back(ve.ready);
  return out;
}

std::vector<std::shared_ptr<ModelVersion>> ModelManager::AllReady() const {
  std::vector<std::shared_ptr<ModelVersion>> out;
  auto snap = Current();
  for (const auto& [name, e] : *snap)
    for (const auto& ve : e.versions)
      if (ve.state == ModelState::kReady) out.push_back(ve.ready);
  return out;
}

std::vector<ModelIndexEntry> ModelManager::Index(bool ready_only) const {
  std::vector<ModelIndexEntry> out;
  auto snap = Current();
  // Models in the repository that are not loaded are listed too (as Triton does), without state.
  auto repo = ScanRepository(options_.model_repository);
  if (repo.ok() && !ready_only) {
    for (const auto& m : *repo)
      if (snap->find(m.name) == snap->end()) out.push_back({m.name, "", "", ""});
  }
  for (const auto& [name, e] : *snap) {
    if (e.versions.empty() && !ready_only) out.push_back({name, "", "UNAVAILABLE", e.reason});
    for (const auto& ve : e.versions) {
      if (ready_only && ve.state != ModelState::kReady) continue;
      std::string reason = ve.reason.empty() ? e.reason : ve.reason;
      out.push_back({name, std::to_string(ve.version), ModelStateName(ve.state), reason});
    }
  }
  std::sort(out.begin(), out.end(), [](const ModelIndexEntry& a, const ModelIndexEntry& b) {
    return a.name != b.name ? a.name < b.name : a.version < b.version;
  });
  return out;
}

bool ModelManager::AllModelsReady() const {
  // Models that failed to load are reported (index, model ready, log) but do not hold the whole
  // server out of service: only models still loading do.
  auto snap = Current();
  for (const auto& [name, e] : *snap)
    for (const auto& ve : e.versions)
      if (ve.state == ModelState::kLoading) return false;
  return true;
}

}  // namespace onnxd::server
