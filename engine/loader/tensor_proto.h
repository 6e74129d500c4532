// Conversion between ONNX wire protos (TensorProto, SequenceProto, MapProto, OptionalProto) and
// engine values. Used by the loader (initializers), the CLI (test data sets) and tests.
#pragma once

#include <string>

#include "onnxd/engine/status.h"
#include "onnxd/engine/tensor.h"

namespace onnx {
class TensorProto;
class SequenceProto;
class MapProto;
class OptionalProto;
class TypeProto;
}  // namespace onnx

namespace onnxd::engine {

// `base_dir` resolves external data (empty: external data is refused). External paths must stay
// inside base_dir: absolute paths, ".." and symlinks leading out are refused.
StatusOr<Tensor> TensorFromProto(const onnx::TensorProto& proto, const std::string& base_dir = "");
void TensorToProto(const Tensor& t, onnx::TensorProto* proto);

StatusOr<Value> ValueFromSequenceProto(const onnx::SequenceProto& proto);
StatusOr<Value> ValueFromMapProto(const onnx::MapProto& proto);
StatusOr<Value> ValueFromOptionalProto(const onnx::OptionalProto& proto);
void SequenceToProto(const Value& v, onnx::SequenceProto* proto);
void MapToProto(const Value& v, onnx::MapProto* proto);

// Reads a .pb file holding a TensorProto, SequenceProto, MapProto or OptionalProto; `type`, when
// known (the model's declared type for that input/output), decides which.
StatusOr<Value> ReadValueFile(const std::string& path, const onnx::TypeProto* type);
// Writes a value in the matching proto (TensorProto, SequenceProto or MapProto) to `path`.
Status WriteValueFile(const Value& v, const std::string& name, const std::string& path);
// Reads a NumPy .npy file (little-endian numeric and bool dtypes, C order).
StatusOr<Tensor> ReadNpyFile(const std::string& path);

// Resolves `relative` inside `base_dir`, refusing escapes; returns the absolute path.
StatusOr<std::string> ResolveInside(const std::string& base_dir, const std::string& relative);

TypeInfo TypeInfoFromProto(const onnx::TypeProto& t);

}  // namespace onnxd::engine
