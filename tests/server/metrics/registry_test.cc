// The metrics registry: bucket placement at the bounds, cumulative exposition, label escaping,
// HELP/TYPE once per family, bucket lists from the command line, failure reasons.
#include "metrics/registry.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "lifecycle/model_stats.h"

namespace onnxd::server {
namespace {

std::shared_ptr<const HistogramBounds> Bounds(std::vector<double> upper, double scale) {
  auto b = HistogramBounds::Create(std::move(upper), scale);
  EXPECT_TRUE(b.ok()) << b.status().message();
  return b.ok() ? *b : nullptr;
}

TEST(HistogramBoundsTest, ObservationsFallInTheFirstBucketWhoseBoundIsAtLeastThem) {
  auto b = Bounds({0.001, 0.01, 0.1}, 1e9);  // seconds, observed in ns
  EXPECT_EQ(b->BucketOf(0), 0u);
  EXPECT_EQ(b->BucketOf(1'000'000), 0u);  // exactly 1 ms: le="0.001" (bounds are inclusive)
  EXPECT_EQ(b->BucketOf(1'000'001), 1u);
  EXPECT_EQ(b->BucketOf(10'000'000), 1u);
  EXPECT_EQ(b->BucketOf(100'000'000), 2u);
  EXPECT_EQ(b->BucketOf(100'000'001), 3u);  // +Inf
  EXPECT_EQ(b->BucketOf(UINT64_MAX), 3u);
}

TEST(HistogramBoundsTest, RejectsBadBounds) {
  EXPECT_FALSE(HistogramBounds::Create({}, 1).ok());
  EXPECT_FALSE(HistogramBounds::Create({1, 1}, 1).ok());
  EXPECT_FALSE(HistogramBounds::Create({2, 1}, 1).ok());
  EXPECT_FALSE(HistogramBounds::Create({-1, 1}, 1).ok());
  EXPECT_FALSE(HistogramBounds::Create({1, std::numeric_limits<double>::infinity()}, 1).ok());
  EXPECT_FALSE(HistogramBounds::Create({1.2, 1.4}, 1).ok());  // both round to 1 row
  EXPECT_TRUE(HistogramBounds::Create({1e-6, 2e-6}, 1e9).ok());
}

TEST(HistogramBoundsTest, DefaultsAreValid) {
  EXPECT_GE(DefaultLatencyBounds()->upper().size(), 10u);
  EXPECT_EQ(DefaultLatencyBounds()->units_per_value(), 1e9);
  EXPECT_EQ(DefaultBatchSizeBounds()->upper().front(), 1);
}

TEST(ParseBucketListTest, CommasOrSpaces) {
  auto l = ParseBucketList("0.001,0.01, 0.1 1");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, (std::vector<double>{0.001, 0.01, 0.1, 1}));
  EXPECT_FALSE(ParseBucketList("").ok());
  EXPECT_FALSE(ParseBucketList("0.1,abc").ok());
  EXPECT_FALSE(ParseBucketList("0.1x").ok());
}

TEST(HistogramTest, SnapshotIsCumulativeWithSumInTheBoundUnit) {
  Histogram h(Bounds({0.001, 0.01}, 1e9));
  h.Observe(500'000);     // 0.5 ms
  h.Observe(1'000'000);   // 1 ms
  h.Observe(5'000'000);   // 5 ms
  h.Observe(50'000'000);  // 50 ms
  Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_EQ(s.count, 4u);
  EXPECT_DOUBLE_EQ(s.sum, 0.0565);
}

TEST(HistogramTest, ConcurrentObservationsAreAllCounted) {
  Histogram h(DefaultBatchSizeBounds());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&h, t] {
      for (int i = 0; i < 10000; ++i) h.Observe(static_cast<uint64_t>(1 + (i + t) % 300));
    });
  for (auto& t : threads) t.join();
  Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.count, 40000u);
  uint64_t expect_sum = 0;
  for (int t = 0; t < 4; ++t)
    for (int i = 0; i < 10000; ++i) expect_sum += 1 + (i + t) % 300;
  EXPECT_DOUBLE_EQ(s.sum, static_cast<double>(expect_sum));
}

TEST(ExpositionWriterTest, HistogramSeries) {
  Histogram h(Bounds({1, 4}, 1));
  h.Observe(1);
  h.Observe(3);
  h.Observe(9);
  ExpositionWriter w;
  w.Family("onnxd_inference_batch_size", "histogram", "Rows per execution");
  w.HistogramSamples("onnxd_inference_batch_size", {{"model", "m"}, {"version", "1"}}, h);
  EXPECT_EQ(w.text(),
            "# HELP onnxd_inference_batch_size Rows per execution\n"
            "# TYPE onnxd_inference_batch_size histogram\n"
            "onnxd_inference_batch_size_bucket{model=\"m\",version=\"1\",le=\"1\"} 1\n"
            "onnxd_inference_batch_size_bucket{model=\"m\",version=\"1\",le=\"4\"} 2\n"
            "onnxd_inference_batch_size_bucket{model=\"m\",version=\"1\",le=\"+Inf\"} 3\n"
            "onnxd_inference_batch_size_sum{model=\"m\",version=\"1\"} 13\n"
            "onnxd_inference_batch_size_count{model=\"m\",version=\"1\"} 3\n");
}

