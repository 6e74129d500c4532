// The small ai.onnx.ml operators: ZipMap, ArrayFeatureExtractor, Binarizer, CastMap, CategoryMapper,
// DictVectorizer, FeatureVectorizer, Imputer, LabelEncoder, Normalizer, OneHotEncoder, Scaler.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_map>

#include "ops/ml/ml_common.h"

namespace onnxd::engine::ml {
namespace {

// ZipMap: one map(label -> probability) per row.
class ZipMapKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    auto ints = n.GetInts("classlabels_int64s");
    auto strs = n.GetStrings("classlabels_strings");
    if (!ints.empty() && !strs.empty()) return n.Error("both classlabels_int64s and classlabels_strings are set");
    if (ints.empty() && strs.empty()) return n.Error("classlabels_int64s or classlabels_strings must be set");
    if (!strs.empty()) {
      keys_ = Tensor::Allocate(DataType::kString, Shape{static_cast<int64_t>(strs.size())});
      for (size_t i = 0; i < strs.size(); ++i) keys_.data<std::string>()[i] = strs[i];
    } else {
      keys_ = Tensor::FromVector(ints, Shape{static_cast<int64_t>(ints.size())});
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input X is missing or not a tensor");
    if (x->dtype() != DataType::kFloat) return ctx.Error(std::string("input X must be float, got ") + DataTypeName(x->dtype()));
    const int64_t c = keys_.num_elements();
    int64_t n;
    if (x->rank() == 1) {
      n = 1;
      if (x->dim(0) != c) return ctx.Error("input X has " + std::to_string(x->dim(0)) + " columns for " + std::to_string(c) + " labels");
    } else if (x->rank() == 2) {
      n = x->dim(0);
      if (x->dim(1) != c) return ctx.Error("input X has " + std::to_string(x->dim(1)) + " columns for " + std::to_string(c) + " labels");
    } else {
      return ctx.Error("input X must be 1-D or 2-D, got shape " + x->shape().ToString());
    }
    std::vector<Value> maps;
    maps.reserve(static_cast<size_t>(n));
    const float* src = x->data<float>();
    for (int64_t r = 0; r < n; ++r) {
      Tensor v = Tensor::Allocate(DataType::kFloat, Shape{c});
      if (c > 0) std::memcpy(v.data<float>(), src + r * c, sizeof(float) * static_cast<size_t>(c));
      maps.push_back(Value::Map(keys_, std::move(v)));
    }
    ctx.SetOutputValue(0, Value::Sequence(std::move(maps)));
    return Status::Ok();
  }

 private:
  Tensor keys_;
};


// Reads the numeric input X as a [rows, cols] view (1-D: one row).
Status RowsCols(KernelContext& ctx, const Tensor& x, int64_t* rows, int64_t* cols) {
  if (x.rank() == 0) {
    *rows = 1;
    *cols = 1;
  } else if (x.rank() == 1) {
    *rows = 1;
    *cols = x.dim(0);
  } else {
    *cols = x.dim(x.rank() - 1);
    *rows = *cols == 0 ? 0 : x.num_elements() / *cols;
  }
  return Status::Ok();
}

// X as floats (converted into scratch unless it is float already).
Status FloatInput(KernelContext& ctx, const Tensor& x, const float** out) {
  if (x.dtype() == DataType::kFloat) {
    *out = x.data<float>();
    return Status::Ok();
  }
  float* buf = static_cast<float*>(ctx.Scratch(sizeof(float) * static_cast<size_t>(x.num_elements()) + 64));
  if (!ConvertToFloating(x, buf)) return ctx.Error(std::string("input X has unsupported type ") + DataTypeName(x.dtype()));
  *out = buf;
  return Status::Ok();
}

class ArrayFeatureExtractorKernel : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* y = ctx.input(1);
    if (x == nullptr || y == nullptr) return ctx.Error("inputs X and Y must be tensors");
    if (y->dtype() != DataType::kInt64) return ctx.Error("input Y must be int64");
    if (x->rank() == 0) return ctx.Error("input X must have rank >= 1");
    const int64_t last = x->dim(x->rank() - 1);
    const int64_t k = y->num_elements();
    const int64_t* idx = y->data<int64_t>();
    for (int64_t i = 0; i < k; ++i)
      if (idx[i] < 0 || idx[i] >= last)
        return ctx.Error("index Y[" + std::to_string(i) + "] = " + std::to_string(idx[i]) + " is out of range [0, " +
                         std::to_string(last) + ")");
    Shape os;
    if (x->rank() == 1) {
      os = Shape{1, k};
    } else {
      os = x->shape();
      os[os.size() - 1] = k;
    }
    Tensor* out = ctx.Output(0, x->dtype(), os);
    const int64_t rows = last == 0 ? 0 : x->num_elements() / last;
    bool ok = DispatchAny(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = x->data<T>();
      T* dst = out->data<T>();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < k; ++i) dst[r * k + i] = src[r * last + idx[i]];
    });
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }
};

class BinarizerKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    threshold_ = n.GetFloat("threshold", 0.0f);
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input X must be a tensor");
    Tensor* out = ctx.Output(0, x->dtype(), x->shape());
    const int64_t n = x->num_elements();
    int64_t nan_at = -1;
    bool ok = DispatchNumeric(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = ComputeType<T>;
      const T* s = x->data<T>();
      T* d = out->data<T>();
      const C th = static_cast<C>(threshold_);
      for (int64_t i = 0; i < n; ++i) {
        const C v = static_cast<C>(s[i]);
        if constexpr (std::is_floating_point_v<C>)
          if (std::isnan(v)) nan_at = nan_at < 0 ? i : nan_at;
        d[i] = static_cast<T>(v > th ? C(1) : C(0));
      }
    });
    if (nan_at >= 0) return ctx.Error("input element " + std::to_string(nan_at) + " is NaN");
    if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  float threshold_ = 0;
};

// Indices of a map's entries ordered by key.
std::vector<int64_t> SortedOrder(const MapValue& m) {
  const int64_t n = m.keys.num_elements();
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  if (m.keys.dtype() == DataType::kString) {
    const std::string* k = m.keys.data<std::string>();
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return k[a] < k[b]; });
  } else if (m.keys.dtype() == DataType::kInt64) {
    const int64_t* k = m.keys.data<int64_t>();
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return k[a] < k[b]; });
  }
  return order;
}

class CastMapKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    std::string to = n.GetString("cast_to", "TO_FLOAT");
    if (to == "TO_FLOAT") out_ = DataType::kFloat;
    else if (to == "TO_STRING") out_ = DataType::kString;
    else if (to == "TO_INT64") out_ = DataType::kInt64;
    else return n.Error("cast_to '" + to + "' is not TO_FLOAT, TO_STRING or TO_INT64");
    std::string form = n.GetString("map_form", "DENSE");
    if (form == "DENSE") sparse_ = false;
    else if (form == "SPARSE") sparse_ = true;
    else return n.Error("map_form '" + form + "' is not DENSE or SPARSE");
    max_map_ = n.GetInt("max_map", 1);
    if (sparse_ && max_map_ < 1) return n.Error("max_map must be positive for SPARSE");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Value* v = ctx.input_value(0);
    if (v == nullptr || !v->is_map()) return ctx.Error("input X must be a map");
    const MapValue& m = v->map();
    if (m.keys.dtype() != DataType::kInt64) return ctx.Error("map keys must be int64");
    const DataType vt = m.values.dtype();
    if (vt != DataType::kFloat && vt != DataType::kString) return ctx.Error("map values must be float or string");
    auto order = SortedOrder(m);
    const int64_t n = static_cast<int64_t>(order.size());
    const int64_t width = sparse_ ? max_map_ : n;
    Tensor* out = ctx.Output(0, out_, Shape{1, width});
    // Default fill (sparse): 0 / "0.f".
    for (int64_t i = 0; i < width; ++i) Set(out, i, vt, nullptr, 0);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t src = order[j];
      int64_t pos = j;
      if (sparse_) {
        pos = m.keys.data<int64_t>()[src];
        if (pos < 0 || pos >= width) continue;
      }
      Set(out, pos, vt, &m.values, src);
    }
    return Status::Ok();
  }

 private:
  void Set(Tensor* out, int64_t pos, DataType vt, const Tensor* values, int64_t src) const {
    float f = 0;
    std::string s = "0.f";  // onnxruntime's default for missing SPARSE entries
    if (values != nullptr) {
      if (vt == DataType::kFloat) {
        f = values->data<float>()[src];
        s = std::to_string(f);
      } else {
        s = values->data<std::string>()[src];
        f = std::strtof(s.c_str(), nullptr);
      }
    }
    switch (out_) {
      case DataType::kFloat: out->data<float>()[pos] = f; break;
      case DataType::kInt64: out->data<int64_t>()[pos] = static_cast<int64_t>(f); break;
      default: out->data<std::string>()[pos] = s;
    }
  }

  DataType out_ = DataType::kFloat;
  bool sparse_ = false;
  int64_t max_map_ = 1;
};

class CategoryMapperKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    ints_ = n.GetInts("cats_int64s");
    strs_ = n.GetStrings("cats_strings");
    if (ints_.size() != strs_.size()) return n.Error("cats_int64s and cats_strings differ in length");
    for (size_t i = 0; i < ints_.size(); ++i) {
      s2i_.emplace(strs_[i], ints_[i]);
      i2s_.emplace(ints_[i], strs_[i]);
    }
    default_int_ = n.GetInt("default_int64", -1);
    default_str_ = n.GetString("default_string", "_Unused");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input X must be a tensor");
    const int64_t n = x->num_elements();
    if (x->dtype() == DataType::kString) {
      Tensor* out = ctx.Output(0, DataType::kInt64, x->shape());
      for (int64_t i = 0; i < n; ++i) {
        auto it = s2i_.find(x->data<std::string>()[i]);
        out->data<int64_t>()[i] = it == s2i_.end() ? default_int_ : it->second;
      }
    } else if (x->dtype() == DataType::kInt64) {
      Tensor* out = ctx.Output(0, DataType::kString, x->shape());
      for (int64_t i = 0; i < n; ++i) {
        auto it = i2s_.find(x->data<int64_t>()[i]);
        out->data<std::string>()[i] = it == i2s_.end() ? default_str_ : it->second;
      }
    } else {
      return ctx.Error(std::string("input X must be string or int64, got ") + DataTypeName(x->dtype()));
    }
    return Status::Ok();
  }

 private:
  std::vector<int64_t> ints_;
  std::vector<std::string> strs_;
  std::unordered_map<std::string, int64_t> s2i_;
  std::unordered_map<int64_t, std::string> i2s_;
  int64_t default_int_ = -1;
  std::string default_str_;
};

class DictVectorizerKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    auto ints = n.GetInts("int64_vocabulary");
    auto strs = n.GetStrings("string_vocabulary");
    if (!ints.empty() && !strs.empty()) return n.Error("both int64_vocabulary and string_vocabulary are set");
    for (size_t i = 0; i < ints.size(); ++i) int_index_.emplace(ints[i], static_cast<int64_t>(i));
    for (size_t i = 0; i < strs.size(); ++i) str_index_.emplace(strs[i], static_cast<int64_t>(i));
    size_ = static_cast<int64_t>(ints.size() + strs.size());
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Value* v = ctx.input_value(0);
    if (v == nullptr || !v->is_map()) return ctx.Error("input X must be a map");
    const MapValue& m = v->map();
    const int64_t n = m.keys.num_elements();
    const DataType vt = m.values.dtype();
    Tensor* out = ctx.Output(0, vt, Shape{1, size_});
    bool ok = DispatchAny(vt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* d = out->data<T>();
      for (int64_t i = 0; i < size_; ++i) d[i] = T();
      for (int64_t i = 0; i < n; ++i) {
        int64_t pos = -1;
        if (m.keys.dtype() == DataType::kString) {
          auto it = str_index_.find(m.keys.data<std::string>()[i]);
          if (it != str_index_.end()) pos = it->second;
        } else if (m.keys.dtype() == DataType::kInt64) {
          auto it = int_index_.find(m.keys.data<int64_t>()[i]);
          if (it != int_index_.end()) pos = it->second;
        }
        if (pos >= 0) d[pos] = m.values.data<T>()[i];
      }
    });
    if (!ok) return ctx.Error(std::string("unsupported map value type ") + DataTypeName(vt));
    return Status::Ok();
  }

 private:
  std::unordered_map<int64_t, int64_t> int_index_;
  std::unordered_map<std::string, int64_t> str_index_;
  int64_t size_ = 0;
};

class FeatureVectorizerKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    dims_ = n.GetInts("inputdimensions");
    total_ = 0;
    for (int64_t d : dims_) {
      if (d < 0) return n.Error("inputdimensions must not be negative");
      total_ += d;
    }
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    if (ctx.num_inputs() != static_cast<int>(dims_.size()))
      return ctx.Error("inputdimensions has " + std::to_string(dims_.size()) + " entries for " +
                       std::to_string(ctx.num_inputs()) + " inputs");
    int64_t rows = -1;
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor* x = ctx.input(i);
      if (x == nullptr) return ctx.Error("input " + std::to_string(i) + " must be a tensor");
      int64_t r = x->rank() <= 1 ? 1 : x->dim(0);
      if (rows < 0) rows = r;
      else if (r != rows) return ctx.Error("input " + std::to_string(i) + " has " + std::to_string(r) + " rows, input 0 has " + std::to_string(rows));
    }
    if (rows < 0) rows = 0;
    Tensor* out = ctx.Output(0, DataType::kFloat, Shape{rows, total_});
    float* d = out->data<float>();
    std::fill(d, d + rows * total_, 0.0f);
    int64_t offset = 0;
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor* x = ctx.input(i);
      const int64_t cols = rows == 0 ? 0 : x->num_elements() / rows;
      const int64_t take = std::min(cols, dims_[i]);
      bool ok = DispatchNumeric(x->dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* s = x->data<T>();
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < take; ++c)
            d[r * total_ + offset + c] = static_cast<float>(static_cast<ComputeType<T>>(s[r * cols + c]));
      });
      if (!ok) return ctx.Error("input " + std::to_string(i) + " has unsupported type " + DataTypeName(x->dtype()));
      offset += dims_[i];
    }
    return Status::Ok();
  }

 private:
  std::vector<int64_t> dims_;
  int64_t total_ = 0;
};

class ImputerKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    floats_ = n.GetFloats("imputed_value_floats");
    ints_ = n.GetInts("imputed_value_int64s");
    replaced_f_ = n.GetFloat("replaced_value_float", 0.0f);
    replaced_i_ = n.GetInt("replaced_value_int64", 0);
    if (floats_.empty() && ints_.empty()) return n.Error("imputed_value_floats or imputed_value_int64s must be set");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input X must be a tensor");
    int64_t rows, cols;
    RETURN_IF_ERROR(RowsCols(ctx, *x, &rows, &cols));
    Tensor* out = ctx.Output(0, x->dtype(), x->shape());
    const int64_t n = x->num_elements();
    if (x->dtype() == DataType::kFloat || x->dtype() == DataType::kDouble) {
      if (floats_.empty()) return ctx.Error("imputed_value_floats is needed for floating-point input");
      if (floats_.size() != 1 && static_cast<int64_t>(floats_.size()) != cols)
        return ctx.Error("imputed_value_floats has " + std::to_string(floats_.size()) + " values for " + std::to_string(cols) + " columns");
      const bool nan = std::isnan(replaced_f_);
      DispatchFloat(x->dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* s = x->data<T>();
        T* d = out->data<T>();
        for (int64_t i = 0; i < n; ++i) {
          const T v = s[i];
          const bool hit = nan ? std::isnan(static_cast<double>(v)) : static_cast<double>(v) == static_cast<double>(replaced_f_);
          d[i] = hit ? static_cast<T>(floats_.size() == 1 ? floats_[0] : floats_[i % cols]) : v;
        }
      });
    } else if (x->dtype() == DataType::kInt64 || x->dtype() == DataType::kInt32) {
      if (ints_.empty()) return ctx.Error("imputed_value_int64s is needed for integer input");
      if (ints_.size() != 1 && static_cast<int64_t>(ints_.size()) != cols)
        return ctx.Error("imputed_value_int64s has " + std::to_string(ints_.size()) + " values for " + std::to_string(cols) + " columns");
      DispatchInteger(x->dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* s = x->data<T>();
        T* d = out->data<T>();
        for (int64_t i = 0; i < n; ++i)
          d[i] = static_cast<int64_t>(s[i]) == replaced_i_ ? static_cast<T>(ints_.size() == 1 ? ints_[0] : ints_[i % cols]) : s[i];
      });
    } else {
      return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
    }
    return Status::Ok();
  }

 private:
  std::vector<float> floats_;
  std::vector<int64_t> ints_;
  float replaced_f_ = 0;
  int64_t replaced_i_ = 0;
};

class NormalizerKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    std::string norm = n.GetString("norm", "MAX");
    if (norm == "MAX") norm_ = 0;
    else if (norm == "L1") norm_ = 1;
    else if (norm == "L2") norm_ = 2;
    else return n.Error("norm '" + norm + "' is not MAX, L1 or L2");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input X must be a tensor");
    if (x->rank() > 2) return ctx.Error("input X must be 1-D or 2-D, got shape " + x->shape().ToString());
    int64_t rows, cols;
    RETURN_IF_ERROR(RowsCols(ctx, *x, &rows, &cols));
    const float* s;
    RETURN_IF_ERROR(FloatInput(ctx, *x, &s));
    Tensor* out = ctx.Output(0, DataType::kFloat, x->shape());
    float* d = out->data<float>();
    for (int64_t r = 0; r < rows; ++r) {
      const float* a = s + r * cols;
      float* b = d + r * cols;
      if (norm_ == 0) {
        float mx = -std::numeric_limits<float>::max();
        for (int64_t c = 0; c < cols; ++c) mx = std::max(mx, a[c]);
        for (int64_t c = 0; c < cols; ++c) b[c] = mx != 0 ? a[c] / mx : a[c];
      } else if (norm_ == 1) {
        float sum = 0;
        for (int64_t c = 0; c < cols; ++c) sum += std::fabs(a[c]);
        for (int64_t c = 0; c < cols; ++c) b[c] = sum != 0 ? a[c] / sum : a[c];
      } else {
        float sum = 0;
        for (int64_t c = 0; c < cols; ++c) sum += a[c] * a[c];
        const float nrm = std::sqrt(sum);
        for (int64_t c = 0; c < cols; ++c) b[c] = nrm != 0 ? a[c] / nrm : a[c];
      }
    }
    return Status::Ok();
  }

 private:
  int norm_ = 0;
};

class OneHotEncoderKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    auto ints = n.GetInts("cats_int64s");
    auto strs = n.GetStrings("cats_strings");
    if (ints.empty() == strs.empty()) return n.Error("exactly one of cats_int64s and cats_strings must be set");
    for (size_t i = 0; i < ints.size(); ++i) int_index_.emplace(ints[i], static_cast<int64_t>(i));
    for (size_t i = 0; i < strs.size(); ++i) str_index_.emplace(strs[i], static_cast<int64_t>(i));
    num_ = static_cast<int64_t>(ints.size() + strs.size());
    zeros_ = n.GetInt("zeros", 1) != 0;
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input X must be a tensor");
    Shape os = x->shape();
    os.PushBack(num_);
    Tensor* out = ctx.Output(0, DataType::kFloat, os);
    const int64_t n = x->num_elements();
    float* d = out->data<float>();
    std::fill(d, d + n * num_, 0.0f);
    for (int64_t i = 0; i < n; ++i) {
      int64_t pos = -1;
      if (x->dtype() == DataType::kString) {
        if (str_index_.empty()) return ctx.Error("string input needs cats_strings");
        auto it = str_index_.find(x->data<std::string>()[i]);
        if (it != str_index_.end()) pos = it->second;
      } else {
        int64_t key = 0;
        bool ok = DispatchNumeric(x->dtype(), [&](auto tag) {
          using T = typename decltype(tag)::type;
          key = static_cast<int64_t>(static_cast<ComputeType<T>>(x->data<T>()[i]));
        });
        if (!ok) return ctx.Error(std::string("unsupported type ") + DataTypeName(x->dtype()));
        auto it = int_index_.find(key);
        if (it != int_index_.end()) pos = it->second;
      }
      if (pos >= 0) d[i * num_ + pos] = 1.0f;
      else if (!zeros_) return ctx.Error("input element " + std::to_string(i) + " is not a known category (zeros=0)");
    }
    return Status::Ok();
  }

 private:
  std::unordered_map<int64_t, int64_t> int_index_;
  std::unordered_map<std::string, int64_t> str_index_;
  int64_t num_ = 0;
  bool zeros_ = true;
};

class ScalerKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    offset_ = n.GetFloats("offset");
    scale_ = n.GetFloats("scale");
    if (offset_.empty()) offset_.push_back(0.0f);
    if (scale_.empty()) scale_.push_back(1.0f);
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input X must be a tensor");
    int64_t rows, cols;
    RETURN_IF_ERROR(RowsCols(ctx, *x, &rows, &cols));
    auto fits = [&](size_t k) { return k == 1 || static_cast<int64_t>(k) == cols; };
    if (!fits(offset_.size()) || !fits(scale_.size()))
      return ctx.Error("offset/scale have " + std::to_string(offset_.size()) + "/" + std::to_string(scale_.size()) +
                       " values for " + std::to_string(cols) + " columns");
    const float* s;
    RETURN_IF_ERROR(FloatInput(ctx, *x, &s));
    Tensor* out = ctx.Output(0, DataType::kFloat, x->shape());
    float* d = out->data<float>();
    const bool po = offset_.size() > 1, ps = scale_.size() > 1;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t i = r * cols + c;
        d[i] = (s[i] - offset_[po ? c : 0]) * scale_[ps ? c : 0];
      }
    return Status::Ok();
  }

 private:
  std::vector<float> offset_, scale_;
};

// LabelEncoder (ai.onnx.ml 1-4): a lookup table from keys to values with a default.

// LabelEncoder's keys or values (`prefix` "keys" / "values"): from <prefix>_tensor or one of
// <prefix>_strings, <prefix>_int64s, <prefix>_floats.
Status ReadLabelEncoderList(const NodeInfo& n, const std::string& prefix, Tensor* out) {
  if (n.has_attr(prefix + "_tensor")) {
    ASSIGN_OR_RETURN(*out, n.GetTensor(prefix + "_tensor"));
  } else if (n.has_attr(prefix + "_strings")) {
    auto v = n.GetStrings(prefix + "_strings");
    *out = Tensor::Allocate(DataType::kString, Shape{static_cast<int64_t>(v.size())});
    for (size_t i = 0; i < v.size(); ++i) out->data<std::string>()[i] = v[i];
  } else if (n.has_attr(prefix + "_int64s")) {
    auto v = n.GetInts(prefix + "_int64s");
    *out = Tensor::FromVector(v, Shape{static_cast<int64_t>(v.size())});
  } else if (n.has_attr(prefix + "_floats")) {
    auto v = n.GetFloats(prefix + "_floats");
    *out = Tensor::FromVector(v, Shape{static_cast<int64_t>(v.size())});
  } else {
    return n.Error("one of " + prefix + "_strings, " + prefix + "_int64s, " + prefix + "_floats, " + prefix +
                   "_tensor must be set");
  }
  return Status::Ok();
}

class LabelEncoderKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (n.opset() < 2) {
      auto classes = n.GetStrings("classes_strings");
      // string -> int64 (index), int64 -> string.
      for (size_t i = 0; i < classes.size(); ++i) {
        str_keys_.emplace(classes[i], static_cast<int64_t>(i));
      }
      classes_ = Tensor::Allocate(DataType::kString, Shape{static_cast<int64_t>(classes.size())});
      for (size_t i = 0; i < classes.size(); ++i) classes_.data<std::string>()[i] = classes[i];
      v1_default_int_ = n.GetInt("default_int64", -1);
      v1_default_str_ = n.GetString("default_string", "_Unused");
      v1_ = true;
      return Status::Ok();
    }
    Tensor keys;
    RETURN_IF_ERROR(ReadLabelEncoderList(n, "keys", &keys));
    RETURN_IF_ERROR(ReadLabelEncoderList(n, "values", &values_));
    if (keys.num_elements() != values_.num_elements())
      return n.Error("keys and values differ in length (" + std::to_string(keys.num_elements()) + " vs " +
                     std::to_string(values_.num_elements()) + ")");
    const DataType vt = values_.dtype();
    // Default.
    if (n.has_attr("default_tensor")) {
      ASSIGN_OR_RETURN(default_, n.GetTensor("default_tensor"));
      if (default_.dtype() != vt || default_.num_elements() != 1)
        return n.Error("default_tensor must hold one value of the values' type");
    } else {
      default_ = Tensor::Allocate(vt, Shape{1});
      if (vt == DataType::kString) {
        default_.data<std::string>()[0] = n.GetString("default_string", "_Unused");
      } else if (vt == DataType::kFloat) {
        default_.data<float>()[0] = n.GetFloat("default_float", -0.0f);
      } else if (vt == DataType::kDouble) {
        default_.data<double>()[0] = n.GetFloat("default_float", -0.0f);
      } else {
        int64_t dv = n.GetInt("default_int64", -1);
        DispatchNumeric(vt, [&](auto tag) {
          using T = typename decltype(tag)::type;
          default_.data<T>()[0] = static_cast<T>(static_cast<ComputeType<T>>(dv));
        });
      }
    }
    key_type_ = keys.dtype();
    const int64_t nk = keys.num_elements();
    for (int64_t i = 0; i < nk; ++i) {
      if (key_type_ == DataType::kString) {
        str_keys_.emplace(keys.data<std::string>()[i], i);
      } else if (key_type_ == DataType::kFloat || key_type_ == DataType::kDouble) {
        double k = key_type_ == DataType::kFloat ? keys.data<float>()[i] : keys.data<double>()[i];
        if (std::isnan(k)) {
          if (nan_index_ < 0) nan_index_ = i;
        } else {
          float_keys_.emplace(k, i);
        }
      } else {
        int64_t k = 0;
        if (!DispatchInteger(key_type_, [&](auto tag) {
              using T = typename decltype(tag)::type;
              k = static_cast<int64_t>(keys.data<T>()[i]);
            }))
          return n.Error(std::string("unsupported key type ") + DataTypeName(key_type_));
        int_keys_.emplace(k, i);
      }
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input X must be a tensor");
    const int64_t n = x->num_elements();
    if (v1_) {
      if (x->dtype() == DataType::kString) {
        Tensor* out = ctx.Output(0, DataType::kInt64, x->shape());
        for (int64_t i = 0; i < n; ++i) {
          auto it = str_keys_.find(x->data<std::string>()[i]);
          out->data<int64_t>()[i] = it == str_keys_.end() ? v1_default_int_ : it->second;
        }
      } else if (x->dtype() == DataType::kInt64) {
        Tensor* out = ctx.Output(0, DataType::kString, x->shape());
        const int64_t nc = classes_.num_elements();
        for (int64_t i = 0; i < n; ++i) {
          int64_t k = x->data<int64_t>()[i];
          out->data<std::string>()[i] = k >= 0 && k < nc ? classes_.data<std::string>()[k] : v1_default_str_;
        }
      } else {
        return ctx.Error(std::string("input X must be string or int64, got ") + DataTypeName(x->dtype()));
      }
      return Status::Ok();
    }
    if (x->dtype() != key_type_)
      return ctx.Error(std::string("input X is ") + DataTypeName(x->dtype()) + ", the keys are " + DataTypeName(key_type_));
    Tensor* out = ctx.Output(0, values_.dtype(), x->shape());
    bool ok = DispatchAny(values_.dtype(), [&](auto tag) {
      using V = typename decltype(tag)::type;
      const V* vals = values_.data<V>();
      const V dflt = default_.data<V>()[0];
      V* d = out->data<V>();
      for (int64_t i = 0; i < n; ++i) {
        int64_t idx = Find(*x, i);
        d[i] = idx >= 0 ? vals[idx] : dflt;
      }
    });
    if (!ok) return ctx.Error(std::string("unsupported value type ") + DataTypeName(values_.dtype()));
    return Status::Ok();
  }

 private:
  int64_t Find(const Tensor& x, int64_t i) const {
    switch (key_type_) {
      case DataType::kString: {
        auto it = str_keys_.find(x.data<std::string>()[i]);
        return it == str_keys_.end() ? -1 : it->second;
      }
      case DataType::kFloat:
      case DataType::kDouble: {
        double k = key_type_ == DataType::kFloat ? x.data<float>()[i] : x.data<double>()[i];
        if (std::isnan(k)) return nan_index_;
        auto it = float_keys_.find(k);
        return it == float_keys_.end() ? -1 : it->second;
      }
      default: {
        int64_t k = 0;
        DispatchInteger(key_type_, [&](auto tag) {
          using T = typename decltype(tag)::type;
          k = static_cast<int64_t>(x.data<T>()[i]);
        });
        auto it = int_keys_.find(k);
        return it == int_keys_.end() ? -1 : it->second;
      }
    }
  }

  bool v1_ = false;
  Tensor classes_;
  int64_t v1_default_int_ = -1;
  std::string v1_default_str_;
  DataType key_type_ = DataType::kUndefined;
  std::unordered_map<std::string, int64_t> str_keys_;
  std::unordered_map<int64_t, int64_t> int_keys_;
  std::unordered_map<double, int64_t> float_keys_;
  int64_t nan_index_ = -1;
  Tensor values_;
  Tensor default_;
};

}  // namespace

