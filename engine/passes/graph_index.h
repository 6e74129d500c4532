// Lookup tables over a GraphProto for rewrite passes: producers, consumers, initializers.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "onnx/onnx-ml.pb.h"

namespace onnxd::engine {

class GraphIndex {
 public:
  explicit GraphIndex(const onnx::GraphProto& g);
  // Initializer named `name`, or null.
  const onnx::TensorProto* Constant(const std::string& name) const;
  int NumConsumers(const std::string& name) const;
  bool IsGraphOutput(const std::string& name) const { return outputs_.count(name) > 0; }
  // Read by a node, a subgraph or as a graph output.
  bool IsRead(const std::string& name) const {
    return NumConsumers(name) > 0 || outputs_.count(name) > 0 || read_by_subgraphs_.count(name) > 0;
  }
  bool IsReadBySubgraph(const std::string& name) const { return read_by_subgraphs_.count(name) > 0; }
  // Index of the single node consuming `name`, or -1 when zero or several do (or a subgraph reads it).
  int SoleConsumer(const std::string& name) const;

 private:
  std::unordered_map<std::string, const onnx::TensorProto*> constants_;
  std::unordered_map<std::string, std::vector<int>> consumers_;
  std::unordered_set<std::string> outputs_;
  std::unordered_set<std::string> read_by_subgraphs_;
};

// Removes the nodes whose indices are in `dead` (order of the rest kept).
void EraseNodes(onnx::GraphProto* g, const std::vector<bool>& dead);

}  // namespace onnxd::engine
