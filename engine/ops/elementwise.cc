// Elementwise ai.onnx ops: binary arithmetic / logic / comparison with numpy broadcasting,
// variadic Sum/Mean/Max/Min, unary math, Where. Loops live in kernels/cpu/elementwise_cpu.h.
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

// ---------------------------------------------------------------------------------------------
// Binary kernels. An Op provides Init(NodeInfo) and Run(ctx, a, b).

template <typename Op>
class BinaryKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (n.num_inputs() != 2) return n.Error("expects 2 inputs, got " + std::to_string(n.num_inputs()));
    return op_.Init(n);
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    if (a == nullptr || b == nullptr) return ctx.Error("inputs A and B must both be tensors");
    return op_.Run(ctx, *a, *b);
  }

 private:
  Op op_;
};

Status SameType(KernelContext& ctx, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    return ctx.Error(std::string("input types differ: A is ") + DataTypeName(a.dtype()) + ", B is " +
                     DataTypeName(b.dtype()));
  return Status::Ok();
}

// Same-type inputs, output of the same type (or bool when kBoolOut), op(C a, C b).
template <int kSet, bool kBoolOut, typename Fn>
Status SimpleBinary(KernelContext& ctx, const Tensor& a, const Tensor& b, const Fn& fn,
                    int64_t grain = kCheapGrain) {
  RETURN_IF_ERROR(SameType(ctx, a, b));
  return DispatchSet<kSet>(ctx, a.dtype(), [&](auto tag) -> Status {
    using T = typename decltype(tag)::type;
    using O = std::conditional_t<kBoolOut, bool, T>;
    return RunBinary<T, T, O>(ctx, a, b, fn, grain);
  });
}

template <typename T>
constexpr bool kIsSignedInt = std::is_integral_v<T> && std::is_signed_v<T>;

struct AddOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    return SimpleBinary<kTypeNumeric, false>(ctx, a, b, [](auto x, auto y) { return x + y; });
  }
};
struct SubOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    return SimpleBinary<kTypeNumeric, false>(ctx, a, b, [](auto x, auto y) { return x - y; });
  }
};
struct MulOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    return SimpleBinary<kTypeNumeric, false>(ctx, a, b, [](auto x, auto y) { return x * y; });
  }
};

// Integer division truncates toward zero; x / 0 gives 0 and MIN / -1 wraps (no trap).
template <typename C>
inline C IntDiv(C x, C y) {
  if (y == 0) return 0;
  if constexpr (std::is_signed_v<C>) {
    if (y == -1) return static_cast<C>(0 - static_cast<std::make_unsigned_t<C>>(x));
  }
  return static_cast<C>(x / y);
}

struct DivOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    return SimpleBinary<kTypeNumeric, false>(ctx, a, b, [](auto x, auto y) {
      using C = decltype(x);
      if constexpr (std::is_floating_point_v<C>) {
        return x / y;
      } else {
        return IntDiv<C>(x, y);
      }
    });
  }
};

// Integer power by squaring; negative exponents give 1/base truncated (0 unless |base| == 1).
template <typename B, typename E>
inline B IntPow(B base, E e) {
  if constexpr (std::is_signed_v<E>) {
    if (e < 0) {
      if (base == 1) return 1;
      if (base == -1) return (e % 2 == 0) ? 1 : -1;
      return 0;
    }
  }
  using U = std::make_unsigned_t<B>;
  U result = 1, b = static_cast<U>(base);
  auto n = static_cast<std::make_unsigned_t<E>>(e);
  while (n != 0) {
    if (n & 1) result = static_cast<U>(result * b);
    b = static_cast<U>(b * b);
    n >>= 1;
  }
  return static_cast<B>(result);
}

