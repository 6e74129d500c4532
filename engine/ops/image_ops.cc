// Image ops: Resize (and the deprecated Upsample), GridSample, AffineGrid, Col2Im, CenterCropPad.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/op_kernel.h"
#include "ops/op_util.h"
#include "ops/resize.h"

#pragma GCC optimize("O3")
#pragma GCC diagnostic ignored "-Wrestrict"

namespace onnxd::engine {
namespace {

constexpr int kMaxRank = kResizeMaxRank;

template <typename T>
constexpr bool kIsHalf = std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;

// Accumulation type for interpolation: float for narrow types, double for wide ones.
template <typename T>
using AccType = std::conditional_t<std::is_same_v<T, double> || std::is_same_v<T, int32_t> ||
                                       std::is_same_v<T, int64_t> || std::is_same_v<T, uint32_t> ||
                                       std::is_same_v<T, uint64_t>,
                                   double, float>;

template <typename T, typename A>
inline T FromAcc(A v) {
  if constexpr (kIsHalf<T>) {
    return T(static_cast<float>(v));
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v);
  } else {
    // Saturating round-half-even, as the reference's saturate_cast does.
    double d = std::nearbyint(static_cast<double>(v));
    if (std::isnan(d)) return T(0);
    const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
    const double hi = static_cast<double>(std::numeric_limits<T>::max());
    if (d <= lo) return std::numeric_limits<T>::lowest();
    if (d >= hi) return std::numeric_limits<T>::max();
    return static_cast<T>(d);
  }
}

template <typename T>
inline T FromDouble(double v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v != 0;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return std::string();
  } else {
    return FromAcc<T, double>(v);
  }
}

// Reads a float-typed (or integer) 1-D tensor into doubles; false when the dtype is not numeric.
bool ReadDoubles(const Tensor& t, double* out, int64_t max_n, int64_t* n) {
  const int64_t cnt = t.num_elements();
  *n = cnt;
  if (cnt > max_n) return false;
  return DispatchNumeric(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = t.data<T>();
    for (int64_t i = 0; i < cnt; ++i) out[i] = static_cast<double>(static_cast<ComputeType<T>>(p[i]));
  });
}

