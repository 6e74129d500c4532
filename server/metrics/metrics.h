// Prometheus text exposition (format 0.0.4) of the server's state, under Triton's metric names so
// existing Triton dashboards work: per model-version request counters and cumulative durations
// (from ModelStats), model states (an onnxd extension), and host CPU utilisation and memory.
// Rendering runs on the scrape path only; it reads the lock-free counters and the model snapshot.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace onnxd::server {

class ModelManager;

// A label value escaped as the text format requires: backslash, double quote and newline become
// \\, \" and \n.
std::string EscapeLabelValue(std::string_view v);

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

// Renders /metrics. Thread-safe; keeps the previous /proc/stat sample so nv_cpu_utilization is the
// utilisation since the previous scrape (since construction for the first one).
class MetricsRenderer {
 public:
  explicit MetricsRenderer(const ModelManager& models);
  std::string Render();

 private:
  const ModelManager& models_;
  std::mutex cpu_mu_;  // guards prev_cpu_ (scrapes only, never the request path)
  std::optional<CpuTimes> prev_cpu_;
};

}  // namespace onnxd::server
