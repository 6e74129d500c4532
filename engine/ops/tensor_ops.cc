#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterTensorOps(OpRegistry& r) {}

}  // namespace onnxd::engine
