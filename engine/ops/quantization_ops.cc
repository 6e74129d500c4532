// Quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearMatMul,
// MatMulInteger. (QLinearConv / ConvInteger live with the convolutions.)
//
// QuantizeLinear / DequantizeLinear view x as [outer, D, inner] around `axis`; the scale (and zero
// point) is per tensor, per axis (1-D of D) or blocked (x's shape with D replaced by
// ceil(D / block_size)). Scales and zero points are first widened into float / int32 scratch so
// the element loops see one representation.
//
// The integer matmuls are exact on BLAS: (a - a_zero) and (b - b_zero) are small integers, so a
// float GEMM is exact while every partial sum stays below 2^24; K is cut into chunks short enough
// for that (from the operands' bounds) and the chunk results are summed in int32. Constant B
// (the weights) is widened once at compile time.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "ops/op_kernel.h"
#include "ops/op_util.h"

#pragma GCC optimize("O3", "no-trapping-math")  // lets GCC if-convert float clamps; no FP-exception semantics are relied on

namespace onnxd::engine {
namespace {

constexpr int64_t kGrain = 16384;

template <typename T>
constexpr bool kIsHalf = std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;

// Names of ONNX element types the engine's DataType does not hold.
const char* ExoticTypeName(int64_t t) {
  switch (t) {
    case 17: return "float8e4m3fn";
    case 18: return "float8e4m3fnuz";
    case 19: return "float8e5m2";
    case 20: return "float8e5m2fnuz";
    case 21: return "uint4";
    case 22: return "int4";
    case 23: return "float4e2m1";
    case 24: return "float8e8m0";
    case 25: return "uint2";
    case 26: return "int2";
    default: return nullptr;
  }
}

std::string TypeLabel(int64_t t) {
  if (const char* n = ExoticTypeName(t)) return n;
  if (IsSupportedDataType(static_cast<int32_t>(t))) return DataTypeName(static_cast<DataType>(t));
  return "type " + std::to_string(t);
}

bool IsQuantType(DataType t) {
  return t == DataType::kUInt8 || t == DataType::kInt8 || t == DataType::kUInt16 || t == DataType::kInt16 ||
         IsNarrowInt(t) || IsFloat8(t) || t == DataType::kFloat4E2M1;
}

// Narrow integers are stored as int8 (int4, int2) or uint8 (uint4, uint2) values (types.h).
bool IsSignedNarrowInt(DataType t) { return t == DataType::kInt4 || t == DataType::kInt2; }

// Widens a float-like tensor (float, float16, bfloat16, double, int32) into float.
bool LoadFloats(const Tensor& t, float* dst) {
  const int64_t n = t.num_elements();
  switch (t.dtype()) {
    case DataType::kFloat: std::memcpy(dst, t.data<float>(), static_cast<size_t>(n) * 4); return true;
    case DataType::kDouble:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(t.data<double>()[i]);
      return true;
    case DataType::kFloat16:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(t.data<Float16>()[i]);
      return true;
    case DataType::kBFloat16:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(t.data<BFloat16>()[i]);
      return true;
    case DataType::kInt32:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(t.data<int32_t>()[i]);
      return true;
    default:
      if (!IsNarrowFloat(t.dtype())) return false;
      for (int64_t i = 0; i < n; ++i) dst[i] = NarrowFloatToFloat(t.dtype(), t.data<uint8_t>()[i]);
      return true;
  }
}

// Widens an 8/16/32-bit integer tensor into int32. Narrow integers give their values, narrow
// floats their bit patterns (float zero points are decoded where they are used).
bool LoadInts(const Tensor& t, int32_t* dst) {
  const int64_t n = t.num_elements();
  if (IsNarrowInt(t.dtype()) || IsNarrowFloat(t.dtype())) {
    const bool sign = IsSignedNarrowInt(t.dtype());
    for (int64_t i = 0; i < n; ++i)
      dst[i] = sign ? int32_t{t.data<int8_t>()[i]} : int32_t{t.data<uint8_t>()[i]};
    return true;
  }
  bool ok = DispatchInteger(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<int32_t>(t.data<T>()[i]);
  });
  return ok && ElementSize(t.dtype()) <= 4;
}

template <typename Q>
struct QRange {
  static constexpr int32_t lo = std::numeric_limits<Q>::min();
  static constexpr int32_t hi = std::numeric_limits<Q>::max();
};

template <typename Q, typename F>
inline Q QuantOne(F v, int32_t z, int32_t lo = QRange<Q>::lo, int32_t hi = QRange<Q>::hi) {
  // Round half to even: for |v| <= 2^21, adding and removing 1.5 * 2^mantissa_bits leaves the
  // nearest integer (round-to-nearest-even mode; no fast-math).
  constexpr F kLim = F(1 << 21);
  v = !(v >= -kLim) ? -kLim : v;  // NaN goes low
  v = v > kLim ? kLim : v;
  int32_t r = static_cast<int32_t>((v + F(std::is_same_v<F, float> ? 12582912.0 : 6755399441055744.0)) -
                                   F(std::is_same_v<F, float> ? 12582912.0 : 6755399441055744.0)) +
              z;
  r = r < lo ? lo : r;
  r = r > hi ? hi : r;
  return static_cast<Q>(r);
}

template <typename F, typename X>
inline F Widen(X x) {
  if constexpr (kIsHalf<X>) return static_cast<F>(static_cast<float>(x));
  else return static_cast<F>(x);
}

template <typename Y>
inline Y Narrow(float v) {
  if constexpr (kIsHalf<Y>) return Y(v);
  else return static_cast<Y>(v);
}

// [outer, D, inner] view of x with the scale layout.
struct QLayout {
  int64_t outer = 1, D = 1, inner = 1;
  int mode = 0;  // 0 per tensor, 1 per axis, 2 blocked
  int64_t Ds = 1, bs = 1;
  int64_t n = 0;
};

Status ResolveLayout(const KernelContext& ctx, const Tensor& x, const Tensor& scale, const Tensor* zp, int64_t axis_attr,
                     int64_t block_size, QLayout* L) {
  L->n = x.num_elements();
  const Shape& ss = scale.shape();
  // A per-tensor zero point may be [1] beside a scalar scale (and vice versa).
  const bool both_single = zp != nullptr && zp->num_elements() == 1 && scale.num_elements() == 1 &&
                           zp->rank() <= 1 && ss.rank() <= 1;
  if (zp != nullptr && zp->shape() != ss && !both_single)
    return ctx.Error("zero point shape " + zp->shape().ToString() + " differs from scale shape " + ss.ToString());
  if (block_size <= 0 && scale.num_elements() == 1 && ss.rank() <= 1) {
    L->mode = 0;
    return Status::Ok();
  }
  const int rank = x.rank();
  if (rank == 0) return ctx.Error("scale must be a scalar for a scalar input, got shape " + ss.ToString());
  auto ax = NormalizeAxis(axis_attr, rank);
  if (!ax.ok()) return ctx.Error(ax.status().message());
  const int axis = *ax;
  for (int i = 0; i < axis; ++i) L->outer *= x.dim(i);
  for (int i = axis + 1; i < rank; ++i) L->inner *= x.dim(i);
  L->D = x.dim(axis);
  if (block_size <= 0) {
    if (ss.rank() != 1 || ss[0] != L->D)
      return ctx.Error("per-axis scale must be 1-D of size " + std::to_string(L->D) + " (input dim " +
                       std::to_string(axis) + "), got shape " + ss.ToString());
    L->mode = 1;
    return Status::Ok();
  }
  if (ss.rank() != rank)
    return ctx.Error("blocked scale must have the input's rank " + std::to_string(rank) + ", got shape " + ss.ToString());
  for (int i = 0; i < rank; ++i) {
    const int64_t want = i == axis ? (L->D + block_size - 1) / block_size : x.dim(i);
    if (ss[i] != want && !(i == axis && L->D == 0))
      return ctx.Error("blocked scale dim " + std::to_string(i) + " is " + std::to_string(ss[i]) + ", expected " +
                       std::to_string(want) + " (input shape " + x.shape().ToString() + ", block_size " +
                       std::to_string(block_size) + ")");
  }
  L->mode = 2;
  L->Ds = ss[axis];
  L->bs = block_size;
  return Status::Ok();
}

// Calls fn(begin, end, scale_ptr, zp_ptr, scale_step) over runs of elements: within a run the
// scale/zero point are sc[k * step] for element k (step 0 = constant).
template <typename Fn>
void ForEachRun(const QLayout& L, const float* sc, const int32_t* zp, ThreadPool& pool, Fn&& fn) {
  static const int32_t kZero = 0;
  if (L.mode == 0) {
    pool.ParallelFor(L.n, kGrain, [&](int64_t b, int64_t e) { fn(b, e, sc, zp != nullptr ? zp : &kZero, 0, zp != nullptr); });
    return;
  }
  const int64_t rows = L.outer * L.D;
  pool.ParallelFor(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(L.inner, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t o = r / L.D, d = r % L.D;
      const int64_t begin = r * L.inner;
      if (L.mode == 1) {
        fn(begin, begin + L.inner, sc + d, zp != nullptr ? zp + d : &kZero, 0, zp != nullptr);
      } else {
        const int64_t off = (o * L.Ds + d / L.bs) * L.inner;
        fn(begin, begin + L.inner, sc + off, zp != nullptr ? zp + off : &kZero, 1, zp != nullptr);
      }
    }
  });
}

