// LinearClassifier, LinearRegressor, SVMClassifier, SVMRegressor (ai.onnx.ml), with onnxruntime's
// label and score conventions.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/ml/ml_common.h"

namespace onnxd::engine::ml {
namespace {

// X as [rows, cols] floats (converted into scratch unless float).
Status GetFloatRows(KernelContext& ctx, const Tensor*& x, const float** data, int64_t* rows, int64_t* cols) {
  x = ctx.input(0);
  if (x == nullptr) return ctx.Error("input X must be a tensor");
  if (x->rank() == 1) {
    *rows = 1;
    *cols = x->dim(0);
  } else if (x->rank() == 2) {
    *rows = x->dim(0);
    *cols = x->dim(1);
  } else {
    return ctx.Error("input X must be 1-D or 2-D, got shape " + x->shape().ToString());
  }
  if (x->dtype() == DataType::kFloat) {
    *data = x->data<float>();
    return Status::Ok();
  }
  float* buf = static_cast<float*>(ctx.Scratch(sizeof(float) * static_cast<size_t>(x->num_elements()) + 64));
  if (!ConvertToFloating(*x, buf)) return ctx.Error(std::string("input X has unsupported type ") + DataTypeName(x->dtype()));
  *data = buf;
  return Status::Ok();
}

// scores[r, k] = intercept[k] + dot(x[r], coef[k]), rows in parallel.
void LinearScores(KernelContext& ctx, const float* x, int64_t rows, int64_t cols, const std::vector<float>& coef,
                  const std::vector<float>& intercepts, int64_t k, float* scores) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, k * cols));
  ctx.pool().ParallelFor(rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * cols;
      for (int64_t j = 0; j < k; ++j) {
        const float* w = coef.data() + j * cols;
        float s = 0;
        for (int64_t c = 0; c < cols; ++c) s += xr[c] * w[c];
        scores[r * k + j] = s + (intercepts.empty() ? 0.0f : intercepts[j]);
      }
    }
  });
}

class LinearRegressorKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    ASSIGN_OR_RETURN(post_, ParsePostTransform(n));
    targets_ = n.GetInt("targets", 1);
    if (targets_ < 1) return n.Error("targets must be positive");
    coef_ = n.GetFloats("coefficients");
    intercepts_ = n.GetFloats("intercepts");
    if (coef_.empty() || coef_.size() % targets_ != 0)
      return n.Error("coefficients has " + std::to_string(coef_.size()) + " values, not a multiple of targets=" +
                     std::to_string(targets_));
    if (!intercepts_.empty() && intercepts_.size() != static_cast<size_t>(targets_))
      return n.Error("intercepts must have one value per target");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x;
    const float* data;
    int64_t rows, cols;
    RETURN_IF_ERROR(GetFloatRows(ctx, x, &data, &rows, &cols));
    if (cols * targets_ != static_cast<int64_t>(coef_.size()))
      return ctx.Error("input X has " + std::to_string(cols) + " features, the coefficients expect " +
                       std::to_string(coef_.size() / targets_));
    Tensor* y = ctx.Output(0, DataType::kFloat, Shape{rows, targets_});
    float* s = y->data<float>();
    LinearScores(ctx, data, rows, cols, coef_, intercepts_, targets_, s);
    if (post_ != PostTransform::kNone)
      for (int64_t r = 0; r < rows; ++r) {
        if (targets_ == 1 && post_ != PostTransform::kProbit) continue;
        ApplyPostTransform(post_, s + r * targets_, targets_);
      }
    return Status::Ok();
  }

 private:
  PostTransform post_ = PostTransform::kNone;
  int64_t targets_ = 1;
  std::vector<float> coef_, intercepts_;
};

class LinearClassifierKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    ASSIGN_OR_RETURN(post_, ParsePostTransform(n));
    coef_ = n.GetFloats("coefficients");
    intercepts_ = n.GetFloats("intercepts");
    labels_int_ = n.GetInts("classlabels_ints");
    labels_str_ = n.GetStrings("classlabels_strings");
    strings_ = !labels_str_.empty();
    if (strings_ && !labels_int_.empty()) return n.Error("both classlabels_ints and classlabels_strings are set");
    n_labels_ = static_cast<int64_t>(strings_ ? labels_str_.size() : labels_int_.size());
    if (n_labels_ == 0) return n.Error("classlabels_ints or classlabels_strings must be set");
    k_ = intercepts_.empty() ? n_labels_ : static_cast<int64_t>(intercepts_.size());
    if (k_ <= 0 || coef_.empty() || coef_.size() % k_ != 0)
      return n.Error("coefficients has " + std::to_string(coef_.size()) + " values, not a multiple of " +
                     std::to_string(k_) + " classes");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x;
    const float* data;
    int64_t rows, cols;
    RETURN_IF_ERROR(GetFloatRows(ctx, x, &data, &rows, &cols));
    if (cols * k_ != static_cast<int64_t>(coef_.size()))
      return ctx.Error("input X has " + std::to_string(cols) + " features, the coefficients expect " +
                       std::to_string(coef_.size() / k_));
    const bool binary = k_ == 1 && n_labels_ == 2;
    const int64_t out_k = binary ? 2 : k_;
    Tensor* label = ctx.Output(0, strings_ ? DataType::kString : DataType::kInt64, Shape{rows});
    Tensor* z = ctx.Output(1, DataType::kFloat, Shape{rows, out_k});
    float* raw = static_cast<float*>(ctx.Scratch(sizeof(float) * static_cast<size_t>(rows * k_) + 64));
    LinearScores(ctx, data, rows, cols, coef_, intercepts_, k_, raw);
    float* o = z->data<float>();
    for (int64_t r = 0; r < rows; ++r) {
      float* row = o + r * out_k;
      if (binary) {
        row[0] = -raw[r];
        row[1] = raw[r];
      } else {
        std::memcpy(row, raw + r * k_, sizeof(float) * static_cast<size_t>(k_));
      }
      if (out_k >= 2) {
        ApplyPostTransform(post_, row, out_k);
        int64_t best = 0;
        for (int64_t j = 1; j < out_k; ++j)
          if (row[j] > row[best]) best = j;
        SetLabel(label, r, best);
      } else {
        ApplyPostTransform(post_, row, 1);
        const float threshold = post_ == PostTransform::kNone ? 0.0f : 0.5f;
        const bool pos = row[0] >= threshold;
        if (strings_) label->data<std::string>()[r] = pos ? labels_str_[0] : std::string();
        else label->data<int64_t>()[r] = pos ? labels_int_[0] : 0;
      }
    }
    return Status::Ok();
  }

 private:
  void SetLabel(Tensor* label, int64_t r, int64_t j) const {
    if (j >= n_labels_) j = n_labels_ - 1;
    if (strings_) label->data<std::string>()[r] = labels_str_[j];
    else label->data<int64_t>()[r] = labels_int_[j];
  }

  PostTransform post_ = PostTransform::kNone;
  std::vector<float> coef_, intercepts_;
  std::vector<int64_t> labels_int_;
  std::vector<std::string> labels_str_;
  bool strings_ = false;
  int64_t n_labels_ = 0;
  int64_t k_ = 0;
};

// ---------------------------------------------------------------------------------------------
// SVMs

enum class Kernel { kLinear, kPoly, kRbf, kSigmoid };

struct SvmCommon {
  Kernel kernel = Kernel::kLinear;
  float gamma = 0, coef0 = 0;
  int64_t degree = 0;

