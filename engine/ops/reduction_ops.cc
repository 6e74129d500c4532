// Reductions: ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare, ArgMax/ArgMin.
//
// A reduction is planned at run time from the input shape and the set of reduced axes: size-1
// dims are dropped and neighbouring dims with the same kept/reduced role are merged. The common
// layouts collapse to [outer, R, inner] (reduced axes contiguous) and get vectorisable loops:
// inner == 1 reduces contiguous rows with several independent accumulators, inner > 1 folds whole
// rows into a block of accumulators. Anything else (e.g. reduced, kept, reduced) goes through a
// generic strided walk. Big jobs are split over the pool by output, or by the reduced range with
// per-chunk partial accumulators when there are too few outputs to keep the threads busy.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "ops/op_kernel.h"
#include "ops/op_util.h"

#pragma GCC optimize("O3", "no-trapping-math")  // lets GCC if-convert float clamps; no FP-exception semantics are relied on

namespace onnxd::engine {
namespace {

constexpr int kMaxRank = 64;
constexpr int kLanes = 8;
constexpr int64_t kBlk = 1024;
constexpr int64_t kWorkGrain = 16384;

template <typename T>
constexpr bool kIsHalf = std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;

template <typename O, typename A>
inline O Convert(A a) {
  if constexpr (kIsHalf<O>) return O(static_cast<float>(a));
  else return static_cast<O>(a);
}

template <typename A, typename T>
inline A ToAcc(const T& x) {
  if constexpr (kIsHalf<T>) return static_cast<A>(static_cast<float>(x));
  else return static_cast<A>(x);
}

// Four floats, for the min/max loops the compiler will not vectorise from scalar code (a float
// max is not a reassociable reduction without fast-math). GCC/Clang vector extension.
typedef float V4F __attribute__((vector_size(16)));
typedef int32_t V4I __attribute__((vector_size(16)));

inline V4F LoadV4(const float* p) {
  V4F v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void StoreV4(float* p, V4F v) { std::memcpy(p, &v, sizeof(v)); }

enum class RK { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

// ---- reduction policies: Init, Pre (element transform, with a per-output shift), Comb, Fin ----

template <typename A>
inline A FloatFn(A a, double (*fd)(double), float (*ff)(float)) {
  if constexpr (std::is_same_v<A, float>) return ff(a);
  else if constexpr (std::is_same_v<A, double>) return static_cast<A>(fd(a));
  else {
    double r = fd(static_cast<double>(a));
    return std::isfinite(r) ? static_cast<A>(r) : A(0);
  }
}

// Integer sums/products wrap (two's complement) like numpy instead of overflowing.
template <typename A>
inline A Add(A a, A b) {
  if constexpr (std::is_integral_v<A> && std::is_signed_v<A> && sizeof(A) >= 4)
    return static_cast<A>(static_cast<std::make_unsigned_t<A>>(a) + static_cast<std::make_unsigned_t<A>>(b));
  else return static_cast<A>(a + b);
}
template <typename A>
inline A Mul(A a, A b) {
  if constexpr (std::is_integral_v<A> && std::is_signed_v<A> && sizeof(A) >= 4)
    return static_cast<A>(static_cast<std::make_unsigned_t<A>>(a) * static_cast<std::make_unsigned_t<A>>(b));
  else if constexpr (std::is_integral_v<A> && sizeof(A) < sizeof(int))
    return static_cast<A>(static_cast<unsigned>(a) * static_cast<unsigned>(b));
  else return static_cast<A>(a * b);
}

template <typename A>
struct SumOp {
  using Acc = A;
  static constexpr bool kShift = false;
  static constexpr bool kVec = false;
  static A Init() { return A(0); }
  static A Pre(A x, A) { return x; }
  static A Comb(A a, A b) { return Add(a, b); }
  static A Fin(A a, int64_t, A) { return a; }
};

template <typename A>
struct MeanOp : SumOp<A> {
  static A Fin(A a, int64_t n, A) {
    // An empty mean is 0, as onnxruntime gives (numpy would say NaN).
    if constexpr (std::is_floating_point_v<A>) return n == 0 ? A(0) : a / static_cast<A>(n);
    else return n == 0 ? A(0) : static_cast<A>(a / static_cast<A>(n));
  }
};

template <typename A>
struct SumSquareOp : SumOp<A> {
  static A Pre(A x, A) { return Mul(x, x); }
};

template <typename A>
struct L1Op : SumOp<A> {
  static A Pre(A x, A) {
    if constexpr (std::is_signed_v<A> || std::is_floating_point_v<A>) return x < A(0) ? A(-x) : x;
    else return x;
  }
};

template <typename A>
struct L2Op : SumOp<A> {
  static A Pre(A x, A) { return Mul(x, x); }
  static A Fin(A a, int64_t, A) { return FloatFn<A>(a, static_cast<double (*)(double)>(std::sqrt), static_cast<float (*)(float)>(std::sqrt)); }
};

template <typename A>
struct LogSumOp : SumOp<A> {
  static A Fin(A a, int64_t, A) { return FloatFn<A>(a, static_cast<double (*)(double)>(std::log), static_cast<float (*)(float)>(std::log)); }
};

template <typename A>
struct ProdOp {
  using Acc = A;
  static constexpr bool kShift = false;
  static constexpr bool kVec = false;
  static A Init() { return A(1); }
  static A Pre(A x, A) { return x; }
  static A Comb(A a, A b) { return Mul(a, b); }
  static A Fin(A a, int64_t, A) { return a; }
};

template <typename A>
struct MaxOp {
  using Acc = A;
  static constexpr bool kShift = false;
  static constexpr bool kVec = std::is_same_v<A, float>;
  static V4F VComb(V4F a, V4F b) {
    V4I m = (b > a) | (b != b);
    return m ? b : a;
  }
  static A Init() {
    if constexpr (std::is_floating_point_v<A>) return -std::numeric_limits<A>::infinity();
    else return std::numeric_limits<A>::lowest();
  }
  static A Pre(A x, A) { return x; }
  static A Comb(A a, A b) { return ((b > a) | (b != b)) ? b : a; }  // NaN propagates; `|` keeps it branch-free
  static A Fin(A a, int64_t, A) { return a; }
};

template <typename A>
struct MinOp {
  using Acc = A;
  static constexpr bool kShift = false;
  static constexpr bool kVec = std::is_same_v<A, float>;
  static V4F VComb(V4F a, V4F b) {
    V4I m = (b < a) | (b != b);
    return m ? b : a;
  }
  static A Init() {
    if constexpr (std::is_floating_point_v<A>) return std::numeric_limits<A>::infinity();
    else return std::numeric_limits<A>::max();
  }
  static A Pre(A x, A) { return x; }
  static A Comb(A a, A b) { return ((b < a) | (b != b)) ? b : a; }
  static A Fin(A a, int64_t, A) { return a; }
};

// Sum of exp(x - shift); the shift is the max over the reduced set (made 0 when not finite).
template <typename A>
struct LseOp {
  using Acc = A;
  static constexpr bool kShift = true;
  static constexpr bool kVec = false;
  static A Init() { return A(0); }
  static A Pre(A x, A s) { return std::exp(x - s); }
  static A Comb(A a, A b) { return Add(a, b); }
  static A Fin(A a, int64_t, A s) { return std::log(a) + s; }
};

// Accumulator type: float for float/half, double for double, the type itself for integers and
// bool, except LogSumExp on integers, which computes in double.
template <RK K, typename T>
using AccFor = std::conditional_t<kIsHalf<T>, float,
                                  std::conditional_t<K == RK::kLogSumExp && !std::is_floating_point_v<T>, double, T>>;

template <RK K, typename A>
struct OpFor;
template <typename A> struct OpFor<RK::kSum, A> { using type = SumOp<A>; };
template <typename A> struct OpFor<RK::kMean, A> { using type = MeanOp<A>; };
template <typename A> struct OpFor<RK::kMax, A> { using type = MaxOp<A>; };
template <typename A> struct OpFor<RK::kMin, A> { using type = MinOp<A>; };
template <typename A> struct OpFor<RK::kProd, A> { using type = ProdOp<A>; };
template <typename A> struct OpFor<RK::kL1, A> { using type = L1Op<A>; };
template <typename A> struct OpFor<RK::kL2, A> { using type = L2Op<A>; };
template <typename A> struct OpFor<RK::kLogSum, A> { using type = LogSumOp<A>; };
template <typename A> struct OpFor<RK::kSumSquare, A> { using type = SumSquareOp<A>; };
template <typename A> struct OpFor<RK::kLogSumExp, A> { using type = LseOp<A>; };

// ---- the plan ----

struct Plan {
  int64_t out_count = 0;
  int64_t red_count = 0;
  bool simple = true;
  int64_t outer = 1, R = 1, inner = 1;
  // Generic walk: kept dims / reduced dims with their input strides (outermost first).
  int nk = 0, nr = 0;
  int64_t kd[kMaxRank], ks[kMaxRank], rd[kMaxRank], rs[kMaxRank];
};

void MakePlan(const Shape& shape, const bool* mask, Plan* p) {
  const int rank = shape.rank();
  p->out_count = 1;
  p->red_count = 1;
  for (int i = 0; i < rank; ++i) (mask[i] ? p->red_count : p->out_count) *= shape[i];
  if (p->out_count == 0 || p->red_count == 0) return;
  int64_t gsz[kMaxRank];
  bool gred[kMaxRank];
  int ng = 0;
  for (int i = 0; i < rank; ++i) {
    if (shape[i] == 1) continue;
    if (ng > 0 && gred[ng - 1] == mask[i]) {
      gsz[ng - 1] *= shape[i];
    } else {
      gsz[ng] = shape[i];
      gred[ng] = mask[i];
      ++ng;
    }
  }
  p->simple = true;
  p->outer = p->R = p->inner = 1;
  if (ng == 0) return;
  if (ng == 1) {
    (gred[0] ? p->R : p->inner) = gsz[0];
    return;
  }
  if (ng == 2) {
    if (gred[0]) {
      p->R = gsz[0];
      p->inner = gsz[1];
    } else {
      p->outer = gsz[0];
      p->R = gsz[1];
    }
    return;
  }
  if (ng == 3 && !gred[0]) {
    p->outer = gsz[0];
    p->R = gsz[1];
    p->inner = gsz[2];
    return;
  }
  p->simple = false;
  p->nk = p->nr = 0;
  int64_t stride = 1;
  int64_t gst[kMaxRank];
  for (int g = ng - 1; g >= 0; --g) {
    gst[g] = stride;
    stride *= gsz[g];
  }
  for (int g = 0; g < ng; ++g) {
    if (gred[g]) {
      p->rd[p->nr] = gsz[g];
      p->rs[p->nr++] = gst[g];
    } else {
      p->kd[p->nk] = gsz[g];
      p->ks[p->nk++] = gst[g];
    }
  }
}

// ---- loops ----

template <typename Op, typename T>
inline typename Op::Acc RowPartial(const T* x, int64_t n, typename Op::Acc s) {
  using A = typename Op::Acc;
  A a = Op::Init();
  int64_t r = 0;
  if constexpr (Op::kVec && std::is_same_v<T, float>) {
    if (n >= 8) {
      const float init = Op::Init();
      V4F a0 = {init, init, init, init}, a1 = a0;
      for (; r + 8 <= n; r += 8) {
        a0 = Op::VComb(a0, LoadV4(x + r));
        a1 = Op::VComb(a1, LoadV4(x + r + 4));
      }
      a0 = Op::VComb(a0, a1);
      for (int j = 0; j < 4; ++j) a = Op::Comb(a, a0[j]);
    }
  } else if (n >= 2 * kLanes) {
    A lanes[kLanes];
    for (int j = 0; j < kLanes; ++j) lanes[j] = Op::Init();
    for (; r + kLanes <= n; r += kLanes)
      for (int j = 0; j < kLanes; ++j) lanes[j] = Op::Comb(lanes[j], Op::Pre(ToAcc<A>(x[r + j]), s));
    for (int j = 0; j < kLanes; ++j) a = Op::Comb(a, lanes[j]);
  }
  for (; r < n; ++r) a = Op::Comb(a, Op::Pre(ToAcc<A>(x[r]), s));
  return a;
}

// acc[i] (i < len) = fold over r < R of x[r * stride + i]. `s` is the per-column shift (kShift only).
template <typename Op, typename T>
inline void ColPartial(const T* x, int64_t R, int64_t stride, int64_t len, const typename Op::Acc* s,
                       typename Op::Acc* acc) {
  using A = typename Op::Acc;
  for (int64_t i = 0; i < len; ++i) acc[i] = Op::Init();
  for (int64_t r = 0; r < R; ++r) {
    const T* row = x + r * stride;
    if constexpr (Op::kShift) {
      for (int64_t i = 0; i < len; ++i) acc[i] = Op::Comb(acc[i], Op::Pre(ToAcc<A>(row[i]), s[i]));
    } else if constexpr (Op::kVec && std::is_same_v<T, float>) {
      int64_t i = 0;
      for (; i + 4 <= len; i += 4) StoreV4(acc + i, Op::VComb(LoadV4(acc + i), LoadV4(row + i)));
      for (; i < len; ++i) acc[i] = Op::Comb(acc[i], row[i]);
    } else {
      for (int64_t i = 0; i < len; ++i) acc[i] = Op::Comb(acc[i], Op::Pre(ToAcc<A>(row[i]), A(0)));
    }
  }
}

// Runs reduction Op over x per the plan, writing Fin(...) converted to O into out[out_count].
template <typename Op, typename T, typename O>
void Drive(const T* x, const Plan& p, const typename Op::Acc* shift, O* out, KernelContext& ctx) {
  using A = typename Op::Acc;
  auto sh = [shift](int64_t j) -> A {
    if constexpr (Op::kShift) return shift[j];
    else return A(0);
  };
  if (p.out_count == 0) return;
  if (p.red_count == 0) {
    for (int64_t j = 0; j < p.out_count; ++j) out[j] = Convert<O>(Op::Fin(Op::Init(), 0, sh(j)));
    return;
  }
  ThreadPool& pool = ctx.pool();
  const int64_t R = p.red_count;
  if (!p.simple) {
    const int64_t last_d = p.rd[p.nr - 1], last_s = p.rs[p.nr - 1];
    const int64_t rows = R / last_d;
    pool.ParallelFor(p.out_count, std::max<int64_t>(1, kWorkGrain / R), [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) {
        int64_t base = 0, rem = j;
        for (int k = p.nk - 1; k >= 0; --k) {
          base += (rem % p.kd[k]) * p.ks[k];
          rem /= p.kd[k];
        }
        const A s = sh(j);
        A a = Op::Init();
        for (int64_t q = 0; q < rows; ++q) {
          int64_t off = base, rq = q;
          for (int k = p.nr - 2; k >= 0; --k) {
            off += (rq % p.rd[k]) * p.rs[k];
            rq /= p.rd[k];
          }
          const T* px = x + off;
          if (last_s == 1) {
            a = Op::Comb(a, RowPartial<Op>(px, last_d, s));
          } else {
            for (int64_t t = 0; t < last_d; ++t) a = Op::Comb(a, Op::Pre(ToAcc<A>(px[t * last_s]), s));
          }
        }
        out[j] = Convert<O>(Op::Fin(a, R, s));
      }
    });
    return;
  }

  const int64_t outer = p.outer, inner = p.inner;
  const int64_t nblk = (inner + kBlk - 1) / kBlk;
  const int64_t tasks = inner == 1 ? outer : outer * nblk;
  const int threads = pool.num_threads();
  const int64_t total = p.out_count * R;
  // Split the reduced range when there are too few outputs to share out and enough work.
  if (threads > 1 && tasks < 2 * threads && total >= 4 * kWorkGrain && R >= 64 && p.out_count <= 65536) {
    int64_t nchunk = std::min<int64_t>({int64_t{threads} * 2, total / kWorkGrain, R / 16});
    if (nchunk >= 2) {
      A* part = static_cast<A*>(ctx.Scratch(static_cast<size_t>(nchunk * p.out_count) * sizeof(A)));
      const int64_t per = (R + nchunk - 1) / nchunk;
      pool.ParallelFor(nchunk, 1, [&](int64_t b, int64_t e) {
        for (int64_t c = b; c < e; ++c) {
          const int64_t r0 = std::min(R, c * per), r1 = std::min(R, r0 + per);
          A* dst = part + c * p.out_count;
          if (inner == 1) {
            for (int64_t o = 0; o < outer; ++o) dst[o] = RowPartial<Op>(x + o * R + r0, r1 - r0, sh(o));
          } else {
            for (int64_t o = 0; o < outer; ++o)
              for (int64_t i0 = 0; i0 < inner; i0 += kBlk)
                ColPartial<Op>(x + (o * R + r0) * inner + i0, r1 - r0, inner, std::min(kBlk, inner - i0),
                               shift != nullptr ? shift + o * inner + i0 : nullptr, dst + o * inner + i0);
          }
        }
      });
      for (int64_t j = 0; j < p.out_count; ++j) {
        A a = part[j];
        for (int64_t c = 1; c < nchunk; ++c) a = Op::Comb(a, part[c * p.out_count + j]);
        out[j] = Convert<O>(Op::Fin(a, R, sh(j)));
      }
      return;
    }
  }

  if (inner == 1) {
    pool.ParallelFor(outer, std::max<int64_t>(1, kWorkGrain / R), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const A s = sh(o);
        out[o] = Convert<O>(Op::Fin(RowPartial<Op>(x + o * R, R, s), R, s));
      }
    });
    return;
  }
  pool.ParallelFor(tasks, std::max<int64_t>(1, kWorkGrain / (R * std::min(kBlk, inner))), [&](int64_t b, int64_t e) {
    A acc[kBlk];
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / nblk, i0 = (t % nblk) * kBlk;
      const int64_t len = std::min(kBlk, inner - i0);
      const int64_t ob = o * inner + i0;
      ColPartial<Op>(x + o * R * inner + i0, R, inner, len, shift != nullptr ? shift + ob : nullptr, acc);
      O* dst = out + ob;
      if constexpr (Op::kShift) {
        for (int64_t i = 0; i < len; ++i) dst[i] = Convert<O>(Op::Fin(acc[i], R, shift[ob + i]));
      } else {
        for (int64_t i = 0; i < len; ++i) dst[i] = Convert<O>(Op::Fin(acc[i], R, A(0)));
      }
    }
  });
}

