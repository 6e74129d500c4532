// Conv family, pooling, normalisation, Softmax family.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cpu/conv.h"
#include "kernels/cpu/convert.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/packed_gemm.h"
#include "kernels/cpu/vec_math.h"
#include "onnx/onnx-ml.pb.h"
#include "ops/conv_transpose.h"
#include "ops/op_kernel.h"
#include "ops/op_util.h"

// The per-element loops here (bias, activations, normalisation, pooling) rely on
// auto-vectorisation, which the project's -O2 leaves to the "very cheap" cost model.
#pragma GCC optimize("O3")
#pragma GCC diagnostic ignored "-Wrestrict"

namespace onnxd::engine {
namespace {

using cpu::WindowGeom;

template <typename T>
constexpr bool kIsHalf = std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;

std::string DimsStr(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

// ---------------------------------------------------------------------------------------------
// Window attributes shared by Conv, ConvTranspose and pooling.
struct WindowAttrs {
  std::vector<int64_t> kernel, strides, dilations, pads;
  std::string auto_pad = "NOTSET";
  int64_t group = 1;
  bool ceil_mode = false;

  Status Parse(const NodeInfo& n) {
    kernel = n.GetInts("kernel_shape");
    strides = n.GetInts("strides");
    dilations = n.GetInts("dilations");
    pads = n.GetInts("pads");
    auto_pad = n.GetString("auto_pad", "NOTSET");
    group = n.GetInt("group", 1);
    ceil_mode = n.GetInt("ceil_mode", 0) != 0;
    if (auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" && auto_pad != "VALID")
      return n.Error("unknown auto_pad '" + auto_pad + "'");
    if (group < 1) return n.Error("group must be >= 1");
    for (int64_t v : strides)
      if (v < 1) return n.Error("strides must be >= 1, got " + DimsStr(strides));
    for (int64_t v : dilations)
      if (v < 1) return n.Error("dilations must be >= 1, got " + DimsStr(dilations));
    for (int64_t v : pads)
      if (v < 0) return n.Error("pads must be >= 0, got " + DimsStr(pads));
    for (int64_t v : kernel)
      if (v < 1) return n.Error("kernel_shape must be >= 1, got " + DimsStr(kernel));
    return Status::Ok();
  }

  // Fills strides/dilations/kernel/leading pads of `g` for `nd` spatial dims; returns the end pads.
  Status Common(int nd, const int64_t* in, const int64_t* k, WindowGeom* g, int64_t* pad_end) const {
    if (nd < 1 || nd > WindowGeom::kMaxDims) return InvalidArgument("unsupported number of spatial dims " + std::to_string(nd));
    if (!strides.empty() && static_cast<int>(strides.size()) != nd)
      return InvalidArgument("strides " + DimsStr(strides) + " do not match " + std::to_string(nd) + " spatial dims");
    if (!dilations.empty() && static_cast<int>(dilations.size()) != nd)
      return InvalidArgument("dilations " + DimsStr(dilations) + " do not match " + std::to_string(nd) + " spatial dims");
    if (!pads.empty() && static_cast<int>(pads.size()) != 2 * nd)
      return InvalidArgument("pads " + DimsStr(pads) + " must have " + std::to_string(2 * nd) + " values");
    g->nd = nd;
    for (int i = 0; i < nd; ++i) {
      g->in[i] = in[i];
      g->k[i] = k[i];
      g->stride[i] = strides.empty() ? 1 : strides[i];
      g->dil[i] = dilations.empty() ? 1 : dilations[i];
      g->pad[i] = pads.empty() ? 0 : pads[i];
      pad_end[i] = pads.empty() ? 0 : pads[nd + i];
    }
    return Status::Ok();
  }

  // Output grid of a convolution or pooling window (pooling passes allow_ceil).
  Status Resolve(int nd, const int64_t* in, const int64_t* k, bool allow_ceil, WindowGeom* g) const {
    int64_t pe[WindowGeom::kMaxDims];
    RETURN_IF_ERROR(Common(nd, in, k, g, pe));
    for (int i = 0; i < nd; ++i) {
      const int64_t s = g->stride[i], ek = (g->k[i] - 1) * g->dil[i] + 1;
      if (auto_pad == "VALID") {
        g->pad[i] = 0;
        g->out[i] = in[i] >= ek ? (in[i] - ek) / s + 1 : 0;
      } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
        g->out[i] = (in[i] + s - 1) / s;
        int64_t total = std::max<int64_t>(0, (g->out[i] - 1) * s + ek - in[i]);
        g->pad[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      } else {
        int64_t span = in[i] + g->pad[i] + pe[i] - ek;
        if (span < 0) {
          g->out[i] = 0;
        } else if (allow_ceil && ceil_mode) {
          g->out[i] = (span + s - 1) / s + 1;
          if ((g->out[i] - 1) * s >= in[i] + g->pad[i]) --g->out[i];
        } else {
          g->out[i] = span / s + 1;
        }
      }
    }
    return Status::Ok();
  }
};

// Spatial dims of a window op after the first two (N, C) dims.
Status SpatialOf(const Tensor& x, int* nd) {
  if (x.rank() < 3) return InvalidArgument("input X must have rank >= 3 (N, C, spatial...), got " + x.shape().ToString());
  *nd = x.rank() - 2;
  if (*nd > WindowGeom::kMaxDims) return InvalidArgument("too many spatial dims");
  return Status::Ok();
}

inline void GemmT(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                  int64_t ldb, float* c, int64_t ldc, ThreadPool* pool) {
  cpu::Sgemm(ta, tb, m, n, k, 1.f, a, lda, b, ldb, 0.f, c, ldc, pool);
}
inline void GemmT(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b,
                  int64_t ldb, double* c, int64_t ldc, ThreadPool* pool) {
  cpu::Dgemm(ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc, pool);
}

template <typename T>
void Im2ColT(const WindowGeom& g, const T* x, int64_t channels, int64_t p0, int64_t p1, T* col) {
  if constexpr (std::is_same_v<T, float>) {
    cpu::Im2Col<float>(g, x, channels, p0, p1, col, 0.f);
  } else {
    // double: generic loop via float's geometry walker is not available; do it directly.
    const int nd = g.nd;
    const int64_t ks = g.KernelSize(), in_size = g.InSize(), tw = p1 - p0;
    int64_t kidx[WindowGeom::kMaxDims], oidx[WindowGeom::kMaxDims];
    for (int64_t c = 0; c < channels; ++c) {
      for (int64_t kk = 0; kk < ks; ++kk) {
        int64_t r = kk;
        for (int i = nd - 1; i >= 0; --i) { kidx[i] = r % g.k[i]; r /= g.k[i]; }
        T* d = col + (c * ks + kk) * tw;
        int64_t q = p0;
        for (int i = nd - 1; i >= 0; --i) { oidx[i] = q % g.out[i]; q /= g.out[i]; }
        for (int64_t p = p0; p < p1; ++p) {
          int64_t off = 0;
          bool inside = true;
          for (int i = 0; i < nd && inside; ++i) {
            int64_t v = oidx[i] * g.stride[i] - g.pad[i] + kidx[i] * g.dil[i];
            inside = v >= 0 && v < g.in[i];
            off = off * g.in[i] + v;
          }
          *d++ = inside ? x[c * in_size + off] : T(0);
          for (int i = nd - 1; i >= 0; --i) {
            if (++oidx[i] < g.out[i]) break;
            oidx[i] = 0;
          }
        }
      }
    }
  }
}

// Activation fused into Conv by the graph pass (attributes onnxd_activation[_alpha|_beta]).
struct FusedActivation {
  enum Kind { kNone, kRelu, kLeakyRelu, kClip, kSigmoid, kTanh } kind = kNone;
  float alpha = 0.f, beta = 0.f;

  Status Parse(const NodeInfo& n) {
    std::string a = n.GetString("onnxd_activation", "");
    alpha = n.GetFloat("onnxd_activation_alpha", 0.01f);
    beta = n.GetFloat("onnxd_activation_beta", 0.f);
    if (a.empty()) kind = kNone;
    else if (a == "Relu") kind = kRelu;
    else if (a == "LeakyRelu") kind = kLeakyRelu;
    else if (a == "Clip") kind = kClip;
    else if (a == "Sigmoid") kind = kSigmoid;
    else if (a == "Tanh") kind = kTanh;
    else return n.Error("unknown fused activation '" + a + "'");
    return Status::Ok();
  }

  // O3: the project's -O2 leaves these loops (unknown trip count) scalar.
  template <typename T>
  __attribute__((optimize("O3"))) void Apply(T* p, int64_t n) const {
    switch (kind) {
      case kNone: return;
      case kRelu:
        for (int64_t i = 0; i < n; ++i) p[i] = p[i] > T(0) ? p[i] : T(0);
        return;
      case kLeakyRelu: {
        const T a = static_cast<T>(alpha);
        for (int64_t i = 0; i < n; ++i) p[i] = p[i] >= T(0) ? p[i] : p[i] * a;
        return;
      }
      case kClip: {
        const T lo = static_cast<T>(alpha), hi = static_cast<T>(beta);
        for (int64_t i = 0; i < n; ++i) p[i] = p[i] < lo ? lo : (p[i] > hi ? hi : p[i]);
        return;
      }
      case kSigmoid:
        for (int64_t i = 0; i < n; ++i) {
          if constexpr (std::is_same_v<T, float>) p[i] = 1.f / (1.f + cpu::FastExp(-p[i]));
          else p[i] = T(1) / (T(1) + std::exp(-p[i]));
        }
        return;
      case kTanh:
        for (int64_t i = 0; i < n; ++i) p[i] = std::tanh(p[i]);
        return;
    }
  }
};

// A 1-D window as a 2-D one with a single row (2-D geometry is returned unchanged).
WindowGeom As2D(const WindowGeom& g) {
  if (g.nd != 1) return g;
  WindowGeom g2;
  g2.nd = 2;
  g2.in[0] = g2.out[0] = g2.k[0] = g2.stride[0] = g2.dil[0] = 1;
  g2.pad[0] = 0;
  g2.in[1] = g.in[0]; g2.out[1] = g.out[0]; g2.k[1] = g.k[0];
  g2.stride[1] = g.stride[0]; g2.dil[1] = g.dil[0]; g2.pad[1] = g.pad[0];
  return g2;
}

// Stride-1 float Conv through cpu::DirectConv2D: each (image, group) is padded once and multiplied
// without im2col. Whole images go to threads when there are enough; else one image's wide columns
// are split between them.
void RunDirectConv(ThreadPool& pool, KernelContext& ctx, const WindowGeom& g, int64_t N, int64_t C, int64_t M,
                   int64_t G, const float* x, const float* w, const float* bias, float* y, const FusedActivation& act) {
  const int64_t Cg = C / G, Mg = M / G, P = g.OutSize(), Pin = g.InSize();
  const int64_t Kc = Cg * g.KernelSize(), cols = cpu::DirectConv2DColumns(g);
  const int64_t pad_floats = cpu::DirectConv2DPadFloats(g, Cg);
  const int64_t units = N * G;
  const int threads = pool.num_threads();
  const int64_t slots = std::max<int64_t>(1, std::min<int64_t>(units, threads));
  auto* off = static_cast<int64_t*>(ctx.Scratch(sizeof(int64_t) * static_cast<size_t>(slots * Kc)));
  auto* xpad = static_cast<float*>(ctx.Scratch(sizeof(float) * static_cast<size_t>(slots * pad_floats)));
  if (units >= threads || threads <= 1) {
    pool.ParallelFor(slots, 1, [&](int64_t s0, int64_t s1) {
      for (int64_t s = s0; s < s1; ++s) {
        float* xp = xpad + s * pad_floats;
        int64_t* of = off + s * Kc;
        for (int64_t u = s * units / slots; u < (s + 1) * units / slots; ++u) {
          const int64_t n = u / G, gi = u % G;
          float* yc = y + (n * M + gi * Mg) * P;
          cpu::DirectConv2DPad(g, x + (n * C + gi * Cg) * Pin, Cg, xp, of);
          cpu::DirectConv2D(g, xp, of, Cg, w + gi * Mg * Kc, Mg, bias ? bias + gi * Mg : nullptr, 0, cols, yc);
          act.Apply(yc, Mg * P);
        }
      }
    });
    return;
  }
  // Fewer images than threads: split each one's columns in 32-wide multiples, or, when there are
  // too few column tiles to share evenly (small maps deep in a network), its output channels in
  // multiples of 4.
  const int64_t per = std::max<int64_t>(1, threads / units);
  const bool by_channels = (cols + 31) / 32 < 4 * per && Mg >= 8 * per;
  const int64_t chunk = by_channels ? ((Mg + per - 1) / per + 3) / 4 * 4 : ((cols + per - 1) / per + 31) / 32 * 32;
  const int64_t extent = by_channels ? Mg : cols;
  for (int64_t u = 0; u < units; ++u) {
    const int64_t n = u / G, gi = u % G;
    float* yc = y + (n * M + gi * Mg) * P;
    const float* wg = w + gi * Mg * Kc;
    const float* bg = bias ? bias + gi * Mg : nullptr;
    cpu::DirectConv2DPad(g, x + (n * C + gi * Cg) * Pin, Cg, xpad, off);
    pool.ParallelFor((extent + chunk - 1) / chunk, 1, [&](int64_t t0, int64_t t1) {
      const int64_t a = t0 * chunk, b = std::min(extent, t1 * chunk);
      if (by_channels) {
        cpu::DirectConv2D(g, xpad, off, Cg, wg + a * Kc, b - a, bg ? bg + a : nullptr, 0, cols, yc + a * P);
      } else {
        cpu::DirectConv2D(g, xpad, off, Cg, wg, Mg, bg, a, b, yc);
      }
    });
    if (act.kind != FusedActivation::kNone)
      pool.ParallelFor(Mg, 1, [&](int64_t m0, int64_t m1) { act.Apply(yc + m0 * P, (m1 - m0) * P); });
  }
}

// Y[N, M, out] = act(conv(X[N, C, in], W[M, C/G, k]) + bias), float or double.
template <typename T>
void RunConv(ThreadPool& pool, KernelContext& ctx, const WindowGeom& g, int64_t N, int64_t C, int64_t M, int64_t G,
             const T* x, const T* w, const T* bias, T* y, const FusedActivation& act = {}) {
  const int64_t P = g.OutSize(), Pin = g.InSize(), ks = g.KernelSize();
  const int64_t Cg = C / G, Mg = M / G, Kc = Cg * ks;
  const int threads = pool.num_threads();
  if (N == 0 || M == 0 || P == 0) return;
  if (Kc == 0) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t m = 0; m < M; ++m)
        for (int64_t p = 0; p < P; ++p) y[(n * M + m) * P + p] = bias ? bias[m] : T(0);
    act.Apply(y, N * M * P);
    return;
  }

  // Depthwise (one input channel per group): direct kernel.
  if constexpr (std::is_same_v<T, float>) {
    const WindowGeom g2 = As2D(g);
    if (Cg == 1 && G > 1 && (g.nd == 2 || g.nd == 1) && cpu::DirectConv2DApplies(g2, 1, 1)) {
      // Stride 1: each plane padded once, taps summed in registers (conv_direct.cc).
      const int64_t pad_floats = cpu::DirectConv2DPadFloats(g2, 1);
      const int64_t slots = std::max<int64_t>(1, std::min<int64_t>(N * M, pool.num_threads()));
      auto* off = static_cast<int64_t*>(ctx.Scratch(sizeof(int64_t) * static_cast<size_t>(slots * ks)));
      auto* xpad = static_cast<float*>(ctx.Scratch(sizeof(float) * static_cast<size_t>(slots * pad_floats)));
      pool.ParallelFor(slots, 1, [&](int64_t s0, int64_t s1) {
        for (int64_t s = s0; s < s1; ++s) {
          for (int64_t i = s * N * M / slots; i < (s + 1) * N * M / slots; ++i) {
            const int64_t n = i / M, m = i % M, c = m / Mg;
            cpu::DirectConv2DPad(g2, x + (n * C + c) * Pin, 1, xpad + s * pad_floats, off + s * ks);
            cpu::DepthwiseDirect2D(g2, xpad + s * pad_floats, off + s * ks, w + m * ks, bias ? bias[m] : 0.f,
                                   y + i * P);
            act.Apply(y + i * P, P);
          }
        }
      });
      return;
    }
    if (Cg == 1 && G > 1 && (g.nd == 2 || g.nd == 1)) {
      int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, P * ks));
      pool.ParallelFor(N * M, grain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          int64_t n = i / M, m = i % M;
          int64_t c = m / Mg;
          cpu::DepthwiseConv2D(g2, x + (n * C + c) * Pin, w + m * ks, bias ? bias[m] : 0.f, y + i * P);
          act.Apply(y + i * P, P);
        }
      });
      return;
    }
    if ((g.nd == 2 || g.nd == 1) && cpu::DirectConv2DApplies(g2, Cg, Mg)) {
      RunDirectConv(pool, ctx, g2, N, C, M, G, x, w, bias, y, act);
      return;
    }
  }

  const bool pointwise = g.IsPointwise();
  const int64_t macs_per_col = Mg * Kc;
  int64_t min_cols = std::max<int64_t>(16, ((int64_t{1} << 17) + macs_per_col - 1) / macs_per_col);
  int64_t max_cols = pointwise ? P : std::max<int64_t>(16, (int64_t{1} << 20) / Kc);
  int64_t tiles_per = std::max<int64_t>(1, (threads + N * G - 1) / (N * G));
  int64_t tw = (P + tiles_per - 1) / tiles_per;
  tw = std::max(tw, min_cols);
  tw = std::min(tw, max_cols);
  tw = (tw + 15) / 16 * 16;
  tw = std::min(tw, P);
  tiles_per = (P + tw - 1) / tw;
  const int64_t units = N * G * tiles_per;

  auto add_bias = [&](T* yc, int64_t p0, int64_t p1, int64_t m0) {
    if (bias == nullptr && act.kind == FusedActivation::kNone) return;
    for (int64_t m = 0; m < Mg; ++m) {
      T* row = yc + m * P;
      if (bias != nullptr) {
        T bv = bias[m0 + m];
        for (int64_t p = p0; p < p1; ++p) row[p] += bv;
      }
      act.Apply(row + p0, p1 - p0);
    }
  };

  if (threads > 1 && units < threads && Mg >= 32) {
    // Few column tiles (small images, batch 1): whole im2col, then a GEMM split along M.
    T* col = pointwise ? nullptr : static_cast<T*>(ctx.Scratch(sizeof(T) * Kc * P));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t gi = 0; gi < G; ++gi) {
        const T* xg = x + (n * C + gi * Cg) * Pin;
        const T* bm = xg;
        if (!pointwise) {
          pool.ParallelFor(Cg, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, ks * P)), [&](int64_t c0, int64_t c1) {
            Im2ColT<T>(g, xg + c0 * Pin, c1 - c0, 0, P, col + c0 * ks * P);
          });
          bm = col;
        }
        T* yc = y + (n * M + gi * Mg) * P;
        GemmT(false, false, Mg, P, Kc, w + gi * Mg * Kc, Kc, bm, P, yc, P, &pool);
        add_bias(yc, 0, P, gi * Mg);
      }
    return;
  }

  const int64_t slots = std::max<int64_t>(1, std::min<int64_t>(units, threads));
  T* col = pointwise ? nullptr : static_cast<T*>(ctx.Scratch(sizeof(T) * slots * Kc * tw));
  pool.ParallelFor(slots, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      T* slot = pointwise ? nullptr : col + s * Kc * tw;
      int64_t u0 = s * units / slots, u1 = (s + 1) * units / slots;
      for (int64_t u = u0; u < u1; ++u) {
        int64_t t = u % tiles_per, ng = u / tiles_per;
        int64_t gi = ng % G, n = ng / G;
        int64_t p0 = t * tw, p1 = std::min(P, p0 + tw);
        const T* xg = x + (n * C + gi * Cg) * Pin;
        const T* bm;
        int64_t ldb;
        if (pointwise) {
          bm = xg + p0;
          ldb = P;
        } else {
          Im2ColT<T>(g, xg, Cg, p0, p1, slot);
          bm = slot;
          ldb = p1 - p0;
        }
        T* yc = y + (n * M + gi * Mg) * P;
        if constexpr (std::is_same_v<T, float>) {
          // X read in place (no per-run packing), bias and Relu in the tiles. Only where it was measured
          // to beat OpenBLAS: few input channels or few pixels lose (MobileNetV2 16-channel and 7x7 layers).
          if (pointwise && Kc >= 32 && P >= 256) {
            const bool relu = act.kind == FusedActivation::kRelu;
            cpu::SgemmInPlaceB(Mg, p1 - p0, Kc, w + gi * Mg * Kc, Kc, bm, ldb, bias ? bias + gi * Mg : nullptr, relu,
                               yc + p0, P);
            if (!relu && act.kind != FusedActivation::kNone)
              for (int64_t m = 0; m < Mg; ++m) act.Apply(yc + m * P + p0, p1 - p0);
            continue;
          }
        }
        GemmT(false, false, Mg, p1 - p0, Kc, w + gi * Mg * Kc, Kc, bm, ldb, yc + p0, P, nullptr);
        add_bias(yc, p0, p1, gi * Mg);
      }
    }
  });
}

