// The execution instances of one model version: each owns an engine Session (its memory plans and
// arena). A request borrows a free instance for the duration of one run. The lock is per model
// version, never global. Compute threads come from the engine's one process-wide pool, so the
// number of instances does not add compute threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "onnxd/engine/engine.h"
#include "onnxd/engine/status.h"

namespace onnxd::server {

class InstancePool {
 public:
  InstancePool(const CompiledModel& model, int count);

  class Lease {
   public:
    Lease() = default;
    Lease(InstancePool* pool, Session* s) : pool_(pool), session_(s) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), session_(o.session_) { o.pool_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (pool_) pool_->Release(session_);
    }
    Session* operator->() const { return session_; }
    Session& operator*() const { return *session_; }

   private:
    InstancePool* pool_ = nullptr;
    Session* session_ = nullptr;
  };

  // Waits for a free instance until `deadline`; DEADLINE_EXCEEDED when none frees up in time.
  StatusOr<Lease> Acquire(std::chrono::steady_clock::time_point deadline);
  int size() const { return static_cast<int>(sessions_.size()); }
  // One run per instance on zeros of the model's input shapes (dynamic dims as 1), so the first
  // request finds its memory plan built. Call before the pool is published.
  Status WarmUp(const CompiledModel& model);

 private:
  void Release(Session* s);
  std::vector<std::unique_ptr<Session>> sessions_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Session*> free_;  // guarded by mu_
};

}  // namespace onnxd::server
