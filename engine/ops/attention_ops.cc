// Attention-family ops of ai.onnx: Attention (23, 24), RotaryEmbedding (23), LinearAttention (27)
// TensorScatter (24, the KV-cache update) and ai.onnx.preview FlexAttention (1).
//
// Attention runs on float32: other float types are converted into scratch, computed, and converted
// back. The core works per (batch, q head, block of query rows): one GEMM for the scores of the block
// (Q_blk * K^T, scaled), a row pass for softcap / mask / causal / padding and a numerically stable
// softmax, and one GEMM for the output (P * V). Q, K, V and Y are addressed with row strides so the
// 3-D [batch, seq, heads*head_size] layout needs no transposes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/vec_math.h"
#include "ops/op_kernel.h"
#include "ops/op_util.h"

namespace onnxd::engine {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Converts n elements of a float-family dtype to float.
void ToFloat(DataType dt, const void* src, float* dst, int64_t n) {
  DispatchFloat(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* s = static_cast<const T*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]);
  });
}

void FromFloat(DataType dt, const float* src, void* dst, int64_t n) {
  DispatchFloat(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* d = static_cast<T*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(src[i]);
  });
}

std::string Dims(const Tensor& t) { return t.shape().ToString(); }

// ------------------------------------------------------------------------------------------------
// Attention
// ------------------------------------------------------------------------------------------------

class AttentionKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    opset_ = n.opset();
    is_causal_ = n.GetInt("is_causal", 0) != 0;
    q_num_heads_ = n.GetInt("q_num_heads", 0);
    kv_num_heads_ = n.GetInt("kv_num_heads", 0);
    qk_mode_ = n.GetInt("qk_matmul_output_mode", 0);
    if (qk_mode_ < 0 || qk_mode_ > 3) {
      return n.Error("qk_matmul_output_mode must be 0, 1, 2 or 3, got " + std::to_string(qk_mode_));
    }
    has_scale_ = n.has_attr("scale");
    scale_ = n.GetFloat("scale", 0.f);
    softcap_ = n.GetFloat("softcap", 0.f);
    if (q_num_heads_ < 0 || kv_num_heads_ < 0) return n.Error("q_num_heads/kv_num_heads must be positive");
    if (n.has_input(6) && opset_ < 24) return n.Error("nonpad_kv_seqlen needs opset 24");
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override;

 private:
  int opset_ = 23;
  bool is_causal_ = false;
  int64_t q_num_heads_ = 0;
  int64_t kv_num_heads_ = 0;
  int64_t qk_mode_ = 0;
  bool has_scale_ = false;
  float scale_ = 0.f;
  float softcap_ = 0.f;
};

// Everything the float core needs; pointers are float and laid out as described.
struct AttnGeom {
  int64_t B, Hq, Hkv, Sq, T, D, Dv, past;
  bool three_d;
  // Q / Y: 3-D [B, Sq, H*D] or 4-D [B, H, Sq, D].
  const float* q;
  float* y;
  // K / V over the total sequence: either 4-D contiguous [B, Hkv, T, D] (kv4d) or the 3-D input.
  const float* k;
  const float* v;
  bool kv3d;
  float scale;
  float softcap;
  bool causal;
  // Mask (optional): float or bool, with broadcast strides over (B, Hq, Sq) and a last dim mlen <= T.
  const float* maskf;
  const bool* maskb;
  int64_t msb, msh, mss, mlen;
  const int64_t* nonpad;  // [B] or null
  int64_t qk_mode;
  float* qk;  // [B, Hq, Sq, T] or null
};

