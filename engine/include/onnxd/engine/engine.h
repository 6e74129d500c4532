// The engine's public API: compile once, run many (ARCHITECTURE.md, "The seam").
//
//   Engine engine;                                        // one per process
//   auto model = engine.CompileFile("model.onnx", {});    // slow, thread-safe, off the request path
//   auto session = (*model)->CreateSession();             // one per worker, not thread-safe
//   session->Run(inputs, &outputs, {});                   // the request path
//
// A CompiledModel is immutable and shared by all sessions; a Session owns its memory plans and
// arena. Outputs returned by Run may point into the session's arena: they stay valid until the next
// Run on the same session or the session's destruction (copy them to keep them longer).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "onnxd/engine/status.h"
#include "onnxd/engine/tensor.h"

namespace onnxd {

namespace engine {
class ModelImpl;
class SessionImpl;
class ThreadPool;
struct LoadedModel;
}  // namespace engine

// Where a compiled model's sessions run.
enum class Device { kCpu, kCuda };

struct CompileOptions {
  bool constant_folding = true;
  // Graph rewrites (engine/passes/): BatchNormalization folded into Conv, fused activations.
  bool optimize = true;
  // kCuda: nodes with a CUDA kernel run on the GPU, the rest on the CPU with explicit copies
  // (CompiledModel::placement()). Compiling for kCuda needs no GPU (it is a plan); sessions do.
  Device device = Device::kCpu;
  // GEMMs on the GPU may use TF32 tensor cores (10-bit mantissa products, fp32 accumulation).
  bool allow_tf32 = false;
  // kCuda: float values the GPU holds are stored and computed in fp16 there (weights converted
  // once per session, values converted as they are copied in and out; fp32 accumulation in the
  // kernels). The host side, the CPU nodes and the API stay fp32.
  bool fp16 = false;
  // kCuda: a run whose input types and dims were seen before is captured once as a CUDA Graph and
  // replayed from then on (one launch instead of one per kernel). Only runs that need no host
  // work on their inputs' values are captured; the rest run node by node.
  bool cuda_graphs = true;
  // kCuda with CUDA Graphs: a tuning run (RunOptions::tune; the server's warm-up) captures its
  // signature's graph in each execution variant that applies (channels-last or NCHW convolutions;
  // cuDNN algorithms from its heuristics or measured by cudnnFind; with or without the fused
  // convolution / bias-GEMM calls), times replays of each and keeps the fastest; later signatures
  // take the variant tuned for their batch class (below 8, or 8 and up).
  bool cuda_autotune = true;
  // With device kCuda: when no node of the model gets a CUDA kernel (a scikit-learn tree ensemble,
  // say), compile it for the CPU instead (placement().target says which), without compiling twice.
  // For a GPU chosen by default rather than asked for (the server's models without a KIND_GPU group).
  bool cpu_when_no_cuda_node = false;
};

// Where each node of a compiled model runs, and the copies between host and device per run.
struct PlacementInfo {
  struct Node {
    std::string name;
    std::string op_type;
    Device device = Device::kCpu;
    std::string reason;  // why a node stays on the CPU when the target is kCuda
  };
  Device target = Device::kCpu;
  std::vector<Node> nodes;  // in execution order (constant-folded nodes are gone)
  int input_copies = 0;     // graph inputs copied to the device
  int internal_copies = 0;  // values crossing between CPU and GPU nodes
  int output_copies = 0;    // graph outputs copied back to the host
  int uploaded_constants = 0;  // weights copied to the device once per session
  int total_copies() const { return input_copies + internal_copies + output_copies; }
  std::string summary;      // one line for logs
  // Target kCuda: what the CUDA session fuses and folds (planner/cuda_fusions.h), one line:
  // "softmax chains 2, bias GEMMs 12, residual convolutions 0; transposes folded into GEMMs 8 of 8".
  std::string fusions;
};

// Time spent in each node of the top-level graph, summed over the runs that were given it
// (RunOptions::profile); indexed in execution order. Two clock reads a node; off by default.
struct NodeTiming {
  std::string name;
  std::string op_type;
  int64_t ns = 0;
  int64_t calls = 0;
};
struct RunProfile {
  std::vector<NodeTiming> nodes;
};

struct RunOptions {
  // Work not started by this time fails with DEADLINE_EXCEEDED.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // When set to true by another thread, the run stops at the next node with CANCELLED.
  const std::atomic<bool>* cancelled = nullptr;
  // Run every op on the calling thread, leaving the intra-op pool alone: for a server whose cores
  // are already busy with other runs, where splitting an op only adds thread switches.
  bool serial = false;
  // When set, each node's time is added to it (`onnxd bench --profile`).
  RunProfile* profile = nullptr;
  // CUDA sessions: when this run captures a CUDA Graph, pick its execution variant by timing each
  // (CompileOptions::cuda_autotune): a warm-up's run, tens of runs long.
  bool tune = false;
};

// What `onnxd inspect` shows; available without compiling.
struct ModelInfo {
  int64_t ir_version = 0;
  std::string producer_name;
  std::string producer_version;
  std::string domain;
  int64_t model_version = 0;
  std::string doc_string;
  std::string graph_name;
  std::map<std::string, int64_t> opsets;      // domain ("" = ai.onnx) -> version
  std::vector<IoSpec> inputs;                 // graph inputs that are not initializers
  std::vector<IoSpec> outputs;
  std::map<std::string, int> op_histogram;    // "Conv" or "ai.onnx.ml:ZipMap" -> count
  int64_t parameter_count = 0;                // elements in initializers
  std::vector<std::string> unsupported_ops;   // ops with no kernel in this engine
  std::vector<std::string> metadata;          // "key=value" from metadata_props
};

// Reads the model's header information; fails only when the file cannot be parsed.
StatusOr<ModelInfo> InspectModelFile(const std::string& path);

class Session;

class CompiledModel {
 public:
  ~CompiledModel();
  const std::vector<IoSpec>& inputs() const;
  const std::vector<IoSpec>& outputs() const;
  const ModelInfo& info() const;
  // Index of the input/output with this name, or -1.
  int InputIndex(const std::string& name) const;
  int OutputIndex(const std::string& name) const;
  const PlacementInfo& placement() const;
  // A session on the model's device. For kCuda without a usable GPU (or an onnxd built without
  // CUDA) the session's runs fail with UNAVAILABLE (Session::status says why); check
  // Engine::CudaAvailable first.
  std::unique_ptr<Session> CreateSession() const { return CreateSession(0); }
  // kCuda: a session on GPU `gpu`, a CUDA device ordinal as this process sees them (after
  // CUDA_VISIBLE_DEVICES; Engine::CudaDeviceCount). The model's constants are uploaded once per
  // GPU and shared by that GPU's sessions. An ordinal that does not exist gives a session whose
  // runs fail with INVALID_ARGUMENT naming it. Ignored for kCpu.
  std::unique_ptr<Session> CreateSession(int gpu) const;

