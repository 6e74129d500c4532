#include "scheduling/batch_queue.h"

#include <algorithm>

namespace onnxd::server {
namespace {

int64_t Micros(SteadyClock::duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }

BatchPolicy::Queue QueueFrom(const inference::ModelQueuePolicy& p, size_t default_max_queue) {
  BatchPolicy::Queue q;
  q.delay_on_timeout = p.timeout_action() == inference::ModelQueuePolicy::DELAY;
  q.default_timeout = std::chrono::microseconds(p.default_timeout_microseconds());
  q.allow_timeout_override = p.allow_timeout_override();
  q.max_queue_size = p.max_queue_size() > 0 ? p.max_queue_size() : default_max_queue;
  return q;
}

}  // namespace

BatchPolicy BatchPolicy::FromConfig(const inference::ModelConfig& config, size_t default_max_queue) {
  BatchPolicy p;
  p.max_batch_size = std::max<int64_t>(config.max_batch_size(), 0);
  p.dynamic_batching = config.has_dynamic_batching() && p.max_batch_size > 0;
  const auto& db = config.dynamic_batching();
  for (int s : db.preferred_batch_size())
    if (s > 0 && s <= p.max_batch_size) p.preferred_batch_sizes.push_back(s);
  std::sort(p.preferred_batch_sizes.begin(), p.preferred_batch_sizes.end());
  p.max_queue_delay = std::chrono::microseconds(db.max_queue_delay_microseconds());
  p.preserve_ordering = db.preserve_ordering();
  const uint64_t levels = std::max<uint64_t>(db.priority_levels(), 1);
  p.default_priority = db.default_priority_level() >= 1 && db.default_priority_level() <= levels
                           ? static_cast<uint32_t>(db.default_priority_level() - 1)
                           : (db.priority_levels() > 0 ? static_cast<uint32_t>(levels - 1) / 2 : 0);
  for (uint64_t l = 1; l <= levels; ++l) {
    auto it = db.priority_queue_policy().find(l);
    p.queues.push_back(QueueFrom(it != db.priority_queue_policy().end() ? it->second : db.default_queue_policy(),
                                 default_max_queue));
  }
  return p;
}

BatchQueue::BatchQueue(BatchPolicy policy) : policy_(std::move(policy)) {
  if (policy_.queues.empty()) policy_.queues.emplace_back();
  levels_.resize(policy_.queues.size() + 1);  // + the delayed queue
  for (const auto& q : policy_.queues) level_limit_.push_back(q.max_queue_size);
}

Status BatchQueue::Push(std::unique_ptr<QueuedJob>& job, TimePoint now, uint64_t priority_param,
                        uint64_t timeout_override_us) {
  const size_t levels = policy_.queues.size();
  uint32_t level = policy_.default_priority;
  if (priority_param != 0 && levels > 1) {
    if (priority_param > levels)
      return InvalidArgument("priority " + std::to_string(priority_param) + " is outside the model's priority levels 1.." +
                             std::to_string(levels));
    level = static_cast<uint32_t>(priority_param - 1);
  }
  const BatchPolicy::Queue& q = policy_.queues[level];
  auto& dq = levels_[level];
  if (level_limit_[level] > 0 && dq.size() >= level_limit_[level])
    return Unavailable("the model's queue is full: " + std::to_string(dq.size()) + " requests wait at priority " +
                       std::to_string(level + 1) + " (max_queue_size " + std::to_string(level_limit_[level]) +
                       "); retry later");
  job->priority = level;
  job->enqueued = now;
  job->sequence = next_sequence_++;
  SteadyClock::duration timeout = q.default_timeout;
  if (q.allow_timeout_override && timeout_override_us > 0) timeout = std::chrono::microseconds(timeout_override_us);
  if (timeout.count() > 0) job->queue_deadline = now + timeout;
  rows_ += job->rows;
  const auto* head = FirstNonEmpty();
  push_due_ = std::min(job->deadline, job->queue_deadline);
  push_urgent_ = !policy_.dynamic_batching || rows_ >= policy_.max_batch_size ||
                 std::binary_search(policy_.preferred_batch_sizes.begin(), policy_.preferred_batch_sizes.end(), rows_) ||
                 (head != nullptr && head->front()->shape_key != job->shape_key);
  dq.push_back(std::move(job));
  ++size_;
  return Status::Ok();
}

void BatchQueue::Sweep(TimePoint now, std::vector<std::unique_ptr<QueuedJob>>* expired) {
  auto& delayed = levels_.back();
  for (size_t l = 0; l < levels_.size(); ++l) {
    auto& dq = levels_[l];
    const bool is_delayed_queue = l + 1 == levels_.size();
    auto keep = dq.begin();
    for (auto it = dq.begin(); it != dq.end(); ++it) {
      QueuedJob& j = **it;
      bool drop = false;
      if (j.cancelled && j.cancelled->load(std::memory_order_relaxed)) {
        j.status = Cancelled("the client cancelled the request while it was queued");
        drop = true;
      } else if (now >= j.deadline) {
        j.status = DeadlineExceeded("the request's deadline passed after " + std::to_string(Micros(now - j.enqueued)) +
                                    " us in the queue, before it could run");
        drop = true;
      } else if (!is_delayed_queue && !j.delayed && now >= j.queue_deadline) {
        if (policy_.queues[l].delay_on_timeout) {
          j.delayed = true;
          delayed.push_back(std::move(*it));
          continue;
        }
        j.status = DeadlineExceeded("the request timed out in the queue after " +
                                    std::to_string(Micros(now - j.enqueued)) + " us (queue policy timeout)");
        drop = true;
      }
      if (drop) {
        rows_ -= j.rows;
        expired->push_back(std::move(*it));
        --size_;
        continue;
      }
      if (keep != it) *keep = std::move(*it);
      ++keep;
    }
    dq.erase(keep, dq.end());
  }
}

std::deque<std::unique_ptr<QueuedJob>>* BatchQueue::FirstNonEmpty() {
  for (auto& dq : levels_)
    if (!dq.empty()) return &dq;
  return nullptr;
}

BatchQueue::Decision BatchQueue::Next(TimePoint now, bool runs_in_flight) {
  Decision d;
  if (size_ == 0) return d;
  Sweep(now, &d.expired);
  auto* first = FirstNonEmpty();
  if (first == nullptr) return d;
  const QueuedJob& head = *first->front();
  auto pop_front = [&](size_t n) {
    for (auto& dq : levels_) {
      while (n > 0 && !dq.empty()) {
        rows_ -= dq.front()->rows;
        d.batch.push_back(std::move(dq.front()));
        dq.pop_front();
        --size_;
        --n;
      }
    }
  };
  if (!policy_.dynamic_batching) {
    pop_front(1);
    return d;
  }
  // Gather the compatible jobs at the front, in priority then arrival order, up to the batch limit.
  int64_t rows = 0;
  size_t count = 0;
  bool blocked = false;  // a queued job could not join: waiting cannot make this batch larger
  TimePoint oldest = TimePoint::max();
  TimePoint wake_deadline = TimePoint::max();
  size_t preferred_count = 0;
  for (size_t l = static_cast<size_t>(first - levels_.data()); l < levels_.size() && !blocked; ++l) {
    for (const auto& j : levels_[l]) {
      if (j->shape_key != head.shape_key || rows + j->rows > policy_.max_batch_size) {
        blocked = true;
        break;
      }
      rows += j->rows;
      ++count;
      oldest = std::min(oldest, j->enqueued);
      wake_deadline = std::min({wake_deadline, j->deadline, j->delayed ? TimePoint::max() : j->queue_deadline});
      if (std::binary_search(policy_.preferred_batch_sizes.begin(), policy_.preferred_batch_sizes.end(), rows)) {
        preferred_count = count;
      }
    }
  }
  if (rows >= policy_.max_batch_size || blocked) {
    pop_front(count);
  } else if (preferred_count > 0) {
    pop_front(preferred_count);
  } else if (policy_.max_queue_delay.count() == 0 || now >= oldest + policy_.max_queue_delay || !runs_in_flight) {
    pop_front(count);
  } else {
    d.wake = std::min(oldest + policy_.max_queue_delay, wake_deadline);
  }
  return d;
}

std::vector<std::unique_ptr<QueuedJob>> BatchQueue::TakeAll() {
  std::vector<std::unique_ptr<QueuedJob>> out;
  for (auto& dq : levels_) {
    for (auto& j : dq) out.push_back(std::move(j));
    dq.clear();
  }
  size_ = 0;
  rows_ = 0;
  return out;
}

}  // namespace onnxd::server