struct PowOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    // Fast paths: float base, scalar exponent of the same type with a common value.
    if (a.dtype() == b.dtype() && b.num_elements() == 1 && b.rank() <= a.rank() && IsFloatingPoint(a.dtype())) {
      const double e = ScalarAsDouble(b);
      if (e == 2.0 || e == 1.0 || e == 0.5 || e == 3.0) {
        return DispatchSet<kTypeFloat>(ctx, a.dtype(), [&](auto tag) -> Status {
          using T = typename decltype(tag)::type;
          if (e == 2.0) return RunUnary<T, T>(ctx, a, [](auto x) { return x * x; });
          if (e == 3.0) return RunUnary<T, T>(ctx, a, [](auto x) { return x * x * x; });
          if (e == 0.5) return RunUnary<T, T>(ctx, a, [](auto x) { return std::sqrt(x); });
          return RunUnary<T, T>(ctx, a, [](auto x) { return x; });
        });
      }
    }
    constexpr int kBase = kTypeFloat | kTypeSigned | kTypeUnsigned;
    return DispatchSet<kBase>(ctx, a.dtype(), [&](auto ta) -> Status {
      using TA = typename decltype(ta)::type;
      return DispatchSet<kTypeNumeric>(ctx, b.dtype(), [&](auto tb) -> Status {
        using TB = typename decltype(tb)::type;
        return RunBinary<TA, TB, TA>(
            ctx, a, b,
            [](auto x, auto y) {
              using CA = decltype(x);
              using CB = decltype(y);
              if constexpr (std::is_floating_point_v<CA> && std::is_same_v<CA, CB>) {
                return std::pow(x, y);
              } else if constexpr (std::is_floating_point_v<CA> || std::is_floating_point_v<CB>) {
                return static_cast<CA>(std::pow(static_cast<double>(x), static_cast<double>(y)));
              } else {
                return IntPow<CA, CB>(x, y);
              }
            },
            kExpensiveGrain);
      });
    });
  }
};

struct ModOp {
  bool fmod = false;
  Status Init(const NodeInfo& n) {
    int64_t f = n.GetInt("fmod", 0);
    if (f != 0 && f != 1) return n.Error("attribute fmod must be 0 or 1, got " + std::to_string(f));
    fmod = f == 1;
    return Status::Ok();
  }
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    RETURN_IF_ERROR(SameType(ctx, a, b));
    // Floats always use C fmod (fmod=0 is not meaningful for them; the reference does the same).
    if (IsFloatingPoint(a.dtype()))
      return SimpleBinary<kTypeFloat, false>(ctx, a, b, [](auto x, auto y) { return std::fmod(x, y); });
    if (fmod) {
      return SimpleBinary<kTypeInt, false>(ctx, a, b, [](auto x, auto y) {
        using C = decltype(x);
        if (y == 0) return C(0);
        if constexpr (std::is_signed_v<C>) {
          if (y == -1) return C(0);
        }
        return static_cast<C>(x % y);
      });
    }
    return SimpleBinary<kTypeInt, false>(ctx, a, b, [](auto x, auto y) {
      using C = decltype(x);
      if (y == 0) return C(0);
      if constexpr (std::is_signed_v<C>) {
        if (y == -1) return C(0);
        C r = static_cast<C>(x % y);
        if (r != 0 && ((r < 0) != (y < 0))) r = static_cast<C>(r + y);
        return r;
      } else {
        return static_cast<C>(x % y);
      }
    });
  }
};

struct BitShiftOp {
  bool left = true;
  Status Init(const NodeInfo& n) {
    std::string d = n.GetString("direction", "");
    if (d == "LEFT") left = true;
    else if (d == "RIGHT") left = false;
    else return n.Error("attribute direction must be LEFT or RIGHT, got '" + d + "'");
    return Status::Ok();
  }
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    auto shift = [](auto x, auto y, bool to_left) {
      using C = decltype(x);
      using U = std::make_unsigned_t<C>;
      constexpr int kBits = sizeof(C) * 8;
      const auto uy = static_cast<U>(y);
      if (uy >= static_cast<U>(kBits)) return C(0);
      return static_cast<C>(to_left ? static_cast<U>(static_cast<U>(x) << uy) : static_cast<U>(static_cast<U>(x) >> uy));
    };
    if (left) return SimpleBinary<kTypeInt, false>(ctx, a, b, [&](auto x, auto y) { return shift(x, y, true); });
    return SimpleBinary<kTypeInt, false>(ctx, a, b, [&](auto x, auto y) { return shift(x, y, false); });
  }
};

