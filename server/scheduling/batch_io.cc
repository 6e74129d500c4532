#include "scheduling/batch_io.h"

#include <cstring>

namespace onnxd::server {
namespace {

// Copies `n` rows of `row_elems` elements each from `src` (at row `from`) to `dst` (at row `to`).
void CopyRows(const Tensor& src, int64_t from, Tensor* dst, int64_t to, int64_t n, int64_t row_elems) {
  if (n <= 0 || row_elems <= 0) return;
  if (src.dtype() == DataType::kString) {
    const std::string* s = src.data<std::string>() + from * row_elems;
    std::string* d = dst->data<std::string>() + to * row_elems;
    for (int64_t i = 0; i < n * row_elems; ++i) d[i] = s[i];
    return;
  }
  const size_t es = ElementSize(src.dtype());
  std::memcpy(static_cast<char*>(dst->raw_data()) + static_cast<size_t>(to * row_elems) * es,
              static_cast<const char*>(src.raw_data()) + static_cast<size_t>(from * row_elems) * es,
              static_cast<size_t>(n * row_elems) * es);
}

int64_t RowElems(const Tensor& t) {
  int64_t e = 1;
  for (int d = 1; d < t.rank(); ++d) e *= t.dim(d);
  return e;
}

}  // namespace

StatusOr<Tensor> ConcatRows(const std::vector<const Tensor*>& parts) {
  const Tensor& first = *parts.front();
  if (first.rank() == 0) return InvalidArgument("cannot batch scalar inputs");
  int64_t rows = 0;
  for (const Tensor* p : parts) {
    if (p->dtype() != first.dtype() || p->rank() != first.rank())
      return Internal("batched inputs differ in datatype or rank");
    for (int d = 1; d < first.rank(); ++d)
      if (p->dim(d) != first.dim(d)) return Internal("batched inputs differ in dim " + std::to_string(d));
    rows += p->dim(0);
  }
  Shape shape = first.shape();
  shape[0] = rows;
  Tensor out = Tensor::Allocate(first.dtype(), shape);
  const int64_t row_elems = RowElems(first);
  int64_t at = 0;
  for (const Tensor* p : parts) {
    CopyRows(*p, 0, &out, at, p->dim(0), row_elems);
    at += p->dim(0);
  }
  return out;
}

Status SplitRows(const std::string& name, const Value& value, const std::vector<int64_t>& rows,
                 std::vector<Value>* pieces) {
  int64_t total = 0;
  for (int64_t r : rows) total += r;
  pieces->clear();
  pieces->reserve(rows.size());
  if (value.is_tensor()) {
    const Tensor& t = value.tensor();
    if (t.rank() == 0 || t.dim(0) != total)
      return Internal("output '" + name + "' has shape " + t.shape().ToString() + ": its first dim is not the batch's " +
                      std::to_string(total) + " rows, so it cannot be split per request");
    const int64_t row_elems = RowElems(t);
    int64_t at = 0;
    for (int64_t r : rows) {
      Shape shape = t.shape();
      shape[0] = r;
      Tensor piece = Tensor::Allocate(t.dtype(), shape);
      CopyRows(t, at, &piece, 0, r, row_elems);
      pieces->emplace_back(std::move(piece));
      at += r;
    }
    return Status::Ok();
  }
  if (value.is_sequence()) {
    const auto& elems = value.sequence();
    if (static_cast<int64_t>(elems.size()) != total)
      return Internal("output '" + name + "' is a sequence of " + std::to_string(elems.size()) +
                      " elements, not one per row of the batch's " + std::to_string(total) + " rows");
    size_t at = 0;
    for (int64_t r : rows) {
      std::vector<Value> part;
      part.reserve(static_cast<size_t>(r));
      for (int64_t i = 0; i < r; ++i) part.push_back(elems[at++].Owned());
      pieces->push_back(Value::Sequence(std::move(part), value.sequence_elem_type()));
    }
    return Status::Ok();
  }
  return Internal("output '" + name + "' is neither a tensor nor a sequence; it cannot be split per request");
}

}  // namespace onnxd::server
