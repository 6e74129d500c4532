// com.microsoft quantized ops, as onnxruntime.quantization writes them in QOperator format:
// QLinearAdd, QLinearMul, QGemm, QLinearConcat, QLinearGlobalAveragePool, QLinearSigmoid,
// QLinearLeakyRelu. (The ai.onnx ones, QLinearConv / QLinearMatMul, live in quantization_ops.cc.)
//
// Each follows onnxruntime's arithmetic so that results agree to the integer, not just to a step:
// the elementwise ops fold the scales into ratios (a_scale / c_scale ...) and round half to even
// (QLinearAdd with onnxruntime's fused multiply-adds);
// unary ops and QLinearConcat go through a 256-entry table built by dequantize -> f -> quantize
// (q = round(f / y_scale) + y_zero_point); QGemm accumulates (a - a_zero)(b - b_zero) plus the int32
// bias exactly in int32 and requantizes with alpha * a_scale * b_scale / y_scale (or scales to
// float without y_scale). Types: uint8 and int8 (QGemm's B may differ in signedness from A).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ops/op_kernel.h"
#include "ops/op_util.h"

namespace onnxd::engine {
namespace {

constexpr int64_t kGrain = 16384;

bool IsQ8(DataType t) { return t == DataType::kUInt8 || t == DataType::kInt8; }

// Rounds half to even (the FP environment's default mode) and saturates to Q.
template <typename Q>
inline Q Saturate(float v) {
  constexpr float lo = static_cast<float>(std::numeric_limits<Q>::min());
  constexpr float hi = static_cast<float>(std::numeric_limits<Q>::max());
  v = std::nearbyint(v);
  v = !(v >= lo) ? lo : v;  // NaN goes low
  v = v > hi ? hi : v;
  return static_cast<Q>(static_cast<int32_t>(v));
}

Status ScalarFloat(const KernelContext& ctx, const Tensor* t, const char* what, float* out) {
  if (t == nullptr) return ctx.Error(std::string(what) + " is required");
  if (t->dtype() != DataType::kFloat || t->num_elements() != 1)
    return ctx.Error(std::string(what) + " must be a float scalar, got " + DataTypeName(t->dtype()) +
                     t->shape().ToString());
  *out = t->data<float>()[0];
  return Status::Ok();
}

// An optional scalar zero point of type `q` (0 when absent).
Status ScalarZeroPoint(const KernelContext& ctx, const Tensor* t, DataType q, const char* what, int32_t* out) {
  *out = 0;
  if (t == nullptr) return Status::Ok();
  if (t->dtype() != q || t->num_elements() != 1)
    return ctx.Error(std::string(what) + " must be a " + DataTypeName(q) + " scalar, got " + DataTypeName(t->dtype()) +
                     t->shape().ToString());
  *out = q == DataType::kUInt8 ? t->data<uint8_t>()[0] : t->data<int8_t>()[0];
  return Status::Ok();
}

template <typename F>
void DispatchQ8(DataType t, F&& f) {
  if (t == DataType::kUInt8) f(TypeTag<uint8_t>{});
  else f(TypeTag<int8_t>{});
}

// ---------------------------------------------------------------------------------------------
// QLinearAdd / QLinearMul: A, A_scale, A_zero_point, B, B_scale, B_zero_point, C_scale, C_zero_point.

template <bool kMul>
class QLinearBinaryKernel : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(3);
    if (a == nullptr || b == nullptr) return ctx.Error("inputs A and B are required");
    if (!IsQ8(a->dtype()) || b->dtype() != a->dtype())
      return ctx.Error("A and B must both be uint8 or both int8");
    float sa, sb, sc;
    int32_t za, zb, zc;
    RETURN_IF_ERROR(ScalarFloat(ctx, ctx.input(1), "A_scale", &sa));
    RETURN_IF_ERROR(ScalarZeroPoint(ctx, ctx.input(2), a->dtype(), "A_zero_point", &za));
    RETURN_IF_ERROR(ScalarFloat(ctx, ctx.input(4), "B_scale", &sb));
    RETURN_IF_ERROR(ScalarZeroPoint(ctx, ctx.input(5), a->dtype(), "B_zero_point", &zb));
    RETURN_IF_ERROR(ScalarFloat(ctx, ctx.input(6), "C_scale", &sc));
    RETURN_IF_ERROR(ScalarZeroPoint(ctx, ctx.input(7), a->dtype(), "C_zero_point", &zc));
    ASSIGN_OR_RETURN(Shape out_shape, BroadcastShapes(a->shape(), b->shape()));
    Tensor* c = ctx.Output(0, a->dtype(), out_shape);
    const int64_t n = out_shape.NumElements();
    const float ra = sa / sc, rb = sb / sc, rab = sa * sb / sc, fz = static_cast<float>(zc);
    // QLinearAdd as onnxruntime's x86 kernel rounds it: the zero points fold into one constant,
    // c = fma(a, ra, fma(b, rb, fixed)) on the raw values; a scalar operand joins the constant with
    // a separate multiply and add. (Matches it to the integer on ResNet-50's residual adds.)
    const float fixed = fz - std::fma(ra, static_cast<float>(za), rb * static_cast<float>(zb));
    DispatchQ8(a->dtype(), [&](auto tag) {
      using Q = typename decltype(tag)::type;
      const Q* ad = a->data<Q>();
      const Q* bd = b->data<Q>();
      Q* out = c->data<Q>();
      auto one = [&](Q x, Q y) -> Q {
        if constexpr (kMul) {
          const float va = static_cast<float>(static_cast<int32_t>(x) - za);
          const float vb = static_cast<float>(static_cast<int32_t>(y) - zb);
          return Saturate<Q>(va * vb * rab + fz);
        } else {
          return Saturate<Q>(std::fma(static_cast<float>(x), ra, std::fma(static_cast<float>(y), rb, fixed)));
        }
      };
      if (!kMul && (a->num_elements() == 1) != (b->num_elements() == 1)) {
        const bool a_scalar = a->num_elements() == 1;
        const float f = a_scalar ? fixed + static_cast<float>(ad[0]) * ra : fixed + static_cast<float>(bd[0]) * rb;
        const Q* v = a_scalar ? bd : ad;
        const float r = a_scalar ? rb : ra;
        ctx.pool().ParallelFor(n, kGrain, [&](int64_t s, int64_t e) {
          for (int64_t i = s; i < e; ++i) out[i] = Saturate<Q>(std::fma(static_cast<float>(v[i]), r, f));
        });
        return;
      }
      if (a->shape() == b->shape() || a->num_elements() == 1 || b->num_elements() == 1) {
        const int64_t sa_step = a->num_elements() == 1 ? 0 : 1, sb_step = b->num_elements() == 1 ? 0 : 1;
        ctx.pool().ParallelFor(n, kGrain, [&](int64_t s, int64_t e) {
          for (int64_t i = s; i < e; ++i) out[i] = one(ad[i * sa_step], bd[i * sb_step]);
        });
        return;
      }
      BroadcastIndexer bi;
      const Shape* ins[2] = {&a->shape(), &b->shape()};
      bi.Init(out_shape, ins, 2);
      int64_t idx[Shape::kInline * 2] = {};
      int64_t oa = 0, ob = 0;
      for (int64_t i = 0; i < n; ++i) {
        out[i] = one(ad[oa], bd[ob]);
        for (int d = bi.rank - 1; d >= 0; --d) {
          ++idx[d];
          oa += bi.in_strides[0][d];
          ob += bi.in_strides[1][d];
          if (idx[d] < bi.out_dims[d]) break;
          oa -= bi.in_strides[0][d] * idx[d];
          ob -= bi.in_strides[1][d] * idx[d];
          idx[d] = 0;
        }
      }
    });
    return Status::Ok();
  }
};