struct BitwiseAndOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    return SimpleBinary<kTypeInt, false>(ctx, a, b, [](auto x, auto y) { return x & y; });
  }
};
struct BitwiseOrOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    return SimpleBinary<kTypeInt, false>(ctx, a, b, [](auto x, auto y) { return x | y; });
  }
};
struct BitwiseXorOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    return SimpleBinary<kTypeInt, false>(ctx, a, b, [](auto x, auto y) { return x ^ y; });
  }
};
struct AndOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    return SimpleBinary<kTypeBool, false>(ctx, a, b, [](bool x, bool y) { return x && y; });
  }
};
struct OrOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    return SimpleBinary<kTypeBool, false>(ctx, a, b, [](bool x, bool y) { return x || y; });
  }
};
struct XorOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    return SimpleBinary<kTypeBool, false>(ctx, a, b, [](bool x, bool y) { return x != y; });
  }
};

struct EqualOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    return SimpleBinary<kTypeNumeric | kTypeBool | kTypeString, true>(
        ctx, a, b, [](const auto& x, const auto& y) { return x == y; });
  }
};
struct LessOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    return SimpleBinary<kTypeNumeric | kTypeBool, true>(ctx, a, b, [](auto x, auto y) { return x < y; });
  }
};
struct GreaterOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    return SimpleBinary<kTypeNumeric | kTypeBool, true>(ctx, a, b, [](auto x, auto y) { return x > y; });
  }
};
struct LessOrEqualOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    return SimpleBinary<kTypeNumeric | kTypeBool, true>(ctx, a, b, [](auto x, auto y) { return x <= y; });
  }
};
struct GreaterOrEqualOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& a, const Tensor& b) const {
    return SimpleBinary<kTypeNumeric | kTypeBool, true>(ctx, a, b, [](auto x, auto y) { return x >= y; });
  }
};

// ---------------------------------------------------------------------------------------------
// Variadic Sum / Mean / Max / Min.

enum class VariadicKind { kSum, kMean, kMax, kMin };

// NaN in either input gives NaN (numpy maximum/minimum semantics).
template <typename C>
inline C MaxPropagateNan(C x, C y) {
  if constexpr (std::is_floating_point_v<C>) return (x != x || x > y) ? x : y;
  else return x > y ? x : y;
}
template <typename C>
inline C MinPropagateNan(C x, C y) {
  if constexpr (std::is_floating_point_v<C>) return (x != x || x < y) ? x : y;
  else return x < y ? x : y;
}

template <VariadicKind kKind>
class VariadicKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (n.num_inputs() < 1) return n.Error("expects at least one input");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const int n = ctx.num_inputs();
    const Tensor* first = ctx.input(0);
    if (first == nullptr) return ctx.Error("input 0 must be a tensor");
    Shape out_shape = first->shape();
    for (int i = 1; i < n; ++i) {
      const Tensor* t = ctx.input(i);
      if (t == nullptr) return ctx.Error("input " + std::to_string(i) + " must be a tensor");
      if (t->dtype() != first->dtype())
        return ctx.Error("input " + std::to_string(i) + " has type " + DataTypeName(t->dtype()) + ", input 0 has " +
                         DataTypeName(first->dtype()));
      auto s = BroadcastShapes(out_shape, t->shape());
      if (!s.ok()) return ctx.Error(s.status().message());
      out_shape = *s;
    }
    return DispatchSet<kTypeNumeric>(ctx, first->dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      return Run<T>(ctx, out_shape, n);
    });
  }

 private:
  template <typename T>
  Status Run(KernelContext& ctx, const Shape& out_shape, int n) const {
    auto op = [](auto x, auto y) {
      using C = decltype(x);
      if constexpr (kKind == VariadicKind::kMax) return MaxPropagateNan<C>(x, y);
      else if constexpr (kKind == VariadicKind::kMin) return MinPropagateNan<C>(x, y);
      else return static_cast<C>(x + y);
    };
    Tensor* y = ctx.Output(0, DataTypeOf<T>::value, out_shape);
    const int64_t total = out_shape.NumElements();
    if (total == 0) return Status::Ok();
    T* out = y->data<T>();
    ThreadPool& pool = ctx.pool();
    if (n == 1) {
      const T* x = ctx.input(0)->data<T>();
      ParallelElements(pool, total, kCheapGrain, [&](int64_t b, int64_t e) { std::copy(x + b, x + e, out + b); });
    } else {
      for (int i = 1; i < n; ++i) {
        const Tensor& rhs = *ctx.input(i);
        const Tensor& lhs_t = *ctx.input(0);
        const Shape& lhs_shape = i == 1 ? lhs_t.shape() : out_shape;
        const T* lhs = i == 1 ? lhs_t.data<T>() : out;
        const Shape* ins[2] = {&lhs_shape, &rhs.shape()};
        BroadcastPlan p;
        if (!p.Init(out_shape, ins, 2)) return ctx.Error("broadcast rank is too large");
        BinaryBroadcastLoop(pool, p, lhs, rhs.data<T>(), out, op);
      }
    }
    if constexpr (kKind == VariadicKind::kMean) {
      if (n > 1) {
        using C = ComputeType<T>;
        const C div = static_cast<C>(n);
        ParallelElements(pool, total, kCheapGrain, [&](int64_t b, int64_t e) {
          UnaryRow(out + b, out + b, e - b, [div](C v) { return static_cast<C>(v / div); });
        });
      }
    }
    return Status::Ok();
  }
};

