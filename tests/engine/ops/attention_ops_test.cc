// Unit tests for attention_ops.cc: Attention against a naive double-precision reference on shapes
// larger than the node suite's (parallel path, several query blocks, GQA, masks, KV cache), error
// reporting, and allocation-free steady state.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "alloc_hook.h"
#include "onnx/onnx-ml.pb.h"
#include "onnxd/engine/engine.h"
#include "test_models.h"

namespace onnxd {
namespace {

struct IntAttr {
  std::string name;
  int64_t v;
};

onnx::ModelProto AttentionModel(const std::vector<Tensor*>& inputs, int num_outputs, const std::vector<IntAttr>& attrs,
                                int opset = 23) {
  onnx::ModelProto m;
  m.set_ir_version(10);
  auto* os = m.add_opset_import();
  os->set_domain("");
  os->set_version(opset);
  auto* g = m.mutable_graph();
  g->set_name("g");
  std::vector<std::string> in_names, out_names;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i] == nullptr) {
      in_names.push_back("");
      continue;
    }
    in_names.push_back("in" + std::to_string(i));
    *g->add_input() = testing::TensorInfo(in_names.back(), static_cast<int>(inputs[i]->dtype()),
                                          inputs[i]->shape().ToVector());
  }
  for (int i = 0; i < num_outputs; ++i) {
    out_names.push_back("out" + std::to_string(i));
    g->add_output()->set_name(out_names.back());
  }
  onnx::NodeProto n = testing::Node("Attention", in_names, out_names);
  for (const auto& a : attrs) {
    auto* p = n.add_attribute();
    p->set_name(a.name);
    p->set_type(onnx::AttributeProto::INT);
    p->set_i(a.v);
  }
  *g->add_node() = n;
  return m;
}

Tensor Random(const Shape& s, std::mt19937& rng) {
  std::normal_distribution<float> d(0.f, 1.f);
  Tensor t = Tensor::Allocate(DataType::kFloat, s);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

struct Case {
  bool three_d;
  int64_t B, Hq, Hkv, Sq, Skv, D, Dv, P;
  bool causal;
  int mask_kind;  // 0 none, 1 float [Sq, T], 2 bool [B, 1, Sq, T]
};

// Naive reference on the 4-D view: returns Y as [B, Hq, Sq, Dv].
std::vector<double> Reference(const Case& c, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                              const Tensor* pk, const Tensor* pv) {
  const int64_t T = c.P + c.Skv;
  auto Q = [&](int64_t b, int64_t h, int64_t s, int64_t d) {
    return c.three_d ? q.data<float>()[(b * c.Sq + s) * c.Hq * c.D + h * c.D + d]
                     : q.data<float>()[((b * c.Hq + h) * c.Sq + s) * c.D + d];
  };
  auto KV = [&](const Tensor& cur, const Tensor* past, int64_t hd, int64_t b, int64_t h, int64_t t, int64_t d) {
    if (t < c.P) return past->data<float>()[((b * c.Hkv + h) * c.P + t) * hd + d];
    t -= c.P;
    return c.three_d ? cur.data<float>()[(b * c.Skv + t) * c.Hkv * hd + h * hd + d]
                     : cur.data<float>()[((b * c.Hkv + h) * c.Skv + t) * hd + d];
  };
  std::vector<double> y(c.B * c.Hq * c.Sq * c.Dv), s(T);
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.D));
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.Hq; ++h)
      for (int64_t i = 0; i < c.Sq; ++i) {
        const int64_t kh = h / (c.Hq / c.Hkv);
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t t = 0; t < T; ++t) {
          double acc = 0;
          for (int64_t d = 0; d < c.D; ++d) acc += double(Q(b, h, i, d)) * KV(k, pk, c.D, b, kh, t, d);
          acc *= scale;
          if (c.mask_kind == 1) acc += mask->data<float>()[i * T + t];
          if (c.mask_kind == 2 && !mask->data<bool>()[(b * c.Sq + i) * T + t]) acc = -INFINITY;
          if (c.causal && t > i + c.P) acc = -INFINITY;
          s[t] = acc;
          mx = std::max(mx, acc);
        }
        double sum = 0;
        for (int64_t t = 0; t < T; ++t) sum += (s[t] = std::exp(s[t] - mx));
        for (int64_t d = 0; d < c.Dv; ++d) {
          double acc = 0;
          for (int64_t t = 0; t < T; ++t) acc += s[t] / sum * KV(v, pv, c.Dv, b, kh, t, d);
          y[((b * c.Hq + h) * c.Sq + i) * c.Dv + d] = acc;
        }
      }
  return y;
}

