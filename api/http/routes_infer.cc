// POST /v2/models/{m}[/versions/{v}]/infer: KServe v2 JSON and the binary tensor data extension.
#include "http/http_routes.h"
#include "http/json_codec.h"

namespace onnxd::api::http::routes {

std::optional<HttpReply> Infer(server::InferenceServer& core, const HttpRequest& req,
                               const std::vector<std::string>& seg) {
  std::string model, version;
  size_t rest = 0;
  if (!ParseModelPath(seg, 2, &model, &version, &rest) || rest + 1 != seg.size() ||
      seg[rest] != "infer")
    return std::nullopt;
  if (req.method != Method::kPost) return MethodNotAllowed("POST");
  if (!req.content_encoding.empty() && req.content_encoding != "identity")
    return HttpReply::Error(415, "Content-Encoding '" + std::string(req.content_encoding) +
                                     "' is not supported; send the request uncompressed");

  std::string_view json_part;
  std::span<const uint8_t> binary;
  Status s = SplitInferBody(req.body, req.inference_header_length, &json_part, &binary);
  if (!s.ok()) return HttpReply::FromStatus(s);

  server::InferRequest request;
  s = DecodeInferRequest(json_part, binary, &request);
  if (!s.ok()) return HttpReply::FromStatus(s);
  request.model_name = std::move(model);
  request.model_version = std::move(version);

  server::InferResponse response;
  s = core.Infer(request, &response);
  if (!s.ok()) return HttpReply::FromStatus(s);

  EncodedInferResponse enc;
  s = EncodeInferResponse(request, response, &enc);
  if (!s.ok()) return HttpReply::FromStatus(s);
  HttpReply reply;
  reply.status = 200;
  reply.body = std::move(enc.body);
  reply.inference_header_length = enc.header_length;
  reply.content_type = enc.header_length ? "application/octet-stream" : "application/json";
  return reply;
}

}  // namespace onnxd::api::http::routes
