// MetricsServer end to end: the core over the bundled repository (models/simple), a few inferences
// (successes and a failure), then GET /metrics over a real socket and check the Prometheus text.
// Also the exposition helpers: label escaping, /proc/stat and /proc/meminfo parsing.
#include "http/metrics_server.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdlib>
#include <regex>
#include <sstream>
#include <string>

#include "metrics/metrics.h"

#ifndef ONNXD_SOURCE_DIR
#define ONNXD_SOURCE_DIR "."
#endif

namespace onnxd::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

struct Reply {
  int status = 0;
  std::string content_type;
  std::string body;
};

Reply Fetch(int port, bhttp::verb method, const std::string& target) {
  asio::io_context ioc;
  tcp::socket socket(ioc);
  tcp::resolver resolver(ioc);
  asio::connect(socket, resolver.resolve("127.0.0.1", std::to_string(port)));
  bhttp::request<bhttp::string_body> req(method, target, 11);
  req.set(bhttp::field::host, "127.0.0.1");
  req.prepare_payload();
  bhttp::write(socket, req);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(socket, buffer, res);
  return Reply{static_cast<int>(res.result_int()), std::string(res[bhttp::field::content_type]), res.body()};
}

// The value of the series whose line starts with `series` (name and labels), or -1.
double SeriesValue(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ')
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
  return -1;
}

server::InferRequest SimpleRequest(const std::string& input0_name) {
  server::InferRequest req;
  req.model_name = "simple";
  for (const char* name : {"INPUT0", "INPUT1"}) {
    server::InferInput in;
    in.name = name == std::string("INPUT0") ? input0_name : name;
    in.tensor = Tensor::Allocate(DataType::kInt32, Shape{2, 16});
    int32_t* d = in.tensor.data<int32_t>();
    for (int i = 0; i < 32; ++i) d[i] = i;
    req.inputs.push_back(std::move(in));
  }
  return req;
}

class MetricsServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server::ServerOptions o;
    o.model_repository = std::string(ONNXD_SOURCE_DIR) + "/models";
    o.model_control_mode = "explicit";
    o.load_models = {"simple"};
    o.http_address = "127.0.0.1";
    o.metrics_port = 0;
    successes_ = 0;
    core_ = new server::InferenceServer(o);
    Status st = core_->Start();
    ASSERT_TRUE(st.ok()) << st.message();
    for (int i = 0; i < 3; ++i) {
      server::InferResponse res;
      Status s = core_->Infer(SimpleRequest("INPUT0"), &res);
      ASSERT_TRUE(s.ok()) << s.message();
      ++successes_;
    }
    server::InferResponse res;
    ASSERT_FALSE(core_->Infer(SimpleRequest("NO_SUCH_INPUT"), &res).ok());
    metrics_ = new MetricsServer(*core_, o);
    st = metrics_->Start();
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_GT(metrics_->port(), 0);
  }
  static void TearDownTestSuite() {
    if (metrics_) metrics_->Stop();
    delete metrics_;
    delete core_;
    metrics_ = nullptr;
    core_ = nullptr;
  }
  static server::InferenceServer* core_;
  static MetricsServer* metrics_;
  static int successes_;  // successful inferences on "simple" so far (tests may run in any order)
};
int MetricsServerTest::successes_ = 0;
server::InferenceServer* MetricsServerTest::core_ = nullptr;
MetricsServer* MetricsServerTest::metrics_ = nullptr;

