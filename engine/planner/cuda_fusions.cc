#include "planner/cuda_fusions.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

namespace onnxd::engine {

ViewRole ViewRoleOf(const std::string& op, size_t inputs) {
  if (op == "MatMul") return ViewRole::kMatMul;
  // The GPU's metadata-only aliases: a reshape that splits axes (or merges ones adjacent in memory)
  // stays a view; any other is materialized after the alias is made.
  if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" || op == "Identity")
    return ViewRole::kReshape;
  if (op == "Transpose") return ViewRole::kTranspose;
  // Elementwise with nothing but the view to walk: the result is laid out as the view is.
  static const std::set<std::string> kUnaryOps = {"Relu", "Sigmoid", "Tanh", "Gelu", "Erf", "Sqrt",
                                                  "Exp",  "Log",     "Neg",  "Abs",  "Reciprocal"};
  if (inputs == 1 && kUnaryOps.count(op)) return ViewRole::kUnary;
  if (inputs == 2 && (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow")) return ViewRole::kBinary;
  return ViewRole::kNone;
}

std::string CudaFusionPlan::Summary() const {
  return "attention blocks " + std::to_string(attention_blocks) + " (fp16: one kernel), softmax chains " +
         std::to_string(softmax_chains) + ", Add+LayerNorm " + std::to_string(add_layer_norms) +
         ", bias GEMMs " + std::to_string(bias_gemms) +
         ", residual convolutions " + std::to_string(residual_convs) + "; transposes folded into GEMMs " +
         std::to_string(folded_transposes) + " of " + std::to_string(gpu_transposes) + " (planned)";
}

namespace {

// The graph's readers, shared by the analyses.
struct Readers {
  std::vector<int> count;                              // per value; outputs and subgraph reads count 2
  std::vector<int> last;                               // per value: a (the last) reading node
  std::vector<std::vector<std::pair<int, int>>> list;  // per value: (node, input slot)
  std::vector<uint8_t> pinned;                         // per value: a graph output or read by a subgraph
};

Readers FindReaders(const GraphPlan& g) {
  Readers r;
  const int n = g.num_values();
  r.count.assign(n, 0);
  r.last.assign(n, -1);
  r.list.resize(n);
  r.pinned.assign(n, 0);
  for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i) {
    const PlannedNode& node = g.nodes[i];
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      const int id = node.inputs[k];
      if (id < 0) continue;
      ++r.count[id];
      r.last[id] = i;
      r.list[id].push_back({i, static_cast<int>(k)});
    }
    for (int id : node.implicit_inputs) r.count[id] += 2, r.pinned[id] = 1;
  }
  for (int id : g.output_ids) r.count[id] += 2, r.pinned[id] = 1;
  return r;
}

}  // namespace

bool ScalarConstant(const GraphPlan& g, int id, float* value, int* rank) {
  if (id < 0 || !g.is_constant[id] || !g.constants[id].is_tensor()) return false;
  const Tensor& t = g.constants[id].tensor();
  if (t.num_elements() != 1) return false;
  if (t.dtype() == DataType::kFloat) *value = t.data<float>()[0];
  else if (t.dtype() == DataType::kFloat16) *value = Float16::ToFloat(static_cast<const uint16_t*>(t.raw_data())[0]);
  else return false;
  if (rank != nullptr) *rank = t.rank();
  return true;
}

CudaFusionPlan PlanCudaFusions(const GraphPlan& g, const DevicePlan& plan, bool fold_transposes) {
  CudaFusionPlan f;
  const int nodes = static_cast<int>(g.nodes.size());
  const Readers rd = FindReaders(g);
  auto cuda_op = [&](int i) -> const std::string& {
    static const std::string none;
    return i >= 0 && plan.node_device[i] == Device::kCuda ? plan.cuda_params[i].op : none;
  };

  // Residual convolutions.
  f.residual.assign(nodes, CudaFusionPlan::Residual());
  for (int j = 0; j < nodes; ++j) {
    const PlannedNode& add = g.nodes[j];
    if (cuda_op(j) != "Add" || add.inputs.size() != 2 || add.outputs.size() != 1) continue;
    const int a = add.inputs[0], b = add.inputs[1], sum = add.outputs[0];
    if (a < 0 || b < 0 || a == b || sum < 0 || rd.count[sum] != 1) continue;
    const int k = rd.last[sum];
    if (cuda_op(k) != "Relu" || g.nodes[k].outputs.size() != 1 || g.nodes[k].outputs[0] < 0) continue;
    // The operand computed last is the one whose Conv can take the other as its residual.
    const int conv = std::max(g.producer[a], g.producer[b]);
    const int c = conv == g.producer[a] ? a : b;
    if (conv < 0 || cuda_op(conv) != "Conv" || !plan.cuda_params[conv].activation.empty() || rd.count[c] != 1) continue;
    f.residual[conv] = {j, k, c == a ? b : a, g.nodes[k].outputs[0]};
    ++f.residual_convs;
  }

  // Bias GEMMs.
  f.bias_gemm.assign(nodes, CudaFusionPlan::BiasGemm());
  for (int j = 0; j < nodes; ++j) {
    const PlannedNode& mm = g.nodes[j];
    if (cuda_op(j) != "MatMul" || mm.inputs.size() != 2 || mm.outputs.size() != 1) continue;
    const int w = mm.inputs[1], c = mm.outputs[0];
    if (w < 0 || c < 0 || !g.is_constant[w] || rd.count[c] != 1) continue;
    const int k = rd.last[c];
    const PlannedNode& add = g.nodes[k];
    if (cuda_op(k) != "Add" || add.inputs.size() != 2 || add.outputs.size() != 1 || add.outputs[0] < 0) continue;
    const int b = add.inputs[0] == c ? add.inputs[1] : add.inputs[0];
    if (b < 0 || b == c || !g.is_constant[b]) continue;
    f.bias_gemm[j] = {k, b, add.outputs[0]};
    ++f.bias_gemms;
  }

  // Softmax chains.
  f.softmax_chain.assign(nodes, CudaFusionPlan::SoftmaxChain());
  for (int sm = 0; sm < nodes; ++sm) {
    const PlannedNode& node = g.nodes[sm];
    if (cuda_op(sm) != "Softmax" || node.inputs.size() != 1 || node.outputs.size() != 1 || node.outputs[0] < 0)
      continue;
    CudaFusionPlan::SoftmaxChain c;
    c.softmax = sm;
    c.out = node.outputs[0];
    const int x = node.inputs[0];
    if (x >= 0 && rd.count[x] == 1 && cuda_op(g.producer[x]) == "Add" && g.nodes[g.producer[x]].inputs.size() == 2) {
      c.add = g.producer[x];
      const PlannedNode& add = g.nodes[c.add];
      // A scalar Mul on one operand, read by the Add alone; the other operand (the mask) must be
      // there when the Mul runs.
      for (int k = 0; k < 2; ++k) {
        const int u = add.inputs[k], other = add.inputs[1 - k];
        const int mul = u >= 0 && rd.count[u] == 1 ? g.producer[u] : -1;
        if (mul < 0 || cuda_op(mul) != "Mul" || g.nodes[mul].inputs.size() != 2 || other < 0 || other == u) continue;
        float v = 0;
        if (!ScalarConstant(g, g.nodes[mul].inputs[0], &v) && !ScalarConstant(g, g.nodes[mul].inputs[1], &v)) continue;
        if (g.producer[other] >= mul) continue;
        c.mul = mul;
        break;
      }
    }
    // Where(IsNaN(p), 0, p): p read by those two alone.
    const int p = c.out;
    if (rd.count[p] == 2) {
      int isnan = -1, where = -1;
      for (const auto& [i, k] : rd.list[p]) {
        const PlannedNode& r = g.nodes[i];
        if (cuda_op(i) == "IsNaN" && k == 0 && r.inputs.size() == 1) isnan = i;
        else if (cuda_op(i) == "Where" && k == 2 && r.inputs.size() == 3) where = i;
      }
      float zero = 1.f;
      if (isnan >= 0 && where >= 0 && g.nodes[isnan].outputs.size() == 1) {
        const int cond = g.nodes[isnan].outputs[0];
        const PlannedNode& w = g.nodes[where];
        if (cond >= 0 && rd.count[cond] == 1 && w.inputs[0] == cond && ScalarConstant(g, w.inputs[1], &zero) &&
            zero == 0.f && !std::signbit(zero) && w.outputs.size() == 1 && w.outputs[0] >= 0) {
          c.isnan = isnan;
          c.where = where;
          c.out = w.outputs[0];
        }
      }
    }
    const int start = c.mul >= 0 ? c.mul : c.add >= 0 ? c.add : c.isnan >= 0 ? sm : -1;
    if (start >= 0) {
      f.softmax_chain[start] = c;
      ++f.softmax_chains;
    }
  }

  // Attention blocks: a MatMul read only by a softmax chain (as its scores), the chain's result read
  // only by a MatMul as its A.
  f.attention_block.assign(nodes, CudaFusionPlan::AttentionBlock());
  f.order.resize(nodes);
  std::vector<int> pos(nodes);  // each node's place in f.order
  for (int k = 0; k < nodes; ++k) f.order[k] = pos[k] = k;
  std::vector<CudaFusionPlan::SoftmaxChain> chains;  // every Softmax: its chain, or it alone
  for (const auto& c : f.softmax_chain)
    if (c.softmax >= 0) chains.push_back(c);
  for (int sm = 0; sm < nodes; ++sm) {
    const PlannedNode& node = g.nodes[sm];
    if (cuda_op(sm) != "Softmax" || node.inputs.size() != 1 || node.outputs.size() != 1 || node.outputs[0] < 0) continue;
    bool chained = false;
    for (const auto& c : chains) chained |= c.softmax == sm;
    if (chained) continue;
    CudaFusionPlan::SoftmaxChain alone;
    alone.softmax = sm;
    alone.out = node.outputs[0];
    chains.push_back(alone);
  }
  for (const CudaFusionPlan::SoftmaxChain& c : chains) {
    std::vector<int> scores;  // the chain's candidate score inputs
    if (c.mul >= 0) {
      for (int id : g.nodes[c.mul].inputs) scores.push_back(id);
    } else if (c.add >= 0) {
      for (int id : g.nodes[c.add].inputs) scores.push_back(id);
    } else {
      scores.push_back(g.nodes[c.softmax].inputs[0]);
    }
    int qk = -1;
    for (int id : scores)
      if (id >= 0 && !rd.pinned[id] && rd.count[id] == 1 && cuda_op(g.producer[id]) == "MatMul" &&
          f.bias_gemm[g.producer[id]].add < 0 && g.nodes[g.producer[id]].outputs.size() == 1)
        qk = g.producer[id];
    if (qk < 0 || c.out < 0 || rd.pinned[c.out] || rd.count[c.out] != 1) continue;
    const int pv = rd.last[c.out];
    if (cuda_op(pv) != "MatMul" || g.nodes[pv].inputs.size() != 2 || g.nodes[pv].inputs[0] != c.out ||
        g.nodes[pv].inputs[1] == c.out || f.bias_gemm[pv].add >= 0)
      continue;
    // The mask must be there when the first MatMul runs. An export that builds it per layer after
    // that MatMul (TorchScript's Where(mask, 0, -inf)) gets the nodes it needs run before it, when
    // none of them depends on the MatMul (execution order: `order`).
    if (c.add >= 0) {
      const int scores_side = c.mul >= 0 ? g.nodes[c.mul].outputs[0] : g.nodes[qk].outputs[0];
      std::vector<int> stack, hoist;
      std::vector<uint8_t> seen(nodes, 0);
      for (int id : g.nodes[c.add].inputs)
        if (id >= 0 && id != scores_side && g.producer[id] >= 0 && pos[g.producer[id]] >= pos[qk])
          stack.push_back(g.producer[id]);
      bool ok = true;
      while (!stack.empty() && ok) {
        const int n = stack.back();
        stack.pop_back();
        if (seen[n]) continue;
        seen[n] = 1;
        // Not the MatMul or anything after it in the block, and no subgraph (its outer reads).
        if (n == qk || n == c.mul || n == c.add || !g.nodes[n].implicit_inputs.empty()) ok = false;
        hoist.push_back(n);
        for (int id : g.nodes[n].inputs)
          if (id >= 0 && g.producer[id] >= 0 && pos[g.producer[id]] >= pos[qk]) stack.push_back(g.producer[id]);
      }
      // A moved node frees the values it read last (PlannedNode::release, for the graph's order):
      // none of them may still be read by a node that stays at or after the MatMul.
      for (int n : hoist)
        for (int id : g.nodes[n].release)
          for (const auto& [r, k] : rd.list[id])
            if (!seen[r] && pos[r] >= pos[qk]) ok = false;
      if (!ok) continue;
      if (!hoist.empty()) {
        std::sort(hoist.begin(), hoist.end(), [&](int x, int y) { return pos[x] < pos[y]; });
        std::vector<int> moved;
        for (int n : f.order) {
          if (seen[n]) continue;
          if (n == qk) moved.insert(moved.end(), hoist.begin(), hoist.end());
          moved.push_back(n);
        }
        f.order = std::move(moved);
        for (int k = 0; k < nodes; ++k) pos[f.order[k]] = k;
      }
    }
    f.attention_block[qk] = {c, pv};
    ++f.attention_blocks;
  }

  // Add -> LayerNormalization, for an Add no other fusion computes.
  f.add_layer_norm.assign(nodes, CudaFusionPlan::AddLayerNorm());
  std::vector<uint8_t> claimed(nodes, 0);
  for (const auto& r : f.residual)
    if (r.add >= 0) claimed[r.add] = 1;
  for (const auto& b : f.bias_gemm)
    if (b.add >= 0) claimed[b.add] = 1;
  for (int j = 0; j < nodes; ++j) {
    const PlannedNode& add = g.nodes[j];
    if (cuda_op(j) != "Add" || claimed[j] || add.inputs.size() != 2 || add.outputs.size() != 1) continue;
    const int sum = add.outputs[0];
    // (The run checks the operands' shapes: one the sum's, the other repeating over its rows.)
    if (add.inputs[0] < 0 || add.inputs[1] < 0 || sum < 0) continue;
    // The LayerNorm reading the sum; when others read it too (a pre-LN block's residual stream),
    // the kernel writes the sum as well.
    int ln = -1;
    for (const auto& [r, k] : rd.list[sum]) {
      const PlannedNode& l = g.nodes[r];
      if (cuda_op(r) == "LayerNormalization" && k == 0 && !l.outputs.empty() && l.outputs[0] >= 0 && ln < 0) ln = r;
    }
    if (ln < 0) continue;
    f.add_layer_norm[j] = {ln, g.nodes[ln].outputs[0], rd.count[sum] > 1};
    ++f.add_layer_norms;
  }

  // Views.
  const int n = g.num_values();
  f.may_view.assign(n, 0);
  f.mm_out_perm.assign(nodes, {});
  for (int i = 0; i < nodes; ++i)
    if (cuda_op(i) == "Transpose") ++f.gpu_transposes;
  if (!fold_transposes) return f;
  // An Add a Conv's fused residual call computes reads its operand outside the node.
  std::vector<uint8_t> fused_add(nodes, 0);
  for (const auto& r : f.residual)
    if (r.add >= 0) fused_add[r.add] = 1;
  auto role = [&](int i) {
    if (plan.node_device[i] != Device::kCuda || g.nodes[i].outputs.size() != 1 || fused_add[i]) return ViewRole::kNone;
    const std::string& op = plan.cuda_params[i].op.empty() ? g.nodes[i].op_type : plan.cuda_params[i].op;
    return ViewRoleOf(op, g.nodes[i].inputs.size());
  };
  // A reader that takes only the dims (Shape, Size) sees a view's logical dims as any tensor's.
  auto dims_only = [&](int r, int k) {
    const std::vector<InputPlace>& places = plan.input_place[r];
    return k < static_cast<int>(places.size()) && places[k] == InputPlace::kAny;
  };
  // Readers come after their producers: deciding from the last node back settles a reader's own
  // output before its input.
  for (int i = nodes; i-- > 0;) {
    for (int id : g.nodes[i].outputs) {
      if (id < 0 || rd.pinned[id] || g.is_constant[id] || rd.list[id].empty()) continue;
      bool ok = true;
      for (const auto& [r, k] : rd.list[id]) {
        if (dims_only(r, k)) continue;
        const int out = g.nodes[r].outputs.empty() ? -1 : g.nodes[r].outputs[0];
        switch (role(r)) {
          case ViewRole::kMatMul: ok &= k <= 1 && f.bias_gemm[r].add < 0; break;
          case ViewRole::kTranspose: ok &= k == 0; break;
          case ViewRole::kReshape: ok &= k == 0 && out >= 0 && f.may_view[out]; break;
          case ViewRole::kUnary:
          case ViewRole::kBinary: ok &= out >= 0 && f.may_view[out]; break;
          case ViewRole::kNone: ok = false; break;
        }
      }
      f.may_view[id] = ok;
    }
  }
  // A MatMul whose result only Transposes (with one perm) read writes it as they would lay it out;
  // also through one reshape alias (TorchScript's no-op view of the context before its Transpose:
  // at run time a reshape that changes the dims gets the view materialized, so it stays right).
  std::vector<uint8_t> identity_transpose(nodes, 0);
  for (int j = 0; j < nodes; ++j) {
    if (role(j) != ViewRole::kMatMul) continue;
    const int c = g.nodes[j].outputs[0];
    if (c < 0 || !f.may_view[c]) continue;
    std::vector<int> transposes;
    bool ok = true;
    for (const auto& [r, k] : rd.list[c]) {
      if (dims_only(r, k)) continue;
      if (role(r) == ViewRole::kTranspose) {
        transposes.push_back(r);
      } else if (role(r) == ViewRole::kReshape && g.nodes[r].outputs[0] >= 0) {
        // Only a reshape keeping the rank (TorchScript's no-op view; the Transpose's perm length is
        // the reshape's rank), where the plan knows the MatMul's rank; the run checks it always.
        for (const auto& [r2, k2] : rd.list[g.nodes[r].outputs[0]]) {
          if (dims_only(r2, k2)) continue;
          if (role(r2) == ViewRole::kTranspose &&
              (plan.value_rank[c] < 0 || plan.cuda_params[r2].perm.size() == static_cast<size_t>(plan.value_rank[c])))
            transposes.push_back(r2);
          else
            ok = false;
        }
      } else {
        ok = false;
      }
    }
    std::vector<int64_t> p;
    for (int r : transposes) {
      const std::vector<int64_t>& rp = plan.cuda_params[r].perm;
      ok &= !rp.empty() && rp.size() <= static_cast<size_t>(kMaxCudaTransposeRank) && (p.empty() || rp == p);
      p = rp;
    }
    if (!ok || p.empty()) continue;
    f.mm_out_perm[j] = p;
    for (int r : transposes) identity_transpose[r] = 1;
  }
  for (int i = 0; i < nodes; ++i) {
    if (cuda_op(i) != "Transpose") continue;
    const int out = g.nodes[i].outputs.empty() ? -1 : g.nodes[i].outputs[0];
    if (identity_transpose[i] || (out >= 0 && f.may_view[out])) ++f.folded_transposes;
  }
  return f;
}

}  // namespace onnxd::engine
