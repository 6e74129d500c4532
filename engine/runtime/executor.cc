#include "runtime/executor.h"

#include <cstdlib>
#include <new>
#include <stdexcept>

namespace onnxd::engine {

void Frame::Bind(const GraphPlan& p) {
  plan = &p;
  values.assign(p.num_values(), Value());
  for (int i = 0; i < p.num_values(); ++i)
    if (p.is_constant[i]) values[i] = p.constants[i];
}

void Frame::Clear() {
  for (int i = 0; i < plan->num_values(); ++i)
    if (!plan->is_constant[i]) values[i] = Value();
}

namespace {

class NodeContext : public KernelContext {
 public:
  NodeContext(Executor& exec, Frame& frame, int node_index)
      : exec_(exec), frame_(frame), index_(node_index), node_(frame.plan->nodes[node_index]) {}
  ~NodeContext() override {
    for (void* p : heap_scratch_) std::free(p);
  }

  int num_inputs() const override { return static_cast<int>(node_.inputs.size()); }
  int num_outputs() const override { return static_cast<int>(node_.outputs.size()); }
  const Value* input_value(int i) const override {
    if (i < 0 || i >= num_inputs() || node_.inputs[i] < 0) return nullptr;
    return &frame_.values[node_.inputs[i]];
  }
  bool has_output(int i) const override { return i >= 0 && i < num_outputs() && node_.outputs[i] >= 0; }

  Tensor* Output(int i, DataType dtype, const Shape& shape) override {
    int id = i < num_outputs() ? node_.outputs[i] : -1;
    if (id < 0) {
      // Not wanted by the graph: give the kernel a throwaway buffer.
      unused_.push_back(std::make_unique<Tensor>(Tensor::Allocate(dtype, shape)));
      return unused_.back().get();
    }
    Value& slot = frame_.values[id];
    const int64_t bytes = shape.NumElements() * static_cast<int64_t>(ElementSize(dtype));
    if (dtype != DataType::kString) {
      if (frame_.recording != nullptr) frame_.recording->value_bytes[id] = bytes;
      const MemoryPlan* mp = frame_.memory_plan;
      if (mp != nullptr && mp->value_offset[id] >= 0 && bytes <= mp->value_bytes[id]) {
        slot = Value(Tensor::View(dtype, shape, frame_.arena + mp->value_offset[id]));
        return &slot.tensor();
      }
    }
    slot = Value(Tensor::Allocate(dtype, shape));
    return &slot.tensor();
  }

  void SetOutputAlias(int i, int input_index, const Shape& shape) override {
    int id = i < num_outputs() ? node_.outputs[i] : -1;
    if (id < 0) return;
    int src = node_.inputs[input_index];
    frame_.values[id] = Value(frame_.values[src].tensor().Reshaped(shape));
    if (frame_.recording != nullptr && frame_.plan->producer[src] >= 0) frame_.recording->alias_root[id] = src;
  }

  void SetOutputValue(int i, Value v) override {
    int id = i < num_outputs() ? node_.outputs[i] : -1;
    if (id < 0) return;
    frame_.values[id] = std::move(v);
  }

  void* Scratch(size_t bytes) override {
    const int64_t want = AlignUp(static_cast<int64_t>(bytes));
    if (frame_.recording != nullptr) frame_.recording->scratch_bytes[index_] += want;
    const MemoryPlan* mp = frame_.memory_plan;
    if (mp != nullptr && mp->scratch_offset[index_] >= 0 && scratch_used_ + want <= mp->scratch_bytes[index_]) {
      void* p = frame_.arena + mp->scratch_offset[index_] + scratch_used_;
      scratch_used_ += want;
      return p;
    }
    void* p = std::aligned_alloc(kArenaAlignment, static_cast<size_t>(std::max<int64_t>(want, kArenaAlignment)));
    heap_scratch_.push_back(p);
    return p;
  }

