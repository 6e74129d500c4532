// HttpServer end to end over real sockets, with the bundled repository (models/simple, iris):
// health, metadata, config, JSON and binary inference, ZipMap outputs, errors as JSON with the
// right codes, keep-alive, the body limit, malformed HTTP, repository and statistics.
#include "http/http_server.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <cstring>
#include <map>
#include <string>

#ifndef ONNXD_SOURCE_DIR
#define ONNXD_SOURCE_DIR "."
#endif

namespace onnxd::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
  json Json() const { return json::parse(body); }
};

// A keep-alive client connection.
class Client {
 public:
  explicit Client(int port) : socket_(ioc_) {
    tcp::resolver resolver(ioc_);
    asio::connect(socket_, resolver.resolve("127.0.0.1", std::to_string(port)));
  }
  Reply Send(bhttp::verb method, const std::string& target, const std::string& body = "",
             const std::map<std::string, std::string>& headers = {}) {
    bhttp::request<bhttp::string_body> req(method, target, 11);
    req.set(bhttp::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    bhttp::write(socket_, req);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(1ull << 30);
    bhttp::read(socket_, buffer_, parser);
    Reply r;
    auto& res = parser.get();
    r.status = res.result_int();
    for (const auto& f : res) r.headers[std::string(f.name_string())] = std::string(f.value());
    r.body = res.body();
    return r;
  }
  tcp::socket& socket() { return socket_; }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server::ServerOptions o;
    o.model_repository = std::string(ONNXD_SOURCE_DIR) + "/models";
    o.model_control_mode = "explicit";
    o.load_models = {"simple", "iris"};
    o.http_address = "127.0.0.1";
    o.http_port = 0;
    o.http_body_limit = 1 << 20;
    core_ = new server::InferenceServer(o);
    ASSERT_TRUE(core_->Start().ok());
    http_ = new HttpServer(*core_, o);
    Status s = http_->Start();
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_GT(http_->port(), 0);
  }
  static void TearDownTestSuite() {
    http_->Stop();
    delete http_;
    delete core_;
  }
  Reply Get(const std::string& target) { return Client(http_->port()).Send(bhttp::verb::get, target); }
  Reply Post(const std::string& target, const std::string& body,
             const std::map<std::string, std::string>& headers = {}) {
    return Client(http_->port()).Send(bhttp::verb::post, target, body, headers);
  }

  static std::string SimpleJson(int base) {
    json in0 = json::array(), in1 = json::array();
    for (int i = 0; i < 16; ++i) {
      in0.push_back(base + i);
      in1.push_back(1);
    }
    return json{{"id", "req-" + std::to_string(base)},
                {"inputs",
                 {{{"name", "INPUT0"}, {"shape", {1, 16}}, {"datatype", "INT32"}, {"data", in0}},
                  {{"name", "INPUT1"}, {"shape", {1, 16}}, {"datatype", "INT32"}, {"data", in1}}}}}
        .dump();
  }

  static server::InferenceServer* core_;
  static HttpServer* http_;
};

server::InferenceServer* HttpServerTest::core_ = nullptr;
HttpServer* HttpServerTest::http_ = nullptr;

TEST_F(HttpServerTest, HealthAndServerMetadata) {
  EXPECT_EQ(Get("/v2/health/live").status, 200);
  EXPECT_EQ(Get("/v2/health/ready").status, 200);
  Reply md = Get("/v2");
  ASSERT_EQ(md.status, 200);
  EXPECT_EQ(md.headers["Content-Type"], "application/json");
  EXPECT_EQ(md.Json()["name"], "onnxd");
  EXPECT_TRUE(md.Json()["extensions"].is_array());
}

