// The CUDA session's data-movement and mask ops (Gather, GatherElements, GatherND, Cast, Clip,
// Concat, Slice, Expand, Split, the comparisons, And / Or / Xor / Not, Max / Min / Sum / Mean of
// any number of inputs, Range, Pad, Tile, DepthToSpace / SpaceToDepth, ArgMax / ArgMin), the
// activations with parameters, the rounding ops and the other elementwise ops without a kernel of
// their own (HardSigmoid, HardSwish, LeakyRelu, Elu, Selu, Softplus, Sign, Floor, Ceil, Round,
// Mish, Sin, Cos, Softsign, ThresholdedRelu, Celu, PRelu), BatchNormalization's inference form and
// InstanceNormalization: shapes and host-side inputs checked here, kernels in
// kernels/cuda/data_ops.h, kernels/cuda/activations.h and kernels/cuda/misc_ops.h. Built with
// ONNXD_WITH_CUDA only; runtime/cuda_session_gpu.cc calls RunCudaDataOp from its RunCudaKernel for
// the ops that IsCudaDataOp lists (planner/partition.h; the planner places them).
#pragma once

#ifdef ONNXD_WITH_CUDA

#include <cuda_runtime_api.h>

#include <functional>
#include <span>
#include <string>

#include "onnxd/engine/status.h"
#include "onnxd/engine/tensor.h"
#include "planner/partition.h"

namespace onnxd::engine {

// One input of the node as the session holds it: a device view (inputs placed on the node's
// device), a host tensor (inputs placed on the host: Slice's starts, Expand's shape...), or both.
struct CudaDataInput {
  const Tensor* device = nullptr;
  const Tensor* host = nullptr;
  bool halved = false;  // fp16 mode: a float value held as fp16 on the device
};

// Allocates the device tensor for output k; nullptr (with an OK status) when the node's output k
// is not wanted.
using CudaDataOutputFn = std::function<StatusOr<Tensor*>(int k, DataType dtype, const Shape& shape)>;

// Runs the node described by `p` (p.op is one IsCudaDataOp accepts, planner/partition.h) on `stream`.
// `num_outputs` is the node's output count. `fp16`: the session holds floats as fp16 (a Cast from
// a halved float reads fp16 and, to float, stays fp16). A case the kernels do not take answers
// UNIMPLEMENTED with the session's "cuda fallback: " prefix, so the node runs on the CPU instead.
Status RunCudaDataOp(const CudaNodeParams& p, std::span<const CudaDataInput> inputs, int num_outputs, bool fp16,
                     const CudaDataOutputFn& output, cudaStream_t stream);

}  // namespace onnxd::engine

#endif  // ONNXD_WITH_CUDA
