#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterImageOps(OpRegistry& r) {}

}  // namespace onnxd::engine
