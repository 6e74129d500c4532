// InferenceServer: the one facade both front ends call (STYLE.md point 9: handlers decode, call the
// core, encode). It owns the model manager; everything here is thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/infer_types.h"
#include "metrics/registry.h"
#include "model_config.pb.h"
#include "grpc_service.pb.h"
#include "onnxd/engine/status.h"

namespace onnxd::server {

class ModelManager;
class RepositoryWatcher;
class WorkerPool;

// Called exactly once with the outcome of an inference.
using InferCallback = std::function<void(Status status, InferResponse&& response)>;

struct ServerOptions {
  std::string model_repository;
  std::string http_address = "0.0.0.0";
  int http_port = 8000;
  int grpc_port = 8001;
  int metrics_port = 8002;
  std::string grpc_address = "0.0.0.0";
  std::string metrics_address;  // "" = the HTTP address
  int log_verbose = 0;
  int exit_timeout_secs = 30;
  bool strict_readiness = true;
  // Largest HTTP request body accepted (bytes).
  size_t http_body_limit = 64 << 20;
  // max_batch_size given to models whose config does not set it but whose inputs and outputs all
  // have a dynamic first dim (as Triton's default-max-batch-size).
  int default_max_batch_size = 4;
  // "none" (load everything at start), "explicit" (only --load-model and the repository API),
  // "poll" (load everything, then follow the repository: new, changed and removed models).
  std::string model_control_mode = "none";
  int repository_poll_secs = 15;
  // Poll mode: time between the two looks that confirm a change (its files must hold still).
  int repository_settle_ms = 500;
  std::vector<std::string> load_models;  // --load-model; "*" = all
  // Scheduler threads shared by all models (0: twice the cores, at least 4).
  int scheduler_threads = 0;
  // Bound of each model queue whose config leaves max_queue_size 0, so that memory stays bounded
  // under overload: beyond it requests are refused at once with UNAVAILABLE.
  size_t default_max_queue_size = 1024;
  // Requests to models whose runs take under this (µs, times the request's rows) run on the
  // front end's thread when the model is idle (ModelScheduler::Enqueue); 0: never.
  int64_t inline_max_us = 100;
  // Metrics (--allow-gpu-metrics, --allow-cpu-metrics, --metrics-config).
  bool allow_gpu_metrics = true;  // NVML's nv_gpu_* when a driver is there
  bool allow_cpu_metrics = true;  // nv_cpu_*
  bool counter_latencies = true;  // Triton's nv_inference_*_duration_us counters
  // Buckets of the onnxd_inference_*_duration_seconds and onnxd_inference_batch_size histograms;
  // null (--metrics-config histogram_latencies=false) turns the histograms off.
  std::shared_ptr<const HistogramBounds> latency_buckets = DefaultLatencyBounds();
  std::shared_ptr<const HistogramBounds> batch_size_buckets = DefaultBatchSizeBounds();
};

class InferenceServer {
 public:
  explicit InferenceServer(ServerOptions options);
  ~InferenceServer();

  // Scans the repository and loads models as the control mode says. Models that fail to load are
  // UNAVAILABLE with a reason; that is not an error of Start.
  Status Start();
  // Readiness false at once; new requests refused with UNAVAILABLE.
  void BeginShutdown();

  bool Live() const;
  // Ready: started, not shutting down, and (with strict readiness) every loaded model ready.
  bool Ready() const;
  ServerMetadata Metadata() const;

  // `version` "" means the latest ready version.
  Status ModelReady(const std::string& name, const std::string& version) const;
  StatusOr<ModelMetadata> GetModelMetadata(const std::string& name, const std::string& version) const;
  StatusOr<inference::ModelConfig> GetModelConfig(const std::string& name, const std::string& version) const;
  // Statistics of one model (all its versions, or one) or of every model when `name` is "".
  StatusOr<inference::ModelStatisticsResponse> GetStatistics(const std::string& name,
                                                             const std::string& version) const;

  // Checks `request` against the model and queues it on the model's scheduler; `done` is called
  // exactly once: on this thread when the request is refused before queueing (bad input, unknown
  // model, full queue), else on a scheduler thread. The request's input buffers must stay alive
  // until then. On success the response holds owned outputs (in the order requested, or the
  // model's output order when none are requested).
  void InferAsync(const InferRequest& request, InferCallback done);
  // InferAsync, waiting for the outcome.
  Status Infer(const InferRequest& request, InferResponse* response);

  std::vector<ModelIndexEntry> RepositoryIndex(bool ready_only) const;
  // Loads (or reloads) a model of the repository; `config_json` (may be empty) overrides its
  // config.pbtxt, as Triton's load API "config" parameter.
  Status LoadModel(const std::string& name, const std::string& config_json);
  Status UnloadModel(const std::string& name);

  // Requests inside Infer right now; WaitIdle returns true once that is zero (false at the deadline).
  int in_flight() const { return in_flight_.load(); }
  bool WaitIdle(std::chrono::steady_clock::time_point deadline) const;

  const ServerOptions& options() const { return options_; }
  ModelManager& models() { return *models_; }

 private:
  class Job;
  ServerOptions options_;
  std::unique_ptr<WorkerPool> workers_;  // outlives models_: queued work holds model handles
  std::unique_ptr<ModelManager> models_;
  std::unique_ptr<RepositoryWatcher> watcher_;  // poll mode
  std::atomic<bool> started_{false};
  std::atomic<bool> shutting_down_{false};
  std::atomic<int> in_flight_{0};
};

}  // namespace onnxd::server
