// ConvTranspose's run geometry for other backends (the CUDA session): the CPU kernel's own checks
// and output-shape rules (auto_pad, output_shape, output_padding, pads), as ops/conv_transpose_math.h
// describes a run.
#pragma once

#include "onnxd/engine/status.h"
#include "onnxd/engine/tensor.h"
#include "ops/conv_transpose_math.h"

namespace onnxd::engine {

class OpKernel;

// For a ConvTranspose node's CPU kernel and this run's X, W and B (null when absent): the geometry,
// or the CPU op's error. UNIMPLEMENTED when X has more than convt::kMaxDims spatial dims.
Status ConvTransposeRunGeometry(const OpKernel& kernel, const Tensor& x, const Tensor& w, const Tensor* b,
                                convt::Geom* geom);

}  // namespace onnxd::engine
