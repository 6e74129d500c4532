// Elementwise loops shared by the elementwise and activation ops: a broadcast planner that
// collapses dims, row loops with same-shape / scalar fast paths the compiler can vectorise, and
// the KernelContext glue (RunUnary, RunBinary) used by one-line op kernels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "onnxd/engine/tensor.h"
#include "ops/op_kernel.h"
#include "ops/op_util.h"
#include "runtime/thread_pool.h"

namespace onnxd::engine {

// Elements of a cheap op (add, relu) per parallel chunk; transcendental ops use a smaller grain.
constexpr int64_t kCheapGrain = 32768;
constexpr int64_t kExpensiveGrain = 4096;

// ---- value conversion: Float16/BFloat16 compute in float ----

template <typename T>
inline const T& Load(const T& v) {
  return v;
}
inline float Load(Float16 v) { return static_cast<float>(v); }
inline float Load(BFloat16 v) { return static_cast<float>(v); }
template <typename T, typename C>
inline T Store(C v) {
  if constexpr (std::is_same_v<T, C>) {
    return v;
  } else {
    return static_cast<T>(v);
  }
}

// ---- broadcast plan ----

// Output iteration space after numpy broadcasting, with dims of size 1 removed and adjacent dims
// merged wherever every input is either contiguous across both or broadcast across both.
// [N,C,H,W] + [C,1,1] becomes dims [N, C, H*W] with strides {HW*C... , 1, 0} etc.
struct BroadcastPlan {
  static constexpr int kMaxInputs = 3;
  static constexpr int kMaxRank = 16;
  int rank = 0;  // collapsed rank, >= 1
  int num_inputs = 0;
  int64_t total = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxInputs][kMaxRank] = {};

  // `ins` are right-aligned against `out` and must broadcast to it. False when the collapsed
  // rank exceeds kMaxRank (callers report an error).
  bool Init(const Shape& out, const Shape* const* ins, int n);
  int64_t inner() const { return dims[rank - 1]; }
  int64_t inner_stride(int k) const { return strides[k][rank - 1]; }
};

// Calls fn(out_offset, in_offsets, len) for each run of output elements in [begin, end) that lies
// within one innermost row; input k advances by plan.inner_stride(k) (0 or 1) per element.
template <typename Fn>
void ForEachRow(const BroadcastPlan& p, int64_t begin, int64_t end, Fn&& fn) {
  const int r = p.rank;
  const int n = p.num_inputs;
  const int64_t inner = p.dims[r - 1];
  int64_t idx[BroadcastPlan::kMaxRank];
  int64_t base[BroadcastPlan::kMaxInputs] = {0, 0, 0};
  int64_t row = begin / inner, col = begin % inner;
  for (int j = r - 2; j >= 0; --j) {
    idx[j] = row % p.dims[j];
    row /= p.dims[j];
    for (int k = 0; k < n; ++k) base[k] += idx[j] * p.strides[k][j];
  }
  int64_t pos = begin;
  int64_t off[BroadcastPlan::kMaxInputs] = {0, 0, 0};
  while (pos < end) {
    const int64_t len = std::min(inner - col, end - pos);
    for (int k = 0; k < n; ++k) off[k] = base[k] + col * p.strides[k][r - 1];
    fn(pos, static_cast<const int64_t*>(off), len);
    pos += len;
    col = 0;
    for (int j = r - 2; j >= 0; --j) {
      for (int k = 0; k < n; ++k) base[k] += p.strides[k][j];
      if (++idx[j] < p.dims[j]) break;
      for (int k = 0; k < n; ++k) base[k] -= p.strides[k][j] * p.dims[j];
      idx[j] = 0;
    }
  }
}

// Runs fn(begin, end) over [0, n) on the pool when n is large.
template <typename Fn>
inline void ParallelElements(ThreadPool& pool, int64_t n, int64_t grain, Fn&& fn) {
  if (n <= grain) {
    if (n > 0) fn(int64_t{0}, n);
    return;
  }
  pool.ParallelFor(n, grain, fn);
}

// ---- row loops ----

// o[i] = op(x[i]) for i < n.
template <typename TI, typename TO, typename Op>
inline void UnaryRow(const TI* x, TO* o, int64_t n, const Op& op_ref) {
  const Op op = op_ref;  // a local copy: captured constants cannot alias the output
  for (int64_t i = 0; i < n; ++i) o[i] = Store<TO>(op(Load(x[i])));
}

