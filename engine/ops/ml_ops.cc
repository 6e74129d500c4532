// ai.onnx.ml operators. The kernels live in engine/ops/ml/*.cc; this registers them all.
#include "ops/ml/ml_common.h"
#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterMlOps(OpRegistry& r) {
  ml::RegisterTreeEnsembleOps(r);
  ml::RegisterLinearSvmOps(r);
  ml::RegisterMlMiscOps(r);
}

}  // namespace onnxd::engine
