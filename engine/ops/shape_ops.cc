#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterShapeOps(OpRegistry& r) {}

}  // namespace onnxd::engine
