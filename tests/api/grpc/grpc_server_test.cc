// GrpcServer end to end over a real channel, with the bundled repository (models/simple, iris):
// health, metadata, unary and streaming inference, errors, repository control, shutdown.
#include "grpc/grpc_server.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "grpc_service.grpc.pb.h"
#include "health.grpc.pb.h"

#ifndef ONNXD_SOURCE_DIR
#define ONNXD_SOURCE_DIR "."
#endif

namespace onnxd::api {
namespace {

using inference::GRPCInferenceService;

class GrpcServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server::ServerOptions o;
    o.model_repository = std::string(ONNXD_SOURCE_DIR) + "/models";
    o.model_control_mode = "explicit";
    o.load_models = {"simple", "iris"};
    o.grpc_address = "127.0.0.1";
    o.grpc_port = 0;
    o.exit_timeout_secs = 5;
    opts_ = new server::ServerOptions(o);
    core_ = new server::InferenceServer(o);
    ASSERT_TRUE(core_->Start().ok());
    grpc_ = new GrpcServer(*core_, o);
    Status s = grpc_->Start();
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_GT(grpc_->port(), 0);
  }
  static void TearDownTestSuite() {
    grpc_->Stop();
    delete grpc_;
    delete core_;
    delete opts_;
  }

  std::shared_ptr<grpc::Channel> Channel() {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(grpc_->port()),
                                     grpc::InsecureChannelCredentials(), args);
  }

  static inference::ModelInferRequest SimpleRequest(int base, bool raw) {
    inference::ModelInferRequest req;
    req.set_model_name("simple");
    req.set_id("id" + std::to_string(base));
    for (const char* name : {"INPUT0", "INPUT1"}) {
      auto* in = req.add_inputs();
      in->set_name(name);
      in->set_datatype("INT32");
      in->add_shape(1);
      in->add_shape(16);
      std::vector<int32_t> v(16);
      for (int i = 0; i < 16; ++i) v[i] = (name[5] == '0') ? base + i : 1;
      if (raw) {
        req.add_raw_input_contents(std::string(reinterpret_cast<const char*>(v.data()), 64));
      } else {
        for (int32_t x : v) in->mutable_contents()->add_int_contents(x);
      }
    }
    return req;
  }

  static void CheckSimple(const inference::ModelInferResponse& resp, int base) {
    ASSERT_EQ(resp.outputs_size(), 2);
    ASSERT_EQ(resp.raw_output_contents_size(), 2);
    EXPECT_EQ(resp.outputs(0).name(), "OUTPUT0");
    EXPECT_EQ(resp.outputs(0).datatype(), "INT32");
    ASSERT_EQ(resp.outputs(0).shape_size(), 2);
    EXPECT_EQ(resp.outputs(0).shape(1), 16);
    ASSERT_EQ(resp.raw_output_contents(0).size(), 64u);
    int32_t sum[16], diff[16];
    std::memcpy(sum, resp.raw_output_contents(0).data(), 64);
    std::memcpy(diff, resp.raw_output_contents(1).data(), 64);
    for (int i = 0; i < 16; ++i) {
      EXPECT_EQ(sum[i], base + i + 1);
      EXPECT_EQ(diff[i], base + i - 1);
    }
  }

  static server::ServerOptions* opts_;
  static server::InferenceServer* core_;
  static GrpcServer* grpc_;
};

server::ServerOptions* GrpcServerTest::opts_ = nullptr;
server::InferenceServer* GrpcServerTest::core_ = nullptr;
GrpcServer* GrpcServerTest::grpc_ = nullptr;

