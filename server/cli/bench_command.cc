// In-process latency of one session: the measure later performance work compares against.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "onnxd/engine/engine.h"

namespace onnxd::cli {
namespace {


// --profile: as many more runs with per-node timing (kept apart from the timed runs above), then
// the time by op type and the slowest nodes, per run.
void PrintProfile(Session& session, const std::vector<Value>& inputs, int iterations) {
  RunProfile prof;
  RunOptions opts;
  opts.profile = &prof;
  std::vector<Value> outputs;
  for (int i = 0; i < iterations; ++i) {
    if (!session.Run(inputs, &outputs, opts).ok()) return;
  }
  int64_t total = 0;
  std::map<std::string, std::pair<int64_t, int>> by_op;  // op type -> (ns, nodes)
  for (const NodeTiming& t : prof.nodes) {
    total += t.ns;
    auto& e = by_op[t.op_type];
    e.first += t.ns;
    ++e.second;
  }
  if (total <= 0) return;
  const double per_run = 1e-6 / iterations;  // ns summed over the runs -> ms a run
  std::vector<std::pair<std::string, std::pair<int64_t, int>>> ops(by_op.begin(), by_op.end());
  std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  std::printf("\nprofile (%d runs, ms a run, share of the nodes' time):\n", iterations);
  std::printf("  %-28s %6s %10s %7s\n", "op type", "nodes", "ms", "share");
  for (const auto& [op, v] : ops)
    std::printf("  %-28s %6d %10.4f %6.1f%%\n", op.c_str(), v.second, v.first * per_run, 100.0 * v.first / total);
  std::vector<const NodeTiming*> nodes;
  for (const NodeTiming& t : prof.nodes) nodes.push_back(&t);
  std::sort(nodes.begin(), nodes.end(), [](const NodeTiming* a, const NodeTiming* b) { return a->ns > b->ns; });
  std::printf("  slowest nodes:\n");
  for (size_t i = 0; i < std::min<size_t>(10, nodes.size()); ++i)
    std::printf("  %-28s %-20s %10.4f %6.1f%%\n", nodes[i]->name.empty() ? "(unnamed)" : nodes[i]->name.c_str(),
                nodes[i]->op_type.c_str(), nodes[i]->ns * per_run, 100.0 * nodes[i]->ns / total);
}

int Fail(const std::string& msg) {
  std::cerr << "onnxd bench: " << msg << "\n";
  return 1;
}

template <typename T>
void Fill(Tensor& t, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(0.f, 1.f);
  T* d = t.data<T>();
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) d[i] = static_cast<T>(u(rng));
    else if constexpr (std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>) d[i] = T(u(rng));
    else d[i] = T{};
  }
}

Tensor RandomTensor(DataType dt, const Shape& shape, std::mt19937& rng) {
  Tensor t = Tensor::Allocate(dt, shape);
  switch (dt) {
    case DataType::kFloat: Fill<float>(t, rng); break;
    case DataType::kDouble: Fill<double>(t, rng); break;
    case DataType::kFloat16: Fill<Float16>(t, rng); break;
    case DataType::kBFloat16: Fill<BFloat16>(t, rng); break;
    default: break;  // integers, bools and strings stay zero / empty (valid indices, valid lengths)
  }
  return t;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

}  // namespace

int BenchCommand(int argc, char** argv) {
  std::string model_path;
  int threads = 0, batch = 1, iterations = 100, warmup = 10;
  bool profile = false;
  std::map<std::string, std::vector<int64_t>> shapes;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    try {
      if (a == "--threads") threads = std::stoi(next());
      else if (a == "--batch") batch = std::stoi(next());
      else if (a == "--iterations") iterations = std::stoi(next());
      else if (a == "--warmup") warmup = std::stoi(next());
      else if (a == "--profile") profile = true;
      else if (a == "--shape") {
        std::string spec = next();
        auto eq = spec.find('=');
        if (eq == std::string::npos) return Fail("--shape wants NAME=D0xD1x..., got '" + spec + "'");
        std::vector<int64_t> dims;
        std::stringstream ss(spec.substr(eq + 1));
        std::string d;
        while (std::getline(ss, d, 'x')) dims.push_back(std::stoll(d));
        shapes[spec.substr(0, eq)] = dims;
      } else if (!a.empty() && a[0] == '-') {
        return Fail("unknown option " + a);
      } else {
        model_path = a;
      }
    } catch (const std::exception&) {
      return Fail("bad value for " + a);
    }
  }
  if (model_path.empty() || iterations < 1 || batch < 1)
    return Fail("usage: onnxd bench MODEL.onnx [--threads N] [--batch B] [--iterations K] [--warmup W] [--shape NAME=AxB] "
                "[--profile]");
  if (threads > 0) Engine::SetIntraOpThreads(threads);
  Engine engine;
  auto compiled = engine.CompileFile(model_path);
  if (!compiled.ok()) return Fail(compiled.status().ToString());
  const CompiledModel& model = **compiled;

  std::mt19937 rng(42);
  std::vector<Value> inputs;
  for (const auto& spec : model.inputs()) {
    if (spec.type.kind != ValueKind::kTensor) return Fail("input '" + spec.name + "' is not a tensor");
    Shape shape;
    auto given = shapes.find(spec.name);
    if (given != shapes.end()) {
      shape = Shape(std::span<const int64_t>(given->second));
    } else {
      for (size_t d = 0; d < spec.type.dims.size(); ++d) {
        int64_t v = spec.type.dims[d];
        shape.PushBack(v >= 0 ? v : (d == 0 ? batch : 1));
      }
    }
    inputs.emplace_back(RandomTensor(spec.type.elem_type, shape, rng));
  }
  auto session = model.CreateSession();
  std::vector<Value> outputs;
  for (int i = 0; i < warmup; ++i) {
    Status st = session->Run(inputs, &outputs);
    if (!st.ok()) return Fail(st.ToString());
  }
  std::vector<double> ms;
  ms.reserve(iterations);
  auto t_all = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    Status st = session->Run(inputs, &outputs);
    auto t1 = std::chrono::steady_clock::now();
    if (!st.ok()) return Fail(st.ToString());
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_all).count();
  double mean = 0;
  for (double x : ms) mean += x;
  mean /= static_cast<double>(ms.size());
  std::printf("model: %s\nthreads: %d  batch: %d  iterations: %d  arena: %.1f KiB\n", model_path.c_str(),
              engine.intra_op_threads(), batch, iterations, static_cast<double>(session->planned_arena_bytes()) / 1024.0);
  std::printf("latency ms: median %.4f  p90 %.4f  p99 %.4f  mean %.4f  min %.4f\n", Percentile(ms, 0.5),
              Percentile(ms, 0.9), Percentile(ms, 0.99), mean, *std::min_element(ms.begin(), ms.end()));
  std::printf("throughput: %.1f runs/s  %.1f rows/s\n", iterations / total_s, iterations * batch / total_s);
  if (profile) PrintProfile(*session, inputs, iterations);
  return 0;
}

}  // namespace onnxd::cli