  Status Init(const NodeInfo& n) {
    std::string k = n.GetString("kernel_type", "LINEAR");
    if (k == "LINEAR") kernel = Kernel::kLinear;
    else if (k == "POLY") kernel = Kernel::kPoly;
    else if (k == "RBF") kernel = Kernel::kRbf;
    else if (k == "SIGMOID") kernel = Kernel::kSigmoid;
    else return n.Error("kernel_type '" + k + "' is not LINEAR, POLY, RBF or SIGMOID");
    auto p = n.GetFloats("kernel_params");
    if (!p.empty()) {
      gamma = p[0];
      if (p.size() > 1) coef0 = p[1];
      if (p.size() > 2) degree = static_cast<int64_t>(p[2]);
    }
    return Status::Ok();
  }

  float Dot(const float* a, const float* b, int64_t n, Kernel k) const {
    if (k == Kernel::kRbf) {
      float s = 0;
      for (int64_t i = 0; i < n; ++i) {
        const float d = a[i] - b[i];
        s += d * d;
      }
      return std::exp(-gamma * s);
    }
    float s = 0;
    for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
    switch (k) {
      case Kernel::kPoly: return std::pow(gamma * s + coef0, static_cast<float>(degree));
      case Kernel::kSigmoid: return std::tanh(gamma * s + coef0);
      default: return s;
    }
  }
};

class SVMRegressorKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    RETURN_IF_ERROR(svm_.Init(n));
    ASSIGN_OR_RETURN(post_, ParsePostTransform(n));
    n_supports_ = n.GetInt("n_supports", 0);
    one_class_ = n.GetInt("one_class", 0) != 0;
    coef_ = n.GetFloats("coefficients");
    sv_ = n.GetFloats("support_vectors");
    rho_ = n.GetFloats("rho");
    if (rho_.empty()) rho_.push_back(0.0f);
    if (n_supports_ > 0) {
      if (sv_.size() % n_supports_ != 0) return n.Error("support_vectors is not a multiple of n_supports");
      features_ = static_cast<int64_t>(sv_.size()) / n_supports_;
      if (coef_.size() < static_cast<size_t>(n_supports_)) return n.Error("coefficients has fewer values than n_supports");
    } else {
      features_ = static_cast<int64_t>(coef_.size());
    }
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x;
    const float* data;
    int64_t rows, cols;
    RETURN_IF_ERROR(GetFloatRows(ctx, x, &data, &rows, &cols));
    if (cols != features_)
      return ctx.Error("input X has " + std::to_string(cols) + " features, the model expects " + std::to_string(features_));
    Tensor* y = ctx.Output(0, DataType::kFloat, Shape{rows, 1});
    float* o = y->data<float>();
    const int64_t per_row = std::max<int64_t>(1, (n_supports_ > 0 ? n_supports_ : 1) * cols);
    ctx.pool().ParallelFor(rows, std::max<int64_t>(1, 16384 / per_row), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const float* xr = data + r * cols;
        float s = 0;
        if (n_supports_ > 0) {
          for (int64_t j = 0; j < n_supports_; ++j) s += coef_[j] * svm_.Dot(xr, sv_.data() + j * cols, cols, svm_.kernel);
        } else {
          s = svm_.Dot(xr, coef_.data(), cols, Kernel::kLinear);
        }
        s += rho_[0];
        if (one_class_) s = s > 0 ? 1.0f : -1.0f;
        else if (post_ == PostTransform::kProbit) s = Probit(s);
        o[r] = s;
      }
    });
    return Status::Ok();
  }

 private:
  SvmCommon svm_;
  PostTransform post_ = PostTransform::kNone;
  int64_t n_supports_ = 0;
  bool one_class_ = false;
  int64_t features_ = 0;
  std::vector<float> coef_, sv_, rho_;
};

