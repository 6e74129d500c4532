// onnxd_gpu_model_bench: times Session::Run of one ONNX model on cuda or cpu (issue 8's GPU bench;
// scripts/gpu_bench.py drives it next to PyTorch on the device).
//
//   onnxd_gpu_model_bench MODEL.onnx [--device cuda|cpu] [--tf32] [--fp16] [--batch B] [--shape NAME=AxBxC]...
//                         [--iterations N] [--warmup W] [--no-graphs] [--inputs-dir DIR]
//                         [--output-file FILE] [--no-tune]
// --inputs-dir reads each input from DIR/NAME.bin (raw, in its type); --output-file writes output 0
// (float32, raw) of the last run; --no-graphs turns CUDA Graph replay off. The warm-up runs tune, as
// the server's do (RunOptions::tune: the captured graph's execution variant is picked by timing);
// --no-tune keeps the default variant. The JSON's "tuning" says what was chosen.
//
// Inputs are random (floats in [-1, 1), integers in [0, 100); int64 "*mask*" inputs all ones);
// dynamic dims take --batch for the first dim and 1 elsewhere unless --shape says. Prints one
// JSON object: median / p90 / mean milliseconds per run (host to host: inputs in, outputs back),
// the placement summary and the copies per run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "onnxd/engine/engine.h"

