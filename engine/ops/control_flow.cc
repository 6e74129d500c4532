#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterControlFlowOps(OpRegistry& r) {}

}  // namespace onnxd::engine
