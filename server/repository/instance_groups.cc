#include "repository/instance_groups.h"

#include <algorithm>
#include <cstdlib>
#include <map>

namespace onnxd::server {
namespace {

using Group = inference::ModelInstanceGroup;

// "instance_group 'name'" or "instance_group 2" (its index) when it has no name.
std::string GroupLabel(const Group& g, int index) {
  return g.name().empty() ? "instance_group " + std::to_string(index) : "instance_group '" + g.name() + "'";
}

std::string SeenGpus(const GpuInventory& gpus) {
  std::string s = "this process sees " + std::to_string(gpus.count) +
                  (gpus.count == 1 ? " GPU (ordinal 0" : " GPUs (ordinals 0-" + std::to_string(gpus.count - 1));
  if (!gpus.cuda_visible_devices.empty()) s += ", after CUDA_VISIBLE_DEVICES=" + gpus.cuda_visible_devices;
  return s + ")";
}

}  // namespace

GpuInventory GpuInventory::Probe() {
  static const GpuInventory inv = [] {
    GpuInventory i;
    i.count = Engine::CudaDeviceCount(&i.why_none);
    if (const char* v = std::getenv("CUDA_VISIBLE_DEVICES"); v != nullptr) i.cuda_visible_devices = v;
    return i;
  }();
  return inv;
}

bool NeedsGpuProbe(const inference::ModelConfig& config) {
  if (config.instance_group_size() == 0) return true;
  for (const Group& g : config.instance_group())
    if (g.kind() == Group::KIND_GPU || g.kind() == Group::KIND_AUTO) return true;
  return false;
}

bool AsksForGpu(const inference::ModelConfig& config) {
  for (const Group& g : config.instance_group())
    if (g.kind() == Group::KIND_GPU) return true;
  return false;
}

bool WantsGpu(const inference::ModelConfig& config, const GpuInventory& gpus) {
  if (AsksForGpu(config)) return true;
  bool automatic = config.instance_group_size() == 0, cpu = false;
  for (const Group& g : config.instance_group()) {
    automatic |= g.kind() == Group::KIND_AUTO;
    cpu |= g.kind() == Group::KIND_CPU;
  }
  // KIND_AUTO beside a KIND_CPU group stays on the CPU (one model's instances are on one kind).
  return automatic && !cpu && gpus.count > 0;
}

Status CompleteInstanceGroups(Device target, const GpuInventory& gpus, inference::ModelConfig* config) {
  const bool gpu_model = target == Device::kCuda && gpus.count > 0;
  if (config->instance_group_size() == 0) {
    // Triton's default: one instance on each GPU when there are GPUs, else CPU instances.
    auto* g = config->add_instance_group();
    g->set_name(config->name());
    g->set_kind(gpu_model ? Group::KIND_GPU : Group::KIND_CPU);
    g->set_count(gpu_model ? 1 : 2);
  }
  for (int i = 0; i < config->instance_group_size(); ++i) {
    Group& g = *config->mutable_instance_group(i);
    if (g.kind() == Group::KIND_AUTO) g.set_kind(gpu_model ? Group::KIND_GPU : Group::KIND_CPU);
    if (g.count() <= 0) g.set_count(1);
    if (g.kind() == Group::KIND_MODEL) return InvalidArgument("instance_group kind KIND_MODEL is not supported");
    if (g.count() > 64) return InvalidArgument("instance_group count " + std::to_string(g.count()) + " is above 64");
    if (g.kind() == Group::KIND_GPU) {
      if (gpus.count <= 0)
        return Unavailable("instance_group asks for KIND_GPU, but no GPU is usable: " + gpus.why_none);
      if (target != Device::kCuda)
        return Internal("instance_group asks for KIND_GPU, but the model was compiled for the CPU");
      for (int gpu : g.gpus())
        if (gpu < 0 || gpu >= gpus.count)
          return InvalidArgument(GroupLabel(g, i) + " lists GPU " + std::to_string(gpu) + ", which does not exist: " +
                                 SeenGpus(gpus));
      if (g.gpus_size() == 0)
        for (int gpu = 0; gpu < gpus.count; ++gpu) g.add_gpus(gpu);
    } else {
      if (target == Device::kCuda)
        return Unimplemented("instance groups of KIND_GPU and KIND_CPU in one model are not supported yet");
      if (g.gpus_size() > 0)
        return InvalidArgument(GroupLabel(g, i) + " lists GPUs, but its kind is KIND_CPU");
    }
  }
  return Status::Ok();
}

std::vector<InstancePlacement> PlaceInstances(const inference::ModelConfig& config) {
  // Each instance with its rank on its GPU (the k-th instance made there), in config order.
  struct Made {
    InstancePlacement p;
    int rank = 0;
  };
  std::vector<Made> made;
  std::map<int, int> per_gpu;  // instances so far per GPU (-1: the CPU)
  for (const Group& g : config.instance_group()) {
    const int count = std::max(g.count(), 1);
    if (g.kind() != Group::KIND_GPU) {
      for (int k = 0; k < count; ++k) made.push_back({{g.name(), -1}, per_gpu[-1]++});
      continue;
    }
    for (int k = 0; k < count; ++k)
      for (int gpu : g.gpus()) made.push_back({{g.name(), gpu}, per_gpu[gpu]++});
  }
  // Round robin over the GPUs: every GPU's first instance, then every GPU's second, ...
  std::stable_sort(made.begin(), made.end(), [](const Made& a, const Made& b) { return a.rank < b.rank; });
  std::vector<InstancePlacement> out;
  out.reserve(made.size());
  for (auto& m : made) out.push_back(std::move(m.p));
  return out;
}

std::string DescribeInstances(const std::vector<InstancePlacement>& instances) {
  std::map<int, int> per_gpu;
  for (const auto& i : instances) ++per_gpu[i.gpu];
  std::string s;
  for (const auto& [gpu, n] : per_gpu) {
    const bool first = s.empty();
    if (!first) s += ", ";
    s += std::to_string(n);
    if (first) s += n == 1 ? " instance" : " instances";
    s += gpu < 0 ? " on the CPU" : " on GPU " + std::to_string(gpu);
  }
  return s.empty() ? "no instances" : s;
}

}  // namespace onnxd::server
