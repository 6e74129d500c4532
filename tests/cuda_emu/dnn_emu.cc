// Emulated cuDNN (the legacy descriptor API, as far as onnxd's CudnnApi table reaches) for the CUDA
// emulator: tensor / filter / convolution / pooling / activation descriptors, convolution forward
// (plain and fused with bias, residual and activation), the algorithm queries, pooling and
// cudnnAddTensor, computed on the CPU with plain loops.
//
// Every computation walks the descriptors' strides, so NCHW, NHWC and any strided layout go through
// one loop nest. Numerics follow the hardware: fp16 data in and out with fp32 accumulation; fp32
// data with a TF32-capable math type (DEFAULT, TENSOR_OP, TENSOR_OP_ALLOW_CONVERSION) rounds each
// input element to TF32 before multiplying; FMA_MATH is plain fp32. alpha / beta are host floats for
// both float and half data; beta == 0 (and alpha2 == 0 in the fused call) means that tensor is not
// read.
//
// The point is catching onnxd's misuse, so each call validates like cuDNN and refuses with its
// status (BAD_PARAM for inconsistent descriptors, NOT_SUPPORTED for what cuDNN does not do), with a
// one-line reason on stderr. It also refuses what cuDNN would silently get wrong: host pointers where
// device memory is needed, destroyed or never-set descriptors, an output overlapping an input, a
// workspace smaller than cudnnGetConvolutionForwardWorkspaceSize said or overlapping a tensor. The
// workspace is overwritten on each call (as the real kernels scribble over it).
//
// Each call that touches device memory runs through Enqueue on the handle's stream (so a CUDA graph
// capture records it); what the recorded operation needs from the descriptors is copied at call
// time, as a captured kernel's parameters are.
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "emu.h"
#include "kernels/cuda/cuda_libs.h"
#include "libs_emu.h"

namespace {

constexpr int kMaxDims = 8;  // CUDNN_DIM_MAX

// A tensor as the computations see it: logical dims (N, C, spatial...) and the element stride of each.
struct Tensor {
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int nb = 0;
  int dims[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
};

struct ConvGeom {
  int spatial = 0;  // number of spatial dims
  int pad[kMaxDims - 2] = {}, stride[kMaxDims - 2] = {}, dilation[kMaxDims - 2] = {};
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnDataType_t compute = CUDNN_DATA_FLOAT;
};

}  // namespace

// The opaque structs cudnn*.h only declares.
struct cudnnContext {
  cudaStream_t stream = nullptr;
};
struct cudnnTensorStruct {
  bool set = false;
  Tensor t;
};
struct cudnnFilterStruct {
  bool set = false;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW;
  int nb = 0;
  int dims[kMaxDims] = {};  // K, C, spatial... whatever the format
};
struct cudnnConvolutionStruct {
  bool set = false;
  ConvGeom g;
  int groups = 1;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};
struct cudnnPoolingStruct {
  bool set = false;
  cudnnPoolingMode_t mode = CUDNN_POOLING_MAX;
  cudnnNanPropagation_t nan = CUDNN_NOT_PROPAGATE_NAN;
  int window[2] = {}, pad[2] = {}, stride[2] = {};
};
struct cudnnActivationStruct {
  bool set = false;
  cudnnActivationMode_t mode = CUDNN_ACTIVATION_RELU;
  cudnnNanPropagation_t nan = CUDNN_NOT_PROPAGATE_NAN;
  double coef = 0;
};

namespace onnxd::cuda_emu {
namespace {

// ---- refusals ----

cudnnStatus_t Refuse(cudnnStatus_t st, const char* fn, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
cudnnStatus_t Refuse(cudnnStatus_t st, const char* fn, const char* fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "cuda_emu: %s: %s\n", fn, msg);
  return st;
}

#define EMU_RETURN_IF_ERROR(expr)                        \
  do {                                                   \
    cudnnStatus_t emu_st_ = (expr);                      \
    if (emu_st_ != CUDNN_STATUS_SUCCESS) return emu_st_; \
  } while (0)

// ---- live objects: a destroyed or foreign handle / descriptor is refused, not dereferenced ----

enum class Kind { kHandle, kTensor, kFilter, kConv, kPool, kAct };

struct Objects {
  std::mutex mu;
  std::unordered_map<const void*, Kind> live;
};
Objects& Live() {
  static Objects* o = new Objects();
  return *o;
}

template <typename T>
T* NewObject(Kind k) {
  T* p = new T();
  std::lock_guard<std::mutex> l(Live().mu);
  Live().live[p] = k;
  return p;
}

bool IsLive(const void* p, Kind k) {
  std::lock_guard<std::mutex> l(Live().mu);
  auto it = Live().live.find(p);
  return it != Live().live.end() && it->second == k;
}

bool Forget(const void* p, Kind k) {
  std::lock_guard<std::mutex> l(Live().mu);
  auto it = Live().live.find(p);
  if (it == Live().live.end() || it->second != k) return false;
  Live().live.erase(it);
  return true;
}

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kHandle: return "handle";
    case Kind::kTensor: return "tensor descriptor";
    case Kind::kFilter: return "filter descriptor";
    case Kind::kConv: return "convolution descriptor";
    case Kind::kPool: return "pooling descriptor";
    case Kind::kAct: return "activation descriptor";
  }
  return "object";
}

// A live object of kind `k` (and, for descriptors, one whose Set* call succeeded).
cudnnStatus_t CheckLive(const void* p, Kind k, const char* fn, const char* what) {
  if (p == nullptr) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "%s is null", what);
  if (!IsLive(p, k)) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "%s is not a live %s", what, KindName(k));
  return CUDNN_STATUS_SUCCESS;
}

template <typename T>
cudnnStatus_t CheckSet(const T* p, Kind k, const char* fn, const char* what) {
  EMU_RETURN_IF_ERROR(CheckLive(p, k, fn, what));
  if (!p->set) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "%s was never set", what);
  return CUDNN_STATUS_SUCCESS;
}

// ---- element access ----

size_t ElementBytes(cudnnDataType_t t) { return t == CUDNN_DATA_HALF ? 2 : 4; }

float Load(const void* base, cudnnDataType_t t, int64_t i) {
  if (t == CUDNN_DATA_HALF) return __half2float(static_cast<const __half*>(base)[i]);
  return static_cast<const float*>(base)[i];
}

void Store(void* base, cudnnDataType_t t, int64_t i, float v) {
  if (t == CUDNN_DATA_HALF) {
    static_cast<__half*>(base)[i] = __float2half_rn(v);
  } else {
    static_cast<float*>(base)[i] = v;
  }
}

