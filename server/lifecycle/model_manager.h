// ModelManager: which model versions exist, their state and reason, and the shared handles requests
// use. Following TF Serving's "load new, swap, drain old": a version is compiled off the request
// path, published by swapping an immutable snapshot, and freed when the last request holding its
// handle finishes. Lookups read the current snapshot without taking any lock shared across models.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/infer_types.h"
#include "core/inference_server.h"
#include "lifecycle/model_stats.h"
#include "model_config.pb.h"
#include "onnxd/engine/engine.h"
#include "scheduling/scheduler.h"
#include "workers/worker_pool.h"

namespace onnxd::server {

// One loaded, ready version. Immutable apart from its scheduler (queue, instances, statistics).
// Requests hold a shared handle, so a version replaced or unloaded finishes what it has queued.
struct ModelVersion {
  ModelVersion(std::string n, int64_t v, inference::ModelConfig c, std::shared_ptr<const CompiledModel> m,
               std::shared_ptr<ModelScheduler> s)
      : name(std::move(n)), version(v), config(std::move(c)), model(std::move(m)), scheduler(std::move(s)) {}
  // Declared first, destroyed last: once the weights and sessions are gone, the allocator hands
  // their pages back to the system (glibc keeps freed heap memory otherwise, and raises its mmap
  // threshold after a large free, so a reload would grow the resident set).
  struct ReturnMemory {
    ~ReturnMemory();
  } return_memory;
  const std::string name;
  const int64_t version;
  const inference::ModelConfig config;
  const std::shared_ptr<const CompiledModel> model;
  const std::shared_ptr<ModelScheduler> scheduler;
  ModelStats& stats() const { return scheduler->stats(); }
};

enum class ModelState { kLoading, kReady, kUnavailable, kUnloading };
const char* ModelStateName(ModelState s);

class ModelManager {
 public:
  ModelManager(const ServerOptions& options, const Engine& engine, WorkerPool& workers);

  // Loads the repository's models as the control mode says (none: all; explicit: --load-model).
  void LoadInitial();
  // Loads or reloads one model (all versions its policy selects). Failing versions become
  // UNAVAILABLE with the reason; versions that were ready keep serving when a reload fails.
  Status Load(const std::string& name, const std::string& config_json);
  Status Unload(const std::string& name);

  // The ready version `version` ("" = latest ready) of `name`.
  StatusOr<std::shared_ptr<ModelVersion>> Get(const std::string& name, const std::string& version) const;
  // Ready versions of `name`, ascending ("" when the model is unknown).
  std::vector<std::shared_ptr<ModelVersion>> ReadyVersions(const std::string& name) const;
  std::vector<std::shared_ptr<ModelVersion>> AllReady() const;
  std::vector<ModelIndexEntry> Index(bool ready_only) const;
  // True when no model is still loading.
  bool AllModelsReady() const;

 private:
  struct VersionEntry {
    int64_t version = 0;
    ModelState state = ModelState::kUnavailable;
    std::string reason;
    std::shared_ptr<ModelVersion> ready;  // set when state is kReady
    uint64_t fingerprint = 0;             // of the version's files and the config it loaded with
  };
  struct ModelEntry {
    std::vector<VersionEntry> versions;  // ascending
    std::string reason;                  // model-level failure (no versions, bad config)
    bool failed = false;
  };
  using Snapshot = std::map<std::string, ModelEntry>;

  std::shared_ptr<const Snapshot> Current() const { return snapshot_.load(std::memory_order_acquire); }
  void Publish(std::shared_ptr<const Snapshot> s) { snapshot_.store(std::move(s), std::memory_order_release); }
  void SetModel(const std::string& name, ModelEntry entry);  // requires write_mu_

  const ServerOptions& options_;
  const Engine& engine_;
  WorkerPool& workers_;
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::mutex write_mu_;  // serialises loads and unloads (never taken by requests)
};

}  // namespace onnxd::server
