// KServe v2 JSON codec for the HTTP front end: infer requests (JSON and the binary tensor data
// extension) into server::InferRequest, server::InferResponse into JSON (+ binary), protobuf
// messages into JSON with 64-bit integers as numbers, and the small helpers the routes share.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <google/protobuf/message.h>
#include <nlohmann/json.hpp>

#include "core/infer_types.h"
#include "onnxd/engine/status.h"

namespace onnxd::api::http {

// Splits an infer body into its JSON header and binary section. Without `header_length` the
// whole body is JSON. A header length past the end of the body is an error.
Status SplitInferBody(std::string_view body, std::optional<size_t> header_length,
                      std::string_view* json, std::span<const uint8_t>* binary);

// Decodes a KServe v2 infer request. `json` is the JSON part, `binary` the binary section (may
// be empty). Inputs carrying parameters.binary_data_size take that many bytes from `binary` in
// input order; numeric ones are Tensor views into `binary` when it is suitably aligned (the
// caller keeps it alive for the request), otherwise copies. JSON "data" (flat or nested) is
// decoded straight into the tensor's buffer. model_name/model_version are not touched.
Status DecodeInferRequest(std::string_view json, std::span<const uint8_t> binary,
                          server::InferRequest* request);

struct EncodedInferResponse {
  std::string body;
  // Set when binary outputs follow the JSON header: its length (Inference-Header-Content-Length)
  // and the content type becomes application/octet-stream.
  std::optional<size_t> header_length;
};

// Encodes a response. Outputs are binary when their requested output has parameters.binary_data
// = true, or else when the request has parameters.binary_data_output = true. Only requested
// outputs are emitted (all when none were requested).
Status EncodeInferResponse(const server::InferRequest& request,
                           const server::InferResponse& response, EncodedInferResponse* out);

// Protobuf message -> JSON with proto field names, every primitive field printed, enums by
// name, and 64-bit integers as JSON numbers (not strings, unlike protobuf's JsonFormat).
nlohmann::ordered_json ProtoToJson(const google::protobuf::Message& message);

// {"error": "<message>"}.
std::string JsonErrorBody(std::string_view message);

// Serializes a JSON value; invalid UTF-8 in strings is replaced rather than thrown on.
std::string DumpJson(const nlohmann::json& j);
std::string DumpJson(const nlohmann::ordered_json& j);

// Standard base64 (RFC 4648) for TF-Serving {"b64": ...} values and proto bytes fields.
std::string Base64Encode(std::string_view in);
StatusOr<std::string> Base64Decode(std::string_view in);

// Appends `s` as a JSON string literal (quotes and escapes included).
void AppendJsonString(std::string* out, std::string_view s);

// Appends one tensor element as JSON (numbers, true/false, strings). NaN and infinities are
// written as NaN / Infinity / -Infinity, as Python's json module reads them.
void AppendJsonElement(std::string* out, const Tensor& t, int64_t index);

// A Value (tensor, map, sequence) as JSON: tensors as nested row-major arrays following their
// shape, maps as objects keyed by the key's text, sequences as arrays.
void AppendJsonValue(std::string* out, const Value& v);

// Row `row` (index into dim 0) of a tensor of rank >= 1 as a nested JSON array (a scalar for
// rank 1). Used by TF-Serving style responses.
void AppendJsonTensorRow(std::string* out, const Tensor& t, int64_t row);

// A tensor of `dtype` from a JSON value: nested arrays give the shape (must be rectangular), a
// bare scalar gives shape []. BYTES takes strings or {"b64": "<base64>"}. `what` names the value
// in error messages ("input 'x'").
StatusOr<Tensor> JsonValueToTensor(const nlohmann::json& v, DataType dtype, const std::string& what);
// Stacks rows of equal shape into one tensor of shape [rows] + row shape.
StatusOr<Tensor> JsonRowsToTensor(const std::vector<const nlohmann::json*>& rows, DataType dtype,
                                  const std::string& what);

// Exact KServe datatype name ("FP32", "BYTES", ...) to DataType; kUndefined when not one.
DataType ParseKServeDatatype(std::string_view name);

}  // namespace onnxd::api::http
