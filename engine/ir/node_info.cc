// Attribute access for NodeInfo (the compile-time view of a node), shared by every op.
#include "onnx/onnx-ml.pb.h"
#include "loader/tensor_proto.h"
#include "ops/op_kernel.h"

namespace onnxd::engine {

const std::string& NodeInfo::name() const { return proto().name(); }
const std::string& NodeInfo::op_type() const { return proto().op_type(); }
const std::string& NodeInfo::domain() const { return proto().domain(); }
int NodeInfo::num_inputs() const { return proto().input_size(); }
int NodeInfo::num_outputs() const { return proto().output_size(); }
bool NodeInfo::has_input(int i) const { return i >= 0 && i < proto().input_size() && !proto().input(i).empty(); }
bool NodeInfo::has_output(int i) const { return i >= 0 && i < proto().output_size() && !proto().output(i).empty(); }

const onnx::AttributeProto* NodeInfo::attr(const std::string& name) const {
  for (const auto& a : proto().attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

int64_t NodeInfo::GetInt(const std::string& name, int64_t dflt) const {
  const auto* a = attr(name);
  return a ? a->i() : dflt;
}

float NodeInfo::GetFloat(const std::string& name, float dflt) const {
  const auto* a = attr(name);
  return a ? a->f() : dflt;
}

std::string NodeInfo::GetString(const std::string& name, const std::string& dflt) const {
  const auto* a = attr(name);
  return a ? a->s() : dflt;
}

std::vector<int64_t> NodeInfo::GetInts(const std::string& name) const {
  const auto* a = attr(name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
}

std::vector<float> NodeInfo::GetFloats(const std::string& name) const {
  const auto* a = attr(name);
  return a ? std::vector<float>(a->floats().begin(), a->floats().end()) : std::vector<float>{};
}

std::vector<std::string> NodeInfo::GetStrings(const std::string& name) const {
  const auto* a = attr(name);
  return a ? std::vector<std::string>(a->strings().begin(), a->strings().end()) : std::vector<std::string>{};
}

StatusOr<int64_t> NodeInfo::RequireInt(const std::string& name) const {
  const auto* a = attr(name);
  if (!a) return Error("required attribute '" + name + "' is missing");
  return a->i();
}

StatusOr<Tensor> NodeInfo::GetTensor(const std::string& name) const {
  const auto* a = attr(name);
  if (!a || !a->has_t()) return Error("tensor attribute '" + name + "' is missing");
  auto t = TensorFromProto(a->t());
  if (!t.ok()) return Error("attribute '" + name + "': " + t.status().message());
  return t;
}

Status NodeInfo::Error(const std::string& msg) const {
  return InvalidArgument("node '" + name() + "' (" + op_type() + "): " + msg);
}

Status NodeInfo::Unsupported(const std::string& msg) const {
  return Unimplemented("node '" + name() + "' (" + op_type() + "): " + msg);
}

Status KernelContext::Error(const std::string& msg) const {
  return InvalidArgument("node '" + node_name() + "' (" + op_type() + "): " + msg);
}

}  // namespace onnxd::engine