// Rounds to TF32 (10 mantissa bits), to nearest even, as the tensor cores read fp32 inputs.
float RoundTf32(float f) {
  if (!std::isfinite(f)) return f;
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits += 0xFFFu + ((bits >> 13) & 1u);
  bits &= ~0x1FFFu;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Advances a row-major multi-index; false after the last one.
bool Next(int* idx, const int* dims, int nb) {
  for (int d = nb - 1; d >= 0; --d) {
    if (++idx[d] < dims[d]) return true;
    idx[d] = 0;
  }
  return false;
}

int64_t Offset(const Tensor& t, const int* idx) {
  int64_t o = 0;
  for (int d = 0; d < t.nb; ++d) o += idx[d] * t.strides[d];
  return o;
}

int64_t Elements(const int* dims, int nb) {
  int64_t n = 1;
  for (int d = 0; d < nb; ++d) n *= dims[d];
  return n;
}

// Bytes from the first element to past the last one.
size_t SpanBytes(const Tensor& t) {
  int64_t last = 0;
  for (int d = 0; d < t.nb; ++d) last += int64_t{t.dims[d] - 1} * t.strides[d];
  return static_cast<size_t>(last + 1) * ElementBytes(t.type);
}

bool Overlap(const void* a, size_t an, const void* b, size_t bn) {
  const auto pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
  return an > 0 && bn > 0 && pa < pb + bn && pb < pa + an;
}

// True when no two index tuples of `t` share an element (so it may be written).
bool NonOverlapping(const Tensor& t) {
  int order[kMaxDims];
  int n = 0;
  for (int d = 0; d < t.nb; ++d)
    if (t.dims[d] > 1) order[n++] = d;
  std::sort(order, order + n, [&](int a, int b) { return t.strides[a] < t.strides[b]; });
  int64_t need = 1;
  for (int i = 0; i < n; ++i) {
    if (t.strides[order[i]] < need) return false;
    need = t.strides[order[i]] * t.dims[order[i]];
  }
  return true;
}

cudnnStatus_t CheckDevice(const void* p, size_t bytes, const char* fn, const char* what) {
  if (p == nullptr) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "%s is null", what);
  if (!IsDeviceMemory(p, bytes))
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "%s (%p, %zu bytes) is not inside one device allocation", what, p, bytes);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t CheckScale(const void* p, const char* fn, const char* what) {
  if (p == nullptr) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "%s is null", what);
  return CUDNN_STATUS_SUCCESS;
}

float HostFloat(const void* p) { return *static_cast<const float*>(p); }

cudnnStatus_t CheckDataType(cudnnDataType_t t, const char* fn) {
  if (t == CUDNN_DATA_FLOAT || t == CUDNN_DATA_HALF) return CUDNN_STATUS_SUCCESS;
  if (static_cast<int>(t) < 0 || static_cast<int>(t) > CUDNN_DATA_COMPLEX_FP64)
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "data type %d is not a cudnnDataType_t", static_cast<int>(t));
  return Refuse(CUDNN_STATUS_NOT_SUPPORTED, fn, "data type %d: the emulator does FLOAT and HALF only",
                static_cast<int>(t));
}

cudnnStatus_t CheckDims(int nb, const int* dims, const char* fn) {
  for (int d = 0; d < nb; ++d)
    if (dims[d] <= 0) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "dim %d is %d", d, dims[d]);
  if (Elements(dims, nb) > std::numeric_limits<int32_t>::max())
    return Refuse(CUDNN_STATUS_NOT_SUPPORTED, fn, "more than 2^31-1 elements");
  return CUDNN_STATUS_SUCCESS;
}

// ---- handle ----

cudnnStatus_t EmuCreate(cudnnHandle_t* handle) {
  if (handle == nullptr) return Refuse(CUDNN_STATUS_BAD_PARAM, "cudnnCreate", "null result pointer");
  *handle = NewObject<cudnnContext>(Kind::kHandle);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t EmuDestroy(cudnnHandle_t handle) {
  if (!Forget(handle, Kind::kHandle)) return Refuse(CUDNN_STATUS_BAD_PARAM, "cudnnDestroy", "not a live handle");
  delete handle;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t EmuSetStream(cudnnHandle_t handle, cudaStream_t stream) {
  EMU_RETURN_IF_ERROR(CheckLive(handle, Kind::kHandle, "cudnnSetStream", "handle"));
  handle->stream = stream;
  return CUDNN_STATUS_SUCCESS;
}

const char* EmuGetErrorString(cudnnStatus_t st) {
  switch (st) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_BAD_PARAM_NULL_POINTER: return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
    case CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH: return "CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_NOT_SUPPORTED_SHAPE: return "CUDNN_STATUS_NOT_SUPPORTED_SHAPE";
    case CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE: return "CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE";
    case CUDNN_STATUS_INTERNAL_ERROR: return "CUDNN_STATUS_INTERNAL_ERROR";
    case CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED:
      return "CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED";
    case CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED:
      return "CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED";
    case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
    case CUDNN_STATUS_INVALID_VALUE: return "CUDNN_STATUS_INVALID_VALUE";
    default: return "CUDNN_UNKNOWN_STATUS_FOUND";
  }
}

// ---- tensor descriptors ----

// Create / Destroy for every kind of object: a null result pointer and a dead or foreign object
// are refused; destroying null is a no-op, as cuDNN's descriptors allow.
template <typename T>
cudnnStatus_t CreateObject(T** d, Kind kind, const char* fn) {
  if (d == nullptr) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "null result pointer");
  *d = NewObject<T>(kind);
  return CUDNN_STATUS_SUCCESS;
}
template <typename T>
cudnnStatus_t DestroyObject(T* d, Kind kind, const char* fn, const char* what) {
  if (d == nullptr) return CUDNN_STATUS_SUCCESS;
  if (!Forget(d, kind)) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "not a live %s", what);
  delete d;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t EmuCreateTensorDescriptor(cudnnTensorDescriptor_t* d) {
  return CreateObject(d, Kind::kTensor, "cudnnCreateTensorDescriptor");
}
cudnnStatus_t EmuDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
  return DestroyObject(d, Kind::kTensor, "cudnnDestroyTensorDescriptor", "tensor descriptor");
}

// Packed strides for dims given as N, C, spatial... stored channels-first (NCHW) or channels-last.
void PackedStrides(const int* dims, int nb, bool channels_last, int64_t* strides) {
  int order[kMaxDims];  // memory order, outermost first
  int n = 0;
  order[n++] = 0;
  if (!channels_last) order[n++] = 1;
  for (int d = 2; d < nb; ++d) order[n++] = d;
  if (channels_last) order[n++] = 1;
  int64_t s = 1;
  for (int i = nb - 1; i >= 0; --i) {
    strides[order[i]] = s;
    s *= dims[order[i]];
  }
}

cudnnStatus_t CheckFormat(cudnnTensorFormat_t f, const char* fn) {
  if (f == CUDNN_TENSOR_NCHW || f == CUDNN_TENSOR_NHWC) return CUDNN_STATUS_SUCCESS;
  if (f == CUDNN_TENSOR_NCHW_VECT_C)
    return Refuse(CUDNN_STATUS_NOT_SUPPORTED, fn, "NCHW_VECT_C is for int8 data, which the emulator does not do");
  return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "format %d is not a cudnnTensorFormat_t", static_cast<int>(f));
}

