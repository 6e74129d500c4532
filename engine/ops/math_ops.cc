// MatMul, Gemm, Einsum, Det.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu/convert.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/packed_gemm.h"
#include "ops/op_kernel.h"
#include "ops/op_util.h"

namespace onnxd::engine {
namespace {

using cpu::Dgemm;
using cpu::Sgemm;
using cpu::SgemmSerial;

template <typename T>
constexpr bool kIsHalf = std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;

// ---------------------------------------------------------------------------------------------
// Batched matrix product geometry shared by MatMul (and Einsum's fast path).
struct BatchedGeom {
  int64_t m = 0, n = 0, k = 0;
  Shape out_shape;
  Shape batch;                         // broadcast batch dims
  int64_t a_stride[Shape::kInline * 2] = {};  // per batch dim, in matrices (0 = broadcast)
  int64_t b_stride[Shape::kInline * 2] = {};
  int64_t num_batches = 1;
  bool b_shared = false;  // every batch uses B matrix 0 (and A batches are contiguous)
};

Status MatMulGeometry(const Shape& as, const Shape& bs, BatchedGeom* g) {
  int ra = as.rank(), rb = bs.rank();
  if (ra < 1 || rb < 1) return InvalidArgument("MatMul operands must have rank >= 1");
  g->m = ra == 1 ? 1 : as[ra - 2];
  int64_t ka = as[ra - 1];
  int64_t kb = rb == 1 ? bs[0] : bs[rb - 2];
  g->n = rb == 1 ? 1 : bs[rb - 1];
  if (ka != kb)
    return InvalidArgument("inner dimensions differ: A " + as.ToString() + " and B " + bs.ToString());
  g->k = ka;
  Shape ab, bb;
  if (ra > 2) ab.Assign(as.data(), ra - 2);
  if (rb > 2) bb.Assign(bs.data(), rb - 2);
  ASSIGN_OR_RETURN(g->batch, BroadcastShapes(ab, bb));
  int r = g->batch.rank();
  if (r > Shape::kInline * 2) return InvalidArgument("MatMul batch rank too large");
  int64_t sa = 1, sb = 1;
  for (int i = r - 1; i >= 0; --i) {
    int ia = i - (r - ab.rank()), ib = i - (r - bb.rank());
    int64_t da = ia >= 0 ? ab[ia] : 1, db = ib >= 0 ? bb[ib] : 1;
    g->a_stride[i] = da == 1 ? 0 : sa;
    g->b_stride[i] = db == 1 ? 0 : sb;
    sa *= da;
    sb *= db;
  }
  g->num_batches = g->batch.NumElements();
  g->b_shared = sb == 1 && sa == g->num_batches;
  g->out_shape = g->batch;
  if (ra > 1) g->out_shape.PushBack(g->m);
  if (rb > 1) g->out_shape.PushBack(g->n);
  return Status::Ok();
}

inline void BatchOffsets(const BatchedGeom& g, int64_t bi, int64_t* ao, int64_t* bo) {
  int64_t a = 0, b = 0;
  for (int i = g.batch.rank() - 1; i >= 0; --i) {
    int64_t d = g.batch[i];
    int64_t idx = bi % d;
    bi /= d;
    a += idx * g.a_stride[i];
    b += idx * g.b_stride[i];
  }
  *ao = a;
  *bo = b;
}

// C (contiguous [batches, m, n]) = A x B for float32.
void BatchedSgemm(const BatchedGeom& g, const float* a, const float* b, float* c, bool b_trans_packed,
                  ThreadPool& pool) {
  const int64_t m = g.m, n = g.n, k = g.k;
  const int64_t ldb = b_trans_packed ? k : n;
  if (g.b_shared) {
    Sgemm(false, b_trans_packed, g.num_batches * m, n, k, 1.f, a, k, b, ldb, 0.f, c, n, &pool);
    return;
  }
  int tasks_each = cpu::GemmTasks(m, n, k, &pool);
  if (g.num_batches == 1 || tasks_each >= pool.num_threads()) {
    for (int64_t bi = 0; bi < g.num_batches; ++bi) {
      int64_t ao, bo;
      BatchOffsets(g, bi, &ao, &bo);
      Sgemm(false, b_trans_packed, m, n, k, 1.f, a + ao * m * k, k, b + bo * k * n, ldb, 0.f, c + bi * m * n, n,
            &pool);
    }
    return;
  }
  int64_t grain = std::max<int64_t>(1, (int64_t{1} << 17) / std::max<int64_t>(1, m * n * k));
  pool.ParallelFor(g.num_batches, grain, [&](int64_t b0, int64_t b1) {
    for (int64_t bi = b0; bi < b1; ++bi) {
      int64_t ao, bo;
      BatchOffsets(g, bi, &ao, &bo);
      SgemmSerial(false, b_trans_packed, m, n, k, 1.f, a + ao * m * k, k, b + bo * k * n, ldb, 0.f,
                  c + bi * m * n, n);
    }
  });
}

template <typename T>
void NaiveMatMul(const BatchedGeom& g, const T* a, const T* b, T* c, ThreadPool& pool) {
  const int64_t m = g.m, n = g.n, k = g.k;
  int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n * k));
  pool.ParallelFor(g.num_batches * m, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t bi = r / m, i = r % m;
      int64_t ao, bo;
      BatchOffsets(g, bi, &ao, &bo);
      const T* arow = a + ao * m * k + i * k;
      const T* bm = b + bo * k * n;
      T* crow = c + bi * m * n + i * n;
      for (int64_t j = 0; j < n; ++j) crow[j] = T(0);
      for (int64_t kk = 0; kk < k; ++kk) {
        T av = arow[kk];
        const T* brow = bm + kk * n;
        for (int64_t j = 0; j < n; ++j) crow[j] = static_cast<T>(crow[j] + av * brow[j]);
      }
    }
  });
}

