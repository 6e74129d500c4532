// TF-Serving REST compatibility: GET /v1/models/{m}[/versions/{v}] (status) and
// POST /v1/models/{m}[/versions/{v}]:predict (row "instances" or columnar "inputs").
#include <set>

#include "http/http_routes.h"
#include "http/json_codec.h"

namespace onnxd::api::http::routes {
namespace {

using json = nlohmann::json;

std::string TfState(const std::string& state) {
  if (state == "READY") return "AVAILABLE";
  if (state == "LOADING") return "LOADING";
  if (state == "UNLOADING") return "UNLOADING";
  if (state == "UNAVAILABLE") return "END";
  return "UNKNOWN";
}

HttpReply ModelStatus(server::InferenceServer& core, const std::string& model,
                      const std::string& version) {
  nlohmann::ordered_json versions = nlohmann::ordered_json::array();
  for (const auto& e : core.RepositoryIndex(false)) {
    if (e.name != model || (!version.empty() && e.version != version)) continue;
    nlohmann::ordered_json v;
    v["version"] = e.version;
    v["state"] = TfState(e.state);
    bool failed = e.state == "UNAVAILABLE" && !e.reason.empty();
    v["status"] = {{"error_code", failed ? "UNKNOWN" : "OK"},
                   {"error_message", failed ? e.reason : ""}};
    versions.push_back(std::move(v));
  }
  if (versions.empty()) {
    std::string what = "model '" + model + "'" + (version.empty() ? "" : " version " + version);
    return HttpReply::Error(404, "Could not find any versions of " + what);
  }
  nlohmann::ordered_json j;
  j["model_version_status"] = std::move(versions);
  return HttpReply::Json(200, DumpJson(j));
}

bool IsB64(const json& v) { return v.is_object() && v.size() == 1 && v.contains("b64"); }

// True when `v` is an object keyed by input names (not a {"b64": ...} value).
bool IsNamedObject(const json& v) { return v.is_object() && !IsB64(v); }

StatusOr<DataType> InputType(const server::TensorMetadata& m) {
  DataType dt = ParseKServeDatatype(m.datatype);
  if (dt == DataType::kUndefined)
    return InvalidArgument("input '" + m.name + "' has datatype " + m.datatype +
                           ", which the v1 API cannot build");
  return dt;
}

Status BuildInputs(const json& body, const server::ModelMetadata& md, server::InferRequest* req,
                   bool* row_format) {
  bool has_instances = body.contains("instances");
  bool has_inputs = body.contains("inputs");
  if (has_instances == has_inputs)
    return InvalidArgument("the request must have exactly one of 'instances' (row format) or "
                           "'inputs' (columnar format)");
  *row_format = has_instances;
  if (has_instances) {
    const json& inst = body["instances"];
    if (!inst.is_array() || inst.empty())
      return InvalidArgument("'instances' must be a non-empty array");
    bool named = IsNamedObject(inst[0]);
    if (named) {
      for (size_t r = 0; r < inst.size(); ++r) {
        if (!IsNamedObject(inst[r]))
          return InvalidArgument("instance " + std::to_string(r) +
                                 " is not an object, but instance 0 is");
        for (auto it = inst[r].begin(); it != inst[r].end(); ++it) {
          bool known = false;
          for (const auto& in : md.inputs) known |= in.name == it.key();
          if (!known)
            return InvalidArgument("instance " + std::to_string(r) + " has '" + it.key() +
                                   "', which is not an input of model '" + md.name + "'");
        }
      }
      for (const auto& in : md.inputs) {
        ASSIGN_OR_RETURN(DataType dt, InputType(in));
        std::vector<const json*> rows;
        for (size_t r = 0; r < inst.size(); ++r) {
          auto it = inst[r].find(in.name);
          if (it == inst[r].end())
            return InvalidArgument("instance " + std::to_string(r) + " has no value for input '" +
                                   in.name + "'");
          rows.push_back(&*it);
        }
        server::InferInput input;
        input.name = in.name;
        ASSIGN_OR_RETURN(input.tensor, JsonRowsToTensor(rows, dt, "input '" + in.name + "'"));
        req->inputs.push_back(std::move(input));
      }
      return Status::Ok();
    }
    if (md.inputs.size() != 1)
      return InvalidArgument("model '" + md.name + "' has " + std::to_string(md.inputs.size()) +
                             " inputs, so each instance must be an object {input_name: value}");
    ASSIGN_OR_RETURN(DataType dt, InputType(md.inputs[0]));
    std::vector<const json*> rows;
    for (const json& r : inst) rows.push_back(&r);
    server::InferInput input;
    input.name = md.inputs[0].name;
    ASSIGN_OR_RETURN(input.tensor, JsonRowsToTensor(rows, dt, "input '" + input.name + "'"));
    req->inputs.push_back(std::move(input));
    return Status::Ok();
  }
  const json& inputs = body["inputs"];
  if (IsNamedObject(inputs)) {
    for (auto it = inputs.begin(); it != inputs.end(); ++it) {
      const server::TensorMetadata* meta = nullptr;
      for (const auto& in : md.inputs)
        if (in.name == it.key()) meta = &in;
      if (!meta)
        return InvalidArgument("'" + it.key() + "' is not an input of model '" + md.name + "'");
      ASSIGN_OR_RETURN(DataType dt, InputType(*meta));
      server::InferInput input;
      input.name = it.key();
      ASSIGN_OR_RETURN(input.tensor, JsonValueToTensor(it.value(), dt, "input '" + it.key() + "'"));
      req->inputs.push_back(std::move(input));
    }
    return Status::Ok();
  }
  if (md.inputs.size() != 1)
    return InvalidArgument("model '" + md.name + "' has " + std::to_string(md.inputs.size()) +
                           " inputs, so 'inputs' must be an object {input_name: value}");
  ASSIGN_OR_RETURN(DataType dt, InputType(md.inputs[0]));
  server::InferInput input;
  input.name = md.inputs[0].name;
  ASSIGN_OR_RETURN(input.tensor, JsonValueToTensor(inputs, dt, "input '" + input.name + "'"));
  req->inputs.push_back(std::move(input));
  return Status::Ok();
}

int64_t RowCount(const Value& v) {
  if (v.is_tensor()) return v.tensor().rank() == 0 ? 1 : v.tensor().dim(0);
  if (v.is_sequence()) return static_cast<int64_t>(v.sequence().size());
  return 1;
}

void AppendRow(std::string* out, const Value& v, int64_t row) {
  if (v.is_tensor()) {
    if (v.tensor().rank() == 0) AppendJsonElement(out, v.tensor(), 0);
    else if (row < v.tensor().dim(0)) AppendJsonTensorRow(out, v.tensor(), row);
    else out->append("null");
  } else if (v.is_sequence()) {
    if (row < static_cast<int64_t>(v.sequence().size())) AppendJsonValue(out, v.sequence()[row]);
    else out->append("null");
  } else {
    AppendJsonValue(out, v);
  }
}

std::string EncodePredict(const server::InferResponse& resp, bool row_format) {
  std::string out;
  const auto& outs = resp.outputs;
  if (row_format) {
    out = "{\"predictions\":[";
    int64_t rows = 0;
    for (const auto& o : outs) rows = std::max(rows, RowCount(o.value));
    for (int64_t r = 0; r < rows; ++r) {
      if (r) out.push_back(',');
      if (outs.size() == 1) {
        AppendRow(&out, outs[0].value, r);
        continue;
      }
      out.push_back('{');
      for (size_t i = 0; i < outs.size(); ++i) {
        if (i) out.push_back(',');
        AppendJsonString(&out, outs[i].name);
        out.push_back(':');
        AppendRow(&out, outs[i].value, r);
      }
      out.push_back('}');
    }
    out.append("]}");
    return out;
  }
  out = "{\"outputs\":";
  if (outs.size() == 1) {
    AppendJsonValue(&out, outs[0].value);
  } else {
    out.push_back('{');
    for (size_t i = 0; i < outs.size(); ++i) {
      if (i) out.push_back(',');
      AppendJsonString(&out, outs[i].name);
      out.push_back(':');
      AppendJsonValue(&out, outs[i].value);
    }
    out.push_back('}');
  }
  out.push_back('}');
  return out;
}

HttpReply Predict(server::InferenceServer& core, const HttpRequest& req, const std::string& model,
                  const std::string& version) {
  auto md = core.GetModelMetadata(model, version);
  if (!md.ok()) return HttpReply::FromStatus(md.status());
  json body = json::parse(req.body.begin(), req.body.end(), nullptr, false);
  if (body.is_discarded()) return HttpReply::Error(400, "the request body is not valid JSON");
  if (!body.is_object()) return HttpReply::Error(400, "the request body must be a JSON object");
  server::InferRequest request;
  request.model_name = model;
  request.model_version = version;
  bool row_format = true;
  Status s = BuildInputs(body, *md, &request, &row_format);
  if (!s.ok()) return HttpReply::FromStatus(s);
  server::InferResponse response;
  s = core.Infer(request, &response);
  if (!s.ok()) return HttpReply::FromStatus(s);
  return HttpReply::Json(200, EncodePredict(response, row_format));
}

}  // namespace

std::optional<HttpReply> V1(server::InferenceServer& core, const HttpRequest& req,
                            const std::vector<std::string>& seg) {
  if (seg.size() < 3 || seg[1] != "models") return std::nullopt;
  std::vector<std::string> s = seg;
  // A trailing ":verb" on the last segment.
  std::string verb;
  size_t colon = s.back().rfind(':');
  if (colon != std::string::npos) {
    verb = s.back().substr(colon + 1);
    s.back().resize(colon);
  }
  std::string model, version;
  size_t rest = 0;
  if (!ParseModelPath(s, 2, &model, &version, &rest)) return std::nullopt;
  if (!verb.empty()) {
    if (rest != s.size()) return std::nullopt;
    if (verb == "predict") {
      if (req.method != Method::kPost) return MethodNotAllowed("POST");
      return Predict(core, req, model, version);
    }
    if (verb == "classify" || verb == "regress")
      return HttpReply::Error(501, "the :" + verb + " API is not supported; use :predict");
    return std::nullopt;
  }
  if (rest == s.size()) {
    if (req.method != Method::kGet) return MethodNotAllowed("GET");
    return ModelStatus(core, model, version);
  }
  return std::nullopt;
}

}  // namespace onnxd::api::http::routes
