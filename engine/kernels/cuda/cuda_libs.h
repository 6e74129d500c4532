// cuBLAS and cuDNN are loaded with dlopen on first use instead of being linked: a daemon that never
// compiles a model for the GPU never maps them. Linked, cuBLAS (with cuBLASLt) put about 150 MB in
// the resident set of every onnxd process, GPU or not. (cudart is linked statically; it loads the
// driver itself.)
//
// Files that call cuBLAS or cuDNN include this header rather than cublas_v2.h / cudnn.h. The macros
// at its end send each call through the table loaded by Cublas() / Cudnn(). A handle is created
// only after checking `loaded`, so no call reaches an empty table.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#if defined(ONNXD_WITH_CUDNN)
#include <cudnn.h>
#endif

#include <string>

namespace onnxd::cuda::libs {

// The C entry points (cublas_api.h also declares C++ overloads of these two names).
using CublasGemmExFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                          const void*, const void*, cudaDataType, int, const void*, cudaDataType,
                                          int, const void*, void*, cudaDataType, int, cublasComputeType_t,
                                          cublasGemmAlgo_t);
using CublasGemmStridedBatchedExFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int,
                                                        int, int, const void*, const void*, cudaDataType, int,
                                                        long long, const void*, cudaDataType, int, long long,
                                                        const void*, void*, cudaDataType, int, long long, int,
                                                        cublasComputeType_t, cublasGemmAlgo_t);
using CublasGemmBatchedExFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                                 const void*, const void* const[], cudaDataType, int,
                                                 const void* const[], cudaDataType, int, const void*, void* const[],
                                                 cudaDataType, int, int, cublasComputeType_t, cublasGemmAlgo_t);

struct CublasApi {
  bool loaded = false;
  std::string error;  // why not, naming the library
  decltype(&::cublasCreate_v2) create = nullptr;
  decltype(&::cublasDestroy_v2) destroy = nullptr;
  decltype(&::cublasSetStream_v2) set_stream = nullptr;
  decltype(&::cublasGetStatusName) status_name = nullptr;
  CublasGemmExFn gemm_ex = nullptr;
  CublasGemmStridedBatchedExFn gemm_strided_batched_ex = nullptr;
  CublasGemmBatchedExFn gemm_batched_ex = nullptr;
};
const CublasApi& Cublas();
const char* CublasStatusName(cublasStatus_t st);

// cuBLASLt (GEMMs with a bias epilogue), loaded on first use like cuBLAS.
struct CublasLtApi {
  bool loaded = false;
  std::string error;
  decltype(&::cublasLtCreate) create = nullptr;
  decltype(&::cublasLtDestroy) destroy = nullptr;
  decltype(&::cublasLtMatmulDescCreate) matmul_desc_create = nullptr;
  decltype(&::cublasLtMatmulDescDestroy) matmul_desc_destroy = nullptr;
  decltype(&::cublasLtMatmulDescSetAttribute) matmul_desc_set_attribute = nullptr;
  decltype(&::cublasLtMatrixLayoutCreate) matrix_layout_create = nullptr;
  decltype(&::cublasLtMatrixLayoutDestroy) matrix_layout_destroy = nullptr;
  decltype(&::cublasLtMatmulPreferenceCreate) matmul_preference_create = nullptr;
  decltype(&::cublasLtMatmulPreferenceDestroy) matmul_preference_destroy = nullptr;
  decltype(&::cublasLtMatmulPreferenceSetAttribute) matmul_preference_set_attribute = nullptr;
  decltype(&::cublasLtMatmulAlgoGetHeuristic) matmul_algo_get_heuristic = nullptr;
  decltype(&::cublasLtMatmul) matmul = nullptr;
};
const CublasLtApi& CublasLt();

