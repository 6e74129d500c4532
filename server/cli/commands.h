// onnxd's subcommands besides the daemon itself. Each returns the process exit status.
#pragma once

namespace onnxd::cli {

// onnxd run MODEL.onnx (--input NAME=FILE ... | --input-dir DIR) [--output-dir DIR]
int RunCommand(int argc, char** argv);
// onnxd inspect MODEL.onnx [--device cpu|cuda]
int InspectCommand(int argc, char** argv);
// onnxd bench MODEL.onnx [--threads N] [--batch B] [--iterations K] [--warmup W] [--shape NAME=AxBxC]
int BenchCommand(int argc, char** argv);

}  // namespace onnxd::cli
