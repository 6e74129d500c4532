#include "planner/partition.h"

#include "planner/cuda_fusions.h"

#include <algorithm>
#include <set>
#include <unordered_map>

#include "loader/model_loader.h"
#include "onnx/onnx-ml.pb.h"

namespace onnxd::engine {
namespace {

const onnx::AttributeProto* FindAttr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

int64_t AttrInt(const onnx::NodeProto& n, const std::string& name, int64_t dflt) {
  const auto* a = FindAttr(n, name);
  return a != nullptr ? a->i() : dflt;
}

float AttrFloat(const onnx::NodeProto& n, const std::string& name, float dflt) {
  const auto* a = FindAttr(n, name);
  return a != nullptr ? a->f() : dflt;
}

std::string AttrString(const onnx::NodeProto& n, const std::string& name, const std::string& dflt) {
  const auto* a = FindAttr(n, name);
  return a != nullptr ? a->s() : dflt;
}

bool IsCudaFloat(DataType t) { return t == DataType::kFloat || t == DataType::kFloat16; }

bool HasInput(const onnx::NodeProto& n, int i) { return i < n.input_size() && !n.input(i).empty(); }
bool HasOutput(const onnx::NodeProto& n, int i) { return i < n.output_size() && !n.output(i).empty(); }

// The first `count` given inputs all have one fp32/fp16 type; "" or the reason they do not.
std::string CheckFloatInputs(const onnx::NodeProto& n, const std::vector<DataType>& types, int count) {
  DataType first = DataType::kUndefined;
  for (int i = 0; i < count && i < static_cast<int>(types.size()); ++i) {
    if (!HasInput(n, i)) continue;
    DataType t = types[i];
    if (t == DataType::kUndefined) return "element type of input " + std::to_string(i) + " unknown at compile time";
    if (!IsCudaFloat(t)) return std::string("element type ") + DataTypeName(t) + " (the CUDA kernels take float and float16)";
    if (first == DataType::kUndefined) first = t;
    if (t != first) return "inputs of mixed element types";
  }
  return "";
}

// Element types the CUDA copy kernels move (by size: 1, 2, 4 or 8 bytes).
bool IsCudaCopyType(DataType t) {
  switch (t) {
    case DataType::kFloat: case DataType::kFloat16: case DataType::kBFloat16: case DataType::kDouble:
    case DataType::kInt8: case DataType::kInt16: case DataType::kInt32: case DataType::kInt64:
    case DataType::kUInt8: case DataType::kUInt16: case DataType::kUInt32: case DataType::kUInt64:
    case DataType::kBool:
      return true;
    default:
      return false;
  }
}

// Element types the CUDA Cast / comparison / Max / Min kernels compute on (cuda::ElemType).
bool IsCudaArithType(DataType t) {
  switch (t) {
    case DataType::kFloat: case DataType::kFloat16: case DataType::kDouble: case DataType::kInt64:
    case DataType::kInt32: case DataType::kInt8: case DataType::kUInt8: case DataType::kBool:
      return true;
    default:
      return false;
  }
}

CudaSupportResult Cpu(std::string reason) {
  CudaSupportResult r;
  r.placement = CudaPlacement::kCpu;
  r.reason = std::move(reason);
  return r;
}

CudaSupportResult Kernel(const onnx::NodeProto& n, const std::vector<DataType>& types, int data_inputs) {
  std::string why = CheckFloatInputs(n, types, data_inputs);
  if (!why.empty()) return Cpu(why);
  CudaSupportResult r;
  r.placement = CudaPlacement::kKernel;
  r.inputs.assign(n.input_size(), InputPlace::kNodeDevice);
  return r;
}

// Element type of output `k` of `n` from its input types, where the op's rule is simple; kUndefined
// otherwise (the graph's value_info may still say).
DataType InferOutputType(const onnx::NodeProto& n, const std::vector<DataType>& in, int k) {
  const std::string& op = n.op_type();
  auto input = [&](int i) { return i < static_cast<int>(in.size()) ? in[i] : DataType::kUndefined; };
  static const std::set<std::string> kSameAsFirst = {
      "Add", "Sub", "Mul", "Div", "Pow", "Relu", "Sigmoid", "Tanh", "Gelu", "Erf", "Sqrt", "Exp", "Log", "Neg",
      "Abs", "Reciprocal", "Softmax", "LogSoftmax", "LayerNormalization", "RMSNormalization", "Transpose", "Gemm",
      "MatMul", "Reshape",
      "Flatten", "Squeeze", "Unsqueeze", "Identity", "Conv", "ConvTranspose", "MaxPool", "AveragePool",
      "GlobalAveragePool", "GlobalMaxPool", "LpPool", "BatchNormalization", "InstanceNormalization", "GroupNormalization", "Concat", "Slice",
      "Split", "Gather", "GatherElements", "Expand", "Tile", "Pad", "ReduceMean", "ReduceSum", "ReduceMax",
      "ReduceMin", "ReduceProd", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish", "Softplus", "Mish", "Elu",
      "Selu", "Dropout", "Resize", "Upsample", "Min", "Max", "Sum", "Mean", "Floor", "Ceil", "Round", "Sign",
      "SkipLayerNormalization", "FastGelu", "BiasGelu", "Einsum", "CumSum", "DepthToSpace", "SpaceToDepth",
      "LRN", "PRelu", "Sin", "Cos", "Trilu", "ScatterND", "ScatterElements", "Celu", "ThresholdedRelu",
      "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare", "Softsign", "Shrink", "Mod", "BitShift", "Tan", "Asin",
      "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Hardmax", "LpNormalization", "Attention"};
  if (op == "Shape" || op == "Size" || op == "ArgMax" || op == "ArgMin" || op == "NonZero" || op == "TopK") {
    if (op == "TopK") return k == 0 ? input(0) : DataType::kInt64;
    return DataType::kInt64;
  }
  if (op == "Equal" || op == "Less" || op == "Greater" || op == "LessOrEqual" || op == "GreaterOrEqual" ||
      op == "Not" || op == "And" || op == "Or" || op == "Xor" || op == "IsNaN" || op == "IsInf")
    return DataType::kBool;
  if (op == "Cast") return static_cast<DataType>(AttrInt(n, "to", 0));
  if (op == "Range" || op == "GatherND") return input(0);
  if (op == "CastLike") return input(1);
  if (op == "Where") return input(1);
  if (op == "Dropout" && k == 1) return DataType::kBool;
  if (op == "MaxPool" && k == 1) return DataType::kInt64;  // Indices
  if (op == "QuantizeLinear" || op == "DequantizeLinear") {
    if (const int64_t t = AttrInt(n, "output_dtype", 0); t != 0) return static_cast<DataType>(t);
    if (op == "DequantizeLinear") return input(1);  // the scale's type
    return n.input_size() > 2 && !n.input(2).empty() ? input(2) : DataType::kUInt8;  // the zero point's
  }
  if (op == "LayerNormalization" && k > 0) return DataType::kFloat;
  if (kSameAsFirst.count(op)) return input(0);
  return DataType::kUndefined;
}

// Rank of output `k` of `n` from its input ranks where the rule is simple; -1 otherwise.
int InferOutputRank(const onnx::NodeProto& n, const std::vector<int>& in, int k) {
  const std::string& op = n.op_type();
  auto input = [&](int i) { return i < static_cast<int>(in.size()) ? in[i] : -1; };
  if (op == "Attention") return k == 0 ? input(0) : 4;  // Y as Q (3-D or 4-D); present / qk 4-D
  if (k != 0) return -1;
  if (op == "Gemm" || op == "Flatten") return 2;
  if (op == "Shape") return 1;
  if (op == "Size") return 0;
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow" || op == "Where" || op == "Equal") {
    int r = -1;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] < 0) return -1;
      r = std::max(r, in[i]);
    }
    return r;
  }
  if (IsCudaTrailingReduce(op) && AttrInt(n, "keepdims", 1) != 0) return input(0);
  if (op == "MatMul") {
    if (input(0) < 2 || input(1) < 2) return -1;
    return std::max(input(0), input(1));
  }
  static const std::set<std::string> kSameRank = {
      "Relu", "Sigmoid", "Tanh", "Gelu", "Erf", "Sqrt", "Exp", "Log", "Neg", "Abs", "Softmax", "LogSoftmax",
      "LayerNormalization", "RMSNormalization", "Transpose", "Identity", "Conv", "MaxPool", "AveragePool",
      "GlobalAveragePool",
      "GlobalMaxPool", "LpPool", "BatchNormalization", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish", "Dropout",
      "Cast",
      "Concat", "Slice", "Pad", "Tile", "Resize", "Softplus", "Elu", "Mish", "Floor", "Ceil", "Round"};
  if (kSameRank.count(op)) return input(0);
  return -1;
}

}  // namespace

