// See runtime/cuda_data_ops.h.
#ifdef ONNXD_WITH_CUDA

#include "runtime/cuda_data_ops.h"

#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

#include "kernels/cuda/activations.h"
#include "kernels/cuda/binary_elementwise.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/data_ops.h"
#include "kernels/cuda/depth_space_math.h"
#include "kernels/cuda/misc_ops.h"
#include "kernels/cuda/quantize.h"
#include "kernels/cuda/tensor_shape.h"
#include "kernels/cuda/unary_elementwise.h"

namespace onnxd::engine {
namespace {

// Must match kFallback in runtime/cuda_session_gpu.cc: RunNode reruns such a node on the CPU.
Status Fallback(const std::string& why) { return Unimplemented("cuda fallback: " + why); }

StatusOr<cuda::ElemType> ElemOf(DataType t) {
  switch (t) {
    case DataType::kFloat: return cuda::ElemType::kFloat;
    case DataType::kFloat16: return cuda::ElemType::kHalf;
    case DataType::kDouble: return cuda::ElemType::kDouble;
    case DataType::kInt64: return cuda::ElemType::kInt64;
    case DataType::kInt32: return cuda::ElemType::kInt32;
    case DataType::kInt8: return cuda::ElemType::kInt8;
    case DataType::kUInt8: return cuda::ElemType::kUInt8;
    case DataType::kBool: return cuda::ElemType::kBool;
    default: return Fallback(std::string("element type ") + DataTypeName(t));
  }
}

int64_t Product(std::span<const int64_t> d, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to; ++i) n *= d[i];
  return n;
}

// Contiguous strides of `dims`.
std::vector<int64_t> Strides(std::span<const int64_t> dims) {
  std::vector<int64_t> s(dims.size());
  int64_t stride = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    s[i] = stride;
    stride *= dims[i];
  }
  return s;
}

StatusOr<std::vector<int64_t>> HostInts(const Tensor* t, const char* what) {
  if (t == nullptr) return InvalidArgument(std::string(what) + " is missing or not on the host");
  std::vector<int64_t> v(static_cast<size_t>(t->num_elements()));
  if (t->dtype() == DataType::kInt64) {
    if (!v.empty()) std::memcpy(v.data(), t->raw_data(), v.size() * sizeof(int64_t));
  } else if (t->dtype() == DataType::kInt32) {
    const auto* p = static_cast<const int32_t*>(t->raw_data());
    for (size_t i = 0; i < v.size(); ++i) v[i] = p[i];
  } else {
    return InvalidArgument(std::string(what) + " must be int64 or int32");
  }
  return v;
}

// A host scalar (Clip's bounds, Range's start / limit / delta) as a double.
StatusOr<double> HostScalar(const Tensor* t, const char* what) {
  if (t == nullptr) return InvalidArgument(std::string(what) + " is not on the host");
  if (t->num_elements() != 1) return InvalidArgument(std::string(what) + " must hold one element");
  switch (t->dtype()) {
    case DataType::kFloat: return static_cast<double>(static_cast<const float*>(t->raw_data())[0]);
    case DataType::kDouble: return static_cast<const double*>(t->raw_data())[0];
    case DataType::kInt64: return static_cast<double>(static_cast<const int64_t*>(t->raw_data())[0]);
    case DataType::kInt32: return static_cast<double>(static_cast<const int32_t*>(t->raw_data())[0]);
    case DataType::kFloat16: return static_cast<double>(static_cast<float>(static_cast<const Float16*>(t->raw_data())[0]));
    default: return Fallback(std::string(what) + " of type " + DataTypeName(t->dtype()));
  }
}

class DataOpRunner {
 public:
  DataOpRunner(const CudaNodeParams& p, std::span<const CudaDataInput> in, int num_outputs, bool fp16,
               const CudaDataOutputFn& output, cudaStream_t s)
      : p_(p), in_(in), num_outputs_(num_outputs), fp16_(fp16), output_(output), s_(s) {}

  Status Run() {
    const std::string& op = p_.op;
    if (op == "Gather") return Gather();
    if (op == "GatherElements") return GatherElements();
    if (op == "GatherND") return GatherND();
    if (op == "Cast" || op == "CastLike") return Cast();  // CastLike's `to`: the planner's, from input 1
    if (op == "Clip") return Clip();
    if (op == "Concat") return Concat();
    if (op == "Split") return Split();
    if (op == "Slice") return Slice();
    if (op == "Expand") return Expand();
    if (op == "Equal" || op == "Less" || op == "Greater" || op == "LessOrEqual" || op == "GreaterOrEqual")
      return Compare();
    if (op == "And" || op == "Or" || op == "Xor") return Logic();
    if (op == "Not") return Not();
    if (op == "Max" || op == "Min" || op == "Sum" || op == "Mean") return Variadic();
    if (op == "Range") return Range();
    if (op == "BatchNormalization") return BatchNorm();
    if (op == "Pad") return Pad();
    if (op == "Tile") return Tile();
    if (IsActivation(op)) return Activation();
    if (op == "PRelu") return PRelu();
    if (op == "ArgMax" || op == "ArgMin") return ArgReduce();
    if (op == "InstanceNormalization" || op == "GroupNormalization")
      return ChannelGroupNorm(op == "InstanceNormalization");
    if (op == "DepthToSpace" || op == "SpaceToDepth") return DepthSpace();
    if (op == "Trilu") return Trilu();
    if (op == "CumSum") return CumSum();
    if (op == "TopK") return TopK();
    if (op == "Dropout") return Dropout();
    if (op == "QuantizeLinear" || op == "DequantizeLinear") return QuantizeOrDequantize(op == "QuantizeLinear");
    return Internal("op " + op + " is not a CUDA data op");
  }

 private:
  const Tensor* Dev(int k) const { return k < static_cast<int>(in_.size()) ? in_[k].device : nullptr; }
  const Tensor* Host(int k) const { return k < static_cast<int>(in_.size()) ? in_[k].host : nullptr; }
  bool Present(int k) const { return k < static_cast<int>(in_.size()) && (in_[k].device || in_[k].host); }

  StatusOr<const Tensor*> NeedDev(int k) const {
    const Tensor* t = Dev(k);
    if (t == nullptr) return InvalidArgument("input " + std::to_string(k) + " is missing or not on the device");
    return t;
  }

  static Status RankOk(const Tensor& t) {
    if (t.rank() > cuda::kMaxRank) return Fallback("rank above 6");
    return Status::Ok();
  }

  StatusOr<int64_t> Axis(int64_t axis, int rank) const {
    const int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) return InvalidArgument("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
    return a;
  }

  static const int64_t* Idx64(const Tensor& t) {
    return t.dtype() == DataType::kInt64 ? static_cast<const int64_t*>(t.raw_data()) : nullptr;
  }
  static const int32_t* Idx32(const Tensor& t) {
    return t.dtype() == DataType::kInt32 ? static_cast<const int32_t*>(t.raw_data()) : nullptr;
  }
  static Status IndexType(const Tensor& t) {
    if (t.dtype() != DataType::kInt64 && t.dtype() != DataType::kInt32)
      return InvalidArgument("indices must be int64 or int32");
    return Status::Ok();
  }

