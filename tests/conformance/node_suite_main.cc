// Runs ONNX backend test cases (onnx/backend/test/data/<suite>/<case>/model.onnx with
// test_data_set_*/input_*.pb and output_*.pb) through the engine and compares with the expected
// outputs (rtol 1e-3, atol 1e-7, as onnx's own runner). Each case runs in a child process, so a
// crash or hang in one case is reported as that case's failure and the run goes on. The node,
// simple, pytorch-converted and pytorch-operator suites share this layout.
//
//   onnxd_node_suite --data DIR [--filter TEXT] [--pass-list FILE] [--write-pass-list FILE]
//                    [--failures FILE] [--write-failures FILE.md] [--suite NAME] [--verbose]
//                    [--timeout SECS] [--min-percent P]
//   onnxd_node_suite --data DIR --pass-list FILE --failure-list FILE.md --check-lists
//
// With --pass-list, exits 1 when a listed case does not pass (the CI gate). --write-failures
// writes the Markdown list of every case that does not pass with its reason (out of scope /
// not implemented / fails); --check-lists runs nothing and exits 1 unless every case of DIR is
// in exactly one of the pass list and that failure list (nothing skipped silently).
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

#include "node_case.h"

namespace {

using onnxd::testing::ListDir;

// Runs one case in this process; returns "" on pass, else the reason.
std::string RunCase(const std::string& dir) {
  return onnxd::testing::RunNodeCase(dir, onnxd::CompileOptions(), onnxd::testing::CaseTolerance());
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

// Ops whose outputs are random draws: their cases compare values, so they cannot pass.
bool IsRandomOp(const std::string& op) {
  return op == "Bernoulli" || op == "RandomUniform" || op == "RandomUniformLike" || op == "RandomNormal" ||
         op == "RandomNormalLike" || op == "Multinomial";
}

// What a bare difference does not say, for the few cases that fail on purpose.
const char* KnownCause(const std::string& case_name) {
  if (case_name == "test_dft_inverse" || case_name == "test_dft_inverse_opset19")
    return "the expected output carries float32 rounding noise (1.9e-07 where the exact value is 0) above the "
           "suite's atol of 1e-07; onnxd computes in double and onnxruntime 1.32 fails this case too";
  return nullptr;
}

// One line of why a case does not pass, from its failure message: "out of scope: ...",
// "not implemented: ..." or "fails: ...".
std::string Classify(const std::string& why) {
  const std::string marker = "does not support yet: ";
  auto m = why.find(marker);
  if (m != std::string::npos) {
    // "domain:Op (where); domain:Op (where)"
    std::set<std::string> training, random, missing;
    std::string list = why.substr(m + marker.size());
    size_t pos = 0;
    while (pos < list.size()) {
      size_t end = list.find("; ", pos);
      if (end == std::string::npos) end = list.size();
      std::string item = list.substr(pos, end - pos);
      item = item.substr(0, item.find(' '));
      const auto colon = item.rfind(':');
      const std::string domain = colon == std::string::npos ? "ai.onnx" : item.substr(0, colon);
      const std::string op = colon == std::string::npos ? item : item.substr(colon + 1);
      if (domain == "ai.onnx.preview.training") training.insert(op);
      else if (IsRandomOp(op)) random.insert(op);
      else missing.insert(domain == "ai.onnx" ? op : domain + ":" + op);
      pos = end + 2;
    }
    auto join = [](const std::set<std::string>& v) {
      std::string s;
      for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
      return s;
    };
    if (!missing.empty()) return "not implemented: " + join(missing);
    if (!training.empty()) return "out of scope: training op " + join(training) + " (not implemented)";
    if (!random.empty()) return "out of scope: random op " + join(random) + " (not implemented; its values cannot match)";
  }
  // A kernel that exists but refuses this input (ImageDecoder on JPEG, ...).
  const std::string unimpl = "UNIMPLEMENTED: node '";
  m = why.find(unimpl);
  if (m != std::string::npos) {
    const auto op_start = why.find("' (", m);
    const auto op_end = why.find("): ", op_start == std::string::npos ? m : op_start);
    if (op_start != std::string::npos && op_end != std::string::npos)
      return "not implemented: " + why.substr(op_start + 3, op_end - op_start - 3) + ": " + why.substr(op_end + 3);
  }
  if (why.find("training_mode = true") != std::string::npos)
    return "out of scope: training-mode Dropout (random mask), values cannot match";
  std::string line = why.substr(0, why.find('\n'));
  if (line.size() > 240) line = line.substr(0, 240) + "...";
  return "fails: " + line;
}

std::string MarkdownCell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';  // an escaped pipe stays inside the table cell
    out += c;
  }
  return out;
}

