// A planned strided MatMul (kernels/cuda/strided_gemm_plan.h) run on cuBLAS: no batch axis or one
// is one strided-batched call; more take a pointer array, filled on the device by a small kernel
// (so a CUDA graph capture records it like any other step). Calls queue on the Blas handle's stream.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/cuda/device_pool.h"
#include "kernels/cuda/gemm_cuda.h"
#include "kernels/cuda/strided_gemm_plan.h"
#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// C = alpha * A x B as `plan` describes it, for the caller's A, B and C base pointers (the plan's
// swap is applied here). fp16: half storage, fp32 accumulation; `math` applies to fp32. A pointer
// array comes from `pool` and goes back to it in stream order.
Status RunStridedGemm(Blas& blas, DevicePool& pool, const StridedGemmPlan& plan, const void* a, const void* b, void* c,
                      bool fp16, GemmMath math, cudaStream_t stream, float alpha = 1.f);

}  // namespace onnxd::cuda
