#include "runtime/cuda_session.h"

#ifndef ONNXD_WITH_CUDA

namespace onnxd::engine {

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

#endif  // !ONNXD_WITH_CUDA
