// cuDNN convolution and pooling for the CUDA session (built when cuDNN is found: ONNXD_WITH_CUDNN).
//
// Dnn is a cuDNN handle bound to one stream. ConvPlan / PoolPlan hold the descriptors for one
// node and one input shape; ConvPlan also holds the algorithm cuDNN's heuristics chose for that
// shape, so a session builds each plan once and reuses it (the caller caches them per shape).
// NCHW tensors, 1-D (N,C,L) as 2-D with W = 1; fp32 or fp16 storage with fp32 accumulation.
// Used by one thread at a time.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>

#include "kernels/cuda/cuda_libs.h"
#include "onnxd/engine/status.h"

namespace onnxd::cuda {

class Dnn {
 public:
  static StatusOr<Dnn> Create(cudaStream_t stream);
  Dnn(Dnn&& o) noexcept : handle_(o.handle_) { o.handle_ = nullptr; }
  Dnn& operator=(Dnn&& o) noexcept;
  Dnn(const Dnn&) = delete;
  Dnn& operator=(const Dnn&) = delete;
  ~Dnn();
  cudnnHandle_t get() const { return handle_; }

 private:
  explicit Dnn(cudnnHandle_t h) : handle_(h) {}
  cudnnHandle_t handle_ = nullptr;
};

// One 2-D convolution (1-D ones pass kh = 1 style dims with w = 1), or with `three_d` a 3-D one
// over NCDHW data (filters [m, c / group, kd, kh, kw]; NCHW layout only).
struct ConvGeometry {
  int64_t n = 1, c = 1, h = 1, w = 1;  // input
  int64_t m = 1, kh = 1, kw = 1;       // filters: [m, c / group, kh, kw]
  int64_t group = 1;
  int64_t pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  bool three_d = false;
  int64_t d = 1, kd = 1, pad_d = 0, stride_d = 1, dil_d = 1;  // the depth axis (3-D only)
  int64_t out_h() const { return (h + 2 * pad_h - ((kh - 1) * dil_h + 1)) / stride_h + 1; }
  int64_t out_w() const { return (w + 2 * pad_w - ((kw - 1) * dil_w + 1)) / stride_w + 1; }
  int64_t out_d() const { return (d + 2 * pad_d - ((kd - 1) * dil_d + 1)) / stride_d + 1; }
};

// How ConvPlan::Create picks the algorithm. kDefault: cudnnFind's measured fastest from batch 8 up,
// the heuristics' first below (ONNXD_CUDNN_FIND=0|1 overrides); kHeuristic / kMeasured force one
// way (the CUDA session's autotuning tries both and keeps the faster graph).
enum class AlgoSearch { kDefault, kHeuristic, kMeasured };

class ConvPlan {
 public:
  // `tf32` lets fp32 convolutions use TF32 tensor cores (otherwise IEEE fp32 FMA math).
  // `nhwc`: x and y are channels-last ([N, H, W, C] in memory) and the filters [M, KH, KW, C/group]
  // (the tensor cores' native layout); dims are still given as N, C, H, W.
  // `clip_ceiling` > 0: RunFused's activation is min(max(x, 0), clip_ceiling) (ReLU6) instead of ReLU.
  static StatusOr<std::unique_ptr<ConvPlan>> Create(const Dnn& dnn, const ConvGeometry& g, bool half, bool tf32,
                                                    bool nhwc = false, double clip_ceiling = 0,
                                                    AlgoSearch search = AlgoSearch::kDefault);
  ~ConvPlan();
  size_t workspace_bytes() const { return workspace_; }
  // y = conv(x, w) + bias; bias (length m) may be null. `workspace` holds workspace_bytes().
  Status Run(const Dnn& dnn, const void* x, const void* w, const void* bias, void* y, void* workspace) const;
  // True when this cuDNN has the fused call RunFused makes.
  bool fusable() const { return act_ != nullptr; }
  // y = relu(conv(x, w) + z + bias) (or the clipped ReLU) in one cuDNN call; z (y's dims and layout) may be null, bias may
  // not. Unimplemented when cuDNN does not take this configuration: then Run and separate ops.
  Status RunFused(const Dnn& dnn, const void* x, const void* w, const void* bias, const void* z, void* y,
                  void* workspace) const;

 private:
  ConvPlan() = default;
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr, bias_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  cudnnActivationDescriptor_t act_ = nullptr;  // ReLU, for RunFused
  cudnnConvolutionFwdAlgo_t algo_ = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t workspace_ = 0;
};

struct PoolGeometry {
  int64_t n = 1, c = 1, h = 1, w = 1;
  int64_t kh = 1, kw = 1, pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1;
  int64_t out_h() const { return (h + 2 * pad_h - kh) / stride_h + 1; }
  int64_t out_w() const { return (w + 2 * pad_w - kw) / stride_w + 1; }
};

enum class PoolMode { kMax, kAverageExcludePad, kAverageIncludePad };

class PoolPlan {
 public:
  static StatusOr<std::unique_ptr<PoolPlan>> Create(const PoolGeometry& g, PoolMode mode, bool half, bool nhwc = false);
  ~PoolPlan();
  Status Run(const Dnn& dnn, const void* x, void* y) const;

 private:
  PoolPlan() = default;
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr;
  cudnnPoolingDescriptor_t pool_ = nullptr;
};

}  // namespace onnxd::cuda
