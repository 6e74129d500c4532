#include "kernels/cuda/stream.h"

#include "kernels/cuda/cuda_status.h"

namespace onnxd::cuda {

StatusOr<Stream> Stream::Create() {
  cudaStream_t s = nullptr;
  ONNXD_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return Stream(s);
}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    if (stream_) cudaStreamDestroy(stream_);
    stream_ = other.stream_;
    other.stream_ = nullptr;
  }
  return *this;
}

Stream::~Stream() {
  if (stream_) cudaStreamDestroy(stream_);
}

Status Stream::Synchronize() const {
  return CudaStatus(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
}

}  // namespace onnxd::cuda
