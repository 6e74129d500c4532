// The emulated cuDNN (dnn_emu.cc) through onnxd's CudnnApi table, against references written here
// independently: the convolution scatters each input element to the outputs it reaches (the
// emulator gathers), in double, over NCDHW arrays; pooling and bias addition loop over plain NCHW
// arrays. Also the refusals (inconsistent descriptors, host memory, small workspaces, what cuDNN
// does not support) and CUDA-graph capture of a call.
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cuda/cuda_libs.h"
#include "libs_emu.h"

namespace onnxd::cuda_emu {
namespace {

using onnxd::cuda::libs::CudnnApi;

const CudnnApi& Api() {
  static const CudnnApi api = [] {
    CudnnApi a;
    FillCudnn(a);
    return a;
  }();
  return api;
}

// A device buffer of floats or halves, filled from and read back to float vectors.
class DevBuf {
 public:
  DevBuf(size_t elems, bool half) : elems_(elems), half_(half) { EXPECT_EQ(cudaMalloc(&p_, bytes()), cudaSuccess); }
  DevBuf(const std::vector<float>& v, bool half) : DevBuf(v.size(), half) { Upload(v); }
  ~DevBuf() { cudaFree(p_); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  size_t bytes() const { return elems_ * (half_ ? 2 : 4); }
  void* get() const { return p_; }
  void Upload(const std::vector<float>& v) {
    ASSERT_EQ(v.size(), elems_);
    if (half_) {
      std::vector<__half> h(v.size());
      for (size_t i = 0; i < v.size(); ++i) h[i] = __float2half_rn(v[i]);
      ASSERT_EQ(cudaMemcpy(p_, h.data(), bytes(), cudaMemcpyHostToDevice), cudaSuccess);
    } else {
      ASSERT_EQ(cudaMemcpy(p_, v.data(), bytes(), cudaMemcpyHostToDevice), cudaSuccess);
    }
  }
  std::vector<float> Download() const {
    std::vector<float> v(elems_);
    if (half_) {
      std::vector<__half> h(elems_);
      EXPECT_EQ(cudaMemcpy(h.data(), p_, bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
      for (size_t i = 0; i < elems_; ++i) v[i] = __half2float(h[i]);
    } else {
      EXPECT_EQ(cudaMemcpy(v.data(), p_, bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    }
    return v;
  }

 private:
  void* p_ = nullptr;
  size_t elems_;
  bool half_;
};

std::vector<float> Random(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(gen);
  return v;
}

std::vector<float> RoundToHalf(std::vector<float> v) {
  for (float& f : v) f = __half2float(__float2half_rn(f));
  return v;
}

// [N][C][S...] (channels-first) -> [N][S...][C] (channels-last); `spatial` = product of S.
std::vector<float> ChannelsLast(const std::vector<float>& v, int n, int c, int spatial) {
  std::vector<float> out(v.size());
  for (int i = 0; i < n; ++i)
    for (int ch = 0; ch < c; ++ch)
      for (int s = 0; s < spatial; ++s)
        out[(static_cast<size_t>(i) * spatial + s) * c + ch] = v[(static_cast<size_t>(i) * c + ch) * spatial + s];
  return out;
}
std::vector<float> ChannelsFirst(const std::vector<float>& v, int n, int c, int spatial) {
  std::vector<float> out(v.size());
  for (int i = 0; i < n; ++i)
    for (int ch = 0; ch < c; ++ch)
      for (int s = 0; s < spatial; ++s)
        out[(static_cast<size_t>(i) * c + ch) * spatial + s] = v[(static_cast<size_t>(i) * spatial + s) * c + ch];
  return out;
}

// A convolution over NCDHW (2-D ones have d = kd = 1, pad_d = 0).
struct Geo {
  int n = 1, c = 1, d = 1, h = 1, w = 1;
  int k = 1, kd = 1, kh = 1, kw = 1, groups = 1;
  int pd = 0, ph = 0, pw = 0, sd = 1, sh = 1, sw = 1, dd = 1, dh = 1, dw = 1;
  bool flip = false;  // CUDNN_CONVOLUTION
  int od() const { return (d + 2 * pd - dd * (kd - 1) - 1) / sd + 1; }
  int oh() const { return (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1; }
  int ow() const { return (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1; }
  size_t x_size() const { return static_cast<size_t>(n) * c * d * h * w; }
  size_t w_size() const { return static_cast<size_t>(k) * (c / groups) * kd * kh * kw; }
  size_t y_size() const { return static_cast<size_t>(n) * k * od() * oh() * ow(); }
};

// Scatter form: every input element adds x * w to each output whose window holds it.
std::vector<double> RefConv(const Geo& g, const std::vector<float>& x, const std::vector<float>& w) {
  const int cpg = g.c / g.groups, kpg = g.k / g.groups;
  const int OD = g.od(), OH = g.oh(), OW = g.ow();
  std::vector<double> y(g.y_size(), 0.0);
  for (int b = 0; b < g.n; ++b)
    for (int ci = 0; ci < g.c; ++ci)
      for (int id = 0; id < g.d; ++id)
        for (int ih = 0; ih < g.h; ++ih)
          for (int iw = 0; iw < g.w; ++iw) {
            const double xv = x[(((static_cast<size_t>(b) * g.c + ci) * g.d + id) * g.h + ih) * g.w + iw];
            const int grp = ci / cpg;
            for (int a = 0; a < g.kd; ++a)
              for (int r = 0; r < g.kh; ++r)
                for (int s = 0; s < g.kw; ++s) {
                  const int td = id + g.pd - a * g.dd, th = ih + g.ph - r * g.dh, tw = iw + g.pw - s * g.dw;
                  if (td < 0 || th < 0 || tw < 0 || td % g.sd || th % g.sh || tw % g.sw) continue;
                  const int od = td / g.sd, oh = th / g.sh, ow = tw / g.sw;
                  if (od >= OD || oh >= OH || ow >= OW) continue;
                  const int fa = g.flip ? g.kd - 1 - a : a, fr = g.flip ? g.kh - 1 - r : r,
                            fs = g.flip ? g.kw - 1 - s : s;
                  for (int kk = grp * kpg; kk < (grp + 1) * kpg; ++kk) {
                    const double wv =
                        w[(((static_cast<size_t>(kk) * cpg + (ci - grp * cpg)) * g.kd + fa) * g.kh + fr) * g.kw + fs];
                    y[(((static_cast<size_t>(b) * g.k + kk) * OD + od) * OH + oh) * OW + ow] += xv * wv;
                  }
                }
          }
  return y;
}

void ExpectNear(const std::vector<float>& got, const std::vector<double>& want, double rel, double abs,
                const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!(std::fabs(got[i] - want[i]) <= abs + rel * std::fabs(want[i]))) {
      if (++bad <= 5) ADD_FAILURE() << what << " element " << i << ": got " << got[i] << ", want " << want[i];
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

class DnnEmu : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Api().loaded);
    ASSERT_EQ(Api().create(&h_), CUDNN_STATUS_SUCCESS);
    ASSERT_EQ(Api().create_tensor_descriptor(&x_), CUDNN_STATUS_SUCCESS);
    ASSERT_EQ(Api().create_tensor_descriptor(&y_), CUDNN_STATUS_SUCCESS);
    ASSERT_EQ(Api().create_tensor_descriptor(&b_), CUDNN_STATUS_SUCCESS);
    ASSERT_EQ(Api().create_filter_descriptor(&w_), CUDNN_STATUS_SUCCESS);
    ASSERT_EQ(Api().create_convolution_descriptor(&conv_), CUDNN_STATUS_SUCCESS);
    ASSERT_EQ(Api().create_activation_descriptor(&act_), CUDNN_STATUS_SUCCESS);
    ASSERT_EQ(Api().create_pooling_descriptor(&pool_), CUDNN_STATUS_SUCCESS);
  }
  void TearDown() override {
    Api().destroy_tensor_descriptor(x_);
    Api().destroy_tensor_descriptor(y_);
    Api().destroy_tensor_descriptor(b_);
    Api().destroy_filter_descriptor(w_);
    Api().destroy_convolution_descriptor(conv_);
    Api().destroy_activation_descriptor(act_);
    Api().destroy_pooling_descriptor(pool_);
    Api().destroy(h_);
  }

  // 2-D (g.d == 1, 4-D descriptors) or 3-D (N-d descriptors, NCDHW only).
  void Describe(const Geo& g, bool half, bool nhwc, bool three_d, cudnnMathType_t math = CUDNN_FMA_MATH) {
    const cudnnDataType_t t = half ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
    const cudnnTensorFormat_t f = nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    const cudnnConvolutionMode_t mode = g.flip ? CUDNN_CONVOLUTION : CUDNN_CROSS_CORRELATION;
    if (three_d) {
      const int xd[5] = {g.n, g.c, g.d, g.h, g.w}, xs[5] = {g.c * g.d * g.h * g.w, g.d * g.h * g.w, g.h * g.w, g.w, 1};
      const int yd[5] = {g.n, g.k, g.od(), g.oh(), g.ow()},
                ys[5] = {g.k * g.od() * g.oh() * g.ow(), g.od() * g.oh() * g.ow(), g.oh() * g.ow(), g.ow(), 1};
      const int wd[5] = {g.k, g.c / g.groups, g.kd, g.kh, g.kw};
      const int pad[3] = {g.pd, g.ph, g.pw}, str[3] = {g.sd, g.sh, g.sw}, dil[3] = {g.dd, g.dh, g.dw};
      ASSERT_EQ(Api().set_tensor_nd_descriptor(x_, t, 5, xd, xs), CUDNN_STATUS_SUCCESS);
      ASSERT_EQ(Api().set_tensor_nd_descriptor(y_, t, 5, yd, ys), CUDNN_STATUS_SUCCESS);
      const int bd[5] = {1, g.k, 1, 1, 1}, bs[5] = {g.k, 1, 1, 1, 1};
      ASSERT_EQ(Api().set_tensor_nd_descriptor(b_, t, 5, bd, bs), CUDNN_STATUS_SUCCESS);
      ASSERT_EQ(Api().set_filter_nd_descriptor(w_, t, CUDNN_TENSOR_NCHW, 5, wd), CUDNN_STATUS_SUCCESS);
      ASSERT_EQ(Api().set_convolution_nd_descriptor(conv_, 3, pad, str, dil, mode, CUDNN_DATA_FLOAT),
                CUDNN_STATUS_SUCCESS);
    } else {
      ASSERT_EQ(Api().set_tensor_4d_descriptor(x_, f, t, g.n, g.c, g.h, g.w), CUDNN_STATUS_SUCCESS);
      ASSERT_EQ(Api().set_tensor_4d_descriptor(y_, f, t, g.n, g.k, g.oh(), g.ow()), CUDNN_STATUS_SUCCESS);
      ASSERT_EQ(Api().set_tensor_4d_descriptor(b_, f, t, 1, g.k, 1, 1), CUDNN_STATUS_SUCCESS);
      ASSERT_EQ(Api().set_filter_4d_descriptor(w_, t, f, g.k, g.c / g.groups, g.kh, g.kw), CUDNN_STATUS_SUCCESS);
      ASSERT_EQ(Api().set_convolution_2d_descriptor(conv_, g.ph, g.pw, g.sh, g.sw, g.dh, g.dw, mode, CUDNN_DATA_FLOAT),
                CUDNN_STATUS_SUCCESS);
    }
    ASSERT_EQ(Api().set_convolution_group_count(conv_, g.groups), CUDNN_STATUS_SUCCESS);
    ASSERT_EQ(Api().set_convolution_math_type(conv_, math), CUDNN_STATUS_SUCCESS);
  }

  // Runs cudnnConvolutionForward with `algo` and a workspace of the size the library asks for.
  cudnnStatus_t Forward(cudnnConvolutionFwdAlgo_t algo, const DevBuf& x, const DevBuf& w, DevBuf& y, float alpha = 1.f,
                        float beta = 0.f) {
    size_t ws_bytes = 0;
    cudnnStatus_t st = Api().get_convolution_forward_workspace_size(h_, x_, w_, conv_, y_, algo, &ws_bytes);
    if (st != CUDNN_STATUS_SUCCESS) return st;
    void* ws = nullptr;
    if (ws_bytes > 0) {
      EXPECT_EQ(cudaMalloc(&ws, ws_bytes), cudaSuccess);
    }
    st = Api().convolution_forward(h_, &alpha, x_, x.get(), w_, w.get(), conv_, algo, ws, ws_bytes, &beta, y_, y.get());
    cudaFree(ws);
    return st;
  }

  cudnnHandle_t h_ = nullptr;
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr, b_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  cudnnActivationDescriptor_t act_ = nullptr;
  cudnnPoolingDescriptor_t pool_ = nullptr;
};

Geo Grouped() {
  Geo g;
  g.n = 2, g.c = 6, g.h = 7, g.w = 9, g.k = 4, g.kh = 3, g.kw = 2, g.groups = 2;
  g.ph = 1, g.pw = 2, g.sh = 2, g.sw = 1, g.dh = 1, g.dw = 2;
  return g;
}

TEST_F(DnnEmu, ConvNchwPadsStridesDilationGroupsWithAlphaBeta) {
  const Geo g = Grouped();
  Describe(g, false, false, false);
  const auto xv = Random(g.x_size(), 1), wv = Random(g.w_size(), 2), y0 = Random(g.y_size(), 3);
  DevBuf x(xv, false), w(wv, false), y(y0, false);
  for (auto algo : {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_GEMM,
                    CUDNN_CONVOLUTION_FWD_ALGO_FFT, CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED}) {
    y.Upload(y0);
    ASSERT_EQ(Forward(algo, x, w, y, 1.5f, 0.5f), CUDNN_STATUS_SUCCESS) << algo;
    auto want = RefConv(g, xv, wv);
    for (size_t i = 0; i < want.size(); ++i) want[i] = 1.5 * want[i] + 0.5 * y0[i];
    ExpectNear(y.Download(), want, 1e-5, 1e-5, "NCHW conv");
  }
}

TEST_F(DnnEmu, ConvNhwcMatchesTheSameConvolution) {
  const Geo g = Grouped();
  Describe(g, false, true, false);
  const auto xv = Random(g.x_size(), 4), wv = Random(g.w_size(), 5);
  // Filters are KRSC in NHWC: K x (C/g) x R x S -> K x R x S x (C/g).
  DevBuf x(ChannelsLast(xv, g.n, g.c, g.h * g.w), false), w(ChannelsLast(wv, g.k, g.c / g.groups, g.kh * g.kw), false);
  DevBuf y(g.y_size(), false);
  ASSERT_EQ(Forward(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, x, w, y), CUDNN_STATUS_SUCCESS);
  ExpectNear(ChannelsFirst(y.Download(), g.n, g.k, g.oh() * g.ow()), RefConv(g, xv, wv), 1e-5, 1e-5, "NHWC conv");
}

TEST_F(DnnEmu, ConvolutionModeFlipsTheFilter) {
  Geo g;
  g.n = 1, g.c = 3, g.h = 6, g.w = 5, g.k = 2, g.kh = 3, g.kw = 3, g.ph = 1, g.pw = 0;
  g.flip = true;
  Describe(g, false, false, false);
  const auto xv = Random(g.x_size(), 6), wv = Random(g.w_size(), 7);
  DevBuf x(xv, false), w(wv, false), y(g.y_size(), false);
  ASSERT_EQ(Forward(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, x, w, y), CUDNN_STATUS_SUCCESS);
  const auto got = y.Download();
  ExpectNear(got, RefConv(g, xv, wv), 1e-5, 1e-5, "flipped conv");
  Geo cc = g;
  cc.flip = false;
  const auto unflipped = RefConv(cc, xv, wv);
  double diff = 0;
  for (size_t i = 0; i < got.size(); ++i) diff = std::max(diff, std::fabs(got[i] - unflipped[i]));
  EXPECT_GT(diff, 1e-2) << "CONVOLUTION gave the cross-correlation";
}

TEST_F(DnnEmu, Conv3dThroughNdDescriptors) {
  Geo g;
  g.n = 2, g.c = 4, g.d = 5, g.h = 4, g.w = 6, g.k = 6, g.kd = 2, g.kh = 3, g.kw = 2, g.groups = 2;
  g.pd = 1, g.ph = 1, g.pw = 0, g.sd = 2, g.sh = 1, g.sw = 2, g.dd = 2, g.dh = 1, g.dw = 1;
  Describe(g, false, false, true);
  const auto xv = Random(g.x_size(), 8), wv = Random(g.w_size(), 9);
  DevBuf x(xv, false), w(wv, false), y(g.y_size(), false);
  ASSERT_EQ(Forward(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, x, w, y), CUDNN_STATUS_SUCCESS);
  ExpectNear(y.Download(), RefConv(g, xv, wv), 1e-5, 1e-5, "3-D conv");
}

TEST_F(DnnEmu, HalfConvAccumulatesInFloat) {
  Geo g = Grouped();
  g.c = 64, g.k = 8, g.groups = 1;  // long enough sums that fp16 accumulation would be visibly off
  for (bool nhwc : {false, true}) {
    Describe(g, true, nhwc, false, CUDNN_TENSOR_OP_MATH);
    const auto xv = RoundToHalf(Random(g.x_size(), 10)), wv = RoundToHalf(Random(g.w_size(), 11));
    DevBuf x(nhwc ? ChannelsLast(xv, g.n, g.c, g.h * g.w) : xv, true);
    DevBuf w(nhwc ? ChannelsLast(wv, g.k, g.c, g.kh * g.kw) : wv, true);
    DevBuf y(g.y_size(), true);
    ASSERT_EQ(Forward(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, x, w, y), CUDNN_STATUS_SUCCESS);
    auto got = y.Download();
    if (nhwc) got = ChannelsFirst(got, g.n, g.k, g.oh() * g.ow());
    // One fp16 rounding of the fp32 sum: half an ulp is 2^-11 relative.
    ExpectNear(got, RefConv(g, xv, wv), 1.0 / 1024, 1e-4, "fp16 conv");
  }
}

TEST_F(DnnEmu, Tf32RoundsInputsUnlessFmaMath) {
  Geo g;
  g.n = 1, g.c = 1, g.h = 1, g.w = 4, g.k = 1;
  const float fine = 1.f + std::ldexp(1.f, -12);  // not representable in TF32 (10 mantissa bits)
  const std::vector<float> xv = {fine, 2.f, -fine, 3.f}, wv = {1.f};
  DevBuf x(xv, false), w(wv, false), y(4, false);
  Describe(g, false, false, false, CUDNN_FMA_MATH);
  ASSERT_EQ(Forward(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, x, w, y), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(y.Download(), xv);
  for (auto math : {CUDNN_DEFAULT_MATH, CUDNN_TENSOR_OP_MATH, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION}) {
    Describe(g, false, false, false, math);
    ASSERT_EQ(Forward(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, x, w, y), CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(y.Download(), (std::vector<float>{1.f, 2.f, -1.f, 3.f})) << "math type " << math;
  }
}

TEST_F(DnnEmu, FusedBiasResidualRelu) {
  const Geo g = Grouped();
  const float one = 1.f;
  for (bool nhwc : {false, true}) {
    Describe(g, false, nhwc, false);
    const auto xv = Random(g.x_size(), 12), wv = Random(g.w_size(), 13), zv = Random(g.y_size(), 14);
    const auto bv = Random(g.k, 15, -0.5f, 0.5f);
    const int sp = g.oh() * g.ow();
    auto layout = [&](const std::vector<float>& v, int n, int c, int s) { return nhwc ? ChannelsLast(v, n, c, s) : v; };
    DevBuf x(layout(xv, g.n, g.c, g.h * g.w), false), w(layout(wv, g.k, g.c / g.groups, g.kh * g.kw), false);
    DevBuf z(layout(zv, g.n, g.k, sp), false), bias(bv, false), y(g.y_size(), false);
    ASSERT_EQ(Api().set_activation_descriptor(act_, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0),
              CUDNN_STATUS_SUCCESS);
    const auto conv = RefConv(g, xv, wv);
    std::vector<double> want(conv.size());
    auto bias_of = [&](size_t i) { return bv[(i / sp) % g.k]; };
    for (size_t i = 0; i < want.size(); ++i) want[i] = std::max(0.0, conv[i] + zv[i] + bias_of(i));
    // Any algorithm takes ReLU (this one needs no workspace).
    ASSERT_EQ(Api().convolution_bias_activation_forward(h_, &one, x_, x.get(), w_, w.get(), conv_,
                                                        CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, nullptr, 0, &one, y_,
                                                        z.get(), b_, bias.get(), act_, y_, y.get()),
              CUDNN_STATUS_SUCCESS);
    auto got = y.Download();
    ExpectNear(nhwc ? ChannelsFirst(got, g.n, g.k, sp) : got, want, 1e-5, 1e-5, "relu(conv + z + bias)");
    int zeros = 0;
    for (double v : want) zeros += v == 0.0;
    EXPECT_GT(zeros, 0) << "the ReLU never clipped: a weak test";

    // The residual in place (z == y), as onnxd's residual blocks do.
    y.Upload(layout(zv, g.n, g.k, sp));
    ASSERT_EQ(Api().convolution_bias_activation_forward(h_, &one, x_, x.get(), w_, w.get(), conv_,
                                                        CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, nullptr, 0, &one, y_,
                                                        y.get(), b_, bias.get(), act_, y_, y.get()),
              CUDNN_STATUS_SUCCESS);
    got = y.Download();
    ExpectNear(nhwc ? ChannelsFirst(got, g.n, g.k, sp) : got, want, 1e-5, 1e-5, "in-place residual");

    // No residual: alpha2 = 0 and z = y, whose contents (NaN here) are not read; clipped ReLU at 0.25.
    y.Upload(std::vector<float>(g.y_size(), std::numeric_limits<float>::quiet_NaN()));
    const float zero = 0.f;
    ASSERT_EQ(Api().set_activation_descriptor(act_, CUDNN_ACTIVATION_CLIPPED_RELU, CUDNN_PROPAGATE_NAN, 0.25),
              CUDNN_STATUS_SUCCESS);
    size_t ws_bytes = 0;
    ASSERT_EQ(
        Api().get_convolution_forward_workspace_size(h_, x_, w_, conv_, y_, CUDNN_CONVOLUTION_FWD_ALGO_GEMM, &ws_bytes),
        CUDNN_STATUS_SUCCESS);
    ASSERT_GT(ws_bytes, 0u);
    DevBuf ws(ws_bytes / 4 + 1, false);
    ASSERT_EQ(Api().convolution_bias_activation_forward(h_, &one, x_, x.get(), w_, w.get(), conv_,
                                                        CUDNN_CONVOLUTION_FWD_ALGO_GEMM, ws.get(), ws_bytes, &zero, y_,
                                                        y.get(), b_, bias.get(), act_, y_, y.get()),
              CUDNN_STATUS_SUCCESS);
    for (size_t i = 0; i < want.size(); ++i) want[i] = std::min(0.25, std::max(0.0, conv[i] + bias_of(i)));
    got = y.Download();
    ExpectNear(nhwc ? ChannelsFirst(got, g.n, g.k, sp) : got, want, 1e-5, 1e-5, "clipped relu(conv + bias)");
  }
}

TEST_F(DnnEmu, FusedActivationRules) {
  const Geo g = Grouped();
  Describe(g, false, false, false);
  const auto xv = Random(g.x_size(), 16), wv = Random(g.w_size(), 17), bv = Random(g.k, 18);
  DevBuf x(xv, false), w(wv, false), bias(bv, false), y(g.y_size(), false);
  const float one = 1.f, zero = 0.f;
  size_t ws_bytes = 0;
  ASSERT_EQ(Api().get_convolution_forward_workspace_size(h_, x_, w_, conv_, y_,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, &ws_bytes),
            CUDNN_STATUS_SUCCESS);
  DevBuf ws(ws_bytes / 4 + 1, false);
  auto run = [&](cudnnConvolutionFwdAlgo_t algo) {
    return Api().convolution_bias_activation_forward(h_, &one, x_, x.get(), w_, w.get(), conv_, algo, ws.get(),
                                                     ws_bytes, &zero, y_, y.get(), b_, bias.get(), act_, y_, y.get());
  };
  // IDENTITY (no activation) only with IMPLICIT_PRECOMP_GEMM, as cudnnActivationMode_t documents.
  ASSERT_EQ(Api().set_activation_descriptor(act_, CUDNN_ACTIVATION_IDENTITY, CUDNN_PROPAGATE_NAN, 0.0),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(run(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM), CUDNN_STATUS_NOT_SUPPORTED);
  ASSERT_EQ(run(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM), CUDNN_STATUS_SUCCESS);
  auto want = RefConv(g, xv, wv);
  const int sp = g.oh() * g.ow();
  for (size_t i = 0; i < want.size(); ++i) want[i] += bv[(i / sp) % g.k];
  ExpectNear(y.Download(), want, 1e-5, 1e-5, "identity(conv + bias)");
  // Activations the fused call does not take.
  for (auto mode : {CUDNN_ACTIVATION_SIGMOID, CUDNN_ACTIVATION_TANH, CUDNN_ACTIVATION_ELU}) {
    ASSERT_EQ(Api().set_activation_descriptor(act_, mode, CUDNN_PROPAGATE_NAN, 1.0), CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(run(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM), CUDNN_STATUS_NOT_SUPPORTED) << mode;
  }
  // A bias that is not 1 x K x 1 x 1.
  ASSERT_EQ(Api().set_activation_descriptor(act_, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(Api().set_tensor_4d_descriptor(b_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, g.k, 1, 2),
            CUDNN_STATUS_SUCCESS);
  DevBuf bias2(2 * g.k, false);
  EXPECT_EQ(Api().convolution_bias_activation_forward(h_, &one, x_, x.get(), w_, w.get(), conv_,
                                                      CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, ws.get(),
                                                      ws_bytes, &zero, y_, y.get(), b_, bias2.get(), act_, y_, y.get()),
            CUDNN_STATUS_BAD_PARAM);
}

// Pooling reference over NCHW arrays.
std::vector<double> RefPool(const std::vector<float>& x, int n, int c, int h, int w, int k, int pad, int stride,
                            cudnnPoolingMode_t mode) {
  const int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
  std::vector<double> y;
  for (int b = 0; b < n * c; ++b)
    for (int i = 0; i < oh; ++i)
      for (int j = 0; j < ow; ++j) {
        double mx = -INFINITY, sum = 0;
        int inside = 0;
        for (int r = i * stride - pad; r < i * stride - pad + k; ++r)
          for (int s = j * stride - pad; s < j * stride - pad + k; ++s) {
            if (r < 0 || s < 0 || r >= h || s >= w) continue;
            const double v = x[(static_cast<size_t>(b) * h + r) * w + s];
            mx = std::max(mx, v);
            sum += v;
            ++inside;
          }
        y.push_back(mode == CUDNN_POOLING_MAX                             ? mx
                    : mode == CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING ? sum / (k * k)
                                                                          : sum / inside);
      }
  return y;
}

TEST_F(DnnEmu, PoolingMaxAndAverageBothPaddingModes) {
  const int n = 2, c = 3, h = 7, w = 6, k = 3, pad = 1, stride = 2;
  const int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
  const auto xv = Random(static_cast<size_t>(n) * c * h * w, 19);
  const float one = 1.f, zero = 0.f;
  for (bool half : {false, true}) {
    const auto xr = half ? RoundToHalf(xv) : xv;
    for (bool nhwc : {false, true}) {
      const cudnnDataType_t t = half ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
      const cudnnTensorFormat_t f = nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
      ASSERT_EQ(Api().set_tensor_4d_descriptor(x_, f, t, n, c, h, w), CUDNN_STATUS_SUCCESS);
      ASSERT_EQ(Api().set_tensor_4d_descriptor(y_, f, t, n, c, oh, ow), CUDNN_STATUS_SUCCESS);
      DevBuf x(nhwc ? ChannelsLast(xr, n, c, h * w) : xr, half), y(static_cast<size_t>(n) * c * oh * ow, half);
      for (auto mode : {CUDNN_POOLING_MAX, CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING,
                        CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING}) {
        ASSERT_EQ(Api().set_pooling_2d_descriptor(pool_, mode, CUDNN_PROPAGATE_NAN, k, k, pad, pad, stride, stride),
                  CUDNN_STATUS_SUCCESS);
        ASSERT_EQ(Api().pooling_forward(h_, pool_, &one, x_, x.get(), &zero, y_, y.get()), CUDNN_STATUS_SUCCESS);
        auto got = y.Download();
        if (nhwc) got = ChannelsFirst(got, n, c, oh * ow);
        ExpectNear(got, RefPool(xr, n, c, h, w, k, pad, stride, mode), half ? 1e-3 : 1e-6, 1e-6, "pooling");
      }
    }
  }
  // The two average modes differ at the borders (else this test could not tell them apart).
  const auto inc = RefPool(xv, n, c, h, w, k, pad, stride, CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING);
  const auto exc = RefPool(xv, n, c, h, w, k, pad, stride, CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING);
  EXPECT_NE(inc, exc);
}

TEST_F(DnnEmu, MaxPoolingNanPropagation) {
  std::vector<float> xv = {1.f, std::numeric_limits<float>::quiet_NaN(), 3.f, 2.f};
  DevBuf x(xv, false), y(1, false);
  const float one = 1.f, zero = 0.f;
  ASSERT_EQ(Api().set_tensor_4d_descriptor(x_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 2, 2), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(Api().set_tensor_4d_descriptor(y_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 1, 1), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(Api().set_pooling_2d_descriptor(pool_, CUDNN_POOLING_MAX, CUDNN_PROPAGATE_NAN, 2, 2, 0, 0, 1, 1),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(Api().pooling_forward(h_, pool_, &one, x_, x.get(), &zero, y_, y.get()), CUDNN_STATUS_SUCCESS);
  EXPECT_TRUE(std::isnan(y.Download()[0]));
  ASSERT_EQ(Api().set_pooling_2d_descriptor(pool_, CUDNN_POOLING_MAX, CUDNN_NOT_PROPAGATE_NAN, 2, 2, 0, 0, 1, 1),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(Api().pooling_forward(h_, pool_, &one, x_, x.get(), &zero, y_, y.get()), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(y.Download()[0], 3.f);
  // Wrong output extent.
  ASSERT_EQ(Api().set_tensor_4d_descriptor(y_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 2, 1), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(Api().pooling_forward(h_, pool_, &one, x_, x.get(), &zero, y_, y.get()), CUDNN_STATUS_BAD_PARAM);
}

TEST_F(DnnEmu, AddTensorBroadcastsTheBias) {
  const int n = 2, c = 5, h = 3, w = 4;
  const auto cv = Random(static_cast<size_t>(n) * c * h * w, 20), bv = Random(c, 21);
  const float one = 1.f, two = 2.f, zero = 0.f;
  for (bool nhwc : {false, true}) {
    const cudnnTensorFormat_t f = nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    ASSERT_EQ(Api().set_tensor_4d_descriptor(y_, f, CUDNN_DATA_FLOAT, n, c, h, w), CUDNN_STATUS_SUCCESS);
    ASSERT_EQ(Api().set_tensor_4d_descriptor(b_, f, CUDNN_DATA_FLOAT, 1, c, 1, 1), CUDNN_STATUS_SUCCESS);
    DevBuf cc(nhwc ? ChannelsLast(cv, n, c, h * w) : cv, false), bias(bv, false);
    ASSERT_EQ(Api().add_tensor(h_, &two, b_, bias.get(), &one, y_, cc.get()), CUDNN_STATUS_SUCCESS);
    auto got = cc.Download();
    if (nhwc) got = ChannelsFirst(got, n, c, h * w);
    std::vector<double> want(cv.size());
    for (int b = 0; b < n; ++b)
      for (int ch = 0; ch < c; ++ch)
        for (int s = 0; s < h * w; ++s) {
          const size_t i = (static_cast<size_t>(b) * c + ch) * h * w + s;
          want[i] = cv[i] + 2.0 * bv[ch];
        }
    ExpectNear(got, want, 1e-6, 1e-6, "C + 2 * bias");
    // beta = 0: C is not read (NaN there does not leak).
    cc.Upload(std::vector<float>(cv.size(), std::numeric_limits<float>::quiet_NaN()));
    ASSERT_EQ(Api().add_tensor(h_, &one, b_, bias.get(), &zero, y_, cc.get()), CUDNN_STATUS_SUCCESS);
    for (float v : cc.Download()) ASSERT_FALSE(std::isnan(v));
  }
  // A's dims must match C's or be 1.
  ASSERT_EQ(Api().set_tensor_4d_descriptor(b_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, c, 2, 1), CUDNN_STATUS_SUCCESS);
  DevBuf cc(cv, false), bias(2 * c, false);
  EXPECT_EQ(Api().add_tensor(h_, &one, b_, bias.get(), &one, y_, cc.get()), CUDNN_STATUS_BAD_PARAM);
}

TEST_F(DnnEmu, AlgorithmQueries) {
  const Geo g = Grouped();
  for (bool half : {false, true}) {
    Describe(g, half, false, false, half ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH);
    cudnnConvolutionFwdAlgoPerf_t perf[16];
    for (bool find : {false, true}) {
      int returned = 0;
      const auto query = find ? Api().find_convolution_forward_algorithm : Api().get_convolution_forward_algorithm_v7;
      ASSERT_EQ(query(h_, x_, w_, conv_, y_, 16, &returned, perf), CUDNN_STATUS_SUCCESS);
      ASSERT_GE(returned, 4);
      int ok = 0;
      for (int i = 0; i < returned; ++i) {
        if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
        ++ok;
        size_t ws = 0;
        ASSERT_EQ(Api().get_convolution_forward_workspace_size(h_, x_, w_, conv_, y_, perf[i].algo, &ws),
                  CUDNN_STATUS_SUCCESS);
        EXPECT_EQ(perf[i].memory, ws);
        if (i > 0 && perf[i - 1].status == CUDNN_STATUS_SUCCESS) {
          EXPECT_LT(perf[i - 1].time, perf[i].time);
        }
        if (half) {
          EXPECT_EQ(perf[i].mathType, CUDNN_TENSOR_OP_MATH);
        }
      }
      EXPECT_GE(ok, 4);
      // Heuristics and measurement disagree on the best, so both ways of choosing get exercised.
      EXPECT_EQ(perf[0].algo,
                find ? CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM : CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM);
      if (!half && !find) {
        // fp32 with FMA math: the heuristics' first entry is TF32 (tensor-op) and the next one the
        // same algorithm with the descriptor's math, for a caller that refuses TF32.
        EXPECT_EQ(perf[0].mathType, CUDNN_TENSOR_OP_MATH);
        EXPECT_EQ(perf[1].mathType, CUDNN_FMA_MATH);
      }
      returned = 0;
      ASSERT_EQ(query(h_, x_, w_, conv_, y_, 2, &returned, perf), CUDNN_STATUS_SUCCESS);
      EXPECT_EQ(returned, 2);
      EXPECT_EQ(query(h_, x_, w_, conv_, y_, 0, &returned, perf), CUDNN_STATUS_BAD_PARAM);
    }
  }
  size_t ws = 1;
  ASSERT_EQ(Api().get_convolution_forward_workspace_size(h_, x_, w_, conv_, y_,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, &ws),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(ws, 0u);
}

TEST_F(DnnEmu, ConvRefusals) {
  const Geo g = Grouped();
  Describe(g, false, false, false);
  DevBuf x(g.x_size(), false), w(g.w_size(), false), y(g.y_size(), false);
  ASSERT_EQ(Forward(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, x, w, y), CUDNN_STATUS_SUCCESS);
  const float one = 1.f, zero = 0.f;

  // An output extent that is not the convolution's.
  ASSERT_EQ(Api().set_tensor_4d_descriptor(y_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n, g.k, g.oh() + 1, g.ow()),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(Forward(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, x, w, y), CUDNN_STATUS_BAD_PARAM);
  size_t ws = 0;
  EXPECT_EQ(Api().get_convolution_forward_workspace_size(h_, x_, w_, conv_, y_,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, &ws),
            CUDNN_STATUS_BAD_PARAM);
  ASSERT_EQ(Api().set_tensor_4d_descriptor(y_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n, g.k, g.oh(), g.ow()),
            CUDNN_STATUS_SUCCESS);

  // Channels that are not the filter's C x groups, and filters not a multiple of the groups.
  ASSERT_EQ(Api().set_convolution_group_count(conv_, 3), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(Forward(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, x, w, y), CUDNN_STATUS_BAD_PARAM);
  ASSERT_EQ(Api().set_convolution_group_count(conv_, 1), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(Forward(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, x, w, y), CUDNN_STATUS_BAD_PARAM);
  ASSERT_EQ(Api().set_convolution_group_count(conv_, g.groups), CUDNN_STATUS_SUCCESS);

  // Too small a workspace, and none at all.
  ASSERT_EQ(Api().get_convolution_forward_workspace_size(h_, x_, w_, conv_, y_, CUDNN_CONVOLUTION_FWD_ALGO_GEMM, &ws),
            CUDNN_STATUS_SUCCESS);
  ASSERT_GT(ws, 0u);
  DevBuf small(ws / 4 - 1, false);
  EXPECT_EQ(Api().convolution_forward(h_, &one, x_, x.get(), w_, w.get(), conv_, CUDNN_CONVOLUTION_FWD_ALGO_GEMM,
                                      small.get(), ws - 4, &zero, y_, y.get()),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(Api().convolution_forward(h_, &one, x_, x.get(), w_, w.get(), conv_, CUDNN_CONVOLUTION_FWD_ALGO_GEMM,
                                      nullptr, 0, &zero, y_, y.get()),
            CUDNN_STATUS_BAD_PARAM);
  // A workspace size claimed beyond the allocation.
  EXPECT_EQ(Api().convolution_forward(h_, &one, x_, x.get(), w_, w.get(), conv_, CUDNN_CONVOLUTION_FWD_ALGO_GEMM,
                                      small.get(), ws, &zero, y_, y.get()),
            CUDNN_STATUS_BAD_PARAM);

  // Host memory where device memory is needed.
  std::vector<float> host(g.x_size());
  EXPECT_EQ(Api().convolution_forward(h_, &one, x_, host.data(), w_, w.get(), conv_,
                                      CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, nullptr, 0, &zero, y_, y.get()),
            CUDNN_STATUS_BAD_PARAM);
  // In place (y over x).
  DevBuf big(g.x_size() + g.y_size(), false);
  EXPECT_EQ(Api().convolution_forward(h_, &one, x_, big.get(), w_, w.get(), conv_,
                                      CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, nullptr, 0, &zero, y_, big.get()),
            CUDNN_STATUS_BAD_PARAM);
  // DIRECT has no forward kernel; an algorithm number out of range.
  EXPECT_EQ(Forward(CUDNN_CONVOLUTION_FWD_ALGO_DIRECT, x, w, y), CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(Api().convolution_forward(h_, &one, x_, x.get(), w_, w.get(), conv_, CUDNN_CONVOLUTION_FWD_ALGO_DIRECT,
                                      nullptr, 0, &zero, y_, y.get()),
            CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(Forward(static_cast<cudnnConvolutionFwdAlgo_t>(42), x, w, y), CUDNN_STATUS_BAD_PARAM);

  // Mixed data types; a data type onnxd does not use; a 3-D filter with 4-D tensors.
  ASSERT_EQ(Api().set_tensor_4d_descriptor(y_, CUDNN_TENSOR_NCHW, CUDNN_DATA_HALF, g.n, g.k, g.oh(), g.ow()),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(Api().convolution_forward(h_, &one, x_, x.get(), w_, w.get(), conv_,
                                      CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, nullptr, 0, &zero, y_, y.get()),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(Api().set_tensor_4d_descriptor(y_, CUDNN_TENSOR_NCHW, CUDNN_DATA_DOUBLE, g.n, g.k, g.oh(), g.ow()),
            CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(Api().set_tensor_4d_descriptor(y_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n, 0, g.oh(), g.ow()),
            CUDNN_STATUS_BAD_PARAM);
  ASSERT_EQ(Api().set_tensor_4d_descriptor(y_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n, g.k, g.oh(), g.ow()),
            CUDNN_STATUS_SUCCESS);
  const int wd3[3] = {g.k, g.c / g.groups, g.kh};
  ASSERT_EQ(Api().set_filter_nd_descriptor(w_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 3, wd3), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(Forward(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, x, w, y), CUDNN_STATUS_BAD_PARAM);

  // A destroyed descriptor, and one created but never set.
  cudnnTensorDescriptor_t gone = nullptr;
  ASSERT_EQ(Api().create_tensor_descriptor(&gone), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(Api().set_tensor_4d_descriptor(gone, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 1, 1),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(Api().destroy_tensor_descriptor(gone), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(Api().set_tensor_4d_descriptor(gone, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 1, 1),
            CUDNN_STATUS_BAD_PARAM);
  cudnnTensorDescriptor_t unset = nullptr;
  ASSERT_EQ(Api().create_tensor_descriptor(&unset), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(Api().add_tensor(h_, &one, unset, x.get(), &one, y_, y.get()), CUDNN_STATUS_BAD_PARAM);
  Api().destroy_tensor_descriptor(unset);

  EXPECT_STREQ(Api().error_string(CUDNN_STATUS_BAD_PARAM), "CUDNN_STATUS_BAD_PARAM");
  EXPECT_STREQ(Api().error_string(CUDNN_STATUS_NOT_SUPPORTED), "CUDNN_STATUS_NOT_SUPPORTED");
}

TEST_F(DnnEmu, DescriptorSetterRefusals) {
  const int dims2[2] = {2, 3}, strides2[2] = {3, 1};
  EXPECT_EQ(Api().set_tensor_nd_descriptor(x_, CUDNN_DATA_FLOAT, 2, dims2, strides2), CUDNN_STATUS_NOT_SUPPORTED);
  const int dims3[3] = {2, 3, 4}, bad_strides[3] = {12, 0, 1};
  EXPECT_EQ(Api().set_tensor_nd_descriptor(x_, CUDNN_DATA_FLOAT, 3, dims3, bad_strides), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(Api().set_tensor_4d_descriptor(x_, CUDNN_TENSOR_NCHW_VECT_C, CUDNN_DATA_FLOAT, 1, 4, 1, 1),
            CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(Api().set_convolution_2d_descriptor(conv_, -1, 0, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(Api().set_convolution_2d_descriptor(conv_, 0, 0, 0, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(Api().set_convolution_group_count(conv_, 0), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(Api().set_convolution_math_type(conv_, static_cast<cudnnMathType_t>(9)), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(Api().set_pooling_2d_descriptor(pool_, CUDNN_POOLING_MAX, CUDNN_PROPAGATE_NAN, 0, 2, 0, 0, 1, 1),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(Api().set_filter_4d_descriptor(w_, CUDNN_DATA_INT8, CUDNN_TENSOR_NCHW, 1, 1, 1, 1),
            CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(Api().destroy(nullptr), CUDNN_STATUS_BAD_PARAM);
}

TEST_F(DnnEmu, CapturedConvolutionReplaysWithTheDescriptorsOfItsCapture) {
  Geo g;
  g.n = 1, g.c = 2, g.h = 5, g.w = 5, g.k = 3, g.kh = 3, g.kw = 3, g.ph = 1, g.pw = 1;
  Describe(g, false, false, false);
  const auto x1 = Random(g.x_size(), 22), x2 = Random(g.x_size(), 23), wv = Random(g.w_size(), 24);
  DevBuf x(x1, false), w(wv, false), y(g.y_size(), false);
  y.Upload(std::vector<float>(g.y_size(), 7.f));
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  ASSERT_EQ(Api().set_stream(h_, s), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
  ASSERT_EQ(Forward(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, x, w, y), CUDNN_STATUS_SUCCESS);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  EXPECT_EQ(y.Download(), std::vector<float>(g.y_size(), 7.f)) << "ran during capture";
  // The recorded call keeps the geometry it was captured with.
  ASSERT_EQ(Api().set_convolution_2d_descriptor(conv_, 0, 0, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
            CUDNN_STATUS_SUCCESS);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  ExpectNear(y.Download(), RefConv(g, x1, wv), 1e-5, 1e-5, "first replay");
  x.Upload(x2);
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  ExpectNear(y.Download(), RefConv(g, x2, wv), 1e-5, 1e-5, "replay with new input");
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  Api().set_stream(h_, nullptr);
  cudaStreamDestroy(s);
}

}  // namespace
}  // namespace onnxd::cuda_emu
