// Small ONNX model builders shared by the CUDA session tests (session_test.cc,
// data_ops_session_test.cc, conv_pool_session_test.cc, autotune_session_test.cc): value infos,
// nodes, attributes, random initializers, input tensors and their outputs as floats, and compiling
// a model kept alive for the test binary.
#pragma once

#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "onnx/onnx-ml.pb.h"
#include "onnxd/engine/engine.h"

namespace onnxd::gpu_test {

inline constexpr int kF32 = onnx::TensorProto::FLOAT;
inline constexpr int kF16 = onnx::TensorProto::FLOAT16;
inline constexpr int kI64 = onnx::TensorProto::INT64;
inline constexpr int kBool = onnx::TensorProto::BOOL;

// dims < 0 become the symbolic dim named by `params` (default "N").
inline onnx::ValueInfoProto Info(const std::string& name, int type, const std::vector<int64_t>& dims,
                                 const std::vector<std::string>& params = {}) {
  onnx::ValueInfoProto v;
  v.set_name(name);
  auto* t = v.mutable_type()->mutable_tensor_type();
  t->set_elem_type(type);
  auto* s = t->mutable_shape();
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] >= 0) s->add_dim()->set_dim_value(dims[i]);
    else s->add_dim()->set_dim_param(i < params.size() ? params[i] : "N");
  }
  return v;
}

// An output whose shape the test does not state.
inline onnx::ValueInfoProto AnyShape(const std::string& name, int type) {
  onnx::ValueInfoProto v;
  v.set_name(name);
  v.mutable_type()->mutable_tensor_type()->set_elem_type(type);
  return v;
}

inline onnx::NodeProto* AddNode(onnx::GraphProto* g, const std::string& op, const std::vector<std::string>& in,
                                const std::vector<std::string>& out, const std::string& name = "") {
  auto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(name.empty() ? out[0] : name);
  for (const auto& i : in) n->add_input(i);
  for (const auto& o : out) n->add_output(o);
  return n;
}

inline void IntAttr(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
inline void FloatAttr(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}
inline void IntsAttr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
inline void StringAttr(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

inline std::vector<float> Random(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

inline int64_t Count(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

inline void FloatInit(onnx::GraphProto* g, const std::string& name, const std::vector<int64_t>& dims, uint32_t seed,
                      float scale = 0.5f) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(kF32);
  for (int64_t d : dims) t->add_dims(d);
  auto v = Random(static_cast<size_t>(Count(dims)), seed, scale);
  t->set_raw_data(v.data(), v.size() * sizeof(float));
}

// A float constant of one element (dims: [] by default, or e.g. {1}).
inline void ScalarInit(onnx::GraphProto* g, const std::string& name, float v, const std::vector<int64_t>& dims = {}) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(kF32);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(&v, sizeof(float));
}

// A 1-D int64 constant (a Reshape's shape, say).
inline void Int64Init(onnx::GraphProto* g, const std::string& name, const std::vector<int64_t>& values) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) t->add_int64_data(v);
}

// An exported attention block's head split: Reshape q, k, v ([B, S, E]) by the int64 constant
// `heads` ([B, S, H, D]) and transpose them into "q" [B, H, S, D], "kt" [B, H, D, S], "v" [B, H, S, D].
inline void SplitHeads(onnx::GraphProto* g, const std::string& q, const std::string& k, const std::string& v,
                       const std::string& heads) {
  AddNode(g, "Reshape", {q, heads}, {q + "_heads"});
  AddNode(g, "Reshape", {k, heads}, {k + "_heads"});
  AddNode(g, "Reshape", {v, heads}, {v + "_heads"});
  IntsAttr(AddNode(g, "Transpose", {q + "_heads"}, {"q"}), "perm", {0, 2, 1, 3});
  IntsAttr(AddNode(g, "Transpose", {k + "_heads"}, {"kt"}), "perm", {0, 2, 3, 1});
  IntsAttr(AddNode(g, "Transpose", {v + "_heads"}, {"v"}), "perm", {0, 2, 1, 3});
}

inline Value FloatTensor(const std::vector<int64_t>& dims, const std::vector<float>& data) {
  Tensor t = Tensor::Allocate(DataType::kFloat, Shape(std::span<const int64_t>(dims)));
  std::copy(data.begin(), data.end(), t.data<float>());
  return Value(t);
}

inline Value HalfTensor(const std::vector<int64_t>& dims, const std::vector<float>& data) {
  Tensor t = Tensor::Allocate(DataType::kFloat16, Shape(std::span<const int64_t>(dims)));
  auto* p = static_cast<__half*>(t.raw_data());
  for (size_t i = 0; i < data.size(); ++i) p[i] = __float2half(data[i]);
  return Value(t);
}

// A float or fp16 tensor's elements as floats.
inline std::vector<float> ToFloats(const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.num_elements()));
  if (t.dtype() == DataType::kFloat16) {
    const auto* p = static_cast<const __half*>(t.raw_data());
    for (size_t i = 0; i < v.size(); ++i) v[i] = __half2float(p[i]);
  } else if (t.dtype() == DataType::kInt64) {  // indices (exact below 2^24)
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(t.data<int64_t>()[i]);
  } else {
    std::copy(t.data<float>(), t.data<float>() + v.size(), v.begin());
  }
  return v;
}

inline onnx::ModelProto NewModel(int opset) {
  onnx::ModelProto m;
  m.set_ir_version(9);
  auto* os = m.add_opset_import();
  os->set_domain("");
  os->set_version(opset);
  m.mutable_graph()->set_name("g");
  return m;
}

// Compiles `m`, keeping the model alive for the rest of the test binary (placements handed out
// point into it); null, with a test failure, when it does not compile.
inline std::shared_ptr<const CompiledModel> CompileKept(const onnx::ModelProto& m, const CompileOptions& options) {
  static Engine engine;
  static std::vector<std::shared_ptr<const CompiledModel>> keep;
  auto model = engine.CompileBytes(m.SerializeAsString(), "", options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return nullptr;
  keep.push_back(*model);
  return *model;
}

// Whether a session's second run agrees with its first. A first run goes node by node; the
// second replays a captured graph, where a Conv + bias (+ ReLU, + residual) is one cuDNN call
// (the CUDA session fuses only while building a graph). In fp16 the separate calls round the
// convolution to fp16 before adding the bias, so where the bias cancels much of it the results
// differ by an fp16 step of the convolution, not of the result, and a network adds those up
// layer after layer (2% in a MobileNet block, seen in the CUDA emulator, tests/cuda_emu). fp16
// runs must agree as closely as the fp16 checks against the CPU ask (2e-2); anything else must be
// equal, NaN where NaN.
inline bool RunsAgree(double first, double second, bool fp16) {
  if (first == second || (std::isnan(first) && std::isnan(second))) return true;
  if (!fp16 || std::isnan(first) || std::isnan(second)) return false;
  return std::fabs(first - second) <= 2e-2 * std::max(std::fabs(first), std::fabs(second)) + 2e-2;
}

}  // namespace onnxd::gpu_test
