// Resize / Upsample's run geometry for other backends: the CUDA session evaluates the CPU kernel's
// settings with the shared formulas of ops/resize_math.h.
#pragma once

#include "onnxd/engine/status.h"
#include "onnxd/engine/tensor.h"
#include "ops/resize_math.h"

namespace onnxd::engine {

class OpKernel;

// The most axes a Resize takes (geo must hold x.rank() entries, at most this many).
inline constexpr int kResizeMaxRank = 16;

// For a Resize or Upsample node's CPU kernel: its interpolation settings and this run's geometry of
// each of X's axes, from the inputs after X as the node has them (roi, scales, sizes; Upsample and
// Resize-10: scales), null where absent. The same checks and messages as the CPU op's.
Status ResizeRunGeometry(const OpKernel& kernel, const Tensor& x, const Tensor* in1, const Tensor* in2,
                         const Tensor* in3, resize::Params* params, resize::AxisGeom* geo);

}  // namespace onnxd::engine
