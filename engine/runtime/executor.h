// Executes a GraphPlan: the request path of the engine.
//
// A Frame holds the values of one graph execution. The main graph's frame lives in the Session and
// is reused across runs; its buffers come from the session's arena when a MemoryPlan for the
// current input shapes exists, and from the heap (recording sizes for the next plan) otherwise.
// Subgraph frames (If/Loop/Scan) are made per call and use the heap.
#pragma once

#include <span>
#include <vector>

#include "onnxd/engine/engine.h"
#include "planner/memory_plan.h"
#include "runtime/graph_plan.h"

namespace onnxd::engine {

struct Frame {
  const GraphPlan* plan = nullptr;
  std::vector<Value> values;
  // Allocation mode: replay (memory_plan + arena) or record (recording), or neither (heap only).
  const MemoryPlan* memory_plan = nullptr;
  char* arena = nullptr;
  MemoryRecording* recording = nullptr;
  // Enclosing frame, for subgraphs reading outer-scope values.
  const Frame* parent = nullptr;

  void Bind(const GraphPlan& p);  // sizes `values` and installs the constants
  void Clear();                   // drops every non-constant value
};

class Executor {
 public:
  Executor(ThreadPool& pool, const RunOptions& options) : pool_(pool), options_(options) {}
  // Runs the plan's nodes over `frame` (inputs already bound). Values of outputs stay in the frame.
  Status Run(Frame& frame);
  ThreadPool& pool() { return pool_; }
  const RunOptions& options() const { return options_; }

 private:
  ThreadPool& pool_;
  const RunOptions& options_;
};

// Runs a subgraph called from a node executing in `parent`.
Status RunSubgraphFrame(Executor& exec, const GraphPlan& graph, const Frame& parent,
                        std::span<const Value> inputs, std::vector<Value>* outputs);

}  // namespace onnxd::engine
