// The CUDA device a host thread works on. The runtime keeps one current device per host thread,
// and every allocation, stream, library handle and kernel launch goes to it; one scheduler thread
// runs sessions of several GPUs in turn, so code that owns device state makes its device current
// before touching it (MakeCurrent) or for a scope (ScopedDevice).
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "kernels/cuda/cuda_status.h"

namespace onnxd::cuda {

// The devices this process can use, ordinals 0 .. n-1 (CUDA_VISIBLE_DEVICES applied); 0 with the
// reason in `why` when none.
inline int DeviceCount(std::string* why) {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    if (why) *why = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
    return 0;
  }
  if (n == 0 && why) *why = "cudaGetDeviceCount returned 0 devices";
  return n;
}

// Makes `device` current on this thread (a thread-local read when it already is).
inline Status MakeCurrent(int device) {
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current == device) return Status::Ok();
  return CudaStatus(cudaSetDevice(device), "cudaSetDevice");
}

// Makes a device current for a scope and gives the thread its previous device back afterwards.
class ScopedDevice {
 public:
  explicit ScopedDevice(int device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    if (previous_ == device) {
      previous_ = -1;  // already current: nothing to give back
      return;
    }
    status_ = CudaStatus(cudaSetDevice(device), "cudaSetDevice");
  }
  ~ScopedDevice() {
    if (previous_ >= 0) cudaSetDevice(previous_);
  }
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;
  // Whether the device could be made current.
  const Status& status() const { return status_; }

 private:
  int previous_ = -1;
  Status status_;
};

}  // namespace onnxd::cuda