void AttentionCore(const AttnGeom& g, KernelContext& ctx) {
  const int64_t qb = 64;  // query rows per work item
  const int64_t nqb = (g.Sq + qb - 1) / qb;
  const int64_t items = g.B * g.Hq * nqb;
  if (items == 0) return;
  const int64_t group = g.Hq / g.Hkv;
  const double work = static_cast<double>(g.B * g.Hq) * g.Sq * g.T * (g.D + g.Dv);
  int64_t nchunks = 1;
  ThreadPool& pool = ctx.pool();
  if (work > 2e5 && pool.num_threads() > 1) nchunks = std::min<int64_t>(items, pool.num_threads() * 4);
  const int64_t rows_cap = std::min(qb, g.Sq);
  const size_t slot = static_cast<size_t>(rows_cap * std::max<int64_t>(g.T, 1));
  float* scratch = static_cast<float*>(ctx.Scratch(sizeof(float) * slot * nchunks + 64));

  const int64_t ldq = g.three_d ? g.Hq * g.D : g.D;
  const int64_t ldy = g.three_d ? g.Hq * g.Dv : g.Dv;
  const int64_t ldk = g.kv3d ? g.Hkv * g.D : g.D;
  const int64_t ldv = g.kv3d ? g.Hkv * g.Dv : g.Dv;

  auto run_item = [&](int64_t item, float* s) {
    const int64_t blk = item % nqb;
    const int64_t bh = item / nqb;
    const int64_t h = bh % g.Hq;
    const int64_t b = bh / g.Hq;
    const int64_t kvh = h / group;
    const int64_t r0 = blk * qb;
    const int64_t rows = std::min(qb, g.Sq - r0);
    const float* qp = g.three_d ? g.q + (b * g.Sq + r0) * ldq + h * g.D : g.q + ((b * g.Hq + h) * g.Sq + r0) * g.D;
    float* yp = g.three_d ? g.y + (b * g.Sq + r0) * ldy + h * g.Dv : g.y + ((b * g.Hq + h) * g.Sq + r0) * g.Dv;
    const float* kp = g.kv3d ? g.k + b * g.T * ldk + kvh * g.D : g.k + (b * g.Hkv + kvh) * g.T * g.D;
    const float* vp = g.kv3d ? g.v + b * g.T * ldv + kvh * g.Dv : g.v + (b * g.Hkv + kvh) * g.T * g.Dv;
    const int64_t T = g.T;
    if (T == 0) {
      for (int64_t r = 0; r < rows; ++r) {
        float* yr = yp + r * ldy;
        for (int64_t d = 0; d < g.Dv; ++d) yr[d] = 0.f;
      }
      return;
    }
    const int64_t valid = g.nonpad ? std::clamp<int64_t>(g.nonpad[b], 0, T) : T;
    // Columns past the causal / padding limit of every row in the block get zero probability, so
    // they are not computed at all unless the scores themselves are an output.
    int64_t n = T;
    if (!g.qk) {
      if (g.causal) n = std::min(n, r0 + rows + g.past);
      n = std::min(n, valid);
      if (n <= 0) n = T;  // fully masked rows: keep the reference's NaN semantics
    }
    cpu::SgemmSerial(false, true, rows, n, g.D, g.scale, qp, ldq, kp, ldk, 0.f, s, n);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r0 + r;
      float* sr = s + r * n;
      float* qkr = g.qk ? g.qk + ((b * g.Hq + h) * g.Sq + i) * T : nullptr;
      if (qkr && g.qk_mode == 0) std::memcpy(qkr, sr, sizeof(float) * n);
      if (g.softcap > 0.f) {
        const float c = g.softcap, inv = 1.f / g.softcap;
        for (int64_t j = 0; j < n; ++j) sr[j] = c * std::tanh(sr[j] * inv);
      }
      if (qkr && g.qk_mode == 1) std::memcpy(qkr, sr, sizeof(float) * n);
      if (g.maskf || g.maskb) {
        const int64_t moff = b * g.msb + h * g.msh + i * g.mss;
        const int64_t ml = std::min(g.mlen, n);
        if (g.maskf) {
          const float* m = g.maskf + moff;
          for (int64_t j = 0; j < ml; ++j) sr[j] += m[j];
        } else {
          const bool* m = g.maskb + moff;
          for (int64_t j = 0; j < ml; ++j) sr[j] = m[j] ? sr[j] : kNegInf;
        }
        for (int64_t j = ml; j < n; ++j) sr[j] = kNegInf;
      }
      int64_t end = std::min(valid, n);
      if (g.causal) end = std::min(end, std::max<int64_t>(i + g.past + 1, 0));
      for (int64_t j = end; j < n; ++j) sr[j] = kNegInf;
      if (qkr && g.qk_mode == 2) std::memcpy(qkr, sr, sizeof(float) * n);
      float mx = kNegInf;
      for (int64_t j = 0; j < n; ++j) mx = std::max(mx, sr[j]);
      float sum = 0.f;
      for (int64_t j = 0; j < n; ++j) {
        const float d = sr[j] - mx;
        const float e = d < -87.f ? 0.f : cpu::FastExp(d);  // masked (-inf) entries give exactly 0
        sr[j] = e;
        sum += e;
      }
      const float inv = 1.f / sum;
      for (int64_t j = 0; j < n; ++j) sr[j] *= inv;
      if (qkr && g.qk_mode == 3) std::memcpy(qkr, sr, sizeof(float) * n);
    }
    cpu::SgemmSerial(false, false, rows, g.Dv, n, 1.f, s, n, vp, ldv, 0.f, yp, ldy);
  };

  if (nchunks <= 1) {
    for (int64_t it = 0; it < items; ++it) run_item(it, scratch);
    return;
  }
  pool.ParallelFor(nchunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float* s = scratch + slot * c;
      const int64_t i0 = items * c / nchunks, i1 = items * (c + 1) / nchunks;
      for (int64_t it = i0; it < i1; ++it) run_item(it, s);
    }
  });
}

// Writes concat(past, cur) along the sequence axis into present [B, H, P+S, D] (element bytes es).
// `cur` is 4-D [B, H, S, D] or 3-D [B, S, H*D].
void ConcatKv(const char* past, const char* cur, bool cur3d, char* present, int64_t B, int64_t H, int64_t P,
              int64_t S, int64_t D, size_t es) {
  const int64_t T = P + S;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      char* dst = present + static_cast<size_t>((b * H + h) * T * D) * es;
      if (P > 0) std::memcpy(dst, past + static_cast<size_t>((b * H + h) * P * D) * es, static_cast<size_t>(P * D) * es);
      dst += static_cast<size_t>(P * D) * es;
      if (!cur3d) {
        std::memcpy(dst, cur + static_cast<size_t>((b * H + h) * S * D) * es, static_cast<size_t>(S * D) * es);
      } else {
        for (int64_t s = 0; s < S; ++s) {
          std::memcpy(dst + static_cast<size_t>(s * D) * es,
                      cur + static_cast<size_t>((b * S + s) * H * D + h * D) * es, static_cast<size_t>(D) * es);
        }
      }
    }
  }
}