// The packed copy sits beside the initializer (the graph keeps it), so weights are packed only up
// to this size: model memory grows by at most 1 MiB a node. Larger weights keep the BLAS path
// until compilation can hand a constant over to the kernel that packs it.
constexpr int64_t kMaxPackedWeightBytes = int64_t{1} << 20;

class MatMulKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (n.num_inputs() < 2) return n.Error("MatMul needs 2 inputs");
    if (const Tensor* b = n.constant_input(1)) {
      // Float weights: packed once into panels for cpu::PackedSgemm (no per-run packing of B).
      if (b->dtype() == DataType::kFloat && b->rank() == 2 && b->num_elements() > 0 &&
          b->bytes() <= kMaxPackedWeightBytes)
        packed_f32_.Pack(false, b->dim(0), b->dim(1), b->data<float>(), b->dim(1));
      // Narrow floats: keep a float32 copy of the constant weights.
      if (b->dtype() == DataType::kFloat16 || b->dtype() == DataType::kBFloat16) {
        packed_b_.resize(static_cast<size_t>(b->num_elements()));
        DispatchFloat(b->dtype(), [&](auto tag) {
          using T = typename decltype(tag)::type;
          cpu::ToFloat(b->data<T>(), packed_b_.data(), b->num_elements());
        });
        has_packed_ = true;
      }
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    if (a == nullptr || b == nullptr) return ctx.Error("MatMul needs inputs A and B");
    if (a->dtype() != b->dtype())
      return ctx.Error(std::string("A and B types differ: ") + DataTypeName(a->dtype()) + " vs " +
                       DataTypeName(b->dtype()));
    BatchedGeom g;
    Status st = MatMulGeometry(a->shape(), b->shape(), &g);
    if (!st.ok()) return ctx.Error(st.message());
    Tensor* y = ctx.Output(0, a->dtype(), g.out_shape);
    if (y->num_elements() == 0) return Status::Ok();
    ThreadPool& pool = ctx.pool();
    DataType dt = a->dtype();
    if (dt == DataType::kFloat) {
      if (!packed_f32_.empty() && b->rank() == 2 && g.b_shared && g.k == packed_f32_.k() && g.n == packed_f32_.n()) {
        cpu::PackedSgemm(g.num_batches * g.m, a->data<float>(), g.k, packed_f32_, 1.f, nullptr, false, false,
                         y->data<float>(), g.n, &pool);
        return Status::Ok();
      }
      BatchedSgemm(g, a->data<float>(), b->data<float>(), y->data<float>(), false, pool);
      return Status::Ok();
    }
    if (dt == DataType::kDouble) {
      const double* ad = a->data<double>();
      const double* bd = b->data<double>();
      double* yd = y->data<double>();
      for (int64_t bi = 0; bi < g.num_batches; ++bi) {
        int64_t ao, bo;
        BatchOffsets(g, bi, &ao, &bo);
        Dgemm(false, false, g.m, g.n, g.k, 1.0, ad + ao * g.m * g.k, g.k, bd + bo * g.k * g.n, g.n, 0.0,
              yd + bi * g.m * g.n, g.n, &pool);
      }
      return Status::Ok();
    }
    bool ok = false;
    DispatchFloat(dt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (kIsHalf<T>) {
        int64_t na = a->num_elements(), nb = b->num_elements(), ny = y->num_elements();
        float* af = static_cast<float*>(ctx.Scratch(sizeof(float) * (na + ny + (has_packed_ ? 0 : nb))));
        float* yf = af + na;
        const float* bf;
        cpu::ToFloat(a->data<T>(), af, na);
        if (has_packed_ && static_cast<int64_t>(packed_b_.size()) == nb) {
          bf = packed_b_.data();
        } else {
          float* t = yf + ny;
          cpu::ToFloat(b->data<T>(), t, nb);
          bf = t;
        }
        BatchedSgemm(g, af, bf, yf, false, pool);
        cpu::FromFloat(yf, y->data<T>(), ny);
        ok = true;
      }
    });
    if (ok) return Status::Ok();
    if (DispatchInteger(dt, [&](auto tag) {
          using T = typename decltype(tag)::type;
          NaiveMatMul<T>(g, a->data<T>(), b->data<T>(), y->data<T>(), pool);
        }))
      return Status::Ok();
    return ctx.Error(std::string("unsupported type ") + DataTypeName(dt));
  }

 private:
  cpu::PackedB packed_f32_;  // constant float B, packed at Init
  std::vector<float> packed_b_;
  bool has_packed_ = false;
};

