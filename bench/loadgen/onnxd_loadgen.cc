// onnxd_loadgen: a closed-loop load generator in the manner of perf_analyzer's concurrency mode
// (which PyPI does not ship here: its wheel there is an empty placeholder). For each concurrency
// level N it keeps N requests outstanding against a KServe v2 server (onnxd or Triton), over gRPC or
// HTTP (binary tensor data), and reports throughput and latency percentiles as one JSON line:
//
//   onnxd_loadgen --protocol grpc --url localhost:8001 --model mnist --concurrency 1,4,16 \
//                 --warmup-s 1 --duration-s 5 [--batch 1] [--version 1]
//
// Inputs come from the model's metadata: dynamic dims become --batch (first) or 1; data is random
// (FP32, FP16 as FP32 bits is not supported: FP32, INT64, INT32 only). Every thread owns its
// connection (HTTP) or shares the channel (gRPC) and sends synchronously, like perf_analyzer's
// sync mode.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "grpc_service.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace asio = boost::asio;

struct Options {
  std::string protocol = "grpc";
  std::string url = "localhost:8001";
  std::string model;
  std::string version;
  std::vector<int> concurrency = {1};
  double warmup_s = 1.0;
  double duration_s = 5.0;
  int64_t batch = 1;
};

struct InputSpec {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;
  std::string bytes;  // raw little-endian contents
};

[[noreturn]] void Die(const std::string& m) {
  std::cerr << "onnxd_loadgen: " << m << "\n";
  std::exit(2);
}

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoi(item));
  return out;
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--protocol") o.protocol = next();
    else if (a == "--url") o.url = next();
    else if (a == "--model") o.model = next();
    else if (a == "--version") o.version = next();
    else if (a == "--concurrency") o.concurrency = ParseList(next());
    else if (a == "--warmup-s") o.warmup_s = std::stod(next());
    else if (a == "--duration-s") o.duration_s = std::stod(next());
    else if (a == "--batch") o.batch = std::stoll(next());
    else Die("unknown flag " + a);
  }
  if (o.model.empty()) Die("--model is required");
  if (o.protocol != "grpc" && o.protocol != "http") Die("--protocol must be grpc or http");
  return o;
}

std::vector<InputSpec> InputsFromMetadata(const Options& o) {
  auto channel = grpc::CreateChannel(o.url, grpc::InsecureChannelCredentials());
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  inference::ModelMetadataRequest req;
  req.set_name(o.model);
  req.set_version(o.version);
  inference::ModelMetadataResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status st = stub->ModelMetadata(&ctx, req, &resp);
  if (!st.ok()) Die("model metadata over gRPC at " + o.url + ": " + st.error_message());
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uni(0.f, 1.f);
  std::vector<InputSpec> out;
  for (const auto& t : resp.inputs()) {
    InputSpec s;
    s.name = t.name();
    s.datatype = t.datatype();
    int64_t n = 1;
    for (int d = 0; d < t.shape_size(); ++d) {
      int64_t v = t.shape(d);
      if (v < 0) v = d == 0 ? o.batch : 1;
      s.shape.push_back(v);
      n *= v;
    }
    if (s.datatype == "FP32") {
      std::vector<float> v(static_cast<size_t>(n));
      for (auto& x : v) x = uni(rng);
      s.bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
    } else if (s.datatype == "INT64") {
      std::vector<int64_t> v(static_cast<size_t>(n), 1);
      s.bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int64_t));
    } else if (s.datatype == "INT32") {
      std::vector<int32_t> v(static_cast<size_t>(n), 1);
      s.bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int32_t));
    } else {
      Die("input '" + s.name + "' has datatype " + s.datatype + "; only FP32, INT64 and INT32 are generated");
    }
    out.push_back(std::move(s));
  }
  return out;
}

struct ThreadResult {
  std::vector<uint32_t> latencies_us;  // measured window only
  uint64_t errors = 0;
  std::string first_error;
};

// The phases every thread follows: warm-up (not counted), measure, stop.
struct Phases {
  Clock::time_point measure_start, measure_end;
};

class GrpcSender {
 public:
  GrpcSender(std::shared_ptr<grpc::Channel> ch, const Options& o, const std::vector<InputSpec>& inputs)
      : stub_(inference::GRPCInferenceService::NewStub(ch)) {
    req_.set_model_name(o.model);
    req_.set_model_version(o.version);
    for (const auto& s : inputs) {
      auto* in = req_.add_inputs();
      in->set_name(s.name);
      in->set_datatype(s.datatype);
      for (int64_t d : s.shape) in->add_shape(d);
      req_.add_raw_input_contents(s.bytes);
    }
  }
  bool Send(std::string* err) {
    grpc::ClientContext ctx;
    inference::ModelInferResponse resp;
    grpc::Status st = stub_->ModelInfer(&ctx, req_, &resp);
    if (!st.ok()) *err = st.error_message();
    return st.ok();
  }

 private:
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
  inference::ModelInferRequest req_;
};

