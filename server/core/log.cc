#include "core/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace onnxd::server {
namespace {
std::atomic<int> g_verbose{0};
}

void SetLogVerbosity(int verbose) { g_verbose.store(verbose); }

bool LogEnabled(LogLevel level) {
  return level != LogLevel::kVerbose || g_verbose.load(std::memory_order_relaxed) > 0;
}

void LogLine(LogLevel level, const std::string& message) {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
  const char* tag = level == LogLevel::kError ? "E" : level == LogLevel::kWarning ? "W" : level == LogLevel::kInfo ? "I" : "V";
  // One fprintf per line keeps lines whole when threads log at once.
  std::fprintf(stderr, "%s %s.%06lldZ %s\n", tag, ts, static_cast<long long>(us), message.c_str());
}

}  // namespace onnxd::server