#if defined(ONNXD_WITH_CUDNN)
struct CudnnApi {
  bool loaded = false;
  std::string error;
  decltype(&::cudnnCreate) create = nullptr;
  decltype(&::cudnnDestroy) destroy = nullptr;
  decltype(&::cudnnSetStream) set_stream = nullptr;
  decltype(&::cudnnGetErrorString) error_string = nullptr;
  decltype(&::cudnnAddTensor) add_tensor = nullptr;
  decltype(&::cudnnConvolutionForward) convolution_forward = nullptr;
  decltype(&::cudnnCreateConvolutionDescriptor) create_convolution_descriptor = nullptr;
  decltype(&::cudnnCreateFilterDescriptor) create_filter_descriptor = nullptr;
  decltype(&::cudnnCreatePoolingDescriptor) create_pooling_descriptor = nullptr;
  decltype(&::cudnnCreateTensorDescriptor) create_tensor_descriptor = nullptr;
  decltype(&::cudnnDestroyConvolutionDescriptor) destroy_convolution_descriptor = nullptr;
  decltype(&::cudnnDestroyFilterDescriptor) destroy_filter_descriptor = nullptr;
  decltype(&::cudnnDestroyPoolingDescriptor) destroy_pooling_descriptor = nullptr;
  decltype(&::cudnnDestroyTensorDescriptor) destroy_tensor_descriptor = nullptr;
  decltype(&::cudnnGetConvolutionForwardAlgorithm_v7) get_convolution_forward_algorithm_v7 = nullptr;
  decltype(&::cudnnGetConvolutionForwardWorkspaceSize) get_convolution_forward_workspace_size = nullptr;
  decltype(&::cudnnPoolingForward) pooling_forward = nullptr;
  decltype(&::cudnnSetConvolution2dDescriptor) set_convolution_2d_descriptor = nullptr;
  decltype(&::cudnnSetConvolutionGroupCount) set_convolution_group_count = nullptr;
  decltype(&::cudnnSetConvolutionMathType) set_convolution_math_type = nullptr;
  decltype(&::cudnnSetFilter4dDescriptor) set_filter_4d_descriptor = nullptr;
  decltype(&::cudnnSetPooling2dDescriptor) set_pooling_2d_descriptor = nullptr;
  decltype(&::cudnnSetTensor4dDescriptor) set_tensor_4d_descriptor = nullptr;
  // Optional (null when the library lacks them): the fused convolution + bias (+ residual) +
  // activation of the legacy API.
  decltype(&::cudnnConvolutionBiasActivationForward) convolution_bias_activation_forward = nullptr;
  decltype(&::cudnnCreateActivationDescriptor) create_activation_descriptor = nullptr;
  decltype(&::cudnnSetActivationDescriptor) set_activation_descriptor = nullptr;
  decltype(&::cudnnDestroyActivationDescriptor) destroy_activation_descriptor = nullptr;
  // Optional: benchmarks the algorithms (ConvPlan picks the fastest instead of the heuristics' guess).
  decltype(&::cudnnFindConvolutionForwardAlgorithm) find_convolution_forward_algorithm = nullptr;
  // Optional: N-d descriptors (3-D convolutions; without them those run on the CPU).
  decltype(&::cudnnSetTensorNdDescriptor) set_tensor_nd_descriptor = nullptr;
  decltype(&::cudnnSetFilterNdDescriptor) set_filter_nd_descriptor = nullptr;
  decltype(&::cudnnSetConvolutionNdDescriptor) set_convolution_nd_descriptor = nullptr;
};
const CudnnApi& Cudnn();
const char* CudnnErrorString(cudnnStatus_t st);
#endif

}  // namespace onnxd::cuda::libs