// ---- QuantizeLinear ----

class QuantizeLinearKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    axis_ = n.GetInt("axis", 1);
    block_size_ = n.GetInt("block_size", 0);
    if (block_size_ < 0) return n.Error("block_size must be >= 0, got " + std::to_string(block_size_));
    output_dtype_ = n.GetInt("output_dtype", 0);
    if (output_dtype_ != 0 && !IsQuantType(static_cast<DataType>(output_dtype_)))
      return n.Unsupported("QuantizeLinear to " + TypeLabel(output_dtype_) +
                           " is not supported (onnxd supports [u]int16, [u]int8, [u]int4, [u]int2, float8, float4e2m1)");
    saturate_ = n.GetInt("saturate", 1) != 0;
    const int64_t precision = n.GetInt("precision", 0);
    if (precision != 0 && precision != static_cast<int64_t>(DataType::kFloat) &&
        precision != static_cast<int64_t>(DataType::kFloat16) && precision != static_cast<int64_t>(DataType::kBFloat16) &&
        precision != static_cast<int64_t>(DataType::kDouble))
      return n.Unsupported("precision " + TypeLabel(precision) + " is not supported");
    double_ = precision == static_cast<int64_t>(DataType::kDouble);
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* scale = ctx.input(1);
    const Tensor* zp = ctx.input(2);
    if (x == nullptr || scale == nullptr) return ctx.Error("inputs 'x' and 'y_scale' are required");
    DataType qt = DataType::kUInt8;
    if (output_dtype_ != 0) qt = static_cast<DataType>(output_dtype_);
    if (zp != nullptr) {
      if (output_dtype_ != 0 && zp->dtype() != qt)
        return ctx.Error(std::string("zero point type ") + DataTypeName(zp->dtype()) + " differs from output_dtype " +
                         DataTypeName(qt));
      qt = zp->dtype();
      if (!IsQuantType(qt))
        return Status(StatusCode::kUnimplemented, "node '" + ctx.node_name() + "' (QuantizeLinear): quantizing to " +
                                                      std::string(DataTypeName(qt)) + " is not supported");
    }
    QLayout L;
    RETURN_IF_ERROR(ResolveLayout(ctx, *x, *scale, zp, axis_, block_size_, &L));
    float* sc = static_cast<float*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(scale->num_elements(), 1)) * 4));
    if (!LoadFloats(*scale, sc))
      return ctx.Error(std::string("unsupported scale type ") + DataTypeName(scale->dtype()));
    int32_t* zi = nullptr;
    if (zp != nullptr) {
      zi = static_cast<int32_t*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(zp->num_elements(), 1)) * 4));
      LoadInts(*zp, zi);
    }
    Tensor* y = ctx.Output(0, qt, x->shape());
    if (IsNarrowFloat(qt)) return QuantizeToFloat(ctx, *x, L, sc, zi, qt, y);
    bool ok = true;
    const int32_t lo = IsNarrowInt(qt) ? NarrowIntMin(qt) : 0, hi = IsNarrowInt(qt) ? NarrowIntMax(qt) : 0;
    auto run = [&](auto qtag) {
      using Q = typename decltype(qtag)::type;
      const int32_t qlo = IsNarrowInt(qt) ? lo : QRange<Q>::lo, qhi = IsNarrowInt(qt) ? hi : QRange<Q>::hi;
      Q* out = y->data<Q>();
      auto with_x = [&](auto xtag) {
        using X = typename decltype(xtag)::type;
        const X* in = x->data<X>();
        auto body = [&](auto ftag) {
          using F = typename decltype(ftag)::type;
          ForEachRun(L, sc, zi, ctx.pool(),
                     [&](int64_t b, int64_t e, const float* s, const int32_t* z, int64_t step, bool has_z) {
                       if (step == 0) {
                         const F sv = static_cast<F>(s[0]);
                         const int32_t zv = z[0];
                         for (int64_t i = b; i < e; ++i) out[i] = QuantOne<Q, F>(Widen<F>(in[i]) / sv, zv, qlo, qhi);
                       } else {
                         for (int64_t i = b; i < e; ++i)
                           out[i] = QuantOne<Q, F>(Widen<F>(in[i]) / static_cast<F>(s[i - b]), has_z ? z[i - b] : 0,
                                                   qlo, qhi);
                       }
                     });
        };
        if (double_ || std::is_same_v<X, int32_t> || std::is_same_v<X, double>) body(TypeTag<double>{});
        else body(TypeTag<float>{});
      };
      switch (x->dtype()) {
        case DataType::kFloat: with_x(TypeTag<float>{}); break;
        case DataType::kFloat16: with_x(TypeTag<Float16>{}); break;
        case DataType::kBFloat16: with_x(TypeTag<BFloat16>{}); break;
        case DataType::kDouble: with_x(TypeTag<double>{}); break;
        case DataType::kInt32: with_x(TypeTag<int32_t>{}); break;
        default: ok = false;
      }
    };
    switch (qt) {
      case DataType::kUInt8: run(TypeTag<uint8_t>{}); break;
      case DataType::kInt8: run(TypeTag<int8_t>{}); break;
      case DataType::kUInt16: run(TypeTag<uint16_t>{}); break;
      case DataType::kInt16: run(TypeTag<int16_t>{}); break;
      case DataType::kInt4:
      case DataType::kInt2: run(TypeTag<int8_t>{}); break;
      case DataType::kUInt4:
      case DataType::kUInt2: run(TypeTag<uint8_t>{}); break;
      default: ok = false;
    }
    if (!ok) return ctx.Error(std::string("unsupported input type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  // float8 / float4e2m1 outputs: x / scale, rounded to x's precision as the reference computes it
  // in x's type, then encoded (float8 with `saturate`; float4e2m1 adds its zero point first and
  // always saturates; a float8 zero point must be zero and is not applied).
  Status QuantizeToFloat(KernelContext& ctx, const Tensor& x, const QLayout& L, const float* sc, const int32_t* zi,
                         DataType qt, Tensor* y) const {
    uint8_t* out = y->data<uint8_t>();
    const bool add_zero = qt == DataType::kFloat4E2M1;
    const bool sat = saturate_;
    auto with_x = [&](auto xtag) {
      using X = typename decltype(xtag)::type;
      const X* in = x.data<X>();
      ForEachRun(L, sc, zi, ctx.pool(),
                 [&](int64_t b, int64_t e, const float* s, const int32_t* z, int64_t step, bool has_z) {
                   for (int64_t i = b; i < e; ++i) {
                     const int64_t k = step == 0 ? 0 : i - b;
                     float v = static_cast<float>(Narrow<X>(Widen<float>(in[i]) / s[k]));
                     if (add_zero && has_z) v = static_cast<float>(Narrow<X>(v + NarrowFloatToFloat(qt, static_cast<uint8_t>(z[k]))));
                     out[i] = FloatToNarrowFloat(qt, v, sat);
                   }
                 });
    };
    switch (x.dtype()) {
      case DataType::kFloat: with_x(TypeTag<float>{}); break;
      case DataType::kFloat16: with_x(TypeTag<Float16>{}); break;
      case DataType::kBFloat16: with_x(TypeTag<BFloat16>{}); break;
      default: return ctx.Error(std::string("unsupported input type ") + DataTypeName(x.dtype()) + " for " + DataTypeName(qt));
    }
    return Status::Ok();
  }

  int64_t axis_ = 1;
  int64_t block_size_ = 0;
  int64_t output_dtype_ = 0;
  bool double_ = false;
  bool saturate_ = true;
};

// ---- DequantizeLinear ----

class DequantizeLinearKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    axis_ = n.GetInt("axis", 1);
    block_size_ = n.GetInt("block_size", 0);
    if (block_size_ < 0) return n.Error("block_size must be >= 0, got " + std::to_string(block_size_));
    output_dtype_ = n.GetInt("output_dtype", 0);
    if (output_dtype_ != 0 && !IsFloatingPoint(static_cast<DataType>(output_dtype_)))
      return n.Unsupported("DequantizeLinear to " + TypeLabel(output_dtype_) + " is not supported");
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* scale = ctx.input(1);
    const Tensor* zp = ctx.input(2);
    if (x == nullptr || scale == nullptr) return ctx.Error("inputs 'x' and 'x_scale' are required");
    const DataType xt = x->dtype();
    if (!IsQuantType(xt) && xt != DataType::kInt32)
      return Status(StatusCode::kUnimplemented, "node '" + ctx.node_name() + "' (DequantizeLinear): input type " +
                                                    std::string(DataTypeName(xt)) + " is not supported");
    // float8 / float4e2m1 inputs take no zero point (the reference ignores it).
    if (IsNarrowFloat(xt)) zp = nullptr;
    if (zp != nullptr && zp->dtype() != xt)
      return ctx.Error(std::string("zero point type ") + DataTypeName(zp->dtype()) + " differs from input type " +
                       DataTypeName(xt));
    DataType yt = output_dtype_ != 0 ? static_cast<DataType>(output_dtype_) : scale->dtype();
    if (!IsFloatingPoint(yt) || yt == DataType::kDouble) {
      if (scale->dtype() == DataType::kDouble) yt = DataType::kDouble;
      else if (!IsFloatingPoint(yt)) return ctx.Error(std::string("unsupported scale type ") + DataTypeName(scale->dtype()));
    }
    QLayout L;
    RETURN_IF_ERROR(ResolveLayout(ctx, *x, *scale, zp, axis_, block_size_, &L));
    float* sc = static_cast<float*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(scale->num_elements(), 1)) * 4));
    if (!LoadFloats(*scale, sc))
      return ctx.Error(std::string("unsupported scale type ") + DataTypeName(scale->dtype()));
    int32_t* zi = nullptr;
    if (zp != nullptr) {
      zi = static_cast<int32_t*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(zp->num_elements(), 1)) * 4));
      LoadInts(*zp, zi);
    }
    Tensor* y = ctx.Output(0, yt, x->shape());
    if (IsNarrowFloat(xt)) {
      DispatchFloat(yt, [&](auto ytag) {
        using Y = typename decltype(ytag)::type;
        Y* out = y->data<Y>();
        const uint8_t* in = x->data<uint8_t>();
        ForEachRun(L, sc, nullptr, ctx.pool(), [&](int64_t b, int64_t e, const float* s, const int32_t*, int64_t step, bool) {
          for (int64_t i = b; i < e; ++i) out[i] = Narrow<Y>(NarrowFloatToFloat(xt, in[i]) * s[step == 0 ? 0 : i - b]);
        });
      });
      return Status::Ok();
    }
    // Narrow integers hold their values in int8 / uint8 (types.h).
    const DataType xv = IsNarrowInt(xt) ? (IsSignedNarrowInt(xt) ? DataType::kInt8 : DataType::kUInt8) : xt;
    DispatchInteger(xv, [&](auto xtag) {
      using X = typename decltype(xtag)::type;
      if constexpr (sizeof(X) <= 4) {
        const X* in = x->data<X>();
        DispatchFloat(yt, [&](auto ytag) {
          using Y = typename decltype(ytag)::type;
          Y* out = y->data<Y>();
          ForEachRun(L, sc, zi, ctx.pool(),
                     [&](int64_t b, int64_t e, const float* s, const int32_t* z, int64_t step, bool has_z) {
                       if (step == 0) {
                         const float sv = s[0];
                         const int32_t zv = z[0];
                         if constexpr (sizeof(X) < 4) {
                           for (int64_t i = b; i < e; ++i)
                             out[i] = Narrow<Y>(static_cast<float>(static_cast<int32_t>(in[i]) - zv) * sv);
                         } else {
                           for (int64_t i = b; i < e; ++i)
                             out[i] = Narrow<Y>(static_cast<float>(static_cast<int64_t>(in[i]) - zv) * sv);
                         }
                       } else {
                         for (int64_t i = b; i < e; ++i) {
                           const int64_t zv = has_z ? z[i - b] : 0;
                           out[i] = Narrow<Y>(static_cast<float>(static_cast<int64_t>(in[i]) - zv) * s[i - b]);
                         }
                       }
                     });
        });
      }
    });
    return Status::Ok();
  }

 private:
  int64_t axis_ = 1;
  int64_t block_size_ = 0;
  int64_t output_dtype_ = 0;
};