  ThreadPool& pool() override { return exec_.pool(); }
  Status RunSubgraph(const GraphPlan& graph, std::span<const Value> inputs, std::vector<Value>* outputs) override {
    return RunSubgraphFrame(exec_, graph, frame_, inputs, outputs);
  }
  const std::string& node_name() const override { return node_.name; }
  const std::string& op_type() const override { return node_.op_type; }

 private:
  Executor& exec_;
  Frame& frame_;
  int index_;
  const PlannedNode& node_;
  int64_t scratch_used_ = 0;
  std::vector<void*> heap_scratch_;
  std::vector<std::unique_ptr<Tensor>> unused_;
};

std::string NodeLabel(const PlannedNode& n) {
  return "node '" + n.name + "' (" + (n.domain.empty() ? "" : n.domain + ":") + n.op_type + ")";
}

}  // namespace

Status Executor::Run(Frame& frame) {
  const GraphPlan& plan = *frame.plan;
  ThreadPool::SerialScope serial(options_.serial);
  const bool check_deadline = options_.deadline != std::chrono::steady_clock::time_point::max();
  const int n = static_cast<int>(plan.nodes.size());
  RunProfile* profile = frame.parent == nullptr ? options_.profile : nullptr;  // top-level graph only
  if (profile != nullptr && profile->nodes.size() != static_cast<size_t>(n)) {
    profile->nodes.assign(static_cast<size_t>(n), NodeTiming{});
    for (int i = 0; i < n; ++i) {
      profile->nodes[i].name = plan.nodes[i].name;
      profile->nodes[i].op_type = plan.nodes[i].op_type;
    }
  }
  for (int i = 0; i < n; ++i) {
    const PlannedNode& node = plan.nodes[i];
    const auto started = profile != nullptr ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    if (options_.cancelled != nullptr && options_.cancelled->load(std::memory_order_relaxed))
      return Cancelled("run cancelled before " + NodeLabel(node));
    if (check_deadline && std::chrono::steady_clock::now() > options_.deadline)
      return DeadlineExceeded("deadline exceeded before " + NodeLabel(node));
    {
      NodeContext ctx(*this, frame, i);
      Status st;
      try {
        st = node.kernel->Compute(ctx);
      } catch (const std::bad_alloc&) {
        st = ResourceExhausted("out of memory");
      } catch (const std::exception& e) {
        st = Internal(std::string("unexpected exception: ") + e.what());
      }
      if (!st.ok()) {
        if (st.message().rfind("node '", 0) == 0) return st;
        return st.WithContext(NodeLabel(node) + ": ");
      }
    }
    for (int id : node.release) frame.values[id] = Value();
    if (profile != nullptr) {
      NodeTiming& t = profile->nodes[static_cast<size_t>(i)];
      t.ns += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count();
      ++t.calls;
    }
  }
  return Status::Ok();
}

Status RunSubgraphFrame(Executor& exec, const GraphPlan& graph, const Frame& parent, std::span<const Value> inputs,
                        std::vector<Value>* outputs) {
  if (inputs.size() != graph.input_ids.size())
    return InvalidArgument("subgraph '" + graph.name + "' takes " + std::to_string(graph.input_ids.size()) +
                           " inputs, got " + std::to_string(inputs.size()));
  Frame frame;
  frame.Bind(graph);
  frame.parent = &parent;
  for (size_t k = 0; k < graph.outer_names.size(); ++k) {
    int pid = parent.plan->Find(graph.outer_names[k]);
    if (pid < 0) return Internal("subgraph reads '" + graph.outer_names[k] + "', unknown in the enclosing graph");
    frame.values[graph.outer_ids[k]] = parent.values[pid];
  }
  for (size_t k = 0; k < inputs.size(); ++k) frame.values[graph.input_ids[k]] = inputs[k];
  RETURN_IF_ERROR(exec.Run(frame));
  outputs->resize(graph.output_ids.size());
  for (size_t k = 0; k < graph.output_ids.size(); ++k) {
    // A view (of the enclosing frame's arena) must not outlive this call: own it.
    (*outputs)[k] = frame.values[graph.output_ids[k]].Owned();
  }
  return Status::Ok();
}

}  // namespace onnxd::engine
