#include "runtime/graph_plan.h"

#include <algorithm>
#include <deque>
#include <unordered_set>

#include "loader/model_loader.h"
#include "loader/tensor_proto.h"
#include "onnx/onnx-ml.pb.h"

namespace onnxd::engine {

// Name resolution while building one graph; chained to the enclosing graph's context.
struct BuildContext {
  GraphPlan* plan = nullptr;
  BuildContext* outer = nullptr;
  const std::map<std::string, int64_t>* opsets = nullptr;
  const CompileOptions* options = nullptr;
  std::string base_dir;

  int AddValue(const std::string& name) {
    int id = plan->num_values();
    plan->value_names.push_back(name);
    plan->value_index.emplace(name, id);
    plan->constants.emplace_back();
    plan->is_constant.push_back(0);
    plan->producer.push_back(-1);
    plan->last_use.push_back(-1);
    return id;
  }

  // The id of `name` in this scope, binding it from an enclosing scope when needed; -1 if unknown.
  int Resolve(const std::string& name) {
    int id = plan->Find(name);
    if (id >= 0) return id;
    if (outer == nullptr) return -1;
    int oid = outer->Resolve(name);
    if (oid < 0) return -1;
    id = AddValue(name);
    if (outer->plan->is_constant[oid]) {
      plan->is_constant[id] = 1;
      plan->constants[id] = outer->plan->constants[oid];
    } else {
      plan->outer_names.push_back(name);
      plan->outer_ids.push_back(id);
    }
    return id;
  }
};

namespace {

class NodeInfoImpl : public NodeInfo {
 public:
  NodeInfoImpl(const onnx::NodeProto& p, int opset, BuildContext* ctx, const std::vector<int>& inputs)
      : p_(p), opset_(opset), ctx_(ctx), inputs_(inputs) {}
  const onnx::NodeProto& proto() const override { return p_; }
  int opset() const override { return opset_; }
  const Tensor* constant_input(int i) const override {
    if (i < 0 || i >= static_cast<int>(inputs_.size())) return nullptr;
    int id = inputs_[i];
    if (id < 0 || !ctx_->plan->is_constant[id] || !ctx_->plan->constants[id].is_tensor()) return nullptr;
    return &ctx_->plan->constants[id].tensor();
  }
  StatusOr<std::shared_ptr<const GraphPlan>> GetSubgraph(const std::string& name) const override {
    const auto* a = attr(name);
    if (a == nullptr || !a->has_g()) return Error("graph attribute '" + name + "' is missing");
    std::shared_ptr<GraphPlan> sub;
    ASSIGN_OR_RETURN(sub, BuildGraphPlan(a->g(), *ctx_->opsets, *ctx_->options, ctx_, ctx_->base_dir));
    for (const auto& n : sub->outer_names) {
      int id = ctx_->Resolve(n);
      if (id >= 0 && std::find(implicit_.begin(), implicit_.end(), id) == implicit_.end()) implicit_.push_back(id);
    }
    return std::shared_ptr<const GraphPlan>(std::move(sub));
  }
  std::vector<int>& implicit() { return implicit_; }

 private:
  const onnx::NodeProto& p_;
  int opset_;
  BuildContext* ctx_;
  const std::vector<int>& inputs_;
  mutable std::vector<int> implicit_;
};

// Names a node's subgraphs read from outside themselves (their free variables).
void CollectFreeNames(const onnx::GraphProto& g, std::unordered_set<std::string>* out) {
  std::unordered_set<std::string> defined;
  for (const auto& i : g.input()) defined.insert(i.name());
  for (const auto& t : g.initializer()) defined.insert(t.name());
  for (const auto& n : g.node())
    for (const auto& o : n.output()) defined.insert(o);
  for (const auto& n : g.node()) {
    for (const auto& i : n.input())
      if (!i.empty() && !defined.count(i)) out->insert(i);
    for (const auto& a : n.attribute()) {
      std::unordered_set<std::string> inner;
      if (a.has_g()) CollectFreeNames(a.g(), &inner);
      for (const auto& sg : a.graphs()) CollectFreeNames(sg, &inner);
      for (const auto& x : inner)
        if (!defined.count(x)) out->insert(x);
    }
  }
  for (const auto& o : g.output())
    if (!defined.count(o.name())) out->insert(o.name());
}

// Execution order: the file order when it is topological (the ONNX rule), else Kahn's algorithm.
StatusOr<std::vector<int>> TopologicalOrder(const onnx::GraphProto& g, BuildContext* ctx) {
  const int n = g.node_size();
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < n; ++i)
    for (const auto& o : g.node(i).output())
      if (!o.empty()) producer.emplace(o, i);
  std::vector<std::vector<int>> users(n);
  std::vector<int> pending(n, 0);
  for (int i = 0; i < n; ++i) {
    const auto& node = g.node(i);
    std::unordered_set<std::string> deps(node.input().begin(), node.input().end());
    for (const auto& a : node.attribute()) {
      if (a.has_g()) CollectFreeNames(a.g(), &deps);
      for (const auto& sg : a.graphs()) CollectFreeNames(sg, &deps);
    }
    for (const auto& d : deps) {
      if (d.empty()) continue;
      auto it = producer.find(d);
      if (it != producer.end() && it->second != i) {
        users[it->second].push_back(i);
        ++pending[i];
      } else if (it == producer.end() && ctx->plan->Find(d) < 0 && ctx->Resolve(d) < 0) {
        return InvalidArgument("node '" + node.name() + "' (" + node.op_type() + "): input '" + d +
                               "' is not a graph input, an initializer or any node's output");
      }
    }
  }
  std::vector<int> order;
  order.reserve(n);
  std::deque<int> ready;
  for (int i = 0; i < n; ++i)
    if (pending[i] == 0) ready.push_back(i);
  // Prefer file order among ready nodes (keeps the exporter's order, which is usually cache-friendly).
  while (!ready.empty()) {
    auto it = std::min_element(ready.begin(), ready.end());
    int i = *it;
    ready.erase(it);
    order.push_back(i);
    for (int u : users[i])
      if (--pending[u] == 0) ready.push_back(u);
  }
  if (static_cast<int>(order.size()) != n) return InvalidArgument("graph '" + g.name() + "' has a cycle");
  return order;
}

bool HasGraphAttribute(const onnx::NodeProto& n) {
  for (const auto& a : n.attribute())
    if (a.has_g() || a.graphs_size() > 0) return true;
  return false;
}

std::string NodeLabel(const onnx::NodeProto& n) {
  return "node '" + n.name() + "' (" + (n.domain().empty() ? "" : n.domain() + ":") + n.op_type() + ")";
}

}  // namespace