Status AttentionKernel::Compute(KernelContext& ctx) const {
  const Tensor* Q = ctx.input(0);
  const Tensor* K = ctx.input(1);
  const Tensor* V = ctx.input(2);
  if (!Q || !K || !V) return ctx.Error("Q, K and V are required");
  const Tensor* mask = ctx.num_inputs() > 3 ? ctx.input(3) : nullptr;
  const Tensor* past_k = ctx.num_inputs() > 4 ? ctx.input(4) : nullptr;
  const Tensor* past_v = ctx.num_inputs() > 5 ? ctx.input(5) : nullptr;
  const Tensor* nonpad = ctx.num_inputs() > 6 ? ctx.input(6) : nullptr;
  const DataType dt = Q->dtype();
  if (!IsFloatingPoint(dt)) return ctx.Error(std::string("Q must be a float type, got ") + DataTypeName(dt));
  if (K->dtype() != dt || V->dtype() != dt) return ctx.Error("Q, K and V must have the same dtype");
  const int rank = Q->rank();
  if ((rank != 3 && rank != 4) || K->rank() != rank || V->rank() != rank) {
    return ctx.Error("Q, K, V must all be 3-D or all be 4-D, got " + Dims(*Q) + ", " + Dims(*K) + ", " + Dims(*V));
  }
  const bool three_d = rank == 3;
  const int64_t B = Q->dim(0);
  if (K->dim(0) != B || V->dim(0) != B) return ctx.Error("Q, K, V batch sizes differ");
  int64_t Hq, Hkv, Sq, Skv, D, Dv;
  if (three_d) {
    Hq = q_num_heads_;
    Hkv = kv_num_heads_;
    if (Hq <= 0 || Hkv <= 0) return ctx.Error("3-D inputs need q_num_heads and kv_num_heads attributes");
    if (Q->dim(2) % Hq != 0) return ctx.Error("Q hidden size " + std::to_string(Q->dim(2)) + " not divisible by q_num_heads");
    if (K->dim(2) % Hkv != 0 || V->dim(2) % Hkv != 0) return ctx.Error("K/V hidden size not divisible by kv_num_heads");
    Sq = Q->dim(1);
    Skv = K->dim(1);
    D = Q->dim(2) / Hq;
    if (K->dim(2) / Hkv != D) return ctx.Error("Q and K head sizes differ: Q " + Dims(*Q) + ", K " + Dims(*K));
    Dv = V->dim(2) / Hkv;
    if (V->dim(1) != Skv) return ctx.Error("K and V sequence lengths differ");
  } else {
    Hq = Q->dim(1);
    Hkv = K->dim(1);
    if (V->dim(1) != Hkv) return ctx.Error("K and V head counts differ");
    Sq = Q->dim(2);
    Skv = K->dim(2);
    D = Q->dim(3);
    if (K->dim(3) != D) return ctx.Error("Q and K head sizes differ: Q " + Dims(*Q) + ", K " + Dims(*K));
    Dv = V->dim(3);
    if (V->dim(2) != Skv) return ctx.Error("K and V sequence lengths differ");
  }
  if (Hkv == 0 || Hq % Hkv != 0) {
    return ctx.Error("q heads (" + std::to_string(Hq) + ") must be a multiple of kv heads (" + std::to_string(Hkv) + ")");
  }
  int64_t P = 0;
  if ((past_k == nullptr) != (past_v == nullptr)) return ctx.Error("past_key and past_value must be given together");
  if (past_k) {
    if (past_k->dtype() != dt || past_v->dtype() != dt) return ctx.Error("past_key/past_value dtype differs from Q");
    if (past_k->rank() != 4 || past_v->rank() != 4) return ctx.Error("past_key/past_value must be 4-D");
    P = past_k->dim(2);
    if (past_k->dim(0) != B || past_k->dim(1) != Hkv || past_k->dim(3) != D) {
      return ctx.Error("past_key shape " + Dims(*past_k) + " does not match [batch, kv_heads, *, head_size]");
    }
    if (past_v->dim(0) != B || past_v->dim(1) != Hkv || past_v->dim(2) != P || past_v->dim(3) != Dv) {
      return ctx.Error("past_value shape " + Dims(*past_v) + " does not match past_key / V");
    }
  }
  const int64_t T = P + Skv;
  if (nonpad) {
    if (nonpad->dtype() != DataType::kInt64 || nonpad->rank() != 1 || nonpad->dim(0) != B) {
      return ctx.Error("nonpad_kv_seqlen must be int64 of shape [batch], got " + Dims(*nonpad));
    }
  }
  // Mask geometry.
  int64_t msb = 0, msh = 0, mss = 0, mlen = 0;
  if (mask) {
    if (mask->dtype() != DataType::kBool && mask->dtype() != dt) {
      return ctx.Error("attn_mask must be bool or the dtype of Q");
    }
    const int mr = mask->rank();
    if (mr < 2 || mr > 4) return ctx.Error("attn_mask must be 2-D, 3-D or 4-D, got " + Dims(*mask));
    int64_t strides[4];
    RowMajorStrides(mask->shape(), strides);
    const int64_t full[4] = {B, Hq, Sq, T};
    int64_t st[3] = {0, 0, 0};
    for (int k = 0; k < mr - 1; ++k) {
      const int ax = 4 - mr + k;  // aligned axis among B, Hq, Sq
      const int64_t d = mask->dim(k);
      if (d != 1 && d != full[ax]) {
        return ctx.Error("attn_mask shape " + Dims(*mask) + " does not broadcast to [" + std::to_string(B) + "," +
                         std::to_string(Hq) + "," + std::to_string(Sq) + "," + std::to_string(T) + "]");
      }
      st[ax] = d == 1 ? 0 : strides[k];
    }
    msb = st[0];
    msh = st[1];
    mss = st[2];
    mlen = mask->dim(mr - 1);
    if (mlen > T) return ctx.Error("attn_mask last dim " + std::to_string(mlen) + " exceeds total sequence length " + std::to_string(T));
  }

  // Outputs.
  Shape yshape = three_d ? Shape{B, Sq, Hq * Dv} : Shape{B, Hq, Sq, Dv};
  Tensor* Y = ctx.Output(0, dt, yshape);
  const bool want_pk = ctx.num_outputs() > 1 && ctx.has_output(1);
  const bool want_pv = ctx.num_outputs() > 2 && ctx.has_output(2);
  const bool want_qk = ctx.num_outputs() > 3 && ctx.has_output(3);
  Tensor* PK = want_pk ? ctx.Output(1, dt, Shape{B, Hkv, T, D}) : nullptr;
  Tensor* PV = want_pv ? ctx.Output(2, dt, Shape{B, Hkv, T, Dv}) : nullptr;
  Tensor* QK = want_qk ? ctx.Output(3, dt, Shape{B, Hq, Sq, T}) : nullptr;
  const size_t es = ElementSize(dt);

  // Present key/value in the native dtype.
  if (PK) ConcatKv(past_k ? static_cast<const char*>(past_k->raw_data()) : nullptr,
                   static_cast<const char*>(K->raw_data()), three_d, static_cast<char*>(PK->raw_data()), B, Hkv, P, Skv, D, es);
  if (PV) ConcatKv(past_v ? static_cast<const char*>(past_v->raw_data()) : nullptr,
                   static_cast<const char*>(V->raw_data()), three_d, static_cast<char*>(PV->raw_data()), B, Hkv, P, Skv, Dv, es);

  const bool is_f32 = dt == DataType::kFloat;
  auto as_float = [&](const Tensor& t) -> const float* {
    if (is_f32) return t.data<float>();
    float* f = static_cast<float*>(ctx.Scratch(sizeof(float) * t.num_elements() + 64));
    ToFloat(dt, t.raw_data(), f, t.num_elements());
    return f;
  };

  AttnGeom g{};
  g.B = B; g.Hq = Hq; g.Hkv = Hkv; g.Sq = Sq; g.T = T; g.D = D; g.Dv = Dv; g.past = P;
  g.three_d = three_d;
  g.q = as_float(*Q);
  g.y = is_f32 ? Y->data<float>() : static_cast<float*>(ctx.Scratch(sizeof(float) * Y->num_elements() + 64));
  if (past_k) {
    // K/V over the total sequence: the present outputs (float32) or a float concat in scratch.
    auto total = [&](Tensor* present, const Tensor* past, const Tensor* cur, int64_t hd) -> const float* {
      if (is_f32 && present) return present->data<float>();
      const int64_t n = B * Hkv * T * hd;
      float* f = static_cast<float*>(ctx.Scratch(sizeof(float) * n + 64));
      if (present) {
        ToFloat(dt, present->raw_data(), f, n);
      } else if (is_f32) {
        ConcatKv(static_cast<const char*>(past->raw_data()), static_cast<const char*>(cur->raw_data()), three_d,
                 reinterpret_cast<char*>(f), B, Hkv, P, Skv, hd, sizeof(float));
      } else {
        const float* pf = as_float(*past);
        const float* cf = as_float(*cur);
        ConcatKv(reinterpret_cast<const char*>(pf), reinterpret_cast<const char*>(cf), three_d,
                 reinterpret_cast<char*>(f), B, Hkv, P, Skv, hd, sizeof(float));
      }
      return f;
    };
    g.k = total(PK, past_k, K, D);
    g.v = total(PV, past_v, V, Dv);
    g.kv3d = false;
  } else {
    g.k = as_float(*K);
    g.v = as_float(*V);
    g.kv3d = three_d;
  }
  g.scale = has_scale_ ? scale_ : (D > 0 ? 1.f / std::sqrt(static_cast<float>(D)) : 1.f);
  g.softcap = softcap_;
  g.causal = is_causal_;
  g.maskf = nullptr;
  g.maskb = nullptr;
  if (mask) {
    if (mask->dtype() == DataType::kBool) g.maskb = mask->data<bool>();
    else g.maskf = as_float(*mask);
  }
  g.msb = msb; g.msh = msh; g.mss = mss; g.mlen = mlen;
  g.nonpad = nonpad ? nonpad->data<int64_t>() : nullptr;
  g.qk_mode = qk_mode_;
  g.qk = nullptr;
  if (QK) g.qk = is_f32 ? QK->data<float>() : static_cast<float*>(ctx.Scratch(sizeof(float) * QK->num_elements() + 64));

  AttentionCore(g, ctx);

  if (!is_f32) {
    FromFloat(dt, g.y, Y->raw_data(), Y->num_elements());
    if (QK) FromFloat(dt, g.qk, QK->raw_data(), QK->num_elements());
  }
  return Status::Ok();
}

