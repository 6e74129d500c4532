// The emulated cuBLAS / cuBLASLt / cuDNN entry points: in the emulated build (ONNXD_CUDA_EMU),
// cuda_libs.cc fills its library tables from these instead of dlopen. Each Fill function sets
// every member it can and `loaded = true`.
#pragma once

namespace onnxd::cuda::libs {
struct CublasApi;
struct CublasLtApi;
struct CudnnApi;
}  // namespace onnxd::cuda::libs

namespace onnxd::cuda_emu {

void FillCublas(onnxd::cuda::libs::CublasApi& a);      // blas_emu.cc
void FillCublasLt(onnxd::cuda::libs::CublasLtApi& a);  // blas_emu.cc
void FillCudnn(onnxd::cuda::libs::CudnnApi& a);        // dnn_emu.cc

}  // namespace onnxd::cuda_emu