std::string IntsStr(const int64_t* v, int64_t n) {
  std::string s = "[";
  for (int64_t i = 0; i < n; ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

// ---------------------------------------------------------------------------------------------
// Resize / Upsample

using resize::AxisGeom;
using resize::CoordMode;
using resize::InterpMode;
using resize::NearestMode;
using resize::CubicKernel;
enum class AspectPolicy { kStretch, kNotLarger, kNotSmaller };

class ResizeKernel final : public OpKernel {
 public:
  // `upsample_attr_scales`: Upsample-7 keeps its scales in an attribute.
  Status Init(const NodeInfo& n) {
    opset_ = n.opset();
    is_upsample_ = n.op_type() == "Upsample";
    const std::string mode = n.GetString("mode", "nearest");
    if (mode == "nearest") p_.mode = InterpMode::kNearest;
    else if (mode == "linear" || mode == "bilinear" || mode == "trilinear") p_.mode = InterpMode::kLinear;
    else if (mode == "cubic" && !is_upsample_) p_.mode = InterpMode::kCubic;
    else return n.Error("unsupported mode '" + mode + "'");

    legacy_ = is_upsample_ || opset_ < 11;
    if (legacy_) {
      p_.coord = CoordMode::kAsymmetric;
      p_.nearest = NearestMode::kSimple;
      if (is_upsample_ && opset_ < 9) {
        attr_scales_ = n.GetFloats("scales");
        if (attr_scales_.empty()) return n.Error("attribute 'scales' is required");
        for (float s : attr_scales_)
          if (!(s >= 1.0f)) return n.Error("Upsample scales must be >= 1");
      }
      return Status::Ok();
    }
    const std::string ctm = n.GetString("coordinate_transformation_mode", "half_pixel");
    if (ctm == "half_pixel") p_.coord = CoordMode::kHalfPixel;
    else if (ctm == "half_pixel_symmetric") p_.coord = CoordMode::kHalfPixelSymmetric;
    else if (ctm == "pytorch_half_pixel") p_.coord = CoordMode::kPytorchHalfPixel;
    else if (ctm == "align_corners") p_.coord = CoordMode::kAlignCorners;
    else if (ctm == "asymmetric") p_.coord = CoordMode::kAsymmetric;
    else if (ctm == "tf_crop_and_resize") p_.coord = CoordMode::kTfCrop;
    else if (ctm == "tf_half_pixel_for_nn") {
      // Resize-11 only: (y + 0.5) / scale, no -0.5.
      p_.coord = CoordMode::kHalfPixel;
      p_.tf_half_pixel_nn = true;
    } else {
      return n.Error("unsupported coordinate_transformation_mode '" + ctm + "'");
    }
    const std::string nm = n.GetString("nearest_mode", "round_prefer_floor");
    if (nm == "round_prefer_floor") p_.nearest = NearestMode::kRoundPreferFloor;
    else if (nm == "round_prefer_ceil") p_.nearest = NearestMode::kRoundPreferCeil;
    else if (nm == "floor") p_.nearest = NearestMode::kFloor;
    else if (nm == "ceil") p_.nearest = NearestMode::kCeil;
    else return n.Error("unsupported nearest_mode '" + nm + "'");
    p_.cubic_a = n.GetFloat("cubic_coeff_a", -0.75f);
    p_.exclude_outside = n.GetInt("exclude_outside", 0) != 0;
    p_.extrapolation = n.GetFloat("extrapolation_value", 0.0f);
    p_.antialias = n.GetInt("antialias", 0) != 0;
    if (p_.antialias && p_.mode == InterpMode::kNearest) p_.antialias = false;  // no effect for nearest
    axes_ = n.GetInts("axes");
    const std::string kar = n.GetString("keep_aspect_ratio_policy", "stretch");
    if (kar == "stretch") policy_ = AspectPolicy::kStretch;
    else if (kar == "not_larger") policy_ = AspectPolicy::kNotLarger;
    else if (kar == "not_smaller") policy_ = AspectPolicy::kNotSmaller;
    else return n.Error("unsupported keep_aspect_ratio_policy '" + kar + "'");
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input 0 (X) is missing");
    const int r = x->rank();
    if (r > kMaxRank) return ctx.Error("X rank " + std::to_string(r) + " exceeds " + std::to_string(kMaxRank));
    AxisGeom geo[kMaxRank];
    auto input = [&](int k) { return ctx.num_inputs() > k ? ctx.input(k) : nullptr; };
    if (Status st = Geometry(*x, input(1), input(2), input(3), geo); !st.ok()) return ctx.Error(st.message());
    Shape out_shape;
    out_shape.Resize(r);
    for (int d = 0; d < r; ++d) out_shape[d] = geo[d].out;
    Tensor* y = ctx.Output(0, x->dtype(), out_shape);
    if (y->num_elements() == 0) return Status::Ok();
    if (x->num_elements() == 0) return ctx.Error("X is empty but the output is not: " + out_shape.ToString());

    bool all_identity = true;
    for (int d = 0; d < r; ++d) all_identity = all_identity && geo[d].identity;
    if (all_identity) {
      CopyElements(x->dtype(), x->raw_data(), y->raw_data(), x->num_elements());
      return Status::Ok();
    }
    if (p_.mode == InterpMode::kNearest) {
      bool ok = DispatchAny(x->dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        Nearest<T>(ctx, *x, geo, y);
      });
      if (!ok) return ctx.Error(std::string("unsupported X dtype ") + DataTypeName(x->dtype()));
      return Status::Ok();
    }
    Status st = Status::Ok();
    bool ok = DispatchNumeric(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      // Cubic and antialiased filters sum many signed taps: accumulate in double.
      if (p_.mode == InterpMode::kCubic || p_.antialias) st = Interpolate<T, double>(ctx, *x, geo, y);
      else st = Interpolate<T, AccType<T>>(ctx, *x, geo, y);
    });
    if (!ok) return ctx.Error(std::string("unsupported X dtype ") + DataTypeName(x->dtype()) + " for linear/cubic");
    return st;
  }

  const resize::Params& params() const { return p_; }
  // This run's geometry of every axis from X and the inputs after it (roi, scales, sizes; Upsample
  // and Resize-10: scales), as given (null when absent).
  Status Geometry(const Tensor& x, const Tensor* in1, const Tensor* in2, const Tensor* in3, AxisGeom* geo) const {
    const int r = x.rank();
    for (int d = 0; d < r; ++d) {
      geo[d].in = geo[d].out = x.dim(d);
      geo[d].scale = 1.0f;
      geo[d].roi0 = 0.0f;
      geo[d].roi1 = 1.0f;
    }
    // Axes the scales/sizes/roi refer to.
    int axes[kMaxRank];
    int naxes = r;
    if (!axes_.empty()) {
      if (static_cast<int64_t>(axes_.size()) > r) return InvalidArgument("more axes than X's rank");
      naxes = static_cast<int>(axes_.size());
      bool seen[kMaxRank] = {};
      for (int i = 0; i < naxes; ++i) {
        auto a = NormalizeAxis(axes_[i], r, "axes");
        if (!a.ok()) return InvalidArgument(a.status().message());
        if (seen[*a]) return InvalidArgument("axes has a repeated axis");
        seen[*a] = true;
        axes[i] = *a;
      }
    } else {
      for (int i = 0; i < r; ++i) axes[i] = i;
    }

    double scales[kMaxRank];
    int64_t nscales = 0;
    double sizes[kMaxRank];
    int64_t nsizes = 0;
    double roi[2 * kMaxRank];
    int64_t nroi = 0;
    if (legacy_) {
      if (!attr_scales_.empty()) {
        nscales = static_cast<int64_t>(attr_scales_.size());
        if (nscales > kMaxRank) return InvalidArgument("too many scales");
        for (int64_t i = 0; i < nscales; ++i) scales[i] = attr_scales_[i];
      } else {
        const Tensor* s = in1;
        if (s == nullptr) return InvalidArgument("input 1 (scales) is missing");
        if (!ReadDoubles(*s, scales, kMaxRank, &nscales)) return InvalidArgument("input 1 (scales) has too many elements or a bad dtype");
      }
    } else {
      const Tensor* roi_t = in1;
      const Tensor* sc_t = in2;
      const Tensor* sz_t = in3;
      if (roi_t != nullptr && roi_t->num_elements() > 0 &&
          !ReadDoubles(*roi_t, roi, 2 * kMaxRank, &nroi))
        return InvalidArgument("input 1 (roi) has too many elements or a bad dtype");
      if (sc_t != nullptr && sc_t->num_elements() > 0 && !ReadDoubles(*sc_t, scales, kMaxRank, &nscales))
        return InvalidArgument("input 2 (scales) has too many elements or a bad dtype");
      if (sz_t != nullptr && sz_t->num_elements() > 0) {
        if (nscales > 0) return InvalidArgument("only one of scales and sizes may be given");
        if (sz_t->dtype() != DataType::kInt64) return InvalidArgument("input 3 (sizes) must be int64");
        nsizes = sz_t->num_elements();
        if (nsizes > kMaxRank) return InvalidArgument("input 3 (sizes) has too many elements");
        for (int64_t i = 0; i < nsizes; ++i) sizes[i] = static_cast<double>(sz_t->data<int64_t>()[i]);
      }
      if (p_.coord == CoordMode::kTfCrop) {
        if (nroi != 2 * naxes)
          return InvalidArgument("input 1 (roi) must have 2 * " + std::to_string(naxes) + " elements for tf_crop_and_resize, got " +
                           std::to_string(nroi));
        for (int i = 0; i < naxes; ++i) {
          geo[axes[i]].roi0 = static_cast<float>(roi[i]);
          geo[axes[i]].roi1 = static_cast<float>(roi[naxes + i]);
        }
      }
    }
    if (nscales > 0) {
      if (nscales != naxes)
        return InvalidArgument("scales has " + std::to_string(nscales) + " elements, expected " + std::to_string(naxes));
      for (int i = 0; i < naxes; ++i) {
        const double s = scales[i];
        if (!(s > 0) || !std::isfinite(s)) return InvalidArgument("scales must be positive, got " + std::to_string(s));
        AxisGeom& g = geo[axes[i]];
        g.scale = static_cast<float>(s);
        g.out = static_cast<int64_t>(g.scale * static_cast<float>(g.in));
      }
    } else if (nsizes > 0) {
      if (nsizes != naxes)
        return InvalidArgument("sizes has " + std::to_string(nsizes) + " elements, expected " + std::to_string(naxes));
      for (int i = 0; i < naxes; ++i) {
        if (sizes[i] < 0) return InvalidArgument("sizes must be >= 0");
        AxisGeom& g = geo[axes[i]];
        g.out = static_cast<int64_t>(sizes[i]);
        g.scale = g.in > 0 ? static_cast<float>(sizes[i]) / static_cast<float>(g.in) : 1.0f;
      }
      if (policy_ != AspectPolicy::kStretch) {
        float s = geo[axes[0]].scale;
        for (int i = 1; i < naxes; ++i)
          s = policy_ == AspectPolicy::kNotLarger ? std::min(s, geo[axes[i]].scale) : std::max(s, geo[axes[i]].scale);
        for (int i = 0; i < naxes; ++i) {
          AxisGeom& g = geo[axes[i]];
          g.scale = s;
          g.out = static_cast<int64_t>(s * static_cast<float>(g.in) + 0.5f);
        }
      }
    } else {
      return InvalidArgument("one of scales and sizes must be given");
    }
    for (int d = 0; d < r; ++d) {
      AxisGeom& g = geo[d];
      bool roi_trivial = p_.coord != CoordMode::kTfCrop || (g.roi0 == 0.0f && g.roi1 == 1.0f);
      g.identity = g.scale == 1.0f && g.out == g.in && roi_trivial && !p_.tf_half_pixel_nn;
    }
    return Status::Ok();
  }

 private:
  // Nearest source index for each output index of one axis; -1 marks extrapolated positions.
  void NearestTable(const AxisGeom& g, int64_t* idx) const {
    for (int64_t o = 0; o < g.out; ++o) idx[o] = resize::NearestIndex(p_, g, o);
  }

  template <typename T>
  void Nearest(KernelContext& ctx, const Tensor& x, const AxisGeom* geo, Tensor* y) const {
    const int r = x.rank();
    int64_t total_tab = 0;
    for (int d = 0; d < r; ++d) total_tab += geo[d].out;
    int64_t* tab = static_cast<int64_t*>(ctx.Scratch(sizeof(int64_t) * std::max<int64_t>(1, total_tab)));
    const int64_t* tabs[kMaxRank];
    int64_t in_strides[kMaxRank];
    RowMajorStrides(x.shape(), in_strides);
    {
      int64_t off = 0;
      for (int d = 0; d < r; ++d) {
        NearestTable(geo[d], tab + off);
        tabs[d] = tab + off;
        off += geo[d].out;
      }
    }
    const T* src = x.data<T>();
    T* dst = y->data<T>();
    const T ext = FromDouble<T>(p_.extrapolation);
    if (r == 0) {
      dst[0] = src[0];
      return;
    }
    const int64_t last_out = geo[r - 1].out;
    const int64_t rows = y->num_elements() / last_out;
    const int64_t* last_tab = tabs[r - 1];
    // 2x upsampling of the last dim (out[2i] = out[2i+1] = in[i]) gets a vectorisable loop.
    bool dup2 = last_out == 2 * x.dim(r - 1);
    for (int64_t o = 0; dup2 && o < last_out; ++o) dup2 = last_tab[o] == o / 2;
    const int64_t half = last_out / 2;
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, last_out));
    ctx.pool().ParallelFor(rows, grain, [&](int64_t b, int64_t e) {
      int64_t coord[kMaxRank];
      // Decompose row b into output coordinates over dims [0, r-1).
      int64_t rem = b;
      for (int d = r - 2; d >= 0; --d) {
        coord[d] = rem % geo[d].out;
        rem /= geo[d].out;
      }
      int64_t prev_base = -1;
      for (int64_t row = b; row < e; ++row) {
        int64_t base = 0;
        bool extrap = false;
        for (int d = 0; d < r - 1; ++d) {
          const int64_t i = tabs[d][coord[d]];
          if (i < 0) extrap = true;
          else base += i * in_strides[d];
        }
        T* out = dst + row * last_out;
        if (!extrap && base == prev_base) {
          // Same source row as the previous output row (upsampling): copy it.
          std::copy(out - last_out, out, out);
        } else if (extrap) {
          for (int64_t o = 0; o < last_out; ++o) out[o] = ext;
        } else {
          const T* in = src + base;
          if (dup2) {
            for (int64_t i = 0; i < half; ++i) {
              out[2 * i] = in[i];
              out[2 * i + 1] = in[i];
            }
          } else {
            for (int64_t o = 0; o < last_out; ++o) {
              const int64_t i = last_tab[o];
              out[o] = i < 0 ? ext : in[i];
            }
          }
        }
        prev_base = extrap ? -1 : base;
        for (int d = r - 2; d >= 0; --d) {
          if (++coord[d] < geo[d].out) break;
          coord[d] = 0;
        }
      }
    });
  }

  // Taps of one axis: n indices (clamped) and weights per output index, extrapolation flags.
  template <typename A>
  void TapTable(const AxisGeom& g, int n, int64_t* idx, A* w, uint8_t* ext, double* wd) const {
    for (int64_t o = 0; o < g.out; ++o) {
      ext[o] = resize::AxisTaps(p_, g, o, n, idx + o * n, wd) ? 1 : 0;
      for (int j = 0; j < n; ++j) w[o * n + j] = static_cast<A>(wd[j]);
    }
  }

  template <typename A>
  static void AxisPass(ThreadPool& pool, const A* src, A* dst, int64_t outer, int64_t inw, int64_t inner, int64_t outw,
                       int n, const int64_t* idx, const A* w, const uint8_t* ext, bool use_ext, A extv) {
    const int64_t units = outer * outw;
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, inner * n));
    pool.ParallelFor(units, grain, [&](int64_t b, int64_t e) {
      for (int64_t u = b; u < e; ++u) {
        const int64_t oi = u / outw, o = u % outw;
        const A* s = src + oi * inw * inner;
        A* d = dst + u * inner;
        if (use_ext && ext[o]) {
          for (int64_t k = 0; k < inner; ++k) d[k] = extv;
          continue;
        }
        const int64_t* ix = idx + o * n;
        const A* wt = w + o * n;
        if (inner == 1) {
          A acc = 0;
          for (int j = 0; j < n; ++j) acc += wt[j] * s[ix[j]];
          d[0] = acc;
        } else {
          {
            const A w0 = wt[0];
            const A* s0 = s + ix[0] * inner;
            for (int64_t k = 0; k < inner; ++k) d[k] = w0 * s0[k];
          }
          for (int j = 1; j < n; ++j) {
            const A wj = wt[j];
            const A* sj = s + ix[j] * inner;
            for (int64_t k = 0; k < inner; ++k) d[k] += wj * sj[k];
          }
        }
      }
    });
  }

  template <typename T, typename A>
  Status Interpolate(KernelContext& ctx, const Tensor& x, const AxisGeom* geo, Tensor* y) const {
    const int r = x.rank();
    ThreadPool& pool = ctx.pool();
    const bool use_ext = p_.coord == CoordMode::kTfCrop;
    const A extv = static_cast<A>(p_.extrapolation);

    // Fast path: float32, only the last two axes resized, plain bilinear.
    if constexpr (std::is_same_v<T, float> && std::is_same_v<A, float>) {
      bool lead_identity = true;
      for (int d = 0; d + 2 < r; ++d) lead_identity = lead_identity && geo[d].identity;
      if (r >= 2 && lead_identity && x.dim(r - 1) < (int64_t{1} << 31) && p_.mode == InterpMode::kLinear && !p_.antialias && !p_.exclude_outside && !use_ext) {
        const AxisGeom& gh = geo[r - 2];
        const AxisGeom& gw = geo[r - 1];
        int64_t* iy = static_cast<int64_t*>(ctx.Scratch(sizeof(int64_t) * 2 * (gh.out + gw.out)));
        int64_t* ix = iy + 2 * gh.out;
        float* wy = static_cast<float*>(ctx.Scratch(sizeof(float) * 2 * (gh.out + gw.out)));
        float* wx = wy + 2 * gh.out;
        uint8_t* ex = static_cast<uint8_t*>(ctx.Scratch(static_cast<size_t>(gh.out + gw.out)));
        double taps[2];
        if (gh.identity) {
          for (int64_t o = 0; o < gh.out; ++o) iy[2 * o] = iy[2 * o + 1] = o, wy[2 * o] = 1, wy[2 * o + 1] = 0;
        } else {
          TapTable<float>(gh, 2, iy, wy, ex, taps);
        }
        if (gw.identity) {
          for (int64_t o = 0; o < gw.out; ++o) ix[2 * o] = ix[2 * o + 1] = o, wx[2 * o] = 1, wx[2 * o + 1] = 0;
        } else {
          TapTable<float>(gw, 2, ix, wx, ex + gh.out, taps);
        }
        const int64_t planes = x.num_elements() / (gh.in * gw.in);
        const int64_t out_plane = gh.out * gw.out;
        const float* src = x.data<float>();
        float* dst = y->data<float>();
        const int64_t ow = gw.out;
        // Each task owns a contiguous run of output rows and a two-row cache of horizontally
        // interpolated input rows, so each input row is interpolated along W about once and the
        // vertical blend is a vectorised two-row lerp.
        const int64_t units = planes * gh.out;
        const int64_t ntask = std::min<int64_t>(units, std::max<int64_t>(1, pool.num_threads()) * 4);
        int32_t* ix32 = static_cast<int32_t*>(ctx.Scratch(sizeof(int32_t) * 2 * ow));
        for (int64_t o = 0; o < 2 * ow; ++o) ix32[o] = static_cast<int32_t>(ix[o]);
        float* rowbuf = static_cast<float*>(ctx.Scratch(sizeof(float) * 2 * ow * ntask));
        const int64_t per_task_work = (units / ntask) * ow * 4;
        pool.ParallelFor(ntask, per_task_work >= 16384 ? 1 : std::max<int64_t>(1, 16384 / std::max<int64_t>(1, per_task_work)),
                         [&](int64_t tb, int64_t te) {
          for (int64_t t = tb; t < te; ++t) {
            const int64_t ub = units * t / ntask, ue = units * (t + 1) / ntask;
            float* slot[2] = {rowbuf + 2 * ow * t, rowbuf + 2 * ow * t + ow};
            int64_t key[2] = {-1, -1};
            auto get_row = [&](int64_t k, int64_t avoid) -> const float* {
              if (key[0] == k) return slot[0];
              if (key[1] == k) return slot[1];
              const int sidx = key[0] == avoid ? 1 : 0;
              float* h = slot[sidx];
              const float* row = src + k * gw.in;
              for (int64_t o = 0; o < ow; ++o)
                h[o] = wx[2 * o] * row[ix32[2 * o]] + wx[2 * o + 1] * row[ix32[2 * o + 1]];
              key[sidx] = k;
              return h;
            };
            for (int64_t u = ub; u < ue; ++u) {
              const int64_t p = u / gh.out, oy = u % gh.out;
              const int64_t k0 = p * gh.in + iy[2 * oy], k1 = p * gh.in + iy[2 * oy + 1];
              const float a0 = wy[2 * oy], a1 = wy[2 * oy + 1];
              float* out = dst + p * out_plane + oy * ow;
              if (a0 == 0.0f) {
                const float* h1 = get_row(k1, -1);
                for (int64_t o = 0; o < ow; ++o) out[o] = a1 * h1[o];
                continue;
              }
              const float* h0 = get_row(k0, k1);
              if (a1 == 0.0f || k1 == k0) {
                const float a = k1 == k0 ? a0 + a1 : a0;
                for (int64_t o = 0; o < ow; ++o) out[o] = a * h0[o];
                continue;
              }
              const float* h1 = get_row(k1, k0);
              for (int64_t o = 0; o < ow; ++o) out[o] = a0 * h0[o] + a1 * h1[o];
            }
          }
        });
        return Status::Ok();
      }
    }

    // General separable path: one pass per resized axis, in ascending axis order.
    int64_t cur[kMaxRank];
    for (int d = 0; d < r; ++d) cur[d] = geo[d].in;
    int npass = 0, last_axis = -1;
    int64_t max_buf = 0;
    for (int d = 0; d < r; ++d) {
      if (geo[d].identity) continue;
      ++npass;
      last_axis = d;
      cur[d] = geo[d].out;
      int64_t cnt = 1;
      for (int k = 0; k < r; ++k) cnt *= cur[k];
      max_buf = std::max(max_buf, cnt);
    }
    for (int d = 0; d < r; ++d) cur[d] = geo[d].in;

    const A* src;
    if constexpr (std::is_same_v<T, A>) {
      src = x.data<T>();
    } else {
      A* conv = static_cast<A*>(ctx.Scratch(sizeof(A) * x.num_elements()));
      const T* xp = x.data<T>();
      const int64_t ne = x.num_elements();
      for (int64_t i = 0; i < ne; ++i) conv[i] = static_cast<A>(static_cast<ComputeType<T>>(xp[i]));
      src = conv;
    }
    A* bufs[2] = {nullptr, nullptr};
    if (npass > 1 || !std::is_same_v<T, A>) {
      bufs[0] = static_cast<A*>(ctx.Scratch(sizeof(A) * max_buf));
      if (npass > 1) bufs[1] = static_cast<A*>(ctx.Scratch(sizeof(A) * max_buf));
    }
    int pass = 0;
    for (int d = 0; d < r; ++d) {
      const AxisGeom& g = geo[d];
      if (g.identity) continue;
      const int n = resize::TapCount(p_, g);
      if (n == 0) return ctx.Error("antialias filter too wide for scale " + std::to_string(g.scale) + " on axis " + std::to_string(d));
      int64_t* idx = static_cast<int64_t*>(ctx.Scratch(sizeof(int64_t) * n * g.out));
      A* w = static_cast<A*>(ctx.Scratch(sizeof(A) * n * g.out));
      uint8_t* ex = static_cast<uint8_t*>(ctx.Scratch(static_cast<size_t>(g.out)));
      double* wd = static_cast<double*>(ctx.Scratch(sizeof(double) * n));
      TapTable<A>(g, n, idx, w, ex, wd);
      int64_t outer = 1, inner = 1;
      for (int k = 0; k < d; ++k) outer *= cur[k];
      for (int k = d + 1; k < r; ++k) inner *= cur[k];
      A* dst;
      if (d == last_axis && std::is_same_v<T, A>) dst = reinterpret_cast<A*>(y->raw_data());
      else dst = bufs[pass & 1];
      AxisPass<A>(pool, src, dst, outer, g.in, inner, g.out, n, idx, w, ex, use_ext, extv);
      cur[d] = g.out;
      src = dst;
      ++pass;
    }
    if constexpr (!std::is_same_v<T, A>) {
      T* yp = y->data<T>();
      const int64_t ne = y->num_elements();
      for (int64_t i = 0; i < ne; ++i) yp[i] = FromAcc<T, A>(src[i]);
    }
    return Status::Ok();
  }

  int opset_ = 0;
  bool is_upsample_ = false;
  bool legacy_ = false;
  resize::Params p_;
  AspectPolicy policy_ = AspectPolicy::kStretch;
  std::vector<int64_t> axes_;
  std::vector<float> attr_scales_;
};