TEST_F(MetricsServerTest, ServesTritonCounters) {
  Reply r = Fetch(metrics_->port(), bhttp::verb::get, "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.content_type.find("text/plain"), std::string::npos);
  EXPECT_NE(r.content_type.find("version=0.0.4"), std::string::npos);
  const std::string& t = r.body;
  EXPECT_EQ(SeriesValue(t, "nv_inference_request_success{model=\"simple\",version=\"1\"}"), successes_) << t;
  EXPECT_EQ(SeriesValue(t, "nv_inference_request_failure{model=\"simple\",reason=\"OTHER\",version=\"1\"}"), 1) << t;
  EXPECT_GE(SeriesValue(t, "nv_inference_exec_count{model=\"simple\",version=\"1\"}"), 3) << t;
  EXPECT_GE(SeriesValue(t, "nv_inference_count{model=\"simple\",version=\"1\"}"), 3) << t;
  EXPECT_GE(SeriesValue(t, "nv_inference_request_duration_us{model=\"simple\",version=\"1\"}"), 0) << t;
  for (const char* name :
       {"nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count", "nv_inference_exec_count",
        "nv_inference_request_duration_us", "nv_inference_queue_duration_us", "nv_inference_compute_input_duration_us",
        "nv_inference_compute_infer_duration_us", "nv_inference_compute_output_duration_us"}) {
    EXPECT_NE(t.find(std::string("# HELP ") + name + " "), std::string::npos) << name;
    EXPECT_NE(t.find(std::string("# TYPE ") + name + " counter\n"), std::string::npos) << name;
  }
  EXPECT_NE(t.find("# TYPE nv_model_state gauge\n"), std::string::npos);
  EXPECT_EQ(SeriesValue(t, "nv_model_state{model=\"simple\",state=\"READY\",version=\"1\"}"), 1) << t;
  // Host gauges (Linux /proc).
  EXPECT_NE(t.find("# TYPE nv_cpu_utilization gauge\n"), std::string::npos);
  double util = SeriesValue(t, "nv_cpu_utilization");
  EXPECT_GE(util, 0.0);
  EXPECT_LE(util, 1.0);
  EXPECT_GT(SeriesValue(t, "nv_cpu_memory_total_bytes"), 0);
  EXPECT_GT(SeriesValue(t, "nv_cpu_memory_used_bytes"), 0);
  // Every line is "# HELP name text", "# TYPE name type" or "name{labels} value", and each sample
  // follows its family's TYPE line (text format 0.0.4: a family's lines are grouped).
  const std::regex sample(R"re(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [0-9.eE+-]+)re");
  const std::regex comment(R"re(# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) .+)re");
  std::istringstream in(t);
  std::string line, family;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, comment)) {
      family = m[2];
      continue;
    }
    ASSERT_TRUE(std::regex_match(line, m, sample)) << line;
    // A histogram family's series are <family>_bucket, _sum and _count.
    const std::string name = m[1];
    EXPECT_TRUE(name == family || name == family + "_bucket" || name == family + "_sum" || name == family + "_count")
        << line;
  }
}

TEST_F(MetricsServerTest, CountersMoveBetweenScrapes) {
  const std::string series = "nv_inference_request_success{model=\"simple\",version=\"1\"}";
  const double before = SeriesValue(Fetch(metrics_->port(), bhttp::verb::get, "/metrics").body, series);
  server::InferResponse res;
  ASSERT_TRUE(core_->Infer(SimpleRequest("INPUT0"), &res).ok());
  ++successes_;
  Reply r = Fetch(metrics_->port(), bhttp::verb::get, "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(SeriesValue(r.body, series), before + 1) << r.body;
  EXPECT_EQ(SeriesValue(r.body, series), successes_) << r.body;
}

TEST_F(MetricsServerTest, OtherPathsAre404) {
  EXPECT_EQ(Fetch(metrics_->port(), bhttp::verb::get, "/").status, 404);
  EXPECT_EQ(Fetch(metrics_->port(), bhttp::verb::get, "/v2/health/ready").status, 404);
  EXPECT_EQ(Fetch(metrics_->port(), bhttp::verb::post, "/metrics").status, 404);
  EXPECT_EQ(Fetch(metrics_->port(), bhttp::verb::get, "/metrics?x=1").status, 200);
}

TEST_F(MetricsServerTest, KeepAliveServesSeveralScrapes) {
  asio::io_context ioc;
  tcp::socket socket(ioc);
  tcp::resolver resolver(ioc);
  asio::connect(socket, resolver.resolve("127.0.0.1", std::to_string(metrics_->port())));
  beast::flat_buffer buffer;
  for (int i = 0; i < 3; ++i) {
    bhttp::request<bhttp::string_body> req(bhttp::verb::get, "/metrics", 11);
    req.set(bhttp::field::host, "127.0.0.1");
    bhttp::write(socket, req);
    bhttp::response<bhttp::string_body> res;
    bhttp::read(socket, buffer, res);
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_TRUE(res.keep_alive());
    EXPECT_NE(res.body().find("nv_inference_request_success"), std::string::npos);
  }
}

TEST(MetricsServerStartTest, PortInUseIsAnError) {
  server::ServerOptions o;
  o.model_repository = std::string(ONNXD_SOURCE_DIR) + "/models";
  o.model_control_mode = "explicit";
  o.http_address = "127.0.0.1";
  o.metrics_port = 0;
  server::InferenceServer core(o);
  MetricsServer first(core, o);
  ASSERT_TRUE(first.Start().ok());
  o.metrics_port = first.port();
  MetricsServer second(core, o);
  Status st = second.Start();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(std::to_string(first.port())), std::string::npos) << st.message();
  first.Stop();
  first.Stop();  // idempotent
}

