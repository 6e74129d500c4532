// Activation ops (ai.onnx): Relu family, sigmoid/tanh family, Gelu, Clip, Shrink...
// float16/bfloat16 compute in float; float32 exp/tanh/sigmoid use the vectorisable versions in
// kernels/cpu/elementwise_cpu.h (a few ulp).
// The build's -O2 uses GCC's "very cheap" vectoriser cost model, which skips loops of unknown trip
// count, and keeps -ftrapping-math, which blocks if-conversion of selects like x > 0 ? x : a * x.
// This file wants the dynamic model and no trapping math (we never read FP exception flags). Set for the
// whole translation unit, before any include, so inlining sees one set of options.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic", "no-trapping-math")
#endif
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "kernels/cpu/elementwise_cpu.h"
#include "ops/op_kernel.h"
#include "ops/op_util.h"

namespace onnxd::engine {
namespace {

template <typename C>
inline C Exp(C x) {
  if constexpr (std::is_same_v<C, float>) return FastExp(x);
  else return std::exp(x);
}
template <typename C>
inline C Tanh(C x) {
  if constexpr (std::is_same_v<C, float>) return FastTanh(x);
  else return std::tanh(x);
}
template <typename C>
inline C Sigmoid(C x) {
  if constexpr (std::is_same_v<C, float>) return FastSigmoid(x);
  else return C(1) / (C(1) + std::exp(-x));
}
// log(1 + exp(x)) without overflow.
template <typename C>
inline C Softplus(C x) {
  return x > C(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

// Float ops with one float attribute (or two).
struct AlphaAttr {
  float alpha = 0;
  float dflt;
  explicit AlphaAttr(float d) : dflt(d) {}
  Status Init(const NodeInfo& n) {
    alpha = n.GetFloat("alpha", dflt);
    return Status::Ok();
  }
};

struct ReluOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& t) const {
    return SimpleUnary<kTypeFloat | kTypeSigned>(ctx, t, [](auto x) {
      using C = decltype(x);
      return x > C(0) ? x : C(0);
    });
  }
};

struct LeakyReluOp : AlphaAttr {
  LeakyReluOp() : AlphaAttr(0.01f) {}
  Status Run(KernelContext& ctx, const Tensor& t) const {
    return DispatchSet<kTypeFloat>(ctx, t.dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      using C = ComputeType<T>;
      const C a = static_cast<C>(alpha);
      return RunUnary<T, T>(ctx, t, [a](C x) { return x >= C(0) ? x : a * x; });
    });
  }
};

struct EluOp : AlphaAttr {
  EluOp() : AlphaAttr(1.0f) {}
  Status Run(KernelContext& ctx, const Tensor& t) const {
    return DispatchSet<kTypeFloat>(ctx, t.dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      using C = ComputeType<T>;
      const C a = static_cast<C>(alpha);
      return RunUnary<T, T>(ctx, t, [a](C x) { return x >= C(0) ? x : a * std::expm1(x); }, kExpensiveGrain);
    });
  }
};

struct CeluOp : AlphaAttr {
  CeluOp() : AlphaAttr(1.0f) {}
  Status Run(KernelContext& ctx, const Tensor& t) const {
    if (alpha == 0) return ctx.Error("attribute alpha must not be 0");
    return DispatchSet<kTypeFloat>(ctx, t.dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      using C = ComputeType<T>;
      const C a = static_cast<C>(alpha);
      return RunUnary<T, T>(ctx, t, [a](C x) { return x >= C(0) ? x : a * std::expm1(x / a); }, kExpensiveGrain);
    });
  }
};

