// onnxd: the daemon and its subcommands.
//
//   onnxd --model-repository DIR [--http-port 8000] [--grpc-port 8001] ...   serve (KServe v2)
//   onnxd run MODEL.onnx --input NAME=FILE | --input-dir DIR [--output-dir DIR]
//   onnxd inspect MODEL.onnx
//   onnxd bench MODEL.onnx [--threads N] [--batch B] [--iterations K]
#include <pthread.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <thread>
#include <string>
#include <tuple>
#include <vector>

#include "cli/commands.h"
#include "core/inference_server.h"
#include "core/log.h"
#include "grpc/grpc_server.h"
#include "http/http_server.h"
#include "http/metrics_server.h"

namespace {

int g_signal_pipe[2] = {-1, -1};

extern "C" void OnShutdownSignal(int sig) {
  const int saved = errno;
  const unsigned char b = static_cast<unsigned char>(sig);
  [[maybe_unused]] ssize_t n = write(g_signal_pipe[1], &b, 1);  // async-signal-safe
  errno = saved;
}

// Blocks until SIGTERM or SIGINT arrives; returns its number.
int WaitShutdownSignal() {
  unsigned char b = 0;
  for (;;) {
    const ssize_t n = read(g_signal_pipe[0], &b, 1);
    if (n == 1) return b;
    if (n < 0 && errno == EINTR) continue;
    return SIGTERM;
  }
}


void Usage() {
  std::cout
      << "usage:\n"
         "  onnxd --model-repository DIR [options]      serve the repository over KServe v2 HTTP and gRPC\n"
         "      --http-port N (8000)  --grpc-port N (8001)  --metrics-port N (8002)\n"
         "      --http-address A (0.0.0.0)  --grpc-address A (0.0.0.0)\n"
         "      --model-control-mode none|explicit|poll (none)  --load-model NAME|* (repeatable)\n"
         "      --repository-poll-secs N (15): poll mode's longest time between two looks at the repository\n"
         "          (inotify events make it look sooner; a change counts once its files hold still)\n"
         "      --scheduler-threads N (0 = twice the cores)  --max-queue-size N (1024): per model, when the\n"
         "          config's queue policy leaves max_queue_size 0\n"
         "      --inline-max-us N (100): an idle model whose runs take under N us a row runs a request on\n"
         "          the front end's thread, skipping two thread switches; 0 = always through the scheduler\n"
         "      --strict-readiness true|false (true)  --exit-timeout-secs N (30)  --log-verbose N (0)\n"
         "      --allow-metrics true|false (true): Prometheus text at :metrics-port/metrics\n"
         "      --metrics-address A (the HTTP address)\n"
         "      --allow-gpu-metrics true|false (true): nv_gpu_* through NVML when a driver is there\n"
         "      --allow-cpu-metrics true|false (true): nv_cpu_utilization, nv_cpu_memory_*\n"
         "      --metrics-config KEY=VALUE (repeatable): histogram_latencies=true|false (true),\n"
         "          histogram_buckets=S,S,... (latency bounds in seconds), batch_size_buckets=N,N,...,\n"
         "          counter_latencies=true|false (true)\n"
         "      --log-format default|json (default): json writes one object per line (ts, level, msg, fields)\n"
         "      --http-max-body-bytes N (67108864)  --default-max-batch-size N (4)\n"
         "  onnxd run MODEL.onnx (--input NAME=FILE ... | --input-dir DIR) [--output-dir DIR]\n"
         "      run a model once on TensorProto (.pb) or NumPy (.npy) inputs and print the outputs\n"
         "  onnxd inspect MODEL.onnx\n"
         "      inputs, outputs, opsets, op histogram, parameter count, unsupported ops\n"
         "  onnxd bench MODEL.onnx [--threads N] [--batch B] [--iterations K] [--warmup W] [--shape NAME=AxB]\n"
         "      in-process latency (median, p90, p99) and throughput on random inputs\n";
}

bool ParseBool(const std::string& v, bool* out) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") *out = true;
  else if (v == "false" || v == "0" || v == "no" || v == "off") *out = false;
  else return false;
  return true;
}

