#include "node_case.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "loader/tensor_proto.h"
#include "onnx/onnx-ml.pb.h"
#include "value_compare.h"

namespace onnxd::testing {

bool PathExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::vector<std::string> ListDir(const std::string& dir, bool dirs_only) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    if (dirs_only && (stat((dir + "/" + n).c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) continue;
    out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string RunNodeCase(const std::string& dir, const CompileOptions& options, const CaseTolerance& tolerance) {
  onnx::ModelProto proto;
  {
    std::ifstream f(dir + "/model.onnx", std::ios::binary);
    if (!proto.ParseFromIstream(&f)) return "model.onnx does not parse";
  }
  Engine engine;
  auto model = engine.CompileFile(dir + "/model.onnx", options);
  if (!model.ok()) return "compile: " + model.status().ToString();
  std::set<std::string> inits;
  for (const auto& t : proto.graph().initializer()) inits.insert(t.name());
  std::vector<const onnx::ValueInfoProto*> graph_inputs;
  for (const auto& i : proto.graph().input())
    if (!inits.count(i.name())) graph_inputs.push_back(&i);

  auto session = (*model)->CreateSession();
  int sets = 0;
  for (const std::string& ds : ListDir(dir, true)) {
    if (ds.rfind("test_data_set_", 0) != 0) continue;
    ++sets;
    const std::string base = dir + "/" + ds + "/";
    std::vector<Value> inputs;
    for (size_t i = 0; PathExists(base + "input_" + std::to_string(i) + ".pb"); ++i) {
      const onnx::TypeProto* type = i < graph_inputs.size() ? &graph_inputs[i]->type() : nullptr;
      auto v = engine::ReadValueFile(base + "input_" + std::to_string(i) + ".pb", type);
      if (!v.ok()) return ds + ": " + v.status().ToString();
      inputs.push_back(std::move(v).value());
    }
    // Cases may leave trailing optional inputs out.
    if (inputs.size() < (*model)->inputs().size()) inputs.resize((*model)->inputs().size());
    std::vector<Value> outputs;
    Status st = session->Run(inputs, &outputs);
    if (!st.ok()) return ds + ": run: " + st.ToString();
    for (int i = 0; PathExists(base + "output_" + std::to_string(i) + ".pb"); ++i) {
      const onnx::TypeProto* type = i < proto.graph().output_size() ? &proto.graph().output(i).type() : nullptr;
      auto e = engine::ReadValueFile(base + "output_" + std::to_string(i) + ".pb", type);
      if (!e.ok()) return ds + ": expected output " + std::to_string(i) + ": " + e.status().ToString();
      if (i >= static_cast<int>(outputs.size())) return ds + ": missing output " + std::to_string(i);
      const bool half = tolerance.half_rtol > 0 && outputs[i].is_tensor() &&
                        outputs[i].tensor().dtype() == DataType::kFloat16;
      std::string diff = CompareValues(outputs[i], *e, half ? tolerance.half_rtol : tolerance.rtol,
                                       half ? tolerance.half_atol : tolerance.atol);
      if (!diff.empty())
        return ds + ": output " + std::to_string(i) + " ('" + proto.graph().output(i).name() + "'): " + diff;
    }
  }
  if (sets == 0) return "no test data sets";
  return "";
}

}  // namespace onnxd::testing