cudnnStatus_t EmuSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t format, cudnnDataType_t type,
                                       int n, int c, int h, int w) {
  const char* fn = "cudnnSetTensor4dDescriptor";
  EMU_RETURN_IF_ERROR(CheckLive(d, Kind::kTensor, fn, "tensorDesc"));
  EMU_RETURN_IF_ERROR(CheckFormat(format, fn));
  EMU_RETURN_IF_ERROR(CheckDataType(type, fn));
  const int dims[4] = {n, c, h, w};
  EMU_RETURN_IF_ERROR(CheckDims(4, dims, fn));
  Tensor t;
  t.type = type;
  t.nb = 4;
  std::copy(dims, dims + 4, t.dims);
  PackedStrides(dims, 4, format == CUDNN_TENSOR_NHWC, t.strides);
  d->t = t;
  d->set = true;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t EmuSetTensorNdDescriptor(cudnnTensorDescriptor_t d, cudnnDataType_t type, int nb, const int dims[],
                                       const int strides[]) {
  const char* fn = "cudnnSetTensorNdDescriptor";
  EMU_RETURN_IF_ERROR(CheckLive(d, Kind::kTensor, fn, "tensorDesc"));
  EMU_RETURN_IF_ERROR(CheckDataType(type, fn));
  if (nb <= 0) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "nbDims %d", nb);
  if (nb < 3 || nb > kMaxDims) return Refuse(CUDNN_STATUS_NOT_SUPPORTED, fn, "nbDims %d outside [3, 8]", nb);
  if (dims == nullptr || strides == nullptr) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "null dims or strides");
  EMU_RETURN_IF_ERROR(CheckDims(nb, dims, fn));
  Tensor t;
  t.type = type;
  t.nb = nb;
  for (int i = 0; i < nb; ++i) {
    if (strides[i] <= 0) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "stride %d is %d", i, strides[i]);
    t.dims[i] = dims[i];
    t.strides[i] = strides[i];
  }
  d->t = t;
  d->set = true;
  return CUDNN_STATUS_SUCCESS;
}

// ---- filter descriptors ----

cudnnStatus_t EmuCreateFilterDescriptor(cudnnFilterDescriptor_t* d) {
  return CreateObject(d, Kind::kFilter, "cudnnCreateFilterDescriptor");
}
cudnnStatus_t EmuDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
  return DestroyObject(d, Kind::kFilter, "cudnnDestroyFilterDescriptor", "filter descriptor");
}

cudnnStatus_t SetFilter(cudnnFilterDescriptor_t d, cudnnDataType_t type, cudnnTensorFormat_t format, int nb,
                        const int* dims, const char* fn) {
  EMU_RETURN_IF_ERROR(CheckLive(d, Kind::kFilter, fn, "filterDesc"));
  EMU_RETURN_IF_ERROR(CheckFormat(format, fn));
  EMU_RETURN_IF_ERROR(CheckDataType(type, fn));
  if (nb <= 0) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "nbDims %d", nb);
  if (nb < 3 || nb > kMaxDims) return Refuse(CUDNN_STATUS_NOT_SUPPORTED, fn, "nbDims %d outside [3, 8]", nb);
  if (dims == nullptr) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "null filterDimA");
  EMU_RETURN_IF_ERROR(CheckDims(nb, dims, fn));
  d->type = type;
  d->format = format;
  d->nb = nb;
  std::copy(dims, dims + nb, d->dims);
  d->set = true;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t EmuSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t type, cudnnTensorFormat_t format,
                                       int k, int c, int h, int w) {
  const int dims[4] = {k, c, h, w};
  return SetFilter(d, type, format, 4, dims, "cudnnSetFilter4dDescriptor");
}

cudnnStatus_t EmuSetFilterNdDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t type, cudnnTensorFormat_t format,
                                       int nb, const int dims[]) {
  return SetFilter(d, type, format, nb, dims, "cudnnSetFilterNdDescriptor");
}

// The filter as a packed tensor: KCRS (NCHW format) or KRSC (NHWC format).
Tensor FilterTensor(const cudnnFilterStruct& f) {
  Tensor t;
  t.type = f.type;
  t.nb = f.nb;
  std::copy(f.dims, f.dims + f.nb, t.dims);
  PackedStrides(f.dims, f.nb, f.format == CUDNN_TENSOR_NHWC, t.strides);
  return t;
}

// ---- convolution descriptors ----

cudnnStatus_t EmuCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* d) {
  return CreateObject(d, Kind::kConv, "cudnnCreateConvolutionDescriptor");
}
cudnnStatus_t EmuDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
  return DestroyObject(d, Kind::kConv, "cudnnDestroyConvolutionDescriptor", "convolution descriptor");
}

cudnnStatus_t SetConv(cudnnConvolutionDescriptor_t d, int n, const int* pad, const int* stride, const int* dil,
                      cudnnConvolutionMode_t mode, cudnnDataType_t compute, const char* fn) {
  EMU_RETURN_IF_ERROR(CheckLive(d, Kind::kConv, fn, "convDesc"));
  if (n <= 0) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "arrayLength %d", n);
  if (n > kMaxDims - 2) return Refuse(CUDNN_STATUS_NOT_SUPPORTED, fn, "arrayLength %d > %d", n, kMaxDims - 2);
  if (pad == nullptr || stride == nullptr || dil == nullptr)
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "null pads, strides or dilations");
  if (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION)
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "mode %d", static_cast<int>(mode));
  if (static_cast<int>(compute) < 0 || static_cast<int>(compute) > CUDNN_DATA_COMPLEX_FP64)
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "compute type %d", static_cast<int>(compute));
  ConvGeom g;
  g.spatial = n;
  g.mode = mode;
  g.compute = compute;
  for (int i = 0; i < n; ++i) {
    if (pad[i] < 0) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "pad %d is %d", i, pad[i]);
    if (stride[i] <= 0) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "stride %d is %d", i, stride[i]);
    if (dil[i] <= 0) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "dilation %d is %d", i, dil[i]);
    g.pad[i] = pad[i];
    g.stride[i] = stride[i];
    g.dilation[i] = dil[i];
  }
  d->g = g;
  d->set = true;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t EmuSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u, int v,
                                            int dil_h, int dil_w, cudnnConvolutionMode_t mode,
                                            cudnnDataType_t compute) {
  const int pad[2] = {pad_h, pad_w}, stride[2] = {u, v}, dil[2] = {dil_h, dil_w};
  return SetConv(d, 2, pad, stride, dil, mode, compute, "cudnnSetConvolution2dDescriptor");
}

cudnnStatus_t EmuSetConvolutionNdDescriptor(cudnnConvolutionDescriptor_t d, int n, const int pad[], const int stride[],
                                            const int dil[], cudnnConvolutionMode_t mode, cudnnDataType_t compute) {
  return SetConv(d, n, pad, stride, dil, mode, compute, "cudnnSetConvolutionNdDescriptor");
}

cudnnStatus_t EmuSetConvolutionGroupCount(cudnnConvolutionDescriptor_t d, int groups) {
  const char* fn = "cudnnSetConvolutionGroupCount";
  EMU_RETURN_IF_ERROR(CheckLive(d, Kind::kConv, fn, "convDesc"));
  if (groups <= 0) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "groupCount %d", groups);
  d->groups = groups;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t EmuSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t math) {
  const char* fn = "cudnnSetConvolutionMathType";
  EMU_RETURN_IF_ERROR(CheckLive(d, Kind::kConv, fn, "convDesc"));
  if (math != CUDNN_DEFAULT_MATH && math != CUDNN_TENSOR_OP_MATH && math != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION &&
      math != CUDNN_FMA_MATH)
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "math type %d", static_cast<int>(math));
  d->math = math;
  return CUDNN_STATUS_SUCCESS;
}

// ---- pooling and activation descriptors ----

