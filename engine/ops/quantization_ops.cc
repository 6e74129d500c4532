#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterQuantizationOps(OpRegistry& r) {}

}  // namespace onnxd::engine
