// onnxd: the daemon and its subcommands.
//
//   onnxd run MODEL.onnx --input NAME=FILE | --input-dir DIR [--output-dir DIR]
//   onnxd inspect MODEL.onnx
//   onnxd bench MODEL.onnx [--threads N] [--batch B] [--iterations K]
#include <cstring>
#include <iostream>
#include <string>

#include "cli/commands.h"

namespace {

void Usage() {
  std::cout << "usage:\n"
               "  onnxd run MODEL.onnx (--input NAME=FILE ... | --input-dir DIR) [--output-dir DIR]\n"
               "      run a model once on TensorProto (.pb) or NumPy (.npy) inputs and print the outputs\n"
               "  onnxd inspect MODEL.onnx\n"
               "      inputs, outputs, opsets, op histogram, parameter count, unsupported ops\n"
               "  onnxd bench MODEL.onnx [--threads N] [--batch B] [--iterations K] [--warmup W] [--shape NAME=AxB]\n"
               "      in-process latency (median, p90, p99) and throughput on random inputs\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    Usage();
    return argc < 2 ? 2 : 0;
  }
  std::string cmd = argv[1];
  if (cmd == "run") return onnxd::cli::RunCommand(argc - 2, argv + 2);
  if (cmd == "inspect") return onnxd::cli::InspectCommand(argc - 2, argv + 2);
  if (cmd == "bench") return onnxd::cli::BenchCommand(argc - 2, argv + 2);
  std::cerr << "onnxd: unknown command '" << cmd << "'\n";
  Usage();
  return 2;
}
