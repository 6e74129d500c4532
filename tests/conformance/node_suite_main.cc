// Runs ONNX backend test cases (onnx/backend/test/data/<suite>/<case>/model.onnx with
// test_data_set_*/input_*.pb and output_*.pb) through the engine and compares with the expected
// outputs (rtol 1e-3, atol 1e-7, as onnx's own runner). Each case runs in a child process, so a
// crash or hang in one case is reported as that case's failure and the run goes on.
//
//   onnxd_node_suite --data DIR [--filter TEXT] [--pass-list FILE] [--write-pass-list FILE]
//                    [--failures FILE] [--verbose] [--timeout SECS] [--min-percent P]
//
// With --pass-list, exits 1 when a listed case does not pass (the CI gate).
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "loader/tensor_proto.h"
#include "onnx/onnx-ml.pb.h"
#include "onnxd/engine/engine.h"
#include "value_compare.h"

namespace {

bool Exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

std::vector<std::string> ListDir(const std::string& dir, bool dirs_only) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
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

// Runs one case in this process; returns "" on pass, else the reason.
std::string RunCase(const std::string& dir) {
  onnx::ModelProto proto;
  {
    std::ifstream f(dir + "/model.onnx", std::ios::binary);
    if (!proto.ParseFromIstream(&f)) return "model.onnx does not parse";
  }
  onnxd::Engine engine;
  auto model = engine.CompileFile(dir + "/model.onnx");
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
    std::vector<onnxd::Value> inputs;
    for (size_t i = 0; Exists(base + "input_" + std::to_string(i) + ".pb"); ++i) {
      const onnx::TypeProto* type = i < graph_inputs.size() ? &graph_inputs[i]->type() : nullptr;
      auto v = onnxd::engine::ReadValueFile(base + "input_" + std::to_string(i) + ".pb", type);
      if (!v.ok()) return ds + ": " + v.status().ToString();
      inputs.push_back(std::move(v).value());
    }
    // Cases may leave trailing optional inputs out.
    std::vector<onnxd::Value> outputs;
    std::vector<onnxd::Value> run_inputs = inputs;
    const auto& specs = (*model)->inputs();
    if (run_inputs.size() < specs.size()) run_inputs.resize(specs.size());
    onnxd::Status st = session->Run(run_inputs, &outputs);
    if (!st.ok()) return ds + ": run: " + st.ToString();
    for (int i = 0; Exists(base + "output_" + std::to_string(i) + ".pb"); ++i) {
      const onnx::TypeProto* type = i < proto.graph().output_size() ? &proto.graph().output(i).type() : nullptr;
      auto e = onnxd::engine::ReadValueFile(base + "output_" + std::to_string(i) + ".pb", type);
      if (!e.ok()) return ds + ": expected output " + std::to_string(i) + ": " + e.status().ToString();
      if (i >= static_cast<int>(outputs.size())) return ds + ": missing output " + std::to_string(i);
      std::string diff = onnxd::testing::CompareValues(outputs[i], *e, 1e-3, 1e-7);
      if (!diff.empty()) return ds + ": output " + std::to_string(i) + " ('" + proto.graph().output(i).name() + "'): " + diff;
    }
  }
  if (sets == 0) return "no test data sets";
  return "";
}

std::string RunIsolated(const std::string& dir, int timeout) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(static_cast<unsigned>(timeout));
    std::string r = RunCase(dir);
    if (write(fds[1], r.data(), r.size()) < 0) _exit(3);
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::string result;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) result.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    return sig == SIGALRM ? "timed out after " + std::to_string(timeout) + " s"
                          : std::string("crashed with signal ") + strsignal(sig);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0) return "child exited with " + std::to_string(WEXITSTATUS(status));
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data, filter, pass_list, write_pass_list, failures;
  bool verbose = false;
  double min_percent = 0;
  int timeout = 60;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--data") data = next();
    else if (a == "--filter") filter = next();
    else if (a == "--pass-list") pass_list = next();
    else if (a == "--write-pass-list") write_pass_list = next();
    else if (a == "--failures") failures = next();
    else if (a == "--timeout") timeout = std::stoi(next());
    else if (a == "--min-percent") min_percent = std::stod(next());
    else if (a == "--verbose" || a == "-v") verbose = true;
    else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  if (data.empty()) {
    std::cerr << "usage: onnxd_node_suite --data DIR [--filter TEXT] [--pass-list FILE] [--write-pass-list FILE]"
                 " [--failures FILE] [--verbose]\n";
    return 2;
  }
  std::set<std::string> required;
  if (!pass_list.empty()) {
    std::ifstream f(pass_list);
    if (!f) {
      std::cerr << "cannot read pass list " << pass_list << "\n";
      return 2;
    }
    std::string line;
    while (std::getline(f, line))
      if (!line.empty() && line[0] != '#') required.insert(line);
  }
  std::vector<std::string> cases;
  for (const auto& c : ListDir(data, true))
    if (Exists(data + "/" + c + "/model.onnx") && (filter.empty() || c.find(filter) != std::string::npos))
      cases.push_back(c);

  int passed = 0;
  std::vector<std::string> pass_names;
  std::vector<std::pair<std::string, std::string>> failed;
  for (const auto& c : cases) {
    std::string r = RunIsolated(data + "/" + c, timeout);
    if (r.empty()) {
      ++passed;
      pass_names.push_back(c);
      if (verbose) std::cout << "PASS " << c << "\n";
    } else {
      failed.emplace_back(c, r);
      if (verbose) std::cout << "FAIL " << c << ": " << r << "\n";
    }
  }
  int regressions = 0;
  for (const auto& [c, why] : failed) {
    if (required.count(c)) {
      std::cout << "REGRESSION " << c << ": " << why << "\n";
      ++regressions;
    }
  }
  for (const auto& r : required) {
    if (std::find(cases.begin(), cases.end(), r) == cases.end() && filter.empty()) {
      std::cout << "MISSING " << r << " (listed as passing, not found in " << data << ")\n";
      ++regressions;
    }
  }
  if (!write_pass_list.empty()) {
    std::ofstream f(write_pass_list);
    for (const auto& c : pass_names) f << c << "\n";
  }
  if (!failures.empty()) {
    std::ofstream f(failures);
    for (const auto& [c, why] : failed) f << c << "\t" << why << "\n";
  }
  double pct = cases.empty() ? 0 : 100.0 * passed / static_cast<double>(cases.size());
  std::printf("%d of %zu node cases pass (%.1f%%)\n", passed, cases.size(), pct);
  if (regressions > 0) {
    std::printf("%d cases on the pass list do not pass\n", regressions);
    return 1;
  }
  if (pct < min_percent) {
    std::printf("below the required %.1f%%\n", min_percent);
    return 1;
  }
  return 0;
}
