// Small ONNX models built in code for engine tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "loader/tensor_proto.h"
#include "onnx/onnx-ml.pb.h"
#include "onnxd/engine/engine.h"
#include "ops/op_kernel.h"

namespace onnxd::testing {

inline onnx::ValueInfoProto TensorInfo(const std::string& name, int elem_type, const std::vector<int64_t>& dims) {
  onnx::ValueInfoProto v;
  v.set_name(name);
  auto* t = v.mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem_type);
  auto* s = t->mutable_shape();
  for (int64_t d : dims) {
    auto* dim = s->add_dim();
    if (d >= 0) dim->set_dim_value(d);
    else dim->set_dim_param("N");
  }
  return v;
}

inline onnx::NodeProto Node(const std::string& op, const std::vector<std::string>& inputs,
                            const std::vector<std::string>& outputs, const std::string& name = "",
                            const std::string& domain = "") {
  onnx::NodeProto n;
  n.set_op_type(op);
  n.set_name(name.empty() ? op + "_node" : name);
  n.set_domain(domain);
  for (const auto& i : inputs) n.add_input(i);
  for (const auto& o : outputs) n.add_output(o);
  return n;
}

inline onnx::TensorProto FloatInitializer(const std::string& name, const std::vector<int64_t>& dims,
                                          const std::vector<float>& values, bool raw = true) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t.add_dims(d);
  if (raw) t.set_raw_data(values.data(), values.size() * sizeof(float));
  else
    for (float v : values) t.add_float_data(v);
  return t;
}

// x[N,4] + bias -> Relu -> y, with opset `opset`.
inline onnx::ModelProto AddReluModel(int64_t ir_version = 8, int64_t opset = 13) {
  onnx::ModelProto m;
  m.set_ir_version(ir_version);
  auto* os = m.add_opset_import();
  os->set_domain("");
  os->set_version(opset);
  auto* g = m.mutable_graph();
  g->set_name("add_relu");
  *g->add_input() = TensorInfo("x", onnx::TensorProto::FLOAT, {-1, 4});
  *g->add_output() = TensorInfo("y", onnx::TensorProto::FLOAT, {-1, 4});
  *g->add_initializer() = FloatInitializer("bias", {4}, {1.f, -2.f, 3.f, -4.f});
  *g->add_node() = Node("Add", {"x", "bias"}, {"s"}, "add");
  *g->add_node() = Node("Relu", {"s"}, {"y"}, "relu");
  return m;
}

// ---- Building and running one-off models in op tests ----

inline void AddInit(onnx::GraphProto* g, const std::string& name, const Tensor& t) {
  onnx::TensorProto p;
  engine::TensorToProto(t, &p);
  p.set_name(name);
  *g->add_initializer() = p;
}

inline void SetAttr(onnx::NodeProto* n, const std::string& name, const std::string& s) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(s);
}

inline void SetAttr(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

inline void SetAttr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

// Not a SetAttr overload: an integer literal would then be ambiguous between int64_t and float.
inline void SetFloatAttr(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

// An empty ai.onnx model at `opset` (IR 8) whose graph the test fills in.
inline onnx::ModelProto NewModel(int opset) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* os = m.add_opset_import();
  os->set_domain("");
  os->set_version(opset);
  m.mutable_graph()->set_name("g");
  return m;
}

// NewModel(opset) with the float input "x" of `x_dims` and the output "y" (its type and shape left
// to inference): the test adds the nodes from x to y, and any further inputs.
inline onnx::ModelProto ModelWithFloatX(int opset, const std::vector<int64_t>& x_dims) {
  onnx::ModelProto m = NewModel(opset);
  *m.mutable_graph()->add_input() = TensorInfo("x", onnx::TensorProto::FLOAT, x_dims);
  m.mutable_graph()->add_output()->set_name("y");
  return m;
}

// Compiles and runs `m` once; tensor outputs are copied out of the session's arena.
inline StatusOr<std::vector<Value>> RunModel(const onnx::ModelProto& m, std::vector<Value> ins) {
  Engine engine;
  auto model = engine.CompileBytes(m.SerializeAsString(), "");
  if (!model.ok()) return model.status();
  auto session = (*model)->CreateSession();
  std::vector<Value> outs;
  Status st = session->Run(ins, &outs);
  if (!st.ok()) return st;
  for (auto& v : outs)
    if (v.is_tensor()) v = Value(v.tensor().Clone());
  return outs;
}

// A NodeInfo over a bare NodeProto (no constant inputs, no subgraphs): for making an op's CPU kernel
// directly, as a backend that reads the kernel's settings does (the CUDA Resize, ConvTranspose).
class ProtoNodeInfo final : public engine::NodeInfo {
 public:
  ProtoNodeInfo(const onnx::NodeProto& n, int opset) : n_(n), opset_(opset) {}
  const onnx::NodeProto& proto() const override { return n_; }
  int opset() const override { return opset_; }
  const Tensor* constant_input(int) const override { return nullptr; }
  StatusOr<std::shared_ptr<const engine::GraphPlan>> GetSubgraph(const std::string&) const override {
    return Unimplemented("no subgraphs");
  }

 private:
  const onnx::NodeProto& n_;
  int opset_;
};

// The registered CPU kernel of ai.onnx node `n` at `opset`.
inline StatusOr<std::unique_ptr<engine::OpKernel>> MakeCpuKernel(const onnx::NodeProto& n, int opset) {
  const auto* factory = engine::OpRegistry::Global().Find("", n.op_type(), opset);
  if (factory == nullptr) return NotFound("no kernel for " + n.op_type() + " at opset " + std::to_string(opset));
  ProtoNodeInfo info(n, opset);
  return (*factory)(info);
}

}  // namespace onnxd::testing
