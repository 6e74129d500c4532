#include <iostream>
#include <string>

#include "cli/commands.h"
#include "onnxd/engine/engine.h"

namespace onnxd::cli {

namespace {

// --device cuda: compiles the model for the GPU (a plan; no GPU needed) and lists where each node
// runs and the copies between host and device per run.
int PrintPlacement(const std::string& path, Device device) {
  Engine engine;
  CompileOptions options;
  options.device = device;
  auto model = engine.CompileFile(path, options);
  if (!model.ok()) {
    std::cerr << "onnxd inspect: " << path << ": " << model.status().ToString() << "\n";
    return 1;
  }
  const PlacementInfo& p = (*model)->placement();
  std::cout << "placement (--device " << (device == Device::kCuda ? "cuda" : "cpu") << "):\n";
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    const auto& n = p.nodes[i];
    std::cout << "  " << i << "  " << (n.device == Device::kCuda ? "cuda" : "cpu ") << "  " << n.op_type << " "
              << (n.name.rfind("-> ", 0) == 0 ? n.name : "'" + n.name + "'");
    if (!n.reason.empty()) std::cout << "  (" << n.reason << ")";
    std::cout << "\n";
  }
  std::cout << "copies per run: " << p.total_copies() << " (" << p.input_copies << " input, " << p.internal_copies
            << " between devices, " << p.output_copies << " output)\n";
  std::cout << "constants uploaded once: " << p.uploaded_constants << "\n";
  std::cout << "summary: " << p.summary << "\n";
  if (!p.fusions.empty()) std::cout << "fusions: " << p.fusions << "\n";
  if (device == Device::kCuda) {
    // Where KIND_GPU instances can go: `count` on each GPU an instance group's `gpus` lists (all
    // of these when it lists none).
    std::string why;
    const int gpus = Engine::CudaDeviceCount(&why);
    if (gpus > 0)
      std::cout << "GPUs for KIND_GPU instances: " << gpus
                << (gpus == 1 ? " (ordinal 0)" : " (ordinals 0-" + std::to_string(gpus - 1) + ")") << "\n";
    else
      std::cout << "GPUs for KIND_GPU instances: none here (" << why << ")\n";
  }
  return 0;
}

}  // namespace

int InspectCommand(int argc, char** argv) {
  std::string path;
  std::string device;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--device" && i + 1 < argc) {
      device = argv[++i];
    } else if (a.rfind("--device=", 0) == 0) {
      device = a.substr(9);
    } else if (path.empty() && a.rfind("--", 0) != 0) {
      path = a;
    } else {
      path.clear();
      break;
    }
  }
  if (path.empty() || (!device.empty() && device != "cuda" && device != "cpu")) {
    std::cerr << "usage: onnxd inspect MODEL.onnx [--device cpu|cuda]\n";
    return 2;
  }
  auto info_or = InspectModelFile(path);
  if (!info_or.ok()) {
    std::cerr << "onnxd inspect: " << path << ": " << info_or.status().ToString() << "\n";
    return 1;
  }
  const ModelInfo& info = *info_or;
  std::cout << "model:     " << path << "\n";
  std::cout << "ir:        " << info.ir_version << "\n";
  std::cout << "opsets:   ";
  for (const auto& [d, v] : info.opsets) std::cout << " " << (d.empty() ? "ai.onnx" : d) << "=" << v;
  std::cout << "\n";
  std::cout << "producer:  " << info.producer_name << " " << info.producer_version << "\n";
  if (!info.graph_name.empty()) std::cout << "graph:     " << info.graph_name << "\n";
  for (const auto& m : info.metadata) std::cout << "metadata:  " << m << "\n";
  std::cout << "inputs:\n";
  for (const auto& io : info.inputs) std::cout << "  " << io.name << ": " << io.type.ToString() << "\n";
  std::cout << "outputs:\n";
  for (const auto& io : info.outputs) std::cout << "  " << io.name << ": " << io.type.ToString() << "\n";
  std::cout << "parameters: " << info.parameter_count << "\n";
  std::cout << "ops:\n";
  for (const auto& [op, n] : info.op_histogram) std::cout << "  " << op << " x" << n << "\n";
  if (info.unsupported_ops.empty()) {
    std::cout << "unsupported ops: none\n";
  } else {
    std::cout << "unsupported ops:";
    for (const auto& op : info.unsupported_ops) std::cout << " " << op;
    std::cout << "\n";
  }
  if (!device.empty()) return PrintPlacement(path, device == "cuda" ? Device::kCuda : Device::kCpu);
  return 0;
}

}  // namespace onnxd::cli