// ------------------------------------------------------------------------------------------------
// RotaryEmbedding
// ------------------------------------------------------------------------------------------------

class RotaryEmbeddingKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    interleaved_ = n.GetInt("interleaved", 0) != 0;
    rotary_dim_ = n.GetInt("rotary_embedding_dim", 0);
    num_heads_ = n.GetInt("num_heads", 0);
    if (rotary_dim_ < 0 || num_heads_ < 0) return n.Error("rotary_embedding_dim and num_heads must be >= 0");
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* X = ctx.input(0);
    const Tensor* C = ctx.input(1);
    const Tensor* S = ctx.input(2);
    const Tensor* pos = ctx.num_inputs() > 3 ? ctx.input(3) : nullptr;
    if (!X || !C || !S) return ctx.Error("input, cos_cache and sin_cache are required");
    const DataType dt = X->dtype();
    if (!IsFloatingPoint(dt)) return ctx.Error("input must be a float type");
    if (C->dtype() != dt || S->dtype() != dt) return ctx.Error("cos_cache/sin_cache dtype differs from input");
    if (C->shape() != S->shape()) return ctx.Error("cos_cache and sin_cache shapes differ");
    const int rank = X->rank();
    if (rank != 3 && rank != 4) return ctx.Error("input must be 3-D or 4-D, got " + Dims(*X));
    const int64_t B = X->dim(0);
    int64_t Sl, H, D;
    if (rank == 4) {
      H = X->dim(1);
      Sl = X->dim(2);
      D = X->dim(3);
    } else {
      Sl = X->dim(1);
      const int64_t hidden = X->dim(2);
      H = num_heads_;
      if (H == 0) {
        const int64_t hs = rotary_dim_ > 0 ? rotary_dim_ : 2 * (C->rank() > 0 ? C->dim(C->rank() - 1) : 0);
        if (hs <= 0 || hidden % hs != 0) return ctx.Error("3-D input needs the num_heads attribute");
        H = hidden / hs;
      }
      if (hidden % H != 0) return ctx.Error("hidden size not divisible by num_heads");
      D = hidden / H;
    }
    const int64_t rd = rotary_dim_ > 0 ? rotary_dim_ : D;
    if (rd > D || rd % 2 != 0) return ctx.Error("rotary_embedding_dim " + std::to_string(rd) + " invalid for head size " + std::to_string(D));
    const int64_t half = rd / 2;
    int64_t max_pos = 0;
    if (pos) {
      if (pos->dtype() != DataType::kInt64 || pos->rank() != 2 || pos->dim(0) != B || pos->dim(1) != Sl) {
        return ctx.Error("position_ids must be int64 [batch, seq], got " + Dims(*pos));
      }
      if (C->rank() != 2 || C->dim(1) != half) return ctx.Error("cos_cache must be [max_pos, rotary_dim/2], got " + Dims(*C));
      max_pos = C->dim(0);
    } else {
      if (C->rank() != 3 || C->dim(0) != B || C->dim(1) != Sl || C->dim(2) != half) {
        return ctx.Error("cos_cache must be [batch, seq, rotary_dim/2] without position_ids, got " + Dims(*C));
      }
    }
    const int64_t* pids = pos ? pos->data<int64_t>() : nullptr;
    if (pids) {
      for (int64_t i = 0; i < B * Sl; ++i) {
        if (pids[i] < 0 || pids[i] >= max_pos) return ctx.Error("position_ids value " + std::to_string(pids[i]) + " out of range");
      }
    }
    Tensor* Y = ctx.Output(0, dt, X->shape());
    // Element (b, s, h, d) offset.
    const int64_t sb = rank == 4 ? H * Sl * D : Sl * H * D;
    const int64_t ss = rank == 4 ? D : H * D;
    const int64_t sh = rank == 4 ? Sl * D : D;
    const bool inter = interleaved_;
    DispatchFloat(dt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      using F = ComputeType<T>;
      const T* x = X->data<T>();
      const T* cc = C->data<T>();
      const T* sc = S->data<T>();
      T* y = Y->data<T>();
      const int64_t rows = B * Sl;
      const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, H * D));
      ctx.pool().ParallelFor(rows, grain, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t b = r / Sl, s = r % Sl;
          const int64_t crow = (pids ? pids[r] : r) * half;
          const T* cr = cc + crow;
          const T* sr = sc + crow;
          for (int64_t h = 0; h < H; ++h) {
            const int64_t off = b * sb + s * ss + h * sh;
            const T* xi = x + off;
            T* yo = y + off;
            for (int64_t i = 0; i < half; ++i) {
              const F c = static_cast<F>(cr[i]), sn = static_cast<F>(sr[i]);
              const int64_t i1 = inter ? 2 * i : i;
              const int64_t i2 = inter ? 2 * i + 1 : i + half;
              const F x1 = static_cast<F>(xi[i1]), x2 = static_cast<F>(xi[i2]);
              yo[i1] = static_cast<T>(c * x1 - sn * x2);
              yo[i2] = static_cast<T>(sn * x1 + c * x2);
            }
            for (int64_t d = rd; d < D; ++d) yo[d] = xi[d];
          }
        }
      });
    });
    return Status::Ok();
  }

 private:
  bool interleaved_ = false;
  int64_t rotary_dim_ = 0;
  int64_t num_heads_ = 0;
};

