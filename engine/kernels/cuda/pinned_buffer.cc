#include "kernels/cuda/pinned_buffer.h"

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_status.h"

namespace onnxd::cuda {

StatusOr<PinnedBuffer> PinnedBuffer::Allocate(size_t bytes) {
  PinnedBuffer b;
  if (bytes == 0) return b;
  Status st = CudaStatus(cudaHostAlloc(&b.ptr_, bytes, cudaHostAllocDefault), "cudaHostAlloc");
  if (!st.ok()) {
    b.ptr_ = nullptr;
    return st;
  }
  b.bytes_ = bytes;
  return b;
}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  if (this != &o) {
    if (ptr_) cudaFreeHost(ptr_);
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

PinnedBuffer::~PinnedBuffer() {
  if (ptr_) cudaFreeHost(ptr_);
}

}  // namespace onnxd::cuda
