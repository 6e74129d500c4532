// The contract between the executor and an op's implementation.
//
// An op is implemented once, in one file of engine/ops/ (or one family file): a class deriving
// from OpKernel that parses and checks its attributes in its factory (compile time, NodeInfo) and
// computes in Compute (run time, KernelContext). Kernels are immutable after creation and shared
// by every session of a compiled model, so Compute is const and must be thread-safe; per-run
// memory comes from KernelContext (outputs, Scratch), which the memory planner serves from the
// session's arena once the shapes are known, so steady-state runs allocate nothing.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "onnxd/engine/status.h"
#include "onnxd/engine/tensor.h"
#include "runtime/thread_pool.h"

namespace onnx {
class NodeProto;
class AttributeProto;
}  // namespace onnx

namespace onnxd::engine {

class GraphPlan;

// Compile-time view of one node: its attributes, which inputs are constants, the opset in force.
class NodeInfo {
 public:
  virtual ~NodeInfo() = default;
  virtual const onnx::NodeProto& proto() const = 0;
  const std::string& name() const;
  const std::string& op_type() const;
  const std::string& domain() const;
  // Version of the node's domain imported by the model (ai.onnx or ai.onnx.ml, ...).
  virtual int opset() const = 0;

  int num_inputs() const;
  int num_outputs() const;
  // True when input i is given (optional inputs may be missing or named "").
  bool has_input(int i) const;
  bool has_output(int i) const;
  // The value of input i when it is known at compile time (initializer or folded constant).
  virtual const Tensor* constant_input(int i) const = 0;

  const onnx::AttributeProto* attr(const std::string& name) const;
  bool has_attr(const std::string& name) const { return attr(name) != nullptr; }
  int64_t GetInt(const std::string& name, int64_t dflt) const;
  float GetFloat(const std::string& name, float dflt) const;
  std::string GetString(const std::string& name, const std::string& dflt) const;
  std::vector<int64_t> GetInts(const std::string& name) const;
  std::vector<float> GetFloats(const std::string& name) const;
  std::vector<std::string> GetStrings(const std::string& name) const;
  StatusOr<int64_t> RequireInt(const std::string& name) const;
  StatusOr<Tensor> GetTensor(const std::string& name) const;
  // Compiles a graph attribute (If/Loop/Scan bodies). Names the body reads from enclosing scopes
  // are resolved by the executor and passed through KernelContext::RunSubgraph.
  virtual StatusOr<std::shared_ptr<const GraphPlan>> GetSubgraph(const std::string& name) const = 0;

  // An INVALID_ARGUMENT that names the node and op: "node 'conv1' (Conv): <msg>".
  Status Error(const std::string& msg) const;
  Status Unsupported(const std::string& msg) const;  // UNIMPLEMENTED, same prefix
};

// Run-time view of one node execution.
class KernelContext {
 public:
  virtual ~KernelContext() = default;
  virtual int num_inputs() const = 0;
  virtual int num_outputs() const = 0;
  // Input i, or nullptr when the optional input is absent.
  virtual const Value* input_value(int i) const = 0;
  // Input i as a tensor, or nullptr when absent or not a tensor.
  const Tensor* input(int i) const {
    const Value* v = input_value(i);
    return v != nullptr && v->is_tensor() ? &v->tensor() : nullptr;
  }
  // False when output i is not wanted (missing from the node); kernels may skip computing it, and
  // Output() still hands out scratch storage for it when they do not.
  virtual bool has_output(int i) const = 0;
  // Allocates output i (planned memory after the first run of these input shapes). String tensors
  // come back holding empty strings; numeric ones hold garbage.
  virtual Tensor* Output(int i, DataType dtype, const Shape& shape) = 0;
  // Output i as a view of input `input_index`'s data with `shape` (Reshape, Squeeze, Identity: no
  // copy). The element count must match.
  virtual void SetOutputAlias(int i, int input_index, const Shape& shape) = 0;
  // Output i as an arbitrary value (sequences, maps, optionals, or a tensor made elsewhere).
  virtual void SetOutputValue(int i, Value v) = 0;
  // Scratch memory valid until Compute returns, 64-byte aligned.
  virtual void* Scratch(size_t bytes) = 0;
  virtual ThreadPool& pool() = 0;
  // Runs a compiled subgraph with the given formal inputs; outer-scope values it reads are bound by
  // the executor. `outputs` receives owned values.
  virtual Status RunSubgraph(const GraphPlan& graph, std::span<const Value> inputs,
                             std::vector<Value>* outputs) = 0;
  virtual const std::string& node_name() const = 0;
  virtual const std::string& op_type() const = 0;
  // INVALID_ARGUMENT naming the node and op, for bad run-time inputs.
  Status Error(const std::string& msg) const;
};

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  virtual Status Compute(KernelContext& ctx) const = 0;
  // Random ops and the like must not be constant-folded.
  virtual bool deterministic() const { return true; }
};

