// The gRPC front end: inference.GRPCInferenceService (KServe v2 + Triton extensions) and
// grpc.health.v1.Health over grpc++'s callback API. Handlers decode, call InferenceServer, encode.
//
// Threads: grpc's own (bounded by a ResourceQuota) run the cheap RPCs inline; inference and
// repository load/unload run on a fixed worker pool (2 x cores + 4), never a thread per call or
// per stream. A stream holds no thread while it waits for its client.
#pragma once

#include <memory>
#include <string>

#include "core/inference_server.h"
#include "onnxd/engine/status.h"

namespace onnxd::api {

class GrpcServer {
 public:
  GrpcServer(server::InferenceServer& core, const server::ServerOptions& opts);
  ~GrpcServer();  // Stop()s if running
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Binds opts.grpc_address:opts.grpc_port (port 0 = an ephemeral port, see port()) and starts
  // serving. UNAVAILABLE when the address cannot be bound.
  Status Start();
  // The bound port (after Start), else 0.
  int port() const;
  // Graceful: ends health watches, lets in-flight calls finish until opts.exit_timeout_secs, then
  // cancels what is left and waits for it. Idempotent.
  void Stop();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace onnxd::api