// Common shape checks of Conv-like ops; fills geometry and output shape.
struct ConvShape {
  int64_t N = 0, C = 0, M = 0, G = 1;
  WindowGeom g;
  Shape out;
};

Status ConvShapeOf(const WindowAttrs& a, const Tensor& x, const Tensor& w, ConvShape* s) {
  int nd;
  RETURN_IF_ERROR(SpatialOf(x, &nd));
  if (w.rank() != x.rank())
    return InvalidArgument("W " + w.shape().ToString() + " must have the rank of X " + x.shape().ToString());
  s->N = x.dim(0);
  s->C = x.dim(1);
  s->M = w.dim(0);
  s->G = a.group;
  if (s->C != w.dim(1) * s->G)
    return InvalidArgument("X has " + std::to_string(s->C) + " channels but W " + w.shape().ToString() +
                           " with group " + std::to_string(s->G) + " expects " + std::to_string(w.dim(1) * s->G));
  if (s->M % s->G != 0)
    return InvalidArgument("W's output channels " + std::to_string(s->M) + " not divisible by group " +
                           std::to_string(s->G));
  const int64_t* k = w.shape().data() + 2;
  if (!a.kernel.empty()) {
    if (static_cast<int>(a.kernel.size()) != nd) return InvalidArgument("kernel_shape " + DimsStr(a.kernel) + " rank mismatch");
    for (int i = 0; i < nd; ++i)
      if (a.kernel[i] != k[i])
        return InvalidArgument("kernel_shape " + DimsStr(a.kernel) + " does not match W " + w.shape().ToString());
  }
  RETURN_IF_ERROR(a.Resolve(nd, x.shape().data() + 2, k, false, &s->g));
  s->out = Shape{s->N, s->M};
  for (int i = 0; i < nd; ++i) s->out.PushBack(s->g.out[i]);
  return Status::Ok();
}

class ConvKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    RETURN_IF_ERROR(a_.Parse(n));
    RETURN_IF_ERROR(act_.Parse(n));
    if (n.num_inputs() < 2) return n.Error("Conv needs X and W");
    if (const Tensor* w = n.constant_input(1)) {
      if (w->dtype() == DataType::kFloat16 || w->dtype() == DataType::kBFloat16) {
        w_float_.resize(static_cast<size_t>(w->num_elements()));
        DispatchFloat(w->dtype(), [&](auto tag) {
          using T = typename decltype(tag)::type;
          cpu::ToFloat(w->data<T>(), w_float_.data(), w->num_elements());
        });
        has_w_float_ = true;
      }
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* w = ctx.input(1);
    const Tensor* b = ctx.num_inputs() > 2 ? ctx.input(2) : nullptr;
    if (x == nullptr || w == nullptr) return ctx.Error("Conv needs inputs X and W");
    if (x->dtype() != w->dtype()) return ctx.Error("X and W types differ");
    ConvShape s;
    Status st = ConvShapeOf(a_, *x, *w, &s);
    if (!st.ok()) return ctx.Error(st.message());
    if (b != nullptr && (b->num_elements() != s.M || b->dtype() != x->dtype()))
      return ctx.Error("B " + b->shape().ToString() + " must hold " + std::to_string(s.M) + " values of X's type");
    Tensor* y = ctx.Output(0, x->dtype(), s.out);
    if (y->num_elements() == 0) return Status::Ok();
    DataType dt = x->dtype();
    if (dt == DataType::kFloat) {
      RunConv<float>(ctx.pool(), ctx, s.g, s.N, s.C, s.M, s.G, x->data<float>(), w->data<float>(),
                     b ? b->data<float>() : nullptr, y->data<float>(), act_);
      return Status::Ok();
    }
    if (dt == DataType::kDouble) {
      RunConv<double>(ctx.pool(), ctx, s.g, s.N, s.C, s.M, s.G, x->data<double>(), w->data<double>(),
                      b ? b->data<double>() : nullptr, y->data<double>(), act_);
      return Status::Ok();
    }
    bool ok = DispatchFloat(dt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (kIsHalf<T>) {
        int64_t nx = x->num_elements(), nw = w->num_elements(), ny = y->num_elements();
        int64_t nb = b ? b->num_elements() : 0;
        bool packed = has_w_float_ && static_cast<int64_t>(w_float_.size()) == nw;
        float* buf = static_cast<float*>(ctx.Scratch(sizeof(float) * (nx + ny + nb + (packed ? 0 : nw))));
        float* xf = buf;
        float* yf = xf + nx;
        float* bf = yf + ny;
        const float* wf = w_float_.data();
        if (!packed) {
          float* t = bf + nb;
          cpu::ToFloat(w->data<T>(), t, nw);
          wf = t;
        }
        cpu::ToFloat(x->data<T>(), xf, nx);
        if (b) cpu::ToFloat(b->data<T>(), bf, nb);
        RunConv<float>(ctx.pool(), ctx, s.g, s.N, s.C, s.M, s.G, xf, wf, b ? bf : nullptr, yf, act_);
        cpu::FromFloat(yf, y->data<T>(), ny);
      }
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(dt));
    return Status::Ok();
  }

 private:
  WindowAttrs a_;
  FusedActivation act_;
  std::vector<float> w_float_;
  bool has_w_float_ = false;
};

// ---------------------------------------------------------------------------------------------
// Pooling.
enum class PoolMode { kMax, kAvg, kLp };

struct PoolPlaneArgs {
  const WindowGeom* g;
  const int64_t* pad_end;
  bool include_pad = false;
  float p = 2.f;
  bool col_major = false;  // MaxPool storage_order 1
};

template <typename T, PoolMode kMode>
void PoolPlane(const PoolPlaneArgs& a, const T* x, T* y, int64_t* ind, int64_t ind_base) {
  using CT = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const WindowGeom& g = *a.g;
  const int nd = g.nd;
  const int64_t P = g.OutSize(), ks = g.KernelSize();
  int64_t in_stride[WindowGeom::kMaxDims];
  {
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; --i) { in_stride[i] = s; s *= g.in[i]; }
  }
  int64_t oidx[WindowGeom::kMaxDims] = {};
  int64_t start[WindowGeom::kMaxDims], lo[WindowGeom::kMaxDims], hi[WindowGeom::kMaxDims];
  int64_t kk[WindowGeom::kMaxDims];
  const int last = nd - 1;
  for (int64_t op = 0; op < P; ++op) {
    int64_t valid = 1, padded = 1;
    for (int i = 0; i < nd; ++i) {
      const int64_t st = oidx[i] * g.stride[i] - g.pad[i], d = g.dil[i], k = g.k[i];
      start[i] = st;
      int64_t l = st >= 0 ? 0 : (-st + d - 1) / d;
      int64_t rem = g.in[i] - st;
      int64_t h = rem <= 0 ? 0 : std::min(k, (rem + d - 1) / d);
      int64_t remp = g.in[i] + a.pad_end[i] - st;
      int64_t pc = remp <= 0 ? 0 : std::min(k, (remp + d - 1) / d);
      l = std::min(l, h);
      lo[i] = l;
      hi[i] = h;
      valid *= h - l;
      padded *= pc;
    }
    CT acc = kMode == PoolMode::kMax ? CT(0) : CT(0);
    T best{};
    int64_t best_off = -1;
    if (valid > 0) {
      for (int i = 0; i < nd; ++i) kk[i] = lo[i];
      const int64_t dl = g.dil[last];
      while (true) {
        int64_t base = 0;
        for (int i = 0; i < last; ++i) base += (start[i] + kk[i] * g.dil[i]) * in_stride[i];
        base += start[last];
        if constexpr (kMode == PoolMode::kMax) {
          for (int64_t q = lo[last]; q < hi[last]; ++q) {
            int64_t off = base + q * dl;
            T v = x[off];
            if (best_off < 0 || static_cast<CT>(v) > static_cast<CT>(best)) {
              best = v;
              best_off = off;
            }
          }
        } else if constexpr (kMode == PoolMode::kAvg) {
          for (int64_t q = lo[last]; q < hi[last]; ++q) acc += static_cast<CT>(x[base + q * dl]);
        } else {
          for (int64_t q = lo[last]; q < hi[last]; ++q) {
            CT v = std::fabs(static_cast<CT>(x[base + q * dl]));
            acc += std::pow(v, static_cast<CT>(a.p));
          }
        }
        int i = last - 1;
        for (; i >= 0; --i) {
          if (++kk[i] < hi[i]) break;
          kk[i] = lo[i];
        }
        if (i < 0) break;
      }
    }
    if constexpr (kMode == PoolMode::kMax) {
      y[op] = best_off >= 0 ? best : T{};
      if (ind != nullptr) {
        int64_t idx = best_off;
        if (best_off >= 0 && a.col_major) {
          int64_t r = best_off, cs = 1;
          idx = 0;
          int64_t m[WindowGeom::kMaxDims];
          for (int i = nd - 1; i >= 0; --i) { m[i] = r % g.in[i]; r /= g.in[i]; }
          for (int i = 0; i < nd; ++i) { idx += m[i] * cs; cs *= g.in[i]; }
        }
        ind[op] = ind_base + (idx < 0 ? 0 : idx);
      }
    } else if constexpr (kMode == PoolMode::kAvg) {
      int64_t div = a.include_pad ? padded : valid;
      y[op] = cpu::CastTo<T>(div > 0 ? static_cast<float>(acc / static_cast<CT>(div)) : 0.f);
      if constexpr (std::is_same_v<T, double>) y[op] = div > 0 ? acc / static_cast<CT>(div) : 0.0;
    } else {
      CT v = padded > 0 ? acc * static_cast<CT>(ks) / static_cast<CT>(padded) : CT(0);
      CT r = std::pow(v, CT(1) / static_cast<CT>(a.p));
      if constexpr (std::is_same_v<T, double>) y[op] = r;
      else y[op] = cpu::CastTo<T>(static_cast<float>(r));
    }
    for (int i = nd - 1; i >= 0; --i) {
      if (++oidx[i] < g.out[i]) break;
      oidx[i] = 0;
    }
  }
}

