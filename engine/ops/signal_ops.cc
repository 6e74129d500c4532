#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterSignalOps(OpRegistry& r) {}

}  // namespace onnxd::engine
