// Control flow: If, Loop, Scan (opset 8 and 9+). Bodies are compiled at Init (NodeInfo::GetSubgraph) and
// run through KernelContext::RunSubgraph, which binds the values they read from enclosing scopes.
// These kernels allocate on the run path (per-iteration values), which the engine allows for them.
#include <algorithm>
#include <cstring>

#include "ops/op_kernel.h"
#include "ops/op_util.h"
#include "runtime/graph_plan.h"

namespace onnxd::engine {
namespace {

// Tensor outputs go through the planner (copied); sequences, maps and empty optionals as they are.

Status ScalarBool(KernelContext& ctx, const Tensor& t, const char* what, bool* out) {
  if (t.num_elements() != 1) return ctx.Error(std::string(what) + " must have one element, got shape " + t.shape().ToString());
  if (t.dtype() == DataType::kBool) *out = t.data<bool>()[0];
  else if (t.dtype() == DataType::kString) return ctx.Error(std::string(what) + " must be bool");
  else *out = ScalarAsDouble(t) != 0;
  return Status::Ok();
}

// Element `idx` along `axis` of t (the axis removed), as a new tensor.
Tensor SliceAt(const Tensor& t, int axis, int64_t idx) {
  const Shape& s = t.shape();
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= s[i];
  for (int i = axis + 1; i < s.rank(); ++i) inner *= s[i];
  Shape os;
  for (int i = 0; i < s.rank(); ++i)
    if (i != axis) os.PushBack(s[i]);
  Tensor out = Tensor::Allocate(t.dtype(), os);
  const size_t es = ElementSize(t.dtype());
  const char* src = static_cast<const char*>(t.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  const int64_t dim = s[axis];
  for (int64_t o = 0; o < outer; ++o) CopyElements(t.dtype(), src + ((o * dim + idx) * inner) * es, dst + o * inner * es, inner);
  return out;
}

// Stacks equally shaped parts along a new axis `axis` into `out` (already allocated); `reverse`
// stores part k at position n-1-k.
void StackInto(const std::vector<Tensor>& parts, int axis, bool reverse, Tensor* out) {
  if (parts.empty()) return;
  const Shape& ps = parts[0].shape();
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= ps[i];
  for (int i = axis; i < ps.rank(); ++i) inner *= ps[i];
  const int64_t n = static_cast<int64_t>(parts.size());
  const size_t es = ElementSize(out->dtype());
  char* dst = static_cast<char*>(out->raw_data());
  for (int64_t k = 0; k < n; ++k) {
    const int64_t pos = reverse ? n - 1 - k : k;
    const char* src = static_cast<const char*>(parts[k].raw_data());
    for (int64_t o = 0; o < outer; ++o)
      CopyElements(out->dtype(), src + o * inner * es, dst + ((o * n + pos) * inner) * es, inner);
  }
}

// Checks the parts agree and allocates output i with the stacked shape; with no parts, the declared
// type of the body output gives dtype and dims (unknown dims become 0).
Status StackOutput(KernelContext& ctx, int i, const std::vector<Tensor>& parts, int64_t axis_attr, bool reverse,
                   const IoSpec& declared) {
  if (!ctx.has_output(i)) return Status::Ok();
  if (parts.empty()) {
    Shape s;
    if (declared.type.has_shape)
      for (int64_t d : declared.type.dims) s.PushBack(d < 0 ? 0 : d);
    auto ax = NormalizeAxis(axis_attr, s.rank() + 1);
    if (!ax.ok()) return ctx.Error(ax.status().message());
    Shape os;
    for (int d = 0; d < s.rank(); ++d) {
      if (d == *ax) os.PushBack(0);
      os.PushBack(s[d]);
    }
    if (*ax == s.rank()) os.PushBack(0);
    DataType dt = declared.type.elem_type == DataType::kUndefined ? DataType::kFloat : declared.type.elem_type;
    ctx.Output(i, dt, os);
    return Status::Ok();
  }
  const Tensor& p0 = parts[0];
  for (size_t k = 1; k < parts.size(); ++k)
    if (parts[k].dtype() != p0.dtype() || parts[k].shape() != p0.shape())
      return ctx.Error("scan output " + std::to_string(i) + " changes shape or type between iterations: " +
                       p0.shape().ToString() + " then " + parts[k].shape().ToString());
  auto ax = NormalizeAxis(axis_attr, p0.rank() + 1);
  if (!ax.ok()) return ctx.Error(ax.status().message());
  Shape os;
  for (int d = 0; d < p0.rank(); ++d) {
    if (d == *ax) os.PushBack(static_cast<int64_t>(parts.size()));
    os.PushBack(p0.dim(d));
  }
  if (*ax == p0.rank()) os.PushBack(static_cast<int64_t>(parts.size()));
  Tensor* out = ctx.Output(i, p0.dtype(), os);
  StackInto(parts, *ax, reverse, out);
  return Status::Ok();
}

class IfKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    ASSIGN_OR_RETURN(then_, n.GetSubgraph("then_branch"));
    ASSIGN_OR_RETURN(else_, n.GetSubgraph("else_branch"));
    if (then_->output_ids.size() != else_->output_ids.size())
      return n.Error("then_branch has " + std::to_string(then_->output_ids.size()) + " outputs, else_branch " +
                     std::to_string(else_->output_ids.size()));
    if (static_cast<int>(then_->output_ids.size()) < n.num_outputs())
      return n.Error("the branches have fewer outputs than the node");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* c = ctx.input(0);
    if (c == nullptr) return ctx.Error("cond must be a tensor");
    bool cond;
    RETURN_IF_ERROR(ScalarBool(ctx, *c, "cond", &cond));
    std::vector<Value> outs;
    RETURN_IF_ERROR(ctx.RunSubgraph(cond ? *then_ : *else_, {}, &outs));
    for (int i = 0; i < ctx.num_outputs() && i < static_cast<int>(outs.size()); ++i) {
      if (!ctx.has_output(i)) continue;
      ctx.SetOutputValue(i, outs[i].Owned());
    }
    return Status::Ok();
  }