// 2-D float max/average pooling without dilation (the common CNN case). O3: the project's -O2
// leaves loops of unknown trip count scalar.
template <PoolMode kMode>
__attribute__((optimize("O3"))) void PoolPlane2D(const PoolPlaneArgs& a, const float* x, float* y) {
  const WindowGeom& g = *a.g;
  const int64_t H = g.in[0], W = g.in[1], OH = g.out[0], OW = g.out[1];
  const int64_t KH = g.k[0], KW = g.k[1], sh = g.stride[0], sw = g.stride[1], ph = g.pad[0], pw = g.pad[1];
  const int64_t peh = a.pad_end[0], pew = a.pad_end[1];
  // Max pooling over a window row-range inside the image: the rows' column-wise maximum first (one
  // vectorised pass per row), then the window maximum along it, instead of KH*KW scalar reads per
  // output. Same comparison as below, so NaN handling is identical.
  constexpr int64_t kMaxRow = 2048;
  float colmax[kMaxRow];
  const bool by_rows = kMode == PoolMode::kMax && W <= kMaxRow;
  for (int64_t oh = 0; oh < OH; ++oh) {
    const int64_t hs = oh * sh - ph;
    const int64_t h0 = std::max<int64_t>(hs, 0), h1 = std::min(hs + KH, H);
    const int64_t hp = std::min(hs + KH, H + peh) - hs;
    float* yr = y + oh * OW;
    if (by_rows && h1 > h0) {
      for (int64_t w = 0; w < W; ++w) colmax[w] = -std::numeric_limits<float>::infinity();
      for (int64_t h = h0; h < h1; ++h) {
        const float* r = x + h * W;
        for (int64_t w = 0; w < W; ++w) colmax[w] = r[w] > colmax[w] ? r[w] : colmax[w];
      }
      constexpr float kLow = -std::numeric_limits<float>::infinity();
      // The 2x2 stride-2 windows inside the row, without a loop per output.
      const int64_t pairs = KW == 2 && sw == 2 && pw == 0 ? std::min(OW, W / 2) : 0;
      for (int64_t ow = 0; ow < pairs; ++ow) {
        const float c0 = colmax[2 * ow], c1 = colmax[2 * ow + 1];
        const float m = c0 > kLow ? c0 : kLow;
        yr[ow] = c1 > m ? c1 : m;
      }
      for (int64_t ow = pairs; ow < OW; ++ow) {
        const int64_t ws = ow * sw - pw;
        const int64_t w0 = std::max<int64_t>(ws, 0), w1 = std::min(ws + KW, W);
        float m = kLow;
        for (int64_t w = w0; w < w1; ++w) m = colmax[w] > m ? colmax[w] : m;
        yr[ow] = w1 > w0 ? m : 0.f;
      }
      continue;
    }
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t ws = ow * sw - pw;
      const int64_t w0 = std::max<int64_t>(ws, 0), w1 = std::min(ws + KW, W);
      if constexpr (kMode == PoolMode::kMax) {
        float m = -std::numeric_limits<float>::infinity();
        bool any = false;
        for (int64_t h = h0; h < h1; ++h) {
          const float* r = x + h * W;
          for (int64_t w = w0; w < w1; ++w) m = r[w] > m ? r[w] : m;
          any = any || w1 > w0;
        }
        yr[ow] = any ? m : 0.f;
      } else {
        float s = 0.f;
        for (int64_t h = h0; h < h1; ++h) {
          const float* r = x + h * W;
          for (int64_t w = w0; w < w1; ++w) s += r[w];
        }
        int64_t valid = std::max<int64_t>(h1 - h0, 0) * std::max<int64_t>(w1 - w0, 0);
        int64_t padded = std::max<int64_t>(hp, 0) * std::max<int64_t>(std::min(ws + KW, W + pew) - ws, 0);
        int64_t div = a.include_pad ? padded : valid;
        yr[ow] = div > 0 ? s / static_cast<float>(div) : 0.f;
      }
    }
  }
}

template <PoolMode kMode>
class PoolKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    RETURN_IF_ERROR(a_.Parse(n));
    if (a_.kernel.empty()) return n.Error("kernel_shape is required");
    include_pad_ = n.GetInt("count_include_pad", 0) != 0;
    storage_order_ = n.GetInt("storage_order", 0);
    if constexpr (kMode == PoolMode::kLp) {
      // p is a float in LpPool-1 and an int from LpPool-2 on: read as the attribute's own type (an
      // INT read as a float is 0).
      const auto* pa = n.attr("p");
      p_ = 2.f;
      if (pa != nullptr)
        p_ = pa->type() == onnx::AttributeProto::FLOAT ? pa->f() : static_cast<float>(pa->i());
      if (p_ <= 0) return n.Error("p must be positive");
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("missing input X");
    int nd;
    Status st = SpatialOf(*x, &nd);
    if (!st.ok()) return ctx.Error(st.message());
    if (static_cast<int>(a_.kernel.size()) != nd)
      return ctx.Error("kernel_shape " + DimsStr(a_.kernel) + " does not match input " + x->shape().ToString());
    WindowGeom g;
    int64_t pe[WindowGeom::kMaxDims];
    st = a_.Resolve(nd, x->shape().data() + 2, a_.kernel.data(), true, &g);
    if (st.ok()) {
      WindowGeom tmp;
      st = a_.Common(nd, x->shape().data() + 2, a_.kernel.data(), &tmp, pe);
    }
    if (!st.ok()) return ctx.Error(st.message());
    if (a_.auto_pad != "NOTSET") {
      for (int i = 0; i < nd; ++i) {
        int64_t ek = (g.k[i] - 1) * g.dil[i] + 1;
        int64_t total = std::max<int64_t>(0, (g.out[i] - 1) * g.stride[i] + ek - g.in[i]);
        pe[i] = a_.auto_pad == "VALID" ? 0 : total - g.pad[i];
      }
    }
    Shape os{x->dim(0), x->dim(1)};
    for (int i = 0; i < nd; ++i) os.PushBack(g.out[i]);
    Tensor* y = ctx.Output(0, x->dtype(), os);
    int64_t* ind = nullptr;
    if constexpr (kMode == PoolMode::kMax) {
      if (ctx.num_outputs() > 1 && ctx.has_output(1)) ind = ctx.Output(1, DataType::kInt64, os)->data<int64_t>();
    }
    const int64_t planes = x->dim(0) * x->dim(1), P = g.OutSize(), Pin = g.InSize();
    if (planes == 0 || P == 0) return Status::Ok();
    PoolPlaneArgs pa;
    pa.g = &g;
    pa.pad_end = pe;
    pa.include_pad = include_pad_;
    pa.p = p_;
    pa.col_major = storage_order_ == 1;
    int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, P * g.KernelSize()));
    auto run = [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* xd = x->data<T>();
      T* yd = y->data<T>();
      if constexpr (std::is_same_v<T, float> && kMode != PoolMode::kLp) {
        if constexpr (kMode == PoolMode::kMax) {
          if (nd == 2 && ind == nullptr && g.k[0] == 2 && g.k[1] == 2 && g.stride[0] == 2 && g.stride[1] == 2 &&
              g.dil[0] == 1 && g.dil[1] == 1 && g.pad[0] == 0 && g.pad[1] == 0 && 2 * g.out[0] <= g.in[0] &&
              2 * g.out[1] <= g.in[1]) {
            ctx.pool().ParallelFor(planes, grain, [&](int64_t b, int64_t e) {
              for (int64_t i = b; i < e; ++i) cpu::MaxPool2x2Stride2(xd + i * Pin, g.in[1], yd + i * P, g.out[0], g.out[1]);
            });
            return;
          }
        }
        if (nd == 2 && ind == nullptr && g.dil[0] == 1 && g.dil[1] == 1) {
          ctx.pool().ParallelFor(planes, grain, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) PoolPlane2D<kMode>(pa, xd + i * Pin, yd + i * P);
          });
          return;
        }
      }
      ctx.pool().ParallelFor(planes, grain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          PoolPlane<T, kMode>(pa, xd + i * Pin, yd + i * P, ind ? ind + i * P : nullptr, i * Pin);
      });
    };
    bool ok;
    if constexpr (kMode == PoolMode::kMax) {
      ok = DispatchFloat(x->dtype(), run);
      if (!ok) {
        ok = true;
        switch (x->dtype()) {
          case DataType::kInt8: run(TypeTag<int8_t>{}); break;
          case DataType::kUInt8: run(TypeTag<uint8_t>{}); break;
          case DataType::kInt32: run(TypeTag<int32_t>{}); break;
          case DataType::kInt64: run(TypeTag<int64_t>{}); break;
          default: ok = false;
        }
      }
    } else {
      ok = DispatchFloat(x->dtype(), run);
    }
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  WindowAttrs a_;
  bool include_pad_ = false;
  int64_t storage_order_ = 0;
  float p_ = 2.f;
};

template <bool kMax>
class GlobalPoolKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) { return Status::Ok(); }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("missing input X");
    if (x->rank() < 2) return ctx.Error("X must have rank >= 2, got " + x->shape().ToString());
    Shape os{x->dim(0), x->dim(1)};
    int64_t S = 1;
    for (int i = 2; i < x->rank(); ++i) {
      os.PushBack(1);
      S *= x->dim(i);
    }
    Tensor* y = ctx.Output(0, x->dtype(), os);
    const int64_t planes = x->dim(0) * x->dim(1);
    if (planes == 0) return Status::Ok();
    bool ok = DispatchFloat(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using CT = std::conditional_t<std::is_same_v<T, double>, double, float>;
      const T* xd = x->data<T>();
      T* yd = y->data<T>();
      ctx.pool().ParallelFor(planes, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, S)), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const T* p = xd + i * S;
          CT r;
          if constexpr (kMax) {
            r = S > 0 ? static_cast<CT>(p[0]) : CT(0);
            for (int64_t j = 1; j < S; ++j) r = std::max(r, static_cast<CT>(p[j]));
          } else {
            CT s = 0;
            if constexpr (std::is_same_v<T, float>) {
              float s4[8] = {};
              int64_t j = 0;
              for (; j + 8 <= S; j += 8)
                for (int q = 0; q < 8; ++q) s4[q] += p[j + q];
              for (; j < S; ++j) s += p[j];
              for (int q = 0; q < 8; ++q) s += s4[q];
            } else {
              for (int64_t j = 0; j < S; ++j) s += static_cast<CT>(p[j]);
            }
            r = S > 0 ? s / static_cast<CT>(S) : CT(0);
          }
          if constexpr (std::is_same_v<T, double>) yd[i] = r;
          else yd[i] = cpu::CastTo<T>(static_cast<float>(r));
        }
      });
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }
};