// ---- DynamicQuantizeLinear ----

class DynamicQuantizeLinearKernel : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input 'x' is required");
    if (x->dtype() != DataType::kFloat)
      return ctx.Error(std::string("input 'x' must be float, got ") + DataTypeName(x->dtype()));
    const float* in = x->data<float>();
    const int64_t n = x->num_elements();
    ThreadPool& pool = ctx.pool();
    const int64_t nchunk = std::max<int64_t>(1, std::min<int64_t>(n / kGrain, int64_t{pool.num_threads()} * 4));
    float* part = static_cast<float*>(ctx.Scratch(static_cast<size_t>(nchunk) * 2 * sizeof(float)));
    const int64_t per = (n + nchunk - 1) / nchunk;
    pool.ParallelFor(nchunk, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        const int64_t i0 = std::min(n, c * per), i1 = std::min(n, i0 + per);
        float mn[8], mx[8];
        for (int j = 0; j < 8; ++j) mn[j] = mx[j] = 0.0f;  // the range always includes 0
        int64_t i = i0;
        for (; i + 8 <= i1; i += 8)
          for (int j = 0; j < 8; ++j) {
            const float v = in[i + j];
            mn[j] = v < mn[j] ? v : mn[j];
            mx[j] = v > mx[j] ? v : mx[j];
          }
        for (; i < i1; ++i) {
          mn[0] = in[i] < mn[0] ? in[i] : mn[0];
          mx[0] = in[i] > mx[0] ? in[i] : mx[0];
        }
        float a = 0, z = 0;
        for (int j = 0; j < 8; ++j) {
          a = std::min(a, mn[j]);
          z = std::max(z, mx[j]);
        }
        part[2 * c] = a;
        part[2 * c + 1] = z;
      }
    });
    float minx = 0, maxx = 0;
    for (int64_t c = 0; c < nchunk; ++c) {
      minx = std::min(minx, part[2 * c]);
      maxx = std::max(maxx, part[2 * c + 1]);
    }
    // An empty input gets scale 1 and zero point 0 (what onnxruntime reports).
    const float scale = n == 0 ? 1.0f : (maxx == minx ? 1.0f : (maxx - minx)) / 255.0f;
    float zpf = 0.0f - minx / scale;
    zpf = std::max(0.0f, std::min(255.0f, zpf));
    const int32_t zp = static_cast<int32_t>(std::nearbyint(zpf));
    Tensor* y = ctx.Output(0, DataType::kUInt8, x->shape());
    Tensor* ys = ctx.Output(1, DataType::kFloat, Shape{});
    Tensor* yz = ctx.Output(2, DataType::kUInt8, Shape{});
    ys->data<float>()[0] = scale;
    yz->data<uint8_t>()[0] = static_cast<uint8_t>(zp);
    uint8_t* out = y->data<uint8_t>();
    pool.ParallelFor(n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[i] = QuantOne<uint8_t, float>(in[i] / scale, zp);
    });
    return Status::Ok();
  }
};

