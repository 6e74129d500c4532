// Request routing for the HTTP front end: a transport-free request/reply pair, the dispatcher,
// and one handler family per routes_*.cc file. Handlers decode, call InferenceServer, encode.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/inference_server.h"
#include "onnxd/engine/status.h"

namespace onnxd::api::http {

enum class Method { kGet, kHead, kPost, kPut, kDelete, kOther };

struct HttpRequest {
  Method method = Method::kGet;
  std::string_view path;   // raw path, without the query string
  std::string_view query;  // after '?', may be empty
  // The whole body; for binary-data requests it lives in an aligned buffer that outlives the
  // handler, so tensors may view into it.
  std::string_view body;
  std::optional<size_t> inference_header_length;  // Inference-Header-Content-Length
  std::string_view content_type;
  std::string_view content_encoding;
  // Raised when the client closes its connection before the reply (queued work is then dropped).
  std::shared_ptr<std::atomic<bool>> cancelled;
};

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::optional<size_t> inference_header_length;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (e.g. Allow)

  static HttpReply Json(int status, std::string body) {
    HttpReply r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
  static HttpReply Error(int status, std::string_view message);
  static HttpReply FromStatus(const Status& s);  // HttpStatusFor(s) + {"error": message}
  static HttpReply Empty(int status) {
    HttpReply r;
    r.status = status;
    r.content_type.clear();
    return r;
  }
};

// Path segments after percent-decoding, e.g. "/v2/models/m/infer" -> {"v2","models","m","infer"}.
std::vector<std::string> SplitPath(std::string_view path);

// Receives a reply; called exactly once per request, on any thread.
using ReplyFn = std::function<void(HttpReply)>;

// Routes a request and answers through `reply`; never throws; unknown routes 404, wrong methods
// 405. Inference replies come from a scheduler thread once the request has run (the request's
// buffers must stay alive until then); other routes answer at once.
void Dispatch(server::InferenceServer& core, const HttpRequest& request, const ReplyFn& reply);

// Route families (paths given as decoded segments).
namespace routes {

// /v2/health/live, /v2/health/ready, /v2
std::optional<HttpReply> Health(server::InferenceServer& core, const HttpRequest& req,
                                const std::vector<std::string>& seg);
// /v2/models/... metadata, ready, config, stats
std::optional<HttpReply> Models(server::InferenceServer& core, const HttpRequest& req,
                                const std::vector<std::string>& seg);
// POST /v2/models/{m}[/versions/{v}]/infer: false when the path is not an infer route; else
// `reply` is called exactly once (possibly before this returns).
bool Infer(server::InferenceServer& core, const HttpRequest& req, const std::vector<std::string>& seg,
           const ReplyFn& reply);
// /v2/repository/...
std::optional<HttpReply> Repository(server::InferenceServer& core, const HttpRequest& req,
                                    const std::vector<std::string>& seg);
// TF-Serving /v1/models/...
std::optional<HttpReply> V1(server::InferenceServer& core, const HttpRequest& req,
                            const std::vector<std::string>& seg);

// 405 with an Allow header.
HttpReply MethodNotAllowed(std::string_view allow);
// Pulls model name/version out of /v2/models/{m}[/versions/{v}]/<rest...>; `rest` receives the
// index of the first segment after the model (and version). False when `seg` has no model.
bool ParseModelPath(const std::vector<std::string>& seg, size_t first, std::string* model,
                    std::string* version, size_t* rest);

}  // namespace routes
}  // namespace onnxd::api::http
