// Data-movement ops: Reshape, Flatten, Squeeze, Unsqueeze, Identity, Transpose, Concat, Split,
// Slice, Gather*, Scatter*, Expand, Tile, Pad, Shape, Size, DepthToSpace, SpaceToDepth, Compress,
// Trilu, ReverseSequence.
//
// Every op here moves elements without arithmetic (except the Scatter reductions), so most of them
// dispatch on the element size only (uint8/16/32/64 words, or std::string which must be assigned).
// The shared workhorse is StridedCopy: a contiguous output filled from an input addressed by
// arbitrary (possibly zero or negative) strides, with adjacent dims merged first so that the inner
// loop is as long as possible and becomes a memcpy whenever the innermost input stride is 1.
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "ops/op_kernel.h"
#include "ops/op_util.h"

namespace onnxd::engine {

namespace {

// Internal bound on the rank of the index arithmetic below (checked, never overflowed).
constexpr int kMaxRank = 32;
// Elements per parallel chunk for plain copies.
constexpr int64_t kCopyGrain = 32768;

// Calls f(TypeTag<W>{}) with W a same-sized word for numeric/bool types, std::string for strings.
template <typename F>
bool DispatchMove(DataType dt, F&& f) {
  if (dt == DataType::kString) {
    f(TypeTag<std::string>{});
    return true;
  }
  switch (ElementSize(dt)) {
    case 1: f(TypeTag<uint8_t>{}); return true;
    case 2: f(TypeTag<uint16_t>{}); return true;
    case 4: f(TypeTag<uint32_t>{}); return true;
    case 8: f(TypeTag<uint64_t>{}); return true;
    default: return false;
  }
}

template <typename T>
inline void CopyRun(const T* src, T* dst, int64_t n) {
  if constexpr (std::is_same_v<T, std::string>) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  } else {
    if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(T));
  }
}

// Copies n elements, splitting large numeric copies over the pool.
template <typename T>
void ParallelCopyRun(const T* src, T* dst, int64_t n, ThreadPool& pool) {
  if (n <= 0) return;
  if (n < 4 * kCopyGrain) {
    CopyRun(src, dst, n);
    return;
  }
  pool.ParallelFor(n, kCopyGrain, [&](int64_t b, int64_t e) { CopyRun(src + b, dst + b, e - b); });
}

void CopyAny(DataType dt, const void* src, void* dst, int64_t n, ThreadPool& pool) {
  DispatchMove(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    ParallelCopyRun(static_cast<const T*>(src), static_cast<T*>(dst), n, pool);
  });
}

std::string DimsString(const int64_t* d, int n) {
  std::string s = "[";
  for (int i = 0; i < n; ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

// Reads a scalar or 1-D int32/int64 tensor into `out` (no heap below rank 8).
Status ReadIntList(const KernelContext& ctx, const Tensor& t, Shape* out, const char* what) {
  if (t.rank() > 1) return ctx.Error(std::string(what) + " must be 1-D, got shape " + t.shape().ToString());
  const int64_t n = t.num_elements();
  out->Resize(static_cast<size_t>(n));
  if (t.dtype() == DataType::kInt64) {
    for (int64_t i = 0; i < n; ++i) (*out)[i] = t.data<int64_t>()[i];
  } else if (t.dtype() == DataType::kInt32) {
    for (int64_t i = 0; i < n; ++i) (*out)[i] = t.data<int32_t>()[i];
  } else {
    return ctx.Error(std::string(what) + " must be int64 or int32, got " + DataTypeName(t.dtype()));
  }
  return Status::Ok();
}

Shape ToShape(const std::vector<int64_t>& v) { return Shape(std::span<const int64_t>(v.data(), v.size())); }

// Merges dims so the copy below runs over as few, as long rows as possible. Returns the new rank.
int Coalesce(int64_t* dims, int64_t* strides, int rank) {
  int r = 0;
  for (int i = 0; i < rank; ++i) {
    if (dims[i] == 1) continue;
    if (r > 0 && strides[r - 1] == strides[i] * dims[i]) {
      dims[r - 1] *= dims[i];
      strides[r - 1] = strides[i];
      continue;
    }
    dims[r] = dims[i];
    strides[r] = strides[i];
    ++r;
  }
  return r;
}

// dst[r * dcols + c] = src[r + c * sstride] for r in [r0, r1), c in [c0, c1).
template <typename T>
inline void TransposeTile(const T* src, int64_t sstride, T* dst, int64_t dcols, int64_t r0, int64_t r1, int64_t c0,
                          int64_t c1) {
#if defined(__x86_64__)
  if constexpr (sizeof(T) == 4) {
    int64_t c = c0;
    for (; c + 4 <= c1; c += 4) {
      int64_t r = r0;
      for (; r + 4 <= r1; r += 4) {
        const float* s = reinterpret_cast<const float*>(src + r + c * sstride);
        __m128 a = _mm_loadu_ps(s), b = _mm_loadu_ps(s + sstride), cc = _mm_loadu_ps(s + 2 * sstride),
               d = _mm_loadu_ps(s + 3 * sstride);
        _MM_TRANSPOSE4_PS(a, b, cc, d);
        float* o = reinterpret_cast<float*>(dst + r * dcols + c);
        _mm_storeu_ps(o, a);
        _mm_storeu_ps(o + dcols, b);
        _mm_storeu_ps(o + 2 * dcols, cc);
        _mm_storeu_ps(o + 3 * dcols, d);
      }
      for (; r < r1; ++r)
        for (int64_t k = 0; k < 4; ++k) dst[r * dcols + c + k] = src[r + (c + k) * sstride];
    }
    for (; c < c1; ++c)
      for (int64_t r = r0; r < r1; ++r) dst[r * dcols + c] = src[r + c * sstride];
    return;
  }
#endif
  for (int64_t r = r0; r < r1; ++r) {
    T* drow = dst + r * dcols;
    const T* scol = src + r;
    for (int64_t c = c0; c < c1; ++c) drow[c] = scol[c * sstride];
  }
}

template <typename T>
void StridedCopyT(const T* src, int64_t* dims, int64_t* strides, int rank, T* dst, ThreadPool& pool) {
  int64_t total = 1;
  for (int i = 0; i < rank; ++i) total *= dims[i];
  if (total == 0) return;
  rank = Coalesce(dims, strides, rank);
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  const int64_t inner = dims[rank - 1];
  const int64_t istride = strides[rank - 1];

  // Batched 2-D transpose: the second-innermost dim is contiguous in the source; go by tiles so
  // both the reads and the writes stay within a few cache lines.
  if (rank >= 2 && istride != 1 && strides[rank - 2] == 1 && !std::is_same_v<T, std::string> && inner >= 4 &&
      dims[rank - 2] >= 4) {
    const int64_t rows = dims[rank - 2], cols = inner;
    constexpr int64_t kB = 16;
    const int64_t rblocks = (rows + kB - 1) / kB;
    const int64_t batch = total / (rows * cols);
    const int brank = rank - 2;
    pool.ParallelFor(batch * rblocks, std::max<int64_t>(1, kCopyGrain / (kB * cols)), [&](int64_t b, int64_t e) {
      for (int64_t w = b; w < e; ++w) {
        int64_t bi = w / rblocks, rb = w % rblocks;
        int64_t off = 0, rem = bi;
        for (int k = brank - 1; k >= 0; --k) {
          off += (rem % dims[k]) * strides[k];
          rem /= dims[k];
        }
        const T* s = src + off;
        T* d = dst + bi * rows * cols;
        const int64_t r0 = rb * kB, r1 = std::min(rows, r0 + kB);
        for (int64_t c0 = 0; c0 < cols; c0 += kB) TransposeTile(s, istride, d, cols, r0, r1, c0, std::min(cols, c0 + kB));
      }
    });
    return;
  }

  const int64_t outer = total / inner;
  const int orank = rank - 1;
  pool.ParallelFor(outer, std::max<int64_t>(1, kCopyGrain / inner), [&](int64_t b, int64_t e) {
    int64_t idx[kMaxRank];
    int64_t off = 0, rem = b;
    for (int k = orank - 1; k >= 0; --k) {
      idx[k] = rem % dims[k];
      rem /= dims[k];
      off += idx[k] * strides[k];
    }
    T* d = dst + b * inner;
    for (int64_t o = b; o < e; ++o) {
      const T* s = src + off;
      if (istride == 1) {
        CopyRun(s, d, inner);
      } else if (istride == 0) {
        for (int64_t i = 0; i < inner; ++i) d[i] = s[0];
      } else {
        for (int64_t i = 0; i < inner; ++i) d[i] = s[i * istride];
      }
      d += inner;
      for (int k = orank - 1; k >= 0; --k) {
        off += strides[k];
        if (++idx[k] < dims[k]) break;
        off -= idx[k] * strides[k];
        idx[k] = 0;
      }
    }
  });
}

// dst (contiguous, dims `dims`) [i...] = src[sum i_k * strides[k]]. dims/strides are scratch copies.
Status StridedCopy(const KernelContext& ctx, DataType dt, const void* src, const int64_t* dims_in,
                   const int64_t* strides_in, int rank, void* dst, ThreadPool& pool) {
  if (rank > kMaxRank) return ctx.Error("rank " + std::to_string(rank) + " exceeds the supported maximum of 32");
  int64_t dims[kMaxRank], strides[kMaxRank];
  for (int i = 0; i < rank; ++i) {
    dims[i] = dims_in[i];
    strides[i] = strides_in[i];
  }
  bool ok = DispatchMove(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    StridedCopyT(static_cast<const T*>(src), dims, strides, rank, static_cast<T*>(dst), pool);
  });
  if (!ok) return ctx.Error(std::string("unsupported element type ") + DataTypeName(dt));
  return Status::Ok();
}

Status CheckMovable(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (t.dtype() != DataType::kString && ElementSize(t.dtype()) == 0)
    return ctx.Error(std::string(what) + " has unsupported element type " + DataTypeName(t.dtype()));
  return Status::Ok();
}

#define REQUIRE_INPUT(var, i, what)                                                  \
  const Tensor* var = ctx.input(i);                                                  \
  if (var == nullptr) return ctx.Error(std::string("input ") + std::to_string(i) + " (" what ") is missing or not a tensor")

// Reads an index value (int32/int64 tensors) at position i.
inline int64_t IndexAt(const Tensor& t, int64_t i) {
  return t.dtype() == DataType::kInt64 ? t.data<int64_t>()[i] : static_cast<int64_t>(t.data<int32_t>()[i]);
}

Status CheckIndexType(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (t.dtype() != DataType::kInt64 && t.dtype() != DataType::kInt32)
    return ctx.Error(std::string(what) + " must be int32 or int64, got " + DataTypeName(t.dtype()));
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Reshape, Flatten, Squeeze, Unsqueeze, Identity: zero-copy views.

class ReshapeKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    allowzero_ = n.GetInt("allowzero", 0) != 0;
    if (n.opset() < 5) {
      if (!n.has_attr("shape")) return n.Error("attribute 'shape' is required before opset 5");
      attr_shape_ = n.GetInts("shape");
      use_attr_ = true;
    } else if (!n.has_input(1)) {
      return n.Error("input 1 (shape) is required");
    }
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "data");
    Shape want;
    if (use_attr_) {
      want = ToShape(attr_shape_);
    } else {
      REQUIRE_INPUT(s, 1, "shape");
      RETURN_IF_ERROR(ReadIntList(ctx, *s, &want, "shape"));
    }
    const Shape& in = x->shape();
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < want.rank(); ++i) {
      int64_t d = want[i];
      if (d == 0 && !allowzero_) {
        if (i >= in.rank())
          return ctx.Error("shape[" + std::to_string(i) + "] is 0 (copy) but the input " + in.ToString() +
                           " has only " + std::to_string(in.rank()) + " dims");
        d = in[i];
        want[i] = d;
      } else if (d == -1) {
        if (infer >= 0) return ctx.Error("shape " + want.ToString() + " has more than one -1");
        infer = i;
        continue;
      } else if (d < 0) {
        return ctx.Error("shape[" + std::to_string(i) + "] = " + std::to_string(d) + " is invalid");
      }
      known *= d;
    }
    const int64_t total = in.NumElements();
    if (infer >= 0) {
      if (known == 0 || total % known != 0)
        return ctx.Error("cannot infer the -1 dim reshaping " + in.ToString() + " to " + want.ToString());
      want[infer] = total / known;
    } else if (known != total) {
      return ctx.Error("cannot reshape " + in.ToString() + " (" + std::to_string(total) + " elements) to " +
                       want.ToString());
    }
    ctx.SetOutputAlias(0, 0, want);
    return Status::Ok();
  }

 private:
  bool allowzero_ = false;
  bool use_attr_ = false;
  std::vector<int64_t> attr_shape_;
};

class FlattenKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    axis_ = n.GetInt("axis", 1);
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "input");
    const int r = x->rank();
    int64_t a = axis_ < 0 ? axis_ + r : axis_;
    if (a < 0 || a > r) return ctx.Error("axis " + std::to_string(axis_) + " is out of range for rank " + std::to_string(r));
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < r; ++i) (i < a ? outer : inner) *= x->dim(i);
    ctx.SetOutputAlias(0, 0, Shape{outer, inner});
    return Status::Ok();
  }

 private:
  int64_t axis_ = 1;
};

class SqueezeKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (n.opset() < 13) {
      attr_axes_ = n.GetInts("axes");
      use_attr_ = true;
    }
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "data");
    const int r = x->rank();
    Shape axes;
    bool have_axes = false;
    if (use_attr_) {
      axes = ToShape(attr_axes_);
      have_axes = !attr_axes_.empty();
    } else if (const Tensor* a = ctx.input(1)) {
      RETURN_IF_ERROR(ReadIntList(ctx, *a, &axes, "axes"));
      have_axes = true;
    }
    bool drop[kMaxRank] = {};
    if (r > kMaxRank) return ctx.Error("rank too large");
    if (have_axes) {
      for (int i = 0; i < axes.rank(); ++i) {
        int64_t ax = axes[i] < 0 ? axes[i] + r : axes[i];
        if (ax < 0 || ax >= r)
          return ctx.Error("axes[" + std::to_string(i) + "] = " + std::to_string(axes[i]) + " is out of range for rank " +
                           std::to_string(r));
        if (x->dim(static_cast<int>(ax)) != 1)
          return ctx.Error("cannot squeeze axis " + std::to_string(axes[i]) + " of shape " + x->shape().ToString() +
                           ": its size is not 1");
        drop[ax] = true;
      }
    } else {
      for (int i = 0; i < r; ++i) drop[i] = x->dim(i) == 1;
    }
    Shape out;
    for (int i = 0; i < r; ++i)
      if (!drop[i]) out.PushBack(x->dim(i));
    ctx.SetOutputAlias(0, 0, out);
    return Status::Ok();
  }

 private:
  bool use_attr_ = false;
  std::vector<int64_t> attr_axes_;
};

class UnsqueezeKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (n.opset() < 13) {
      if (!n.has_attr("axes")) return n.Error("attribute 'axes' is required before opset 13");
      attr_axes_ = n.GetInts("axes");
      use_attr_ = true;
    } else if (!n.has_input(1)) {
      return n.Error("input 1 (axes) is required from opset 13");
    }
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "data");
    Shape axes;
    if (use_attr_) {
      axes = ToShape(attr_axes_);
    } else {
      REQUIRE_INPUT(a, 1, "axes");
      RETURN_IF_ERROR(ReadIntList(ctx, *a, &axes, "axes"));
    }
    const int out_rank = x->rank() + axes.rank();
    if (out_rank > kMaxRank) return ctx.Error("output rank too large");
    bool ins[kMaxRank] = {};
    for (int i = 0; i < axes.rank(); ++i) {
      int64_t ax = axes[i] < 0 ? axes[i] + out_rank : axes[i];
      if (ax < 0 || ax >= out_rank)
        return ctx.Error("axes[" + std::to_string(i) + "] = " + std::to_string(axes[i]) +
                         " is out of range for output rank " + std::to_string(out_rank));
      if (ins[ax]) return ctx.Error("axes " + axes.ToString() + " repeat axis " + std::to_string(ax));
      ins[ax] = true;
    }
    Shape out;
    out.Resize(out_rank);
    for (int i = 0, j = 0; i < out_rank; ++i) out[i] = ins[i] ? 1 : x->dim(j++);
    ctx.SetOutputAlias(0, 0, out);
    return Status::Ok();
  }

 private:
  bool use_attr_ = false;
  std::vector<int64_t> attr_axes_;
};

class IdentityKernel : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }
  Status Compute(KernelContext& ctx) const override {
    const Value* v = ctx.input_value(0);
    if (v == nullptr) {
      ctx.SetOutputValue(0, Value::None());
      return Status::Ok();
    }
    if (v->is_tensor()) {
      ctx.SetOutputAlias(0, 0, v->tensor().shape());
    } else {
      ctx.SetOutputValue(0, *v);
    }
    return Status::Ok();
  }
};

// ---------------------------------------------------------------------------------------------
// Transpose

class TransposeKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    perm_ = n.GetInts("perm");
    has_perm_ = n.has_attr("perm");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "data");
    RETURN_IF_ERROR(CheckMovable(ctx, *x, "data"));
    const int r = x->rank();
    if (r > kMaxRank) return ctx.Error("rank too large");
    int perm[kMaxRank];
    if (has_perm_) {
      if (static_cast<int>(perm_.size()) != r)
        return ctx.Error("perm has " + std::to_string(perm_.size()) + " entries for input rank " + std::to_string(r));
      bool seen[kMaxRank] = {};
      for (int i = 0; i < r; ++i) {
        int64_t p = perm_[i] < 0 ? perm_[i] + r : perm_[i];
        if (p < 0 || p >= r || seen[p])
          return ctx.Error("perm " + DimsString(perm_.data(), r) + " is not a permutation of 0.." + std::to_string(r - 1));
        seen[p] = true;
        perm[i] = static_cast<int>(p);
      }
    } else {
      for (int i = 0; i < r; ++i) perm[i] = r - 1 - i;
    }
    int64_t in_strides[kMaxRank], dims[kMaxRank], strides[kMaxRank];
    RowMajorStrides(x->shape(), in_strides);
    Shape out;
    out.Resize(r);
    for (int i = 0; i < r; ++i) {
      dims[i] = out[i] = x->dim(perm[i]);
      strides[i] = in_strides[perm[i]];
    }
    Tensor* y = ctx.Output(0, x->dtype(), out);
    return StridedCopy(ctx, x->dtype(), x->raw_data(), dims, strides, r, y->raw_data(), ctx.pool());
  }

 private:
  bool has_perm_ = false;
  std::vector<int64_t> perm_;
};

// ---------------------------------------------------------------------------------------------
// Concat, Split

class ConcatKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (n.has_attr("axis")) {
      axis_ = n.GetInt("axis", 0);
    } else if (n.opset() < 4) {
      axis_ = 1;
    } else {
      return n.Error("attribute 'axis' is required");
    }
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    const int n = ctx.num_inputs();
    if (n < 1) return ctx.Error("needs at least one input");
    REQUIRE_INPUT(first, 0, "inputs");
    const int r = first->rank();
    if (r == 0) return ctx.Error("cannot concatenate scalars");
    int64_t a = axis_ < 0 ? axis_ + r : axis_;
    if (a < 0 || a >= r) return ctx.Error("axis " + std::to_string(axis_) + " is out of range for rank " + std::to_string(r));
    const DataType dt = first->dtype();
    RETURN_IF_ERROR(CheckMovable(ctx, *first, "input 0"));
    Shape out = first->shape();
    int64_t total_axis = 0;
    for (int i = 0; i < n; ++i) {
      const Tensor* t = ctx.input(i);
      if (t == nullptr) return ctx.Error("input " + std::to_string(i) + " is missing");
      if (t->dtype() != dt)
        return ctx.Error("input " + std::to_string(i) + " is " + DataTypeName(t->dtype()) + ", input 0 is " + DataTypeName(dt));
      if (t->rank() != r)
        return ctx.Error("input " + std::to_string(i) + " has shape " + t->shape().ToString() + ", input 0 has " +
                         first->shape().ToString() + " (ranks differ)");
      for (int d = 0; d < r; ++d)
        if (d != a && t->dim(d) != out[d])
          return ctx.Error("input " + std::to_string(i) + " has shape " + t->shape().ToString() + ", input 0 has " +
                           first->shape().ToString() + ": dim " + std::to_string(d) + " differs");
      total_axis += t->dim(static_cast<int>(a));
    }
    out[a] = total_axis;
    Tensor* y = ctx.Output(0, dt, out);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < a; ++d) outer *= out[d];
    for (int d = static_cast<int>(a) + 1; d < r; ++d) inner *= out[d];
    const int64_t out_row = total_axis * inner;
    DispatchMove(dt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* dst = y->data<T>();
      if (outer == 1) {
        int64_t off = 0;
        for (int i = 0; i < n; ++i) {
          const Tensor* t = ctx.input(i);
          const int64_t cnt = t->num_elements();
          ParallelCopyRun(t->data<T>(), dst + off, cnt, ctx.pool());
          off += cnt;
        }
        return;
      }
      ctx.pool().ParallelFor(outer, std::max<int64_t>(1, kCopyGrain / std::max<int64_t>(1, out_row)), [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) {
          T* d = dst + o * out_row;
          for (int i = 0; i < n; ++i) {
            const Tensor* t = ctx.input(i);
            const int64_t chunk = t->dim(static_cast<int>(a)) * inner;
            CopyRun(t->data<T>() + o * chunk, d, chunk);
            d += chunk;
          }
        }
      });
    });
    return Status::Ok();
  }

 private:
  int64_t axis_ = 0;
};

class SplitKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    axis_ = n.GetInt("axis", 0);
    if (n.opset() < 13) {
      if (n.has_attr("split")) {
        attr_split_ = n.GetInts("split");
        use_attr_ = true;
      }
    }
    if (n.opset() >= 18 && n.has_attr("num_outputs")) {
      num_outputs_ = n.GetInt("num_outputs", 0);
      if (num_outputs_ < 1) return n.Error("num_outputs must be positive");
      if (num_outputs_ != n.num_outputs())
        return n.Error("num_outputs is " + std::to_string(num_outputs_) + " but the node has " +
                       std::to_string(n.num_outputs()) + " outputs");
    }
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "input");
    RETURN_IF_ERROR(CheckMovable(ctx, *x, "input"));
    const int r = x->rank();
    if (r == 0) return ctx.Error("cannot split a scalar");
    int64_t a = axis_ < 0 ? axis_ + r : axis_;
    if (a < 0 || a >= r) return ctx.Error("axis " + std::to_string(axis_) + " is out of range for rank " + std::to_string(r));
    const int nout = ctx.num_outputs();
    const int64_t dim = x->dim(static_cast<int>(a));
    Shape split;
    bool have = false;
    if (use_attr_) {
      split = ToShape(attr_split_);
      have = true;
    } else if (const Tensor* s = ctx.input(1); s != nullptr && !use_attr_) {
      RETURN_IF_ERROR(ReadIntList(ctx, *s, &split, "split"));
      have = true;
    }
    if (have) {
      if (split.rank() != nout)
        return ctx.Error("split has " + std::to_string(split.rank()) + " entries for " + std::to_string(nout) + " outputs");
      int64_t sum = 0;
      for (int i = 0; i < nout; ++i) {
        if (split[i] < 0) return ctx.Error("split " + split.ToString() + " has a negative entry");
        sum += split[i];
      }
      if (sum != dim)
        return ctx.Error("split " + split.ToString() + " sums to " + std::to_string(sum) + " but axis " +
                         std::to_string(a) + " of " + x->shape().ToString() + " is " + std::to_string(dim));
    } else {
      split.Resize(nout);
      // Equal parts; when uneven (num_outputs, opset 18) the last chunk is smaller.
      const int64_t chunk = (dim + nout - 1) / nout;
      int64_t left = dim;
      for (int i = 0; i < nout; ++i) {
        split[i] = std::min(chunk, left);
        left -= split[i];
      }
    }
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < a; ++d) outer *= x->dim(d);
    for (int d = static_cast<int>(a) + 1; d < r; ++d) inner *= x->dim(d);
    const int64_t in_row = dim * inner;
    int64_t off = 0;
    for (int i = 0; i < nout; ++i) {
      Shape os = x->shape();
      os[a] = split[i];
      if (!ctx.has_output(i)) {
        off += split[i];
        continue;
      }
      Tensor* y = ctx.Output(i, x->dtype(), os);
      const int64_t chunk = split[i] * inner;
      const int64_t start = off * inner;
      DispatchMove(x->dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* src = x->data<T>();
        T* dst = y->data<T>();
        if (outer == 1) {
          ParallelCopyRun(src + start, dst, chunk, ctx.pool());
          return;
        }
        ctx.pool().ParallelFor(outer, std::max<int64_t>(1, kCopyGrain / std::max<int64_t>(1, chunk)), [&](int64_t b, int64_t e) {
          for (int64_t o = b; o < e; ++o) CopyRun(src + o * in_row + start, dst + o * chunk, chunk);
        });
      });
      off += split[i];
    }
    return Status::Ok();
  }

 private:
  int64_t axis_ = 0;
  bool use_attr_ = false;
  std::vector<int64_t> attr_split_;
  int64_t num_outputs_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Slice

class SliceKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (n.opset() < 10) {
      use_attr_ = true;
      if (!n.has_attr("starts") || !n.has_attr("ends")) return n.Error("attributes 'starts' and 'ends' are required");
      starts_ = n.GetInts("starts");
      ends_ = n.GetInts("ends");
      axes_ = n.GetInts("axes");
      has_axes_ = n.has_attr("axes");
    }
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "data");
    RETURN_IF_ERROR(CheckMovable(ctx, *x, "data"));
    const int r = x->rank();
    if (r > kMaxRank) return ctx.Error("rank too large");
    Shape starts, ends, axes, steps;
    bool has_axes = has_axes_, has_steps = false;
    if (use_attr_) {
      starts = ToShape(starts_);
      ends = ToShape(ends_);
      axes = ToShape(axes_);
    } else {
      REQUIRE_INPUT(ts, 1, "starts");
      REQUIRE_INPUT(te, 2, "ends");
      RETURN_IF_ERROR(ReadIntList(ctx, *ts, &starts, "starts"));
      RETURN_IF_ERROR(ReadIntList(ctx, *te, &ends, "ends"));
      if (const Tensor* ta = ctx.input(3)) {
        RETURN_IF_ERROR(ReadIntList(ctx, *ta, &axes, "axes"));
        has_axes = true;
      }
      if (const Tensor* tp = ctx.input(4)) {
        RETURN_IF_ERROR(ReadIntList(ctx, *tp, &steps, "steps"));
        has_steps = true;
      }
    }
    const int k = starts.rank();
    if (ends.rank() != k)
      return ctx.Error("starts has " + std::to_string(k) + " entries, ends has " + std::to_string(ends.rank()));
    if (has_axes && axes.rank() != k)
      return ctx.Error("axes has " + std::to_string(axes.rank()) + " entries, starts has " + std::to_string(k));
    if (has_steps && steps.rank() != k)
      return ctx.Error("steps has " + std::to_string(steps.rank()) + " entries, starts has " + std::to_string(k));
    int64_t in_strides[kMaxRank], dims[kMaxRank], strides[kMaxRank];
    RowMajorStrides(x->shape(), in_strides);
    int64_t begin[kMaxRank], step[kMaxRank];
    bool seen[kMaxRank] = {};
    for (int i = 0; i < r; ++i) {
      begin[i] = 0;
      step[i] = 1;
      dims[i] = x->dim(i);
    }
    for (int i = 0; i < k; ++i) {
      int64_t ax = has_axes ? axes[i] : i;
      if (ax < 0) ax += r;
      if (ax < 0 || ax >= r)
        return ctx.Error("axis " + std::to_string(has_axes ? axes[i] : i) + " is out of range for rank " + std::to_string(r));
      if (seen[ax]) return ctx.Error("axis " + std::to_string(ax) + " is repeated");
      seen[ax] = true;
      const int64_t st = has_steps ? steps[i] : 1;
      if (st == 0) return ctx.Error("steps[" + std::to_string(i) + "] is 0");
      const int64_t d = x->dim(static_cast<int>(ax));
      int64_t s = starts[i], e = ends[i];
      if (s < 0) s += d;
      if (e < 0) e += d;
      int64_t len;
      if (st > 0) {
        s = std::clamp<int64_t>(s, 0, d);
        e = std::clamp<int64_t>(e, 0, d);
        len = e > s ? (e - s + st - 1) / st : 0;
      } else {
        s = std::clamp<int64_t>(s, 0, d - 1);
        e = std::clamp<int64_t>(e, -1, d - 1);
        len = d > 0 && s > e ? (s - e + (-st) - 1) / (-st) : 0;
      }
      if (len == 0) s = 0;
      begin[ax] = s;
      step[ax] = st;
      dims[ax] = len;
    }
    Shape out;
    out.Resize(r);
    int64_t off = 0;
    for (int i = 0; i < r; ++i) {
      out[i] = dims[i];
      off += begin[i] * in_strides[i];
      strides[i] = step[i] * in_strides[i];
    }
    Tensor* y = ctx.Output(0, x->dtype(), out);
    if (out.NumElements() == 0) return Status::Ok();
    const char* base = static_cast<const char*>(x->raw_data()) + off * static_cast<int64_t>(ElementSize(x->dtype()));
    return StridedCopy(ctx, x->dtype(), base, dims, strides, r, y->raw_data(), ctx.pool());
  }

 private:
  bool use_attr_ = false;
  bool has_axes_ = false;
  std::vector<int64_t> starts_, ends_, axes_;
};

// ---------------------------------------------------------------------------------------------
// Gather, GatherElements, GatherND

class GatherKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    axis_ = n.GetInt("axis", 0);
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "data");
    REQUIRE_INPUT(ind, 1, "indices");
    RETURN_IF_ERROR(CheckMovable(ctx, *x, "data"));
    RETURN_IF_ERROR(CheckIndexType(ctx, *ind, "indices"));
    const int r = x->rank();
    if (r == 0) return ctx.Error("data must have rank >= 1");
    int64_t a = axis_ < 0 ? axis_ + r : axis_;
    if (a < 0 || a >= r) return ctx.Error("axis " + std::to_string(axis_) + " is out of range for rank " + std::to_string(r));
    const int64_t N = x->dim(static_cast<int>(a));
    const int64_t ni = ind->num_elements();
    for (int64_t i = 0; i < ni; ++i) {
      int64_t v = IndexAt(*ind, i);
      if (v < -N || v >= N)
        return ctx.Error("indices[" + std::to_string(i) + "] = " + std::to_string(v) + " is out of range for axis " +
                         std::to_string(a) + " of size " + std::to_string(N));
    }
    Shape out;
    for (int d = 0; d < a; ++d) out.PushBack(x->dim(d));
    for (int d = 0; d < ind->rank(); ++d) out.PushBack(ind->dim(d));
    for (int d = static_cast<int>(a) + 1; d < r; ++d) out.PushBack(x->dim(d));
    Tensor* y = ctx.Output(0, x->dtype(), out);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < a; ++d) outer *= x->dim(d);
    for (int d = static_cast<int>(a) + 1; d < r; ++d) inner *= x->dim(d);
    const int64_t total = outer * ni;
    DispatchMove(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = x->data<T>();
      T* dst = y->data<T>();
      ctx.pool().ParallelFor(total, std::max<int64_t>(1, kCopyGrain / std::max<int64_t>(1, inner)), [&](int64_t b, int64_t e) {
        for (int64_t w = b; w < e; ++w) {
          const int64_t o = w / ni, j = w % ni;
          int64_t v = IndexAt(*ind, j);
          if (v < 0) v += N;
          const T* s = src + (o * N + v) * inner;
          T* d = dst + w * inner;
          if (inner == 1) *d = *s;
          else CopyRun(s, d, inner);
        }
      });
    });
    return Status::Ok();
  }

 private:
  int64_t axis_ = 0;
};

class GatherElementsKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    axis_ = n.GetInt("axis", 0);
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "data");
    REQUIRE_INPUT(ind, 1, "indices");
    RETURN_IF_ERROR(CheckMovable(ctx, *x, "data"));
    RETURN_IF_ERROR(CheckIndexType(ctx, *ind, "indices"));
    const int r = x->rank();
    if (r == 0 || r > kMaxRank) return ctx.Error("data rank must be in 1..32");
    if (ind->rank() != r)
      return ctx.Error("indices shape " + ind->shape().ToString() + " must have the rank of data " + x->shape().ToString());
    int64_t a = axis_ < 0 ? axis_ + r : axis_;
    if (a < 0 || a >= r) return ctx.Error("axis " + std::to_string(axis_) + " is out of range for rank " + std::to_string(r));
    for (int d = 0; d < r; ++d)
      if (d != a && ind->dim(d) > x->dim(d))
        return ctx.Error("indices shape " + ind->shape().ToString() + " exceeds data shape " + x->shape().ToString() +
                         " at dim " + std::to_string(d));
    const int64_t N = x->dim(static_cast<int>(a));
    const int64_t total = ind->num_elements();
    for (int64_t i = 0; i < total; ++i) {
      int64_t v = IndexAt(*ind, i);
      if (v < -N || v >= N)
        return ctx.Error("indices[" + std::to_string(i) + "] = " + std::to_string(v) + " is out of range for axis " +
                         std::to_string(a) + " of size " + std::to_string(N));
    }
    Tensor* y = ctx.Output(0, x->dtype(), ind->shape());
    if (total == 0) return Status::Ok();
    int64_t xs[kMaxRank];
    RowMajorStrides(x->shape(), xs);
    DispatchMove(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = x->data<T>();
      T* dst = y->data<T>();
      int64_t idx[kMaxRank] = {};
      int64_t base = 0;  // offset of idx in data, excluding the axis term
      for (int64_t i = 0; i < total; ++i) {
        int64_t v = IndexAt(*ind, i);
        if (v < 0) v += N;
        dst[i] = src[base + v * xs[a]];
        for (int d = r - 1; d >= 0; --d) {
          if (d != a) base += xs[d];
          if (++idx[d] < ind->dim(d)) break;
          if (d != a) base -= idx[d] * xs[d];
          idx[d] = 0;
        }
      }
    });
    return Status::Ok();
  }

 private:
  int64_t axis_ = 0;
};

class GatherNDKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    batch_dims_ = n.GetInt("batch_dims", 0);
    if (batch_dims_ < 0) return n.Error("batch_dims must be >= 0");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "data");
    REQUIRE_INPUT(ind, 1, "indices");
    RETURN_IF_ERROR(CheckMovable(ctx, *x, "data"));
    if (ind->dtype() != DataType::kInt64) return ctx.Error("indices must be int64");
    const int r = x->rank(), q = ind->rank();
    const int b = static_cast<int>(batch_dims_);
    if (r < 1 || q < 1) return ctx.Error("data and indices must have rank >= 1");
    if (r > kMaxRank) return ctx.Error("rank too large");
    if (b >= std::min(r, q)) return ctx.Error("batch_dims " + std::to_string(b) + " must be less than both ranks");
    for (int d = 0; d < b; ++d)
      if (x->dim(d) != ind->dim(d))
        return ctx.Error("batch dim " + std::to_string(d) + " differs: data " + x->shape().ToString() + ", indices " +
                         ind->shape().ToString());
    const int64_t last = ind->dim(q - 1);
    if (last < 0 || last > r - b)
      return ctx.Error("indices last dim " + std::to_string(last) + " exceeds data rank " + std::to_string(r) +
                       " minus batch_dims " + std::to_string(b));
    Shape out;
    for (int d = 0; d < q - 1; ++d) out.PushBack(ind->dim(d));
    for (int d = b + static_cast<int>(last); d < r; ++d) out.PushBack(x->dim(d));
    Tensor* y = ctx.Output(0, x->dtype(), out);
    int64_t xs[kMaxRank];
    RowMajorStrides(x->shape(), xs);
    int64_t slice = 1, batch = 1, per_batch = 1;
    for (int d = b + static_cast<int>(last); d < r; ++d) slice *= x->dim(d);
    for (int d = 0; d < b; ++d) batch *= x->dim(d);
    for (int d = b; d < q - 1; ++d) per_batch *= ind->dim(d);
    const int64_t batch_stride = b > 0 ? xs[b - 1] : 0;
    const int64_t tuples = batch * per_batch;
    const int64_t* iv = ind->data<int64_t>();
    // Validate first.
    for (int64_t t = 0; t < tuples; ++t)
      for (int64_t k = 0; k < last; ++k) {
        const int64_t dd = x->dim(b + static_cast<int>(k));
        const int64_t v = iv[t * last + k];
        if (v < -dd || v >= dd)
          return ctx.Error("index " + std::to_string(v) + " is out of range for data dim " + std::to_string(b + k) +
                           " of size " + std::to_string(dd));
      }
    DispatchMove(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = x->data<T>();
      T* dst = y->data<T>();
      for (int64_t t = 0; t < tuples; ++t) {
        int64_t off = (t / per_batch) * batch_stride;
        for (int64_t k = 0; k < last; ++k) {
          const int64_t dd = x->dim(b + static_cast<int>(k));
          int64_t v = iv[t * last + k];
          if (v < 0) v += dd;
          off += v * xs[b + k];
        }
        CopyRun(src + off, dst + t * slice, slice);
      }
    });
    return Status::Ok();
  }

 private:
  int64_t batch_dims_ = 0;
};

// ---------------------------------------------------------------------------------------------
// ScatterElements / Scatter / ScatterND

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

StatusOr<Reduction> ParseReduction(const NodeInfo& n) {
  std::string s = n.GetString("reduction", "none");
  if (s == "none") return Reduction::kNone;
  if (s == "add") return Reduction::kAdd;
  if (s == "mul") return Reduction::kMul;
  if (s == "max") return Reduction::kMax;
  if (s == "min") return Reduction::kMin;
  return n.Error("unknown reduction '" + s + "'");
}

template <typename T>
inline void Reduce(Reduction red, T& dst, const T& v) {
  if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool>) {
    if (red == Reduction::kNone) dst = v;
    else if constexpr (std::is_same_v<T, bool>) {
      if (red == Reduction::kAdd || red == Reduction::kMax) dst = dst || v;
      else dst = dst && v;
    } else {
      if (red == Reduction::kMax) dst = std::max(dst, v);
      else if (red == Reduction::kMin) dst = std::min(dst, v);
      else dst = v;
    }
  } else {
    using C = ComputeType<T>;
    const C a = static_cast<C>(dst), b = static_cast<C>(v);
    switch (red) {
      case Reduction::kNone: dst = v; return;
      case Reduction::kAdd: dst = static_cast<T>(a + b); return;
      case Reduction::kMul: dst = static_cast<T>(a * b); return;
      case Reduction::kMax: dst = static_cast<T>(a < b ? b : a); return;
      case Reduction::kMin: dst = static_cast<T>(b < a ? b : a); return;
    }
  }
}

class ScatterElementsKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    axis_ = n.GetInt("axis", 0);
    ASSIGN_OR_RETURN(red_, ParseReduction(n));
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "data");
    REQUIRE_INPUT(ind, 1, "indices");
    REQUIRE_INPUT(upd, 2, "updates");
    RETURN_IF_ERROR(CheckIndexType(ctx, *ind, "indices"));
    const int r = x->rank();
    if (r == 0 || r > kMaxRank) return ctx.Error("data rank must be in 1..32");
    if (upd->dtype() != x->dtype()) return ctx.Error("updates dtype differs from data dtype");
    if (ind->shape() != upd->shape())
      return ctx.Error("indices shape " + ind->shape().ToString() + " differs from updates shape " + upd->shape().ToString());
    if (ind->rank() != r)
      return ctx.Error("indices shape " + ind->shape().ToString() + " must have the rank of data " + x->shape().ToString());
    int64_t a = axis_ < 0 ? axis_ + r : axis_;
    if (a < 0 || a >= r) return ctx.Error("axis " + std::to_string(axis_) + " is out of range for rank " + std::to_string(r));
    for (int d = 0; d < r; ++d)
      if (d != a && ind->dim(d) > x->dim(d))
        return ctx.Error("indices shape " + ind->shape().ToString() + " exceeds data shape " + x->shape().ToString() +
                         " at dim " + std::to_string(d));
    const int64_t N = x->dim(static_cast<int>(a));
    const int64_t total = ind->num_elements();
    for (int64_t i = 0; i < total; ++i) {
      int64_t v = IndexAt(*ind, i);
      if (v < -N || v >= N)
        return ctx.Error("indices[" + std::to_string(i) + "] = " + std::to_string(v) + " is out of range for axis " +
                         std::to_string(a) + " of size " + std::to_string(N));
    }
    if (red_ != Reduction::kNone && (x->dtype() == DataType::kString || x->dtype() == DataType::kBool))
      return ctx.Error(std::string("reductions are not defined for ") + DataTypeName(x->dtype()) + " data");
    Tensor* y = ctx.Output(0, x->dtype(), x->shape());
    int64_t xs[kMaxRank];
    RowMajorStrides(x->shape(), xs);
    bool ok = DispatchAny(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      ParallelCopyRun(x->data<T>(), y->data<T>(), x->num_elements(), ctx.pool());
      if (total == 0) return;
      const T* u = upd->data<T>();
      T* dst = y->data<T>();
      int64_t idx[kMaxRank] = {};
      int64_t base = 0;
      for (int64_t i = 0; i < total; ++i) {
        int64_t v = IndexAt(*ind, i);
        if (v < 0) v += N;
        Reduce(red_, dst[base + v * xs[a]], u[i]);
        for (int d = r - 1; d >= 0; --d) {
          if (d != a) base += xs[d];
          if (++idx[d] < ind->dim(d)) break;
          if (d != a) base -= idx[d] * xs[d];
          idx[d] = 0;
        }
      }
    });
    if (!ok) return ctx.Error(std::string("unsupported element type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  int64_t axis_ = 0;
  Reduction red_ = Reduction::kNone;
};

class ScatterNDKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    ASSIGN_OR_RETURN(red_, ParseReduction(n));
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "data");
    REQUIRE_INPUT(ind, 1, "indices");
    REQUIRE_INPUT(upd, 2, "updates");
    if (ind->dtype() != DataType::kInt64) return ctx.Error("indices must be int64");
    if (upd->dtype() != x->dtype()) return ctx.Error("updates dtype differs from data dtype");
    const int r = x->rank(), q = ind->rank();
    if (r < 1 || q < 1 || r > kMaxRank) return ctx.Error("data and indices must have rank >= 1");
    const int64_t k = ind->dim(q - 1);
    if (k > r) return ctx.Error("indices last dim " + std::to_string(k) + " exceeds data rank " + std::to_string(r));
    // updates shape = indices.shape[:-1] + data.shape[k:]
    Shape want;
    for (int d = 0; d < q - 1; ++d) want.PushBack(ind->dim(d));
    for (int d = static_cast<int>(k); d < r; ++d) want.PushBack(x->dim(d));
    if (upd->shape() != want)
      return ctx.Error("updates shape " + upd->shape().ToString() + " should be " + want.ToString());
    int64_t xs[kMaxRank];
    RowMajorStrides(x->shape(), xs);
    int64_t slice = 1;
    for (int d = static_cast<int>(k); d < r; ++d) slice *= x->dim(d);
    const int64_t tuples = k > 0 ? ind->num_elements() / k : ind->num_elements();
    const int64_t* iv = ind->data<int64_t>();
    for (int64_t t = 0; t < tuples && k > 0; ++t)
      for (int64_t j = 0; j < k; ++j) {
        const int64_t dd = x->dim(static_cast<int>(j)), v = iv[t * k + j];
        if (v < -dd || v >= dd)
          return ctx.Error("index " + std::to_string(v) + " is out of range for data dim " + std::to_string(j) +
                           " of size " + std::to_string(dd));
      }
    if (red_ != Reduction::kNone && (x->dtype() == DataType::kString || x->dtype() == DataType::kBool))
      return ctx.Error(std::string("reductions are not defined for ") + DataTypeName(x->dtype()) + " data");
    Tensor* y = ctx.Output(0, x->dtype(), x->shape());
    bool ok = DispatchAny(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      ParallelCopyRun(x->data<T>(), y->data<T>(), x->num_elements(), ctx.pool());
      const T* u = upd->data<T>();
      T* dst = y->data<T>();
      for (int64_t t = 0; t < tuples; ++t) {
        int64_t off = 0;
        for (int64_t j = 0; j < k; ++j) {
          int64_t v = iv[t * k + j];
          if (v < 0) v += x->dim(static_cast<int>(j));
          off += v * xs[j];
        }
        T* d = dst + off;
        const T* s = u + t * slice;
        if (red_ == Reduction::kNone) CopyRun(s, d, slice);
        else
          for (int64_t i = 0; i < slice; ++i) Reduce(red_, d[i], s[i]);
      }
    });
    if (!ok) return ctx.Error(std::string("unsupported element type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  Reduction red_ = Reduction::kNone;
};

// ---------------------------------------------------------------------------------------------
// Expand, Tile

class ExpandKernel : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "input");
    REQUIRE_INPUT(s, 1, "shape");
    RETURN_IF_ERROR(CheckMovable(ctx, *x, "input"));
    Shape want;
    RETURN_IF_ERROR(ReadIntList(ctx, *s, &want, "shape"));
    auto out_or = BroadcastShapes(x->shape(), want);
    if (!out_or.ok()) return ctx.Error("cannot expand: " + out_or.status().message());
    const Shape& out = *out_or;
    const int r = out.rank();
    if (r > kMaxRank) return ctx.Error("rank too large");
    if (out.NumElements() == x->num_elements()) {
      ctx.SetOutputAlias(0, 0, out);
      return Status::Ok();
    }
    int64_t dims[kMaxRank], strides[kMaxRank];
    int64_t st = 1;
    for (int i = r - 1; i >= 0; --i) {
      const int j = i - (r - x->rank());
      const int64_t d = j >= 0 ? x->dim(j) : 1;
      dims[i] = out[i];
      strides[i] = d == 1 ? 0 : st;
      st *= d;
    }
    Tensor* y = ctx.Output(0, x->dtype(), out);
    return StridedCopy(ctx, x->dtype(), x->raw_data(), dims, strides, r, y->raw_data(), ctx.pool());
  }
};

