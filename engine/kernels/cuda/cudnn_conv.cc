#include "kernels/cuda/cudnn_conv.h"

#include <cuda_runtime_api.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace onnxd::cuda {
namespace {

Status DnnStatus(cudnnStatus_t st, const char* what) {
  if (st == CUDNN_STATUS_SUCCESS) return Status::Ok();
  StatusCode code = st == CUDNN_STATUS_ALLOC_FAILED ? StatusCode::kResourceExhausted
                    : st == CUDNN_STATUS_NOT_SUPPORTED ? StatusCode::kUnimplemented
                                                        : StatusCode::kInternal;
  return Status(code, std::string(what) + ": " + cudnnGetErrorString(st));
}

#define ONNXD_DNN_RETURN_IF_ERROR(expr)                                  \
  do {                                                                  \
    cudnnStatus_t onnxd_dnn_st_ = (expr);                               \
    if (onnxd_dnn_st_ != CUDNN_STATUS_SUCCESS) return DnnStatus(onnxd_dnn_st_, #expr); \
  } while (0)

bool FitsInt(int64_t v) { return v >= 0 && v <= 0x7fffffff; }

// A 4-D descriptor with dims given as N, C, H, W whatever the memory order (`nhwc`: channels last).
Status SetTensor(cudnnTensorDescriptor_t d, cudnnDataType_t type, int64_t n, int64_t c, int64_t h, int64_t w,
                 bool nhwc = false) {
  if (!FitsInt(n) || !FitsInt(c) || !FitsInt(h) || !FitsInt(w) || !FitsInt(n * c * h * w))
    return Unimplemented("cuDNN: tensor dims exceed 32 bits");
  ONNXD_DNN_RETURN_IF_ERROR(cudnnSetTensor4dDescriptor(d, nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, type,
                                                       static_cast<int>(n), static_cast<int>(c), static_cast<int>(h),
                                                       static_cast<int>(w)));
  return Status::Ok();
}

// A 5-D NCDHW descriptor (packed).
Status SetTensor5d(cudnnTensorDescriptor_t t, cudnnDataType_t type, int64_t n, int64_t c, int64_t d, int64_t h,
                   int64_t w) {
  if (!FitsInt(n) || !FitsInt(c) || !FitsInt(d) || !FitsInt(h) || !FitsInt(w) || !FitsInt(n * c * d * h * w))
    return Unimplemented("cuDNN: tensor dims exceed 32 bits");
  if (cudnnSetTensorNdDescriptor == nullptr) return Unimplemented("this cuDNN has no N-d descriptors");
  const int dims[5] = {static_cast<int>(n), static_cast<int>(c), static_cast<int>(d), static_cast<int>(h),
                       static_cast<int>(w)};
  const int strides[5] = {static_cast<int>(c * d * h * w), static_cast<int>(d * h * w), static_cast<int>(h * w),
                          static_cast<int>(w), 1};
  ONNXD_DNN_RETURN_IF_ERROR(cudnnSetTensorNdDescriptor(t, type, 5, dims, strides));
  return Status::Ok();
}

}  // namespace

StatusOr<Dnn> Dnn::Create(cudaStream_t stream) {
  if (!libs::Cudnn().loaded) return Unavailable(libs::Cudnn().error);
  cudnnHandle_t h = nullptr;
  cudnnStatus_t st = cudnnCreate(&h);
  if (st != CUDNN_STATUS_SUCCESS) return DnnStatus(st, "cudnnCreate");
  Dnn dnn(h);
  st = cudnnSetStream(h, stream);
  if (st != CUDNN_STATUS_SUCCESS) return DnnStatus(st, "cudnnSetStream");
  return dnn;
}

Dnn& Dnn::operator=(Dnn&& o) noexcept {
  if (this != &o) {
    if (handle_) cudnnDestroy(handle_);
    handle_ = o.handle_;
    o.handle_ = nullptr;
  }
  return *this;
}

Dnn::~Dnn() {
  if (handle_) cudnnDestroy(handle_);
}

ConvPlan::~ConvPlan() {
  if (x_) cudnnDestroyTensorDescriptor(x_);
  if (y_) cudnnDestroyTensorDescriptor(y_);
  if (bias_) cudnnDestroyTensorDescriptor(bias_);
  if (w_) cudnnDestroyFilterDescriptor(w_);
  if (conv_) cudnnDestroyConvolutionDescriptor(conv_);
  if (act_) cudnnDestroyActivationDescriptor(act_);
}

StatusOr<std::unique_ptr<ConvPlan>> ConvPlan::Create(const Dnn& dnn, const ConvGeometry& g, bool half, bool tf32,
                                                     bool nhwc, double clip_ceiling, AlgoSearch search) {
  if (g.group <= 0 || g.c % g.group != 0 || g.m % g.group != 0) return InvalidArgument("Conv: bad group");
  if (g.out_h() <= 0 || g.out_w() <= 0 || (g.three_d && g.out_d() <= 0))
    return InvalidArgument("Conv: the kernel is larger than the padded input");
  if (g.three_d && nhwc) return InvalidArgument("Conv: 3-D convolutions run NCDHW");
  if (g.three_d && cudnnSetConvolutionNdDescriptor == nullptr)
    return Unimplemented("this cuDNN has no N-d descriptors (3-D convolution)");
  std::unique_ptr<ConvPlan> p(new ConvPlan());
  const cudnnDataType_t type = half ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
  ONNXD_DNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&p->x_));
  ONNXD_DNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&p->y_));
  ONNXD_DNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&p->bias_));
  ONNXD_DNN_RETURN_IF_ERROR(cudnnCreateFilterDescriptor(&p->w_));
  ONNXD_DNN_RETURN_IF_ERROR(cudnnCreateConvolutionDescriptor(&p->conv_));
  if (!FitsInt(g.kh) || !FitsInt(g.kw) || !FitsInt(g.pad_h) || !FitsInt(g.pad_w) || !FitsInt(g.group) ||
      !FitsInt(g.kd) || !FitsInt(g.pad_d) || !FitsInt(g.stride_d) || !FitsInt(g.dil_d))
    return Unimplemented("cuDNN: conv parameters exceed 32 bits");
  if (g.three_d) {
    RETURN_IF_ERROR(SetTensor5d(p->x_, type, g.n, g.c, g.d, g.h, g.w));
    RETURN_IF_ERROR(SetTensor5d(p->y_, type, g.n, g.m, g.out_d(), g.out_h(), g.out_w()));
    RETURN_IF_ERROR(SetTensor5d(p->bias_, type, 1, g.m, 1, 1, 1));
    const int filter[5] = {static_cast<int>(g.m), static_cast<int>(g.c / g.group), static_cast<int>(g.kd),
                           static_cast<int>(g.kh), static_cast<int>(g.kw)};
    ONNXD_DNN_RETURN_IF_ERROR(cudnnSetFilterNdDescriptor(p->w_, type, CUDNN_TENSOR_NCHW, 5, filter));
    const int pads[3] = {static_cast<int>(g.pad_d), static_cast<int>(g.pad_h), static_cast<int>(g.pad_w)};
    const int strides[3] = {static_cast<int>(g.stride_d), static_cast<int>(g.stride_h), static_cast<int>(g.stride_w)};
    const int dilations[3] = {static_cast<int>(g.dil_d), static_cast<int>(g.dil_h), static_cast<int>(g.dil_w)};
    ONNXD_DNN_RETURN_IF_ERROR(cudnnSetConvolutionNdDescriptor(p->conv_, 3, pads, strides, dilations,
                                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  } else {
    RETURN_IF_ERROR(SetTensor(p->x_, type, g.n, g.c, g.h, g.w, nhwc));
    RETURN_IF_ERROR(SetTensor(p->y_, type, g.n, g.m, g.out_h(), g.out_w(), nhwc));
    RETURN_IF_ERROR(SetTensor(p->bias_, type, 1, g.m, 1, 1, nhwc));
    ONNXD_DNN_RETURN_IF_ERROR(cudnnSetFilter4dDescriptor(p->w_, type, nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW,
                                                         static_cast<int>(g.m),
                                                         static_cast<int>(g.c / g.group), static_cast<int>(g.kh),
                                                         static_cast<int>(g.kw)));
    ONNXD_DNN_RETURN_IF_ERROR(cudnnSetConvolution2dDescriptor(
        p->conv_, static_cast<int>(g.pad_h), static_cast<int>(g.pad_w), static_cast<int>(g.stride_h),
        static_cast<int>(g.stride_w), static_cast<int>(g.dil_h), static_cast<int>(g.dil_w), CUDNN_CROSS_CORRELATION,
        CUDNN_DATA_FLOAT));
  }
  ONNXD_DNN_RETURN_IF_ERROR(cudnnSetConvolutionGroupCount(p->conv_, static_cast<int>(g.group)));
  // fp16 may use tensor cores; fp32 keeps IEEE FMA math unless TF32 is allowed.
  ONNXD_DNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(
      p->conv_, half ? CUDNN_TENSOR_OP_MATH : (tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH)));

  // The algorithm: cuDNN's measured fastest for this geometry where the library can measure
  // (cudnnFind runs each candidate once; the answer is kept per geometry and device for the whole
  // process: a machine's GPUs need not be one model), else the heuristics' first. Either way only
  // algorithms whose workspace stays reasonable, and whose math type is the one requested.
  constexpr size_t kMaxWorkspace = size_t{1} << 30;
  using Depth = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>;  // d, kd, pad_d, stride_d, dil_d
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                         int64_t, int64_t, int64_t, int64_t, int, int, Depth>;
  static std::mutex mu;
  static std::map<Key, std::pair<cudnnConvolutionFwdAlgo_t, cudnnMathType_t>> chosen;  // GUARDED_BY(mu)
  int device = 0;  // the caller's (the session's) current device, which `dnn` works on
  if (cudaGetDevice(&device) != cudaSuccess) device = -1;
  // Measured only from batch 8 up by default: at batch 1 cudnnFind's single timings of microsecond
  // kernels picked algorithms that made ResNet-50 fp16 2.62 ms a run on an H200 against 0.44 ms
  // with the heuristics' choice (same machine type, graph replay); at batch 64 the measured choice
  // was the faster one. ONNXD_CUDNN_FIND=0 never measures, =1 always does; an explicit `search`
  // (the session's autotuning) decides for itself.
  bool measure = g.n >= 8;
  if (search != AlgoSearch::kDefault) {
    measure = search == AlgoSearch::kMeasured;
  } else if (const char* find_env = std::getenv("ONNXD_CUDNN_FIND"); find_env != nullptr && *find_env != '\0') {
    measure = *find_env == '1';
  }
  const Key key{g.n, g.c, g.h, g.w, g.m, g.kh, g.kw, g.group, g.pad_h, g.pad_w, g.stride_h, g.stride_w, g.dil_h,
                g.dil_w, (half ? 1 : 0) | (tf32 ? 2 : 0) | (nhwc ? 4 : 0) | (measure ? 8 : 0), device,
                // The depth axis (0 for 2-D: a 3-D geometry never shares a 2-D one's entry).
                g.three_d ? Depth(g.d, g.kd, g.pad_d, g.stride_d, g.dil_d) : Depth(0, 0, 0, 0, 0)};
  auto pick = [&](const cudnnConvolutionFwdAlgoPerf_t* perf, int returned,
                  std::pair<cudnnConvolutionFwdAlgo_t, cudnnMathType_t>* out) {
    for (int i = 0; i < returned; ++i) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kMaxWorkspace) continue;
      // No TF32 by the back door.
      if (!half && !tf32 &&
          (perf[i].mathType == CUDNN_TENSOR_OP_MATH || perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
        continue;
      *out = {perf[i].algo, perf[i].mathType};
      return true;
    }
    return false;
  };
  std::pair<cudnnConvolutionFwdAlgo_t, cudnnMathType_t> algo{CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                                                             CUDNN_DEFAULT_MATH};
  bool found = false;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = chosen.find(key); it != chosen.end()) {
      algo = it->second;
      found = true;
    }
  }
  constexpr int kMaxAlgos = 16;
  cudnnConvolutionFwdAlgoPerf_t perf[kMaxAlgos];
  int returned = 0;
  if (!found && cudnnFindConvolutionForwardAlgorithm != nullptr && measure) {
    if (cudnnFindConvolutionForwardAlgorithm(dnn.get(), p->x_, p->w_, p->conv_, p->y_, kMaxAlgos, &returned, perf) ==
        CUDNN_STATUS_SUCCESS)
      found = pick(perf, returned, &algo);
  }
  if (!found) {
    ONNXD_DNN_RETURN_IF_ERROR(
        cudnnGetConvolutionForwardAlgorithm_v7(dnn.get(), p->x_, p->w_, p->conv_, p->y_, kMaxAlgos, &returned, perf));
    found = pick(perf, returned, &algo);
  }
  if (!found) return Unimplemented("cuDNN offers no forward algorithm for this convolution");
  {
    std::lock_guard<std::mutex> lock(mu);
    chosen.emplace(key, algo);
  }
  p->algo_ = algo.first;
  const cudnnMathType_t math = algo.second;
  // cuDNN picks kernels by algorithm and the descriptor's math type together: run with the math
  // type the heuristics returned for this algorithm (as frameworks do). Strict fp32 keeps FMA math
  // (DEFAULT would let cuDNN use TF32 on Ampere and later).
  if (half || tf32) ONNXD_DNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(p->conv_, math));
  ONNXD_DNN_RETURN_IF_ERROR(
      cudnnGetConvolutionForwardWorkspaceSize(dnn.get(), p->x_, p->w_, p->conv_, p->y_, p->algo_, &p->workspace_));
  if (cudnnConvolutionBiasActivationForward != nullptr) {
    ONNXD_DNN_RETURN_IF_ERROR(cudnnCreateActivationDescriptor(&p->act_));
    ONNXD_DNN_RETURN_IF_ERROR(
        cudnnSetActivationDescriptor(p->act_, clip_ceiling > 0 ? CUDNN_ACTIVATION_CLIPPED_RELU : CUDNN_ACTIVATION_RELU,
                                     CUDNN_PROPAGATE_NAN, clip_ceiling > 0 ? clip_ceiling : 0.0));
  }
  return p;
}