// ---------------------------------------------------------------------------------------------
// Table ops: y = quantize(f(dequantize(x))) through a 256-entry table per run (the scales are
// inputs, usually constants; building the table costs 256 evaluations).

template <typename Q, typename F>
void BuildTable(float xs, int32_t xz, float ys, int32_t yz, F&& f, Q* table) {
  for (int v = 0; v < 256; ++v) {
    const Q q = static_cast<Q>(std::is_signed_v<Q> ? v - 128 : v);
    const float x = static_cast<float>(static_cast<int32_t>(q) - xz) * xs;
    // Round, then add the zero point (adding first can round a 22.500002 to a 32.5 tie).
    table[static_cast<uint8_t>(q)] = Saturate<Q>(std::nearbyint(f(x) / ys) + static_cast<float>(yz));
  }
}

template <typename Q>
void ApplyTable(const Q* table, const Q* in, Q* out, int64_t n, ThreadPool& pool) {
  pool.ParallelFor(n, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = table[static_cast<uint8_t>(in[i])];
  });
}

// QLinearSigmoid / QLinearLeakyRelu: X, X_scale, X_zero_point, Y_scale, Y_zero_point.
class QLinearUnaryKernel : public OpKernel {
 public:
  explicit QLinearUnaryKernel(bool leaky) : leaky_(leaky) {}
  Status Init(const NodeInfo& n) {
    alpha_ = n.GetFloat("alpha", 0.01f);
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr || !IsQ8(x->dtype())) return ctx.Error("X must be uint8 or int8");
    float xs, ys;
    int32_t xz, yz;
    RETURN_IF_ERROR(ScalarFloat(ctx, ctx.input(1), "X_scale", &xs));
    RETURN_IF_ERROR(ScalarZeroPoint(ctx, ctx.input(2), x->dtype(), "X_zero_point", &xz));
    RETURN_IF_ERROR(ScalarFloat(ctx, ctx.input(3), "Y_scale", &ys));
    RETURN_IF_ERROR(ScalarZeroPoint(ctx, ctx.input(4), x->dtype(), "Y_zero_point", &yz));
    Tensor* y = ctx.Output(0, x->dtype(), x->shape());
    const float alpha = alpha_;
    const bool leaky = leaky_;
    DispatchQ8(x->dtype(), [&](auto tag) {
      using Q = typename decltype(tag)::type;
      Q table[256];
      BuildTable<Q>(xs, xz, ys, yz, [&](float v) {
        if (leaky) return v >= 0.0f ? v : v * alpha;
        return 1.0f / (1.0f + std::exp(-v));
      }, table);
      ApplyTable(table, x->data<Q>(), y->data<Q>(), x->num_elements(), ctx.pool());
    });
    return Status::Ok();
  }

 private:
  bool leaky_;
  float alpha_ = 0.01f;
};

