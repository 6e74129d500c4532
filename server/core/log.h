// Minimal leveled logging to stderr: one line per event, never one per request at default level.
#pragma once

#include <sstream>
#include <string>

namespace onnxd::server {

enum class LogLevel { kError = 0, kWarning = 1, kInfo = 2, kVerbose = 3 };

void SetLogVerbosity(int verbose);  // --log-verbose N: N>=1 enables verbose lines
bool LogEnabled(LogLevel level);
void LogLine(LogLevel level, const std::string& message);

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