// ---- integer matmul core ----

struct MatMulDims {
  int64_t M = 0, K = 0, N = 0, batch = 1;
  Shape out_shape;
  int nb = 0;
  int64_t bdim[Shape::kInline * 2] = {};
  int64_t astride[Shape::kInline * 2] = {};  // in matrices, 0 where broadcast
  int64_t bstride[Shape::kInline * 2] = {};
  int64_t a_mats = 1, b_mats = 1;
};

Status MatMulShapes(const KernelContext& ctx, const Shape& a, const Shape& b, MatMulDims* d) {
  if (a.rank() < 1 || b.rank() < 1) return ctx.Error("matmul inputs must have rank >= 1");
  const int ar = a.rank(), br = b.rank();
  d->K = a[ar - 1];
  d->M = ar >= 2 ? a[ar - 2] : 1;
  const int64_t kb = br >= 2 ? b[br - 2] : b[0];
  d->N = br >= 2 ? b[br - 1] : 1;
  if (kb != d->K)
    return ctx.Error("inner dims differ: A " + a.ToString() + " has K=" + std::to_string(d->K) + ", B " + b.ToString() +
                     " has K=" + std::to_string(kb));
  const int abr = std::max(ar - 2, 0), bbr = std::max(br - 2, 0);
  const int nb = std::max(abr, bbr);
  if (nb > Shape::kInline * 2) return ctx.Error("too many batch dims");
  d->nb = nb;
  int64_t as = 1, bs = 1;
  for (int i = nb - 1; i >= 0; --i) {
    const int ia = i - (nb - abr), ib = i - (nb - bbr);
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return ctx.Error("batch dims of A " + a.ToString() + " and B " + b.ToString() + " cannot be broadcast");
    d->bdim[i] = da == 1 ? db : da;
    d->astride[i] = da == 1 ? 0 : as;
    d->bstride[i] = db == 1 ? 0 : bs;
    as *= da;
    bs *= db;
  }
  d->a_mats = as;
  d->b_mats = bs;
  d->batch = 1;
  d->out_shape.Clear();
  for (int i = 0; i < nb; ++i) {
    d->batch *= d->bdim[i];
    d->out_shape.PushBack(d->bdim[i]);
  }
  if (ar >= 2) d->out_shape.PushBack(d->M);
  if (br >= 2) d->out_shape.PushBack(d->N);
  return Status::Ok();
}

