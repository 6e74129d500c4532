// Gathering the inputs of a batch's requests into one tensor per input (along dim 0), and splitting
// the batch's outputs back per request: tensors by rows, sequences (a ZipMap's one map per row) by
// elements.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "onnxd/engine/status.h"
#include "onnxd/engine/tensor.h"

namespace onnxd::server {

// Concatenates tensors whose dims agree except the first. `parts` must not be empty.
StatusOr<Tensor> ConcatRows(const std::vector<const Tensor*>& parts);

// Splits `value` (a batch output named `name`) into owned pieces of `rows[i]` rows each; the
// value's first dim (tensor) or length (sequence) must equal the sum of `rows`.
Status SplitRows(const std::string& name, const Value& value, const std::vector<int64_t>& rows,
                 std::vector<Value>* pieces);

}  // namespace onnxd::server
