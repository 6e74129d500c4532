#include "workers/worker_pool.h"

#include <algorithm>

#include "onnxd/engine/futex.h"

namespace onnxd::server {

// ---------------------------------------------------------------------------------------------
// A bounded multi-producer multi-consumer ring (each cell carries a sequence number
// that says whether it is free for the producer or filled for the consumer of a given position),
// and an event count on which idle threads sleep (onnxd/engine/futex.h: no spinning before sleep).

WorkerPool::WorkerPool(int threads) : cells_(new Cell[kCapacity]) {
  for (size_t i = 0; i < kCapacity; ++i) {
    cells_[i].seq.store(i, std::memory_order_relaxed);
    cells_[i].item = nullptr;
  }
  if (threads <= 0) threads = std::max(4, 2 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  threads_.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

WorkerPool::~WorkerPool() { Stop(); }

bool WorkerPool::TryPush(Schedulable* s) {
  size_t pos = enqueue_pos_.load(std::memory_order_relaxed);
  for (;;) {
    Cell& c = cells_[pos & (kCapacity - 1)];
    const size_t seq = c.seq.load(std::memory_order_acquire);
    const auto dif = static_cast<std::ptrdiff_t>(seq) - static_cast<std::ptrdiff_t>(pos);
    if (dif == 0) {
      if (enqueue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
        c.item = s;
        c.seq.store(pos + 1, std::memory_order_release);
        return true;
      }
    } else if (dif < 0) {
      return false;  // full
    } else {
      pos = enqueue_pos_.load(std::memory_order_relaxed);
    }
  }
}

Schedulable* WorkerPool::TryPop() {
  size_t pos = dequeue_pos_.load(std::memory_order_relaxed);
  for (;;) {
    Cell& c = cells_[pos & (kCapacity - 1)];
    const size_t seq = c.seq.load(std::memory_order_acquire);
    const auto dif = static_cast<std::ptrdiff_t>(seq) - static_cast<std::ptrdiff_t>(pos + 1);
    if (dif == 0) {
      if (dequeue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
        Schedulable* s = c.item;
        c.seq.store(pos + kCapacity, std::memory_order_release);
        return s;
      }
    } else if (dif < 0) {
      return nullptr;  // empty
    } else {
      pos = dequeue_pos_.load(std::memory_order_relaxed);
    }
  }
}

void WorkerPool::Submit(std::shared_ptr<Schedulable> s) {
  Schedulable* raw = s.get();
  raw->self_ = std::move(s);
  while (!TryPush(raw)) std::this_thread::yield();  // only with more than kCapacity models at once
  epoch_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) FutexWake(epoch_, 1);
}

void WorkerPool::Loop() {
  for (;;) {
    const uint32_t seen = epoch_.load(std::memory_order_seq_cst);
    if (Schedulable* s = TryPop()) {
      std::shared_ptr<Schedulable> keep = std::move(s->self_);
      s->RunScheduled();
      continue;
    }
    if (stopping_.load(std::memory_order_acquire)) return;
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    if (epoch_.load(std::memory_order_seq_cst) == seen && !stopping_.load(std::memory_order_acquire))
      FutexWait(epoch_, seen);  // returns at once if epoch_ moved on since `seen`
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
  }
}

void WorkerPool::Stop() {
  if (stopping_.exchange(true)) {
    return;
  }
  epoch_.fetch_add(1, std::memory_order_seq_cst);
  FutexWake(epoch_, INT32_MAX);
  for (auto& t : threads_) t.join();
  threads_.clear();
  // Whatever is still queued runs here (its jobs are answered).
  while (Schedulable* s = TryPop()) {
    std::shared_ptr<Schedulable> keep = std::move(s->self_);
    s->RunScheduled();
  }
}

}  // namespace onnxd::server