// ---------------------------------------------------------------------------------------------
// Gemm: Y = alpha * op(A) * op(B) + beta * C.
class GemmKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    trans_a_ = n.GetInt("transA", 0) != 0;
    trans_b_ = n.GetInt("transB", 0) != 0;
    alpha_ = n.GetFloat("alpha", 1.f);
    beta_ = n.GetFloat("beta", 1.f);
    if (n.num_inputs() < 2) return n.Error("Gemm needs inputs A and B");
    if (n.opset() < 11 && !n.has_input(2)) return n.Error("Gemm before opset 11 requires input C");
    if (const Tensor* b = n.constant_input(1)) {
      // Float weights with A not transposed: packed once for cpu::PackedSgemm.
      if (b->dtype() == DataType::kFloat && b->rank() == 2 && b->num_elements() > 0 && !trans_a_ &&
          b->bytes() <= kMaxPackedWeightBytes)
        packed_f32_.Pack(trans_b_, trans_b_ ? b->dim(1) : b->dim(0), trans_b_ ? b->dim(0) : b->dim(1),
                         b->data<float>(), b->dim(1));
      if (b->rank() == 2 && (b->dtype() == DataType::kFloat16 || b->dtype() == DataType::kBFloat16)) {
        packed_b_.resize(static_cast<size_t>(b->num_elements()));
        DispatchFloat(b->dtype(), [&](auto tag) {
          using T = typename decltype(tag)::type;
          cpu::ToFloat(b->data<T>(), packed_b_.data(), b->num_elements());
        });
        has_packed_ = true;
      }
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    const Tensor* c = ctx.num_inputs() > 2 ? ctx.input(2) : nullptr;
    if (a == nullptr || b == nullptr) return ctx.Error("Gemm needs inputs A and B");
    if (a->rank() != 2 || b->rank() != 2)
      return ctx.Error("A and B must be 2-D, got " + a->shape().ToString() + " and " + b->shape().ToString());
    if (a->dtype() != b->dtype() || (c != nullptr && c->dtype() != a->dtype()))
      return ctx.Error("A, B and C must have the same type");
    const int64_t m = trans_a_ ? a->dim(1) : a->dim(0);
    const int64_t k = trans_a_ ? a->dim(0) : a->dim(1);
    const int64_t kb = trans_b_ ? b->dim(1) : b->dim(0);
    const int64_t n = trans_b_ ? b->dim(0) : b->dim(1);
    if (k != kb)
      return ctx.Error("inner dimensions differ: A " + a->shape().ToString() + (trans_a_ ? " (transposed)" : "") +
                       ", B " + b->shape().ToString() + (trans_b_ ? " (transposed)" : ""));
    // C must broadcast unidirectionally to [M, N].
    int64_t c_rows = 1, c_cols = 1;
    if (c != nullptr) {
      if (c->rank() > 2) return ctx.Error("C must have rank <= 2, got " + c->shape().ToString());
      if (c->rank() == 2) { c_rows = c->dim(0); c_cols = c->dim(1); }
      if (c->rank() == 1) c_cols = c->dim(0);
      if ((c_rows != 1 && c_rows != m) || (c_cols != 1 && c_cols != n))
        return ctx.Error("C " + c->shape().ToString() + " cannot broadcast to [" + std::to_string(m) + "," +
                         std::to_string(n) + "]");
      if (c->num_elements() == 0 && m * n != 0) return ctx.Error("C is empty");
    }
    Tensor* y = ctx.Output(0, a->dtype(), Shape{m, n});
    if (m == 0 || n == 0) return Status::Ok();
    const bool use_c = c != nullptr && beta_ != 0.f;
    ThreadPool& pool = ctx.pool();

    auto fill_c = [&](auto* yd, const auto* cd) {
      using T = std::remove_cv_t<std::remove_pointer_t<decltype(yd)>>;
      using CT = ComputeType<T>;
      for (int64_t i = 0; i < m; ++i) {
        const auto* crow = cd + (c_rows == 1 ? 0 : i * c_cols);
        T* yrow = yd + i * n;
        if (c_cols == 1) {
          T v = cpu::CastTo<T>(static_cast<CT>(crow[0]) * static_cast<CT>(beta_));
          for (int64_t j = 0; j < n; ++j) yrow[j] = v;
        } else {
          for (int64_t j = 0; j < n; ++j) yrow[j] = cpu::CastTo<T>(static_cast<CT>(crow[j]) * static_cast<CT>(beta_));
        }
      }
    };

    DataType dt = a->dtype();
    if (dt == DataType::kFloat) {
      float* yd = y->data<float>();
      if (!packed_f32_.empty() && k == packed_f32_.k() && n == packed_f32_.n()) {
        // A C row of N values with beta 1 is the kernel's bias; any other C is written first and
        // accumulated onto, as the BLAS path below does.
        const bool c_is_bias = use_c && beta_ == 1.f && c_rows == 1 && c_cols == n;
        if (use_c && !c_is_bias) fill_c(yd, c->data<float>());
        cpu::PackedSgemm(m, a->data<float>(), a->dim(1), packed_f32_, alpha_, c_is_bias ? c->data<float>() : nullptr,
                         use_c && !c_is_bias, false, yd, n, &pool);
        return Status::Ok();
      }
      if (use_c) fill_c(yd, c->data<float>());
      Sgemm(trans_a_, trans_b_, m, n, k, alpha_, a->data<float>(), a->dim(1), b->data<float>(), b->dim(1),
            use_c ? 1.f : 0.f, yd, n, &pool);
      return Status::Ok();
    }
    if (dt == DataType::kDouble) {
      double* yd = y->data<double>();
      if (use_c) {
        const double* cd = c->data<double>();
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j)
            yd[i * n + j] = cd[(c_rows == 1 ? 0 : i * c_cols) + (c_cols == 1 ? 0 : j)] * static_cast<double>(beta_);
      }
      Dgemm(trans_a_, trans_b_, m, n, k, alpha_, a->data<double>(), a->dim(1), b->data<double>(), b->dim(1),
            use_c ? 1.0 : 0.0, yd, n, &pool);
      return Status::Ok();
    }
    bool done = false;
    DispatchFloat(dt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (kIsHalf<T>) {
        int64_t na = a->num_elements(), nb = b->num_elements();
        float* af = static_cast<float*>(ctx.Scratch(sizeof(float) * (na + m * n + (has_packed_ ? 0 : nb))));
        float* yf = af + na;
        cpu::ToFloat(a->data<T>(), af, na);
        const float* bf = packed_b_.data();
        if (!has_packed_) {
          float* t = yf + m * n;
          cpu::ToFloat(b->data<T>(), t, nb);
          bf = t;
        }
        if (use_c) fill_c(yf, c->data<T>());
        Sgemm(trans_a_, trans_b_, m, n, k, alpha_, af, a->dim(1), bf, b->dim(1), use_c ? 1.f : 0.f, yf, n, &pool);
        cpu::FromFloat(yf, y->data<T>(), m * n);
        done = true;
      }
    });
    if (done) return Status::Ok();
    if (DispatchInteger(dt, [&](auto tag) {
          using T = typename decltype(tag)::type;
          const T* ad = a->data<T>();
          const T* bd = b->data<T>();
          T* yd = y->data<T>();
          const T alpha = static_cast<T>(alpha_), beta = static_cast<T>(beta_);
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              T acc = 0;
              for (int64_t kk = 0; kk < k; ++kk) {
                T av = trans_a_ ? ad[kk * m + i] : ad[i * k + kk];
                T bv = trans_b_ ? bd[j * k + kk] : bd[kk * n + j];
                acc = static_cast<T>(acc + av * bv);
              }
              T v = static_cast<T>(alpha * acc);
              if (use_c) {
                const T* cd = c->data<T>();
                v = static_cast<T>(v + beta * cd[(c_rows == 1 ? 0 : i * c_cols) + (c_cols == 1 ? 0 : j)]);
              }
              yd[i * n + j] = v;
            }
        }))
      return Status::Ok();
    return ctx.Error(std::string("unsupported type ") + DataTypeName(dt));
  }

 private:
  bool trans_a_ = false, trans_b_ = false;
  float alpha_ = 1.f, beta_ = 1.f;
  cpu::PackedB packed_f32_;  // constant float op(B) when !trans_a_, packed at Init
  std::vector<float> packed_b_;
  bool has_packed_ = false;
};

