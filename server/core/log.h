// Leveled logging to stderr: one line per event, never one per request at the default level
// (request lines are verbose: --log-verbose 1).
//
// Two formats (--log-format):
//   default  "I 2025-01-02T03:04:05.123456Z model 'simple' version 1 is READY"   (readable)
//   json     {"ts":"2025-01-02T03:04:05.123456Z","level":"INFO","msg":"...","model":"simple",...}
//            one object per line, for log pipelines; fields given to LogEvent become keys.
// Every line is written with one call, so lines from different threads never interleave.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>

namespace onnxd::server {

enum class LogLevel { kError = 0, kWarning = 1, kInfo = 2, kVerbose = 3 };
enum class LogFormat { kDefault, kJson };

void SetLogVerbosity(int verbose);  // --log-verbose N: N>=1 enables verbose lines
void SetLogFormat(LogFormat format);
// "default" (or Triton's "ISO8601", the same here) or "json"; false for anything else.
bool ParseLogFormat(std::string_view name, LogFormat* out);
bool LogEnabled(LogLevel level);

// A structured field of an event (a key of the JSON object; the default format leaves fields out:
// its message already says what they say).
struct LogField {
  std::string_view key;
  std::string value;
};

void LogLine(LogLevel level, const std::string& message);
void LogEvent(LogLevel level, const std::string& message, std::initializer_list<LogField> fields);

// A model version's state change, at INFO (ERROR when it becomes UNAVAILABLE through a failure),
// with its reason: "model 'm' version 3 is UNAVAILABLE: <reason>". Fields: model, version, state,
// reason.
void LogModelState(const std::string& model, int64_t version, const char* state, const std::string& reason,
                   bool failure = false);

// The text of one line as the format writes it (without the newline); what LogEvent prints.
std::string FormatLogLine(LogFormat format, LogLevel level, int64_t unix_us, const std::string& message,
                          std::initializer_list<LogField> fields);
// `s` as a JSON string literal, quotes included (control characters escaped; bytes >= 0x80 kept).
std::string JsonQuote(std::string_view s);

}  // namespace onnxd::server

#define ONNXD_LOG(level, expr)                                                 \
  do {                                                                         \
    if (::onnxd::server::LogEnabled(level)) {                                  \
      std::ostringstream _os;                                                  \
      _os << expr;                                                             \
      ::onnxd::server::LogLine(level, _os.str());                              \
    }                                                                          \
  } while (0)
#define LOG_INFO(expr) ONNXD_LOG(::onnxd::server::LogLevel::kInfo, expr)
#define LOG_WARNING(expr) ONNXD_LOG(::onnxd::server::LogLevel::kWarning, expr)
#define LOG_ERROR(expr) ONNXD_LOG(::onnxd::server::LogLevel::kError, expr)
#define LOG_VERBOSE(expr) ONNXD_LOG(::onnxd::server::LogLevel::kVerbose, expr)
