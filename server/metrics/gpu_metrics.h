// GPU gauges through NVML, as Triton names them (nv_gpu_utilization, nv_gpu_memory_total_bytes,
// nv_gpu_memory_used_bytes, nv_gpu_power_usage, nv_gpu_power_limit; label gpu_uuid).
//
// NVML is loaded at run time with dlopen("libnvidia-ml.so.1"): onnxd neither links against it nor
// needs the CUDA toolkit to build, and on a machine without the NVIDIA driver the library is
// missing, Load returns null and no nv_gpu_* family is written at all.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "metrics/registry.h"

namespace onnxd::server {

class NvmlGpuMetrics {
 public:
  // Null when libnvidia-ml.so.1 cannot be loaded, lacks a needed symbol, fails to initialise, or
  // sees no GPU; `why` (if given) says which. `library` is for tests (a fake NVML).
  // `visible`: the UUIDs of the GPUs the process may use (CUDA_VISIBLE_DEVICES narrows them; NVML
  // sees every GPU of the machine), to report those only, as Triton does; when none of NVML's
  // GPUs is among them (MIG instance UUIDs, say) every GPU is reported.
  static std::unique_ptr<NvmlGpuMetrics> Load(std::string* why = nullptr, const char* library = "libnvidia-ml.so.1",
                                              const std::vector<std::string>* visible = nullptr);
  ~NvmlGpuMetrics();
  NvmlGpuMetrics(const NvmlGpuMetrics&) = delete;
  NvmlGpuMetrics& operator=(const NvmlGpuMetrics&) = delete;

  // Samples every GPU now and writes the gauges. A GPU whose query fails is left out of that gauge.
  void Collect(ExpositionWriter& w);
  size_t gpu_count() const { return devices_.size(); }

 private:
  struct Api;
  NvmlGpuMetrics() = default;
  void* lib_ = nullptr;  // dlopen handle, closed (after nvmlShutdown) in the destructor
  std::unique_ptr<Api> api_;
  struct Device {
    void* handle = nullptr;  // nvmlDevice_t
    std::string uuid;
  };
  std::vector<Device> devices_;
  std::mutex mu_;  // one scrape samples NVML at a time
};

}  // namespace onnxd::server
