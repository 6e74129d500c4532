// onnxd_gpu_node_suite: the ONNX node suite on the CUDA session (issue 8, point 4): every case
// that passes on the CPU (the CPU pass list) and places at least one node on the GPU must pass on
// CUDA too, with the CPU suite's tolerances. Cases whose plan keeps every node on the CPU are
// counted and skipped (they run the CPU kernels, which the CPU suite covers).
//
//   onnxd_gpu_node_suite --data DIR [--pass-list FILE] [--filter TEXT] [--verbose] [--plan-only]
//                        [--failures FILE]
//
// --plan-only places the cases without running them (no GPU needed): how many reach the GPU.
// Cases run in child processes, many to a child (one CUDA context for them all); a crash, a hang
// (--timeout seconds a case) or a failed run ends its child, so it is one failure, not the end
// of the run. Exit 77 without a device (unless --plan-only), 1 when a case fails.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "node_case.h"

namespace {

// The case directories of `dir`.
std::vector<std::string> ListCases(const std::string& dir) {
  std::vector<std::string> out;
  for (const std::string& n : onnxd::testing::ListDir(dir, true))
    if (onnxd::testing::PathExists(dir + "/" + n + "/model.onnx")) out.push_back(n);
  return out;
}

// Compiles the case for CUDA; sets `gpu_nodes` to the nodes placed on the GPU. "" or the reason.
std::string Plan(const std::string& dir, int* gpu_nodes, std::string* summary) {
  onnxd::Engine engine;
  onnxd::CompileOptions options;
  options.device = onnxd::Device::kCuda;
  auto model = engine.CompileFile(dir + "/model.onnx", options);
  if (!model.ok()) return "compile: " + model.status().ToString();
  *gpu_nodes = 0;
  for (const auto& n : (*model)->placement().nodes) *gpu_nodes += n.device == onnxd::Device::kCuda;
  *summary = (*model)->placement().summary;
  return "";
}

// The CPU suite's tolerances; fp16 outputs have their own.
std::string RunCase(const std::string& dir) {
  onnxd::CompileOptions options;
  options.device = onnxd::Device::kCuda;
  onnxd::testing::CaseTolerance tolerance;
  tolerance.half_rtol = 2e-3;
  tolerance.half_atol = 1e-3;
  return onnxd::testing::RunNodeCase(dir, options, tolerance);
}

// Runs cases[first..] in child processes and appends (case, result) to `results` ("" = pass).
// One child runs case after case in a single CUDA context (a fresh process and context per case
// costs about a second, several minutes over the suite); it reports each case on the pipe as it
// starts and ends, and exits after a case whose run failed, since a CUDA error can poison its
// context (a case that only computed wrong values does not end it).
// A crash or a timeout (SIGALRM) fails the case it happened in, and a new child goes on after it.
void RunIsolated(const std::string& data, const std::vector<std::string>& cases, int timeout,
                 const std::function<void(const std::string&, const std::string&)>& report) {
  size_t next = 0;
  while (next < cases.size()) {
    int fds[2];
    if (pipe(fds) != 0) {
      for (; next < cases.size(); ++next) report(cases[next], "pipe failed");
      return;
    }
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      FILE* out = fdopen(fds[1], "w");
      for (size_t i = next; i < cases.size(); ++i) {
        std::fprintf(out, "B%zu\n", i);
        std::fflush(out);
        alarm(static_cast<unsigned>(timeout));
        std::string r = RunCase(data + "/" + cases[i]);
        alarm(0);
        for (char& ch : r)
          if (ch == '\n' || ch == '\r') ch = ' ';
        std::fprintf(out, "R%zu\t%s\n", i, r.c_str());
        std::fflush(out);
        // A failed run may have left a sticky CUDA error in this context: go on in a fresh child.
        // A wrong value (a comparison failure) leaves the context sound: go on here.
        if (!r.empty() && r.find(": output ") == std::string::npos) break;
      }
      std::fclose(out);
      _exit(0);
    }
    close(fds[1]);
    FILE* in = fdopen(fds[0], "r");
    long started = -1;
    bool any = false;
    char* line = nullptr;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, in)) > 0) {
      std::string l(line, static_cast<size_t>(len));
      if (!l.empty() && l.back() == '\n') l.pop_back();
      if (l.empty()) continue;
      any = true;
      if (l[0] == 'B') {
        started = std::stol(l.substr(1));
      } else if (l[0] == 'R') {
        const size_t tab = l.find('\t');
        const size_t idx = std::stoul(l.substr(1, tab - 1));
        report(cases[idx], tab == std::string::npos ? "" : l.substr(tab + 1));
        started = -1;
        next = idx + 1;
      }
    }
    std::free(line);
    std::fclose(in);
    int status = 0;
    waitpid(pid, &status, 0);
    std::string why;
    if (WIFSIGNALED(status)) {
      why = WTERMSIG(status) == SIGALRM ? "timed out after " + std::to_string(timeout) + " s"
                                        : std::string("crashed with signal ") + strsignal(WTERMSIG(status));
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
      why = "child exited with " + std::to_string(WEXITSTATUS(status));
    } else {
      why = "child ended without a result";
    }
    if (started >= 0) {
      report(cases[static_cast<size_t>(started)], why);
      next = static_cast<size_t>(started) + 1;
    } else if (!any) {
      report(cases[next], why);  // died before its first case: do not retry it forever
      ++next;
    }
  }
}

