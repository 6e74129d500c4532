// The additive bias of a fused softmax(x + bias) over x's last axis (an attention mask added to
// the scores): where each row's bias starts, for a bias broadcast to x by numpy rules. Host and
// device code; the host part is tested on the CPU in tests/engine/kernels/cuda/softmax_bias_test.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#if defined(__CUDACC__)
#define ONNXD_SOFTMAX_BIAS_FN __host__ __device__ inline
#else
#define ONNXD_SOFTMAX_BIAS_FN inline
#endif

namespace onnxd::cuda {

inline constexpr int kMaxSoftmaxBiasRank = 6;

// x viewed as [rows, cols] (cols: its last axis). Row r's bias element for column c is at
// RowOffset(r) + c * col_stride.
struct SoftmaxBiasLayout {
  int row_rank = 0;                                  // x's axes but the last, size-1 axes dropped
  int64_t row_dims[kMaxSoftmaxBiasRank] = {};
  int64_t row_strides[kMaxSoftmaxBiasRank] = {};     // the bias's element strides; 0 where it broadcasts
  int64_t col_stride = 0;                            // 1, or 0 when one bias value serves the whole row

  ONNXD_SOFTMAX_BIAS_FN int64_t RowOffset(int64_t row) const {
    int64_t off = 0;
    for (int d = row_rank; d-- > 0;) {
      off += (row % row_dims[d]) * row_strides[d];
      row /= row_dims[d];
    }
    return off;
  }
};

// The layout of `bias` broadcast to `x` (bias rank <= x rank, each bias dim 1 or x's). Nothing
// when it does not broadcast to x exactly, x has rank 0, or rank above kMaxSoftmaxBiasRank + 1.
inline std::optional<SoftmaxBiasLayout> MakeSoftmaxBiasLayout(std::span<const int64_t> x, std::span<const int64_t> bias) {
  const size_t r = x.size();
  if (r == 0 || bias.size() > r || r > static_cast<size_t>(kMaxSoftmaxBiasRank) + 1) return std::nullopt;
  const size_t off = r - bias.size();
  // The bias's packed strides, aligned to x's axes (0 for the axes it lacks or has as 1).
  int64_t stride[kMaxSoftmaxBiasRank + 1] = {};
  int64_t s = 1;
  for (size_t d = r; d-- > off;) {
    const int64_t bd = bias[d - off];
    if (bd != 1 && bd != x[d]) return std::nullopt;
    stride[d] = bd == 1 ? 0 : s;
    s *= bd;
  }
  SoftmaxBiasLayout l;
  l.col_stride = stride[r - 1];
  for (size_t d = 0; d + 1 < r; ++d) {
    if (x[d] == 1) continue;
    l.row_dims[l.row_rank] = x[d];
    l.row_strides[l.row_rank] = stride[d];
    ++l.row_rank;
  }
  return l;
}

}  // namespace onnxd::cuda
