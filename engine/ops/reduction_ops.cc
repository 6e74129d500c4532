#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterReductionOps(OpRegistry& r) {}

}  // namespace onnxd::engine
