// HTTP/REST front end (KServe v2 + Triton extensions + TF-Serving v1) on Boost.Beast/Asio.
// A fixed pool of I/O threads runs one io_context; connections are accepted asynchronously and
// served with HTTP/1.1 keep-alive. Inference runs in the I/O thread (core.Infer).
#pragma once

#include <memory>

#include "core/inference_server.h"
#include "onnxd/engine/status.h"

namespace onnxd::api {

class HttpServer {
 public:
  HttpServer(server::InferenceServer& core, const server::ServerOptions& opts);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds opts.http_address:opts.http_port (port 0 = an ephemeral port) and starts serving.
  Status Start();
  // The bound port (after Start).
  int port() const;
  // Stops accepting, closes connections, joins the I/O threads. Idempotent.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace onnxd::api
