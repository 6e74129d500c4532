// DevicePool: a caching allocator for device memory.
//
// Requests are rounded up to a size class (256 B granularity below 4 KiB, then four classes per
// power of two, so at most 25% is wasted). A released block goes to its class's free list and is
// handed out again for the next request of the same class, so a steady workload (the same shapes
// run after run) makes no cudaMalloc calls after the first run. Trim() returns the cached blocks to
// the driver; the destructor returns every block, cached or still handed out.
//
// Ordering: blocks are reused without synchronisation, so all work touching the pool's memory must
// be queued on one stream (the owner's), in which case stream order makes reuse safe.
// Thread safety: all members may be called from any thread (one mutex).
// Lifetime: a DeviceBuffer must not outlive the pool it came from.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "onnxd/engine/status.h"

namespace onnxd::cuda {

class DevicePool;

// A block from a DevicePool, given back to the pool on destruction (move-only).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(DeviceBuffer&& o) noexcept : pool_(o.pool_), ptr_(o.ptr_), bytes_(o.bytes_) { o.pool_ = nullptr; o.ptr_ = nullptr; o.bytes_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { reset(); }

  void* data() const { return ptr_; }
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }
  // Bytes requested (the block may be larger).
  size_t size() const { return bytes_; }
  // Gives the block back to the pool now.
  void reset();

 private:
  friend class DevicePool;
  DeviceBuffer(DevicePool* pool, void* ptr, size_t bytes) : pool_(pool), ptr_(ptr), bytes_(bytes) {}
  DevicePool* pool_ = nullptr;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

class DevicePool {
 public:
  struct Stats {
    size_t malloc_calls = 0;    // cudaMalloc calls made so far
    size_t free_calls = 0;      // cudaFree calls made so far
    size_t reserved_bytes = 0;  // bytes held from the driver (in use + cached)
    size_t in_use_bytes = 0;    // bytes of blocks handed out (class sizes)
    size_t cached_blocks = 0;   // blocks on the free lists
  };

  // The pool allocates on the device current when it is constructed.
  DevicePool();
  ~DevicePool();
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;

  // A block of at least `bytes` (bytes == 0 gives an empty buffer). ResourceExhausted when the
  // device is out of memory even after the cache was trimmed.
  StatusOr<DeviceBuffer> Allocate(size_t bytes);
  // Frees every cached block (blocks in use are untouched).
  void Trim();
  Stats stats() const;

  // The size class a request of `bytes` is rounded up to.
  static size_t SizeClass(size_t bytes);

 private:
  friend class DeviceBuffer;
  void Release(void* ptr);

  mutable std::mutex mu_;
  int device_ = 0;
  std::map<size_t, std::vector<void*>> free_lists_;  // GUARDED_BY(mu_)
  std::unordered_map<void*, size_t> in_use_;          // GUARDED_BY(mu_): block -> class size
  Stats stats_;                                       // GUARDED_BY(mu_)
};

}  // namespace onnxd::cuda
