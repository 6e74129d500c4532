#include "runtime/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace onnxd::engine {
namespace {

TEST(ThreadPoolTest, CoversEveryIndexExactlyOnce) {
  ThreadPool pool(4);
  for (int64_t n : {1, 7, 64, 1000, 100003}) {
    std::vector<std::atomic<int>> hits(n);
    pool.ParallelFor(n, 3, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
  }
}

TEST(ThreadPoolTest, ChunksAreAtLeastTheGrain) {
  ThreadPool pool(4);
  for (int64_t n : {100, 512, 1000, 4097}) {
    for (int64_t grain : {7, 81, 200}) {
      std::atomic<int64_t> shortest{n};
      std::atomic<int> chunks{0};
      pool.ParallelFor(n, grain, [&](int64_t b, int64_t e) {
        chunks++;
        if (e != n) {  // only the last range may be shorter
          int64_t len = e - b, cur = shortest.load();
          while (len < cur && !shortest.compare_exchange_weak(cur, len)) {
          }
        }
      });
      if (chunks.load() > 1) {
        EXPECT_GE(shortest.load(), grain) << "n=" << n << " grain=" << grain;
      }
    }
  }
}

TEST(ThreadPoolTest, SerialScopeKeepsLoopsOnTheCaller) {
  ThreadPool pool(4);
  const auto me = std::this_thread::get_id();
  std::atomic<int> elsewhere{0};
  {
    ThreadPool::SerialScope serial(true);
    for (int rep = 0; rep < 50; ++rep)
      pool.ParallelFor(64, 1, [&](int64_t, int64_t) {
        if (std::this_thread::get_id() != me) elsewhere++;
      });
  }
  EXPECT_EQ(elsewhere.load(), 0);
  // Off again once the scope ends (and a scope that is off changes nothing): some range of a long
  // loop whose ranges sleep lands on a pool thread.
  ThreadPool::SerialScope off(false);
  pool.ParallelFor(64, 1, [&](int64_t, int64_t) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    if (std::this_thread::get_id() != me) elsewhere++;
  });
  EXPECT_GT(elsewhere.load(), 0);
}

TEST(ThreadPoolTest, ZeroAndNegativeRangesDoNothing) {
  ThreadPool pool(2);
  int calls = 0;
  pool.ParallelFor(0, 1, [&](int64_t, int64_t) { ++calls; });
  pool.ParallelFor(-5, 1, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(ThreadPoolTest, ConcurrentCallersAndNestedLoops) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 6; ++c) {
    callers.emplace_back([&] {
      for (int rep = 0; rep < 50; ++rep) {
        pool.ParallelFor(100, 1, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            // A nested loop runs inline on the worker; it must still cover its range.
            pool.ParallelFor(10, 1, [&](int64_t nb, int64_t ne) { total.fetch_add(ne - nb); });
          }
        });
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 6 * 50 * 100 * 10);
}

TEST(ThreadPoolTest, SingleThreadPoolRunsInline) {
  ThreadPool pool(1);
  EXPECT_EQ(pool.num_threads(), 1);
  std::thread::id caller = std::this_thread::get_id();
  bool inline_only = true;
  pool.ParallelFor(1000, 1, [&](int64_t, int64_t) { inline_only &= std::this_thread::get_id() == caller; });
  EXPECT_TRUE(inline_only);
}

}  // namespace
}  // namespace onnxd::engine