cudnnStatus_t EmuCreatePoolingDescriptor(cudnnPoolingDescriptor_t* d) {
  return CreateObject(d, Kind::kPool, "cudnnCreatePoolingDescriptor");
}
cudnnStatus_t EmuDestroyPoolingDescriptor(cudnnPoolingDescriptor_t d) {
  return DestroyObject(d, Kind::kPool, "cudnnDestroyPoolingDescriptor", "pooling descriptor");
}

cudnnStatus_t CheckNan(cudnnNanPropagation_t nan, const char* fn) {
  if (nan == CUDNN_NOT_PROPAGATE_NAN || nan == CUDNN_PROPAGATE_NAN) return CUDNN_STATUS_SUCCESS;
  return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "NaN option %d", static_cast<int>(nan));
}

cudnnStatus_t EmuSetPooling2dDescriptor(cudnnPoolingDescriptor_t d, cudnnPoolingMode_t mode, cudnnNanPropagation_t nan,
                                        int wh, int ww, int ph, int pw, int sh, int sw) {
  const char* fn = "cudnnSetPooling2dDescriptor";
  EMU_RETURN_IF_ERROR(CheckLive(d, Kind::kPool, fn, "poolingDesc"));
  if (mode != CUDNN_POOLING_MAX && mode != CUDNN_POOLING_MAX_DETERMINISTIC &&
      mode != CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING && mode != CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING)
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "mode %d", static_cast<int>(mode));
  EMU_RETURN_IF_ERROR(CheckNan(nan, fn));
  if (wh <= 0 || ww <= 0 || sh <= 0 || sw <= 0 || ph < 0 || pw < 0)
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "window %dx%d, pads %d,%d, strides %d,%d", wh, ww, ph, pw, sh, sw);
  d->mode = mode;
  d->nan = nan;
  d->window[0] = wh;
  d->window[1] = ww;
  d->pad[0] = ph;
  d->pad[1] = pw;
  d->stride[0] = sh;
  d->stride[1] = sw;
  d->set = true;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t EmuCreateActivationDescriptor(cudnnActivationDescriptor_t* d) {
  return CreateObject(d, Kind::kAct, "cudnnCreateActivationDescriptor");
}
cudnnStatus_t EmuDestroyActivationDescriptor(cudnnActivationDescriptor_t d) {
  return DestroyObject(d, Kind::kAct, "cudnnDestroyActivationDescriptor", "activation descriptor");
}

cudnnStatus_t EmuSetActivationDescriptor(cudnnActivationDescriptor_t d, cudnnActivationMode_t mode,
                                         cudnnNanPropagation_t nan, double coef) {
  const char* fn = "cudnnSetActivationDescriptor";
  EMU_RETURN_IF_ERROR(CheckLive(d, Kind::kAct, fn, "activationDesc"));
  if (static_cast<int>(mode) < CUDNN_ACTIVATION_SIGMOID || static_cast<int>(mode) > CUDNN_ACTIVATION_SWISH)
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "mode %d", static_cast<int>(mode));
  EMU_RETURN_IF_ERROR(CheckNan(nan, fn));
  if (std::isnan(coef)) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "coef is NaN");
  d->mode = mode;
  d->nan = nan;
  d->coef = coef;
  d->set = true;
  return CUDNN_STATUS_SUCCESS;
}

// ---- convolution ----

// What one convolution needs, copied out of the descriptors once they are checked.
struct ConvJob {
  Tensor x, w, y;
  ConvGeom g;
  int groups = 1;
  bool tf32 = false;
};

struct ConvDescs {
  const cudnnTensorStruct* x;
  const cudnnFilterStruct* w;
  const cudnnConvolutionStruct* conv;
  const cudnnTensorStruct* y;
};

// Validates x, w, conv and y against each other as cuDNN does (the output dims must be the ones
// cudnnGetConvolutionNdForwardOutputDim gives) and fills `job`.
cudnnStatus_t CheckConv(const ConvDescs& d, const char* fn, ConvJob* job) {
  EMU_RETURN_IF_ERROR(CheckSet(d.x, Kind::kTensor, fn, "xDesc"));
  EMU_RETURN_IF_ERROR(CheckSet(d.w, Kind::kFilter, fn, "wDesc"));
  EMU_RETURN_IF_ERROR(CheckSet(d.conv, Kind::kConv, fn, "convDesc"));
  EMU_RETURN_IF_ERROR(CheckSet(d.y, Kind::kTensor, fn, "yDesc"));
  const Tensor& x = d.x->t;
  const Tensor& y = d.y->t;
  const cudnnFilterStruct& w = *d.w;
  const ConvGeom& g = d.conv->g;
  const int groups = d.conv->groups;
  if (x.nb != y.nb || x.nb != w.nb || x.nb != g.spatial + 2)
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "x has %d dims, y %d, w %d, the convolution %d spatial", x.nb, y.nb, w.nb,
                  g.spatial);
  if (g.spatial != 2 && g.spatial != 3)
    return Refuse(CUDNN_STATUS_NOT_SUPPORTED, fn, "%d-D convolution (2-D and 3-D only)", g.spatial);
  if (x.type != y.type || x.type != w.type)
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "data types differ: x %d, w %d, y %d", x.type, w.type, y.type);
  // FLOAT_CONFIG, PSEUDO_HALF_CONFIG (fp32 compute) and TRUE_HALF_CONFIG (fp16 compute).
  if (!(g.compute == CUDNN_DATA_FLOAT || (x.type == CUDNN_DATA_HALF && g.compute == CUDNN_DATA_HALF)))
    return Refuse(CUDNN_STATUS_NOT_SUPPORTED, fn, "data type %d with compute type %d", x.type, g.compute);
  if (x.dims[0] != y.dims[0]) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "batch %d in x, %d in y", x.dims[0], y.dims[0]);
  if (w.dims[0] % groups != 0)
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "%d filters are not a multiple of %d groups", w.dims[0], groups);
  if (x.dims[1] != w.dims[1] * groups)
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "x has %d channels, the filter %d per group x %d groups", x.dims[1],
                  w.dims[1], groups);
  if (y.dims[1] != w.dims[0])
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "y has %d channels for %d filters", y.dims[1], w.dims[0]);
  for (int s = 0; s < g.spatial; ++s) {
    const int64_t extent = int64_t{g.dilation[s]} * (w.dims[2 + s] - 1) + 1;
    const int64_t out = (int64_t{x.dims[2 + s]} + 2 * g.pad[s] - extent) / g.stride[s] + 1;
    if (int64_t{x.dims[2 + s]} + 2 * g.pad[s] < extent)
      return Refuse(CUDNN_STATUS_BAD_PARAM, fn,
                    "spatial dim %d: the filter (extent %lld) exceeds the padded input %lld", s,
                    static_cast<long long>(extent), static_cast<long long>(x.dims[2 + s] + 2 * g.pad[s]));
    if (y.dims[2 + s] != out)
      return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "spatial dim %d: y has %d, the convolution gives %lld", s,
                    y.dims[2 + s], static_cast<long long>(out));
  }
  job->x = x;
  job->w = FilterTensor(w);
  job->y = y;
  job->g = g;
  job->groups = groups;
  job->tf32 = x.type == CUDNN_DATA_FLOAT && d.conv->math != CUDNN_FMA_MATH;
  return CUDNN_STATUS_SUCCESS;
}

