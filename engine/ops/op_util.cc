#include "ops/op_util.h"

#include <cstring>

#include "ops/op_kernel.h"

namespace onnxd::engine {

StatusOr<int> NormalizeAxis(int64_t axis, int rank, const char* what) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || (a >= rank && !(rank == 0 && a == 0)))
    return InvalidArgument(std::string(what) + " " + std::to_string(axis) + " is out of range for rank " +
                           std::to_string(rank));
  return static_cast<int>(a);
}

StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b) {
  const int r = std::max(a.rank(), b.rank());
  Shape out;
  out.Resize(r);
  for (int i = 0; i < r; ++i) {
    int ia = i - (r - a.rank()), ib = i - (r - b.rank());
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da == db || db == 1) out[i] = da;
    else if (da == 1) out[i] = db;
    else
      return InvalidArgument("shapes " + a.ToString() + " and " + b.ToString() + " cannot be broadcast (dim " +
                             std::to_string(i) + ")");
  }
  return out;
}

Status ReadInt64s(const Tensor& t, std::vector<int64_t>* out) {
  out->clear();
  int64_t n = t.num_elements();
  if (t.dtype() == DataType::kInt64) {
    out->assign(t.data<int64_t>(), t.data<int64_t>() + n);
  } else if (t.dtype() == DataType::kInt32) {
    for (int64_t i = 0; i < n; ++i) out->push_back(t.data<int32_t>()[i]);
  } else {
    return InvalidArgument(std::string("expected an int64 or int32 tensor, got ") + DataTypeName(t.dtype()));
  }
  return Status::Ok();
}

double ScalarAsDouble(const Tensor& t) {
  if (t.num_elements() < 1) return 0;
  switch (t.dtype()) {
    case DataType::kFloat: return t.data<float>()[0];
    case DataType::kDouble: return t.data<double>()[0];
    case DataType::kFloat16: return static_cast<float>(t.data<Float16>()[0]);
    case DataType::kBFloat16: return static_cast<float>(t.data<BFloat16>()[0]);
    case DataType::kInt8: return t.data<int8_t>()[0];
    case DataType::kInt16: return t.data<int16_t>()[0];
    case DataType::kInt32: return t.data<int32_t>()[0];
    case DataType::kInt64: return static_cast<double>(t.data<int64_t>()[0]);
    case DataType::kUInt8: return t.data<uint8_t>()[0];
    case DataType::kUInt16: return t.data<uint16_t>()[0];
    case DataType::kUInt32: return t.data<uint32_t>()[0];
    case DataType::kUInt64: return static_cast<double>(t.data<uint64_t>()[0]);
    case DataType::kBool: return t.data<bool>()[0] ? 1 : 0;
    default: return 0;
  }
}

int64_t ScalarAsInt64(const Tensor& t) {
  if (t.dtype() == DataType::kInt64 && t.num_elements() > 0) return t.data<int64_t>()[0];
  if (t.dtype() == DataType::kUInt64 && t.num_elements() > 0) return static_cast<int64_t>(t.data<uint64_t>()[0]);
  return static_cast<int64_t>(ScalarAsDouble(t));
}

void CopyElements(DataType dt, const void* src, void* dst, int64_t n) {
  if (n <= 0) return;
  if (dt == DataType::kString) {
    const auto* s = static_cast<const std::string*>(src);
    auto* d = static_cast<std::string*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = s[i];
  } else {
    std::memcpy(dst, src, static_cast<size_t>(n) * ElementSize(dt));
  }
}

void EmitValue(KernelContext& ctx, int i, const Value& v) {
  if (!ctx.has_output(i)) return;
  if (v.is_tensor()) {
    const Tensor& t = v.tensor();
    Tensor* out = ctx.Output(i, t.dtype(), t.shape());
    CopyElements(t.dtype(), t.raw_data(), out->raw_data(), t.num_elements());
  } else {
    ctx.SetOutputValue(i, v);
  }
}

void RowMajorStrides(const Shape& shape, int64_t* strides) {
  int64_t s = 1;
  for (int i = shape.rank() - 1; i >= 0; --i) {
    strides[i] = s;
    s *= shape[i];
  }
}

void BroadcastIndexer::Init(const Shape& out, const Shape* const* ins, int n) {
  rank = out.rank();
  num_inputs = n;
  for (int i = 0; i < rank; ++i) out_dims[i] = out[i];
  for (int k = 0; k < n; ++k) {
    const Shape& s = *ins[k];
    int64_t stride = 1;
    for (int i = rank - 1; i >= 0; --i) {
      int j = i - (rank - s.rank());
      int64_t d = j >= 0 ? s[j] : 1;
      in_strides[k][i] = d == 1 ? 0 : stride;
      stride *= d;
    }
  }
}

}  // namespace onnxd::engine
