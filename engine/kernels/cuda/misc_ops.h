// Pad and Tile on the GPU: copy kernels that move elements by size (1, 2, 4 or 8 bytes), so one
// kernel serves every element type of that size. The per-element index arithmetic and the host
// set-up that validates a node's pads / repeats are in kernels/cuda/pad_tile_math.h (tested on
// the CPU). Pointers are device memory; calls queue on `stream` and return at once; an empty
// output queues nothing.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/pad_tile_math.h"
#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// out (g.out_dims, packed) = Pad(in) by g (MakePadGeometry). `constant` holds the padding value's
// bits in its low `elem_size` bytes (kConstant only).
Status Pad(const void* in, void* out, const PadTileGeometry& g, uint64_t constant, int elem_size, cudaStream_t stream);

// out (g.out_dims, packed) = Tile(in) by g (MakeTileGeometry).
Status Tile(const void* in, void* out, const PadTileGeometry& g, int elem_size, cudaStream_t stream);

}  // namespace onnxd::cuda
