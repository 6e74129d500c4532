#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterDetectionOps(OpRegistry& r) {}

}  // namespace onnxd::engine