// ---------------------------------------------------------------------------------------------
// GridSample

enum class GsPadding { kZeros, kBorder, kReflection };

template <typename F>
inline F GsReflect(F x, F lo, F hi) {
  const F rng = hi - lo;
  if (!(rng > 0)) return lo;
  if (x < lo) {
    const F dx = lo - x;
    const int64_t n = static_cast<int64_t>(dx / rng);
    const F r = dx - static_cast<F>(n) * rng;
    return n % 2 == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const F dx = x - hi;
    const int64_t n = static_cast<int64_t>(dx / rng);
    const F r = dx - static_cast<F>(n) * rng;
    return n % 2 == 0 ? hi - r : lo + r;
  }
  return x;
}

class GridSampleKernel final : public OpKernel {
 public:
  static constexpr int kMaxCombos = 1024;

  Status Init(const NodeInfo& n) {
    const std::string mode = n.GetString("mode", n.opset() >= 20 ? "linear" : "bilinear");
    if (mode == "bilinear" || mode == "linear") mode_ = InterpMode::kLinear;
    else if (mode == "nearest") mode_ = InterpMode::kNearest;
    else if (mode == "bicubic" || mode == "cubic") mode_ = InterpMode::kCubic;
    else return n.Error("unsupported mode '" + mode + "'");
    const std::string pad = n.GetString("padding_mode", "zeros");
    if (pad == "zeros") pad_ = GsPadding::kZeros;
    else if (pad == "border") pad_ = GsPadding::kBorder;
    else if (pad == "reflection") pad_ = GsPadding::kReflection;
    else return n.Error("unsupported padding_mode '" + pad + "'");
    align_ = n.GetInt("align_corners", 0) != 0;
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* grid = ctx.input(1);
    if (x == nullptr || grid == nullptr) return ctx.Error("inputs X and grid are required");
    const int xr = x->rank();
    if (xr < 3 || xr > kMaxRank) return ctx.Error("X must have rank >= 3 (N, C, spatial...), got " + x->shape().ToString());
    const int r = xr - 2;
    if (grid->rank() != r + 2)
      return ctx.Error("grid must have rank " + std::to_string(r + 2) + " for X " + x->shape().ToString() + ", got " +
                       grid->shape().ToString());
    if (grid->dim(0) != x->dim(0))
      return ctx.Error("grid batch " + std::to_string(grid->dim(0)) + " != X batch " + std::to_string(x->dim(0)));
    if (grid->dim(r + 1) != r)
      return ctx.Error("grid last dim must be " + std::to_string(r) + ", got " + grid->shape().ToString());
    const int taps = mode_ == InterpMode::kNearest ? 1 : mode_ == InterpMode::kLinear ? 2 : 4;
    int64_t combos = 1;
    for (int k = 0; k < r; ++k) combos *= taps;
    if (combos > kMaxCombos) return ctx.Error("too many spatial dims for this mode");
    Shape out_shape;
    out_shape.Resize(xr);
    out_shape[0] = x->dim(0);
    out_shape[1] = x->dim(1);
    for (int k = 0; k < r; ++k) out_shape[2 + k] = grid->dim(1 + k);
    Tensor* y = ctx.Output(0, x->dtype(), out_shape);
    if (y->num_elements() == 0) return Status::Ok();
    bool ok = DispatchFloat(x->dtype(), [&](auto tx) {
      using T = typename decltype(tx)::type;
      ok = DispatchFloat(grid->dtype(), [&](auto tg) {
        using G = typename decltype(tg)::type;
        Run<T, G>(ctx, *x, *grid, y, r, taps, combos);
      });
    });
    if (!ok) return ctx.Error("X and grid must be float types");
    return Status::Ok();
  }

