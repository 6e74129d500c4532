#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterSequenceOps(OpRegistry& r) {}

}  // namespace onnxd::engine
