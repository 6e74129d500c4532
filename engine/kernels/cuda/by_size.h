// The element type of a given size, for the kernels that move bits and never read values (copies,
// gathers, Pad, Tile): one instantiation per size instead of one per ONNX type.
#pragma once

#include <cstdint>
#include <string>

#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// Calls f with a value of the unsigned integer type of `elem_size` bytes (1, 2, 4 or 8) and
// returns its Status; UNIMPLEMENTED for any other size.
template <typename F>
Status BySize(int elem_size, F&& f) {
  switch (elem_size) {
    case 1: return f(uint8_t{});
    case 2: return f(uint16_t{});
    case 4: return f(uint32_t{});
    case 8: return f(uint64_t{});
    default: return Unimplemented("element size " + std::to_string(elem_size) + " on the GPU");
  }
}

}  // namespace onnxd::cuda