// Case names listed in a failure file written by --write-failures (rows "| `case` | reason |").
std::set<std::string> ReadFailureList(const std::string& path, bool* ok) {
  std::set<std::string> names;
  std::ifstream f(path);
  *ok = static_cast<bool>(f);
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("| `", 0) != 0) continue;
    const auto end = line.find('`', 3);
    if (end != std::string::npos) names.insert(line.substr(3, end - 3));
  }
  return names;
}

void WriteFailureMarkdown(const std::string& path, const std::string& suite, size_t total, int passed,
                          const std::vector<std::pair<std::string, std::string>>& failed) {
  std::map<std::string, int> kinds;
  for (const auto& [c, why] : failed) kinds[Classify(why).substr(0, Classify(why).find(':'))]++;
  std::ofstream f(path);
  f << "# " << suite << " cases that do not pass\n\n";
  f << "Generated by `tests/conformance/update_lists.sh` (the runner's --write-failures); do not edit by hand.\n";
  f << "CTest checks that this file and the pass list together name every case of the suite.\n\n";
  f << passed << " of " << total << " cases pass; " << failed.size() << " do not";
  if (!kinds.empty()) {
    f << " (";
    bool first = true;
    for (const auto& [k, n] : kinds) {
      f << (first ? "" : ", ") << k << ": " << n;
      first = false;
    }
    f << ")";
  }
  f << ".\n\n";
  if (failed.empty()) return;
  f << "| case | reason |\n|---|---|\n";
  for (const auto& [c, why] : failed) {
    std::string reason = Classify(why);
    if (const char* cause = KnownCause(c)) reason += " (" + std::string(cause) + ")";
    f << "| `" << c << "` | " << MarkdownCell(reason) << " |\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string data, filter, pass_list, write_pass_list, failures, write_failures, failure_list, suite;
  bool verbose = false, check_lists = false;
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
    else if (a == "--write-failures") write_failures = next();
    else if (a == "--failure-list") failure_list = next();
    else if (a == "--suite") suite = next();
    else if (a == "--check-lists") check_lists = true;
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
    if (onnxd::testing::PathExists(data + "/" + c + "/model.onnx") && (filter.empty() || c.find(filter) != std::string::npos))
      cases.push_back(c);

  if (suite.empty()) {
    std::string d = data;
    while (!d.empty() && d.back() == '/') d.pop_back();
    suite = d.substr(d.find_last_of('/') + 1);
  }
  if (check_lists) {
    bool ok = false;
    std::set<std::string> failing = ReadFailureList(failure_list, &ok);
    if (!ok || pass_list.empty()) {
      std::cerr << "--check-lists needs --pass-list and a readable --failure-list\n";
      return 2;
    }
    int problems = 0;
    for (const auto& c : cases) {
      const bool p = required.count(c) > 0, f = failing.count(c) > 0;
      if (p == f) {
        std::cout << (p ? "BOTH " : "UNLISTED ") << c << (p ? ": on the pass list and the failure list\n"
                                                            : ": on neither the pass list nor the failure list\n");
        ++problems;
      }
    }
    for (const std::set<std::string>* list : {&required, &failing})
      for (const auto& c : *list)
        if (!std::binary_search(cases.begin(), cases.end(), c)) {
          std::cout << "UNKNOWN " << c << ": listed but not a case of " << data << "\n";
          ++problems;
        }
    std::printf("%zu %s cases: %zu on the pass list, %zu on the failure list, %d problems\n", cases.size(),
                suite.c_str(), required.size(), failing.size(), problems);
    return problems == 0 ? 0 : 1;
  }

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
  if (!write_failures.empty()) WriteFailureMarkdown(write_failures, suite, cases.size(), passed, failed);
  double pct = cases.empty() ? 0 : 100.0 * passed / static_cast<double>(cases.size());
  std::printf("%d of %zu %s cases pass (%.1f%%)\n", passed, cases.size(), suite.c_str(), pct);
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
