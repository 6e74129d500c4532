// LinearClassifier, LinearRegressor, SVMClassifier, SVMRegressor.
#include "ops/ml/ml_common.h"

namespace onnxd::engine::ml {

void RegisterLinearSvmOps(OpRegistry& r) {}

}  // namespace onnxd::engine::ml