TEST(ExpositionWriterTest, EscapesLabelValuesAndHelpAndWritesEachHeaderOnce) {
  ExpositionWriter w;
  w.Family("x_total", "counter", "a \\ b\nc");
  w.Sample("x_total", {{"model", "we\"ird\\na\nme"}}, uint64_t{7});
  w.Family("x_total", "counter", "a \\ b\nc");  // a second collector of the same family
  w.Sample("x_total", {}, 0.25);
  EXPECT_EQ(w.text(),
            "# HELP x_total a \\\\ b\\nc\n"
            "# TYPE x_total counter\n"
            "x_total{model=\"we\\\"ird\\\\na\\nme\"} 7\n"
            "x_total 0.25\n");
}

TEST(ExpositionWriterTest, ValueFormats) {
  EXPECT_EQ(FormatMetricValue(3), "3");
  EXPECT_EQ(FormatMetricValue(0.005), "0.005");
  EXPECT_EQ(FormatMetricValue(1e-7), "1e-07");
  EXPECT_EQ(FormatMetricValue(0.0001), "0.0001");
  EXPECT_EQ(FormatMetricValue(0.00025), "0.00025");
  EXPECT_EQ(FormatMetricValue(1e21), "1e+21");
  EXPECT_EQ(FormatMetricValue(123456789012), "123456789012");
  EXPECT_EQ(FormatMetricValue(-2.5), "-2.5");
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(MetricsRegistryTest, RendersCollectorsInOrder) {
  MetricsRegistry r;
  Counter c;
  Gauge g;
  r.AddCollector([&](ExpositionWriter& w) {
    w.Family("a_total", "counter", "A");
    w.Sample("a_total", {}, c.Value());
  });
  r.AddCollector([&](ExpositionWriter& w) {
    w.Family("b", "gauge", "B");
    w.Sample("b", {}, g.Value());
  });
  c.Add(2);
  c.Add();
  g.Set(1.5);
  g.Add(-0.25);
  EXPECT_EQ(r.Render(), "# HELP a_total A\n# TYPE a_total counter\na_total 3\n# HELP b B\n# TYPE b gauge\nb 1.25\n");
}

TEST(FailureReasonTest, TritonReasons) {
  // Refused before running: queue full or model unloading (UNAVAILABLE) -> REJECTED.
  EXPECT_EQ(ClassifyFailure(StatusCode::kUnavailable, false, false), FailureReason::kRejected);
  // The queue policy's timeout (the request's own deadline not passed) -> REJECTED, as Triton's
  // "Request timeout expired".
  EXPECT_EQ(ClassifyFailure(StatusCode::kDeadlineExceeded, false, false), FailureReason::kRejected);
  // The client's deadline, in the queue or during the run, and cancellation -> CANCELED.
  EXPECT_EQ(ClassifyFailure(StatusCode::kDeadlineExceeded, false, true), FailureReason::kCanceled);
  EXPECT_EQ(ClassifyFailure(StatusCode::kDeadlineExceeded, true, false), FailureReason::kCanceled);
  EXPECT_EQ(ClassifyFailure(StatusCode::kCancelled, false, false), FailureReason::kCanceled);
  EXPECT_EQ(ClassifyFailure(StatusCode::kCancelled, true, false), FailureReason::kCanceled);
  // The engine failed -> BACKEND, whatever its code.
  EXPECT_EQ(ClassifyFailure(StatusCode::kInternal, true, false), FailureReason::kBackend);
  EXPECT_EQ(ClassifyFailure(StatusCode::kInvalidArgument, true, false), FailureReason::kBackend);
  // Bad requests -> OTHER.
  EXPECT_EQ(ClassifyFailure(StatusCode::kInvalidArgument, false, false), FailureReason::kOther);
  EXPECT_EQ(ClassifyFailure(StatusCode::kNotFound, false, false), FailureReason::kOther);
  EXPECT_STREQ(FailureReasonName(FailureReason::kRejected), "REJECTED");
  EXPECT_STREQ(FailureReasonName(FailureReason::kCanceled), "CANCELED");
  EXPECT_STREQ(FailureReasonName(FailureReason::kBackend), "BACKEND");
  EXPECT_STREQ(FailureReasonName(FailureReason::kOther), "OTHER");
}

TEST(ModelStatsTest, FailuresByReasonAddUpToTheFailCount) {
  ModelStats s;
  s.AddFailure(FailureReason::kRejected, 10);
  s.AddFailure(FailureReason::kOther, 20);
  s.AddFailure(FailureReason::kOther, 30);
  EXPECT_EQ(s.fail.count.load(), 3u);
  EXPECT_EQ(s.fail.ns.load(), 60u);
  EXPECT_EQ(s.failures_of(FailureReason::kRejected), 1u);
  EXPECT_EQ(s.failures_of(FailureReason::kOther), 2u);
  EXPECT_EQ(s.failures_of(FailureReason::kBackend), 0u);
}

}  // namespace
}  // namespace onnxd::server