const char* DeviceName(Device d) { return d == Device::kCuda ? "cuda" : "cpu"; }

// The reduced axes of a Reduce* node known at compile time; empty when they are not (or none).
std::vector<int64_t> ReduceAxes(const onnx::NodeProto& n, int opset, const std::vector<const Tensor*>& constants) {
  const int axes_input_from = n.op_type() == "ReduceSum" ? 13 : 18;
  std::vector<int64_t> axes;
  if (opset < axes_input_from) {
    if (const auto* a = FindAttr(n, "axes")) axes.assign(a->ints().begin(), a->ints().end());
  } else if (constants.size() > 1 && constants[1] != nullptr && constants[1]->dtype() == DataType::kInt64) {
    const Tensor* t = constants[1];
    axes.assign(t->data<int64_t>(), t->data<int64_t>() + t->num_elements());
  }
  return axes;
}

// True when `axes` are exactly the last axes.size() axes of a rank-`rank` tensor (-1 rank: only
// negative axes can say so).
bool TrailingAxes(std::vector<int64_t> axes, int rank) {
  const int k = static_cast<int>(axes.size());
  for (int64_t& a : axes) {
    if (a >= 0) {
      if (rank < 0) return false;
      a -= rank;
    }
  }
  std::sort(axes.begin(), axes.end());
  for (int i = 0; i < k; ++i)
    if (axes[i] != i - k) return false;
  return rank < 0 || k <= rank;
}

bool CudaConvAvailable() {
#ifdef ONNXD_WITH_CUDNN
  return true;
#else
  return false;
#endif
}