struct SeluOp {
  float alpha = 1.67326319217681884765625f, gamma = 1.05070102214813232421875f;
  Status Init(const NodeInfo& n) {
    alpha = n.GetFloat("alpha", alpha);
    gamma = n.GetFloat("gamma", gamma);
    return Status::Ok();
  }
  Status Run(KernelContext& ctx, const Tensor& t) const {
    return DispatchSet<kTypeFloat>(ctx, t.dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      using C = ComputeType<T>;
      const C a = static_cast<C>(alpha), g = static_cast<C>(gamma);
      return RunUnary<T, T>(ctx, t, [a, g](C x) { return x > C(0) ? g * x : g * (a * Exp(x) - a); },
                            kExpensiveGrain);
    });
  }
};

struct ThresholdedReluOp : AlphaAttr {
  ThresholdedReluOp() : AlphaAttr(1.0f) {}
  Status Run(KernelContext& ctx, const Tensor& t) const {
    return DispatchSet<kTypeFloat>(ctx, t.dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      using C = ComputeType<T>;
      const C a = static_cast<C>(alpha);
      return RunUnary<T, T>(ctx, t, [a](C x) { return x > a ? x : C(0); });
    });
  }
};

struct HardSigmoidOp {
  float alpha = 0.2f, beta = 0.5f;
  Status Init(const NodeInfo& n) {
    alpha = n.GetFloat("alpha", alpha);
    beta = n.GetFloat("beta", beta);
    return Status::Ok();
  }
  Status Run(KernelContext& ctx, const Tensor& t) const {
    return DispatchSet<kTypeFloat>(ctx, t.dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      using C = ComputeType<T>;
      const C a = static_cast<C>(alpha), b = static_cast<C>(beta);
      return RunUnary<T, T>(ctx, t, [a, b](C x) { return std::min(C(1), std::max(C(0), a * x + b)); });
    });
  }
};

struct HardSwishOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& t) const {
    return SimpleUnary<kTypeFloat>(ctx, t, [](auto x) {
      using C = decltype(x);
      return x * std::min(C(1), std::max(C(0), x * C(1.0 / 6.0) + C(0.5)));
    });
  }
};

struct SigmoidOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& t) const {
    if (t.dtype() == DataType::kFloat) return RunFloatUnaryF32(ctx, t, FloatUnaryKind::kSigmoid);
    return SimpleUnary<kTypeFloat>(ctx, t, [](auto x) { return Sigmoid(x); }, kExpensiveGrain);
  }
};
struct TanhOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& t) const {
    if (t.dtype() == DataType::kFloat) return RunFloatUnaryF32(ctx, t, FloatUnaryKind::kTanh);
    return SimpleUnary<kTypeFloat>(ctx, t, [](auto x) { return Tanh(x); }, kExpensiveGrain);
  }
};
struct SoftplusOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& t) const {
    if (t.dtype() == DataType::kFloat) return RunFloatUnaryF32(ctx, t, FloatUnaryKind::kSoftplus);
    return SimpleUnary<kTypeFloat>(ctx, t, [](auto x) { return Softplus(x); }, kExpensiveGrain);
  }
};
struct SoftsignOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& t) const {
    return SimpleUnary<kTypeFloat>(ctx, t, [](auto x) {
      using C = decltype(x);
      return x / (C(1) + std::fabs(x));
    });
  }
};
struct MishOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& t) const {
    if (t.dtype() == DataType::kFloat) return RunFloatUnaryF32(ctx, t, FloatUnaryKind::kMish);
    return SimpleUnary<kTypeFloat>(ctx, t, [](auto x) { return x * Tanh(Softplus(x)); }, kExpensiveGrain);
  }
};

struct SwishOp : AlphaAttr {
  SwishOp() : AlphaAttr(1.0f) {}
  Status Run(KernelContext& ctx, const Tensor& t) const {
    if (t.dtype() == DataType::kFloat) return RunFloatUnaryF32(ctx, t, FloatUnaryKind::kSwish, alpha);
    return DispatchSet<kTypeFloat>(ctx, t.dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      using C = ComputeType<T>;
      const C a = static_cast<C>(alpha);
      return RunUnary<T, T>(ctx, t, [a](C x) { return x * Sigmoid(a * x); }, kExpensiveGrain);
    });
  }
};