// o[i] = op(a[i*sa], b[i*sb]) with sa, sb in {0, 1}. `o` may alias `a` or `b` exactly.
template <typename TA, typename TB, typename TO, typename Op>
inline void BinaryRow(const TA* a, int64_t sa, const TB* b, int64_t sb, TO* o, int64_t n, const Op& op_ref) {
  const Op op = op_ref;  // a local copy: captured constants cannot alias the output
  if (sa != 0 && sb != 0) {
    for (int64_t i = 0; i < n; ++i) o[i] = Store<TO>(op(Load(a[i]), Load(b[i])));
  } else if (sa != 0) {
    const auto bv = Load(b[0]);
    for (int64_t i = 0; i < n; ++i) o[i] = Store<TO>(op(Load(a[i]), bv));
  } else if (sb != 0) {
    const auto av = Load(a[0]);
    for (int64_t i = 0; i < n; ++i) o[i] = Store<TO>(op(av, Load(b[i])));
  } else {
    const TO v = Store<TO>(op(Load(a[0]), Load(b[0])));
    for (int64_t i = 0; i < n; ++i) o[i] = v;
  }
}

// out = op(a, b) over a built plan of two inputs.
template <typename TA, typename TB, typename TO, typename Op>
void BinaryBroadcastLoop(ThreadPool& pool, const BroadcastPlan& p, const TA* a, const TB* b, TO* o, const Op& op,
                         int64_t grain = kCheapGrain) {
  const int64_t sa = p.inner_stride(0), sb = p.inner_stride(1);
  if (p.rank == 1) {
    ParallelElements(pool, p.total, grain, [&](int64_t begin, int64_t end) {
      BinaryRow(a + begin * sa, sa, b + begin * sb, sb, o + begin, end - begin, op);
    });
    return;
  }
  ParallelElements(pool, p.total, grain, [&](int64_t begin, int64_t end) {
    ForEachRow(p, begin, end, [&](int64_t pos, const int64_t* off, int64_t len) {
      BinaryRow(a + off[0], sa, b + off[1], sb, o + pos, len, op);
    });
  });
}

// ---- KernelContext glue ----

// Output 0 = op(x) elementwise, with output dtype TO.
template <typename TI, typename TO, typename Op>
Status RunUnary(KernelContext& ctx, const Tensor& x, const Op& op, int64_t grain = kCheapGrain) {
  Tensor* y = ctx.Output(0, DataTypeOf<TO>::value, x.shape());
  const TI* xp = x.data<TI>();
  TO* yp = y->data<TO>();
  ParallelElements(ctx.pool(), x.num_elements(), grain,
                   [&](int64_t b, int64_t e) { UnaryRow(xp + b, yp + b, e - b, op); });
  return Status::Ok();
}

// Output `out_index` = op(a, b) with numpy broadcasting, output dtype TO.
template <typename TA, typename TB, typename TO, typename Op>
Status RunBinary(KernelContext& ctx, const Tensor& a, const Tensor& b, const Op& op, int64_t grain = kCheapGrain,
                 int out_index = 0) {
  auto shape_or = BroadcastShapes(a.shape(), b.shape());
  if (!shape_or.ok()) return ctx.Error(shape_or.status().message());
  const Shape& out_shape = *shape_or;
  Tensor* y = ctx.Output(out_index, DataTypeOf<TO>::value, out_shape);
  BroadcastPlan p;
  const Shape* ins[2] = {&a.shape(), &b.shape()};
  if (!p.Init(out_shape, ins, 2)) return ctx.Error("broadcast rank " + std::to_string(out_shape.rank()) + " is too large");
  if (p.total == 0) return Status::Ok();
  BinaryBroadcastLoop(ctx.pool(), p, a.data<TA>(), b.data<TB>(), y->data<TO>(), op, grain);
  return Status::Ok();
}

// ---- accurate vectorisable float32 math ----

// Always inlined so the AVX2 / AVX-512 loops in elementwise_cpu.cc get them in their own ISA.
#define ONNXD_EW_INLINE inline __attribute__((always_inline))

// exp(x) for float, within ~2 ulp over the whole range (overflow to inf, underflow to 0).
// Written as straight-line code so loops over it vectorise.
ONNXD_EW_INLINE float FastExp(float x) {
  x = std::min(std::max(x, -104.0f), 88.8f);
  const float kLog2e = 1.44269504088896341f;
  const float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  // Round to nearest with the 1.5*2^23 trick (vectorises without SSE4.1 roundps).
  const float kMagic = 12582912.0f;
  float fn = (x * kLog2e + kMagic) - kMagic;
  float r = x - fn * kLn2Hi;
  r = r - fn * kLn2Lo;
  // exp(r) on [-ln2/2, ln2/2]: degree-6 polynomial.
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // Scale by 2^n in two steps so n down to -150 and up to 128 work without special cases.
  int32_t n = static_cast<int32_t>(fn);
  int32_t n1 = n >> 1, n2 = n - n1;
  float s1, s2;
  int32_t b1 = (n1 + 127) << 23, b2 = (n2 + 127) << 23;
  std::memcpy(&s1, &b1, 4);
  std::memcpy(&s2, &b2, 4);
  return p * s1 * s2;
}

