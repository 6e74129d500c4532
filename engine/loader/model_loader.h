// Parses an ONNX file into a normalised ModelProto the compiler consumes:
//  - the protobuf is parsed with size limits and checked for the structure the engine relies on;
//  - external tensor data is read into raw_data (paths confined to the model's folder);
//  - calls of model-local functions are inlined, with attribute references resolved.
// Every problem is a Status naming what is wrong; nothing here aborts on bad input.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "onnx/onnx-ml.pb.h"
#include "onnxd/engine/status.h"

namespace onnxd::engine {

struct LoadedModel {
  onnx::ModelProto proto;
  std::map<std::string, int64_t> opsets;  // "" for ai.onnx
  std::string base_dir;
};

StatusOr<std::unique_ptr<LoadedModel>> LoadModelFile(const std::string& path);
StatusOr<std::unique_ptr<LoadedModel>> LoadModelBytes(const std::string& bytes, const std::string& base_dir);

// Only parses (no external data, no inlining): for inspection.
StatusOr<std::unique_ptr<onnx::ModelProto>> ParseModelBytes(const std::string& bytes);

// Canonical domain: "" and "ai.onnx" are the same.
inline std::string CanonicalDomain(const std::string& d) { return d == "ai.onnx" ? std::string() : d; }

}  // namespace onnxd::engine
