#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterStringOps(OpRegistry& r) {}

}  // namespace onnxd::engine
