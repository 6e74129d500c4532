// Conv(X, W, B) -> BatchNormalization(scale, bias, mean, var) becomes Conv(X, W', B') with
//   k = scale / sqrt(var + eps),  W'[o] = W[o] * k[o],  B'[o] = (B[o] - mean[o]) * k[o] + bias[o].
// Only when W, B and the BN parameters are float32 constants and the Conv output feeds nothing else.
#include <cmath>

#include "loader/tensor_proto.h"
#include "passes/graph_index.h"
#include "passes/passes.h"

namespace onnxd::engine {
namespace {

bool FloatConstant(const GraphIndex& idx, const onnx::NodeProto& n, int i, Tensor* out) {
  if (i >= n.input_size() || n.input(i).empty()) return false;
  const onnx::TensorProto* t = idx.Constant(n.input(i));
  if (t == nullptr || t->data_type() != onnx::TensorProto::FLOAT) return false;
  auto v = TensorFromProto(*t);
  if (!v.ok()) return false;
  *out = std::move(v).value();
  return true;
}

float AttrFloat(const onnx::NodeProto& n, const char* name, float dflt) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.f();
  return dflt;
}

bool IsTrainingMode(const onnx::NodeProto& n) {
  for (const auto& a : n.attribute())
    if (a.name() == "training_mode" && a.i() != 0) return true;
  return n.output_size() > 1;
}

}  // namespace

int FoldConvBatchNorm(onnx::GraphProto* g) {
  GraphIndex idx(*g);
  std::vector<bool> dead(g->node_size(), false);
  int folded = 0;
  int unique = 0;
  for (int ci = 0; ci < g->node_size(); ++ci) {
    onnx::NodeProto* conv = g->mutable_node(ci);
    if (conv->op_type() != "Conv" || !conv->domain().empty() || conv->output_size() != 1) continue;
    const std::string& y = conv->output(0);
    if (idx.IsGraphOutput(y)) continue;
    int bi = idx.SoleConsumer(y);
    if (bi < 0 || dead[bi]) continue;
    const onnx::NodeProto& bn = g->node(bi);
    if (bn.op_type() != "BatchNormalization" || !bn.domain().empty() || bn.input_size() != 5 || bn.input(0) != y ||
        IsTrainingMode(bn))
      continue;
    Tensor w, b, scale, bias, mean, var;
    if (!FloatConstant(idx, *conv, 1, &w) || w.rank() < 3) continue;
    const int64_t cout = w.dim(0);
    bool has_b = conv->input_size() > 2 && !conv->input(2).empty();
    if (has_b && (!FloatConstant(idx, *conv, 2, &b) || b.num_elements() != cout)) continue;
    if (!FloatConstant(idx, bn, 1, &scale) || !FloatConstant(idx, bn, 2, &bias) || !FloatConstant(idx, bn, 3, &mean) ||
        !FloatConstant(idx, bn, 4, &var))
      continue;
    if (scale.num_elements() != cout || bias.num_elements() != cout || mean.num_elements() != cout ||
        var.num_elements() != cout)
      continue;
    const float eps = AttrFloat(bn, "epsilon", 1e-5f);
    Tensor nw = w.Clone();
    Tensor nb = Tensor::Allocate(DataType::kFloat, Shape{cout});
    const int64_t per = w.num_elements() / std::max<int64_t>(cout, 1);
    for (int64_t o = 0; o < cout; ++o) {
      const float k = scale.data<float>()[o] / std::sqrt(var.data<float>()[o] + eps);
      float* wo = nw.data<float>() + o * per;
      for (int64_t j = 0; j < per; ++j) wo[j] *= k;
      const float b0 = has_b ? b.data<float>()[o] : 0.f;
      nb.data<float>()[o] = (b0 - mean.data<float>()[o]) * k + bias.data<float>()[o];
    }
    // New initializers with fresh names (the originals may be shared with other nodes).
    std::string wname = conv->input(1) + "__bnfold" + std::to_string(unique);
    std::string bname = conv->input(1) + "__bnfold_bias" + std::to_string(unique++);
    onnx::TensorProto* tw = g->add_initializer();
    TensorToProto(nw, tw);
    tw->set_name(wname);
    onnx::TensorProto* tb = g->add_initializer();
    TensorToProto(nb, tb);
    tb->set_name(bname);
    conv->set_input(1, wname);
    if (conv->input_size() > 2) conv->set_input(2, bname);
    else conv->add_input(bname);
    conv->set_output(0, bn.output(0));
    dead[bi] = true;
    ++folded;
  }
  if (folded > 0) EraseNodes(g, dead);
  return folded;
}

}  // namespace onnxd::engine