StatusOr<std::shared_ptr<GraphPlan>> BuildGraphPlan(const onnx::GraphProto& g,
                                                    const std::map<std::string, int64_t>& opsets,
                                                    const CompileOptions& options, BuildContext* outer,
                                                    const std::string& base_dir) {
  auto plan = std::make_shared<GraphPlan>();
  plan->name = g.name();
  BuildContext ctx;
  ctx.plan = plan.get();
  ctx.outer = outer;
  ctx.opsets = &opsets;
  ctx.options = &options;
  ctx.base_dir = base_dir;

  std::unordered_set<std::string> initializer_names;
  for (const auto& t : g.initializer()) initializer_names.insert(t.name());
  for (const auto& in : g.input()) {
    if (in.name().empty()) return InvalidArgument("graph '" + g.name() + "' has an unnamed input");
    if (plan->Find(in.name()) >= 0) return InvalidArgument("graph input '" + in.name() + "' is declared twice");
    int id = ctx.AddValue(in.name());
    if (outer == nullptr && initializer_names.count(in.name())) continue;  // constant with a default
    plan->input_ids.push_back(id);
    plan->inputs.push_back({in.name(), TypeInfoFromProto(in.type())});
  }
  for (const auto& t : g.initializer()) {
    auto value = TensorFromProto(t, base_dir);
    if (!value.ok()) return value.status().WithContext("initializer: ");
    int id = plan->Find(t.name());
    if (id < 0) id = ctx.AddValue(t.name());
    plan->is_constant[id] = 1;
    plan->constants[id] = Value(std::move(value).value());
  }
  if (g.sparse_initializer_size() > 0)
    return Unimplemented("graph '" + g.name() + "' has sparse initializers, which are not supported yet");

  std::vector<int> order;
  ASSIGN_OR_RETURN(order, TopologicalOrder(g, &ctx));
  const OpRegistry& registry = OpRegistry::Global();

  for (int idx : order) {
    const onnx::NodeProto& np = g.node(idx);
    std::string domain = CanonicalDomain(np.domain());
    auto os = opsets.find(domain);
    if (os == opsets.end())
      return InvalidArgument(NodeLabel(np) + ": domain '" + np.domain() + "' is not imported by the model");
    const KernelFactory* factory = registry.Find(domain, np.op_type(), static_cast<int>(os->second));
    if (factory == nullptr)
      return Unimplemented(NodeLabel(np) + ": op " + (domain.empty() ? "" : domain + ":") + np.op_type() +
                           " (opset " + std::to_string(os->second) + ") is not supported by onnxd yet");
    PlannedNode node;
    node.name = np.name();
    node.op_type = np.op_type();
    node.domain = domain;
    for (const auto& in : np.input()) {
      if (in.empty()) {
        node.inputs.push_back(-1);
        continue;
      }
      int id = ctx.Resolve(in);
      if (id < 0) return InvalidArgument(NodeLabel(np) + ": input '" + in + "' is not defined");
      node.inputs.push_back(id);
    }
    NodeInfoImpl info(np, static_cast<int>(os->second), &ctx, node.inputs);
    auto kernel = (*factory)(info);
    if (!kernel.ok()) {
      const Status& s = kernel.status();
      if (s.message().rfind("node '", 0) == 0) return s;
      return s.WithContext(NodeLabel(np) + ": ");
    }
    node.kernel = std::move(kernel).value();
    node.implicit_inputs = std::move(info.implicit());
    for (const auto& out : np.output()) {
      if (out.empty()) {
        node.outputs.push_back(-1);
        continue;
      }
      if (plan->Find(out) >= 0) return InvalidArgument(NodeLabel(np) + ": output '" + out + "' is already defined");
      node.outputs.push_back(ctx.AddValue(out));
    }

    bool foldable = options.constant_folding && node.kernel->deterministic() && !HasGraphAttribute(np) &&
                    node.implicit_inputs.empty();
    for (int id : node.inputs)
      if (id >= 0 && !plan->is_constant[id]) foldable = false;
    if (foldable) {
      std::vector<const Value*> ins;
      for (int id : node.inputs) ins.push_back(id >= 0 ? &plan->constants[id] : nullptr);
      std::vector<Value> outs;
      Status st = RunKernelOnce(*node.kernel, node.name, node.op_type, ins, static_cast<int>(node.outputs.size()), &outs);
      if (st.ok()) {
        for (size_t k = 0; k < node.outputs.size(); ++k) {
          int id = node.outputs[k];
          if (id < 0) continue;
          plan->is_constant[id] = 1;
          plan->constants[id] = std::move(outs[k]);
        }
        ++plan->folded_nodes;
        continue;
      }
      // A kernel that fails on constants fails the model: the same error would come at every run.
      return st;
    }
    int node_index = static_cast<int>(plan->nodes.size());
    for (int id : node.outputs)
      if (id >= 0) plan->producer[id] = node_index;
    plan->nodes.push_back(std::move(node));
  }

  for (const auto& out : g.output()) {
    int id = ctx.Resolve(out.name());
    if (id < 0) return InvalidArgument("graph output '" + out.name() + "' is not produced by any node");
    plan->output_ids.push_back(id);
    plan->outputs.push_back({out.name(), TypeInfoFromProto(out.type())});
  }

  // Liveness.
  for (int i = 0; i < static_cast<int>(plan->nodes.size()); ++i) {
    auto& node = plan->nodes[i];
    for (int id : node.inputs)
      if (id >= 0) plan->last_use[id] = i;
    for (int id : node.implicit_inputs) plan->last_use[id] = i;
  }
  for (int id : plan->output_ids) plan->last_use[id] = INT_MAX;
  for (int i = 0; i < static_cast<int>(plan->nodes.size()); ++i) {
    auto& node = plan->nodes[i];
    auto consider = [&](int id) {
      if (id >= 0 && !plan->is_constant[id] && plan->last_use[id] == i &&
          std::find(node.release.begin(), node.release.end(), id) == node.release.end())
        node.release.push_back(id);
    };
    for (int id : node.inputs) consider(id);
    for (int id : node.implicit_inputs) consider(id);
    // Outputs nobody reads are dropped right away.
    for (int id : node.outputs)
      if (id >= 0 && plan->last_use[id] == -1) {
        plan->last_use[id] = i;
        node.release.push_back(id);
      }
  }
  return plan;
}