inline void BatchOffsets(const MatMulDims& d, int64_t bi, int64_t* ai, int64_t* bj) {
  int64_t a = 0, b = 0, rem = bi;
  for (int i = d.nb - 1; i >= 0; --i) {
    const int64_t idx = rem % d.bdim[i];
    rem /= d.bdim[i];
    a += idx * d.astride[i];
    b += idx * d.bstride[i];
  }
  *ai = a;
  *bj = b;
}

// Zero point of an 8-bit operand: scalar, or `count` values (per row of A / per column of B).
Status LoadZeroPoint(const KernelContext& ctx, const Tensor* zp, DataType want, int64_t count, const char* what,
                     int32_t* dst, bool* per) {
  *per = false;
  dst[0] = 0;
  if (zp == nullptr) return Status::Ok();
  if (zp->dtype() != want)
    return ctx.Error(std::string(what) + " type " + DataTypeName(zp->dtype()) + " differs from its input's type " +
                     DataTypeName(want));
  if (zp->num_elements() == 1) {
    LoadInts(*zp, dst);
    return Status::Ok();
  }
  if (zp->num_elements() != count)
    return ctx.Error(std::string(what) + " must be a scalar or have " + std::to_string(count) + " elements, got shape " +
                     zp->shape().ToString());
  LoadInts(*zp, dst);
  *per = true;
  return Status::Ok();
}

