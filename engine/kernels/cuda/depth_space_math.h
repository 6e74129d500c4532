// DepthToSpace / SpaceToDepth as one 6-D strided copy for the CUDA session (runtime/cuda_data_ops.cc
// hands the geometry to cuda::StridedCopy, kernels/cuda/data_ops.h): the input viewed as 6-D,
// permuted, written packed. Host code with no CUDA dependency;
// tests/engine/kernels/cuda/depth_space_math_test.cc runs the copy on the CPU against the CPU ops
// (ops/shape_ops.cc), both modes.
#pragma once

#include <cstdint>
#include <string>

namespace onnxd::cuda {

// The copy: for every coordinate c < dims (6-D), out[packed(c)] = in[sum(c[d] * src_strides[d])];
// out_dims is the op's 4-D output shape.
struct DepthSpaceCopy {
  int64_t dims[6] = {};
  int64_t src_strides[6] = {};
  int64_t out_dims[4] = {};
};

namespace depth_space_detail {
// dims[k] = view[perm[k]], src_strides[k] = packed stride of view axis perm[k].
inline void Permute(const int64_t (&view)[6], const int (&perm)[6], DepthSpaceCopy* c) {
  int64_t vs[6];
  int64_t st = 1;
  for (int i = 5; i >= 0; --i) {
    vs[i] = st;
    st *= view[i];
  }
  for (int k = 0; k < 6; ++k) {
    c->dims[k] = view[perm[k]];
    c->src_strides[k] = vs[perm[k]];
  }
}
}  // namespace depth_space_detail

// DepthToSpace of an NCHW input `x` (4 dims) with `blocksize` b: DCR views x as [N, b, b, C/b^2,
// H, W], CRD as [N, C/b^2, b, b, H, W]; either is permuted to [N, C/b^2, H, b, W, b]. Returns ""
// or why not (as the CPU op refuses).
inline std::string MakeDepthToSpace(const int64_t* x, int64_t b, bool crd, DepthSpaceCopy* c) {
  if (b < 1) return "blocksize must be positive";
  const int64_t n = x[0], ch = x[1], h = x[2], w = x[3];
  if (ch % (b * b) != 0) return "channels " + std::to_string(ch) + " are not divisible by blocksize^2";
  const int64_t co = ch / (b * b);
  if (crd) {
    const int64_t view[6] = {n, co, b, b, h, w};
    const int perm[6] = {0, 1, 4, 2, 5, 3};
    depth_space_detail::Permute(view, perm, c);
  } else {
    const int64_t view[6] = {n, b, b, co, h, w};
    const int perm[6] = {0, 3, 4, 1, 5, 2};
    depth_space_detail::Permute(view, perm, c);
  }
  const int64_t out[4] = {n, co, h * b, w * b};
  for (int d = 0; d < 4; ++d) c->out_dims[d] = out[d];
  return "";
}

// SpaceToDepth: x viewed as [N, C, H/b, b, W/b, b], permuted to [N, b, b, C, H/b, W/b].
inline std::string MakeSpaceToDepth(const int64_t* x, int64_t b, DepthSpaceCopy* c) {
  if (b < 1) return "blocksize must be positive";
  const int64_t n = x[0], ch = x[1], h = x[2], w = x[3];
  if (h % b != 0 || w % b != 0) return "H and W must be divisible by blocksize " + std::to_string(b);
  const int64_t view[6] = {n, ch, h / b, b, w / b, b};
  const int perm[6] = {0, 3, 5, 1, 2, 4};
  depth_space_detail::Permute(view, perm, c);
  const int64_t out[4] = {n, ch * b * b, h / b, w / b};
  for (int d = 0; d < 4; ++d) c->out_dims[d] = out[d];
  return "";
}

}  // namespace onnxd::cuda