 private:
  std::shared_ptr<const GraphPlan> then_, else_;
};

class LoopKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    ASSIGN_OR_RETURN(body_, n.GetSubgraph("body"));
    carried_ = n.num_inputs() - 2;
    if (carried_ < 0) return n.Error("Loop takes at least 2 inputs (M, cond)");
    if (static_cast<int>(body_->input_ids.size()) != carried_ + 2)
      return n.Error("body takes " + std::to_string(body_->input_ids.size()) + " inputs, expected " +
                     std::to_string(carried_ + 2));
    scans_ = static_cast<int>(body_->output_ids.size()) - 1 - carried_;
    if (scans_ < 0) return n.Error("body has too few outputs for " + std::to_string(carried_) + " loop-carried values");
    if (n.num_outputs() > carried_ + scans_) return n.Error("the node has more outputs than the body produces");
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    int64_t max_trip = -1;
    if (const Tensor* m = ctx.input(0)) {
      if (m->num_elements() != 1) return ctx.Error("M must be a scalar");
      max_trip = ScalarAsInt64(*m);
    }
    bool cond = true;
    if (const Tensor* c = ctx.input(1)) RETURN_IF_ERROR(ScalarBool(ctx, *c, "cond", &cond));
    std::vector<Value> in(static_cast<size_t>(carried_ + 2));
    for (int k = 0; k < carried_; ++k) {
      const Value* v = ctx.input_value(k + 2);
      in[k + 2] = v == nullptr ? Value::None() : *v;
    }
    std::vector<std::vector<Tensor>> scan(static_cast<size_t>(scans_));
    std::vector<Value> res;
    int64_t it = 0;
    while ((max_trip < 0 || it < max_trip) && cond) {
      Tensor iter = Tensor::Allocate(DataType::kInt64, Shape{});
      iter.data<int64_t>()[0] = it;
      Tensor cv = Tensor::Allocate(DataType::kBool, Shape{});
      cv.data<bool>()[0] = cond;
      in[0] = Value(std::move(iter));
      in[1] = Value(std::move(cv));
      RETURN_IF_ERROR(ctx.RunSubgraph(*body_, in, &res));
      if (!res[0].is_tensor()) return ctx.Error("body output 0 (cond) must be a tensor");
      RETURN_IF_ERROR(ScalarBool(ctx, res[0].tensor(), "body cond output", &cond));
      for (int k = 0; k < carried_; ++k) in[k + 2] = std::move(res[k + 1]);
      for (int s = 0; s < scans_; ++s) {
        const Value& v = res[1 + carried_ + s];
        if (!v.is_tensor()) return ctx.Error("scan output " + std::to_string(s) + " of the body must be a tensor");
        scan[s].push_back(v.tensor().buffer() != nullptr ? v.tensor() : v.tensor().Clone());
      }
      ++it;
    }
    for (int k = 0; k < carried_ && k < ctx.num_outputs(); ++k) EmitValue(ctx, k, in[k + 2]);
    for (int s = 0; s < scans_ && carried_ + s < ctx.num_outputs(); ++s)
      RETURN_IF_ERROR(StackOutput(ctx, carried_ + s, scan[s], 0, false, body_->outputs[1 + carried_ + s]));
    return Status::Ok();
  }

 private:
  std::shared_ptr<const GraphPlan> body_;
  int carried_ = 0;
  int scans_ = 0;
};

class ScanKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    ASSIGN_OR_RETURN(body_, n.GetSubgraph("body"));
    v8_ = n.opset() < 9;
    auto m = n.RequireInt("num_scan_inputs");
    if (!m.ok()) return m.status();
    num_scan_ = static_cast<int>(*m);
    const int first = v8_ ? 1 : 0;
    num_states_ = n.num_inputs() - first - num_scan_;
    if (num_scan_ < 1 || num_states_ < 0) return n.Error("num_scan_inputs does not fit the inputs");
    if (static_cast<int>(body_->input_ids.size()) != num_states_ + num_scan_)
      return n.Error("body takes " + std::to_string(body_->input_ids.size()) + " inputs, expected " +
                     std::to_string(num_states_ + num_scan_));
    num_scan_out_ = static_cast<int>(body_->output_ids.size()) - num_states_;
    if (num_scan_out_ < 0) return n.Error("body has fewer outputs than states");
    if (v8_) {
      in_dirs_ = n.GetInts("directions");
    } else {
      in_axes_ = n.GetInts("scan_input_axes");
      in_dirs_ = n.GetInts("scan_input_directions");
      out_axes_ = n.GetInts("scan_output_axes");
      out_dirs_ = n.GetInts("scan_output_directions");
    }
    if (in_axes_.empty()) in_axes_.assign(num_scan_, 0);
    if (in_dirs_.empty()) in_dirs_.assign(num_scan_, 0);
    if (out_axes_.empty()) out_axes_.assign(num_scan_out_, 0);
    if (out_dirs_.empty()) out_dirs_.assign(num_scan_out_, 0);
    if (static_cast<int>(in_axes_.size()) != num_scan_ || static_cast<int>(in_dirs_.size()) != num_scan_ ||
        static_cast<int>(out_axes_.size()) != num_scan_out_ || static_cast<int>(out_dirs_.size()) != num_scan_out_)
      return n.Error("scan axes/directions attributes have the wrong length");
    return Status::Ok();
  }

  // One scan over `scan_in` (each with its scan axis at in_axes_[j] or `axis0` for opset 8).
  Status RunOne(KernelContext& ctx, std::vector<Value>& states, const std::vector<const Tensor*>& scan_in,
                bool v8, std::vector<std::vector<Tensor>>* parts) const {
    int64_t len = -1;
    std::vector<int> axes(num_scan_);
    for (int j = 0; j < num_scan_; ++j) {
      const Tensor& t = *scan_in[j];
      auto ax = NormalizeAxis(v8 ? 0 : in_axes_[j], t.rank(), "scan_input_axes");
      if (!ax.ok()) return ctx.Error("scan input " + std::to_string(j) + ": " + ax.status().message());
      axes[j] = *ax;
      if (len < 0) len = t.dim(axes[j]);
      else if (t.dim(axes[j]) != len)
        return ctx.Error("scan input " + std::to_string(j) + " has " + std::to_string(t.dim(axes[j])) +
                         " steps, scan input 0 has " + std::to_string(len));
    }
    parts->assign(static_cast<size_t>(num_scan_out_), {});
    std::vector<Value> in(static_cast<size_t>(num_states_ + num_scan_)), res;
    for (int64_t s = 0; s < len; ++s) {
      for (int k = 0; k < num_states_; ++k) in[k] = states[k];
      for (int j = 0; j < num_scan_; ++j)
        in[num_states_ + j] = Value(SliceAt(*scan_in[j], axes[j], in_dirs_[j] ? len - 1 - s : s));
      RETURN_IF_ERROR(ctx.RunSubgraph(*body_, in, &res));
      for (int k = 0; k < num_states_; ++k) states[k] = std::move(res[k]);
      for (int o = 0; o < num_scan_out_; ++o) {
        const Value& v = res[num_states_ + o];
        if (!v.is_tensor()) return ctx.Error("scan output " + std::to_string(o) + " of the body must be a tensor");
        (*parts)[o].push_back(v.tensor().buffer() != nullptr ? v.tensor() : v.tensor().Clone());
      }
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const int first = v8_ ? 1 : 0;
    std::vector<const Tensor*> scan_in(num_scan_);
    for (int j = 0; j < num_scan_; ++j) {
      scan_in[j] = ctx.input(first + num_states_ + j);
      if (scan_in[j] == nullptr) return ctx.Error("scan input " + std::to_string(j) + " must be a tensor");
    }
    if (!v8_) {
      std::vector<Value> states(num_states_);
      for (int k = 0; k < num_states_; ++k) {
        const Value* v = ctx.input_value(k);
        if (v == nullptr) return ctx.Error("state input " + std::to_string(k) + " is missing");
        states[k] = *v;
      }
      std::vector<std::vector<Tensor>> parts;
      RETURN_IF_ERROR(RunOne(ctx, states, scan_in, false, &parts));
      for (int k = 0; k < num_states_ && k < ctx.num_outputs(); ++k) EmitValue(ctx, k, states[k]);
      for (int o = 0; o < num_scan_out_ && num_states_ + o < ctx.num_outputs(); ++o)
        RETURN_IF_ERROR(StackOutput(ctx, num_states_ + o, parts[o], out_axes_[o], out_dirs_[o] != 0,
                                    body_->outputs[num_states_ + o]));
      return Status::Ok();
    }
    // Opset 8: axis 0 of every input is the batch.
    int64_t batch = -1;
    for (int i = first; i < ctx.num_inputs(); ++i) {
      const Tensor* t = ctx.input(i);
      if (t == nullptr || t->rank() < 1) return ctx.Error("input " + std::to_string(i) + " must have a batch axis");
      if (batch < 0) batch = t->dim(0);
      else if (t->dim(0) != batch) return ctx.Error("input " + std::to_string(i) + " has a different batch size");
    }
    if (const Tensor* sl = ctx.input(0)) {
      std::vector<int64_t> lens;
      RETURN_IF_ERROR(ReadInt64s(*sl, &lens));
      const int64_t full = scan_in[0]->rank() > 1 ? scan_in[0]->dim(1) : 0;
      for (int64_t l : lens)
        if (l != full) return Unimplemented("Scan-8 with sequence_lens shorter than the sequence is not supported");
    }
    std::vector<std::vector<Tensor>> state_parts(num_states_), out_parts(num_scan_out_);
    std::vector<Tensor> slices(num_scan_);
    std::vector<const Tensor*> slice_ptrs(num_scan_);
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<Value> states(num_states_);
      for (int k = 0; k < num_states_; ++k) states[k] = Value(SliceAt(*ctx.input(first + k), 0, b));
      for (int j = 0; j < num_scan_; ++j) {
        slices[j] = SliceAt(*scan_in[j], 0, b);
        slice_ptrs[j] = &slices[j];
      }
      std::vector<std::vector<Tensor>> parts;
      RETURN_IF_ERROR(RunOne(ctx, states, slice_ptrs, true, &parts));
      for (int k = 0; k < num_states_; ++k) {
        if (!states[k].is_tensor()) return ctx.Error("state outputs must be tensors");
        state_parts[k].push_back(states[k].Owned().tensor());
      }
      for (int o = 0; o < num_scan_out_; ++o) {
        // Stack this batch's steps (axis 0), then keep it for the batch stacking.
        if (parts[o].empty()) return Unimplemented("Scan-8 with zero-length sequences is not supported");
        Shape s;
        s.PushBack(static_cast<int64_t>(parts[o].size()));
        for (int64_t d : parts[o][0].shape()) s.PushBack(d);
        Tensor t = Tensor::Allocate(parts[o][0].dtype(), s);
        StackInto(parts[o], 0, false, &t);
        out_parts[o].push_back(std::move(t));
      }
    }
    for (int k = 0; k < num_states_ && k < ctx.num_outputs(); ++k)
      RETURN_IF_ERROR(StackOutput(ctx, k, state_parts[k], 0, false, body_->outputs[k]));
    for (int o = 0; o < num_scan_out_ && num_states_ + o < ctx.num_outputs(); ++o)
      RETURN_IF_ERROR(StackOutput(ctx, num_states_ + o, out_parts[o], 0, false, body_->outputs[num_states_ + o]));
    return Status::Ok();
  }

 private:
  std::shared_ptr<const GraphPlan> body_;
  bool v8_ = false;
  int num_scan_ = 0;
  int num_states_ = 0;
  int num_scan_out_ = 0;
  std::vector<int64_t> in_axes_, in_dirs_, out_axes_, out_dirs_;
};

}  // namespace

void RegisterControlFlowOps(OpRegistry& r) {
  r.Add("", "If", Factory<IfKernel>(), 1);
  r.Add("", "Loop", Factory<LoopKernel>(), 1);
  r.Add("", "Scan", Factory<ScanKernel>(), 8);
}

}  // namespace onnxd::engine