// ---------------------------------------------------------------------------------------------
// QLinearConcat: Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per input; attribute axis.
// An input with Y's scale and zero point is copied; others are requantized through a table.

class QLinearConcatKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    ASSIGN_OR_RETURN(axis_, n.RequireInt("axis"));
    if (n.num_inputs() < 5 || (n.num_inputs() - 2) % 3 != 0)
      return n.Error("wants Y_scale, Y_zero_point and then (X, X_scale, X_zero_point) triples");
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const int k = (ctx.num_inputs() - 2) / 3;
    const Tensor* first = ctx.input(2);
    if (first == nullptr || !IsQ8(first->dtype())) return ctx.Error("inputs must be uint8 or int8");
    const DataType qt = first->dtype();
    float ys;
    int32_t yz;
    RETURN_IF_ERROR(ScalarFloat(ctx, ctx.input(0), "Y_scale", &ys));
    RETURN_IF_ERROR(ScalarZeroPoint(ctx, ctx.input(1), qt, "Y_zero_point", &yz));
    const int rank = first->rank();
    auto ax = NormalizeAxis(axis_, rank);
    if (!ax.ok()) return ctx.Error(ax.status().message());
    const int axis = *ax;
    Shape out_shape = first->shape();
    out_shape[axis] = 0;
    for (int i = 0; i < k; ++i) {
      const Tensor* x = ctx.input(2 + 3 * i);
      if (x == nullptr || x->dtype() != qt || x->rank() != rank)
        return ctx.Error("input " + std::to_string(i) + " must be " + DataTypeName(qt) + " of rank " +
                         std::to_string(rank));
      for (int d = 0; d < rank; ++d)
        if (d != axis && x->dim(d) != first->dim(d))
          return ctx.Error("input " + std::to_string(i) + " has shape " + x->shape().ToString() + ", expected " +
                           first->shape().ToString() + " outside axis " + std::to_string(axis));
      out_shape[axis] += x->dim(axis);
    }
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= out_shape[d];
    for (int d = axis + 1; d < rank; ++d) inner *= out_shape[d];
    const int64_t out_row = out_shape[axis] * inner;
    Tensor* y = ctx.Output(0, qt, out_shape);
    Status st = Status::Ok();
    DispatchQ8(qt, [&](auto tag) {
      using Q = typename decltype(tag)::type;
      Q* out = y->data<Q>();
      int64_t offset = 0;
      for (int i = 0; i < k && st.ok(); ++i) {
        const Tensor* x = ctx.input(2 + 3 * i);
        float xs;
        int32_t xz;
        st = ScalarFloat(ctx, ctx.input(3 + 3 * i), "X_scale", &xs);
        if (st.ok()) st = ScalarZeroPoint(ctx, ctx.input(4 + 3 * i), qt, "X_zero_point", &xz);
        if (!st.ok()) break;
        const bool same = xs == ys && xz == yz;
        Q table[256];
        if (!same) BuildTable<Q>(xs, xz, ys, yz, [](float v) { return v; }, table);
        const int64_t row = x->dim(axis) * inner;
        const Q* in = x->data<Q>();
        for (int64_t o = 0; o < outer; ++o) {
          const Q* src = in + o * row;
          Q* dst = out + o * out_row + offset;
          if (same) {
            std::memcpy(dst, src, static_cast<size_t>(row) * sizeof(Q));
          } else {
            for (int64_t j = 0; j < row; ++j) dst[j] = table[static_cast<uint8_t>(src[j])];
          }
        }
        offset += row;
      }
    });
    return st;
  }

 private:
  int64_t axis_ = 0;
};