namespace {

// Conv / MaxPool / AveragePool / Global*Pool in the forms the cuDNN path takes; "" or the reason.
std::string CheckConvOrPool(const onnx::NodeProto& n, int rank0) {
  const std::string& op = n.op_type();
  if (!CudaConvAvailable()) return "this build's CUDA backend has no cuDNN";
  // 3-D: Conv through cuDNN's N-d descriptors, pooling by our kernels (global pooling as 2-D over D * H).
  if (rank0 >= 0 && rank0 != 3 && rank0 != 4 && rank0 != 5) return "only 1-D, 2-D and 3-D " + op + " on the GPU";
  static const std::set<std::string> kConvAttrs = {"auto_pad", "dilations", "group", "kernel_shape", "pads",
                                                   "strides", "onnxd_activation", "onnxd_activation_alpha",
                                                   "onnxd_activation_beta"};
  static const std::set<std::string> kPoolAttrs = {"auto_pad", "kernel_shape", "pads", "strides", "ceil_mode",
                                                   "dilations", "storage_order", "count_include_pad", "p"};
  const bool global = op == "GlobalAveragePool" || op == "GlobalMaxPool";
  for (const auto& a : n.attribute()) {
    if (global || !(op == "Conv" ? kConvAttrs : kPoolAttrs).count(a.name()))
      return "attribute '" + a.name() + "' on the GPU";
  }
  if (global) return "";
  // auto_pad SAME_* and pads that differ between the ends of an axis are resolved at run time
  // (kernels/cuda/window_geometry.h): a convolution gets the part cuDNN does not take as a padded
  // input, pooling runs our kernels (kernels/cuda/pool_nhwc.h).
  const std::string auto_pad = AttrString(n, "auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER")
    return "auto_pad " + auto_pad;
  if (op == "Conv") {
    const std::string act = AttrString(n, "onnxd_activation", "");
    // Every activation passes/fuse_conv_activation.cc attaches: ReLU and Clip(0, c) in cuDNN's fused
    // call where it takes them, the rest by our elementwise kernels after the convolution.
    if (!act.empty() && act != "Relu" && act != "Sigmoid" && act != "Tanh" && act != "Clip" && act != "LeakyRelu")
      return "fused activation " + act + " on the GPU";
    return "";
  }
  // ceil_mode and dilations run by our pooling kernels (runtime/cuda_session_gpu.cc RunConvOrPool),
  // with ONNX's divisors for average windows cut by the rounding up.
  // MaxPool's Indices (and storage_order, which numbers them) come from our kernel
  // (kernels/cuda/pool_nhwc.h MaxPoolWithIndices).
  return "";
}


// The data-movement and mask ops (runtime/cuda_data_ops.cc runs them). Inputs the kernels read on
// the host (Slice's starts..., Expand's shape, Split's split, Clip's bounds, Range's scalars) are
// kHost, as Reduce*'s axes.
CudaSupportResult CudaDataOpSupport(const onnx::NodeProto& n, int opset, const std::vector<DataType>& types) {
  const std::string& op = n.op_type();
  auto type = [&](int i) { return i < static_cast<int>(types.size()) ? types[i] : DataType::kUndefined; };
  auto unknown = [&](int i) { return Cpu("element type of input " + std::to_string(i) + " unknown at compile time"); };
  CudaSupportResult r;
  r.placement = CudaPlacement::kKernel;
  r.inputs.assign(n.input_size(), InputPlace::kNodeDevice);
  auto host_from = [&](int first) {
    for (int i = first; i < n.input_size(); ++i) r.inputs[i] = InputPlace::kHost;
  };
  if (op == "Gather" || op == "GatherElements" || op == "GatherND") {
    if (type(0) == DataType::kUndefined) return unknown(0);
    if (!IsCudaCopyType(type(0))) return Cpu(std::string("element type ") + DataTypeName(type(0)) + " on the GPU");
    if (type(1) != DataType::kInt64 && type(1) != DataType::kInt32) return Cpu("indices not known to be int64/int32");
    return r;
  }
  if (op == "Cast" || op == "CastLike") {
    // CastLike: a Cast to target_type's element type; target_type's data is not read.
    const bool like = op == "CastLike";
    if (like && type(1) == DataType::kUndefined) return unknown(1);
    const auto to = like ? type(1) : static_cast<DataType>(AttrInt(n, "to", 0));
    if (type(0) == DataType::kUndefined) return unknown(0);
    if (!IsCudaArithType(type(0)) || !IsCudaArithType(to))
      return Cpu(op + " " + DataTypeName(type(0)) + " -> " + DataTypeName(to) + " on the GPU");
    if (like) r.inputs[1] = InputPlace::kAny;
    return r;
  }
  if (op == "QuantizeLinear" || op == "DequantizeLinear") {
    // Per tensor, to or from int8 / uint8 (QDQ models' activations); the scale and zero point are
    // read on the host. A per-axis scale falls back to the CPU at run time.
    const bool q = op == "QuantizeLinear";
    if (AttrInt(n, "block_size", 0) != 0) return Cpu("blocked " + op + " on the GPU");
    if (AttrInt(n, "output_dtype", 0) != 0) return Cpu(op + " output_dtype on the GPU");
    auto is_float = [](DataType t) { return t == DataType::kFloat || t == DataType::kFloat16; };
    auto is_q = [](DataType t) { return t == DataType::kInt8 || t == DataType::kUInt8; };
    if (type(0) == DataType::kUndefined) return unknown(0);
    if (type(1) == DataType::kUndefined) return unknown(1);
    if (q ? !is_float(type(0)) : !is_q(type(0)))
      return Cpu(op + " of " + DataTypeName(type(0)) + " on the GPU");
    if (!is_float(type(1))) return Cpu(std::string("scale of ") + DataTypeName(type(1)) + " on the GPU");
    if (HasInput(n, 2)) {
      if (type(2) == DataType::kUndefined) return unknown(2);
      if (!is_q(type(2))) return Cpu(std::string("zero point of ") + DataTypeName(type(2)) + " on the GPU");
    }
    host_from(1);
    return r;
  }
  if (op == "Clip") {
    std::string why = CheckFloatInputs(n, types, 1);
    if (!why.empty()) return Cpu(why);
    host_from(1);
    return r;
  }
  if (op == "Concat" || op == "Max" || op == "Min" || op == "Equal" || op == "Less" || op == "Greater" ||
      op == "LessOrEqual" || op == "GreaterOrEqual") {
    const bool copy = op == "Concat";
    DataType first = DataType::kUndefined;
    for (int i = 0; i < n.input_size(); ++i) {
      if (!HasInput(n, i)) continue;
      if (type(i) == DataType::kUndefined) return unknown(i);
      if (first == DataType::kUndefined) first = type(i);
      if (type(i) != first) return Cpu("inputs of mixed element types");
    }
    if (first == DataType::kUndefined) return Cpu(op + " without inputs");
    if (!(copy ? IsCudaCopyType(first) : IsCudaArithType(first)))
      return Cpu(std::string("element type ") + DataTypeName(first) + " on the GPU");
    return r;
  }
  if (op == "Sum" || op == "Mean") {
    std::string why = CheckFloatInputs(n, types, n.input_size());
    if (!why.empty()) return Cpu(why);
    return r;
  }
  if (op == "Slice" || op == "Expand" || op == "Split") {
    if (type(0) == DataType::kUndefined) return unknown(0);
    if (!IsCudaCopyType(type(0))) return Cpu(std::string("element type ") + DataTypeName(type(0)) + " on the GPU");
    host_from(1);
    return r;
  }
  if (op == "DepthToSpace" || op == "SpaceToDepth") {
    // One strided copy (kernels/cuda/depth_space_math.h) of any element type.
    if (type(0) == DataType::kUndefined) return unknown(0);
    if (!IsCudaCopyType(type(0))) return Cpu(std::string("element type ") + DataTypeName(type(0)) + " on the GPU");
    const std::string mode = AttrString(n, "mode", "DCR");
    if (op == "DepthToSpace" && mode != "DCR" && mode != "CRD") return Cpu("DepthToSpace mode '" + mode + "'");
    return r;
  }
  if (op == "InstanceNormalization") return Kernel(n, types, 3);
  if (op == "GroupNormalization") {
    if (AttrInt(n, "num_groups", 0) < 1) return Cpu("GroupNormalization without a positive num_groups");
    if (AttrInt(n, "stash_type", 1) != 1) return Cpu("GroupNormalization stash_type other than float");
    return Kernel(n, types, 3);
  }
  if (op == "ArgMax" || op == "ArgMin" || op == "TopK") {
    // Any single axis of fp32 / fp16 data; the int64 indices come back from the device. TopK's k
    // (an input from opset 10) is read on the host; axes longer than kTopKMaxLen fall back at run time.
    std::string why = CheckFloatInputs(n, types, 1);
    if (!why.empty()) return Cpu(why);
    host_from(1);
    return r;
  }
  if (op == "Dropout" || op == "Trilu") {
    // Any element type the copies take. Inference Dropout: y is x and the mask all true; its ratio
    // and training_mode are read on the host (a true training_mode falls back to the CPU op at run
    // time). Trilu: k (optional) is read on the host.
    if (type(0) == DataType::kUndefined) return unknown(0);
    if (!IsCudaCopyType(type(0))) return Cpu(std::string("element type ") + DataTypeName(type(0)) + " on the GPU");
    host_from(1);
    return r;
  }
  if (op == "CumSum") {
    // float, float16, double, int32, int64 (the CPU op's numeric types but the unsigned ones); the
    // axis is read on the host.
    const DataType t = type(0);
    if (t == DataType::kUndefined) return unknown(0);
    if (t != DataType::kFloat && t != DataType::kFloat16 && t != DataType::kDouble && t != DataType::kInt32 &&
        t != DataType::kInt64)
      return Cpu(std::string("element type ") + DataTypeName(t) + " on the GPU");
    host_from(1);
    return r;
  }
  if (op == "Pad" || op == "Tile") {
    // Pad's pads / constant_value / axes and Tile's repeats are read on the host, as Slice's starts.
    if (type(0) == DataType::kUndefined) return unknown(0);
    if (!IsCudaCopyType(type(0))) return Cpu(std::string("element type ") + DataTypeName(type(0)) + " on the GPU");
    if (op == "Pad") {
      const std::string mode = AttrString(n, "mode", "constant");
      if (mode != "constant" && mode != "reflect" && mode != "edge" && !(mode == "wrap" && opset >= 19))
        return Cpu("Pad mode '" + mode + "'");
    }
    host_from(1);
    return r;
  }
  if (op == "And" || op == "Or" || op == "Xor" || op == "Not") {
    for (int i = 0; i < n.input_size(); ++i)
      if (type(i) != DataType::kBool) return Cpu("input " + std::to_string(i) + " not known to be bool");
    return r;
  }
  if (op == "Range") {
    const DataType t = type(0);
    if (t != DataType::kFloat && t != DataType::kDouble && t != DataType::kInt64 && t != DataType::kInt32)
      return Cpu("Range of a type not known to be float, double, int64 or int32");
    host_from(0);
    return r;
  }
  if (op == "HardSigmoid" || op == "HardSwish" || op == "LeakyRelu" || op == "Elu" || op == "Selu" ||
      op == "Softplus" || op == "Sign" || op == "Floor" || op == "Ceil" || op == "Round" || op == "Mish" ||
      op == "Sin" || op == "Cos" || op == "Softsign" || op == "ThresholdedRelu" || op == "Celu")
    return Kernel(n, types, 1);
  // X and the slope (broadcast to X) of one float type, both on the device.
  if (op == "PRelu") return Kernel(n, types, 2);
  if (op == "Resize" || op == "Upsample") {
    // X on the device; roi, scales and sizes (and Upsample's scales) read on the host. Linear or
    // cubic over more than 3 axes, and antialiased filters over 16 taps an axis (a downscale below
    // 1/8, or 1/4 cubic), fall back to the CPU at run time.
    if (type(0) != DataType::kFloat && type(0) != DataType::kFloat16)
      return Cpu(type(0) == DataType::kUndefined ? "element type of input 0 unknown at compile time"
                                                 : std::string("Resize of ") + DataTypeName(type(0)) + " on the GPU");
    host_from(1);
    return r;
  }
  if (op == "BatchNormalization") {
    // The inference form only: one output, statistics as given.
    if (AttrInt(n, "training_mode", 0) != 0) return Cpu("BatchNormalization training_mode on the GPU");
    if (opset < 9 && AttrInt(n, "spatial", 1) == 0) return Cpu("BatchNormalization spatial=0 on the GPU");
    for (int k = 1; k < 5; ++k)
      if (HasOutput(n, k)) return Cpu("BatchNormalization's running statistics outputs on the GPU");
    if (n.input_size() != 5) return Cpu("BatchNormalization without its five inputs");
    return Kernel(n, types, 5);
  }
  (void)opset;
  return Cpu("no CUDA kernel for " + op);
}

}  // namespace

