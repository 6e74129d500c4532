// Conversion between the KServe v2 gRPC messages (inference.ModelInferRequest/Response) and the
// server's own InferRequest/InferResponse. Pure functions, no gRPC runtime: unit-testable alone.
#pragma once

#include <string>

#include "core/infer_types.h"
#include "grpc_service.pb.h"
#include "onnxd/engine/status.h"

namespace onnxd::api::grpc_codec {

// Parameters both ways. An InferParameter with no value set is INVALID_ARGUMENT naming `what`.
Status DecodeParameters(const google::protobuf::Map<std::string, inference::InferParameter>& in,
                        const std::string& what, server::Parameters* out);
void EncodeParameters(const server::Parameters& in,
                      google::protobuf::Map<std::string, inference::InferParameter>* out);

// Decodes a ModelInferRequest. Inputs come from raw_input_contents (one entry per input, in
// input order; then no input may carry typed contents) or from each input's typed contents.
// Raw numeric inputs and typed contents whose wire type equals the tensor type (INT32, INT64,
// UINT32, UINT64, FP32, FP64, BOOL) are views into `req`, which must outlive the InferRequest.
// The request parameter "timeout" (microseconds) sets out->deadline relative to out->received.
// Errors are INVALID_ARGUMENT naming the input and what is wrong.
Status DecodeInferRequest(const inference::ModelInferRequest& req, server::InferRequest* out);

// Encodes a response. Tensor outputs always go to raw_output_contents (as Triton does; BYTES as
// 4-byte little-endian length-prefixed elements). Non-tensor outputs (a ZipMap's sequence of maps,
// a map, a sequence) become BYTES of shape [n], each element a JSON text, with the output parameter
// content_type = "application/json".
Status EncodeInferResponse(const server::InferResponse& resp, inference::ModelInferResponse* out);

// JSON text of one non-tensor value (map -> object, tensor -> nested arrays, sequence -> array;
// NaN/Infinity as Python's json writes them), the same text as the HTTP front end.
// Exposed for tests.
void AppendValueJson(const Value& v, std::string* out);

}  // namespace onnxd::api::grpc_codec