  Status Gather() {
    const Tensor* data = nullptr;
    const Tensor* idx = nullptr;
    ASSIGN_OR_RETURN(data, NeedDev(0));
    ASSIGN_OR_RETURN(idx, NeedDev(1));
    RETURN_IF_ERROR(IndexType(*idx));
    const int r = data->rank();
    if (r == 0) return InvalidArgument("Gather from a scalar");
    int64_t axis = 0;
    ASSIGN_OR_RETURN(axis, Axis(p_.axis, r));
    const auto dd = data->shape().dims();
    Shape out;
    for (int64_t d = 0; d < axis; ++d) out.PushBack(dd[d]);
    for (int64_t d : idx->shape().dims()) out.PushBack(d);
    for (int64_t d = axis + 1; d < r; ++d) out.PushBack(dd[d]);
    const int64_t axis_dim = dd[axis];
    if (axis_dim == 0 && idx->num_elements() > 0) return InvalidArgument("Gather along an empty axis");
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, data->dtype(), out));
    if (y == nullptr) return Status::Ok();
    return cuda::GatherAxis(data->raw_data(), Product(dd, 0, axis), axis_dim, Product(dd, axis + 1, r), Idx64(*idx),
                            Idx32(*idx), idx->num_elements(), y->raw_data(), static_cast<int>(ElementSize(data->dtype())),
                            s_);
  }

  Status GatherElements() {
    const Tensor* data = nullptr;
    const Tensor* idx = nullptr;
    ASSIGN_OR_RETURN(data, NeedDev(0));
    ASSIGN_OR_RETURN(idx, NeedDev(1));
    RETURN_IF_ERROR(IndexType(*idx));
    RETURN_IF_ERROR(RankOk(*data));
    const int r = data->rank();
    if (idx->rank() != r || r == 0) return InvalidArgument("data and indices must have the same rank >= 1");
    int64_t axis = 0;
    ASSIGN_OR_RETURN(axis, Axis(p_.axis, r));
    if (data->dim(static_cast<int>(axis)) == 0 && idx->num_elements() > 0)
      return InvalidArgument("GatherElements along an empty axis");
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, data->dtype(), idx->shape()));
    if (y == nullptr) return Status::Ok();
    return cuda::GatherElements(data->raw_data(), data->shape().dims(), Idx64(*idx), Idx32(*idx), idx->shape().dims(),
                                static_cast<int>(axis), y->raw_data(), static_cast<int>(ElementSize(data->dtype())), s_);
  }

  Status GatherND() {
    const Tensor* data = nullptr;
    const Tensor* idx = nullptr;
    ASSIGN_OR_RETURN(data, NeedDev(0));
    ASSIGN_OR_RETURN(idx, NeedDev(1));
    RETURN_IF_ERROR(IndexType(*idx));
    const int r = data->rank(), q = idx->rank();
    const int64_t b = p_.batch_dims;
    if (q < 1 || r < 1 || b < 0 || b >= q || b >= r) return InvalidArgument("GatherND: bad ranks or batch_dims");
    const int64_t k = idx->dim(q - 1);
    if (k < 1 || b + k > r) return InvalidArgument("GatherND: the indices' last dim does not fit the data's rank");
    if (k > cuda::kMaxRank) return Fallback("GatherND tuples longer than 6");
    for (int64_t d = 0; d < b; ++d)
      if (idx->dim(static_cast<int>(d)) != data->dim(static_cast<int>(d)))
        return InvalidArgument("GatherND: batch dims of data and indices differ");
    Shape out;
    for (int d = 0; d < q - 1; ++d) out.PushBack(idx->dim(d));
    for (int64_t d = b + k; d < r; ++d) out.PushBack(data->dim(static_cast<int>(d)));
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, data->dtype(), out));
    if (y == nullptr) return Status::Ok();
    return cuda::GatherND(data->raw_data(), data->shape().dims(), Idx64(*idx), Idx32(*idx), idx->shape().dims(),
                          static_cast<int>(b), y->raw_data(), static_cast<int>(ElementSize(data->dtype())), s_);
  }

  Status Cast() {
    const Tensor* x = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    DataType to = static_cast<DataType>(p_.to);
    const bool halved = in_[0].halved;
    // fp16 mode: a halved float read as fp16; to float it stays fp16 (the session's float). A Cast
    // to float16 from a halved float would look halved too and come back as float: the CPU does it.
    if (halved && to == DataType::kFloat16) return Fallback("Cast to float16 of a value held as fp16");
    // Any Cast to float yields the session's float: fp16 in fp16 mode (RunNode marks it halved).
    if (fp16_ && to == DataType::kFloat) to = DataType::kFloat16;
    cuda::ElemType from{}, dst{};
    ASSIGN_OR_RETURN(from, ElemOf(x->dtype()));
    ASSIGN_OR_RETURN(dst, ElemOf(to));
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, to, x->shape()));
    if (y == nullptr) return Status::Ok();
    return cuda::Cast(x->raw_data(), from, y->raw_data(), dst, x->num_elements(), s_);
  }

  // QuantizeLinear / DequantizeLinear's scale and zero point, per tensor, from the host (a per-axis
  // scale falls back to the CPU op).
  struct QuantParams {
    float scale = 1.f;
    int32_t zero_point = 0;
    DataType zero_type = DataType::kUndefined;  // kUndefined without a zero point
  };
  StatusOr<QuantParams> ReadQuantParams() const {
    QuantParams q;
    if (Host(1) == nullptr) return InvalidArgument("input 1 (scale) is missing or not on the host");
    if (Host(1)->num_elements() != 1) return Fallback("a per-axis scale");
    double s = 0;
    ASSIGN_OR_RETURN(s, HostScalar(Host(1), "the scale"));
    q.scale = static_cast<float>(s);
    if (Present(2)) {
      const Tensor* z = Host(2);
      if (z == nullptr) return InvalidArgument("input 2 (zero point) is not on the host");
      if (z->num_elements() != 1) return Fallback("a per-axis zero point");
      q.zero_type = z->dtype();
      if (z->dtype() == DataType::kUInt8) q.zero_point = static_cast<const uint8_t*>(z->raw_data())[0];
      else if (z->dtype() == DataType::kInt8) q.zero_point = static_cast<const int8_t*>(z->raw_data())[0];
      else return Fallback(std::string("a zero point of ") + DataTypeName(z->dtype()));
    }
    return q;
  }

  // QuantizeLinear: to the zero point's type (uint8 without one). DequantizeLinear: to the scale's
  // type, a float result being the session's float (fp16 in fp16 mode), as Cast's.
  Status QuantizeOrDequantize(bool quantize) {
    const Tensor* x = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    QuantParams q;
    ASSIGN_OR_RETURN(q, ReadQuantParams());
    DataType yt = q.zero_type == DataType::kUndefined ? DataType::kUInt8 : q.zero_type;
    if (!quantize) {
      if (q.zero_type != DataType::kUndefined && q.zero_type != x->dtype())
        return InvalidArgument(std::string("the zero point's type ") + DataTypeName(q.zero_type) + " is not x's " +
                               DataTypeName(x->dtype()));
      yt = Host(1)->dtype();
      if (fp16_ && yt == DataType::kFloat) yt = DataType::kFloat16;
    }
    cuda::ElemType xe{}, ye{};
    ASSIGN_OR_RETURN(xe, ElemOf(x->dtype()));
    ASSIGN_OR_RETURN(ye, ElemOf(yt));
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, yt, x->shape()));
    if (y == nullptr) return Status::Ok();
    const auto run = quantize ? &cuda::QuantizeLinear : &cuda::DequantizeLinear;
    return run(x->raw_data(), xe, y->raw_data(), ye, x->num_elements(), q.scale, q.zero_point, s_);
  }

  Status Clip() {
    const Tensor* x = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    if (x->dtype() != DataType::kFloat && x->dtype() != DataType::kFloat16)
      return Fallback(std::string("Clip of ") + DataTypeName(x->dtype()));
    float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
    if (p_.opset < 11) {
      lo = p_.clip_min;
      hi = p_.clip_max;
    } else {
      for (int k = 1; k <= 2; ++k) {
        if (!Present(k)) continue;
        double v = 0;
        ASSIGN_OR_RETURN(v, HostScalar(Host(k), k == 1 ? "min" : "max"));
        (k == 1 ? lo : hi) = static_cast<float>(v);
      }
    }
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, x->dtype(), x->shape()));
    if (y == nullptr) return Status::Ok();
    if (x->dtype() == DataType::kFloat16)
      return cuda::ClipElementwise(static_cast<const __half*>(x->raw_data()), static_cast<__half*>(y->raw_data()),
                                   x->num_elements(), lo, hi, s_);
    return cuda::ClipElementwise(static_cast<const float*>(x->raw_data()), static_cast<float*>(y->raw_data()),
                                 x->num_elements(), lo, hi, s_);
  }

  Status Concat() {
    std::vector<const Tensor*> xs;
    for (int k = 0; k < static_cast<int>(in_.size()); ++k) {
      if (!Present(k)) continue;
      const Tensor* t = nullptr;
      ASSIGN_OR_RETURN(t, NeedDev(k));
      xs.push_back(t);
    }
    if (xs.empty()) return InvalidArgument("Concat without inputs");
    const Tensor& first = *xs[0];
    const int r = first.rank();
    if (r == 0) return InvalidArgument("Concat of scalars");
    int64_t axis = 0;
    ASSIGN_OR_RETURN(axis, Axis(p_.axis, r));
    std::vector<int64_t> out = first.shape().ToVector();
    out[axis] = 0;
    for (const Tensor* t : xs) {
      if (t->dtype() != first.dtype()) return Fallback("Concat of mixed element types");
      if (t->rank() != r) return InvalidArgument("Concat inputs of different ranks");
      for (int d = 0; d < r; ++d)
        if (d != axis && t->dim(d) != first.dim(d))
          return InvalidArgument("Concat inputs " + first.shape().ToString() + " and " + t->shape().ToString() +
                                 " differ off the axis");
      out[axis] += t->dim(static_cast<int>(axis));
    }
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, first.dtype(), Shape(std::span<const int64_t>(out))));
    if (y == nullptr) return Status::Ok();
    // Each input is a [outer, len * inner] block copied into columns [off * inner, ...) of the
    // output's [outer, total * inner].
    const int64_t outer = Product(out, 0, axis), inner = Product(out, axis + 1, r);
    const int esize = static_cast<int>(ElementSize(first.dtype()));
    int64_t off = 0;
    for (const Tensor* t : xs) {
      const int64_t len = t->dim(static_cast<int>(axis));
      if (t->num_elements() > 0) {
        const int64_t dims[2] = {outer, len * inner};
        const int64_t src[2] = {len * inner, 1};
        const int64_t dst[2] = {out[axis] * inner, 1};
        RETURN_IF_ERROR(cuda::StridedCopy(t->raw_data(), 0, src, y->raw_data(), off * inner, dst, dims, esize, s_));
      }
      off += len;
    }
    return Status::Ok();
  }

  Status Split() {
    const Tensor* x = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    const int r = x->rank();
    if (r == 0) return InvalidArgument("Split of a scalar");
    int64_t axis = 0;
    ASSIGN_OR_RETURN(axis, Axis(p_.axis, r));
    const int64_t dim = x->dim(static_cast<int>(axis));
    const int n = num_outputs_;
    if (n < 1) return InvalidArgument("Split without outputs");
    std::vector<int64_t> sizes;
    if (p_.opset >= 13 && Present(1)) {
      ASSIGN_OR_RETURN(sizes, HostInts(Host(1), "split"));
    } else if (p_.opset < 13 && !p_.split.empty()) {
      sizes = p_.split;
    } else {
      // Equal parts; from opset 18 the last may be smaller (num_outputs need not divide the dim).
      const int64_t chunk = (dim + n - 1) / n;
      sizes.assign(n, chunk);
      sizes.back() = dim - chunk * (n - 1);
      if (sizes.back() < 0) return InvalidArgument("Split: the axis is too short for " + std::to_string(n) + " parts");
      if (p_.opset < 18 && dim % n != 0)
        return InvalidArgument("Split: " + std::to_string(dim) + " does not split into " + std::to_string(n) + " equal parts");
    }
    if (static_cast<int>(sizes.size()) != n) return InvalidArgument("Split: split has the wrong length");
    int64_t total = 0;
    for (int64_t v : sizes) {
      if (v < 0) return InvalidArgument("Split: negative size");
      total += v;
    }
    if (total != dim) return InvalidArgument("Split: the sizes do not add up to the axis");
    const auto xd = x->shape().dims();
    const int64_t outer = Product(xd, 0, axis), inner = Product(xd, axis + 1, r);
    const int esize = static_cast<int>(ElementSize(x->dtype()));
    int64_t off = 0;
    for (int k = 0; k < n; ++k) {
      std::vector<int64_t> shape(xd.begin(), xd.end());
      shape[axis] = sizes[k];
      Tensor* y = nullptr;
      ASSIGN_OR_RETURN(y, output_(k, x->dtype(), Shape(std::span<const int64_t>(shape))));
      if (y != nullptr && y->num_elements() > 0) {
        const int64_t dims[2] = {outer, sizes[k] * inner};
        const int64_t src[2] = {dim * inner, 1};
        const int64_t dst[2] = {sizes[k] * inner, 1};
        RETURN_IF_ERROR(cuda::StridedCopy(x->raw_data(), off * inner, src, y->raw_data(), 0, dst, dims, esize, s_));
      }
      off += sizes[k];
    }
    return Status::Ok();
  }

  Status Slice() {
    const Tensor* x = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    RETURN_IF_ERROR(RankOk(*x));
    const int r = x->rank();
    std::vector<int64_t> starts, ends, axes, steps;
    if (p_.opset < 10) {
      starts = p_.starts;
      ends = p_.ends;
      axes = p_.axes;
    } else {
      ASSIGN_OR_RETURN(starts, HostInts(Host(1), "starts"));
      ASSIGN_OR_RETURN(ends, HostInts(Host(2), "ends"));
      if (Present(3)) {
        ASSIGN_OR_RETURN(axes, HostInts(Host(3), "axes"));
      }
      if (Present(4)) {
        ASSIGN_OR_RETURN(steps, HostInts(Host(4), "steps"));
      }
    }
    const size_t m = starts.size();
    if (ends.size() != m) return InvalidArgument("starts and ends differ in length");
    if (axes.empty())
      for (size_t i = 0; i < m; ++i) axes.push_back(static_cast<int64_t>(i));
    if (steps.empty()) steps.assign(m, 1);
    if (axes.size() != m || steps.size() != m) return InvalidArgument("axes / steps differ in length from starts");
    const auto xd = x->shape().dims();
    const std::vector<int64_t> xs = Strides(xd);
    std::vector<int64_t> begin(r, 0), step(r, 1), len(xd.begin(), xd.end());
    std::vector<uint8_t> seen(r, 0);
    for (size_t i = 0; i < m; ++i) {
      int64_t a = 0;
      ASSIGN_OR_RETURN(a, Axis(axes[i], r));
      if (seen[a]) return InvalidArgument("Slice: repeated axis");
      seen[a] = 1;
      const int64_t d = xd[a], st = steps[i];
      if (st == 0) return InvalidArgument("Slice: step 0");
      int64_t s = starts[i], e = ends[i];
      if (s < 0) s += d;
      if (e < 0) e += d;
      int64_t n = 0;
      if (st > 0) {
        s = std::clamp<int64_t>(s, 0, d);
        e = std::clamp<int64_t>(e, 0, d);
        if (e > s) n = (e - s + st - 1) / st;
      } else {
        s = std::clamp<int64_t>(s, 0, d - 1);
        e = std::clamp<int64_t>(e, -1, d - 1);
        if (s > e) n = (s - e + (-st) - 1) / (-st);
      }
      if (d == 0) n = 0;
      begin[a] = n > 0 ? s : 0;
      step[a] = st;
      len[a] = n;
    }
    int64_t offset = 0;
    std::vector<int64_t> src(r);
    for (int d = 0; d < r; ++d) {
      offset += begin[d] * xs[d];
      src[d] = xs[d] * step[d];
    }
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, x->dtype(), Shape(std::span<const int64_t>(len))));
    if (y == nullptr) return Status::Ok();
    return cuda::StridedCopy(x->raw_data(), offset, src, y->raw_data(), 0, Strides(len), len,
                             static_cast<int>(ElementSize(x->dtype())), s_);
  }

  Status Expand() {
    const Tensor* x = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    std::vector<int64_t> shape;
    ASSIGN_OR_RETURN(shape, HostInts(Host(1), "shape"));
    auto out = cuda::BroadcastShape(x->shape().dims(), shape);
    if (!out.ok())
      return InvalidArgument("input " + x->shape().ToString() + " does not broadcast to the requested shape");
    const int r = static_cast<int>(out->size());
    if (r > cuda::kMaxRank) return Fallback("rank above 6");
    // x's strides right-aligned into the output's rank, 0 along broadcast dims.
    const auto xd = x->shape().dims();
    const std::vector<int64_t> xs = Strides(xd);
    std::vector<int64_t> src(r, 0);
    for (int d = r - 1, j = static_cast<int>(xd.size()) - 1; d >= 0 && j >= 0; --d, --j)
      src[d] = xd[j] == 1 ? 0 : xs[j];
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, x->dtype(), Shape(std::span<const int64_t>(*out))));
    if (y == nullptr) return Status::Ok();
    return cuda::StridedCopy(x->raw_data(), 0, src, y->raw_data(), 0, Strides(*out), *out,
                             static_cast<int>(ElementSize(x->dtype())), s_);
  }

  // Two same-typed device inputs and their broadcast shape.
  Status Binary(const Tensor** a, const Tensor** b, std::vector<int64_t>* shape) {
    ASSIGN_OR_RETURN(*a, NeedDev(0));
    ASSIGN_OR_RETURN(*b, NeedDev(1));
    if ((*a)->dtype() != (*b)->dtype()) return Fallback("inputs of mixed element types");
    RETURN_IF_ERROR(RankOk(**a));
    RETURN_IF_ERROR(RankOk(**b));
    auto out = cuda::BroadcastShape((*a)->shape().dims(), (*b)->shape().dims());
    if (!out.ok())
      return InvalidArgument("shapes " + (*a)->shape().ToString() + " and " + (*b)->shape().ToString() +
                             " do not broadcast");
    *shape = std::move(out).value();
    return Status::Ok();
  }

  Status Compare() {
    const Tensor* a = nullptr;
    const Tensor* b = nullptr;
    std::vector<int64_t> shape;
    RETURN_IF_ERROR(Binary(&a, &b, &shape));
    cuda::ElemType t{};
    ASSIGN_OR_RETURN(t, ElemOf(a->dtype()));
    const std::string& op = p_.op;
    const cuda::CompareOp cop = op == "Equal"         ? cuda::CompareOp::kEqual
                                : op == "Less"        ? cuda::CompareOp::kLess
                                : op == "Greater"     ? cuda::CompareOp::kGreater
                                : op == "LessOrEqual" ? cuda::CompareOp::kLessOrEqual
                                                      : cuda::CompareOp::kGreaterOrEqual;
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, DataType::kBool, Shape(std::span<const int64_t>(shape))));
    if (y == nullptr) return Status::Ok();
    return cuda::Compare(cop, t, a->raw_data(), a->shape().dims(), b->raw_data(), b->shape().dims(),
                         static_cast<uint8_t*>(y->raw_data()), s_);
  }

  Status Logic() {
    const Tensor* a = nullptr;
    const Tensor* b = nullptr;
    std::vector<int64_t> shape;
    RETURN_IF_ERROR(Binary(&a, &b, &shape));
    if (a->dtype() != DataType::kBool) return InvalidArgument(p_.op + " takes bool inputs");
    const cuda::LogicOp lop = p_.op == "And" ? cuda::LogicOp::kAnd : p_.op == "Or" ? cuda::LogicOp::kOr : cuda::LogicOp::kXor;
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, DataType::kBool, Shape(std::span<const int64_t>(shape))));
    if (y == nullptr) return Status::Ok();
    return cuda::Logic(lop, static_cast<const uint8_t*>(a->raw_data()), a->shape().dims(),
                       static_cast<const uint8_t*>(b->raw_data()), b->shape().dims(),
                       static_cast<uint8_t*>(y->raw_data()), s_);
  }

  Status Not() {
    const Tensor* x = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    if (x->dtype() != DataType::kBool) return InvalidArgument("Not takes a bool input");
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, DataType::kBool, x->shape()));
    if (y == nullptr) return Status::Ok();
    return cuda::Not(static_cast<const uint8_t*>(x->raw_data()), static_cast<uint8_t*>(y->raw_data()),
                     x->num_elements(), s_);
  }

  // Max / Min / Sum / Mean of one or more inputs with numpy broadcasting: the first pair goes
  // into the output when it already has the final shape (else the first input is broadcast into
  // it), then each further input is folded into the output in place (same shape: each element
  // reads only its own place). Mean scales the sum at the end.
  Status Variadic() {
    std::vector<const Tensor*> xs;
    for (int k = 0; k < static_cast<int>(in_.size()); ++k) {
      if (!Present(k)) continue;
      const Tensor* t = nullptr;
      ASSIGN_OR_RETURN(t, NeedDev(k));
      RETURN_IF_ERROR(RankOk(*t));
      if (!xs.empty() && t->dtype() != xs[0]->dtype()) return Fallback("inputs of mixed element types");
      xs.push_back(t);
    }
    if (xs.empty()) return InvalidArgument(p_.op + " without inputs");
    const DataType dt = xs[0]->dtype();
    const bool minmax = p_.op == "Max" || p_.op == "Min";
    const cuda::MinMaxOp mop = p_.op == "Max" ? cuda::MinMaxOp::kMax : cuda::MinMaxOp::kMin;
    cuda::ElemType et{};
    if (minmax) {
      ASSIGN_OR_RETURN(et, ElemOf(dt));
      if (et == cuda::ElemType::kBool) return InvalidArgument(p_.op + " of bool");
    } else if (dt != DataType::kFloat && dt != DataType::kFloat16) {
      return Fallback(p_.op + " of " + DataTypeName(dt));
    }
    std::vector<int64_t> shape(xs[0]->shape().dims().begin(), xs[0]->shape().dims().end());
    for (size_t k = 1; k < xs.size(); ++k) {
      auto b = cuda::BroadcastShape(shape, xs[k]->shape().dims());
      if (!b.ok()) return InvalidArgument("input " + std::to_string(k) + " " + xs[k]->shape().ToString() + " does not broadcast");
      shape = std::move(b).value();
    }
    if (shape.size() > static_cast<size_t>(cuda::kMaxRank)) return Fallback("rank above 6");
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, dt, Shape(std::span<const int64_t>(shape))));
    if (y == nullptr || y->num_elements() == 0) return Status::Ok();
    const bool half = dt == DataType::kFloat16;
    auto fold = [&](const void* a, std::span<const int64_t> a_shape, const Tensor& b) -> Status {
      if (minmax) return cuda::MinMax(mop, et, a, a_shape, b.raw_data(), b.shape().dims(), y->raw_data(), s_);
      if (half)
        return cuda::BinaryElementwise(cuda::BinaryOp::kAdd, static_cast<const __half*>(a), a_shape,
                                       static_cast<const __half*>(b.raw_data()), b.shape().dims(),
                                       static_cast<__half*>(y->raw_data()), s_);
      return cuda::BinaryElementwise(cuda::BinaryOp::kAdd, static_cast<const float*>(a), a_shape,
                                     static_cast<const float*>(b.raw_data()), b.shape().dims(),
                                     static_cast<float*>(y->raw_data()), s_);
    };
    size_t next = 1;
    bool first_done = false;
    if (xs.size() >= 2) {
      auto pair = cuda::BroadcastShape(xs[0]->shape().dims(), xs[1]->shape().dims());
      if (pair.ok() && *pair == shape) {
        RETURN_IF_ERROR(fold(xs[0]->raw_data(), xs[0]->shape().dims(), *xs[1]));
        next = 2;
        first_done = true;
      }
    }
    const auto xd = xs[0]->shape().dims();
    if (!first_done && std::equal(xd.begin(), xd.end(), shape.begin(), shape.end())) {
      ONNXD_CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(y->raw_data(), xs[0]->raw_data(), xs[0]->bytes(), cudaMemcpyDeviceToDevice, s_));
      first_done = true;
    }
    if (!first_done) {
      // xs[0] broadcast into y: its strides right-aligned into y's rank, 0 along broadcast dims.
      const std::vector<int64_t> xst = Strides(xd);
      const int r = static_cast<int>(shape.size());
      std::vector<int64_t> src(r, 0);
      for (int d = r - 1, j = static_cast<int>(xd.size()) - 1; d >= 0 && j >= 0; --d, --j)
        src[d] = xd[j] == 1 ? 0 : xst[j];
      RETURN_IF_ERROR(cuda::StridedCopy(xs[0]->raw_data(), 0, src, y->raw_data(), 0, Strides(shape), shape,
                                        static_cast<int>(ElementSize(dt)), s_));
    }
    for (size_t k = next; k < xs.size(); ++k) RETURN_IF_ERROR(fold(y->raw_data(), shape, *xs[k]));
    if (p_.op == "Mean" && xs.size() > 1) {
      cuda::ActivationParams scale;
      scale.alpha = 1.f / static_cast<float>(xs.size());
      if (half)
        return cuda::Activation(cuda::ActivationOp::kScale, scale, static_cast<const __half*>(y->raw_data()),
                                static_cast<__half*>(y->raw_data()), y->num_elements(), s_);
      return cuda::Activation(cuda::ActivationOp::kScale, scale, static_cast<const float*>(y->raw_data()),
                              static_cast<float*>(y->raw_data()), y->num_elements(), s_);
    }
    return Status::Ok();
  }

  static bool IsActivation(const std::string& op) { return ActivationOf(op).ok(); }

  static StatusOr<cuda::ActivationOp> ActivationOf(const std::string& op) {
    static const std::pair<const char*, cuda::ActivationOp> kOps[] = {
        {"HardSigmoid", cuda::ActivationOp::kHardSigmoid}, {"HardSwish", cuda::ActivationOp::kHardSwish},
        {"LeakyRelu", cuda::ActivationOp::kLeakyRelu},     {"Elu", cuda::ActivationOp::kElu},
        {"Selu", cuda::ActivationOp::kSelu},               {"Softplus", cuda::ActivationOp::kSoftplus},
        {"Sign", cuda::ActivationOp::kSign},               {"Floor", cuda::ActivationOp::kFloor},
        {"Ceil", cuda::ActivationOp::kCeil},               {"Round", cuda::ActivationOp::kRound},
        {"Mish", cuda::ActivationOp::kMish},               {"Sin", cuda::ActivationOp::kSin},
        {"Cos", cuda::ActivationOp::kCos},                 {"Softsign", cuda::ActivationOp::kSoftsign},
        {"ThresholdedRelu", cuda::ActivationOp::kThresholdedRelu}, {"Celu", cuda::ActivationOp::kCelu}};
    for (const auto& e : kOps)
      if (op == e.first) return e.second;
    return InvalidArgument("not an activation");
  }

  Status Activation() {
    const Tensor* x = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    if (x->dtype() != DataType::kFloat && x->dtype() != DataType::kFloat16)
      return Fallback(p_.op + " of " + DataTypeName(x->dtype()));
    cuda::ActivationOp op{};
    ASSIGN_OR_RETURN(op, ActivationOf(p_.op));
    // The CPU op answers the error.
    if (op == cuda::ActivationOp::kCelu && p_.alpha == 0.f) return Fallback("Celu with alpha 0");
    cuda::ActivationParams params;
    params.alpha = p_.alpha;
    params.beta = p_.beta;
    params.gamma = p_.gamma;
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, x->dtype(), x->shape()));
    if (y == nullptr) return Status::Ok();
    if (x->dtype() == DataType::kFloat16)
      return cuda::Activation(op, params, static_cast<const __half*>(x->raw_data()),
                              static_cast<__half*>(y->raw_data()), x->num_elements(), s_);
    return cuda::Activation(op, params, static_cast<const float*>(x->raw_data()), static_cast<float*>(y->raw_data()),
                            x->num_elements(), s_);
  }

  // PRelu: the slope broadcasts to X (unidirectionally); before opset 7 a 1-D slope of X's channel
  // count applies per channel, as the CPU op reads it.
  Status PRelu() {
    const Tensor* x = nullptr;
    const Tensor* slope = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    ASSIGN_OR_RETURN(slope, NeedDev(1));
    const DataType dt = x->dtype();
    if (dt != DataType::kFloat && dt != DataType::kFloat16) return Fallback(std::string("PRelu of ") + DataTypeName(dt));
    if (slope->dtype() != dt) return Fallback("PRelu with X and slope of different element types");
    RETURN_IF_ERROR(RankOk(*x));
    RETURN_IF_ERROR(RankOk(*slope));
    std::vector<int64_t> sd(slope->shape().dims().begin(), slope->shape().dims().end());
    if (p_.opset < 7 && sd.size() == 1 && x->rank() >= 2 && sd[0] == x->dim(1) && sd[0] != 1) {
      sd.assign(static_cast<size_t>(x->rank() - 1), 1);
      sd[0] = x->dim(1);
    }
    const auto xd = x->shape().dims();
    auto b = cuda::BroadcastShape(xd, sd);
    if (!b.ok() || !std::equal(b->begin(), b->end(), xd.begin(), xd.end()))
      return InvalidArgument("slope shape " + slope->shape().ToString() + " does not broadcast to X shape " +
                             x->shape().ToString());
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, dt, x->shape()));
    if (y == nullptr) return Status::Ok();
    if (dt == DataType::kFloat16)
      return cuda::PRelu(static_cast<const __half*>(x->raw_data()), xd, static_cast<const __half*>(slope->raw_data()),
                         sd, static_cast<__half*>(y->raw_data()), s_);
    return cuda::PRelu(static_cast<const float*>(x->raw_data()), xd, static_cast<const float*>(slope->raw_data()), sd,
                       static_cast<float*>(y->raw_data()), s_);
  }

  // ArgMax / ArgMin over any single axis, keepdims, select_last_index; int64 indices.
  Status ArgReduce() {
    const Tensor* x = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    const DataType dt = x->dtype();
    if (dt != DataType::kFloat && dt != DataType::kFloat16) return Fallback(p_.op + " of " + DataTypeName(dt));
    const int r = x->rank();
    if (r == 0) return InvalidArgument(p_.op + " of a scalar");
    int64_t axis = 0;
    ASSIGN_OR_RETURN(axis, Axis(p_.axis, r));
    const auto xd = x->shape().dims();
    const int64_t outer = Product(xd, 0, axis), len = xd[axis], inner = Product(xd, axis + 1, r);
    Shape out;
    for (int d = 0; d < r; ++d) {
      if (d != axis) out.PushBack(xd[d]);
      else if (p_.keepdims) out.PushBack(1);
    }
    if (outer * inner != 0 && len == 0) return InvalidArgument(p_.op + " over an empty axis");
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, DataType::kInt64, out));
    if (y == nullptr) return Status::Ok();
    const bool max = p_.op == "ArgMax";
    auto* o = static_cast<int64_t*>(y->raw_data());
    if (dt == DataType::kFloat16)
      return cuda::ArgReduce(max, static_cast<const __half*>(x->raw_data()), outer, len, inner, p_.select_last_index,
                             o, s_);
    return cuda::ArgReduce(max, static_cast<const float*>(x->raw_data()), outer, len, inner, p_.select_last_index, o,
                           s_);
  }

  // InstanceNormalization (`instance`): x [N, C, ...] normalised per (n, c) over the rest, then
  // scale[c] and B[c]. GroupNormalization: per (n, group of C / num_groups channels) over those
  // channels and the rest of the dims; scale / B per group (opset 18) or per channel (21), as the
  // CPU op reads them (either layout when the sizes say which). All three on the device, one type.
  Status ChannelGroupNorm(bool instance) {
    const Tensor* x = nullptr;
    const Tensor* scale = nullptr;
    const Tensor* bias = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    ASSIGN_OR_RETURN(scale, NeedDev(1));
    ASSIGN_OR_RETURN(bias, NeedDev(2));
    const DataType dt = x->dtype();
    if (dt != DataType::kFloat && dt != DataType::kFloat16) return Fallback(p_.op + " of " + DataTypeName(dt));
    if (scale->dtype() != dt || bias->dtype() != dt) return Fallback(p_.op + " of mixed element types");
    if (x->rank() < 2) return InvalidArgument("X must have rank >= 2, got " + x->shape().ToString());
    const int64_t n = x->dim(0), c = x->dim(1), groups = instance ? c : p_.num_groups;
    if (groups < 1 || c % groups != 0)
      return InvalidArgument("channels " + std::to_string(c) + " not divisible by num_groups " + std::to_string(groups));
    bool per_group = !instance && p_.opset < 21;
    if (!instance && scale->num_elements() != (per_group ? groups : c)) {
      if (scale->num_elements() == c) per_group = false;
      else if (scale->num_elements() == groups) per_group = true;
    }
    const int64_t want = per_group ? groups : c;
    if (scale->num_elements() != want || bias->num_elements() != want)
      return InvalidArgument("scale and B must have " + std::to_string(want) + " elements, got " +
                             scale->shape().ToString() + " and " + bias->shape().ToString());
    cuda::GroupNormShape shape;
    shape.n = n;
    shape.groups = groups;
    shape.group_channels = c / groups;
    shape.spatial = n * c == 0 ? 0 : x->num_elements() / (n * c);
    shape.per_group = per_group;
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, dt, x->shape()));
    if (y == nullptr) return Status::Ok();
    if (dt == DataType::kFloat16)
      return cuda::GroupNorm(static_cast<const __half*>(x->raw_data()), static_cast<__half*>(y->raw_data()), shape,
                             static_cast<const __half*>(scale->raw_data()), static_cast<const __half*>(bias->raw_data()),
                             p_.epsilon, s_);
    return cuda::GroupNorm(static_cast<const float*>(x->raw_data()), static_cast<float*>(y->raw_data()), shape,
                           static_cast<const float*>(scale->raw_data()), static_cast<const float*>(bias->raw_data()),
                           p_.epsilon, s_);
  }

  // DepthToSpace / SpaceToDepth: one 6-D strided copy (kernels/cuda/depth_space_math.h).
  Status DepthSpace() {
    const Tensor* x = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    if (x->rank() != 4) return InvalidArgument("input must be 4-D (N,C,H,W), got " + x->shape().ToString());
    cuda::DepthSpaceCopy c;
    const std::string why = p_.op == "DepthToSpace"
                                ? cuda::MakeDepthToSpace(x->shape().dims().data(), p_.blocksize, p_.mode == "CRD", &c)
                                : cuda::MakeSpaceToDepth(x->shape().dims().data(), p_.blocksize, &c);
    if (!why.empty()) return InvalidArgument(p_.op + ": " + why);
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, x->dtype(), Shape(std::span<const int64_t>(c.out_dims, 4))));
    if (y == nullptr || y->num_elements() == 0) return Status::Ok();
    const std::span<const int64_t> dims(c.dims, 6);
    return cuda::StridedCopy(x->raw_data(), 0, std::span<const int64_t>(c.src_strides, 6), y->raw_data(), 0,
                             Strides(dims), dims, static_cast<int>(ElementSize(x->dtype())), s_);
  }

  // BatchNormalization, inference form (planner/partition.cc places only that): x is [N, C, ...],
  // the four statistics [C], all on the device.
  Status BatchNorm() {
    const Tensor* x = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    const Tensor* st[4] = {};
    for (int k = 0; k < 4; ++k) {
      ASSIGN_OR_RETURN(st[k], NeedDev(k + 1));
    }
    if (x->rank() < 2) return InvalidArgument("BatchNormalization of rank " + std::to_string(x->rank()));
    const DataType dt = x->dtype();
    if (dt != DataType::kFloat && dt != DataType::kFloat16) return Fallback(std::string("BatchNormalization of ") + DataTypeName(dt));
    const DataType pt = st[0]->dtype();
    const int64_t c = x->dim(1);
    for (int k = 0; k < 4; ++k) {
      if (st[k]->dtype() != pt) return Fallback("BatchNormalization statistics of mixed element types");
      if (st[k]->num_elements() != c)
        return InvalidArgument("BatchNormalization input " + std::to_string(k + 1) + " " + st[k]->shape().ToString() +
                               " for " + std::to_string(c) + " channels");
    }
    const int64_t outer = x->dim(0);
    const int64_t inner = c == 0 || outer == 0 ? 0 : x->num_elements() / (outer * c);
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, dt, x->shape()));
    if (y == nullptr) return Status::Ok();
    auto par = [&](int k, auto* tag) { return static_cast<decltype(tag)>(st[k]->raw_data()); };
    if (dt == DataType::kFloat) {
      if (pt != DataType::kFloat) return Fallback("BatchNormalization of float with float16 statistics");
      const float* f = nullptr;
      return cuda::BatchNormInference(static_cast<const float*>(x->raw_data()), static_cast<float*>(y->raw_data()),
                                      outer, c, inner, par(0, f), par(1, f), par(2, f), par(3, f), p_.epsilon, s_);
    }
    const auto* hx = static_cast<const __half*>(x->raw_data());
    auto* hy = static_cast<__half*>(y->raw_data());
    if (pt == DataType::kFloat16) {
      const __half* h = nullptr;
      return cuda::BatchNormInference(hx, hy, outer, c, inner, par(0, h), par(1, h), par(2, h), par(3, h),
                                      p_.epsilon, s_);
    }
    if (pt == DataType::kFloat) {
      const float* f = nullptr;
      return cuda::BatchNormInference(hx, hy, outer, c, inner, par(0, f), par(1, f), par(2, f), par(3, f), p_.epsilon,
                                      s_);
    }
    return Fallback(std::string("BatchNormalization statistics of ") + DataTypeName(pt));
  }

  // Pad: pads (and from opset 11 constant_value, from 18 axes) read on the host; the geometry and
  // its checks are kernels/cuda/pad_tile_math.h's.
  Status Pad() {
    const Tensor* x = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    RETURN_IF_ERROR(RankOk(*x));
    cuda::PadMode mode = cuda::PadMode::kConstant;
    if (p_.mode == "reflect") mode = cuda::PadMode::kReflect;
    else if (p_.mode == "edge") mode = cuda::PadMode::kEdge;
    else if (p_.mode == "wrap" && p_.opset >= 19) mode = cuda::PadMode::kWrap;
    else if (p_.mode != "constant" && !p_.mode.empty()) return InvalidArgument("unsupported Pad mode '" + p_.mode + "'");
    const DataType dt = x->dtype();
    const size_t esize = ElementSize(dt);
    std::vector<int64_t> pads, axes;
    bool has_axes = false;
    uint64_t constant = 0;
    if (p_.opset < 11) {
      pads = p_.pads;
      // The attribute's float in the data's type, as the CPU op converts it.
      const double v = p_.pad_value;
      switch (dt) {
        case DataType::kFloat: { const float f = static_cast<float>(v); std::memcpy(&constant, &f, 4); break; }
        case DataType::kFloat16: { const uint16_t h = Float16(static_cast<float>(v)).bits; std::memcpy(&constant, &h, 2); break; }
        case DataType::kDouble: std::memcpy(&constant, &v, 8); break;
        case DataType::kInt64: { const int64_t i = static_cast<int64_t>(v); std::memcpy(&constant, &i, 8); break; }
        case DataType::kInt32: { const int32_t i = static_cast<int32_t>(v); std::memcpy(&constant, &i, 4); break; }
        case DataType::kInt8: { const int8_t i = static_cast<int8_t>(v); std::memcpy(&constant, &i, 1); break; }
        case DataType::kUInt8: { const uint8_t i = static_cast<uint8_t>(v); std::memcpy(&constant, &i, 1); break; }
        case DataType::kBool: constant = v != 0 ? 1 : 0; break;
        default:
          if (v != 0) return Fallback(std::string("Pad value of ") + DataTypeName(dt));
      }
    } else {
      ASSIGN_OR_RETURN(pads, HostInts(Host(1), "pads"));
      if (Present(2)) {
        const Tensor* cv = Host(2);
        if (cv == nullptr) return InvalidArgument("constant_value is not on the host");
        if (cv->num_elements() >= 1) {
          if (in_[0].halved && cv->dtype() == DataType::kFloat) {
            // fp16 mode: the data is held as fp16, its constant_value is the graph's float.
            const uint16_t h = Float16(static_cast<const float*>(cv->raw_data())[0]).bits;
            std::memcpy(&constant, &h, 2);
          } else if (cv->dtype() == dt) {
            std::memcpy(&constant, cv->raw_data(), esize);
          } else {
            return InvalidArgument("constant_value dtype differs from data dtype");
          }
        }
      }
      if (Present(3)) {
        ASSIGN_OR_RETURN(axes, HostInts(Host(3), "axes"));
        has_axes = true;
      }
    }
    const auto xd = x->shape().dims();
    cuda::PadTileGeometry g;
    const std::string why = cuda::MakePadGeometry(xd.data(), x->rank(), mode, pads.data(), static_cast<int>(pads.size()),
                                                  has_axes ? axes.data() : nullptr, static_cast<int>(axes.size()), &g);
    if (!why.empty()) return InvalidArgument("Pad: " + why);
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, dt, Shape(std::span<const int64_t>(g.out_dims, g.rank))));
    if (y == nullptr) return Status::Ok();
    return cuda::Pad(x->raw_data(), y->raw_data(), g, constant, static_cast<int>(esize), s_);
  }

  Status Tile() {
    const Tensor* x = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    RETURN_IF_ERROR(RankOk(*x));
    std::vector<int64_t> repeats;
    ASSIGN_OR_RETURN(repeats, HostInts(Host(1), "repeats"));
    const auto xd = x->shape().dims();
    cuda::PadTileGeometry g;
    const std::string why =
        cuda::MakeTileGeometry(xd.data(), x->rank(), repeats.data(), static_cast<int>(repeats.size()), &g);
    if (!why.empty()) return InvalidArgument("Tile: " + why);
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, x->dtype(), Shape(std::span<const int64_t>(g.out_dims, g.rank))));
    if (y == nullptr) return Status::Ok();
    return cuda::Tile(x->raw_data(), y->raw_data(), g, static_cast<int>(ElementSize(x->dtype())), s_);
  }

  // Inference Dropout: a copy, and an all-true mask when it is asked for.
  Status Dropout() {
    const Tensor* x = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    if (Present(2)) {
      const Tensor* training = Host(2);
      if (training == nullptr || training->dtype() != DataType::kBool || training->num_elements() != 1)
        return InvalidArgument("training_mode must be one bool on the host");
      if (training->data<bool>()[0]) return Fallback("Dropout in training mode");
    }
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, x->dtype(), x->shape()));
    if (y != nullptr && x->bytes() > 0)
      ONNXD_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(y->raw_data(), x->raw_data(), x->bytes(), cudaMemcpyDeviceToDevice, s_));
    if (num_outputs_ < 2) return Status::Ok();
    Tensor* mask = nullptr;
    ASSIGN_OR_RETURN(mask, output_(1, DataType::kBool, x->shape()));
    if (mask != nullptr && mask->bytes() > 0)
      ONNXD_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(mask->raw_data(), 1, mask->bytes(), s_));
    return Status::Ok();
  }

  Status CumSum() {
    const Tensor* x = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    std::vector<int64_t> av;
    ASSIGN_OR_RETURN(av, HostInts(Host(1), "axis"));
    if (av.size() != 1) return InvalidArgument("axis must be a scalar");
    const int r = x->rank();
    if (r == 0) return InvalidArgument("input must have rank >= 1");
    int64_t axis = 0;
    ASSIGN_OR_RETURN(axis, Axis(av[0], r));
    const auto xd = x->shape().dims();
    const int64_t outer = Product(xd, 0, axis), len = xd[axis], inner = Product(xd, axis + 1, r);
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, x->dtype(), x->shape()));
    if (y == nullptr) return Status::Ok();
    auto run = [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      return cuda::CumSum(static_cast<const T*>(x->raw_data()), static_cast<T*>(y->raw_data()), outer, len, inner,
                          p_.exclusive, p_.reverse, s_);
    };
    switch (x->dtype()) {
      case DataType::kFloat: return run(static_cast<float*>(nullptr));
      case DataType::kFloat16: return run(static_cast<__half*>(nullptr));
      case DataType::kDouble: return run(static_cast<double*>(nullptr));
      case DataType::kInt32: return run(static_cast<int32_t*>(nullptr));
      case DataType::kInt64: return run(static_cast<int64_t*>(nullptr));
      default: return Fallback(std::string("CumSum of ") + DataTypeName(x->dtype()));
    }
  }

  // TopK: values and int64 indices of the k largest / smallest along one axis (kernels/cuda/misc_ops.h).
  Status TopK() {
    const Tensor* x = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    const DataType dt = x->dtype();
    if (dt != DataType::kFloat && dt != DataType::kFloat16) return Fallback("TopK of " + std::string(DataTypeName(dt)));
    const int r = x->rank();
    if (r == 0) return InvalidArgument("input must have rank >= 1");
    int64_t axis = 0;
    ASSIGN_OR_RETURN(axis, Axis(p_.axis, r));
    int64_t k = p_.topk_k;
    if (k < 0) {
      std::vector<int64_t> kv;
      ASSIGN_OR_RETURN(kv, HostInts(Host(1), "K"));
      if (kv.size() != 1) return InvalidArgument("K must hold one element");
      k = kv[0];
    }
    const auto xd = x->shape().dims();
    const int64_t outer = Product(xd, 0, axis), len = xd[axis], inner = Product(xd, axis + 1, r);
    if (k < 0 || k > len)
      return InvalidArgument("k = " + std::to_string(k) + " is out of range for axis " + std::to_string(axis) +
                             " of size " + std::to_string(len));
    if (len > cuda::kTopKMaxLen) return Fallback("TopK over an axis of " + std::to_string(len));
    Shape out;
    for (int d = 0; d < r; ++d) out.PushBack(d == axis ? k : xd[d]);
    Tensor* values = nullptr;
    Tensor* indices = nullptr;
    ASSIGN_OR_RETURN(values, output_(0, dt, out));
    ASSIGN_OR_RETURN(indices, output_(1, DataType::kInt64, out));
    if (values == nullptr && indices == nullptr) return Status::Ok();
    void* v = values != nullptr ? values->raw_data() : nullptr;
    auto* idx = indices != nullptr ? static_cast<int64_t*>(indices->raw_data()) : nullptr;
    if (dt == DataType::kFloat16)
      return cuda::TopK(static_cast<const __half*>(x->raw_data()), outer, len, inner, k, p_.largest,
                        static_cast<__half*>(v), idx, s_);
    return cuda::TopK(static_cast<const float*>(x->raw_data()), outer, len, inner, k, p_.largest,
                      static_cast<float*>(v), idx, s_);
  }

  Status Trilu() {
    const Tensor* x = nullptr;
    ASSIGN_OR_RETURN(x, NeedDev(0));
    if (x->rank() < 2) return InvalidArgument("Trilu needs an input of rank >= 2, got " + x->shape().ToString());
    int64_t k = 0;
    if (Present(1)) {
      std::vector<int64_t> kv;
      ASSIGN_OR_RETURN(kv, HostInts(Host(1), "k"));
      if (kv.size() != 1) return InvalidArgument("k must hold one element");
      k = kv[0];
    }
    Tensor* y = nullptr;
    ASSIGN_OR_RETURN(y, output_(0, x->dtype(), x->shape()));
    if (y == nullptr) return Status::Ok();
    return cuda::Trilu(x->raw_data(), y->raw_data(), x->num_elements(), x->dim(x->rank() - 2), x->dim(x->rank() - 1),
                       k, p_.upper, static_cast<int>(ElementSize(x->dtype())), s_);
  }

  Status Range() {
    const Tensor* ts = Host(0);
    const Tensor* tl = Host(1);
    const Tensor* td = Host(2);
    if (ts == nullptr || tl == nullptr || td == nullptr) return InvalidArgument("Range's start, limit and delta must be on the host");
    const DataType dt = ts->dtype();
    if (tl->dtype() != dt || td->dtype() != dt) return InvalidArgument("start, limit and delta must have the same type");
    if (ts->num_elements() != 1 || tl->num_elements() != 1 || td->num_elements() != 1)
      return InvalidArgument("start, limit and delta must be scalars");
    int64_t n = 0;
    Tensor* y = nullptr;
    if (dt == DataType::kInt64 || dt == DataType::kInt32) {
      auto v = [&](const Tensor* t) {
        return dt == DataType::kInt64 ? static_cast<const int64_t*>(t->raw_data())[0]
                                      : static_cast<int64_t>(static_cast<const int32_t*>(t->raw_data())[0]);
      };
      const int64_t s = v(ts), l = v(tl), d = v(td);
      if (d == 0) return InvalidArgument("delta is zero");
      if (d > 0 && l > s) n = (l - s + d - 1) / d;
      else if (d < 0 && s > l) n = (s - l + (-d) - 1) / (-d);
      ASSIGN_OR_RETURN(y, output_(0, dt, Shape{n}));
      if (y == nullptr) return Status::Ok();
      return cuda::Range(dt == DataType::kInt64 ? cuda::ElemType::kInt64 : cuda::ElemType::kInt32, 0, 0, s, d,
                         y->raw_data(), n, s_);
    }
    if (dt != DataType::kFloat && dt != DataType::kDouble) return Fallback(std::string("Range of ") + DataTypeName(dt));
    double s = 0, l = 0, d = 0;
    ASSIGN_OR_RETURN(s, HostScalar(ts, "start"));
    ASSIGN_OR_RETURN(l, HostScalar(tl, "limit"));
    ASSIGN_OR_RETURN(d, HostScalar(td, "delta"));
    if (d == 0) return InvalidArgument("delta is zero");
    // As the CPU kernel: the count from the values in their own type, widened to double.
    const double q = std::ceil((l - s) / d);
    n = q > 0 ? static_cast<int64_t>(q) : 0;
    // fp16 mode: the result is a real float32 (not a halved value): the session marks only what
    // it computed from halved inputs as halved.
    ASSIGN_OR_RETURN(y, output_(0, dt, Shape{n}));
    if (y == nullptr) return Status::Ok();
    return cuda::Range(dt == DataType::kFloat ? cuda::ElemType::kFloat : cuda::ElemType::kDouble, s, d, 0, 0,
                       y->raw_data(), n, s_);
  }

  const CudaNodeParams& p_;
  std::span<const CudaDataInput> in_;
  int num_outputs_;
  bool fp16_;
  const CudaDataOutputFn& output_;
  cudaStream_t s_;
};

}  // namespace

Status RunCudaDataOp(const CudaNodeParams& p, std::span<const CudaDataInput> inputs, int num_outputs, bool fp16,
                     const CudaDataOutputFn& output, cudaStream_t stream) {
  DataOpRunner runner(p, inputs, num_outputs, fp16, output, stream);
  Status st = runner.Run();
  // The kernels' own "not on the GPU" answers (an element size they do not move) go to the CPU.
  if (st.code() == StatusCode::kUnimplemented && st.message().rfind("cuda fallback: ", 0) != 0)
    return Fallback(st.message());
  return st;
}

}  // namespace onnxd::engine

#endif  // ONNXD_WITH_CUDA