// ---------------------------------------------------------------------------------------------
// QLinearGlobalAveragePool: X, x_scale, x_zero_point, y_scale, y_zero_point; channels_last.
// y = round((sum(x) - x_zero * size) * x_scale / (y_scale * size)) + y_zero.

class QLinearGlobalAveragePoolKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    channels_last_ = n.GetInt("channels_last", 0) != 0;
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr || !IsQ8(x->dtype()) || x->rank() < 3)
      return ctx.Error("X must be uint8 or int8 of rank >= 3 ([N, C, spatial...])");
    float xs, ys;
    int32_t xz, yz;
    RETURN_IF_ERROR(ScalarFloat(ctx, ctx.input(1), "x_scale", &xs));
    RETURN_IF_ERROR(ScalarZeroPoint(ctx, ctx.input(2), x->dtype(), "x_zero_point", &xz));
    RETURN_IF_ERROR(ScalarFloat(ctx, ctx.input(3), "y_scale", &ys));
    RETURN_IF_ERROR(ScalarZeroPoint(ctx, ctx.input(4), x->dtype(), "y_zero_point", &yz));
    const int rank = x->rank();
    const int64_t batch = x->dim(0);
    const int64_t channels = channels_last_ ? x->dim(rank - 1) : x->dim(1);
    int64_t size = 1;
    for (int d = channels_last_ ? 1 : 2; d < (channels_last_ ? rank - 1 : rank); ++d) size *= x->dim(d);
    Shape ys_shape = x->shape();
    for (int d = channels_last_ ? 1 : 2; d < (channels_last_ ? rank - 1 : rank); ++d) ys_shape[d] = 1;
    Tensor* y = ctx.Output(0, x->dtype(), ys_shape);
    if (size == 0) return ctx.Error("the spatial size is 0");
    const float scale = xs / (ys * static_cast<float>(size));
    const int32_t bias = -xz * static_cast<int32_t>(size);
    DispatchQ8(x->dtype(), [&](auto tag) {
      using Q = typename decltype(tag)::type;
      const Q* in = x->data<Q>();
      Q* out = y->data<Q>();
      ctx.pool().ParallelFor(batch * channels, std::max<int64_t>(1, kGrain / std::max<int64_t>(size, 1)),
                             [&](int64_t s, int64_t e) {
        for (int64_t r = s; r < e; ++r) {
          const int64_t nb = r / channels, c = r % channels;
          int32_t acc = bias;
          if (channels_last_) {
            const Q* p = in + nb * size * channels + c;
            for (int64_t j = 0; j < size; ++j) acc += p[j * channels];
          } else {
            const Q* p = in + r * size;
            for (int64_t j = 0; j < size; ++j) acc += p[j];
          }
          out[r] = Saturate<Q>(std::nearbyint(static_cast<float>(acc) * scale) + static_cast<float>(yz));
        }
      });
    });
    return Status::Ok();
  }

 private:
  bool channels_last_ = false;
};