CudaSupportResult CudaSupport(const onnx::NodeProto& n, int opset, const std::vector<DataType>& types,
                              const std::vector<int>& ranks, const std::vector<const Tensor*>& constants) {
  const int rank0 = ranks.empty() ? -1 : ranks[0];
  const std::string domain = CanonicalDomain(n.domain());
  const std::string& op = n.op_type();
  if (domain.empty()) {
    if (op == "Add" || op == "Sub" || op == "Mul") {
      // int32 / int64 as well (position ids, masks built from a CumSum), both inputs of one type.
      const DataType t0 = types.empty() ? DataType::kUndefined : types[0];
      if ((t0 == DataType::kInt32 || t0 == DataType::kInt64) && types.size() >= 2 && types[1] == t0 &&
          n.input_size() == 2) {
        CudaSupportResult r;
        r.placement = CudaPlacement::kKernel;
        r.inputs.assign(n.input_size(), InputPlace::kNodeDevice);
        return r;
      }
    }
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow") return Kernel(n, types, 2);
    if (op == "Relu" || op == "Sigmoid" || op == "Tanh" || op == "Transpose" || op == "Erf" || op == "Sqrt" ||
        op == "Exp" || op == "Log" || op == "Neg" || op == "Abs" || op == "Reciprocal")
      return Kernel(n, types, 1);
    if (op == "Gelu") {
      std::string approx = AttrString(n, "approximate", "none");
      if (approx != "none" && approx != "tanh") return Cpu("Gelu approximate='" + approx + "'");
      return Kernel(n, types, 1);
    }
    if (op == "Softmax" || op == "LogSoftmax") {
      // Before opset 13 (Log)Softmax flattens at `axis` into [rows, cols]: always a last-axis one.
      const int64_t axis = AttrInt(n, "axis", -1);
      if (opset >= 13 && axis != -1 && !(rank0 >= 0 && axis == rank0 - 1))
        return Cpu(op + " over an axis that is not known to be the last");
      return Kernel(n, types, 1);
    }
    if (op == "Attention") {
      // Q, K, V (and past_key / past_value) of one float type; the mask (bool or that type) and
      // nonpad_kv_seqlen (int64) are checked at run time, which sends anything else to the CPU op.
      if (opset < 23) return Cpu("Attention before opset 23");
      std::string why = CheckFloatInputs(n, types, 3);
      if (!why.empty()) return Cpu(why);
      for (int k : {4, 5})
        if (HasInput(n, k) && (k >= static_cast<int>(types.size()) || types[k] != types[0]))
          return Cpu("past_key / past_value not known to be Q's element type");
      const int64_t mode = AttrInt(n, "qk_matmul_output_mode", 0);
      if (mode < 0 || mode > 3) return Cpu("qk_matmul_output_mode " + std::to_string(mode));
      CudaSupportResult r;
      r.placement = CudaPlacement::kKernel;
      r.inputs.assign(n.input_size(), InputPlace::kNodeDevice);
      return r;
    }
    if (op == "LayerNormalization" || op == "RMSNormalization") {
      const int64_t axis = AttrInt(n, "axis", -1);
      if (axis != -1 && !(rank0 >= 0 && axis == rank0 - 1))
        return Cpu(op + " over axes that are not known to be the last only");
      if (HasOutput(n, 1) || HasOutput(n, 2)) return Cpu("LayerNormalization with Mean / InvStdDev outputs");
      return Kernel(n, types, op == "RMSNormalization" ? 2 : 3);
    }
    if (IsCudaTrailingReduce(op)) {
      // Axes: the attribute, or (from opset 13 for ReduceSum, 18 for the others) a constant input.
      // They must be the trailing axes (reduced as one row each: global pooling, LayerNorm parts).
      std::vector<int64_t> axes = ReduceAxes(n, opset, constants);
      if (axes.empty()) return Cpu(op + " on the GPU takes axes given at compile time");
      if (!TrailingAxes(axes, rank0)) return Cpu(op + " over axes not known to be the trailing ones");
      CudaSupportResult r = Kernel(n, types, 1);
      if (r.placement == CudaPlacement::kKernel) r.inputs.assign(n.input_size(), InputPlace::kHost);
      if (!r.inputs.empty()) r.inputs[0] = InputPlace::kNodeDevice;
      return r;
    }
    if (op == "Conv" || op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool" ||
        op == "GlobalMaxPool" || op == "LpPool") {
      std::string why = CheckConvOrPool(n, rank0);
      if (!why.empty()) return Cpu(why);
      return Kernel(n, types, op == "Conv" ? 3 : 1);
    }
    if (op == "IsNaN") return Kernel(n, types, 1);
    if (op == "Where") {
      if (types.empty() || types[0] != DataType::kBool) return Cpu("Where condition not known to be bool");
      std::vector<DataType> values(types.begin() + 1, types.end());
      onnx::NodeProto xy;
      xy.add_input(n.input_size() > 1 ? n.input(1) : "");
      xy.add_input(n.input_size() > 2 ? n.input(2) : "");
      std::string why = CheckFloatInputs(xy, values, 2);
      if (!why.empty()) return Cpu(why);
      CudaSupportResult r;
      r.placement = CudaPlacement::kKernel;
      r.inputs.assign(n.input_size(), InputPlace::kNodeDevice);
      return r;
    }
    if (op == "MatMul") return Kernel(n, types, 2);
    // GEMM + gather (runtime/cuda_conv_transpose.cc): every pads form, groups, dilations; more than 3
    // spatial dims fall back to the CPU at run time.
    if (op == "ConvTranspose") return Kernel(n, types, 3);
    if (op == "Gemm") {
      if (HasInput(n, 2) && AttrFloat(n, "beta", 1.f) != 1.f) return Cpu("Gemm with beta != 1");
      return Kernel(n, types, 3);
    }
    if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" || op == "Identity") {
      CudaSupportResult r;
      r.placement = CudaPlacement::kFollow;
      r.inputs.assign(n.input_size(), InputPlace::kHost);
      if (!r.inputs.empty()) r.inputs[0] = InputPlace::kNodeDevice;
      return r;
    }
    if (IsCudaDataOp(op)) return CudaDataOpSupport(n, opset, types);
    if (op == "Shape" || op == "Size") {
      CudaSupportResult r = Cpu("reads only dims (no copy)");
      r.inputs.assign(n.input_size(), InputPlace::kAny);
      return r;
    }
  }
  return Cpu("no CUDA kernel for " + (domain.empty() ? std::string() : domain + ":") + op);
}

