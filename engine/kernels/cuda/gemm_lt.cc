#include "kernels/cuda/gemm_lt.h"

#include "kernels/cuda/cuda_status.h"

namespace onnxd::cuda {
namespace {

// cuBLASLt returns cuBLAS's status codes: CublasStatus (cuda_status.h) names them.
#define ONNXD_LT_RETURN_IF_ERROR(expr)                                                  \
  do {                                                                                 \
    cublasStatus_t onnxd_lt_st_ = (expr);                                              \
    if (onnxd_lt_st_ != CUBLAS_STATUS_SUCCESS) return CublasStatus(onnxd_lt_st_, #expr); \
  } while (0)

}  // namespace

StatusOr<std::unique_ptr<LtHandle>> LtHandle::Create() {
  if (!libs::CublasLt().loaded) return Unavailable(libs::CublasLt().error);
  std::unique_ptr<LtHandle> h(new LtHandle());
  ONNXD_LT_RETURN_IF_ERROR(cublasLtCreate(&h->handle_));
  return h;
}

LtHandle::~LtHandle() {
  if (handle_ != nullptr) cublasLtDestroy(handle_);
}

BiasGemm::~BiasGemm() {
  if (w_layout_ != nullptr) cublasLtMatrixLayoutDestroy(w_layout_);
  if (a_layout_ != nullptr) cublasLtMatrixLayoutDestroy(a_layout_);
  if (out_layout_ != nullptr) cublasLtMatrixLayoutDestroy(out_layout_);
  if (desc_ != nullptr) cublasLtMatmulDescDestroy(desc_);
}

StatusOr<std::unique_ptr<BiasGemm>> BiasGemm::Create(const LtHandle& lt, int64_t m, int64_t n, int64_t k, bool half,
                                                     bool tf32, size_t max_workspace) {
  if (m <= 0 || n <= 0 || k <= 0) return InvalidArgument("BiasGemm: empty product");
  std::unique_ptr<BiasGemm> g(new BiasGemm());
  const cudaDataType_t type = half ? CUDA_R_16F : CUDA_R_32F;
  const cublasComputeType_t compute = !half && tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  ONNXD_LT_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&g->desc_, compute, CUDA_R_32F));
  const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
  ONNXD_LT_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(g->desc_, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
  // Row-major out[M, N] = a[M, K] w[K, N] is column-major out^T[N, M] = w^T[N, K] a^T[K, M], and
  // the row-major buffers are exactly those column-major transposes: no operand is transposed,
  // and the bias (one value per row of out^T) is per column of out.
  ONNXD_LT_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&g->w_layout_, type, static_cast<uint64_t>(n),
                                                      static_cast<uint64_t>(k), n));
  ONNXD_LT_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&g->a_layout_, type, static_cast<uint64_t>(k),
                                                      static_cast<uint64_t>(m), k));
  ONNXD_LT_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&g->out_layout_, type, static_cast<uint64_t>(n),
                                                      static_cast<uint64_t>(m), n));
  cublasLtMatmulPreference_t pref = nullptr;
  ONNXD_LT_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&pref));
  Status st = CublasStatus(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                                &max_workspace, sizeof(max_workspace)),
                           "cublasLtMatmulPreferenceSetAttribute");
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  if (st.ok())
    st = CublasStatus(cublasLtMatmulAlgoGetHeuristic(lt.get(), g->desc_, g->w_layout_, g->a_layout_, g->out_layout_,
                                                     g->out_layout_, pref, 1, &result, &returned),
                      "cublasLtMatmulAlgoGetHeuristic");
  cublasLtMatmulPreferenceDestroy(pref);
  if (!st.ok()) return st;
  if (returned < 1 || result.state != CUBLAS_STATUS_SUCCESS)
    return Unimplemented("cuBLASLt has no algorithm for this GEMM with a bias epilogue");
  g->algo_ = result.algo;
  g->workspace_ = result.workspaceSize;
  return g;
}

Status BiasGemm::Run(const LtHandle& lt, const void* a, const void* w, const void* bias, void* out, void* workspace,
                     cudaStream_t stream) const {
  ONNXD_LT_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  const float one = 1.f, zero = 0.f;
  ONNXD_LT_RETURN_IF_ERROR(cublasLtMatmul(lt.get(), desc_, &one, w, w_layout_, a, a_layout_, &zero, out, out_layout_,
                                          out, out_layout_, &algo_, workspace, workspace_, stream));
  return Status::Ok();
}

}  // namespace onnxd::cuda