bool ValidAlgo(cudnnConvolutionFwdAlgo_t a) {
  return static_cast<int>(a) >= 0 && static_cast<int>(a) < CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
}

// Workspace bytes per algorithm: none for the implicit GEMM, an index table for the precomputed
// one, an im2col buffer for GEMM, transformed copies for FFT and Winograd.
size_t WorkspaceFor(const ConvJob& j, cudnnConvolutionFwdAlgo_t algo) {
  const size_t elem = ElementBytes(j.x.type);
  int64_t taps = j.w.dims[1];  // channels per group x filter spatial size
  int64_t out_spatial = 1;
  for (int s = 0; s < j.g.spatial; ++s) {
    taps *= j.w.dims[2 + s];
    out_spatial *= j.y.dims[2 + s];
  }
  const size_t x_bytes = static_cast<size_t>(Elements(j.x.dims, j.x.nb)) * elem;
  const size_t y_bytes = static_cast<size_t>(Elements(j.y.dims, j.y.nb)) * elem;
  const size_t w_bytes = static_cast<size_t>(Elements(j.w.dims, j.w.nb)) * elem;
  switch (algo) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM: return 0;
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM: return static_cast<size_t>(taps) * sizeof(int32_t);
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM: return static_cast<size_t>(taps * out_spatial * j.groups) * elem;
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT: return 0;
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT: return 2 * (x_bytes + w_bytes + y_bytes);
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING: return x_bytes + w_bytes + y_bytes;
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD: return 0;
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED: return x_bytes + y_bytes;
    default: return 0;
  }
}

// cuDNN has never had a forward DIRECT kernel: the queries list it as NOT_SUPPORTED and running it fails.
cudnnStatus_t CheckAlgo(cudnnConvolutionFwdAlgo_t algo, const char* fn) {
  if (!ValidAlgo(algo)) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "algo %d", static_cast<int>(algo));
  if (algo == CUDNN_CONVOLUTION_FWD_ALGO_DIRECT)
    return Refuse(CUDNN_STATUS_NOT_SUPPORTED, fn, "CUDNN_CONVOLUTION_FWD_ALGO_DIRECT has no forward kernel");
  return CUDNN_STATUS_SUCCESS;
}

// acc[i] = conv(x, w) at y's i-th element in row-major order of y's logical dims.
void Convolve(const ConvJob& j, const void* x, const void* w, std::vector<float>* acc) {
  const int sp = j.g.spatial;
  const int k_per_group = j.w.dims[0] / j.groups;
  const int c_per_group = j.w.dims[1];
  acc->assign(static_cast<size_t>(Elements(j.y.dims, j.y.nb)), 0.f);
  int yi[kMaxDims] = {};
  size_t out = 0;
  do {
    const int n = yi[0], k = yi[1];
    const int c0 = (k / k_per_group) * c_per_group;
    float sum = 0.f;
    for (int c = 0; c < c_per_group; ++c) {
      int tap[kMaxDims - 2] = {};
      do {
        int xi[kMaxDims];
        int wi[kMaxDims];
        xi[0] = n;
        xi[1] = c0 + c;
        wi[0] = k;
        wi[1] = c;
        bool inside = true;
        for (int s = 0; s < sp && inside; ++s) {
          const int64_t pos = int64_t{yi[2 + s]} * j.g.stride[s] - j.g.pad[s] + int64_t{tap[s]} * j.g.dilation[s];
          inside = pos >= 0 && pos < j.x.dims[2 + s];
          xi[2 + s] = static_cast<int>(pos);
          // CONVOLUTION flips the filter; CROSS_CORRELATION does not.
          wi[2 + s] = j.g.mode == CUDNN_CONVOLUTION ? j.w.dims[2 + s] - 1 - tap[s] : tap[s];
        }
        if (!inside) continue;
        float xv = Load(x, j.x.type, Offset(j.x, xi));
        float wv = Load(w, j.w.type, Offset(j.w, wi));
        if (j.tf32) {
          xv = RoundTf32(xv);
          wv = RoundTf32(wv);
        }
        sum += xv * wv;
      } while (Next(tap, j.w.dims + 2, sp));
    }
    (*acc)[out++] = sum;
  } while (Next(yi, j.y.dims, j.y.nb));
}

cudnnStatus_t CheckWorkspace(const ConvJob& j, cudnnConvolutionFwdAlgo_t algo, const void* ws, size_t ws_bytes,
                             const void* x, const void* w, const void* y, const char* fn, size_t* required) {
  *required = WorkspaceFor(j, algo);
  if (ws_bytes < *required)
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "workspace of %zu bytes, algo %d needs %zu", ws_bytes,
                  static_cast<int>(algo), *required);
  if (*required == 0) return CUDNN_STATUS_SUCCESS;
  EMU_RETURN_IF_ERROR(CheckDevice(ws, *required, fn, "workSpace"));
  if (Overlap(ws, *required, x, SpanBytes(j.x)) || Overlap(ws, *required, w, SpanBytes(j.w)) ||
      Overlap(ws, *required, y, SpanBytes(j.y)))
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "the workspace overlaps x, w or y");
  return CUDNN_STATUS_SUCCESS;
}

// The checks both forward calls share: descriptors, algorithm, memory.
cudnnStatus_t CheckConvRun(cudnnHandle_t handle, const ConvDescs& d, cudnnConvolutionFwdAlgo_t algo, const void* x,
                           const void* w, const void* y, const void* ws, size_t ws_bytes, const char* fn, ConvJob* job,
                           size_t* ws_required) {
  EMU_RETURN_IF_ERROR(CheckLive(handle, Kind::kHandle, fn, "handle"));
  EMU_RETURN_IF_ERROR(CheckConv(d, fn, job));
  EMU_RETURN_IF_ERROR(CheckAlgo(algo, fn));
  EMU_RETURN_IF_ERROR(CheckDevice(x, SpanBytes(job->x), fn, "x"));
  EMU_RETURN_IF_ERROR(CheckDevice(w, SpanBytes(job->w), fn, "w"));
  EMU_RETURN_IF_ERROR(CheckDevice(y, SpanBytes(job->y), fn, "y"));
  if (!NonOverlapping(job->y)) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "yDesc's strides overlap");
  if (Overlap(x, SpanBytes(job->x), y, SpanBytes(job->y)) || Overlap(w, SpanBytes(job->w), y, SpanBytes(job->y)))
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "y overlaps x or w (no in-place convolution)");
  return CheckWorkspace(*job, algo, ws, ws_bytes, x, w, y, fn, ws_required);
}

