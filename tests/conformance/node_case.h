// One ONNX backend test case (DIR/model.onnx with DIR/test_data_set_*/input_*.pb and output_*.pb)
// run through the engine and compared with its expected outputs: shared by the CPU node suite
// (conformance/node_suite_main.cc) and the CUDA one (gpu/node_suite_cuda_main.cc).
#pragma once

#include <string>
#include <vector>

#include "onnxd/engine/engine.h"

namespace onnxd::testing {

bool PathExists(const std::string& path);

// The entries of `dir` (subdirectories only when `dirs_only`), sorted; empty when unreadable.
std::vector<std::string> ListDir(const std::string& dir, bool dirs_only);

// |actual - expected| <= atol + rtol * |expected| per output; `half_*` for float16 outputs when set
// (> 0), else the same as the others.
struct CaseTolerance {
  double rtol = 1e-3, atol = 1e-7;  // onnx's own runner
  double half_rtol = 0, half_atol = 0;
};

// Compiles DIR/model.onnx with `options`, runs every test data set through one session and compares.
// "" when the case passes, else why not ("<set>: run: ...", "<set>: output i ('name'): ...").
std::string RunNodeCase(const std::string& dir, const CompileOptions& options, const CaseTolerance& tolerance);

}  // namespace onnxd::testing
