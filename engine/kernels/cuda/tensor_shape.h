// Small fixed-rank shape helpers shared by the CUDA kernels (rank <= kMaxRank).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "onnxd/engine/status.h"

namespace onnxd::cuda {

inline constexpr int kMaxRank = 6;

// Dimensions and strides passed by value to kernels; unused leading slots are 1 / 0.
struct KernelShape {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxRank] = {};
};

inline int64_t NumElements(std::span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Numpy-style broadcast of two shapes; InvalidArgument when they do not broadcast.
inline StatusOr<std::vector<int64_t>> BroadcastShape(std::span<const int64_t> a, std::span<const int64_t> b) {
  const size_t rank = a.size() > b.size() ? a.size() : b.size();
  std::vector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i + a.size() >= rank ? a[i + a.size() - rank] : 1;
    int64_t db = i + b.size() >= rank ? b[i + b.size() - rank] : 1;
    if (da != db && da != 1 && db != 1) return InvalidArgument("shapes do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace onnxd::cuda
