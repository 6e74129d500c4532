#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterActivationOps(OpRegistry& r) {}

}  // namespace onnxd::engine
