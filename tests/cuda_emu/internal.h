// What the emulator's parts share with each other (not seen by the code under test).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace onnxd::cuda_emu {

// The sticky error cudaGetLastError / cudaPeekAtLastError report (per host thread, as CUDA's is).
void SetLastError(cudaError_t e);
// cudaFuncAttributeMaxDynamicSharedMemorySize as set for `kernel` (0 when never set).
size_t MaxDynamicSharedMemory(const void* kernel);
// The emulated device's limits (cudaGetDeviceProperties reports the same).
constexpr size_t kDefaultSharedMemoryPerBlock = 48 * 1024;
constexpr size_t kSharedMemoryPerBlockOptin = 227 * 1024;
constexpr int kMaxThreadsPerBlock = 1024;

}  // namespace onnxd::cuda_emu
