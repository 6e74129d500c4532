#ifdef ONNXD_WITH_CUDA

#include "runtime/cuda_resize.h"

#include <cuda_fp16.h>

#include <string>

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/resize.h"
#include "ops/resize.h"

namespace onnxd::engine {

Status RunCudaResize(const OpKernel& cpu_kernel, std::span<const CudaDataInput> inputs,
                     const CudaDataOutputFn& output, cudaStream_t stream) {
  // Must match kFallback in runtime/cuda_session_gpu.cc: RunNode reruns such a node on the CPU.
  auto fallback = [](const std::string& why) { return Unimplemented("cuda fallback: " + why); };
  const Tensor* x = inputs.empty() ? nullptr : inputs[0].device;
  if (x == nullptr) return InvalidArgument("input 0 (X) is missing");
  if (x->dtype() != DataType::kFloat && x->dtype() != DataType::kFloat16)
    return fallback(std::string("Resize of ") + DataTypeName(x->dtype()));
  auto host = [&](size_t k) { return k < inputs.size() ? inputs[k].host : nullptr; };
  for (size_t k = 1; k < inputs.size(); ++k)
    if (inputs[k].device != nullptr && inputs[k].host == nullptr)
      return Internal("Resize input " + std::to_string(k) + " is not on the host");
  resize::Params params;
  resize::AxisGeom geo[kResizeMaxRank];
  RETURN_IF_ERROR(ResizeRunGeometry(cpu_kernel, *x, host(1), host(2), host(3), &params, geo));
  const int rank = x->rank();
  if (const char* why = resize::ElementUnsupported(params, rank, geo); *why != '\0') return fallback(why);
  Shape out_shape;
  bool identity = true;
  for (int d = 0; d < rank; ++d) {
    out_shape.PushBack(geo[d].out);
    identity = identity && geo[d].identity;
  }
  Tensor* y = nullptr;
  ASSIGN_OR_RETURN(y, output(0, x->dtype(), out_shape));
  if (y == nullptr || y->num_elements() == 0) return Status::Ok();
  if (x->num_elements() == 0) return InvalidArgument("X is empty but the output is not: " + out_shape.ToString());
  if (identity) {
    ONNXD_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(y->raw_data(), x->raw_data(), x->bytes(), cudaMemcpyDeviceToDevice, stream));
    return Status::Ok();
  }
  const resize::ElementShape shape = resize::MakeElementShape(params, rank, x->shape().dims().data(), geo);
  if (x->dtype() == DataType::kFloat16)
    return cuda::Resize(static_cast<const __half*>(x->raw_data()), static_cast<__half*>(y->raw_data()), y->num_elements(), params, shape, stream);
  return cuda::Resize(static_cast<const float*>(x->raw_data()), static_cast<float*>(y->raw_data()), y->num_elements(), params, shape, stream);
}

}  // namespace onnxd::engine

#endif  // ONNXD_WITH_CUDA