// ---------------------------------------------------------------------------------------------
// Unary kernels: an Op provides Init and Run(ctx, x).

#define ONNXD_UNARY_FLOAT_OP(NAME, GRAIN, EXPR)                                         \
  struct NAME : NoAttrs {                                                               \
    Status Run(KernelContext& ctx, const Tensor& t) const {                             \
      return SimpleUnary<kTypeFloat>(ctx, t, [](auto x) { return EXPR; }, GRAIN);       \
    }                                                                                   \
  };

ONNXD_UNARY_FLOAT_OP(SqrtOp, kCheapGrain, std::sqrt(x))
ONNXD_UNARY_FLOAT_OP(ReciprocalOp, kCheapGrain, static_cast<decltype(x)>(1) / x)
ONNXD_UNARY_FLOAT_OP(CeilOp, kCheapGrain, std::ceil(x))
ONNXD_UNARY_FLOAT_OP(FloorOp, kCheapGrain, std::floor(x))
ONNXD_UNARY_FLOAT_OP(RoundOp, kCheapGrain, std::nearbyint(x))
ONNXD_UNARY_FLOAT_OP(SinOp, kExpensiveGrain, std::sin(x))
ONNXD_UNARY_FLOAT_OP(CosOp, kExpensiveGrain, std::cos(x))
ONNXD_UNARY_FLOAT_OP(TanOp, kExpensiveGrain, std::tan(x))
ONNXD_UNARY_FLOAT_OP(AsinOp, kExpensiveGrain, std::asin(x))
ONNXD_UNARY_FLOAT_OP(AcosOp, kExpensiveGrain, std::acos(x))
ONNXD_UNARY_FLOAT_OP(AtanOp, kExpensiveGrain, std::atan(x))
ONNXD_UNARY_FLOAT_OP(SinhOp, kExpensiveGrain, std::sinh(x))
ONNXD_UNARY_FLOAT_OP(CoshOp, kExpensiveGrain, std::cosh(x))
ONNXD_UNARY_FLOAT_OP(AsinhOp, kExpensiveGrain, std::asinh(x))
ONNXD_UNARY_FLOAT_OP(AcoshOp, kExpensiveGrain, std::acosh(x))
ONNXD_UNARY_FLOAT_OP(AtanhOp, kExpensiveGrain, std::atanh(x))
#undef ONNXD_UNARY_FLOAT_OP

