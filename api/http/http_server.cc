#include "http/http_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <sys/socket.h>
#include <cerrno>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "http/aligned_body.h"
#include "http/http_routes.h"
#include "http/json_codec.h"

namespace onnxd::api::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// How long a connection may sit between requests, and how long one request or response may take.
constexpr auto kIdleTimeout = std::chrono::seconds(300);
constexpr auto kIoTimeout = std::chrono::seconds(120);
constexpr uint32_t kHeaderLimit = 64 * 1024;
// After refusing a request whose body is still arriving: how long and how much to discard.
constexpr auto kDrainTimeout = std::chrono::seconds(5);
constexpr size_t kDrainLimit = size_t{256} << 20;

Method ToMethod(bhttp::verb v) {
  switch (v) {
    case bhttp::verb::get: return Method::kGet;
    case bhttp::verb::head: return Method::kHead;
    case bhttp::verb::post: return Method::kPost;
    case bhttp::verb::put: return Method::kPut;
    case bhttp::verb::delete_: return Method::kDelete;
    default: return Method::kOther;
  }
}

std::string_view Sv(beast::string_view s) { return {s.data(), s.size()}; }

class Session;

// State shared by the acceptor and the sessions; lives as long as the longest session.
struct Shared {
  server::InferenceServer* core = nullptr;
  size_t body_limit = 0;
  std::mutex mu;
  std::set<Session*> sessions;  // for Stop(): close their sockets
  std::atomic<bool> stopping{false};
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<Shared> shared)
      : stream_(std::move(socket)), shared_(std::move(shared)) {}

  ~Session() {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->sessions.erase(this);
  }

  void Run() {
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->sessions.insert(this);
    }
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }

  // Called from Stop() on another thread: close on the session's strand. A session with a request
  // in progress closes after writing its response (OnWrite sees `stopping`).
  void Close() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->busy_) return;
      beast::error_code ec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      self->stream_.close();
    });
  }

 private:
  void ReadHeader() {
    if (shared_->stopping) return;
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    // Beast compares the announced or streamed length against this limit.
    parser_->body_limit(static_cast<std::uint64_t>(shared_->body_limit));
    stream_.expires_after(kIdleTimeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               self->OnHeader(ec);
                             });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    auto& req = parser_->get();
    auto cl = parser_->content_length();
    if (cl && *cl > shared_->body_limit) {
      return SendError(413, "request body of " + std::to_string(*cl) +
                                " bytes exceeds the limit of " +
                                std::to_string(shared_->body_limit) + " bytes",
                       /*close=*/true);
    }
    auto expect = req.find(bhttp::field::expect);
    if (expect != req.end() && beast::iequals(expect->value(), "100-continue")) {
      continue_.emplace(bhttp::status::continue_, req.version());
      bhttp::async_write(stream_, *continue_,
                         [self = shared_from_this()](beast::error_code ec, size_t) {
                           if (ec) return self->Shutdown();
                           self->ReadBody();
                         });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    stream_.expires_after(kIoTimeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        self->OnRead(ec);
                      });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
        ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::bad_descriptor ||
        ec == asio::error::not_connected || shared_->stopping)
      return Shutdown();
    if (ec == bhttp::error::body_limit)
      return SendError(413, "request body exceeds the limit of " +
                                std::to_string(shared_->body_limit) + " bytes",
                       true);
    if (ec == bhttp::error::header_limit)
      return SendError(431, "request header exceeds " + std::to_string(kHeaderLimit) + " bytes",
                       true);
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category())
      return SendError(400, "malformed HTTP request: " + ec.message(), true);
    return Shutdown();
  }

  void OnRead(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    auto& req = parser_->get();

    HttpRequest r;
    r.method = ToMethod(req.method());
    std::string_view target = Sv(req.target());
    size_t q = target.find('?');
    r.path = target.substr(0, q);
    if (q != std::string_view::npos) r.query = target.substr(q + 1);
    r.body = req.body().view();
    if (auto it = req.find(kInferenceHeaderContentLength); it != req.end()) {
      r.inference_header_length = ParseSizeHeader(Sv(it->value()));
      if (!r.inference_header_length) {
        keep_alive_ = req.keep_alive();
        return Send(HttpReply::Error(400, "Inference-Header-Content-Length '" +
                                              std::string(Sv(it->value())) +
                                              "' is not a byte count"),
                    req.version(), false);
      }
    }
    if (auto it = req.find(bhttp::field::content_type); it != req.end())
      r.content_type = Sv(it->value());
    if (auto it = req.find(bhttp::field::content_encoding); it != req.end())
      r.content_encoding = Sv(it->value());

    keep_alive_ = req.keep_alive();
    busy_ = true;
    WatchForHangUp(&r);
    // Inference replies arrive on a scheduler thread: back onto this session's strand to send.
    // The request body (parser_) stays until Send.
    const unsigned version = req.version();
    Dispatch(*shared_->core, r, [self = shared_from_this(), version](HttpReply reply) {
      asio::dispatch(self->stream_.get_executor(), [self, version, reply = std::move(reply)]() mutable {
        self->Send(std::move(reply), version, false);
      });
    });
  }

  // While a request is being answered, a readable socket with no bytes to read means the client
  // hung up: the request's cancelled flag rises so that the scheduler drops it if it still waits.
  // (Bytes of a pipelined next request leave the flag alone.)
  void WatchForHangUp(HttpRequest* r) {
    auto flag = std::make_shared<std::atomic<bool>>(false);
    r->cancelled = flag;
    ArmHangUpWatch(std::move(flag), ++requests_);
  }

  void ArmHangUpWatch(std::shared_ptr<std::atomic<bool>> flag, uint64_t request) {
    stream_.socket().async_wait(
        tcp::socket::wait_read, [self = shared_from_this(), flag, request](beast::error_code ec) {
          if (ec || !self->busy_ || request != self->requests_) return;
          // Readiness can be spurious: peek to tell end-of-stream from data and from nothing.
          char b;
          const ssize_t n = ::recv(self->stream_.socket().native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
          if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            flag->store(true, std::memory_order_relaxed);  // the client is gone
          } else if (n < 0) {
            self->ArmHangUpWatch(flag, request);  // nothing there after all: keep watching
          }
          // n > 0: a pipelined request; the client is still there.
        });
  }

  void SendError(int status, std::string message, bool close) {
    drain_after_write_ = close;
    Send(HttpReply::Error(status, message), 11, close);
  }

  void Send(HttpReply reply, unsigned version, bool close) {
    // The request body (which the reply no longer references) can go now.
    if (close || shared_->stopping) keep_alive_ = false;
    res_.emplace();
    res_->version(version);
    res_->result(static_cast<unsigned>(reply.status));
    if (!reply.content_type.empty() && !reply.body.empty())
      res_->set(bhttp::field::content_type, reply.content_type);
    if (reply.inference_header_length)
      res_->set(kInferenceHeaderContentLength, std::to_string(*reply.inference_header_length));
    for (auto& [k, v] : reply.headers) res_->set(k, v);
    res_->body() = std::move(reply.body);
    res_->keep_alive(keep_alive_);
    res_->prepare_payload();
    parser_.reset();
    stream_.expires_after(kIoTimeout);
    bhttp::async_write(stream_, *res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->OnWrite(ec);
    });
  }

  void OnWrite(beast::error_code ec) {
    res_.reset();
    busy_ = false;
    if (ec || shared_->stopping) return Shutdown();
    if (!keep_alive_) {
      // The client may still be sending a body we refused: stop sending, then read and discard
      // what it sends for a while so that it sees our reply rather than a reset.
      if (drain_after_write_) return Drain();
      return Shutdown();
    }
    ReadHeader();
  }

  void Drain() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(kDrainTimeout);
    drain_buf_.resize(64 * 1024);
    DrainSome();
  }

  void DrainSome() {
    stream_.async_read_some(asio::buffer(drain_buf_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kDrainLimit) {
                                self->stream_.close();
                                return;
                              }
                              self->DrainSome();
                            });
  }

  void Shutdown() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::shared_ptr<Shared> shared_;
  std::optional<bhttp::request_parser<AlignedBody>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> res_;
  std::optional<bhttp::response<bhttp::empty_body>> continue_;
  bool busy_ = false;  // a request is being answered (on the strand only)
  uint64_t requests_ = 0;  // requests read on this connection (on the strand only)
  bool keep_alive_ = true;
  bool drain_after_write_ = false;
  std::vector<char> drain_buf_;
  size_t drained_ = 0;
};

}  // namespace
}  // namespace onnxd::api::http

