#include "http/metrics_server.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "metrics/metrics.h"

namespace onnxd::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr size_t kMaxRequestBody = 64 * 1024;

// One connection: read a request, answer it, repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, server::MetricsRenderer& renderer)
      : stream_(std::move(socket)), renderer_(renderer) {}

  void Read() {
    parser_.emplace();
    parser_->body_limit(kMaxRequestBody);
    stream_.expires_after(kIdleTimeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec) {
      if (ec != bhttp::error::end_of_stream) {
        // Malformed or oversized requests get a 400 when the socket is still usable; timeouts and
        // resets just close.
        if (ec != beast::error::timeout && ec != asio::error::operation_aborted &&
            ec != asio::error::connection_reset && ec != asio::error::eof) {
          Respond(bhttp::status::bad_request, "bad request\n", 11, false);
          return;
        }
      }
      Close();
      return;
    }
    const auto& req = parser_->get();
    std::string_view target(req.target().data(), req.target().size());
    if (size_t q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    if ((req.method() == bhttp::verb::get || req.method() == bhttp::verb::head) && target == "/metrics") {
      std::string body = renderer_.Render();
      if (req.method() == bhttp::verb::head) {
        Respond(bhttp::status::ok, std::move(body), req.version(), req.keep_alive(), true);
      } else {
        Respond(bhttp::status::ok, std::move(body), req.version(), req.keep_alive());
      }
    } else {
      Respond(bhttp::status::not_found, "not found\n", req.version(), req.keep_alive());
    }
  }

  void Respond(bhttp::status status, std::string body, unsigned version, bool keep_alive, bool head = false) {
    res_ = {};
    res_.result(status);
    res_.version(version);
    res_.set(bhttp::field::server, "onnxd");
    res_.set(bhttp::field::content_type,
             status == bhttp::status::ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain");
    res_.keep_alive(keep_alive);
    res_.body() = std::move(body);
    res_.prepare_payload();
    if (head) res_.body().clear();  // Content-Length stays that of the GET body
    stream_.expires_after(kIdleTimeout);
    bhttp::async_write(stream_, res_, [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
      if (ec || !keep_alive) {
        self->Close();
        return;
      }
      self->Read();
    });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  server::MetricsRenderer& renderer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> res_;
};

}  // namespace

class MetricsServer::Impl {
 public:
  Impl(server::InferenceServer& core, const server::ServerOptions& opts)
      : opts_(opts), renderer_(core.models(), opts) {
    ioc_.emplace(1);
    acceptor_.emplace(*ioc_);
    retry_timer_.emplace(*ioc_);
  }
  ~Impl() { Stop(); }

  Status Start() {
    if (started_) return InvalidArgument("the metrics server is already started");
    if (stopped_) return InvalidArgument("the metrics server was stopped; make a new one");
    beast::error_code ec;
    const std::string& address = opts_.metrics_address.empty() ? opts_.http_address : opts_.metrics_address;
    auto addr = asio::ip::make_address(address, ec);
    if (ec) return InvalidArgument("metrics address '" + address + "' is not an IP address: " + ec.message());
    if (opts_.metrics_port < 0 || opts_.metrics_port > 65535)
      return InvalidArgument("metrics port " + std::to_string(opts_.metrics_port) + " is out of range");
    tcp::endpoint ep(addr, static_cast<unsigned short>(opts_.metrics_port));
    const std::string where = address + ":" + std::to_string(opts_.metrics_port);
    acceptor_->open(ep.protocol(), ec);
    if (ec) return Unavailable("metrics server: cannot open a socket for " + where + ": " + ec.message());
    acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    acceptor_->bind(ep, ec);
    if (ec) return Unavailable("metrics server: cannot bind " + where + ": " + ec.message());
    acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Unavailable("metrics server: cannot listen on " + where + ": " + ec.message());
    port_ = acceptor_->local_endpoint(ec).port();
    started_ = true;
    Accept();
    thread_ = std::thread([this] { ioc_->run(); });
    return Status::Ok();
  }

  int port() const { return port_; }

  void Stop() {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (!started_ || stopped_) return;
    stopped_ = true;
    ioc_->stop();
    if (thread_.joinable()) thread_.join();
    // Pending handlers own the sessions: destroying the context destroys them and closes their
    // sockets, so the connections close here rather than at destruction.
    retry_timer_.reset();
    acceptor_.reset();
    ioc_.reset();
  }

 private:
  void Accept() {
    acceptor_->async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        std::make_shared<Session>(std::move(socket), renderer_)->Read();
        Accept();
        return;
      }
      // Out of descriptors and the like: back off instead of spinning.
      retry_timer_->expires_after(std::chrono::milliseconds(100));
      retry_timer_->async_wait([this](beast::error_code wec) {
        if (!wec) Accept();
      });
    });
  }

  const server::ServerOptions opts_;
  server::MetricsRenderer renderer_;
  std::optional<asio::io_context> ioc_;
  std::optional<tcp::acceptor> acceptor_;  // destroyed before ioc_
  std::optional<asio::steady_timer> retry_timer_;
  std::thread thread_;
  int port_ = 0;
  bool started_ = false;
  bool stopped_ = false;
  std::mutex stop_mu_;
};

MetricsServer::MetricsServer(server::InferenceServer& core, const server::ServerOptions& opts)
    : impl_(std::make_unique<Impl>(core, opts)) {}
MetricsServer::~MetricsServer() = default;
Status MetricsServer::Start() { return impl_->Start(); }
int MetricsServer::port() const { return impl_->port(); }
void MetricsServer::Stop() { impl_->Stop(); }

}  // namespace onnxd::api
