#include "grpc/grpc_server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "grpc/grpc_codec.h"
#include "grpc/grpc_worker_pool.h"
#include "grpc_service.grpc.pb.h"
#include "health.grpc.pb.h"
#include "status_mapping.h"

namespace onnxd::api {
namespace {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using steady = std::chrono::steady_clock;

constexpr const char* kServiceName = "inference.GRPCInferenceService";
constexpr size_t kMaxWatches = 1024;
// Requests waiting for a worker beyond the running ones; past it, calls get RESOURCE_EXHAUSTED.
constexpr size_t kMaxQueued = size_t{1} << 16;
constexpr const char* kQueueFull = "the gRPC server's request queue is full (or the server is stopping)";

// The call's gRPC deadline on the steady clock (max when none).
steady::time_point SteadyDeadline(const grpc::ServerContextBase* ctx) {
  const auto d = ctx->deadline();
  if (d == std::chrono::system_clock::time_point::max()) return steady::time_point::max();
  const auto now_sys = std::chrono::system_clock::now();
  const auto now = steady::now();
  if (d <= now_sys) return now;
  const auto left = d - now_sys;
  if (left > std::chrono::hours(24 * 365 * 10)) return steady::time_point::max();
  return now + std::chrono::duration_cast<steady::duration>(left);
}

ServerUnaryReactor* Done(CallbackServerContext* ctx, const grpc::Status& s) {
  ServerUnaryReactor* r = ctx->DefaultReactor();
  r->Finish(s);
  return r;
}

ServerUnaryReactor* Done(CallbackServerContext* ctx, const Status& s) { return Done(ctx, GrpcStatusFor(s)); }

// A unary call whose work runs on the pool: OnCancel raises the request's cancelled flag.
class PooledUnary : public ServerUnaryReactor {
 public:
  PooledUnary() : cancelled_(std::make_shared<std::atomic<bool>>(false)) {}
  void OnCancel() override { cancelled_->store(true, std::memory_order_relaxed); }
  void OnDone() override { delete this; }
  const std::shared_ptr<std::atomic<bool>>& cancelled() const { return cancelled_; }

 private:
  std::shared_ptr<std::atomic<bool>> cancelled_;
};

}  // namespace

class GrpcServer::Impl {
 public:
  Impl(server::InferenceServer& core, const server::ServerOptions& opts)
      : core_(core), opts_(opts), infer_service_(this), health_service_(this) {}

  Status Start();
  void Stop();
  int port() const { return port_.load(); }

  server::InferenceServer& core() { return core_; }
  GrpcWorkerPool& pool() { return *pool_; }
  int max_stream_pending() const { return max_stream_pending_; }

  // Decodes one inference, queues it on the model's scheduler, and once it has run encodes the
  // response into `resp` and calls `done` with the outcome (on this thread when it is refused at
  // once, else on a scheduler thread). `received` is when the call arrived; `req` and `resp` stay
  // alive until `done`.
  template <typename Done>
  void StartInfer(const inference::ModelInferRequest& req, const grpc::ServerContextBase* ctx,
                  const std::shared_ptr<std::atomic<bool>>& cancelled, steady::time_point received,
                  inference::ModelInferResponse* resp, Done done) {
    if (cancelled->load(std::memory_order_relaxed)) {
      return done(Cancelled("request for model '" + req.model_name() + "' was cancelled by the client"));
    }
    server::InferRequest r;
    r.received = received;
    Status st = grpc_codec::DecodeInferRequest(req, &r);
    if (!st.ok()) return done(std::move(st));
    const auto dl = SteadyDeadline(ctx);
    if (dl < r.deadline) r.deadline = dl;
    r.cancelled = cancelled;
    core_.InferAsync(r, [resp, done = std::move(done)](Status s, server::InferResponse&& out) mutable {
      if (s.ok()) s = grpc_codec::EncodeInferResponse(out, resp);
      done(std::move(s));
    });
  }

  // Health watches: registered so that Stop can end them at once.
  class WatchCall;
  bool RegisterWatch(WatchCall* w);
  void UnregisterWatch(WatchCall* w);
  void FinishWatches();

 private:
  class InferService;
  class HealthService;