// tanh(x) for float within a few ulp; branch-free so loops over it vectorise.
ONNXD_EW_INLINE float FastTanh(float x) {
  const float ax = std::min(std::fabs(x), 20.0f);
  // |x| < 0.625: odd polynomial (minimax on the small interval).
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = x + x * z * p;
  // Otherwise 1 - 2 / (exp(2|x|) + 1), with the sign of x.
  const float big = std::copysign(1.0f - 2.0f / (FastExp(2.0f * ax) + 1.0f), x);
  return ax < 0.625f ? small : big;
}

// 1 / (1 + exp(-x)) for float.
ONNXD_EW_INLINE float FastSigmoid(float x) { return 1.0f / (1.0f + FastExp(-x)); }

// log(x) for float within a few ulp; log(0) = -inf, log(x<0) = NaN, log(inf) = inf.
ONNXD_EW_INLINE float FastLog(float x) {
  // Subnormals: scale by 2^23 first.
  const bool sub = x < 1.17549435e-38f;
  const float xs = sub ? x * 8388608.0f : x;
  uint32_t u;
  std::memcpy(&u, &xs, 4);
  int32_t e = static_cast<int32_t>((u >> 23) & 0xff) - (sub ? 150 : 127);
  // Mantissa in [1, 2), then folded into [sqrt(1/2), sqrt(2)).
  uint32_t mu = (u & 0x007fffffu) | 0x3f800000u;
  float m;
  std::memcpy(&m, &mu, 4);
  const bool fold = m > 1.41421356f;
  m = fold ? m * 0.5f : m;
  e = fold ? e + 1 : e;
  const float fe = static_cast<float>(e);
  const float r = m - 1.0f;
  const float z = r * r;
  float p = 7.0376836292e-2f;
  p = p * r - 1.1514610310e-1f;
  p = p * r + 1.1676998740e-1f;
  p = p * r - 1.2420140846e-1f;
  p = p * r + 1.4249322787e-1f;
  p = p * r - 1.6668057665e-1f;
  p = p * r + 2.0000714765e-1f;
  p = p * r - 2.4999993993e-1f;
  p = p * r + 3.3333331174e-1f;
  float y = r * z * p;
  y += fe * -2.12194440e-4f;
  y += -0.5f * z;
  float result = r + y + fe * 0.693359375f;
  const float inf = std::numeric_limits<float>::infinity();
  result = x == 0.0f ? -inf : result;
  result = x < 0.0f ? std::numeric_limits<float>::quiet_NaN() : result;
  result = x == inf ? inf : result;
  result = x != x ? x : result;
  return result;
}

// log(1 + u) for u >= 0 (accurate for tiny u): log(w) * u / (w - 1) with w = 1 + u.
ONNXD_EW_INLINE float FastLog1pPos(float u) {
  const float w = 1.0f + u;
  const float d = w - 1.0f;
  const float r = FastLog(w) * (u / (d == 0.0f ? 1.0f : d));
  return d == 0.0f ? u : r;
}

// erfc(z) for z >= 0 with relative error ~2e-7 (Chebyshev fit, Numerical Recipes' erfcc).
ONNXD_EW_INLINE float FastErfcPos(float z) {
  const float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  return t * FastExp(p - z * z);
}

// erf(x) for |x| < 0.5 by its Taylor series (7 terms, error < 1e-9).
ONNXD_EW_INLINE float ErfSmall(float x) {
  const float z = x * x;
  float p = 1.0f / 9360.0f;
  p = p * z - 1.0f / 1320.0f;
  p = p * z + 1.0f / 216.0f;
  p = p * z - 1.0f / 42.0f;
  p = p * z + 1.0f / 10.0f;
  p = p * z - 1.0f / 3.0f;
  p = p * z + 1.0f;
  return 1.12837916709551257f * x * p;
}

// erf(x) for float, relative error ~3e-7.
ONNXD_EW_INLINE float FastErf(float x) {
  const float ax = std::fabs(x);
  const float big = std::copysign(1.0f - FastErfcPos(ax), x);
  return ax < 0.5f ? ErfSmall(x) : big;
}

// Gelu: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)); the negative side uses erfc directly so tiny
// results keep their relative accuracy.
ONNXD_EW_INLINE float FastGelu(float x) {
  const float z = x * 0.70710678118654752f;
  const float az = std::fabs(z);
  const float erfc = FastErfcPos(az);
  const float one_plus_erf = az < 0.5f ? 1.0f + ErfSmall(z) : (z > 0.0f ? 2.0f - erfc : erfc);
  return 0.5f * x * one_plus_erf;
}

