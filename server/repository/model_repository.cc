#include "repository/model_repository.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "repository/instance_groups.h"

namespace onnxd::server {
namespace fs = std::filesystem;

namespace {

bool IsVersionName(const std::string& s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return s != "0" && s[0] != '0';
}

class ParseErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (text.empty()) text = "line " + std::to_string(line + 1) + ", column " + std::to_string(column + 1) + ": " + message;
  }
  void AddWarning(int, int, const std::string&) override {}
  std::string text;
};

}  // namespace

StatusOr<RepositoryModel> ScanModel(const std::string& root, const std::string& name) {
  RepositoryModel m;
  m.name = name;
  m.dir = root + "/" + name;
  std::error_code ec;
  if (!fs::is_directory(m.dir, ec)) return NotFound("model '" + name + "' is not in the repository " + root);
  for (const auto& e : fs::directory_iterator(m.dir, ec)) {
    std::string v = e.path().filename().string();
    if (e.is_directory(ec) && IsVersionName(v)) m.versions.push_back(std::stoll(v));
  }
  if (ec) return Unavailable("cannot read model folder " + m.dir + ": " + ec.message());
  std::sort(m.versions.begin(), m.versions.end());
  return m;
}

StatusOr<std::vector<RepositoryModel>> ScanRepository(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return InvalidArgument("model repository '" + root + "' is not a directory");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    std::string n = e.path().filename().string();
    if (!n.empty() && n[0] != '.' && e.is_directory(ec)) names.push_back(n);
  }
  if (ec) return Unavailable("cannot read model repository '" + root + "': " + ec.message());
  std::sort(names.begin(), names.end());
  std::vector<RepositoryModel> out;
  for (const auto& n : names) {
    auto m = ScanModel(root, n);
    if (m.ok()) out.push_back(std::move(m).value());
  }
  return out;
}

StatusOr<LoadedConfig> ReadModelConfig(const std::string& model_dir, const std::string& override_json) {
  LoadedConfig lc;
  if (!override_json.empty()) {
    google::protobuf::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = true;
    auto st = google::protobuf::util::JsonStringToMessage(override_json, &lc.config, opts);
    if (!st.ok()) return InvalidArgument("config override is not a valid model config: " + std::string(st.message()));
    lc.has_file = true;
    lc.explicit_max_batch_size = override_json.find("max_batch_size") != std::string::npos;
    return lc;
  }
  std::string path = model_dir + "/config.pbtxt";
  std::ifstream f(path);
  if (!f) return lc;
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  google::protobuf::TextFormat::Parser parser;
  ParseErrors errors;
  parser.RecordErrorsTo(&errors);
  // Triton's schema has more fields than onnxd reads; such fields are accepted and ignored.
  parser.AllowUnknownField(true);
  if (!parser.ParseFromString(text, &lc.config))
    return InvalidArgument("config.pbtxt: " + (errors.text.empty() ? std::string("does not parse") : errors.text));
  lc.has_file = true;
  lc.explicit_max_batch_size = text.find("max_batch_size") != std::string::npos;
  return lc;
}

std::vector<int64_t> SelectVersions(const inference::ModelConfig& config, const std::vector<int64_t>& available) {
  const auto& p = config.version_policy();
  if (p.has_all()) return available;
  if (p.has_specific()) {
    std::vector<int64_t> out;
    for (int64_t v : p.specific().versions())
      if (std::find(available.begin(), available.end(), v) != available.end()) out.push_back(v);
    std::sort(out.begin(), out.end());
    return out;
  }
  size_t n = p.has_latest() && p.latest().num_versions() > 0 ? p.latest().num_versions() : 1;
  n = std::min(n, available.size());
  return std::vector<int64_t>(available.end() - static_cast<std::ptrdiff_t>(n), available.end());
}

std::string ModelFilePath(const RepositoryModel& model, int64_t version, const inference::ModelConfig& config) {
  std::string file = config.default_model_filename().empty() ? "model.onnx" : config.default_model_filename();
  return model.dir + "/" + std::to_string(version) + "/" + file;
}

inference::DataType ConfigDataType(DataType t) {
  switch (t) {
    case DataType::kBool: return inference::TYPE_BOOL;
    case DataType::kUInt8: return inference::TYPE_UINT8;
    case DataType::kUInt16: return inference::TYPE_UINT16;
    case DataType::kUInt32: return inference::TYPE_UINT32;
    case DataType::kUInt64: return inference::TYPE_UINT64;
    case DataType::kInt8: return inference::TYPE_INT8;
    case DataType::kInt16: return inference::TYPE_INT16;
    case DataType::kInt32: return inference::TYPE_INT32;
    case DataType::kInt64: return inference::TYPE_INT64;
    case DataType::kFloat16: return inference::TYPE_FP16;
    case DataType::kFloat: return inference::TYPE_FP32;
    case DataType::kDouble: return inference::TYPE_FP64;
    case DataType::kString: return inference::TYPE_STRING;
    case DataType::kBFloat16: return inference::TYPE_BF16;
    default: return inference::TYPE_INVALID;
  }
}

