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
#include "kernels/cpu/vec_math.h"
#include "ops/op_kernel.h"
#include "ops/op_util.h"

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

// Y[N, M, out] = conv(X[N, C, in], W[M, C/G, k]) + bias, float or double.
template <typename T>
void RunConv(ThreadPool& pool, KernelContext& ctx, const WindowGeom& g, int64_t N, int64_t C, int64_t M, int64_t G,
             const T* x, const T* w, const T* bias, T* y) {
  const int64_t P = g.OutSize(), Pin = g.InSize(), ks = g.KernelSize();
  const int64_t Cg = C / G, Mg = M / G, Kc = Cg * ks;
  const int threads = pool.num_threads();
  if (N == 0 || M == 0 || P == 0) return;
  if (Kc == 0) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t m = 0; m < M; ++m)
        for (int64_t p = 0; p < P; ++p) y[(n * M + m) * P + p] = bias ? bias[m] : T(0);
    return;
  }

  // Depthwise (one input channel per group): direct kernel.
  if constexpr (std::is_same_v<T, float>) {
    if (Cg == 1 && G > 1 && (g.nd == 2 || g.nd == 1)) {
      WindowGeom g2 = g;
      if (g.nd == 1) {
        g2.nd = 2;
        g2.in[1] = g.in[0]; g2.out[1] = g.out[0]; g2.k[1] = g.k[0];
        g2.stride[1] = g.stride[0]; g2.dil[1] = g.dil[0]; g2.pad[1] = g.pad[0];
        g2.in[0] = g2.out[0] = g2.k[0] = g2.stride[0] = g2.dil[0] = 1;
        g2.pad[0] = 0;
      }
      int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, P * ks));
      pool.ParallelFor(N * M, grain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          int64_t n = i / M, m = i % M;
          int64_t c = m / Mg;
          cpu::DepthwiseConv2D(g2, x + (n * C + c) * Pin, w + m * ks, bias ? bias[m] : 0.f, y + i * P);
        }
      });
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
    if (bias == nullptr) return;
    for (int64_t m = 0; m < Mg; ++m) {
      T bv = bias[m0 + m];
      T* row = yc + m * P;
      for (int64_t p = p0; p < p1; ++p) row[p] += bv;
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
                     b ? b->data<float>() : nullptr, y->data<float>());
      return Status::Ok();
    }
    if (dt == DataType::kDouble) {
      RunConv<double>(ctx.pool(), ctx, s.g, s.N, s.C, s.M, s.G, x->data<double>(), w->data<double>(),
                      b ? b->data<double>() : nullptr, y->data<double>());
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
        RunConv<float>(ctx.pool(), ctx, s.g, s.N, s.C, s.M, s.G, xf, wf, b ? bf : nullptr, yf);
        cpu::FromFloat(yf, y->data<T>(), ny);
      }
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(dt));
    return Status::Ok();
  }

 private:
  WindowAttrs a_;
  std::vector<float> w_float_;
  bool has_w_float_ = false;
};

}  // namespace

void RegisterNnOps(OpRegistry& r) {
  r.Add("", "Conv", Factory<ConvKernel>());
}

}  // namespace onnxd::engine