// Exp, Log, Erf: float32 through the dispatched vector kernels, other types through std::.
struct ExpOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& t) const {
    if (t.dtype() == DataType::kFloat) return RunFloatUnaryF32(ctx, t, FloatUnaryKind::kExp);
    return SimpleUnary<kTypeFloat>(ctx, t, [](auto x) { return std::exp(x); }, kExpensiveGrain);
  }
};
struct LogOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& t) const {
    if (t.dtype() == DataType::kFloat) return RunFloatUnaryF32(ctx, t, FloatUnaryKind::kLog);
    return SimpleUnary<kTypeFloat>(ctx, t, [](auto x) { return std::log(x); }, kExpensiveGrain);
  }
};
struct ErfOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& t) const {
    if (t.dtype() == DataType::kFloat) return RunFloatUnaryF32(ctx, t, FloatUnaryKind::kErf);
    return SimpleUnary<kTypeFloat>(ctx, t, [](auto x) { return std::erf(x); }, kExpensiveGrain);
  }
};

struct AbsOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& t) const {
    return SimpleUnary<kTypeNumeric>(ctx, t, [](auto x) {
      using C = decltype(x);
      if constexpr (std::is_floating_point_v<C>) return std::fabs(x);
      else if constexpr (std::is_signed_v<C>) return static_cast<C>(x < 0 ? 0 - static_cast<std::make_unsigned_t<C>>(x) : x);
      else return x;
    });
  }
};
struct NegOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& t) const {
    return SimpleUnary<kTypeFloat | kTypeSigned>(ctx, t, [](auto x) {
      using C = decltype(x);
      if constexpr (std::is_floating_point_v<C>) return -x;
      else return static_cast<C>(0 - static_cast<std::make_unsigned_t<C>>(x));
    });
  }
};
struct SignOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& t) const {
    return SimpleUnary<kTypeNumeric>(ctx, t, [](auto x) {
      using C = decltype(x);
      if constexpr (std::is_floating_point_v<C>) {
        return x > 0 ? C(1) : (x < 0 ? C(-1) : (x == 0 ? C(0) : x));  // NaN stays NaN
      } else if constexpr (std::is_signed_v<C>) {
        return static_cast<C>(x > 0 ? 1 : (x < 0 ? -1 : 0));
      } else {
        return static_cast<C>(x > 0 ? 1 : 0);
      }
    });
  }
};
struct BitwiseNotOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& t) const {
    return SimpleUnary<kTypeInt>(ctx, t, [](auto x) { return static_cast<decltype(x)>(~x); });
  }
};
struct NotOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& t) const {
    return SimpleUnary<kTypeBool>(ctx, t, [](bool x) { return !x; });
  }
};
struct IsNaNOp : NoAttrs {
  Status Run(KernelContext& ctx, const Tensor& t) const {
    return DispatchSet<kTypeFloat>(ctx, t.dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      return RunUnary<T, bool>(ctx, t, [](auto x) { return x != x; });
    });
  }
};
struct IsInfOp {
  bool pos = true, neg = true;
  Status Init(const NodeInfo& n) {
    pos = n.GetInt("detect_positive", 1) != 0;
    neg = n.GetInt("detect_negative", 1) != 0;
    return Status::Ok();
  }
  Status Run(KernelContext& ctx, const Tensor& t) const {
    return DispatchSet<kTypeFloat>(ctx, t.dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      using C = ComputeType<T>;
      const C inf = std::numeric_limits<C>::infinity();
      const bool p = pos, q = neg;
      return RunUnary<T, bool>(ctx, t, [=](C x) { return (p && x == inf) || (q && x == -inf); });
    });
  }
};

// ---------------------------------------------------------------------------------------------
// Where(condition, X, Y) with three-way broadcasting.

// Numeric rows select with a mask so the loop vectorises (loads happen on both sides).
template <typename T, int SC, int SX, int SY>
inline void WhereRowT(const uint8_t* c, const T* x, const T* y, T* o, int64_t n) {
  if constexpr (std::is_same_v<T, std::string>) {
    for (int64_t i = 0; i < n; ++i) o[i] = c[i * SC] ? x[i * SX] : y[i * SY];
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const T a = x[i * SX], b = y[i * SY];
      const T m = static_cast<T>(T(0) - static_cast<T>(c[i * SC] != 0));
      o[i] = static_cast<T>((a & m) | (b & static_cast<T>(~m)));
    }
  }
}