cudnnStatus_t EmuConvolutionForward(cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t xDesc,
                                    const void* x, const cudnnFilterDescriptor_t wDesc, const void* w,
                                    const cudnnConvolutionDescriptor_t convDesc, cudnnConvolutionFwdAlgo_t algo,
                                    void* workSpace, size_t workSpaceSizeInBytes, const void* beta,
                                    const cudnnTensorDescriptor_t yDesc, void* y) {
  const char* fn = "cudnnConvolutionForward";
  ConvJob job;
  size_t ws_required = 0;
  EMU_RETURN_IF_ERROR(CheckConvRun(handle, {xDesc, wDesc, convDesc, yDesc}, algo, x, w, y, workSpace,
                                   workSpaceSizeInBytes, fn, &job, &ws_required));
  EMU_RETURN_IF_ERROR(CheckScale(alpha, fn, "alpha"));
  EMU_RETURN_IF_ERROR(CheckScale(beta, fn, "beta"));
  const float a = HostFloat(alpha), b = HostFloat(beta);
  Enqueue(handle->stream, [job, a, b, x, w, y, workSpace, ws_required] {
    if (ws_required > 0) std::memset(workSpace, 0xCD, ws_required);
    std::vector<float> acc;
    Convolve(job, x, w, &acc);
    int yi[kMaxDims] = {};
    size_t i = 0;
    do {
      const int64_t o = Offset(job.y, yi);
      float v = a * acc[i++];
      if (b != 0.f) v += b * Load(y, job.y.type, o);
      Store(y, job.y.type, o, v);
    } while (Next(yi, job.y.dims, job.y.nb));
  });
  return CUDNN_STATUS_SUCCESS;
}

float Activate(const cudnnActivationStruct& act, float v) {
  const bool propagate = act.nan == CUDNN_PROPAGATE_NAN;
  switch (act.mode) {
    case CUDNN_ACTIVATION_RELU:
      if (std::isnan(v)) return propagate ? v : 0.f;
      return v > 0.f ? v : 0.f;
    case CUDNN_ACTIVATION_CLIPPED_RELU:
      if (std::isnan(v)) return propagate ? v : 0.f;
      return std::min(v > 0.f ? v : 0.f, static_cast<float>(act.coef));
    default:  // IDENTITY (the only other mode the fused call takes)
      return v;
  }
}

// cudnnConvolutionBiasActivationForward: y = act(alpha1 * conv(x) + alpha2 * z + bias).
cudnnStatus_t EmuConvolutionBiasActivationForward(
    cudnnHandle_t handle, const void* alpha1, const cudnnTensorDescriptor_t xDesc, const void* x,
    const cudnnFilterDescriptor_t wDesc, const void* w, const cudnnConvolutionDescriptor_t convDesc,
    cudnnConvolutionFwdAlgo_t algo, void* workSpace, size_t workSpaceSizeInBytes, const void* alpha2,
    const cudnnTensorDescriptor_t zDesc, const void* z, const cudnnTensorDescriptor_t biasDesc, const void* bias,
    const cudnnActivationDescriptor_t activationDesc, const cudnnTensorDescriptor_t yDesc, void* y) {
  const char* fn = "cudnnConvolutionBiasActivationForward";
  ConvJob job;
  size_t ws_required = 0;
  EMU_RETURN_IF_ERROR(CheckConvRun(handle, {xDesc, wDesc, convDesc, yDesc}, algo, x, w, y, workSpace,
                                   workSpaceSizeInBytes, fn, &job, &ws_required));
  EMU_RETURN_IF_ERROR(CheckScale(alpha1, fn, "alpha1"));
  EMU_RETURN_IF_ERROR(CheckScale(alpha2, fn, "alpha2"));
  EMU_RETURN_IF_ERROR(CheckSet(activationDesc, Kind::kAct, fn, "activationDesc"));
  const cudnnActivationStruct act = *activationDesc;
  // The activations this call takes. cuDNN's documentation (cudnnActivationMode_t) says the
  // identity, meant for skipping the activation here, needs IMPLICIT_PRECOMP_GEMM (other algorithms
  // were seen applying ReLU regardless), so it is refused with any other algorithm.
  if (act.mode == CUDNN_ACTIVATION_IDENTITY) {
    if (algo != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM)
      return Refuse(CUDNN_STATUS_NOT_SUPPORTED, fn,
                    "CUDNN_ACTIVATION_IDENTITY needs IMPLICIT_PRECOMP_GEMM, not algo %d", static_cast<int>(algo));
  } else if (act.mode != CUDNN_ACTIVATION_RELU && act.mode != CUDNN_ACTIVATION_CLIPPED_RELU) {
    return Refuse(CUDNN_STATUS_NOT_SUPPORTED, fn, "activation mode %d (RELU, CLIPPED_RELU or IDENTITY only)",
                  static_cast<int>(act.mode));
  }
  // The bias: 1 x K x 1 x 1 (as many dims as y), y's data type.
  EMU_RETURN_IF_ERROR(CheckSet(biasDesc, Kind::kTensor, fn, "biasDesc"));
  const Tensor bt = biasDesc->t;
  if (bt.nb != job.y.nb || bt.type != job.y.type)
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "bias has %d dims of type %d, y %d of type %d", bt.nb, bt.type, job.y.nb,
                  job.y.type);
  for (int d = 0; d < bt.nb; ++d) {
    if (bt.dims[d] != (d == 1 ? job.y.dims[1] : 1))
      return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "bias dim %d is %d (bias is 1 x K x 1 ... with K = %d)", d, bt.dims[d],
                    job.y.dims[1]);
  }
  EMU_RETURN_IF_ERROR(CheckDevice(bias, SpanBytes(bt), fn, "bias"));
  const float a1 = HostFloat(alpha1), a2 = HostFloat(alpha2);
  // z: y's dims and type. It may be y itself (the residual added in place); any other overlap is refused.
  EMU_RETURN_IF_ERROR(CheckSet(zDesc, Kind::kTensor, fn, "zDesc"));
  const Tensor zt = zDesc->t;
  if (zt.nb != job.y.nb || zt.type != job.y.type || !std::equal(zt.dims, zt.dims + zt.nb, job.y.dims))
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "zDesc's dims or type differ from yDesc's");
  if (a2 != 0.f) {
    EMU_RETURN_IF_ERROR(CheckDevice(z, SpanBytes(zt), fn, "z"));
    const bool same = z == y && std::equal(zt.strides, zt.strides + zt.nb, job.y.strides);
    if (!same && Overlap(z, SpanBytes(zt), y, SpanBytes(job.y)))
      return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "z overlaps y without being y");
  }
  Enqueue(handle->stream, [job, act, bt, zt, a1, a2, x, w, z, bias, y, workSpace, ws_required] {
    if (ws_required > 0) std::memset(workSpace, 0xCD, ws_required);
    std::vector<float> acc;
    Convolve(job, x, w, &acc);
    int yi[kMaxDims] = {};
    size_t i = 0;
    do {
      float v = a1 * acc[i++];
      if (a2 != 0.f) v += a2 * Load(z, zt.type, Offset(zt, yi));
      v += Load(bias, bt.type, int64_t{yi[1]} * bt.strides[1]);
      Store(y, job.y.type, Offset(job.y, yi), Activate(act, v));
    } while (Next(yi, job.y.dims, job.y.nb));
  });
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t EmuGetConvolutionForwardWorkspaceSize(cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc,
                                                    const cudnnFilterDescriptor_t wDesc,
                                                    const cudnnConvolutionDescriptor_t convDesc,
                                                    const cudnnTensorDescriptor_t yDesc, cudnnConvolutionFwdAlgo_t algo,
                                                    size_t* sizeInBytes) {
  const char* fn = "cudnnGetConvolutionForwardWorkspaceSize";
  EMU_RETURN_IF_ERROR(CheckLive(handle, Kind::kHandle, fn, "handle"));
  if (sizeInBytes == nullptr) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "null sizeInBytes");
  ConvJob job;
  EMU_RETURN_IF_ERROR(CheckConv({xDesc, wDesc, convDesc, yDesc}, fn, &job));
  EMU_RETURN_IF_ERROR(CheckAlgo(algo, fn));
  *sizeInBytes = WorkspaceFor(job, algo);
  return CUDNN_STATUS_SUCCESS;
}