// ---------------------------------------------------------------------------------------------
// BatchNormalization.
class BatchNormKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    eps_ = n.GetFloat("epsilon", 1e-5f);
    momentum_ = n.GetFloat("momentum", 0.9f);
    training_ = n.opset() >= 14 ? n.GetInt("training_mode", 0) != 0 : (n.opset() < 7 && n.GetInt("is_test", 0) == 0 && n.num_outputs() > 1);
    if (n.num_inputs() < 5) return n.Error("BatchNormalization needs X, scale, B, mean, var");
    if (!training_) {
      const Tensor* s = n.constant_input(1);
      const Tensor* b = n.constant_input(2);
      const Tensor* m = n.constant_input(3);
      const Tensor* v = n.constant_input(4);
      if (s && b && m && v) {
        int64_t c = s->num_elements();
        if (b->num_elements() == c && m->num_elements() == c && v->num_elements() == c) {
          std::vector<double> sd, bd, md, vd;
          auto read = [](const Tensor* t, std::vector<double>* o) {
            o->resize(t->num_elements());
            return DispatchFloat(t->dtype(), [&](auto tag) {
              using T = typename decltype(tag)::type;
              for (int64_t i = 0; i < t->num_elements(); ++i) (*o)[i] = static_cast<double>(t->data<T>()[i]);
            });
          };
          if (read(s, &sd) && read(b, &bd) && read(m, &md) && read(v, &vd)) {
            scale_.resize(c);
            shift_.resize(c);
            for (int64_t i = 0; i < c; ++i) {
              double a = sd[i] / std::sqrt(vd[i] + static_cast<double>(eps_));
              scale_[i] = a;
              shift_[i] = bd[i] - md[i] * a;
            }
            folded_ = true;
          }
        }
      }
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("missing input X");
    for (int i = 1; i < 5; ++i)
      if (ctx.input(i) == nullptr) return ctx.Error("missing input " + std::to_string(i));
    if (x->rank() < 1) return ctx.Error("X must have rank >= 1");
    const int64_t N = x->dim(0), C = x->rank() > 1 ? x->dim(1) : 1;
    int64_t S = 1;
    for (int i = 2; i < x->rank(); ++i) S *= x->dim(i);
    const Tensor* sc = ctx.input(1);
    int64_t pc = sc->num_elements();
    bool per_elem = pc != C && pc == C * S;  // opset < 9 spatial = 0
    if (pc != C && !per_elem)
      return ctx.Error("scale " + sc->shape().ToString() + " does not match channels " + std::to_string(C));
    for (int i = 2; i < 5; ++i)
      if (ctx.input(i)->num_elements() != pc) return ctx.Error("input " + std::to_string(i) + " size does not match scale");
    Tensor* y = ctx.Output(0, x->dtype(), x->shape());
    const int64_t L = per_elem ? C * S : C;  // parameter length
    const int64_t inner = per_elem ? 1 : S;   // elements per parameter run
    double* tmp = static_cast<double*>(ctx.Scratch(sizeof(double) * (2 * L + 4)));
    double* a = tmp;
    double* b = tmp + L;
    bool ok = DispatchFloat(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      auto rd = [&](int i, int64_t j) { return static_cast<double>(ctx.input(i)->data<T>()[j]); };
      const T* xd = x->data<T>();
      T* yd = y->data<T>();
      if (training_ && !per_elem) {
        Tensor* run_out[3] = {nullptr, nullptr, nullptr};
        for (int o = 1; o <= 2; ++o)
          if (ctx.num_outputs() > o && ctx.has_output(o)) run_out[o] = ctx.Output(o, x->dtype(), Shape{C});
        // Batch statistics per channel.
        for (int64_t c = 0; c < C; ++c) {
          double s = 0, s2 = 0;
          for (int64_t n = 0; n < N; ++n) {
            const T* p = xd + (n * C + c) * S;
            for (int64_t j = 0; j < S; ++j) s += static_cast<double>(p[j]);
          }
          double cnt = static_cast<double>(N * S);
          double mean = cnt > 0 ? s / cnt : 0;
          for (int64_t n = 0; n < N; ++n) {
            const T* p = xd + (n * C + c) * S;
            for (int64_t j = 0; j < S; ++j) {
              double d = static_cast<double>(p[j]) - mean;
              s2 += d * d;
            }
          }
          double var = cnt > 0 ? s2 / cnt : 0;
          a[c] = rd(1, c) / std::sqrt(var + eps_);
          b[c] = rd(2, c) - mean * a[c];
          // Running statistics outputs.
          for (int o = 1; o <= 2; ++o) {
            if (Tensor* t = run_out[o]) {
              double in = rd(o == 1 ? 3 : 4, c), cur = o == 1 ? mean : var;
              double v = in * momentum_ + cur * (1 - momentum_);
              if constexpr (std::is_same_v<T, double>) t->data<T>()[c] = v;
              else t->data<T>()[c] = cpu::CastTo<T>(static_cast<float>(v));
            }
          }
        }
      } else if (folded_) {
        for (int64_t i = 0; i < L; ++i) { a[i] = scale_[i]; b[i] = shift_[i]; }
      } else {
        for (int64_t i = 0; i < L; ++i) {
          a[i] = rd(1, i) / std::sqrt(rd(4, i) + eps_);
          b[i] = rd(2, i) - rd(3, i) * a[i];
        }
      }
      const int64_t runs = N * L;
      ctx.pool().ParallelFor(runs, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, inner)), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          int64_t c = r % L;
          const T* p = xd + r * inner;
          T* q = yd + r * inner;
          if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
            const T av = static_cast<T>(a[c]), bv = static_cast<T>(b[c]);
            for (int64_t j = 0; j < inner; ++j) q[j] = p[j] * av + bv;
          } else {
            const float av = static_cast<float>(a[c]), bv = static_cast<float>(b[c]);
            for (int64_t j = 0; j < inner; ++j) q[j] = T(static_cast<float>(p[j]) * av + bv);
          }
        }
      });
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  float eps_ = 1e-5f, momentum_ = 0.9f;
  bool training_ = false;
  bool folded_ = false;
  std::vector<double> scale_, shift_;
};

// ---------------------------------------------------------------------------------------------
// Softmax, LogSoftmax, Hardmax.
enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

template <SoftmaxKind kKind>
void SoftmaxRowF(const float* x, float* y, int64_t n) {
  float mx = -std::numeric_limits<float>::infinity();
  int64_t arg = 0;
  for (int64_t j = 0; j < n; ++j)
    if (x[j] > mx) { mx = x[j]; arg = j; }
  if constexpr (kKind == SoftmaxKind::kHardmax) {
    for (int64_t j = 0; j < n; ++j) y[j] = 0.f;
    if (n > 0) y[arg] = 1.f;
    return;
  }
  // A row of -inf only: x - max is NaN everywhere, so the row is NaN, as in onnxruntime.
  float sum = 0.f;
  if constexpr (kKind == SoftmaxKind::kSoftmax) {
    for (int64_t j = 0; j < n; ++j) {
      float e = cpu::FastExp(x[j] - mx);
      y[j] = e;
      sum += e;
    }
    const float inv = 1.f / sum;
    for (int64_t j = 0; j < n; ++j) y[j] *= inv;
  } else {
    // log(sum) as log1p(sum of the non-max terms): keeps precision when one term dominates.
    for (int64_t j = 0; j < n; ++j) sum += j == arg ? 0.f : cpu::FastExp(x[j] - mx);
    const float ls = n > 0 && x[arg] == mx ? std::log1p(sum) : std::log(sum + cpu::FastExp(x[arg] - mx));
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - mx) - ls;
  }
}

template <SoftmaxKind kKind>
class SoftmaxKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    legacy_ = n.opset() < 13;
    axis_ = n.GetInt("axis", legacy_ ? 1 : -1);
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("missing input");
    const int r = x->rank();
    auto ax = NormalizeAxis(axis_, std::max(r, 1));
    if (!ax.ok()) return ctx.Error(ax.status().message());
    int axis = *ax;
    int64_t outer = 1, len = 1, inner = 1;
    if (r == 0) {
      // Scalar: a single-element row.
    } else if (legacy_) {
      for (int i = 0; i < axis; ++i) outer *= x->dim(i);
      for (int i = axis; i < r; ++i) len *= x->dim(i);
    } else {
      for (int i = 0; i < axis; ++i) outer *= x->dim(i);
      len = x->dim(axis);
      for (int i = axis + 1; i < r; ++i) inner *= x->dim(i);
    }
    Tensor* y = ctx.Output(0, x->dtype(), x->shape());
    if (x->num_elements() == 0) return Status::Ok();
    ThreadPool& pool = ctx.pool();
    const int64_t rows = outer * inner;
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, len));
    auto run = [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* xd = x->data<T>();
      T* yd = y->data<T>();
      if constexpr (std::is_same_v<T, float>) {
        if (inner == 1) {
          pool.ParallelFor(outer, grain, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) SoftmaxRowF<kKind>(xd + i * len, yd + i * len, len);
          });
          return;
        }
      }
      using CT = std::conditional_t<std::is_same_v<T, double>, double, float>;
      // General strided rows (column of length `len`, stride `inner`).
      pool.ParallelFor(rows, grain, [&](int64_t b, int64_t e) {
        for (int64_t rI = b; rI < e; ++rI) {
          int64_t o = rI / inner, in = rI % inner;
          const T* p = xd + o * len * inner + in;
          T* q = yd + o * len * inner + in;
          CT mx = -std::numeric_limits<CT>::infinity();
          int64_t arg = 0;
          for (int64_t j = 0; j < len; ++j) {
            CT v = static_cast<CT>(p[j * inner]);
            if (v > mx) { mx = v; arg = j; }
          }
          if constexpr (kKind == SoftmaxKind::kHardmax) {
            for (int64_t j = 0; j < len; ++j) q[j * inner] = cpu::CastTo<T>(j == arg ? 1.f : 0.f);
            continue;
          }
          if (std::isinf(mx) && mx < 0) mx = 0;
          CT sum = 0;
          for (int64_t j = 0; j < len; ++j)
            if (j != arg) sum += std::exp(static_cast<CT>(p[j * inner]) - mx);
          const bool arg_is_max = static_cast<CT>(p[arg * inner]) == mx;
          if (!arg_is_max) sum += std::exp(static_cast<CT>(p[arg * inner]) - mx);
          if constexpr (kKind == SoftmaxKind::kSoftmax) {
            sum += arg_is_max ? CT(1) : CT(0);
            for (int64_t j = 0; j < len; ++j) {
              CT v = std::exp(static_cast<CT>(p[j * inner]) - mx) / sum;
              if constexpr (std::is_same_v<T, double>) q[j * inner] = v;
              else q[j * inner] = cpu::CastTo<T>(static_cast<float>(v));
            }
          } else {
            CT ls = arg_is_max ? std::log1p(sum) : std::log(sum);
            for (int64_t j = 0; j < len; ++j) {
              CT v = (static_cast<CT>(p[j * inner]) - mx) - ls;
              if constexpr (std::is_same_v<T, double>) q[j * inner] = v;
              else q[j * inner] = cpu::CastTo<T>(static_cast<float>(v));
            }
          }
        }
      });
    };
    if (!DispatchFloat(x->dtype(), run)) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  bool legacy_ = false;
  int64_t axis_ = -1;
};

