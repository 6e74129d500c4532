#include "ops/op_kernel.h"
namespace onnxd::engine {
void RegisterElementwiseOps(OpRegistry&) {}
void RegisterActivationOps(OpRegistry&) {}
void RegisterMathOps(OpRegistry&) {}
void RegisterNnOps(OpRegistry&) {}
void RegisterReductionOps(OpRegistry&) {}
void RegisterShapeOps(OpRegistry&) {}
void RegisterTensorOps(OpRegistry&) {}
void RegisterMlOps(OpRegistry&) {}
void RegisterControlFlowOps(OpRegistry&) {}
void RegisterSequenceOps(OpRegistry&) {}
void RegisterQuantizationOps(OpRegistry&) {}
}