template <typename T>
inline void WhereRow(const uint8_t* c, int64_t sc, const T* x, int64_t sx, const T* y, int64_t sy, T* o, int64_t n) {
  switch (sc * 4 + sx * 2 + sy) {
    case 0: { const T& v = c[0] ? x[0] : y[0]; for (int64_t i = 0; i < n; ++i) o[i] = v; break; }
    case 1: WhereRowT<T, 0, 0, 1>(c, x, y, o, n); break;
    case 2: WhereRowT<T, 0, 1, 0>(c, x, y, o, n); break;
    case 3: WhereRowT<T, 0, 1, 1>(c, x, y, o, n); break;
    case 4: WhereRowT<T, 1, 0, 0>(c, x, y, o, n); break;
    case 5: WhereRowT<T, 1, 0, 1>(c, x, y, o, n); break;
    case 6: WhereRowT<T, 1, 1, 0>(c, x, y, o, n); break;
    default: WhereRowT<T, 1, 1, 1>(c, x, y, o, n); break;
  }
}

class WhereKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (n.num_inputs() != 3) return n.Error("expects 3 inputs (condition, X, Y)");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* c = ctx.input(0);
    const Tensor* x = ctx.input(1);
    const Tensor* y = ctx.input(2);
    if (c == nullptr || x == nullptr || y == nullptr) return ctx.Error("condition, X and Y must be tensors");
    if (c->dtype() != DataType::kBool)
      return ctx.Error(std::string("condition must be bool, got ") + DataTypeName(c->dtype()));
    if (x->dtype() != y->dtype())
      return ctx.Error(std::string("X is ") + DataTypeName(x->dtype()) + " but Y is " + DataTypeName(y->dtype()));
    auto s1 = BroadcastShapes(c->shape(), x->shape());
    if (!s1.ok()) return ctx.Error(s1.status().message());
    auto s2 = BroadcastShapes(*s1, y->shape());
    if (!s2.ok()) return ctx.Error(s2.status().message());
    const Shape out_shape = *s2;
    Tensor* out = ctx.Output(0, x->dtype(), out_shape);
    BroadcastPlan p;
    const Shape* ins[3] = {&c->shape(), &x->shape(), &y->shape()};
    if (!p.Init(out_shape, ins, 3)) return ctx.Error("broadcast rank is too large");
    if (p.total == 0) return Status::Ok();
    switch (x->dtype() == DataType::kString ? 0 : ElementSize(x->dtype())) {
      case 0: Run<std::string>(ctx, p, *c, *x, *y, out); break;
      case 1: Run<uint8_t>(ctx, p, *c, *x, *y, out); break;
      case 2: Run<uint16_t>(ctx, p, *c, *x, *y, out); break;
      case 4: Run<uint32_t>(ctx, p, *c, *x, *y, out); break;
      case 8: Run<uint64_t>(ctx, p, *c, *x, *y, out); break;
      default: return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    }
    return Status::Ok();
  }

 private:
  template <typename T>
  static void Run(KernelContext& ctx, const BroadcastPlan& p, const Tensor& c, const Tensor& x, const Tensor& y,
                  Tensor* out) {
    const uint8_t* cp = static_cast<const uint8_t*>(c.raw_data());
    const T* xp = static_cast<const T*>(x.raw_data());
    const T* yp = static_cast<const T*>(y.raw_data());
    T* op = static_cast<T*>(out->raw_data());
    const int64_t sc = p.inner_stride(0), sx = p.inner_stride(1), sy = p.inner_stride(2);
    ParallelElements(ctx.pool(), p.total, kCheapGrain, [&](int64_t begin, int64_t end) {
      ForEachRow(p, begin, end, [&](int64_t pos, const int64_t* off, int64_t len) {
        WhereRow(cp + off[0], sc, xp + off[1], sx, yp + off[2], sy, op + pos, len);
      });
    });
  }
};

}  // namespace

