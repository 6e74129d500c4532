// A fixed pool of worker threads for the gRPC front end's blocking work (inference, model load).
// grpc's callback threads must not block, so handlers hand such work here.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace onnxd::api {

class GrpcWorkerPool {
 public:
  // `threads` workers; at most `max_queued` tasks wait for a worker (then TrySubmit refuses).
  GrpcWorkerPool(int threads, size_t max_queued);
  ~GrpcWorkerPool();  // Stop()
  GrpcWorkerPool(const GrpcWorkerPool&) = delete;
  GrpcWorkerPool& operator=(const GrpcWorkerPool&) = delete;

  // False when stopped or the queue is full; the task is then not run (the caller answers).
  bool TrySubmit(std::function<void()> task);
  // Runs what is queued, then joins the workers. Idempotent.
  void Stop();
  int threads() const { return static_cast<int>(workers_.size()); }

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  size_t max_queued_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace onnxd::api