// ---------------------------------------------------------------------------------------------
// Normalisations over trailing or channel groups.

// Expands a tensor broadcastable (right-aligned) to dims[axis:] of `x` into `out` (inner floats).
template <typename T>
Status ExpandToNormalized(const Tensor& t, const Shape& xs, int axis, float* out) {
  const int r = xs.rank(), nr = r - axis;
  if (t.rank() > nr) return InvalidArgument("parameter " + t.shape().ToString() + " has more dims than the normalized shape");
  int64_t inner = 1;
  for (int i = axis; i < r; ++i) inner *= xs[i];
  const T* d = t.data<T>();
  if (t.num_elements() == inner) {
    for (int64_t j = 0; j < inner; ++j) out[j] = static_cast<float>(d[j]);
    return Status::Ok();
  }
  int64_t st[Shape::kInline * 2];
  int64_t s = 1;
  for (int i = nr - 1; i >= 0; --i) {
    int ti = i - (nr - t.rank());
    int64_t dim = ti >= 0 ? t.dim(ti) : 1;
    if (dim != 1 && dim != xs[axis + i])
      return InvalidArgument("parameter " + t.shape().ToString() + " does not broadcast to the normalized shape");
    st[i] = dim == 1 ? 0 : s;
    s *= dim;
  }
  for (int64_t j = 0; j < inner; ++j) {
    int64_t rem = j, off = 0;
    for (int i = nr - 1; i >= 0; --i) {
      int64_t dd = xs[axis + i];
      off += (rem % dd) * st[i];
      rem /= dd;
    }
    out[j] = static_cast<float>(d[off]);
  }
  return Status::Ok();
}

// LayerNormalization (kRms = false) and RMSNormalization (kRms = true).
template <bool kRms>
class TrailingNormKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    axis_ = n.GetInt("axis", -1);
    eps_ = n.GetFloat("epsilon", 1e-5f);
    stash_ = n.GetInt("stash_type", 1);
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* sc = ctx.input(1);
    const Tensor* bi = (!kRms && ctx.num_inputs() > 2) ? ctx.input(2) : nullptr;
    if (x == nullptr || sc == nullptr) return ctx.Error("needs X and Scale");
    const int r = x->rank();
    auto ax = NormalizeAxis(axis_, r);
    if (!ax.ok()) return ctx.Error(ax.status().message());
    const int axis = *ax;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= x->dim(i);
    for (int i = axis; i < r; ++i) inner *= x->dim(i);
    Tensor* y = ctx.Output(0, x->dtype(), x->shape());
    Shape ss;
    for (int i = 0; i < r; ++i) ss.PushBack(i < axis ? x->dim(i) : 1);
    DataType stat_t = stash_ == 1 ? DataType::kFloat : x->dtype();
    if (stat_t != DataType::kFloat && !IsFloatingPoint(stat_t)) stat_t = DataType::kFloat;
    Tensor* mean_t = nullptr;
    Tensor* inv_t = nullptr;
    if (!kRms) {
      if (ctx.num_outputs() > 1 && ctx.has_output(1)) mean_t = ctx.Output(1, stat_t, ss);
      if (ctx.num_outputs() > 2 && ctx.has_output(2)) inv_t = ctx.Output(2, stat_t, ss);
    }
    if (x->num_elements() == 0) return Status::Ok();
    float* params = static_cast<float*>(ctx.Scratch(sizeof(float) * inner * 2));
    float* sv = params;
    float* bv = bi ? params + inner : nullptr;
    Status st;
    bool ok = DispatchFloat(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (sc->dtype() != x->dtype() || (bi && bi->dtype() != x->dtype())) {
        st = InvalidArgument("Scale and B must have X's type");
        return;
      }
      st = ExpandToNormalized<T>(*sc, x->shape(), axis, sv);
      if (st.ok() && bi) st = ExpandToNormalized<T>(*bi, x->shape(), axis, bv);
      if (!st.ok()) return;
      const T* xd = x->data<T>();
      T* yd = y->data<T>();
      auto put_stat = [&](Tensor* t, int64_t i, double v) {
        if (t == nullptr) return;
        if (t->dtype() == DataType::kFloat) t->data<float>()[i] = static_cast<float>(v);
        else DispatchFloat(t->dtype(), [&](auto t2) {
          using U = typename decltype(t2)::type;
          if constexpr (std::is_same_v<U, double>) t->data<U>()[i] = v;
          else t->data<U>()[i] = cpu::CastTo<U>(static_cast<float>(v));
        });
      };
      ctx.pool().ParallelFor(outer, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, inner)), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const T* p = xd + i * inner;
          T* q = yd + i * inner;
          if constexpr (std::is_same_v<T, float>) {
            float mean = 0.f;
            if (!kRms) {
              float s = 0.f;
              for (int64_t j = 0; j < inner; ++j) s += p[j];
              mean = s / static_cast<float>(inner);
            }
            float v = 0.f;
            for (int64_t j = 0; j < inner; ++j) {
              float d = p[j] - mean;
              v += d * d;
            }
            v /= static_cast<float>(inner);
            const float inv = 1.f / std::sqrt(v + eps_);
            if (bv)
              for (int64_t j = 0; j < inner; ++j) q[j] = (p[j] - mean) * inv * sv[j] + bv[j];
            else
              for (int64_t j = 0; j < inner; ++j) q[j] = (p[j] - mean) * inv * sv[j];
            put_stat(mean_t, i, mean);
            put_stat(inv_t, i, inv);
          } else {
            double mean = 0;
            if (!kRms) {
              for (int64_t j = 0; j < inner; ++j) mean += static_cast<double>(p[j]);
              mean /= static_cast<double>(inner);
            }
            double v = 0;
            for (int64_t j = 0; j < inner; ++j) {
              double d = static_cast<double>(p[j]) - mean;
              v += d * d;
            }
            v /= static_cast<double>(inner);
            const double inv = 1.0 / std::sqrt(v + static_cast<double>(eps_));
            for (int64_t j = 0; j < inner; ++j) {
              double o = (static_cast<double>(p[j]) - mean) * inv * sv[j] + (bv ? bv[j] : 0.f);
              if constexpr (std::is_same_v<T, double>) q[j] = o;
              else q[j] = cpu::CastTo<T>(static_cast<float>(o));
            }
            put_stat(mean_t, i, mean);
            put_stat(inv_t, i, inv);
          }
        }
      });
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    if (!st.ok()) return ctx.Error(st.message());
    return Status::Ok();
  }

 private:
  int64_t axis_ = -1;
  float eps_ = 1e-5f;
  int64_t stash_ = 1;
};

// InstanceNormalization (groups == channels) and GroupNormalization.
template <bool kGroup>
class ChannelGroupNormKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    eps_ = n.GetFloat("epsilon", 1e-5f);
    if (kGroup) {
      auto g = n.RequireInt("num_groups");
      if (!g.ok()) return g.status();
      groups_ = *g;
      if (groups_ < 1) return n.Error("num_groups must be >= 1");
      per_channel_ = n.opset() >= 21;
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* sc = ctx.input(1);
    const Tensor* bi = ctx.input(2);
    if (x == nullptr || sc == nullptr || bi == nullptr) return ctx.Error("needs X, scale and B");
    if (x->rank() < 2) return ctx.Error("X must have rank >= 2, got " + x->shape().ToString());
    const int64_t N = x->dim(0), C = x->dim(1);
    int64_t S = 1;
    for (int i = 2; i < x->rank(); ++i) S *= x->dim(i);
    const int64_t G = kGroup ? groups_ : C;
    if (G == 0 || C % G != 0) return ctx.Error("channels " + std::to_string(C) + " not divisible by num_groups " + std::to_string(G));
    bool param_per_group = kGroup && !per_channel_;
    if (kGroup && sc->num_elements() != (param_per_group ? G : C)) {
      // Accept either layout when the size says which.
      if (sc->num_elements() == C) param_per_group = false;
      else if (sc->num_elements() == G) param_per_group = true;
    }
    const int64_t want = param_per_group ? G : C;
    if (sc->num_elements() != want || bi->num_elements() != want)
      return ctx.Error("scale and B must have " + std::to_string(want) + " elements, got " + sc->shape().ToString() +
                       " and " + bi->shape().ToString());
    Tensor* y = ctx.Output(0, x->dtype(), x->shape());
    if (x->num_elements() == 0) return Status::Ok();
    const int64_t Cg = C / G, L = Cg * S;
    bool ok = DispatchFloat(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* xd = x->data<T>();
      T* yd = y->data<T>();
      const T* sd = sc->data<T>();
      const T* bd = bi->data<T>();
      ctx.pool().ParallelFor(N * G, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, L)), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const T* p = xd + i * L;
          T* q = yd + i * L;
          const int64_t g = i % G;
          double mean = 0, var = 0;
          if constexpr (std::is_same_v<T, float>) {
            float s = 0.f;
            for (int64_t j = 0; j < L; ++j) s += p[j];
            float m = s / static_cast<float>(L);
            float v = 0.f;
            for (int64_t j = 0; j < L; ++j) {
              float d = p[j] - m;
              v += d * d;
            }
            mean = m;
            var = v / static_cast<float>(L);
          } else {
            for (int64_t j = 0; j < L; ++j) mean += static_cast<double>(p[j]);
            mean /= static_cast<double>(L);
            for (int64_t j = 0; j < L; ++j) {
              double d = static_cast<double>(p[j]) - mean;
              var += d * d;
            }
            var /= static_cast<double>(L);
          }
          const double inv = 1.0 / std::sqrt(var + static_cast<double>(eps_));
          for (int64_t c = 0; c < Cg; ++c) {
            int64_t pi = param_per_group ? g : g * Cg + c;
            double a = static_cast<double>(sd[pi]) * inv;
            double bb = static_cast<double>(bd[pi]) - mean * a;
            const T* pc = p + c * S;
            T* qc = q + c * S;
            if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
              const T av = static_cast<T>(a), bvv = static_cast<T>(bb);
              for (int64_t j = 0; j < S; ++j) qc[j] = pc[j] * av + bvv;
            } else {
              const float av = static_cast<float>(a), bvv = static_cast<float>(bb);
              for (int64_t j = 0; j < S; ++j) qc[j] = T(static_cast<float>(pc[j]) * av + bvv);
            }
          }
        }
      });
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  float eps_ = 1e-5f;
  int64_t groups_ = 1;
  bool per_channel_ = true;
};

class LrnKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    alpha_ = n.GetFloat("alpha", 1e-4f);
    beta_ = n.GetFloat("beta", 0.75f);
    bias_ = n.GetFloat("bias", 1.f);
    auto s = n.RequireInt("size");
    if (!s.ok()) return s.status();
    size_ = *s;
    if (size_ < 1) return n.Error("size must be >= 1");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("missing input X");
    if (x->rank() < 2) return ctx.Error("X must have rank >= 2");
    const int64_t N = x->dim(0), C = x->dim(1);
    int64_t S = 1;
    for (int i = 2; i < x->rank(); ++i) S *= x->dim(i);
    Tensor* y = ctx.Output(0, x->dtype(), x->shape());
    if (x->num_elements() == 0) return Status::Ok();
    const int64_t c1 = (size_ - 1) / 2, c2 = size_ - 1 - c1;  // floor / ceil of (size-1)/2
    const float coef = alpha_ / static_cast<float>(size_);
    bool ok = DispatchFloat(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* xd = x->data<T>();
      T* yd = y->data<T>();
      ctx.pool().ParallelFor(N * C, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, S * size_)), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          int64_t n = i / C, c = i % C;
          int64_t lo = std::max<int64_t>(0, c - c1), hi = std::min<int64_t>(C - 1, c + c2);
          for (int64_t j = 0; j < S; ++j) {
            double sum = 0;
            for (int64_t cc = lo; cc <= hi; ++cc) {
              double v = static_cast<double>(xd[(n * C + cc) * S + j]);
              sum += v * v;
            }
            double o = static_cast<double>(xd[i * S + j]) / std::pow(bias_ + coef * sum, static_cast<double>(beta_));
            if constexpr (std::is_same_v<T, double>) yd[i * S + j] = o;
            else yd[i * S + j] = cpu::CastTo<T>(static_cast<float>(o));
          }
        }
      });
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  float alpha_ = 1e-4f, beta_ = 0.75f, bias_ = 1.f;
  int64_t size_ = 1;
};

class LpNormKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    axis_ = n.GetInt("axis", -1);
    p_ = n.GetInt("p", 2);
    if (p_ != 1 && p_ != 2) return n.Error("p must be 1 or 2, got " + std::to_string(p_));
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("missing input");
    const int r = x->rank();
    auto ax = NormalizeAxis(axis_, std::max(r, 1));
    if (!ax.ok()) return ctx.Error(ax.status().message());
    int64_t outer = 1, len = 1, inner = 1;
    for (int i = 0; i < *ax; ++i) outer *= x->dim(i);
    if (r > 0) len = x->dim(*ax);
    for (int i = *ax + 1; i < r; ++i) inner *= x->dim(i);
    Tensor* y = ctx.Output(0, x->dtype(), x->shape());
    bool ok = DispatchFloat(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* xd = x->data<T>();
      T* yd = y->data<T>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t in = 0; in < inner; ++in) {
          const T* p = xd + o * len * inner + in;
          T* q = yd + o * len * inner + in;
          double s = 0;
          for (int64_t j = 0; j < len; ++j) {
            double v = static_cast<double>(p[j * inner]);
            s += p_ == 1 ? std::fabs(v) : v * v;
          }
          double norm = p_ == 1 ? s : std::sqrt(s);
          for (int64_t j = 0; j < len; ++j) {
            double v = norm == 0 ? 0.0 : static_cast<double>(p[j * inner]) / norm;
            if constexpr (std::is_same_v<T, double>) q[j * inner] = v;
            else q[j * inner] = cpu::CastTo<T>(static_cast<float>(v));
          }
        }
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  int64_t axis_ = -1, p_ = 2;
};

class MvnKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (n.has_attr("axes")) axes_ = n.GetInts("axes");
    else axes_ = {0, 2, 3};
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("missing input");
    const int r = x->rank();
    bool reduced[Shape::kInline * 2] = {};
    if (r > Shape::kInline * 2) return ctx.Error("rank too large");
    for (int64_t a : axes_) {
      auto ax = NormalizeAxis(a, r);
      if (!ax.ok()) return ctx.Error(ax.status().message());
      reduced[*ax] = true;
    }
    // Kept-index stride per dim (0 for reduced dims).
    int64_t kst[Shape::kInline * 2];
    int64_t kept = 1;
    for (int i = r - 1; i >= 0; --i) {
      kst[i] = reduced[i] ? 0 : kept;
      if (!reduced[i]) kept *= x->dim(i);
    }
    Tensor* y = ctx.Output(0, x->dtype(), x->shape());
    const int64_t total = x->num_elements();
    if (total == 0) return Status::Ok();
    const double cnt = static_cast<double>(total / std::max<int64_t>(kept, 1));
    double* sums = static_cast<double*>(ctx.Scratch(sizeof(double) * kept * 2));
    double* sq = sums + kept;
    std::fill(sums, sums + 2 * kept, 0.0);
    auto kidx = [&](int64_t f) {
      int64_t k = 0;
      for (int i = r - 1; i >= 0; --i) {
        int64_t d = x->dim(i);
        k += (f % d) * kst[i];
        f /= d;
      }
      return k;
    };
    bool ok = DispatchFloat(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* xd = x->data<T>();
      T* yd = y->data<T>();
      for (int64_t f = 0; f < total; ++f) {
        double v = static_cast<double>(xd[f]);
        int64_t k = kidx(f);
        sums[k] += v;
        sq[k] += v * v;
      }
      for (int64_t k = 0; k < kept; ++k) {
        double m = sums[k] / cnt;
        double var = sq[k] / cnt - m * m;
        sums[k] = m;
        sq[k] = std::sqrt(std::max(var, 0.0)) + 1e-9;
      }
      for (int64_t f = 0; f < total; ++f) {
        int64_t k = kidx(f);
        double o = (static_cast<double>(xd[f]) - sums[k]) / sq[k];
        if constexpr (std::is_same_v<T, double>) yd[f] = o;
        else yd[f] = cpu::CastTo<T>(static_cast<float>(o));
      }
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  std::vector<int64_t> axes_;
};

// ---------------------------------------------------------------------------------------------
// ConvTranspose.
inline int64_t FloorDiv2(int64_t v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }

class ConvTransposeKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    RETURN_IF_ERROR(a_.Parse(n));
    output_padding_ = n.GetInts("output_padding");
    output_shape_ = n.GetInts("output_shape");
    if (n.num_inputs() < 2) return n.Error("ConvTranspose needs X and W");
    return Status::Ok();
  }

  int64_t group() const { return a_.group; }

  // The run's geometry: the adjoint convolution's window (g->in: Y's spatial dims, g->out: X's),
  // Y's shape, and G, Mg, M, Cg; INVALID_ARGUMENT naming what does not fit.
  Status Geometry(const Tensor& x, const Tensor& w, const Tensor* b, WindowGeom* g, Shape* os) const {
    if (x.dtype() != w.dtype()) return InvalidArgument("X and W types differ");
    int nd;
    RETURN_IF_ERROR(SpatialOf(x, &nd));
    if (w.rank() != x.rank()) return InvalidArgument("W " + w.shape().ToString() + " must have X's rank");
    const int64_t N = x.dim(0), C = x.dim(1), G = a_.group;
    if (w.dim(0) != C) return InvalidArgument("W's first dim " + std::to_string(w.dim(0)) + " must equal X's channels " + std::to_string(C));
    if (C % G != 0) return InvalidArgument("channels not divisible by group");
    const int64_t M = w.dim(1) * G;
    if (b != nullptr && b->num_elements() != M) return InvalidArgument("B must have " + std::to_string(M) + " elements");
    const int64_t* k = w.shape().data() + 2;
    if (!a_.kernel.empty()) {
      if (static_cast<int>(a_.kernel.size()) != nd) return InvalidArgument("kernel_shape rank mismatch");
      for (int i = 0; i < nd; ++i)
        if (a_.kernel[i] != k[i]) return InvalidArgument("kernel_shape does not match W");
    }
    if (!output_padding_.empty() && static_cast<int>(output_padding_.size()) != nd)
      return InvalidArgument("output_padding " + DimsStr(output_padding_) + " rank mismatch");
    // Geometry of the adjoint convolution: the window slides over Y; its positions are X's grid.
    int64_t pe[WindowGeom::kMaxDims];
    const int64_t* xin = x.shape().data() + 2;
    RETURN_IF_ERROR(a_.Common(nd, xin, k, g, pe));
    std::vector<int64_t> oshape = output_shape_;
    if (!oshape.empty() && static_cast<int>(oshape.size()) == nd + 2) oshape.erase(oshape.begin(), oshape.begin() + 2);
    if (!oshape.empty() && static_cast<int>(oshape.size()) != nd) return InvalidArgument("output_shape " + DimsStr(output_shape_) + " rank mismatch");
    const bool same = a_.auto_pad == "SAME_UPPER" || a_.auto_pad == "SAME_LOWER";
    *os = Shape{N, M};
    for (int i = 0; i < nd; ++i) {
      const int64_t s = g->stride[i], ek = (k[i] - 1) * g->dil[i] + 1;
      const int64_t op = output_padding_.empty() ? 0 : output_padding_[i];
      int64_t out;
      if (same || (!oshape.empty() && a_.pads.empty())) {
        out = oshape.empty() ? xin[i] * s : oshape[i];
        int64_t total = s * (xin[i] - 1) + op + ek - out;
        if (a_.auto_pad == "SAME_UPPER") g->pad[i] = FloorDiv2(total);
        else if (same) g->pad[i] = total - FloorDiv2(total);
        else g->pad[i] = 0;
      } else if (a_.auto_pad == "VALID") {
        g->pad[i] = 0;
        out = oshape.empty() ? s * (xin[i] - 1) + op + ek : oshape[i];
      } else {
        out = oshape.empty() ? s * (xin[i] - 1) + op + ek - g->pad[i] - pe[i] : oshape[i];
      }
      if (out < 0) return InvalidArgument("computed output dim " + std::to_string(i) + " is negative");
      g->in[i] = out;
      g->out[i] = xin[i];
      os->PushBack(out);
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* w = ctx.input(1);
    const Tensor* b = ctx.num_inputs() > 2 ? ctx.input(2) : nullptr;
    if (x == nullptr || w == nullptr) return ctx.Error("needs X and W");
    WindowGeom g;
    Shape os;
    if (Status st = Geometry(*x, *w, b, &g, &os); !st.ok()) return ctx.Error(st.message());
    const int64_t N = x->dim(0), C = x->dim(1), G = a_.group;
    const int64_t Mg = w->dim(1), M = Mg * G, Cg = C / G;
    Tensor* y = ctx.Output(0, x->dtype(), os);
    if (y->num_elements() == 0) return Status::Ok();
    const int64_t Pin = g.OutSize(), Pout = g.InSize(), ks = g.KernelSize();
    auto run = [&](const float* xf, const float* wf, const float* bf, float* yf) {
      ThreadPool& pool = ctx.pool();
      float* col = static_cast<float*>(ctx.Scratch(sizeof(float) * std::max<int64_t>(1, Mg * ks * Pin)));
      std::fill(yf, yf + N * M * Pout, 0.f);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t gi = 0; gi < G; ++gi) {
          const float* xg = xf + (n * C + gi * Cg) * Pin;
          const float* wg = wf + gi * Cg * Mg * ks;
          cpu::Sgemm(true, false, Mg * ks, Pin, Cg, 1.f, wg, Mg * ks, xg, Pin, 0.f, col, Pin, &pool);
          float* yg = yf + (n * M + gi * Mg) * Pout;
          pool.ParallelFor(Mg, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, ks * Pin)), [&](int64_t c0, int64_t c1) {
            cpu::Col2Im(g, col + c0 * ks * Pin, c1 - c0, yg + c0 * Pout);
            if (bf)
              for (int64_t c = c0; c < c1; ++c) {
                float bv = bf[gi * Mg + c];
                float* row = yg + c * Pout;
                for (int64_t p = 0; p < Pout; ++p) row[p] += bv;
              }
          });
        }
    };
    if (x->dtype() == DataType::kFloat) {
      run(x->data<float>(), w->data<float>(), b ? b->data<float>() : nullptr, y->data<float>());
      return Status::Ok();
    }
    bool ok = DispatchFloat(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      int64_t nx = x->num_elements(), nw = w->num_elements(), ny = y->num_elements(), nb = b ? b->num_elements() : 0;
      float* buf = static_cast<float*>(ctx.Scratch(sizeof(float) * (nx + nw + ny + nb)));
      cpu::ToFloat(x->data<T>(), buf, nx);
      cpu::ToFloat(w->data<T>(), buf + nx, nw);
      if (b) cpu::ToFloat(b->data<T>(), buf + nx + nw + ny, nb);
      run(buf, buf + nx, b ? buf + nx + nw + ny : nullptr, buf + nx + nw);
      cpu::FromFloat(buf + nx + nw, y->data<T>(), ny);
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  WindowAttrs a_;
  std::vector<int64_t> output_padding_, output_shape_;
};