ONNXD_EW_INLINE float FastGeluTanh(float x) {
  const float k = 0.7978845608028654f;  // sqrt(2 / pi)
  return 0.5f * x * (1.0f + FastTanh(k * (x + 0.044715f * x * x * x)));
}

// log(1 + exp(x)) without overflow.
ONNXD_EW_INLINE float FastSoftplus(float x) {
  return std::max(x, 0.0f) + FastLog1pPos(FastExp(-std::fabs(x)));
}

// Float32 unary kernels with runtime ISA dispatch (SSE2 / AVX2 / AVX-512).
enum class FloatUnaryKind { kExp, kLog, kTanh, kSigmoid, kErf, kGelu, kGeluTanh, kSoftplus, kMish, kSwish };
// y[i] = f(x[i]) for i < n; `alpha` is Swish's. x and y may be the same array.
void FloatUnaryF32(FloatUnaryKind kind, const float* x, float* y, int64_t n, float alpha = 1.0f);

// ---- dtype dispatch restricted at compile time ----

enum : int {
  kTypeFloat = 1,
  kTypeSigned = 2,
  kTypeUnsigned = 4,
  kTypeBool = 8,
  kTypeString = 16,
  kTypeInt = kTypeSigned | kTypeUnsigned,
  kTypeNumeric = kTypeFloat | kTypeInt,
};

// Calls f(TypeTag<T>{}) (which returns Status) for dt when its family is in kSet; only those
// instantiations are compiled. Otherwise an error naming the dtype.
template <int kSet, typename F>
Status DispatchSet(KernelContext& ctx, DataType dt, F&& f) {
#define ONNXD_EW_CASE(DT, T, FLAG)                                  \
  case DataType::DT:                                                \
    if constexpr ((kSet & (FLAG)) != 0) return f(TypeTag<T>{});     \
    break;
  switch (dt) {
    ONNXD_EW_CASE(kFloat, float, kTypeFloat)
    ONNXD_EW_CASE(kDouble, double, kTypeFloat)
    ONNXD_EW_CASE(kFloat16, Float16, kTypeFloat)
    ONNXD_EW_CASE(kBFloat16, BFloat16, kTypeFloat)
    ONNXD_EW_CASE(kInt8, int8_t, kTypeSigned)
    ONNXD_EW_CASE(kInt16, int16_t, kTypeSigned)
    ONNXD_EW_CASE(kInt32, int32_t, kTypeSigned)
    ONNXD_EW_CASE(kInt64, int64_t, kTypeSigned)
    ONNXD_EW_CASE(kUInt8, uint8_t, kTypeUnsigned)
    ONNXD_EW_CASE(kUInt16, uint16_t, kTypeUnsigned)
    ONNXD_EW_CASE(kUInt32, uint32_t, kTypeUnsigned)
    ONNXD_EW_CASE(kUInt64, uint64_t, kTypeUnsigned)
    ONNXD_EW_CASE(kBool, bool, kTypeBool)
    ONNXD_EW_CASE(kString, std::string, kTypeString)
    default: break;
  }
#undef ONNXD_EW_CASE
  return ctx.Error(std::string("input type ") + DataTypeName(dt) + " is not supported by " + ctx.op_type());
}

// ---- kernel templates ----

struct NoAttrs {
  Status Init(const NodeInfo&) { return Status::Ok(); }
};

// A one-input op whose Op provides Init(NodeInfo) and Run(ctx, x).
template <typename Op>
class UnaryOpKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (n.num_inputs() < 1) return n.Error("expects one input");
    return op_.Init(n);
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input X must be a tensor");
    return op_.Run(ctx, *x);
  }

 private:
  Op op_;
};

// Same-type unary op over the families in kSet.
template <int kSet, typename Fn>
Status SimpleUnary(KernelContext& ctx, const Tensor& x, const Fn& fn, int64_t grain = kCheapGrain) {
  return DispatchSet<kSet>(ctx, x.dtype(), [&](auto tag) -> Status {
    using T = typename decltype(tag)::type;
    return RunUnary<T, T>(ctx, x, fn, grain);
  });
}

// Output 0 = f(x) for a float32 x via the dispatched kernels.
inline Status RunFloatUnaryF32(KernelContext& ctx, const Tensor& x, FloatUnaryKind kind, float alpha = 1.0f) {
  Tensor* y = ctx.Output(0, DataType::kFloat, x.shape());
  const float* xp = x.data<float>();
  float* yp = y->data<float>();
  ParallelElements(ctx.pool(), x.num_elements(), kExpensiveGrain,
                   [&](int64_t b, int64_t e) { FloatUnaryF32(kind, xp + b, yp + b, e - b, alpha); });
  return Status::Ok();
}

}  // namespace onnxd::engine