// ------------------------------------------------------------------------------------------------
// LinearAttention (opset 27): recurrent state S[b, kv_head] of [d_k, d_v], per time step
//   gated:  S *= exp(decay_t)            (per head or per key dim)
//   delta:  v_t <- beta_t * (v_t - S^T k_t)
//   write:  S += k_t v_t^T
//   read:   o_t[h] = scale * q_t[h] S[kv(h)]   for the q heads sharing the kv head
// ------------------------------------------------------------------------------------------------

class LinearAttentionKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    const std::string rule = n.GetString("update_rule", "gated_delta");
    if (rule == "linear") {
      gating_ = false, delta_ = false;
    } else if (rule == "gated") {
      gating_ = true, delta_ = false;
    } else if (rule == "delta") {
      gating_ = false, delta_ = true;
    } else if (rule == "gated_delta") {
      gating_ = true, delta_ = true;
    } else {
      return n.Error("unsupported update_rule '" + rule + "' (linear, gated, delta, gated_delta)");
    }
    auto q = n.RequireInt("q_num_heads");
    if (!q.ok()) return q.status();
    auto kv = n.RequireInt("kv_num_heads");
    if (!kv.ok()) return kv.status();
    q_heads_ = *q;
    kv_heads_ = *kv;
    if (q_heads_ <= 0 || kv_heads_ <= 0 || q_heads_ % kv_heads_ != 0) {
      return n.Error("q_num_heads must be a positive multiple of kv_num_heads");
    }
    scale_ = n.GetFloat("scale", 0.f);
    const bool has_decay = n.has_input(4), has_beta = n.has_input(5);
    if (gating_ != has_decay) return n.Error(std::string("update_rule '") + rule + (gating_ ? "' requires" : "' forbids") + " the decay input");
    if (delta_ != has_beta) return n.Error(std::string("update_rule '") + rule + (delta_ ? "' requires" : "' forbids") + " the beta input");
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* Q = ctx.input(0);
    const Tensor* K = ctx.input(1);
    const Tensor* V = ctx.input(2);
    const Tensor* past = ctx.num_inputs() > 3 ? ctx.input(3) : nullptr;
    const Tensor* decay = ctx.num_inputs() > 4 ? ctx.input(4) : nullptr;
    const Tensor* beta = ctx.num_inputs() > 5 ? ctx.input(5) : nullptr;
    if (!Q || !K || !V) return ctx.Error("query, key and value are required");
    const DataType dt = Q->dtype();
    if (!IsFloatingPoint(dt) || K->dtype() != dt || V->dtype() != dt) return ctx.Error("query, key, value must share a float dtype");
    if (Q->rank() != 3 || K->rank() != 3 || V->rank() != 3) {
      return ctx.Error("query, key, value must be 3-D, got " + Dims(*Q) + ", " + Dims(*K) + ", " + Dims(*V));
    }
    if (gating_ && !decay) return ctx.Error("decay input is required");
    if (delta_ && !beta) return ctx.Error("beta input is required");
    const int64_t B = Q->dim(0), T = Q->dim(1), Hq = q_heads_, Hkv = kv_heads_;
    if (K->dim(0) != B || V->dim(0) != B || K->dim(1) != T || V->dim(1) != T) return ctx.Error("query, key, value batch/sequence dims differ");
    if (Q->dim(2) % Hq != 0) return ctx.Error("query hidden size not divisible by q_num_heads");
    const int64_t dk = Q->dim(2) / Hq;
    if (K->dim(2) != Hkv * dk) return ctx.Error("key hidden size must be kv_num_heads * d_k, got " + Dims(*K));
    if (V->dim(2) % Hkv != 0) return ctx.Error("value hidden size not divisible by kv_num_heads");
    const int64_t dv = V->dim(2) / Hkv;
    bool decay_per_head = false;
    if (decay) {
      if (decay->dtype() != dt || decay->rank() != 3 || decay->dim(0) != B || decay->dim(1) != T) return ctx.Error("decay must be [batch, seq, *] of the query dtype, got " + Dims(*decay));
      if (decay->dim(2) == Hkv) decay_per_head = true;
      else if (decay->dim(2) != Hkv * dk) return ctx.Error("decay last dim must be kv_num_heads or kv_num_heads*d_k, got " + Dims(*decay));
    }
    int64_t beta_last = 0;
    if (beta) {
      if (beta->dtype() != dt || beta->rank() != 3 || beta->dim(0) != B || beta->dim(1) != T) return ctx.Error("beta must be [batch, seq, *] of the query dtype, got " + Dims(*beta));
      beta_last = beta->dim(2);
      if (beta_last != Hkv && beta_last != 1) return ctx.Error("beta last dim must be kv_num_heads or 1, got " + Dims(*beta));
    }
    DataType sdt = dt;
    if (past) {
      sdt = past->dtype();
      if (!IsFloatingPoint(sdt)) return ctx.Error("past_state must be a float type");
      if (past->rank() != 4 || past->dim(0) != B || past->dim(1) != Hkv || past->dim(2) != dk || past->dim(3) != dv) {
        return ctx.Error("past_state shape " + Dims(*past) + " must be [batch, kv_num_heads, d_k, d_v]");
      }
    }
    Tensor* Y = ctx.Output(0, dt, Shape{B, T, Hq * dv});
    Tensor* PS = ctx.Output(1, sdt, Shape{B, Hkv, dk, dv});
    auto as_float = [&](const Tensor& t) -> const float* {
      if (t.dtype() == DataType::kFloat) return t.data<float>();
      float* f = static_cast<float*>(ctx.Scratch(sizeof(float) * t.num_elements() + 64));
      ToFloat(t.dtype(), t.raw_data(), f, t.num_elements());
      return f;
    };
    const float* q = as_float(*Q);
    const float* k = as_float(*K);
    const float* v = as_float(*V);
    const float* g = decay ? as_float(*decay) : nullptr;
    const float* be = beta ? as_float(*beta) : nullptr;
    float* state = sdt == DataType::kFloat ? PS->data<float>()
                                           : static_cast<float*>(ctx.Scratch(sizeof(float) * PS->num_elements() + 64));
    if (past) {
      if (past->dtype() == DataType::kFloat) std::memcpy(state, past->data<float>(), sizeof(float) * past->num_elements());
      else ToFloat(past->dtype(), past->raw_data(), state, past->num_elements());
    } else {
      std::fill(state, state + PS->num_elements(), 0.f);
    }
    float* y = dt == DataType::kFloat ? Y->data<float>() : static_cast<float*>(ctx.Scratch(sizeof(float) * Y->num_elements() + 64));
    float* tmp = static_cast<float*>(ctx.Scratch(sizeof(float) * static_cast<size_t>(B * Hkv * std::max<int64_t>(dv, 1)) + 64));
    const float scale = scale_ != 0.f ? scale_ : (dk > 0 ? 1.f / std::sqrt(static_cast<float>(dk)) : 1.f);
    const int64_t group = Hq / Hkv;
    const int64_t work = T * dk * dv * (group + 3);
    const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(work, 1));
    ctx.pool().ParallelFor(B * Hkv, grain, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t b = p / Hkv, hk = p % Hkv;
        float* S = state + p * dk * dv;
        float* vt = tmp + p * dv;
        for (int64_t t = 0; t < T; ++t) {
          const int64_t bt = b * T + t;
          const float* kt = k + bt * Hkv * dk + hk * dk;
          const float* vin = v + bt * Hkv * dv + hk * dv;
          if (g) {
            if (decay_per_head) {
              const float f = std::exp(g[bt * Hkv + hk]);
              for (int64_t i = 0; i < dk * dv; ++i) S[i] *= f;
            } else {
              const float* gt = g + bt * Hkv * dk + hk * dk;
              for (int64_t d = 0; d < dk; ++d) {
                const float f = std::exp(gt[d]);
                float* row = S + d * dv;
                for (int64_t m = 0; m < dv; ++m) row[m] *= f;
              }
            }
          }
          if (be) {
            for (int64_t m = 0; m < dv; ++m) vt[m] = 0.f;
            for (int64_t d = 0; d < dk; ++d) {
              const float kd = kt[d];
              const float* row = S + d * dv;
              for (int64_t m = 0; m < dv; ++m) vt[m] += kd * row[m];
            }
            const float bb = be[bt * beta_last + (beta_last == 1 ? 0 : hk)];
            for (int64_t m = 0; m < dv; ++m) vt[m] = bb * (vin[m] - vt[m]);
          } else {
            for (int64_t m = 0; m < dv; ++m) vt[m] = vin[m];
          }
          for (int64_t d = 0; d < dk; ++d) {
            const float kd = kt[d];
            float* row = S + d * dv;
            for (int64_t m = 0; m < dv; ++m) row[m] += kd * vt[m];
          }
          for (int64_t j = 0; j < group; ++j) {
            const int64_t h = hk * group + j;
            const float* qt = q + bt * Hq * dk + h * dk;
            float* yo = y + bt * Hq * dv + h * dv;
            for (int64_t m = 0; m < dv; ++m) yo[m] = 0.f;
            for (int64_t d = 0; d < dk; ++d) {
              const float qd = qt[d] * scale;
              const float* row = S + d * dv;
              for (int64_t m = 0; m < dv; ++m) yo[m] += qd * row[m];
            }
          }
        }
      }
    });
    if (dt != DataType::kFloat) FromFloat(dt, y, Y->raw_data(), Y->num_elements());
    if (sdt != DataType::kFloat) FromFloat(sdt, state, PS->raw_data(), PS->num_elements());
    return Status::Ok();
  }

 private:
  bool gating_ = true;
  bool delta_ = true;
  int64_t q_heads_ = 0;
  int64_t kv_heads_ = 0;
  float scale_ = 0.f;
};