 private:
  template <typename T, typename G>
  void Run(KernelContext& ctx, const Tensor& x, const Tensor& grid, Tensor* y, int r, int taps, int64_t combos) const {
    using F = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const int64_t N = x.dim(0), C = x.dim(1);
    int64_t dims[kMaxRank];
    int64_t strides[kMaxRank];
    int64_t plane = 1;
    for (int k = r - 1; k >= 0; --k) {
      dims[k] = x.dim(2 + k);
      strides[k] = plane;
      plane *= dims[k];
    }
    int64_t P = 1;
    for (int k = 0; k < r; ++k) P *= grid.dim(1 + k);
    const T* xs = x.data<T>();
    const G* gs = grid.data<G>();
    T* ys = y->data<T>();
    const bool align = align_;
    const GsPadding pad = pad_;
    const InterpMode mode = mode_;
    // Taps of grid point u (flat over N * P): compacted offsets into the channel plane and weights.
    auto point_taps = [&](int64_t u, int64_t* off, double* wt) -> int64_t {
      int64_t tidx[kMaxRank][4];
      double tw[kMaxRank][4];
      const G* g = gs + u * r;
      for (int k = 0; k < r; ++k) {
        const int64_t D = dims[k];
        const F v = static_cast<F>(static_cast<ComputeType<G>>(g[r - 1 - k]));
        F xd = align ? (v + 1) / 2 * static_cast<F>(D - 1) : ((v + 1) * static_cast<F>(D) - 1) / 2;
        if (mode == InterpMode::kNearest) xd = std::nearbyint(xd);
        const F lo = align ? F(0) : F(-0.5);
        const F hi = align ? static_cast<F>(D - 1) : static_cast<F>(D) - F(0.5);
        if (std::isnan(xd)) xd = lo - 2;
        xd = std::clamp<F>(xd, F(-1e9), F(1e9));  // keeps the integer conversions below defined
        if (xd < lo || xd > hi) {
          // Bicubic clamps each tap instead (as PyTorch and onnxruntime do).
          if (pad == GsPadding::kBorder) {
            if (mode != InterpMode::kCubic) xd = std::clamp<F>(xd, 0, static_cast<F>(D - 1));
          }
          else if (pad == GsPadding::kReflection) xd = GsReflect<F>(xd, lo, hi);
        }
        auto pixel = [&](int64_t i) -> int64_t {
          if (pad == GsPadding::kZeros) return i >= 0 && i < D ? i : -1;
          if (pad == GsPadding::kBorder) return std::clamp<int64_t>(i, 0, D - 1);
          const int64_t j = static_cast<int64_t>(GsReflect<F>(static_cast<F>(i), lo, hi));
          return std::clamp<int64_t>(j, 0, D - 1);
        };
        if (mode == InterpMode::kNearest) {
          tidx[k][0] = pixel(static_cast<int64_t>(xd));
          tw[k][0] = 1;
        } else {
          const F f = std::floor(xd);
          const int64_t x0 = static_cast<int64_t>(f);
          const F t = xd - f;
          if (mode == InterpMode::kLinear) {
            tidx[k][0] = pixel(x0);
            tidx[k][1] = pixel(x0 + 1);
            tw[k][0] = 1 - t;
            tw[k][1] = t;
          } else {
            for (int j = 0; j < 4; ++j) {
              tidx[k][j] = pixel(x0 - 1 + j);
              tw[k][j] = CubicKernel(static_cast<double>(j - 1) - static_cast<double>(t), -0.75);
            }
          }
        }
      }
      // Tensor product of the per-dim taps; out-of-range (zeros padding) taps are dropped.
      int64_t nc = 1;
      off[0] = 0;
      wt[0] = 1;
      for (int k = 0; k < r; ++k) {
        // Expand in place from the back so that sources are read before being overwritten.
        int64_t w = 0;
        int64_t tmp_off[4];
        double tmp_w[4];
        int nt = 0;
        for (int j = 0; j < taps; ++j) {
          if (tidx[k][j] < 0) continue;
          tmp_off[nt] = tidx[k][j] * strides[k];
          tmp_w[nt] = tw[k][j];
          ++nt;
        }
        w = nc * nt;
        for (int64_t c = nc - 1; c >= 0; --c) {
          const int64_t bo = off[c];
          const double bw = wt[c];
          for (int j = nt - 1; j >= 0; --j) {
            off[c * nt + j] = bo + tmp_off[j];
            wt[c * nt + j] = bw * tmp_w[j];
          }
        }
        nc = w;
      }
      return nc;
    };
    auto store = [](T* dst, double acc) {
      if constexpr (kIsHalf<T>) *dst = T(static_cast<float>(acc));
      else *dst = static_cast<T>(acc);
    };
    if (combos <= 16) {
      // Blocks of grid points: taps once per point, then each channel writes a contiguous run.
      constexpr int64_t kBlock = 64;
      const int64_t nblocks = (P + kBlock - 1) / kBlock;
      const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, C * kBlock * combos));
      ctx.pool().ParallelFor(N * nblocks, grain, [&](int64_t b, int64_t e) {
        int64_t boff[kBlock * 16];
        float bw[kBlock * 16];
        int64_t tmp_off[16];
        double tmp_w[16];
        for (int64_t ub = b; ub < e; ++ub) {
          const int64_t n = ub / nblocks, p0 = (ub % nblocks) * kBlock;
          const int64_t bn = std::min(kBlock, P - p0);
          for (int64_t q = 0; q < bn; ++q) {
            const int64_t nc = point_taps(n * P + p0 + q, tmp_off, tmp_w);
            for (int64_t j = 0; j < combos; ++j) {
              boff[q * combos + j] = j < nc ? tmp_off[j] : 0;
              bw[q * combos + j] = j < nc ? static_cast<float>(tmp_w[j]) : 0.0f;
            }
          }
          const T* xn = xs + n * C * plane;
          T* yn = ys + n * C * P + p0;
          for (int64_t c = 0; c < C; ++c) {
            const T* xc = xn + c * plane;
            T* yc = yn + c * P;
            if (combos == 4 && std::is_same_v<T, float>) {
              for (int64_t q = 0; q < bn; ++q) {
                const int64_t* o = boff + q * 4;
                const float* w = bw + q * 4;
                store(yc + q, w[0] * static_cast<float>(xc[o[0]]) + w[1] * static_cast<float>(xc[o[1]]) +
                                  w[2] * static_cast<float>(xc[o[2]]) + w[3] * static_cast<float>(xc[o[3]]));
              }
            } else {
              for (int64_t q = 0; q < bn; ++q) {
                const int64_t* o = boff + q * combos;
                const float* w = bw + q * combos;
                double acc = 0;
                for (int64_t j = 0; j < combos; ++j) acc += static_cast<double>(w[j]) * static_cast<double>(static_cast<ComputeType<T>>(xc[o[j]]));
                store(yc + q, acc);
              }
            }
          }
        }
      });
      return;
    }
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, C * combos));
    ctx.pool().ParallelFor(N * P, grain, [&](int64_t b, int64_t e) {
      int64_t off[kMaxCombos];
      double wt[kMaxCombos];  // double: bicubic taps cancel heavily
      for (int64_t u = b; u < e; ++u) {
        const int64_t n = u / P, p = u % P;
        const int64_t nc = point_taps(u, off, wt);
        const T* xn = xs + n * C * plane;
        T* yn = ys + n * C * P + p;
        for (int64_t c = 0; c < C; ++c) {
          const T* xc = xn + c * plane;
          double acc = 0;
          for (int64_t j = 0; j < nc; ++j) acc += wt[j] * static_cast<double>(static_cast<ComputeType<T>>(xc[off[j]]));
          store(yn + c * P, acc);
        }
      }
    });
  }

  InterpMode mode_ = InterpMode::kLinear;
  GsPadding pad_ = GsPadding::kZeros;
  bool align_ = false;
};