// Widens q - zero (zero per row when per_row, per column when per_col) into F; rows x cols per matrix.
template <typename F, typename Q>
void Widen8(const Q* q, int64_t mats, int64_t rows, int64_t cols, const int32_t* z, bool per_row, bool per_col, F* dst,
            ThreadPool& pool) {
  pool.ParallelFor(mats * rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(cols, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const Q* src = q + r * cols;
      F* out = dst + r * cols;
      if (per_col) {
        for (int64_t c = 0; c < cols; ++c) out[c] = static_cast<F>(static_cast<int32_t>(src[c]) - z[c]);
      } else {
        const int32_t zv = per_row ? z[r % rows] : z[0];
        for (int64_t c = 0; c < cols; ++c) out[c] = static_cast<F>(static_cast<int32_t>(src[c]) - zv);
      }
    }
  });
}

template <typename Q>
int32_t MaxAbsDiff(const Q* q, int64_t n, const int32_t* z, bool per, int64_t period) {
  // Bound of |q - z| from the zero points and the type's range (cheap and sufficient).
  int32_t zmin = z[0], zmax = z[0];
  if (per)
    for (int64_t i = 0; i < period; ++i) {
      zmin = std::min(zmin, z[i]);
      zmax = std::max(zmax, z[i]);
    }
  (void)q;
  (void)n;
  const int32_t lo = std::numeric_limits<Q>::min(), hi = std::numeric_limits<Q>::max();
  return std::max(std::abs(hi - zmin), std::abs(zmax - lo));
}

// acc[j] += av * b[j]: the GEMV inner loop, cloned for AVX2 (32-bit multiplies and byte widening
// in one instruction each) with a baseline fallback chosen at load time.
#if defined(__x86_64__) && defined(__GNUC__)
#define ONNXD_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ONNXD_AVX2_CLONES
#endif
ONNXD_AVX2_CLONES void AxpyRow(const uint8_t* b, int32_t av, int32_t* acc, int64_t n) {
  for (int64_t j = 0; j < n; ++j) acc[j] += av * static_cast<int32_t>(b[j]);
}
ONNXD_AVX2_CLONES void AxpyRow(const int8_t* b, int32_t av, int32_t* acc, int64_t n) {
  for (int64_t j = 0; j < n; ++j) acc[j] += av * static_cast<int32_t>(b[j]);
}

// B (constant weights) widened once at compile time into float (b - b_zero). Empty when B or its
// zero point is not a compile-time constant.
struct PackedB {
  std::vector<float> w;
};

void PrepackB(const NodeInfo& n, int b_index, int zb_index, PackedB* out) {
  const Tensor* b = n.constant_input(b_index);
  if (b == nullptr || (b->dtype() != DataType::kUInt8 && b->dtype() != DataType::kInt8) || b->rank() < 1) return;
  const Tensor* zb = n.has_input(zb_index) ? n.constant_input(zb_index) : nullptr;
  if (n.has_input(zb_index) && (zb == nullptr || zb->dtype() != b->dtype())) return;
  const int64_t N = b->rank() >= 2 ? b->dim(b->rank() - 1) : 1;
  const int64_t nz = zb != nullptr ? zb->num_elements() : 1;
  if (nz != 1 && nz != N) return;
  std::vector<int32_t> z(static_cast<size_t>(std::max<int64_t>(nz, 1)), 0);
  if (zb != nullptr) LoadInts(*zb, z.data());
  const int64_t total = b->num_elements();
  std::vector<float> w(static_cast<size_t>(total));
  auto fill = [&](auto tag) {
    using QB = typename decltype(tag)::type;
    const QB* src = b->data<QB>();
    for (int64_t i = 0; i < total; ++i)
      w[static_cast<size_t>(i)] = static_cast<float>(static_cast<int32_t>(src[i]) - z[nz == 1 ? 0 : i % N]);
  };
  if (b->dtype() == DataType::kUInt8) fill(TypeTag<uint8_t>{});
  else fill(TypeTag<int8_t>{});
  out->w = std::move(w);
}

