// The model repository on disk, in Triton's layout:
//   <repo>/<model>/config.pbtxt               optional; protobuf text of inference.ModelConfig
//   <repo>/<model>/<version>/model.onnx       version = a positive integer folder name
// This module only reads the file system; loading is lifecycle/'s job.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model_config.pb.h"
#include "onnxd/engine/engine.h"
#include "onnxd/engine/status.h"

namespace onnxd::server {

struct RepositoryModel {
  std::string name;
  std::string dir;
  std::vector<int64_t> versions;  // ascending
};

// The models (sub-folders) of the repository; hidden folders are skipped.
StatusOr<std::vector<RepositoryModel>> ScanRepository(const std::string& root);
StatusOr<RepositoryModel> ScanModel(const std::string& root, const std::string& name);

// Reads <model_dir>/config.pbtxt (or parses `override_json` when given, as the load API's "config"
// parameter). `explicit_batching` tells whether max_batch_size was written by the user.
struct LoadedConfig {
  inference::ModelConfig config;
  bool has_file = false;
  bool explicit_max_batch_size = false;
};
StatusOr<LoadedConfig> ReadModelConfig(const std::string& model_dir, const std::string& override_json);

// Versions to serve under the config's version_policy (default: latest 1).
std::vector<int64_t> SelectVersions(const inference::ModelConfig& config, const std::vector<int64_t>& available);

// Path of the model file of a version (default_model_filename or model.onnx).
std::string ModelFilePath(const RepositoryModel& model, int64_t version, const inference::ModelConfig& config);

// Fills what the config leaves out from the compiled model (inputs, outputs, their types and dims,
// max_batch_size when every input and output has a dynamic first dim, the instance groups as
// instance_groups.h says, against the GPUs this process sees) and checks what it states against
// the model. Errors name the config entry that disagrees.
Status CompleteConfig(const CompiledModel& model, bool explicit_max_batch_size, int default_max_batch_size,
                      inference::ModelConfig* config);

inference::DataType ConfigDataType(DataType t);

}  // namespace onnxd::server
