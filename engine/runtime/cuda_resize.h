// The CUDA session's Resize / Upsample: the run's geometry from the node's CPU kernel (ops/resize.h,
// the same checks and formulas), the output computed by kernels/cuda/resize.h. Built with
// ONNXD_WITH_CUDA only; runtime/cuda_session_gpu.cc calls it from RunCudaKernel.
#pragma once

#ifdef ONNXD_WITH_CUDA

#include <cuda_runtime_api.h>

#include <span>

#include "ops/op_kernel.h"
#include "runtime/cuda_data_ops.h"

namespace onnxd::engine {

// inputs[0] is X on the device; the others (roi, scales, sizes) on the host. Cases the kernel does
// not take (antialias, linear or cubic over more than 3 axes, rank above 6, other element types)
// answer the session's fallback, so the node runs on the CPU.
Status RunCudaResize(const OpKernel& cpu_kernel, std::span<const CudaDataInput> inputs,
                     const CudaDataOutputFn& output, cudaStream_t stream);

}  // namespace onnxd::engine

#endif  // ONNXD_WITH_CUDA