namespace {

std::vector<int64_t> ParseDims(const std::string& s) {
  std::vector<int64_t> dims;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, 'x')) dims.push_back(std::stoll(part));
  return dims;
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: onnxd_gpu_model_bench MODEL.onnx [--device cuda|cpu] [--tf32] [--batch B] "
                         "[--shape NAME=AxB] [--iterations N] [--warmup W]\n");
    return 2;
  }
  std::string path = argv[1], device = "cuda";
  bool tf32 = false, fp16 = false, graphs = true, profile = false, tune = true;
  std::string inputs_dir, output_file;
  int64_t batch = 1;
  int iterations = 50, warmup = 10;
  std::map<std::string, std::vector<int64_t>> shapes;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--device") device = next();
    else if (a == "--tf32") tf32 = true;
    else if (a == "--fp16") fp16 = true;
    else if (a == "--no-graphs") graphs = false;
    else if (a == "--no-tune") tune = false;
    else if (a == "--profile") profile = true;
    else if (a == "--inputs-dir") inputs_dir = next();
    else if (a == "--output-file") output_file = next();
    else if (a == "--batch") batch = std::stoll(next());
    else if (a == "--iterations") iterations = std::stoi(next());
    else if (a == "--warmup") warmup = std::stoi(next());
    else if (a == "--shape") {
      std::string v = next();
      auto eq = v.find('=');
      if (eq == std::string::npos) return 2;
      shapes[v.substr(0, eq)] = ParseDims(v.substr(eq + 1));
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  onnxd::Engine engine;
  onnxd::CompileOptions options;
  options.device = device == "cuda" ? onnxd::Device::kCuda : onnxd::Device::kCpu;
  options.allow_tf32 = tf32;
  options.fp16 = fp16;
  options.cuda_graphs = graphs;
  auto model = engine.CompileFile(path, options);
  if (!model.ok()) {
    std::printf("{\"model\": \"%s\", \"error\": \"%s\"}\n", JsonEscape(path).c_str(),
                JsonEscape(model.status().ToString()).c_str());
    return 1;
  }
  std::mt19937 rng(1234);
  std::vector<onnxd::Value> inputs;
  for (const auto& spec : (*model)->inputs()) {
    std::vector<int64_t> dims = spec.type.dims;
    if (shapes.count(spec.name)) {
      dims = shapes[spec.name];
    } else {
      for (size_t d = 0; d < dims.size(); ++d)
        if (dims[d] < 0) dims[d] = d == 0 ? batch : 1;
    }
    onnxd::DataType dt = spec.type.elem_type;
    onnxd::Tensor t = onnxd::Tensor::Allocate(dt, onnxd::Shape(std::span<const int64_t>(dims)));
    const int64_t n = t.num_elements();
    if (dt == onnxd::DataType::kFloat) {
      std::uniform_real_distribution<float> u(-1.f, 1.f);
      for (int64_t k = 0; k < n; ++k) t.data<float>()[k] = u(rng);
    } else if (dt == onnxd::DataType::kInt64) {
      // An attention mask is all ones (attend everywhere), as PyTorch's side of the bench has it.
      const bool mask = spec.name.find("mask") != std::string::npos;
      std::uniform_int_distribution<int64_t> u(0, 99);
      for (int64_t k = 0; k < n; ++k) t.data<int64_t>()[k] = mask ? 1 : u(rng);
    } else if (dt == onnxd::DataType::kInt32) {
      std::uniform_int_distribution<int32_t> u(0, 99);
      for (int64_t k = 0; k < n; ++k) t.data<int32_t>()[k] = u(rng);
    }  // other types: zeros
    if (!inputs_dir.empty()) {
      // The caller's data (PyTorch's inputs, to compare the outputs): raw, in the input's type.
      std::ifstream f(inputs_dir + "/" + spec.name + ".bin", std::ios::binary);
      if (!f.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(t.bytes())) || f.get() != EOF) {
        std::printf("{\"model\": \"%s\", \"error\": \"%s\"}\n", JsonEscape(path).c_str(),
                    JsonEscape("input file for " + spec.name + " missing or not " + std::to_string(t.bytes()) +
                               " bytes").c_str());
        return 1;
      }
    }
    inputs.emplace_back(std::move(t));
  }
  auto session = (*model)->CreateSession();
  std::vector<onnxd::Value> outputs;
  onnxd::RunOptions warm;
  warm.tune = tune;
  for (int k = 0; k < warmup; ++k) {
    onnxd::Status st = session->Run(inputs, &outputs, warm);
    if (!st.ok()) {
      std::printf("{\"model\": \"%s\", \"error\": \"%s\"}\n", JsonEscape(path).c_str(), JsonEscape(st.ToString()).c_str());
      return 1;
    }
  }
  // The warm-up's node-by-node runs (the capture's included): transposes that still moved data.
  const onnxd::Session::CudaRunStats cs = session->last_run_cuda_stats();
  const int moved_transposes = cs.moved_transposes;
  char stats_json[320];
  std::snprintf(stats_json, sizeof(stats_json),
                "{\"moved_transposes\": %d, \"flash_attention\": %d, \"fused_softmax\": %d, \"fused_layer_norm\": %d, "
                "\"folded_scales\": %d, \"own_depthwise\": %d, \"fallbacks\": %d}",
                cs.moved_transposes, cs.flash_attention, cs.fused_softmax, cs.fused_layer_norm, cs.folded_scales,
                cs.own_depthwise, cs.fallbacks);
  std::vector<double> ms;
  for (int k = 0; k < iterations; ++k) {
    auto t0 = std::chrono::steady_clock::now();
    onnxd::Status st = session->Run(inputs, &outputs);
    auto t1 = std::chrono::steady_clock::now();
    if (!st.ok()) {
      std::printf("{\"model\": \"%s\", \"error\": \"%s\"}\n", JsonEscape(path).c_str(), JsonEscape(st.ToString()).c_str());
      return 1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  double mean = 0;
  for (double v : ms) mean += v;
  mean /= static_cast<double>(ms.size());
  const bool replayed = session->last_run_replayed_graph();
  std::string profile_json;
  if (profile) {
    // GPU time per op type over 10 more runs (node by node: a profiled run is never replayed).
    onnxd::RunProfile prof;
    onnxd::RunOptions ro;
    ro.profile = &prof;
    for (int k = 0; k < 10; ++k)
      if (!session->Run(inputs, &outputs, ro).ok()) break;
    std::map<std::string, std::pair<int64_t, int64_t>> by_op;  // ns, nodes
    for (const auto& n : prof.nodes) {
      by_op[n.op_type].first += n.ns;
      by_op[n.op_type].second += n.calls > 0 ? 1 : 0;
    }
    std::vector<std::pair<int64_t, std::string>> order;
    for (const auto& [op, v] : by_op) order.push_back({v.first, op});
    std::sort(order.rbegin(), order.rend());
    profile_json = ", \"profile_ms_per_run\": {";
    for (size_t k = 0; k < order.size(); ++k) {
      char buf[160];
      std::snprintf(buf, sizeof(buf), "%s\"%s\": %.4f", k ? ", " : "", JsonEscape(order[k].second).c_str(),
                    static_cast<double>(order[k].first) / 1e6 / 10.0);
      profile_json += buf;
    }
    profile_json += "}";
    // The 12 slowest nodes, for a per-node look (which convolution, which GEMM).
    std::vector<const onnxd::NodeTiming*> slow;
    for (const auto& n : prof.nodes) slow.push_back(&n);
    std::sort(slow.begin(), slow.end(), [](const auto* x, const auto* y) { return x->ns > y->ns; });
    profile_json += ", \"profile_slowest_nodes_ms\": {";
    for (size_t k = 0; k < slow.size() && k < 12; ++k) {
      char buf[320];
      std::snprintf(buf, sizeof(buf), "%s\"%s (%s)\": %.4f", k ? ", " : "", JsonEscape(slow[k]->name).c_str(),
                    JsonEscape(slow[k]->op_type).c_str(), static_cast<double>(slow[k]->ns) / 1e6 / 10.0);
      profile_json += buf;
    }
    profile_json += "}";
  }
  if (!output_file.empty() && !outputs.empty()) {
    // Output 0 as float32 (the last timed run's).
    const onnxd::Tensor& o = outputs[0].tensor();
    std::ofstream f(output_file, std::ios::binary);
    if (o.dtype() == onnxd::DataType::kFloat) f.write(static_cast<const char*>(o.raw_data()), static_cast<std::streamsize>(o.bytes()));
  }
  const auto& p = (*model)->placement();
  std::printf("{\"model\": \"%s\", \"device\": \"%s\", \"tf32\": %s, \"fp16\": %s, \"median_ms\": %.4f, \"p90_ms\": %.4f, "
              "\"mean_ms\": %.4f, \"copies\": %d, \"cuda_graph\": %s, \"placement\": \"%s\", \"tuning\": \"%s\", "
              "\"fusions\": \"%s\", \"moved_transposes\": %d, \"cuda_stats\": %s%s}\n",
              JsonEscape(path).c_str(), device.c_str(), tf32 ? "true" : "false", fp16 ? "true" : "false",
              ms[ms.size() / 2],
              ms[std::min(ms.size() - 1, ms.size() * 9 / 10)], mean, session->last_run_copies(),
              replayed ? "true" : "false", JsonEscape(p.summary).c_str(), JsonEscape(session->last_tuning()).c_str(),
              JsonEscape(p.fusions).c_str(), moved_transposes, stats_json, profile_json.c_str());
  return 0;
}