int DevicePlan::CountCopies(CopyPoint::Kind kind) const {
  return static_cast<int>(std::count_if(copies.begin(), copies.end(), [&](const CopyPoint& c) { return c.kind == kind; }));
}

int DevicePlan::nodes_on(Device d) const {
  return static_cast<int>(std::count(node_device.begin(), node_device.end(), d));
}

std::string DevicePlan::Summary() const {
  return std::to_string(nodes_on(target)) + " of " + std::to_string(node_device.size()) + " nodes on " +
         DeviceName(target) + "; " + std::to_string(total_copies()) + " copies per run (" +
         std::to_string(CountCopies(CopyPoint::Kind::kInput)) + " input, " +
         std::to_string(CountCopies(CopyPoint::Kind::kInternal)) + " between devices, " +
         std::to_string(CountCopies(CopyPoint::Kind::kOutput)) + " output); " +
         std::to_string(uploaded_constants.size()) + " constants uploaded once";
}

PlacementInfo MakePlacementInfo(const GraphPlan& plan, const DevicePlan& dp) {
  PlacementInfo p;
  p.target = dp.target;
  for (size_t i = 0; i < plan.nodes.size() && i < dp.node_device.size(); ++i) {
    std::string name = plan.nodes[i].name;
    if (name.empty())
      for (int o : plan.nodes[i].outputs)
        if (o >= 0) {
          name = "-> " + plan.value_names[o];
          break;
        }
    p.nodes.push_back({name, plan.nodes[i].op_type, dp.node_device[i], dp.node_reason[i]});
  }
  p.input_copies = dp.CountCopies(CopyPoint::Kind::kInput);
  p.internal_copies = dp.CountCopies(CopyPoint::Kind::kInternal);
  p.output_copies = dp.CountCopies(CopyPoint::Kind::kOutput);
  p.uploaded_constants = static_cast<int>(dp.uploaded_constants.size());
  p.summary = dp.Summary();
  if (dp.fusions != nullptr) p.fusions = dp.fusions->Summary();
  return p;
}