template <RK K, typename T>
void RunReduce(const T* x, const Plan& p, T* out, KernelContext& ctx) {
  using A = AccFor<K, T>;
  if constexpr (K == RK::kLogSumExp) {
    A* shift = static_cast<A*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(p.out_count, 1)) * sizeof(A)));
    Drive<MaxOp<A>, T, A>(x, p, nullptr, shift, ctx);
    for (int64_t j = 0; j < p.out_count; ++j)
      if (!std::isfinite(shift[j])) shift[j] = A(0);
    Drive<LseOp<A>, T, T>(x, p, shift, out, ctx);
  } else {
    Drive<typename OpFor<K, A>::type, T, T>(x, p, nullptr, out, ctx);
  }
}

const char* ReduceName(RK k) {
  switch (k) {
    case RK::kSum: return "ReduceSum";
    case RK::kMean: return "ReduceMean";
    case RK::kMax: return "ReduceMax";
    case RK::kMin: return "ReduceMin";
    case RK::kProd: return "ReduceProd";
    case RK::kL1: return "ReduceL1";
    case RK::kL2: return "ReduceL2";
    case RK::kLogSum: return "ReduceLogSum";
    case RK::kLogSumExp: return "ReduceLogSumExp";
    case RK::kSumSquare: return "ReduceSumSquare";
  }
  return "Reduce";
}