void RunCase(const Case& c) {
  std::mt19937 rng(42);
  const int64_t T = c.P + c.Skv;
  Tensor q = Random(c.three_d ? Shape{c.B, c.Sq, c.Hq * c.D} : Shape{c.B, c.Hq, c.Sq, c.D}, rng);
  Tensor k = Random(c.three_d ? Shape{c.B, c.Skv, c.Hkv * c.D} : Shape{c.B, c.Hkv, c.Skv, c.D}, rng);
  Tensor v = Random(c.three_d ? Shape{c.B, c.Skv, c.Hkv * c.Dv} : Shape{c.B, c.Hkv, c.Skv, c.Dv}, rng);
  Tensor mask, pk, pv;
  if (c.mask_kind == 1) mask = Random(Shape{c.Sq, T}, rng);
  if (c.mask_kind == 2) {
    mask = Tensor::Allocate(DataType::kBool, Shape{c.B, 1, c.Sq, T});
    for (int64_t i = 0; i < mask.num_elements(); ++i) mask.data<bool>()[i] = (rng() % 5) != 0 || i % T == 0;
  }
  if (c.P > 0) {
    pk = Random(Shape{c.B, c.Hkv, c.P, c.D}, rng);
    pv = Random(Shape{c.B, c.Hkv, c.P, c.Dv}, rng);
  }
  std::vector<Tensor*> ins = {&q, &k, &v};
  if (c.mask_kind || c.P) ins.push_back(c.mask_kind ? &mask : nullptr);
  if (c.P) {
    ins.push_back(&pk);
    ins.push_back(&pv);
  }
  std::vector<IntAttr> attrs;
  if (c.causal) attrs.push_back({"is_causal", 1});
  if (c.three_d) {
    attrs.push_back({"q_num_heads", c.Hq});
    attrs.push_back({"kv_num_heads", c.Hkv});
  }
  onnx::ModelProto m = AttentionModel(ins, c.P ? 3 : 1, attrs);
  Engine engine;
  auto model = engine.CompileBytes(m.SerializeAsString(), "");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto session = (*model)->CreateSession();
  std::vector<Value> feeds;
  for (Tensor* t : ins)
    if (t) feeds.emplace_back(*t);
  std::vector<Value> outs;
  Status st = session->Run(feeds, &outs);
  ASSERT_TRUE(st.ok()) << st.ToString();
  const std::vector<double> ref = Reference(c, q, k, v, c.mask_kind ? &mask : nullptr, c.P ? &pk : nullptr,
                                            c.P ? &pv : nullptr);
  const Tensor& y = outs[0].tensor();
  ASSERT_EQ(y.num_elements(), static_cast<int64_t>(ref.size()));
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.Hq; ++h)
      for (int64_t i = 0; i < c.Sq; ++i)
        for (int64_t d = 0; d < c.Dv; ++d) {
          const double r = ref[((b * c.Hq + h) * c.Sq + i) * c.Dv + d];
          const float got = c.three_d ? y.data<float>()[(b * c.Sq + i) * c.Hq * c.Dv + h * c.Dv + d]
                                      : y.data<float>()[((b * c.Hq + h) * c.Sq + i) * c.Dv + d];
          ASSERT_NEAR(got, r, 1e-4 + 1e-4 * std::fabs(r)) << "b" << b << " h" << h << " i" << i << " d" << d;
        }
  if (c.P) {
    const Tensor& present = outs[1].tensor();
    ASSERT_EQ(present.shape(), (Shape{c.B, c.Hkv, T, c.D}));
    EXPECT_EQ(present.data<float>()[0], pk.data<float>()[0]);
  }
  // Steady state: a second run of the same shapes allocates nothing.
  std::vector<Value> outs2;
  ASSERT_TRUE(session->Run(feeds, &outs2).ok());
  outs2.clear();
  outs2.reserve(4);
  testing::StartCountingAllocations();
  Status st2 = session->Run(feeds, &outs2);
  const long allocs = testing::StopCountingAllocations();
  ASSERT_TRUE(st2.ok());
  EXPECT_EQ(allocs, 0);
}

TEST(AttentionOps, Mha4dLarge) { RunCase({false, 2, 4, 4, 150, 150, 32, 32, 0, false, 0}); }
TEST(AttentionOps, Gqa4dCausalFloatMask) { RunCase({false, 2, 8, 2, 97, 130, 16, 24, 0, true, 1}); }
TEST(AttentionOps, Gqa3dPastBoolMaskCausal) { RunCase({true, 2, 6, 3, 70, 40, 16, 8, 30, true, 2}); }
TEST(AttentionOps, Decode3dPast) { RunCase({true, 3, 4, 1, 1, 1, 32, 32, 63, false, 0}); }

TEST(AttentionOps, RejectsBadShapes) {
  std::mt19937 rng(1);
  Tensor q = Random(Shape{1, 4, 3, 8}, rng), k = Random(Shape{1, 3, 5, 8}, rng), v = Random(Shape{1, 3, 5, 8}, rng);
  onnx::ModelProto m = AttentionModel({&q, &k, &v}, 1, {});
  Engine engine;
  auto model = engine.CompileBytes(m.SerializeAsString(), "");
  ASSERT_TRUE(model.ok());
  auto session = (*model)->CreateSession();
  std::vector<Value> outs;
  Status st = session->Run(std::vector<Value>{Value(q), Value(k), Value(v)}, &outs);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.ToString().find("multiple of kv heads"), std::string::npos) << st.ToString();
}

// Timing of a prefill-sized self-attention; runs only with ONNXD_ATTN_BENCH set.
TEST(AttentionOps, Bench) {
  if (std::getenv("ONNXD_ATTN_BENCH") == nullptr) GTEST_SKIP();
  std::mt19937 rng(3);
  Tensor q = Random(Shape{1, 16, 512, 64}, rng), k = Random(Shape{1, 16, 512, 64}, rng), v = Random(Shape{1, 16, 512, 64}, rng);
  onnx::ModelProto m = AttentionModel({&q, &k, &v}, 1, {{"is_causal", 1}});
  Engine engine;
  auto model = engine.CompileBytes(m.SerializeAsString(), "");
  ASSERT_TRUE(model.ok());
  auto session = (*model)->CreateSession();
  std::vector<Value> feeds = {Value(q), Value(k), Value(v)}, outs;
  ASSERT_TRUE(session->Run(feeds, &outs).ok());
  const int iters = 20;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) ASSERT_TRUE(session->Run(feeds, &outs).ok());
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / iters;
  std::printf("Attention [1,16,512,64] causal: %.3f ms/run\n", ms);
}

}  // namespace
}  // namespace onnxd