TEST_F(HttpServerTest, ModelMetadataConfigAndReadiness) {
  Reply md = Get("/v2/models/simple");
  ASSERT_EQ(md.status, 200) << md.body;
  json j = md.Json();
  EXPECT_EQ(j["name"], "simple");
  EXPECT_EQ(j["platform"], "onnxruntime_onnx");
  EXPECT_EQ(j["inputs"][0]["name"], "INPUT0");
  EXPECT_EQ(j["inputs"][0]["datatype"], "INT32");
  EXPECT_EQ(Get("/v2/models/simple/versions/1").status, 200);

  Reply cfg = Get("/v2/models/simple/config");
  ASSERT_EQ(cfg.status, 200) << cfg.body;
  EXPECT_EQ(cfg.Json()["max_batch_size"], 8);
  EXPECT_EQ(cfg.Json()["input"][0]["dims"], json::array({16}));  // numbers, not strings

  EXPECT_EQ(Get("/v2/models/simple/ready").status, 200);
  EXPECT_EQ(Get("/v2/models/simple/versions/1/ready").status, 200);
  Reply nr = Get("/v2/models/no_such_model/ready");
  EXPECT_EQ(nr.status, 400);
  EXPECT_TRUE(nr.Json().contains("error"));
  Reply nm = Get("/v2/models/no_such_model");
  EXPECT_EQ(nm.status, 404);
  EXPECT_NE(nm.Json()["error"].get<std::string>().find("no_such_model"), std::string::npos);
}

TEST_F(HttpServerTest, JsonInference) {
  Reply r = Post("/v2/models/simple/infer", SimpleJson(10));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.count("Inference-Header-Content-Length"), 0u);
  json j = r.Json();
  EXPECT_EQ(j["id"], "req-10");
  EXPECT_EQ(j["model_name"], "simple");
  EXPECT_EQ(j["model_version"], "1");
  ASSERT_EQ(j["outputs"].size(), 2u);
  for (const json& o : j["outputs"]) {
    ASSERT_EQ(o["data"].size(), 16u);
    int expect0 = o["name"] == "OUTPUT0" ? 11 : 9;
    EXPECT_EQ(o["data"][0], expect0) << o.dump();
    EXPECT_EQ(o["shape"], json::array({1, 16}));
  }
}

