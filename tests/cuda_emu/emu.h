// onnxd's CUDA emulator: runs the CUDA backend (our kernels, the CUDA session, the cuBLAS/cuBLASLt
// and cuDNN calls) on the CPU, so the GPU tests and the GPU node suite execute on a machine without
// a GPU (configure with -DONNXD_CUDA_EMU=ON; see tests/cuda_emu/README.md).
//
// This header is the seam between the emulated runtime (runtime.cc: streams, memory, graphs) and the
// emulated libraries (blas_emu.cc, dnn_emu.cc).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <functional>

namespace onnxd::cuda_emu {

// Runs `op` now, on the calling thread, unless `stream` is being captured into a CUDA graph: then
// `op` is recorded and runs each time the instantiated graph is launched. Every emulated library
// call that reads or writes device memory goes through this (as its real counterpart is ordered on
// its stream).
void Enqueue(cudaStream_t stream, std::function<void()> op);

// True when [p, p + bytes) lies inside one live device allocation (cudaMalloc / cudaMallocAsync).
// The emulated libraries refuse host pointers where the real ones need device memory.
bool IsDeviceMemory(const void* p, size_t bytes);

}  // namespace onnxd::cuda_emu
