// What the CUDA session fuses and folds, decided from the compiled graph and its device plan alone
// (pure logic: `onnxd inspect --device cuda` reports it, and CPU tests check it on real exports).
// The session (runtime/cuda_session_gpu.cc) applies these at run time, where shapes may still send
// a case the slow way (a reshape merging axes apart in memory materializes a view, say).
//
// - Residual convolutions: Conv -> Add(z) -> Relu as one cuDNN call (the Add and Relu skipped).
// - Bias GEMMs: MatMul (constant 2-D weight) -> Add (constant bias) as one cuBLASLt call.
// - Add -> LayerNormalization (a transformer's residual): one LayerNorm kernel reading both
//   operands, run at the Add (writing the sum too when other nodes read it: pre-LN blocks); the
//   LayerNormalization is skipped.
// - Softmax chains: [Mul by a scalar constant] -> [Add a mask] -> Softmax -> [IsNaN + Where(isnan,
//   0, p)] as one softmax kernel run at the chain's first node.
// - Attention blocks: MatMul (Q K^T) -> a softmax chain -> MatMul (P V) as the fused attention
//   kernel (kernels/cuda/flash_kernel.h) in fp16, run at the first MatMul; the rest skipped.
// - Transposes folded into GEMMs: a value "may be a view" (held as a permuted view of another
//   value's buffer, data unmoved) when every reader takes one: a MatMul (A or B; its strided GEMM
//   reads it), a Transpose (composes), a reshape alias, or an elementwise op whose own output may be
//   a view. A MatMul whose result only Transposes read writes it in their layout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "planner/partition.h"
#include "runtime/graph_plan.h"

namespace onnxd::engine {

// The CUDA Transpose kernel's highest rank (kernels/cuda/tensor_shape.h kMaxRank; the session checks
// they agree); a MatMul result for a Transpose of higher rank is not written transposed.
inline constexpr int kMaxCudaTransposeRank = 6;

// How a node on the GPU reads a permuted view.
enum class ViewRole { kNone, kMatMul, kTranspose, kUnary, kBinary, kReshape };
ViewRole ViewRoleOf(const std::string& op, size_t inputs);

struct CudaFusionPlan {
  struct Residual {
    int add = -1, relu = -1;  // node indices
    int z = -1, out = -1;     // the Add's other operand; the Relu's output
  };
  struct BiasGemm {
    int add = -1, bias = -1, out = -1;
  };
  struct SoftmaxChain {
    int mul = -1, add = -1, softmax = -1, isnan = -1, where = -1;  // node indices (-1: not in it)
    int out = -1;                                                  // the last node's output
  };
  std::vector<Residual> residual;           // per node (Conv nodes only)
  std::vector<BiasGemm> bias_gemm;          // per node (MatMul nodes only)
  std::vector<SoftmaxChain> softmax_chain;  // per node: the chain it starts
  struct AddLayerNorm {
    int ln = -1;            // the LayerNormalization node the Add feeds
    int out = -1;           // its output
    bool keep_sum = false;  // others read the sum too: the kernel writes it as well
  };
  std::vector<AddLayerNorm> add_layer_norm;  // per node (Add nodes only)
  struct AttentionBlock {
    SoftmaxChain chain;  // between the MatMuls (a plain Softmax: softmax alone)
    int pv = -1;         // the second MatMul (probabilities x V)
  };
  std::vector<AttentionBlock> attention_block;  // per node (the first MatMul, Q x K^T)
  // The order the session runs the nodes in: the graph's, with the nodes an attention block's mask
  // needs moved before its first MatMul when the export builds the mask after it (still a
  // topological order: only ancestors of the mask that do not depend on the MatMul move).
  std::vector<int> order;
  std::vector<uint8_t> may_view;            // per value id
  std::vector<std::vector<int64_t>> mm_out_perm;  // per MatMul node: its Transpose readers' perm

  // For inspect and tests.
  int gpu_transposes = 0;     // Transpose nodes on the GPU
  int folded_transposes = 0;  // of them: planned as a view, or undone by a MatMul written transposed
  int softmax_chains = 0;
  int add_layer_norms = 0;
  int attention_blocks = 0;
  int bias_gemms = 0;
  int residual_convs = 0;
  // "softmax chains 12, Add+LayerNorm 24, bias GEMMs 72, residual convolutions 0; transposes folded
  // into GEMMs 40 of 48 (planned)": at run time a reshape merging axes apart in memory still moves one.
  std::string Summary() const;
};

// Whether value `id` is a constant of one float or fp16 element (a scale, Where's zero); its value
// as a float, and its rank when `rank` is given.
bool ScalarConstant(const GraphPlan& g, int id, float* value, int* rank = nullptr);

// `fold_transposes` false: no views (every Transpose moves its data).
CudaFusionPlan PlanCudaFusions(const GraphPlan& g, const DevicePlan& plan, bool fold_transposes);

}  // namespace onnxd::engine
