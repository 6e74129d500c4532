// GELU written out as elementwise ops (what torch.onnx writes below opset 20, and for the tanh
// approximation at any opset) becomes one Gelu node: one pass over the activations instead of five
// to nine. Two forms are matched, with every operand order of the commutative Add and Mul:
//
//   erf:  x * (1 + Erf(x / sqrt 2)) * 0.5          (Div by ~sqrt 2 or Mul by ~1/sqrt 2)
//   tanh: x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3))) * 0.5   (x^3 as Pow(x, 3) or x*x*x)
//
// The product of x, (1 + ...) and 0.5 may be associated either way: (x * s) * 0.5, (0.5 * x) * s,
// or (s * 0.5) * x. Only chains whose intermediate values have no other reader (node, subgraph,
// graph output) are rewritten; the last node of the chain becomes the Gelu, so its output name and
// its place in the node order are kept. Gelu is registered for every opset (ops/activation.cc), so
// the fused node runs in models that import an opset below 20.
#include <cmath>
#include <unordered_map>

#include "loader/tensor_proto.h"
#include "ops/op_util.h"
#include "passes/graph_index.h"
#include "passes/passes.h"

namespace onnxd::engine {
namespace {

class GeluMatcher {
 public:
  explicit GeluMatcher(onnx::GraphProto* g) : g_(g), idx_(*g), dead_(g->node_size(), false) {
    for (int i = 0; i < g->node_size(); ++i)
      for (const auto& o : g->node(i).output())
        if (!o.empty()) producer_[o] = i;
    for (const auto& v : g->input()) NoteRank(v);
    for (const auto& v : g->value_info()) NoteRank(v);
    for (const auto& v : g->output()) NoteRank(v);
  }

  int Run() {
    int fused = 0;
    for (int i = 0; i < g_->node_size(); ++i) {
      const onnx::NodeProto& n = g_->node(i);
      if (dead_[i] || !n.domain().empty() || n.input_size() != 1 || n.output_size() != 1) continue;
      if (n.op_type() == "Erf") fused += TryErf(i);
      else if (n.op_type() == "Tanh") fused += TryTanh(i);
    }
    if (fused > 0) {
      DropOrphanedConstants();
      EraseNodes(g_, dead_);
    }
    return fused;
  }

 private:
  void NoteRank(const onnx::ValueInfoProto& v) {
    if (v.type().has_tensor_type() && v.type().tensor_type().has_shape())
      rank_[v.name()] = v.type().tensor_type().shape().dim_size();
  }

  // The default-domain node producing `name` with op `op`, two inputs and one output, or null.
  const onnx::NodeProto* Producer(const std::string& name, const char* op, int* index) const {
    auto it = producer_.find(name);
    if (it == producer_.end() || dead_[it->second]) return nullptr;
    const onnx::NodeProto& n = g_->node(it->second);
    if (n.op_type() != op || !n.domain().empty() || n.input_size() != 2 || n.output_size() != 1) return nullptr;
    *index = it->second;
    return &n;
  }

  // The only reader of intermediate value `name` when it is the default-domain binary `op`; -1 if
  // the value has another reader (a second node, a subgraph, the graph's outputs).
  int SoleBinaryConsumer(const std::string& name, const char* op) const {
    if (idx_.IsGraphOutput(name)) return -1;
    const int c = idx_.SoleConsumer(name);
    if (c < 0 || dead_[c]) return -1;
    const onnx::NodeProto& n = g_->node(c);
    if (n.op_type() != op || !n.domain().empty() || n.input_size() != 2 || n.output_size() != 1) return -1;
    return c;
  }

  // The constant tensor `name` (initializer or Constant node), when it has exactly one element.
  const onnx::TensorProto* OneElementConstant(const std::string& name) const {
    const onnx::TensorProto* t = idx_.Constant(name);
    if (t == nullptr) {
      auto it = producer_.find(name);
      if (it == producer_.end()) return nullptr;
      const onnx::NodeProto& c = g_->node(it->second);
      if (c.op_type() != "Constant" || !c.domain().empty()) return nullptr;
      for (const auto& a : c.attribute())
        if (a.name() == "value" && a.has_t()) t = &a.t();
      if (t == nullptr) return nullptr;
    }
    int64_t count = 1;
    for (int64_t d : t->dims()) count *= d;
    return count == 1 ? t : nullptr;
  }

  // True when `name` is a one-element float constant within rounding of `want` for its type, and
  // broadcasting it against `x` leaves x's shape unchanged (rank 0, or x's rank known to be at least
  // the constant's).
  bool IsConstant(const std::string& name, double want, const std::string& x) const {
    const onnx::TensorProto* t = OneElementConstant(name);
    if (t == nullptr || !Broadcasts(*t, x)) return false;
    double tol;
    switch (t->data_type()) {
      case onnx::TensorProto::FLOAT:
      case onnx::TensorProto::DOUBLE: tol = 2e-4; break;  // admits 1.4142, 0.7071, 0.79788
      case onnx::TensorProto::FLOAT16: tol = 1e-3; break;
      case onnx::TensorProto::BFLOAT16: tol = 8e-3; break;
      default: return false;
    }
    auto v = TensorFromProto(*t);
    if (!v.ok()) return false;
    return std::fabs(ScalarAsDouble(*v) - want) <= tol * std::fabs(want);
  }

