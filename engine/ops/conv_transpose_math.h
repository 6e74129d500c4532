// ConvTranspose as the CUDA session computes it: per image, col = W_g^T x X_g for each group (a
// GEMM: rows (m, kernel offset), columns X's positions), then each output element gathers the
// columns that land on it (the adjoint of im2col) and adds the bias. ConvTransposeElement is that
// gather, compiled for host and device; tests/engine/ops/conv_transpose_element_test.cc runs it on
// the host against the CPU op, and ops/conv_transpose.h's ConvTransposeRunGeometry gives the CPU
// op's own geometry (pads from auto_pad / output_shape / output_padding resolved).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define ONNXD_CONVT_FN __host__ __device__ inline
#else
#define ONNXD_CONVT_FN inline
#endif

namespace onnxd::convt {

inline constexpr int kMaxDims = 3;  // 1-D, 2-D and 3-D

// X [n, c, xin...] -> Y [n, m, yout...]; W [c, m / group, k...].
struct Geom {
  int nd = 0;
  int64_t n = 0, c = 0, m = 0, group = 1;
  int64_t xin[kMaxDims] = {}, yout[kMaxDims] = {}, k[kMaxDims] = {};
  int64_t stride[kMaxDims] = {}, dil[kMaxDims] = {}, pad[kMaxDims] = {};  // pad: leading
  ONNXD_CONVT_FN int64_t XSize() const {
    int64_t s = 1;
    for (int i = 0; i < nd; ++i) s *= xin[i];
    return s;
  }
  ONNXD_CONVT_FN int64_t YSize() const {
    int64_t s = 1;
    for (int i = 0; i < nd; ++i) s *= yout[i];
    return s;
  }
  ONNXD_CONVT_FN int64_t KSize() const {
    int64_t s = 1;
    for (int i = 0; i < nd; ++i) s *= k[i];
    return s;
  }
};

// The GEMMs that make one image's columns, one per group (batched): col_g [mg * ks, xs] =
// W_g^T x X_g, with W_g stored [cg, mg * ks] (so A is transposed: kernels/cuda/gemm_cuda.h's
// row-major convention) and X_g [cg, xs]. Strides are in elements, between consecutive groups.
struct ColGemm {
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  int64_t stride_w = 0, stride_x = 0, stride_col = 0;
  int64_t batch = 1;
  int64_t x_per_image = 0, col_per_image = 0;
};

inline ColGemm ColGemmFor(const Geom& g) {
  const int64_t ks = g.KSize(), xs = g.XSize();
  const int64_t mg = g.m / g.group, cg = g.c / g.group;
  ColGemm c;
  c.m = mg * ks;
  c.n = xs;
  c.k = cg;
  c.lda = mg * ks;
  c.ldb = xs;
  c.ldc = xs;
  c.stride_w = cg * mg * ks;
  c.stride_x = cg * xs;
  c.stride_col = mg * ks * xs;
  c.batch = g.group;
  c.x_per_image = g.c * xs;
  c.col_per_image = g.m * ks * xs;
  return c;
}

// Output element `o` of `images` images' Y (row-major [image, m, y...]), from their columns
// col[((image * m + channel) * KSize() + kernel offset) * XSize() + x position] (`col(i)` reads
// one as Acc), plus bias[channel] (`bias(ch)`; return 0 for none).
template <typename Acc, typename Col, typename Bias>
ONNXD_CONVT_FN Acc ConvTransposeElement(const Geom& g, int64_t o, Col col, Bias bias) {
  int64_t y[kMaxDims];
  for (int i = g.nd - 1; i >= 0; --i) {
    y[i] = o % g.yout[i];
    o /= g.yout[i];
  }
  const int64_t channel = o % g.m;  // o is now image * m + channel
  const int64_t ks = g.KSize(), xs = g.XSize();
  Acc acc = bias(channel);
  // Every kernel offset whose tap lands on y: x = (y + pad - kk * dil) / stride, exact, inside X.
  int64_t kk[kMaxDims] = {};
  for (int64_t flat = 0; flat < ks; ++flat) {
    bool hit = true;
    int64_t xpos = 0;
    for (int i = 0; i < g.nd && hit; ++i) {
      const int64_t t = y[i] + g.pad[i] - kk[i] * g.dil[i];
      if (t < 0 || t % g.stride[i] != 0) {
        hit = false;
      } else {
        const int64_t x = t / g.stride[i];
        if (x >= g.xin[i]) hit = false;
        xpos = xpos * g.xin[i] + x;
      }
    }
    if (hit) acc += col((o * ks + flat) * xs + xpos);
    for (int i = g.nd - 1; i >= 0; --i) {
      if (++kk[i] < g.k[i]) break;
      kk[i] = 0;
    }
  }
  return acc;
}

}  // namespace onnxd::convt