 private:
  friend class Engine;
  friend class engine::SessionImpl;
  explicit CompiledModel(std::shared_ptr<engine::ModelImpl> impl);
  std::shared_ptr<engine::ModelImpl> impl_;
};

// Per-worker execution state. Not thread-safe: one thread runs a session at a time.
class Session {
 public:
  ~Session();
  // `inputs` in the order of CompiledModel::inputs(); `outputs` is resized to the outputs' count.
  Status Run(std::span<const Value> inputs, std::vector<Value>* outputs, const RunOptions& options = {});
  // Statistics for tests and benches.
  int64_t planned_arena_bytes() const;
  int cached_plans() const;
  // Host<->device copies the last Run made (CUDA sessions; 0 on the CPU).
  int last_run_copies() const;
  // True when the last Run replayed a captured CUDA Graph (CompileOptions::cuda_graphs).
  bool last_run_replayed_graph() const;
  // What the last node-by-node Run of a CUDA session did beyond its plan (zeros on the CPU); a
  // replayed graph repeats the run it was captured from.
  struct CudaRunStats {
    int moved_transposes = 0;  // Transposes that moved data (not folded into a MatMul's strides)
    int fused_softmax = 0;     // softmax chains run as one kernel
    int fused_layer_norm = 0;  // Add -> LayerNormalization run as one kernel
    int fallbacks = 0;         // GPU nodes whose case went to the CPU kernel at run time
    int own_depthwise = 0;     // depthwise convolutions our kernel computed (not cuDNN)
    int folded_scales = 0;     // Muls by a scalar folded into a view's scale (a GEMM's alpha)
    int flash_attention = 0;   // attention computed by the fused kernel (scores never stored)
  };
  CudaRunStats last_run_cuda_stats() const;
  // What the last tuning run chose and measured ("" when none has run): CUDA sessions.
  std::string last_tuning() const;
  // OK, or why every Run of this session fails: a kCuda session whose GPU could not be set up
  // (no GPU, a GPU ordinal that does not exist, no memory for the weights).
  Status status() const;

 private:
  friend class CompiledModel;
  explicit Session(std::unique_ptr<engine::SessionImpl> impl);
  std::unique_ptr<engine::SessionImpl> impl_;
};

class Engine {
 public:
  // Uses the process-wide thread pool (sized to the machine's cores).
  Engine();
  ~Engine();
  StatusOr<std::shared_ptr<const CompiledModel>> CompileFile(const std::string& path,
                                                            const CompileOptions& options = {}) const;
  // `base_dir` resolves external data files; empty forbids external data.
  StatusOr<std::shared_ptr<const CompiledModel>> CompileBytes(const std::string& bytes,
                                                             const std::string& base_dir,
                                                             const CompileOptions& options = {}) const;
  int intra_op_threads() const;
  // True when this onnxd has the CUDA backend and a GPU is usable; `why` gets the reason if not.
  static bool CudaAvailable(std::string* why = nullptr);
  // How many GPUs this process can use (ordinals 0 .. n-1, after CUDA_VISIBLE_DEVICES); 0 without
  // the CUDA backend or a driver, with the reason in `why`.
  static int CudaDeviceCount(std::string* why = nullptr);
  // The UUIDs of those GPUs in ordinal order, as NVML writes them ("GPU-" and 8-4-4-4-12 hex
  // digits); false when this onnxd cannot tell (built without CUDA, no driver).
  static bool CudaDeviceUuids(std::vector<std::string>* uuids);

 private:
  StatusOr<std::shared_ptr<const CompiledModel>> CompileBytesUnchecked(const std::string& bytes,
                                                                      const std::string& base_dir,
                                                                      const CompileOptions& options) const;
  StatusOr<std::shared_ptr<const CompiledModel>> CompileLoaded(std::unique_ptr<engine::LoadedModel> model,
                                                               const CompileOptions& options) const;

 public:
  // Size of the process's one intra-op pool; effective only before the first Engine is used.
  static void SetIntraOpThreads(int n);
};

}  // namespace onnxd
