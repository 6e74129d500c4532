// Conv followed by Add of a per-channel constant (the bias exporters such as CNTK emit as a
// separate node) becomes Conv with that bias: B'[o] = B[o] + c[o]. The constant must broadcast
// along the channel axis only ([C,1,1], [1,C,1,1], ...).
#include "loader/tensor_proto.h"
#include "passes/graph_index.h"
#include "passes/passes.h"

namespace onnxd::engine {
namespace {

// Spatial rank + 2 of the Conv's output, from its weight's rank (W is [Cout, Cin/g, k...]).
bool PerChannel(const Tensor& c, int64_t cout, int out_rank) {
  if (c.num_elements() != cout || c.rank() > out_rank) return false;
  // Right-align c against [N, C, spatial...]: every dim but the one on axis 1 must be 1.
  const int offset = out_rank - c.rank();
  for (int i = 0; i < c.rank(); ++i) {
    const int axis = i + offset;
    if (axis != 1 && c.dim(i) != 1) return false;
    if (axis == 1 && c.dim(i) != cout) return false;
  }
  return offset <= 1;  // the constant must reach axis 1
}

}  // namespace

int FoldConvAdd(onnx::GraphProto* g) {
  GraphIndex idx(*g);
  std::vector<bool> dead(g->node_size(), false);
  int folded = 0;
  for (int ci = 0; ci < g->node_size(); ++ci) {
    onnx::NodeProto* conv = g->mutable_node(ci);
    if (conv->op_type() != "Conv" || !conv->domain().empty() || conv->output_size() != 1 || conv->input_size() < 2)
      continue;
    const std::string& y = conv->output(0);
    if (idx.IsGraphOutput(y)) continue;
    const int ai = idx.SoleConsumer(y);
    if (ai < 0 || dead[ai]) continue;
    const onnx::NodeProto& add = g->node(ai);
    if (add.op_type() != "Add" || !add.domain().empty() || add.input_size() != 2 || add.output_size() != 1) continue;
    const std::string& other = add.input(0) == y ? add.input(1) : add.input(0);
    if (other == y) continue;
    const onnx::TensorProto* wp = idx.Constant(conv->input(1));
    const onnx::TensorProto* cp = idx.Constant(other);
    if (wp == nullptr || cp == nullptr || wp->data_type() != onnx::TensorProto::FLOAT ||
        cp->data_type() != onnx::TensorProto::FLOAT || wp->dims_size() < 3)
      continue;
    const int64_t cout = wp->dims(0);
    auto c = TensorFromProto(*cp);
    if (!c.ok() || !PerChannel(*c, cout, wp->dims_size())) continue;
    Tensor bias = Tensor::Allocate(DataType::kFloat, Shape{cout});
    const bool has_b = conv->input_size() > 2 && !conv->input(2).empty();
    if (has_b) {
      const onnx::TensorProto* bp = idx.Constant(conv->input(2));
      if (bp == nullptr || bp->data_type() != onnx::TensorProto::FLOAT) continue;
      auto b = TensorFromProto(*bp);
      if (!b.ok() || b->num_elements() != cout) continue;
      for (int64_t o = 0; o < cout; ++o) bias.data<float>()[o] = b->data<float>()[o];
    }
    for (int64_t o = 0; o < cout; ++o) bias.data<float>()[o] += c->data<float>()[o];
    onnx::TensorProto* tb = g->add_initializer();
    TensorToProto(bias, tb);
    tb->set_name(conv->output(0) + "__folded_bias");
    if (conv->input_size() > 2) conv->set_input(2, tb->name());
    else conv->add_input(tb->name());
    conv->set_output(0, add.output(0));
    dead[ai] = true;
    ++folded;
  }
  if (folded > 0) EraseNodes(g, dead);
  return folded;
}

}  // namespace onnxd::engine
