// GraphPlan: a compiled graph. Values are numbered; nodes are in execution order, each with its
// kernel (attributes parsed, weights prepacked) and the values it reads and writes. Immutable after
// BuildGraphPlan and shared by every session of the model. Subgraphs (If/Loop/Scan bodies) are
// GraphPlans too, held by their node's kernel.
#pragma once

#include <climits>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "onnxd/engine/engine.h"
#include "onnxd/engine/status.h"
#include "onnxd/engine/tensor.h"
#include "ops/op_kernel.h"

namespace onnx {
class GraphProto;
}

namespace onnxd::engine {

struct PlannedNode {
  std::string name;
  std::string op_type;
  std::string domain;
  std::unique_ptr<OpKernel> kernel;
  std::vector<int> inputs;           // value ids; -1 for an absent optional input
  std::vector<int> outputs;          // value ids; -1 for an absent optional output
  std::vector<int> implicit_inputs;  // values its subgraphs read from this scope
  std::vector<int> release;          // values whose last use is this node
};

class GraphPlan {
 public:
  int num_values() const { return static_cast<int>(value_names.size()); }
  int Find(const std::string& name) const {
    auto it = value_index.find(name);
    return it == value_index.end() ? -1 : it->second;
  }

  std::string name;
  std::vector<std::string> value_names;
  std::unordered_map<std::string, int> value_index;
  std::vector<Value> constants;       // per value id (initializers, folded nodes); kNone otherwise
  std::vector<uint8_t> is_constant;   // per value id
  std::vector<int> producer;          // per value id: node index, or -1 (input, constant, outer)
  std::vector<int> last_use;          // per value id: last reading node, INT_MAX for outputs, -1 unused
  std::vector<int> input_ids;         // formal inputs, in order
  std::vector<int> output_ids;
  std::vector<std::string> outer_names;  // values read from enclosing scopes (subgraphs only)
  std::vector<int> outer_ids;
  std::vector<PlannedNode> nodes;
  std::vector<IoSpec> inputs;         // declared types of input_ids
  std::vector<IoSpec> outputs;
  int folded_nodes = 0;
};

struct BuildContext;

// Compiles `graph`. `opsets` maps domains to imported versions; `outer` is the enclosing scope for
// subgraphs (null for the main graph). For the main graph, inputs that are also initializers become
// constants and are not listed in input_ids.
StatusOr<std::shared_ptr<GraphPlan>> BuildGraphPlan(const onnx::GraphProto& graph,
                                                    const std::map<std::string, int64_t>& opsets,
                                                    const CompileOptions& options, BuildContext* outer,
                                                    const std::string& base_dir);

// Runs one kernel on constant inputs outside any session (constant folding, tests).
Status RunKernelOnce(const OpKernel& kernel, const std::string& node_name, const std::string& op_type,
                     const std::vector<const Value*>& inputs, int num_outputs, std::vector<Value>* outputs);

}  // namespace onnxd::engine
