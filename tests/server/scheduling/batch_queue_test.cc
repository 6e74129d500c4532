// The dynamic batcher's rules, driven by a fake clock: every time is passed in, nothing sleeps.
#include "scheduling/batch_queue.h"

#include <gtest/gtest.h>

#include <atomic>

namespace onnxd::server {
namespace {

using std::chrono::microseconds;

struct FakeJob : QueuedJob {
  int tag = 0;
};

TimePoint T0() { return TimePoint() + std::chrono::hours(1); }

BatchPolicy Batching(int64_t max_batch, int64_t delay_us, std::vector<int64_t> preferred = {}) {
  BatchPolicy p;
  p.dynamic_batching = true;
  p.max_batch_size = max_batch;
  p.max_queue_delay = microseconds(delay_us);
  p.preferred_batch_sizes = std::move(preferred);
  p.queues.emplace_back();
  return p;
}

class Q {
 public:
  explicit Q(BatchPolicy p) : q_(std::move(p)) {}
  Status Push(int tag, TimePoint now, int64_t rows = 1, std::vector<int64_t> key = {1}, uint64_t priority = 0,
              uint64_t timeout_us = 0, const std::atomic<bool>* cancelled = nullptr,
              TimePoint deadline = TimePoint::max()) {
    auto j = std::make_unique<FakeJob>();
    j->tag = tag;
    j->rows = rows;
    j->shape_key = std::move(key);
    j->cancelled = cancelled;
    j->deadline = deadline;
    std::unique_ptr<QueuedJob> q(std::move(j));
    Status st = q_.Push(q, now, priority, timeout_us);
    EXPECT_EQ(st.ok(), q == nullptr) << "a refused job stays with the caller";
    return st;
  }
  BatchQueue::Decision Next(TimePoint now, bool running = true) { return q_.Next(now, running); }
  size_t size() const { return q_.size(); }
  int64_t rows() const { return q_.rows(); }
  bool PushChangesNext(TimePoint wake) const { return q_.PushChangesNext(wake); }

