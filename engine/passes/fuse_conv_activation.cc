// Conv followed by an elementwise activation that is its only consumer: the Conv kernel applies the
// activation to its output tile, saving one full pass over the tensor.
#include "loader/tensor_proto.h"
#include "ops/op_util.h"
#include "passes/graph_index.h"
#include "passes/passes.h"

namespace onnxd::engine {
namespace {

void SetAttr(onnx::NodeProto* n, const std::string& name, float f) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(f);
}

void SetAttr(onnx::NodeProto* n, const std::string& name, const std::string& s) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(s);
}

float AttrFloat(const onnx::NodeProto& n, const char* name, float dflt) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.f();
  return dflt;
}

// Clip's bounds: attributes before opset 11, optional constant scalar inputs after.
bool ClipBounds(const GraphIndex& idx, const onnx::NodeProto& clip, float* lo, float* hi) {
  *lo = -3.402823466e38f;
  *hi = 3.402823466e38f;
  if (clip.input_size() == 1) {
    *lo = AttrFloat(clip, "min", *lo);
    *hi = AttrFloat(clip, "max", *hi);
    return true;
  }
  for (int i = 1; i < clip.input_size() && i < 3; ++i) {
    if (clip.input(i).empty()) continue;
    const onnx::TensorProto* t = idx.Constant(clip.input(i));
    if (t == nullptr || t->data_type() != onnx::TensorProto::FLOAT) return false;
    auto v = TensorFromProto(*t);
    if (!v.ok() || v->num_elements() != 1) return false;
    (i == 1 ? *lo : *hi) = v->data<float>()[0];
  }
  return true;
}

}  // namespace

int FuseConvActivation(onnx::GraphProto* g, int64_t opset) {
  GraphIndex idx(*g);
  std::vector<bool> dead(g->node_size(), false);
  int fused = 0;
  for (int ci = 0; ci < g->node_size(); ++ci) {
    onnx::NodeProto* conv = g->mutable_node(ci);
    if (conv->op_type() != "Conv" || !conv->domain().empty() || conv->output_size() != 1) continue;
    bool already = false;
    for (const auto& a : conv->attribute()) already |= a.name() == "onnxd_activation";
    if (already) continue;
    const std::string& y = conv->output(0);
    if (idx.IsGraphOutput(y)) continue;
    int ai = idx.SoleConsumer(y);
    if (ai < 0 || dead[ai]) continue;
    const onnx::NodeProto& act = g->node(ai);
    if (!act.domain().empty() || act.input_size() < 1 || act.input(0) != y || act.output_size() != 1) continue;
    const std::string& op = act.op_type();
    if (op == "Relu" || op == "Sigmoid" || op == "Tanh") {
      SetAttr(conv, "onnxd_activation", op);
    } else if (op == "LeakyRelu") {
      SetAttr(conv, "onnxd_activation", op);
      SetAttr(conv, "onnxd_activation_alpha", AttrFloat(act, "alpha", 0.01f));
    } else if (op == "Clip") {
      float lo, hi;
      if (!ClipBounds(idx, act, &lo, &hi)) continue;
      SetAttr(conv, "onnxd_activation", op);
      SetAttr(conv, "onnxd_activation_alpha", lo);
      SetAttr(conv, "onnxd_activation_beta", hi);
    } else {
      continue;
    }
    conv->set_output(0, act.output(0));
    dead[ai] = true;
    ++fused;
  }
  if (fused > 0) EraseNodes(g, dead);
  return fused;
}

namespace {
// Drops initializers nothing reads any more (e.g. the BatchNormalization parameters after folding).
void DropUnusedInitializers(onnx::GraphProto* g) {
  GraphIndex idx(*g);
  google::protobuf::RepeatedPtrField<onnx::TensorProto> kept;
  std::unordered_set<std::string> dropped;
  for (auto& t : *g->mutable_initializer()) {
    if (idx.IsRead(t.name())) *kept.Add() = std::move(t);
    else dropped.insert(t.name());
  }
  g->mutable_initializer()->Swap(&kept);
  // A graph input naming a dropped initializer goes too (IR-3 models list every initializer).
  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> inputs;
  for (auto& i : *g->mutable_input())
    if (!dropped.count(i.name())) *inputs.Add() = std::move(i);
  g->mutable_input()->Swap(&inputs);
}
}  // namespace

Status RunGraphPasses(onnx::ModelProto* model, const std::map<std::string, int64_t>& opsets, PassStats* stats) {
  auto it = opsets.find("");
  int64_t opset = it == opsets.end() ? 0 : it->second;
  onnx::GraphProto* g = model->mutable_graph();
  stats->conv_batchnorm_folded += FoldConvBatchNorm(g);
  stats->conv_add_folded += FoldConvAdd(g);
  stats->activations_fused += FuseConvActivation(g, opset);
  stats->gelus_fused += FuseGelu(g);
  if (stats->conv_batchnorm_folded + stats->conv_add_folded > 0) DropUnusedInitializers(g);
  return Status::Ok();
}

}  // namespace onnxd::engine
