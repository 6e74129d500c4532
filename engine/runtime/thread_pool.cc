#include "runtime/thread_pool.h"

#include <algorithm>
#include <climits>
#include <cstdlib>

#include "onnxd/engine/futex.h"

namespace onnxd::engine {
namespace {
thread_local bool t_in_worker = false;

// How long an idle worker looks for the next loop before it sleeps: a few microseconds at most.
constexpr int kIdleChecks = 64;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}
}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  num_threads_ = num_threads;
  for (int i = 0; i + 1 < num_threads_; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  epoch_.fetch_add(1);
  FutexWake(epoch_, INT_MAX);
  for (auto& t : workers_) t.join();
}

namespace {
std::atomic<int> g_process_threads{0};
}

void ThreadPool::SetProcessThreads(int n) { g_process_threads.store(n); }

ThreadPool& ThreadPool::Process() {
  static ThreadPool pool([] {
    int n = g_process_threads.load();
    if (n <= 0) {
      if (const char* env = std::getenv("ONNXD_NUM_THREADS")) n = std::atoi(env);
    }
    return n;
  }());
  return pool;
}

bool ThreadPool::InWorker() { return t_in_worker; }

ThreadPool::SerialScope::SerialScope(bool on) : on_(on) {
  if (on_) {
    was_ = t_in_worker;
    t_in_worker = true;
  }
}
ThreadPool::SerialScope::~SerialScope() {
  if (on_) t_in_worker = was_;
}

void ThreadPool::Work(Job* job) {
  for (;;) {
    int64_t c = job->next.fetch_add(1, std::memory_order_relaxed);
    if (c >= job->num_chunks) return;
    int64_t b = c * job->chunk;
    int64_t e = std::min(job->n, b + job->chunk);
    job->fn(job->ctx, b, e);
    if (job->done.fetch_add(1, std::memory_order_acq_rel) + 1 == job->num_chunks) job->done.notify_one();
  }
}

void ThreadPool::Run(int64_t n, int64_t grain, RangeFn fn, void* ctx) {
  Job job;
  job.fn = fn;
  job.ctx = ctx;
  job.n = n;
  // A few chunks per thread balances uneven work without much overhead.
  int64_t max_chunks = static_cast<int64_t>(num_threads_) * 4;
  // Floor division keeps every chunk at least `grain` long, as ParallelFor promises.
  int64_t chunks = std::max<int64_t>(1, std::min(n / grain, max_chunks));
  job.chunk = (n + chunks - 1) / chunks;
  job.num_chunks = (n + job.chunk - 1) / job.chunk;

  // Publish in a free slot; if all slots are taken (64 concurrent loops), run alone.
  Slot* slot = nullptr;
  for (auto& s : slots_) {
    bool expected = false;
    if (!s.claimed.load(std::memory_order_relaxed) &&
        s.claimed.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      slot = &s;
      break;
    }
  }
  if (slot != nullptr) {
    slot->job.store(&job, std::memory_order_release);
    epoch_.fetch_add(1, std::memory_order_release);
    // The caller takes chunks too: wake one worker for each other chunk, not every worker (on a
    // many-core machine waking them all for a small loop cost more CPU than the loop).
    const int64_t wake = std::min<int64_t>(job.num_chunks - 1, static_cast<int64_t>(workers_.size()));
    if (wake > 0) FutexWake(epoch_, static_cast<int>(wake));
  }
  bool was_worker = t_in_worker;
  t_in_worker = true;  // nested loops inside fn run serially
  Work(&job);
  t_in_worker = was_worker;
  if (slot != nullptr) {
    // Sequentially consistent with the workers' users.fetch_add / job reload below (a store then a
    // load on each side): either the worker sees null here, or this thread sees its users count.
    // With release/acquire alone the users read below may pass the store, see 0, and return while
    // a worker still runs `job` off this frame.
    slot->job.store(nullptr, std::memory_order_seq_cst);
    // Wait until every chunk finished and no worker still holds a pointer to `job`. These waits
    // are for chunks already running, so std::atomic's wait (a short spin before the futex) fits.
    for (uint32_t d = job.done.load(std::memory_order_acquire); d < job.num_chunks;
         d = job.done.load(std::memory_order_acquire)) {
      job.done.wait(d, std::memory_order_acquire);
    }
    for (int32_t u = slot->users.load(std::memory_order_seq_cst); u != 0;
         u = slot->users.load(std::memory_order_seq_cst)) {
      slot->users.wait(u, std::memory_order_acquire);
    }
    slot->claimed.store(false, std::memory_order_release);
  }
}

void ThreadPool::WorkerLoop() {
  t_in_worker = true;
  while (!stop_.load(std::memory_order_acquire)) {
    uint32_t seen = epoch_.load(std::memory_order_acquire);
    bool worked = false;
    for (auto& s : slots_) {
      if (s.job.load(std::memory_order_acquire) == nullptr) continue;
      s.users.fetch_add(1, std::memory_order_seq_cst);
      Job* job = s.job.load(std::memory_order_seq_cst);
      if (job != nullptr && job->next.load(std::memory_order_relaxed) < job->num_chunks) {
        Work(job);
        worked = true;
      }
      if (s.users.fetch_sub(1, std::memory_order_acq_rel) == 1) s.users.notify_one();
    }
    if (worked) continue;
    // A worker that just finished a chunk often has the next loop published within a microsecond or
    // two (the same request's next op): look for it that long before sleeping. Never sched_yield:
    // on a busy machine that hands the core to nobody useful and burns the time slice.
    bool moved = false;
    for (int k = 0; k < kIdleChecks && !moved; ++k) {
      CpuRelax();
      moved = epoch_.load(std::memory_order_acquire) != seen;
    }
    if (!moved) FutexWait(epoch_, seen);  // returns at once if a loop was published since `seen`
  }
}

}  // namespace onnxd::engine
