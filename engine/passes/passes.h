// Graph rewrites run once at compile time, on the normalised ModelProto, before the graph plan is
// built. Each pass is one file; RunGraphPasses lists them in order. Passes only rewrite patterns
// whose result is exactly the ONNX semantics of the original (up to float rounding).
#pragma once

#include <map>
#include <string>

#include "onnx/onnx-ml.pb.h"
#include "onnxd/engine/status.h"

namespace onnxd::engine {

struct PassStats {
  int conv_batchnorm_folded = 0;
  int conv_add_folded = 0;
  int activations_fused = 0;
  int gelus_fused = 0;
};

// Conv + BatchNormalization (constant parameters) -> Conv with rescaled weights and bias.
int FoldConvBatchNorm(onnx::GraphProto* g);
// Conv + Add(per-channel constant) -> Conv with that bias.
int FoldConvAdd(onnx::GraphProto* g);
// Conv -> Relu / LeakyRelu / Clip / Sigmoid / Tanh -> Conv carrying the activation as internal
// attributes (onnxd_activation, onnxd_activation_alpha/beta), applied by the Conv kernel while the
// output is still in cache.
int FuseConvActivation(onnx::GraphProto* g, int64_t opset);
// The erf and tanh GELU decompositions (Div/Mul -> Erf -> Add -> Mul -> Mul, and the Pow/Tanh form)
// -> one Gelu node (approximate "none" / "tanh"). Returns the number of chains replaced.
int FuseGelu(onnx::GraphProto* g);

Status RunGraphPasses(onnx::ModelProto* model, const std::map<std::string, int64_t>& opsets, PassStats* stats);

}  // namespace onnxd::engine
