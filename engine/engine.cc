#include "onnxd/engine/engine.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "loader/model_loader.h"
#include "loader/tensor_proto.h"
#include "passes/passes.h"
#include "planner/cuda_fusions.h"
#include "planner/memory_plan.h"
#include "planner/partition.h"
#include "runtime/cuda_session.h"
#include "runtime/executor.h"
#include "runtime/graph_plan.h"

namespace onnxd {
namespace engine {

class ModelImpl {
 public:
  std::shared_ptr<GraphPlan> graph;
  ModelInfo info;
  PassStats pass_stats;
  ThreadPool* pool = nullptr;
  CompileOptions options;
  DevicePlan device_plan;   // where each node runs (all CPU unless options.device is kCuda)
  PlacementInfo placement;  // the same, for the public API
};

class SessionImpl {
 public:
  SessionImpl(std::shared_ptr<ModelImpl> model, int gpu) : model_(std::move(model)) {
    frame_.Bind(*model_->graph);
    if (model_->options.device == Device::kCuda) {
      auto cuda = CreateCudaSession(model_->graph, model_->device_plan, model_->options, model_->pool, gpu);
      if (cuda.ok()) {
        cuda_ = std::move(cuda).value();
      } else {
        cuda_error_ = cuda.status();
      }
    }
  }
  ~SessionImpl() { std::free(arena_); }

  Status Run(std::span<const Value> inputs, std::vector<Value>* outputs, const RunOptions& options);
  int64_t arena_bytes() const { return arena_size_; }
  int cached_plans() const { return static_cast<int>(plans_.size()); }
  int last_run_copies() const { return cuda_ != nullptr ? cuda_->last_run_copies() : 0; }
  bool last_run_replayed_graph() const { return cuda_ != nullptr && cuda_->last_run_replayed_graph(); }
  Session::CudaRunStats last_run_cuda_stats() const {
    return cuda_ != nullptr ? cuda_->last_run_cuda_stats() : Session::CudaRunStats();
  }
  std::string last_tuning() const { return cuda_ != nullptr ? cuda_->last_tuning() : std::string(); }
  const Status& status() const { return cuda_error_; }

 private:
  struct CachedPlan {
    std::vector<int64_t> key;
    MemoryPlan plan;
    uint64_t last_used = 0;
  };
  // Dynamic batching alone gives up to max_batch_size shapes per instance; plans are small (the
  // arena is shared and sized to the largest), so keep enough that batch sizes do not evict each
  // other.
  static constexpr size_t kMaxPlans = 64;

  Status CheckInputs(std::span<const Value> inputs) const;
  bool KeyMatches(const std::vector<int64_t>& key, std::span<const Value> inputs) const;
  std::vector<int64_t> MakeKey(std::span<const Value> inputs) const;