// ---------------------------------------------------------------------------------------------
// QGemm: A, a_scale, a_zero_point, B, b_scale, b_zero_point, C (int32 bias), y_scale,
// y_zero_point; transA, transB, alpha. b_scale / b_zero_point may be per column (N).
// Y is quantized (A's type) when y_scale is given, else float.

class QGemmKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    trans_a_ = n.GetInt("transA", 0) != 0;
    trans_b_ = n.GetInt("transB", 0) != 0;
    alpha_ = n.GetFloat("alpha", 1.0f);
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(3);
    const Tensor* c = ctx.input(6);
    const Tensor* ys_t = ctx.input(7);
    if (a == nullptr || b == nullptr) return ctx.Error("inputs A and B are required");
    if (!IsQ8(a->dtype()) || !IsQ8(b->dtype())) return ctx.Error("A and B must be uint8 or int8");
    if (a->rank() != 2 || b->rank() != 2) return ctx.Error("A and B must be 2-D");
    const int64_t M = trans_a_ ? a->dim(1) : a->dim(0), K = trans_a_ ? a->dim(0) : a->dim(1);
    const int64_t KB = trans_b_ ? b->dim(1) : b->dim(0), N = trans_b_ ? b->dim(0) : b->dim(1);
    if (K != KB)
      return ctx.Error("inner dims differ: A " + a->shape().ToString() + ", B " + b->shape().ToString());
    float sa;
    int32_t za;
    RETURN_IF_ERROR(ScalarFloat(ctx, ctx.input(1), "a_scale", &sa));
    RETURN_IF_ERROR(ScalarZeroPoint(ctx, ctx.input(2), a->dtype(), "a_zero_point", &za));
    const Tensor* bs_t = ctx.input(4);
    const Tensor* bz_t = ctx.input(5);
    if (bs_t == nullptr || bs_t->dtype() != DataType::kFloat || (bs_t->num_elements() != 1 && bs_t->num_elements() != N))
      return ctx.Error("b_scale must be a float scalar or have N = " + std::to_string(N) + " elements");
    if (bz_t != nullptr && (bz_t->dtype() != b->dtype() || (bz_t->num_elements() != 1 && bz_t->num_elements() != N)))
      return ctx.Error("b_zero_point must be B's type, a scalar or N = " + std::to_string(N) + " elements");
    if (c != nullptr) {
      if (c->dtype() != DataType::kInt32) return ctx.Error("C must be int32");
      auto bc = BroadcastShapes(c->shape(), Shape{M, N});
      if (!bc.ok() || *bc != Shape{M, N})
        return ctx.Error("C of shape " + c->shape().ToString() + " does not broadcast to [M, N] = " +
                         Shape{M, N}.ToString());
    }
    float sy = 0.0f;
    int32_t zy = 0;
    const bool quant_out = ys_t != nullptr;
    if (quant_out) {
      RETURN_IF_ERROR(ScalarFloat(ctx, ys_t, "y_scale", &sy));
      RETURN_IF_ERROR(ScalarZeroPoint(ctx, ctx.input(8), a->dtype(), "y_zero_point", &zy));
    }
    // (a - a_zero) as int16 [M, K] and (b - b_zero) as int16 [K, N], then an exact int32 GEMM
    // (|products| <= 255 * 255, so K up to 33,000 stays inside int32, as in onnxruntime).
    int16_t* a16 = static_cast<int16_t*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(M * K, 1)) * 2));
    int16_t* b16 = static_cast<int16_t*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(K * N, 1)) * 2));
    int32_t* acc_all = static_cast<int32_t*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(M * N, 1)) * 4));
    float* scale = static_cast<float*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(N, 1)) * 4));
    DispatchQ8(a->dtype(), [&](auto tag) {
      using QA = typename decltype(tag)::type;
      const QA* ad = a->data<QA>();
      for (int64_t m = 0; m < M; ++m)
        for (int64_t k = 0; k < K; ++k)
          a16[m * K + k] = static_cast<int16_t>(static_cast<int32_t>(trans_a_ ? ad[k * M + m] : ad[m * K + k]) - za);
    });
    DispatchQ8(b->dtype(), [&](auto tag) {
      using QB = typename decltype(tag)::type;
      const QB* bd = b->data<QB>();
      const QB* bzd = bz_t != nullptr ? bz_t->data<QB>() : nullptr;
      const bool per_col_z = bz_t != nullptr && bz_t->num_elements() != 1;
      for (int64_t k = 0; k < K; ++k)
        for (int64_t j = 0; j < N; ++j) {
          const int32_t z = bzd == nullptr ? 0 : static_cast<int32_t>(bzd[per_col_z ? j : 0]);
          b16[k * N + j] = static_cast<int16_t>(static_cast<int32_t>(trans_b_ ? bd[j * K + k] : bd[k * N + j]) - z);
        }
    });
    // Output scale per column: a_scale * b_scale * alpha (/ y_scale).
    const float* bsd = bs_t->data<float>();
    for (int64_t j = 0; j < N; ++j) {
      const float s = sa * bsd[bs_t->num_elements() == 1 ? 0 : j] * alpha_;
      scale[j] = quant_out ? s / sy : s;
    }
    Tensor* y = ctx.Output(0, quant_out ? a->dtype() : DataType::kFloat, Shape{M, N});
    // C broadcasts to [M, N]: a scalar, a row of N, a column of M, or the full matrix.
    const int32_t* cd = c != nullptr ? c->data<int32_t>() : nullptr;
    const int64_t cn = c != nullptr ? c->num_elements() : 0;
    const bool c_full = cn == M * N && c->rank() == 2 && c->dim(0) == M;
    const bool c_col = !c_full && cn == M && c->rank() == 2 && c->dim(1) == 1 && M != 1;
    auto row_fn = [&](int64_t s, int64_t e) {
      for (int64_t m = s; m < e; ++m) {
        int32_t* acc = acc_all + m * N;
        for (int64_t j = 0; j < N; ++j) {
          acc[j] = cd == nullptr ? 0 : c_full ? cd[m * N + j] : c_col ? cd[m] : cd[cn == 1 ? 0 : j];
        }
        const int16_t* arow = a16 + m * K;
        for (int64_t k = 0; k < K; ++k) {
          const int32_t av = arow[k];
          if (av == 0) continue;
          const int16_t* brow = b16 + k * N;
          for (int64_t j = 0; j < N; ++j) acc[j] += av * brow[j];
        }
        if (quant_out) {
          DispatchQ8(a->dtype(), [&](auto tag) {
            using Q = typename decltype(tag)::type;
            Q* out = y->data<Q>() + m * N;
            for (int64_t j = 0; j < N; ++j)
              out[j] = Saturate<Q>(std::nearbyint(static_cast<float>(acc[j]) * scale[j]) + static_cast<float>(zy));
          });
        } else {
          float* out = y->data<float>() + m * N;
          for (int64_t j = 0; j < N; ++j) out[j] = static_cast<float>(acc[j]) * scale[j];
        }
      }
    };
    ctx.pool().ParallelFor(M, std::max<int64_t>(1, kGrain / std::max<int64_t>(K * N / 64, 1)), row_fn);
    return Status::Ok();
  }

 private:
  bool trans_a_ = false, trans_b_ = false;
  float alpha_ = 1.0f;
};

}  // namespace