struct GeluOp {
  bool tanh_approx = false;
  Status Init(const NodeInfo& n) {
    std::string a = n.GetString("approximate", "none");
    if (a == "tanh") tanh_approx = true;
    else if (a != "none") return n.Error("attribute approximate must be 'none' or 'tanh', got '" + a + "'");
    return Status::Ok();
  }
  Status Run(KernelContext& ctx, const Tensor& t) const {
    if (t.dtype() == DataType::kFloat)
      return RunFloatUnaryF32(ctx, t, tanh_approx ? FloatUnaryKind::kGeluTanh : FloatUnaryKind::kGelu);
    if (tanh_approx) {
      return SimpleUnary<kTypeFloat>(
          ctx, t,
          [](auto x) {
            using C = decltype(x);
            const C k = static_cast<C>(0.7978845608028654);  // sqrt(2/pi)
            return C(0.5) * x * (C(1) + Tanh(k * (x + C(0.044715) * x * x * x)));
          },
          kExpensiveGrain);
    }
    return SimpleUnary<kTypeFloat>(
        ctx, t,
        [](auto x) {
          using C = decltype(x);
          if constexpr (std::is_same_v<C, float>) return FastGelu(x);
          else return C(0.5) * x * std::erfc(-x * static_cast<C>(0.70710678118654752440));
        },
        kExpensiveGrain);
  }
};

struct ShrinkOp {
  float bias = 0.0f, lambd = 0.5f;
  Status Init(const NodeInfo& n) {
    bias = n.GetFloat("bias", bias);
    lambd = n.GetFloat("lambd", lambd);
    return Status::Ok();
  }
  Status Run(KernelContext& ctx, const Tensor& t) const {
    return DispatchSet<kTypeNumeric>(ctx, t.dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      using C = ComputeType<T>;
      if constexpr (std::is_floating_point_v<C>) {
        const C l = static_cast<C>(lambd), b = static_cast<C>(bias);
        return RunUnary<T, T>(ctx, t, [l, b](C x) { return x < -l ? x + b : (x > l ? x - b : C(0)); });
      } else {
        const double l = lambd, b = bias;
        return RunUnary<T, T>(ctx, t, [l, b](C x) {
          const double v = static_cast<double>(x);
          return static_cast<C>(v < -l ? v + b : (v > l ? v - b : 0.0));
        });
      }
    });
  }
};

// PRelu(X, slope): slope broadcasts to X (unidirectionally).
class PReluKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (n.num_inputs() != 2) return n.Error("expects 2 inputs (X, slope)");
    per_channel_1d_ = n.opset() < 7;
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* s = ctx.input(1);
    if (x == nullptr || s == nullptr) return ctx.Error("X and slope must be tensors");
    // Before opset 7 a 1-D slope of X's channel count applies per channel (dim 1), as PyTorch
    // exports of nn.PReLU(num_parameters=C) expect.
    Tensor channel_slope;
    if (per_channel_1d_ && s->rank() == 1 && x->rank() >= 2 && s->dim(0) == x->dim(1) && s->dim(0) != 1) {
      Shape cs;
      cs.Resize(static_cast<size_t>(x->rank() - 1), 1);
      cs[0] = s->dim(0);
      channel_slope = s->Reshaped(cs);
      s = &channel_slope;
    }
    if (x->dtype() != s->dtype())
      return ctx.Error(std::string("X is ") + DataTypeName(x->dtype()) + " but slope is " + DataTypeName(s->dtype()));
    auto shape = BroadcastShapes(x->shape(), s->shape());
    if (!shape.ok() || *shape != x->shape())
      return ctx.Error("slope shape " + s->shape().ToString() + " does not broadcast to X shape " +
                       x->shape().ToString());
    return DispatchSet<kTypeNumeric>(ctx, x->dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      return RunBinary<T, T, T>(ctx, *x, *s, [](auto v, auto a) {
        using C = decltype(v);
        return v < C(0) ? static_cast<C>(a * v) : v;
      });
    });
  }

 private:
  bool per_channel_1d_ = false;
};