// TensorScatter: present = past with `update` written along `axis` at each batch row's
// write_indices[b] (wrapping around the axis in circular mode).
class TensorScatterKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    const std::string mode = n.GetString("mode", "linear");
    if (mode != "linear" && mode != "circular") return n.Error("mode must be 'linear' or 'circular', got '" + mode + "'");
    circular_ = mode == "circular";
    axis_ = n.GetInt("axis", -2);
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* past = ctx.input(0);
    const Tensor* upd = ctx.input(1);
    const Tensor* wi = ctx.input(2);
    if (past == nullptr || upd == nullptr) return ctx.Error("past_cache and update are required");
    if (past->dtype() != upd->dtype() || past->dtype() == DataType::kString)
      return ctx.Error("past_cache and update must share a numeric type");
    const int r = past->rank();
    if (upd->rank() != r) return ctx.Error("update rank differs from past_cache rank");
    auto ax = NormalizeAxis(axis_, r);
    if (!ax.ok()) return ctx.Error(ax.status().message());
    const int axis = *ax;
    if (axis == 0) return ctx.Error("axis must not be the batch axis");
    for (int i = 0; i < r; ++i)
      if (i != axis ? upd->dim(i) != past->dim(i) : upd->dim(i) > past->dim(i))
        return ctx.Error("update shape " + upd->shape().ToString() + " does not fit past_cache shape " +
                         past->shape().ToString() + " along axis " + std::to_string(axis));
    const int64_t batch = past->dim(0), max_len = past->dim(axis), len = upd->dim(axis);
    if (wi != nullptr) {
      if (wi->dtype() != DataType::kInt64 || wi->num_elements() != batch)
        return ctx.Error("write_indices must be int64 with one entry per batch row");
    }
    int64_t outer = 1, inner = ElementSize(past->dtype());
    for (int i = 0; i < axis; ++i) outer *= past->dim(i);
    for (int i = axis + 1; i < r; ++i) inner *= past->dim(i);
    const int64_t per_batch = batch == 0 ? 0 : outer / batch;
    Tensor* y = ctx.Output(0, past->dtype(), past->shape());
    auto* dst = static_cast<char*>(y->raw_data());
    const auto* src = static_cast<const char*>(upd->raw_data());
    if (past->bytes() > 0) std::memcpy(dst, past->raw_data(), past->bytes());
    for (int64_t o = 0; o < outer; ++o) {
      const int64_t start = wi != nullptr ? wi->data<int64_t>()[o / per_batch] : 0;
      for (int64_t s = 0; s < len; ++s) {
        int64_t pos = start + s;
        if (circular_) pos = ((pos % max_len) + max_len) % max_len;
        else if (pos < 0 || pos >= max_len)
          return ctx.Error("write index " + std::to_string(pos) + " is outside the cache length " + std::to_string(max_len));
        std::memcpy(dst + (o * max_len + pos) * inner, src + (o * len + s) * inner, static_cast<size_t>(inner));
      }
    }
    return Status::Ok();
  }

 private:
  bool circular_ = false;
  int64_t axis_ = -2;
};