// ---------------------------------------------------------------------------------------------
// ConvInteger and QLinearConv: exact integer accumulation through a double convolution.
double QuantAt(const Tensor* t, int64_t i) {
  if (t == nullptr || t->num_elements() == 0) return 0;
  if (t->num_elements() == 1) i = 0;
  switch (t->dtype()) {
    case DataType::kUInt8: return t->data<uint8_t>()[i];
    case DataType::kInt8: return t->data<int8_t>()[i];
    case DataType::kInt32: return t->data<int32_t>()[i];
    case DataType::kFloat: return t->data<float>()[i];
    case DataType::kUInt16: return t->data<uint16_t>()[i];
    case DataType::kInt16: return t->data<int16_t>()[i];
    default: return ScalarAsDouble(*t);
  }
}

template <bool kQLinear>
class IntConvKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) { return a_.Parse(n); }

  Status Compute(KernelContext& ctx) const override {
    // ConvInteger: x, w, x_zp, w_zp. QLinearConv: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B.
    const Tensor* x = ctx.input(0);
    const Tensor* w = ctx.input(kQLinear ? 3 : 1);
    const Tensor* xzp = ctx.num_inputs() > (kQLinear ? 2 : 2) ? ctx.input(2) : nullptr;
    const Tensor* wzp = kQLinear ? (ctx.num_inputs() > 5 ? ctx.input(5) : nullptr) : (ctx.num_inputs() > 3 ? ctx.input(3) : nullptr);
    if (x == nullptr || w == nullptr) return ctx.Error("needs x and w");
    auto is_q = [](DataType d) { return d == DataType::kUInt8 || d == DataType::kInt8; };
    if (!is_q(x->dtype()) || !is_q(w->dtype())) return ctx.Error("x and w must be uint8 or int8");
    ConvShape s;
    Status st = ConvShapeOf(a_, *x, *w, &s);
    if (!st.ok()) return ctx.Error(st.message());
    if (xzp != nullptr && xzp->num_elements() > 1) return ctx.Error("x_zero_point must be a scalar");
    if (wzp != nullptr && wzp->num_elements() != 1 && wzp->num_elements() != s.M)
      return ctx.Error("w_zero_point must be a scalar or have one value per output channel");
    const Tensor* xs = nullptr;
    const Tensor* ws = nullptr;
    const Tensor* ys = nullptr;
    const Tensor* yzp = nullptr;
    const Tensor* bias = nullptr;
    DataType out_t = DataType::kInt32;
    if (kQLinear) {
      xs = ctx.input(1);
      ws = ctx.input(4);
      ys = ctx.input(6);
      yzp = ctx.num_inputs() > 7 ? ctx.input(7) : nullptr;
      bias = ctx.num_inputs() > 8 ? ctx.input(8) : nullptr;
      if (xs == nullptr || ws == nullptr || ys == nullptr) return ctx.Error("missing scales");
      if (ws->num_elements() != 1 && ws->num_elements() != s.M) return ctx.Error("w_scale must be scalar or per channel");
      if (bias != nullptr && bias->num_elements() != s.M) return ctx.Error("B must have one value per output channel");
      out_t = yzp != nullptr ? yzp->dtype() : x->dtype();
    }
    Tensor* y = ctx.Output(0, out_t, s.out);
    if (y->num_elements() == 0) return Status::Ok();
    const int64_t nx = x->num_elements(), nw = w->num_elements(), ny = y->num_elements();
    double* buf = static_cast<double*>(ctx.Scratch(sizeof(double) * (nx + nw + ny)));
    double* xd = buf;
    double* wd = buf + nx;
    double* yd = buf + nx + nw;
    const double xz = QuantAt(xzp, 0);
    for (int64_t i = 0; i < nx; ++i) xd[i] = QuantAt(x, i) - xz;
    const int64_t per_m = nw / std::max<int64_t>(1, s.M);
    for (int64_t i = 0; i < nw; ++i) wd[i] = QuantAt(w, i) - QuantAt(wzp, i / std::max<int64_t>(1, per_m));
    RunConv<double>(ctx.pool(), ctx, s.g, s.N, s.C, s.M, s.G, xd, wd, nullptr, yd);
    const int64_t P = s.g.OutSize();
    if (!kQLinear) {
      int32_t* o = y->data<int32_t>();
      for (int64_t i = 0; i < ny; ++i) o[i] = static_cast<int32_t>(yd[i]);
      return Status::Ok();
    }
    const float xsv = static_cast<float>(QuantAt(xs, 0)), ysv = static_cast<float>(QuantAt(ys, 0));
    const float yz = static_cast<float>(QuantAt(yzp, 0));
    const float lo = out_t == DataType::kUInt8 ? 0.f : -128.f, hi = out_t == DataType::kUInt8 ? 255.f : 127.f;
    for (int64_t i = 0; i < ny; ++i) {
      int64_t m = (i / P) % s.M;
      double acc = yd[i] + (bias ? static_cast<double>(bias->data<int32_t>()[m]) : 0.0);
      float scale = xsv * static_cast<float>(QuantAt(ws, m)) / ysv;
      float v = std::nearbyint(static_cast<float>(acc) * scale) + yz;
      v = std::min(hi, std::max(lo, v));
      if (out_t == DataType::kUInt8) y->data<uint8_t>()[i] = static_cast<uint8_t>(v);
      else y->data<int8_t>()[i] = static_cast<int8_t>(v);
    }
    return Status::Ok();
  }

 private:
  WindowAttrs a_;
};

}  // namespace

Status ConvTransposeRunGeometry(const OpKernel& kernel, const Tensor& x, const Tensor& w, const Tensor* b,
                                convt::Geom* geom) {
  const auto* k = dynamic_cast<const ConvTransposeKernel*>(&kernel);
  if (k == nullptr) return Internal("not a ConvTranspose kernel");
  WindowGeom g;
  Shape os;
  RETURN_IF_ERROR(k->Geometry(x, w, b, &g, &os));
  if (g.nd > convt::kMaxDims)
    return Unimplemented(std::to_string(g.nd) + " spatial dims (at most " + std::to_string(convt::kMaxDims) + ")");
  *geom = convt::Geom();
  geom->nd = g.nd;
  geom->n = x.dim(0);
  geom->c = x.dim(1);
  geom->m = os[1];
  geom->group = k->group();
  for (int i = 0; i < g.nd; ++i) {
    geom->xin[i] = g.out[i];
    geom->yout[i] = g.in[i];
    geom->k[i] = g.k[i];
    geom->stride[i] = g.stride[i];
    geom->dil[i] = g.dil[i];
    geom->pad[i] = g.pad[i];
  }
  return Status::Ok();
}

void RegisterNnOps(OpRegistry& r) {
  r.Add("", "Conv", Factory<ConvKernel>());
  r.Add("", "MaxPool", Factory<PoolKernel<PoolMode::kMax>>());
  r.Add("", "AveragePool", Factory<PoolKernel<PoolMode::kAvg>>());
  r.Add("", "LpPool", Factory<PoolKernel<PoolMode::kLp>>());
  r.Add("", "GlobalMaxPool", Factory<GlobalPoolKernel<true>>());
  r.Add("", "GlobalAveragePool", Factory<GlobalPoolKernel<false>>());
  r.Add("", "BatchNormalization", Factory<BatchNormKernel>());
  r.Add("", "Softmax", Factory<SoftmaxKernel<SoftmaxKind::kSoftmax>>());
  r.Add("", "LogSoftmax", Factory<SoftmaxKernel<SoftmaxKind::kLogSoftmax>>());
  r.Add("", "Hardmax", Factory<SoftmaxKernel<SoftmaxKind::kHardmax>>());
  r.Add("", "LayerNormalization", Factory<TrailingNormKernel<false>>());
  r.Add("", "RMSNormalization", Factory<TrailingNormKernel<true>>());
  r.Add("", "InstanceNormalization", Factory<ChannelGroupNormKernel<false>>());
  r.Add("", "GroupNormalization", Factory<ChannelGroupNormKernel<true>>());
  r.Add("", "LRN", Factory<LrnKernel>());
  r.Add("", "LpNormalization", Factory<LpNormKernel>());
  r.Add("", "MeanVarianceNormalization", Factory<MvnKernel>());
  r.Add("", "ConvTranspose", Factory<ConvTransposeKernel>());
  r.Add("", "ConvInteger", Factory<IntConvKernel<false>>());
  r.Add("", "QLinearConv", Factory<IntConvKernel<true>>());
}

}  // namespace onnxd::engine
