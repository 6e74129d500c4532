// Convolutions outside Conv's im2col + GEMM path: DeformConv (19, 22), whose taps sit at learned
// fractional offsets, and CausalConvWithState (27), a depthwise causal 1-D convolution that carries
// its last k - 1 inputs between calls (streaming / decode steps).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "ops/op_kernel.h"
#include "ops/op_util.h"

namespace onnxd::engine {
namespace {

// float16/bfloat16 compute in float, double in double.
template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;

// ---------------------------------------------------------------------------------------------
// DeformConv (2-D): Y[n, oc, i, j] = B[oc] + sum over ic in oc's group and taps (ki, kj) of
//   W[oc, ic, ki, kj] * mask[n, g, ki, kj, i, j] * X~[n, ic](i*sh - ph + ki*dh + dy, j*sw - pw + kj*dw + dx)
// with (dy, dx) = offset[n, g, ki, kj, 0 / 1, i, j], g = ic's offset group, and X~ the bilinear
// interpolation of X that reads zeros outside it. The sampled taps form im2col columns, then one
// GEMM per group.
class DeformConvKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    group_ = n.GetInt("group", 1);
    offset_group_ = n.GetInt("offset_group", 1);
    kernel_ = n.GetInts("kernel_shape");
    pads_ = n.GetInts("pads");
    strides_ = n.GetInts("strides");
    dilations_ = n.GetInts("dilations");
    if (group_ < 1 || offset_group_ < 1) return n.Error("group and offset_group must be >= 1");
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* w = ctx.input(1);
    const Tensor* off = ctx.input(2);
    const Tensor* b = ctx.input(3);
    const Tensor* mask = ctx.input(4);
    if (x == nullptr || w == nullptr || off == nullptr) return ctx.Error("X, W and offset are required");
    if (x->rank() != 4 || w->rank() != 4 || off->rank() != 4)
      return ctx.Error("only 2-D DeformConv is supported: X, W and offset must be rank 4, X is " + x->shape().ToString());
    for (const Tensor* t : {w, off, b, mask})
      if (t != nullptr && t->dtype() != x->dtype()) return ctx.Error("all inputs must share X's type");
    const int64_t N = x->dim(0), C = x->dim(1), H = x->dim(2), W = x->dim(3);
    const int64_t OC = w->dim(0), CG = w->dim(1);
    const int64_t kh = kernel_.size() == 2 ? kernel_[0] : w->dim(2), kw = kernel_.size() == 2 ? kernel_[1] : w->dim(3);
    if (kh != w->dim(2) || kw != w->dim(3)) return ctx.Error("kernel_shape differs from W's spatial dims");
    if (C != CG * group_ || OC % group_ != 0)
      return ctx.Error("X has " + std::to_string(C) + " channels, W " + w->shape().ToString() + " with group " +
                       std::to_string(group_));
    if (C % offset_group_ != 0) return ctx.Error("channels must divide by offset_group");
    const int64_t pt = pads_.size() == 4 ? pads_[0] : 0, pl = pads_.size() == 4 ? pads_[1] : 0;
    const int64_t pb = pads_.size() == 4 ? pads_[2] : 0, pr = pads_.size() == 4 ? pads_[3] : 0;
    const int64_t sh = strides_.size() == 2 ? strides_[0] : 1, sw = strides_.size() == 2 ? strides_[1] : 1;
    const int64_t dh = dilations_.size() == 2 ? dilations_[0] : 1, dw = dilations_.size() == 2 ? dilations_[1] : 1;
    if (sh < 1 || sw < 1 || dh < 1 || dw < 1) return ctx.Error("strides and dilations must be >= 1");
    const int64_t OH = (H + pt + pb - ((kh - 1) * dh + 1)) / sh + 1;
    const int64_t OW = (W + pl + pr - ((kw - 1) * dw + 1)) / sw + 1;
    const int64_t K = kh * kw, P = OH * OW;
    if (OH <= 0 || OW <= 0) return ctx.Error("the kernel does not fit the padded input");
    if (off->dim(0) != N || off->dim(1) != offset_group_ * K * 2 || off->dim(2) != OH || off->dim(3) != OW)
      return ctx.Error("offset must be [" + std::to_string(N) + "," + std::to_string(offset_group_ * K * 2) + "," +
                       std::to_string(OH) + "," + std::to_string(OW) + "], got " + off->shape().ToString());
    if (mask != nullptr && (mask->dim(0) != N || mask->dim(1) != offset_group_ * K || mask->rank() != 4 ||
                            mask->dim(2) != OH || mask->dim(3) != OW))
      return ctx.Error("mask must be [" + std::to_string(N) + "," + std::to_string(offset_group_ * K) + "," +
                       std::to_string(OH) + "," + std::to_string(OW) + "], got " + mask->shape().ToString());
    if (b != nullptr && b->num_elements() != OC) return ctx.Error("B must have one value per output channel");
    Tensor* y = ctx.Output(0, x->dtype(), Shape{N, OC, OH, OW});
    bool ok = DispatchFloat(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using F = Acc<T>;
      auto load = [&](const Tensor* t) -> F* {
        F* d = static_cast<F*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(t->num_elements(), 1)) * sizeof(F)));
        for (int64_t i = 0; i < t->num_elements(); ++i) d[i] = static_cast<F>(static_cast<ComputeType<T>>(t->data<T>()[i]));
        return d;
      };
      const F* xf = load(x);
      const F* wf = load(w);
      const F* of = load(off);
      const F* mf = mask != nullptr ? load(mask) : nullptr;
      F* col = static_cast<F*>(ctx.Scratch(static_cast<size_t>(C * K * P) * sizeof(F)));
      F* out = static_cast<F*>(ctx.Scratch(static_cast<size_t>(OC * P) * sizeof(F)));
      const int64_t c_per_og = C / offset_group_;
      for (int64_t n = 0; n < N; ++n) {
        ctx.pool().ParallelFor(C, 1, [&](int64_t c0, int64_t c1) {
          for (int64_t c = c0; c < c1; ++c) {
            const int64_t g = c / c_per_og;
            const F* img = xf + (n * C + c) * H * W;
            for (int64_t ki = 0; ki < kh; ++ki)
              for (int64_t kj = 0; kj < kw; ++kj) {
                const int64_t k = ki * kw + kj;
                const F* oy = of + ((n * offset_group_ + g) * K + k) * 2 * P;
                const F* ox = oy + P;
                const F* mk = mf != nullptr ? mf + ((n * offset_group_ + g) * K + k) * P : nullptr;
                F* dst = col + (c * K + k) * P;
                for (int64_t i = 0; i < OH; ++i)
                  for (int64_t j = 0; j < OW; ++j) {
                    const int64_t p = i * OW + j;
                    const F py = static_cast<F>(i * sh - pt + ki * dh) + oy[p];
                    const F px = static_cast<F>(j * sw - pl + kj * dw) + ox[p];
                    F v = 0;
                    if (py > F(-1) && py < static_cast<F>(H) && px > F(-1) && px < static_cast<F>(W)) {
                      const F fy = std::floor(py), fx = std::floor(px);
                      const int64_t y0 = static_cast<int64_t>(fy), x0 = static_cast<int64_t>(fx);
                      const F ay = py - fy, ax = px - fx;
                      auto at = [&](int64_t yy, int64_t xx) -> F {
                        return yy >= 0 && yy < H && xx >= 0 && xx < W ? img[yy * W + xx] : F(0);
                      };
                      v = (F(1) - ay) * ((F(1) - ax) * at(y0, x0) + ax * at(y0, x0 + 1)) +
                          ay * ((F(1) - ax) * at(y0 + 1, x0) + ax * at(y0 + 1, x0 + 1));
                    }
                    dst[p] = mk != nullptr ? v * mk[p] : v;
                  }
              }
          }
        });
        const int64_t OCG = OC / group_;
        for (int64_t grp = 0; grp < group_; ++grp) {
          const F* a = wf + grp * OCG * CG * K;
          const F* bm = col + grp * CG * K * P;
          F* cm = out + grp * OCG * P;
          if constexpr (std::is_same_v<F, float>)
            cpu::Sgemm(false, false, OCG, P, CG * K, 1.0f, a, CG * K, bm, P, 0.0f, cm, P, &ctx.pool());
          else
            cpu::Dgemm(false, false, OCG, P, CG * K, 1.0, a, CG * K, bm, P, 0.0, cm, P, &ctx.pool());
        }
        T* yo = y->data<T>() + n * OC * P;
        for (int64_t o = 0; o < OC; ++o) {
          const F bias = b != nullptr ? static_cast<F>(static_cast<ComputeType<T>>(b->data<T>()[o])) : F(0);
          for (int64_t p = 0; p < P; ++p) yo[o * P + p] = static_cast<T>(static_cast<ComputeType<T>>(out[o * P + p] + bias));
        }
      }
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  int64_t group_ = 1, offset_group_ = 1;
  std::vector<int64_t> kernel_, pads_, strides_, dilations_;
};