  class InferService final : public inference::GRPCInferenceService::CallbackService {
   public:
    explicit InferService(Impl* impl) : impl_(impl) {}
    ServerUnaryReactor* ServerLive(CallbackServerContext* ctx, const inference::ServerLiveRequest*,
                                   inference::ServerLiveResponse* resp) override {
      resp->set_live(impl_->core().Live());
      return Done(ctx, grpc::Status::OK);
    }
    ServerUnaryReactor* ServerReady(CallbackServerContext* ctx, const inference::ServerReadyRequest*,
                                    inference::ServerReadyResponse* resp) override {
      resp->set_ready(impl_->core().Ready());
      return Done(ctx, grpc::Status::OK);
    }
    ServerUnaryReactor* ModelReady(CallbackServerContext* ctx, const inference::ModelReadyRequest* req,
                                   inference::ModelReadyResponse* resp) override;
    ServerUnaryReactor* ServerMetadata(CallbackServerContext* ctx, const inference::ServerMetadataRequest*,
                                       inference::ServerMetadataResponse* resp) override;
    ServerUnaryReactor* ModelMetadata(CallbackServerContext* ctx, const inference::ModelMetadataRequest* req,
                                      inference::ModelMetadataResponse* resp) override;
    ServerUnaryReactor* ModelInfer(CallbackServerContext* ctx, const inference::ModelInferRequest* req,
                                   inference::ModelInferResponse* resp) override;
    grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
    ModelStreamInfer(CallbackServerContext* ctx) override;
    ServerUnaryReactor* ModelConfig(CallbackServerContext* ctx, const inference::ModelConfigRequest* req,
                                    inference::ModelConfigResponse* resp) override;
    ServerUnaryReactor* ModelStatistics(CallbackServerContext* ctx, const inference::ModelStatisticsRequest* req,
                                        inference::ModelStatisticsResponse* resp) override;
    ServerUnaryReactor* RepositoryIndex(CallbackServerContext* ctx, const inference::RepositoryIndexRequest* req,
                                        inference::RepositoryIndexResponse* resp) override;
    ServerUnaryReactor* RepositoryModelLoad(CallbackServerContext* ctx,
                                            const inference::RepositoryModelLoadRequest* req,
                                            inference::RepositoryModelLoadResponse* resp) override;
    ServerUnaryReactor* RepositoryModelUnload(CallbackServerContext* ctx,
                                              const inference::RepositoryModelUnloadRequest* req,
                                              inference::RepositoryModelUnloadResponse* resp) override;

   private:
    // Runs `work` on the pool and finishes the call with its status.
    template <typename Fn>
    ServerUnaryReactor* OnPool(CallbackServerContext* ctx, Fn work);
    Impl* impl_;
  };

  class HealthService final : public grpc::health::v1::Health::CallbackService {
   public:
    explicit HealthService(Impl* impl) : impl_(impl) {}
    ServerUnaryReactor* Check(CallbackServerContext* ctx, const HealthCheckRequest* req,
                              HealthCheckResponse* resp) override;
    grpc::ServerWriteReactor<HealthCheckResponse>* Watch(CallbackServerContext* ctx,
                                                         const HealthCheckRequest* req) override;

   private:
    Impl* impl_;
  };

  server::InferenceServer& core_;
  server::ServerOptions opts_;
  InferService infer_service_;
  HealthService health_service_;
  std::unique_ptr<GrpcWorkerPool> pool_;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<int> port_{0};
  int max_stream_pending_ = 16;
  std::mutex lifecycle_mu_;

