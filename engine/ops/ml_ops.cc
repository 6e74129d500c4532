#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterMlOps(OpRegistry& r) {}

}  // namespace onnxd::engine