namespace {

// A KernelContext over explicit values, allocating everything on the heap.
class DynamicContext : public KernelContext {
 public:
  DynamicContext(const std::string& name, const std::string& op, const std::vector<const Value*>& inputs,
                 std::vector<Value>* outputs)
      : name_(name), op_(op), inputs_(inputs), outputs_(outputs) {}
  int num_inputs() const override { return static_cast<int>(inputs_.size()); }
  int num_outputs() const override { return static_cast<int>(outputs_->size()); }
  const Value* input_value(int i) const override {
    return i < num_inputs() ? inputs_[i] : nullptr;
  }
  bool has_output(int i) const override { return i < num_outputs(); }
  Tensor* Output(int i, DataType dtype, const Shape& shape) override {
    (*outputs_)[i] = Value(Tensor::Allocate(dtype, shape));
    return &(*outputs_)[i].tensor();
  }
  void SetOutputAlias(int i, int input_index, const Shape& shape) override {
    (*outputs_)[i] = Value(inputs_[input_index]->tensor().Reshaped(shape));
  }
  void SetOutputValue(int i, Value v) override { (*outputs_)[i] = std::move(v); }
  void* Scratch(size_t bytes) override {
    scratch_.push_back(Buffer::Allocate(DataType::kUInt8, static_cast<int64_t>(bytes)));
    return scratch_.back()->data();
  }
  ThreadPool& pool() override { return ThreadPool::Process(); }
  Status RunSubgraph(const GraphPlan&, std::span<const Value>, std::vector<Value>*) override {
    return Internal("subgraphs cannot run in a standalone kernel context");
  }
  const std::string& node_name() const override { return name_; }
  const std::string& op_type() const override { return op_; }

 private:
  const std::string& name_;
  const std::string& op_;
  const std::vector<const Value*>& inputs_;
  std::vector<Value>* outputs_;
  std::vector<std::shared_ptr<Buffer>> scratch_;
};

}  // namespace

Status RunKernelOnce(const OpKernel& kernel, const std::string& node_name, const std::string& op_type,
                     const std::vector<const Value*>& inputs, int num_outputs, std::vector<Value>* outputs) {
  outputs->assign(num_outputs, Value());
  DynamicContext ctx(node_name, op_type, inputs, outputs);
  return kernel.Compute(ctx);
}

}  // namespace onnxd::engine