namespace {

bool FirstDimDynamic(const IoSpec& s) {
  return s.type.kind != ValueKind::kTensor || (s.type.has_shape && !s.type.dims.empty() && s.type.dims[0] < 0);
}

// The config's view of a tensor's dims: without the batch dim when the model batches.
std::vector<int64_t> ConfigDims(const IoSpec& s, bool batching) {
  if (s.type.kind != ValueKind::kTensor) return {-1};
  std::vector<int64_t> d = s.type.has_shape ? s.type.dims : std::vector<int64_t>{-1};
  if (batching && !d.empty()) d.erase(d.begin());
  return d;
}

template <typename Entry>
Status CheckEntry(const Entry& e, const IoSpec& spec, bool batching, const char* kind) {
  const std::string where = std::string(kind) + " '" + e.name() + "' in the config";
  inference::DataType want = spec.type.kind == ValueKind::kTensor ? ConfigDataType(spec.type.elem_type)
                                                                  : inference::TYPE_STRING;
  if (e.data_type() != inference::TYPE_INVALID && e.data_type() != want)
    return InvalidArgument(where + " has data_type " + inference::DataType_Name(e.data_type()) + ", the model has " +
                           inference::DataType_Name(want));
  if (spec.type.kind == ValueKind::kTensor && spec.type.has_shape && e.dims_size() > 0 && !e.has_reshape()) {
    std::vector<int64_t> model_dims = ConfigDims(spec, batching);
    if (static_cast<size_t>(e.dims_size()) != model_dims.size())
      return InvalidArgument(where + " has " + std::to_string(e.dims_size()) + " dims, the model has " +
                             std::to_string(model_dims.size()) + (batching ? " (not counting the batch dim)" : ""));
    for (size_t i = 0; i < model_dims.size(); ++i) {
      if (model_dims[i] >= 0 && e.dims(static_cast<int>(i)) >= 0 && model_dims[i] != e.dims(static_cast<int>(i)))
        return InvalidArgument(where + " dim " + std::to_string(i) + " is " + std::to_string(e.dims(static_cast<int>(i))) +
                               ", the model has " + std::to_string(model_dims[i]));
    }
  }
  return Status::Ok();
}

}  // namespace

Status CompleteConfig(const CompiledModel& model, bool explicit_max_batch_size, int default_max_batch_size,
                      inference::ModelConfig* config) {
  if (config->platform().empty() && config->backend().empty()) config->set_platform("onnxruntime_onnx");
  if (!config->has_version_policy()) config->mutable_version_policy()->mutable_latest()->set_num_versions(1);
  if (config->max_batch_size() < 0) return InvalidArgument("max_batch_size must not be negative");
  if (!explicit_max_batch_size) {
    bool all_dynamic = !model.inputs().empty();
    for (const auto& s : model.inputs()) all_dynamic &= FirstDimDynamic(s);
    for (const auto& s : model.outputs()) all_dynamic &= FirstDimDynamic(s);
    config->set_max_batch_size(all_dynamic ? default_max_batch_size : 0);
  }
  const bool batching = config->max_batch_size() > 0;
  if (batching) {
    for (const auto& s : model.inputs())
      if (!FirstDimDynamic(s))
        return InvalidArgument("max_batch_size is " + std::to_string(config->max_batch_size()) + " but input '" +
                               s.name + "' has no dynamic first (batch) dim");
  }
  // Inputs: check the ones the config lists, add the ones it leaves out.
  for (const auto& e : config->input()) {
    int idx = model.InputIndex(e.name());
    if (idx < 0) return InvalidArgument("input '" + e.name() + "' in the config is not an input of the model");
    RETURN_IF_ERROR(CheckEntry(e, model.inputs()[idx], batching, "input"));
  }
  for (const auto& e : config->output()) {
    int idx = model.OutputIndex(e.name());
    if (idx < 0) return InvalidArgument("output '" + e.name() + "' in the config is not an output of the model");
    RETURN_IF_ERROR(CheckEntry(e, model.outputs()[idx], batching, "output"));
  }
  for (auto& e : *config->mutable_input()) {
    const IoSpec& s = model.inputs()[model.InputIndex(e.name())];
    if (e.data_type() == inference::TYPE_INVALID) e.set_data_type(ConfigDataType(s.type.elem_type));
    if (e.dims_size() == 0)
      for (int64_t d : ConfigDims(s, batching)) e.add_dims(d);
  }
  for (const auto& s : model.inputs()) {
    bool listed = false;
    for (const auto& e : config->input()) listed |= e.name() == s.name;
    if (listed) continue;
    auto* e = config->add_input();
    e->set_name(s.name);
    e->set_data_type(s.type.kind == ValueKind::kTensor ? ConfigDataType(s.type.elem_type) : inference::TYPE_STRING);
    for (int64_t d : ConfigDims(s, batching)) e->add_dims(d);
  }
  for (auto& e : *config->mutable_output()) {
    const IoSpec& s = model.outputs()[model.OutputIndex(e.name())];
    if (e.data_type() == inference::TYPE_INVALID)
      e.set_data_type(s.type.kind == ValueKind::kTensor ? ConfigDataType(s.type.elem_type) : inference::TYPE_STRING);
    if (e.dims_size() == 0)
      for (int64_t d : ConfigDims(s, batching)) e.add_dims(d);
  }
  for (const auto& s : model.outputs()) {
    bool listed = false;
    for (const auto& e : config->output()) listed |= e.name() == s.name;
    if (listed) continue;
    auto* e = config->add_output();
    e->set_name(s.name);
    e->set_data_type(s.type.kind == ValueKind::kTensor ? ConfigDataType(s.type.elem_type) : inference::TYPE_STRING);
    for (int64_t d : ConfigDims(s, batching)) e->add_dims(d);
  }
  // Instances: the default group, each group's count and, for KIND_GPU (or the default and
  // KIND_AUTO, which become KIND_GPU for a model compiled for CUDA), its GPUs. The CUDA runtime is
  // asked only then: models whose groups are all KIND_CPU never touch it.
  return CompleteInstanceGroups(model.placement().target,
                                NeedsGpuProbe(*config) ? GpuInventory::Probe() : GpuInventory(), config);
}

}  // namespace onnxd::server
