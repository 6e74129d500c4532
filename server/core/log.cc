#include "core/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace onnxd::server {
namespace {
std::atomic<int> g_verbose{0};
std::atomic<LogFormat> g_format{LogFormat::kDefault};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return "ERROR";
    case LogLevel::kWarning: return "WARNING";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kVerbose: return "VERBOSE";
  }
  return "INFO";
}

int64_t NowUnixUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Write(const std::string& line) {
  // One fwrite of the whole line (newline included) keeps lines whole when threads log at once.
  std::fwrite(line.data(), 1, line.size(), stderr);
}
}  // namespace

void SetLogVerbosity(int verbose) { g_verbose.store(verbose); }
void SetLogFormat(LogFormat format) { g_format.store(format); }

bool ParseLogFormat(std::string_view name, LogFormat* out) {
  if (name == "default" || name == "ISO8601") *out = LogFormat::kDefault;
  else if (name == "json") *out = LogFormat::kJson;
  else return false;
  return true;
}

bool LogEnabled(LogLevel level) {
  return level != LogLevel::kVerbose || g_verbose.load(std::memory_order_relaxed) > 0;
}

std::string JsonQuote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::string FormatLogLine(LogFormat format, LogLevel level, int64_t unix_us, const std::string& message,
                          std::initializer_list<LogField> fields) {
  const std::time_t t = static_cast<std::time_t>(unix_us / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[48];
  const size_t n = std::strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(ts + n, sizeof(ts) - n, ".%06lldZ", static_cast<long long>(unix_us % 1000000));
  std::string line;
  if (format == LogFormat::kJson) {
    line.reserve(64 + message.size());
    line += "{\"ts\":\"";
    line += ts;
    line += "\",\"level\":\"";
    line += LevelName(level);
    line += "\",\"msg\":";
    line += JsonQuote(message);
    for (const LogField& f : fields) {
      if (f.key == "ts" || f.key == "level" || f.key == "msg") continue;  // never two keys of a name
      line += ',';
      line += JsonQuote(f.key);
      line += ':';
      line += JsonQuote(f.value);
    }
    line += '}';
    return line;
  }
  line += LevelName(level)[0];
  line += ' ';
  line += ts;
  line += ' ';
  line += message;
  return line;
}

void LogLine(LogLevel level, const std::string& message) { LogEvent(level, message, {}); }

void LogEvent(LogLevel level, const std::string& message, std::initializer_list<LogField> fields) {
  if (!LogEnabled(level)) return;
  std::string line = FormatLogLine(g_format.load(std::memory_order_relaxed), level, NowUnixUs(), message, fields);
  line += '\n';
  Write(line);
}

void LogModelState(const std::string& model, int64_t version, const char* state, const std::string& reason,
                   bool failure) {
  std::string msg = "model '" + model + "' version " + std::to_string(version) + " is " + state;
  if (!reason.empty()) msg += ": " + reason;
  LogEvent(failure ? LogLevel::kError : LogLevel::kInfo, msg,
           {{"model", model}, {"version", std::to_string(version)}, {"state", state}, {"reason", reason}});
}

}  // namespace onnxd::server
