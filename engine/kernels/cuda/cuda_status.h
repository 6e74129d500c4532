// Maps CUDA runtime and cuBLAS error codes to onnxd::Status, so that the CUDA backend answers
// with an error instead of aborting (STYLE.md point 1).
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "kernels/cuda/cuda_libs.h"
#include "onnxd/engine/status.h"

namespace onnxd::cuda {

inline Status CudaStatus(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::Ok();
  StatusCode code = err == cudaErrorMemoryAllocation ? StatusCode::kResourceExhausted : StatusCode::kInternal;
  return Status(code, std::string(what) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

inline Status CublasStatus(cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  StatusCode code = st == CUBLAS_STATUS_ALLOC_FAILED ? StatusCode::kResourceExhausted : StatusCode::kInternal;
  return Status(code, std::string(what) + ": " + cublasGetStatusName(st));
}

// True when at least one CUDA device is usable; `why` gets the reason when not.
inline bool CudaDeviceAvailable(std::string* why) {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    if (why) *why = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
    return false;
  }
  if (n == 0) {
    if (why) *why = "cudaGetDeviceCount returned 0 devices";
    return false;
  }
  return true;
}

}  // namespace onnxd::cuda

#define ONNXD_CUDA_RETURN_IF_ERROR(expr)                                \
  do {                                                                 \
    cudaError_t onnxd_cuda_err_ = (expr);                              \
    if (onnxd_cuda_err_ != cudaSuccess) return ::onnxd::cuda::CudaStatus(onnxd_cuda_err_, #expr); \
  } while (0)
