#include "kernels/cuda/device_pool.h"

#include <cuda_runtime_api.h>

#include <bit>

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/current_device.h"

namespace onnxd::cuda {

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    pool_ = o.pool_;
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.pool_ = nullptr;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

void DeviceBuffer::reset() {
  if (pool_ && ptr_) pool_->Release(ptr_);
  pool_ = nullptr;
  ptr_ = nullptr;
  bytes_ = 0;
}

size_t DevicePool::SizeClass(size_t bytes) {
  constexpr size_t kGranule = 256;
  if (bytes <= 4096) return (bytes + kGranule - 1) / kGranule * kGranule;
  // Four classes per power of two: 2^k * {1, 1.25, 1.5, 1.75}.
  size_t pow2 = std::bit_floor(bytes);
  size_t step = pow2 / 4;
  return (bytes + step - 1) / step * step;
}

DevicePool::DevicePool() { cudaGetDevice(&device_); }

DevicePool::~DevicePool() {
  std::lock_guard<std::mutex> lock(mu_);
  int previous = 0;
  cudaGetDevice(&previous);
  if (previous != device_) cudaSetDevice(device_);
  for (auto& [size, list] : free_lists_)
    for (void* p : list) cudaFree(p);
  for (auto& [p, size] : in_use_) cudaFree(p);
  free_lists_.clear();
  in_use_.clear();
  if (previous != device_) cudaSetDevice(previous);
}

StatusOr<DeviceBuffer> DevicePool::Allocate(size_t bytes) {
  if (bytes == 0) return DeviceBuffer();
  size_t cls = SizeClass(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = free_lists_.find(cls);
  if (it != free_lists_.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    --stats_.cached_blocks;
    in_use_.emplace(p, cls);
    stats_.in_use_bytes += cls;
    return DeviceBuffer(this, p, bytes);
  }
  // A cache miss allocates on the pool's device whichever is current on this thread.
  ScopedDevice on(device_);
  RETURN_IF_ERROR(on.status());
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, cls);
  ++stats_.malloc_calls;
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clear the sticky-free error before retrying
    for (auto& [size, list] : free_lists_) {
      for (void* q : list) {
        cudaFree(q);
        ++stats_.free_calls;
        stats_.reserved_bytes -= size;
      }
      list.clear();
    }
    stats_.cached_blocks = 0;
    err = cudaMalloc(&p, cls);
    ++stats_.malloc_calls;
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    return CudaStatus(err, "DevicePool cudaMalloc");
  }
  stats_.reserved_bytes += cls;
  stats_.in_use_bytes += cls;
  in_use_.emplace(p, cls);
  return DeviceBuffer(this, p, bytes);
}

void DevicePool::Release(void* ptr) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = in_use_.find(ptr);
  if (it == in_use_.end()) return;  // not ours: ignore rather than corrupt the lists
  size_t cls = it->second;
  in_use_.erase(it);
  stats_.in_use_bytes -= cls;
  free_lists_[cls].push_back(ptr);
  ++stats_.cached_blocks;
}

void DevicePool::Trim() {
  std::lock_guard<std::mutex> lock(mu_);
  ScopedDevice on(device_);
  for (auto& [size, list] : free_lists_) {
    for (void* p : list) {
      cudaFree(p);
      ++stats_.free_calls;
      stats_.reserved_bytes -= size;
    }
  }
  free_lists_.clear();
  stats_.cached_blocks = 0;
}

DevicePool::Stats DevicePool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace onnxd::cuda