  std::mutex watch_mu_;
  bool watches_closed_ = false;
  std::unordered_set<WatchCall*> watches_;
};

// ---------------------------------------------------------------------------------------------
// Unary handlers

ServerUnaryReactor* GrpcServer::Impl::InferService::ModelReady(CallbackServerContext* ctx,
                                                               const inference::ModelReadyRequest* req,
                                                               inference::ModelReadyResponse* resp) {
  if (req->name().empty()) return Done(ctx, InvalidArgument("ModelReadyRequest.name is empty"));
  const Status s = impl_->core().ModelReady(req->name(), req->version());
  resp->set_ready(s.ok());
  // As Triton: a model that is unknown or not ready is "not ready", not an error.
  if (s.ok() || s.code() == StatusCode::kNotFound || s.code() == StatusCode::kUnavailable ||
      s.code() == StatusCode::kFailedPrecondition) {
    return Done(ctx, grpc::Status::OK);
  }
  return Done(ctx, s);
}

ServerUnaryReactor* GrpcServer::Impl::InferService::ServerMetadata(CallbackServerContext* ctx,
                                                                   const inference::ServerMetadataRequest*,
                                                                   inference::ServerMetadataResponse* resp) {
  const server::ServerMetadata md = impl_->core().Metadata();
  resp->set_name(md.name);
  resp->set_version(md.version);
  for (const auto& e : md.extensions) resp->add_extensions(e);
  return Done(ctx, grpc::Status::OK);
}

ServerUnaryReactor* GrpcServer::Impl::InferService::ModelMetadata(CallbackServerContext* ctx,
                                                                  const inference::ModelMetadataRequest* req,
                                                                  inference::ModelMetadataResponse* resp) {
  if (req->name().empty()) return Done(ctx, InvalidArgument("ModelMetadataRequest.name is empty"));
  StatusOr<server::ModelMetadata> md = impl_->core().GetModelMetadata(req->name(), req->version());
  if (!md.ok()) return Done(ctx, md.status());
  resp->set_name(md->name);
  for (const auto& v : md->versions) resp->add_versions(v);
  resp->set_platform(md->platform);
  auto fill = [](const server::TensorMetadata& t, inference::ModelMetadataResponse::TensorMetadata* out) {
    out->set_name(t.name);
    out->set_datatype(t.datatype);
    for (int64_t d : t.shape) out->add_shape(d);
  };
  for (const auto& t : md->inputs) fill(t, resp->add_inputs());
  for (const auto& t : md->outputs) fill(t, resp->add_outputs());
  return Done(ctx, grpc::Status::OK);
}

ServerUnaryReactor* GrpcServer::Impl::InferService::ModelConfig(CallbackServerContext* ctx,
                                                                const inference::ModelConfigRequest* req,
                                                                inference::ModelConfigResponse* resp) {
  if (req->name().empty()) return Done(ctx, InvalidArgument("ModelConfigRequest.name is empty"));
  StatusOr<inference::ModelConfig> cfg = impl_->core().GetModelConfig(req->name(), req->version());
  if (!cfg.ok()) return Done(ctx, cfg.status());
  *resp->mutable_config() = std::move(*cfg);
  return Done(ctx, grpc::Status::OK);
}

ServerUnaryReactor* GrpcServer::Impl::InferService::ModelStatistics(CallbackServerContext* ctx,
                                                                    const inference::ModelStatisticsRequest* req,
                                                                    inference::ModelStatisticsResponse* resp) {
  StatusOr<inference::ModelStatisticsResponse> st = impl_->core().GetStatistics(req->name(), req->version());
  if (!st.ok()) return Done(ctx, st.status());
  *resp = std::move(*st);
  return Done(ctx, grpc::Status::OK);
}

ServerUnaryReactor* GrpcServer::Impl::InferService::RepositoryIndex(CallbackServerContext* ctx,
                                                                    const inference::RepositoryIndexRequest* req,
                                                                    inference::RepositoryIndexResponse* resp) {
  if (!req->repository_name().empty()) {
    return Done(ctx, Unimplemented("repository_name '" + req->repository_name() +
                                   "': naming a repository is not supported (there is one)"));
  }
  for (const server::ModelIndexEntry& e : impl_->core().RepositoryIndex(req->ready())) {
    auto* m = resp->add_models();
    m->set_name(e.name);
    m->set_version(e.version);
    m->set_state(e.state);
    m->set_reason(e.reason);
  }
  return Done(ctx, grpc::Status::OK);
}

template <typename Fn>
ServerUnaryReactor* GrpcServer::Impl::InferService::OnPool(CallbackServerContext* ctx, Fn work) {
  auto* reactor = new PooledUnary();
  const bool queued = impl_->pool().TrySubmit([reactor, work = std::move(work)]() mutable {
    const Status s = work(reactor->cancelled());
    reactor->Finish(GrpcStatusFor(s));  // the last use: OnDone may delete it at once
  });
  if (!queued) reactor->Finish(GrpcStatusFor(ResourceExhausted(kQueueFull)));
  return reactor;
}

ServerUnaryReactor* GrpcServer::Impl::InferService::ModelInfer(CallbackServerContext* ctx,
                                                               const inference::ModelInferRequest* req,
                                                               inference::ModelInferResponse* resp) {
  const auto received = steady::now();
  auto* reactor = new PooledUnary();
  // The reactor lives until Finish's OnDone; Finish is the callback's last use of it.
  impl_->StartInfer(*req, ctx, reactor->cancelled(), received, resp,
                    [reactor](const Status& s) { reactor->Finish(GrpcStatusFor(s)); });
  return reactor;
}

ServerUnaryReactor* GrpcServer::Impl::InferService::RepositoryModelLoad(
    CallbackServerContext* ctx, const inference::RepositoryModelLoadRequest* req,
    inference::RepositoryModelLoadResponse*) {
  if (!req->repository_name().empty()) {
    return Done(ctx, Unimplemented("repository_name '" + req->repository_name() +
                                   "': naming a repository is not supported (there is one)"));
  }
  if (req->model_name().empty()) return Done(ctx, InvalidArgument("RepositoryModelLoadRequest.model_name is empty"));
  std::string config;
  for (const auto& [key, p] : req->parameters()) {
    if (key == "config") {
      if (p.parameter_choice_case() == inference::ModelRepositoryParameter::kStringParam) {
        config = p.string_param();
      } else if (p.parameter_choice_case() == inference::ModelRepositoryParameter::kBytesParam) {
        config = p.bytes_param();
      } else {
        return Done(ctx, InvalidArgument("load parameter 'config' must be a string (the model config as JSON)"));
      }
    } else if (key.rfind("file:", 0) == 0) {
      return Done(ctx, Unimplemented("load parameter '" + key +
                                     "': loading model files sent in the request is not supported"));
    }
  }
  Impl* impl = impl_;
  std::string name = req->model_name();
  return OnPool(ctx, [impl, name = std::move(name), config = std::move(config)](const auto&) {
    return impl->core().LoadModel(name, config);
  });
}

ServerUnaryReactor* GrpcServer::Impl::InferService::RepositoryModelUnload(
    CallbackServerContext* ctx, const inference::RepositoryModelUnloadRequest* req,
    inference::RepositoryModelUnloadResponse*) {
  if (!req->repository_name().empty()) {
    return Done(ctx, Unimplemented("repository_name '" + req->repository_name() +
                                   "': naming a repository is not supported (there is one)"));
  }
  if (req->model_name().empty()) {
    return Done(ctx, InvalidArgument("RepositoryModelUnloadRequest.model_name is empty"));
  }
  Impl* impl = impl_;
  std::string name = req->model_name();
  return OnPool(ctx, [impl, name = std::move(name)](const auto&) { return impl->core().UnloadModel(name); });
}

// ---------------------------------------------------------------------------------------------
// ModelStreamInfer: each request read is run on the pool (several at once, up to a bound), and
// its ModelStreamInferResponse is written in request order. Errors go in error_message; the
// stream stays open. No thread waits on the client.

namespace {

class StreamCall : public grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse> {
 public:
  StreamCall(GrpcServer::Impl* impl, CallbackServerContext* ctx, size_t max_pending)
      : impl_(impl), ctx_(ctx), max_pending_(max_pending),
        cancelled_(std::make_shared<std::atomic<bool>>(false)) {
    Actions a;
    {
      std::lock_guard<std::mutex> lock(mu_);
      a = NextLocked();
    }
    Run(a);
  }

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override {
    cancelled_->store(true, std::memory_order_relaxed);
    Actions a;
    {
      std::lock_guard<std::mutex> lock(mu_);
      a = NextLocked();
    }
    Run(a);
  }
  void OnDone() override { delete this; }