template <RK K>
class ReduceKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    keepdims_ = n.GetInt("keepdims", 1) != 0;
    noop_ = n.GetInt("noop_with_empty_axes", 0) != 0;
    const int axes_input_since = K == RK::kSum ? 13 : 18;
    if (n.opset() < axes_input_since) {
      axes_ = n.GetInts("axes");
      axes_known_ = true;
    } else if (n.has_input(1)) {
      if (const Tensor* t = n.constant_input(1)) {
        if (t->rank() > 1) return n.Error("input 'axes' must be 1-D, got shape " + t->shape().ToString());
        Status st = ReadInt64s(*t, &axes_);
        if (!st.ok()) return n.Error("input 'axes': " + st.message());
        axes_known_ = true;
      } else {
        axes_known_ = false;
      }
    } else {
      axes_known_ = true;
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input 'data' is missing or not a tensor");
    const int rank = x->rank();
    if (rank > kMaxRank) return ctx.Error("input rank " + std::to_string(rank) + " exceeds " + std::to_string(kMaxRank));
    bool mask[kMaxRank] = {};
    int64_t nax = 0;
    const int64_t* ax64 = nullptr;
    const int32_t* ax32 = nullptr;
    if (axes_known_) {
      nax = static_cast<int64_t>(axes_.size());
      ax64 = axes_.data();
    } else if (const Tensor* t = ctx.input(1)) {
      if (t->rank() > 1) return ctx.Error("input 'axes' must be 1-D, got shape " + t->shape().ToString());
      nax = t->num_elements();
      if (t->dtype() == DataType::kInt64) ax64 = t->data<int64_t>();
      else if (t->dtype() == DataType::kInt32) ax32 = t->data<int32_t>();
      else return ctx.Error(std::string("input 'axes' must be int64, got ") + DataTypeName(t->dtype()));
    }
    if (nax == 0) {
      if (!noop_)
        for (int i = 0; i < rank; ++i) mask[i] = true;
    } else {
      for (int64_t i = 0; i < nax; ++i) {
        const int64_t a0 = ax64 != nullptr ? ax64[i] : ax32[i];
        const int64_t a = a0 < 0 ? a0 + rank : a0;
        if (rank == 0 && (a0 == 0 || a0 == -1)) continue;
        if (a < 0 || a >= rank)
          return ctx.Error("axes[" + std::to_string(i) + "] = " + std::to_string(a0) + " is out of range for input rank " +
                           std::to_string(rank));
        mask[a] = true;
      }
    }
    Shape out_shape;
    for (int i = 0; i < rank; ++i) {
      if (!mask[i]) out_shape.PushBack(x->dim(i));
      else if (keepdims_) out_shape.PushBack(1);
    }
    Plan plan;
    MakePlan(x->shape(), mask, &plan);
    const DataType dt = x->dtype();
    if (dt == DataType::kBool && K != RK::kMax && K != RK::kMin)
      return ctx.Error(std::string(ReduceName(K)) + " does not accept bool input");
    Tensor* y = ctx.Output(0, dt, out_shape);
    bool ok = DispatchNumericOrBool(dt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (std::is_same_v<T, bool> && K != RK::kMax && K != RK::kMin) {
        return;
      } else {
        RunReduce<K, T>(x->data<T>(), plan, y->data<T>(), ctx);
      }
    });
    if (!ok) return ctx.Error(std::string("unsupported input type ") + DataTypeName(dt));
    return Status::Ok();
  }

 private:
  bool keepdims_ = true;
  bool noop_ = false;
  bool axes_known_ = true;
  std::vector<int64_t> axes_;
};