class TileKernel : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "input");
    REQUIRE_INPUT(rt, 1, "repeats");
    RETURN_IF_ERROR(CheckMovable(ctx, *x, "input"));
    Shape reps;
    RETURN_IF_ERROR(ReadIntList(ctx, *rt, &reps, "repeats"));
    const int r = x->rank();
    if (r > kMaxRank) return ctx.Error("rank too large");
    if (reps.rank() != r)
      return ctx.Error("repeats has " + std::to_string(reps.rank()) + " entries for input rank " + std::to_string(r));
    Shape out;
    out.Resize(r);
    for (int i = 0; i < r; ++i) {
      if (reps[i] < 0) return ctx.Error("repeats " + reps.ToString() + " has a negative entry");
      out[i] = x->dim(i) * reps[i];
    }
    Tensor* y = ctx.Output(0, x->dtype(), out);
    if (out.NumElements() == 0) return Status::Ok();
    if (r == 0) {
      CopyAny(x->dtype(), x->raw_data(), y->raw_data(), 1, ctx.pool());
      return Status::Ok();
    }
    int64_t os[kMaxRank];
    RowMajorStrides(out, os);
    DispatchMove(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = x->data<T>();
      T* dst = y->data<T>();
      // 1) Place the input at tile position 0 of every dim.
      const int64_t inner = x->dim(r - 1);
      const int64_t rows = x->num_elements() / inner;
      int64_t idx[kMaxRank] = {};
      for (int64_t row = 0; row < rows; ++row) {
        int64_t off = 0;
        for (int d = 0; d < r - 1; ++d) off += idx[d] * os[d];
        CopyRun(src + row * inner, dst + off, inner);
        for (int d = r - 2; d >= 0; --d) {
          if (++idx[d] < x->dim(d)) break;
          idx[d] = 0;
        }
      }
      // 2) From the innermost dim out: replicate the filled block along dim k. A prefix (dims < k)
      //    ranges over input extents only; its block of dim k spans x.dim(k) * os[k] elements.
      for (int k = r - 1; k >= 0; --k) {
        if (reps[k] == 1) continue;
        const int64_t block = x->dim(k) * os[k];
        int64_t pidx[kMaxRank] = {};
        int64_t prefixes = 1;
        for (int d = 0; d < k; ++d) prefixes *= x->dim(d);
        for (int64_t p = 0; p < prefixes; ++p) {
          int64_t off = 0;
          for (int d = 0; d < k; ++d) off += pidx[d] * os[d];
          T* b = dst + off;
          for (int64_t t = 1; t < reps[k]; ++t) CopyRun(b, b + t * block, block);
          for (int d = k - 1; d >= 0; --d) {
            if (++pidx[d] < x->dim(d)) break;
            pidx[d] = 0;
          }
        }
      }
    });
    return Status::Ok();
  }
};

// ---------------------------------------------------------------------------------------------
// Pad

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

class PadKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    const std::string mode = n.GetString("mode", "constant");
    if (mode == "constant") mode_ = PadMode::kConstant;
    else if (mode == "reflect") mode_ = PadMode::kReflect;
    else if (mode == "edge") mode_ = PadMode::kEdge;
    else if (mode == "wrap" && n.opset() >= 19) mode_ = PadMode::kWrap;
    else return n.Error("unsupported mode '" + mode + "'");
    if (n.opset() < 11) {
      use_attr_ = true;
      const char* name = n.opset() < 2 ? "paddings" : "pads";
      if (!n.has_attr(name)) return n.Error(std::string("attribute '") + name + "' is required");
      attr_pads_ = n.GetInts(name);
      value_ = n.GetFloat("value", 0.0f);
    } else if (!n.has_input(1)) {
      return n.Error("input 1 (pads) is required");
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "data");
    RETURN_IF_ERROR(CheckMovable(ctx, *x, "data"));
    const int r = x->rank();
    if (r > kMaxRank) return ctx.Error("rank too large");
    int64_t raw[2 * kMaxRank];
    int nraw = 0;
    Shape axes;
    bool has_axes = false;
    const Tensor* cv = nullptr;
    if (use_attr_) {
      if (attr_pads_.size() > 2 * kMaxRank) return ctx.Error("too many pads");
      nraw = static_cast<int>(attr_pads_.size());
      std::copy(attr_pads_.begin(), attr_pads_.end(), raw);
    } else {
      REQUIRE_INPUT(p, 1, "pads");
      RETURN_IF_ERROR(CheckIndexType(ctx, *p, "pads"));
      if (p->rank() > 1 || p->num_elements() > 2 * kMaxRank) return ctx.Error("pads must be 1-D with at most 64 entries");
      nraw = static_cast<int>(p->num_elements());
      for (int i = 0; i < nraw; ++i) raw[i] = IndexAt(*p, i);
      cv = ctx.input(2);
      if (cv != nullptr) {
        if (cv->dtype() != x->dtype()) return ctx.Error("constant_value dtype differs from data dtype");
        if (cv->num_elements() < 1) cv = nullptr;
      }
      if (const Tensor* at = ctx.input(3)) {
        RETURN_IF_ERROR(ReadIntList(ctx, *at, &axes, "axes"));
        has_axes = true;
      }
    }
    int64_t pb[kMaxRank] = {}, pe[kMaxRank] = {};
    const int na = has_axes ? axes.rank() : r;
    if (nraw != 2 * na)
      return ctx.Error("pads has " + std::to_string(nraw) + " entries, expected " + std::to_string(2 * na));
    for (int i = 0; i < na; ++i) {
      int64_t ax = has_axes ? axes[i] : i;
      if (ax < 0) ax += r;
      if (ax < 0 || ax >= r) return ctx.Error("axes entry " + std::to_string(axes[i]) + " is out of range");
      pb[ax] = raw[i];
      pe[ax] = raw[na + i];
    }
    Shape out;
    out.Resize(r);
    for (int i = 0; i < r; ++i) {
      out[i] = x->dim(i) + pb[i] + pe[i];
      if (out[i] < 0) return ctx.Error("pads " + DimsString(raw, nraw) + " make dim " + std::to_string(i) + " negative");
      if (mode_ != PadMode::kConstant && x->dim(i) == 0 && out[i] > 0)
        return ctx.Error("cannot pad an empty dim in a non-constant mode");
    }
    Tensor* y = ctx.Output(0, x->dtype(), out);
    const int64_t total = out.NumElements();
    if (total == 0) return Status::Ok();
    // Per-dim maps: output index -> input index, -1 for the constant.
    int64_t sum = 0;
    for (int i = 0; i < r; ++i) sum += out[i];
    int64_t* maps = static_cast<int64_t*>(ctx.Scratch(static_cast<size_t>(std::max<int64_t>(sum, 1)) * sizeof(int64_t)));
    int64_t* map[kMaxRank];
    int64_t* m = maps;
    for (int i = 0; i < r; ++i) {
      map[i] = m;
      const int64_t d = x->dim(i);
      for (int64_t o = 0; o < out[i]; ++o) {
        int64_t j = o - pb[i];
        if (j < 0 || j >= d) {
          switch (mode_) {
            case PadMode::kConstant: j = -1; break;
            case PadMode::kEdge: j = j < 0 ? 0 : d - 1; break;
            case PadMode::kWrap: j = ((j % d) + d) % d; break;
            case PadMode::kReflect: {
              if (d == 1) {
                j = 0;
              } else {
                const int64_t p = 2 * (d - 1);
                j = ((j % p) + p) % p;
                if (j >= d) j = p - j;
              }
              break;
            }
          }
        }
        m[o] = j;
      }
      m += out[i];
    }
    int64_t xs[kMaxRank];
    RowMajorStrides(x->shape(), xs);
    auto pad = [&](auto tag) {
      using T = typename decltype(tag)::type;
      T c{};
      if (cv != nullptr) {
        c = cv->data<T>()[0];
      } else if (use_attr_) {
        if constexpr (!std::is_same_v<T, std::string>) c = static_cast<T>(static_cast<ComputeType<T>>(value_));
      }
      const T* src = x->data<T>();
      T* dst = y->data<T>();
      if (r == 0) {
        dst[0] = src[0];
        return;
      }
      const int64_t inner = out[r - 1];
      const int64_t rows = total / inner;
      const int64_t* lm = map[r - 1];
      // Contiguous middle of the last dim (pure copy range) for the constant mode.
      const int64_t lo = std::max<int64_t>(0, pb[r - 1]);
      const int64_t hi = std::min<int64_t>(inner, pb[r - 1] + x->dim(r - 1));
      ctx.pool().ParallelFor(rows, std::max<int64_t>(1, kCopyGrain / inner), [&](int64_t b, int64_t e) {
        for (int64_t row = b; row < e; ++row) {
          int64_t rem = row, off = 0;
          bool constant_row = false;
          for (int d = r - 2; d >= 0; --d) {
            const int64_t o = rem % out[d];
            rem /= out[d];
            const int64_t j = map[d][o];
            if (j < 0) constant_row = true;
            else off += j * xs[d];
          }
          T* drow = dst + row * inner;
          if (constant_row) {
            for (int64_t i = 0; i < inner; ++i) drow[i] = c;
            continue;
          }
          const T* srow = src + off;
          if (mode_ == PadMode::kConstant) {
            for (int64_t i = 0; i < lo; ++i) drow[i] = c;
            if (hi > lo) CopyRun(srow + (lo - pb[r - 1]), drow + lo, hi - lo);
            for (int64_t i = std::max(lo, hi); i < inner; ++i) drow[i] = c;
          } else {
            for (int64_t i = 0; i < inner; ++i) drow[i] = srow[lm[i]];
          }
        }
      });
    };
    // Narrow types (int4, float8, ...) are one byte per element; byte 0 is their zero.
    const bool narrow = IsNarrowInt(x->dtype()) || IsNarrowFloat(x->dtype());
    bool ok = narrow ? (pad(TypeTag<uint8_t>{}), true) : DispatchAny(x->dtype(), pad);
    if (!ok) return ctx.Error(std::string("unsupported element type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  PadMode mode_ = PadMode::kConstant;
  bool use_attr_ = false;
  std::vector<int64_t> attr_pads_;
  float value_ = 0.0f;
};

// ---------------------------------------------------------------------------------------------
// Shape, Size

class ShapeKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (n.opset() >= 15) {
      has_start_ = n.has_attr("start");
      has_end_ = n.has_attr("end");
      start_ = n.GetInt("start", 0);
      end_ = n.GetInt("end", 0);
    }
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "data");
    const int64_t r = x->rank();
    int64_t s = has_start_ ? start_ : 0, e = has_end_ ? end_ : r;
    if (s < 0) s += r;
    if (e < 0) e += r;
    s = std::clamp<int64_t>(s, 0, r);
    e = std::clamp<int64_t>(e, 0, r);
    const int64_t n = std::max<int64_t>(0, e - s);
    Tensor* y = ctx.Output(0, DataType::kInt64, Shape{n});
    for (int64_t i = 0; i < n; ++i) y->data<int64_t>()[i] = x->dim(static_cast<int>(s + i));
    return Status::Ok();
  }

 private:
  bool has_start_ = false, has_end_ = false;
  int64_t start_ = 0, end_ = 0;
};

class SizeKernel : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "data");
    Tensor* y = ctx.Output(0, DataType::kInt64, Shape{});
    y->data<int64_t>()[0] = x->num_elements();
    return Status::Ok();
  }
};

// ---------------------------------------------------------------------------------------------
// DepthToSpace, SpaceToDepth

class DepthToSpaceKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    ASSIGN_OR_RETURN(block_, n.RequireInt("blocksize"));
    if (block_ < 1) return n.Error("blocksize must be positive");
    const std::string mode = n.GetString("mode", "DCR");
    if (mode == "DCR") crd_ = false;
    else if (mode == "CRD") crd_ = true;
    else return n.Error("unknown mode '" + mode + "'");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "input");
    RETURN_IF_ERROR(CheckMovable(ctx, *x, "input"));
    if (x->rank() != 4) return ctx.Error("input must be 4-D (N,C,H,W), got " + x->shape().ToString());
    const int64_t N = x->dim(0), C = x->dim(1), H = x->dim(2), W = x->dim(3), b = block_;
    if (C % (b * b) != 0)
      return ctx.Error("channels " + std::to_string(C) + " are not divisible by blocksize^2 = " + std::to_string(b * b));
    const int64_t c = C / (b * b);
    // View the input as 6-D, permute to [N, c, H, b, W, b].
    int64_t v[6], vs[6], perm[6];
    if (crd_) {
      const int64_t vv[6] = {N, c, b, b, H, W};
      const int64_t pp[6] = {0, 1, 4, 2, 5, 3};
      std::copy(vv, vv + 6, v);
      std::copy(pp, pp + 6, perm);
    } else {
      const int64_t vv[6] = {N, b, b, c, H, W};
      const int64_t pp[6] = {0, 3, 4, 1, 5, 2};
      std::copy(vv, vv + 6, v);
      std::copy(pp, pp + 6, perm);
    }
    int64_t st = 1;
    for (int i = 5; i >= 0; --i) {
      vs[i] = st;
      st *= v[i];
    }
    int64_t dims[6], strides[6];
    for (int i = 0; i < 6; ++i) {
      dims[i] = v[perm[i]];
      strides[i] = vs[perm[i]];
    }
    Tensor* y = ctx.Output(0, x->dtype(), Shape{N, c, H * b, W * b});
    return StridedCopy(ctx, x->dtype(), x->raw_data(), dims, strides, 6, y->raw_data(), ctx.pool());
  }

 private:
  int64_t block_ = 1;
  bool crd_ = false;
};

class SpaceToDepthKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    ASSIGN_OR_RETURN(block_, n.RequireInt("blocksize"));
    if (block_ < 1) return n.Error("blocksize must be positive");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "input");
    RETURN_IF_ERROR(CheckMovable(ctx, *x, "input"));
    if (x->rank() != 4) return ctx.Error("input must be 4-D (N,C,H,W), got " + x->shape().ToString());
    const int64_t N = x->dim(0), C = x->dim(1), H = x->dim(2), W = x->dim(3), b = block_;
    if (H % b != 0 || W % b != 0)
      return ctx.Error("H and W of " + x->shape().ToString() + " must be divisible by blocksize " + std::to_string(b));
    const int64_t v[6] = {N, C, H / b, b, W / b, b};
    const int64_t perm[6] = {0, 3, 5, 1, 2, 4};
    int64_t vs[6], st = 1;
    for (int i = 5; i >= 0; --i) {
      vs[i] = st;
      st *= v[i];
    }
    int64_t dims[6], strides[6];
    for (int i = 0; i < 6; ++i) {
      dims[i] = v[perm[i]];
      strides[i] = vs[perm[i]];
    }
    Tensor* y = ctx.Output(0, x->dtype(), Shape{N, C * b * b, H / b, W / b});
    return StridedCopy(ctx, x->dtype(), x->raw_data(), dims, strides, 6, y->raw_data(), ctx.pool());
  }

 private:
  int64_t block_ = 1;
};

// ---------------------------------------------------------------------------------------------
// Compress, Trilu, ReverseSequence

class CompressKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    has_axis_ = n.has_attr("axis");
    axis_ = n.GetInt("axis", 0);
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "input");
    REQUIRE_INPUT(cond, 1, "condition");
    RETURN_IF_ERROR(CheckMovable(ctx, *x, "input"));
    if (cond->dtype() != DataType::kBool) return ctx.Error("condition must be bool");
    if (cond->rank() != 1) return ctx.Error("condition must be 1-D, got " + cond->shape().ToString());
    const bool* c = cond->data<bool>();
    const int64_t nc = cond->num_elements();
    int64_t outer = 1, dim, inner = 1;
    int64_t a = 0;
    if (has_axis_) {
      const int r = x->rank();
      a = axis_ < 0 ? axis_ + r : axis_;
      if (a < 0 || a >= r) return ctx.Error("axis " + std::to_string(axis_) + " is out of range for rank " + std::to_string(r));
      for (int d = 0; d < a; ++d) outer *= x->dim(d);
      for (int d = static_cast<int>(a) + 1; d < r; ++d) inner *= x->dim(d);
      dim = x->dim(static_cast<int>(a));
    } else {
      dim = x->num_elements();
    }
    int64_t count = 0;
    for (int64_t i = 0; i < nc; ++i) {
      if (!c[i]) continue;
      if (i >= dim)
        return ctx.Error("condition selects index " + std::to_string(i) + " beyond the axis size " + std::to_string(dim));
      ++count;
    }
    Shape out;
    if (has_axis_) {
      out = x->shape();
      out[a] = count;
    } else {
      out = Shape{count};
    }
    Tensor* y = ctx.Output(0, x->dtype(), out);
    DispatchMove(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = x->data<T>();
      T* dst = y->data<T>();
      const int64_t lim = std::min(nc, dim);
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < lim; ++i)
          if (c[i]) {
            CopyRun(src + (o * dim + i) * inner, dst, inner);
            dst += inner;
          }
    });
    return Status::Ok();
  }

 private:
  bool has_axis_ = false;
  int64_t axis_ = 0;
};

class TriluKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    upper_ = n.GetInt("upper", 1) != 0;
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "input");
    if (x->rank() < 2) return ctx.Error("input must have rank >= 2, got " + x->shape().ToString());
    int64_t k = 0;
    if (const Tensor* kt = ctx.input(1)) {
      if (kt->num_elements() != 1) return ctx.Error("k must be a scalar");
      RETURN_IF_ERROR(CheckIndexType(ctx, *kt, "k"));
      k = IndexAt(*kt, 0);
    }
    const int r = x->rank();
    const int64_t R = x->dim(r - 2), C = x->dim(r - 1);
    const int64_t mats = R * C == 0 ? 0 : x->num_elements() / (R * C);
    Tensor* y = ctx.Output(0, x->dtype(), x->shape());
    bool ok = DispatchAny(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = x->data<T>();
      T* dst = y->data<T>();
      const T zero{};
      for (int64_t m = 0; m < mats; ++m)
        for (int64_t i = 0; i < R; ++i) {
          const T* s = src + (m * R + i) * C;
          T* d = dst + (m * R + i) * C;
          for (int64_t j = 0; j < C; ++j) {
            const bool keep = upper_ ? (j - i >= k) : (j - i <= k);
            d[j] = keep ? s[j] : zero;
          }
        }
    });
    if (!ok) return ctx.Error(std::string("unsupported element type ") + DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  bool upper_ = true;
};

class ReverseSequenceKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    batch_axis_ = n.GetInt("batch_axis", 1);
    time_axis_ = n.GetInt("time_axis", 0);
    if (!((batch_axis_ == 0 && time_axis_ == 1) || (batch_axis_ == 1 && time_axis_ == 0)))
      return n.Error("batch_axis and time_axis must be 0 and 1 in some order");
    return Status::Ok();
  }
  Status Compute(KernelContext& ctx) const override {
    REQUIRE_INPUT(x, 0, "input");
    REQUIRE_INPUT(lens, 1, "sequence_lens");
    RETURN_IF_ERROR(CheckMovable(ctx, *x, "input"));
    RETURN_IF_ERROR(CheckIndexType(ctx, *lens, "sequence_lens"));
    if (x->rank() < 2) return ctx.Error("input must have rank >= 2");
    const int64_t B = x->dim(static_cast<int>(batch_axis_)), Tn = x->dim(static_cast<int>(time_axis_));
    if (lens->num_elements() != B)
      return ctx.Error("sequence_lens has " + std::to_string(lens->num_elements()) + " entries for batch size " + std::to_string(B));
    for (int64_t b = 0; b < B; ++b) {
      const int64_t l = IndexAt(*lens, b);
      if (l < 0 || l > Tn) return ctx.Error("sequence_lens[" + std::to_string(b) + "] = " + std::to_string(l) + " is out of range");
    }
    int64_t inner = 1;
    for (int d = 2; d < x->rank(); ++d) inner *= x->dim(d);
    const int64_t bstride = (batch_axis_ == 0 ? Tn : 1) * inner, tstride = (time_axis_ == 0 ? B : 1) * inner;
    Tensor* y = ctx.Output(0, x->dtype(), x->shape());
    DispatchMove(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = x->data<T>();
      T* dst = y->data<T>();
      for (int64_t b = 0; b < B; ++b) {
        const int64_t l = IndexAt(*lens, b);
        for (int64_t t = 0; t < Tn; ++t) {
          const int64_t st = t < l ? l - 1 - t : t;
          CopyRun(src + b * bstride + st * tstride, dst + b * bstride + t * tstride, inner);
        }
      }
    });
    return Status::Ok();
  }

 private:
  int64_t batch_axis_ = 1, time_axis_ = 0;
};

}  // namespace

void RegisterShapeOps(OpRegistry& r) {
  r.Add("", "Reshape", Factory<ReshapeKernel>());
  r.Add("", "Flatten", Factory<FlattenKernel>());
  r.Add("", "Squeeze", Factory<SqueezeKernel>());
  r.Add("", "Unsqueeze", Factory<UnsqueezeKernel>());
  r.Add("", "Identity", Factory<IdentityKernel>());
  r.Add("", "Transpose", Factory<TransposeKernel>());
  r.Add("", "Concat", Factory<ConcatKernel>());
  r.Add("", "Split", Factory<SplitKernel>());
  r.Add("", "Slice", Factory<SliceKernel>());
  r.Add("", "Gather", Factory<GatherKernel>());
  r.Add("", "GatherElements", Factory<GatherElementsKernel>());
  r.Add("", "GatherND", Factory<GatherNDKernel>());
  r.Add("", "ScatterElements", Factory<ScatterElementsKernel>());
  r.Add("", "Scatter", Factory<ScatterElementsKernel>());
  r.Add("", "ScatterND", Factory<ScatterNDKernel>());
  r.Add("", "Expand", Factory<ExpandKernel>());
  r.Add("", "Tile", Factory<TileKernel>());
  r.Add("", "Pad", Factory<PadKernel>());
  r.Add("", "Shape", Factory<ShapeKernel>());
  r.Add("", "Size", Factory<SizeKernel>());
  r.Add("", "DepthToSpace", Factory<DepthToSpaceKernel>());
  r.Add("", "SpaceToDepth", Factory<SpaceToDepthKernel>());
  r.Add("", "Compress", Factory<CompressKernel>());
  r.Add("", "Trilu", Factory<TriluKernel>());
  r.Add("", "ReverseSequence", Factory<ReverseSequenceKernel>());
}

}  // namespace onnxd::engine