 private:
  struct Slot {
    inference::ModelInferRequest req;
    inference::ModelStreamInferResponse resp;
    steady::time_point received;
    bool done = false;
  };
  // What to start once the lock is released. Decided (and the state flags set) under the lock.
  struct Actions {
    inference::ModelInferRequest* read = nullptr;
    const inference::ModelStreamInferResponse* write = nullptr;
    bool finish = false;
    grpc::Status status;
  };

  Actions NextLocked();
  void Run(const Actions& a) {
    if (a.read) StartRead(a.read);
    if (a.write) StartWrite(a.write);
    if (a.finish) Finish(a.status);  // last: OnDone may delete this at once
  }
  void Process(Slot* s);  // queues the slot's request; Processed follows
  void Processed(Slot* s, const Status& st);

  GrpcServer::Impl* impl_;
  CallbackServerContext* ctx_;
  const size_t max_pending_;
  std::shared_ptr<std::atomic<bool>> cancelled_;

  std::mutex mu_;
  std::unique_ptr<Slot> reading_;   // target of the outstanding read
  std::deque<std::unique_ptr<Slot>> queue_;  // requests in order: running, or done and not yet written
  int running_ = 0;
  bool read_outstanding_ = false;
  bool reads_done_ = false;
  bool writing_ = false;  // writing queue_.front()
  bool write_failed_ = false;
  bool finished_ = false;
};

StreamCall::Actions StreamCall::NextLocked() {
  Actions a;
  if (finished_) return a;
  const bool cancelled = cancelled_->load(std::memory_order_relaxed);
  if (write_failed_) {
    // Nobody to answer: drop finished results (running ones are dropped when they finish).
    // (writing_ is false here: a failed write cleared it and no write starts after one.)
    std::erase_if(queue_, [](const std::unique_ptr<Slot>& s) { return s->done; });
  }
  if (!writing_ && !write_failed_ && !queue_.empty() && queue_.front()->done) {
    writing_ = true;
    a.write = &queue_.front()->resp;
  }
  if ((write_failed_ || cancelled) && !read_outstanding_) reads_done_ = true;
  if (!read_outstanding_ && !reads_done_ && queue_.size() < max_pending_) {
    read_outstanding_ = true;
    reading_ = std::make_unique<Slot>();
    a.read = &reading_->req;
  }
  if (reads_done_ && !read_outstanding_ && running_ == 0 && !writing_ && (queue_.empty() || write_failed_)) {
    finished_ = true;
    a.finish = true;
    a.status = cancelled ? grpc::Status::CANCELLED : grpc::Status::OK;
  }
  return a;
}

void StreamCall::OnReadDone(bool ok) {
  Actions a;
  Slot* s = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    read_outstanding_ = false;
    if (!ok) {
      reads_done_ = true;
      reading_.reset();
    } else {
      s = reading_.get();
      s->received = steady::now();
      queue_.push_back(std::move(reading_));
      ++running_;
    }
    a = NextLocked();
  }
  Run(a);
  if (s) Process(s);
}

void StreamCall::Process(Slot* s) {
  inference::ModelInferResponse* resp = s->resp.mutable_infer_response();
  impl_->StartInfer(s->req, ctx_, cancelled_, s->received, resp, [this, s](const Status& st) { Processed(s, st); });
}

void StreamCall::Processed(Slot* s, const Status& st) {
  inference::ModelInferResponse* resp = s->resp.mutable_infer_response();
  if (!st.ok()) {
    resp->Clear();
    resp->set_model_name(s->req.model_name());
    resp->set_model_version(s->req.model_version());
    resp->set_id(s->req.id());
    s->resp.set_error_message(st.message());
  }
  s->req.Clear();  // the inputs are no longer needed; free them before the write
  Actions a;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s->done = true;
    --running_;
    a = NextLocked();
  }
  Run(a);
}