 private:
  BatchQueue q_;
};

std::vector<int> Tags(const std::vector<std::unique_ptr<QueuedJob>>& v) {
  std::vector<int> out;
  for (const auto& j : v) out.push_back(static_cast<const FakeJob&>(*j).tag);
  return out;
}

// A drainer waiting for the batch to fill is woken only by arrivals that change Next's answer.
TEST(BatchQueueTest, OnlyArrivalsThatChangeTheBatchWakeTheDrainer) {
  Q q(Batching(8, 1'000'000, {4}));
  const TimePoint wake = T0() + microseconds(1'000'000);
  ASSERT_TRUE(q.Push(1, T0()).ok());
  EXPECT_FALSE(q.PushChangesNext(wake)) << "one row: the batch keeps filling";
  ASSERT_TRUE(q.Push(2, T0(), 2).ok());
  EXPECT_FALSE(q.PushChangesNext(wake));
  ASSERT_TRUE(q.Push(3, T0()).ok());
  EXPECT_TRUE(q.PushChangesNext(wake)) << "4 rows is a preferred size";
  ASSERT_TRUE(q.Push(4, T0()).ok());
  EXPECT_FALSE(q.PushChangesNext(wake));
  ASSERT_TRUE(q.Push(5, T0(), 1, {1}, 0, 0, nullptr, T0() + microseconds(10)).ok());
  EXPECT_TRUE(q.PushChangesNext(wake)) << "its deadline comes before the planned look";
  EXPECT_EQ(q.rows(), 6);
  auto d = q.Next(T0(), true);
  EXPECT_EQ(Tags(d.batch), (std::vector<int>{1, 2, 3})) << "the preferred batch of 4 rows";
  EXPECT_EQ(q.rows(), 2);
  ASSERT_TRUE(q.Push(6, T0(), 1, {2}).ok());
  EXPECT_TRUE(q.PushChangesNext(wake)) << "other dims cannot join the batch at the front";
  ASSERT_TRUE(q.Push(7, T0(), 6).ok());
  EXPECT_TRUE(q.PushChangesNext(wake)) << "9 rows queued: a full batch";
  d = q.Next(T0() + microseconds(20), true);
  EXPECT_EQ(Tags(d.expired), (std::vector<int>{5}));
  EXPECT_EQ(Tags(d.batch), (std::vector<int>{4})) << "job 6 cannot join";
  EXPECT_EQ(q.rows(), 7);

  BatchPolicy one_at_a_time;
  one_at_a_time.queues.emplace_back();
  Q single(one_at_a_time);
  ASSERT_TRUE(single.Push(1, T0()).ok());
  EXPECT_TRUE(single.PushChangesNext(wake)) << "without dynamic batching every request runs alone";
}

TEST(BatchQueueTest, FormsBatchAtMaxSizeWithoutWaiting) {
  Q q(Batching(4, 1'000'000));
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(q.Push(i, T0()).ok());
  auto d = q.Next(T0());
  EXPECT_EQ(Tags(d.batch), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(q.size(), 2u);
}

TEST(BatchQueueTest, WaitsForTheDelayThenSendsWhatItHas) {
  Q q(Batching(8, 100));
  ASSERT_TRUE(q.Push(0, T0()).ok());
  ASSERT_TRUE(q.Push(1, T0() + microseconds(30)).ok());
  auto d = q.Next(T0() + microseconds(50));
  EXPECT_TRUE(d.batch.empty());
  EXPECT_EQ(d.wake, T0() + microseconds(100)) << "wakes when the oldest request's delay ends";
  d = q.Next(T0() + microseconds(99));
  EXPECT_TRUE(d.batch.empty());
  d = q.Next(T0() + microseconds(100));
  EXPECT_EQ(Tags(d.batch), (std::vector<int>{0, 1}));
  EXPECT_EQ(q.size(), 0u);
  d = q.Next(T0() + microseconds(200));
  EXPECT_TRUE(d.batch.empty());
  EXPECT_EQ(d.wake, TimePoint::max()) << "nothing queued: wait for arrivals";
}

TEST(BatchQueueTest, IdleModelDoesNotWaitForTheDelay) {
  Q q(Batching(8, 100));
  ASSERT_TRUE(q.Push(0, T0()).ok());
  EXPECT_TRUE(q.Next(T0(), /*runs_in_flight=*/true).batch.empty()) << "runs in flight: wait for company";
  EXPECT_EQ(Tags(q.Next(T0(), /*runs_in_flight=*/false).batch), (std::vector<int>{0}))
      << "nothing running: nothing is about to bring more requests, so send at once";
}

TEST(BatchQueueTest, NoDelaySendsAtOnce) {
  Q q(Batching(8, 0));
  ASSERT_TRUE(q.Push(0, T0()).ok());
  ASSERT_TRUE(q.Push(1, T0()).ok());
  EXPECT_EQ(Tags(q.Next(T0()).batch), (std::vector<int>{0, 1}));
}

TEST(BatchQueueTest, SendsThePreferredSizeBeforeTheDelay) {
  Q q(Batching(8, 1'000'000, {2, 4}));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(q.Push(i, T0()).ok());
  EXPECT_EQ(Tags(q.Next(T0()).batch), (std::vector<int>{0, 1})) << "largest preferred size reachable is 2";
  ASSERT_TRUE(q.Push(3, T0()).ok());
  ASSERT_TRUE(q.Push(4, T0()).ok());
  ASSERT_TRUE(q.Push(5, T0()).ok());
  EXPECT_EQ(Tags(q.Next(T0()).batch), (std::vector<int>{2, 3, 4, 5})) << "4 rows queued: preferred 4 wins over 2";
  ASSERT_TRUE(q.Push(6, T0()).ok());
  auto d = q.Next(T0());
  EXPECT_TRUE(d.batch.empty()) << "1 row is no preferred size: wait for the delay";
}

TEST(BatchQueueTest, CountsRowsOfMultiRowRequests) {
  Q q(Batching(4, 1'000'000));
  ASSERT_TRUE(q.Push(0, T0(), 3).ok());
  ASSERT_TRUE(q.Push(1, T0(), 3).ok());
  auto d = q.Next(T0());
  EXPECT_EQ(Tags(d.batch), (std::vector<int>{0})) << "3 + 3 rows exceed max_batch_size 4: the first goes alone";
  d = q.Next(T0());
  EXPECT_TRUE(d.batch.empty()) << "3 rows, room for 1 more: waits for the delay";
  ASSERT_TRUE(q.Push(2, T0(), 1).ok());
  EXPECT_EQ(Tags(q.Next(T0()).batch), (std::vector<int>{1, 2}));
}

TEST(BatchQueueTest, NeverBatchesDifferentShapes) {
  Q q(Batching(8, 1'000'000));
  ASSERT_TRUE(q.Push(0, T0(), 1, {1, 2, 3}).ok());
  ASSERT_TRUE(q.Push(1, T0(), 1, {1, 2, 3}).ok());
  ASSERT_TRUE(q.Push(2, T0(), 1, {1, 2, 5}).ok());
  ASSERT_TRUE(q.Push(3, T0(), 1, {1, 2, 3}).ok());
  EXPECT_EQ(Tags(q.Next(T0()).batch), (std::vector<int>{0, 1})) << "stops at the first other shape, keeps order";
  auto d = q.Next(T0());
  EXPECT_EQ(Tags(d.batch), (std::vector<int>{2}));
  d = q.Next(T0());
  EXPECT_TRUE(d.batch.empty()) << "the last one waits for company until the delay";
  EXPECT_EQ(Tags(q.Next(T0() + std::chrono::seconds(1)).batch), (std::vector<int>{3}));
}

TEST(BatchQueueTest, KeepsArrivalOrder) {
  Q q(Batching(16, 0));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(q.Push(i, T0() + microseconds(i)).ok());
  auto d = q.Next(T0() + microseconds(20));
  EXPECT_EQ(Tags(d.batch), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  for (size_t i = 1; i < d.batch.size(); ++i) EXPECT_GT(d.batch[i]->sequence, d.batch[i - 1]->sequence);
}

TEST(BatchQueueTest, WithoutDynamicBatchingRunsOneRequestAtATime) {
  BatchPolicy p = Batching(8, 1'000'000);
  p.dynamic_batching = false;
  Q q(p);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(q.Push(i, T0()).ok());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Tags(q.Next(T0()).batch), (std::vector<int>{i}));
}

TEST(BatchQueueTest, HigherPriorityGoesFirst) {
  BatchPolicy p = Batching(2, 0);
  p.queues.resize(3);
  p.default_priority = 1;  // level 2
  Q q(p);
  ASSERT_TRUE(q.Push(0, T0(), 1, {1}, 3).ok());  // lowest
  ASSERT_TRUE(q.Push(1, T0(), 1, {1}, 0).ok());  // default (2)
  ASSERT_TRUE(q.Push(2, T0(), 1, {1}, 1).ok());  // highest
  ASSERT_TRUE(q.Push(3, T0(), 1, {1}, 1).ok());
  EXPECT_EQ(Tags(q.Next(T0()).batch), (std::vector<int>{2, 3}));
  EXPECT_EQ(Tags(q.Next(T0()).batch), (std::vector<int>{1, 0}));
  Status bad = q.Push(9, T0(), 1, {1}, 4);
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("priority 4"), std::string::npos) << bad.message();
}

TEST(BatchQueueTest, RefusesWhenTheQueueIsFull) {
  BatchPolicy p = Batching(4, 1'000'000);
  p.queues[0].max_queue_size = 2;
  Q q(p);
  ASSERT_TRUE(q.Push(0, T0()).ok());
  ASSERT_TRUE(q.Push(1, T0()).ok());
  Status full = q.Push(2, T0());
  EXPECT_EQ(full.code(), StatusCode::kUnavailable);
  EXPECT_NE(full.message().find("queue is full"), std::string::npos) << full.message();
  EXPECT_EQ(q.size(), 2u);
}

TEST(BatchQueueTest, QueueTimeoutRejects) {
  BatchPolicy p = Batching(4, 1'000'000);
  p.queues[0].default_timeout = microseconds(50);
  p.queues[0].allow_timeout_override = true;
  Q q(p);
  ASSERT_TRUE(q.Push(0, T0()).ok());
  ASSERT_TRUE(q.Push(1, T0(), 1, {1}, 0, /*timeout_us=*/500).ok());
  auto d = q.Next(T0() + microseconds(60));
  EXPECT_EQ(Tags(d.expired), (std::vector<int>{0}));
  EXPECT_EQ(d.expired[0]->status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(d.batch.empty()) << "job 1's own timeout (500 us) overrides the default";
  EXPECT_EQ(d.wake, T0() + microseconds(500)) << "wakes at the queued job's timeout, before the delay";
  d = q.Next(T0() + microseconds(500));
  EXPECT_EQ(Tags(d.expired), (std::vector<int>{1}));
}

TEST(BatchQueueTest, QueueTimeoutDelayMovesBehindEveryone) {
  BatchPolicy p = Batching(1, 0);
  p.queues[0].default_timeout = microseconds(50);
  p.queues[0].delay_on_timeout = true;
  Q q(p);
  ASSERT_TRUE(q.Push(0, T0()).ok());
  ASSERT_TRUE(q.Push(1, T0() + microseconds(40)).ok());
  ASSERT_TRUE(q.Push(2, T0() + microseconds(55)).ok());
  auto d = q.Next(T0() + microseconds(60));
  EXPECT_TRUE(d.expired.empty());
  EXPECT_EQ(Tags(d.batch), (std::vector<int>{1})) << "job 0 timed out: it waits behind the others";
  EXPECT_EQ(Tags(q.Next(T0() + microseconds(61)).batch), (std::vector<int>{2}));
  EXPECT_EQ(Tags(q.Next(T0() + microseconds(62)).batch), (std::vector<int>{0}));
}

TEST(BatchQueueTest, DropsCancelledAndExpiredRequests) {
  Q q(Batching(4, 1'000'000));
  std::atomic<bool> cancelled{false};
  ASSERT_TRUE(q.Push(0, T0(), 1, {1}, 0, 0, &cancelled).ok());
  ASSERT_TRUE(q.Push(1, T0(), 1, {1}, 0, 0, nullptr, T0() + microseconds(10)).ok());
  ASSERT_TRUE(q.Push(2, T0()).ok());
  cancelled = true;
  auto d = q.Next(T0() + microseconds(20));
  ASSERT_EQ(Tags(d.expired), (std::vector<int>{0, 1}));
  EXPECT_EQ(d.expired[0]->status.code(), StatusCode::kCancelled);
  EXPECT_EQ(d.expired[1]->status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(q.size(), 1u);
}

TEST(BatchQueueTest, PolicyFromConfig) {
  inference::ModelConfig c;
  c.set_max_batch_size(8);
  auto* db = c.mutable_dynamic_batching();
  db->add_preferred_batch_size(4);
  db->add_preferred_batch_size(2);
  db->add_preferred_batch_size(16);  // above max: ignored
  db->set_max_queue_delay_microseconds(250);
  db->set_priority_levels(3);
  db->set_default_priority_level(3);
  db->mutable_default_queue_policy()->set_max_queue_size(7);
  (*db->mutable_priority_queue_policy())[1].set_timeout_action(inference::ModelQueuePolicy::DELAY);
  BatchPolicy p = BatchPolicy::FromConfig(c, 100);
  EXPECT_TRUE(p.dynamic_batching);
  EXPECT_EQ(p.preferred_batch_sizes, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(p.max_queue_delay, microseconds(250));
  ASSERT_EQ(p.queues.size(), 3u);
  EXPECT_EQ(p.default_priority, 2u);
  EXPECT_TRUE(p.queues[0].delay_on_timeout);
  EXPECT_EQ(p.queues[0].max_queue_size, 100u) << "level 1's own policy leaves the size to the server default";
  EXPECT_EQ(p.queues[1].max_queue_size, 7u);
  inference::ModelConfig plain;
  plain.set_max_batch_size(8);
  EXPECT_FALSE(BatchPolicy::FromConfig(plain, 100).dynamic_batching);
}

}  // namespace
}  // namespace onnxd::server