void RegisterElementwiseOps(OpRegistry& r) {
  r.Add("", "Add", Factory<BinaryKernel<AddOp>>());
  r.Add("", "Sub", Factory<BinaryKernel<SubOp>>());
  r.Add("", "Mul", Factory<BinaryKernel<MulOp>>());
  r.Add("", "Div", Factory<BinaryKernel<DivOp>>());
  r.Add("", "Pow", Factory<BinaryKernel<PowOp>>());
  r.Add("", "Mod", Factory<BinaryKernel<ModOp>>());
  r.Add("", "BitShift", Factory<BinaryKernel<BitShiftOp>>());
  r.Add("", "BitwiseAnd", Factory<BinaryKernel<BitwiseAndOp>>());
  r.Add("", "BitwiseOr", Factory<BinaryKernel<BitwiseOrOp>>());
  r.Add("", "BitwiseXor", Factory<BinaryKernel<BitwiseXorOp>>());
  r.Add("", "And", Factory<BinaryKernel<AndOp>>());
  r.Add("", "Or", Factory<BinaryKernel<OrOp>>());
  r.Add("", "Xor", Factory<BinaryKernel<XorOp>>());
  r.Add("", "Equal", Factory<BinaryKernel<EqualOp>>());
  r.Add("", "Less", Factory<BinaryKernel<LessOp>>());
  r.Add("", "Greater", Factory<BinaryKernel<GreaterOp>>());
  r.Add("", "LessOrEqual", Factory<BinaryKernel<LessOrEqualOp>>());
  r.Add("", "GreaterOrEqual", Factory<BinaryKernel<GreaterOrEqualOp>>());

  r.Add("", "Sum", Factory<VariadicKernel<VariadicKind::kSum>>());
  r.Add("", "Mean", Factory<VariadicKernel<VariadicKind::kMean>>());
  r.Add("", "Max", Factory<VariadicKernel<VariadicKind::kMax>>());
  r.Add("", "Min", Factory<VariadicKernel<VariadicKind::kMin>>());

  r.Add("", "Abs", Factory<UnaryOpKernel<AbsOp>>());
  r.Add("", "Neg", Factory<UnaryOpKernel<NegOp>>());
  r.Add("", "Exp", Factory<UnaryOpKernel<ExpOp>>());
  r.Add("", "Log", Factory<UnaryOpKernel<LogOp>>());
  r.Add("", "Sqrt", Factory<UnaryOpKernel<SqrtOp>>());
  r.Add("", "Reciprocal", Factory<UnaryOpKernel<ReciprocalOp>>());
  r.Add("", "Ceil", Factory<UnaryOpKernel<CeilOp>>());
  r.Add("", "Floor", Factory<UnaryOpKernel<FloorOp>>());
  r.Add("", "Round", Factory<UnaryOpKernel<RoundOp>>());
  r.Add("", "Sign", Factory<UnaryOpKernel<SignOp>>());
  r.Add("", "Sin", Factory<UnaryOpKernel<SinOp>>());
  r.Add("", "Cos", Factory<UnaryOpKernel<CosOp>>());
  r.Add("", "Tan", Factory<UnaryOpKernel<TanOp>>());
  r.Add("", "Asin", Factory<UnaryOpKernel<AsinOp>>());
  r.Add("", "Acos", Factory<UnaryOpKernel<AcosOp>>());
  r.Add("", "Atan", Factory<UnaryOpKernel<AtanOp>>());
  r.Add("", "Sinh", Factory<UnaryOpKernel<SinhOp>>());
  r.Add("", "Cosh", Factory<UnaryOpKernel<CoshOp>>());
  r.Add("", "Asinh", Factory<UnaryOpKernel<AsinhOp>>());
  r.Add("", "Acosh", Factory<UnaryOpKernel<AcoshOp>>());
  r.Add("", "Atanh", Factory<UnaryOpKernel<AtanhOp>>());
  r.Add("", "Erf", Factory<UnaryOpKernel<ErfOp>>());
  r.Add("", "IsNaN", Factory<UnaryOpKernel<IsNaNOp>>());
  r.Add("", "IsInf", Factory<UnaryOpKernel<IsInfOp>>());
  r.Add("", "BitwiseNot", Factory<UnaryOpKernel<BitwiseNotOp>>());
  r.Add("", "Not", Factory<UnaryOpKernel<NotOp>>());

  r.Add("", "Where", Factory<WhereKernel>());
}

}  // namespace onnxd::engine
