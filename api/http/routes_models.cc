// /v2/models/stats and /v2/models/{m}[/versions/{v}][/ready|/config|/stats].
#include "http/http_routes.h"
#include "http/json_codec.h"

namespace onnxd::api::http::routes {
namespace {

nlohmann::ordered_json TensorsJson(const std::vector<server::TensorMetadata>& ts) {
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  for (const auto& t : ts) {
    nlohmann::ordered_json j;
    j["name"] = t.name;
    j["datatype"] = t.datatype;
    j["shape"] = t.shape;
    arr.push_back(std::move(j));
  }
  return arr;
}

HttpReply Statistics(server::InferenceServer& core, const std::string& model,
                     const std::string& version) {
  auto stats = core.GetStatistics(model, version);
  if (!stats.ok()) return HttpReply::FromStatus(stats.status());
  return HttpReply::Json(200, DumpJson(ProtoToJson(*stats)));
}

}  // namespace

std::optional<HttpReply> Models(server::InferenceServer& core, const HttpRequest& req,
                                const std::vector<std::string>& seg) {
  if (seg.size() == 3 && seg[2] == "stats") {
    if (req.method != Method::kGet) return MethodNotAllowed("GET");
    return Statistics(core, "", "");
  }
  std::string model, version;
  size_t rest = 0;
  if (!ParseModelPath(seg, 2, &model, &version, &rest)) return std::nullopt;

  if (rest == seg.size()) {
    if (req.method != Method::kGet) return MethodNotAllowed("GET");
    auto md = core.GetModelMetadata(model, version);
    if (!md.ok()) return HttpReply::FromStatus(md.status());
    nlohmann::ordered_json j;
    j["name"] = md->name;
    j["versions"] = md->versions;
    j["platform"] = md->platform;
    j["inputs"] = TensorsJson(md->inputs);
    j["outputs"] = TensorsJson(md->outputs);
    return HttpReply::Json(200, DumpJson(j));
  }
  if (rest + 1 != seg.size()) return std::nullopt;
  const std::string& what = seg[rest];
  if (what == "ready") {
    if (req.method != Method::kGet) return MethodNotAllowed("GET");
    // As Triton: 200 when ready, 400 otherwise (including unknown models).
    Status s = core.ModelReady(model, version);
    if (s.ok()) return HttpReply::Empty(200);
    return HttpReply::Error(400, s.message());
  }
  if (what == "config") {
    if (req.method != Method::kGet) return MethodNotAllowed("GET");
    auto cfg = core.GetModelConfig(model, version);
    if (!cfg.ok()) return HttpReply::FromStatus(cfg.status());
    return HttpReply::Json(200, DumpJson(ProtoToJson(*cfg)));
  }
  if (what == "stats") {
    if (req.method != Method::kGet) return MethodNotAllowed("GET");
    return Statistics(core, model, version);
  }
  if (what == "infer") return MethodNotAllowed("POST");
  return std::nullopt;
}

}  // namespace onnxd::api::http::routes