TEST_F(GrpcServerTest, LiveReadyMetadata) {
  auto stub = GRPCInferenceService::NewStub(Channel());
  {
    grpc::ClientContext ctx;
    inference::ServerLiveResponse r;
    ASSERT_TRUE(stub->ServerLive(&ctx, {}, &r).ok());
    EXPECT_TRUE(r.live());
  }
  {
    grpc::ClientContext ctx;
    inference::ServerReadyResponse r;
    ASSERT_TRUE(stub->ServerReady(&ctx, {}, &r).ok());
    EXPECT_TRUE(r.ready());
  }
  {
    grpc::ClientContext ctx;
    inference::ServerMetadataResponse r;
    ASSERT_TRUE(stub->ServerMetadata(&ctx, {}, &r).ok());
    EXPECT_EQ(r.name(), "onnxd");
  }
  {
    grpc::ClientContext ctx;
    inference::ModelReadyRequest q;
    q.set_name("simple");
    inference::ModelReadyResponse r;
    ASSERT_TRUE(stub->ModelReady(&ctx, q, &r).ok());
    EXPECT_TRUE(r.ready());
  }
  {
    grpc::ClientContext ctx;
    inference::ModelReadyRequest q;
    q.set_name("no_such_model");
    inference::ModelReadyResponse r;
    ASSERT_TRUE(stub->ModelReady(&ctx, q, &r).ok());
    EXPECT_FALSE(r.ready());
  }
  {
    grpc::ClientContext ctx;
    inference::ModelMetadataRequest q;
    q.set_name("simple");
    inference::ModelMetadataResponse r;
    grpc::Status s = stub->ModelMetadata(&ctx, q, &r);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(r.name(), "simple");
    ASSERT_EQ(r.inputs_size(), 2);
    EXPECT_EQ(r.inputs(0).datatype(), "INT32");
  }
  {
    grpc::ClientContext ctx;
    inference::ModelMetadataRequest q;
    q.set_name("no_such_model");
    inference::ModelMetadataResponse r;
    EXPECT_EQ(stub->ModelMetadata(&ctx, q, &r).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    inference::ModelConfigRequest q;
    q.set_name("simple");
    inference::ModelConfigResponse r;
    grpc::Status s = stub->ModelConfig(&ctx, q, &r);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(r.config().name(), "simple");
    EXPECT_EQ(r.config().max_batch_size(), 8);
  }
  {
    grpc::ClientContext ctx;
    inference::RepositoryIndexResponse r;
    ASSERT_TRUE(stub->RepositoryIndex(&ctx, {}, &r).ok());
    EXPECT_GE(r.models_size(), 2);
  }
}

TEST_F(GrpcServerTest, Health) {
  auto stub = grpc::health::v1::Health::NewStub(Channel());
  for (const char* service : {"", "inference.GRPCInferenceService"}) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest q;
    q.set_service(service);
    grpc::health::v1::HealthCheckResponse r;
    ASSERT_TRUE(stub->Check(&ctx, q, &r).ok());
    EXPECT_EQ(r.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest q;
    q.set_service("other");
    grpc::health::v1::HealthCheckResponse r;
    EXPECT_EQ(stub->Check(&ctx, q, &r).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest q;
    auto reader = stub->Watch(&ctx, q);
    grpc::health::v1::HealthCheckResponse r;
    ASSERT_TRUE(reader->Read(&r));
    EXPECT_EQ(r.status(), grpc::health::v1::HealthCheckResponse::SERVING);
    ctx.TryCancel();
    while (reader->Read(&r)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
}

TEST_F(GrpcServerTest, UnaryInferTypedAndRaw) {
  auto stub = GRPCInferenceService::NewStub(Channel());
  for (bool raw : {false, true}) {
    grpc::ClientContext ctx;
    inference::ModelInferResponse resp;
    grpc::Status s = stub->ModelInfer(&ctx, SimpleRequest(10, raw), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.model_name(), "simple");
    EXPECT_EQ(resp.id(), "id10");
    CheckSimple(resp, 10);
  }
}

TEST_F(GrpcServerTest, UnaryInferErrors) {
  auto stub = GRPCInferenceService::NewStub(Channel());
  {
    inference::ModelInferRequest req = SimpleRequest(0, true);
    req.mutable_raw_input_contents(1)->resize(60);
    grpc::ClientContext ctx;
    inference::ModelInferResponse resp;
    grpc::Status s = stub->ModelInfer(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("INPUT1"), std::string::npos) << s.error_message();
  }
  {
    inference::ModelInferRequest req = SimpleRequest(0, false);
    req.set_model_name("no_such_model");
    grpc::ClientContext ctx;
    inference::ModelInferResponse resp;
    EXPECT_EQ(stub->ModelInfer(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
}

TEST_F(GrpcServerTest, ConcurrentUnaryInfer) {
  auto channel = Channel();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto stub = GRPCInferenceService::NewStub(channel);
      for (int i = 0; i < 25; ++i) {
        grpc::ClientContext ctx;
        inference::ModelInferResponse resp;
        if (stub->ModelInfer(&ctx, SimpleRequest(t * 100 + i, true), &resp).ok()) {
          CheckSimple(resp, t * 100 + i);
          ++ok;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 200);
}

TEST_F(GrpcServerTest, StreamInferKeepsOrderAndSurvivesErrors) {
  auto stub = GRPCInferenceService::NewStub(Channel());
  grpc::ClientContext ctx;
  auto stream = stub->ModelStreamInfer(&ctx);
  constexpr int kN = 20;
  for (int i = 0; i < kN; ++i) {
    inference::ModelInferRequest req = SimpleRequest(i, i % 2 == 0);
    if (i == 5) req.set_model_name("no_such_model");
    if (i == 7) req.mutable_inputs(0)->set_datatype("FLOAT32");
    ASSERT_TRUE(stream->Write(req));
  }
  stream->WritesDone();
  inference::ModelStreamInferResponse r;
  int n = 0;
  while (stream->Read(&r)) {
    EXPECT_EQ(r.infer_response().id(), "id" + std::to_string(n));
    if (n == 5 || n == 7) {
      EXPECT_FALSE(r.error_message().empty());
      if (n == 7) {
        EXPECT_NE(r.error_message().find("INPUT0"), std::string::npos) << r.error_message();
      }
    } else {
      EXPECT_TRUE(r.error_message().empty()) << r.error_message();
      CheckSimple(r.infer_response(), n);
    }
    ++n;
  }
  EXPECT_EQ(n, kN);
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(GrpcServerTest, StreamCancelledByClient) {
  auto stub = GRPCInferenceService::NewStub(Channel());
  grpc::ClientContext ctx;
  auto stream = stub->ModelStreamInfer(&ctx);
  ASSERT_TRUE(stream->Write(SimpleRequest(1, true)));
  inference::ModelStreamInferResponse r;
  ASSERT_TRUE(stream->Read(&r));
  ctx.TryCancel();
  while (stream->Read(&r)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(GrpcServerTest, StreamCancelledWithRequestsInFlight) {
  auto stub = GRPCInferenceService::NewStub(Channel());
  for (int round = 0; round < 5; ++round) {
    grpc::ClientContext ctx;
    auto stream = stub->ModelStreamInfer(&ctx);
    for (int i = 0; i < 50; ++i) {
      if (!stream->Write(SimpleRequest(i, true))) break;
    }
    ctx.TryCancel();
    inference::ModelStreamInferResponse r;
    while (stream->Read(&r)) {
    }
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // The server is still fine.
  grpc::ClientContext ctx;
  inference::ModelInferResponse resp;
  ASSERT_TRUE(stub->ModelInfer(&ctx, SimpleRequest(3, true), &resp).ok());
  CheckSimple(resp, 3);
}

TEST_F(GrpcServerTest, ZipMapOutputIsJsonBytes) {
  auto stub = GRPCInferenceService::NewStub(Channel());
  inference::ModelInferRequest req;
  req.set_model_name("iris");
  auto* in = req.add_inputs();
  in->set_name("float_input");
  in->set_datatype("FP32");
  in->add_shape(2);
  in->add_shape(4);
  for (float f : {5.1f, 3.5f, 1.4f, 0.2f, 6.7f, 3.0f, 5.2f, 2.3f}) in->mutable_contents()->add_fp32_contents(f);
  grpc::ClientContext ctx;
  inference::ModelInferResponse resp;
  grpc::Status s = stub->ModelInfer(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  bool found = false;
  for (int i = 0; i < resp.outputs_size(); ++i) {
    if (resp.outputs(i).name() != "output_probability") continue;
    found = true;
    EXPECT_EQ(resp.outputs(i).datatype(), "BYTES");
    ASSERT_EQ(resp.outputs(i).shape_size(), 1);
    EXPECT_EQ(resp.outputs(i).shape(0), 2);
    EXPECT_EQ(resp.outputs(i).parameters().at("content_type").string_param(), "application/json");
    const std::string& raw = resp.raw_output_contents(i);
    ASSERT_GT(raw.size(), 4u);
    uint32_t len;
    std::memcpy(&len, raw.data(), 4);
    const std::string first = raw.substr(4, len);
    EXPECT_EQ(first.front(), '{') << first;
    EXPECT_NE(first.find("\"0\":"), std::string::npos) << first;
  }
  EXPECT_TRUE(found);
}

TEST_F(GrpcServerTest, DeadlineAlreadyShort) {
  auto stub = GRPCInferenceService::NewStub(Channel());
  grpc::ClientContext ctx;
  // A deadline already in the past. (A 1 us deadline is not reliable: grpc rounds timeouts it sends
  // up to its coarser units, and `simple` can finish inside that.)
  ctx.set_deadline(std::chrono::system_clock::now() - std::chrono::seconds(1));
  inference::ModelInferResponse resp;
  grpc::Status s = stub->ModelInfer(&ctx, SimpleRequest(0, true), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(GrpcServerTest, RepositoryLoadUnload) {
  auto stub = GRPCInferenceService::NewStub(Channel());
  {
    grpc::ClientContext ctx;
    inference::RepositoryModelLoadRequest q;
    q.set_model_name("mnist_cnn");
    inference::RepositoryModelLoadResponse r;
    grpc::Status s = stub->RepositoryModelLoad(&ctx, q, &r);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    inference::ModelReadyRequest q;
    q.set_name("mnist_cnn");
    inference::ModelReadyResponse r;
    ASSERT_TRUE(stub->ModelReady(&ctx, q, &r).ok());
    EXPECT_TRUE(r.ready());
  }
  {
    grpc::ClientContext ctx;
    inference::RepositoryModelUnloadRequest q;
    q.set_model_name("mnist_cnn");
    inference::RepositoryModelUnloadResponse r;
    grpc::Status s = stub->RepositoryModelUnload(&ctx, q, &r);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    inference::RepositoryModelLoadRequest q;
    q.set_model_name("no_such_model");
    inference::RepositoryModelLoadResponse r;
    EXPECT_FALSE(stub->RepositoryModelLoad(&ctx, q, &r).ok());
  }
}

TEST(GrpcServerStandalone, PortInUseIsAnError) {
  server::ServerOptions o;
  o.model_repository = std::string(ONNXD_SOURCE_DIR) + "/models";
  o.model_control_mode = "explicit";
  o.grpc_address = "127.0.0.1";
  o.grpc_port = 0;
  server::InferenceServer core(o);
  ASSERT_TRUE(core.Start().ok());
  GrpcServer a(core, o);
  ASSERT_TRUE(a.Start().ok());
  o.grpc_port = a.port();
  GrpcServer b(core, o);
  Status s = b.Start();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.message();
  a.Stop();
  a.Stop();  // idempotent
}

}  // namespace
}  // namespace onnxd::api
