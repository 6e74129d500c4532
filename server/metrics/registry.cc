#include "metrics/registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace onnxd::server {

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string FormatMetricValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[400];
  // Shortest round-trip digits, written plainly where Go's client (and so most exporters) does:
  // 0.0001 not 1e-04, 3 not 3e+00; very small or large values in exponent form (1e-07).
  const double a = std::fabs(v);
  const bool plain = a == 0 || (a >= 1e-4 && a < 1e21);
  auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), v, plain ? std::chars_format::fixed : std::chars_format::scientific);
  return ec == std::errc() ? std::string(buf, p) : std::string("NaN");
}

// ---------------------------------------------------------------------------------------------
// Histograms

StatusOr<std::shared_ptr<const HistogramBounds>> HistogramBounds::Create(std::vector<double> upper,
                                                                         double units_per_value) {
  if (upper.empty()) return InvalidArgument("a histogram needs at least one bucket bound");
  if (!(units_per_value > 0) || !std::isfinite(units_per_value))
    return InvalidArgument("histogram unit scale must be positive");
  auto b = std::shared_ptr<HistogramBounds>(new HistogramBounds());
  for (size_t i = 0; i < upper.size(); ++i) {
    const double u = upper[i];
    if (!std::isfinite(u)) return InvalidArgument("histogram bucket bounds must be finite (+Inf is implicit)");
    if (u < 0) return InvalidArgument("histogram bucket bound " + FormatMetricValue(u) + " is negative");
    if (i > 0 && !(u > upper[i - 1]))
      return InvalidArgument("histogram bucket bounds must increase: " + FormatMetricValue(upper[i - 1]) + " then " +
                             FormatMetricValue(u));
    const double scaled = std::round(u * units_per_value);
    if (scaled >= 1.8e19) return InvalidArgument("histogram bucket bound " + FormatMetricValue(u) + " is too large");
    const uint64_t s = static_cast<uint64_t>(scaled);
    if (!b->scaled_.empty() && s <= b->scaled_.back())
      return InvalidArgument("histogram bucket bounds " + FormatMetricValue(upper[i - 1]) + " and " +
                             FormatMetricValue(u) + " are closer than the observation unit");
    b->scaled_.push_back(s);
  }
  b->upper_ = std::move(upper);
  b->units_per_value_ = units_per_value;
  return std::shared_ptr<const HistogramBounds>(std::move(b));
}

size_t HistogramBounds::BucketOf(uint64_t v) const {
  // Small sorted array (about 16 bounds): a linear scan beats a binary search's branch misses.
  const size_t n = scaled_.size();
  size_t i = 0;
  while (i < n && scaled_[i] < v) ++i;
  return i;
}

std::shared_ptr<const HistogramBounds> DefaultLatencyBounds() {
  static const std::shared_ptr<const HistogramBounds> b =
      HistogramBounds::Create({0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                               2.5, 5, 10},
                              1e9)
          .value();
  return b;
}

std::shared_ptr<const HistogramBounds> DefaultBatchSizeBounds() {
  static const std::shared_ptr<const HistogramBounds> b =
      HistogramBounds::Create({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}, 1).value();
  return b;
}

StatusOr<std::vector<double>> ParseBucketList(std::string_view text) {
  std::vector<double> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ',' || text[i] == ' ')) ++i;
    if (i == text.size()) break;
    size_t j = i;
    while (j < text.size() && text[j] != ',' && text[j] != ' ') ++j;
    const std::string_view item = text.substr(i, j - i);
    double v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || p != item.data() + item.size())
      return InvalidArgument("'" + std::string(item) + "' is not a number");
    out.push_back(v);
    i = j;
  }
  if (out.empty()) return InvalidArgument("no bucket bounds given");
  return out;
}

Histogram::Histogram(std::shared_ptr<const HistogramBounds> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_->upper().size() + 1]) {
  for (size_t i = 0; i <= bounds_->upper().size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  const size_t n = bounds_->upper().size() + 1;
  s.cumulative.resize(n);
  uint64_t acc = 0;
  for (size_t i = 0; i < n; ++i) {
    acc += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = acc;
  }
  s.count = acc;
  s.sum = static_cast<double>(sum_.load(std::memory_order_relaxed)) / bounds_->units_per_value();
  return s;
}

// ---------------------------------------------------------------------------------------------
// Exposition

void ExpositionWriter::Family(std::string_view name, std::string_view type, std::string_view help) {
  if (std::find(families_.begin(), families_.end(), name) != families_.end()) return;
  families_.emplace_back(name);
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  // HELP text escapes backslash and newline.
  for (char c : help) {
    if (c == '\\') out_ += "\\\\";
    else if (c == '\n') out_ += "\\n";
    else out_ += c;
  }
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void ExpositionWriter::Name(std::string_view name, const Labels& labels, std::string_view extra_key,
                            std::string_view extra_value) {
  out_ += name;
  if (labels.empty() && extra_key.empty()) return;
  out_ += '{';
  bool first = true;
  auto label = [&](std::string_view k, std::string_view v) {
    if (!first) out_ += ',';
    first = false;
    out_ += k;
    out_ += "=\"";
    out_ += EscapeLabelValue(v);
    out_ += '"';
  };
  for (const auto& [k, v] : labels) label(k, v);
  if (!extra_key.empty()) label(extra_key, extra_value);
  out_ += '}';
}

void ExpositionWriter::Sample(std::string_view name, const Labels& labels, double value) {
  Name(name, labels);
  out_ += ' ';
  out_ += FormatMetricValue(value);
  out_ += '\n';
}

void ExpositionWriter::Sample(std::string_view name, const Labels& labels, uint64_t value) {
  Name(name, labels);
  out_ += ' ';
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out_.append(buf, p);
  out_ += '\n';
}

void ExpositionWriter::HistogramSamples(std::string_view name, const Labels& labels, const Histogram& h) {
  const Histogram::Snapshot s = h.Read();
  const auto& upper = h.bounds().upper();
  std::string series(name);
  series += "_bucket";
  char buf[24];
  for (size_t i = 0; i < s.cumulative.size(); ++i) {
    const std::string le = i < upper.size() ? FormatMetricValue(upper[i]) : std::string("+Inf");
    Name(series, labels, "le", le);
    out_ += ' ';
    auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), s.cumulative[i]);
    out_.append(buf, p);
    out_ += '\n';
  }
  Sample(std::string(name) + "_sum", labels, s.sum);
  Sample(std::string(name) + "_count", labels, s.count);
}

void MetricsRegistry::AddCollector(Collector c) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(c));
}

std::string MetricsRegistry::Render() const {
  std::vector<Collector> collectors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    collectors = collectors_;
  }
  ExpositionWriter w;
  for (const auto& c : collectors) c(w);
  return w.Take();
}

}  // namespace onnxd::server
