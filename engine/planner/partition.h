// Device placement: which device runs each node of a compiled graph, and where values must be
// copied between host and device.
//
// For target kCpu every node runs on the CPU and nothing is copied. For target kCuda a node runs on
// the GPU when the CUDA backend has a kernel for its op, element types and attributes (CudaSupport
// below, the single list the CUDA executor implements), else on the CPU. Reshape-like ops that only
// relabel dims (Reshape, Flatten, Squeeze, Unsqueeze, Identity) run where their data lives, and
// Shape/Size read only dims, so neither ever causes a copy.
//
// Copies: graph inputs arrive on the host; a value needed on the other device than the one that
// produced it is copied once per run (later readers on that device share the copy); graph outputs
// left on the device are copied back. Constants read on the device are uploaded once per session,
// not per run, and are listed apart.
//
// Pure logic: no CUDA is needed to plan, so `onnxd inspect --device cuda` and the unit tests run
// anywhere.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "onnxd/engine/engine.h"
#include "onnxd/engine/status.h"
#include "runtime/graph_plan.h"

namespace onnx {
class GraphProto;
class NodeProto;
}  // namespace onnx

namespace onnxd::engine {

// Where one input of a node must be when the node runs.
enum class InputPlace {
  kNodeDevice,  // on the device the node runs on
  kHost,        // on the host (shape / axes inputs read by the CPU)
  kAny,         // only its dims are read: no copy either way
};

// How a node may be placed with target kCuda.
enum class CudaPlacement {
  kCpu,     // no CUDA kernel (reason says why)
  kKernel,  // a CUDA kernel computes it
  kFollow,  // a metadata-only alias (Reshape...): runs where input 0 lives, costs nothing
};

struct CudaSupportResult {
  CudaPlacement placement = CudaPlacement::kCpu;
  std::string reason;                 // kCpu: why not on the GPU
  std::vector<InputPlace> inputs;     // per node input (absent inputs: anything)
};

// Whether the CUDA backend runs this node, given the element types of its inputs
// (kUndefined where unknown at compile time) and their ranks. `opset` is that of the node's domain.
// `input_ranks` likewise (-1 where unknown); `constant_inputs` holds the inputs known at compile
// time (null elsewhere), for ops whose attributes became inputs (Reduce* axes).
CudaSupportResult CudaSupport(const onnx::NodeProto& node, int opset, const std::vector<DataType>& input_types,
                              const std::vector<int>& input_ranks = {},
                              const std::vector<const Tensor*>& constant_inputs = {});

// True for the ops the CUDA session hands to RunCudaDataOp (runtime/cuda_data_ops.h): data
// movement, masks, activations with parameters, BatchNormalization, variadic Max/Min/Sum/Mean.
bool IsCudaDataOp(const std::string& op);

// The reductions the CUDA session runs over trailing axes given at compile time (ReduceMean, Sum,
// Max, Min, Prod, L2, LogSumExp, SumSquare; kernels/cuda/reduce_last_axis.h).
bool IsCudaTrailingReduce(const std::string& op);

struct CopyPoint {
  enum class Kind { kInput, kInternal, kOutput };
  int value = -1;        // value id in the graph plan
  Device to = Device::kCpu;
  int before_node = -1;  // the node that first needs it there; -1 for graph outputs (after the last)
  Kind kind = Kind::kInternal;
};

// What a CUDA kernel node needs from its attributes (read once at compile time).
struct CudaNodeParams {
  std::string op;          // op_type
  int opset = 0;
  bool trans_a = false, trans_b = false;  // Gemm
  float alpha = 1.f;                      // Gemm
  int64_t axis = -1;                      // Softmax (opset < 13: the flatten axis)
  float epsilon = 1e-5f;                  // LayerNormalization
  std::vector<int64_t> perm;              // Transpose (empty: reverse the dims)
  bool gelu_tanh = false;                 // Gelu approximate="tanh"
  bool keepdims = true;                   // ReduceMean / ReduceSum / ReduceMax
  std::vector<int64_t> axes;              // the same: the reduced axes (attribute or constant input)
  // Conv and pooling (cuDNN): attributes as ONNX gives them (empty: the defaults).
  std::vector<int64_t> kernel_shape, strides, pads, dilations;
  int64_t group = 1;
  bool count_include_pad = false;
  bool ceil_mode = false;                 // pooling (explicit pads only; auto_pad ignores it)
  int64_t storage_order = 0;              // MaxPool: 1 numbers Indices column-major
  bool upper = true;                      // Trilu
  bool exclusive = false, reverse = false;  // CumSum
  bool largest = true;                    // TopK
  int64_t topk_k = -1;                    // TopK before opset 10 (k an attribute); -1: k is input 1
  std::string auto_pad = "NOTSET";        // NOTSET (then `pads`), VALID, SAME_UPPER or SAME_LOWER
  float lp_p = 2.f;                       // LpPool's p
  int64_t num_groups = 0;                 // GroupNormalization
  std::string activation;                 // Conv with a fused activation (passes/fuse_conv_activation)
  float activation_alpha = 0.f, activation_beta = 0.f;
  // Data-movement and mask ops (runtime/cuda_data_ops.cc). `axis` above is Gather / GatherElements /
  // Concat / Split's axis here (default 0).
  int64_t to = 0;                         // Cast: the target element type
  int64_t batch_dims = 0;                 // GatherND
  std::vector<int64_t> starts, ends;      // Slice before opset 10 (attributes; axes in `axes`)
  std::vector<int64_t> split;             // Split before opset 13 (attribute; empty: equal parts)
  float clip_min = -3.402823466e38f, clip_max = 3.402823466e38f;  // Clip before opset 11
  // HardSigmoid / LeakyRelu / Elu / Selu (runtime/cuda_data_ops.cc): `alpha` above with the op's own
  // default, and these (HardSigmoid's beta, Selu's gamma).
  float beta = 0.f, gamma = 0.f;
  bool select_last_index = false;         // ArgMax / ArgMin (`axis` above, default 0; `keepdims`)
  int64_t blocksize = 1;                  // DepthToSpace (`mode`: DCR / CRD) / SpaceToDepth
  // Pad (runtime/cuda_data_ops.cc): its mode, and before opset 11 its value (pads are in `pads`).
  std::string mode;
  float pad_value = 0.f;
  // Attention (opsets 23, 24): its attributes as the CPU op reads them.
  bool is_causal = false;
  int64_t q_num_heads = 0, kv_num_heads = 0, qk_mode = 0;
  bool has_scale = false;
  float scale = 0.f, softcap = 0.f;
};

struct CudaFusionPlan;  // planner/cuda_fusions.h

struct DevicePlan {
  Device target = Device::kCpu;
  // Per plan node: where each input must be when it runs (kNodeDevice means the node's device;
  // CPU nodes have kHost or kAny), and the attributes CUDA kernel nodes use.
  std::vector<std::vector<InputPlace>> input_place;
  std::vector<CudaNodeParams> cuda_params;
  std::vector<Device> node_device;        // per plan node
  std::vector<std::string> node_reason;   // per plan node: why it stays on the CPU ("" otherwise)
  std::vector<DataType> value_type;       // per value id: element type when known
  std::vector<int> value_rank;            // per value id: rank when known, else -1
  std::vector<Device> value_home;         // per value id: where it is produced (inputs: kCpu)
  std::vector<CopyPoint> copies;          // per run, in execution order
  std::vector<int> uploaded_constants;    // constant value ids the device reads (uploaded once)
  // Target kCuda: the CUDA session's fusions and folds, planned once at compile for every session
  // of the model (PlanCudaFusions; the compiler sets it after placing).
  std::shared_ptr<const CudaFusionPlan> fusions;

  int CountCopies(CopyPoint::Kind kind) const;
  int total_copies() const { return static_cast<int>(copies.size()); }
  int nodes_on(Device d) const;
  // "12 of 14 nodes on cuda; 3 copies per run (1 input, 1 between devices, 1 output)".
  std::string Summary() const;
};

const char* DeviceName(Device d);

// True when this build's CUDA backend has cuDNN (Conv and pooling can go to the GPU).
bool CudaConvAvailable();

// Places every node of `plan` (built from `graph`, the same proto after passes) for `target`.
// Nodes are matched to their protos by output names. `opsets` as for BuildGraphPlan.
StatusOr<DevicePlan> PartitionGraph(const GraphPlan& plan, const onnx::GraphProto& graph,
                                    const std::map<std::string, int64_t>& opsets, Device target);

// The public view of a DevicePlan (node names, devices, copy counts).
PlacementInfo MakePlacementInfo(const GraphPlan& plan, const DevicePlan& dp);

}  // namespace onnxd::engine
