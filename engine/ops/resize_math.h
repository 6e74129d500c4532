// Resize's coordinate and tap arithmetic, shared by the CPU op (ops/resize.cc, which builds a table
// per axis from it) and the CUDA kernel (kernels/cuda/resize.cu, which evaluates it per output
// element): one definition of the spec's formulas, compiled for host and device.
//
// ResizeElement is the CUDA kernel's whole per-element computation; tests/engine/ops/
// resize_element_test.cc runs it on the host against the CPU op. Device code that includes this
// must be compiled with -fmad=false (kernels/cuda/CMakeLists.txt does so for resize.cu): the host
// does not fuse multiply-adds, and a fused coordinate can round to the other nearest pixel.
#pragma once

#include <math.h>

#include <cstdint>

#if defined(__CUDACC__)
#define ONNXD_RESIZE_FN __host__ __device__ inline
#else
#define ONNXD_RESIZE_FN inline
#endif

namespace onnxd::resize {

enum class CoordMode : uint8_t { kHalfPixel, kHalfPixelSymmetric, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfCrop };
enum class InterpMode : uint8_t { kNearest, kLinear, kCubic };
// kSimple: Upsample's and Resize-10's rule (round up only when downscaling).
enum class NearestMode : uint8_t { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };

// A node's interpolation settings (from its attributes).
struct Params {
  InterpMode mode = InterpMode::kNearest;
  CoordMode coord = CoordMode::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  bool tf_half_pixel_nn = false;  // Resize-11's tf_half_pixel_for_nn: (y + 0.5) / scale
  bool exclude_outside = false;
  bool antialias = false;
  double cubic_a = -0.75;
  double extrapolation = 0.0;  // tf_crop_and_resize's value outside the input
};

// One axis of one run: input and output lengths, the scale, tf_crop_and_resize's roi.
struct AxisGeom {
  int64_t in = 0;
  int64_t out = 0;
  float scale = 1.0f;
  float roi0 = 0.0f, roi1 = 1.0f;
  bool identity = true;  // output index == input index: the axis is not resized
};

// Source coordinate of output index y; sets *extrap for tf_crop_and_resize when outside the input.
// Computed in float32 with the spec's integer length_resized, as onnxruntime does (the ONNX
// reference uses float64 and a fractional output width; the node tests agree with both).
ONNXD_RESIZE_FN float SourceCoord(CoordMode m, float y, const AxisGeom& g, bool* extrap) {
  const float in_w = static_cast<float>(g.in);
  const float out_len = static_cast<float>(g.out);
  *extrap = false;
  switch (m) {
    case CoordMode::kAlignCorners: {
      // The node tests follow the reference here: the fractional output width scale * in.
      const float out_w = g.scale * in_w;
      return out_w == 1 ? 0.0f : y * (in_w - 1) / (out_w - 1);
    }
    case CoordMode::kAsymmetric:
      return y / g.scale;
    case CoordMode::kTfCrop: {
      const float x = g.out > 1 ? g.roi0 * (in_w - 1) + (y * (g.roi1 - g.roi0) * (in_w - 1)) / (out_len - 1)
                                : 0.5f * (g.roi0 + g.roi1) * (in_w - 1);
      *extrap = x < 0 || x > in_w - 1;
      return x;
    }
    case CoordMode::kPytorchHalfPixel:
      return g.out > 1 ? (y + 0.5f) / g.scale - 0.5f : 0.0f;
    case CoordMode::kHalfPixel:
      return (y + 0.5f) / g.scale - 0.5f;
    case CoordMode::kHalfPixelSymmetric: {
      const float out_w = g.scale * in_w;
      const float adjustment = out_len / out_w;
      const float center = in_w / 2;
      const float offset = center * (1 - adjustment);
      return offset + (y + 0.5f) / g.scale - 0.5f;
    }
  }
  return 0.0f;
}

ONNXD_RESIZE_FN float AxisSource(const Params& p, const AxisGeom& g, int64_t o, bool* extrap) {
  if (p.tf_half_pixel_nn) {
    *extrap = false;
    return (static_cast<float>(o) + 0.5f) / g.scale;
  }
  return SourceCoord(p.coord, static_cast<float>(o), g, extrap);
}

ONNXD_RESIZE_FN int64_t ClampIndex(int64_t i, int64_t n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

// Nearest source index of output index o, or -1 where tf_crop_and_resize extrapolates.
ONNXD_RESIZE_FN int64_t NearestIndex(const Params& p, const AxisGeom& g, int64_t o) {
  if (g.identity) return o;
  bool extrap = false;
  const float xo = AxisSource(p, g, o, &extrap);
  if (extrap) return -1;
  const float f = floorf(xo);
  int64_t i = static_cast<int64_t>(f);
  if (xo != f) {
    const float r = xo - f;
    bool up = false;
    switch (p.nearest) {
      case NearestMode::kRoundPreferFloor: up = r > 0.5f; break;
      case NearestMode::kRoundPreferCeil: up = r >= 0.5f; break;
      case NearestMode::kFloor: up = false; break;
      case NearestMode::kCeil: up = true; break;
      case NearestMode::kSimple: up = g.scale < 1.0f; break;
    }
    if (up) ++i;
  }
  return ClampIndex(i, g.in);
}

ONNXD_RESIZE_FN double CubicKernel(double x, double a) {
  x = fabs(x);
  const double x2 = x * x, x3 = x2 * x;
  if (x <= 1) return (a + 2) * x3 - (a + 3) * x2 + 1;
  if (x < 2) return a * x3 - 5 * a * x2 + 8 * a * x - 4 * a;
  return 0.0;
}

// Taps per output index along an axis (linear 2, cubic 4; antialiased filters widen by 1 / scale);
// 0 when an antialiased filter would be absurdly wide.
ONNXD_RESIZE_FN int TapCount(const Params& p, const AxisGeom& g) {
  if (p.mode == InterpMode::kNearest) return 1;
  if (!p.antialias) return p.mode == InterpMode::kLinear ? 2 : 4;
  const double s = g.scale < 1.0f ? static_cast<double>(g.scale) : 1.0;
  const double support = p.mode == InterpMode::kLinear ? 1.0 : 2.0;
  const double start = floor(-support / s) + 1;
  if (!(start > -(1 << 20))) return 0;
  return static_cast<int>(2 - 2 * static_cast<int64_t>(start));
}

// The n = TapCount taps of output index o along an axis (linear or cubic): source indices, clamped
// into the input, and their weights, normalised when antialiasing or excluding the outside. Returns
// true where tf_crop_and_resize extrapolates (the output is then `extrapolation`).
ONNXD_RESIZE_FN bool AxisTaps(const Params& p, const AxisGeom& g, int64_t o, int n, int64_t* idx, double* w) {
  const double s = g.scale < 1.0f ? static_cast<double>(g.scale) : 1.0;
  const int i_start = 1 - n / 2;
  bool extrap = false;
  const float xo = AxisSource(p, g, o, &extrap);
  const float f = floorf(xo);
  const double ratio = xo == f ? 1.0 : static_cast<double>(xo - f);
  const int64_t base = static_cast<int64_t>(f) - (xo == f ? 1 : 0);
  double wsum = 0;
  for (int j = 0; j < n; ++j) {
    double v;
    if (p.mode == InterpMode::kLinear) {
      if (!p.antialias) {
        v = j == 0 ? 1 - ratio : ratio;
      } else {
        v = 1 - fabs((i_start + j - ratio) * s);
        v = v < 0 ? 0.0 : (v > 1 ? 1.0 : v);
      }
    } else {
      v = p.antialias ? CubicKernel(s * (i_start + j - ratio), p.cubic_a)
                      : CubicKernel(static_cast<double>(j - 1) - ratio, p.cubic_a);
    }
    const int64_t src = base + i_start + j;
    if (p.exclude_outside && (src < 0 || src >= g.in)) v = 0;
    idx[j] = ClampIndex(src, g.in);
    w[j] = v;
    wsum += v;
  }
  if (p.antialias || p.exclude_outside) {
    if (wsum == 0) wsum = 1;
    for (int j = 0; j < n; ++j) w[j] /= wsum;
  }
  return extrap;
}

// ---------------------------------------------------------------------------------------------
// One output element computed directly from the input (the CUDA kernel's form): no per-axis
// passes or tables, so a run needs nothing but X, Y and this description.

inline constexpr int kElementMaxRank = 6;
inline constexpr int kElementMaxResized = 3;  // linear / cubic: resized axes (nearest: any)
inline constexpr int kElementMaxTaps = 4;     // per axis: linear and cubic without antialias
inline constexpr int kAntialiasMaxTaps = 16;  // per axis, antialiased: downscales to 1/8 (linear), 1/4 (cubic)

struct ElementShape {
  int rank = 0;
  int nresized = 0;
  int taps[kElementMaxResized] = {};  // per resized axis (they differ when antialiased)
  int64_t out_dims[kElementMaxRank] = {};
  int64_t in_strides[kElementMaxRank] = {};
  int resized[kElementMaxRank] = {};  // the non-identity axes, ascending
  AxisGeom geo[kElementMaxRank];
};

// "" when ResizeElement takes this run, else why not (the caller falls back to the CPU op).
// Antialiased runs take ResizeElement<Acc, kAntialiasMaxTaps>.
inline const char* ElementUnsupported(const Params& p, int rank, const AxisGeom* geo) {
  if (rank > kElementMaxRank) return "rank above 6";
  if (p.mode == InterpMode::kNearest) return "";
  int resized = 0;
  for (int d = 0; d < rank; ++d) {
    if (geo[d].identity) continue;
    ++resized;
    const int n = TapCount(p, geo[d]);
    if (p.antialias && (n < 1 || n > kAntialiasMaxTaps)) return "antialias filter wider than 16 taps";
  }
  if (resized > kElementMaxResized) return "linear or cubic over more than 3 axes";
  return "";
}

// Fills the description of a run (ElementUnsupported must have said "").
inline ElementShape MakeElementShape(const Params& p, int rank, const int64_t* in_dims, const AxisGeom* geo) {
  ElementShape s;
  s.rank = rank;
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    s.in_strides[d] = stride;
    stride *= in_dims[d];
  }
  for (int d = 0; d < rank; ++d) {
    s.out_dims[d] = geo[d].out;
    s.geo[d] = geo[d];
    if (geo[d].identity) continue;
    if (s.nresized < kElementMaxResized) s.taps[s.nresized] = TapCount(p, geo[d]);
    s.resized[s.nresized++] = d;
  }
  return s;
}

// Output element `o` (row-major index into the output). `load(i)` reads input element i as Acc.
// kMaxTaps bounds every resized axis's taps: kElementMaxTaps, or kAntialiasMaxTaps when antialiased.
template <typename Acc, int kMaxTaps = kElementMaxTaps, typename Load>
ONNXD_RESIZE_FN Acc ResizeElement(const Params& p, const ElementShape& s, int64_t o, Load load) {
  int64_t coord[kElementMaxRank];
  for (int d = s.rank - 1; d >= 0; --d) {
    coord[d] = o % s.out_dims[d];
    o /= s.out_dims[d];
  }
  int64_t base = 0;
  for (int d = 0; d < s.rank; ++d)
    if (s.geo[d].identity) base += coord[d] * s.in_strides[d];
  if (p.mode == InterpMode::kNearest) {
    for (int k = 0; k < s.nresized; ++k) {
      const int d = s.resized[k];
      const int64_t i = NearestIndex(p, s.geo[d], coord[d]);
      if (i < 0) return static_cast<Acc>(p.extrapolation);
      base += i * s.in_strides[d];
    }
    return load(base);
  }
  int64_t off[kElementMaxResized][kMaxTaps];
  double w[kElementMaxResized][kMaxTaps];
  for (int k = 0; k < s.nresized; ++k) {
    const int d = s.resized[k];
    int64_t idx[kMaxTaps];
    if (AxisTaps(p, s.geo[d], coord[d], s.taps[k], idx, w[k])) return static_cast<Acc>(p.extrapolation);
    for (int j = 0; j < s.taps[k]; ++j) off[k][j] = idx[j] * s.in_strides[d];
  }
  // Every combination of one tap per resized axis (an odometer over them).
  int tap[kElementMaxResized] = {};
  Acc acc = 0;
  for (;;) {
    Acc wt = 1;
    int64_t at = base;
    for (int k = 0; k < s.nresized; ++k) {
      wt *= static_cast<Acc>(w[k][tap[k]]);
      at += off[k][tap[k]];
    }
    acc += wt * load(at);
    int k = s.nresized - 1;
    for (; k >= 0; --k) {
      if (++tap[k] < s.taps[k]) break;
      tap[k] = 0;
    }
    if (k < 0) break;
  }
  return acc;
}

}  // namespace onnxd::resize
