// QuantizeLinear and DequantizeLinear per tensor on the GPU (QDQ models: the activations'
// quantize / dequantize pairs around float ops; the weights' DequantizeLinear is folded at
// compile). The arithmetic is the CPU op's (ops/quantization_ops.cc), element for element.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/data_ops.h"
#include "onnxd/engine/status.h"

namespace onnxd::cuda {

// y = clamp(round_half_even(x / scale) + zero_point) into y's range (int8 or uint8); x float or
// half, divided in fp32; NaN goes to the low end of the range, as the CPU op sends it.
Status QuantizeLinear(const void* x, ElemType x_type, void* y, ElemType y_type, int64_t n, float scale,
                      int32_t zero_point, cudaStream_t stream);

// y = (x - zero_point) * scale in fp32, stored as y_type (float or half); x int8 or uint8.
Status DequantizeLinear(const void* x, ElemType x_type, void* y, ElemType y_type, int64_t n, float scale,
                        int32_t zero_point, cudaStream_t stream);

}  // namespace onnxd::cuda
