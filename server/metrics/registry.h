// A small Prometheus metrics registry (prometheus-cpp is not packaged for Debian 12).
//
// Two halves that never share a lock:
//   - the values: Counter, Gauge and Histogram are plain atomics owned by whoever updates them
//     (ModelStats holds a model version's). Updating one is a relaxed atomic add (a histogram adds
//     once to its bucket and once to its sum, after a search over a small sorted array); the request
//     path takes no lock and allocates nothing.
//   - the exposition: MetricsRegistry holds collectors, registered at start-up, that read the values
//     at scrape time and write them through an ExpositionWriter in the text format 0.0.4 (HELP and
//     TYPE once per family, escaped label values, histograms as _bucket/_sum/_count).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "onnxd/engine/status.h"

namespace onnxd::server {

// A label value escaped as the text format requires: backslash, double quote and newline become
// \\, \" and \n.
std::string EscapeLabelValue(std::string_view v);

// A value as the text format writes it: integers without a fraction, others in the shortest form
// that reads back exactly; +Inf, -Inf and NaN by name.
std::string FormatMetricValue(double v);

// Monotonic count.
class Counter {
 public:
  void Add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double v) { v_.store(v, std::memory_order_relaxed); }
  void Add(double d) {
    double cur = v_.load(std::memory_order_relaxed);
    while (!v_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
    }
  }
  double Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0.0};
};

// The upper bounds ("le") of a histogram's buckets, in the unit shown to Prometheus (seconds, rows),
// and the same bounds in the integer unit observations come in (nanoseconds, rows). Immutable; one
// object is shared by every histogram of a kind.
class HistogramBounds {
 public:
  // `upper`: strictly increasing, finite, at least one; `units_per_value` converts a bound to the
  // observation unit (1e9 for seconds observed in nanoseconds).
  static StatusOr<std::shared_ptr<const HistogramBounds>> Create(std::vector<double> upper, double units_per_value);

  const std::vector<double>& upper() const { return upper_; }
  double units_per_value() const { return units_per_value_; }
  // Index of the bucket an observation falls in: the first bound >= v, or upper().size() (+Inf).
  size_t BucketOf(uint64_t v) const;

 private:
  HistogramBounds() = default;
  std::vector<double> upper_;
  std::vector<uint64_t> scaled_;  // upper_ in observation units, rounded to the nearest integer
  double units_per_value_ = 1.0;
};

// Default buckets: request latencies from 100 us to 10 s (seconds), batch sizes 1 to 1024 (rows).
std::shared_ptr<const HistogramBounds> DefaultLatencyBounds();
std::shared_ptr<const HistogramBounds> DefaultBatchSizeBounds();

// "0.001,0.01,0.1" (commas or spaces between numbers) -> the numbers; rejects anything else.
StatusOr<std::vector<double>> ParseBucketList(std::string_view text);

class Histogram {
 public:
  explicit Histogram(std::shared_ptr<const HistogramBounds> bounds);

  void Observe(uint64_t v) {
    counts_[bounds_->BucketOf(v)].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
  }

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    uint64_t count = 0;
    double sum = 0;  // in the bounds' unit (seconds, rows)
  };
  // Reads the buckets one by one (a scrape racing requests may see an observation in the sum and
  // not yet in its bucket; the count is the sum of the buckets read, so the series stay consistent
  // with each other: count == the +Inf bucket).
  Snapshot Read() const;
  const HistogramBounds& bounds() const { return *bounds_; }

 private:
  std::shared_ptr<const HistogramBounds> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds + 1 (+Inf), not cumulative
  std::atomic<uint64_t> sum_{0};
};

// Labels of one sample, in the order written. Values are escaped by the writer.
using Labels = std::vector<std::pair<std::string_view, std::string_view>>;

// Text format 0.0.4 writer. Families must be written whole, one after the other; Family() writes
// HELP and TYPE the first time a name is seen, so collectors that share a family (one per model)
// may each call it.
class ExpositionWriter {
 public:
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, const Labels& labels, double value);
  void Sample(std::string_view name, const Labels& labels, uint64_t value);
  // name_bucket{labels,le=".."} for each bound and +Inf, name_sum, name_count.
  void HistogramSamples(std::string_view name, const Labels& labels, const Histogram& h);

  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void Name(std::string_view name, const Labels& labels, std::string_view extra_key = {},
            std::string_view extra_value = {});
  std::string out_;
  std::vector<std::string> families_;  // written so far (a handful; linear search is enough)
};

// The metric sources of the process, rendered in registration order. Register at start-up;
// Render is thread-safe and may run concurrently with itself.
class MetricsRegistry {
 public:
  using Collector = std::function<void(ExpositionWriter&)>;
  void AddCollector(Collector c);
  std::string Render() const;

 private:
  mutable std::mutex mu_;  // guards collectors_ (scrapes and start-up only, never requests)
  std::vector<Collector> collectors_;
};

}  // namespace onnxd::server