void StreamCall::OnWriteDone(bool ok) {
  Actions a;
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    queue_.pop_front();
    if (!ok) write_failed_ = true;
    a = NextLocked();
  }
  Run(a);
}

}  // namespace

grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
GrpcServer::Impl::InferService::ModelStreamInfer(CallbackServerContext* ctx) {
  return new StreamCall(impl_, ctx, static_cast<size_t>(impl_->max_stream_pending()));
}

// ---------------------------------------------------------------------------------------------
// grpc.health.v1.Health

namespace {

bool KnownHealthService(const std::string& s) { return s.empty() || s == kServiceName; }

}  // namespace

ServerUnaryReactor* GrpcServer::Impl::HealthService::Check(CallbackServerContext* ctx,
                                                           const HealthCheckRequest* req,
                                                           HealthCheckResponse* resp) {
  if (!KnownHealthService(req->service())) {
    return Done(ctx, grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service '" + req->service() + "'"));
  }
  resp->set_status(impl_->core().Ready() ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING);
  return Done(ctx, grpc::Status::OK);
}

// Sends the current status once, then holds the stream (no thread) until the client cancels or
// the server stops.
class GrpcServer::Impl::WatchCall : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  WatchCall(Impl* impl, const std::string& service) : impl_(impl) {
    if (!KnownHealthService(service)) {
      resp_.set_status(HealthCheckResponse::SERVICE_UNKNOWN);
    } else {
      resp_.set_status(impl->core().Ready() ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING);
    }
    writing_ = true;
    if (!impl_->RegisterWatch(this)) {
      writing_ = false;
      finished_ = true;
      registered_ = false;
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is stopping or has too many health watches"));
      return;
    }
    StartWrite(&resp_);
  }

  void OnWriteDone(bool ok) override {
    bool finish = false;
    grpc::Status status;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      if (finish_pending_ && !finished_) {
        finished_ = true;
        finish = true;
        status = pending_status_;
      }
    }
    if (finish) Finish(status);
  }
  void OnCancel() override { RequestFinish(grpc::Status::CANCELLED); }
  void OnDone() override {
    if (registered_) impl_->UnregisterWatch(this);
    delete this;
  }

  // Called with the registry lock held by Stop: true when the caller must call Finish (after
  // releasing the registry lock); otherwise OnWriteDone or nobody will.
  bool MarkFinish() {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return false;
    if (writing_) {
      finish_pending_ = true;
      pending_status_ = grpc::Status::OK;
      return false;
    }
    finished_ = true;
    return true;
  }
  void FinishNow() { Finish(grpc::Status::OK); }

 private:
  void RequestFinish(const grpc::Status& s) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finished_) return;
      if (writing_) {
        finish_pending_ = true;
        pending_status_ = s;
        return;
      }
      finished_ = true;
    }
    Finish(s);
  }

  Impl* impl_;
  HealthCheckResponse resp_;
  std::mutex mu_;
  bool writing_ = false;
  bool finish_pending_ = false;
  bool finished_ = false;
  bool registered_ = true;
  grpc::Status pending_status_;
};

