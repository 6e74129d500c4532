#include "ops/ml/ml_common.h"


namespace onnxd::engine::ml {

Status TensorToDoubles(const NodeInfo& n, const Tensor& t, const std::string& what, std::vector<double>* out) {
  out->resize(static_cast<size_t>(t.num_elements()));
  bool ok = DispatchNumericOrBool(t.dtype(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    const S* s = t.data<S>();
    for (size_t i = 0; i < out->size(); ++i) (*out)[i] = static_cast<double>(static_cast<ComputeType<S>>(s[i]));
  });
  if (!ok) return n.Error("attribute '" + what + "' must hold numbers, got " + DataTypeName(t.dtype()));
  return Status::Ok();
}

Status ReadFloatsOrTensor(const NodeInfo& n, const std::string& name, std::vector<double>* out, bool* is_double) {
  if (is_double != nullptr) *is_double = false;
  out->clear();
  if (n.has_attr(name + "_as_tensor")) {
    Tensor t;
    ASSIGN_OR_RETURN(t, n.GetTensor(name + "_as_tensor"));
    if (is_double != nullptr) *is_double = t.dtype() == DataType::kDouble;
    return TensorToDoubles(n, t, name + "_as_tensor", out);
  }
  for (float f : n.GetFloats(name)) out->push_back(f);
  return Status::Ok();
}

}  // namespace onnxd::engine::ml
