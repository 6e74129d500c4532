#include <sys/stat.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "onnxd/engine/engine.h"
#include "onnxd/engine/value_io.h"

namespace onnxd::cli {
namespace {

bool FileExists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

int Fail(const std::string& msg) {
  std::cerr << "onnxd run: " << msg << "\n";
  return 1;
}

}  // namespace

int RunCommand(int argc, char** argv) {
  std::string model_path, input_dir, output_dir;
  std::vector<std::pair<std::string, std::string>> named;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--input") {
      std::string spec = next();
      auto eq = spec.find('=');
      if (eq == std::string::npos) return Fail("--input wants NAME=FILE, got '" + spec + "'");
      named.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
    } else if (a == "--input-dir") {
      input_dir = next();
    } else if (a == "--output-dir") {
      output_dir = next();
    } else if (!a.empty() && a[0] == '-') {
      return Fail("unknown option " + a);
    } else if (model_path.empty()) {
      model_path = a;
    } else {
      return Fail("unexpected argument " + a);
    }
  }
  if (model_path.empty())
    return Fail("usage: onnxd run MODEL.onnx (--input NAME=FILE ... | --input-dir DIR) [--output-dir DIR]");

  Engine engine;
  auto compiled = engine.CompileFile(model_path);
  if (!compiled.ok()) return Fail(model_path + ": " + compiled.status().ToString());
  const CompiledModel& model = **compiled;
  std::vector<Value> inputs(model.inputs().size());
  std::vector<bool> given(inputs.size(), false);
  if (!input_dir.empty()) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::string path = input_dir + "/input_" + std::to_string(i) + ".pb";
      if (!FileExists(path)) return Fail("missing " + path + " for input '" + model.inputs()[i].name + "'");
      auto v = ReadValueFile(path, &model.inputs()[i].type);
      if (!v.ok()) return Fail(v.status().ToString());
      inputs[i] = std::move(v).value();
      given[i] = true;
    }
  }
  for (const auto& [name, file] : named) {
    int idx = model.InputIndex(name);
    if (idx < 0) return Fail("the model has no input named '" + name + "'");
    auto v = ReadValueFile(file, &model.inputs()[idx].type);
    if (!v.ok()) return Fail(v.status().ToString());
    inputs[idx] = std::move(v).value();
    given[idx] = true;
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!given[i] && model.inputs()[i].type.kind != ValueKind::kNone)
      return Fail("no value for input '" + model.inputs()[i].name + "' (use --input NAME=FILE or --input-dir)");
  }
  auto session = model.CreateSession();
  std::vector<Value> outputs;
  Status st = session->Run(inputs, &outputs);
  if (!st.ok()) return Fail(st.ToString());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string& name = model.outputs()[i].name;
    std::cout << name << ": " << outputs[i].DebugString(64) << "\n";
    if (!output_dir.empty()) {
      mkdir(output_dir.c_str(), 0755);
      Status w = WriteValueFile(outputs[i], name, output_dir + "/output_" + std::to_string(i) + ".pb");
      if (!w.ok()) return Fail(w.ToString());
    }
  }
  return 0;
}

}  // namespace onnxd::cli
