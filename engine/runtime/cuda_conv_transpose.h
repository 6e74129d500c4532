// The CUDA session's ConvTranspose: per image and group a cuBLAS GEMM (col = W_g^T x X_g), then
// one gather kernel that sums each output element's columns and adds the bias
// (kernels/cuda/conv_transpose.h). The geometry is the CPU kernel's (ops/conv_transpose.h): every
// pads / auto_pad / output_shape / output_padding form, groups and dilations, 1-D to 3-D. Built
// with ONNXD_WITH_CUDA only; runtime/cuda_session_gpu.cc calls it from RunCudaKernel.
#pragma once

#ifdef ONNXD_WITH_CUDA

#include <cuda_runtime_api.h>

#include "kernels/cuda/device_pool.h"
#include "kernels/cuda/gemm_cuda.h"
#include "ops/op_kernel.h"
#include "runtime/cuda_data_ops.h"

namespace onnxd::engine {

// x, w and b (may be null) on the device, one float type (fp32 or fp16). `tf32` lets fp32 GEMMs use
// TF32 tensor cores. Columns live in a `pool` buffer of at most ~256 MB (images in chunks). More
// than 3 spatial dims answer the session's fallback (the node then runs on the CPU).
Status RunCudaConvTranspose(const OpKernel& cpu_kernel, const Tensor& x, const Tensor& w, const Tensor* b,
                            cuda::Blas& blas, cuda::DevicePool& pool, bool tf32, const CudaDataOutputFn& output,
                            cudaStream_t stream);

}  // namespace onnxd::engine

#endif  // ONNXD_WITH_CUDA
