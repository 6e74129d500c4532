// POST /v2/models/{m}[/versions/{v}]/infer: KServe v2 JSON and the binary tensor data extension.
#include "http/http_routes.h"
#include "http/json_codec.h"

namespace onnxd::api::http::routes {

bool Infer(server::InferenceServer& core, const HttpRequest& req, const std::vector<std::string>& seg,
           const ReplyFn& reply) {
  std::string model, version;
  size_t rest = 0;
  if (!ParseModelPath(seg, 2, &model, &version, &rest) || rest + 1 != seg.size() ||
      seg[rest] != "infer")
    return false;
  if (req.method != Method::kPost) {
    reply(MethodNotAllowed("POST"));
    return true;
  }
  if (!req.content_encoding.empty() && req.content_encoding != "identity") {
    reply(HttpReply::Error(415, "Content-Encoding '" + std::string(req.content_encoding) +
                                    "' is not supported; send the request uncompressed"));
    return true;
  }

  std::string_view json_part;
  std::span<const uint8_t> binary;
  Status s = SplitInferBody(req.body, req.inference_header_length, &json_part, &binary);
  if (!s.ok()) {
    reply(HttpReply::FromStatus(s));
    return true;
  }
  // Kept until the reply: the response encoder reads the requested outputs' parameters.
  auto request = std::make_shared<server::InferRequest>();
  s = DecodeInferRequest(json_part, binary, request.get());
  if (!s.ok()) {
    reply(HttpReply::FromStatus(s));
    return true;
  }
  request->model_name = std::move(model);
  request->model_version = std::move(version);
  request->cancelled = req.cancelled;

  core.InferAsync(*request, [request, reply](Status st, server::InferResponse&& response) {
    if (!st.ok()) return reply(HttpReply::FromStatus(st));
    EncodedInferResponse enc;
    st = EncodeInferResponse(*request, response, &enc);
    if (!st.ok()) return reply(HttpReply::FromStatus(st));
    HttpReply out;
    out.status = 200;
    out.body = std::move(enc.body);
    out.inference_header_length = enc.header_length;
    out.content_type = enc.header_length ? "application/octet-stream" : "application/json";
    reply(std::move(out));
  });
  return true;
}

}  // namespace onnxd::api::http::routes