namespace {

CudaNodeParams ReadCudaParams(const onnx::NodeProto& n, int opset, const std::vector<const Tensor*>& constants) {
  CudaNodeParams p;
  p.op = n.op_type();
  p.opset = opset;
  p.trans_a = AttrInt(n, "transA", 0) != 0;
  p.trans_b = AttrInt(n, "transB", 0) != 0;
  p.alpha = AttrFloat(n, "alpha", 1.f);
  p.axis = AttrInt(n, "axis", (n.op_type() == "Softmax" || n.op_type() == "LogSoftmax") && opset < 13 ? 1 : -1);
  p.epsilon = AttrFloat(n, "epsilon", 1e-5f);
  if (const auto* a = FindAttr(n, "perm")) p.perm.assign(a->ints().begin(), a->ints().end());
  p.gelu_tanh = AttrString(n, "approximate", "none") == "tanh";
  p.keepdims = AttrInt(n, "keepdims", 1) != 0;
  if (IsCudaTrailingReduce(n.op_type())) p.axes = ReduceAxes(n, opset, constants);
  auto ints = [&](const char* name, std::vector<int64_t>* out) {
    if (const auto* a = FindAttr(n, name)) out->assign(a->ints().begin(), a->ints().end());
  };
  ints("kernel_shape", &p.kernel_shape);
  ints("strides", &p.strides);
  ints("dilations", &p.dilations);
  if (AttrString(n, "auto_pad", "NOTSET") == "NOTSET") ints("pads", &p.pads);
  p.group = AttrInt(n, "group", 1);
  p.count_include_pad = AttrInt(n, "count_include_pad", 0) != 0;
  p.ceil_mode = AttrString(n, "auto_pad", "NOTSET") == "NOTSET" && AttrInt(n, "ceil_mode", 0) != 0;
  p.storage_order = AttrInt(n, "storage_order", 0);
  p.upper = AttrInt(n, "upper", 1) != 0;
  p.exclusive = AttrInt(n, "exclusive", 0) != 0;
  p.reverse = AttrInt(n, "reverse", 0) != 0;
  p.auto_pad = AttrString(n, "auto_pad", "NOTSET");
  // LpPool's p: a float in LpPool-1, an int from LpPool-2 on; read as its attribute's type, as the
  // CPU op reads it.
  if (n.op_type() == "LpPool") {
    const auto* a = FindAttr(n, "p");
    p.lp_p = a == nullptr ? 2.f : a->type() == onnx::AttributeProto::FLOAT ? a->f() : static_cast<float>(a->i());
  }
  p.activation = AttrString(n, "onnxd_activation", "");
  p.activation_alpha = AttrFloat(n, "onnxd_activation_alpha", 0.01f);
  p.activation_beta = AttrFloat(n, "onnxd_activation_beta", 0.f);
  const std::string& op = n.op_type();
  if (op == "Gather" || op == "GatherElements" || op == "Concat" || op == "Split") p.axis = AttrInt(n, "axis", 0);
  p.to = AttrInt(n, "to", 0);
  p.batch_dims = AttrInt(n, "batch_dims", 0);
  if (op == "Slice") {
    ints("starts", &p.starts);
    ints("ends", &p.ends);
    ints("axes", &p.axes);
  }
  if (op == "Split") ints("split", &p.split);
  if (op == "DepthToSpace" || op == "SpaceToDepth") {
    p.blocksize = AttrInt(n, "blocksize", 0);
    p.mode = AttrString(n, "mode", "DCR");
  }
  if (op == "GroupNormalization") p.num_groups = AttrInt(n, "num_groups", 0);
  if (op == "Attention") {
    p.is_causal = AttrInt(n, "is_causal", 0) != 0;
    p.q_num_heads = AttrInt(n, "q_num_heads", 0);
    p.kv_num_heads = AttrInt(n, "kv_num_heads", 0);
    p.qk_mode = AttrInt(n, "qk_matmul_output_mode", 0);
    p.has_scale = FindAttr(n, "scale") != nullptr;
    p.scale = AttrFloat(n, "scale", 0.f);
    p.softcap = AttrFloat(n, "softcap", 0.f);
  }
  if (op == "ArgMax" || op == "ArgMin") {
    p.axis = AttrInt(n, "axis", 0);
    p.select_last_index = AttrInt(n, "select_last_index", 0) != 0;
  }
  if (op == "TopK") {
    p.axis = AttrInt(n, "axis", -1);
    p.largest = AttrInt(n, "largest", 1) != 0;
    p.topk_k = opset < 10 ? AttrInt(n, "k", -1) : -1;
  }
  if (op == "Pad") {
    p.mode = AttrString(n, "mode", "constant");
    p.pad_value = AttrFloat(n, "value", 0.f);
    if (opset < 2) ints("paddings", &p.pads);
  }
  p.clip_min = AttrFloat(n, "min", p.clip_min);
  p.clip_max = AttrFloat(n, "max", p.clip_max);
  if (op == "HardSigmoid") {
    p.alpha = AttrFloat(n, "alpha", 0.2f);
    p.beta = AttrFloat(n, "beta", 0.5f);
  } else if (op == "LeakyRelu") {
    p.alpha = AttrFloat(n, "alpha", 0.01f);
  } else if (op == "Elu") {
    p.alpha = AttrFloat(n, "alpha", 1.f);
  } else if (op == "Selu") {
    p.alpha = AttrFloat(n, "alpha", 1.67326319217681884765625f);
    p.gamma = AttrFloat(n, "gamma", 1.05070102214813232421875f);
  }
  return p;
}

}  // namespace