// ---- ArgMax / ArgMin ----

template <bool kMax, bool kLast, typename C>
inline bool Better(C v, C best) {
  if constexpr (kMax) return kLast ? v >= best : v > best;
  else return kLast ? v <= best : v < best;
}

template <bool kMax, bool kLast, typename T>
void ArgLoop(const T* x, int64_t outer, int64_t R, int64_t inner, int64_t* out, ThreadPool& pool) {
  using C = ComputeType<T>;
  if (inner == 1) {
    pool.ParallelFor(outer, std::max<int64_t>(1, kWorkGrain / R), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* row = x + o * R;
        C best = static_cast<C>(row[0]);
        int64_t idx = 0;
        for (int64_t r = 1; r < R; ++r) {
          const C v = static_cast<C>(row[r]);
          if (Better<kMax, kLast>(v, best)) {
            best = v;
            idx = r;
          }
        }
        out[o] = idx;
      }
    });
    return;
  }
  const int64_t nblk = (inner + kBlk - 1) / kBlk;
  pool.ParallelFor(outer * nblk, std::max<int64_t>(1, kWorkGrain / (R * std::min(kBlk, inner))),
                   [&](int64_t b, int64_t e) {
                     C best[kBlk];
                     for (int64_t t = b; t < e; ++t) {
                       const int64_t o = t / nblk, i0 = (t % nblk) * kBlk;
                       const int64_t len = std::min(kBlk, inner - i0);
                       const T* base = x + o * R * inner + i0;
                       int64_t* idx = out + o * inner + i0;
                       for (int64_t i = 0; i < len; ++i) {
                         best[i] = static_cast<C>(base[i]);
                         idx[i] = 0;
                       }
                       for (int64_t r = 1; r < R; ++r) {
                         const T* row = base + r * inner;
                         for (int64_t i = 0; i < len; ++i) {
                           const C v = static_cast<C>(row[i]);
                           const bool better = Better<kMax, kLast>(v, best[i]);
                           best[i] = better ? v : best[i];
                           idx[i] = better ? r : idx[i];
                         }
                       }
                     }
                   });
}

