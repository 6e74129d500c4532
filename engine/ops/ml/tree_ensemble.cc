// TreeEnsembleClassifier, TreeEnsembleRegressor (ai.onnx.ml 1-3) and TreeEnsemble (ai.onnx.ml 5).
//
// At Init the trees are compiled into one flat node array per threshold type (float and double), in
// depth-first order per tree, leaves holding ranges of (target, weight) pairs. At run time rows are
// evaluated in parallel (or, for few rows and many trees, tree chunks in parallel with partial
// scores merged in order). Scores and the binary-classification special cases follow onnxruntime.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "ops/ml/ml_common.h"

namespace onnxd::engine::ml {
namespace {

enum Mode : uint8_t { kLeq = 0, kLt = 1, kGte = 2, kGt = 3, kEq = 4, kNeq = 5, kMember = 6, kLeaf = 7 };
enum class Agg { kSum = 0, kAverage = 1, kMin = 2, kMax = 3 };

// One node as parsed, before compilation.
struct RawNode {
  uint8_t mode = kLeaf;
  int64_t feature = 0;
  double value = 0;
  bool miss_true = false;
  int true_idx = -1;
  int false_idx = -1;
  std::vector<double> members;
  std::vector<std::pair<int64_t, double>> weights;  // leaves: (target, weight)
};

struct RawEnsemble {
  std::vector<RawNode> nodes;
  std::vector<int> roots;
};

template <typename T>
struct TNode {
  T th;
  int32_t feature;  // -1 for leaves
  int32_t t;        // true next; leaves: first weight
  int32_t f;        // false next; leaves: end of weights
  uint8_t mode;
  uint8_t miss_true;
  int32_t set;      // kMember: index into sets
};

template <typename T>
struct TWeight {
  int32_t target;
  T w;
};

template <typename T>
struct Compiled {
  std::vector<TNode<T>> nodes;
  std::vector<TWeight<T>> weights;
  std::vector<std::vector<T>> sets;  // sorted members
};

struct Ensemble {
  Compiled<float> f;
  Compiled<double> d;
  std::vector<int32_t> roots;
  int64_t n_targets = 0;
  int64_t max_feature = -1;
  bool leq_only = true;  // every decision node is BRANCH_LEQ without missing tracking
};

template <typename T>
void CompileTyped(const RawEnsemble& raw, const std::vector<int>& new_index, const std::vector<int>& order,
                  Compiled<T>* out) {
  out->nodes.resize(order.size());
  for (size_t k = 0; k < order.size(); ++k) {
    const RawNode& r = raw.nodes[order[k]];
    TNode<T>& n = out->nodes[k];
    n.th = static_cast<T>(r.value);
    n.mode = r.mode;
    n.miss_true = r.miss_true ? 1 : 0;
    n.set = -1;
    if (r.mode == kLeaf) {
      n.feature = -1;
      n.t = static_cast<int32_t>(out->weights.size());
      for (const auto& w : r.weights) out->weights.push_back({static_cast<int32_t>(w.first), static_cast<T>(w.second)});
      n.f = static_cast<int32_t>(out->weights.size());
    } else {
      n.feature = static_cast<int32_t>(r.feature);
      n.t = new_index[r.true_idx];
      n.f = new_index[r.false_idx];
      if (r.mode == kMember) {
        std::vector<T> s;
        for (double m : r.members) s.push_back(static_cast<T>(m));
        std::sort(s.begin(), s.end());
        n.set = static_cast<int32_t>(out->sets.size());
        out->sets.push_back(std::move(s));
      }
    }
  }
}

// Orders the reachable nodes depth first per tree, checks for cycles and bad references.
Status CompileEnsemble(const NodeInfo& n, const RawEnsemble& raw, int64_t n_targets, Ensemble* e) {
  const int nn = static_cast<int>(raw.nodes.size());
  std::vector<int> new_index(nn, -1);
  std::vector<uint8_t> state(nn, 0);
  std::vector<int> order;
  std::vector<std::pair<int, int>> stack;
  for (int root : raw.roots) {
    if (root < 0 || root >= nn) return n.Error("tree root index " + std::to_string(root) + " is out of range");
    if (state[root] == 0) stack.push_back({root, 0});
    while (!stack.empty()) {
      auto& [r, phase] = stack.back();
      const RawNode& node = raw.nodes[r];
      if (phase == 0) {
        state[r] = 1;
        new_index[r] = static_cast<int>(order.size());
        order.push_back(r);
        if (node.mode == kLeaf) {
          state[r] = 2;
          stack.pop_back();
          continue;
        }
        if (node.feature < 0) return n.Error("node has a negative feature id");
        e->max_feature = std::max(e->max_feature, node.feature);
        if (node.mode != kLeq || node.miss_true) e->leq_only = false;
      }
      if (phase < 2) {
        int child = phase == 0 ? node.true_idx : node.false_idx;
        ++phase;
        if (child < 0 || child >= nn) return n.Error("a tree node refers to a child that does not exist");
        if (state[child] == 1) return n.Error("the trees contain a cycle");
        if (state[child] == 0) stack.push_back({child, 0});  // invalidates r/phase: loop re-reads
        continue;
      }
      state[r] = 2;
      stack.pop_back();
    }
    e->roots.push_back(new_index[root]);
  }
  for (const RawNode& r : raw.nodes)
    for (const auto& w : r.weights)
      if (w.first < 0 || w.first >= n_targets)
        return n.Error("leaf weight target/class id " + std::to_string(w.first) + " is out of range [0, " +
                       std::to_string(n_targets) + ")");
  e->n_targets = n_targets;
  CompileTyped(raw, new_index, order, &e->f);
  CompileTyped(raw, new_index, order, &e->d);
  return Status::Ok();
}

StatusOr<uint8_t> ParseMode(const NodeInfo& n, const std::string& s) {
  if (s == "BRANCH_LEQ") return kLeq;
  if (s == "BRANCH_LT") return kLt;
  if (s == "BRANCH_GTE") return kGte;
  if (s == "BRANCH_GT") return kGt;
  if (s == "BRANCH_EQ") return kEq;
  if (s == "BRANCH_NEQ") return kNeq;
  if (s == "LEAF") return kLeaf;
  return n.Error("unknown node mode '" + s + "'");
}

// Parses the ai.onnx.ml 1-3 form (nodes_* plus class_* or target_*).
Status ParseLegacy(const NodeInfo& n, const std::string& prefix, RawEnsemble* raw) {
  auto treeids = n.GetInts("nodes_treeids");
  auto nodeids = n.GetInts("nodes_nodeids");
  auto featureids = n.GetInts("nodes_featureids");
  auto modes = n.GetStrings("nodes_modes");
  auto trues = n.GetInts("nodes_truenodeids");
  auto falses = n.GetInts("nodes_falsenodeids");
  auto missing = n.GetInts("nodes_missing_value_tracks_true");
  std::vector<double> values;
  RETURN_IF_ERROR(ReadFloatsOrTensor(n, "nodes_values", &values));
  const size_t nn = treeids.size();
  if (nodeids.size() != nn || featureids.size() != nn || modes.size() != nn || trues.size() != nn ||
      falses.size() != nn || (values.size() != nn && !values.empty()) || (!missing.empty() && missing.size() != nn))
    return n.Error("nodes_* attributes differ in length (nodes_treeids has " + std::to_string(nn) + ")");
  std::map<std::pair<int64_t, int64_t>, int> index;
  raw->nodes.resize(nn);
  std::map<int64_t, bool> seen_tree;
  for (size_t i = 0; i < nn; ++i) {
    auto key = std::make_pair(treeids[i], nodeids[i]);
    if (!index.emplace(key, static_cast<int>(i)).second)
      return n.Error("node (tree " + std::to_string(treeids[i]) + ", node " + std::to_string(nodeids[i]) +
                     ") is defined twice");
    if (!seen_tree.count(treeids[i])) {
      seen_tree[treeids[i]] = true;
      raw->roots.push_back(static_cast<int>(i));
    }
  }
  for (size_t i = 0; i < nn; ++i) {
    RawNode& r = raw->nodes[i];
    ASSIGN_OR_RETURN(r.mode, ParseMode(n, modes[i]));
    r.feature = featureids[i];
    r.value = values.empty() ? 0.0 : values[i];
    r.miss_true = !missing.empty() && missing[i] != 0;
    if (r.mode != kLeaf) {
      auto t = index.find({treeids[i], trues[i]});
      auto f = index.find({treeids[i], falses[i]});
      if (t == index.end() || f == index.end())
        return n.Error("node (tree " + std::to_string(treeids[i]) + ", node " + std::to_string(nodeids[i]) +
                       ") has a child that is not defined");
      r.true_idx = t->second;
      r.false_idx = f->second;
    }
  }
  auto w_tree = n.GetInts(prefix + "_treeids");
  auto w_node = n.GetInts(prefix + "_nodeids");
  auto w_ids = n.GetInts(prefix + "_ids");
  std::vector<double> w;
  RETURN_IF_ERROR(ReadFloatsOrTensor(n, prefix + "_weights", &w));
  if (w_node.size() != w_tree.size() || w_ids.size() != w_tree.size() || w.size() != w_tree.size())
    return n.Error(prefix + "_treeids, _nodeids, _ids and _weights differ in length");
  for (size_t i = 0; i < w_tree.size(); ++i) {
    auto it = index.find({w_tree[i], w_node[i]});
    if (it == index.end())
      return n.Error(prefix + " weight " + std::to_string(i) + " refers to node (tree " + std::to_string(w_tree[i]) +
                     ", node " + std::to_string(w_node[i]) + ") which does not exist");
    raw->nodes[it->second].weights.push_back({w_ids[i], w[i]});
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

template <typename T>
inline bool Decide(const Compiled<T>& c, const TNode<T>& nd, T v) {
  if (nd.miss_true && std::isnan(v)) return true;
  switch (nd.mode) {
    case kLeq: return v <= nd.th;
    case kLt: return v < nd.th;
    case kGte: return v >= nd.th;
    case kGt: return v > nd.th;
    case kEq: return v == nd.th;
    case kNeq: return v != nd.th;
    case kMember: {
      // Exact membership (the spec). onnxruntime accepts only integral members and, for sets with
      // negative members, also matches non-integral inputs that truncate onto a member.
      const auto& s = c.sets[nd.set];
      return std::binary_search(s.begin(), s.end(), v);
    }
    default: return false;
  }
}

template <typename T, bool kLeqOnly>
inline const TNode<T>* FindLeaf(const Compiled<T>& c, int32_t root, const T* x) {
  const TNode<T>* nodes = c.nodes.data();
  const TNode<T>* nd = nodes + root;
  while (nd->feature >= 0) {
    const T v = x[nd->feature];
    bool go;
    if constexpr (kLeqOnly) go = v <= nd->th;
    else go = Decide(c, *nd, v);
    nd = nodes + (go ? nd->t : nd->f);
  }
  return nd;
}

template <typename T, Agg kAgg>
inline void AddLeaf(const TWeight<T>* weights, const TNode<T>* leaf, T* sc, uint8_t* hs) {
  for (int32_t w = leaf->t; w < leaf->f; ++w) {
    const int32_t id = weights[w].target;
    const T val = weights[w].w;
    if constexpr (kAgg == Agg::kSum || kAgg == Agg::kAverage) {
      sc[id] += val;
    } else if constexpr (kAgg == Agg::kMin) {
      sc[id] = (!hs[id] || val < sc[id]) ? val : sc[id];
    } else {
      sc[id] = (!hs[id] || val > sc[id]) ? val : sc[id];
    }
    hs[id] = 1;
  }
}

template <typename T, bool kLeqOnly, Agg kAgg>
void EvalRange(const Ensemble& e, const Compiled<T>& c, const T* x, int64_t stride, int64_t r0, int64_t r1,
               size_t t0, size_t t1, T* scores, uint8_t* has) {
  const int64_t k = e.n_targets;
  const TWeight<T>* weights = c.weights.data();
  // Tree-major over blocks of rows: one tree stays in cache while a block of rows walks it.
  constexpr int64_t kBlock = 64;
  for (int64_t rb = r0; rb < r1; rb += kBlock) {
    const int64_t re = std::min(r1, rb + kBlock);
    for (size_t t = t0; t < t1; ++t) {
      const int32_t root = e.roots[t];
      int64_t r = rb;
      for (; r < re; ++r) {
        const TNode<T>* leaf = FindLeaf<T, kLeqOnly>(c, root, x + r * stride);
        AddLeaf<T, kAgg>(weights, leaf, scores + r * k, has + r * k);
      }
    }
  }
}

template <typename T, bool kLeqOnly>
void EvalDispatchAgg(Agg agg, const Ensemble& e, const Compiled<T>& c, const T* x, int64_t stride, int64_t r0,
                     int64_t r1, size_t t0, size_t t1, T* scores, uint8_t* has) {
  switch (agg) {
    case Agg::kSum:
    case Agg::kAverage: EvalRange<T, kLeqOnly, Agg::kSum>(e, c, x, stride, r0, r1, t0, t1, scores, has); break;
    case Agg::kMin: EvalRange<T, kLeqOnly, Agg::kMin>(e, c, x, stride, r0, r1, t0, t1, scores, has); break;
    case Agg::kMax: EvalRange<T, kLeqOnly, Agg::kMax>(e, c, x, stride, r0, r1, t0, t1, scores, has); break;
  }
}

template <typename T>
void EvalPart(Agg agg, const Ensemble& e, const Compiled<T>& c, const T* x, int64_t stride, int64_t r0, int64_t r1,
              size_t t0, size_t t1, T* scores, uint8_t* has) {
  if (e.leq_only) EvalDispatchAgg<T, true>(agg, e, c, x, stride, r0, r1, t0, t1, scores, has);
  else EvalDispatchAgg<T, false>(agg, e, c, x, stride, r0, r1, t0, t1, scores, has);
}

// Fills scores[n, k] (zero where no leaf contributed) and has[n, k].
template <typename T>
void Evaluate(KernelContext& ctx, Agg agg, const Ensemble& e, const T* x, int64_t n, int64_t stride, T* scores,
              uint8_t* has) {
  const Compiled<T>& c = [&]() -> const Compiled<T>& {
    if constexpr (std::is_same_v<T, float>) return e.f;
    else return e.d;
  }();
  const int64_t k = e.n_targets;
  std::fill(scores, scores + n * k, T(0));
  std::fill(has, has + n * k, uint8_t{0});
  const size_t trees = e.roots.size();
  ThreadPool& pool = ctx.pool();
  const int threads = pool.num_threads();
  if (n >= 2 * threads || trees < 32 || threads <= 1) {
    const int64_t work_per_row = static_cast<int64_t>(trees) * 8 + 1;
    const int64_t grain = std::max<int64_t>(1, 16384 / work_per_row);
    pool.ParallelFor(n, grain, [&](int64_t b, int64_t end) {
      EvalPart(agg, e, c, x, stride, b, end, 0, trees, scores, has);
    });
    return;
  }
  // Few rows, many trees: chunks of trees into partial score buffers, merged in chunk order.
  const int64_t chunks = std::min<int64_t>(threads, static_cast<int64_t>(trees) / 16);
  T* part = static_cast<T*>(ctx.Scratch(sizeof(T) * static_cast<size_t>(chunks * n * k) + 64));
  uint8_t* part_has = static_cast<uint8_t*>(ctx.Scratch(static_cast<size_t>(chunks * n * k) + 64));
  std::fill(part, part + chunks * n * k, T(0));
  std::fill(part_has, part_has + chunks * n * k, uint8_t{0});
  pool.ParallelFor(chunks, 1, [&](int64_t b, int64_t end) {
    for (int64_t ch = b; ch < end; ++ch) {
      size_t t0 = trees * ch / chunks, t1 = trees * (ch + 1) / chunks;
      EvalPart(agg, e, c, x, stride, 0, n, t0, t1, part + ch * n * k, part_has + ch * n * k);
    }
  });
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const T* ps = part + ch * n * k;
    const uint8_t* ph = part_has + ch * n * k;
    for (int64_t i = 0; i < n * k; ++i) {
      if (!ph[i]) continue;
      if (agg == Agg::kSum || agg == Agg::kAverage) scores[i] += ps[i];
      else if (agg == Agg::kMin) scores[i] = (!has[i] || ps[i] < scores[i]) ? ps[i] : scores[i];
      else scores[i] = (!has[i] || ps[i] > scores[i]) ? ps[i] : scores[i];
      has[i] = 1;
    }
  }
}

// Gets X as float or double rows: returns a pointer to the data (converted into scratch when needed).
struct Rows {
  int64_t n = 0;
  int64_t stride = 0;
  bool is_double = false;
  const float* f = nullptr;
  const double* d = nullptr;
};

Status GetRows(KernelContext& ctx, const Ensemble& e, Rows* rows) {
  const Tensor* x = ctx.input(0);
  if (x == nullptr) return ctx.Error("input X is missing or not a tensor");
  if (x->rank() == 1) {
    rows->n = 1;
    rows->stride = x->dim(0);
  } else if (x->rank() == 2) {
    rows->n = x->dim(0);
    rows->stride = x->dim(1);
  } else {
    return ctx.Error("input X must be 1-D or 2-D, got shape " + x->shape().ToString());
  }
  if (rows->n > 0 && rows->stride <= e.max_feature)
    return ctx.Error("input X has " + std::to_string(rows->stride) + " features but the trees read feature " +
                     std::to_string(e.max_feature));
  switch (x->dtype()) {
    case DataType::kFloat: rows->f = x->data<float>(); return Status::Ok();
    case DataType::kDouble:
      rows->is_double = true;
      rows->d = x->data<double>();
      return Status::Ok();
    default: {
      float* buf = static_cast<float*>(ctx.Scratch(sizeof(float) * static_cast<size_t>(x->num_elements()) + 64));
      if (!ConvertToFloating(*x, buf))
        return ctx.Error(std::string("input X has unsupported type ") + DataTypeName(x->dtype()));
      rows->f = buf;
      return Status::Ok();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// TreeEnsembleClassifier

class TreeEnsembleClassifierKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    ASSIGN_OR_RETURN(post_, ParsePostTransform(n));
    labels_int_ = n.GetInts("classlabels_int64s");
    labels_str_ = n.GetStrings("classlabels_strings");
    string_labels_ = !labels_str_.empty();
    if (string_labels_ && !labels_int_.empty()) return n.Error("both classlabels_int64s and classlabels_strings are set");
    n_classes_ = string_labels_ ? static_cast<int64_t>(labels_str_.size()) : static_cast<int64_t>(labels_int_.size());
    if (n_classes_ == 0) return n.Error("classlabels_int64s or classlabels_strings must be set");
    RETURN_IF_ERROR(ReadFloatsOrTensor(n, "base_values", &base_));
    if (!base_.empty() && base_.size() != static_cast<size_t>(n_classes_) && !(n_classes_ == 2 && base_.size() == 1))
      return n.Error("base_values has " + std::to_string(base_.size()) + " values for " + std::to_string(n_classes_) +
                     " classes");
    RawEnsemble raw;
    RETURN_IF_ERROR(ParseLegacy(n, "class", &raw));
    std::vector<double> w;
    RETURN_IF_ERROR(ReadFloatsOrTensor(n, "class_weights", &w));
    auto ids = n.GetInts("class_ids");
    std::vector<int64_t> distinct(ids.begin(), ids.end());
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    for (double v : w)
      if (v < 0) all_positive_ = false;
    binary_case_ = n_classes_ == 2 && distinct.size() == 1;
    RETURN_IF_ERROR(CompileEnsemble(n, raw, n_classes_, &e_));
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    Rows rows;
    RETURN_IF_ERROR(GetRows(ctx, e_, &rows));
    const int64_t n = rows.n, k = n_classes_;
    Tensor* label = ctx.Output(0, string_labels_ ? DataType::kString : DataType::kInt64, Shape{n});
    Tensor* z = ctx.Output(1, DataType::kFloat, Shape{n, k});
    uint8_t* has = static_cast<uint8_t*>(ctx.Scratch(static_cast<size_t>(n * k) + 64));
    if (rows.is_double) {
      double* sc = static_cast<double*>(ctx.Scratch(sizeof(double) * static_cast<size_t>(n * k) + 64));
      Evaluate<double>(ctx, Agg::kSum, e_, rows.d, n, rows.stride, sc, has);
      Finalize(sc, has, n, label, z);
    } else {
      float* sc = static_cast<float*>(ctx.Scratch(sizeof(float) * static_cast<size_t>(n * k) + 64));
      Evaluate<float>(ctx, Agg::kSum, e_, rows.f, n, rows.stride, sc, has);
      Finalize(sc, has, n, label, z);
    }
    return Status::Ok();
  }

 private:
  void SetLabel(Tensor* label, int64_t row, int64_t cls) const {
    if (cls < 0) cls = 0;
    if (string_labels_) label->data<std::string>()[row] = labels_str_[cls];
    else label->data<int64_t>()[row] = labels_int_[cls];
  }

  template <typename T>
  void Finalize(T* scores, const uint8_t* has_all, int64_t n, Tensor* label, Tensor* z) const {
    const int64_t k = n_classes_;
    float* out = z->data<float>();
    for (int64_t r = 0; r < n; ++r) {
      T* sc = scores + r * k;
      const uint8_t* hs = has_all + r * k;
      float* o = out + r * k;
      if (k != 2) {
        int64_t best = -1;
        T best_w = 0;
        const bool use_base = base_.size() == static_cast<size_t>(k);
        for (int64_t j = 0; j < k; ++j) {
          bool h = hs[j] != 0;
          if (use_base) {
            sc[j] += static_cast<T>(base_[j]);
            h = true;
          }
          if (h && (best < 0 || sc[j] > best_w)) {
            best = j;
            best_w = sc[j];
          }
        }
        SetLabel(label, r, best);
        ApplyPostTransform(post_, sc, k);
        for (int64_t j = 0; j < k; ++j) o[j] = static_cast<float>(sc[j]);
        continue;
      }
      // Two classes: onnxruntime's binary handling, quirks included (entries no leaf contributed to
      // are written as 0; a single-class ensemble gets its second column synthesised).
      T s[2] = {sc[0], sc[1]};
      const bool h0 = hs[0] != 0, h1 = hs[1] != 0;
      bool single = false;
      if (base_.size() == 2) {
        if (h1) {
          s[1] = static_cast<T>(base_[1]) + s[0];
          s[0] = -s[1];
        } else {
          s[1] += static_cast<T>(base_[1]);
          s[0] += static_cast<T>(base_[0]);
        }
      } else if (base_.size() == 1) {
        s[0] += static_cast<T>(base_[0]);
        single = !h1;
      } else {
        single = !h1;
      }
      const T pos_weight = (!single && h1) ? s[1] : (h0 ? s[0] : T(0));
      int add_second = -1;
      if (binary_case_) {
        const bool pos = all_positive_ ? pos_weight > static_cast<T>(0.5) : pos_weight > 0;
        add_second = (all_positive_ ? 0 : 2) + (pos ? 0 : 1);
        SetLabel(label, r, pos ? 1 : 0);
      } else if (string_labels_) {
        SetLabel(label, r, pos_weight > 0 ? 1 : 0);
      } else {
        label->data<int64_t>()[r] = pos_weight > 0 ? 1 : 0;
      }
      if (!single) {
        T v[2] = {h0 ? s[0] : T(0), h1 ? s[1] : T(0)};
        ApplyPostTransform(post_, v, 2);
        o[0] = static_cast<float>(v[0]);
        o[1] = static_cast<float>(v[1]);
      } else if (post_ == PostTransform::kProbit) {
        o[0] = static_cast<float>(Probit(s[0]));
        o[1] = 0;
      } else if (add_second >= 0) {
        if (post_ == PostTransform::kLogistic) {
          o[0] = static_cast<float>(Logistic(-s[0]));
          o[1] = static_cast<float>(Logistic(s[0]));
        } else {
          o[0] = static_cast<float>(add_second <= 1 ? 1 - s[0] : -s[0]);
          o[1] = static_cast<float>(s[0]);
        }
      } else {
        o[0] = static_cast<float>(s[0]);
        o[1] = 0;
      }
    }
  }

  PostTransform post_ = PostTransform::kNone;
  std::vector<int64_t> labels_int_;
  std::vector<std::string> labels_str_;
  bool string_labels_ = false;
  int64_t n_classes_ = 0;
  std::vector<double> base_;
  bool all_positive_ = true;
  bool binary_case_ = false;
  Ensemble e_;
};

// ---------------------------------------------------------------------------------------------
// TreeEnsembleRegressor and TreeEnsemble (v5): same scoring, different attribute forms.

class TreeRegressorKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (n.op_type() == "TreeEnsemble") return InitV5(n);
    ASSIGN_OR_RETURN(post_, ParsePostTransform(n));
    const std::string agg = n.GetString("aggregate_function", "SUM");
    if (agg == "SUM") agg_ = Agg::kSum;
    else if (agg == "AVERAGE") agg_ = Agg::kAverage;
    else if (agg == "MIN") agg_ = Agg::kMin;
    else if (agg == "MAX") agg_ = Agg::kMax;
    else return n.Error("aggregate_function '" + agg + "' is not one of SUM, AVERAGE, MIN, MAX");
    n_targets_ = n.GetInt("n_targets", 1);
    if (n_targets_ < 1) return n.Error("n_targets must be positive");
    RETURN_IF_ERROR(ReadFloatsOrTensor(n, "base_values", &base_));
    if (!base_.empty() && base_.size() != static_cast<size_t>(n_targets_))
      return n.Error("base_values has " + std::to_string(base_.size()) + " values for " + std::to_string(n_targets_) +
                     " targets");
    RawEnsemble raw;
    RETURN_IF_ERROR(ParseLegacy(n, "target", &raw));
    return CompileEnsemble(n, raw, n_targets_, &e_);
  }

  Status InitV5(const NodeInfo& n) {
    v5_ = true;
    int64_t pt = n.GetInt("post_transform", 0);
    if (pt < 0 || pt > 4) return n.Error("post_transform " + std::to_string(pt) + " is out of range");
    // onnxruntime reads this integer as its own enum (NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO, PROBIT),
    // which swaps 1 and 2 relative to the spec's list; we follow onnxruntime.
    static constexpr PostTransform kOrtOrder[] = {PostTransform::kNone, PostTransform::kLogistic, PostTransform::kSoftmax,
                                                  PostTransform::kSoftmaxZero, PostTransform::kProbit};
    post_ = kOrtOrder[pt];
    int64_t agg = n.GetInt("aggregate_function", 1);
    switch (agg) {
      case 0: agg_ = Agg::kAverage; break;
      case 1: agg_ = Agg::kSum; break;
      case 2: agg_ = Agg::kMin; break;
      case 3: agg_ = Agg::kMax; break;
      default: return n.Error("aggregate_function " + std::to_string(agg) + " is out of range");
    }
    ASSIGN_OR_RETURN(n_targets_, n.RequireInt("n_targets"));
    if (n_targets_ < 1) return n.Error("n_targets must be positive");
    auto featureids = n.GetInts("nodes_featureids");
    auto trues = n.GetInts("nodes_truenodeids");
    auto falses = n.GetInts("nodes_falsenodeids");
    auto trueleafs = n.GetInts("nodes_trueleafs");
    auto falseleafs = n.GetInts("nodes_falseleafs");
    auto missing = n.GetInts("nodes_missing_value_tracks_true");
    auto leaf_targets = n.GetInts("leaf_targetids");
    auto roots = n.GetInts("tree_roots");
    std::vector<double> splits, leaf_weights, modes_d, members;
    Tensor t;
    ASSIGN_OR_RETURN(t, n.GetTensor("nodes_splits"));
    RETURN_IF_ERROR(TensorToDoubles(n, t, "nodes_splits", &splits));
    ASSIGN_OR_RETURN(t, n.GetTensor("nodes_modes"));
    RETURN_IF_ERROR(TensorToDoubles(n, t, "nodes_modes", &modes_d));
    ASSIGN_OR_RETURN(t, n.GetTensor("leaf_weights"));
    RETURN_IF_ERROR(TensorToDoubles(n, t, "leaf_weights", &leaf_weights));
    if (n.has_attr("membership_values")) {
      ASSIGN_OR_RETURN(t, n.GetTensor("membership_values"));
      RETURN_IF_ERROR(TensorToDoubles(n, t, "membership_values", &members));
    }
    const size_t ni = featureids.size();
    if (trues.size() != ni || falses.size() != ni || trueleafs.size() != ni || falseleafs.size() != ni ||
        splits.size() != ni || modes_d.size() != ni || (!missing.empty() && missing.size() != ni))
      return n.Error("nodes_* attributes differ in length (nodes_featureids has " + std::to_string(ni) + ")");
    const size_t nl = leaf_targets.size();
    if (leaf_weights.size() != nl) return n.Error("leaf_targetids and leaf_weights differ in length");
    RawEnsemble raw;
    raw.nodes.resize(ni + nl);
    size_t member_pos = 0;
    for (size_t i = 0; i < ni; ++i) {
      RawNode& r = raw.nodes[i];
      int m = static_cast<int>(modes_d[i]);
      if (m < 0 || m > 6) return n.Error("nodes_modes[" + std::to_string(i) + "] = " + std::to_string(m) + " is invalid");
      r.mode = static_cast<uint8_t>(m);
      r.feature = featureids[i];
      r.value = splits[i];
      r.miss_true = !missing.empty() && missing[i] != 0;
      auto child = [&](int64_t id, int64_t leaf) -> int {
        if (leaf) return id >= 0 && static_cast<size_t>(id) < nl ? static_cast<int>(ni + id) : -1;
        return id >= 0 && static_cast<size_t>(id) < ni ? static_cast<int>(id) : -1;
      };
      r.true_idx = child(trues[i], trueleafs[i]);
      r.false_idx = child(falses[i], falseleafs[i]);
      if (r.true_idx < 0 || r.false_idx < 0)
        return n.Error("node " + std::to_string(i) + " refers to a child that does not exist");
      if (r.mode == kMember) {
        while (member_pos < members.size() && !std::isnan(members[member_pos])) r.members.push_back(members[member_pos++]);
        if (member_pos >= members.size() && r.members.empty())
          return n.Error("membership_values has no set for node " + std::to_string(i));
        ++member_pos;  // the NaN delimiter
      }
    }
    for (size_t j = 0; j < nl; ++j) {
      RawNode& r = raw.nodes[ni + j];
      r.mode = kLeaf;
      r.weights.push_back({leaf_targets[j], leaf_weights[j]});
    }
    for (int64_t root : roots) {
      if (root < 0 || static_cast<size_t>(root) >= ni) return n.Error("tree_roots entry " + std::to_string(root) + " is out of range");
      const size_t i = static_cast<size_t>(root);
      if (trueleafs[i] && falseleafs[i] && trues[i] == falses[i]) raw.roots.push_back(raw.nodes[i].true_idx);
      else raw.roots.push_back(static_cast<int>(i));
    }
    return CompileEnsemble(n, raw, n_targets_, &e_);
  }

  Status Compute(KernelContext& ctx) const override {
    Rows rows;
    RETURN_IF_ERROR(GetRows(ctx, e_, &rows));
    const int64_t n = rows.n, k = n_targets_;
    DataType out_type = DataType::kFloat;
    if (v5_) {
      out_type = ctx.input(0)->dtype();
      if (out_type != DataType::kFloat && out_type != DataType::kDouble && out_type != DataType::kFloat16)
        return ctx.Error(std::string("input X must be float, double or float16, got ") + DataTypeName(out_type));
    }
    Tensor* y = ctx.Output(0, out_type, Shape{n, k});
    uint8_t* has = static_cast<uint8_t*>(ctx.Scratch(static_cast<size_t>(n * k) + 64));
    if (rows.is_double) {
      double* sc = static_cast<double*>(ctx.Scratch(sizeof(double) * static_cast<size_t>(n * k) + 64));
      Evaluate<double>(ctx, agg_, e_, rows.d, n, rows.stride, sc, has);
      Finalize(sc, has, n, y);
    } else {
      float* sc = static_cast<float*>(ctx.Scratch(sizeof(float) * static_cast<size_t>(n * k) + 64));
      Evaluate<float>(ctx, agg_, e_, rows.f, n, rows.stride, sc, has);
      Finalize(sc, has, n, y);
    }
    return Status::Ok();
  }

 private:
  template <typename T>
  void Finalize(T* scores, const uint8_t* has_all, int64_t n, Tensor* y) const {
    const int64_t k = n_targets_;
    const T n_trees = static_cast<T>(e_.roots.size());
    const bool use_base = base_.size() == static_cast<size_t>(k);
    for (int64_t r = 0; r < n; ++r) {
      T* sc = scores + r * k;
      const uint8_t* hs = has_all + r * k;
      for (int64_t j = 0; j < k; ++j) {
        T v = hs[j] ? sc[j] : T(0);
        if (agg_ == Agg::kAverage) v /= n_trees;
        if (use_base) v += static_cast<T>(base_[j]);
        sc[j] = v;
      }
      if (k == 1) {
        if (post_ == PostTransform::kProbit) sc[0] = Probit(sc[0]);
      } else {
        ApplyPostTransform(post_, sc, k);
      }
    }
    const int64_t total = n * k;
    switch (y->dtype()) {
      case DataType::kDouble: {
        double* o = y->data<double>();
        for (int64_t i = 0; i < total; ++i) o[i] = static_cast<double>(scores[i]);
        break;
      }
      case DataType::kFloat16: {
        Float16* o = y->data<Float16>();
        for (int64_t i = 0; i < total; ++i) o[i] = Float16(static_cast<float>(scores[i]));
        break;
      }
      default: {
        float* o = y->data<float>();
        for (int64_t i = 0; i < total; ++i) o[i] = static_cast<float>(scores[i]);
      }
    }
  }

  bool v5_ = false;
  PostTransform post_ = PostTransform::kNone;
  Agg agg_ = Agg::kSum;
  int64_t n_targets_ = 1;
  std::vector<double> base_;
  Ensemble e_;
};

}  // namespace

void RegisterTreeEnsembleOps(OpRegistry& r) {
  r.Add("ai.onnx.ml", "TreeEnsembleClassifier", Factory<TreeEnsembleClassifierKernel>());
  r.Add("ai.onnx.ml", "TreeEnsembleRegressor", Factory<TreeRegressorKernel>());
  r.Add("ai.onnx.ml", "TreeEnsemble", Factory<TreeRegressorKernel>(), 5);
}

}  // namespace onnxd::engine::ml
