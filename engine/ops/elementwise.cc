#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterElementwiseOps(OpRegistry& r) {}

}  // namespace onnxd::engine