// ---------------------------------------------------------------------------------------------
// Einsum: parsed at Init into per-operand label lists; evaluated by a direct loop over the output
// and summed label spaces (repeated labels in one operand read its diagonal).
class EinsumKernel final : public OpKernel {
 public:
  static constexpr int kEllipsis = -1;

  Status Init(const NodeInfo& n) {
    std::string eq;
    for (char c : n.GetString("equation", "")) if (c != ' ') eq += c;
    if (eq.empty()) return n.Error("equation is required");
    size_t arrow = eq.find("->");
    std::string lhs = eq.substr(0, arrow);
    explicit_ = arrow != std::string::npos;
    std::string rhs = explicit_ ? eq.substr(arrow + 2) : "";
    size_t start = 0;
    while (true) {
      size_t comma = lhs.find(',', start);
      std::vector<int> term;
      RETURN_IF_ERROR(ParseTerm(n, lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start), &term));
      terms_.push_back(std::move(term));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (explicit_) RETURN_IF_ERROR(ParseTerm(n, rhs, &out_term_));
    if (n.num_inputs() != static_cast<int>(terms_.size()))
      return n.Error("equation has " + std::to_string(terms_.size()) + " operands but the node has " +
                     std::to_string(n.num_inputs()) + " inputs");
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const int ni = static_cast<int>(terms_.size());
    if (ni > 8) return ctx.Error("at most 8 operands are supported");
    const Tensor* in[8];
    for (int i = 0; i < ni; ++i) {
      in[i] = ctx.input(i);
      if (in[i] == nullptr) return ctx.Error("missing input " + std::to_string(i));
      if (in[i]->dtype() != in[0]->dtype()) return ctx.Error("inputs must share one type");
    }
    // Labels: 0..51 letters, 52.. ellipsis dims (right-aligned).
    constexpr int kMaxLabels = 52 + 16;
    int64_t dim[kMaxLabels];
    bool used[kMaxLabels] = {};
    int count[kMaxLabels] = {};
    for (int l = 0; l < kMaxLabels; ++l) dim[l] = 1;
    int ell = 0;  // number of ellipsis dims
    for (int i = 0; i < ni; ++i) {
      int letters = 0;
      bool has_e = false;
      for (int l : terms_[i]) {
        if (l == kEllipsis) has_e = true;
        else ++letters;
      }
      int r = in[i]->rank();
      if (!has_e && r != letters)
        return ctx.Error("operand " + std::to_string(i) + " has rank " + std::to_string(r) + " but its term has " +
                         std::to_string(letters) + " labels");
      if (has_e && r < letters) return ctx.Error("operand " + std::to_string(i) + " has too few dims for its term");
      if (has_e) ell = std::max(ell, r - letters);
    }
    if (ell > 16) return ctx.Error("too many ellipsis dims");
    int64_t strides[8][kMaxLabels] = {};
    for (int i = 0; i < ni; ++i) {
      int letters = 0;
      for (int l : terms_[i]) if (l != kEllipsis) ++letters;
      const int r = in[i]->rank();
      const int e = r - letters;
      int64_t st[Shape::kInline * 2];
      RowMajorStrides(in[i]->shape(), st);
      int axis = 0;
      for (int l : terms_[i]) {
        if (l == kEllipsis) {
          for (int q = 0; q < e; ++q, ++axis) {
            int lab = 52 + (ell - e) + q;
            int64_t d = in[i]->dim(axis);
            if (d != 1) {
              if (used[lab] && dim[lab] != 1 && dim[lab] != d) return ctx.Error("ellipsis dims do not broadcast");
              dim[lab] = d;
              strides[i][lab] += st[axis];
            }
            used[lab] = true;
          }
          continue;
        }
        int64_t d = in[i]->dim(axis);
        if (used[l] && dim[l] != d)
          return ctx.Error(std::string("label '") + LabelChar(l) + "' has sizes " + std::to_string(dim[l]) + " and " + std::to_string(d));
        dim[l] = d;
        used[l] = true;
        ++count[l];
        strides[i][l] += st[axis];
        ++axis;
      }
    }
    for (int q = 0; q < ell; ++q) used[52 + q] = true;
    // Output labels.
    int out_labels[kMaxLabels];
    int no = 0;
    bool in_out[kMaxLabels] = {};
    if (explicit_) {
      for (int l : out_term_) {
        if (l == kEllipsis) {
          for (int q = 0; q < ell; ++q) { out_labels[no++] = 52 + q; in_out[52 + q] = true; }
        } else {
          if (!used[l]) return ctx.Error(std::string("output label '") + LabelChar(l) + "' is not in any input");
          out_labels[no++] = l;
          in_out[l] = true;
        }
      }
    } else {
      for (int q = 0; q < ell; ++q) { out_labels[no++] = 52 + q; in_out[52 + q] = true; }
      for (int l = 0; l < 52; ++l)  // uppercase letters sort before lowercase (ASCII)
        if (count[l] == 1) { out_labels[no++] = l; in_out[l] = true; }
    }
    int sum_labels[kMaxLabels];
    int ns = 0;
    for (int l = 0; l < kMaxLabels; ++l)
      if (used[l] && !in_out[l]) sum_labels[ns++] = l;
    Shape os;
    for (int q = 0; q < no; ++q) os.PushBack(dim[out_labels[q]]);
    Tensor* y = ctx.Output(0, in[0]->dtype(), os);
    const int64_t out_n = os.NumElements();
    int64_t sum_n = 1;
    for (int q = 0; q < ns; ++q) sum_n *= dim[sum_labels[q]];
    if (out_n == 0) return Status::Ok();
    auto run = [&](auto tag) {
      using T = typename decltype(tag)::type;
      using Acc = std::conditional_t<std::is_floating_point_v<ComputeType<T>>, double, ComputeType<T>>;
      const T* ptr[8];
      for (int i = 0; i < ni; ++i) ptr[i] = in[i]->data<T>();
      T* yd = y->data<T>();
      int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, sum_n * ni));
      ctx.pool().ParallelFor(out_n, grain, [&](int64_t b, int64_t e) {
        int64_t base[8];
        int64_t sidx[kMaxLabels];
        for (int64_t o = b; o < e; ++o) {
          for (int i = 0; i < ni; ++i) base[i] = 0;
          int64_t rem = o;
          for (int q = no - 1; q >= 0; --q) {
            int l = out_labels[q];
            int64_t v = rem % dim[l];
            rem /= dim[l];
            for (int i = 0; i < ni; ++i) base[i] += v * strides[i][l];
          }
          Acc acc = 0;
          for (int q = 0; q < ns; ++q) sidx[q] = 0;
          int64_t off[8];
          for (int i = 0; i < ni; ++i) off[i] = base[i];
          for (int64_t s = 0; s < sum_n; ++s) {
            Acc prod = static_cast<Acc>(static_cast<ComputeType<T>>(ptr[0][off[0]]));
            for (int i = 1; i < ni; ++i) prod = static_cast<Acc>(prod * static_cast<Acc>(static_cast<ComputeType<T>>(ptr[i][off[i]])));
            acc = static_cast<Acc>(acc + prod);
            for (int q = ns - 1; q >= 0; --q) {
              int l = sum_labels[q];
              for (int i = 0; i < ni; ++i) off[i] += strides[i][l];
              if (++sidx[q] < dim[l]) break;
              for (int i = 0; i < ni; ++i) off[i] -= strides[i][l] * dim[l];
              sidx[q] = 0;
            }
          }
          if constexpr (kIsHalf<T>) yd[o] = T(static_cast<float>(acc));
          else yd[o] = static_cast<T>(acc);
        }
      });
    };
    if (!DispatchNumeric(in[0]->dtype(), run)) return ctx.Error(std::string("unsupported type ") + DataTypeName(in[0]->dtype()));
    return Status::Ok();
  }

 private:
  static char LabelChar(int l) { return l < 26 ? static_cast<char>('A' + l) : l < 52 ? static_cast<char>('a' + l - 26) : '.'; }

  Status ParseTerm(const NodeInfo& n, const std::string& s, std::vector<int>* term) {
    bool seen_e = false;
    for (size_t i = 0; i < s.size(); ++i) {
      char c = s[i];
      if (c == '.') {
        if (s.compare(i, 3, "...") != 0 || seen_e) return n.Error("bad ellipsis in equation term '" + s + "'");
        seen_e = true;
        term->push_back(kEllipsis);
        i += 2;
      } else if (c >= 'A' && c <= 'Z') {
        term->push_back(c - 'A');
      } else if (c >= 'a' && c <= 'z') {
        term->push_back(26 + (c - 'a'));
      } else {
        return n.Error(std::string("bad character '") + c + "' in equation");
      }
    }
    return Status::Ok();
  }

  std::vector<std::vector<int>> terms_;
  std::vector<int> out_term_;
  bool explicit_ = false;
};

