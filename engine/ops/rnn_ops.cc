// RNN, GRU and LSTM (ai.onnx opsets 1/3/7/14).
//
// Layout 0: X [S, B, I], Y [S, D, B, H], Y_h/Y_c/initial_h/initial_c [D, B, H].
// Layout 1: X [B, S, I], Y [B, S, D, H], Y_h/Y_c/initial_h/initial_c [B, D, H].
// W [D, G*H, I], R [D, G*H, H], B [D, 2*G*H] (Wb then Rb), P [D, 3*H] (LSTM peepholes i, o, f),
// sequence_lens [B]. Gate order: GRU z, r, h; LSTM i, o, f, c.
//
// Per direction, the input projection X * W^T (+ biases) for all time steps is one GEMM; each step
// then does H_prev * R^T (one GEMM, two for GRU without linear_before_reset) and the gate math.
// With sequence_lens, batch entry b runs only its first len_b steps (reverse: from len_b - 1 down to
// 0); Y is zero past len_b and Y_h/Y_c hold the state after its last step.
// float32 and double compute natively; float16/bfloat16 are converted to float.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "ops/op_kernel.h"
#include "ops/op_util.h"

namespace onnxd::engine {
namespace {

enum class ActKind {
  kRelu,
  kTanh,
  kSigmoid,
  kAffine,
  kLeakyRelu,
  kThresholdedRelu,
  kScaledTanh,
  kHardSigmoid,
  kElu,
  kSoftsign,
  kSoftplus,
};

struct ActFn {
  ActKind kind = ActKind::kTanh;
  float alpha = 0;
  float beta = 0;
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Parses one activation name; alpha/beta values are consumed in order by the activations that
// take them, defaults (those of the matching ONNX ops) when the lists run out.
bool ParseAct(const std::string& name, const std::vector<float>& alphas, size_t* ai,
              const std::vector<float>& betas, size_t* bi, ActFn* out) {
  const std::string n = Lower(name);
  int n_alpha = 0, n_beta = 0;
  float da = 0, db = 0;
  if (n == "relu") {
    out->kind = ActKind::kRelu;
  } else if (n == "tanh") {
    out->kind = ActKind::kTanh;
  } else if (n == "sigmoid") {
    out->kind = ActKind::kSigmoid;
  } else if (n == "affine") {
    out->kind = ActKind::kAffine;
    n_alpha = n_beta = 1;
    da = 1.0f;
    db = 0.0f;
  } else if (n == "leakyrelu") {
    out->kind = ActKind::kLeakyRelu;
    n_alpha = 1;
    da = 0.01f;
  } else if (n == "thresholdedrelu") {
    out->kind = ActKind::kThresholdedRelu;
    n_alpha = 1;
    da = 1.0f;
  } else if (n == "scaledtanh") {
    out->kind = ActKind::kScaledTanh;
    n_alpha = n_beta = 1;
    da = 1.0f;
    db = 1.0f;
  } else if (n == "hardsigmoid") {
    out->kind = ActKind::kHardSigmoid;
    n_alpha = n_beta = 1;
    da = 0.2f;
    db = 0.5f;
  } else if (n == "elu") {
    out->kind = ActKind::kElu;
    n_alpha = 1;
    da = 1.0f;
  } else if (n == "softsign") {
    out->kind = ActKind::kSoftsign;
  } else if (n == "softplus") {
    out->kind = ActKind::kSoftplus;
  } else {
    return false;
  }
  out->alpha = da;
  out->beta = db;
  if (n_alpha > 0 && *ai < alphas.size()) out->alpha = alphas[(*ai)++];
  if (n_beta > 0 && *bi < betas.size()) out->beta = betas[(*bi)++];
  return true;
}

// Branch-free float exp and tanh that the compiler can vectorise (the gate math is dominated by
// them). FastExp: Cody-Waite reduction and a degree-7 polynomial, relative error < 1e-7.
// FastTanh: odd rational approximation (13/6) on [-7.9053, 7.9053], relative error < 4e-7.
inline float FastExp(float x) {
  x = std::min(88.3762626647949f, std::max(-87.3365478515625f, x));
  const float kMagic = 12582912.0f;  // 1.5 * 2^23: adding and subtracting rounds to an integer
  const float fn = (x * 1.44269504088896341f + kMagic) - kMagic;
  float r = x - fn * 0.693359375f;
  r = r - fn * -2.12194440e-4f;
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t n = static_cast<int32_t>(fn);
  // 2^n as two factors so that n = 128 does not overflow the exponent field.
  const int32_t n1 = n >> 1;
  const int32_t n2 = n - n1;
  const uint32_t b1 = static_cast<uint32_t>(n1 + 127) << 23;
  const uint32_t b2 = static_cast<uint32_t>(n2 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &b1, 4);
  std::memcpy(&s2, &b2, 4);
  return p * s1 * s2;
}

inline float FastTanh(float x) {
  const float kClamp = 7.90531110763549805f;
  const float xc = std::min(kClamp, std::max(-kClamp, x));
  const float x2 = xc * xc;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * xc;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  const float r = p / q;
  return std::fabs(x) < 0.0004f ? x : r;
}

template <typename C>
inline C TanhOf(C x) {
  if constexpr (std::is_same_v<C, float>) {
    return FastTanh(x);
  } else {
    return std::tanh(x);
  }
}

template <typename C>
inline C SigmoidOf(C x) {
  if constexpr (std::is_same_v<C, float>) {
    return 1.0f / (1.0f + FastExp(-x));
  } else {
    return C(1) / (C(1) + std::exp(-x));
  }
}

template <typename C>
void ApplyAct(const ActFn& f, C* x, int64_t n) {
  const C a = static_cast<C>(f.alpha);
  const C b = static_cast<C>(f.beta);
  switch (f.kind) {
    case ActKind::kRelu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > C(0) ? x[i] : C(0);
      break;
    case ActKind::kTanh:
      for (int64_t i = 0; i < n; ++i) x[i] = TanhOf(x[i]);
      break;
    case ActKind::kSigmoid:
      for (int64_t i = 0; i < n; ++i) x[i] = SigmoidOf(x[i]);
      break;
    case ActKind::kAffine:
      for (int64_t i = 0; i < n; ++i) x[i] = a * x[i] + b;
      break;
    case ActKind::kLeakyRelu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] >= C(0) ? x[i] : a * x[i];
      break;
    case ActKind::kThresholdedRelu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > a ? x[i] : C(0);
      break;
    case ActKind::kScaledTanh:
      for (int64_t i = 0; i < n; ++i) x[i] = a * TanhOf(b * x[i]);
      break;
    case ActKind::kHardSigmoid:
      for (int64_t i = 0; i < n; ++i) x[i] = std::max(C(0), std::min(C(1), a * x[i] + b));
      break;
    case ActKind::kElu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] >= C(0) ? x[i] : a * (std::exp(x[i]) - C(1));
      break;
    case ActKind::kSoftsign:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (C(1) + std::abs(x[i]));
      break;
    case ActKind::kSoftplus:
      for (int64_t i = 0; i < n; ++i) {
        const C v = x[i];
        x[i] = v > C(0) ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
      }
      break;
  }
}

template <typename C>
inline void Clip(C* x, int64_t n, C c) {
  for (int64_t i = 0; i < n; ++i) x[i] = std::min(c, std::max(-c, x[i]));
}

template <typename C>
void Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const C* a, int64_t lda, const C* b, int64_t ldb,
          C beta, C* c, int64_t ldc, ThreadPool* pool) {
  if constexpr (std::is_same_v<C, float>) {
    cpu::Sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc, pool);
  } else {
    cpu::Dgemm(ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc, pool);
  }
}