int Serve(int argc, char** argv) {
  // Blocks of 1 MiB and more (weights, batch buffers) are mapped and unmapped on their own, so that
  // unloading a model returns its memory. A fixed threshold also stops glibc from raising it after
  // each large free, which would move later weights into heap arenas that never shrink.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  using onnxd::server::ServerOptions;
  ServerOptions opts;
  bool allow_metrics = true;
  bool histogram_latencies = true;
  std::vector<double> latency_buckets, batch_size_buckets;
  onnxd::server::LogFormat log_format = onnxd::server::LogFormat::kDefault;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    bool has_value = false;
    auto eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_value = true;
    }
    auto next = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc) {
        std::cerr << "onnxd: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    auto next_int = [&]() -> long long {
      std::string v = next();
      try {
        size_t used = 0;
        long long n = std::stoll(v, &used);
        if (used == v.size()) return n;
      } catch (const std::exception&) {
      }
      std::cerr << "onnxd: " << a << " wants an integer, got '" << v << "'\n";
      std::exit(2);
    };
    if (a == "--model-repository" || a == "--model-store") opts.model_repository = next();
    else if (a == "--http-port") opts.http_port = static_cast<int>(next_int());
    else if (a == "--grpc-port") opts.grpc_port = static_cast<int>(next_int());
    else if (a == "--metrics-port") opts.metrics_port = static_cast<int>(next_int());
    else if (a == "--http-address") opts.http_address = next();
    else if (a == "--grpc-address") opts.grpc_address = next();
    else if (a == "--metrics-address") opts.metrics_address = next();
    else if (a == "--log-verbose") opts.log_verbose = static_cast<int>(next_int());
    else if (a == "--exit-timeout-secs") opts.exit_timeout_secs = static_cast<int>(next_int());
    else if (a == "--http-max-body-bytes") opts.http_body_limit = static_cast<size_t>(next_int());
    else if (a == "--default-max-batch-size") opts.default_max_batch_size = static_cast<int>(next_int());
    else if (a == "--model-control-mode") opts.model_control_mode = next();
    else if (a == "--load-model") opts.load_models.push_back(next());
    else if (a == "--repository-poll-secs") opts.repository_poll_secs = static_cast<int>(next_int());
    else if (a == "--scheduler-threads") opts.scheduler_threads = static_cast<int>(next_int());
    else if (a == "--max-queue-size") opts.default_max_queue_size = static_cast<size_t>(next_int());
    else if (a == "--inline-max-us") opts.inline_max_us = next_int();
    else if (a == "--strict-readiness") {
      std::string v = next();
      if (!ParseBool(v, &opts.strict_readiness)) {
        std::cerr << "onnxd: --strict-readiness wants true or false, got '" << v << "'\n";
        return 2;
      }
    } else if (a == "--allow-metrics") {
      std::string v = next();
      if (!ParseBool(v, &allow_metrics)) {
        std::cerr << "onnxd: --allow-metrics wants true or false, got '" << v << "'\n";
        return 2;
      }
    } else if (a == "--allow-gpu-metrics" || a == "--allow-cpu-metrics") {
      std::string v = next();
      if (!ParseBool(v, a == "--allow-gpu-metrics" ? &opts.allow_gpu_metrics : &opts.allow_cpu_metrics)) {
        std::cerr << "onnxd: " << a << " wants true or false, got '" << v << "'\n";
        return 2;
      }
    } else if (a == "--metrics-config") {
      std::string v = next();
      const size_t kv = v.find('=');
      const std::string key = v.substr(0, kv), val = kv == std::string::npos ? "" : v.substr(kv + 1);
      bool ok = kv != std::string::npos;
      std::string why;
      if (!ok) {
        why = "wants KEY=VALUE";
      } else if (key == "histogram_latencies") {
        ok = ParseBool(val, &histogram_latencies);
      } else if (key == "counter_latencies") {
        ok = ParseBool(val, &opts.counter_latencies);
      } else if (key == "histogram_buckets" || key == "batch_size_buckets") {
        auto list = onnxd::server::ParseBucketList(val);
        ok = list.ok();
        if (ok) (key == "histogram_buckets" ? latency_buckets : batch_size_buckets) = *list;
        else why = list.status().message();
      } else {
        ok = false;
        why = "unknown key '" + key + "'";
      }
      if (!ok) {
        std::cerr << "onnxd: --metrics-config " << v << ": " << (why.empty() ? "bad value" : why) << "\n";
        return 2;
      }
    } else if (a == "--log-format") {
      std::string v = next();
      if (!onnxd::server::ParseLogFormat(v, &log_format)) {
        std::cerr << "onnxd: --log-format wants default or json, got '" << v << "'\n";
        return 2;
      }
    } else if (a == "--help" || a == "-h") {
      Usage();
      return 0;
    } else {
      std::cerr << "onnxd: unknown option '" << a << "'\n";
      Usage();
      return 2;
    }
  }
  if (opts.model_repository.empty()) {
    std::cerr << "onnxd: --model-repository is required\n";
    return 2;
  }
  if (opts.model_control_mode != "none" && opts.model_control_mode != "explicit" &&
      opts.model_control_mode != "poll") {
    std::cerr << "onnxd: --model-control-mode must be none, explicit or poll\n";
    return 2;
  }
  onnxd::server::SetLogVerbosity(opts.log_verbose);
  onnxd::server::SetLogFormat(log_format);
  if (!histogram_latencies) {
    opts.latency_buckets = nullptr;
    opts.batch_size_buckets = nullptr;
  } else {
    for (auto [list, scale, target] : {std::tuple{&latency_buckets, 1e9, &opts.latency_buckets},
                                       std::tuple{&batch_size_buckets, 1.0, &opts.batch_size_buckets}}) {
      if (list->empty()) continue;
      auto bounds = onnxd::server::HistogramBounds::Create(*list, scale);
      if (!bounds.ok()) {
        std::cerr << "onnxd: --metrics-config: " << bounds.status().message() << "\n";
        return 2;
      }
      *target = std::move(bounds).value();
    }
  }

  // SIGTERM and SIGINT, whichever thread they land on (libraries start threads before main, with
  // no signal mask of ours), only write their number to a pipe that the main thread reads.
  if (pipe(g_signal_pipe) != 0) {
    std::perror("onnxd: pipe");
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = OnShutdownSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  onnxd::server::InferenceServer core(opts);
  onnxd::Status st = core.Start();
  if (!st.ok()) {
    LOG_ERROR("start-up failed: " << st.message());
    return 1;
  }
  onnxd::api::HttpServer http(core, opts);
  st = http.Start();
  if (!st.ok()) {
    LOG_ERROR("HTTP server: " << st.message());
    return 1;
  }
  onnxd::api::GrpcServer grpc(core, opts);
  st = grpc.Start();
  if (!st.ok()) {
    LOG_ERROR("gRPC server: " << st.message());
    return 1;
  }
  std::optional<onnxd::api::MetricsServer> metrics;
  if (allow_metrics) {
    metrics.emplace(core, opts);
    st = metrics->Start();
    if (!st.ok()) {
      LOG_ERROR("metrics server: " << st.message());
      return 1;
    }
  }
  std::printf("onnxd 0.1.0 serving %s\n", opts.model_repository.c_str());
  std::printf("  HTTP  %s:%d\n  gRPC  %s:%d\n", opts.http_address.c_str(), http.port(), opts.grpc_address.c_str(),
              grpc.port());
  if (metrics)
    std::printf("  Metrics  %s:%d/metrics\n",
                (opts.metrics_address.empty() ? opts.http_address : opts.metrics_address).c_str(), metrics->port());
  std::printf("+%-32s+%-9s+%-13s+%s\n", "--------------------------------", "---------", "-------------", "--------");
  std::printf("|%-32s|%-9s|%-13s|%s\n", " model", " version", " state", " reason");
  for (const auto& m : core.RepositoryIndex(false))
    std::printf("| %-31s| %-8s| %-12s| %s\n", m.name.c_str(), m.version.c_str(), m.state.c_str(), m.reason.c_str());
  std::fflush(stdout);

  const int sig = WaitShutdownSignal();
  LOG_INFO("signal " << sig << ": shutting down (readiness off, draining for up to " << opts.exit_timeout_secs << " s)");
  core.BeginShutdown();
  // A second signal ends the process at once.
  std::thread([] {
    const int s2 = WaitShutdownSignal();
    LOG_WARNING("second signal " << s2 << ": exiting now");
    std::_Exit(1);
  }).detach();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(opts.exit_timeout_secs);
  if (!core.WaitIdle(deadline)) LOG_WARNING(core.in_flight() << " requests still running at the exit timeout");
  if (metrics) metrics->Stop();
  grpc.Stop();
  http.Stop();
  LOG_INFO("onnxd stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    Usage();
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "run") return onnxd::cli::RunCommand(argc - 2, argv + 2);
  if (cmd == "inspect") return onnxd::cli::InspectCommand(argc - 2, argv + 2);
  if (cmd == "bench") return onnxd::cli::BenchCommand(argc - 2, argv + 2);
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    Usage();
    return 0;
  }
  return Serve(argc, argv);
}
