#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterMathOps(OpRegistry& r) {}

}  // namespace onnxd::engine
