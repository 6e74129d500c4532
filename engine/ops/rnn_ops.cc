#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterRnnOps(OpRegistry& r) {}

}  // namespace onnxd::engine