StatusOr<DevicePlan> PartitionGraph(const GraphPlan& plan, const onnx::GraphProto& graph,
                                    const std::map<std::string, int64_t>& opsets, Device target) {
  const int num_values = plan.num_values();
  const int num_nodes = static_cast<int>(plan.nodes.size());
  DevicePlan dp;
  dp.target = target;
  dp.node_device.assign(num_nodes, Device::kCpu);
  dp.node_reason.assign(num_nodes, "");
  dp.value_type.assign(num_values, DataType::kUndefined);
  dp.value_rank.assign(num_values, -1);
  dp.value_home.assign(num_values, Device::kCpu);
  dp.input_place.resize(num_nodes);
  dp.cuda_params.resize(num_nodes);

  // Element types known before placement: inputs, constants, the graph's value_info and outputs.
  for (size_t k = 0; k < plan.input_ids.size() && k < plan.inputs.size(); ++k)
    if (plan.inputs[k].type.kind == ValueKind::kTensor) dp.value_type[plan.input_ids[k]] = plan.inputs[k].type.elem_type;
  for (size_t k = 0; k < plan.input_ids.size() && k < plan.inputs.size(); ++k)
    if (plan.inputs[k].type.kind == ValueKind::kTensor && plan.inputs[k].type.has_shape)
      dp.value_rank[plan.input_ids[k]] = static_cast<int>(plan.inputs[k].type.dims.size());
  for (int v = 0; v < num_values; ++v)
    if (plan.is_constant[v] && plan.constants[v].is_tensor()) {
      dp.value_type[v] = plan.constants[v].tensor().dtype();
      dp.value_rank[v] = plan.constants[v].tensor().rank();
    }
  std::unordered_map<std::string, DataType> declared;
  auto declare = [&](const onnx::ValueInfoProto& vi) {
    if (vi.type().has_tensor_type() && vi.type().tensor_type().elem_type() != 0)
      declared[vi.name()] = static_cast<DataType>(vi.type().tensor_type().elem_type());
  };
  for (const auto& vi : graph.value_info()) declare(vi);
  for (const auto& vi : graph.output()) declare(vi);

  // Plan nodes are the graph's nodes less the folded ones; their first output names them.
  std::unordered_map<std::string, const onnx::NodeProto*> by_output;
  for (const auto& n : graph.node())
    for (const auto& o : n.output())
      if (!o.empty()) by_output.emplace(o, &n);

  // Pass 1: what the CUDA backend could run, and the element types and ranks (which do not depend
  // on placement).
  std::vector<CudaSupportResult> support(num_nodes);
  std::vector<const onnx::NodeProto*> protos(num_nodes, nullptr);
  std::vector<int> node_opset(num_nodes, 0);
  std::vector<std::vector<const Tensor*>> node_constants(num_nodes);
  for (int i = 0; i < num_nodes; ++i) {
    const PlannedNode& node = plan.nodes[i];
    const onnx::NodeProto* proto = nullptr;
    for (int o : node.outputs)
      if (o >= 0) {
        auto it = by_output.find(plan.value_names[o]);
        if (it != by_output.end()) proto = it->second;
        break;
      }
    std::vector<DataType> in_types;
    std::vector<int> in_ranks;
    std::vector<const Tensor*>& in_constants = node_constants[i];
    for (int id : node.inputs) {
      in_constants.push_back(id >= 0 && plan.is_constant[id] && plan.constants[id].is_tensor()
                                 ? &plan.constants[id].tensor()
                                 : nullptr);
      in_types.push_back(id >= 0 ? dp.value_type[id] : DataType::kUndefined);
      in_ranks.push_back(id >= 0 ? dp.value_rank[id] : -1);
    }
    int opset = 0;
    if (proto == nullptr) {
      support[i] = Cpu("node not found in the graph");
    } else {
      auto os = opsets.find(CanonicalDomain(proto->domain()));
      opset = os == opsets.end() ? 0 : static_cast<int>(os->second);
      support[i] = CudaSupport(*proto, opset, in_types, in_ranks, in_constants);
    }
    protos[i] = proto;
    node_opset[i] = opset;
    for (size_t k = 0; k < node.outputs.size(); ++k) {
      int id = node.outputs[k];
      if (id < 0) continue;
      DataType t = proto != nullptr ? InferOutputType(*proto, in_types, static_cast<int>(k)) : DataType::kUndefined;
      if (t == DataType::kUndefined) {
        auto it = declared.find(plan.value_names[id]);
        if (it != declared.end()) t = it->second;
      }
      dp.value_type[id] = t;
      dp.value_rank[id] = proto != nullptr ? InferOutputRank(*proto, in_ranks, static_cast<int>(k)) : -1;
    }
  }
  auto place_of = [&](int i, size_t k) {
    return k < support[i].inputs.size() ? support[i].inputs[k] : InputPlace::kNodeDevice;
  };

  // Pass 2 (forward): values derived from the contents of graph inputs (the data path). Shape and
  // Size read only dims, so shape arithmetic on their results is not data.
  std::vector<uint8_t> data_dep(num_values, 0);
  for (int id : plan.input_ids)
    if (id >= 0) data_dep[id] = 1;
  std::vector<uint8_t> node_data(num_nodes, 0), shape_fed(num_nodes, 0);
  for (int i = 0; i < num_nodes; ++i) {
    const PlannedNode& node = plan.nodes[i];
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      const int id = node.inputs[k];
      if (id < 0 || plan.is_constant[id] || place_of(i, k) == InputPlace::kAny) continue;
      if (data_dep[id]) node_data[i] = 1;
      else shape_fed[i] = 1;
    }
    for (int id : node.implicit_inputs)
      if (id >= 0 && data_dep[id]) node_data[i] = 1;
    for (int id : node.outputs)
      if (id >= 0) data_dep[id] = node_data[i];
  }

  // Pass 3 (backward): a node with a CUDA kernel runs there unless it is shape arithmetic (it reads
  // host values derived from dims only, not graph data) whose results no GPU node reads as data:
  // such values stay small host tensors and nothing crosses the bus for them. `wanted` marks the
  // values GPU nodes read on the device; shape arithmetic that feeds the data path (position ids
  // from Range, a mask from a Range and a compare) goes to the GPU with it, so no copy is made.
  // Shape arithmetic that a node without a CUDA kernel also reads (GPT-2's TorchScript causal mask:
  // an int64 Range -> Unsqueeze chain read by a compare on the GPU and by int64 Add/Mul on the
  // CPU) stays on the host even when GPU nodes want it: computed on the GPU, the CPU node would
  // read a device value mid-run, which costs a synchronizing copy and rules out the CUDA graph;
  // on the host it is uploaded once like any host value. `host_read` marks the values CPU-only
  // nodes read as data, through the aliases (kFollow) that lead to them.
  std::vector<uint8_t> host_read(num_values, 0);
  for (int i = 0; i < num_nodes; ++i) {
    if (support[i].placement != CudaPlacement::kCpu) continue;
    const PlannedNode& node = plan.nodes[i];
    for (size_t k = 0; k < node.inputs.size(); ++k)
      if (node.inputs[k] >= 0 && place_of(i, k) != InputPlace::kAny) host_read[node.inputs[k]] = 1;
    for (int id : node.implicit_inputs)
      if (id >= 0) host_read[id] = 1;
  }
  std::vector<uint8_t> wanted(num_values, 0), prefer_gpu(num_nodes, 0);
  for (int i = num_nodes - 1; i >= 0; --i) {
    const PlannedNode& node = plan.nodes[i];
    bool out_wanted = false, out_host_read = false;
    for (int id : node.outputs) {
      out_wanted |= id >= 0 && wanted[id];
      out_host_read |= id >= 0 && host_read[id];
    }
    const CudaPlacement pl = support[i].placement;
    if (pl == CudaPlacement::kFollow && out_host_read && !node.inputs.empty() && node.inputs[0] >= 0)
      host_read[node.inputs[0]] = 1;
    if (pl == CudaPlacement::kKernel) {
      const bool shape_only = !node_data[i] && shape_fed[i];
      prefer_gpu[i] = node_data[i] || (out_wanted && !(shape_only && out_host_read)) || !shape_fed[i];
      if (!prefer_gpu[i]) continue;
      for (size_t k = 0; k < node.inputs.size(); ++k)
        if (node.inputs[k] >= 0 && place_of(i, k) == InputPlace::kNodeDevice) wanted[node.inputs[k]] = 1;
    } else if (pl == CudaPlacement::kFollow && out_wanted && !node.inputs.empty() && node.inputs[0] >= 0) {
      wanted[node.inputs[0]] = 1;
    }
  }

  // Pass 4: placement and copies, in execution order.
  std::vector<uint8_t> on_host(num_values, 1), on_device(num_values, 0);
  std::vector<uint8_t> uploaded(num_values, 0);
  auto need = [&](int id, Device where, int node) {
    if (id < 0) return;
    if (plan.is_constant[id]) {
      if (where == Device::kCuda && !uploaded[id]) {
        uploaded[id] = 1;
        dp.uploaded_constants.push_back(id);
      }
      return;
    }
    auto& have = where == Device::kCuda ? on_device : on_host;
    if (have[id]) return;
    have[id] = 1;
    bool is_input = std::find(plan.input_ids.begin(), plan.input_ids.end(), id) != plan.input_ids.end();
    dp.copies.push_back({id, where, node, is_input ? CopyPoint::Kind::kInput : CopyPoint::Kind::kInternal});
  };

  for (int i = 0; i < num_nodes; ++i) {
    const PlannedNode& node = plan.nodes[i];
    const CudaSupportResult& s = support[i];
    Device dev = Device::kCpu;
    if (target == Device::kCuda) {
      if (s.placement == CudaPlacement::kKernel) {
        // Shape arithmetic stays on the host unless an input it reads as data is already on the
        // device (then the GPU computes it rather than the input crossing back).
        bool device_input = false;
        for (size_t k = 0; k < node.inputs.size(); ++k) {
          const int id = node.inputs[k];
          device_input |= id >= 0 && !plan.is_constant[id] && place_of(i, k) == InputPlace::kNodeDevice &&
                          dp.value_home[id] == Device::kCuda;
        }
        if (prefer_gpu[i] || device_input) dev = Device::kCuda;
        else dp.node_reason[i] = "shape arithmetic on host values (no copy)";
      } else if (s.placement == CudaPlacement::kFollow) {
        int src = node.inputs.empty() ? -1 : node.inputs[0];
        dev = src >= 0 && !plan.is_constant[src] ? dp.value_home[src] : Device::kCpu;
        // A reshape of host data (a graph input: GPT-2 views input_ids before its embedding
        // Gather) that GPU nodes read: the data goes up first and the alias is made there, so the
        // one copy is the input's and no CPU node reads the graph's data.
        bool out_wanted = false;
        for (int id : node.outputs) out_wanted |= id >= 0 && wanted[id];
        if (dev == Device::kCpu && src >= 0 && !plan.is_constant[src] && data_dep[src] && out_wanted)
          dev = Device::kCuda;
      } else {
        dp.node_reason[i] = s.reason;
      }
    }
    dp.node_device[i] = dev;
    if (dev == Device::kCuda && s.placement == CudaPlacement::kKernel) {
      dp.cuda_params[i] = ReadCudaParams(*protos[i], node_opset[i], node_constants[i]);
      // CastLike runs as a Cast to its second input's type (known: CudaDataOpSupport checked).
      if (node.op_type == "CastLike" && node.inputs.size() > 1 && node.inputs[1] >= 0)
        dp.cuda_params[i].to = static_cast<int64_t>(dp.value_type[node.inputs[1]]);
    }

    if (target == Device::kCuda) {
      for (size_t k = 0; k < node.inputs.size(); ++k) {
        InputPlace place = place_of(i, k);
        if (dev == Device::kCpu && place == InputPlace::kNodeDevice) place = InputPlace::kHost;
        dp.input_place[i].push_back(place);
        if (place == InputPlace::kAny) continue;
        need(node.inputs[k], place == InputPlace::kHost ? Device::kCpu : dev, i);
      }
      for (int id : node.implicit_inputs) need(id, Device::kCpu, i);
    }
    for (size_t k = 0; k < node.outputs.size(); ++k) {
      int id = node.outputs[k];
      if (id < 0) continue;
      dp.value_home[id] = dev;
      on_host[id] = dev == Device::kCpu;
      on_device[id] = dev == Device::kCuda;
    }
  }
  if (target == Device::kCuda) {
    for (int id : plan.output_ids) {
      if (id < 0 || plan.is_constant[id] || on_host[id]) continue;
      on_host[id] = 1;
      dp.copies.push_back({id, Device::kCpu, -1, CopyPoint::Kind::kOutput});
    }
  }
  return dp;
}

