// Pad's and Tile's index arithmetic for the CUDA kernels (kernels/cuda/misc_ops.cu evaluates
// PadSourceOffset / TileSourceOffset once per output element), and the host-side set-up that turns
// a node's pads / axes / repeats into the geometry they read. Host and device code with no CUDA
// dependency, so tests/engine/kernels/cuda/pad_tile_math_test.cc runs the per-element functions
// on the CPU against the CPU ops (ops/shape_ops.cc, checked by the ONNX node suite).
#pragma once

#include <cstdint>
#include <string>

#if defined(__CUDACC__)
#define ONNXD_PAD_TILE_FN __host__ __device__ inline
#else
#define ONNXD_PAD_TILE_FN inline
#endif

namespace onnxd::cuda {

inline constexpr int kPadTileMaxRank = 6;  // as kMaxRank (tensor_shape.h)

enum class PadMode : uint8_t { kConstant, kReflect, kEdge, kWrap };

// Dims of the output, and of the input with its packed strides; `before` is Pad's leading pad per
// axis (negative crops). Unused slots past `rank` are never read.
struct PadTileGeometry {
  int rank = 0;
  PadMode mode = PadMode::kConstant;
  int64_t out_dims[kPadTileMaxRank] = {};
  int64_t in_dims[kPadTileMaxRank] = {};
  int64_t in_strides[kPadTileMaxRank] = {};
  int64_t before[kPadTileMaxRank] = {};
};

// Pad: the input index along an axis of length d read by output index o; -1 for the constant.
// d >= 1 unless the mode is kConstant (MakePadGeometry refuses the rest).
ONNXD_PAD_TILE_FN int64_t PadSourceIndex(PadMode m, int64_t o, int64_t before, int64_t d) {
  int64_t j = o - before;
  if (j >= 0 && j < d) return j;
  switch (m) {
    case PadMode::kConstant:
      return -1;
    case PadMode::kEdge:
      return j < 0 ? 0 : d - 1;
    case PadMode::kWrap:
      j %= d;
      return j < 0 ? j + d : j;
    case PadMode::kReflect: {
      // The mirror without repeating the edge: period 2 (d - 1), folded back past d - 1.
      if (d == 1) return 0;
      const int64_t p = 2 * (d - 1);
      j %= p;
      if (j < 0) j += p;
      return j >= d ? p - j : j;
    }
  }
  return -1;
}

// Pad: the input element (offset in elements) that output element i (packed, row-major) copies;
// -1 when it is the constant.
template <typename Index>
ONNXD_PAD_TILE_FN Index PadSourceOffset(const PadTileGeometry& g, Index i) {
  Index off = 0;
  bool constant = false;
  for (int d = g.rank - 1; d >= 0; --d) {
    const Index od = static_cast<Index>(g.out_dims[d]);
    const Index o = i % od;
    i /= od;
    const int64_t j = PadSourceIndex(g.mode, o, g.before[d], g.in_dims[d]);
    if (j < 0) constant = true;
    else off += static_cast<Index>(j) * static_cast<Index>(g.in_strides[d]);
  }
  return constant ? Index(-1) : off;
}

// Tile: the input element output element i copies (each output coordinate modulo the input dim).
template <typename Index>
ONNXD_PAD_TILE_FN Index TileSourceOffset(const PadTileGeometry& g, Index i) {
  Index off = 0;
  for (int d = g.rank - 1; d >= 0; --d) {
    const Index od = static_cast<Index>(g.out_dims[d]);
    const Index o = i % od;
    i /= od;
    off += (o % static_cast<Index>(g.in_dims[d])) * static_cast<Index>(g.in_strides[d]);
  }
  return off;
}

inline int64_t PadTileOutputElements(const PadTileGeometry& g) {
  int64_t n = 1;
  for (int d = 0; d < g.rank; ++d) n *= g.out_dims[d];
  return n;
}

namespace pad_tile_detail {
inline void InputDims(const int64_t* in_dims, int rank, PadTileGeometry* g) {
  g->rank = rank;
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    g->in_dims[d] = in_dims[d];
    g->in_strides[d] = stride;
    stride *= in_dims[d];
  }
}
}  // namespace pad_tile_detail

// Pad's geometry from the node's values: `pads` holds 2 * naxes entries (the begins, then the
// ends) for `axes` (nullptr: naxes == rank, every axis in order; negative axes count from the
// end). Returns "" or why the values are invalid (as the CPU op refuses them).
inline std::string MakePadGeometry(const int64_t* in_dims, int rank, PadMode mode, const int64_t* pads, int npads,
                                   const int64_t* axes, int naxes, PadTileGeometry* g) {
  if (rank > kPadTileMaxRank) return "rank above 6";
  if (axes == nullptr) naxes = rank;
  if (npads != 2 * naxes)
    return "pads has " + std::to_string(npads) + " entries, expected " + std::to_string(2 * naxes);
  *g = PadTileGeometry();
  g->mode = mode;
  pad_tile_detail::InputDims(in_dims, rank, g);
  int64_t after[kPadTileMaxRank] = {};
  for (int k = 0; k < naxes; ++k) {
    int64_t a = axes == nullptr ? k : axes[k];
    if (a < 0) a += rank;
    if (a < 0 || a >= rank) return "axes entry " + std::to_string(axes[k]) + " is out of range";
    g->before[a] = pads[k];
    after[a] = pads[naxes + k];
  }
  for (int d = 0; d < rank; ++d) {
    g->out_dims[d] = in_dims[d] + g->before[d] + after[d];
    if (g->out_dims[d] < 0) return "pads make dim " + std::to_string(d) + " negative";
    if (mode != PadMode::kConstant && in_dims[d] == 0 && g->out_dims[d] > 0)
      return "cannot pad an empty dim in a non-constant mode";
  }
  return "";
}

// Tile's geometry: out dim d = in dim d * repeats[d]; repeats has one entry per axis, none
// negative. Returns "" or why not.
inline std::string MakeTileGeometry(const int64_t* in_dims, int rank, const int64_t* repeats, int nrepeats,
                                    PadTileGeometry* g) {
  if (rank > kPadTileMaxRank) return "rank above 6";
  if (nrepeats != rank)
    return "repeats has " + std::to_string(nrepeats) + " entries for input rank " + std::to_string(rank);
  *g = PadTileGeometry();
  pad_tile_detail::InputDims(in_dims, rank, g);
  for (int d = 0; d < rank; ++d) {
    if (repeats[d] < 0) return "repeats has a negative entry";
    g->out_dims[d] = in_dims[d] * repeats[d];
  }
  return "";
}

}  // namespace onnxd::cuda
