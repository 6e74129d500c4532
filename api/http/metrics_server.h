// Prometheus metrics endpoint on its own port (Triton's --metrics-port, default 8002):
// GET /metrics -> 200 "text/plain; version=0.0.4" (server/metrics/metrics.h); anything else 404.
// One I/O thread serves all connections asynchronously (Boost.Beast), HTTP/1.1 keep-alive.
#pragma once

#include <memory>

#include "core/inference_server.h"
#include "onnxd/engine/status.h"

namespace onnxd::api {

class MetricsServer {
 public:
  MetricsServer(server::InferenceServer& core, const server::ServerOptions& opts);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds opts.http_address:opts.metrics_port (port 0 = an ephemeral port) and starts serving.
  Status Start();
  // The bound port (after Start).
  int port() const;
  // Stops accepting, closes connections, joins the I/O thread. Idempotent.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace onnxd::api