// libsvm's pairwise coupling of probabilities (multiclass_probability).
void MulticlassProbability(int64_t k, const float* r, float* p, float* scratch) {
  float* q = scratch;            // k*k
  float* qp = scratch + k * k;   // k
  const int max_iter = static_cast<int>(std::max<int64_t>(100, k));
  const float eps = 0.005f / static_cast<float>(k);
  for (int64_t t = 0; t < k; ++t) {
    p[t] = 1.0f / static_cast<float>(k);
    q[t * k + t] = 0;
    for (int64_t j = 0; j < t; ++j) {
      q[t * k + t] += r[j * k + t] * r[j * k + t];
      q[t * k + j] = q[j * k + t];
    }
    for (int64_t j = t + 1; j < k; ++j) {
      q[t * k + t] += r[j * k + t] * r[j * k + t];
      q[t * k + j] = -r[j * k + t] * r[t * k + j];
    }
  }
  for (int iter = 0; iter < max_iter; ++iter) {
    float pqp = 0;
    for (int64_t t = 0; t < k; ++t) {
      qp[t] = 0;
      for (int64_t j = 0; j < k; ++j) qp[t] += q[t * k + j] * p[j];
      pqp += p[t] * qp[t];
    }
    float max_error = 0;
    for (int64_t t = 0; t < k; ++t) max_error = std::max(max_error, std::fabs(qp[t] - pqp));
    if (max_error < eps) break;
    for (int64_t t = 0; t < k; ++t) {
      const float diff = (-qp[t] + pqp) / q[t * k + t];
      p[t] += diff;
      pqp = (pqp + diff * (diff * q[t * k + t] + 2 * qp[t])) / (1 + diff) / (1 + diff);
      for (int64_t j = 0; j < k; ++j) {
        qp[j] = (qp[j] + diff * q[t * k + j]) / (1 + diff);
        p[j] /= (1 + diff);
      }
    }
  }
}

class SVMClassifierKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    RETURN_IF_ERROR(svm_.Init(n));
    ASSIGN_OR_RETURN(post_, ParsePostTransform(n));
    labels_int_ = n.GetInts("classlabels_ints");
    labels_str_ = n.GetStrings("classlabels_strings");
    strings_ = !labels_str_.empty();
    classes_ = std::max<int64_t>(1, static_cast<int64_t>(strings_ ? labels_str_.size() : labels_int_.size()));
    coef_ = n.GetFloats("coefficients");
    sv_ = n.GetFloats("support_vectors");
    rho_ = n.GetFloats("rho");
    prob_a_ = n.GetFloats("prob_a");
    prob_b_ = n.GetFloats("prob_b");
    auto vpc = n.GetInts("vectors_per_class");
    vector_count_ = 0;
    for (int64_t v : vpc) {
      if (v < 0) return n.Error("vectors_per_class must not be negative");
      starts_.push_back(vector_count_);
      vector_count_ += v;
    }
    counts_ = vpc;
    if (vector_count_ > 0) {
      svc_ = true;
      if (static_cast<int64_t>(counts_.size()) != classes_) return n.Error("vectors_per_class must have one entry per class");
      if (sv_.size() % vector_count_ != 0) return n.Error("support_vectors is not a multiple of the vector count");
      features_ = static_cast<int64_t>(sv_.size()) / vector_count_;
      if (coef_.size() < static_cast<size_t>((classes_ - 1) * vector_count_))
        return n.Error("coefficients has too few values for the support vectors");
      const int64_t pairs = classes_ * (classes_ - 1) / 2;
      if (static_cast<int64_t>(rho_.size()) < pairs) return n.Error("rho must have one value per class pair");
      proba_ = !prob_a_.empty();
      if (proba_ && (static_cast<int64_t>(prob_a_.size()) < pairs || static_cast<int64_t>(prob_b_.size()) < pairs))
        return n.Error("prob_a and prob_b must have one value per class pair");
    } else {
      if (coef_.empty() || coef_.size() % classes_ != 0) return n.Error("coefficients is not a multiple of the class count");
      features_ = static_cast<int64_t>(coef_.size()) / classes_;
      if (rho_.empty()) rho_.push_back(0.0f);
    }
    for (float c : coef_)
      if (c < 0) all_positive_ = false;
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x;
    const float* data;
    int64_t rows, cols;
    RETURN_IF_ERROR(GetFloatRows(ctx, x, &data, &rows, &cols));
    if (cols != features_)
      return ctx.Error("input X has " + std::to_string(cols) + " features, the model expects " + std::to_string(features_));
    const int64_t k = classes_;
    const int64_t pairs = k * (k - 1) / 2;
    // Width of the raw score row and of the output.
    int64_t raw_w = svc_ ? (proba_ ? k : pairs) : k;
    int64_t out_w = raw_w;
    if (raw_w == 1 && k == 2 && post_ != PostTransform::kProbit) out_w = 2;
    if (svc_ && !proba_ && k == 2) out_w = 2;
    if (post_ == PostTransform::kProbit && raw_w == 1) out_w = 1;
    Tensor* label = ctx.Output(0, strings_ ? DataType::kString : DataType::kInt64, Shape{rows});
    Tensor* z = ctx.Output(1, DataType::kFloat, Shape{rows, out_w});
    const size_t per_row = static_cast<size_t>(vector_count_ + 2 * std::max(k, pairs) + pairs + 2 * k + 2 * k * k + 8);
    float* scratch = static_cast<float*>(ctx.Scratch(sizeof(float) * per_row * static_cast<size_t>(rows) + 64));
    int64_t* labels = static_cast<int64_t*>(ctx.Scratch(sizeof(int64_t) * static_cast<size_t>(rows) + 64));
    float* out = z->data<float>();
    const int64_t work = std::max<int64_t>(1, (vector_count_ > 0 ? vector_count_ : k) * cols);
    ctx.pool().ParallelFor(rows, std::max<int64_t>(1, 16384 / work), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r)
        labels[r] = Row(data + r * cols, cols, scratch + per_row * r, out + r * out_w, out_w);
    });
    for (int64_t r = 0; r < rows; ++r) {
      int64_t l = labels[r];
      if (strings_) label->data<std::string>()[r] = l >= 0 && l < static_cast<int64_t>(labels_str_.size()) ? labels_str_[l] : std::string();
      else label->data<int64_t>()[r] = l >= 0 && l < static_cast<int64_t>(labels_int_.size()) ? labels_int_[l] : l;
    }
    return Status::Ok();
  }

 private:
  // Scores one row; returns the class index (or, for the positive/negative convention, 1/0).
  int64_t Row(const float* xr, int64_t cols, float* scratch, float* out, int64_t out_w) const {
    const int64_t k = classes_;
    float* scores = scratch;  // up to max(k, pairs)
    int64_t n_scores;
    float* votes = nullptr;
    if (!svc_) {
      for (int64_t j = 0; j < k; ++j) scores[j] = svm_.Dot(xr, coef_.data() + j * cols, cols, Kernel::kLinear) + rho_[0];
      n_scores = k;
    } else {
      float* kern = scratch + std::max<int64_t>(k, k * (k - 1) / 2) + 1;
      votes = kern + vector_count_;
      for (int64_t j = 0; j < vector_count_; ++j) kern[j] = svm_.Dot(xr, sv_.data() + j * cols, cols, svm_.kernel);
      for (int64_t j = 0; j < k; ++j) votes[j] = 0;
      int64_t ev = 0;
      for (int64_t i = 0; i < k; ++i) {
        for (int64_t j = i + 1; j < k; ++j) {
          float s1 = 0, s2 = 0;
          const float* ci = coef_.data() + (j - 1) * vector_count_;
          const float* cj = coef_.data() + i * vector_count_;
          for (int64_t m = 0; m < counts_[i]; ++m) s1 += ci[starts_[i] + m] * kern[starts_[i] + m];
          for (int64_t m = 0; m < counts_[j]; ++m) s2 += cj[starts_[j] + m] * kern[starts_[j] + m];
          const float s = rho_[ev] + s1 + s2;
          scores[ev] = s;
          if (s > 0) votes[i] += 1;
          else votes[j] += 1;
          ++ev;
        }
      }
      n_scores = ev;
      if (proba_) {
        float* rmat = votes + k;        // k*k
        float* qs = rmat + k * k;       // k*k + k
        float* probs = scores;          // reuse: k values (k <= pairs+1 guaranteed by layout)
        float* pairwise = qs + k * k + k;
        std::memcpy(pairwise, scores, sizeof(float) * static_cast<size_t>(n_scores));
        int64_t idx = 0;
        for (int64_t i = 0; i < k; ++i) {
          rmat[i * k + i] = 0;
          for (int64_t j = i + 1; j < k; ++j) {
            const float v1 = 1.0f - Logistic(pairwise[idx] * prob_a_[idx] + prob_b_[idx]);
            const float v2 = std::min(std::max(v1, 1.0e-7f), 1.0f - 1.0e-7f);
            rmat[i * k + j] = v2;
            rmat[j * k + i] = 1.0f - v2;
            ++idx;
          }
        }
        MulticlassProbability(k, rmat, probs, qs);
        n_scores = k;
      }
    }
    // Label.
    int64_t max_class = 0;
    float max_weight = 0;
    if (votes != nullptr) {
      for (int64_t j = 1; j < k; ++j)
        if (votes[j] > votes[max_class]) max_class = j;
      max_weight = votes[max_class];
    } else {
      for (int64_t j = 1; j < n_scores; ++j)
        if (scores[j] > scores[max_class]) max_class = j;
      max_weight = scores[max_class];
    }
    int64_t cls;
    int add_second = -1;
    if (rho_.size() == 1) {
      if (k == 2) {
        add_second = 2;
        if (!proba_ && all_positive_ && max_weight >= 0.5f) cls = 1;
        else cls = max_class;
      } else {
        cls = max_weight > 0 ? 1 : 0;
      }
    } else {
      cls = max_class;
    }
    // Scores.
    if (n_scores >= 2) {
      ApplyPostTransform(post_, scores, n_scores);
      for (int64_t j = 0; j < out_w && j < n_scores; ++j) out[j] = scores[j];
    } else if (post_ == PostTransform::kProbit) {
      out[0] = Probit(scores[0]);
    } else if (add_second == 2 || out_w == 2) {
      const float s = scores[0];
      if (post_ == PostTransform::kLogistic) {
        out[0] = Logistic(-s);
        out[1] = Logistic(s);
      } else if (post_ == PostTransform::kSoftmax || post_ == PostTransform::kSoftmaxZero) {
        float v[2] = {-s, s};
        ApplyPostTransform(post_, v, 2);
        out[0] = v[0];
        out[1] = v[1];
      } else {
        out[0] = -s;
        out[1] = s;
      }
    } else {
      out[0] = scores[0];
    }
    return cls;
  }

  SvmCommon svm_;
  PostTransform post_ = PostTransform::kNone;
  std::vector<int64_t> labels_int_;
  std::vector<std::string> labels_str_;
  bool strings_ = false;
  int64_t classes_ = 1;
  std::vector<float> coef_, sv_, rho_, prob_a_, prob_b_;
  std::vector<int64_t> starts_, counts_;
  int64_t vector_count_ = 0;
  int64_t features_ = 0;
  bool svc_ = false;
  bool proba_ = false;
  bool all_positive_ = true;
};

}  // namespace

void RegisterLinearSvmOps(OpRegistry& r) {
  r.Add("ai.onnx.ml", "LinearRegressor", Factory<LinearRegressorKernel>());
  r.Add("ai.onnx.ml", "LinearClassifier", Factory<LinearClassifierKernel>());
  r.Add("ai.onnx.ml", "SVMRegressor", Factory<SVMRegressorKernel>());
  r.Add("ai.onnx.ml", "SVMClassifier", Factory<SVMClassifierKernel>());
}

}  // namespace onnxd::engine::ml