  // Pow's exponent: exactly 3, of any numeric type.
  bool IsThree(const std::string& name, const std::string& x) const {
    const onnx::TensorProto* t = OneElementConstant(name);
    if (t == nullptr || !Broadcasts(*t, x)) return false;
    auto v = TensorFromProto(*t);
    return v.ok() && ScalarAsDouble(*v) == 3.0;
  }

  bool Broadcasts(const onnx::TensorProto& t, const std::string& x) const {
    if (t.dims_size() == 0) return true;
    auto it = rank_.find(x);
    return it != rank_.end() && it->second >= t.dims_size();
  }

  // For binary node `n` with one input `known`, the other input (empty when both are `known`).
  static std::string Other(const onnx::NodeProto& n, const std::string& known) {
    if (n.input(0) == known && n.input(1) != known) return n.input(1);
    if (n.input(1) == known && n.input(0) != known) return n.input(0);
    return "";
  }

  // Erf(x / sqrt 2) or Erf(x * 1/sqrt 2) -> the rest of the chain.
  int TryErf(int erf_i) {
    const onnx::NodeProto& erf = g_->node(erf_i);
    std::vector<int> chain = {erf_i};
    int di;
    std::string x;
    if (const onnx::NodeProto* d = Producer(erf.input(0), "Div", &di)) {
      if (!IsConstant(d->input(1), std::sqrt(2.0), d->input(0))) return 0;
      x = d->input(0);
    } else if (const onnx::NodeProto* m = Producer(erf.input(0), "Mul", &di)) {
      if (IsConstant(m->input(1), std::sqrt(0.5), m->input(0))) x = m->input(0);
      else if (IsConstant(m->input(0), std::sqrt(0.5), m->input(1))) x = m->input(1);
      else return 0;
    } else {
      return 0;
    }
    if (idx_.IsGraphOutput(erf.input(0)) || idx_.SoleConsumer(erf.input(0)) != erf_i) return 0;
    chain.push_back(di);
    return FinishTail(erf_i, x, chain, "none");
  }

  // Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)) -> the rest of the chain.
  int TryTanh(int tanh_i) {
    const onnx::NodeProto& tanh = g_->node(tanh_i);
    std::vector<int> chain = {tanh_i};
    int si;
    const onnx::NodeProto* scale = Producer(tanh.input(0), "Mul", &si);
    if (scale == nullptr || idx_.IsGraphOutput(tanh.input(0)) || idx_.SoleConsumer(tanh.input(0)) != tanh_i) return 0;
    chain.push_back(si);
    // One of Mul's operands is sqrt(2/pi), the other the inner sum; which is which is decided by
    // the sum's shape (Add with a cubic term).
    for (int k = 0; k < 2; ++k) {
      const std::string& inner = scale->input(k);
      const std::string& c = scale->input(1 - k);
      int ai;
      const onnx::NodeProto* add = Producer(inner, "Add", &ai);
      if (add == nullptr || inner == c || SoleBinaryConsumer(inner, "Mul") != si) continue;
      for (int j = 0; j < 2; ++j) {
        const std::string& x = add->input(j);
        const std::string& cubic = add->input(1 - j);
        std::vector<int> inner_nodes;
        if (x == cubic || !IsCubicTerm(cubic, x, ai, &inner_nodes)) continue;
        if (!IsConstant(c, 0.7978845608028654 /* sqrt(2 / pi) */, x)) continue;
        std::vector<int> full = chain;
        full.push_back(ai);
        full.insert(full.end(), inner_nodes.begin(), inner_nodes.end());
        return FinishTail(tanh_i, x, full, "tanh");
      }
    }
    return 0;
  }

  // `v` = 0.044715 * x^3 (Mul with either operand order), read only by node `reader`.
  bool IsCubicTerm(const std::string& v, const std::string& x, int reader, std::vector<int>* nodes) const {
    int mi;
    const onnx::NodeProto* m = Producer(v, "Mul", &mi);
    if (m == nullptr || idx_.IsGraphOutput(v) || idx_.SoleConsumer(v) != reader) return false;
    for (int k = 0; k < 2; ++k) {
      const std::string& cube = m->input(k);
      if (!IsConstant(m->input(1 - k), 0.044715, x)) continue;
      std::vector<int> cube_nodes;
      if (IsCube(cube, x, mi, &cube_nodes)) {
        nodes->push_back(mi);
        nodes->insert(nodes->end(), cube_nodes.begin(), cube_nodes.end());
        return true;
      }
    }
    return false;
  }

