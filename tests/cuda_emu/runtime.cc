// The CUDA runtime API, as far as onnxd uses it, for the CPU emulator: device memory is host memory
// (registered, so copies and library calls can check which side a pointer is on), every stream
// operation runs at once on the calling thread, and a stream being captured records its operations
// into a graph that cudaGraphLaunch replays. It refuses what CUDA refuses where onnxd could get it
// wrong: copies whose direction does not match the pointers, pageable host memory in a captured copy,
// synchronizing a stream under capture, more dynamic shared memory than the kernel was allowed.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "emu.h"
#include "internal.h"

struct CUgraph_st {
  std::vector<std::function<void()>> ops;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> ops;
};
struct CUstream_st {
  bool capturing = false;
  bool capture_invalidated = false;
  CUgraph_st* graph = nullptr;
};
struct CUevent_st {
  std::chrono::steady_clock::time_point when{};
  bool recorded = false;
};

namespace onnxd::cuda_emu {
namespace {

constexpr size_t kTotalMemory = 80ull << 30;

struct Registry {
  std::mutex mu;
  std::map<uintptr_t, size_t> device;  // start -> bytes
  std::map<uintptr_t, size_t> pinned;
  std::unordered_map<const void*, int> max_dynamic_smem;
  size_t device_bytes = 0;
};
Registry& Reg() {
  static Registry* r = new Registry();
  return *r;
}

thread_local cudaError_t t_last_error = cudaSuccess;
thread_local int t_device = 0;

// ONNXD_CUDA_EMU_DEVICES (default 1), read once: the session calls cudaSetDevice on every run.
int DeviceCount() {
  static const int n = [] {
    const char* env = std::getenv("ONNXD_CUDA_EMU_DEVICES");
    return std::clamp(env ? std::atoi(env) : 1, 0, 8);
  }();
  return n;
}

bool Inside(const std::map<uintptr_t, size_t>& m, const void* p, size_t bytes) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  auto it = m.upper_bound(a);
  if (it == m.begin()) return false;
  --it;
  return a >= it->first && a + bytes <= it->first + std::max<size_t>(it->second, 1);
}

bool IsPinned(const void* p, size_t bytes) {
  std::lock_guard<std::mutex> l(Reg().mu);
  return Inside(Reg().pinned, p, bytes);
}

bool IsDefault(cudaStream_t s) { return reinterpret_cast<uintptr_t>(s) <= 2; }  // 0, legacy, per-thread

cudaError_t Fail(cudaError_t e, const std::string& why) {
  std::fprintf(stderr, "cuda_emu: %s\n", why.c_str());
  t_last_error = e;
  return e;
}

void* AlignedAlloc(size_t bytes) {
  const size_t rounded = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
  return std::aligned_alloc(256, rounded);
}

cudaError_t Allocate(void** p, size_t bytes) {
  if (p == nullptr) return Fail(cudaErrorInvalidValue, "cudaMalloc: null result pointer");
  auto& r = Reg();
  {
    std::lock_guard<std::mutex> l(r.mu);
    if (r.device_bytes + bytes > kTotalMemory) return Fail(cudaErrorMemoryAllocation, "out of emulated device memory");
  }
  void* m = AlignedAlloc(bytes);
  if (m == nullptr) return Fail(cudaErrorMemoryAllocation, "cudaMalloc: host allocation failed");
  std::lock_guard<std::mutex> l(r.mu);
  r.device[reinterpret_cast<uintptr_t>(m)] = bytes;
  r.device_bytes += bytes;
  *p = m;
  return cudaSuccess;
}

cudaError_t Release(void* p, const char* what) {
  if (p == nullptr) return cudaSuccess;
  auto& r = Reg();
  {
    std::lock_guard<std::mutex> l(r.mu);
    auto it = r.device.find(reinterpret_cast<uintptr_t>(p));
    if (it == r.device.end()) return Fail(cudaErrorInvalidValue, std::string(what) + ": not a device allocation");
    r.device_bytes -= it->second;
    r.device.erase(it);
  }
  std::free(p);
  return cudaSuccess;
}

// The direction `kind` claims against where the pointers are.
cudaError_t CheckCopy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, const char* what) {
  if (bytes == 0 || kind == cudaMemcpyDefault) return cudaSuccess;
  const bool dst_dev = IsDeviceMemory(dst, bytes), src_dev = IsDeviceMemory(src, bytes);
  const bool want_dst = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool want_src = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind == cudaMemcpyHostToHost) {
    if (dst_dev || src_dev) return Fail(cudaErrorInvalidValue, std::string(what) + ": HostToHost with device memory");
    return cudaSuccess;
  }
  if (dst_dev != want_dst || src_dev != want_src) {
    return Fail(cudaErrorInvalidValue, std::string(what) + ": the direction does not match the pointers (" +
                                           std::to_string(bytes) + " bytes, dst " +
                                           (dst_dev ? "device" : "host") + ", src " + (src_dev ? "device" : "host") +
                                           ", kind " + std::to_string(static_cast<int>(kind)) + ")");
  }
  return cudaSuccess;
}

}  // namespace