// ---------------------------------------------------------------------------------------------
// Det: determinants of the trailing M x M matrices, by LU with partial pivoting in double.

class DetKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input X is required");
    const int r = x->rank();
    if (r < 2 || x->dim(r - 1) != x->dim(r - 2))
      return ctx.Error("X must be [*, M, M], got " + x->shape().ToString());
    const int64_t m = x->dim(r - 1);
    Shape out;
    for (int i = 0; i < r - 2; ++i) out.PushBack(x->dim(i));
    Tensor* y = ctx.Output(0, x->dtype(), out);
    const int64_t mats = out.NumElements();
    double* a = static_cast<double*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(m * m, 1)) * sizeof(double)));
    const bool ok = DispatchFloat(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = x->data<T>();
      T* dst = y->data<T>();
      for (int64_t b = 0; b < mats; ++b) {
        for (int64_t i = 0; i < m * m; ++i) a[i] = static_cast<double>(static_cast<ComputeType<T>>(src[b * m * m + i]));
        double det = 1.0;
        for (int64_t c = 0; c < m && det != 0.0; ++c) {
          int64_t p = c;
          for (int64_t i = c + 1; i < m; ++i)
            if (std::fabs(a[i * m + c]) > std::fabs(a[p * m + c])) p = i;
          if (a[p * m + c] == 0.0) {
            det = 0.0;
            break;
          }
          if (p != c) {
            for (int64_t j = 0; j < m; ++j) std::swap(a[p * m + j], a[c * m + j]);
            det = -det;
          }
          const double piv = a[c * m + c];
          det *= piv;
          for (int64_t i = c + 1; i < m; ++i) {
            const double f = a[i * m + c] / piv;
            for (int64_t j = c + 1; j < m; ++j) a[i * m + j] -= f * a[c * m + j];
          }
        }
        dst[b] = static_cast<T>(static_cast<ComputeType<T>>(det));
      }
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }
};

}  // namespace

void RegisterMathOps(OpRegistry& r) {
  r.Add("", "MatMul", Factory<MatMulKernel>());
  r.Add("", "Gemm", Factory<GemmKernel>());
  r.Add("", "Einsum", Factory<EinsumKernel>());
  r.Add("", "Det", Factory<DetKernel>());
}

}  // namespace onnxd::engine