// FlexAttention (ai.onnx.preview, 1): softmax(score_mod(Q K^T * scale)) then prob_mod, times V,
// with Q, K, V [B, H, L|S, E] and K/V heads shared by groups of Q heads. score_mod and prob_mod are
// graphs run once on the whole [B, Hq, L, S] tensor, in the softmax precision (float for float16 /
// bfloat16 inputs unless softmax_precision says otherwise). As the reference, Q and K are each
// scaled by sqrt(scale) in their own type and their product is rounded to that type.
class FlexAttentionKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    has_scale_ = n.has_attr("scale");
    scale_ = n.GetFloat("scale", 0.f);
    precision_ = n.GetInt("softmax_precision", 0);
    if (precision_ != 0 && !IsFloatingPoint(static_cast<DataType>(precision_)))
      return n.Error("softmax_precision must be a float type, got " + std::to_string(precision_));
    if (n.has_attr("score_mod")) {
      ASSIGN_OR_RETURN(score_mod_, n.GetSubgraph("score_mod"));
    }
    if (n.has_attr("prob_mod")) {
      ASSIGN_OR_RETURN(prob_mod_, n.GetSubgraph("prob_mod"));
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* q = ctx.input(0);
    const Tensor* k = ctx.input(1);
    const Tensor* v = ctx.input(2);
    if (q == nullptr || k == nullptr || v == nullptr) return ctx.Error("Q, K and V are required");
    if (q->rank() != 4 || k->rank() != 4 || v->rank() != 4) return ctx.Error("Q, K and V must be rank 4");
    if (k->dtype() != q->dtype() || v->dtype() != q->dtype()) return ctx.Error("Q, K and V must share one type");
    const int64_t B = q->dim(0), Hq = q->dim(1), L = q->dim(2), E = q->dim(3);
    const int64_t Hkv = k->dim(1), S = k->dim(2), Ev = v->dim(3);
    if (k->dim(0) != B || v->dim(0) != B || v->dim(1) != Hkv || v->dim(2) != S || k->dim(3) != E)
      return ctx.Error("shapes do not fit: Q " + q->shape().ToString() + ", K " + k->shape().ToString() + ", V " +
                       v->shape().ToString());
    if (Hkv <= 0 || Hq % Hkv != 0) return ctx.Error("Q heads must be a multiple of K/V heads");
    const DataType in_t = q->dtype();
    if (!IsFloatingPoint(in_t)) return ctx.Error(std::string("unsupported type ") + DataTypeName(in_t));
    const DataType soft_t = precision_ != 0 ? static_cast<DataType>(precision_)
                                            : (in_t == DataType::kDouble ? DataType::kDouble : DataType::kFloat);
    const float scale = has_scale_ ? scale_ : 1.0f / std::sqrt(static_cast<float>(E));
    const int64_t rep = Hq / Hkv, rows = B * Hq * L;
    // Values in double throughout; `round_in` / `round_soft` apply the reference's precisions.
    auto scratch = [&](int64_t n) { return static_cast<double*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(n, 1)) * 8)); };
    double* qf = scratch(q->num_elements());
    double* kf = scratch(k->num_elements());
    double* vf = scratch(v->num_elements());
    double* scores = scratch(rows * S);
    auto round_to = [](DataType t, double x) -> double {
      switch (t) {
        case DataType::kFloat: return static_cast<float>(x);
        case DataType::kFloat16: return static_cast<float>(Float16(static_cast<float>(x)));
        case DataType::kBFloat16: return static_cast<float>(BFloat16(static_cast<float>(x)));
        default: return x;
      }
    };
    DispatchFloat(in_t, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const double ss = round_to(in_t, std::sqrt(static_cast<double>(scale)));
      auto load = [&](const Tensor* t, double* d, bool scaled) {
        for (int64_t i = 0; i < t->num_elements(); ++i) {
          const double x = static_cast<double>(static_cast<ComputeType<T>>(t->data<T>()[i]));
          d[i] = scaled ? round_to(in_t, x * ss) : x;
        }
      };
      load(q, qf, true);
      load(k, kf, true);
      load(v, vf, false);
    });
    ctx.pool().ParallelFor(rows, 4, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t b = r / (Hq * L), h = (r / L) % Hq;
        const double* qr = qf + r * E;
        const double* kb = kf + (b * Hkv + h / rep) * S * E;
        for (int64_t s = 0; s < S; ++s) {
          double acc = 0;
          for (int64_t e = 0; e < E; ++e) acc += qr[e] * kb[s * E + e];
          scores[r * S + s] = round_to(soft_t, round_to(in_t, acc));
        }
      }
    });
    const Shape sshape{B, Hq, L, S};
    if (score_mod_ != nullptr) RETURN_IF_ERROR(RunMod(ctx, *score_mod_, "score_mod", soft_t, sshape, scores));
    for (int64_t r = 0; r < rows; ++r) {
      double* row = scores + r * S;
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t s = 0; s < S; ++s) mx = std::max(mx, row[s]);
      double sum = 0;
      for (int64_t s = 0; s < S; ++s) sum += (row[s] = round_to(soft_t, std::exp(row[s] - mx)));
      for (int64_t s = 0; s < S; ++s) row[s] = round_to(soft_t, row[s] / sum);
    }
    if (prob_mod_ != nullptr) RETURN_IF_ERROR(RunMod(ctx, *prob_mod_, "prob_mod", soft_t, sshape, scores));
    Tensor* y = ctx.Output(0, in_t, Shape{B, Hq, L, Ev});
    DispatchFloat(in_t, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* out = y->data<T>();
      ctx.pool().ParallelFor(rows, 4, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t b = r / (Hq * L), h = (r / L) % Hq;
          const double* vb = vf + (b * Hkv + h / rep) * S * Ev;
          const double* p = scores + r * S;
          for (int64_t e = 0; e < Ev; ++e) {
            double acc = 0;
            for (int64_t s = 0; s < S; ++s) acc += p[s] * round_to(soft_t, vb[s * Ev + e]);
            out[r * Ev + e] = static_cast<T>(static_cast<ComputeType<T>>(round_to(soft_t, acc)));
          }
        }
      });
    });
    return Status::Ok();
  }

 private:
  // Runs a score_mod / prob_mod graph on `vals` (shape `shape`, type `t`) in place.
  static Status RunMod(KernelContext& ctx, const GraphPlan& g, const char* what, DataType t, const Shape& shape,
                       double* vals) {
    const int64_t n = shape.NumElements();
    Tensor in = Tensor::Allocate(t, shape);
    DispatchFloat(t, [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (int64_t i = 0; i < n; ++i) in.data<T>()[i] = static_cast<T>(static_cast<ComputeType<T>>(vals[i]));
    });
    std::vector<Value> outs;
    const Value arg(in);
    RETURN_IF_ERROR(ctx.RunSubgraph(g, std::span<const Value>(&arg, 1), &outs));
    if (outs.size() != 1 || !outs[0].is_tensor() || outs[0].tensor().shape() != shape)
      return ctx.Error(std::string(what) + " must return one tensor of shape " + shape.ToString());
    const Tensor& o = outs[0].tensor();
    bool ok = DispatchFloat(o.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (int64_t i = 0; i < n; ++i) vals[i] = static_cast<double>(static_cast<ComputeType<T>>(o.data<T>()[i]));
    });
    if (!ok) return ctx.Error(std::string(what) + " returned a non-float tensor");
    return Status::Ok();
  }

  bool has_scale_ = false;
  float scale_ = 0.f;
  int64_t precision_ = 0;
  std::shared_ptr<const GraphPlan> score_mod_, prob_mod_;
};

}  // namespace

void RegisterAttentionOps(OpRegistry& r) {
  r.Add("", "Attention", Factory<AttentionKernel>(), 23);
  r.Add("", "RotaryEmbedding", Factory<RotaryEmbeddingKernel>(), 23);
  r.Add("", "LinearAttention", Factory<LinearAttentionKernel>(), 27);
  r.Add("", "TensorScatter", Factory<TensorScatterKernel>(), 24);
  r.Add("ai.onnx.preview", "FlexAttention", Factory<FlexAttentionKernel>());
}

}  // namespace onnxd::engine