// Clip: bounds are attributes before opset 11, optional scalar inputs from 11 on.
class ClipKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (n.opset() < 11) {
      attr_bounds_ = true;
      min_ = n.GetFloat("min", std::numeric_limits<float>::lowest());
      max_ = n.GetFloat("max", std::numeric_limits<float>::max());
    }
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input must be a tensor");
    const Tensor* lo_t = attr_bounds_ ? nullptr : ctx.input(1);
    const Tensor* hi_t = attr_bounds_ ? nullptr : ctx.input(2);
    for (const Tensor* b : {lo_t, hi_t}) {
      if (b == nullptr) continue;
      if (b->dtype() != x->dtype())
        return ctx.Error(std::string("bound type ") + DataTypeName(b->dtype()) + " differs from input type " +
                         DataTypeName(x->dtype()));
      if (b->num_elements() != 1)
        return ctx.Error("min/max must be scalars, got shape " + b->shape().ToString());
    }
    return DispatchSet<kTypeNumeric>(ctx, x->dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      using C = ComputeType<T>;
      C lo, hi;
      if constexpr (std::is_floating_point_v<C>) {
        lo = attr_bounds_ ? static_cast<C>(min_) : -std::numeric_limits<C>::infinity();
        hi = attr_bounds_ ? static_cast<C>(max_) : std::numeric_limits<C>::infinity();
      } else {
        lo = std::numeric_limits<C>::lowest();
        hi = std::numeric_limits<C>::max();
      }
      if (lo_t != nullptr) lo = Load(lo_t->data<T>()[0]);
      if (hi_t != nullptr) hi = Load(hi_t->data<T>()[0]);
      return RunUnary<T, T>(ctx, *x, [lo, hi](C v) {
        const C a = v < lo ? lo : v;
        return hi < a ? hi : a;
      });
    });
  }

 private:
  bool attr_bounds_ = false;
  float min_ = 0, max_ = 0;
};

}  // namespace

void RegisterActivationOps(OpRegistry& r) {
  r.Add("", "Relu", Factory<UnaryOpKernel<ReluOp>>());
  r.Add("", "LeakyRelu", Factory<UnaryOpKernel<LeakyReluOp>>());
  r.Add("", "PRelu", Factory<PReluKernel>());
  r.Add("", "Elu", Factory<UnaryOpKernel<EluOp>>());
  r.Add("", "Selu", Factory<UnaryOpKernel<SeluOp>>());
  r.Add("", "Celu", Factory<UnaryOpKernel<CeluOp>>());
  r.Add("", "Sigmoid", Factory<UnaryOpKernel<SigmoidOp>>());
  r.Add("", "HardSigmoid", Factory<UnaryOpKernel<HardSigmoidOp>>());
  r.Add("", "HardSwish", Factory<UnaryOpKernel<HardSwishOp>>());
  r.Add("", "Softplus", Factory<UnaryOpKernel<SoftplusOp>>());
  r.Add("", "Softsign", Factory<UnaryOpKernel<SoftsignOp>>());
  r.Add("", "Tanh", Factory<UnaryOpKernel<TanhOp>>());
  r.Add("", "ThresholdedRelu", Factory<UnaryOpKernel<ThresholdedReluOp>>());
  r.Add("", "Mish", Factory<UnaryOpKernel<MishOp>>());
  r.Add("", "Gelu", Factory<UnaryOpKernel<GeluOp>>());
  r.Add("", "Swish", Factory<UnaryOpKernel<SwishOp>>());
  r.Add("", "Clip", Factory<ClipKernel>());
  r.Add("", "Shrink", Factory<UnaryOpKernel<ShrinkOp>>());
}

}  // namespace onnxd::engine
