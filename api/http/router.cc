#include <exception>
#include <new>

#include "http/http_routes.h"
#include "http/json_codec.h"
#include "status_mapping.h"

namespace onnxd::api::http {

HttpReply HttpReply::Error(int status, std::string_view message) {
  return Json(status, JsonErrorBody(message));
}

HttpReply HttpReply::FromStatus(const Status& s) {
  return Error(HttpStatusFor(s), s.message());
}

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

const char* MethodName(Method m) {
  switch (m) {
    case Method::kGet: return "GET";
    case Method::kHead: return "HEAD";
    case Method::kPost: return "POST";
    case Method::kPut: return "PUT";
    case Method::kDelete: return "DELETE";
    default: return "?";
  }
}

}  // namespace

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> seg;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) seg.push_back(PercentDecode(path.substr(i, j - i)));
    i = j;
  }
  return seg;
}

namespace routes {

HttpReply MethodNotAllowed(std::string_view allow) {
  HttpReply r = HttpReply::Error(405, "method not allowed; use " + std::string(allow));
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

bool ParseModelPath(const std::vector<std::string>& seg, size_t first, std::string* model,
                    std::string* version, size_t* rest) {
  if (seg.size() <= first) return false;
  *model = seg[first];
  version->clear();
  if (seg.size() >= first + 3 && seg[first + 1] == "versions") {
    *version = seg[first + 2];
    *rest = first + 3;
  } else {
    *rest = first + 1;
  }
  return true;
}

}  // namespace routes

namespace {

// Every route but inference, which answers through its callback (Dispatch below).
HttpReply RouteOther(server::InferenceServer& core, const HttpRequest& req, const std::vector<std::string>& seg) {
  std::optional<HttpReply> reply;
  if (!seg.empty() && seg[0] == "v2") {
    if (seg.size() == 1 || seg[1] == "health") {
      reply = routes::Health(core, req, seg);
    } else if (seg[1] == "models") {
      reply = routes::Models(core, req, seg);
    } else if (seg[1] == "repository") {
      reply = routes::Repository(core, req, seg);
    }
  } else if (!seg.empty() && seg[0] == "v1") {
    reply = routes::V1(core, req, seg);
  }
  if (reply) return std::move(*reply);
  return HttpReply::Error(404, std::string("no route for ") + MethodName(req.method) + " " + std::string(req.path));
}

}  // namespace

void Dispatch(server::InferenceServer& core, const HttpRequest& req, const ReplyFn& reply_fn) {
  HttpReply reply;
  try {
    std::vector<std::string> seg = SplitPath(req.path);
    if (seg.size() >= 3 && seg[0] == "v2" && seg[1] == "models" && seg.back() == "infer" &&
        routes::Infer(core, req, seg, reply_fn))
      return;
    reply = RouteOther(core, req, seg);
  } catch (const std::bad_alloc&) {
    reply = HttpReply::Error(500, "out of memory while handling the request");
  } catch (const std::exception& e) {
    reply = HttpReply::Error(500, std::string("internal error: ") + e.what());
  }
  reply_fn(std::move(reply));
}

}  // namespace onnxd::api::http
