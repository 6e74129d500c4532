// Signal ops (ai.onnx): DFT, STFT, HannWindow, HammingWindow, BlackmanWindow, MelWeightMatrix.
//
// Transforms compute in double. Power-of-two lengths use an iterative radix-2 FFT; other lengths
// use Bluestein's algorithm over a power-of-two FFT, so every length is O(n log n).
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <string>
#include <vector>

#include "ops/op_kernel.h"
#include "ops/op_util.h"

namespace onnxd::engine {
namespace {

using cd = std::complex<double>;
constexpr double kPi = 3.14159265358979323846;

inline bool IsPow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

// In-place radix-2 FFT of length m (a power of two). tw[k] = exp(-2 pi i k / m), k < m/2.
void FftPow2(cd* a, int64_t m, const cd* tw, bool inverse) {
  if (m <= 1) return;
  for (int64_t i = 1, j = 0; i < m; ++i) {
    int64_t bit = m >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  for (int64_t len = 2; len <= m; len <<= 1) {
    const int64_t half = len >> 1, step = m / len;
    for (int64_t i = 0; i < m; i += len) {
      for (int64_t k = 0; k < half; ++k) {
        cd w = tw[k * step];
        if (inverse) w = std::conj(w);
        const cd u = a[i + k];
        const cd v = a[i + k + half] * w;
        a[i + k] = u + v;
        a[i + k + half] = u - v;
      }
    }
  }
}

// A transform plan for length n, laid out in scratch memory. Not owning.
struct FftPlan {
  int64_t n = 0;
  int64_t m = 0;         // power-of-two working length (n itself when n is a power of two)
  bool bluestein = false;
  cd* tw = nullptr;      // m/2 twiddles for the power-of-two FFT
  cd* chirp = nullptr;   // n values exp(-i pi k^2 / n) (Bluestein)
  cd* bfft = nullptr;    // FFT of the conjugate chirp filter, length m (Bluestein)

  // Complex elements of per-line work space a caller must provide to Run.
  int64_t work_elems() const { return bluestein ? m : 0; }

  static int64_t ScratchElems(int64_t n) {
    if (IsPow2(n)) return std::max<int64_t>(n / 2, 1);
    int64_t m = 1;
    while (m < 2 * n - 1) m <<= 1;
    return m / 2 + n + m;
  }

  void Init(int64_t len, cd* mem) {
    n = len;
    bluestein = !IsPow2(n);
    if (!bluestein) {
      m = n;
    } else {
      m = 1;
      while (m < 2 * n - 1) m <<= 1;
    }
    tw = mem;
    for (int64_t k = 0; k < m / 2; ++k) {
      const double ang = -2.0 * kPi * static_cast<double>(k) / static_cast<double>(m);
      tw[k] = cd(std::cos(ang), std::sin(ang));
    }
    if (!bluestein) return;
    chirp = mem + std::max<int64_t>(m / 2, 1);
    bfft = chirp + n;
    const int64_t two_n = 2 * n;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t k2 = static_cast<int64_t>((static_cast<unsigned __int128>(k) * k) % two_n);
      const double ang = -kPi * static_cast<double>(k2) / static_cast<double>(n);
      chirp[k] = cd(std::cos(ang), std::sin(ang));
    }
    for (int64_t j = 0; j < m; ++j) bfft[j] = cd(0, 0);
    bfft[0] = std::conj(chirp[0]);
    for (int64_t k = 1; k < n; ++k) bfft[k] = bfft[m - k] = std::conj(chirp[k]);
    FftPow2(bfft, m, tw, false);
  }

  // In-place DFT of x[0..n): forward exp(-2 pi i jk/n) or inverse exp(+...) (unscaled).
  void Run(cd* x, cd* work, bool inverse) const {
    if (!bluestein) {
      FftPow2(x, n, tw, inverse);
      return;
    }
    // inverse(x) = conj(forward(conj(x))).
    for (int64_t j = 0; j < n; ++j) work[j] = (inverse ? std::conj(x[j]) : x[j]) * chirp[j];
    for (int64_t j = n; j < m; ++j) work[j] = cd(0, 0);
    FftPow2(work, m, tw, false);
    for (int64_t j = 0; j < m; ++j) work[j] *= bfft[j];
    FftPow2(work, m, tw, true);
    const double s = 1.0 / static_cast<double>(m);
    for (int64_t k = 0; k < n; ++k) {
      const cd v = work[k] * s * chirp[k];
      x[k] = inverse ? std::conj(v) : v;
    }
  }
};

// Splits `lines` independent transforms into chunks, each with its own work buffers.
template <typename F>
void RunLines(KernelContext& ctx, int64_t lines, int64_t work_per_line, int64_t buf_elems, F&& fn) {
  const int64_t total = lines * std::max<int64_t>(work_per_line, 1);
  int64_t chunks = total >= (1 << 16) ? std::min<int64_t>(lines, 32) : 1;
  chunks = std::max<int64_t>(chunks, 1);
  cd* bufs = static_cast<cd*>(ctx.Scratch(sizeof(cd) * std::max<int64_t>(buf_elems, 1) * chunks));
  const int64_t per = (lines + chunks - 1) / chunks;
  auto run_chunk = [&](int64_t c) {
    cd* buf = bufs + c * std::max<int64_t>(buf_elems, 1);
    const int64_t l0 = c * per, l1 = std::min(lines, l0 + per);
    for (int64_t l = l0; l < l1; ++l) fn(l, buf);
  };
  if (chunks == 1) {
    run_chunk(0);
  } else {
    ctx.pool().ParallelFor(chunks, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) run_chunk(c);
    });
  }
}