void RegisterMlMiscOps(OpRegistry& r) {
  r.Add("ai.onnx.ml", "ZipMap", Factory<ZipMapKernel>());
  r.Add("ai.onnx.ml", "ArrayFeatureExtractor", Factory<ArrayFeatureExtractorKernel>());
  r.Add("ai.onnx.ml", "Binarizer", Factory<BinarizerKernel>());
  r.Add("ai.onnx.ml", "CastMap", Factory<CastMapKernel>());
  r.Add("ai.onnx.ml", "CategoryMapper", Factory<CategoryMapperKernel>());
  r.Add("ai.onnx.ml", "DictVectorizer", Factory<DictVectorizerKernel>());
  r.Add("ai.onnx.ml", "FeatureVectorizer", Factory<FeatureVectorizerKernel>());
  r.Add("ai.onnx.ml", "Imputer", Factory<ImputerKernel>());
  r.Add("ai.onnx.ml", "LabelEncoder", Factory<LabelEncoderKernel>());
  r.Add("ai.onnx.ml", "Normalizer", Factory<NormalizerKernel>());
  r.Add("ai.onnx.ml", "OneHotEncoder", Factory<OneHotEncoderKernel>());
  r.Add("ai.onnx.ml", "Scaler", Factory<ScalerKernel>());
}

}  // namespace onnxd::engine::ml