grpc::ServerWriteReactor<HealthCheckResponse>* GrpcServer::Impl::HealthService::Watch(
    CallbackServerContext* ctx, const HealthCheckRequest* req) {
  return new WatchCall(impl_, req->service());
}

bool GrpcServer::Impl::RegisterWatch(WatchCall* w) {
  std::lock_guard<std::mutex> lock(watch_mu_);
  if (watches_closed_ || watches_.size() >= kMaxWatches) return false;
  watches_.insert(w);
  return true;
}

void GrpcServer::Impl::UnregisterWatch(WatchCall* w) {
  std::lock_guard<std::mutex> lock(watch_mu_);
  watches_.erase(w);
}

void GrpcServer::Impl::FinishWatches() {
  std::vector<WatchCall*> to_finish;
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    watches_closed_ = true;
    for (WatchCall* w : watches_) {
      if (w->MarkFinish()) to_finish.push_back(w);
    }
  }
  // Each w stays alive until its Finish (OnDone comes after it).
  for (WatchCall* w : to_finish) w->FinishNow();
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

Status GrpcServer::Impl::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (server_) return Status(StatusCode::kFailedPrecondition, "the gRPC server is already started");
  if (opts_.grpc_port < 0 || opts_.grpc_port > 65535) {
    return InvalidArgument("gRPC port " + std::to_string(opts_.grpc_port) + " is out of range");
  }
  const unsigned hc = std::max(1u, std::thread::hardware_concurrency());
  const int threads = static_cast<int>(2 * hc + 4);
  max_stream_pending_ = std::max(8, threads);
  pool_ = std::make_unique<GrpcWorkerPool>(threads, kMaxQueued);
  {
    std::lock_guard<std::mutex> wl(watch_mu_);
    watches_closed_ = false;
  }

  std::string host = opts_.grpc_address.empty() ? "0.0.0.0" : opts_.grpc_address;
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  const std::string address = host + ":" + std::to_string(opts_.grpc_port);

  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &bound);
  builder.RegisterService(&infer_service_);
  builder.RegisterService(&health_service_);
  builder.SetMaxReceiveMessageSize(INT_MAX);
  builder.SetMaxSendMessageSize(INT_MAX);
  grpc::ResourceQuota quota("onnxd-grpc");
  quota.SetMaxThreads(threads);
  builder.SetResourceQuota(quota);
  // A port in use is an error, not a silently shared SO_REUSEPORT socket.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  server_ = builder.BuildAndStart();
  if (!server_ || bound == 0) {
    server_.reset();
    pool_->Stop();
    pool_.reset();
    return Unavailable("gRPC: cannot listen on " + address + " (address in use or not available)");
  }
  port_.store(bound);
  return Status::Ok();
}

void GrpcServer::Impl::Stop() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (!server_) return;
  FinishWatches();
  const int secs = std::max(0, opts_.exit_timeout_secs);
  // In-flight calls may finish until the deadline; then they are cancelled (their cancelled
  // flags rise) and Shutdown waits for them to end.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(secs));
  server_->Wait();
  pool_->Stop();
  server_.reset();
  pool_.reset();
  port_.store(0);
}

// ---------------------------------------------------------------------------------------------

GrpcServer::GrpcServer(server::InferenceServer& core, const server::ServerOptions& opts)
    : impl_(std::make_unique<Impl>(core, opts)) {}

GrpcServer::~GrpcServer() { Stop(); }

Status GrpcServer::Start() { return impl_->Start(); }

int GrpcServer::port() const { return impl_->port(); }

void GrpcServer::Stop() { impl_->Stop(); }

}  // namespace onnxd::api
