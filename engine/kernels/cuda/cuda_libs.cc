// Deliberately before cuda_libs.h's macros: the table is filled by symbol name.
#include <cublasLt.h>
#include <cublas_v2.h>
#if defined(ONNXD_WITH_CUDNN)
#include <cudnn.h>
#endif
#include <dlfcn.h>
#if defined(ONNXD_CUDA_EMU)
#include "libs_emu.h"  // tests/cuda_emu: the emulated libraries fill the tables instead of dlopen
#endif

#include <string>

namespace onnxd::cuda::libs {
namespace {

// Resolves `name` into `fn`; false (and `error` set) when the library lacks it.
template <typename Fn>
bool Bind(void* lib, const char* name, Fn* fn, std::string* error) {
  *fn = reinterpret_cast<Fn>(dlsym(lib, name));
  if (*fn == nullptr && error->empty()) *error = std::string("symbol ") + name + " missing";
  return *fn != nullptr;
}

void* Open(const std::string& soname, std::string* error) {
  void* lib = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    *error = soname + " could not be loaded: " + (why ? why : "unknown error");
  }
  return lib;
}

}  // namespace
}  // namespace onnxd::cuda::libs

#include "kernels/cuda/cuda_libs.h"

namespace onnxd::cuda::libs {

const CublasApi& Cublas() {
  static const CublasApi api = [] {
    CublasApi a;
#if defined(ONNXD_CUDA_EMU)
    ::onnxd::cuda_emu::FillCublas(a);
    return a;
#endif
    const std::string soname = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
    void* lib = Open(soname, &a.error);
    if (lib == nullptr) return a;
    bool ok = Bind(lib, "cublasCreate_v2", &a.create, &a.error);
    ok &= Bind(lib, "cublasDestroy_v2", &a.destroy, &a.error);
    ok &= Bind(lib, "cublasSetStream_v2", &a.set_stream, &a.error);
    ok &= Bind(lib, "cublasGetStatusName", &a.status_name, &a.error);
    ok &= Bind(lib, "cublasGemmEx", &a.gemm_ex, &a.error);
    ok &= Bind(lib, "cublasGemmStridedBatchedEx", &a.gemm_strided_batched_ex, &a.error);
    ok &= Bind(lib, "cublasGemmBatchedEx", &a.gemm_batched_ex, &a.error);
    if (!ok) a.error = soname + ": " + a.error;
    a.loaded = ok;
    return a;
  }();
  return api;
}

const CublasLtApi& CublasLt() {
  static const CublasLtApi api = [] {
    CublasLtApi a;
#if defined(ONNXD_CUDA_EMU)
    ::onnxd::cuda_emu::FillCublasLt(a);
    return a;
#endif
    const std::string soname = "libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR);
    void* lib = Open(soname, &a.error);
    if (lib == nullptr) return a;
    std::string& e = a.error;
    bool ok = Bind(lib, "cublasLtCreate", &a.create, &e);
    ok &= Bind(lib, "cublasLtDestroy", &a.destroy, &e);
    ok &= Bind(lib, "cublasLtMatmulDescCreate", &a.matmul_desc_create, &e);
    ok &= Bind(lib, "cublasLtMatmulDescDestroy", &a.matmul_desc_destroy, &e);
    ok &= Bind(lib, "cublasLtMatmulDescSetAttribute", &a.matmul_desc_set_attribute, &e);
    ok &= Bind(lib, "cublasLtMatrixLayoutCreate", &a.matrix_layout_create, &e);
    ok &= Bind(lib, "cublasLtMatrixLayoutDestroy", &a.matrix_layout_destroy, &e);
    ok &= Bind(lib, "cublasLtMatmulPreferenceCreate", &a.matmul_preference_create, &e);
    ok &= Bind(lib, "cublasLtMatmulPreferenceDestroy", &a.matmul_preference_destroy, &e);
    ok &= Bind(lib, "cublasLtMatmulPreferenceSetAttribute", &a.matmul_preference_set_attribute, &e);
    ok &= Bind(lib, "cublasLtMatmulAlgoGetHeuristic", &a.matmul_algo_get_heuristic, &e);
    ok &= Bind(lib, "cublasLtMatmul", &a.matmul, &e);
    if (!ok) a.error = soname + ": " + a.error;
    a.loaded = ok;
    return a;
  }();
  return api;
}

const char* CublasStatusName(cublasStatus_t st) {
  const CublasApi& a = Cublas();
  return a.status_name != nullptr ? a.status_name(st) : "cuBLAS status (library not loaded)";
}

#if defined(ONNXD_WITH_CUDNN)
const CudnnApi& Cudnn() {
  static const CudnnApi api = [] {
    CudnnApi a;
#if defined(ONNXD_CUDA_EMU)
    ::onnxd::cuda_emu::FillCudnn(a);
    return a;
#endif
    const std::string soname = "libcudnn.so." + std::to_string(CUDNN_MAJOR);
    void* lib = Open(soname, &a.error);
    if (lib == nullptr) return a;
    std::string& e = a.error;
    bool ok = Bind(lib, "cudnnCreate", &a.create, &e);
    ok &= Bind(lib, "cudnnDestroy", &a.destroy, &e);
    ok &= Bind(lib, "cudnnSetStream", &a.set_stream, &e);
    ok &= Bind(lib, "cudnnGetErrorString", &a.error_string, &e);
    ok &= Bind(lib, "cudnnAddTensor", &a.add_tensor, &e);
    ok &= Bind(lib, "cudnnConvolutionForward", &a.convolution_forward, &e);
    ok &= Bind(lib, "cudnnCreateConvolutionDescriptor", &a.create_convolution_descriptor, &e);
    ok &= Bind(lib, "cudnnCreateFilterDescriptor", &a.create_filter_descriptor, &e);
    ok &= Bind(lib, "cudnnCreatePoolingDescriptor", &a.create_pooling_descriptor, &e);
    ok &= Bind(lib, "cudnnCreateTensorDescriptor", &a.create_tensor_descriptor, &e);
    ok &= Bind(lib, "cudnnDestroyConvolutionDescriptor", &a.destroy_convolution_descriptor, &e);
    ok &= Bind(lib, "cudnnDestroyFilterDescriptor", &a.destroy_filter_descriptor, &e);
    ok &= Bind(lib, "cudnnDestroyPoolingDescriptor", &a.destroy_pooling_descriptor, &e);
    ok &= Bind(lib, "cudnnDestroyTensorDescriptor", &a.destroy_tensor_descriptor, &e);
    ok &= Bind(lib, "cudnnGetConvolutionForwardAlgorithm_v7", &a.get_convolution_forward_algorithm_v7, &e);
    ok &= Bind(lib, "cudnnGetConvolutionForwardWorkspaceSize", &a.get_convolution_forward_workspace_size, &e);
    ok &= Bind(lib, "cudnnPoolingForward", &a.pooling_forward, &e);
    ok &= Bind(lib, "cudnnSetConvolution2dDescriptor", &a.set_convolution_2d_descriptor, &e);
    ok &= Bind(lib, "cudnnSetConvolutionGroupCount", &a.set_convolution_group_count, &e);
    ok &= Bind(lib, "cudnnSetConvolutionMathType", &a.set_convolution_math_type, &e);
    ok &= Bind(lib, "cudnnSetFilter4dDescriptor", &a.set_filter_4d_descriptor, &e);
    ok &= Bind(lib, "cudnnSetPooling2dDescriptor", &a.set_pooling_2d_descriptor, &e);
    ok &= Bind(lib, "cudnnSetTensor4dDescriptor", &a.set_tensor_4d_descriptor, &e);
    if (!ok) a.error = soname + ": " + a.error;
    std::string optional_error;  // the fused path is optional: without it convolutions run unfused
    bool fused = Bind(lib, "cudnnConvolutionBiasActivationForward", &a.convolution_bias_activation_forward,
                      &optional_error);
    fused &= Bind(lib, "cudnnCreateActivationDescriptor", &a.create_activation_descriptor, &optional_error);
    fused &= Bind(lib, "cudnnSetActivationDescriptor", &a.set_activation_descriptor, &optional_error);
    fused &= Bind(lib, "cudnnDestroyActivationDescriptor", &a.destroy_activation_descriptor, &optional_error);
    if (!fused) a.convolution_bias_activation_forward = nullptr;
    if (!Bind(lib, "cudnnFindConvolutionForwardAlgorithm", &a.find_convolution_forward_algorithm, &optional_error))
      a.find_convolution_forward_algorithm = nullptr;
    bool nd = Bind(lib, "cudnnSetTensorNdDescriptor", &a.set_tensor_nd_descriptor, &optional_error);
    nd &= Bind(lib, "cudnnSetFilterNdDescriptor", &a.set_filter_nd_descriptor, &optional_error);
    nd &= Bind(lib, "cudnnSetConvolutionNdDescriptor", &a.set_convolution_nd_descriptor, &optional_error);
    if (!nd) a.set_convolution_nd_descriptor = nullptr;
    a.loaded = ok;
    return a;
  }();
  return api;
}

const char* CudnnErrorString(cudnnStatus_t st) {
  const CudnnApi& a = Cudnn();
  return a.error_string != nullptr ? a.error_string(st) : "cuDNN status (library not loaded)";
}
#endif

}  // namespace onnxd::cuda::libs
