// Emulated cuBLAS and cuBLASLt: the entry points of onnxd's CublasApi / CublasLtApi tables, computed
// on the CPU with the numerics of the GPU (fp16 and bf16 operands, fp32 accumulation, TF32 input
// rounding for CUBLAS_COMPUTE_32F_FAST_TF32) and the argument checks of the real libraries, so that
// onnxd's misuse of them (too small leading dimensions, host pointers, unsupported type mixes) fails
// here as it would on a GPU, with one line on stderr saying why.
//
// Column-major throughout, as cuBLAS: D = act(alpha * op(A) op(B) + beta * C + bias). Every call that
// touches device memory runs through Enqueue on its stream, so CUDA-graph capture records it.
// Scalars given by host pointer are read at the call, as cuBLAS reads them.

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "emu.h"
#include "kernels/cuda/cuda_libs.h"
#include "libs_emu.h"

// The opaque handle types of cublas_api.h and cublasLt.h (declared, never defined there).
struct cublasContext {
  cudaStream_t stream = nullptr;
};
struct cublasLtContext {
  int unused = 0;
};

namespace onnxd::cuda_emu {
namespace {

// ---------------------------------------------------------------------------------------------
// Messages and live-object registries

[[gnu::format(printf, 2, 3)]] void Say(const char* fn, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "cuda_emu: %s: %s\n", fn, buf);
}

// Handles and descriptors that are alive: a call with a destroyed or foreign one is refused
// instead of reading freed memory.
class LiveSet {
 public:
  void Add(const void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    set_.insert(p);
  }
  bool Remove(const void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    return set_.erase(p) == 1;
  }
  bool Has(const void* p) const {
    std::lock_guard<std::mutex> lock(mu_);
    return set_.count(p) == 1;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_set<const void*> set_;
};

// Never destroyed: a handle may be released from another static's destructor at exit.
LiveSet& BlasHandles() { static LiveSet* s = new LiveSet; return *s; }
LiveSet& LtHandles() { static LiveSet* s = new LiveSet; return *s; }
LiveSet& LtDescs() { static LiveSet* s = new LiveSet; return *s; }
LiveSet& LtLayouts() { static LiveSet* s = new LiveSet; return *s; }
LiveSet& LtPrefs() { static LiveSet* s = new LiveSet; return *s; }

// ---------------------------------------------------------------------------------------------
// Element types and rounding

size_t ElemSize(cudaDataType t) {
  switch (t) {
    case CUDA_R_32F: return 4;
    case CUDA_R_16F: return 2;
    case CUDA_R_16BF: return 2;
    default: return 0;
  }
}

const char* TypeName(cudaDataType t) {
  switch (t) {
    case CUDA_R_32F: return "CUDA_R_32F";
    case CUDA_R_16F: return "CUDA_R_16F";
    case CUDA_R_16BF: return "CUDA_R_16BF";
    case CUDA_R_64F: return "CUDA_R_64F";
    case CUDA_R_8I: return "CUDA_R_8I";
    case CUDA_R_32I: return "CUDA_R_32I";
    default: return "(other cudaDataType)";
  }
}

float Load(const void* base, cudaDataType t, int64_t i) {
  switch (t) {
    case CUDA_R_32F: return static_cast<const float*>(base)[i];
    case CUDA_R_16F: return __half2float(static_cast<const __half*>(base)[i]);
    case CUDA_R_16BF: return __bfloat162float(static_cast<const __nv_bfloat16*>(base)[i]);
    default: return std::nanf("");
  }
}

void Store(void* base, cudaDataType t, int64_t i, float v) {
  switch (t) {
    case CUDA_R_32F: static_cast<float*>(base)[i] = v; break;
    case CUDA_R_16F: static_cast<__half*>(base)[i] = __float2half_rn(v); break;
    case CUDA_R_16BF: static_cast<__nv_bfloat16*>(base)[i] = __float2bfloat16_rn(v); break;
    default: break;
  }
}

// How a "fast" compute type down-converts each float input element before multiplying.
enum class InputRounding { kNone, kTf32, kHalf, kBf16 };

// TF32: fp32's 8-bit exponent with 10 mantissa bits, rounded to nearest even.
float RoundToTf32(float x) {
  if (!std::isfinite(x)) return x;
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x0FFFu + ((u >> 13) & 1u);
  u &= 0xFFFFE000u;
  std::memcpy(&x, &u, 4);
  return x;
}

float RoundInput(float x, InputRounding r) {
  switch (r) {
    case InputRounding::kNone: return x;
    case InputRounding::kTf32: return RoundToTf32(x);
    case InputRounding::kHalf: return __half2float(__float2half_rn(x));
    case InputRounding::kBf16: return __bfloat162float(__float2bfloat16_rn(x));
  }
  return x;
}

// What a compute type means for one operand type mix (the cublasGemmEx / cublasLtMatmul tables).
struct Math {
  InputRounding rounding = InputRounding::kNone;
  cudaDataType scale_type = CUDA_R_32F;  // alpha / beta: __half for CUBLAS_COMPUTE_16F
};

bool IsFloatCompute32(cublasComputeType_t c) {
  return c == CUBLAS_COMPUTE_32F || c == CUBLAS_COMPUTE_32F_PEDANTIC || c == CUBLAS_COMPUTE_32F_FAST_TF32 ||
         c == CUBLAS_COMPUTE_32F_FAST_16F || c == CUBLAS_COMPUTE_32F_FAST_16BF;
}

// Fills `math` for compute type `c` with A/B of type `ab` and C(/D) of type `cd`; false (and why)
// when cuBLAS has no such combination.
bool MathFor(cublasComputeType_t c, cudaDataType ab, cudaDataType cd, Math* math, const char** why) {
  switch (c) {
    case CUBLAS_COMPUTE_16F:
    case CUBLAS_COMPUTE_16F_PEDANTIC:
      // The GPU accumulates in fp16 here; the emulator keeps fp32 (onnxd does not use this type).
      math->scale_type = CUDA_R_16F;
      if (ab == CUDA_R_16F && cd == CUDA_R_16F) return true;
      *why = "CUBLAS_COMPUTE_16F takes CUDA_R_16F A, B and C only";
      return false;
    case CUBLAS_COMPUTE_32F:
    case CUBLAS_COMPUTE_32F_PEDANTIC:
      if (ab == CUDA_R_32F && cd == CUDA_R_32F) return true;
      if ((ab == CUDA_R_16F || ab == CUDA_R_16BF) && (cd == ab || cd == CUDA_R_32F)) return true;
      *why = "CUBLAS_COMPUTE_32F takes A/B/C 32F/32F/32F, 16F/16F/(16F|32F) or 16BF/16BF/(16BF|32F)";
      return false;
    case CUBLAS_COMPUTE_32F_FAST_TF32:
    case CUBLAS_COMPUTE_32F_FAST_16F:
    case CUBLAS_COMPUTE_32F_FAST_16BF:
      math->rounding = c == CUBLAS_COMPUTE_32F_FAST_TF32 ? InputRounding::kTf32
                       : c == CUBLAS_COMPUTE_32F_FAST_16F ? InputRounding::kHalf
                                                          : InputRounding::kBf16;
      if (ab == CUDA_R_32F && cd == CUDA_R_32F) return true;
      *why = "the CUBLAS_COMPUTE_32F_FAST_* types take CUDA_R_32F A, B and C only";
      return false;
    default:
      *why = "compute type not emulated (only 16F, 32F and 32F_FAST_{TF32,16F,16BF})";
      return false;
  }
}

float ReadScalar(const void* p, cudaDataType t) {
  return t == CUDA_R_16F ? __half2float(*static_cast<const __half*>(p)) : *static_cast<const float*>(p);
}

// ---------------------------------------------------------------------------------------------
// The computation

enum class Activation { kNone, kRelu, kGelu };

// One column-major GEMM: d = act(alpha * op(a) op(b) + beta * c + bias). c is not read when beta == 0,
// a and b are not read when alpha == 0 or k == 0 (as the reference BLAS).
struct GemmShape {
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  cudaDataType a_type = CUDA_R_32F, b_type = CUDA_R_32F, c_type = CUDA_R_32F, d_type = CUDA_R_32F;
  int64_t lda = 0, ldb = 0, ldc = 0, ldd = 0;
  InputRounding rounding = InputRounding::kNone;
  cudaDataType bias_type = CUDA_R_32F;
  Activation act = Activation::kNone;
};

float Gelu(float x) {
  // cuBLASLt's GELU epilogue is the tanh approximation.
  const float kC = 0.7978845608028654f;  // sqrt(2 / pi)
  return 0.5f * x * (1.f + std::tanh(kC * (x + 0.044715f * x * x * x)));
}

void RunGemm(const GemmShape& g, float alpha, float beta, const void* a, const void* b, const void* c, void* d,
             const void* bias) {
  const int64_t m = g.m, n = g.n, k = g.k;
  const bool products = alpha != 0.f && k > 0;
  // op(A) as m x k and op(B) as k x n, row by row, after the input rounding.
  std::vector<float> opa, opb;
  if (products) {
    opa.resize(static_cast<size_t>(m * k));
    opb.resize(static_cast<size_t>(k * n));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t l = 0; l < k; ++l)
        opa[i * k + l] = RoundInput(Load(a, g.a_type, g.trans_a ? l + i * g.lda : i + l * g.lda), g.rounding);
    for (int64_t l = 0; l < k; ++l)
      for (int64_t j = 0; j < n; ++j)
        opb[l * n + j] = RoundInput(Load(b, g.b_type, g.trans_b ? j + l * g.ldb : l + j * g.ldb), g.rounding);
  }
  // Formed whole before any store: d may be c, and a misused alias of a or b reads the inputs.
  std::vector<float> out(static_cast<size_t>(m * n));
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t i = 0; i < m; ++i) {
      float acc = 0.f;
      if (products)
        for (int64_t l = 0; l < k; ++l) acc = std::fma(opa[i * k + l], opb[l * n + j], acc);
      float v = alpha * acc;
      if (beta != 0.f) v = std::fma(beta, Load(c, g.c_type, i + j * g.ldc), v);
      if (bias != nullptr) v += Load(bias, g.bias_type, i);
      if (g.act == Activation::kRelu) v = v > 0.f ? v : 0.f;
      if (g.act == Activation::kGelu) v = Gelu(v);
      out[j * m + i] = v;
    }
  }
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) Store(d, g.d_type, i + j * g.ldd, out[j * m + i]);
}