struct Candidate {
  cudnnConvolutionFwdAlgo_t algo;
  cudnnMathType_t math;
  double gflops_per_ms;  // made-up speed: time = work / speed
};

// The algorithm lists: the heuristics' (v7) and the measured one (Find) order them differently, so
// the two ways of choosing give different algorithms; DIRECT comes last, NOT_SUPPORTED, as cuDNN
// lists it. With fp32 data the heuristics also offer a tensor-op (TF32) entry first, whatever the
// descriptor's math type (a caller that wants IEEE fp32 must skip it); fp16 entries are tensor-op.
cudnnStatus_t AlgoList(cudnnHandle_t handle, const ConvDescs& d, int requested, int* returned,
                       cudnnConvolutionFwdAlgoPerf_t* perf, bool measured, const char* fn) {
  EMU_RETURN_IF_ERROR(CheckLive(handle, Kind::kHandle, fn, "handle"));
  if (requested <= 0) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "requestedAlgoCount %d", requested);
  if (returned == nullptr || perf == nullptr) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "null results");
  ConvJob job;
  EMU_RETURN_IF_ERROR(CheckConv(d, fn, &job));
  const bool half = job.x.type == CUDNN_DATA_HALF;
  const cudnnMathType_t own = half ? CUDNN_TENSOR_OP_MATH : d.conv->math;
  std::vector<Candidate> list;
  if (!measured) {
    if (!half && own != CUDNN_TENSOR_OP_MATH)
      list.push_back({CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_TENSOR_OP_MATH, 90});
    list.push_back({CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, own, 80});
    list.push_back({CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, own, 60});
    list.push_back({CUDNN_CONVOLUTION_FWD_ALGO_GEMM, own, 40});
    list.push_back({CUDNN_CONVOLUTION_FWD_ALGO_FFT, own, 25});
  } else {
    list.push_back({CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, own, 85});
    list.push_back({CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, own, 70});
    list.push_back({CUDNN_CONVOLUTION_FWD_ALGO_FFT, own, 45});
    list.push_back({CUDNN_CONVOLUTION_FWD_ALGO_GEMM, own, 30});
  }
  list.push_back({CUDNN_CONVOLUTION_FWD_ALGO_DIRECT, own, 0});
  int64_t taps = job.w.dims[1];
  for (int s = 0; s < job.g.spatial; ++s) taps *= job.w.dims[2 + s];
  const double gflop = 2.0 * static_cast<double>(Elements(job.y.dims, job.y.nb)) * static_cast<double>(taps) / 1e9;
  const int n = std::min<int>(requested, static_cast<int>(list.size()));
  for (int i = 0; i < n; ++i) {
    cudnnConvolutionFwdAlgoPerf_t& p = perf[i];
    std::memset(&p, 0, sizeof p);
    p.algo = list[i].algo;
    p.mathType = list[i].math;
    p.determinism = CUDNN_DETERMINISTIC;
    if (list[i].algo == CUDNN_CONVOLUTION_FWD_ALGO_DIRECT) {
      p.status = CUDNN_STATUS_NOT_SUPPORTED;
      p.time = -1.f;
      p.memory = 0;
    } else {
      p.status = CUDNN_STATUS_SUCCESS;
      p.time = static_cast<float>(0.001 * (i + 1) + gflop / list[i].gflops_per_ms);
      p.memory = WorkspaceFor(job, list[i].algo);
    }
  }
  *returned = n;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t EmuGetConvolutionForwardAlgorithm_v7(cudnnHandle_t handle, const cudnnTensorDescriptor_t srcDesc,
                                                   const cudnnFilterDescriptor_t filterDesc,
                                                   const cudnnConvolutionDescriptor_t convDesc,
                                                   const cudnnTensorDescriptor_t destDesc, const int requestedAlgoCount,
                                                   int* returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t* perfResults) {
  return AlgoList(handle, {srcDesc, filterDesc, convDesc, destDesc}, requestedAlgoCount, returnedAlgoCount, perfResults,
                  false, "cudnnGetConvolutionForwardAlgorithm_v7");
}

cudnnStatus_t EmuFindConvolutionForwardAlgorithm(cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc,
                                                 const cudnnFilterDescriptor_t wDesc,
                                                 const cudnnConvolutionDescriptor_t convDesc,
                                                 const cudnnTensorDescriptor_t yDesc, const int requestedAlgoCount,
                                                 int* returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t* perfResults) {
  return AlgoList(handle, {xDesc, wDesc, convDesc, yDesc}, requestedAlgoCount, returnedAlgoCount, perfResults, true,
                  "cudnnFindConvolutionForwardAlgorithm");
}

// ---- pooling ----

cudnnStatus_t EmuPoolingForward(cudnnHandle_t handle, const cudnnPoolingDescriptor_t poolingDesc, const void* alpha,
                                const cudnnTensorDescriptor_t xDesc, const void* x, const void* beta,
                                const cudnnTensorDescriptor_t yDesc, void* y) {
  const char* fn = "cudnnPoolingForward";
  EMU_RETURN_IF_ERROR(CheckLive(handle, Kind::kHandle, fn, "handle"));
  EMU_RETURN_IF_ERROR(CheckSet(poolingDesc, Kind::kPool, fn, "poolingDesc"));
  EMU_RETURN_IF_ERROR(CheckSet(xDesc, Kind::kTensor, fn, "xDesc"));
  EMU_RETURN_IF_ERROR(CheckSet(yDesc, Kind::kTensor, fn, "yDesc"));
  EMU_RETURN_IF_ERROR(CheckScale(alpha, fn, "alpha"));
  EMU_RETURN_IF_ERROR(CheckScale(beta, fn, "beta"));
  const cudnnPoolingStruct pool = *poolingDesc;
  const Tensor xt = xDesc->t, yt = yDesc->t;
  if (xt.nb != 4 || yt.nb != 4)
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "2-D pooling over %d-D x and %d-D y", xt.nb, yt.nb);
  if (xt.type != yt.type) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "x and y data types differ");
  if (xt.dims[0] != yt.dims[0] || xt.dims[1] != yt.dims[1])
    return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "x is %dx%d.., y %dx%d..", xt.dims[0], xt.dims[1], yt.dims[0],
                  yt.dims[1]);
  for (int s = 0; s < 2; ++s) {
    const int64_t padded = int64_t{xt.dims[2 + s]} + 2 * pool.pad[s];
    if (padded < pool.window[s])
      return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "window %d exceeds the padded input %lld", pool.window[s],
                    static_cast<long long>(padded));
    const int64_t out = (padded - pool.window[s]) / pool.stride[s] + 1;
    if (yt.dims[2 + s] != out)
      return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "spatial dim %d: y has %d, the pooling gives %lld", s, yt.dims[2 + s],
                    static_cast<long long>(out));
  }
  EMU_RETURN_IF_ERROR(CheckDevice(x, SpanBytes(xt), fn, "x"));
  EMU_RETURN_IF_ERROR(CheckDevice(y, SpanBytes(yt), fn, "y"));
  if (!NonOverlapping(yt)) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "yDesc's strides overlap");
  if (Overlap(x, SpanBytes(xt), y, SpanBytes(yt))) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "y overlaps x");
  const float a = HostFloat(alpha), b = HostFloat(beta);
  Enqueue(handle->stream, [pool, xt, yt, a, b, x, y] {
    const bool is_max = pool.mode == CUDNN_POOLING_MAX || pool.mode == CUDNN_POOLING_MAX_DETERMINISTIC;
    const bool propagate = pool.nan == CUDNN_PROPAGATE_NAN;
    int yi[4] = {};
    do {
      float best = -std::numeric_limits<float>::infinity(), sum = 0.f;
      bool saw_nan = false;
      int count = 0;
      int xi[4] = {yi[0], yi[1], 0, 0};
      for (int r = 0; r < pool.window[0]; ++r) {
        const int h = yi[2] * pool.stride[0] - pool.pad[0] + r;
        if (h < 0 || h >= xt.dims[2]) continue;
        for (int s = 0; s < pool.window[1]; ++s) {
          const int w = yi[3] * pool.stride[1] - pool.pad[1] + s;
          if (w < 0 || w >= xt.dims[3]) continue;
          xi[2] = h;
          xi[3] = w;
          const float v = Load(x, xt.type, Offset(xt, xi));
          ++count;
          sum += v;
          if (std::isnan(v)) {
            saw_nan = true;
          } else if (v > best) {
            best = v;
          }
        }
      }
      float r;
      if (is_max) {
        r = saw_nan && propagate ? std::numeric_limits<float>::quiet_NaN() : best;
      } else if (pool.mode == CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING) {
        r = sum / static_cast<float>(pool.window[0] * pool.window[1]);
      } else {
        r = count > 0 ? sum / static_cast<float>(count) : 0.f;
      }
      const int64_t o = Offset(yt, yi);
      float v = a * r;
      if (b != 0.f) v += b * Load(y, yt.type, o);
      Store(y, yt.type, o, v);
    } while (Next(yi, yt.dims, 4));
  });
  return CUDNN_STATUS_SUCCESS;
}