// ---------------------------------------------------------------------------------------------
// AffineGrid

inline double AffineBase(int64_t i, int64_t D, bool align) {
  if (align) return D <= 1 ? 0.0 : -1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(D - 1);
  return -1.0 + (2.0 * static_cast<double>(i) + 1.0) / static_cast<double>(D);
}

class AffineGridKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    align_ = n.GetInt("align_corners", 0) != 0;
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* theta = ctx.input(0);
    const Tensor* size = ctx.input(1);
    if (theta == nullptr || size == nullptr) return ctx.Error("inputs theta and size are required");
    if (size->rank() != 1 || (size->num_elements() != 4 && size->num_elements() != 5))
      return ctx.Error("size must be a 1-D tensor of 4 or 5 elements, got " + size->shape().ToString());
    int64_t s[5];
    const int ns = static_cast<int>(size->num_elements());
    for (int i = 0; i < ns; ++i)
      s[i] = size->dtype() == DataType::kInt64 ? size->data<int64_t>()[i]
             : size->dtype() == DataType::kInt32 ? size->data<int32_t>()[i] : -1;
    const int r = ns - 2;
    for (int i = 0; i < ns; ++i)
      if (s[i] < 0) return ctx.Error("size has a negative value or a bad dtype: " + IntsStr(s, ns));
    if (theta->rank() != 3 || theta->dim(0) != s[0] || theta->dim(1) != r || theta->dim(2) != r + 1)
      return ctx.Error("theta must be [N, " + std::to_string(r) + ", " + std::to_string(r + 1) + "] for size " + IntsStr(s, ns) +
                       ", got " + theta->shape().ToString());
    Shape out_shape;
    out_shape.Resize(r + 2);
    out_shape[0] = s[0];
    for (int k = 0; k < r; ++k) out_shape[1 + k] = s[2 + k];
    out_shape[r + 1] = r;
    Tensor* y = ctx.Output(0, theta->dtype(), out_shape);
    if (y->num_elements() == 0) return Status::Ok();
    bool ok = DispatchFloat(theta->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* th = theta->data<T>();
      T* out = y->data<T>();
      const int64_t N = s[0];
      int64_t P = 1;
      for (int k = 0; k < r; ++k) P *= s[2 + k];
      for (int64_t n = 0; n < N; ++n) {
        double t[12];
        for (int i = 0; i < r * (r + 1); ++i) t[i] = static_cast<double>(static_cast<ComputeType<T>>(th[n * r * (r + 1) + i]));
        for (int64_t p = 0; p < P; ++p) {
          // Homogeneous source point: (x over the last dim, y, [z], 1).
          double h[4];
          int64_t rem = p;
          for (int k = r - 1; k >= 0; --k) {
            const int64_t D = s[2 + k];
            h[r - 1 - k] = AffineBase(rem % D, D, align_);
            rem /= D;
          }
          h[r] = 1.0;
          T* o = out + (n * P + p) * r;
          for (int i = 0; i < r; ++i) {
            double acc = 0;
            for (int j = 0; j <= r; ++j) acc += t[i * (r + 1) + j] * h[j];
            if constexpr (kIsHalf<T>) o[i] = T(static_cast<float>(acc));
            else o[i] = static_cast<T>(acc);
          }
        }
      }
    });
    if (!ok) return ctx.Error("theta must be a float type");
    return Status::Ok();
  }

 private:
  bool align_ = false;
};

