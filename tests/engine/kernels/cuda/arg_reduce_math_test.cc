// The CUDA ArgMax / ArgMin kernel's whole computation, run on the host: kernels/cuda/misc_ops.cu
// evaluates ArgReduceIndex (kernels/cuda/arg_reduce_math.h) once per output element over the
// [outer, axis_len, inner] view that runtime/cuda_data_ops.cc takes around the axis. Here the same
// calls run in a host loop and every index must equal the CPU op's (ops/reduction_ops.cc, checked
// against onnxruntime by the ONNX node suite): every axis, negative axes, keepdims, ties with and
// without select_last_index, and NaN.
#include "kernels/cuda/arg_reduce_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "onnx/onnx-ml.pb.h"
#include "onnxd/engine/engine.h"
#include "test_models.h"

namespace onnxd::cuda {
namespace {

using onnxd::testing::ModelWithFloatX;
using onnxd::testing::Node;
using onnxd::testing::RunModel;
using onnxd::testing::SetAttr;

// Values from a small set, so that ties are common; a NaN now and then when `nan`.
Tensor TieTensor(const std::vector<int64_t>& dims, uint32_t seed, bool nan) {
  Tensor t = Tensor::Allocate(DataType::kFloat, Shape(std::span<const int64_t>(dims)));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-3, 3);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = static_cast<float>(d(rng));
  if (nan)
    for (int64_t i = 0; i < t.num_elements(); i += 7) t.data<float>()[i] = std::nanf("");
  return t;
}

void CheckArg(const std::string& op, const std::vector<int64_t>& dims, int64_t axis, bool keepdims, bool last,
              bool nan, uint32_t seed) {
  std::string what = op + " axis " + std::to_string(axis) + (keepdims ? " keepdims" : "") + (last ? " last" : "") +
                     (nan ? " nan" : "") + " rank " + std::to_string(dims.size());
  onnx::ModelProto m = ModelWithFloatX(13, dims);
  auto* g = m.mutable_graph();
  onnx::NodeProto n = Node(op, {"x"}, {"y"});
  SetAttr(&n, "axis", axis);
  SetAttr(&n, "keepdims", int64_t{keepdims ? 1 : 0});
  SetAttr(&n, "select_last_index", int64_t{last ? 1 : 0});
  *g->add_node() = n;
  const Tensor x = TieTensor(dims, seed, nan);
  auto out = RunModel(m, {Value(x)});
  ASSERT_TRUE(out.ok()) << what << ": " << out.status().ToString();
  const Tensor& want = (*out)[0].tensor();
  ASSERT_EQ(want.dtype(), DataType::kInt64) << what;
  // The session's view (runtime/cuda_data_ops.cc ArgReduce).
  const int r = static_cast<int>(dims.size());
  const int a = static_cast<int>(axis < 0 ? axis + r : axis);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < a; ++d) outer *= dims[d];
  for (int d = a + 1; d < r; ++d) inner *= dims[d];
  ASSERT_EQ(want.num_elements(), outer * inner) << what;
  const float* xs = x.data<float>();
  auto load = [xs](int64_t k) { return xs[k]; };
  int bad = 0;
  for (int64_t i = 0; i < outer * inner; ++i) {
    const int64_t got = op == "ArgMax" ? ArgReduceIndex<true>(load, i, dims[a], inner, last)
                                       : ArgReduceIndex<false>(load, i, dims[a], inner, last);
    if (got != want.data<int64_t>()[i] && ++bad <= 3)
      ADD_FAILURE() << what << ": output " << i << " got " << got << ", want " << want.data<int64_t>()[i];
  }
  EXPECT_EQ(bad, 0) << what;
}

TEST(ArgReduceMath, MatchesTheCpuOpsOnEveryAxisWithTies) {
  uint32_t seed = 1;
  const std::vector<std::vector<int64_t>> shapes = {{17}, {4, 9}, {3, 5, 7}, {2, 3, 4, 5}, {2, 1, 3, 1, 4, 2}};
  for (const std::string op : {"ArgMax", "ArgMin"})
    for (const auto& dims : shapes)
      for (int64_t axis = -static_cast<int64_t>(dims.size()); axis < static_cast<int64_t>(dims.size()); ++axis)
        for (bool last : {false, true}) {
          const bool keepdims = (seed & 1) != 0;
          CheckArg(op, dims, axis, keepdims, last, false, seed++);
        }
}

TEST(ArgReduceMath, NanIsHandledAsTheCpuOpsHandleIt) {
  uint32_t seed = 100;
  for (const std::string op : {"ArgMax", "ArgMin"})
    for (int64_t axis : {0, 1, -1})
      for (bool last : {false, true}) CheckArg(op, {6, 8, 5}, axis, true, last, true, seed++);
}

}  // namespace
}  // namespace onnxd::cuda
