// Helpers shared by the ai.onnx.ml kernels: post transforms (as onnxruntime computes them), attribute
// forms that exist both as lists and as tensors, and the per-file registration functions that
// RegisterMlOps (ml_ops.cc) calls.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ops/op_kernel.h"
#include "ops/op_util.h"

namespace onnxd::engine::ml {

enum class PostTransform { kNone = 0, kSoftmax = 1, kLogistic = 2, kSoftmaxZero = 3, kProbit = 4 };

inline StatusOr<PostTransform> ParsePostTransform(const NodeInfo& n) {
  const std::string s = n.GetString("post_transform", "NONE");
  if (s == "NONE") return PostTransform::kNone;
  if (s == "SOFTMAX") return PostTransform::kSoftmax;
  if (s == "LOGISTIC") return PostTransform::kLogistic;
  if (s == "SOFTMAX_ZERO") return PostTransform::kSoftmaxZero;
  if (s == "PROBIT") return PostTransform::kProbit;
  return n.Error("post_transform '" + s + "' is not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT");
}

template <typename T>
inline T Logistic(T v) {
  T e = static_cast<T>(1) / (static_cast<T>(1) + std::exp(-std::fabs(v)));
  return v < 0 ? static_cast<T>(1) - e : e;
}

template <typename T>
inline T ErfInv(T x) {
  const T sgn = x < 0 ? static_cast<T>(-1) : static_cast<T>(1);
  x = (1 - x) * (1 + x);
  const T lg = std::log(x);
  const T v = static_cast<T>(2) / (static_cast<T>(3.14159265358979323846) * static_cast<T>(0.147)) +
              static_cast<T>(0.5) * lg;
  const T v2 = static_cast<T>(1) / static_cast<T>(0.147) * lg;
  const T v3 = -v + std::sqrt(v * v - v2);
  return sgn * std::sqrt(v3);
}

template <typename T>
inline T Probit(T v) {
  return static_cast<T>(1.41421356) * ErfInv(v * 2 - 1);
}

template <typename T>
inline void Softmax(T* v, int64_t n) {
  if (n <= 0) return;
  T mx = v[0];
  for (int64_t i = 1; i < n; ++i) mx = v[i] > mx ? v[i] : mx;
  T s = 0;
  for (int64_t i = 0; i < n; ++i) {
    v[i] = std::exp(v[i] - mx);
    s += v[i];
  }
  for (int64_t i = 0; i < n; ++i) v[i] /= s;
}

template <typename T>
inline void SoftmaxZero(T* v, int64_t n) {
  if (n <= 0) return;
  T mx = v[0];
  for (int64_t i = 1; i < n; ++i) mx = v[i] > mx ? v[i] : mx;
  const T e = std::exp(-mx);
  T s = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (v[i] > static_cast<T>(0.0000001) || v[i] < static_cast<T>(-0.0000001)) v[i] = std::exp(v[i] - mx);
    else v[i] *= e;
    s += v[i];
  }
  if (s == 0) {
    for (int64_t i = 0; i < n; ++i) v[i] = static_cast<T>(0.5);
  } else {
    for (int64_t i = 0; i < n; ++i) v[i] /= s;
  }
}

// Applies `pt` to one row of n scores in place (n >= 2 semantics of onnxruntime's write_scores).
template <typename T>
inline void ApplyPostTransform(PostTransform pt, T* v, int64_t n) {
  switch (pt) {
    case PostTransform::kNone: break;
    case PostTransform::kSoftmax: Softmax(v, n); break;
    case PostTransform::kSoftmaxZero: SoftmaxZero(v, n); break;
    case PostTransform::kLogistic:
      for (int64_t i = 0; i < n; ++i) v[i] = Logistic(v[i]);
      break;
    case PostTransform::kProbit:
      for (int64_t i = 0; i < n; ++i) v[i] = Probit(v[i]);
      break;
  }
}

// Reads a float-list attribute `name`, or its tensor form `name_as_tensor` (float or double).
// `*is_double` is set when the tensor form holds doubles. Missing both: empty.
Status ReadFloatsOrTensor(const NodeInfo& n, const std::string& name, std::vector<double>* out,
                          bool* is_double = nullptr);
// Reads any tensor attribute into doubles (numeric dtypes).
Status TensorToDoubles(const NodeInfo& n, const Tensor& t, const std::string& what, std::vector<double>* out);

// Converts the rows of a numeric 1-D/2-D input to T in `dst` (n elements).
template <typename T>
inline bool ConvertToFloating(const Tensor& x, T* dst) {
  const int64_t n = x.num_elements();
  return DispatchNumeric(x.dtype(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    const S* s = x.data<S>();
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(static_cast<ComputeType<S>>(s[i]));
  });
}

// Per-file registration, called from RegisterMlOps.
void RegisterTreeEnsembleOps(OpRegistry& r);
void RegisterLinearSvmOps(OpRegistry& r);
void RegisterMlMiscOps(OpRegistry& r);

}  // namespace onnxd::engine::ml