// ---------------------------------------------------------------------------------------------
// CausalConvWithState: padded = concat(past_state or zeros [B, C, k-1], input) along time;
// output[b, c, t] = act(bias[c] + sum_j weight[c, 0, j] * padded[b, c, t + j]);
// present_state = the last k - 1 steps of padded. act: none, or silu / swish (x * sigmoid(x)).
class CausalConvWithStateKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    const std::string act = n.GetString("activation", "none");
    if (act != "none" && act != "silu" && act != "swish")
      return n.Error("activation must be 'none', 'silu' or 'swish', got '" + act + "'");
    silu_ = act != "none";
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* w = ctx.input(1);
    const Tensor* b = ctx.input(2);
    const Tensor* past = ctx.input(3);
    if (x == nullptr || w == nullptr) return ctx.Error("input and weight are required");
    if (x->rank() != 3) return ctx.Error("input must be [batch, channels, length], got " + x->shape().ToString());
    const int64_t B = x->dim(0), C = x->dim(1), L = x->dim(2);
    if (w->rank() != 3 || w->dim(0) != C || w->dim(1) != 1 || w->dim(2) < 1)
      return ctx.Error("weight must be [" + std::to_string(C) + ",1,k], got " + w->shape().ToString());
    const int64_t k = w->dim(2), S = k - 1;
    if (b != nullptr && b->num_elements() != C) return ctx.Error("bias must have one value per channel");
    if (past != nullptr && past->shape() != Shape{B, C, S})
      return ctx.Error("past_state must be [" + std::to_string(B) + "," + std::to_string(C) + "," + std::to_string(S) +
                       "], got " + past->shape().ToString());
    for (const Tensor* t : {w, b, past})
      if (t != nullptr && t->dtype() != x->dtype()) return ctx.Error("all inputs must share input's type");
    Tensor* y = ctx.Output(0, x->dtype(), x->shape());
    Tensor* state = ctx.Output(1, x->dtype(), Shape{B, C, S});
    bool ok = DispatchFloat(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using F = Acc<T>;
      auto val = [](T v) { return static_cast<F>(static_cast<ComputeType<T>>(v)); };
      ctx.pool().ParallelFor(B * C, 4, [&](int64_t r0, int64_t r1) {
        std::vector<F> padded(static_cast<size_t>(S + L));
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t c = r % C;
          for (int64_t t = 0; t < S; ++t) padded[t] = past != nullptr ? val(past->data<T>()[r * S + t]) : F(0);
          for (int64_t t = 0; t < L; ++t) padded[S + t] = val(x->data<T>()[r * L + t]);
          const T* wc = w->data<T>() + c * k;
          const F bias = b != nullptr ? val(b->data<T>()[c]) : F(0);
          T* out = y->data<T>() + r * L;
          for (int64_t t = 0; t < L; ++t) {
            F acc = bias;
            for (int64_t j = 0; j < k; ++j) acc += val(wc[j]) * padded[t + j];
            // The reference rounds the convolution to the input's type before the activation.
            acc = static_cast<F>(static_cast<ComputeType<T>>(static_cast<T>(static_cast<ComputeType<T>>(acc))));
            if (silu_) acc = acc / (F(1) + std::exp(-acc));
            out[t] = static_cast<T>(static_cast<ComputeType<T>>(acc));
          }
          T* st = state->data<T>() + r * S;
          for (int64_t t = 0; t < S; ++t) st[t] = static_cast<T>(static_cast<ComputeType<T>>(padded[L + t]));
        }
      });
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  bool silu_ = false;
};

}  // namespace

void RegisterConvVariantOps(OpRegistry& r) {
  r.Add("", "DeformConv", Factory<DeformConvKernel>(), 19);
  r.Add("", "CausalConvWithState", Factory<CausalConvWithStateKernel>(), 27);
}

}  // namespace onnxd::engine
