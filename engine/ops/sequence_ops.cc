// Sequence and optional operators: SequenceEmpty, SequenceConstruct, SequenceAt, SequenceInsert,
// SequenceErase, SequenceLength, SplitToSequence, ConcatFromSequence, SequenceMap, Optional,
// OptionalHasElement, OptionalGetElement.
//
// Sequences hold owned tensors: a tensor that is a view (of a session arena, whose slot is reused once
// the value is released) is copied before it is stored in a sequence or passed on as another value.
#include <algorithm>
#include <cstring>

#include "ops/op_kernel.h"
#include "ops/op_util.h"
#include "runtime/graph_plan.h"

namespace onnxd::engine {
namespace {

Status GetSequence(KernelContext& ctx, int i, const Value** seq) {
  const Value* v = ctx.input_value(i);
  if (v == nullptr || !v->is_sequence()) return ctx.Error("input " + std::to_string(i) + " must be a sequence");
  *seq = v;
  return Status::Ok();
}

// Position input (int32/int64 scalar) normalised against `size`; `allow_end` accepts == size (insert).
Status GetPosition(KernelContext& ctx, int i, int64_t size, bool allow_end, int64_t dflt, int64_t* pos) {
  const Tensor* p = ctx.input(i);
  if (p == nullptr) {
    *pos = dflt;
    return Status::Ok();
  }
  if (p->num_elements() != 1 || (p->dtype() != DataType::kInt64 && p->dtype() != DataType::kInt32))
    return ctx.Error("position must be an int32 or int64 scalar");
  int64_t v = ScalarAsInt64(*p);
  const int64_t hi = allow_end ? size : size - 1;
  if (v < -size || v > hi)
    return ctx.Error("position " + std::to_string(v) + " is out of range for a sequence of " + std::to_string(size));
  *pos = v < 0 ? v + size : v;
  return Status::Ok();
}

class SequenceEmptyKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    dtype_ = static_cast<DataType>(n.GetInt("dtype", static_cast<int64_t>(DataType::kFloat)));
    if (!IsSupportedDataType(static_cast<int32_t>(dtype_))) return n.Error("dtype is not supported");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    ctx.SetOutputValue(0, Value::Sequence({}, dtype_));
    return Status::Ok();
  }

 private:
  DataType dtype_ = DataType::kFloat;
};

class SequenceConstructKernel : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }
  Status Compute(KernelContext& ctx) const override {
    std::vector<Value> elems;
    DataType dt = DataType::kUndefined;
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor* t = ctx.input(i);
      if (t == nullptr) return ctx.Error("input " + std::to_string(i) + " must be a tensor");
      if (i == 0) dt = t->dtype();
      else if (t->dtype() != dt)
        return ctx.Error("input " + std::to_string(i) + " is " + DataTypeName(t->dtype()) + ", input 0 is " + DataTypeName(dt));
      elems.emplace_back(t->Owned());
    }
    ctx.SetOutputValue(0, Value::Sequence(std::move(elems), dt));
    return Status::Ok();
  }
};

class SequenceAtKernel : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }
  Status Compute(KernelContext& ctx) const override {
    const Value* seq;
    RETURN_IF_ERROR(GetSequence(ctx, 0, &seq));
    const auto& e = seq->sequence();
    if (ctx.input(1) == nullptr) return ctx.Error("position is missing");
    int64_t pos;
    RETURN_IF_ERROR(GetPosition(ctx, 1, static_cast<int64_t>(e.size()), false, 0, &pos));
    ctx.SetOutputValue(0, e[pos].Owned());
    return Status::Ok();
  }
};

