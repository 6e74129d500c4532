// A stand-in for libnvidia-ml.so.1 (the few functions NvmlGpuMetrics loads), so that the NVML path
// is tested on machines without a driver. Two GPUs; the second cannot report utilisation or power.
#include <cstring>

namespace {
int g_devices[2];
}

extern "C" {
int nvmlInit_v2() { return 0; }
int nvmlShutdown() { return 0; }
int nvmlDeviceGetCount_v2(unsigned int* n) {
  *n = 2;
  return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void** d) {
  if (i >= 2) return 2;  // NVML_ERROR_INVALID_ARGUMENT
  *d = &g_devices[i];
  return 0;
}
int nvmlDeviceGetUUID(void* d, char* out, unsigned int size) {
  const char* uuid = d == &g_devices[0] ? "GPU-0000-fake" : "GPU-0001-fake";
  if (std::strlen(uuid) + 1 > size) return 7;  // NVML_ERROR_INSUFFICIENT_SIZE
  std::strcpy(out, uuid);
  return 0;
}
struct Utilization {
  unsigned int gpu, memory;
};
int nvmlDeviceGetUtilizationRates(void* d, Utilization* u) {
  if (d != &g_devices[0]) return 3;  // NVML_ERROR_NOT_SUPPORTED
  u->gpu = 37;
  u->memory = 5;
  return 0;
}
struct Memory {
  unsigned long long total, free, used;
};
int nvmlDeviceGetMemoryInfo(void* d, Memory* m) {
  m->total = 80ull << 30;
  m->used = d == &g_devices[0] ? 3ull << 30 : 1ull << 20;
  m->free = m->total - m->used;
  return 0;
}
int nvmlDeviceGetPowerUsage(void* d, unsigned int* mw) {
  if (d != &g_devices[0]) return 3;
  *mw = 123456;
  return 0;
}
int nvmlDeviceGetEnforcedPowerLimit(void* d, unsigned int* mw) {
  if (d != &g_devices[0]) return 3;
  *mw = 700000;
  return 0;
}
}