// Bytes a column-major rows x cols matrix with leading dimension ld spans (0 when empty).
size_t Extent(int64_t rows, int64_t cols, int64_t ld, cudaDataType t) {
  if (rows <= 0 || cols <= 0) return 0;
  return static_cast<size_t>((cols - 1) * ld + rows) * ElemSize(t);
}

// A's and B's stored (pre-op) dimensions.
int64_t RowsA(const GemmShape& g) { return g.trans_a ? g.k : g.m; }
int64_t ColsA(const GemmShape& g) { return g.trans_a ? g.m : g.k; }
int64_t RowsB(const GemmShape& g) { return g.trans_b ? g.n : g.k; }
int64_t ColsB(const GemmShape& g) { return g.trans_b ? g.k : g.n; }

bool CheckDevice(const char* fn, const char* what, int64_t entry, const void* p, size_t bytes) {
  if (bytes == 0 || IsDeviceMemory(p, bytes)) return true;
  if (entry < 0)
    Say(fn, "%s %p (%zu bytes) is not device memory", what, p, bytes);
  else
    Say(fn, "%s of batch entry %lld, %p (%zu bytes), is not device memory", what, static_cast<long long>(entry), p,
        bytes);
  return false;
}

// ---------------------------------------------------------------------------------------------
// The lifecycle every emulated handle and descriptor shares: a create refuses a null result
// pointer; the object is registered in its live set (as the opaque type the API hands out); a use
// or destroy of one that is null, never created or destroyed is refused, naming `what`.
cublasStatus_t NullResult(const char* fn, const char* what) {
  Say(fn, "null %s pointer", what);
  return CUBLAS_STATUS_INVALID_VALUE;
}

template <typename P, typename T>
P* Tracked(LiveSet& set, T* obj) {
  P* p = obj;
  set.Add(p);
  return p;
}

template <typename T, typename P>
T* LiveObject(const char* fn, const std::string& what, const LiveSet& set, P* p) {
  if (p != nullptr && set.Has(p)) return static_cast<T*>(p);
  Say(fn, "%s %p is null, was not created or is destroyed", what.c_str(), static_cast<void*>(p));
  return nullptr;
}

