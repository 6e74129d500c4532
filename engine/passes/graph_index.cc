#include "passes/graph_index.h"

namespace onnxd::engine {
namespace {
void CollectSubgraphReads(const onnx::GraphProto& g, std::unordered_set<std::string>* out) {
  for (const auto& n : g.node()) {
    for (const auto& i : n.input()) out->insert(i);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) CollectSubgraphReads(a.g(), out);
      for (const auto& sg : a.graphs()) CollectSubgraphReads(sg, out);
    }
  }
}
}  // namespace

GraphIndex::GraphIndex(const onnx::GraphProto& g) {
  // Initializers listed as graph inputs too (every IR-3 model does that) are constants as well: the
  // engine does not offer them as inputs (runtime/graph_plan.cc).
  for (const auto& t : g.initializer()) constants_[t.name()] = &t;
  // So are Constant nodes' tensors (the TorchScript exporter writes Clip's bounds, scales and
  // shapes that way).
  for (const auto& n : g.node()) {
    if (n.op_type() != "Constant" || !n.domain().empty() || n.output_size() != 1) continue;
    for (const auto& a : n.attribute())
      if (a.name() == "value" && a.has_t()) constants_[n.output(0)] = &a.t();
  }
  for (int i = 0; i < g.node_size(); ++i) {
    for (const auto& in : g.node(i).input())
      if (!in.empty()) consumers_[in].push_back(i);
    for (const auto& a : g.node(i).attribute()) {
      if (a.has_g()) CollectSubgraphReads(a.g(), &read_by_subgraphs_);
      for (const auto& sg : a.graphs()) CollectSubgraphReads(sg, &read_by_subgraphs_);
    }
  }
  for (const auto& o : g.output()) outputs_.insert(o.name());
}

const onnx::TensorProto* GraphIndex::Constant(const std::string& name) const {
  auto it = constants_.find(name);
  return it == constants_.end() ? nullptr : it->second;
}

int GraphIndex::NumConsumers(const std::string& name) const {
  auto it = consumers_.find(name);
  return it == consumers_.end() ? 0 : static_cast<int>(it->second.size());
}

int GraphIndex::SoleConsumer(const std::string& name) const {
  auto it = consumers_.find(name);
  if (it == consumers_.end() || it->second.size() != 1 || read_by_subgraphs_.count(name)) return -1;
  return it->second[0];
}

void EraseNodes(onnx::GraphProto* g, const std::vector<bool>& dead) {
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  for (int i = 0; i < g->node_size(); ++i)
    if (!dead[i]) *kept.Add() = std::move(*g->mutable_node(i));
  g->mutable_node()->Swap(&kept);
}

}  // namespace onnxd::engine
