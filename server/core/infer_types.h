// The server's own request and response types: what the front ends (api/http, api/grpc) decode
// into and encode from. Independent of any wire format; tensors are engine Values.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "onnxd/engine/tensor.h"

namespace onnxd::server {

// A KServe v2 parameter value (bool, int64, string, double, uint64).
using Parameter = std::variant<bool, int64_t, std::string, double, uint64_t>;
using Parameters = std::map<std::string, Parameter>;

struct InferInput {
  std::string name;
  // Decoded data: dtype and shape as the client sent them. May be a view into the request's
  // buffer (HTTP body, gRPC message), which outlives the inference.
  Tensor tensor;
  Parameters parameters;
};

struct RequestedOutput {
  std::string name;
  Parameters parameters;  // e.g. binary_data (HTTP), classification
};

struct InferRequest {
  std::string model_name;
  std::string model_version;  // "" = the server's choice (latest ready)
  std::string id;
  Parameters parameters;
  std::vector<InferInput> inputs;
  std::vector<RequestedOutput> outputs;  // empty = all outputs
  // Absolute deadline (from the gRPC deadline or the "timeout" parameter, microseconds).
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // Set when the client goes away; checked before and during compute.
  std::shared_ptr<std::atomic<bool>> cancelled;
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
};

struct InferOutput {
  std::string name;
  // A tensor, or a non-tensor value (a ZipMap's sequence of maps), owned by the response.
  Value value;
  Parameters parameters;
};

struct InferResponse {
  std::string model_name;
  std::string model_version;
  std::string id;
  Parameters parameters;
  std::vector<InferOutput> outputs;
};

struct TensorMetadata {
  std::string name;
  std::string datatype;        // KServe name: FP32, INT64, BYTES...
  std::vector<int64_t> shape;  // -1 for dynamic dims (including the batch dim)
};

struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;
  std::string platform;  // "onnxruntime_onnx", as Triton reports ONNX models
  std::vector<TensorMetadata> inputs;
  std::vector<TensorMetadata> outputs;
};

struct ServerMetadata {
  std::string name;
  std::string version;
  std::vector<std::string> extensions;
};

struct ModelIndexEntry {
  std::string name;
  std::string version;
  std::string state;   // READY, UNAVAILABLE, LOADING, UNLOADING
  std::string reason;
};

}  // namespace onnxd::server