// Unregisters and deletes a live object; `dead` is the status for one that is not live.
template <typename T, typename P>
cublasStatus_t DestroyTracked(const char* fn, const char* what, LiveSet& set, P* p, cublasStatus_t dead) {
  T* obj = LiveObject<T>(fn, what, set, p);
  if (obj == nullptr) return dead;
  set.Remove(p);
  delete obj;
  return CUBLAS_STATUS_SUCCESS;
}

// cuBLAS

cublasStatus_t EmuCublasCreate(cublasHandle_t* handle) {
  if (handle == nullptr) return NullResult("cublasCreate", "handle");
  *handle = Tracked<cublasContext>(BlasHandles(), new cublasContext);
  return CUBLAS_STATUS_SUCCESS;
}

bool LiveBlasHandle(const char* fn, cublasHandle_t h) {
  return LiveObject<cublasContext>(fn, "handle", BlasHandles(), h) != nullptr;
}

cublasStatus_t EmuCublasDestroy(cublasHandle_t handle) {
  return DestroyTracked<cublasContext>("cublasDestroy", "handle", BlasHandles(), handle,
                                       CUBLAS_STATUS_NOT_INITIALIZED);
}

cublasStatus_t EmuCublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (!LiveBlasHandle("cublasSetStream", handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

const char* EmuCublasGetStatusName(cublasStatus_t st) {
  switch (st) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

bool OpOk(cublasOperation_t op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C; }

// The checks every cublasGemm*Ex makes before touching memory; fills `g` and the scalars.
cublasStatus_t CheckGemm(const char* fn, cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                         int m, int n, int k, const void* alpha, cudaDataType Atype, int lda, cudaDataType Btype,
                         int ldb, const void* beta, cudaDataType Ctype, int ldc, int batch,
                         cublasComputeType_t computeType, cublasGemmAlgo_t algo, GemmShape* g, float* alpha_v,
                         float* beta_v) {
  if (!LiveBlasHandle(fn, handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!OpOk(transa) || !OpOk(transb)) {
    Say(fn, "transa %d / transb %d is not CUBLAS_OP_N, _T or _C", static_cast<int>(transa), static_cast<int>(transb));
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (m < 0 || n < 0 || k < 0 || batch < 0) {
    Say(fn, "negative size: m %d n %d k %d batchCount %d", m, n, k, batch);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  g->m = m;
  g->n = n;
  g->k = k;
  g->trans_a = transa != CUBLAS_OP_N;  // OP_C is OP_T for real types
  g->trans_b = transb != CUBLAS_OP_N;
  if (lda < std::max<int64_t>(1, RowsA(*g))) {
    Say(fn, "lda %d < max(1, %s %lld)", lda, g->trans_a ? "k" : "m", static_cast<long long>(RowsA(*g)));
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (ldb < std::max<int64_t>(1, RowsB(*g))) {
    Say(fn, "ldb %d < max(1, %s %lld)", ldb, g->trans_b ? "n" : "k", static_cast<long long>(RowsB(*g)));
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (ldc < std::max(1, m)) {
    Say(fn, "ldc %d < max(1, m %d)", ldc, m);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (alpha == nullptr || beta == nullptr) {
    Say(fn, "null alpha or beta");
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  const int a = static_cast<int>(algo);
  if (!((a >= CUBLAS_GEMM_DEFAULT && a <= CUBLAS_GEMM_ALGO23) ||
        (a >= CUBLAS_GEMM_DEFAULT_TENSOR_OP && a <= CUBLAS_GEMM_ALGO15_TENSOR_OP))) {
    Say(fn, "algo %d is not a cublasGemmAlgo_t", a);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (Atype != Btype) {
    Say(fn, "Atype %s != Btype %s", TypeName(Atype), TypeName(Btype));
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  Math math;
  const char* why = "";
  if (!MathFor(computeType, Atype, Ctype, &math, &why)) {
    Say(fn, "compute type %d with A/B %s, C %s: %s", static_cast<int>(computeType), TypeName(Atype),
        TypeName(Ctype), why);
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  g->a_type = Atype;
  g->b_type = Btype;
  g->c_type = g->d_type = Ctype;
  g->lda = lda;
  g->ldb = ldb;
  g->ldc = g->ldd = ldc;
  g->rounding = math.rounding;
  // Default (host) pointer mode: the scalars are read now.
  *alpha_v = ReadScalar(alpha, math.scale_type);
  *beta_v = ReadScalar(beta, math.scale_type);
  return CUBLAS_STATUS_SUCCESS;
}

// cublasGemmEx is the strided-batched call with one entry; `fn` names the caller in messages.
cublasStatus_t GemmStrided(const char* fn, cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                           int m, int n, int k, const void* alpha, const void* A, cudaDataType Atype, int lda,
                           long long strideA, const void* B, cudaDataType Btype, int ldb, long long strideB,
                           const void* beta, void* C, cudaDataType Ctype, int ldc, long long strideC, int batchCount,
                           cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  GemmShape g;
  float alpha_v = 0.f, beta_v = 0.f;
  const cublasStatus_t st = CheckGemm(fn, handle, transa, transb, m, n, k, alpha, Atype, lda, Btype, ldb, beta,
                                      Ctype, ldc, batchCount, computeType, algo, &g, &alpha_v, &beta_v);
  if (st != CUBLAS_STATUS_SUCCESS) return st;
  if (m == 0 || n == 0 || batchCount == 0) return CUBLAS_STATUS_SUCCESS;
  const bool reads_ab = alpha_v != 0.f && k > 0;
  const size_t ea = reads_ab ? Extent(RowsA(g), ColsA(g), lda, Atype) : 0;
  const size_t eb = reads_ab ? Extent(RowsB(g), ColsB(g), ldb, Btype) : 0;
  const size_t ec = Extent(m, n, ldc, Ctype);
  const int64_t sa = strideA * static_cast<int64_t>(ElemSize(Atype));  // bytes
  const int64_t sb = strideB * static_cast<int64_t>(ElemSize(Btype));
  const int64_t sc = strideC * static_cast<int64_t>(ElemSize(Ctype));
  for (int64_t i = 0; i < batchCount; ++i) {
    const int64_t entry = batchCount == 1 ? -1 : i;
    if ((ea != 0 && !CheckDevice(fn, "A", entry, static_cast<const char*>(A) + i * sa, ea)) ||
        (eb != 0 && !CheckDevice(fn, "B", entry, static_cast<const char*>(B) + i * sb, eb)) ||
        !CheckDevice(fn, "C", entry, static_cast<const char*>(C) + i * sc, ec))
      return CUBLAS_STATUS_INVALID_VALUE;
  }
  Enqueue(handle->stream, [=] {
    for (int64_t i = 0; i < batchCount; ++i) {
      char* c = static_cast<char*>(C) + i * sc;
      RunGemm(g, alpha_v, beta_v, reads_ab ? static_cast<const char*>(A) + i * sa : nullptr,
              reads_ab ? static_cast<const char*>(B) + i * sb : nullptr, c, c, nullptr);
    }
  });
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t EmuCublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa,
                                             cublasOperation_t transb, int m, int n, int k, const void* alpha,
                                             const void* A, cudaDataType Atype, int lda, long long strideA,
                                             const void* B, cudaDataType Btype, int ldb, long long strideB,
                                             const void* beta, void* C, cudaDataType Ctype, int ldc,
                                             long long strideC, int batchCount, cublasComputeType_t computeType,
                                             cublasGemmAlgo_t algo) {
  return GemmStrided("cublasGemmStridedBatchedEx", handle, transa, transb, m, n, k, alpha, A, Atype, lda, strideA, B,
                     Btype, ldb, strideB, beta, C, Ctype, ldc, strideC, batchCount, computeType, algo);
}

cublasStatus_t EmuCublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m,
                               int n, int k, const void* alpha, const void* A, cudaDataType Atype, int lda,
                               const void* B, cudaDataType Btype, int ldb, const void* beta, void* C,
                               cudaDataType Ctype, int ldc, cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  return GemmStrided("cublasGemmEx", handle, transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0, beta,
                     C, Ctype, ldc, 0, 1, computeType, algo);
}

cublasStatus_t EmuCublasGemmBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                      int m, int n, int k, const void* alpha, const void* const Aarray[],
                                      cudaDataType Atype, int lda, const void* const Barray[], cudaDataType Btype,
                                      int ldb, const void* beta, void* const Carray[], cudaDataType Ctype, int ldc,
                                      int batchCount, cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  const char* fn = "cublasGemmBatchedEx";
  GemmShape g;
  float alpha_v = 0.f, beta_v = 0.f;
  const cublasStatus_t st = CheckGemm(fn, handle, transa, transb, m, n, k, alpha, Atype, lda, Btype, ldb, beta,
                                      Ctype, ldc, batchCount, computeType, algo, &g, &alpha_v, &beta_v);
  if (st != CUBLAS_STATUS_SUCCESS) return st;
  if (m == 0 || n == 0 || batchCount == 0) return CUBLAS_STATUS_SUCCESS;
  // The pointer arrays are read by the device: they must be device memory. Their contents may be
  // written by work queued before this call, so the matrices they name are checked when it runs.
  const size_t array_bytes = static_cast<size_t>(batchCount) * sizeof(void*);
  if (!CheckDevice(fn, "Aarray", -1, Aarray, array_bytes) || !CheckDevice(fn, "Barray", -1, Barray, array_bytes) ||
      !CheckDevice(fn, "Carray", -1, Carray, array_bytes))
    return CUBLAS_STATUS_INVALID_VALUE;
  const bool reads_ab = alpha_v != 0.f && k > 0;
  const size_t ea = reads_ab ? Extent(RowsA(g), ColsA(g), lda, Atype) : 0;
  const size_t eb = reads_ab ? Extent(RowsB(g), ColsB(g), ldb, Btype) : 0;
  const size_t ec = Extent(m, n, ldc, Ctype);
  Enqueue(handle->stream, [=] {
    for (int64_t i = 0; i < batchCount; ++i) {
      // On a GPU a bad pointer here is a fault at run time: stop as the sticky error would.
      if (!CheckDevice(fn, "Aarray[i]", i, Aarray[i], ea) || !CheckDevice(fn, "Barray[i]", i, Barray[i], eb) ||
          !CheckDevice(fn, "Carray[i]", i, Carray[i], ec))
        std::abort();
      RunGemm(g, alpha_v, beta_v, Aarray[i], Barray[i], Carray[i], Carray[i], nullptr);
    }
  });
  return CUBLAS_STATUS_SUCCESS;
}

// ---------------------------------------------------------------------------------------------
// cuBLASLt

struct LtDesc : cublasLtMatmulDescOpaque_t {
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  int32_t scale_type = CUDA_R_32F;
  int32_t pointer_mode = CUBLASLT_POINTER_MODE_HOST;
  int32_t trans_a = CUBLAS_OP_N, trans_b = CUBLAS_OP_N, trans_c = CUBLAS_OP_N;
  uint32_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;
  int64_t bias_batch_stride = 0;
  int32_t bias_type = -1;  // -1: D's type
};

struct LtLayout : cublasLtMatrixLayoutOpaque_t {
  uint32_t type = CUDA_R_32F;
  int32_t order = CUBLASLT_ORDER_COL;
  uint64_t rows = 0, cols = 0;
  int64_t ld = 0;
  int32_t batch_count = 1;
  int64_t batch_stride = 0;
  int64_t plane_offset = 0;
  uint32_t batch_mode = 0;
};

struct LtPref : cublasLtMatmulPreferenceOpaque_t {
  uint64_t max_workspace = 0;
};

// Marks the algorithms this emulator hands out (cublasLtMatmulAlgo_t::data[0]).
constexpr uint64_t kAlgoMark = 0x656d75616c676f31ull;  // "emualgo1"

bool LiveLtHandle(const char* fn, cublasLtHandle_t h) {
  return LiveObject<cublasLtContext>(fn, "handle", LtHandles(), h) != nullptr;
}

LtDesc* LiveDesc(const char* fn, cublasLtMatmulDesc_t d) {
  return LiveObject<LtDesc>(fn, "matmul descriptor", LtDescs(), d);
}

LtLayout* LiveLayout(const char* fn, const char* name, cublasLtMatrixLayout_t l) {
  return LiveObject<LtLayout>(fn, std::string(name) + " layout", LtLayouts(), l);
}

cublasStatus_t EmuLtCreate(cublasLtHandle_t* handle) {
  if (handle == nullptr) return NullResult("cublasLtCreate", "handle");
  *handle = Tracked<cublasLtContext>(LtHandles(), new cublasLtContext);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t EmuLtDestroy(cublasLtHandle_t handle) {
  return DestroyTracked<cublasLtContext>("cublasLtDestroy", "handle", LtHandles(), handle,
                                         CUBLAS_STATUS_NOT_INITIALIZED);
}

cublasStatus_t EmuLtMatmulDescCreate(cublasLtMatmulDesc_t* desc, cublasComputeType_t computeType,
                                     cudaDataType_t scaleType) {
  if (desc == nullptr) return NullResult("cublasLtMatmulDescCreate", "descriptor");
  LtDesc* d = new LtDesc;
  d->compute = computeType;
  d->scale_type = scaleType;
  *desc = Tracked<cublasLtMatmulDescOpaque_t>(LtDescs(), d);
  return CUBLAS_STATUS_SUCCESS;
}

// As cuBLASLt: destroying a null descriptor, layout or preference is a no-op.
cublasStatus_t EmuLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
  if (desc == nullptr) return CUBLAS_STATUS_SUCCESS;
  return DestroyTracked<LtDesc>("cublasLtMatmulDescDestroy", "matmul descriptor", LtDescs(), desc,
                                CUBLAS_STATUS_INVALID_VALUE);
}

// Copies an attribute of exactly sizeof(T) bytes.
template <typename T>
bool TakeAttr(const char* fn, int attr, const void* buf, size_t size, T* out) {
  if (buf == nullptr || size != sizeof(T)) {
    Say(fn, "attribute %d: buffer %p of %zu bytes, want %zu", attr, buf, size, sizeof(T));
    return false;
  }
  std::memcpy(out, buf, sizeof(T));
  return true;
}

cublasStatus_t EmuLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr,
                                           const void* buf, size_t size) {
  const char* fn = "cublasLtMatmulDescSetAttribute";
  LtDesc* d = LiveDesc(fn, desc);
  if (d == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  const int a = static_cast<int>(attr);
  bool ok = false;
  switch (attr) {
    case CUBLASLT_MATMUL_DESC_COMPUTE_TYPE: {
      int32_t v = 0;
      ok = TakeAttr(fn, a, buf, size, &v);
      if (ok) d->compute = static_cast<cublasComputeType_t>(v);
      break;
    }
    case CUBLASLT_MATMUL_DESC_SCALE_TYPE: ok = TakeAttr(fn, a, buf, size, &d->scale_type); break;
    case CUBLASLT_MATMUL_DESC_POINTER_MODE: ok = TakeAttr(fn, a, buf, size, &d->pointer_mode); break;
    case CUBLASLT_MATMUL_DESC_TRANSA: ok = TakeAttr(fn, a, buf, size, &d->trans_a); break;
    case CUBLASLT_MATMUL_DESC_TRANSB: ok = TakeAttr(fn, a, buf, size, &d->trans_b); break;
    case CUBLASLT_MATMUL_DESC_TRANSC: ok = TakeAttr(fn, a, buf, size, &d->trans_c); break;
    case CUBLASLT_MATMUL_DESC_EPILOGUE: ok = TakeAttr(fn, a, buf, size, &d->epilogue); break;
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER: ok = TakeAttr(fn, a, buf, size, &d->bias); break;
    case CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE: ok = TakeAttr(fn, a, buf, size, &d->bias_batch_stride); break;
    case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE: ok = TakeAttr(fn, a, buf, size, &d->bias_type); break;
    case CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET: {
      int32_t v = 0;
      ok = TakeAttr(fn, a, buf, size, &v);  // a performance hint: no effect here
      break;
    }
    case CUBLASLT_MATMUL_DESC_FILL_MODE: {
      int32_t v = 0;
      ok = TakeAttr(fn, a, buf, size, &v);
      if (ok && v != CUBLAS_FILL_MODE_FULL) {
        Say(fn, "fill mode %d not emulated (only CUBLAS_FILL_MODE_FULL)", v);
        return CUBLAS_STATUS_NOT_SUPPORTED;
      }
      break;
    }
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER:
    case CUBLASLT_MATMUL_DESC_A_SCALE_POINTER:
    case CUBLASLT_MATMUL_DESC_B_SCALE_POINTER:
    case CUBLASLT_MATMUL_DESC_C_SCALE_POINTER:
    case CUBLASLT_MATMUL_DESC_D_SCALE_POINTER:
    case CUBLASLT_MATMUL_DESC_AMAX_D_POINTER:
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_SCALE_POINTER:
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_AMAX_POINTER: {
      const void* p = nullptr;
      ok = TakeAttr(fn, a, buf, size, &p);
      if (ok && p != nullptr) {
        Say(fn, "attribute %d (auxiliary / fp8 scaling pointer) not emulated", a);
        return CUBLAS_STATUS_NOT_SUPPORTED;
      }
      break;
    }
    default:
      Say(fn, "attribute %d not emulated", a);
      return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

cublasStatus_t EmuLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, cudaDataType type, uint64_t rows,
                                       uint64_t cols, int64_t ld) {
  if (layout == nullptr) return NullResult("cublasLtMatrixLayoutCreate", "layout");
  LtLayout* l = new LtLayout;
  l->type = static_cast<uint32_t>(type);
  l->rows = rows;
  l->cols = cols;
  l->ld = ld;
  *layout = Tracked<cublasLtMatrixLayoutOpaque_t>(LtLayouts(), l);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t EmuLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  if (layout == nullptr) return CUBLAS_STATUS_SUCCESS;
  return DestroyTracked<LtLayout>("cublasLtMatrixLayoutDestroy", "the layout", LtLayouts(), layout,
                                  CUBLAS_STATUS_INVALID_VALUE);
}

// Not a member of CublasLtApi (onnxd sets no layout attribute today); ready for when it is.
[[maybe_unused]] cublasStatus_t EmuLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t layout,
                                                              cublasLtMatrixLayoutAttribute_t attr, const void* buf,
                                                              size_t size) {
  const char* fn = "cublasLtMatrixLayoutSetAttribute";
  LtLayout* l = LiveLayout(fn, "the", layout);
  if (l == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  const int a = static_cast<int>(attr);
  bool ok = false;
  switch (attr) {
    case CUBLASLT_MATRIX_LAYOUT_TYPE: ok = TakeAttr(fn, a, buf, size, &l->type); break;
    case CUBLASLT_MATRIX_LAYOUT_ORDER: ok = TakeAttr(fn, a, buf, size, &l->order); break;
    case CUBLASLT_MATRIX_LAYOUT_ROWS: ok = TakeAttr(fn, a, buf, size, &l->rows); break;
    case CUBLASLT_MATRIX_LAYOUT_COLS: ok = TakeAttr(fn, a, buf, size, &l->cols); break;
    case CUBLASLT_MATRIX_LAYOUT_LD: ok = TakeAttr(fn, a, buf, size, &l->ld); break;
    case CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT: ok = TakeAttr(fn, a, buf, size, &l->batch_count); break;
    case CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET: ok = TakeAttr(fn, a, buf, size, &l->batch_stride); break;
    case CUBLASLT_MATRIX_LAYOUT_PLANE_OFFSET: ok = TakeAttr(fn, a, buf, size, &l->plane_offset); break;
    case CUBLASLT_MATRIX_LAYOUT_BATCH_MODE: ok = TakeAttr(fn, a, buf, size, &l->batch_mode); break;
    default:
      Say(fn, "attribute %d not emulated", a);
      return CUBLAS_STATUS_INVALID_VALUE;
  }
  return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

cublasStatus_t EmuLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
  if (pref == nullptr) return NullResult("cublasLtMatmulPreferenceCreate", "preference");
  *pref = Tracked<cublasLtMatmulPreferenceOpaque_t>(LtPrefs(), new LtPref);
  return CUBLAS_STATUS_SUCCESS;
}

LtPref* LivePref(const char* fn, cublasLtMatmulPreference_t p) {
  return LiveObject<LtPref>(fn, "preference", LtPrefs(), p);
}

cublasStatus_t EmuLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  if (pref == nullptr) return CUBLAS_STATUS_SUCCESS;
  return DestroyTracked<LtPref>("cublasLtMatmulPreferenceDestroy", "preference", LtPrefs(), pref,
                                CUBLAS_STATUS_INVALID_VALUE);
}

cublasStatus_t EmuLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                 cublasLtMatmulPreferenceAttributes_t attr, const void* buf,
                                                 size_t size) {
  const char* fn = "cublasLtMatmulPreferenceSetAttribute";
  LtPref* p = LivePref(fn, pref);
  if (p == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  const int a = static_cast<int>(attr);
  bool ok = false;
  switch (attr) {
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES: ok = TakeAttr(fn, a, buf, size, &p->max_workspace); break;
    // Search hints: accepted, no effect (the emulator has one algorithm).
    case CUBLASLT_MATMUL_PREF_SEARCH_MODE:
    case CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES: {
      uint32_t v = 0;
      ok = TakeAttr(fn, a, buf, size, &v);
      break;
    }
    case CUBLASLT_MATMUL_PREF_MAX_WAVES_COUNT: {
      float v = 0.f;
      ok = TakeAttr(fn, a, buf, size, &v);
      break;
    }
    case CUBLASLT_MATMUL_PREF_IMPL_MASK: {
      uint64_t v = 0;
      ok = TakeAttr(fn, a, buf, size, &v);
      break;
    }
    default:
      Say(fn, "attribute %d not emulated", a);
      return CUBLAS_STATUS_INVALID_VALUE;
  }
  return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

// One cublasLtMatmul problem, checked: shapes, batches and what the epilogue needs.
struct LtProblem {
  GemmShape g;
  cudaDataType scale_type = CUDA_R_32F;
  bool device_scalars = false;
  bool has_bias = false;
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0, stride_d = 0, stride_bias = 0;  // elements
};

bool LayoutOk(const char* fn, const char* name, const LtLayout& l) {
  if (l.order != CUBLASLT_ORDER_COL) {
    Say(fn, "%s layout order %d not emulated (only CUBLASLT_ORDER_COL)", name, l.order);
    return false;
  }
  if (l.plane_offset != 0 || l.batch_mode != 0) {
    Say(fn, "%s layout: planar complex / pointer-array batch mode not emulated", name);
    return false;
  }
  return true;
}

// Returns SUCCESS or the status cuBLASLt gives this configuration (for the heuristic and the matmul).
cublasStatus_t CheckLt(const char* fn, cublasLtMatmulDesc_t computeDesc, cublasLtMatrixLayout_t Adesc,
                       cublasLtMatrixLayout_t Bdesc, cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc,
                       LtProblem* p) {
  const LtDesc* d = LiveDesc(fn, computeDesc);
  const LtLayout* la = LiveLayout(fn, "A", Adesc);
  const LtLayout* lb = LiveLayout(fn, "B", Bdesc);
  const LtLayout* lc = LiveLayout(fn, "C", Cdesc);
  const LtLayout* ld = LiveLayout(fn, "D", Ddesc);
  if (d == nullptr || la == nullptr || lb == nullptr || lc == nullptr || ld == nullptr)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (!LayoutOk(fn, "A", *la) || !LayoutOk(fn, "B", *lb) || !LayoutOk(fn, "C", *lc) || !LayoutOk(fn, "D", *ld))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if (!OpOk(static_cast<cublasOperation_t>(d->trans_a)) || !OpOk(static_cast<cublasOperation_t>(d->trans_b))) {
    Say(fn, "TRANSA %d / TRANSB %d is not CUBLAS_OP_N, _T or _C", d->trans_a, d->trans_b);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (d->trans_c != CUBLAS_OP_N) {
    Say(fn, "TRANSC %d: only CUBLAS_OP_N is supported", d->trans_c);
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  GemmShape& g = p->g;
  g.trans_a = d->trans_a != CUBLAS_OP_N;
  g.trans_b = d->trans_b != CUBLAS_OP_N;
  g.m = static_cast<int64_t>(ld->rows);
  g.n = static_cast<int64_t>(ld->cols);
  g.k = static_cast<int64_t>(g.trans_a ? la->rows : la->cols);
  constexpr uint64_t kMaxDim = 0x7fffffff;
  for (const LtLayout* l : {la, lb, lc, ld}) {
    if (l->rows > kMaxDim || l->cols > kMaxDim) {
      Say(fn, "a layout of %llu x %llu exceeds int32", static_cast<unsigned long long>(l->rows),
          static_cast<unsigned long long>(l->cols));
      return CUBLAS_STATUS_NOT_SUPPORTED;
    }
  }
  const uint64_t a_m = g.trans_a ? la->cols : la->rows;
  const uint64_t b_k = g.trans_b ? lb->cols : lb->rows;
  const uint64_t b_n = g.trans_b ? lb->rows : lb->cols;
  if (a_m != ld->rows || b_k != static_cast<uint64_t>(g.k) || b_n != ld->cols || lc->rows != ld->rows ||
      lc->cols != ld->cols) {
    Say(fn, "shapes do not chain: op(A) %llu x %lld, op(B) %llu x %llu, C %llu x %llu, D %llu x %llu",
        static_cast<unsigned long long>(a_m), static_cast<long long>(g.k), static_cast<unsigned long long>(b_k),
        static_cast<unsigned long long>(b_n), static_cast<unsigned long long>(lc->rows),
        static_cast<unsigned long long>(lc->cols), static_cast<unsigned long long>(ld->rows),
        static_cast<unsigned long long>(ld->cols));
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  const char* names[] = {"A", "B", "C", "D"};
  const LtLayout* layouts[] = {la, lb, lc, ld};
  for (int i = 0; i < 4; ++i) {
    const LtLayout* l = layouts[i];
    if (l->ld < std::max<int64_t>(1, static_cast<int64_t>(l->rows))) {
      Say(fn, "%s: ld %lld < max(1, rows %llu)", names[i], static_cast<long long>(l->ld),
          static_cast<unsigned long long>(l->rows));
      return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (l->batch_count < 1 || l->batch_count != ld->batch_count) {
      Say(fn, "%s: batch count %d (D's is %d)", names[i], l->batch_count, ld->batch_count);
      return CUBLAS_STATUS_INVALID_VALUE;
    }
  }
  g.a_type = static_cast<cudaDataType>(la->type);
  g.b_type = static_cast<cudaDataType>(lb->type);
  g.c_type = static_cast<cudaDataType>(lc->type);
  g.d_type = static_cast<cudaDataType>(ld->type);
  g.lda = la->ld;
  g.ldb = lb->ld;
  g.ldc = lc->ld;
  g.ldd = ld->ld;
  if (g.a_type != g.b_type || g.c_type != g.d_type) {
    Say(fn, "types A %s B %s C %s D %s: A and B, C and D must match", TypeName(g.a_type), TypeName(g.b_type),
        TypeName(g.c_type), TypeName(g.d_type));
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  Math math;
  const char* why = "";
  if (!MathFor(d->compute, g.a_type, g.c_type, &math, &why)) {
    Say(fn, "compute type %d with A/B %s, C/D %s: %s", static_cast<int>(d->compute), TypeName(g.a_type),
        TypeName(g.c_type), why);
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  if (d->scale_type != math.scale_type) {
    Say(fn, "scale type %s, want %s for compute type %d", TypeName(static_cast<cudaDataType>(d->scale_type)),
        TypeName(math.scale_type), static_cast<int>(d->compute));
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  g.rounding = math.rounding;
  p->scale_type = math.scale_type;
  if (d->pointer_mode != CUBLASLT_POINTER_MODE_HOST && d->pointer_mode != CUBLASLT_POINTER_MODE_DEVICE) {
    Say(fn, "pointer mode %d not emulated (only HOST and DEVICE)", d->pointer_mode);
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  p->device_scalars = d->pointer_mode == CUBLASLT_POINTER_MODE_DEVICE;
  switch (d->epilogue) {
    case CUBLASLT_EPILOGUE_DEFAULT: break;
    case CUBLASLT_EPILOGUE_BIAS: p->has_bias = true; break;
    case CUBLASLT_EPILOGUE_RELU: g.act = Activation::kRelu; break;
    case CUBLASLT_EPILOGUE_RELU_BIAS: g.act = Activation::kRelu; p->has_bias = true; break;
    case CUBLASLT_EPILOGUE_GELU: g.act = Activation::kGelu; break;
    case CUBLASLT_EPILOGUE_GELU_BIAS: g.act = Activation::kGelu; p->has_bias = true; break;
    default:
      Say(fn, "epilogue %u not emulated (DEFAULT, BIAS, RELU, RELU_BIAS, GELU, GELU_BIAS are)", d->epilogue);
      return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  if (p->has_bias) {
    g.bias_type = d->bias_type == -1 ? g.d_type : static_cast<cudaDataType>(d->bias_type);
    if (g.bias_type != g.d_type && g.bias_type != CUDA_R_32F) {
      Say(fn, "bias type %s with D %s (want D's type or CUDA_R_32F)", TypeName(g.bias_type), TypeName(g.d_type));
      return CUBLAS_STATUS_NOT_SUPPORTED;
    }
  }
  p->batch = ld->batch_count;
  p->stride_a = la->batch_stride;
  p->stride_b = lb->batch_stride;
  p->stride_c = lc->batch_stride;
  p->stride_d = ld->batch_stride;
  p->stride_bias = d->bias_batch_stride;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t EmuLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                           cublasLtMatrixLayout_t Adesc, cublasLtMatrixLayout_t Bdesc,
                                           cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc,
                                           cublasLtMatmulPreference_t pref, int requestedAlgoCount,
                                           cublasLtMatmulHeuristicResult_t results[], int* returnAlgoCount) {
  const char* fn = "cublasLtMatmulAlgoGetHeuristic";
  if (!LiveLtHandle(fn, handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (requestedAlgoCount <= 0 || results == nullptr || returnAlgoCount == nullptr) {
    Say(fn, "requestedAlgoCount %d, results %p, returnAlgoCount %p", requestedAlgoCount,
        static_cast<void*>(results), static_cast<void*>(returnAlgoCount));
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (LivePref(fn, pref) == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  LtProblem p;
  const cublasStatus_t st = CheckLt(fn, desc, Adesc, Bdesc, Cdesc, Ddesc, &p);
  if (st != CUBLAS_STATUS_SUCCESS) return st;
  // One algorithm, needing no workspace (fits any MAX_WORKSPACE_BYTES).
  cublasLtMatmulHeuristicResult_t r;
  std::memset(&r, 0, sizeof r);
  r.algo.data[0] = kAlgoMark;
  r.workspaceSize = 0;
  r.state = CUBLAS_STATUS_SUCCESS;
  r.wavesCount = 1.f;
  results[0] = r;
  *returnAlgoCount = 1;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t EmuLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t computeDesc, const void* alpha,
                           const void* A, cublasLtMatrixLayout_t Adesc, const void* B, cublasLtMatrixLayout_t Bdesc,
                           const void* beta, const void* C, cublasLtMatrixLayout_t Cdesc, void* D,
                           cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t* algo, void* workspace,
                           size_t workspaceSizeInBytes, cudaStream_t stream) {
  (void)workspace;
  (void)workspaceSizeInBytes;  // the emulated algorithm needs none
  const char* fn = "cublasLtMatmul";
  if (!LiveLtHandle(fn, handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  LtProblem p;
  const cublasStatus_t st = CheckLt(fn, computeDesc, Adesc, Bdesc, Cdesc, Ddesc, &p);
  if (st != CUBLAS_STATUS_SUCCESS) return st;
  if (algo != nullptr && algo->data[0] != kAlgoMark) {
    Say(fn, "algo %p did not come from cublasLtMatmulAlgoGetHeuristic", static_cast<const void*>(algo));
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (alpha == nullptr || beta == nullptr) {
    Say(fn, "null alpha or beta");
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  const LtDesc* desc = static_cast<const LtDesc*>(computeDesc);
  const GemmShape g = p.g;
  const size_t scale_bytes = p.scale_type == CUDA_R_16F ? 2 : 4;
  float alpha_v = 0.f, beta_v = 0.f;
  if (p.device_scalars) {
    if (!CheckDevice(fn, "alpha", -1, alpha, scale_bytes) || !CheckDevice(fn, "beta", -1, beta, scale_bytes))
      return CUBLAS_STATUS_INVALID_VALUE;
  } else {
    alpha_v = ReadScalar(alpha, p.scale_type);
    beta_v = ReadScalar(beta, p.scale_type);
  }
  if (g.m == 0 || g.n == 0) return CUBLAS_STATUS_SUCCESS;
  const LtLayout* lc = static_cast<const LtLayout*>(Cdesc);
  const LtLayout* ld = static_cast<const LtLayout*>(Ddesc);
  if (C == D && (lc->ld != ld->ld || lc->type != ld->type || lc->batch_stride != ld->batch_stride)) {
    Say(fn, "C == D (in place) needs Cdesc equal to Ddesc");
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  const void* bias = p.has_bias ? desc->bias : nullptr;
  if (p.has_bias && bias == nullptr) {
    Say(fn, "the epilogue adds a bias but CUBLASLT_MATMUL_DESC_BIAS_POINTER is null");
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  const bool reads_ab = (p.device_scalars || alpha_v != 0.f) && g.k > 0;
  const bool reads_c = p.device_scalars || beta_v != 0.f;
  const size_t ea = reads_ab ? Extent(RowsA(g), ColsA(g), g.lda, g.a_type) : 0;
  const size_t eb = reads_ab ? Extent(RowsB(g), ColsB(g), g.ldb, g.b_type) : 0;
  const size_t ec = reads_c ? Extent(g.m, g.n, g.ldc, g.c_type) : 0;
  const size_t ed = Extent(g.m, g.n, g.ldd, g.d_type);
  const size_t ebias = bias != nullptr ? static_cast<size_t>(g.m) * ElemSize(g.bias_type) : 0;
  // Batch entry i of an operand (null when the operand is not read).
  auto at = [](const void* base, size_t extent, int64_t i, int64_t stride, cudaDataType t) -> const char* {
    if (extent == 0) return nullptr;
    return static_cast<const char*>(base) + i * stride * static_cast<int64_t>(ElemSize(t));
  };
  for (int64_t i = 0; i < p.batch; ++i) {
    const int64_t entry = p.batch == 1 ? -1 : i;
    if (!CheckDevice(fn, "A", entry, at(A, ea, i, p.stride_a, g.a_type), ea) ||
        !CheckDevice(fn, "B", entry, at(B, eb, i, p.stride_b, g.b_type), eb) ||
        !CheckDevice(fn, "C", entry, at(C, ec, i, p.stride_c, g.c_type), ec) ||
        !CheckDevice(fn, "D", entry, at(D, ed, i, p.stride_d, g.d_type), ed) ||
        !CheckDevice(fn, "bias", entry, at(bias, ebias, i, p.stride_bias, g.bias_type), ebias))
      return CUBLAS_STATUS_INVALID_VALUE;
  }
  Enqueue(stream, [=] {
    // Device pointer mode: the scalars are read when the work runs.
    const float al = p.device_scalars ? ReadScalar(alpha, p.scale_type) : alpha_v;
    const float be = p.device_scalars ? ReadScalar(beta, p.scale_type) : beta_v;
    for (int64_t i = 0; i < p.batch; ++i)
      RunGemm(g, al, be, at(A, ea, i, p.stride_a, g.a_type), at(B, eb, i, p.stride_b, g.b_type),
              at(C, ec, i, p.stride_c, g.c_type), const_cast<char*>(at(D, ed, i, p.stride_d, g.d_type)),
              at(bias, ebias, i, p.stride_bias, g.bias_type));
  });
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

void FillCublas(onnxd::cuda::libs::CublasApi& a) {
  a.create = &EmuCublasCreate;
  a.destroy = &EmuCublasDestroy;
  a.set_stream = &EmuCublasSetStream;
  a.status_name = &EmuCublasGetStatusName;
  a.gemm_ex = &EmuCublasGemmEx;
  a.gemm_strided_batched_ex = &EmuCublasGemmStridedBatchedEx;
  a.gemm_batched_ex = &EmuCublasGemmBatchedEx;
  a.error.clear();
  a.loaded = true;
}

void FillCublasLt(onnxd::cuda::libs::CublasLtApi& a) {
  a.create = &EmuLtCreate;
  a.destroy = &EmuLtDestroy;
  a.matmul_desc_create = &EmuLtMatmulDescCreate;
  a.matmul_desc_destroy = &EmuLtMatmulDescDestroy;
  a.matmul_desc_set_attribute = &EmuLtMatmulDescSetAttribute;
  a.matrix_layout_create = &EmuLtMatrixLayoutCreate;
  a.matrix_layout_destroy = &EmuLtMatrixLayoutDestroy;
  a.matmul_preference_create = &EmuLtMatmulPreferenceCreate;
  a.matmul_preference_destroy = &EmuLtMatmulPreferenceDestroy;
  a.matmul_preference_set_attribute = &EmuLtMatmulPreferenceSetAttribute;
  a.matmul_algo_get_heuristic = &EmuLtMatmulAlgoGetHeuristic;
  a.matmul = &EmuLtMatmul;
  a.error.clear();
  a.loaded = true;
}

}  // namespace onnxd::cuda_emu
