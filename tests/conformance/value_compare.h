// Comparison of engine values against expected ones with the ONNX backend runner's rule:
// |actual - expected| <= atol + rtol * |expected| elementwise, same dtype and shape, NaNs equal.
#pragma once

#include <string>

#include "onnxd/engine/tensor.h"

namespace onnxd::testing {

// Empty string when equal within tolerance, else a description of the first difference.
std::string CompareValues(const Value& actual, const Value& expected, double rtol, double atol);

}  // namespace onnxd::testing