TEST(MetricsServerStartTest, StopClosesOpenConnections) {
  server::ServerOptions o;
  o.model_repository = std::string(ONNXD_SOURCE_DIR) + "/models";
  o.model_control_mode = "explicit";
  o.http_address = "127.0.0.1";
  o.metrics_port = 0;
  server::InferenceServer core(o);
  MetricsServer ms(core, o);
  ASSERT_TRUE(ms.Start().ok());
  asio::io_context ioc;
  tcp::socket socket(ioc);
  tcp::resolver resolver(ioc);
  asio::connect(socket, resolver.resolve("127.0.0.1", std::to_string(ms.port())));
  bhttp::request<bhttp::string_body> req(bhttp::verb::get, "/metrics", 11);
  req.set(bhttp::field::host, "127.0.0.1");
  bhttp::write(socket, req);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(socket, buffer, res);
  EXPECT_EQ(res.result_int(), 200u);
  ms.Stop();
  // The idle keep-alive connection is closed by Stop: the next read sees end of stream.
  char c;
  beast::error_code ec;
  socket.read_some(asio::buffer(&c, 1), ec);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
}

TEST(MetricsTest, EscapesLabelValues) {
  EXPECT_EQ(server::EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(server::EscapeLabelValue("a\\b"), "a\\\\b");
  EXPECT_EQ(server::EscapeLabelValue("say \"hi\""), "say \\\"hi\\\"");
  EXPECT_EQ(server::EscapeLabelValue("two\nlines"), "two\\nlines");
  EXPECT_EQ(server::EscapeLabelValue(""), "");
}

TEST(MetricsTest, ParsesProcStat) {
  auto a = server::ParseProcStat("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->idle, 800u);
  EXPECT_EQ(a->total, 1000u);
  auto b = server::ParseProcStat("cpu  150 0 150 800 100 0 0 0 0 0\n");
  ASSERT_TRUE(b.has_value());
  EXPECT_DOUBLE_EQ(server::CpuUtilization(*a, *b), 0.5);
  EXPECT_DOUBLE_EQ(server::CpuUtilization(*a, *a), 0.0);
  EXPECT_FALSE(server::ParseProcStat("intr 1 2 3\n").has_value());
  EXPECT_FALSE(server::ParseProcStat("").has_value());
}

TEST(MetricsTest, ParsesMeminfo) {
  auto m = server::ParseMeminfo("MemTotal:       1000 kB\nMemFree:  10 kB\nMemAvailable:    400 kB\n");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->total_bytes, 1000u * 1024);
  EXPECT_EQ(m->used_bytes, 600u * 1024);
  EXPECT_FALSE(server::ParseMeminfo("MemTotal: 1000 kB\n").has_value());
}

}  // namespace
}  // namespace onnxd::api
