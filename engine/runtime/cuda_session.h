// The CUDA execution path of a Session (CompileOptions::device = kCuda).
//
// CudaSession runs a compiled graph by its DevicePlan: nodes placed on the GPU run our CUDA kernels
// on the session's own stream, with device buffers from the session's DevicePool (cached, so a
// steady workload makes no cudaMalloc after its first run) and the model's constants uploaded once
// at creation; nodes placed on the CPU run their CPU kernels on host copies. Graph inputs go to the
// device and outputs come back through pinned staging buffers. Everything the session holds on the
// device is returned when it is destroyed (model unload).
//
// Built only with ONNXD_CUDA (ONNXD_WITH_CUDA defined); without it, creating one fails with a reason.
// Not thread-safe: one thread runs a session at a time (as Session).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "onnxd/engine/engine.h"
#include "planner/partition.h"
#include "runtime/graph_plan.h"

namespace onnxd::engine {

// True when this build has the CUDA backend and a device is usable; `why` gets the reason if not.
bool CudaRuntimeAvailable(std::string* why);
// The devices this process can use (0 without the backend or a driver; `why` says why).
int CudaRuntimeDeviceCount(std::string* why);
// Their UUIDs as NVML writes them, in ordinal order; false when unknown (no backend or driver).
bool CudaRuntimeDeviceUuids(std::vector<std::string>* uuids);

class CudaSession {
 public:
  virtual ~CudaSession() = default;
  // Inputs are checked by the caller (types and dims as declared).
  virtual Status Run(std::span<const Value> inputs, std::vector<Value>* outputs, const RunOptions& options) = 0;
  // Host<->device copies made by the last Run (for tests against the plan's count).
  virtual int last_run_copies() const = 0;
  // True when the last Run replayed a captured CUDA Graph.
  virtual bool last_run_replayed_graph() const = 0;
  // The last node-by-node run's (Session::CudaRunStats).
  virtual Session::CudaRunStats last_run_cuda_stats() const { return {}; }
  // What the last tuning run (RunOptions::tune) chose and measured; "" when none has run.
  virtual std::string last_tuning() const { return ""; }
};

// Creates the CUDA state for one session of `graph` placed by `plan` on device `gpu` (uploads the
// constants the device reads, once per model and device). UNAVAILABLE without a device or without
// the CUDA backend; INVALID_ARGUMENT for a device ordinal this process does not have.
// The session makes its device current on the calling thread in creation, in every Run and in its
// destructor (the current device is per host thread, and one thread runs sessions of any device).
StatusOr<std::unique_ptr<CudaSession>> CreateCudaSession(std::shared_ptr<const GraphPlan> graph,
                                                         const DevicePlan& plan, const CompileOptions& options,
                                                         ThreadPool* pool, int gpu);

}  // namespace onnxd::engine
