#include "ops/op_kernel.h"

namespace onnxd::engine {

void RegisterAttentionOps(OpRegistry& r) {}

}  // namespace onnxd::engine