void SetLastError(cudaError_t e) { t_last_error = e; }

size_t MaxDynamicSharedMemory(const void* kernel) {
  std::lock_guard<std::mutex> l(Reg().mu);
  auto it = Reg().max_dynamic_smem.find(kernel);
  return it == Reg().max_dynamic_smem.end() ? 0 : static_cast<size_t>(it->second);
}

bool IsDeviceMemory(const void* p, size_t bytes) {
  std::lock_guard<std::mutex> l(Reg().mu);
  return Inside(Reg().device, p, bytes);
}

void Enqueue(cudaStream_t stream, std::function<void()> op) {
  if (!IsDefault(stream) && stream->capturing) {
    stream->graph->ops.push_back(std::move(op));
    return;
  }
  op();
}

}  // namespace onnxd::cuda_emu

using onnxd::cuda_emu::Enqueue;
using onnxd::cuda_emu::Fail;
using onnxd::cuda_emu::IsDefault;

extern "C" {

cudaError_t cudaGetLastError() {
  const cudaError_t e = onnxd::cuda_emu::t_last_error;
  onnxd::cuda_emu::t_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return onnxd::cuda_emu::t_last_error; }

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    default: return "cudaErrorUnknown";
  }
}
const char* cudaGetErrorString(cudaError_t e) { return cudaGetErrorName(e); }

cudaError_t cudaGetDeviceCount(int* count) {
  *count = onnxd::cuda_emu::DeviceCount();
  return *count > 0 ? cudaSuccess : cudaErrorNoDevice;
}
cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= onnxd::cuda_emu::DeviceCount()) return Fail(cudaErrorInvalidDevice, "cudaSetDevice: no such device");
  onnxd::cuda_emu::t_device = device;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = onnxd::cuda_emu::t_device;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
cudaError_t cudaDriverGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device < 0 || device >= onnxd::cuda_emu::DeviceCount()) return Fail(cudaErrorInvalidDevice, "cudaGetDeviceProperties: no such device");
  std::memset(p, 0, sizeof *p);
  std::snprintf(p->name, sizeof p->name, "onnxd CUDA emulator (sm_90), device %d", device);
  p->totalGlobalMem = onnxd::cuda_emu::kTotalMemory;
  p->sharedMemPerBlock = onnxd::cuda_emu::kDefaultSharedMemoryPerBlock;
  p->sharedMemPerBlockOptin = onnxd::cuda_emu::kSharedMemoryPerBlockOptin;
  p->sharedMemPerMultiprocessor = 228 * 1024;
  p->regsPerBlock = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = onnxd::cuda_emu::kMaxThreadsPerBlock;
  p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647;
  p->maxGridSize[1] = p->maxGridSize[2] = 65535;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 132;
  p->maxThreadsPerMultiProcessor = 2048;
  p->pciBusID = device + 1;
  p->l2CacheSize = 50 << 20;
  p->memoryBusWidth = 5120;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device < 0 || device >= onnxd::cuda_emu::DeviceCount()) return Fail(cudaErrorInvalidDevice, "cudaDeviceGetAttribute: no such device");
  switch (attr) {
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(onnxd::cuda_emu::kSharedMemoryPerBlockOptin); break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(onnxd::cuda_emu::kDefaultSharedMemoryPerBlock); break;
    case cudaDevAttrMultiProcessorCount: *value = 132; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMaxThreadsPerBlock: *value = onnxd::cuda_emu::kMaxThreadsPerBlock; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMemoryPoolsSupported: *value = 1; break;
    default: return Fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: attribute " + std::to_string(attr) + " not emulated");
  }
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaSuccess;
  if (value < 0 || static_cast<size_t>(value) > onnxd::cuda_emu::kSharedMemoryPerBlockOptin)
    return Fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: " + std::to_string(value) + " bytes of shared memory");
  std::lock_guard<std::mutex> l(onnxd::cuda_emu::Reg().mu);
  onnxd::cuda_emu::Reg().max_dynamic_smem[func] = value;
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  std::lock_guard<std::mutex> l(onnxd::cuda_emu::Reg().mu);
  *total = onnxd::cuda_emu::kTotalMemory;
  *free_bytes = onnxd::cuda_emu::kTotalMemory - onnxd::cuda_emu::Reg().device_bytes;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, size_t bytes) { return onnxd::cuda_emu::Allocate(p, bytes); }
cudaError_t cudaFree(void* p) { return onnxd::cuda_emu::Release(p, "cudaFree"); }
cudaError_t cudaMallocAsync(void** p, size_t bytes, cudaStream_t) { return onnxd::cuda_emu::Allocate(p, bytes); }
cudaError_t cudaFreeAsync(void* p, cudaStream_t) { return onnxd::cuda_emu::Release(p, "cudaFreeAsync"); }

cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned int) {
  void* m = onnxd::cuda_emu::AlignedAlloc(bytes);
  if (m == nullptr) return Fail(cudaErrorMemoryAllocation, "cudaHostAlloc failed");
  std::lock_guard<std::mutex> l(onnxd::cuda_emu::Reg().mu);
  onnxd::cuda_emu::Reg().pinned[reinterpret_cast<uintptr_t>(m)] = bytes;
  *p = m;
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** p, size_t bytes) { return cudaHostAlloc(p, bytes, 0); }
cudaError_t cudaFreeHost(void* p) {
  if (p == nullptr) return cudaSuccess;
  {
    std::lock_guard<std::mutex> l(onnxd::cuda_emu::Reg().mu);
    if (onnxd::cuda_emu::Reg().pinned.erase(reinterpret_cast<uintptr_t>(p)) == 0)
      return Fail(cudaErrorInvalidValue, "cudaFreeHost: not a pinned allocation");
  }
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (cudaError_t e = onnxd::cuda_emu::CheckCopy(dst, src, bytes, kind, "cudaMemcpy"); e != cudaSuccess) return e;
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
  if (cudaError_t e = onnxd::cuda_emu::CheckCopy(dst, src, bytes, kind, "cudaMemcpyAsync"); e != cudaSuccess) return e;
  if (!IsDefault(s) && s->capturing && bytes > 0) {
    // A captured copy may not touch pageable host memory.
    const bool dst_host = !onnxd::cuda_emu::IsDeviceMemory(dst, bytes);
    const bool src_host = !onnxd::cuda_emu::IsDeviceMemory(src, bytes);
    if ((dst_host && !onnxd::cuda_emu::IsPinned(dst, bytes)) || (src_host && !onnxd::cuda_emu::IsPinned(src, bytes))) {
      s->capture_invalidated = true;
      return Fail(cudaErrorStreamCaptureUnsupported, "cudaMemcpyAsync: pageable host memory in a captured copy");
    }
  }
  if (bytes) Enqueue(s, [dst, src, bytes] { std::memmove(dst, src, bytes); });
  return cudaSuccess;
}

cudaError_t cudaMemset(void* p, int value, size_t bytes) {
  if (bytes && !onnxd::cuda_emu::IsDeviceMemory(p, bytes)) return Fail(cudaErrorInvalidValue, "cudaMemset: not device memory");
  if (bytes) std::memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t s) {
  if (bytes && !onnxd::cuda_emu::IsDeviceMemory(p, bytes))
    return Fail(cudaErrorInvalidValue, "cudaMemsetAsync: not device memory (" + std::to_string(bytes) + " bytes)");
  if (bytes) Enqueue(s, [p, value, bytes] { std::memset(p, value, bytes); });
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int) {
  *s = new CUstream_st();
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, 0); }
cudaError_t cudaStreamCreateWithPriority(cudaStream_t* s, unsigned int flags, int) { return cudaStreamCreateWithFlags(s, flags); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (IsDefault(s)) return Fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: the default stream");
  if (s->capturing) delete s->graph;
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  if (!IsDefault(s) && s->capturing) {
    s->capture_invalidated = true;
    return Fail(cudaErrorStreamCaptureUnsupported, "cudaStreamSynchronize on a stream under capture");
  }
  return cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned int) { return cudaSuccess; }
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
  if (IsDefault(s)) return Fail(cudaErrorStreamCaptureUnsupported, "cudaStreamBeginCapture on the default stream");
  if (s->capturing) return Fail(cudaErrorIllegalState, "cudaStreamBeginCapture: already capturing");
  s->capturing = true;
  s->capture_invalidated = false;
  s->graph = new CUgraph_st();
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph) {
  if (IsDefault(s) || !s->capturing) return Fail(cudaErrorIllegalState, "cudaStreamEndCapture: not capturing");
  s->capturing = false;
  if (s->capture_invalidated) {
    delete s->graph;
    s->graph = nullptr;
    *graph = nullptr;
    return Fail(cudaErrorStreamCaptureInvalidated, "cudaStreamEndCapture: the capture was invalidated");
  }
  *graph = s->graph;
  s->graph = nullptr;
  return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* status) {
  *status = IsDefault(s) || !s->capturing ? cudaStreamCaptureStatusNone
            : s->capture_invalidated      ? cudaStreamCaptureStatusInvalidated
                                          : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (graph == nullptr) return Fail(cudaErrorInvalidValue, "cudaGraphInstantiate: null graph");
  *exec = new CUgraphExec_st{graph->ops};
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s) {
  if (exec == nullptr) return Fail(cudaErrorInvalidValue, "cudaGraphLaunch: null graph");
  Enqueue(s, [exec] {
    for (auto& op : exec->ops) op();
  });
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete g;
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
  delete e;
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new CUevent_st();
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int) { return cudaEventCreate(e); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  Enqueue(s, [e] {
    e->when = std::chrono::steady_clock::now();
    e->recorded = true;
  });
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventQuery(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!start->recorded || !end->recorded) return Fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: event not recorded");
  *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
  return cudaSuccess;
}

}  // extern "C"