void RegisterContribQuantOps(OpRegistry& r) {
  r.Add("com.microsoft", "QLinearAdd", Factory<QLinearBinaryKernel<false>>());
  r.Add("com.microsoft", "QLinearMul", Factory<QLinearBinaryKernel<true>>());
  r.Add("com.microsoft", "QLinearSigmoid", [](const NodeInfo& n) -> StatusOr<std::unique_ptr<OpKernel>> {
    auto k = std::make_unique<QLinearUnaryKernel>(false);
    RETURN_IF_ERROR(k->Init(n));
    return std::unique_ptr<OpKernel>(std::move(k));
  });
  r.Add("com.microsoft", "QLinearLeakyRelu", [](const NodeInfo& n) -> StatusOr<std::unique_ptr<OpKernel>> {
    auto k = std::make_unique<QLinearUnaryKernel>(true);
    RETURN_IF_ERROR(k->Init(n));
    return std::unique_ptr<OpKernel>(std::move(k));
  });
  r.Add("com.microsoft", "QLinearConcat", Factory<QLinearConcatKernel>());
  r.Add("com.microsoft", "QLinearGlobalAveragePool", Factory<QLinearGlobalAveragePoolKernel>());
  r.Add("com.microsoft", "QGemm", Factory<QGemmKernel>());
}

}  // namespace onnxd::engine
