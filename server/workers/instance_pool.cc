#include "workers/instance_pool.h"

namespace onnxd::server {

InstancePool::InstancePool(const CompiledModel& model, int count) {
  for (int i = 0; i < count; ++i) sessions_.push_back(model.CreateSession());
  free_.reserve(sessions_.size());
  for (auto& s : sessions_) free_.push_back(s.get());
}

StatusOr<InstancePool::Lease> InstancePool::Acquire(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  while (free_.empty()) {
    if (deadline == std::chrono::steady_clock::time_point::max()) {
      cv_.wait(lock);
    } else if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && free_.empty()) {
      return DeadlineExceeded("deadline exceeded while waiting for a free model instance");
    }
  }
  Session* s = free_.back();
  free_.pop_back();
  return Lease(this, s);
}

Status InstancePool::WarmUp(const CompiledModel& model) {
  std::vector<Value> inputs;
  for (const auto& spec : model.inputs()) {
    if (spec.type.kind != ValueKind::kTensor) return Status::Ok();  // nothing sensible to invent
    Shape shape;
    for (int64_t d : spec.type.dims) shape.PushBack(d < 0 ? 1 : d);
    inputs.emplace_back(Tensor::Allocate(spec.type.elem_type, shape));
  }
  std::vector<Value> outputs;
  for (auto& s : sessions_) RETURN_IF_ERROR(s->Run(inputs, &outputs));
  return Status::Ok();
}

void InstancePool::Release(Session* s) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(s);
  }
  cv_.notify_one();
}

}  // namespace onnxd::server
