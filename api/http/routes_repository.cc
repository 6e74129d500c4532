// Model repository extension: POST /v2/repository/index, /v2/repository/models/{m}/load|unload.
#include "http/http_routes.h"
#include "http/json_codec.h"

namespace onnxd::api::http::routes {
namespace {

// Parses an optional JSON object body ("" and whitespace are an empty object).
StatusOr<nlohmann::json> ParseOptionalBody(std::string_view body) {
  size_t i = body.find_first_not_of(" \t\r\n");
  if (i == std::string_view::npos) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) return InvalidArgument("the request body is not valid JSON");
  if (!j.is_object())
    return InvalidArgument("the request body must be a JSON object, got " + std::string(j.type_name()));
  return j;
}

}  // namespace

std::optional<HttpReply> Repository(server::InferenceServer& core, const HttpRequest& req,
                                    const std::vector<std::string>& seg) {
  // /v2/repository/index
  if (seg.size() == 3 && seg[2] == "index") {
    if (req.method != Method::kPost) return MethodNotAllowed("POST");
    auto body = ParseOptionalBody(req.body);
    if (!body.ok()) return HttpReply::FromStatus(body.status());
    bool ready_only = false;
    if (auto it = body->find("ready"); it != body->end()) {
      if (!it->is_boolean()) return HttpReply::Error(400, "'ready' must be a bool");
      ready_only = it->get<bool>();
    }
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& e : core.RepositoryIndex(ready_only)) {
      nlohmann::ordered_json j;
      j["name"] = e.name;
      j["version"] = e.version;
      j["state"] = e.state;
      j["reason"] = e.reason;
      arr.push_back(std::move(j));
    }
    return HttpReply::Json(200, DumpJson(arr));
  }
  // /v2/repository/models/{m}/load|unload
  if (seg.size() == 5 && seg[2] == "models" && (seg[4] == "load" || seg[4] == "unload")) {
    if (req.method != Method::kPost) return MethodNotAllowed("POST");
    auto body = ParseOptionalBody(req.body);
    if (!body.ok()) return HttpReply::FromStatus(body.status());
    const std::string& model = seg[3];
    std::string config;
    if (auto params = body->find("parameters"); params != body->end()) {
      if (!params->is_object()) return HttpReply::Error(400, "'parameters' must be a JSON object");
      for (auto it = params->begin(); it != params->end(); ++it) {
        if (it.key() == "config" && seg[4] == "load") {
          if (!it->is_string())
            return HttpReply::Error(400, "parameter 'config' must be a string holding the model "
                                         "config as JSON");
          config = it->get<std::string>();
        } else if (it.key().rfind("file:", 0) == 0) {
          return HttpReply::Error(501, "parameter '" + it.key() +
                                           "': loading model files through the API is not supported");
        }
        // Others (e.g. unload_dependents) have no effect here.
      }
    }
    Status s = seg[4] == "load" ? core.LoadModel(model, config) : core.UnloadModel(model);
    if (!s.ok()) return HttpReply::FromStatus(s);
    return HttpReply::Empty(200);
  }
  return std::nullopt;
}

}  // namespace onnxd::api::http::routes