class SequenceInsertKernel : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }
  Status Compute(KernelContext& ctx) const override {
    const Value* seq;
    RETURN_IF_ERROR(GetSequence(ctx, 0, &seq));
    const Tensor* t = ctx.input(1);
    if (t == nullptr) return ctx.Error("input 1 (tensor) must be a tensor");
    const auto& e = seq->sequence();
    DataType dt = seq->sequence_elem_type();
    if (dt == DataType::kUndefined && !e.empty() && e[0].is_tensor()) dt = e[0].tensor().dtype();
    if (dt != DataType::kUndefined && t->dtype() != dt)
      return ctx.Error(std::string("tensor is ") + DataTypeName(t->dtype()) + ", the sequence holds " + DataTypeName(dt));
    int64_t pos;
    const int64_t size = static_cast<int64_t>(e.size());
    RETURN_IF_ERROR(GetPosition(ctx, 2, size, true, size, &pos));
    std::vector<Value> out;
    out.reserve(e.size() + 1);
    out.insert(out.end(), e.begin(), e.begin() + pos);
    out.emplace_back(t->Owned());
    out.insert(out.end(), e.begin() + pos, e.end());
    ctx.SetOutputValue(0, Value::Sequence(std::move(out), t->dtype()));
    return Status::Ok();
  }
};

class SequenceEraseKernel : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }
  Status Compute(KernelContext& ctx) const override {
    const Value* seq;
    RETURN_IF_ERROR(GetSequence(ctx, 0, &seq));
    const auto& e = seq->sequence();
    const int64_t size = static_cast<int64_t>(e.size());
    if (size == 0) return ctx.Error("cannot erase from an empty sequence");
    int64_t pos;
    RETURN_IF_ERROR(GetPosition(ctx, 1, size, false, size - 1, &pos));
    std::vector<Value> out;
    out.reserve(e.size());
    for (int64_t i = 0; i < size; ++i)
      if (i != pos) out.push_back(e[i]);
    ctx.SetOutputValue(0, Value::Sequence(std::move(out), seq->sequence_elem_type()));
    return Status::Ok();
  }
};

class SequenceLengthKernel : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }
  Status Compute(KernelContext& ctx) const override {
    const Value* seq;
    RETURN_IF_ERROR(GetSequence(ctx, 0, &seq));
    Tensor* out = ctx.Output(0, DataType::kInt64, Shape{});
    out->data<int64_t>()[0] = static_cast<int64_t>(seq->sequence().size());
    return Status::Ok();
  }
};

// Copies the slab [begin, begin+len) along `axis` of t into a new tensor.
Tensor SliceAlong(const Tensor& t, int axis, int64_t begin, int64_t len, bool keep_axis) {
  Shape s = t.shape();
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= s[i];
  for (int i = axis + 1; i < s.rank(); ++i) inner *= s[i];
  const int64_t dim = s[axis];
  Shape os;
  for (int i = 0; i < s.rank(); ++i) {
    if (i == axis) {
      if (keep_axis) os.PushBack(len);
    } else {
      os.PushBack(s[i]);
    }
  }
  Tensor out = Tensor::Allocate(t.dtype(), os);
  const size_t es = ElementSize(t.dtype());
  const char* src = static_cast<const char*>(t.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (int64_t o = 0; o < outer; ++o)
    CopyElements(t.dtype(), src + ((o * dim + begin) * inner) * es, dst + (o * len * inner) * es, len * inner);
  return out;
}

class SplitToSequenceKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    axis_ = n.GetInt("axis", 0);
    keepdims_ = n.GetInt("keepdims", 1) != 0;
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input must be a tensor");
    if (x->rank() == 0) return ctx.Error("input must have rank >= 1");
    auto ax = NormalizeAxis(axis_, x->rank());
    if (!ax.ok()) return ctx.Error(ax.status().message());
    const int axis = *ax;
    const int64_t dim = x->dim(axis);
    std::vector<int64_t> sizes;
    const Tensor* split = ctx.input(1);
    bool keep = true;
    if (split == nullptr) {
      sizes.assign(static_cast<size_t>(dim), 1);
      keep = keepdims_;
    } else {
      std::vector<int64_t> v;
      RETURN_IF_ERROR(ReadInt64s(*split, &v));
      if (split->rank() == 0) {
        if (v.empty() || v[0] <= 0) return ctx.Error("split must be positive");
        for (int64_t b = 0; b < dim; b += v[0]) sizes.push_back(std::min(v[0], dim - b));
      } else {
        int64_t sum = 0;
        for (int64_t s : v) {
          if (s < 0) return ctx.Error("split sizes must not be negative");
          sum += s;
        }
        if (sum != dim)
          return ctx.Error("split sizes add up to " + std::to_string(sum) + ", the axis has " + std::to_string(dim));
        sizes = v;
      }
    }
    std::vector<Value> out;
    int64_t b = 0;
    for (int64_t s : sizes) {
      out.emplace_back(SliceAlong(*x, axis, b, s, keep));
      b += s;
    }
    ctx.SetOutputValue(0, Value::Sequence(std::move(out), x->dtype()));
    return Status::Ok();
  }

 private:
  int64_t axis_ = 0;
  bool keepdims_ = true;
};

class ConcatFromSequenceKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    auto a = n.RequireInt("axis");
    if (!a.ok()) return a.status();
    axis_ = *a;
    new_axis_ = n.GetInt("new_axis", 0) != 0;
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Value* seq;
    RETURN_IF_ERROR(GetSequence(ctx, 0, &seq));
    const auto& e = seq->sequence();
    if (e.empty()) return ctx.Error("cannot concatenate an empty sequence");
    for (const auto& v : e)
      if (!v.is_tensor()) return ctx.Error("sequence elements must be tensors");
    const Tensor& first = e[0].tensor();
    const int rank = first.rank();
    auto ax = NormalizeAxis(axis_, new_axis_ ? rank + 1 : rank);
    if (!ax.ok()) return ctx.Error(ax.status().message());
    const int axis = *ax;
    int64_t total = 0;
    for (size_t k = 0; k < e.size(); ++k) {
      const Tensor& t = e[k].tensor();
      if (t.dtype() != first.dtype() || t.rank() != rank)
        return ctx.Error("element " + std::to_string(k) + " differs in type or rank from element 0");
      for (int d = 0; d < rank; ++d) {
        if (!new_axis_ && d == axis) continue;
        if (t.dim(d) != first.dim(d))
          return ctx.Error("element " + std::to_string(k) + " has shape " + t.shape().ToString() + ", element 0 " +
                           first.shape().ToString());
      }
      total += new_axis_ ? 1 : t.dim(axis);
    }
    Shape os;
    for (int d = 0; d < rank; ++d) {
      if (new_axis_ && d == axis) os.PushBack(total);
      os.PushBack(!new_axis_ && d == axis ? total : first.dim(d));
    }
    if (new_axis_ && axis == rank) os.PushBack(total);
    Tensor* out = ctx.Output(0, first.dtype(), os);
    int64_t outer = 1;
    for (int d = 0; d < axis; ++d) outer *= os[d];
    int64_t inner_out = 1;
    for (int d = axis; d < os.rank(); ++d) inner_out *= os[d];
    const size_t es = ElementSize(first.dtype());
    char* dst = static_cast<char*>(out->raw_data());
    int64_t offset = 0;
    for (const auto& v : e) {
      const Tensor& t = v.tensor();
      const int64_t chunk = outer == 0 ? 0 : t.num_elements() / outer;
      const char* src = static_cast<const char*>(t.raw_data());
      for (int64_t o = 0; o < outer; ++o)
        CopyElements(t.dtype(), src + o * chunk * es, dst + (o * inner_out + offset) * es, chunk);
      offset += chunk;
    }
    return Status::Ok();
  }

 private:
  int64_t axis_ = 0;
  bool new_axis_ = false;
};

class SequenceMapKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    ASSIGN_OR_RETURN(body_, n.GetSubgraph("body"));
    if (static_cast<int>(body_->input_ids.size()) != n.num_inputs())
      return n.Error("body takes " + std::to_string(body_->input_ids.size()) + " inputs, the node has " +
                     std::to_string(n.num_inputs()));
    if (static_cast<int>(body_->output_ids.size()) != n.num_outputs())
      return n.Error("body has " + std::to_string(body_->output_ids.size()) + " outputs, the node has " +
                     std::to_string(n.num_outputs()));
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Value* seq;
    RETURN_IF_ERROR(GetSequence(ctx, 0, &seq));
    const size_t len = seq->sequence().size();
    for (int i = 1; i < ctx.num_inputs(); ++i) {
      const Value* v = ctx.input_value(i);
      if (v == nullptr) return ctx.Error("input " + std::to_string(i) + " is missing");
      if (v->is_sequence() && v->sequence().size() != len)
        return ctx.Error("input sequence " + std::to_string(i) + " has " + std::to_string(v->sequence().size()) +
                         " elements, input 0 has " + std::to_string(len));
    }
    const size_t nout = body_->output_ids.size();
    std::vector<std::vector<Value>> outs(nout);
    std::vector<Value> in(static_cast<size_t>(ctx.num_inputs())), res;
    for (size_t k = 0; k < len; ++k) {
      for (int i = 0; i < ctx.num_inputs(); ++i) {
        const Value* v = ctx.input_value(i);
        in[i] = v->is_sequence() ? v->sequence()[k] : *v;
      }
      RETURN_IF_ERROR(ctx.RunSubgraph(*body_, in, &res));
      for (size_t o = 0; o < nout; ++o) outs[o].push_back(res[o].Owned());
    }
    for (size_t o = 0; o < nout; ++o) {
      DataType dt = body_->outputs[o].type.elem_type;
      if (!outs[o].empty() && outs[o][0].is_tensor()) dt = outs[o][0].tensor().dtype();
      ctx.SetOutputValue(static_cast<int>(o), Value::Sequence(std::move(outs[o]), dt));
    }
    return Status::Ok();
  }

 private:
  std::shared_ptr<const GraphPlan> body_;
};

class OptionalKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (!n.has_input(0) && !n.has_attr("type")) return n.Error("an Optional without input needs the 'type' attribute");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const Value* v = ctx.input_value(0);
    if (v == nullptr) {
      ctx.SetOutputValue(0, Value::None());
      return Status::Ok();
    }
    EmitValue(ctx, 0, *v);
    return Status::Ok();
  }
};

class OptionalHasElementKernel : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }
  Status Compute(KernelContext& ctx) const override {
    const Value* v = ctx.input_value(0);
    Tensor* out = ctx.Output(0, DataType::kBool, Shape{});
    out->data<bool>()[0] = v != nullptr && !v->is_none();
    return Status::Ok();
  }
};

class OptionalGetElementKernel : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }
  Status Compute(KernelContext& ctx) const override {
    const Value* v = ctx.input_value(0);
    if (v == nullptr || v->is_none()) return ctx.Error("the optional input is empty");
    EmitValue(ctx, 0, *v);
    return Status::Ok();
  }
};

}  // namespace

void RegisterSequenceOps(OpRegistry& r) {
  r.Add("", "SequenceEmpty", Factory<SequenceEmptyKernel>(), 11);
  r.Add("", "SequenceConstruct", Factory<SequenceConstructKernel>(), 11);
  r.Add("", "SequenceAt", Factory<SequenceAtKernel>(), 11);
  r.Add("", "SequenceInsert", Factory<SequenceInsertKernel>(), 11);
  r.Add("", "SequenceErase", Factory<SequenceEraseKernel>(), 11);
  r.Add("", "SequenceLength", Factory<SequenceLengthKernel>(), 11);
  r.Add("", "SplitToSequence", Factory<SplitToSequenceKernel>(), 11);
  r.Add("", "ConcatFromSequence", Factory<ConcatFromSequenceKernel>(), 11);
  r.Add("", "SequenceMap", Factory<SequenceMapKernel>(), 17);
  r.Add("", "Optional", Factory<OptionalKernel>(), 15);
  r.Add("", "OptionalHasElement", Factory<OptionalHasElementKernel>(), 15);
  r.Add("", "OptionalGetElement", Factory<OptionalGetElementKernel>(), 15);
}

}  // namespace onnxd::engine