  std::shared_ptr<ModelImpl> model_;
  Frame frame_;
  std::vector<CachedPlan> plans_;
  uint64_t clock_ = 0;
  MemoryRecording recording_;
  // Device kCuda: the CUDA session runs instead, or the reason it could not be made.
  std::unique_ptr<CudaSession> cuda_;
  Status cuda_error_;
  char* arena_ = nullptr;
  int64_t arena_size_ = 0;
};

Status SessionImpl::CheckInputs(std::span<const Value> inputs) const {
  const auto& specs = model_->graph->inputs;
  if (inputs.size() != specs.size())
    return InvalidArgument("model takes " + std::to_string(specs.size()) + " inputs, got " + std::to_string(inputs.size()));
  for (size_t i = 0; i < specs.size(); ++i) {
    const TypeInfo& t = specs[i].type;
    const Value& v = inputs[i];
    // Messages are built only on failure: the success path allocates nothing.
    auto where = [&] { return "input '" + specs[i].name + "'"; };
    if (t.kind == ValueKind::kTensor) {
      if (!v.is_tensor()) return InvalidArgument(where() + " must be a tensor");
      const Tensor& x = v.tensor();
      if (t.elem_type != DataType::kUndefined && x.dtype() != t.elem_type)
        return InvalidArgument(where() + ": expected element type " + DataTypeName(t.elem_type) + ", got " +
                               DataTypeName(x.dtype()));
      if (t.has_shape) {
        if (static_cast<size_t>(x.rank()) != t.dims.size())
          return InvalidArgument(where() + ": expected rank " + std::to_string(t.dims.size()) + ", got shape " +
                                 x.shape().ToString());
        for (size_t d = 0; d < t.dims.size(); ++d) {
          if (t.dims[d] >= 0 && x.dim(static_cast<int>(d)) != t.dims[d])
            return InvalidArgument(where() + " dim " + std::to_string(d) + ": expected " + std::to_string(t.dims[d]) +
                                   ", got " + std::to_string(x.dim(static_cast<int>(d))) + " (shape " +
                                   x.shape().ToString() + ")");
        }
      }
      if (x.num_elements() > 0 && x.raw_data() == nullptr) return InvalidArgument(where() + " has no data");
    } else if (t.kind == ValueKind::kSequence && !v.is_sequence()) {
      return InvalidArgument(where() + " must be a sequence");
    } else if (t.kind == ValueKind::kMap && !v.is_map()) {
      return InvalidArgument(where() + " must be a map");
    }
  }
  return Status::Ok();
}

// The plan key: for each input, its kind, dtype, rank and dims.
std::vector<int64_t> SessionImpl::MakeKey(std::span<const Value> inputs) const {
  std::vector<int64_t> key;
  for (const Value& v : inputs) {
    key.push_back(static_cast<int64_t>(v.kind()));
    if (!v.is_tensor()) continue;
    key.push_back(static_cast<int64_t>(v.tensor().dtype()));
    key.push_back(v.tensor().rank());
    for (int64_t d : v.tensor().shape()) key.push_back(d);
  }
  return key;
}

bool SessionImpl::KeyMatches(const std::vector<int64_t>& key, std::span<const Value> inputs) const {
  size_t k = 0;
  for (const Value& v : inputs) {
    if (k >= key.size() || key[k++] != static_cast<int64_t>(v.kind())) return false;
    if (!v.is_tensor()) continue;
    const Tensor& t = v.tensor();
    if (k + 2 + t.rank() > key.size()) return false;
    if (key[k++] != static_cast<int64_t>(t.dtype()) || key[k++] != t.rank()) return false;
    for (int64_t d : t.shape())
      if (key[k++] != d) return false;
  }
  return k == key.size();
}

Status SessionImpl::Run(std::span<const Value> inputs, std::vector<Value>* outputs, const RunOptions& options) {
  RETURN_IF_ERROR(CheckInputs(inputs));
  if (model_->options.device == Device::kCuda) {
    if (cuda_ == nullptr) return cuda_error_;
    return cuda_->Run(inputs, outputs, options);
  }
  const GraphPlan& g = *model_->graph;
  CachedPlan* cached = nullptr;
  for (auto& p : plans_)
    if (KeyMatches(p.key, inputs)) cached = &p;
  frame_.memory_plan = nullptr;
  frame_.recording = nullptr;
  frame_.arena = arena_;
  if (cached != nullptr) {
    cached->last_used = ++clock_;
    frame_.memory_plan = &cached->plan;
  } else {
    recording_.Reset(g.num_values(), static_cast<int>(g.nodes.size()));
    frame_.recording = &recording_;
  }
  for (size_t i = 0; i < inputs.size(); ++i) frame_.values[g.input_ids[i]] = inputs[i];

  Executor exec(*model_->pool, options);
  Status st = exec.Run(frame_);
  if (!st.ok()) {
    frame_.Clear();
    return st;
  }
  outputs->resize(g.output_ids.size());
  for (size_t k = 0; k < g.output_ids.size(); ++k) (*outputs)[k] = frame_.values[g.output_ids[k]];
  frame_.Clear();

  if (cached == nullptr) {
    // First run of these shapes: plan the arena for the next ones.
    CachedPlan p;
    p.key = MakeKey(inputs);
    p.plan = BuildMemoryPlan(g, recording_);
    p.last_used = ++clock_;
    if (p.plan.arena_bytes > arena_size_) {
      // Outputs of this run were heap-allocated, so replacing the arena cannot invalidate them.
      std::free(arena_);
      arena_size_ = p.plan.arena_bytes;
      arena_ = static_cast<char*>(std::aligned_alloc(kArenaAlignment, static_cast<size_t>(AlignUp(arena_size_))));
      if (arena_ == nullptr) {
        arena_size_ = 0;
        plans_.clear();
        return Status::Ok();
      }
    }
    if (plans_.size() >= kMaxPlans) {
      auto lru = std::min_element(plans_.begin(), plans_.end(),
                                  [](const CachedPlan& a, const CachedPlan& b) { return a.last_used < b.last_used; });
      *lru = std::move(p);
    } else {
      plans_.push_back(std::move(p));
    }
  }
  return Status::Ok();
}

namespace {

void CountOps(const onnx::GraphProto& g, ModelInfo* info) {
  for (const auto& n : g.node()) {
    std::string d = CanonicalDomain(n.domain());
    info->op_histogram[d.empty() ? n.op_type() : d + ":" + n.op_type()]++;
    for (const auto& a : n.attribute()) {
      if (a.has_g()) CountOps(a.g(), info);
      for (const auto& sg : a.graphs()) CountOps(sg, info);
    }
  }
}

// Every op of the graph (and its subgraphs) without a kernel: "domain:Op" (the domain always
// spelled out, ai.onnx included) -> "opset N, node 'name'" for the first node using it.
void CollectUnsupported(const onnx::GraphProto& g, const std::map<std::string, int64_t>& opsets,
                        std::map<std::string, std::string>* out) {
  const OpRegistry& reg = OpRegistry::Global();
  for (const auto& n : g.node()) {
    std::string d = CanonicalDomain(n.domain());
    auto os = opsets.find(d);
    int version = os == opsets.end() ? 0 : static_cast<int>(os->second);
    if (reg.Find(d, n.op_type(), version) == nullptr) {
      std::string key = (d.empty() ? "ai.onnx" : d) + ":" + n.op_type();
      std::string where = "opset " + std::to_string(version) + ", ";
      if (!n.name().empty()) {
        where += "node '" + n.name() + "'";
      } else {
        where += "unnamed node with output '" + (n.output_size() > 0 ? n.output(0) : std::string()) + "'";
      }
      if (g.name().size() > 0) where += " in graph '" + g.name() + "'";
      out->emplace(key, where);
    }
    for (const auto& a : n.attribute()) {
      if (a.has_g()) CollectUnsupported(a.g(), opsets, out);
      for (const auto& sg : a.graphs()) CollectUnsupported(sg, opsets, out);
    }
  }
}

ModelInfo MakeInfo(const onnx::ModelProto& m) {
  ModelInfo info;
  info.ir_version = m.ir_version();
  info.producer_name = m.producer_name();
  info.producer_version = m.producer_version();
  info.domain = m.domain();
  info.model_version = m.model_version();
  info.doc_string = m.doc_string();
  info.graph_name = m.graph().name();
  for (const auto& o : m.opset_import()) info.opsets[CanonicalDomain(o.domain())] = o.version();
  std::set<std::string> inits;
  for (const auto& t : m.graph().initializer()) {
    inits.insert(t.name());
    int64_t n = 1;
    for (int64_t d : t.dims()) n *= d;
    info.parameter_count += n;
  }
  for (const auto& in : m.graph().input())
    if (!inits.count(in.name())) info.inputs.push_back({in.name(), TypeInfoFromProto(in.type())});
  for (const auto& out : m.graph().output()) info.outputs.push_back({out.name(), TypeInfoFromProto(out.type())});
  for (const auto& p : m.metadata_props()) info.metadata.push_back(p.key() + "=" + p.value());
  CountOps(m.graph(), &info);
  std::map<std::string, std::string> unsupported;
  CollectUnsupported(m.graph(), info.opsets, &unsupported);
  for (const auto& [op, node] : unsupported) info.unsupported_ops.push_back(op);
  return info;
}

StatusOr<std::string> ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot open model file '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace
}  // namespace engine

using engine::ModelImpl;
using engine::SessionImpl;

StatusOr<ModelInfo> InspectModelFile(const std::string& path) {
  std::string bytes;
  ASSIGN_OR_RETURN(bytes, engine::ReadAll(path));
  std::unique_ptr<onnx::ModelProto> m;
  ASSIGN_OR_RETURN(m, engine::ParseModelBytes(bytes));
  return engine::MakeInfo(*m);
}

CompiledModel::CompiledModel(std::shared_ptr<ModelImpl> impl) : impl_(std::move(impl)) {}
CompiledModel::~CompiledModel() = default;
const std::vector<IoSpec>& CompiledModel::inputs() const { return impl_->graph->inputs; }
const std::vector<IoSpec>& CompiledModel::outputs() const { return impl_->graph->outputs; }
const ModelInfo& CompiledModel::info() const { return impl_->info; }
const PlacementInfo& CompiledModel::placement() const { return impl_->placement; }
int CompiledModel::InputIndex(const std::string& name) const {
  for (size_t i = 0; i < inputs().size(); ++i)
    if (inputs()[i].name == name) return static_cast<int>(i);
  return -1;
}
int CompiledModel::OutputIndex(const std::string& name) const {
  for (size_t i = 0; i < outputs().size(); ++i)
    if (outputs()[i].name == name) return static_cast<int>(i);
  return -1;
}
std::unique_ptr<Session> CompiledModel::CreateSession(int gpu) const {
  return std::unique_ptr<Session>(new Session(std::make_unique<SessionImpl>(impl_, gpu)));
}

Session::Session(std::unique_ptr<SessionImpl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;
Status Session::Run(std::span<const Value> inputs, std::vector<Value>* outputs, const RunOptions& options) {
  return impl_->Run(inputs, outputs, options);
}
int64_t Session::planned_arena_bytes() const { return impl_->arena_bytes(); }
int Session::cached_plans() const { return impl_->cached_plans(); }
int Session::last_run_copies() const { return impl_->last_run_copies(); }
bool Session::last_run_replayed_graph() const { return impl_->last_run_replayed_graph(); }
Session::CudaRunStats Session::last_run_cuda_stats() const { return impl_->last_run_cuda_stats(); }
std::string Session::last_tuning() const { return impl_->last_tuning(); }
Status Session::status() const { return impl_->status(); }

Engine::Engine() = default;
Engine::~Engine() = default;
int Engine::intra_op_threads() const { return engine::ThreadPool::Process().num_threads(); }
bool Engine::CudaAvailable(std::string* why) { return engine::CudaRuntimeAvailable(why); }
int Engine::CudaDeviceCount(std::string* why) { return engine::CudaRuntimeDeviceCount(why); }
bool Engine::CudaDeviceUuids(std::vector<std::string>* uuids) { return engine::CudaRuntimeDeviceUuids(uuids); }
void Engine::SetIntraOpThreads(int n) { engine::ThreadPool::SetProcessThreads(n); }

StatusOr<std::shared_ptr<const CompiledModel>> Engine::CompileBytes(const std::string& bytes, const std::string& base_dir,
                                                                   const CompileOptions& options) const {
  // Kernels report bad models through Status; an allocation failure (a huge constant, say) must
  // not take the process down either.
  try {
    return CompileBytesUnchecked(bytes, base_dir, options);
  } catch (const std::bad_alloc&) {
    return ResourceExhausted("out of memory while compiling the model");
  } catch (const std::exception& e) {
    return Internal(std::string("unexpected exception while compiling the model: ") + e.what());
  }
}

StatusOr<std::shared_ptr<const CompiledModel>> Engine::CompileBytesUnchecked(const std::string& bytes,
                                                                            const std::string& base_dir,
                                                                            const CompileOptions& options) const {
  std::unique_ptr<engine::LoadedModel> lm;
  ASSIGN_OR_RETURN(lm, engine::LoadModelBytes(bytes, base_dir));
  return CompileLoaded(std::move(lm), options);
}

StatusOr<std::shared_ptr<const CompiledModel>> Engine::CompileLoaded(std::unique_ptr<engine::LoadedModel> lm,
                                                                     const CompileOptions& options) const {
  auto impl = std::make_shared<ModelImpl>();
  impl->info = engine::MakeInfo(lm->proto);
  {
    // Name every missing op at once, not just the first one the compiler meets.
    std::map<std::string, std::string> missing;
    engine::CollectUnsupported(lm->proto.graph(), lm->opsets, &missing);
    if (!missing.empty()) {
      std::string list;
      for (const auto& [op, where] : missing) list += (list.empty() ? "" : "; ") + op + " (" + where + ")";
      return Unimplemented("the model uses ops onnxd does not support yet: " + list);
    }
  }
  if (options.optimize) RETURN_IF_ERROR(engine::RunGraphPasses(&lm->proto, lm->opsets, &impl->pass_stats));
  impl->pool = &engine::ThreadPool::Process();
  ASSIGN_OR_RETURN(impl->graph, engine::BuildGraphPlan(lm->proto.graph(), lm->opsets, options, nullptr, lm->base_dir));
  impl->options = options;
  ASSIGN_OR_RETURN(impl->device_plan, engine::PartitionGraph(*impl->graph, lm->proto.graph(), lm->opsets, options.device));
  // Nothing for the GPU: a CPU model after all. The graph plan does not depend on the device; only
  // the placement is made again.
  if (options.device == Device::kCuda && options.cpu_when_no_cuda_node &&
      std::none_of(impl->device_plan.node_device.begin(), impl->device_plan.node_device.end(),
                   [](Device d) { return d == Device::kCuda; })) {
    impl->options.device = Device::kCpu;
    ASSIGN_OR_RETURN(impl->device_plan, engine::PartitionGraph(*impl->graph, lm->proto.graph(), lm->opsets, Device::kCpu));
  }
  if (impl->device_plan.target == Device::kCuda) {
    // ONNXD_CUDA_FOLD_TRANSPOSE=0: every Transpose moves its data (to compare).
    const char* e = std::getenv("ONNXD_CUDA_FOLD_TRANSPOSE");
    impl->device_plan.fusions = std::make_shared<const engine::CudaFusionPlan>(
        engine::PlanCudaFusions(*impl->graph, impl->device_plan, !(e != nullptr && *e == '0')));
  }
  impl->placement = engine::MakePlacementInfo(*impl->graph, impl->device_plan);
  return std::shared_ptr<const CompiledModel>(new CompiledModel(std::move(impl)));
}

StatusOr<std::shared_ptr<const CompiledModel>> Engine::CompileFile(const std::string& path,
                                                                  const CompileOptions& options) const {
  auto slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  try {
    std::unique_ptr<engine::LoadedModel> lm;
    {
      // The file's bytes go as soon as they are parsed: a reload holds the old model, the new
      // model's protobuf and its engine tensors, not a fourth copy.
      std::string bytes;
      ASSIGN_OR_RETURN(bytes, engine::ReadAll(path));
      ASSIGN_OR_RETURN(lm, engine::LoadModelBytes(bytes, dir));
    }
    return CompileLoaded(std::move(lm), options);
  } catch (const std::bad_alloc&) {
    return ResourceExhausted("out of memory while compiling the model");
  } catch (const std::exception& e) {
    return Internal(std::string("unexpected exception while compiling the model: ") + e.what());
  }
}

}  // namespace onnxd
