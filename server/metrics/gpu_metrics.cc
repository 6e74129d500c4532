#include "metrics/gpu_metrics.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace onnxd::server {
namespace {

// The few NVML declarations used here, as the NVML API reference gives them (nvml.h is not
// needed at build time). nvmlReturn_t 0 is NVML_SUCCESS.
using NvmlReturn = int;
using NvmlDevice = void*;
struct NvmlUtilization {
  unsigned int gpu;     // percent of time a kernel ran over the last sample period
  unsigned int memory;  // percent of time device memory was read or written
};
struct NvmlMemory {
  unsigned long long total;  // bytes
  unsigned long long free;
  unsigned long long used;
};
constexpr NvmlReturn kNvmlSuccess = 0;
constexpr unsigned int kUuidBufferSize = 96;  // NVML_DEVICE_UUID_V2_BUFFER_SIZE (80) with room

}  // namespace

struct NvmlGpuMetrics::Api {
  NvmlReturn (*init)() = nullptr;
  NvmlReturn (*shutdown)() = nullptr;
  NvmlReturn (*device_count)(unsigned int*) = nullptr;
  NvmlReturn (*device_by_index)(unsigned int, NvmlDevice*) = nullptr;
  NvmlReturn (*uuid)(NvmlDevice, char*, unsigned int) = nullptr;
  NvmlReturn (*utilization)(NvmlDevice, NvmlUtilization*) = nullptr;
  NvmlReturn (*memory)(NvmlDevice, NvmlMemory*) = nullptr;
  NvmlReturn (*power_usage)(NvmlDevice, unsigned int*) = nullptr;  // milliwatts; optional
  NvmlReturn (*power_limit)(NvmlDevice, unsigned int*) = nullptr;  // milliwatts; optional
  bool initialised = false;
};

std::unique_ptr<NvmlGpuMetrics> NvmlGpuMetrics::Load(std::string* why, const char* library,
                                                    const std::vector<std::string>* visible) {
  auto say = [&](std::string s) {
    if (why) *why = std::move(s);
    return nullptr;
  };
  void* lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (!lib) return say(std::string(library) + " not found (no NVIDIA driver)");
  std::unique_ptr<NvmlGpuMetrics> m(new NvmlGpuMetrics());
  m->lib_ = lib;
  m->api_ = std::make_unique<Api>();
  Api& a = *m->api_;
  auto sym = [&](const char* name, auto* fn) {
    *fn = reinterpret_cast<std::remove_pointer_t<decltype(fn)>>(dlsym(lib, name));
    return *fn != nullptr;
  };
  if (!sym("nvmlInit_v2", &a.init) || !sym("nvmlShutdown", &a.shutdown) ||
      !sym("nvmlDeviceGetCount_v2", &a.device_count) || !sym("nvmlDeviceGetHandleByIndex_v2", &a.device_by_index) ||
      !sym("nvmlDeviceGetUUID", &a.uuid) || !sym("nvmlDeviceGetUtilizationRates", &a.utilization) ||
      !sym("nvmlDeviceGetMemoryInfo", &a.memory))
    return say(std::string(library) + " lacks a needed NVML function");
  sym("nvmlDeviceGetPowerUsage", &a.power_usage);
  sym("nvmlDeviceGetEnforcedPowerLimit", &a.power_limit);
  if (a.init() != kNvmlSuccess) return say("nvmlInit failed");
  a.initialised = true;
  unsigned int n = 0;
  if (a.device_count(&n) != kNvmlSuccess || n == 0) return say("NVML sees no GPU");
  for (unsigned int i = 0; i < n; ++i) {
    Device d;
    if (a.device_by_index(i, &d.handle) != kNvmlSuccess) continue;
    char uuid[kUuidBufferSize] = {};
    if (a.uuid(d.handle, uuid, sizeof(uuid)) != kNvmlSuccess) continue;
    d.uuid = uuid;
    m->devices_.push_back(std::move(d));
  }
  if (m->devices_.empty()) return say("NVML could not identify any GPU");
  if (visible != nullptr) {
    std::vector<Device> kept;
    for (auto& d : m->devices_)
      if (std::find(visible->begin(), visible->end(), d.uuid) != visible->end()) kept.push_back(std::move(d));
    if (!kept.empty()) m->devices_ = std::move(kept);
  }
  return m;
}

NvmlGpuMetrics::~NvmlGpuMetrics() {
  if (api_ && api_->initialised) api_->shutdown();
  if (lib_) dlclose(lib_);
}

void NvmlGpuMetrics::Collect(ExpositionWriter& w) {
  std::lock_guard<std::mutex> lock(mu_);
  const Api& a = *api_;
  struct Sample {
    bool util_ok = false, mem_ok = false, power_ok = false, limit_ok = false;
    NvmlUtilization util{};
    NvmlMemory mem{};
    unsigned int power_mw = 0, limit_mw = 0;
  };
  std::vector<Sample> s(devices_.size());
  for (size_t i = 0; i < devices_.size(); ++i) {
    NvmlDevice h = devices_[i].handle;
    s[i].util_ok = a.utilization(h, &s[i].util) == kNvmlSuccess;
    s[i].mem_ok = a.memory(h, &s[i].mem) == kNvmlSuccess;
    s[i].power_ok = a.power_usage && a.power_usage(h, &s[i].power_mw) == kNvmlSuccess;
    s[i].limit_ok = a.power_limit && a.power_limit(h, &s[i].limit_mw) == kNvmlSuccess;
  }
  auto family = [&](const char* name, const char* help, auto ok, auto value) {
    bool any = false;
    for (const Sample& x : s) any |= ok(x);
    if (!any) return;
    w.Family(name, "gauge", help);
    for (size_t i = 0; i < s.size(); ++i)
      if (ok(s[i])) w.Sample(name, {{"gpu_uuid", devices_[i].uuid}}, value(s[i]));
  };
  family("nv_gpu_utilization", "GPU utilization rate [0.0 - 1.0)", [](const Sample& x) { return x.util_ok; },
         [](const Sample& x) { return x.util.gpu / 100.0; });
  family("nv_gpu_memory_total_bytes", "GPU total memory, in bytes", [](const Sample& x) { return x.mem_ok; },
         [](const Sample& x) { return static_cast<uint64_t>(x.mem.total); });
  family("nv_gpu_memory_used_bytes", "GPU used memory, in bytes", [](const Sample& x) { return x.mem_ok; },
         [](const Sample& x) { return static_cast<uint64_t>(x.mem.used); });
  family("nv_gpu_power_usage", "GPU power usage in watts", [](const Sample& x) { return x.power_ok; },
         [](const Sample& x) { return x.power_mw / 1000.0; });
  family("nv_gpu_power_limit", "GPU power management limit in watts", [](const Sample& x) { return x.limit_ok; },
         [](const Sample& x) { return x.limit_mw / 1000.0; });
}

}  // namespace onnxd::server