TEST_F(HttpServerTest, BinaryInferenceBothWays) {
  json header = {{"inputs",
                  {{{"name", "INPUT0"}, {"shape", {1, 16}}, {"datatype", "INT32"}, {"parameters", {{"binary_data_size", 64}}}},
                   {{"name", "INPUT1"}, {"shape", {1, 16}}, {"datatype", "INT32"}, {"parameters", {{"binary_data_size", 64}}}}}},
                 {"outputs", {{{"name", "OUTPUT1"}, {"parameters", {{"binary_data", true}}}}}}};
  std::string h = header.dump();
  int32_t a[16], b[16];
  for (int i = 0; i < 16; ++i) {
    a[i] = 100 + i;
    b[i] = i;
  }
  std::string body = h + std::string(reinterpret_cast<char*>(a), 64) + std::string(reinterpret_cast<char*>(b), 64);
  Reply r = Post("/v2/models/simple/infer", body, {{"Inference-Header-Content-Length", std::to_string(h.size())}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["Content-Type"], "application/octet-stream");
  size_t hl = std::stoul(r.headers["Inference-Header-Content-Length"]);
  json j = json::parse(r.body.substr(0, hl));
  ASSERT_EQ(j["outputs"].size(), 1u);  // only the requested output
  EXPECT_EQ(j["outputs"][0]["name"], "OUTPUT1");
  EXPECT_EQ(j["outputs"][0]["parameters"]["binary_data_size"], 64);
  ASSERT_EQ(r.body.size(), hl + 64);
  int32_t out[16];
  std::memcpy(out, r.body.data() + hl, 64);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(out[i], 100);

  // A binary section that does not add up names the input.
  Reply bad = Post("/v2/models/simple/infer", h + std::string(100, '\0'),
                   {{"Inference-Header-Content-Length", std::to_string(h.size())}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.Json()["error"].get<std::string>().find("INPUT1"), std::string::npos) << bad.body;
}

TEST_F(HttpServerTest, ZipMapOutputIsOneObjectPerRow) {
  json req = {{"inputs", {{{"name", "float_input"}, {"shape", {2, 4}}, {"datatype", "FP32"},
                           {"data", {{5.1, 3.5, 1.4, 0.2}, {6.7, 3.0, 5.2, 2.3}}}}}}};
  Reply r = Post("/v2/models/iris/infer", req.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.Json();
  const json* probs = nullptr;
  for (const json& o : j["outputs"])
    if (o["name"] == "output_probability") probs = &o;
  ASSERT_NE(probs, nullptr) << r.body;
  EXPECT_EQ((*probs)["datatype"], "BYTES");
  EXPECT_EQ((*probs)["shape"], json::array({2}));
  EXPECT_EQ((*probs)["parameters"]["content_type"], "application/json");
  ASSERT_EQ((*probs)["data"].size(), 2u);
  EXPECT_TRUE((*probs)["data"][0].is_object());
  double sum = 0;
  for (auto& [k, v] : (*probs)["data"][0].items()) sum += v.get<double>();
  EXPECT_NEAR(sum, 1.0, 1e-4);
}

TEST_F(HttpServerTest, ErrorsAreJsonWithTheRightStatus) {
  Reply r = Post("/v2/models/simple/infer", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.Json().contains("error"));
  r = Post("/v2/models/simple/infer",
           R"({"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"INT32","data":[1,2]}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.Json()["error"].get<std::string>().find("INPUT0"), std::string::npos);
  r = Post("/v2/models/no_such_model/infer", SimpleJson(0));
  EXPECT_EQ(r.status, 404);
  r = Get("/v2/models/simple/infer");
  EXPECT_EQ(r.status, 405);
  EXPECT_TRUE(r.Json().contains("error"));
  r = Get("/v3/whatever");
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(r.Json().contains("error"));
  r = Post("/v2/health/live", "");
  EXPECT_EQ(r.status, 405);
}

TEST_F(HttpServerTest, BodyLimitGives413) {
  Reply r = Post("/v2/models/simple/infer", std::string(2 << 20, ' '));
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(r.Json().contains("error"));
  EXPECT_EQ(Get("/v2/health/live").status, 200);  // the server is fine
}

TEST_F(HttpServerTest, MalformedHttpGives400) {
  Client c(http_->port());
  std::string garbage = "BLAH /v2 HTTP/9.9\r\n\r\n";
  asio::write(c.socket(), asio::buffer(garbage));
  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  beast::error_code ec;
  bhttp::read(c.socket(), buf, res, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_EQ(Get("/v2/health/live").status, 200);
}

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  Client c(http_->port());
  for (int i = 0; i < 20; ++i) {
    Reply r = c.Send(bhttp::verb::post, "/v2/models/simple/infer", SimpleJson(i));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Json()["id"], "req-" + std::to_string(i));
  }
  EXPECT_EQ(c.Send(bhttp::verb::get, "/v2/health/ready").status, 200);
}

TEST_F(HttpServerTest, RepositoryAndStatistics) {
  ASSERT_EQ(Post("/v2/models/simple/infer", SimpleJson(1)).status, 200);
  Reply idx = Post("/v2/repository/index", "");
  ASSERT_EQ(idx.status, 200) << idx.body;
  bool found = false;
  for (const json& m : idx.Json())
    if (m["name"] == "simple") {
      found = true;
      EXPECT_EQ(m["state"], "READY");
    }
  EXPECT_TRUE(found) << idx.body;
  EXPECT_EQ(Post("/v2/repository/index", R"({"ready":true})").status, 200);
  EXPECT_EQ(Post("/v2/repository/index", R"({"ready":"yes"})").status, 400);

  Reply st = Get("/v2/models/simple/stats");
  ASSERT_EQ(st.status, 200) << st.body;
  json s = st.Json()["model_stats"][0];
  EXPECT_EQ(s["name"], "simple");
  EXPECT_TRUE(s["inference_count"].is_number_unsigned());
  EXPECT_GE(s["inference_count"].get<uint64_t>(), 1u);
  EXPECT_GE(s["inference_stats"]["success"]["count"].get<uint64_t>(), 1u);
  EXPECT_EQ(Get("/v2/models/stats").status, 200);

  EXPECT_EQ(Post("/v2/repository/models/no_such_model/load", "").status, 404);
}

TEST_F(HttpServerTest, TfServingV1) {
  Reply st = Get("/v1/models/simple");
  ASSERT_EQ(st.status, 200) << st.body;
  EXPECT_EQ(st.Json()["model_version_status"][0]["state"], "AVAILABLE");
  json row = json::array();
  for (int i = 0; i < 16; ++i) row.push_back(i);
  Reply p = Post("/v1/models/simple:predict", json{{"instances", {{{"INPUT0", row}, {"INPUT1", row}}}}}.dump());
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(p.Json()["predictions"][0]["OUTPUT0"][3], 6);
  Reply c = Post("/v1/models/iris:predict", R"({"inputs":[[5.1,3.5,1.4,0.2]]})");
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_TRUE(c.Json()["outputs"].contains("output_label"));
}

}  // namespace
}  // namespace onnxd::api
