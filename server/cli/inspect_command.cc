#include <iostream>
#include <string>

#include "cli/commands.h"
#include "onnxd/engine/engine.h"

namespace onnxd::cli {

int InspectCommand(int argc, char** argv) {
  if (argc < 1) {
    std::cerr << "usage: onnxd inspect MODEL.onnx\n";
    return 2;
  }
  auto info_or = InspectModelFile(argv[0]);
  if (!info_or.ok()) {
    std::cerr << "onnxd inspect: " << argv[0] << ": " << info_or.status().ToString() << "\n";
    return 1;
  }
  const ModelInfo& info = *info_or;
  std::cout << "model:     " << argv[0] << "\n";
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
  return 0;
}

}  // namespace onnxd::cli
