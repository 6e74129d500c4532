// Per-request cost of the latency histograms: a request that succeeds makes three Observe calls
// (request, queue, compute) and its execution one more (batch size). Times those four calls in a
// loop, on one thread and on several threads sharing one model's histograms (the contended case:
// every request of one model updates the same counters). Built and run by bench/metrics_overhead.py:
//
//   c++ -O2 -std=c++20 -Iserver -Iengine/include bench/histogram_observe_bench.cc \
//       server/metrics/registry.cc -pthread -o /tmp/histogram_observe_bench
//   /tmp/histogram_observe_bench THREADS ITERATIONS
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "lifecycle/model_stats.h"

using namespace onnxd::server;

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const long iters = argc > 2 ? std::atol(argv[2]) : 5'000'000;
  ModelHistograms h(DefaultLatencyBounds(), DefaultBatchSizeBounds());
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      while (!go.load()) {
      }
      // Latencies spread over the buckets (40 us .. 20 ms), as a busy model's would be.
      uint64_t x = 40'000 + static_cast<uint64_t>(t) * 7919;
      for (long i = 0; i < iters; ++i) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        const uint64_t ns = 40'000 + (x >> 33) % 20'000'000;
        h.request.Observe(ns);
        h.queue.Observe(ns / 4);
        h.compute.Observe(ns / 2);
        h.batch_size.Observe(1 + (x >> 60));
      }
    });
  const auto t0 = std::chrono::steady_clock::now();
  go.store(true);
  for (auto& t : ts) t.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (h.request.Read().count != static_cast<uint64_t>(threads) * static_cast<uint64_t>(iters)) return 1;
  // Wall time per request per thread: what one request's thread spends in the four calls.
  std::printf("{\"threads\": %d, \"ns_per_request\": %.1f}\n", threads, s * 1e9 / static_cast<double>(iters));
  return 0;
}
