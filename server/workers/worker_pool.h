// WorkerPool: the process's one set of scheduler threads, a fixed number proportional to the cores
// however many models are loaded. Work (a model with queued requests) is handed over through a
// bounded lock-free multi-producer multi-consumer ring; idle threads sleep on a futex (an event
// count), so nothing spins and no lock is shared between models.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace onnxd::server {

class Schedulable {
 public:
  virtual ~Schedulable() = default;
  // Runs on a pool thread; the pool holds a reference for the duration.
  virtual void RunScheduled() = 0;

 private:
  friend class WorkerPool;
  std::shared_ptr<Schedulable> self_;  // the pool's reference while queued
};

class WorkerPool {
 public:
  // `threads` 0: twice the cores, at least 4 (threads mostly wait for the engine, whose compute
  // threads are the process-wide intra-op pool's).
  explicit WorkerPool(int threads = 0);
  ~WorkerPool();  // Stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `s` to run once on a pool thread. Never blocks (the ring holds more entries than there
  // can be model versions scheduled at once).
  void Submit(std::shared_ptr<Schedulable> s);
  // Runs what is queued, then joins the threads. Idempotent.
  void Stop();
  int threads() const { return static_cast<int>(threads_.size()); }

 private:
  struct Cell {
    std::atomic<size_t> seq;
    Schedulable* item;
  };
  bool TryPush(Schedulable* s);
  Schedulable* TryPop();
  void Loop();

  static constexpr size_t kCapacity = 1 << 14;
  std::unique_ptr<Cell[]> cells_;
  alignas(64) std::atomic<size_t> enqueue_pos_{0};
  alignas(64) std::atomic<size_t> dequeue_pos_{0};
  alignas(64) std::atomic<uint32_t> epoch_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
};

}  // namespace onnxd::server
