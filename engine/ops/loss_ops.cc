#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterLossOps(OpRegistry& r) {}

}  // namespace onnxd::engine