enum class Cell { kRnn, kGru, kLstm };

constexpr int NumGates(Cell c) { return c == Cell::kRnn ? 1 : c == Cell::kGru ? 3 : 4; }
constexpr int NumActs(Cell c) { return c == Cell::kRnn ? 1 : c == Cell::kGru ? 2 : 3; }

template <Cell kCell>
class RnnKernel final : public OpKernel {
 public:
  static constexpr int G = NumGates(kCell);
  static constexpr int NA = NumActs(kCell);

  Status Init(const NodeInfo& n) {
    const std::string dir = n.GetString("direction", "forward");
    if (dir == "forward") {
      num_dir_ = 1;
    } else if (dir == "reverse") {
      num_dir_ = 1;
      reverse_ = true;
    } else if (dir == "bidirectional") {
      num_dir_ = 2;
    } else {
      return n.Error("direction must be forward, reverse or bidirectional, got '" + dir + "'");
    }
    hidden_size_ = n.GetInt("hidden_size", -1);
    if (n.has_attr("clip")) {
      clip_ = n.GetFloat("clip", 0);
      if (!(clip_ > 0)) return n.Error("clip must be positive");
      use_clip_ = true;
    }
    layout_ = static_cast<int>(n.GetInt("layout", 0));
    if (layout_ != 0 && layout_ != 1) return n.Error("layout must be 0 or 1");
    if constexpr (kCell == Cell::kGru) linear_before_reset_ = n.GetInt("linear_before_reset", 0) != 0;
    if constexpr (kCell == Cell::kLstm) input_forget_ = n.GetInt("input_forget", 0) != 0;

    std::vector<std::string> names = n.GetStrings("activations");
    if (names.empty()) {
      const char* defaults[3] = {"Tanh", "Tanh", "Tanh"};
      if (kCell != Cell::kRnn) defaults[0] = "Sigmoid";
      for (int d = 0; d < num_dir_; ++d)
        for (int i = 0; i < NA; ++i) names.push_back(defaults[i]);
    } else if (static_cast<int>(names.size()) == NA && num_dir_ == 2) {
      for (int i = 0; i < NA; ++i) names.push_back(names[i]);
    }
    if (static_cast<int>(names.size()) != NA * num_dir_) {
      return n.Error("activations must list " + std::to_string(NA * num_dir_) + " functions, got " +
                     std::to_string(names.size()));
    }
    const std::vector<float> alphas = n.GetFloats("activation_alpha");
    const std::vector<float> betas = n.GetFloats("activation_beta");
    size_t ai = 0, bi = 0;
    for (int i = 0; i < NA * num_dir_; ++i) {
      if (!ParseAct(names[i], alphas, &ai, betas, &bi, &acts_[i])) {
        return n.Unsupported("unknown activation function '" + names[i] + "'");
      }
    }
    if (n.num_inputs() < 3) return n.Error("expects inputs X, W and R");
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* w = ctx.input(1);
    const Tensor* r = ctx.input(2);
    if (x == nullptr || w == nullptr || r == nullptr) return ctx.Error("inputs X, W and R are required");
    auto opt = [&](int i) -> const Tensor* {
      if (i >= ctx.num_inputs()) return nullptr;
      const Tensor* t = ctx.input(i);
      return t;
    };
    const Tensor* b = opt(3);
    const Tensor* lens = opt(4);
    const Tensor* h0 = opt(5);
    const Tensor* c0 = kCell == Cell::kLstm ? opt(6) : nullptr;
    const Tensor* p = kCell == Cell::kLstm ? opt(7) : nullptr;

    if (x->rank() != 3) return ctx.Error("X must have rank 3, got " + x->shape().ToString());
    const int64_t S = layout_ == 0 ? x->dim(0) : x->dim(1);
    const int64_t B = layout_ == 0 ? x->dim(1) : x->dim(0);
    const int64_t I = x->dim(2);
    const int64_t D = num_dir_;
    if (r->rank() != 3) return ctx.Error("R must have rank 3, got " + r->shape().ToString());
    const int64_t H = r->dim(2);
    if (hidden_size_ >= 0 && hidden_size_ != H) {
      return ctx.Error("hidden_size " + std::to_string(hidden_size_) + " != R dim 2 (" + std::to_string(H) + ")");
    }
    auto check = [&](const Tensor* t, const char* what, const Shape& want) -> Status {
      if (t->dtype() != x->dtype()) return ctx.Error(std::string(what) + " dtype must match X");
      if (t->shape() != want) {
        return ctx.Error(std::string(what) + " must have shape " + want.ToString() + ", got " + t->shape().ToString());
      }
      return Status::Ok();
    };
    RETURN_IF_ERROR(check(w, "W", Shape{D, G * H, I}));
    RETURN_IF_ERROR(check(r, "R", Shape{D, G * H, H}));
    if (b != nullptr) RETURN_IF_ERROR(check(b, "B", Shape{D, 2 * G * H}));
    const Shape state_shape = layout_ == 0 ? Shape{D, B, H} : Shape{B, D, H};
    if (h0 != nullptr) RETURN_IF_ERROR(check(h0, "initial_h", state_shape));
    if (c0 != nullptr) RETURN_IF_ERROR(check(c0, "initial_c", state_shape));
    if (p != nullptr) RETURN_IF_ERROR(check(p, "P", Shape{D, 3 * H}));
    if (lens != nullptr) {
      if (lens->dtype() != DataType::kInt32 && lens->dtype() != DataType::kInt64) {
        return ctx.Error("sequence_lens must be int32");
      }
      if (lens->rank() != 1 || lens->dim(0) != B) {
        return ctx.Error("sequence_lens must have shape [" + std::to_string(B) + "], got " + lens->shape().ToString());
      }
    }

    Status st = Status::Ok();
    bool ok = DispatchFloat(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using CT = ComputeType<T>;
      st = Run<T, CT>(ctx, *x, *w, *r, b, lens, h0, c0, p, S, B, I, H);
    });
    if (!ok) return ctx.Error("X must be float, double or float16");
    return st;
  }

 private:
  template <typename T, typename C>
  Status Run(KernelContext& ctx, const Tensor& xt, const Tensor& wt, const Tensor& rt, const Tensor* bt,
             const Tensor* lens_t, const Tensor* h0t, const Tensor* c0t, const Tensor* pt, int64_t S, int64_t B,
             int64_t I, int64_t H) const {
    constexpr bool kNative = std::is_same_v<T, C>;
    const int64_t D = num_dir_;
    const int64_t GH = G * H;
    auto in = [&](const Tensor* t) -> const C* {
      if (t == nullptr) return nullptr;
      if constexpr (kNative) {
        return t->data<C>();
      } else {
        const int64_t n = t->num_elements();
        C* buf = static_cast<C*>(ctx.Scratch(sizeof(C) * static_cast<size_t>(std::max<int64_t>(n, 1))));
        const T* src = t->data<T>();
        for (int64_t i = 0; i < n; ++i) buf[i] = static_cast<C>(static_cast<float>(src[i]));
        return buf;
      }
    };
    const C* X = in(&xt);
    const C* W = in(&wt);
    const C* R = in(&rt);
    const C* Bias = in(bt);
    const C* H0 = in(h0t);
    const C* C0 = in(c0t);
    const C* P = in(pt);

    int64_t* lens = static_cast<int64_t*>(ctx.Scratch(sizeof(int64_t) * static_cast<size_t>(std::max<int64_t>(B, 1))));
    bool ragged = false;
    for (int64_t bb = 0; bb < B; ++bb) {
      int64_t l = S;
      if (lens_t != nullptr) {
        l = lens_t->dtype() == DataType::kInt32 ? lens_t->data<int32_t>()[bb] : lens_t->data<int64_t>()[bb];
        if (l < 0 || l > S) {
          return ctx.Error("sequence_lens[" + std::to_string(bb) + "] = " + std::to_string(l) + " is outside [0, " +
                           std::to_string(S) + "]");
        }
      }
      if (l != S) ragged = true;
      lens[bb] = l;
    }

    // Outputs (computed in C; for float16 into scratch, converted at the end).
    const Shape y_shape = layout_ == 0 ? Shape{S, D, B, H} : Shape{B, S, D, H};
    const Shape s_shape = layout_ == 0 ? Shape{D, B, H} : Shape{B, D, H};
    const DataType dt = xt.dtype();
    const bool want_y = ctx.num_outputs() > 0 && ctx.has_output(0);
    const bool want_yh = ctx.num_outputs() > 1 && ctx.has_output(1);
    const bool want_yc = kCell == Cell::kLstm && ctx.num_outputs() > 2 && ctx.has_output(2);
    Tensor* y_out = want_y ? ctx.Output(0, dt, y_shape) : nullptr;
    Tensor* yh_out = want_yh ? ctx.Output(1, dt, s_shape) : nullptr;
    Tensor* yc_out = want_yc ? ctx.Output(2, dt, s_shape) : nullptr;
    auto out_buf = [&](Tensor* t) -> C* {
      if (t == nullptr) return nullptr;
      if constexpr (kNative) {
        return t->data<C>();
      } else {
        return static_cast<C*>(ctx.Scratch(sizeof(C) * static_cast<size_t>(std::max<int64_t>(t->num_elements(), 1))));
      }
    };
    C* Y = out_buf(y_out);
    C* Yh = out_buf(yh_out);
    C* Yc = out_buf(yc_out);
    if (Y != nullptr && ragged) std::memset(Y, 0, sizeof(C) * static_cast<size_t>(y_shape.NumElements()));

    // Working buffers, one set per direction (the two directions of a bidirectional op may run
    // concurrently).
    const size_t sb = static_cast<size_t>(std::max<int64_t>(S * B, 1));
    auto alloc = [&](size_t n) { return static_cast<C*>(ctx.Scratch(sizeof(C) * std::max<size_t>(n, 1))); };
    C* xw_s[2] = {};
    C* hr_s[2] = {};
    C* h_s[2] = {};
    C* c_s[2] = {};
    C* rh_s[2] = {};
    C* bias_s[2] = {};
    for (int64_t d = 0; d < D; ++d) {
      xw_s[d] = alloc(sb * static_cast<size_t>(GH));
      hr_s[d] = alloc(static_cast<size_t>(B * GH));
      h_s[d] = alloc(static_cast<size_t>(B * H));
      if (kCell == Cell::kLstm) c_s[d] = alloc(static_cast<size_t>(B * H));
      if (kCell == Cell::kGru) rh_s[d] = alloc(static_cast<size_t>(B * H));
      bias_s[d] = alloc(static_cast<size_t>(2 * GH));
    }

    ThreadPool* pool = &ctx.pool();
    const C clip = static_cast<C>(clip_);
    const bool use_clip = use_clip_;
    const bool lbr = linear_before_reset_;
    const bool input_forget = input_forget_;
    const int layout = layout_;
    auto state_index = [&](int64_t d, int64_t bb) { return layout == 0 ? (d * B + bb) * H : (bb * D + d) * H; };
    auto y_index = [&](int64_t t, int64_t d, int64_t bb) {
      return layout == 0 ? ((t * D + d) * B + bb) * H : ((bb * S + t) * D + d) * H;
    };
    auto x_row = [&](int64_t t, int64_t bb) { return layout == 0 ? t * B + bb : bb * S + t; };

    auto run_dir = [&](int64_t d, C* xw, C* hr, C* h, C* c, C* rh, C* bias) {
      const bool rev = reverse_ || d == 1;
      const C* Wd = W + d * GH * I;
      const C* Rd = R + d * GH * H;
      const ActFn* act = &acts_[d * NA];
      // Bias: bias[0:GH] is added to X*W^T for all steps; bias[GH:2GH] (GRU linear_before_reset:
      // the Rbh part) stays separate.
      for (int64_t j = 0; j < GH; ++j) {
        bias[j] = Bias != nullptr ? Bias[d * 2 * GH + j] + Bias[d * 2 * GH + GH + j] : C(0);
        bias[GH + j] = 0;
      }
      if (kCell == Cell::kGru && lbr && Bias != nullptr) {
        for (int64_t j = 2 * H; j < 3 * H; ++j) {
          bias[j] = Bias[d * 2 * GH + j];
          bias[GH + j] = Bias[d * 2 * GH + GH + j];
        }
      }
      const C* rbh = bias + GH + 2 * H;  // GRU linear_before_reset only
      if (S * B > 0 && GH > 0) {
        Gemm<C>(false, true, S * B, GH, I, X, I, Wd, I, C(0), xw, GH, pool);
        for (int64_t row = 0; row < S * B; ++row) {
          C* xr = xw + row * GH;
          for (int64_t j = 0; j < GH; ++j) xr[j] += bias[j];
        }
      }
      for (int64_t bb = 0; bb < B; ++bb) {
        C* hb = h + bb * H;
        if (H0 != nullptr) {
          std::memcpy(hb, H0 + state_index(d, bb), sizeof(C) * static_cast<size_t>(H));
        } else {
          std::fill(hb, hb + H, C(0));
        }
        if constexpr (kCell == Cell::kLstm) {
          C* cb = c + bb * H;
          if (C0 != nullptr) {
            std::memcpy(cb, C0 + state_index(d, bb), sizeof(C) * static_cast<size_t>(H));
          } else {
            std::fill(cb, cb + H, C(0));
          }
        }
      }
      const C* Pd = P != nullptr ? P + d * 3 * H : nullptr;
      const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(GH, 1));

      for (int64_t k = 0; k < S; ++k) {
        bool any = false;
        for (int64_t bb = 0; bb < B; ++bb) any |= k < lens[bb];
        if (!any) break;
        auto time_of = [&](int64_t bb) { return rev ? lens[bb] - 1 - k : k; };
        if (H > 0) Gemm<C>(false, true, B, (kCell == Cell::kGru && !lbr) ? 2 * H : GH, H, h, H, Rd, H, C(0), hr, GH, pool);

        if constexpr (kCell == Cell::kRnn) {
          ctx.pool().ParallelFor(B, grain, [&](int64_t b0, int64_t b1) {
            for (int64_t bb = b0; bb < b1; ++bb) {
              if (k >= lens[bb]) continue;
              const int64_t t = time_of(bb);
              const C* xr = xw + x_row(t, bb) * GH;
              C* g = hr + bb * GH;
              for (int64_t j = 0; j < H; ++j) g[j] += xr[j];
              if (use_clip) Clip(g, H, clip);
              ApplyAct(act[0], g, H);
              C* hb = h + bb * H;
              std::memcpy(hb, g, sizeof(C) * static_cast<size_t>(H));
              if (Y != nullptr) std::memcpy(Y + y_index(t, d, bb), hb, sizeof(C) * static_cast<size_t>(H));
            }
          });
        } else if constexpr (kCell == Cell::kGru) {
          // z and r gates; for the default variant also r (.) H_prev.
          ctx.pool().ParallelFor(B, grain, [&](int64_t b0, int64_t b1) {
            for (int64_t bb = b0; bb < b1; ++bb) {
              if (k >= lens[bb]) continue;
              const int64_t t = time_of(bb);
              const C* xr = xw + x_row(t, bb) * GH;
              C* g = hr + bb * GH;
              for (int64_t j = 0; j < 2 * H; ++j) g[j] += xr[j];
              if (use_clip) Clip(g, 2 * H, clip);
              ApplyAct(act[0], g, 2 * H);
              if (!lbr) {
                const C* rr = g + H;
                const C* hb = h + bb * H;
                C* rhb = rh + bb * H;
                for (int64_t j = 0; j < H; ++j) rhb[j] = rr[j] * hb[j];
              }
            }
          });
          if (!lbr) {
            for (int64_t bb = 0; bb < B; ++bb) {
              if (k >= lens[bb]) std::fill(rh + bb * H, rh + (bb + 1) * H, C(0));
            }
            if (H > 0) Gemm<C>(false, true, B, H, H, rh, H, Rd + 2 * H * H, H, C(0), hr + 2 * H, GH, pool);
          }
          ctx.pool().ParallelFor(B, grain, [&](int64_t b0, int64_t b1) {
            for (int64_t bb = b0; bb < b1; ++bb) {
              if (k >= lens[bb]) continue;
              const int64_t t = time_of(bb);
              const C* xr = xw + x_row(t, bb) * GH + 2 * H;
              C* g = hr + bb * GH;
              const C* z = g;
              const C* rr = g + H;
              C* hh = g + 2 * H;
              if (lbr) {
                for (int64_t j = 0; j < H; ++j) hh[j] = xr[j] + rr[j] * (hh[j] + rbh[j]);
              } else {
                for (int64_t j = 0; j < H; ++j) hh[j] += xr[j];
              }
              if (use_clip) Clip(hh, H, clip);
              ApplyAct(act[1], hh, H);
              C* hb = h + bb * H;
              for (int64_t j = 0; j < H; ++j) hb[j] = (C(1) - z[j]) * hh[j] + z[j] * hb[j];
              if (Y != nullptr) std::memcpy(Y + y_index(t, d, bb), hb, sizeof(C) * static_cast<size_t>(H));
            }
          });
        } else {
          ctx.pool().ParallelFor(B, grain, [&](int64_t b0, int64_t b1) {
            for (int64_t bb = b0; bb < b1; ++bb) {
              if (k >= lens[bb]) continue;
              const int64_t t = time_of(bb);
              const C* xr = xw + x_row(t, bb) * GH;
              C* g = hr + bb * GH;
              C* gi = g;
              C* go = g + H;
              C* gf = g + 2 * H;
              C* gc = g + 3 * H;
              C* cb = c + bb * H;
              C* hb = h + bb * H;
              for (int64_t j = 0; j < GH; ++j) g[j] += xr[j];
              if (Pd != nullptr) {
                const C* pi = Pd;
                const C* pf = Pd + 2 * H;
                for (int64_t j = 0; j < H; ++j) {
                  gi[j] += pi[j] * cb[j];
                  gf[j] += pf[j] * cb[j];
                }
              }
              if (use_clip) {
                Clip(gi, H, clip);
                Clip(gf, H, clip);
                Clip(gc, H, clip);
              }
              ApplyAct(act[0], gi, H);
              if (input_forget) {
                for (int64_t j = 0; j < H; ++j) gf[j] = C(1) - gi[j];
              } else {
                ApplyAct(act[0], gf, H);
              }
              ApplyAct(act[1], gc, H);
              for (int64_t j = 0; j < H; ++j) cb[j] = gf[j] * cb[j] + gi[j] * gc[j];
              if (Pd != nullptr) {
                const C* po = Pd + H;
                for (int64_t j = 0; j < H; ++j) go[j] += po[j] * cb[j];
              }
              if (use_clip) Clip(go, H, clip);
              ApplyAct(act[0], go, H);
              std::memcpy(gc, cb, sizeof(C) * static_cast<size_t>(H));
              ApplyAct(act[2], gc, H);
              for (int64_t j = 0; j < H; ++j) hb[j] = go[j] * gc[j];
              if (Y != nullptr) std::memcpy(Y + y_index(t, d, bb), hb, sizeof(C) * static_cast<size_t>(H));
            }
          });
        }
      }
      for (int64_t bb = 0; bb < B; ++bb) {
        if (lens[bb] == 0) {
          // onnxruntime's convention: an empty sequence yields zero final states.
          std::fill(h + bb * H, h + (bb + 1) * H, C(0));
          if constexpr (kCell == Cell::kLstm) std::fill(c + bb * H, c + (bb + 1) * H, C(0));
        }
        if (Yh != nullptr) std::memcpy(Yh + state_index(d, bb), h + bb * H, sizeof(C) * static_cast<size_t>(H));
        if constexpr (kCell == Cell::kLstm) {
          if (Yc != nullptr) std::memcpy(Yc + state_index(d, bb), c + bb * H, sizeof(C) * static_cast<size_t>(H));
        }
      }
    };
    auto run = [&](int64_t d) { run_dir(d, xw_s[d], hr_s[d], h_s[d], c_s[d], rh_s[d], bias_s[d]); };
    // Bidirectional with small per-step GEMMs: run the two directions on two threads.
    if (D == 2 && B * GH * H < (int64_t{1} << 20) && ctx.pool().num_threads() > 1) {
      ctx.pool().ParallelFor(2, 1, [&](int64_t d0, int64_t d1) {
        for (int64_t d = d0; d < d1; ++d) run(d);
      });
    } else {
      for (int64_t d = 0; d < D; ++d) run(d);
    }

    if constexpr (!kNative) {
      auto convert = [](Tensor* t, const C* src) {
        if (t == nullptr) return;
        T* dst = t->data<T>();
        const int64_t n = t->num_elements();
        for (int64_t i = 0; i < n; ++i) dst[i] = T(static_cast<float>(src[i]));
      };
      convert(y_out, Y);
      convert(yh_out, Yh);
      convert(yc_out, Yc);
    }
    return Status::Ok();
  }

  int num_dir_ = 1;
  bool reverse_ = false;
  int64_t hidden_size_ = -1;
  bool use_clip_ = false;
  float clip_ = 0;
  int layout_ = 0;
  bool linear_before_reset_ = false;
  bool input_forget_ = false;
  ActFn acts_[6];
};

}  // namespace

void RegisterRnnOps(OpRegistry& r) {
  r.Add("", "RNN", Factory<RnnKernel<Cell::kRnn>>());
  r.Add("", "GRU", Factory<RnnKernel<Cell::kGru>>());
  r.Add("", "LSTM", Factory<RnnKernel<Cell::kLstm>>());
}

}  // namespace onnxd::engine
