// /metrics of the daemon: Prometheus text exposition (format 0.0.4) under Triton's metric names so
// that existing Triton dashboards and prometheus-adapter rules work, plus onnxd's own families.
//
//   per model version (labels model, version), from ModelStats (the statistics API's numbers):
//     nv_inference_request_success, nv_inference_request_failure{reason=REJECTED|CANCELED|BACKEND|
//     OTHER}, nv_inference_count, nv_inference_exec_count, nv_inference_*_duration_us (counters),
//     nv_inference_pending_request_count, nv_model_load_duration_secs (gauges),
//     onnxd_inference_{request,queue,compute}_duration_seconds and onnxd_inference_batch_size
//     (histograms, on by default)
//   per model version and state: nv_model_state (1 for the state the version is in)
//   host: nv_cpu_utilization, nv_cpu_memory_total_bytes, nv_cpu_memory_used_bytes (/proc)
//   GPUs (NVML, when a driver is there): nv_gpu_utilization, nv_gpu_memory_{total,used}_bytes,
//     nv_gpu_power_usage, nv_gpu_power_limit (label gpu_uuid)
//
// Rendering runs on the scrape path only: it reads the lock-free counters through the model
// snapshot; requests never wait for a scrape.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/inference_server.h"
#include "metrics/registry.h"

namespace onnxd::server {

class ModelManager;
class NvmlGpuMetrics;

// Aggregate CPU times from the first ("cpu ") line of /proc/stat, in jiffies.
struct CpuTimes {
  uint64_t idle = 0;   // idle + iowait
  uint64_t total = 0;  // user + nice + system + idle + iowait + irq + softirq + steal
};
std::optional<CpuTimes> ParseProcStat(std::string_view text);
// Busy share of the interval between two samples, in [0, 1] (0 when no time passed).
double CpuUtilization(const CpuTimes& before, const CpuTimes& after);

struct MemInfo {
  uint64_t total_bytes = 0;
  uint64_t used_bytes = 0;  // MemTotal - MemAvailable
};
std::optional<MemInfo> ParseMeminfo(std::string_view text);

// Writes the per model-version families of `models` (see above).
void CollectModelMetrics(const ModelManager& models, bool counter_latencies, ExpositionWriter& w);

// Renders /metrics. Thread-safe; keeps the previous /proc/stat sample so nv_cpu_utilization is the
// utilisation since the previous scrape (since construction for the first one).
class MetricsRenderer {
 public:
  // Reads options.allow_cpu_metrics, allow_gpu_metrics (loads NVML here) and counter_latencies.
  MetricsRenderer(const ModelManager& models, const ServerOptions& options = ServerOptions());
  ~MetricsRenderer();
  std::string Render() const { return registry_.Render(); }
  bool has_gpu_metrics() const { return gpu_ != nullptr; }

 private:
  void CollectCpu(ExpositionWriter& w);

  MetricsRegistry registry_;
  std::unique_ptr<NvmlGpuMetrics> gpu_;
  std::mutex cpu_mu_;  // guards prev_cpu_ (scrapes only, never the request path)
  std::optional<CpuTimes> prev_cpu_;
};

}  // namespace onnxd::server
