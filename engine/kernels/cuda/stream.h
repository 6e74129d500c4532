// Stream: an owned, non-blocking CUDA stream (RAII; destroyed with the object).
// A Stream is used by one thread at a time; the handle may be passed to kernels freely.
#pragma once

#include <cuda_runtime_api.h>

#include "onnxd/engine/status.h"

namespace onnxd::cuda {

class Stream {
 public:
  // Creates a non-blocking stream on the current device.
  static StatusOr<Stream> Create();

  Stream(Stream&& other) noexcept : stream_(other.stream_) { other.stream_ = nullptr; }
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();

  cudaStream_t get() const { return stream_; }
  // Waits for all work queued so far; returns the first asynchronous error, if any.
  Status Synchronize() const;

 private:
  explicit Stream(cudaStream_t s) : stream_(s) {}
  cudaStream_t stream_ = nullptr;
};

}  // namespace onnxd::cuda
