#include "runtime/cuda_session.h"

#ifdef ONNXD_WITH_CUDA

#include <cuda_runtime_api.h>

#include <cstdio>

namespace onnxd::engine {

bool CudaRuntimeDeviceUuids(std::vector<std::string>* uuids) {
  uuids->clear();
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return false;
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) return false;
    const auto* b = reinterpret_cast<const unsigned char*>(prop.uuid.bytes);
    char text[48];
    std::snprintf(text, sizeof(text), "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                  b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    uuids->push_back(text);
  }
  return true;
}

}  // namespace onnxd::engine

#else

namespace onnxd::engine {

bool CudaRuntimeDeviceUuids(std::vector<std::string>* uuids) {
  uuids->clear();
  return false;
}

bool CudaRuntimeAvailable(std::string* why) {
  if (why != nullptr) *why = "this onnxd was built without the CUDA backend (ONNXD_CUDA off)";
  return false;
}

int CudaRuntimeDeviceCount(std::string* why) {
  CudaRuntimeAvailable(why);
  return 0;
}

StatusOr<std::unique_ptr<CudaSession>> CreateCudaSession(std::shared_ptr<const GraphPlan>, const DevicePlan&,
                                                         const CompileOptions&, ThreadPool*, int) {
  return Unavailable("this onnxd was built without the CUDA backend (ONNXD_CUDA off)");
}

}  // namespace onnxd::engine

#endif  // ONNXD_WITH_CUDA