namespace onnxd::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using http::Session;
using http::Shared;

class HttpServer::Impl {
 public:
  Impl(server::InferenceServer& core, const server::ServerOptions& opts)
      : opts_(opts), acceptor_(ioc_) {
    shared_ = std::make_shared<Shared>();
    shared_->core = &core;
    shared_->body_limit = opts.http_body_limit;
  }

  ~Impl() { Stop(); }

  Status Start() {
    if (started_) return Status(StatusCode::kFailedPrecondition, "the HTTP server is already started");
    beast::error_code ec;
    auto address = asio::ip::make_address(opts_.http_address, ec);
    if (ec)
      return InvalidArgument("HTTP address '" + opts_.http_address + "' is not an IP address: " +
                             ec.message());
    if (opts_.http_port < 0 || opts_.http_port > 65535)
      return InvalidArgument("HTTP port " + std::to_string(opts_.http_port) + " is out of range");
    tcp::endpoint ep(address, static_cast<unsigned short>(opts_.http_port));
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      beast::error_code ignored;
      acceptor_.close(ignored);
      return Unavailable("cannot listen for HTTP on " + opts_.http_address + ":" +
                         std::to_string(opts_.http_port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    started_ = true;
    Accept();
    unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    unsigned n = std::min(4u, hw);
    threads_.reserve(n);
    for (unsigned i = 0; i < n; ++i) threads_.emplace_back([this] { ioc_.run(); });
    return Status::Ok();
  }

  int port() const { return port_; }

  void Stop() {
    if (!started_ || stopped_.exchange(true)) return;
    shared_->stopping = true;
    asio::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    // Open connections get a moment to end by themselves: each answers at most one more request
    // (refused, with "Connection: close") and closes, so that a client never has a request it
    // already sent cut off. Then whatever is idle is closed, and in-flight responses may finish.
    auto wait_sessions = [&](std::chrono::milliseconds d) {
      const auto deadline = std::chrono::steady_clock::now() + d;
      while (std::chrono::steady_clock::now() < deadline) {
        {
          std::lock_guard<std::mutex> lock(shared_->mu);
          if (shared_->sessions.empty()) return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    };
    wait_sessions(std::chrono::milliseconds(500));
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      for (Session* s : shared_->sessions) s->Close();
    }
    wait_sessions(std::chrono::seconds(2));
    ioc_.stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

 private:
  void Accept() {
    acceptor_.async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
      if (shared_->stopping || !acceptor_.is_open()) return;
      if (!ec) {
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        std::make_shared<Session>(std::move(socket), shared_)->Run();
      }
      Accept();
    });
  }

  server::ServerOptions opts_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::thread> threads_;
  int port_ = 0;
  bool started_ = false;
  std::atomic<bool> stopped_{false};
};

HttpServer::HttpServer(server::InferenceServer& core, const server::ServerOptions& opts)
    : impl_(std::make_unique<Impl>(core, opts)) {}
HttpServer::~HttpServer() = default;
Status HttpServer::Start() { return impl_->Start(); }
int HttpServer::port() const { return impl_->port(); }
void HttpServer::Stop() { impl_->Stop(); }

}  // namespace onnxd::api