// ---- cudnnAddTensor: C = alpha * A + beta * C, A broadcast over its dims of 1 ----

cudnnStatus_t EmuAddTensor(cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t aDesc, const void* A,
                           const void* beta, const cudnnTensorDescriptor_t cDesc, void* C) {
  const char* fn = "cudnnAddTensor";
  EMU_RETURN_IF_ERROR(CheckLive(handle, Kind::kHandle, fn, "handle"));
  EMU_RETURN_IF_ERROR(CheckSet(aDesc, Kind::kTensor, fn, "aDesc"));
  EMU_RETURN_IF_ERROR(CheckSet(cDesc, Kind::kTensor, fn, "cDesc"));
  EMU_RETURN_IF_ERROR(CheckScale(alpha, fn, "alpha"));
  EMU_RETURN_IF_ERROR(CheckScale(beta, fn, "beta"));
  const Tensor at = aDesc->t, ct = cDesc->t;
  if (at.nb != ct.nb) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "A has %d dims, C %d", at.nb, ct.nb);
  if (ct.nb > 5) return Refuse(CUDNN_STATUS_NOT_SUPPORTED, fn, "%d dims (5 at most)", ct.nb);
  if (at.type != ct.type) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "A and C data types differ");
  for (int d = 0; d < ct.nb; ++d) {
    if (at.dims[d] != ct.dims[d] && at.dims[d] != 1)
      return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "dim %d: A has %d, C %d (A's must match or be 1)", d, at.dims[d],
                    ct.dims[d]);
  }
  EMU_RETURN_IF_ERROR(CheckDevice(A, SpanBytes(at), fn, "A"));
  EMU_RETURN_IF_ERROR(CheckDevice(C, SpanBytes(ct), fn, "C"));
  if (!NonOverlapping(ct)) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "cDesc's strides overlap");
  if (Overlap(A, SpanBytes(at), C, SpanBytes(ct))) return Refuse(CUDNN_STATUS_BAD_PARAM, fn, "A overlaps C");
  const float a = HostFloat(alpha), b = HostFloat(beta);
  Enqueue(handle->stream, [at, ct, a, b, A, C] {
    int ci[kMaxDims] = {};
    do {
      int64_t ao = 0;
      for (int d = 0; d < at.nb; ++d) ao += (at.dims[d] == 1 ? 0 : ci[d]) * at.strides[d];
      const int64_t co = Offset(ct, ci);
      float v = a * Load(A, at.type, ao);
      if (b != 0.f) v += b * Load(C, ct.type, co);
      Store(C, ct.type, co, v);
    } while (Next(ci, ct.dims, ct.nb));
  });
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace

void FillCudnn(onnxd::cuda::libs::CudnnApi& a) {
  a.create = &EmuCreate;
  a.destroy = &EmuDestroy;
  a.set_stream = &EmuSetStream;
  a.error_string = &EmuGetErrorString;
  a.add_tensor = &EmuAddTensor;
  a.convolution_forward = &EmuConvolutionForward;
  a.create_convolution_descriptor = &EmuCreateConvolutionDescriptor;
  a.create_filter_descriptor = &EmuCreateFilterDescriptor;
  a.create_pooling_descriptor = &EmuCreatePoolingDescriptor;
  a.create_tensor_descriptor = &EmuCreateTensorDescriptor;
  a.destroy_convolution_descriptor = &EmuDestroyConvolutionDescriptor;
  a.destroy_filter_descriptor = &EmuDestroyFilterDescriptor;
  a.destroy_pooling_descriptor = &EmuDestroyPoolingDescriptor;
  a.destroy_tensor_descriptor = &EmuDestroyTensorDescriptor;
  a.get_convolution_forward_algorithm_v7 = &EmuGetConvolutionForwardAlgorithm_v7;
  a.get_convolution_forward_workspace_size = &EmuGetConvolutionForwardWorkspaceSize;
  a.pooling_forward = &EmuPoolingForward;
  a.set_convolution_2d_descriptor = &EmuSetConvolution2dDescriptor;
  a.set_convolution_group_count = &EmuSetConvolutionGroupCount;
  a.set_convolution_math_type = &EmuSetConvolutionMathType;
  a.set_filter_4d_descriptor = &EmuSetFilter4dDescriptor;
  a.set_pooling_2d_descriptor = &EmuSetPooling2dDescriptor;
  a.set_tensor_4d_descriptor = &EmuSetTensor4dDescriptor;
  a.convolution_bias_activation_forward = &EmuConvolutionBiasActivationForward;
  a.create_activation_descriptor = &EmuCreateActivationDescriptor;
  a.set_activation_descriptor = &EmuSetActivationDescriptor;
  a.destroy_activation_descriptor = &EmuDestroyActivationDescriptor;
  a.find_convolution_forward_algorithm = &EmuFindConvolutionForwardAlgorithm;
  a.set_tensor_nd_descriptor = &EmuSetTensorNdDescriptor;
  a.set_filter_nd_descriptor = &EmuSetFilterNdDescriptor;
  a.set_convolution_nd_descriptor = &EmuSetConvolutionNdDescriptor;
  a.error.clear();
  a.loaded = true;
}

}  // namespace onnxd::cuda_emu
