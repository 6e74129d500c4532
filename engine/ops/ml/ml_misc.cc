// The small ai.onnx.ml operators: ZipMap, ArrayFeatureExtractor, Binarizer, CastMap, CategoryMapper,
// DictVectorizer, FeatureVectorizer, Imputer, LabelEncoder, Normalizer, OneHotEncoder, Scaler.
#include <algorithm>
#include <cmath>
#include <cstring>
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

}  // namespace

void RegisterMlMiscOps(OpRegistry& r) {
  r.Add("ai.onnx.ml", "ZipMap", Factory<ZipMapKernel>());
}

}  // namespace onnxd::engine::ml