using KernelFactory = std::function<StatusOr<std::unique_ptr<OpKernel>>(const NodeInfo&)>;

// Factory for a kernel class K with `static StatusOr<std::unique_ptr<OpKernel>> Create(const NodeInfo&)`
// or a default constructor plus `Status Init(const NodeInfo&)`.
template <typename K>
KernelFactory Factory() {
  return [](const NodeInfo& n) -> StatusOr<std::unique_ptr<OpKernel>> {
    auto k = std::make_unique<K>();
    RETURN_IF_ERROR(k->Init(n));
    return std::unique_ptr<OpKernel>(std::move(k));
  };
}

// The op registry: the only global of the engine, filled once by RegisterAllOps and then frozen.
class OpRegistry {
 public:
  static const OpRegistry& Global();
  // `domain` "" means ai.onnx. Entries for one op may be added for several since_versions; the
  // newest one not above the model's opset is used.
  void Add(const std::string& domain, const std::string& op_type, KernelFactory factory,
           int since_version = 1);
  const KernelFactory* Find(const std::string& domain, const std::string& op_type, int opset) const;
  bool Has(const std::string& domain, const std::string& op_type) const;
  std::vector<std::string> OpNames() const;

 private:
  struct Entry {
    int since_version;
    KernelFactory factory;
  };
  std::vector<std::pair<std::string, std::vector<Entry>>> entries_;  // key "domain:op", sorted
};

// One function per op family, each defined in its own file under engine/ops/ and listed once in
// registry.cc.
void RegisterElementwiseOps(OpRegistry& r);
void RegisterActivationOps(OpRegistry& r);
void RegisterMathOps(OpRegistry& r);        // Gemm, MatMul, Einsum...
void RegisterNnOps(OpRegistry& r);          // Conv, pooling, normalization, Softmax...
void RegisterReductionOps(OpRegistry& r);
void RegisterShapeOps(OpRegistry& r);       // Reshape, Transpose, Concat, Slice, Gather...
void RegisterTensorOps(OpRegistry& r);      // Cast, Constant, Identity, Where, Range...
void RegisterMlOps(OpRegistry& r);          // ai.onnx.ml
void RegisterControlFlowOps(OpRegistry& r); // If, Loop, Scan
void RegisterSequenceOps(OpRegistry& r);    // Sequence*, Optional*
void RegisterQuantizationOps(OpRegistry& r);
void RegisterContribQuantOps(OpRegistry& r);  // com.microsoft QLinearAdd, QGemm... (QOperator format)
void RegisterAttentionOps(OpRegistry& r);   // Attention, RotaryEmbedding...
void RegisterImageOps(OpRegistry& r);       // Resize, GridSample, AffineGrid, Col2Im...
void RegisterRnnOps(OpRegistry& r);         // RNN, GRU, LSTM
void RegisterLossOps(OpRegistry& r);        // SoftmaxCrossEntropyLoss, NegativeLogLikelihoodLoss
void RegisterStringOps(OpRegistry& r);      // StringSplit, StringNormalizer, RegexFullMatch, TfIdf...
void RegisterDetectionOps(OpRegistry& r);   // NonMaxSuppression, RoiAlign
void RegisterSignalOps(OpRegistry& r);      // DFT, STFT, windows, MelWeightMatrix
void RegisterConvVariantOps(OpRegistry& r); // DeformConv, CausalConvWithState
void RegisterImageDecoderOps(OpRegistry& r); // ImageDecoder (PNG, BMP, PNM)

}  // namespace onnxd::engine