template <bool kMax>
class ArgKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    axis_ = n.GetInt("axis", 0);
    keepdims_ = n.GetInt("keepdims", 1) != 0;
    last_ = n.GetInt("select_last_index", 0) != 0;
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input 'data' is missing or not a tensor");
    const int rank = x->rank();
    if (rank == 0) return ctx.Error("input 'data' must have rank >= 1");
    auto ax = NormalizeAxis(axis_, rank);
    if (!ax.ok()) return ctx.Error(ax.status().message());
    const int axis = *ax;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= x->dim(i);
    for (int i = axis + 1; i < rank; ++i) inner *= x->dim(i);
    const int64_t R = x->dim(axis);
    Shape out_shape;
    for (int i = 0; i < rank; ++i) {
      if (i != axis) out_shape.PushBack(x->dim(i));
      else if (keepdims_) out_shape.PushBack(1);
    }
    const DataType dt = x->dtype();
    if (!IsFloatingPoint(dt) && dt != DataType::kInt8 && dt != DataType::kInt16 && dt != DataType::kInt32 &&
        dt != DataType::kInt64 && dt != DataType::kUInt8 && dt != DataType::kUInt16 && dt != DataType::kUInt32 &&
        dt != DataType::kUInt64)
      return ctx.Error(std::string("unsupported input type ") + DataTypeName(dt));
    if (outer * inner != 0 && R == 0)
      return ctx.Error("cannot take the arg" + std::string(kMax ? "max" : "min") + " over axis " + std::to_string(axis) +
                       " of size 0 (input shape " + x->shape().ToString() + ")");
    Tensor* y = ctx.Output(0, DataType::kInt64, out_shape);
    if (outer * inner == 0) return Status::Ok();
    DispatchNumeric(dt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (last_) ArgLoop<kMax, true>(x->data<T>(), outer, R, inner, y->data<int64_t>(), ctx.pool());
      else ArgLoop<kMax, false>(x->data<T>(), outer, R, inner, y->data<int64_t>(), ctx.pool());
    });
    return Status::Ok();
  }

 private:
  int64_t axis_ = 0;
  bool keepdims_ = true;
  bool last_ = false;
};

}  // namespace

void RegisterReductionOps(OpRegistry& r) {
  r.Add("", "ReduceSum", Factory<ReduceKernel<RK::kSum>>());
  r.Add("", "ReduceMean", Factory<ReduceKernel<RK::kMean>>());
  r.Add("", "ReduceMax", Factory<ReduceKernel<RK::kMax>>());
  r.Add("", "ReduceMin", Factory<ReduceKernel<RK::kMin>>());
  r.Add("", "ReduceProd", Factory<ReduceKernel<RK::kProd>>());
  r.Add("", "ReduceL1", Factory<ReduceKernel<RK::kL1>>());
  r.Add("", "ReduceL2", Factory<ReduceKernel<RK::kL2>>());
  r.Add("", "ReduceLogSum", Factory<ReduceKernel<RK::kLogSum>>());
  r.Add("", "ReduceLogSumExp", Factory<ReduceKernel<RK::kLogSumExp>>());
  r.Add("", "ReduceSumSquare", Factory<ReduceKernel<RK::kSumSquare>>());
  r.Add("", "ArgMax", Factory<ArgKernel<true>>());
  r.Add("", "ArgMin", Factory<ArgKernel<false>>());
}

}  // namespace onnxd::engine
