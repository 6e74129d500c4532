// ConvTranspose's gather step on fp32 or fp16 data: y (images x m x yout...) from the GEMM's
// columns and the bias, by ops/conv_transpose_math.h's ConvTransposeElement (fp32 accumulation).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "onnxd/engine/status.h"
#include "ops/conv_transpose_math.h"

namespace onnxd::cuda {

// `images` images of g's Y from col (laid out as ConvTransposeElement reads it); bias (g.m values)
// may be null. Queued on `stream`.
Status ConvTransposeGather(const float* col, const float* bias, float* y, int64_t images, const convt::Geom& g,
                           cudaStream_t stream);
Status ConvTransposeGather(const __half* col, const __half* bias, __half* y, int64_t images, const convt::Geom& g,
                           cudaStream_t stream);

}  // namespace onnxd::cuda
