#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterNnOps(OpRegistry& r) {}

}  // namespace onnxd::engine
