// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (ai.onnx, opset 12+).
//
// Input x is [N, C] or [N, C, d1, ..., dk]; target is [N] or [N, d1, ..., dk] of int32/int64
// class indices. Both are viewed as [N, C, D] / [N, D] with D = d1 * ... * dk. The per-element loss
// is -weight[t] * logp[n, t, d] (0 where t == ignore_index); reduction "none" keeps the target's
// shape, "sum" adds everything, "mean" divides the sum by the total weight of the non-ignored
// elements (by their count when no weight is given).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "ops/op_kernel.h"
#include "ops/op_util.h"

namespace onnxd::engine {
namespace {

enum class Reduction { kNone, kSum, kMean };

template <typename T>
inline ComputeType<T> Load(const T& v) {
  return static_cast<ComputeType<T>>(v);
}

template <typename T>
inline T Store(ComputeType<T> v) {
  if constexpr (std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>) {
    return T(static_cast<float>(v));
  } else {
    return static_cast<T>(v);
  }
}

template <bool kSoftmax>
class LossKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    std::string red = n.GetString("reduction", "mean");
    if (red == "none") {
      reduction_ = Reduction::kNone;
    } else if (red == "sum") {
      reduction_ = Reduction::kSum;
    } else if (red == "mean") {
      reduction_ = Reduction::kMean;
    } else {
      return n.Error("reduction must be 'none', 'sum' or 'mean', got '" + red + "'");
    }
    has_ignore_ = n.has_attr("ignore_index");
    ignore_index_ = n.GetInt("ignore_index", 0);
    if (n.num_inputs() < 2) return n.Error("expects inputs scores and labels");
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* target = ctx.input(1);
    const Tensor* weight = ctx.num_inputs() > 2 ? ctx.input(2) : nullptr;
    if (x == nullptr || target == nullptr) return ctx.Error("inputs 0 and 1 are required");
    if (x->rank() < 2) return ctx.Error("input 0 must have rank >= 2 ([N, C, ...]), got " + x->shape().ToString());
    if (target->rank() != x->rank() - 1) {
      return ctx.Error("target shape " + target->shape().ToString() + " does not match input shape " +
                       x->shape().ToString());
    }
    if (target->dim(0) != x->dim(0)) {
      return ctx.Error("target dim 0 (" + std::to_string(target->dim(0)) + ") != input dim 0 (" +
                       std::to_string(x->dim(0)) + ")");
    }
    for (int i = 1; i < target->rank(); ++i) {
      if (target->dim(i) != x->dim(i + 1)) {
        return ctx.Error("target dim " + std::to_string(i) + " (" + std::to_string(target->dim(i)) +
                         ") != input dim " + std::to_string(i + 1) + " (" + std::to_string(x->dim(i + 1)) + ")");
      }
    }
    if (target->dtype() != DataType::kInt32 && target->dtype() != DataType::kInt64) {
      return ctx.Error("target must be int32 or int64");
    }
    const int64_t C = x->dim(1);
    if (weight != nullptr) {
      if (weight->dtype() != x->dtype()) return ctx.Error("weight dtype must match input dtype");
      if (weight->rank() != 1 || weight->dim(0) != C) {
        return ctx.Error("weight must have shape [C] = [" + std::to_string(C) + "], got " + weight->shape().ToString());
      }
    }
    Status st = Status::Ok();
    bool ok = DispatchFloat(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (target->dtype() == DataType::kInt32) {
        st = Run<T, int32_t>(ctx, *x, *target, weight);
      } else {
        st = Run<T, int64_t>(ctx, *x, *target, weight);
      }
    });
    if (!ok) return ctx.Error("input must be a floating-point tensor");
    return st;
  }

 private:
  template <typename T, typename I>
  Status Run(KernelContext& ctx, const Tensor& x, const Tensor& target, const Tensor* weight) const {
    using CT = ComputeType<T>;
    const int64_t N = x.dim(0);
    const int64_t C = x.dim(1);
    int64_t D = 1;
    for (int i = 2; i < x.rank(); ++i) D *= x.dim(i);
    const int64_t ND = N * D;
    const T* xd = x.data<T>();
    const I* td = target.data<I>();
    const T* wd = weight != nullptr ? weight->data<T>() : nullptr;

    // Validate the targets first so that the parallel pass cannot fail.
    for (int64_t i = 0; i < ND; ++i) {
      const int64_t t = static_cast<int64_t>(td[i]);
      if (has_ignore_ && t == ignore_index_) continue;
      if (t < 0 || t >= C) {
        return ctx.Error("target value " + std::to_string(t) + " at flat index " + std::to_string(i) +
                         " is out of range [0, " + std::to_string(C) + ")");
      }
    }

    // Output 1 (SCE only): log_prob with x's shape.
    T* log_prob = nullptr;
    if constexpr (kSoftmax) {
      if (ctx.num_outputs() > 1 && ctx.has_output(1)) {
        log_prob = ctx.Output(1, x.dtype(), x.shape())->template data<T>();
      }
    }

    CT* loss = static_cast<CT*>(ctx.Scratch(sizeof(CT) * static_cast<size_t>(std::max<int64_t>(ND, 1))));
    const bool has_ignore = has_ignore_;
    const int64_t ignore = ignore_index_;

    auto per_sample = [&](int64_t n0, int64_t n1, CT* acc /* 2*D, SCE only */) {
      for (int64_t n = n0; n < n1; ++n) {
        const T* xn = xd + n * C * D;
        const I* tn = td + n * D;
        CT* ln = loss + n * D;
        if constexpr (kSoftmax) {
          CT* mx = acc;
          CT* sm = acc + D;
          for (int64_t d = 0; d < D; ++d) mx[d] = -std::numeric_limits<CT>::infinity();
          for (int64_t c = 0; c < C; ++c) {
            const T* row = xn + c * D;
            for (int64_t d = 0; d < D; ++d) mx[d] = std::max(mx[d], Load(row[d]));
          }
          for (int64_t d = 0; d < D; ++d) sm[d] = 0;
          for (int64_t c = 0; c < C; ++c) {
            const T* row = xn + c * D;
            for (int64_t d = 0; d < D; ++d) sm[d] += std::exp(Load(row[d]) - mx[d]);
          }
          // sm becomes max + log(sum): logp = x - sm.
          for (int64_t d = 0; d < D; ++d) sm[d] = mx[d] + std::log(sm[d]);
          if (log_prob != nullptr) {
            T* lp = log_prob + n * C * D;
            for (int64_t c = 0; c < C; ++c) {
              const T* row = xn + c * D;
              T* out = lp + c * D;
              for (int64_t d = 0; d < D; ++d) out[d] = Store<T>(Load(row[d]) - sm[d]);
            }
          }
          for (int64_t d = 0; d < D; ++d) {
            const int64_t t = static_cast<int64_t>(tn[d]);
            if (has_ignore && t == ignore) {
              ln[d] = 0;
              continue;
            }
            CT lp;
            if (log_prob != nullptr) {
              lp = Load(log_prob[(n * C + t) * D + d]);  // same rounding as the log_prob output
            } else {
              lp = Load(xn[t * D + d]) - sm[d];
            }
            const CT w = wd != nullptr ? Load(wd[t]) : CT(1);
            ln[d] = -w * lp;
          }
        } else {
          (void)acc;
          for (int64_t d = 0; d < D; ++d) {
            const int64_t t = static_cast<int64_t>(tn[d]);
            if (has_ignore && t == ignore) {
              ln[d] = 0;
              continue;
            }
            const CT w = wd != nullptr ? Load(wd[t]) : CT(1);
            ln[d] = -w * Load(xn[t * D + d]);
          }
        }
      }
    };

    const int64_t work_per_sample = std::max<int64_t>(C * D, 1);
    const int64_t grain = std::max<int64_t>(1, 16384 / work_per_sample);
    if (N > grain && N * work_per_sample >= 65536) {
      // Accumulators per sample: ParallelFor chunks may be shorter than `grain`, so chunk
      // starts cannot index per-chunk slots.
      CT* accs = kSoftmax ? static_cast<CT*>(ctx.Scratch(sizeof(CT) * static_cast<size_t>(2 * D * N))) : nullptr;
      ctx.pool().ParallelFor(N, grain, [&](int64_t b, int64_t e) {
        CT* acc = kSoftmax ? accs + b * 2 * D : nullptr;
        per_sample(b, e, acc);
      });
    } else {
      CT* acc = kSoftmax ? static_cast<CT*>(ctx.Scratch(sizeof(CT) * static_cast<size_t>(2 * std::max<int64_t>(D, 1))))
                         : nullptr;
      per_sample(0, N, acc);
    }

    if (reduction_ == Reduction::kNone) {
      T* out = ctx.Output(0, x.dtype(), target.shape())->template data<T>();
      for (int64_t i = 0; i < ND; ++i) out[i] = Store<T>(loss[i]);
      return Status::Ok();
    }
    double sum = 0;
    for (int64_t i = 0; i < ND; ++i) sum += static_cast<double>(loss[i]);
    double result = sum;
    if (reduction_ == Reduction::kMean) {
      double wsum = 0;
      if (wd == nullptr && !has_ignore) {
        wsum = static_cast<double>(ND);
      } else {
        for (int64_t i = 0; i < ND; ++i) {
          const int64_t t = static_cast<int64_t>(td[i]);
          if (has_ignore && t == ignore) continue;
          wsum += wd != nullptr ? static_cast<double>(Load(wd[t])) : 1.0;
        }
      }
      // onnxruntime: an empty unweighted batch gives 0; otherwise a zero total weight gives 0/0.
      result = (wd == nullptr && !has_ignore && ND == 0) ? 0.0 : sum / wsum;
    }
    T* out = ctx.Output(0, x.dtype(), Shape{})->template data<T>();
    out[0] = Store<T>(static_cast<CT>(result));
    return Status::Ok();
  }

  Reduction reduction_ = Reduction::kMean;
  bool has_ignore_ = false;
  int64_t ignore_index_ = 0;
};

}  // namespace

void RegisterLossOps(OpRegistry& r) {
  r.Add("", "NegativeLogLikelihoodLoss", Factory<LossKernel<false>>());
  r.Add("", "SoftmaxCrossEntropyLoss", Factory<LossKernel<true>>());
}

}  // namespace onnxd::engine
