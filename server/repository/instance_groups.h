// A model's instance groups (config.pbtxt `instance_group`), read as Triton reads them:
//   KIND_CPU:  `count` instances.
//   KIND_GPU:  `count` instances on EACH GPU that `gpus` lists; with `gpus` empty, `count` on each
//              GPU this process can use (CUDA_VISIBLE_DEVICES is how a user narrows those; the
//              ordinals here are the process's, 0 .. n-1, after it).
// The completed config lists the GPUs it filled in, as Triton's does. A GPU ordinal that does not
// exist fails the model's load, naming it and how many GPUs there are.
//
// Pure functions of the config and a GPU count (GpuInventory), so the rules are tested on
// machines without a GPU with any count.
#pragma once

#include <string>
#include <vector>

#include "model_config.pb.h"
#include "onnxd/engine/engine.h"
#include "onnxd/engine/status.h"

namespace onnxd::server {

// The GPUs this process can use: ordinals 0 .. count-1.
struct GpuInventory {
  int count = 0;
  std::string why_none;              // when count is 0: why (no CUDA backend, no driver, no device)
  std::string cuda_visible_devices;  // its value when set, for the messages
  // What the engine sees (Engine::CudaDeviceCount), asked once per process (the GPUs a process can
  // use do not change while it runs).
  static GpuInventory Probe();
};

// True when the model's instances go on GPUs, as Triton decides: a KIND_GPU group, or (with at
// least one GPU usable) no instance group at all or a KIND_AUTO group. Its model is then compiled
// for CUDA. `gpus` is only read for the second case (pass a probe only when NeedsGpuProbe says).
bool WantsGpu(const inference::ModelConfig& config, const GpuInventory& gpus);
// True when a group asks for the GPU explicitly (KIND_GPU).
bool AsksForGpu(const inference::ModelConfig& config);
// True when WantsGpu's answer or CompleteInstanceGroups depends on the GPUs there are.
bool NeedsGpuProbe(const inference::ModelConfig& config);

// Completes and checks the instance groups of `config`, whose model was compiled for `target`:
// no group gives one instance on each GPU for a CUDA model (Triton's default), else 2 CPU
// instances; KIND_AUTO becomes KIND_GPU for a CUDA model, else KIND_CPU; a count of 0 or less becomes 1 and
// above 64 fails; KIND_GPU needs a kCuda model and a GPU, and an empty `gpus` is filled with every
// GPU of `gpus`. KIND_GPU and KIND_CPU groups in one model are not supported.
Status CompleteInstanceGroups(Device target, const GpuInventory& gpus, inference::ModelConfig* config);

// One instance to create.
struct InstancePlacement {
  std::string group;  // its instance group's name
  int gpu = -1;       // its GPU ordinal; -1 on the CPU
};

// The instances of a completed config, in the order they should be handed out while all are free:
// the first instance of each GPU, then the second of each, and so on, so that a model with fewer
// runs in flight than instances spreads them over its GPUs. CPU instances in group order.
std::vector<InstancePlacement> PlaceInstances(const inference::ModelConfig& config);

// For logs: "2 instances on GPU 0, 2 on GPU 1" or "2 instances on the CPU".
std::string DescribeInstances(const std::vector<InstancePlacement>& instances);

}  // namespace onnxd::server
