#include <algorithm>
#include "metrics/metrics.h"

#include <charconv>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "lifecycle/model_manager.h"

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

void AppendHeader(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void AppendValue(std::string& out, uint64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, p);
}

void AppendValue(std::string& out, double v) {
  char buf[32];
  int n = std::snprintf(buf, sizeof(buf), "%.6f", v);
  out.append(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

// The {model="..",version=".."} label block of one model version (with optional extra labels).
std::string ModelLabels(const std::string& name, const std::string& version, const char* extra_key = nullptr,
                        std::string_view extra_value = {}) {
  std::string l = "{model=\"" + EscapeLabelValue(name) + "\"";
  if (extra_key) {
    l += ',';
    l += extra_key;
    l += "=\"" + EscapeLabelValue(extra_value) + "\"";
  }
  l += ",version=\"" + EscapeLabelValue(version) + "\"}";
  return l;
}

}  // namespace

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

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

MetricsRenderer::MetricsRenderer(const ModelManager& models) : models_(models) {
  prev_cpu_ = ParseProcStat(ReadFile("/proc/stat"));
}

std::string MetricsRenderer::Render() {
  const std::vector<std::shared_ptr<ModelVersion>> ready = models_.AllReady();
  std::vector<std::string> labels;
  labels.reserve(ready.size());
  for (const auto& mv : ready) labels.push_back(ModelLabels(mv->name, std::to_string(mv->version)));

  std::string out;
  out.reserve(4096 + ready.size() * 1024);
  auto counter = [&](const char* name, const char* help, auto get) {
    AppendHeader(out, name, "counter", help);
    for (size_t i = 0; i < ready.size(); ++i) {
      out += name;
      out += labels[i];
      out += ' ';
      AppendValue(out, static_cast<uint64_t>(get(ready[i]->stats())));
      out += '\n';
    }
  };
  auto us = [](const DurationStat& d) { return d.ns.load(std::memory_order_relaxed) / 1000; };

  counter("nv_inference_request_success", "Number of successful inference requests, all batch sizes",
          [](const ModelStats& s) { return s.success.count.load(std::memory_order_relaxed); });
  AppendHeader(out, "nv_inference_request_failure", "counter",
               "Number of failed inference requests, all batch sizes");
  for (const auto& mv : ready) {
    out += "nv_inference_request_failure";
    out += ModelLabels(mv->name, std::to_string(mv->version), "reason", "OTHER");
    out += ' ';
    AppendValue(out, mv->stats().fail.count.load(std::memory_order_relaxed));
    out += '\n';
  }
  counter("nv_inference_count", "Number of inferences performed (does not include cached requests)",
          [](const ModelStats& s) { return s.inference_count.load(std::memory_order_relaxed); });
  counter("nv_inference_exec_count", "Number of model executions performed (does not include cached requests)",
          [](const ModelStats& s) { return s.execution_count.load(std::memory_order_relaxed); });
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

  AppendHeader(out, "nv_inference_pending_request_count", "gauge",
               "Instantaneous number of pending requests awaiting execution per-model.");
  for (size_t i = 0; i < ready.size(); ++i) {
    out += "nv_inference_pending_request_count";
    out += labels[i];
    out += ' ';
    AppendValue(out, static_cast<uint64_t>(std::max<int64_t>(ready[i]->stats().pending.load(std::memory_order_relaxed), 0)));
    out += '\n';
  }

  AppendHeader(out, "nv_model_state", "gauge",
               "Model version state (onnxd extension): 1 for the state the version is in");
  for (const ModelIndexEntry& e : models_.Index(false)) {
    if (e.state.empty()) continue;  // in the repository but never loaded
    out += "nv_model_state";
    out += ModelLabels(e.name, e.version, "state", e.state);
    out += " 1\n";
  }

  if (auto now = ParseProcStat(ReadFile("/proc/stat"))) {
    double util = 0.0;
    {
      std::lock_guard<std::mutex> lock(cpu_mu_);
      if (prev_cpu_) util = CpuUtilization(*prev_cpu_, *now);
      prev_cpu_ = now;
    }
    AppendHeader(out, "nv_cpu_utilization", "gauge", "CPU utilization rate [0.0 - 1.0]");
    out += "nv_cpu_utilization ";
    AppendValue(out, util);
    out += '\n';
  }
  if (auto mem = ParseMeminfo(ReadFile("/proc/meminfo"))) {
    AppendHeader(out, "nv_cpu_memory_total_bytes", "gauge", "CPU total memory (RAM), in bytes");
    out += "nv_cpu_memory_total_bytes ";
    AppendValue(out, mem->total_bytes);
    out += '\n';
    AppendHeader(out, "nv_cpu_memory_used_bytes", "gauge", "CPU used memory (RAM), in bytes");
    out += "nv_cpu_memory_used_bytes ";
    AppendValue(out, mem->used_bytes);
    out += '\n';
  }
  return out;
}

}  // namespace onnxd::server