// "" when a CUDA device is usable, else why; asked in a child process so that this one never
// initialises CUDA (RunIsolated forks the processes that run the cases).
std::string CudaProbeIsolated() {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string why;
    const bool ok = onnxd::Engine::CudaAvailable(&why);
    const std::string r = ok ? "" : (why.empty() ? std::string("unavailable") : why);
    if (write(fds[1], r.data(), r.size()) < 0) _exit(3);
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::string result;
  char buf[1024];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) result.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "the CUDA probe process failed";
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data, pass_list, filter, failures;
  bool verbose = false, plan_only = false;
  int timeout = 60;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--data") data = next();
    else if (a == "--pass-list") pass_list = next();
    else if (a == "--filter") filter = next();
    else if (a == "--failures") failures = next();
    else if (a == "--timeout") timeout = std::stoi(next());
    else if (a == "--verbose" || a == "-v") verbose = true;
    else if (a == "--plan-only") plan_only = true;
    else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  if (data.empty()) {
    std::cerr << "usage: onnxd_gpu_node_suite --data DIR [--pass-list FILE] [--filter TEXT] [--plan-only]\n";
    return 2;
  }
  std::set<std::string> cpu_passing;
  if (!pass_list.empty()) {
    std::ifstream f(pass_list);
    if (!f) {
      std::cerr << "cannot read " << pass_list << "\n";
      return 2;
    }
    for (std::string line; std::getline(f, line);)
      if (!line.empty()) cpu_passing.insert(line);
  }
  if (!plan_only) {
    // Probed in a child: CUDA initialised in this process would not work in the forked cases
    // (a child of a process that initialised CUDA gets cudaErrorInitializationError).
    std::string why = CudaProbeIsolated();
    if (!why.empty()) {
      std::printf("onnxd_gpu_node_suite: SKIPPED, no CUDA device: %s\n", why.c_str());
      return 77;
    }
  }
  int considered = 0, cpu_only = 0, passed = 0;
  std::vector<std::pair<std::string, std::string>> failed;
  std::vector<std::string> to_run;
  for (const auto& c : ListCases(data)) {
    if (!filter.empty() && c.find(filter) == std::string::npos) continue;
    if (!pass_list.empty() && !cpu_passing.count(c)) continue;
    ++considered;
    int gpu_nodes = 0;
    std::string summary;
    std::string r = Plan(data + "/" + c, &gpu_nodes, &summary);
    if (!r.empty()) {
      failed.emplace_back(c, r);
      continue;
    }
    if (gpu_nodes == 0) {
      ++cpu_only;
      continue;
    }
    if (plan_only) {
      if (verbose) std::cout << "GPU  " << c << ": " << summary << "\n";
      ++passed;
      continue;
    }
    to_run.push_back(c);
  }
  if (!plan_only) {
    RunIsolated(data, to_run, timeout, [&](const std::string& c, const std::string& r) {
      if (r.empty()) {
        ++passed;
        if (verbose) std::cout << "PASS " << c << "\n";
      } else {
        failed.emplace_back(c, r);
        std::cout << "FAIL " << c << ": " << r << "\n";
      }
      std::cout.flush();
    });
  }
  if (!failures.empty()) {
    std::ofstream f(failures);
    for (const auto& [c, why] : failed) f << c << "\t" << why << "\n";
  }
  std::printf("%d cases considered: %d keep every node on the CPU (skipped), %d place nodes on the GPU: "
              "%d %s, %zu fail\n",
              considered, cpu_only, considered - cpu_only, passed, plan_only ? "planned" : "pass", failed.size());
  return failed.empty() ? 0 : 1;
}
