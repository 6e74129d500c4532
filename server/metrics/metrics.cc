#include "metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "core/log.h"
#include "lifecycle/model_manager.h"
#include "metrics/gpu_metrics.h"
#include "onnxd/engine/engine.h"

namespace onnxd::server {
namespace {

std::string ReadFile(const char* path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Skips spaces, parses one unsigned integer; false at the end of the line or on junk.
bool NextUint(std::string_view& s, uint64_t* out) {
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  s.remove_prefix(i);
  if (s.empty() || s[0] == '\n') return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (ec != std::errc()) return false;
  s.remove_prefix(static_cast<size_t>(p - s.data()));
  return true;
}

}  // namespace

std::optional<CpuTimes> ParseProcStat(std::string_view text) {
  if (text.substr(0, 4) != "cpu ") return std::nullopt;
  std::string_view s = text.substr(4);
  uint64_t f[8] = {};
  int n = 0;
  for (; n < 8; ++n)
    if (!NextUint(s, &f[n])) break;
  if (n < 4) return std::nullopt;  // user nice system idle are always there
  CpuTimes t;
  t.idle = f[3] + f[4];
  for (uint64_t x : f) t.total += x;  // guest/guest_nice (fields 9, 10) are already in user/nice
  return t;
}

double CpuUtilization(const CpuTimes& before, const CpuTimes& after) {
  if (after.total <= before.total) return 0.0;
  const double total = static_cast<double>(after.total - before.total);
  const double idle = after.idle >= before.idle ? static_cast<double>(after.idle - before.idle) : 0.0;
  double u = 1.0 - idle / total;
  return u < 0.0 ? 0.0 : (u > 1.0 ? 1.0 : u);
}

std::optional<MemInfo> ParseMeminfo(std::string_view text) {
  std::optional<uint64_t> total, available;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = line.substr(0, colon);
    std::string_view rest = line.substr(colon + 1);
    uint64_t kb = 0;
    if (!NextUint(rest, &kb)) continue;
    if (key == "MemTotal") total = kb * 1024;
    else if (key == "MemAvailable") available = kb * 1024;
  }
  if (!total || !available) return std::nullopt;
  MemInfo m;
  m.total_bytes = *total;
  m.used_bytes = *available <= *total ? *total - *available : 0;
  return m;
}

void CollectModelMetrics(const ModelManager& models, bool counter_latencies, ExpositionWriter& w) {
  const std::vector<std::shared_ptr<ModelVersion>> ready = models.AllReady();
  std::vector<std::string> versions;
  versions.reserve(ready.size());
  for (const auto& mv : ready) versions.push_back(std::to_string(mv->version));
  auto labels = [&](size_t i) -> Labels { return {{"model", ready[i]->name}, {"version", versions[i]}}; };
  constexpr auto relaxed = std::memory_order_relaxed;

  // One counter per model version; `get` reads it from the version's ModelStats.
  auto counter = [&](const char* name, const char* help, auto get) {
    w.Family(name, "counter", help);
    for (size_t i = 0; i < ready.size(); ++i) w.Sample(name, labels(i), static_cast<uint64_t>(get(ready[i]->stats())));
  };
  auto us = [](const DurationStat& d) { return d.ns.load(std::memory_order_relaxed) / 1000; };

  counter("nv_inference_request_success", "Number of successful inference requests, all batch sizes",
          [](const ModelStats& s) { return s.success.count.load(relaxed); });
  w.Family("nv_inference_request_failure", "counter", "Number of failed inference requests, all batch sizes");
  for (size_t i = 0; i < ready.size(); ++i) {
    for (int r = 0; r < kFailureReasons; ++r) {
      const auto reason = static_cast<FailureReason>(r);
      w.Sample("nv_inference_request_failure",
               {{"model", ready[i]->name}, {"reason", FailureReasonName(reason)}, {"version", versions[i]}},
               ready[i]->stats().failures_of(reason));
    }
  }
  counter("nv_inference_count", "Number of inferences performed (does not include cached requests)",
          [](const ModelStats& s) { return s.inference_count.load(relaxed); });
  counter("nv_inference_exec_count", "Number of model executions performed (does not include cached requests)",
          [](const ModelStats& s) { return s.execution_count.load(relaxed); });
  if (counter_latencies) {
    counter("nv_inference_request_duration_us",
            "Cumulative inference request duration in microseconds (includes cached requests)",
            [&](const ModelStats& s) { return us(s.success); });
    counter("nv_inference_queue_duration_us",
            "Cumulative inference queuing duration in microseconds (includes cached requests)",
            [&](const ModelStats& s) { return us(s.queue); });
    counter("nv_inference_compute_input_duration_us",
            "Cumulative compute input duration in microseconds (does not include cached requests)",
            [&](const ModelStats& s) { return us(s.compute_input); });
    counter("nv_inference_compute_infer_duration_us",
            "Cumulative compute inference duration in microseconds (does not include cached requests)",
            [&](const ModelStats& s) { return us(s.compute_infer); });
    counter("nv_inference_compute_output_duration_us",
            "Cumulative inference compute output duration in microseconds (does not include cached requests)",
            [&](const ModelStats& s) { return us(s.compute_output); });
  }

  w.Family("nv_inference_pending_request_count", "gauge",
           "Instantaneous number of pending requests awaiting execution per-model.");
  for (size_t i = 0; i < ready.size(); ++i)
    w.Sample("nv_inference_pending_request_count", labels(i),
             static_cast<uint64_t>(std::max<int64_t>(ready[i]->stats().pending.load(relaxed), 0)));

  w.Family("nv_model_load_duration_secs", "gauge", "Model load time in seconds");
  for (size_t i = 0; i < ready.size(); ++i)
    w.Sample("nv_model_load_duration_secs", labels(i), static_cast<double>(ready[i]->stats().load_ns.load(relaxed)) / 1e9);

  // Histograms (onnxd's; Triton has none of these). Versions loaded with histograms off have none.
  auto histogram = [&](const char* name, const char* help, Histogram ModelHistograms::*member) {
    bool any = false;
    for (const auto& mv : ready) any |= mv->stats().histograms != nullptr;
    if (!any) return;
    w.Family(name, "histogram", help);
    for (size_t i = 0; i < ready.size(); ++i)
      if (const ModelHistograms* h = ready[i]->stats().histograms.get()) w.HistogramSamples(name, labels(i), h->*member);
  };
  histogram("onnxd_inference_request_duration_seconds",
            "End-to-end duration of successful inference requests (received to response built), in seconds",
            &ModelHistograms::request);
  histogram("onnxd_inference_queue_duration_seconds",
            "Time successful inference requests waited in the model's queue, in seconds", &ModelHistograms::queue);
  histogram("onnxd_inference_compute_duration_seconds",
            "Compute time (input, infer, output) of the batch each successful request ran in, in seconds",
            &ModelHistograms::compute);
  histogram("onnxd_inference_batch_size", "Rows per model execution (dynamic batches included)",
            &ModelHistograms::batch_size);

  w.Family("nv_model_state", "gauge", "Model version state (onnxd extension): 1 for the state the version is in");
  for (const ModelIndexEntry& e : models.Index(false)) {
    if (e.state.empty()) continue;  // in the repository but never loaded
    w.Sample("nv_model_state", {{"model", e.name}, {"state", e.state}, {"version", e.version}}, uint64_t{1});
  }
}

MetricsRenderer::MetricsRenderer(const ModelManager& models, const ServerOptions& options) {
  const bool counter_latencies = options.counter_latencies;
  registry_.AddCollector([&models, counter_latencies](ExpositionWriter& w) {
    CollectModelMetrics(models, counter_latencies, w);
  });
  if (options.allow_cpu_metrics) {
    prev_cpu_ = ParseProcStat(ReadFile("/proc/stat"));
    registry_.AddCollector([this](ExpositionWriter& w) { CollectCpu(w); });
  }
  if (options.allow_gpu_metrics) {
    std::string why;
    // With CUDA_VISIBLE_DEVICES set, only the GPUs it leaves this process (NVML sees them all).
    std::vector<std::string> visible;
    const bool narrowed = std::getenv("CUDA_VISIBLE_DEVICES") != nullptr && Engine::CudaDeviceUuids(&visible);
    gpu_ = NvmlGpuMetrics::Load(&why, "libnvidia-ml.so.1", narrowed ? &visible : nullptr);
    if (gpu_) {
      LOG_INFO("GPU metrics: NVML reports " << gpu_->gpu_count() << " GPU(s)");
      registry_.AddCollector([g = gpu_.get()](ExpositionWriter& w) { g->Collect(w); });
    } else {
      LOG_VERBOSE("GPU metrics off: " << why);
    }
  }
}

MetricsRenderer::~MetricsRenderer() = default;

void MetricsRenderer::CollectCpu(ExpositionWriter& w) {
  if (auto now = ParseProcStat(ReadFile("/proc/stat"))) {
    double util = 0.0;
    {
      std::lock_guard<std::mutex> lock(cpu_mu_);
      if (prev_cpu_) util = CpuUtilization(*prev_cpu_, *now);
      prev_cpu_ = now;
    }
    w.Family("nv_cpu_utilization", "gauge", "CPU utilization rate [0.0 - 1.0]");
    w.Sample("nv_cpu_utilization", {}, util);
  }
  if (auto mem = ParseMeminfo(ReadFile("/proc/meminfo"))) {
    w.Family("nv_cpu_memory_total_bytes", "gauge", "CPU total memory (RAM), in bytes");
    w.Sample("nv_cpu_memory_total_bytes", {}, mem->total_bytes);
    w.Family("nv_cpu_memory_used_bytes", "gauge", "CPU used memory (RAM), in bytes");
    w.Sample("nv_cpu_memory_used_bytes", {}, mem->used_bytes);
  }
}

}  // namespace onnxd::server