// Transforms `lines` signals of length plan.n. load(line, a) fills a[0..n); store(line, X) reads the
// transform. Forward transforms of real signals go two at a time through one complex transform
// (z = x1 + i x2; X1 = (Z[k] + conj Z[n-k]) / 2, X2 = (Z[k] - conj Z[n-k]) / 2i).
template <typename Load, typename Store>
void TransformLines(KernelContext& ctx, const FftPlan& plan, int64_t lines, bool real_input, bool inverse,
                    Load&& load, Store&& store) {
  const int64_t n = plan.n;
  if (!real_input || inverse) {
    RunLines(ctx, lines, n * 8, n + plan.work_elems(), [&](int64_t line, cd* buf) {
      load(line, buf);
      plan.Run(buf, buf + n, inverse);
      store(line, static_cast<const cd*>(buf));
    });
    return;
  }
  const int64_t pairs = (lines + 1) / 2;
  RunLines(ctx, pairs, n * 8, 3 * n + plan.work_elems(), [&](int64_t pair, cd* buf) {
    cd* a = buf;
    cd* b = buf + n;
    cd* z = buf + 2 * n;
    const int64_t l1 = 2 * pair, l2 = l1 + 1;
    const bool has2 = l2 < lines;
    load(l1, a);
    if (has2) {
      load(l2, b);
      for (int64_t k = 0; k < n; ++k) z[k] = cd(a[k].real(), b[k].real());
    } else {
      for (int64_t k = 0; k < n; ++k) z[k] = cd(a[k].real(), 0.0);
    }
    plan.Run(z, buf + 3 * n, false);
    for (int64_t k = 0; k < n; ++k) {
      const cd zk = z[k];
      const cd zc = std::conj(z[k == 0 ? 0 : n - k]);
      a[k] = (zk + zc) * 0.5;
      const cd d = (zk - zc) * 0.5;
      b[k] = cd(d.imag(), -d.real());  // d / i
    }
    store(l1, static_cast<const cd*>(a));
    if (has2) store(l2, static_cast<const cd*>(b));
  });
}

// ---------------------------------------------------------------------------------------------
// DFT. x: [..., signal dims..., 1 or 2]; axis (attr in opset 17, input 2 from opset 20) selects the
// transformed dim; dft_length (input 1) pads or truncates. Output last dim is 2, or 1 for an inverse
// onesided (C2R) transform.

class DftKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    inverse_ = n.GetInt("inverse", 0) != 0;
    onesided_ = n.GetInt("onesided", 0) != 0;
    axis_input_ = n.opset() >= 20;
    axis_ = axis_input_ ? -2 : n.GetInt("axis", 1);
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input is required");
    const int r = x->rank();
    if (r < 2) return ctx.Error("input must have rank >= 2, got " + x->shape().ToString());
    const int64_t c_in = x->dim(r - 1);
    if (c_in != 1 && c_in != 2) return ctx.Error("last dim of input must be 1 (real) or 2 (complex)");
    int64_t axis = axis_;
    if (axis_input_ && ctx.input(2) != nullptr && ctx.input(2)->num_elements() > 0) {
      axis = ScalarAsInt64(*ctx.input(2));
    }
    if (axis < -r || axis > r - 2 || axis == -1) {
      return ctx.Error("axis " + std::to_string(axis) + " out of range for input " + x->shape().ToString());
    }
    if (axis < 0) axis += r;
    const int64_t len = x->dim(static_cast<int>(axis));
    int64_t n = (inverse_ && onesided_) ? 2 * (len - 1) : len;
    const Tensor* dl = ctx.input(1);
    if (dl != nullptr && dl->num_elements() > 0) {
      n = ScalarAsInt64(*dl);
    }
    if (n < 1) return ctx.Error("dft_length must be positive, got " + std::to_string(n));
    const bool c2r = inverse_ && onesided_;
    const int64_t out_len = (!inverse_ && onesided_) ? n / 2 + 1 : n;
    const int64_t c_out = c2r ? 1 : 2;
    Shape os = x->shape();
    os[axis] = out_len;
    os[r - 1] = c_out;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= x->dim(i);
    for (int i = static_cast<int>(axis) + 1; i < r - 1; ++i) inner *= x->dim(i);
    Status st = Status::Ok();
    const bool ok = DispatchFloat(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      Tensor* y = ctx.Output(0, x->dtype(), os);
      if (y->num_elements() == 0) return;
      const T* xd = x->data<T>();
      T* yd = y->data<T>();
      cd* plan_mem = static_cast<cd*>(ctx.Scratch(sizeof(cd) * FftPlan::ScratchElems(n)));
      FftPlan plan;
      plan.Init(n, plan_mem);
      const double scale = inverse_ ? 1.0 / static_cast<double>(n) : 1.0;
      auto load = [&](int64_t line, cd* a) {
        const int64_t o = line / inner, i = line % inner;
        const T* src = xd + (o * len * inner + i) * c_in;
        if (c2r) {
          // Hermitian extension of the one-sided input.
          const int64_t half = n / 2;
          for (int64_t k = 0; k <= half && k < n; ++k) {
            if (k < len) {
              const T* p = src + k * inner * c_in;
              a[k] = cd(static_cast<double>(p[0]), c_in == 2 ? static_cast<double>(p[1]) : 0.0);
            } else {
              a[k] = cd(0, 0);
            }
          }
          for (int64_t k = half + 1; k < n; ++k) a[k] = std::conj(a[n - k]);
        } else {
          const int64_t m = std::min(len, n);
          for (int64_t k = 0; k < m; ++k) {
            const T* p = src + k * inner * c_in;
            a[k] = cd(static_cast<double>(p[0]), c_in == 2 ? static_cast<double>(p[1]) : 0.0);
          }
          for (int64_t k = m; k < n; ++k) a[k] = cd(0, 0);
        }
      };
      auto store = [&](int64_t line, const cd* a) {
        const int64_t o = line / inner, i = line % inner;
        T* dst = yd + (o * out_len * inner + i) * c_out;
        for (int64_t k = 0; k < out_len; ++k) {
          T* q = dst + k * inner * c_out;
          q[0] = static_cast<T>(a[k].real() * scale);
          if (c_out == 2) q[1] = static_cast<T>(a[k].imag() * scale);
        }
      };
      TransformLines(ctx, plan, outer * inner, c_in == 1, inverse_, load, store);
    });
    if (!ok) return ctx.Error(std::string("unsupported input type ") + DataTypeName(x->dtype()));
    return st;
  }

 private:
  bool inverse_ = false, onesided_ = false, axis_input_ = false;
  int64_t axis_ = 1;
};

// ---------------------------------------------------------------------------------------------
// STFT. signal [B, L, 1 or 2], frame_step scalar, window [W] optional, frame_length scalar optional.
// Output [B, frames, onesided ? W/2+1 : W, 2].

class StftKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    onesided_ = n.GetInt("onesided", 1) != 0;
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* step_t = ctx.input(1);
    const Tensor* win = ctx.input(2);
    const Tensor* fl = ctx.input(3);
    if (x == nullptr || step_t == nullptr) return ctx.Error("inputs signal and frame_step are required");
    if (x->rank() != 3 || (x->dim(2) != 1 && x->dim(2) != 2)) {
      return ctx.Error("signal must have shape [batch, length, 1 or 2], got " + x->shape().ToString());
    }
    const int64_t B = x->dim(0), L = x->dim(1), c_in = x->dim(2);
    const int64_t step = ScalarAsInt64(*step_t);
    if (step <= 0) return ctx.Error("frame_step must be positive");
    if (win != nullptr && win->rank() != 1) return ctx.Error("window must be 1-D");
    if (win != nullptr && win->dtype() != x->dtype()) return ctx.Error("window must have the signal's type");
    int64_t W;
    if (fl != nullptr && fl->num_elements() > 0) {
      W = ScalarAsInt64(*fl);
      if (win != nullptr && win->dim(0) != W) {
        return ctx.Error("window length " + std::to_string(win->dim(0)) + " differs from frame_length " +
                         std::to_string(W));
      }
    } else if (win != nullptr) {
      W = win->dim(0);
    } else {
      W = L;
    }
    if (W <= 0) return ctx.Error("frame length must be positive");
    if (W > L) {
      return ctx.Error("frame length " + std::to_string(W) + " exceeds signal length " + std::to_string(L));
    }
    const int64_t frames = 1 + (L - W) / step;
    const int64_t bins = onesided_ ? W / 2 + 1 : W;
    Shape os{B, frames, bins, 2};
    const bool ok = DispatchFloat(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      Tensor* y = ctx.Output(0, x->dtype(), os);
      if (y->num_elements() == 0) return;
      const T* xd = x->data<T>();
      const T* wd = win != nullptr ? win->data<T>() : nullptr;
      T* yd = y->data<T>();
      cd* plan_mem = static_cast<cd*>(ctx.Scratch(sizeof(cd) * FftPlan::ScratchElems(W)));
      FftPlan plan;
      plan.Init(W, plan_mem);
      auto load = [&](int64_t line, cd* buf) {
        const int64_t b = line / frames, f = line % frames;
        const T* src = xd + (b * L + f * step) * c_in;
        for (int64_t k = 0; k < W; ++k) {
          const double w = wd != nullptr ? static_cast<double>(wd[k]) : 1.0;
          buf[k] = cd(static_cast<double>(src[k * c_in]) * w,
                      c_in == 2 ? static_cast<double>(src[k * c_in + 1]) * w : 0.0);
        }
      };
      auto store = [&](int64_t line, const cd* buf) {
        T* dst = yd + line * bins * 2;
        for (int64_t k = 0; k < bins; ++k) {
          dst[2 * k] = static_cast<T>(buf[k].real());
          dst[2 * k + 1] = static_cast<T>(buf[k].imag());
        }
      };
      TransformLines(ctx, plan, B * frames, c_in == 1, false, load, store);
    });
    if (!ok) return ctx.Error(std::string("unsupported signal type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  bool onesided_ = true;
};

// ---------------------------------------------------------------------------------------------
// Window functions: size scalar input; periodic (default 1); output_datatype (default float).

template <typename Output>
Status WriteTyped(KernelContext& ctx, DataType dt, const Shape& shape, Output&& value) {
  Tensor* y = nullptr;
  const bool ok = DispatchNumeric(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    y = ctx.Output(0, dt, shape);
    T* d = y->data<T>();
    const int64_t n = shape.NumElements();
    for (int64_t i = 0; i < n; ++i) {
      double v = value(i);
      if constexpr (std::is_integral_v<T>) {
        if (!std::isfinite(v)) v = 0;
      }
      d[i] = static_cast<T>(v);
    }
  });
  if (!ok) return ctx.Error(std::string("unsupported output_datatype ") + DataTypeName(dt));
  return Status::Ok();
}

enum class WindowKind { kHann, kHamming, kBlackman };

template <WindowKind K>
class WindowKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    periodic_ = n.GetInt("periodic", 1) != 0;
    out_ = static_cast<DataType>(n.GetInt("output_datatype", 1));
    if (!IsSupportedDataType(static_cast<int32_t>(out_)) || out_ == DataType::kString || out_ == DataType::kBool) {
      return n.Error("unsupported output_datatype " + std::to_string(static_cast<int>(out_)));
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* s = ctx.input(0);
    if (s == nullptr || s->num_elements() != 1) return ctx.Error("input size must be a scalar");
    const int64_t size = ScalarAsInt64(*s);
    if (size < 0) return ctx.Error("size must be non-negative, got " + std::to_string(size));
    const double N = static_cast<double>(periodic_ ? size : size - 1);
    return WriteTyped(ctx, out_, Shape{size}, [&](int64_t i) -> double {
      const double x = static_cast<double>(i);
      if constexpr (K == WindowKind::kHann) {
        const double v = std::sin(x * kPi / N);
        return v * v;
      } else if constexpr (K == WindowKind::kHamming) {
        const double alpha = 25.0 / 46.0;
        return alpha - std::cos(x * kPi * 2 / N) * (1.0 - alpha);
      } else {
        return 0.42 - 0.5 * std::cos(x * kPi * 2 / N) + 0.08 * std::cos(x * kPi * 4 / N);
      }
    });
  }

 private:
  bool periodic_ = true;
  DataType out_ = DataType::kFloat;
};

