// Reading and writing values in the files users and the ONNX test suites use: TensorProto /
// SequenceProto / MapProto / OptionalProto (.pb) and NumPy (.npy).
#pragma once

#include <string>

#include "onnxd/engine/status.h"
#include "onnxd/engine/tensor.h"

namespace onnxd {

// `type` (the model's declared type for the value, may be null) decides which proto a .pb holds.
// A path ending in .npy is read as NumPy.
StatusOr<Value> ReadValueFile(const std::string& path, const TypeInfo* type);
// Writes a TensorProto, SequenceProto, MapProto (or an empty OptionalProto for kNone).
Status WriteValueFile(const Value& value, const std::string& name, const std::string& path);

}  // namespace onnxd