  // `v` = Pow(x, 3), or x * (x * x) in any association and operand order; read only by `reader`.
  bool IsCube(const std::string& v, const std::string& x, int reader, std::vector<int>* nodes) const {
    if (idx_.IsGraphOutput(v) || idx_.SoleConsumer(v) != reader) return false;
    int pi;
    if (const onnx::NodeProto* p = Producer(v, "Pow", &pi)) {
      if (p->input(0) != x || !IsThree(p->input(1), x)) return false;
      nodes->push_back(pi);
      return true;
    }
    int mi;
    const onnx::NodeProto* m = Producer(v, "Mul", &mi);
    if (m == nullptr) return false;
    // One operand is x, the other x*x (which is a Mul of x by itself read only here).
    for (int k = 0; k < 2; ++k) {
      if (m->input(k) != x) continue;
      const std::string& sq = m->input(1 - k);
      int si;
      const onnx::NodeProto* s = Producer(sq, "Mul", &si);
      if (s == nullptr || s->input(0) != x || s->input(1) != x) continue;
      if (idx_.IsGraphOutput(sq) || idx_.SoleConsumer(sq) != mi) continue;
      nodes->push_back(mi);
      nodes->push_back(si);
      return true;
    }
    return false;
  }

  // From the Erf/Tanh node: Add(., 1) and the product with x and 0.5 in any association. On a match
  // the chain's last node becomes Gelu(x) and the rest are marked dead.
  int FinishTail(int act_i, const std::string& x, std::vector<int> chain, const char* approximate) {
    const std::string& t = g_->node(act_i).output(0);
    const int ai = SoleBinaryConsumer(t, "Add");
    if (ai < 0) return 0;
    const onnx::NodeProto& add = g_->node(ai);
    if (!IsConstant(Other(add, t), 1.0, x)) return 0;
    chain.push_back(ai);
    const std::string& s = add.output(0);  // 1 + erf(...) or 1 + tanh(...)
    const int m1i = SoleBinaryConsumer(s, "Mul");
    if (m1i < 0) return 0;
    const onnx::NodeProto& m1 = g_->node(m1i);
    const std::string o1 = Other(m1, s);
    if (o1.empty()) return 0;
    chain.push_back(m1i);
    int last = -1;
    if (o1 == x || IsConstant(o1, 0.5, x)) {
      // (x * s) * 0.5 or (s * 0.5) * x: one more Mul by the remaining factor.
      const int m2i = SoleBinaryConsumer(m1.output(0), "Mul");
      if (m2i < 0) return 0;
      const std::string o2 = Other(g_->node(m2i), m1.output(0));
      if (o1 == x ? !IsConstant(o2, 0.5, x) : o2 != x) return 0;
      last = m2i;
    } else {
      // (0.5 * x) * s: o1 is a Mul of x by 0.5 read only by m1.
      int hi;
      const onnx::NodeProto* h = Producer(o1, "Mul", &hi);
      if (h == nullptr || idx_.IsGraphOutput(o1) || idx_.SoleConsumer(o1) != m1i) return 0;
      const std::string c = Other(*h, x);
      if (c.empty() || !IsConstant(c, 0.5, x)) return 0;
      chain.push_back(hi);
      last = m1i;
    }
    for (int i : chain)
      if (dead_[i]) return 0;
    if (last != m1i) chain.push_back(last);
    for (int i : chain)
      if (i != last) dead_[i] = true;
    onnx::NodeProto* gelu = g_->mutable_node(last);
    const std::string out = gelu->output(0);
    const std::string name = gelu->name();
    gelu->Clear();
    gelu->set_op_type("Gelu");
    gelu->set_name(name.empty() ? out + "__gelu" : name + "__gelu");
    gelu->add_input(x);
    gelu->add_output(out);
    auto* a = gelu->add_attribute();
    a->set_name("approximate");
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(approximate);
    return 1;
  }

  // Constant nodes that only fed fused chains (nothing reads their output any more) go as well.
  void DropOrphanedConstants() {
    std::unordered_map<std::string, int> live_reads;
    for (int i = 0; i < g_->node_size(); ++i)
      if (!dead_[i])
        for (const auto& in : g_->node(i).input()) ++live_reads[in];
    for (int i = 0; i < g_->node_size(); ++i) {
      const onnx::NodeProto& n = g_->node(i);
      if (dead_[i] || n.op_type() != "Constant" || !n.domain().empty() || n.output_size() != 1) continue;
      const std::string& o = n.output(0);
      if (idx_.NumConsumers(o) > 0 && live_reads[o] == 0 && !idx_.IsGraphOutput(o) && !idx_.IsReadBySubgraph(o))
        dead_[i] = true;
    }
  }

  onnx::GraphProto* g_;
  GraphIndex idx_;
  std::vector<bool> dead_;
  std::unordered_map<std::string, int> producer_;
  std::unordered_map<std::string, int> rank_;
};

}  // namespace

int FuseGelu(onnx::GraphProto* g) { return GeluMatcher(g).Run(); }

}  // namespace onnxd::engine