// ---------------------------------------------------------------------------------------------
// MelWeightMatrix: [dft_length/2 + 1, num_mel_bins] triangular filters.

class MelWeightMatrixKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    out_ = static_cast<DataType>(n.GetInt("output_datatype", 1));
    if (!IsSupportedDataType(static_cast<int32_t>(out_)) || out_ == DataType::kString || out_ == DataType::kBool) {
      return n.Error("unsupported output_datatype " + std::to_string(static_cast<int>(out_)));
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    for (int i = 0; i < 5; ++i) {
      if (ctx.input(i) == nullptr || ctx.input(i)->num_elements() != 1) {
        return ctx.Error("input " + std::to_string(i) + " must be a scalar");
      }
    }
    const int64_t mel = ScalarAsInt64(*ctx.input(0));
    const int64_t dft = ScalarAsInt64(*ctx.input(1));
    const int64_t rate = ScalarAsInt64(*ctx.input(2));
    const Tensor& lo_t = *ctx.input(3);
    const Tensor& hi_t = *ctx.input(4);
    if (mel <= 0 || dft <= 0 || rate <= 0) {
      return ctx.Error("num_mel_bins, dft_length and sample_rate must be positive");
    }
    const int64_t bins = dft / 2 + 1;
    // Mel edges computed in the edge inputs' precision (as the reference does), the rest in double.
    double lo_mel, hi_mel, step;
    if (lo_t.dtype() == DataType::kFloat && hi_t.dtype() == DataType::kFloat) {
      const float lo = lo_t.data<float>()[0], hi = hi_t.data<float>()[0];
      const float lm = 2595.0f * std::log10(1.0f + lo / 700.0f);
      const float hm = 2595.0f * std::log10(1.0f + hi / 700.0f);
      lo_mel = lm;
      hi_mel = hm;
      step = static_cast<float>((hm - lm) / static_cast<float>(mel + 2));
    } else {
      const double lo = ScalarAsDouble(lo_t), hi = ScalarAsDouble(hi_t);
      lo_mel = 2595.0 * std::log10(1.0 + lo / 700.0);
      hi_mel = 2595.0 * std::log10(1.0 + hi / 700.0);
      step = (hi_mel - lo_mel) / static_cast<double>(mel + 2);
    }
    int64_t* fb = static_cast<int64_t*>(ctx.Scratch(sizeof(int64_t) * (mel + 2)));
    for (int64_t i = 0; i < mel + 2; ++i) {
      double f = static_cast<double>(i) * step + lo_mel;
      f = 700.0 * (std::pow(10.0, f / 2595.0) - 1.0);
      fb[i] = static_cast<int64_t>(std::floor(static_cast<double>(dft + 1) * f / static_cast<double>(rate)));
    }
    double* m = static_cast<double*>(ctx.Scratch(sizeof(double) * bins * mel));
    std::fill(m, m + bins * mel, 0.0);
    for (int64_t i = 0; i < mel; ++i) {
      const int64_t l = fb[i], c = fb[i + 1], h = fb[i + 2];
      auto set = [&](int64_t j, double v) {
        if (j >= 0 && j < bins) m[j * mel + i] = v;
      };
      if (c - l == 0) {
        set(c, 1.0);
      } else {
        for (int64_t j = l; j <= c; ++j) set(j, static_cast<double>(j - l) / static_cast<double>(c - l));
      }
      if (h - c > 0) {
        for (int64_t j = c; j < h; ++j) set(j, static_cast<double>(h - j) / static_cast<double>(h - c));
      }
    }
    return WriteTyped(ctx, out_, Shape{bins, mel}, [&](int64_t i) { return m[i]; });
  }

 private:
  DataType out_ = DataType::kFloat;
};

}  // namespace

void RegisterSignalOps(OpRegistry& r) {
  r.Add("", "DFT", Factory<DftKernel>(), 17);
  r.Add("", "STFT", Factory<StftKernel>(), 17);
  r.Add("", "HannWindow", Factory<WindowKernel<WindowKind::kHann>>(), 17);
  r.Add("", "HammingWindow", Factory<WindowKernel<WindowKind::kHamming>>(), 17);
  r.Add("", "BlackmanWindow", Factory<WindowKernel<WindowKind::kBlackman>>(), 17);
  r.Add("", "MelWeightMatrix", Factory<MelWeightMatrixKernel>(), 17);
}

}  // namespace onnxd::engine
