// The grid the element-wise launchers use (GridBlocks), and when a grid-stride loop may count in
// int32_t.
// Host code only (constants); tested on the CPU in tests/engine/kernels/cuda/grid_stride_test.cc.
#pragma once

#include <cstdint>

namespace onnxd::cuda {

// The most blocks a launcher gives a grid-stride loop (each thread then covers several elements).
inline constexpr int64_t kMaxGridBlocks = 65535 * 32;

// The threads a block of the element-wise launchers.
inline constexpr int kGridStrideBlock = 256;

// The grid for a grid-stride loop over n elements with `block` threads a block: one block per
// `block` elements, capped at kMaxGridBlocks.
constexpr int GridBlocks(int64_t n, int block = kGridStrideBlock) {
  const int64_t g = (n + block - 1) / block;
  return static_cast<int>(g < kMaxGridBlocks ? g : kMaxGridBlocks);
}

// True when a grid-stride loop over n elements, with at most kMaxGridBlocks blocks of `block`
// threads, may hold its index in int32_t: the last step adds the whole grid (up to 2^29 threads at
// 256 a block) to an index below n, and that sum must not pass INT32_MAX, or it wraps negative,
// passes `i < n` and the kernel writes before the buffer.
constexpr bool FitsInt32GridStride(int64_t n, int block) {
  return n >= 0 && n <= int64_t{0x7fffffff} - kMaxGridBlocks * block;
}

}  // namespace onnxd::cuda