// cublas_v2.h maps cublasCreate and friends to their _v2 names; those are redirected here.
#define cublasCreate_v2 (::onnxd::cuda::libs::Cublas().create)
#define cublasDestroy_v2 (::onnxd::cuda::libs::Cublas().destroy)
#define cublasSetStream_v2 (::onnxd::cuda::libs::Cublas().set_stream)
#define cublasGetStatusName ::onnxd::cuda::libs::CublasStatusName
#define cublasGemmEx (::onnxd::cuda::libs::Cublas().gemm_ex)
#define cublasGemmStridedBatchedEx (::onnxd::cuda::libs::Cublas().gemm_strided_batched_ex)
#define cublasGemmBatchedEx (::onnxd::cuda::libs::Cublas().gemm_batched_ex)
#define cublasLtCreate (::onnxd::cuda::libs::CublasLt().create)
#define cublasLtDestroy (::onnxd::cuda::libs::CublasLt().destroy)
#define cublasLtMatmulDescCreate (::onnxd::cuda::libs::CublasLt().matmul_desc_create)
#define cublasLtMatmulDescDestroy (::onnxd::cuda::libs::CublasLt().matmul_desc_destroy)
#define cublasLtMatmulDescSetAttribute (::onnxd::cuda::libs::CublasLt().matmul_desc_set_attribute)
#define cublasLtMatrixLayoutCreate (::onnxd::cuda::libs::CublasLt().matrix_layout_create)
#define cublasLtMatrixLayoutDestroy (::onnxd::cuda::libs::CublasLt().matrix_layout_destroy)
#define cublasLtMatmulPreferenceCreate (::onnxd::cuda::libs::CublasLt().matmul_preference_create)
#define cublasLtMatmulPreferenceDestroy (::onnxd::cuda::libs::CublasLt().matmul_preference_destroy)
#define cublasLtMatmulPreferenceSetAttribute (::onnxd::cuda::libs::CublasLt().matmul_preference_set_attribute)
#define cublasLtMatmulAlgoGetHeuristic (::onnxd::cuda::libs::CublasLt().matmul_algo_get_heuristic)
#define cublasLtMatmul (::onnxd::cuda::libs::CublasLt().matmul)
#if defined(ONNXD_WITH_CUDNN)
#define cudnnCreate (::onnxd::cuda::libs::Cudnn().create)
#define cudnnDestroy (::onnxd::cuda::libs::Cudnn().destroy)
#define cudnnSetStream (::onnxd::cuda::libs::Cudnn().set_stream)
#define cudnnGetErrorString ::onnxd::cuda::libs::CudnnErrorString
#define cudnnAddTensor (::onnxd::cuda::libs::Cudnn().add_tensor)
#define cudnnConvolutionForward (::onnxd::cuda::libs::Cudnn().convolution_forward)
#define cudnnCreateConvolutionDescriptor (::onnxd::cuda::libs::Cudnn().create_convolution_descriptor)
#define cudnnCreateFilterDescriptor (::onnxd::cuda::libs::Cudnn().create_filter_descriptor)
#define cudnnCreatePoolingDescriptor (::onnxd::cuda::libs::Cudnn().create_pooling_descriptor)
#define cudnnCreateTensorDescriptor (::onnxd::cuda::libs::Cudnn().create_tensor_descriptor)
#define cudnnDestroyConvolutionDescriptor (::onnxd::cuda::libs::Cudnn().destroy_convolution_descriptor)
#define cudnnDestroyFilterDescriptor (::onnxd::cuda::libs::Cudnn().destroy_filter_descriptor)
#define cudnnDestroyPoolingDescriptor (::onnxd::cuda::libs::Cudnn().destroy_pooling_descriptor)
#define cudnnDestroyTensorDescriptor (::onnxd::cuda::libs::Cudnn().destroy_tensor_descriptor)
#define cudnnGetConvolutionForwardAlgorithm_v7 (::onnxd::cuda::libs::Cudnn().get_convolution_forward_algorithm_v7)
#define cudnnGetConvolutionForwardWorkspaceSize (::onnxd::cuda::libs::Cudnn().get_convolution_forward_workspace_size)
#define cudnnPoolingForward (::onnxd::cuda::libs::Cudnn().pooling_forward)
#define cudnnSetConvolution2dDescriptor (::onnxd::cuda::libs::Cudnn().set_convolution_2d_descriptor)
#define cudnnSetConvolutionGroupCount (::onnxd::cuda::libs::Cudnn().set_convolution_group_count)
#define cudnnSetConvolutionMathType (::onnxd::cuda::libs::Cudnn().set_convolution_math_type)
#define cudnnSetFilter4dDescriptor (::onnxd::cuda::libs::Cudnn().set_filter_4d_descriptor)
#define cudnnSetPooling2dDescriptor (::onnxd::cuda::libs::Cudnn().set_pooling_2d_descriptor)
#define cudnnSetTensor4dDescriptor (::onnxd::cuda::libs::Cudnn().set_tensor_4d_descriptor)
#define cudnnSetTensorNdDescriptor (::onnxd::cuda::libs::Cudnn().set_tensor_nd_descriptor)
#define cudnnSetFilterNdDescriptor (::onnxd::cuda::libs::Cudnn().set_filter_nd_descriptor)
#define cudnnSetConvolutionNdDescriptor (::onnxd::cuda::libs::Cudnn().set_convolution_nd_descriptor)
#define cudnnConvolutionBiasActivationForward (::onnxd::cuda::libs::Cudnn().convolution_bias_activation_forward)
#define cudnnCreateActivationDescriptor (::onnxd::cuda::libs::Cudnn().create_activation_descriptor)
#define cudnnSetActivationDescriptor (::onnxd::cuda::libs::Cudnn().set_activation_descriptor)
#define cudnnDestroyActivationDescriptor (::onnxd::cuda::libs::Cudnn().destroy_activation_descriptor)
#define cudnnFindConvolutionForwardAlgorithm (::onnxd::cuda::libs::Cudnn().find_convolution_forward_algorithm)
#endif
