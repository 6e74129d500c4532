// The process's one intra-op thread pool (ARCHITECTURE.md: threads bounded by cores however many
// models are loaded). Every session of every model shares it; the calling thread always takes part
// in its own parallel loop, so concurrent callers never wait on each other's work.
//
// Thread-safety: ParallelFor may be called from any number of threads at once. A ParallelFor made
// from inside a pool task runs serially on that thread (no nested fan-out, no deadlock).
// Idle workers block on a futex (onnxd/engine/futex.h); nothing spins while idle, and a loop wakes
// only as many of them as it has chunks for the others.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace onnxd::engine {

class ThreadPool {
 public:
  // `num_threads` is the total parallelism including the caller; 0 means hardware concurrency.
  explicit ThreadPool(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(begin, end) over disjoint ranges covering [0, n), each at least `grain` long
  // (except the last). Returns when all ranges are done. Allocates nothing.
  template <typename F>
  void ParallelFor(int64_t n, int64_t grain, F&& fn) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (n <= grain || num_threads_ <= 1 || InWorker()) {
      fn(int64_t{0}, n);
      return;
    }
    Run(n, grain, &Trampoline<std::remove_reference_t<F>>, &fn);
  }

  // While alive (and `on`), ParallelFor calls made on this thread run serially on it: for a caller
  // that knows every core already has work, where waking a pool thread only adds switches.
  class SerialScope {
   public:
    explicit SerialScope(bool on);
    ~SerialScope();
    SerialScope(const SerialScope&) = delete;
    SerialScope& operator=(const SerialScope&) = delete;

   private:
    bool on_;
    bool was_ = false;
  };

  // The pool all engines in the process share. Sized on first use: SetProcessThreads(n) if called
  // before, else $ONNXD_NUM_THREADS, else the machine's cores.
  static ThreadPool& Process();
  static void SetProcessThreads(int n);

 private:
  using RangeFn = void (*)(void* ctx, int64_t begin, int64_t end);
  template <typename F>
  static void Trampoline(void* ctx, int64_t b, int64_t e) { (*static_cast<F*>(ctx))(b, e); }

  struct Job {
    RangeFn fn;
    void* ctx;
    int64_t n;
    int64_t chunk;
    int64_t num_chunks;
    std::atomic<int64_t> next{0};
    std::atomic<uint32_t> done{0};  // chunks finished (at most 4 a thread)
  };
  struct alignas(64) Slot {
    std::atomic<Job*> job{nullptr};
    std::atomic<int32_t> users{0};
    std::atomic<bool> claimed{false};
  };
  static constexpr int kSlots = 64;

  void Run(int64_t n, int64_t grain, RangeFn fn, void* ctx);
  static void Work(Job* job);
  void WorkerLoop();
  static bool InWorker();

  int num_threads_;
  std::vector<std::thread> workers_;
  Slot slots_[kSlots];
  std::atomic<uint32_t> epoch_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace onnxd::engine