// Computes the exact integer products (a - za) @ (b - zb) for every batch and calls finish(c) with
// c laid out [batch, M, N]: float* when one float GEMM over all of K is exact (every partial sum
// below 2^24), else int32_t* accumulated from float GEMMs over K-chunks that each are exact.
template <typename Finish>
Status RunIntMatMul(KernelContext& ctx, const Tensor& A, const Tensor* za_t, const Tensor& B, const Tensor* zb_t,
                    const MatMulDims& d, const PackedB& packed, Finish&& finish) {
  auto is8 = [](DataType t) { return t == DataType::kUInt8 || t == DataType::kInt8; };
  if (!is8(A.dtype()) || !is8(B.dtype()))
    return Status(StatusCode::kUnimplemented, "node '" + ctx.node_name() + "' (" + ctx.op_type() + "): input types " +
                                                  DataTypeName(A.dtype()) + " x " + DataTypeName(B.dtype()) +
                                                  " are not supported (int8 / uint8 only)");
  int32_t* za = static_cast<int32_t*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(d.M, 1)) * 4));
  int32_t* zb = static_cast<int32_t*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(d.N, 1)) * 4));
  bool za_per = false, zb_per = false;
  RETURN_IF_ERROR(LoadZeroPoint(ctx, za_t, A.dtype(), d.M, "a_zero_point", za, &za_per));
  RETURN_IF_ERROR(LoadZeroPoint(ctx, zb_t, B.dtype(), d.N, "b_zero_point", zb, &zb_per));
  ThreadPool& pool = ctx.pool();
  auto go = [&](auto atag, auto btag) {
    using QA = typename decltype(atag)::type;
    using QB = typename decltype(btag)::type;
    const int64_t ma = MaxAbsDiff(A.data<QA>(), A.num_elements(), za, za_per, d.M);
    const int64_t mb = MaxAbsDiff(B.data<QB>(), B.num_elements(), zb, zb_per, d.N);
    const int64_t MN = d.M * d.N;
    if (d.M <= 4 && d.N >= 64) {
      // Few rows (GEMV-like): stay on the 8-bit data, which is 4x less memory to stream than
      // widened floats. sum_k (a - za)(b - zb) = sum_k (a - za) b - zb * sum_k (a - za).
      int32_t* ci = static_cast<int32_t*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(d.batch * MN, 1)) * 4));
      for (int64_t bi = 0; bi < d.batch; ++bi) {
        int64_t ai, bj;
        BatchOffsets(d, bi, &ai, &bj);
        const QA* am = A.data<QA>() + ai * d.M * d.K;
        const QB* bm = B.data<QB>() + bj * d.K * d.N;
        pool.ParallelFor(d.N, std::max<int64_t>(64, kGrain * 4 / std::max<int64_t>(d.K * d.M, 1)), [&](int64_t j0, int64_t j1) {
          for (int64_t m = 0; m < d.M; ++m) {
            const int32_t zam = za[za_per ? m : 0];
            int32_t* acc = ci + bi * MN + m * d.N;
            for (int64_t j = j0; j < j1; ++j) acc[j] = 0;
            int32_t asum = 0;
            for (int64_t k = 0; k < d.K; ++k) {
              const int32_t av = static_cast<int32_t>(am[m * d.K + k]) - zam;
              asum += av;
              if (av == 0) continue;
              AxpyRow(bm + k * d.N + j0, av, acc + j0, j1 - j0);
            }
            for (int64_t j = j0; j < j1; ++j) acc[j] -= asum * zb[zb_per ? j : 0];
          }
        });
      }
      finish(ci);
      return;
    }
    const int64_t chunk = std::max<int64_t>(1, int64_t{16777215} / std::max<int64_t>(1, ma * mb));
    const bool prepacked = !packed.w.empty() && static_cast<int64_t>(packed.w.size()) == B.num_elements();
    float* aw = static_cast<float*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(A.num_elements(), 1)) * 4));
    Widen8<float>(A.data<QA>(), d.a_mats, d.M, d.K, za, za_per, false, aw, pool);
    const float* bw = packed.w.data();
    if (!prepacked) {
      float* w = static_cast<float*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(B.num_elements(), 1)) * 4));
      Widen8<float>(B.data<QB>(), d.b_mats, d.K, d.N, zb, false, zb_per, w, pool);
      bw = w;
    }
    float* c = static_cast<float*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(d.batch * MN, 1)) * 4));
    auto gemm = [&](int64_t k0, int64_t kk) {
      for (int64_t bi = 0; bi < d.batch; ++bi) {
        int64_t ai, bj;
        BatchOffsets(d, bi, &ai, &bj);
        cpu::Sgemm(false, false, d.M, d.N, kk, 1.0f, aw + ai * d.M * d.K + k0, d.K, bw + bj * d.K * d.N + k0 * d.N, d.N,
                   0.0f, c + bi * MN, d.N, &pool);
      }
    };
    if (d.K <= chunk) {
      gemm(0, d.K);
      finish(c);
      return;
    }
    int32_t* ci = static_cast<int32_t*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(d.batch * MN, 1)) * 4));
    const int64_t total = d.batch * MN;
    for (int64_t k0 = 0; k0 < d.K; k0 += chunk) {
      gemm(k0, std::min(chunk, d.K - k0));
      const bool first = k0 == 0;
      pool.ParallelFor(total, kGrain, [&](int64_t s, int64_t e) {
        if (first)
          for (int64_t i = s; i < e; ++i) ci[i] = static_cast<int32_t>(c[i]);
        else
          for (int64_t i = s; i < e; ++i)
            ci[i] = static_cast<int32_t>(static_cast<uint32_t>(ci[i]) + static_cast<uint32_t>(static_cast<int32_t>(c[i])));
      });
    }
    finish(ci);
  };
  auto with_b = [&](auto atag) {
    if (B.dtype() == DataType::kUInt8) go(atag, TypeTag<uint8_t>{});
    else go(atag, TypeTag<int8_t>{});
  };
  if (A.dtype() == DataType::kUInt8) with_b(TypeTag<uint8_t>{});
  else with_b(TypeTag<int8_t>{});
  return Status::Ok();
}

class MatMulIntegerKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    PrepackB(n, 1, 3, &packed_);
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    if (a == nullptr || b == nullptr) return ctx.Error("inputs 'A' and 'B' are required");
    MatMulDims d;
    RETURN_IF_ERROR(MatMulShapes(ctx, a->shape(), b->shape(), &d));
    Tensor* y = ctx.Output(0, DataType::kInt32, d.out_shape);
    int32_t* out = y->data<int32_t>();
    const int64_t total = d.batch * d.M * d.N;
    return RunIntMatMul(ctx, *a, ctx.input(2), *b, ctx.input(3), d, packed_, [&](auto* c) {
      ctx.pool().ParallelFor(total, kGrain, [&](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) out[i] = static_cast<int32_t>(c[i]);
      });
    });
  }

 private:
  PackedB packed_;
};

class QLinearMatMulKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    PrepackB(n, 3, 5, &packed_);
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* a = ctx.input(0);
    const Tensor* as = ctx.input(1);
    const Tensor* b = ctx.input(3);
    const Tensor* bs = ctx.input(4);
    const Tensor* ys = ctx.input(6);
    const Tensor* yz = ctx.input(7);
    if (a == nullptr || as == nullptr || b == nullptr || bs == nullptr || ys == nullptr)
      return ctx.Error("inputs 'a', 'a_scale', 'b', 'b_scale' and 'y_scale' are required");
    MatMulDims d;
    RETURN_IF_ERROR(MatMulShapes(ctx, a->shape(), b->shape(), &d));
    const DataType yt = yz != nullptr ? yz->dtype() : a->dtype();
    if (yt != DataType::kUInt8 && yt != DataType::kInt8)
      return Status(StatusCode::kUnimplemented, "node '" + ctx.node_name() + "' (QLinearMatMul): output type " +
                                                    std::string(DataTypeName(yt)) + " is not supported");
    // Scales: a and y per tensor or per row (M), b per tensor or per column (N).
    auto load = [&](const Tensor* t, int64_t count, const char* what, float** dst, bool* per) -> Status {
      const int64_t n = t->num_elements();
      if (n != 1 && n != count)
        return ctx.Error(std::string(what) + " must be a scalar or have " + std::to_string(count) +
                         " elements, got shape " + t->shape().ToString());
      *dst = static_cast<float*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(n, 1)) * 4));
      if (!LoadFloats(*t, *dst) || t->dtype() == DataType::kInt32)
        return ctx.Error(std::string(what) + " has unsupported type " + DataTypeName(t->dtype()));
      *per = n != 1;
      return Status::Ok();
    };
    float *sa, *sb, *sy;
    bool pa, pb, py;
    RETURN_IF_ERROR(load(as, d.M, "a_scale", &sa, &pa));
    RETURN_IF_ERROR(load(bs, d.N, "b_scale", &sb, &pb));
    RETURN_IF_ERROR(load(ys, d.M, "y_scale", &sy, &py));
    int32_t* zy = static_cast<int32_t*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(d.M, 1)) * 4));
    bool pyz = false;
    RETURN_IF_ERROR(LoadZeroPoint(ctx, yz, yt, d.M, "y_zero_point", zy, &pyz));
    // Half-precision scales: the multiplier is formed in that precision, as the reference does.
    const DataType st = as->dtype();
    auto round_scale = [st](float v) {
      if (st == DataType::kFloat16) return static_cast<float>(Float16(v));
      if (st == DataType::kBFloat16) return static_cast<float>(BFloat16(v));
      return v;
    };
    Tensor* y = ctx.Output(0, yt, d.out_shape);
    const int64_t M = d.M, N = d.N, rows = d.batch * d.M;
    return RunIntMatMul(ctx, *a, ctx.input(2), *b, ctx.input(5), d, packed_, [&](auto* c) {
      auto requant = [&](auto qtag) {
        using Q = typename decltype(qtag)::type;
        Q* out = y->data<Q>();
        ctx.pool().ParallelFor(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(N, 1)), [&](int64_t s, int64_t e) {
          for (int64_t r = s; r < e; ++r) {
            const int64_t m = r % M;
            const float fa = sa[pa ? m : 0], fy = sy[py ? m : 0];
            const int32_t z = zy[pyz ? m : 0];
            const auto* crow = c + r * N;
            Q* orow = out + r * N;
            if (!pb) {
              const float mult = round_scale(round_scale(fa * sb[0]) / fy);
              for (int64_t j = 0; j < N; ++j) orow[j] = QuantOne<Q, float>(static_cast<float>(crow[j]) * mult, z);
            } else {
              for (int64_t j = 0; j < N; ++j) {
                const float mult = round_scale(round_scale(fa * sb[j]) / fy);
                orow[j] = QuantOne<Q, float>(static_cast<float>(crow[j]) * mult, z);
              }
            }
          }
        });
      };
      if (yt == DataType::kUInt8) requant(TypeTag<uint8_t>{});
      else requant(TypeTag<int8_t>{});
    });
  }

 private:
  PackedB packed_;
};

}  // namespace

void RegisterQuantizationOps(OpRegistry& r) {
  r.Add("", "QuantizeLinear", Factory<QuantizeLinearKernel>());
  r.Add("", "DequantizeLinear", Factory<DequantizeLinearKernel>());
  r.Add("", "DynamicQuantizeLinear", Factory<DynamicQuantizeLinearKernel>());
  r.Add("", "MatMulInteger", Factory<MatMulIntegerKernel>());
  r.Add("", "QLinearMatMul", Factory<QLinearMatMulKernel>());
}

}  // namespace onnxd::engine