bool IsCudaTrailingReduce(const std::string& op) {
  return op == "ReduceMean" || op == "ReduceSum" || op == "ReduceMax" || op == "ReduceMin" || op == "ReduceProd" ||
         op == "ReduceL2" || op == "ReduceLogSumExp" || op == "ReduceSumSquare";
}

// The data-movement, mask, parameterised-activation, BatchNormalization and variadic ops
// (runtime/cuda_data_ops.cc runs them).
bool IsCudaDataOp(const std::string& op) {
  static const std::set<std::string> kOps = {
      "Gather", "GatherElements", "GatherND", "Cast", "CastLike", "Clip", "Concat", "Slice", "Expand", "Split", "Equal",
      "Less",
      "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "Max", "Min", "Range",
      // Activations with parameters and rounding (kernels/cuda/activations.h), BatchNormalization,
      // and the variadic Sum / Mean.
      "HardSigmoid", "HardSwish", "LeakyRelu", "Elu", "Selu", "Softplus", "Sign", "Floor", "Ceil", "Round",
      "Mish", "Sin", "Cos", "Softsign", "ThresholdedRelu", "Celu", "PRelu",
      "BatchNormalization", "Sum", "Mean",
      // kernels/cuda/misc_ops.h.
      "Pad", "Tile", "ArgMax", "ArgMin", "InstanceNormalization", "GroupNormalization", "DepthToSpace", "SpaceToDepth",
      // runtime/cuda_resize.cc (kernels/cuda/resize.h).
      "Resize", "Upsample",
      // kernels/cuda/quantize.h.
      "QuantizeLinear", "DequantizeLinear", "Trilu", "Dropout",
      // kernels/cuda/misc_ops.h.
      "CumSum", "TopK"};
  return kOps.count(op) > 0;
}

}  // namespace onnxd::engine
