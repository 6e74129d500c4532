#include "value_compare.h"

#include <cmath>
#include <sstream>

namespace onnxd::testing {
namespace {

double ElementAsDouble(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat: return t.data<float>()[i];
    case DataType::kDouble: return t.data<double>()[i];
    case DataType::kFloat16: return static_cast<float>(t.data<Float16>()[i]);
    case DataType::kBFloat16: return static_cast<float>(t.data<BFloat16>()[i]);
    case DataType::kInt8: return t.data<int8_t>()[i];
    case DataType::kInt16: return t.data<int16_t>()[i];
    case DataType::kInt32: return t.data<int32_t>()[i];
    case DataType::kInt64: return static_cast<double>(t.data<int64_t>()[i]);
    case DataType::kUInt8: return t.data<uint8_t>()[i];
    case DataType::kUInt16: return t.data<uint16_t>()[i];
    case DataType::kUInt32: return t.data<uint32_t>()[i];
    case DataType::kUInt64: return static_cast<double>(t.data<uint64_t>()[i]);
    case DataType::kBool: return t.data<bool>()[i] ? 1.0 : 0.0;
    case DataType::kInt4:
    case DataType::kInt2: return t.data<int8_t>()[i];
    case DataType::kUInt4:
    case DataType::kUInt2: return t.data<uint8_t>()[i];
    default:
      if (IsNarrowFloat(t.dtype())) return NarrowFloatToFloat(t.dtype(), t.data<uint8_t>()[i]);
      return 0;
  }
}

std::string CompareTensors(const Tensor& a, const Tensor& e, double rtol, double atol) {
  std::ostringstream os;
  if (a.dtype() != e.dtype()) {
    os << "dtype " << DataTypeName(a.dtype()) << ", expected " << DataTypeName(e.dtype());
    return os.str();
  }
  if (a.shape() != e.shape()) {
    os << "shape " << a.shape().ToString() << ", expected " << e.shape().ToString();
    return os.str();
  }
  const int64_t n = e.num_elements();
  if (e.dtype() == DataType::kString) {
    for (int64_t i = 0; i < n; ++i)
      if (a.data<std::string>()[i] != e.data<std::string>()[i]) {
        os << "element " << i << ": \"" << a.data<std::string>()[i] << "\", expected \"" << e.data<std::string>()[i] << "\"";
        return os.str();
      }
    return "";
  }
  // Narrow floats compare exactly too: one step of float8 is far above any tolerance.
  const bool exact = !IsFloatingPoint(e.dtype());
  for (int64_t i = 0; i < n; ++i) {
    double x = ElementAsDouble(a, i), y = ElementAsDouble(e, i);
    if (std::isnan(x) && std::isnan(y)) continue;
    if (exact) {
      if (e.dtype() == DataType::kInt64 || e.dtype() == DataType::kUInt64) {
        // Compare 64-bit integers without going through double.
        bool same = e.dtype() == DataType::kInt64 ? a.data<int64_t>()[i] == e.data<int64_t>()[i]
                                                  : a.data<uint64_t>()[i] == e.data<uint64_t>()[i];
        if (same) continue;
      } else if (x == y) {
        continue;
      }
      os << "element " << i << ": " << x << ", expected " << y;
      return os.str();
    }
    if (std::isinf(y) && x == y) continue;
    if (!(std::fabs(x - y) <= atol + rtol * std::fabs(y))) {
      os.precision(9);
      os << "element " << i << ": " << x << ", expected " << y << " (|diff| " << std::fabs(x - y) << ")";
      return os.str();
    }
  }
  return "";
}

}  // namespace

std::string CompareValues(const Value& actual, const Value& expected, double rtol, double atol) {
  if (actual.kind() != expected.kind()) {
    auto name = [](ValueKind k) {
      switch (k) {
        case ValueKind::kNone: return "none";
        case ValueKind::kTensor: return "tensor";
        case ValueKind::kSequence: return "sequence";
        case ValueKind::kMap: return "map";
      }
      return "?";
    };
    return std::string("got a ") + name(actual.kind()) + ", expected a " + name(expected.kind());
  }
  switch (expected.kind()) {
    case ValueKind::kNone: return "";
    case ValueKind::kTensor: return CompareTensors(actual.tensor(), expected.tensor(), rtol, atol);
    case ValueKind::kSequence: {
      const auto& a = actual.sequence();
      const auto& e = expected.sequence();
      if (a.size() != e.size())
        return "sequence length " + std::to_string(a.size()) + ", expected " + std::to_string(e.size());
      for (size_t i = 0; i < e.size(); ++i) {
        std::string d = CompareValues(a[i], e[i], rtol, atol);
        if (!d.empty()) return "sequence element " + std::to_string(i) + ": " + d;
      }
      return "";
    }
    case ValueKind::kMap: {
      std::string d = CompareTensors(actual.map().keys, expected.map().keys, 0, 0);
      if (!d.empty()) return "map keys: " + d;
      d = CompareTensors(actual.map().values, expected.map().values, rtol, atol);
      return d.empty() ? "" : "map values: " + d;
    }
  }
  return "";
}

}  // namespace onnxd::testing