Status ConvPlan::RunFused(const Dnn& dnn, const void* x, const void* w, const void* bias, const void* z, void* y,
                          void* workspace) const {
  if (act_ == nullptr || bias == nullptr) return Unimplemented("no fused convolution in this cuDNN");
  const float one = 1.f, alpha2 = z != nullptr ? 1.f : 0.f;
  ONNXD_DNN_RETURN_IF_ERROR(cudnnConvolutionBiasActivationForward(dnn.get(), &one, x_, x, w_, w, conv_, algo_,
                                                                  workspace, workspace_, &alpha2, y_,
                                                                  z != nullptr ? z : y, bias_, bias, act_, y_, y));
  return Status::Ok();
}

Status ConvPlan::Run(const Dnn& dnn, const void* x, const void* w, const void* bias, void* y, void* workspace) const {
  // Scaling factors are float for both float and half data.
  const float one = 1.f, zero = 0.f;
  ONNXD_DNN_RETURN_IF_ERROR(cudnnConvolutionForward(dnn.get(), &one, x_, x, w_, w, conv_, algo_, workspace, workspace_,
                                                    &zero, y_, y));
  if (bias != nullptr) ONNXD_DNN_RETURN_IF_ERROR(cudnnAddTensor(dnn.get(), &one, bias_, bias, &one, y_, y));
  return Status::Ok();
}

