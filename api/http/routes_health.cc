// /v2 (server metadata), /v2/health/live, /v2/health/ready.
#include "http/http_routes.h"
#include "http/json_codec.h"

namespace onnxd::api::http::routes {

std::optional<HttpReply> Health(server::InferenceServer& core, const HttpRequest& req,
                                const std::vector<std::string>& seg) {
  if (seg.size() == 1) {
    if (req.method != Method::kGet) return MethodNotAllowed("GET");
    server::ServerMetadata md = core.Metadata();
    nlohmann::ordered_json j;
    j["name"] = md.name;
    j["version"] = md.version;
    j["extensions"] = md.extensions;
    return HttpReply::Json(200, DumpJson(j));
  }
  if (seg.size() != 3) return std::nullopt;
  // As Triton: 200 when true, 400 when not.
  if (seg[2] == "live") {
    if (req.method != Method::kGet) return MethodNotAllowed("GET");
    if (core.Live()) return HttpReply::Empty(200);
    return HttpReply::Error(400, "the server is not live");
  }
  if (seg[2] == "ready") {
    if (req.method != Method::kGet) return MethodNotAllowed("GET");
    if (core.Ready()) return HttpReply::Empty(200);
    return HttpReply::Error(400, "the server is not ready");
  }
  return std::nullopt;
}

}  // namespace onnxd::api::http::routes
