// Window geometry of Conv, MaxPool and AveragePool on the GPU, for the forms cuDNN does not take
// as ONNX gives them: auto_pad SAME_UPPER / SAME_LOWER, pads that differ between the two ends of
// an axis, ceil_mode, dilated pooling. Pads are resolved from the input extents by the ONNX
// formulas, exactly as the CPU ops resolve them (ops/nn_ops.cc WindowAttrs::Resolve); a
// convolution takes the part of the pads common to both ends from cuDNN and the rest as an
// explicitly padded input (PaddedSource); pooling runs our kernels (pool_nhwc.h), whose window
// bounds and average divisor are PoolTaps.
//
// Host code, and host-and-device code for the kernels: tested on the CPU against the CPU ops in
// tests/engine/kernels/cuda/window_geometry_test.cc. No CUDA headers, so CPU-only builds compile
// the tests too.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#if defined(__CUDACC__)
#define ONNXD_WINDOW_FN __host__ __device__ __forceinline__
#else
#define ONNXD_WINDOW_FN inline
#endif

namespace onnxd::cuda {

enum class AutoPad { kNotSet, kValid, kSameUpper, kSameLower };

inline AutoPad ParseAutoPad(const std::string& s) {
  if (s == "VALID") return AutoPad::kValid;
  if (s == "SAME_UPPER") return AutoPad::kSameUpper;
  if (s == "SAME_LOWER") return AutoPad::kSameLower;
  return AutoPad::kNotSet;
}

// One spatial axis of a window op, its pads resolved.
struct WindowAxis {
  int64_t in = 1, k = 1, stride = 1, dil = 1;
  int64_t pad_begin = 0, pad_end = 0;
  int64_t out = 1;
  int64_t extent() const { return (k - 1) * dil + 1; }  // the window's span over the input
};

// ONNX's pads and output extent for one axis (pad_begin / pad_end: the `pads` attribute's values,
// used with NOTSET only):
//   VALID        no pads, out = floor((in - extent) / stride) + 1 (0 when the window does not fit)
//   SAME_*       out = ceil(in / stride); the pads total max(0, (out - 1) * stride + extent - in),
//                the odd one at the end (UPPER) or at the beginning (LOWER)
//   NOTSET       out = floor or (ceil_mode) ceil((in + pads - extent) / stride) + 1, where with
//                ceil_mode a last window that would start in the end padding is dropped
// ceil_mode only counts for pooling with NOTSET (the CPU ops ignore it otherwise).
inline WindowAxis ResolveWindowAxis(int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t pad_begin,
                                    int64_t pad_end, AutoPad auto_pad, bool ceil_mode) {
  WindowAxis a;
  a.in = in;
  a.k = k;
  a.stride = stride;
  a.dil = dil;
  const int64_t ek = a.extent();
  if (auto_pad == AutoPad::kValid) {
    a.pad_begin = a.pad_end = 0;
    a.out = in >= ek ? (in - ek) / stride + 1 : 0;
  } else if (auto_pad == AutoPad::kSameUpper || auto_pad == AutoPad::kSameLower) {
    a.out = (in + stride - 1) / stride;
    int64_t total = (a.out - 1) * stride + ek - in;
    if (total < 0) total = 0;
    a.pad_begin = auto_pad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
    a.pad_end = total - a.pad_begin;
  } else {
    a.pad_begin = pad_begin;
    a.pad_end = pad_end;
    const int64_t span = in + pad_begin + pad_end - ek;
    if (span < 0) {
      a.out = 0;
    } else if (ceil_mode) {
      a.out = (span + stride - 1) / stride + 1;
      if ((a.out - 1) * stride >= in + pad_begin) --a.out;
    } else {
      a.out = span / stride + 1;
    }
  }
  return a;
}

// The spatial axes of a window op over input extents `in[0..spatial)` with kernel extents
// `k[0..spatial)`; attributes as ONNX gives them (empty: the defaults). False, with `why`, when an
// attribute has the wrong length or an impossible value.
inline bool ResolveWindow(int spatial, const int64_t* in, const int64_t* k, const std::vector<int64_t>& strides,
                          const std::vector<int64_t>& dilations, const std::vector<int64_t>& pads, AutoPad auto_pad,
                          bool ceil_mode, WindowAxis* axes, std::string* why) {
  const size_t n = static_cast<size_t>(spatial);
  if ((!strides.empty() && strides.size() != n) || (!dilations.empty() && dilations.size() != n) ||
      (!pads.empty() && pads.size() != 2 * n)) {
    *why = "strides, dilations or pads do not match " + std::to_string(spatial) + " spatial axes";
    return false;
  }
  for (size_t i = 0; i < n; ++i) {
    const int64_t s = strides.empty() ? 1 : strides[i], d = dilations.empty() ? 1 : dilations[i];
    const int64_t pb = pads.empty() ? 0 : pads[i], pe = pads.empty() ? 0 : pads[n + i];
    if (s < 1 || d < 1 || k[i] < 1 || pb < 0 || pe < 0) {
      *why = "a stride, dilation or kernel extent below 1, or a negative pad";
      return false;
    }
    axes[i] = ResolveWindowAxis(in[i], k[i], s, d, pb, pe, auto_pad, ceil_mode);
  }
  return true;
}

// cuDNN pads both ends of an axis alike: it takes the pads' common part (`both`), and the input
// gets the rest (`extra_begin`, `extra_end`, one of them 0) explicitly. Convolving the padded input
// with `both` on each side is the convolution with the axis's own pads: same windows, same zeros.
struct PadSplit {
  int64_t both = 0, extra_begin = 0, extra_end = 0;
};

inline PadSplit SplitPads(const WindowAxis& a) {
  PadSplit s;
  s.both = a.pad_begin < a.pad_end ? a.pad_begin : a.pad_end;
  s.extra_begin = a.pad_begin - s.both;
  s.extra_end = a.pad_end - s.both;
  return s;
}

// True when cuDNN's pooling (symmetric pads, no dilation, floor grid) gives these axes' windows.
// Pads as wide as the kernel are left to our kernels too: a window there lies wholly in the
// padding, which cuDNN does not define as ONNX does (the CPU op's 0; pads < kernel leave every
// window a tap inside the input).
inline bool CudnnPoolable(const WindowAxis axes[2]) {
  for (int i = 0; i < 2; ++i) {
    const WindowAxis& a = axes[i];
    if (a.pad_begin != a.pad_end || a.dil != 1 || a.pad_begin >= a.k) return false;
    if (a.in + 2 * a.pad_begin < a.k || a.out != (a.in + 2 * a.pad_begin - a.k) / a.stride + 1) return false;
  }
  return true;
}

// A 4-D tensor with zeros added around its two spatial axes: input dims n, c, h, w (NCHW, or NHWC
// in memory when `nhwc`), output h + top + bottom by w + left + right in the same layout. A 5-D
// one (NCDHW, or NDHWC) has a depth axis d in front of h, padded by front / back.
struct SpatialPadShape {
  int64_t n = 1, c = 1, h = 1, w = 1;
  int64_t top = 0, bottom = 0, left = 0, right = 0;
  bool nhwc = false;
  int64_t d = 1, front = 0, back = 0;
  ONNXD_WINDOW_FN int64_t out_d() const { return d + front + back; }
  ONNXD_WINDOW_FN int64_t out_h() const { return h + top + bottom; }
  ONNXD_WINDOW_FN int64_t out_w() const { return w + left + right; }
  ONNXD_WINDOW_FN int64_t out_count() const { return n * c * out_d() * out_h() * out_w(); }
};

// The explicit part of a 1-D or 2-D convolution's pads (SplitPads of each axis) for an input of
// NCHW dims n, c and the axes' extents, in the layout the data has.
inline SpatialPadShape ExtraPads(int64_t n, int64_t c, const WindowAxis axes[2], bool nhwc) {
  const PadSplit sh = SplitPads(axes[0]), sw = SplitPads(axes[1]);
  SpatialPadShape s;
  s.n = n;
  s.c = c;
  s.h = axes[0].in;
  s.w = axes[1].in;
  s.top = sh.extra_begin;
  s.bottom = sh.extra_end;
  s.left = sw.extra_begin;
  s.right = sw.extra_end;
  s.nhwc = nhwc;
  return s;
}

// The same for a 3-D convolution's axes [D, H, W] over NCDHW data.
inline SpatialPadShape ExtraPads3d(int64_t n, int64_t c, const WindowAxis axes[3]) {
  SpatialPadShape s = ExtraPads(n, c, axes + 1, false);
  const PadSplit sd = SplitPads(axes[0]);
  s.d = axes[0].in;
  s.front = sd.extra_begin;
  s.back = sd.extra_end;
  return s;
}

inline bool HasExtraPads(const SpatialPadShape& s) {
  return s.top + s.bottom + s.left + s.right + s.front + s.back > 0;
}

// The input element that element `i` of the padded tensor copies (flat index in the input), or -1
// where it is padding.
ONNXD_WINDOW_FN int64_t PaddedSource(int64_t i, const SpatialPadShape& s) {
  const int64_t od = s.out_d(), oh = s.out_h(), ow = s.out_w();
  int64_t b, ch, z, y, x;
  if (s.nhwc) {
    ch = i % s.c;
    int64_t r = i / s.c;
    x = r % ow;
    r /= ow;
    y = r % oh;
    r /= oh;
    z = r % od;
    b = r / od;
  } else {
    x = i % ow;
    int64_t r = i / ow;
    y = r % oh;
    r /= oh;
    z = r % od;
    r /= od;
    ch = r % s.c;
    b = r / s.c;
  }
  const int64_t zz = z - s.front, hh = y - s.top, ww = x - s.left;
  if (zz < 0 || zz >= s.d || hh < 0 || hh >= s.h || ww < 0 || ww >= s.w) return -1;
  return s.nhwc ? (((b * s.d + zz) * s.h + hh) * s.w + ww) * s.c + ch
                : (((b * s.c + ch) * s.d + zz) * s.h + hh) * s.w + ww;
}

// Pooling over a channels-last input [n, h, w, c] in memory (NCHW data is [N * C, H, W, 1]) into
// [n, out_h, out_w, c]. Window (oh, ow) starts at (oh * stride_h - pad_top, ow * stride_w -
// pad_left) and takes every dil-th element; elements outside the input are skipped. The end pads
// only count in an average's divisor with count_include_pad. 3-D pooling adds a depth axis in
// front of h ([n, d, h, w, c] in memory; NCDHW data is [N * C, D, H, W, 1]); 2-D leaves it at 1.
struct PoolShape {
  int64_t n = 1, h = 1, w = 1, c = 1;
  int64_t kh = 1, kw = 1, stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0;
  int64_t out_h = 1, out_w = 1;
  int64_t dil_h = 1, dil_w = 1;
  int64_t pad_bottom = 0, pad_right = 0;
  bool count_include_pad = false;
  int64_t d = 1, kd = 1, stride_d = 1, dil_d = 1, pad_front = 0, pad_back = 0, out_d = 1;
  ONNXD_WINDOW_FN int64_t out_count() const { return n * out_d * out_h * out_w * c; }
};

// The pooling geometry of a 1-D or 2-D window op over NCHW dims n, c and its resolved axes (a 1-D
// op's second axis is the default WindowAxis: extent 1): channels-last data as it is, NCHW data as
// [n * c, h, w, 1].
inline PoolShape MakePoolShape(int64_t n, int64_t c, const WindowAxis axes[2], bool nhwc, bool count_include_pad) {
  PoolShape s;
  s.n = nhwc ? n : n * c;
  s.c = nhwc ? c : 1;
  s.h = axes[0].in;
  s.w = axes[1].in;
  s.kh = axes[0].k;
  s.kw = axes[1].k;
  s.stride_h = axes[0].stride;
  s.stride_w = axes[1].stride;
  s.dil_h = axes[0].dil;
  s.dil_w = axes[1].dil;
  s.pad_top = axes[0].pad_begin;
  s.pad_bottom = axes[0].pad_end;
  s.pad_left = axes[1].pad_begin;
  s.pad_right = axes[1].pad_end;
  s.out_h = axes[0].out;
  s.out_w = axes[1].out;
  s.count_include_pad = count_include_pad;
  return s;
}

// The same for a 3-D window op (axes D, H, W) over NCDHW data, as [n * c, d, h, w, 1].
inline PoolShape MakePoolShape3d(int64_t n, int64_t c, const WindowAxis axes[3], bool count_include_pad) {
  PoolShape s = MakePoolShape(n, c, axes + 1, false, count_include_pad);
  s.d = axes[0].in;
  s.kd = axes[0].k;
  s.stride_d = axes[0].stride;
  s.dil_d = axes[0].dil;
  s.pad_front = axes[0].pad_begin;
  s.pad_back = axes[0].pad_end;
  s.out_d = axes[0].out;
  return s;
}

// The taps of one window along one axis: tap j (0 <= j < k) reads input position start + j * dil;
// taps [lo, hi) lie inside the input (none when lo >= hi), and `counted` is how many taps lie
// before the end of the end padding (from tap 0, so the beginning padding included): the
// divisor's share with count_include_pad, the windows cut by ceil_mode's extra end not counting
// what lies beyond the pads (the CPU op's rule, ops/nn_ops.cc PoolPlane).
struct PoolTaps {
  int64_t start = 0, lo = 0, hi = 0, counted = 0;
};

ONNXD_WINDOW_FN PoolTaps PoolTapsAt(int64_t o, int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t pad_begin,
                                    int64_t pad_end) {
  PoolTaps t;
  t.start = o * stride - pad_begin;
  t.lo = t.start >= 0 ? 0 : (-t.start + dil - 1) / dil;
  const int64_t rem = in - t.start;
  t.hi = rem <= 0 ? 0 : ((rem + dil - 1) / dil < k ? (rem + dil - 1) / dil : k);
  if (t.lo > t.hi) t.lo = t.hi;
  const int64_t rem_padded = in + pad_end - t.start;
  t.counted = rem_padded <= 0 ? 0 : ((rem_padded + dil - 1) / dil < k ? (rem_padded + dil - 1) / dil : k);
  return t;
}

// Whether a window has a tap inside the input. One with none (possible with auto_pad SAME_* and a
// dilation wider than the input, e.g. in 3, kernel 2, dilation 4: the window at 1 reads -1 and 3)
// max-pools to 0, as the CPU op gives (ops/nn_ops.cc PoolPlane), not -inf.
ONNXD_WINDOW_FN bool HasInputTap(const PoolTaps& td, const PoolTaps& th, const PoolTaps& tw) {
  return td.hi > td.lo && th.hi > th.lo && tw.hi > tw.lo;
}

// An average's divisor: the taps inside the input, or with count_include_pad those inside the
// padded input. 0 for a window with no tap counted (its output is 0).
ONNXD_WINDOW_FN int64_t AverageDivisor(const PoolTaps& th, const PoolTaps& tw, bool count_include_pad) {
  return count_include_pad ? th.counted * tw.counted : (th.hi - th.lo) * (tw.hi - tw.lo);
}

// With a depth axis.
ONNXD_WINDOW_FN int64_t AverageDivisor(const PoolTaps& td, const PoolTaps& th, const PoolTaps& tw,
                                       bool count_include_pad) {
  return (count_include_pad ? td.counted : td.hi - td.lo) * AverageDivisor(th, tw, count_include_pad);
}

// LpPool's scale of a window's sum of |x|^p before the p-th root, as the CPU op computes it
// (ops/nn_ops.cc PoolPlane): the kernel's size over the taps counted with the pads (1 for a window
// inside the padded input; above 1 for one cut by ceil_mode's extra end); 0 with no tap counted.
ONNXD_WINDOW_FN float LpScale(const PoolShape& s, const PoolTaps& td, const PoolTaps& th, const PoolTaps& tw) {
  const int64_t counted = td.counted * th.counted * tw.counted;
  return counted > 0 ? static_cast<float>(s.kd * s.kh * s.kw) / static_cast<float>(counted) : 0.f;
}

}  // namespace onnxd::cuda