// ---------------------------------------------------------------------------------------------
// Col2Im

class Col2ImKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    dilations_ = n.GetInts("dilations");
    pads_ = n.GetInts("pads");
    strides_ = n.GetInts("strides");
    for (int64_t v : dilations_)
      if (v < 1) return n.Error("dilations must be >= 1");
    for (int64_t v : strides_)
      if (v < 1) return n.Error("strides must be >= 1");
    for (int64_t v : pads_)
      if (v < 0) return n.Error("pads must be >= 0");
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* ims = ctx.input(1);
    const Tensor* bls = ctx.input(2);
    if (x == nullptr || ims == nullptr || bls == nullptr) return ctx.Error("inputs input, image_shape, block_shape are required");
    if (x->rank() != 3) return ctx.Error("input must be [N, C*prod(block_shape), L], got " + x->shape().ToString());
    const int64_t r = ims->num_elements();
    if (r < 1 || r > kMaxRank || bls->num_elements() != r)
      return ctx.Error("image_shape and block_shape must have the same, non-zero length");
    if (ims->dtype() != DataType::kInt64 || bls->dtype() != DataType::kInt64)
      return ctx.Error("image_shape and block_shape must be int64");
    int64_t img[kMaxRank], blk[kMaxRank], dil[kMaxRank], str[kMaxRank], pb[kMaxRank], pe[kMaxRank], ncol[kMaxRank];
    if (!dilations_.empty() && static_cast<int64_t>(dilations_.size()) != r) return ctx.Error("dilations must have one value per spatial dim");
    if (!strides_.empty() && static_cast<int64_t>(strides_.size()) != r) return ctx.Error("strides must have one value per spatial dim");
    if (!pads_.empty() && static_cast<int64_t>(pads_.size()) != 2 * r) return ctx.Error("pads must have two values per spatial dim");
    int64_t K = 1, L = 1;
    for (int64_t i = 0; i < r; ++i) {
      img[i] = ims->data<int64_t>()[i];
      blk[i] = bls->data<int64_t>()[i];
      dil[i] = dilations_.empty() ? 1 : dilations_[i];
      str[i] = strides_.empty() ? 1 : strides_[i];
      pb[i] = pads_.empty() ? 0 : pads_[i];
      pe[i] = pads_.empty() ? 0 : pads_[r + i];
      if (img[i] < 0 || blk[i] < 1) return ctx.Error("image_shape must be >= 0 and block_shape >= 1");
      ncol[i] = (img[i] + pb[i] + pe[i] - dil[i] * (blk[i] - 1) - 1) / str[i] + 1;
      if (ncol[i] < 1) return ctx.Error("no sliding block fits image dim " + std::to_string(i));
      K *= blk[i];
      L *= ncol[i];
    }
    if (x->dim(1) % K != 0)
      return ctx.Error("input dim 1 (" + std::to_string(x->dim(1)) + ") is not divisible by prod(block_shape) = " + std::to_string(K));
    if (x->dim(2) != L)
      return ctx.Error("input dim 2 (" + std::to_string(x->dim(2)) + ") != number of sliding blocks " + IntsStr(ncol, r) + " = " +
                       std::to_string(L));
    const int64_t N = x->dim(0), C = x->dim(1) / K;
    Shape out_shape;
    out_shape.Resize(2 + r);
    out_shape[0] = N;
    out_shape[1] = C;
    int64_t plane = 1;
    for (int64_t i = 0; i < r; ++i) out_shape[2 + i] = img[i], plane *= img[i];
    Tensor* y = ctx.Output(0, x->dtype(), out_shape);
    if (y->num_elements() == 0) return Status::Ok();
    bool ok = DispatchNumeric(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = ComputeType<T>;
      const T* xs = x->data<T>();
      T* ys = y->data<T>();
      int64_t istr[kMaxRank];
      {
        int64_t s = 1;
        for (int64_t i = r - 1; i >= 0; --i) istr[i] = s, s *= img[i];
      }
      const int rr = static_cast<int>(r);
      ctx.pool().ParallelFor(N * C, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, K * L)), [&](int64_t b, int64_t e) {
        for (int64_t nc = b; nc < e; ++nc) {
          T* out = ys + nc * plane;
          for (int64_t i = 0; i < plane; ++i) out[i] = T(A(0));
          const T* in = xs + nc * K * L;
          int64_t koff[kMaxRank] = {};
          for (int64_t k = 0; k < K; ++k) {
            const T* row = in + k * L;
            int64_t cc[kMaxRank] = {};
            for (int64_t l = 0; l < L; ++l) {
              int64_t o = 0;
              bool inside = true;
              for (int d = 0; d < rr; ++d) {
                const int64_t pos = cc[d] * str[d] - pb[d] + koff[d] * dil[d];
                if (pos < 0 || pos >= img[d]) {
                  inside = false;
                  break;
                }
                o += pos * istr[d];
              }
              if (inside) {
                if constexpr (kIsHalf<T>) out[o] = T(static_cast<float>(out[o]) + static_cast<float>(row[l]));
                else out[o] += row[l];
              }
              for (int d = rr - 1; d >= 0; --d) {
                if (++cc[d] < ncol[d]) break;
                cc[d] = 0;
              }
            }
            for (int d = rr - 1; d >= 0; --d) {
              if (++koff[d] < blk[d]) break;
              koff[d] = 0;
            }
          }
        }
      });
    });
    if (!ok) return ctx.Error(std::string("unsupported dtype ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  std::vector<int64_t> dilations_, pads_, strides_;
};

// ---------------------------------------------------------------------------------------------
// CenterCropPad

class CenterCropPadKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    axes_ = n.GetInts("axes");
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* shp = ctx.input(1);
    if (x == nullptr || shp == nullptr) return ctx.Error("inputs input_data and shape are required");
    const int r = x->rank();
    if (r > kMaxRank) return ctx.Error("rank too large");
    if (shp->dtype() != DataType::kInt64 && shp->dtype() != DataType::kInt32) return ctx.Error("shape must be int32 or int64");
    const int64_t naxes = axes_.empty() ? r : static_cast<int64_t>(axes_.size());
    if (shp->num_elements() != naxes)
      return ctx.Error("shape has " + std::to_string(shp->num_elements()) + " elements, expected " + std::to_string(naxes));
    int64_t out_d[kMaxRank], src0[kMaxRank], dst0[kMaxRank], len[kMaxRank];
    for (int d = 0; d < r; ++d) out_d[d] = x->dim(d), src0[d] = 0, dst0[d] = 0, len[d] = x->dim(d);
    bool seen[kMaxRank] = {};
    for (int64_t i = 0; i < naxes; ++i) {
      int a = static_cast<int>(i);
      if (!axes_.empty()) {
        auto na = NormalizeAxis(axes_[i], r, "axes");
        if (!na.ok()) return na.status();
        a = *na;
      }
      if (seen[a]) return ctx.Error("axes has a repeated axis");
      seen[a] = true;
      const int64_t want = shp->dtype() == DataType::kInt64 ? shp->data<int64_t>()[i] : shp->data<int32_t>()[i];
      if (want < 0) return ctx.Error("shape must be >= 0");
      const int64_t dim = x->dim(a);
      out_d[a] = want;
      if (want < dim) {
        src0[a] = (dim - want) / 2;
        len[a] = want;
      } else if (want > dim) {
        dst0[a] = (want - dim) / 2;
        len[a] = dim;
      }
    }
    Shape out_shape(std::span<const int64_t>(out_d, r));
    Tensor* y = ctx.Output(0, x->dtype(), out_shape);
    if (y->num_elements() == 0) return Status::Ok();
    bool ok = DispatchAny(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* ys = y->data<T>();
      const T* xs = x->data<T>();
      const int64_t ne = y->num_elements();
      if constexpr (std::is_same_v<T, std::string>) {
        for (int64_t i = 0; i < ne; ++i) ys[i].clear();
      } else {
        std::memset(static_cast<void*>(ys), 0, sizeof(T) * ne);
      }
      int64_t copy_n = 1;
      for (int d = 0; d < r; ++d) copy_n *= len[d];
      if (copy_n == 0) return;
      if (r == 0) {
        ys[0] = xs[0];
        return;
      }
      int64_t is[kMaxRank], os[kMaxRank];
      RowMajorStrides(x->shape(), is);
      RowMajorStrides(out_shape, os);
      const int64_t last = len[r - 1];
      const int64_t rows = copy_n / last;
      int64_t cc[kMaxRank] = {};
      for (int64_t row = 0; row < rows; ++row) {
        int64_t so = src0[r - 1], dof = dst0[r - 1];
        for (int d = 0; d < r - 1; ++d) so += (src0[d] + cc[d]) * is[d], dof += (dst0[d] + cc[d]) * os[d];
        for (int64_t k = 0; k < last; ++k) ys[dof + k] = xs[so + k];
        for (int d = r - 2; d >= 0; --d) {
          if (++cc[d] < len[d]) break;
          cc[d] = 0;
        }
      }
    });
    if (!ok) return ctx.Error(std::string("unsupported dtype ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  std::vector<int64_t> axes_;
};

}  // namespace

Status ResizeRunGeometry(const OpKernel& kernel, const Tensor& x, const Tensor* in1, const Tensor* in2,
                         const Tensor* in3, resize::Params* params, resize::AxisGeom* geo) {
  const auto* k = dynamic_cast<const ResizeKernel*>(&kernel);
  if (k == nullptr) return Internal("not a Resize or Upsample kernel");
  if (x.rank() > kMaxRank) return InvalidArgument("X rank " + std::to_string(x.rank()) + " exceeds " + std::to_string(kMaxRank));
  *params = k->params();
  return k->Geometry(x, in1, in2, in3, geo);
}

void RegisterImageOps(OpRegistry& r) {
  r.Add("", "Resize", Factory<ResizeKernel>(), 10);
  r.Add("", "Upsample", Factory<ResizeKernel>(), 7);
  r.Add("", "GridSample", Factory<GridSampleKernel>(), 16);
  r.Add("", "AffineGrid", Factory<AffineGridKernel>(), 20);
  r.Add("", "Col2Im", Factory<Col2ImKernel>(), 18);
  r.Add("", "CenterCropPad", Factory<CenterCropPadKernel>(), 18);
}

}  // namespace onnxd::engine