PoolPlan::~PoolPlan() {
  if (x_) cudnnDestroyTensorDescriptor(x_);
  if (y_) cudnnDestroyTensorDescriptor(y_);
  if (pool_) cudnnDestroyPoolingDescriptor(pool_);
}

StatusOr<std::unique_ptr<PoolPlan>> PoolPlan::Create(const PoolGeometry& g, PoolMode mode, bool half, bool nhwc) {
  if (g.out_h() <= 0 || g.out_w() <= 0) return InvalidArgument("pooling window larger than the padded input");
  if (!FitsInt(g.kh) || !FitsInt(g.kw) || !FitsInt(g.pad_h) || !FitsInt(g.pad_w) || !FitsInt(g.stride_h) ||
      !FitsInt(g.stride_w))
    return Unimplemented("cuDNN: pooling parameters exceed 32 bits");
  std::unique_ptr<PoolPlan> p(new PoolPlan());
  const cudnnDataType_t type = half ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
  ONNXD_DNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&p->x_));
  ONNXD_DNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&p->y_));
  ONNXD_DNN_RETURN_IF_ERROR(cudnnCreatePoolingDescriptor(&p->pool_));
  RETURN_IF_ERROR(SetTensor(p->x_, type, g.n, g.c, g.h, g.w, nhwc));
  RETURN_IF_ERROR(SetTensor(p->y_, type, g.n, g.c, g.out_h(), g.out_w(), nhwc));
  const cudnnPoolingMode_t m = mode == PoolMode::kMax                 ? CUDNN_POOLING_MAX
                               : mode == PoolMode::kAverageIncludePad ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                                                                      : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
  ONNXD_DNN_RETURN_IF_ERROR(cudnnSetPooling2dDescriptor(p->pool_, m, CUDNN_PROPAGATE_NAN, static_cast<int>(g.kh),
                                                        static_cast<int>(g.kw), static_cast<int>(g.pad_h),
                                                        static_cast<int>(g.pad_w), static_cast<int>(g.stride_h),
                                                        static_cast<int>(g.stride_w)));
  return p;
}

Status PoolPlan::Run(const Dnn& dnn, const void* x, void* y) const {
  const float one = 1.f, zero = 0.f;
  ONNXD_DNN_RETURN_IF_ERROR(cudnnPoolingForward(dnn.get(), pool_, &one, x_, x, &zero, y_, y));
  return Status::Ok();
}

}  // namespace onnxd::cuda