class HttpSender {
 public:
  HttpSender(const Options& o, const std::vector<InputSpec>& inputs) : stream_(ioc_) {
    const size_t colon = o.url.rfind(':');
    if (colon == std::string::npos) Die("--url must be host:port");
    host_ = o.url.substr(0, colon);
    port_ = o.url.substr(colon + 1);
    target_ = "/v2/models/" + o.model + (o.version.empty() ? "" : "/versions/" + o.version) + "/infer";
    std::string header = "{\"inputs\":[";
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto& s = inputs[i];
      if (i) header += ",";
      header += "{\"name\":\"" + s.name + "\",\"datatype\":\"" + s.datatype + "\",\"shape\":[";
      for (size_t d = 0; d < s.shape.size(); ++d) header += (d ? "," : "") + std::to_string(s.shape[d]);
      header += "],\"parameters\":{\"binary_data_size\":" + std::to_string(s.bytes.size()) + "}}";
    }
    header += "],\"parameters\":{\"binary_data_output\":true}}";
    header_len_ = header.size();
    body_ = header;
    for (const auto& s : inputs) body_ += s.bytes;
    Connect();
  }
  bool Send(std::string* err) {
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, target_, 11};
    req.set(bhttp::field::host, host_);
    req.set(bhttp::field::content_type, "application/octet-stream");
    req.set("Inference-Header-Content-Length", std::to_string(header_len_));
    req.body() = body_;
    req.keep_alive(true);
    req.prepare_payload();
    beast::error_code ec;
    bhttp::write(stream_, req, ec);
    if (!ec) {
      bhttp::response<bhttp::string_body> res;
      bhttp::read(stream_, buffer_, res, ec);
      if (!ec && res.result_int() == 200) return true;
      if (!ec) {
        *err = "HTTP " + std::to_string(res.result_int()) + ": " + res.body().substr(0, 200);
        if (!res.keep_alive()) Reconnect();
        return false;
      }
    }
    *err = ec.message();
    Reconnect();
    return false;
  }

 private:
  void Connect() {
    asio::ip::tcp::resolver resolver(ioc_);
    beast::error_code ec;
    stream_.connect(resolver.resolve(host_, port_), ec);
    if (ec) Die("HTTP connect to " + host_ + ":" + port_ + ": " + ec.message());
    stream_.socket().set_option(asio::ip::tcp::no_delay(true));
  }
  void Reconnect() {
    beast::error_code ec;
    stream_.socket().close(ec);
    buffer_.clear();
    Connect();
  }
  asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::string host_, port_, target_, body_;
  size_t header_len_ = 0;
};

template <typename Sender>
void Drive(Sender& sender, const Phases& ph, ThreadResult* r) {
  std::string err;
  r->latencies_us.reserve(1 << 16);
  for (;;) {
    const auto t0 = Clock::now();
    if (t0 >= ph.measure_end) return;
    const bool ok = sender.Send(&err);
    const auto t1 = Clock::now();
    if (t0 < ph.measure_start) continue;  // warm-up
    if (!ok) {
      if (r->errors++ == 0) r->first_error = err;
      continue;
    }
    r->latencies_us.push_back(
        static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = ParseArgs(argc, argv);
  std::string grpc_url = o.url;
  const std::vector<InputSpec> inputs = InputsFromMetadata(o.protocol == "grpc" ? o : [&] {
    // Metadata always comes over gRPC: with --protocol http pass the gRPC port in ONNXD_GRPC_URL.
    Options m = o;
    const char* g = std::getenv("ONNXD_GRPC_URL");
    if (!g) Die("--protocol http needs ONNXD_GRPC_URL=host:port of the gRPC endpoint for model metadata");
    m.url = g;
    return m;
  }());
  auto channel = o.protocol == "grpc" ? grpc::CreateChannel(o.url, grpc::InsecureChannelCredentials()) : nullptr;
  for (int c : o.concurrency) {
    Phases ph;
    const auto start = Clock::now();
    ph.measure_start = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup_s));
    ph.measure_end = ph.measure_start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
    std::vector<ThreadResult> results(static_cast<size_t>(c));
    std::vector<std::thread> threads;
    for (int t = 0; t < c; ++t) {
      threads.emplace_back([&, t] {
        if (o.protocol == "grpc") {
          GrpcSender s(channel, o, inputs);
          Drive(s, ph, &results[static_cast<size_t>(t)]);
        } else {
          HttpSender s(o, inputs);
          Drive(s, ph, &results[static_cast<size_t>(t)]);
        }
      });
    }
    for (auto& t : threads) t.join();
    std::vector<uint32_t> all;
    uint64_t errors = 0;
    std::string first_error;
    for (auto& r : results) {
      all.insert(all.end(), r.latencies_us.begin(), r.latencies_us.end());
      errors += r.errors;
      if (first_error.empty()) first_error = r.first_error;
    }
    for (char& ch : first_error)
      if (ch == '"' || ch == '\\' || static_cast<unsigned char>(ch) < 0x20) ch = '\'';
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) -> double {
      if (all.empty()) return 0;
      return all[std::min(all.size() - 1, static_cast<size_t>(p * static_cast<double>(all.size())))];
    };
    double sum = 0;
    for (uint32_t v : all) sum += v;
    std::printf(
        "{\"protocol\":\"%s\",\"model\":\"%s\",\"concurrency\":%d,\"batch\":%lld,\"requests\":%zu,"
        "\"throughput_rps\":%.1f,\"avg_us\":%.1f,\"p50_us\":%.0f,\"p90_us\":%.0f,\"p99_us\":%.0f,\"errors\":%llu,"
        "\"first_error\":\"%s\"}\n",
        o.protocol.c_str(), o.model.c_str(), c, static_cast<long long>(o.batch), all.size(),
        static_cast<double>(all.size()) / o.duration_s, all.empty() ? 0.0 : sum / static_cast<double>(all.size()),
        pct(0.50), pct(0.90), pct(0.99), static_cast<unsigned long long>(errors),
        first_error.substr(0, 120).c_str());
    std::fflush(stdout);
  }
  return 0;
}
