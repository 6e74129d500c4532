// The CUDA half of runtime/cuda_session.h (built with ONNXD_WITH_CUDA only; the stub is in
// cuda_session.cc).
#ifdef ONNXD_WITH_CUDA

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "kernels/cuda/activations.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/binary_elementwise.h"
#ifdef ONNXD_WITH_CUDNN
#include "kernels/cuda/cudnn_conv.h"
#endif
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/current_device.h"
#include "kernels/cuda/depthwise_kernel.h"
#include "kernels/cuda/flash_kernel.h"
#include "kernels/cuda/device_pool.h"
#include "kernels/cuda/gemm_cuda.h"
#include "kernels/cuda/gemm_lt.h"
#include "kernels/cuda/gemm_strided.h"
#include "kernels/cuda/layer_norm.h"
#include "kernels/cuda/pad_spatial.h"
#include "kernels/cuda/pinned_buffer.h"
#include "kernels/cuda/pool_nhwc.h"
#include "kernels/cuda/reduce_last_axis.h"
#include "kernels/cuda/select.h"
#include "kernels/cuda/softmax.h"
#include "kernels/cuda/softmax_bias.h"
#include "kernels/cuda/stream.h"
#include "kernels/cuda/strided_gemm_plan.h"
#include "kernels/cuda/tensor_shape.h"
#include "kernels/cuda/transpose.h"
#include "kernels/cuda/unary_elementwise.h"
#include "kernels/cuda/window_geometry.h"
#include "runtime/cuda_conv_transpose.h"
#include "runtime/cuda_data_ops.h"
#include "runtime/cuda_resize.h"
#include "planner/cuda_fusions.h"
#include "runtime/cuda_session.h"
#include "runtime/executor.h"

namespace onnxd::engine {

bool CudaRuntimeAvailable(std::string* why) { return cuda::CudaDeviceAvailable(why); }
int CudaRuntimeDeviceCount(std::string* why) { return cuda::DeviceCount(why); }

namespace {

using DeviceBufferPtr = std::shared_ptr<cuda::DeviceBuffer>;

// fp16 mode's float -> half conversion: finite floats beyond fp16's range saturate to +-65504
// instead of becoming infinities, as fp16 model converters do. Models write masks as float
// constants such as -3.4e38 (torch.finfo(float32).min): as -inf, (1 - mask) * min gives
// 0 * -inf = NaN for every unmasked position. Infinities and NaN convert as they are.
__half FloatToHalf(float v) {
  constexpr float kHalfMax = 65504.f;
  if (v > kHalfMax && v != INFINITY) v = kHalfMax;
  if (v < -kHalfMax && v != -INFINITY) v = -kHalfMax;
  return __float2half_rn(v);
}

// The conversions of whole tensors, on the request path (inputs in, outputs out): cuda_fp16's
// host conversions are bit manipulation, ~3 ns an element (30 ms for a batch of 64 224x224
// images); with F16C (every AVX2 CPU) 8 at a time in hardware, same rounding (to nearest even).
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2,f16c"))) void FloatsToHalvesF16c(const float* f, __half* h, int64_t n) {
  const __m256 hi = _mm256_set1_ps(65504.f), lo = _mm256_set1_ps(-65504.f);
  const __m256 inf = _mm256_set1_ps(INFINITY), ninf = _mm256_set1_ps(-INFINITY);
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    __m256 v = _mm256_loadu_ps(f + k);
    const __m256 big = _mm256_and_ps(_mm256_cmp_ps(v, hi, _CMP_GT_OQ), _mm256_cmp_ps(v, inf, _CMP_NEQ_OQ));
    const __m256 small = _mm256_and_ps(_mm256_cmp_ps(v, lo, _CMP_LT_OQ), _mm256_cmp_ps(v, ninf, _CMP_NEQ_OQ));
    v = _mm256_blendv_ps(v, hi, big);
    v = _mm256_blendv_ps(v, lo, small);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + k), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
  for (; k < n; ++k) h[k] = FloatToHalf(f[k]);
}

__attribute__((target("avx2,f16c"))) void HalvesToFloatsF16c(const __half* h, float* f, int64_t n) {
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    _mm256_storeu_ps(f + k, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + k))));
  for (; k < n; ++k) f[k] = __half2float(h[k]);
}

bool HaveF16c() {
  static const bool have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
  return have;
}
#endif

void FloatsToHalves(const float* f, __half* h, int64_t n) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (HaveF16c()) return FloatsToHalvesF16c(f, h, n);
#endif
  for (int64_t k = 0; k < n; ++k) h[k] = FloatToHalf(f[k]);
}

void HalvesToFloats(const __half* h, float* f, int64_t n) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (HaveF16c()) return HalvesToFloatsF16c(h, f, n);
#endif
  for (int64_t k = 0; k < n; ++k) f[k] = __half2float(h[k]);
}

// Marks a Status from a CUDA kernel node meaning "this case is the CPU kernel's": RunNode then
// runs the node on the host instead.
constexpr const char* kFallback = "cuda fallback: ";
Status Fallback(const std::string& why) { return Unimplemented(kFallback + why); }

// ONNXD_CUDA_GRAPH_DEBUG=1: say on stderr why a run was not captured or a fusion not used.
bool Debugging() {
  static const bool on = [] {
    const char* e = std::getenv("ONNXD_CUDA_GRAPH_DEBUG");
    return e != nullptr && *e == '1';
  }();
  return on;
}

std::string Label(const PlannedNode& n) {
  return "node '" + n.name + "' (" + (n.domain.empty() ? "" : n.domain + ":") + n.op_type + ")";
}

// Runs a CPU kernel on explicit input values (host tensors, or device views for the kAny / alias
// inputs); outputs are heap tensors or aliases of inputs. Subgraphs run on the host frame.
class MixedContext : public KernelContext {
 public:
  MixedContext(Executor& exec, const Frame& frame, const PlannedNode& node, std::vector<const Value*> inputs,
               std::vector<Value>* outputs)
      : exec_(exec), frame_(frame), node_(node), inputs_(std::move(inputs)), outputs_(outputs) {}
  int num_inputs() const override { return static_cast<int>(inputs_.size()); }
  int num_outputs() const override { return static_cast<int>(outputs_->size()); }
  const Value* input_value(int i) const override { return i >= 0 && i < num_inputs() ? inputs_[i] : nullptr; }
  bool has_output(int i) const override { return i >= 0 && i < num_outputs() && node_.outputs[i] >= 0; }
  Tensor* Output(int i, DataType dtype, const Shape& shape) override {
    (*outputs_)[i] = Value(Tensor::Allocate(dtype, shape));
    aliased_.resize(outputs_->size(), -1);
    aliased_[i] = -1;
    return &(*outputs_)[i].tensor();
  }
  void SetOutputAlias(int i, int input_index, const Shape& shape) override {
    (*outputs_)[i] = Value(inputs_[input_index]->tensor().Reshaped(shape));
    aliased_.resize(outputs_->size(), -1);
    aliased_[i] = input_index;
  }
  void SetOutputValue(int i, Value v) override {
    (*outputs_)[i] = std::move(v);
    aliased_.resize(outputs_->size(), -1);
    aliased_[i] = -1;
  }
  void* Scratch(size_t bytes) override {
    scratch_.push_back(Buffer::Allocate(DataType::kUInt8, static_cast<int64_t>(std::max<size_t>(bytes, 1))));
    return scratch_.back()->data();
  }
  ThreadPool& pool() override { return exec_.pool(); }
  Status RunSubgraph(const GraphPlan& graph, std::span<const Value> inputs, std::vector<Value>* outputs) override {
    return RunSubgraphFrame(exec_, graph, frame_, inputs, outputs);
  }
  const std::string& node_name() const override { return node_.name; }
  const std::string& op_type() const override { return node_.op_type; }
  // The input output i aliases, or -1.
  int aliased(int i) const { return i < static_cast<int>(aliased_.size()) ? aliased_[i] : -1; }

 private:
  Executor& exec_;
  const Frame& frame_;
  const PlannedNode& node_;
  std::vector<const Value*> inputs_;
  std::vector<Value>* outputs_;
  std::vector<int> aliased_;
  std::vector<std::shared_ptr<Buffer>> scratch_;
};

// New ConvPlans' algorithm choice (cuda::AlgoSearch, which only cuDNN builds have).
enum class ConvSearch { kDefault, kHeuristic, kMeasured };

// How a CUDA session runs its convolutions (CompileOptions::cuda_autotune picks one by timing).
struct ExecVariant {
  bool nhwc = false;  // channels-last convolutions and pooling (PrepareLayouts)
  ConvSearch search = ConvSearch::kDefault;
  bool fuse = true;   // cuDNN's fused Conv+Bias+ReLU (and residual) calls, cuBLASLt's bias GEMMs
  bool own_dw = false;  // depthwise convolutions by our kernel (kernels/cuda/depthwise_kernel.h)
  bool flash = true;    // fp16 attention by the fused kernel (kernels/cuda/flash_kernel.h), else GEMM + softmax + GEMM
  std::string Name() const {
    return std::string(nhwc ? "channels-last" : "NCHW") +
           (search == ConvSearch::kMeasured    ? " + measured algorithms"
            : search == ConvSearch::kHeuristic ? " + heuristic algorithms"
                                               : "") +
           (fuse ? " + fused calls" : " + unfused") + (own_dw ? " + our depthwise kernel" : "") +
           (flash ? "" : " + attention unfused");
  }
  // As one small non-negative int (DeviceConstants keeps it in an atomic), and back.
  int Code() const {
    return (nhwc ? 1 : 0) | (static_cast<int>(search) << 1) | (fuse ? 8 : 0) | (own_dw ? 16 : 0) | (flash ? 32 : 0);
  }
  static ExecVariant FromCode(int code) {
    return {(code & 1) != 0, static_cast<ConvSearch>((code >> 1) & 3), (code & 8) != 0, (code & 16) != 0,
            (code & 32) != 0};
  }
};

// The constants a model's sessions read on the GPU, uploaded once and shared (read-only) by every
// session of that model: one copy of the weights on the device whatever the instance count. It
// goes with the last session (model unload). It also carries what the first of those sessions
// tuned, per batch class, so that the model's other instances on the device do not tune again.
struct DeviceConstants {
  cuda::DevicePool pool;                 // declared first: outlives the buffers
  std::vector<DeviceBufferPtr> buffers;  // per value id
  std::vector<Value> views;              // per value id: the device view (kNone if not uploaded)
  std::vector<uint8_t> halved;           // per value id: a float constant held as fp16
  std::atomic<int> tuned[2] = {-1, -1};  // ExecVariant::Code(), -1 while not tuned (read on every run: no lock)
};

StatusOr<std::shared_ptr<DeviceConstants>> UploadConstants(const GraphPlan& g, const DevicePlan& plan, bool fp16) {
  auto c = std::make_shared<DeviceConstants>();
  const int n = g.num_values();
  c->buffers.assign(n, nullptr);
  c->views.assign(n, Value());
  c->halved.assign(n, 0);
  for (int id : plan.uploaded_constants) {
    const Value& v = g.constants[id];
    if (!v.is_tensor()) return Internal("constant '" + g.value_names[id] + "' read on the GPU is not a tensor");
    const Tensor& t = v.tensor();
    const bool halve = fp16 && t.dtype() == DataType::kFloat;
    const size_t bytes = halve ? static_cast<size_t>(t.num_elements()) * sizeof(__half) : t.bytes();
    auto buf = c->pool.Allocate(std::max<size_t>(bytes, 1));
    if (!buf.ok()) return buf.status();
    auto owner = std::make_shared<cuda::DeviceBuffer>(std::move(buf).value());
    if (halve) {
      std::vector<__half> h(static_cast<size_t>(t.num_elements()));
      FloatsToHalves(t.data<float>(), h.data(), static_cast<int64_t>(h.size()));
      if (bytes > 0) ONNXD_CUDA_RETURN_IF_ERROR(cudaMemcpy(owner->data(), h.data(), bytes, cudaMemcpyHostToDevice));
    } else if (bytes > 0) {
      ONNXD_CUDA_RETURN_IF_ERROR(cudaMemcpy(owner->data(), t.raw_data(), bytes, cudaMemcpyHostToDevice));
    }
    c->views[id] = Value(Tensor::View(halve ? DataType::kFloat16 : t.dtype(), t.shape(), owner->data()));
    c->buffers[id] = std::move(owner);
    c->halved[id] = halve;
  }
  // A copy from pageable memory may return before its DMA lands, on the legacy stream that the
  // sessions' non-blocking streams do not wait for.
  ONNXD_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
  return c;
}

// The model's shared constants on `device` (current on this thread): those of a live session of
// the same graph, precision and device, else a fresh upload to it. Safe from any thread.
StatusOr<std::shared_ptr<DeviceConstants>> SharedConstants(const GraphPlan& g, const DevicePlan& plan, bool fp16,
                                                           int device) {
  static std::mutex mu;
  static std::map<std::tuple<const GraphPlan*, bool, int>, std::weak_ptr<DeviceConstants>> live;  // GUARDED_BY(mu)
  std::lock_guard<std::mutex> lock(mu);
  for (auto it = live.begin(); it != live.end();) it = it->second.expired() ? live.erase(it) : std::next(it);
  // A live entry implies a live session, which keeps its GraphPlan alive: the address is not reused.
  auto& slot = live[{&g, fp16, device}];
  if (auto c = slot.lock()) return c;
  std::shared_ptr<DeviceConstants> c;
  ASSIGN_OR_RETURN(c, UploadConstants(g, plan, fp16));
  slot = c;
  return c;
}

class CudaSessionImpl : public CudaSession {
 public:
  CudaSessionImpl(std::shared_ptr<const GraphPlan> graph, const DevicePlan& plan, const CompileOptions& options,
                  ThreadPool* pool, int device)
      : device_(device), graph_(std::move(graph)), plan_(plan), options_(options), threads_(pool) {}
  ~CudaSessionImpl() override {
    // The handles, streams and buffers below belong to device_: it stays current while the members
    // go, and restore_ (destroyed last) gives the thread its device back.
    if (cudaGetDevice(&restore_.device) != cudaSuccess) restore_.device = -1;
    cudaSetDevice(device_);
    // Work still queued may read buffers: finish it before they go back to the pool.
    if (stream_ != nullptr) cudaStreamSynchronize(stream_->get());
    for (cudaEvent_t e : prof_events_) cudaEventDestroy(e);
  }

  Status Init();
  Status Run(std::span<const Value> inputs, std::vector<Value>* outputs, const RunOptions& options) override;
  int last_run_copies() const override { return copies_; }
  bool last_run_replayed_graph() const override { return replayed_; }
  Session::CudaRunStats last_run_cuda_stats() const override { return stats_; }
  std::string last_tuning() const override { return last_tuning_; }

 private:
  // A run captured as a CUDA Graph, replayed for every later run of the same input signature.
  // It owns what the graph's kernels and copies address: its own DevicePool (the activations,
  // reused between replays exactly as during capture) and its own pinned staging area (each graph
  // input is copied into its fixed slot before a launch; each output is read from its slot after).
  struct Captured {
    struct In {
      int input;    // index into the run's inputs
      char* stage;  // its slot in `staging`
      bool halve;   // converted to fp16 while staged
    };
    struct Out {
      int output;  // index into the graph's outputs
      char* stage;
      DataType dtype;  // of the device value (kFloat16 when halved)
      Shape shape;
      bool halved;
    };
    std::unique_ptr<cuda::DevicePool> pool;
    cuda::PinnedBuffer staging;
    std::vector<In> ins;
    std::vector<Out> outs;
    int copies = 0;
    cudaGraphExec_t exec = nullptr;
    ~Captured() {
      if (exec != nullptr) cudaGraphExecDestroy(exec);
    }
  };
  struct Signature {
    int runs = 0;
    bool failed = false;        // capture was tried and refused: node by node from now on
    size_t staged_bytes = 0;    // staging the last node-by-node run used (sizes the graph's area)
    std::unique_ptr<Captured> graph;
  };
  // At most this many graphs (and signatures tracked) per session: each graph keeps its
  // activations on the device. Dynamic batching gives up to max_batch_size signatures.
  static constexpr int kMaxGraphs = 16;
  // ...and at most this much device memory held by them together (a ResNet-50 graph at batch 64
  // holds ~1 GB of activations in fp32): past it, new signatures run node by node.
  static constexpr size_t kMaxGraphBytes = size_t{4} << 30;
  size_t graph_bytes_ = 0;
  static constexpr size_t kMaxSignatures = 256;

  Status RunEager(std::span<const Value> inputs, std::vector<Value>* outputs, const RunOptions& options,
                  size_t* staged_bytes);
  Status Capture(std::span<const Value> inputs, const RunOptions& options, Signature* sig);
  // Capture in each execution variant that applies, timing replays of each; keeps the fastest as
  // the signature's graph and as the variant of its batch class.
  Status TuneCapture(std::span<const Value> inputs, const RunOptions& options, Signature* sig);
  void DropGraph(std::unique_ptr<Captured> c);
  Status Replay(const Captured& c, std::span<const Value> inputs, std::vector<Value>* outputs,
                const RunOptions& options);
  Status RunNodes(Executor& exec, const RunOptions& options);
  Status RunNode(int i, Executor& exec);
  Status RunCudaKernel(int i);
  Status RunConvOrPool(int i, const Tensor& x, DataType dt);
  Status ApplyConvActivation(const CudaNodeParams& p, void* data, int64_t count, bool is_half);
  // The fusions and folds planned for this graph (planner/cuda_fusions.h), into the members below.
  void PlanFusions();
  // Whether node i takes a permuted view as input k as it is (else RunNode materializes it first).
  bool AcceptsView(int i, int k) const;
  // Rewrites a permuted view as the packed tensor it stands for, in a new buffer.
  Status Materialize(int id);
  // Value id as a view of src's device storage: logical dims `shape`, physical layout `perm`
  // (empty: packed).
  void AliasOutput(int id, int src, DataType dtype, const Shape& shape, std::vector<int64_t> perm);
  Status RunMatMul(int i, const Tensor& a, const Tensor& b, int out_id, DataType dt, cuda::GemmMath math);
  // A softmax chain (planner/cuda_fusions.h) as one kernel (cuda::SoftmaxFusion), run at the
  // chain's first node; the rest are skipped for the run.
  // ONNX Attention: scores by one strided GEMM over (batch, kv head, q heads of the group), the
  // row pass (kernels/cuda/attention.h), the output by a second GEMM written in Y's layout. Inputs
  // the CPU op would reject, or forms this path does not take, go to the CPU op (Fallback).
  Status RunCudaAttention(int i);
  // The fused attention kernel's first-use check: its output against the unfused path's (fp16).
  bool FlashAgrees(const void* flash, const void* unfused, int64_t n, int node);
  // An attention block (planner/cuda_fusions.h) in fp16 by the fused kernel, at its first MatMul;
  // the first time for its sizes the kernel writes aside and the nodes run as they are, and the
  // second MatMul's result is compared with it (CheckPendingFlash) before it is trusted.
  Status RunAttentionBlock(int i, bool* done);
  void CheckPendingFlash(int i);
  std::vector<CudaFusionPlan::AttentionBlock> attention_block_;  // per first-MatMul node
  std::vector<int> order_;  // the nodes in the order they run (CudaFusionPlan::order)
  bool flash_enabled_ = true;  // ONNXD_CUDA_FLASH=0: attention never fused
  // Per node and shape class (FlashClass): 1 the fused kernel agreed with the unfused path, -1 it
  // did not (or could not be compared), absent: not checked yet.
  std::map<std::pair<int, int>, int> flash_state_;
  // The sizes a first-use check stands for: batch > 1, heads > 1, Sq > 1, Sq past one query tile, T > 1, T
  // past one key tile, a partial last key tile. A check at the warm-up's 1 x 1 says nothing about
  // a request's 32 x 128.
  static int FlashClass(int64_t B, int64_t H, int64_t Sq, int64_t T, int64_t past = 0) {
    return (B > 1 ? 1 : 0) | (H > 1 ? 2 : 0) | (Sq > 1 ? 4 : 0) | (Sq > cuda::kFlashRows ? 8 : 0) | (T > 1 ? 16 : 0) |
           (T > cuda::kFlashCols ? 32 : 0) | (T % cuda::kFlashCols != 0 ? 64 : 0) |
           (Sq % cuda::kFlashRows != 0 ? 128 : 0) | (past > 0 ? 256 : 0);
  }
  Status RunFusedSoftmax(int i, bool* done);
  // Add -> LayerNormalization (planner/cuda_fusions.h) as one LayerNorm kernel at the Add.
  Status RunAddLayerNorm(int i, bool* done);
  // A Mul by a one-element constant whose output every reader takes as a view: the output is a
  // scaled view of the other operand (no pass over the data). True when done.
  bool FoldScalarMul(int i);
  Status RunBiasGemm(int i, bool* done);
  Status RunOnHost(int i, Executor& exec, bool gpu_alias);
  Status EnsureDevice(int id);
  Status EnsureHost(std::span<const int> ids);
  // Rewrites device value `id` channels-last (`to_nhwc`) or back to NCHW, in a new buffer.
  Status Relayout(int id, bool to_nhwc);
  // Settles the layouts of node i's device inputs before it runs; *out_nhwc: its outputs are NHWC.
  Status PrepareLayouts(int i, bool* out_nhwc);
  StatusOr<const void*> NhwcFilter(int id);
  StatusOr<char*> Stage(size_t bytes);
  // Copies (or converts to fp16) a host tensor into pinned staging, split over the thread pool when
  // large: one core moves a 38 MB batch of images in ~4 ms, longer than the copy to the device.
  void StageTensor(const Tensor& t, char* stage, bool halve);
  // The way back: staging (fp16 when `halved`) into host tensor *t (float then).
  void UnstageTensor(const char* stage, Tensor* t, bool halved);
  bool serial_ = false;  // RunOptions::serial of the run in progress
  // fp16 mode: float tensors are held as fp16 on the device.
  bool Halve(DataType dt) const { return options_.fp16 && dt == DataType::kFloat; }
  // Whether a result of device type `dt` computed from `inputs` is a float held as fp16: an fp16
  // result from converted floats, or one the graph calls float (a Cast to float in fp16 mode).
  bool HalvedResult(DataType dt, int out, std::span<const int> inputs) const {
    if (dt != DataType::kFloat16) return false;
    for (int id : inputs)
      if (id >= 0 && halved_[id]) return true;
    return options_.fp16 && plan_.value_type[out] == DataType::kFloat;
  }
  // Value id on the device (uploaded if only the host has it); false when neither has it yet.
  StatusOr<bool> OnDevice(int id) {
    if (dev_[id].is_tensor()) return true;
    if (!on_host_[id]) return false;
    RETURN_IF_ERROR(EnsureDevice(id));
    return true;
  }
  StatusOr<Tensor*> DeviceOutput(int id, DataType dtype, const Shape& shape);
  void Release(int id);
  void ClearRun();

  // Declared first, so destroyed last: the thread's device from before the destructor.
  struct RestoreDevice {
    int device = -1;
    ~RestoreDevice() {
      if (device >= 0) cudaSetDevice(device);
    }
  } restore_;
  const int device_;  // the CUDA device ordinal everything below lives on
  std::shared_ptr<const GraphPlan> graph_;
  DevicePlan plan_;
  CompileOptions options_;
  ThreadPool* threads_;

  // Declaration order is destruction order reversed: the pool outlives every buffer below it.
  std::unique_ptr<cuda::DevicePool> pool_;
  std::unique_ptr<cuda::DevicePool> persist_pool_;  // buffers kept across runs (channels-last weights)
  // (Below the pools: their buffers go back before the pools do.)
  struct PendingFlash {
    cuda::DeviceBuffer out;       // the kernel's result, in the layout expected
    std::vector<int64_t> perm;    // that layout (the second MatMul's perm_)
    std::pair<int, int> key;      // its flash_state_ entry
  };
  std::map<int, PendingFlash> pending_flash_;  // per second-MatMul node, within one RunNodes
  std::shared_ptr<DeviceConstants> constants_;  // shared with the model's other sessions
  std::unique_ptr<cuda::Stream> stream_;
  std::unique_ptr<cuda::Blas> blas_;
#ifdef ONNXD_WITH_CUDNN
  std::unique_ptr<cuda::Dnn> dnn_;
  // Per node and input shape: the descriptors and cuDNN's algorithm, chosen once.
  struct ConvEntry {
    std::unique_ptr<cuda::ConvPlan> plan;
    int fused = 0;  // cuDNN's fused call: 1 works, -1 refused, 0 not tried yet
    int own_dw = 0;  // our depthwise kernel: 1 checked against cuDNN and used, -1 differs, 0 not checked
  };
  std::map<std::pair<int, std::vector<int64_t>>, ConvEntry> conv_plans_;
  std::map<std::pair<int, std::vector<int64_t>>, std::unique_ptr<cuda::PoolPlan>> pool_plans_;
#endif
  std::vector<DeviceBufferPtr> dev_buf_;  // per value id: the device storage its device view uses
  std::vector<Value> dev_;                // per value id: the device view (kNone when not on the device)
  std::vector<uint8_t> on_host_;          // per value id: frame_.values holds it
  std::vector<uint8_t> halved_;           // per value id: a float value held as fp16 on the device
  // Channels-last: with tensor-core math (fp16 or TF32) 2-D convolutions and pooling run NHWC, and
  // their outputs stay NHWC through elementwise ops and further convolutions; any other consumer
  // (and the copy back to the host) gets NCHW first. A value's dims are NCHW either way.
  bool nhwc_enabled_ = false;  // channels-last is allowed (the default variant's layout)
  // Execution variants (CompileOptions::cuda_autotune): how convolutions run. A tuning run
  // (RunOptions::tune) captures its signature in each and keeps the fastest for its batch class;
  // other runs take their class's tuned variant, or the default.
  using Search = ConvSearch;
  using Variant = ExecVariant;
  // The class's tuned variant: this session's, else one another session of the model on this
  // device tuned (adopted from then on).
  std::optional<Variant> ClassVariant(int batch_class);
  bool fusion_sites_ = false;  // the graph has something the fused calls take
  Variant variant_;                     // in force for the run in progress
  Variant default_variant_;
  std::optional<Variant> tuned_[2];     // per batch class: first input's dim 0 below 8, or 8 and up
  bool has_gpu_conv_ = false;           // a Conv runs on the GPU: the variants differ
  bool has_attention_ = false;          // an attention block or Attention node runs on the GPU (ExecVariant::flash)
  bool has_depthwise_ = false;          // a depthwise Conv runs on the GPU (ExecVariant::own_dw)
  int depthwise_env_ = -1;              // ONNXD_CUDA_DEPTHWISE: 1 ours, 0 cuDNN's, -1 tuned
  std::string last_tuning_;
  static int BatchClass(std::span<const Value> inputs) {
    return !inputs.empty() && inputs[0].is_tensor() && inputs[0].tensor().rank() > 0 &&
                   inputs[0].tensor().dim(0) >= 8
               ? 1
               : 0;
  }
  std::vector<uint8_t> nhwc_;                        // per value id: the device data is NHWC
  // Permuted views. perm_[id] non-empty: value id's device data is a packed tensor P whose axis
  // perm_[id][k] is the value's axis k (the value is Transpose(P, perm_[id]); its Tensor has the
  // value's dims over P's data). Only MatMul (A and B), Transpose and layout-free elementwise
  // nodes read one; any other reader, and the copy to the host, gets it materialized first.
  std::vector<std::vector<int64_t>> perm_;
  // Scaled views: the value is scale_[id] times what its data (and perm_) say. A Mul by a scalar
  // constant whose readers all take views makes one instead of a pass over the data; a MatMul
  // takes the scale as its GEMM's alpha, and Materialize applies it.
  std::vector<float> scale_;
  bool IsView(int id) const { return !perm_[id].empty() || scale_[id] != 1.f; }
  std::vector<uint8_t> may_view_;                    // per value id: every reader takes a view
  std::vector<std::vector<int64_t>> mm_out_perm_;    // per MatMul node: its Transpose readers' perm
  Session::CudaRunStats stats_;  // this node-by-node run's (moved transposes, fused chains, fallbacks)
  std::map<int, DeviceBufferPtr> nhwc_weights_;      // per filter value id: [M, KH, KW, C/group]
  // Conv -> Add -> Relu (a residual block's end) as one cuDNN call: relu(conv(x) + z + bias), into
  // the Relu's output; the Add and the Relu are then skipped for the run.
  using Residual = CudaFusionPlan::Residual;
  std::vector<Residual> residual_;                  // per node (Conv nodes only)
  bool fuse_enabled_ = true;
  bool building_graph_ = false;                     // in Capture (its priming run included)
  std::vector<uint8_t> skip_;                       // per node: done by an earlier fused node this run
  std::map<int, DeviceBufferPtr> zero_bias_;        // per Conv node without a bias: m zeros (the fused call needs one)
  // MatMul (constant 2-D weight) -> Add (constant bias) as one cuBLASLt call with the bias in its
  // epilogue, writing the Add's output; the Add is skipped for the run. Each node and shape is
  // checked once against cuBLAS + Add (outside a capture) before it is trusted.
  using BiasGemmFusion = CudaFusionPlan::BiasGemm;
  std::vector<BiasGemmFusion> bias_gemm_;           // per node (MatMul nodes only)
  using SoftmaxChain = CudaFusionPlan::SoftmaxChain;
  std::vector<SoftmaxChain> softmax_chain_;         // per node: the chain it starts
  std::vector<CudaFusionPlan::AddLayerNorm> add_layer_norm_;  // per Add node: the LayerNorm it runs
  std::unique_ptr<cuda::LtHandle> lt_;
  bool lt_unavailable_ = false;
  DeviceBufferPtr lt_workspace_;
  struct LtEntry {
    std::unique_ptr<cuda::BiasGemm> plan;
    int state = 0;  // 1 checked and used, -1 not used, 0 not checked yet
  };
  std::map<std::pair<int, int64_t>, LtEntry> lt_plans_;  // per node and M
  Frame frame_;                           // host values
  cuda::PinnedBuffer staging_;
  size_t staged_ = 0;                     // bytes of staging_ used by copies queued since the last sync
  size_t staged_total_ = 0;               // bytes staged over the whole run
  int copies_ = 0;
  // CUDA Graphs. While capturing, nothing may wait for the stream: a step that would (a host node
  // reading device data, a staging area too small) fails the capture instead, and the signature
  // runs node by node from then on. Host values derived from the graph inputs' contents are
  // "tainted": a host node reading one would be baked into the graph with this run's values.
  std::map<std::string, Signature> signatures_;
  int graphs_ = 0;
  Captured* capture_ = nullptr;            // the graph being captured
  std::vector<int> input_index_;           // per value id: its index among the graph inputs, or -1
  std::vector<uint8_t> tainted_;           // per value id (capture only)
  bool replayed_ = false;
  // RunOptions::profile: an event before each node and one after the last, on the stream; a node's
  // time is the GPU time between its event and the next.
  std::vector<cudaEvent_t> prof_events_;
};

// A failed capture's reason starts with this (the run then goes node by node).
constexpr char kNotCapturable[] = "not capturable: ";

// Runs with device_ current (CreateCudaSession): the pools, stream and handles are made on it.
Status CudaSessionImpl::Init() {
  pool_ = std::make_unique<cuda::DevicePool>();
  auto stream = cuda::Stream::Create();
  if (!stream.ok()) return stream.status();
  stream_ = std::make_unique<cuda::Stream>(std::move(stream).value());
  ASSIGN_OR_RETURN(auto blas, cuda::Blas::Create(stream_->get()));
  blas_ = std::make_unique<cuda::Blas>(std::move(blas));
#ifdef ONNXD_WITH_CUDNN
  ASSIGN_OR_RETURN(auto dnn, cuda::Dnn::Create(stream_->get()));
  dnn_ = std::make_unique<cuda::Dnn>(std::move(dnn));
#endif
  const int n = graph_->num_values();
  dev_buf_.assign(n, nullptr);
  dev_.assign(n, Value());
  on_host_.assign(n, 0);
  halved_.assign(n, 0);
  nhwc_.assign(n, 0);
  persist_pool_ = std::make_unique<cuda::DevicePool>();
  PlanFusions();
  // ONNXD_CUDA_FUSE=0: no fused cuDNN convolutions (to compare).
  if (const char* e = std::getenv("ONNXD_CUDA_FUSE"); e != nullptr && *e == '0') {
    fuse_enabled_ = false;
    residual_.assign(residual_.size(), Residual());
  }
  nhwc_enabled_ = options_.fp16 || options_.allow_tf32;
  if (const char* e = std::getenv("ONNXD_CUDA_NHWC"); e != nullptr && *e != '\0') nhwc_enabled_ = *e == '1';
  default_variant_.nhwc = nhwc_enabled_;
  default_variant_.fuse = fuse_enabled_;
  // ONNXD_CUDA_DEPTHWISE=1: depthwise convolutions always by our kernel; 0: always by cuDNN; unset:
  // cuDNN unless autotuning measures ours faster.
  if (const char* e = std::getenv("ONNXD_CUDA_DEPTHWISE"); e != nullptr && (*e == '0' || *e == '1'))
    depthwise_env_ = *e - '0';
  default_variant_.own_dw = depthwise_env_ == 1;
  if (const char* e = std::getenv("ONNXD_CUDA_FLASH"); e != nullptr && *e == '0') flash_enabled_ = false;
  variant_ = default_variant_;
  for (size_t i = 0; i < graph_->nodes.size(); ++i) {
    const CudaNodeParams& p = plan_.cuda_params[i];
    fusion_sites_ |= residual_[i].add >= 0 || bias_gemm_[i].add >= 0 ||
                     (p.op == "Conv" && (p.activation == "Relu" || p.activation == "Clip"));
  }
  for (size_t i = 0; i < graph_->nodes.size(); ++i) {
    const CudaNodeParams& p = plan_.cuda_params[i];
    if (plan_.node_device[i] != Device::kCuda) continue;
    if (flash_enabled_ && ((fuse_enabled_ && attention_block_[i].pv >= 0) || p.op == "Attention")) {
      // The fused kernel is fp16 only: a float attention in fp16 mode, or an fp16 one (or one whose
      // type the plan does not know).
      const int q = graph_->nodes[i].inputs.empty() ? -1 : graph_->nodes[i].inputs[0];
      const DataType t = q >= 0 && q < static_cast<int>(plan_.value_type.size()) ? plan_.value_type[q]
                                                                                  : DataType::kUndefined;
      has_attention_ |= t == DataType::kFloat16 || t == DataType::kUndefined || (options_.fp16 && t == DataType::kFloat);
    }
    if (p.op != "Conv") continue;
    has_gpu_conv_ = true;
    // Depthwise: a constant [C, 1, KH, KW] filter with group C.
    const int w = graph_->nodes[i].inputs.size() > 1 ? graph_->nodes[i].inputs[1] : -1;
    if (w >= 0 && graph_->is_constant[w] && graph_->constants[w].is_tensor()) {
      const Tensor& wt = graph_->constants[w].tensor();
      has_depthwise_ |= wt.rank() == 4 && wt.dim(1) == 1 && p.group > 1 && wt.dim(0) == p.group;
    }
  }
  tainted_.assign(n, 0);
  input_index_.assign(n, -1);
  for (size_t k = 0; k < graph_->input_ids.size(); ++k) input_index_[graph_->input_ids[k]] = static_cast<int>(k);
  frame_.Bind(*graph_);
  for (int id = 0; id < n; ++id) on_host_[id] = graph_->is_constant[id];
  // Constants the device reads: uploaded once per model (not on the request path), shared with
  // the model's other sessions. The session holds views; the buffers stay the constants' own.
  ASSIGN_OR_RETURN(constants_, SharedConstants(*graph_, plan_, options_.fp16, device_));
  for (int id : plan_.uploaded_constants) {
    dev_[id] = constants_->views[id];
    halved_[id] = constants_->halved[id];
  }
  return Status::Ok();
}

StatusOr<char*> CudaSessionImpl::Stage(size_t bytes) {
  const size_t need = (bytes + 255) / 256 * 256;
  staged_total_ += need;
  if (staged_ + need > staging_.size()) {
    if (capture_ != nullptr) return Unavailable(std::string(kNotCapturable) + "the staging area is too small");
    // Copies still queued read the old staging area: let them land before it goes.
    RETURN_IF_ERROR(stream_->Synchronize());
    staged_ = 0;
    if (need > staging_.size()) {
      size_t size = std::max<size_t>(need, staging_.size() * 2);
      size = std::max<size_t>(size, 1 << 20);
      staging_ = cuda::PinnedBuffer();
      ASSIGN_OR_RETURN(staging_, cuda::PinnedBuffer::Allocate(size));
    }
  }
  char* p = staging_.data() + staged_;
  staged_ += need;
  return p;
}

// Calls part(begin, end) over [0, n) elements of `elem` bytes, in chunks of at least 1 MiB over
// `pool` when there is more than one (and the run is not serial).
template <typename F>
void InChunks(ThreadPool* pool, bool serial, int64_t n, size_t elem, F&& part) {
  constexpr int64_t kGrainBytes = int64_t{1} << 20;
  const int64_t grain = std::max<int64_t>(1, kGrainBytes / static_cast<int64_t>(std::max<size_t>(elem, 1)));
  if (serial || pool == nullptr || n <= grain) {
    part(int64_t{0}, n);
    return;
  }
  pool->ParallelFor(n, grain, part);
}

void CudaSessionImpl::StageTensor(const Tensor& t, char* stage, bool halve) {
  const size_t elem = halve ? sizeof(float) : ElementSize(t.dtype());
  InChunks(threads_, serial_, t.num_elements(), elem, [&](int64_t begin, int64_t end) {
    if (halve) {
      FloatsToHalves(t.data<float>() + begin, reinterpret_cast<__half*>(stage) + begin, end - begin);
    } else {
      std::memcpy(stage + begin * elem, static_cast<const char*>(t.raw_data()) + begin * elem,
                  static_cast<size_t>(end - begin) * elem);
    }
  });
}

void CudaSessionImpl::UnstageTensor(const char* stage, Tensor* t, bool halved) {
  const size_t elem = ElementSize(t->dtype());
  InChunks(threads_, serial_, t->num_elements(), elem, [&](int64_t begin, int64_t end) {
    if (halved) {
      HalvesToFloats(reinterpret_cast<const __half*>(stage) + begin, t->data<float>() + begin, end - begin);
    } else {
      std::memcpy(static_cast<char*>(t->raw_data()) + begin * elem, stage + begin * elem,
                  static_cast<size_t>(end - begin) * elem);
    }
  });
}

StatusOr<Tensor*> CudaSessionImpl::DeviceOutput(int id, DataType dtype, const Shape& shape) {
  const size_t bytes = static_cast<size_t>(shape.NumElements()) * ElementSize(dtype);
  auto buf = pool_->Allocate(std::max<size_t>(bytes, 1));
  if (!buf.ok()) return buf.status();
  auto owner = std::make_shared<cuda::DeviceBuffer>(std::move(buf).value());
  dev_[id] = Value(Tensor::View(dtype, shape, owner->data()));
  dev_buf_[id] = std::move(owner);
  on_host_[id] = 0;
  nhwc_[id] = 0;
  perm_[id].clear();
  scale_[id] = 1.f;
  frame_.values[id] = Value();
  return &dev_[id].tensor();
}

void CudaSessionImpl::AliasOutput(int id, int src, DataType dtype, const Shape& shape, std::vector<int64_t> perm) {
  dev_[id] = Value(Tensor::View(dtype, shape, dev_[src].tensor().raw_data()));
  dev_buf_[id] = dev_buf_[src];
  on_host_[id] = 0;
  nhwc_[id] = 0;
  perm_[id] = std::move(perm);
  scale_[id] = scale_[src];
  frame_.values[id] = Value();
}

Status CudaSessionImpl::EnsureDevice(int id) {
  if (id < 0 || dev_[id].is_tensor()) return Status::Ok();
  if (!on_host_[id]) return Internal("value '" + graph_->value_names[id] + "' is on neither device");
  const Value& v = frame_.values[id];
  if (!v.is_tensor()) return Internal("value '" + graph_->value_names[id] + "' needed on the GPU is not a tensor");
  const Tensor& t = v.tensor();
  if (t.dtype() == DataType::kString) return Internal("string tensor '" + graph_->value_names[id] + "' on the GPU");
  const bool halve = Halve(t.dtype());
  const size_t bytes = halve ? static_cast<size_t>(t.num_elements()) * sizeof(__half) : t.bytes();
  // A constant's copy stays for the session's life (Release keeps constants): from the persistent
  // pool, never from a graph's, which a failed capture frees.
  cuda::DevicePool& from = graph_->is_constant[id] ? *persist_pool_ : *pool_;
  auto buf = from.Allocate(std::max<size_t>(bytes, 1));
  if (!buf.ok()) return buf.status();
  auto owner = std::make_shared<cuda::DeviceBuffer>(std::move(buf).value());
  if (bytes > 0) {
    char* stage = nullptr;
    ASSIGN_OR_RETURN(stage, Stage(bytes));
    // Converted while staged in fp16 mode: half the bytes cross the bus.
    StageTensor(t, stage, halve);
    ONNXD_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(owner->data(), stage, bytes, cudaMemcpyHostToDevice, stream_->get()));
    if (capture_ != nullptr) {
      // The graph copies from this slot: a graph input is written there before each launch; any
      // other host value is fixed for this signature (a constant, or computed from dims only).
      if (input_index_[id] >= 0) capture_->ins.push_back({input_index_[id], stage, halve});
      else if (tainted_[id]) return Unavailable(std::string(kNotCapturable) + "'" + graph_->value_names[id] +
                                                "' is computed on the host from the inputs' values");
    }
  }
  dev_[id] = Value(Tensor::View(halve ? DataType::kFloat16 : t.dtype(), t.shape(), owner->data()));
  dev_buf_[id] = std::move(owner);
  perm_[id].clear();
  scale_[id] = 1.f;
  halved_[id] = halve;
  ++copies_;
  return Status::Ok();
}

Status CudaSessionImpl::EnsureHost(std::span<const int> ids) {
  struct Pending {
    int id;
    char* stage;
  };
  std::vector<Pending> pending;
  size_t total = 0;
  for (int id : ids) {
    if (id >= 0 && !on_host_[id] && dev_[id].is_tensor() && nhwc_[id]) RETURN_IF_ERROR(Relayout(id, false));
    if (id >= 0 && !on_host_[id] && dev_[id].is_tensor() && IsView(id)) RETURN_IF_ERROR(Materialize(id));
  }
  for (int id : ids) {
    if (id < 0 || on_host_[id]) continue;
    if (!dev_[id].is_tensor()) return Internal("value '" + graph_->value_names[id] + "' is on neither device");
    bool dup = false;
    for (const auto& p : pending) dup |= p.id == id;
    if (dup) continue;
    pending.push_back({id, nullptr});
    total += (dev_[id].tensor().bytes() + 255) / 256 * 256;
  }
  if (pending.empty()) return Status::Ok();
  if (capture_ != nullptr)
    return Unavailable(std::string(kNotCapturable) + "'" + graph_->value_names[pending[0].id] +
                       "' is read on the host mid-run");
  // One staging block for all of them: a second Stage() call could synchronise and reuse (or
  // replace) the area the first copies land in before they are read out.
  char* stage = nullptr;
  ASSIGN_OR_RETURN(stage, Stage(std::max<size_t>(total, 1)));
  for (auto& p : pending) {
    const Tensor& t = dev_[p.id].tensor();
    p.stage = stage;
    if (t.bytes() > 0)
      ONNXD_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(stage, t.raw_data(), t.bytes(), cudaMemcpyDeviceToHost, stream_->get()));
    stage += (t.bytes() + 255) / 256 * 256;
  }
  RETURN_IF_ERROR(stream_->Synchronize());
  staged_ = 0;
  for (const auto& p : pending) {
    const Tensor& t = dev_[p.id].tensor();
    Tensor h = Tensor::Allocate(halved_[p.id] ? DataType::kFloat : t.dtype(), t.shape());
    UnstageTensor(p.stage, &h, halved_[p.id] != 0);
    frame_.values[p.id] = Value(std::move(h));
    on_host_[p.id] = 1;
    ++copies_;
  }
  return Status::Ok();
}

void CudaSessionImpl::Release(int id) {
  if (id < 0 || graph_->is_constant[id]) return;
  tainted_[id] = 0;
  nhwc_[id] = 0;
  frame_.values[id] = Value();
  on_host_[id] = 0;
  halved_[id] = 0;
  perm_[id].clear();
  scale_[id] = 1.f;
  dev_[id] = Value();
  dev_buf_[id].reset();  // back to the pool; stream order keeps queued readers safe
}

void CudaSessionImpl::ClearRun() {
  for (int id = 0; id < graph_->num_values(); ++id) Release(id);
  std::fill(skip_.begin(), skip_.end(), 0);
}

Status CudaSessionImpl::RunNodes(Executor& exec, const RunOptions& options) {
  const GraphPlan& g = *graph_;
  stats_ = Session::CudaRunStats();
  pending_flash_.clear();
  // A capture only records: its deadline is the replay's.
  const bool check_deadline =
      capture_ == nullptr && options.deadline != std::chrono::steady_clock::time_point::max();
  Status st;
  const bool profile = options.profile != nullptr && capture_ == nullptr;
  if (profile && prof_events_.empty()) {
    prof_events_.assign(g.nodes.size() + 1, nullptr);
    for (cudaEvent_t& e : prof_events_) ONNXD_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e));
  }
  for (int step = 0; step < static_cast<int>(order_.size()) && st.ok(); ++step) {
    const int i = order_[step];
    const PlannedNode& node = g.nodes[i];
    if (profile) ONNXD_CUDA_RETURN_IF_ERROR(cudaEventRecord(prof_events_[step], stream_->get()));
    if (options.cancelled != nullptr && options.cancelled->load(std::memory_order_relaxed)) {
      st = Cancelled("run cancelled before " + Label(node));
      break;
    }
    if (check_deadline && std::chrono::steady_clock::now() > options.deadline) {
      st = DeadlineExceeded("deadline exceeded before " + Label(node));
      break;
    }
    if (skip_[i]) {  // computed by a fused node earlier in this run
      skip_[i] = 0;
      for (int id : node.release) Release(id);
      continue;
    }
    try {
      st = RunNode(i, exec);
      if (st.ok() && !pending_flash_.empty()) CheckPendingFlash(i);
    } catch (const std::bad_alloc&) {
      st = ResourceExhausted("out of memory");
    } catch (const std::exception& e) {
      st = Internal(std::string("unexpected exception: ") + e.what());
    }
    if (!st.ok()) {
      if (st.message().rfind("node '", 0) != 0 && st.message().rfind(kNotCapturable, 0) != 0)
        st = st.WithContext(Label(node) + ": ");
      break;
    }
    for (int id : node.release) Release(id);
  }
  pending_flash_.clear();  // a run that stopped between a block's MatMuls leaves one
  if (profile && st.ok()) ONNXD_CUDA_RETURN_IF_ERROR(cudaEventRecord(prof_events_.back(), stream_->get()));
  return st;
}

// The input signature a graph is captured for: element types and dims of every input.
std::string SignatureOf(std::span<const Value> inputs) {
  std::string key;
  for (const Value& v : inputs) {
    if (!v.is_tensor()) return "";
    const Tensor& t = v.tensor();
    key.push_back(static_cast<char>(t.dtype()));
    key.push_back(static_cast<char>(t.rank()));
    for (int64_t d : t.shape().dims()) key.append(reinterpret_cast<const char*>(&d), sizeof(d));
  }
  return key;
}

Status CudaSessionImpl::Run(std::span<const Value> inputs, std::vector<Value>* outputs, const RunOptions& options) {
  replayed_ = false;
  // This thread may have run another GPU's session last.
  RETURN_IF_ERROR(cuda::MakeCurrent(device_));
  serial_ = options.serial;
  variant_ = ClassVariant(BatchClass(inputs)).value_or(default_variant_);
  if (!options_.cuda_graphs || options.profile != nullptr) return RunEager(inputs, outputs, options, nullptr);
  const std::string key = SignatureOf(inputs);
  auto it = signatures_.find(key);
  if (it == signatures_.end()) {
    if (key.empty() || signatures_.size() >= kMaxSignatures) return RunEager(inputs, outputs, options, nullptr);
    it = signatures_.emplace(key, Signature()).first;
  }
  Signature& sig = it->second;
  if (sig.graph != nullptr) return Replay(*sig.graph, inputs, outputs, options);
  // The first run of a signature goes node by node: it makes the cuDNN plans and loads the
  // kernels (neither may happen during a capture) and measures the staging the graph needs.
  if (sig.failed || sig.runs++ == 0 || graphs_ >= kMaxGraphs || graph_bytes_ >= kMaxGraphBytes)
    return RunEager(inputs, outputs, options, &sig.staged_bytes);
  Status st = options.tune && options_.cuda_autotune && (has_gpu_conv_ || has_attention_)
                  ? TuneCapture(inputs, options, &sig)
                  : Capture(inputs, options, &sig);
  if (st.ok()) return Replay(*sig.graph, inputs, outputs, options);
  if (Debugging())
    std::fprintf(stderr, "onnxd: CUDA graph not captured: %s\n", st.ToString().c_str());
  // A run cancelled or past its deadline (in the priming run, say) says nothing about the graph:
  // the next run of the signature tries again.
  if (st.code() == StatusCode::kCancelled || st.code() == StatusCode::kDeadlineExceeded) return st;
  // Not capturable, or a real error (a bad input, say), which the node-by-node run reports.
  sig.failed = true;
  return RunEager(inputs, outputs, options, &sig.staged_bytes);
}

Status CudaSessionImpl::Capture(std::span<const Value> inputs, const RunOptions& options, Signature* sig) {
  const GraphPlan& g = *graph_;
  auto c = std::make_unique<Captured>();
  // Every input and output slot, and the host values copied in, fit in one area sized from the
  // node-by-node run: nothing in a capture may wait for the stream to reuse a slot.
  ASSIGN_OR_RETURN(c->staging, cuda::PinnedBuffer::Allocate(sig->staged_bytes + (size_t{1} << 16)));
  c->pool = std::make_unique<cuda::DevicePool>();
  std::swap(pool_, c->pool);
  std::swap(staging_, c->staging);
  // cudaMalloc inside a capture invalidates it: one node-by-node run on the graph's own pool first
  // leaves every block the capture will ask for (the same requests in the same order) cached.
  std::vector<Value> primed;
  building_graph_ = true;
  Status st = RunEager(inputs, &primed, options, nullptr);
  primed.clear();
  staged_ = 0;
  staged_total_ = 0;
  copies_ = 0;
  if (!st.ok()) {
    building_graph_ = false;
    std::swap(pool_, c->pool);
    std::swap(staging_, c->staging);
    return st;
  }
  capture_ = c.get();
  for (size_t k = 0; k < inputs.size() && k < g.input_ids.size(); ++k) {
    frame_.values[g.input_ids[k]] = inputs[k];
    on_host_[g.input_ids[k]] = 1;
    tainted_[g.input_ids[k]] = 1;
  }
  cudaStream_t s = stream_->get();
  // Relaxed: a library call that allocates lazily (cuBLAS, cuDNN) does not void the capture; the
  // graph's own allocations come from the primed pool.
  st = cuda::CudaStatus(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
  const bool began = st.ok();
  if (st.ok()) {
    Executor exec(*threads_, options);
    st = RunNodes(exec, options);
  }
  // The outputs' copies back are part of the graph; their slots are read after each replay.
  for (size_t k = 0; st.ok() && k < g.output_ids.size(); ++k) {
    const int id = g.output_ids[k];
    if (!dev_[id].is_tensor()) {
      st = Unavailable(std::string(kNotCapturable) + "output '" + g.value_names[id] + "' is computed on the host");
      break;
    }
    if (nhwc_[id]) {
      st = Relayout(id, false);
      if (!st.ok()) break;
    }
    if (IsView(id)) {
      st = Materialize(id);
      if (!st.ok()) break;
    }
    const Tensor& t = dev_[id].tensor();
    char* stage = nullptr;
    auto staged = Stage(std::max<size_t>(t.bytes(), 1));
    if (!staged.ok()) {
      st = staged.status();
      break;
    }
    stage = *staged;
    if (t.bytes() > 0) st = cuda::CudaStatus(cudaMemcpyAsync(stage, t.raw_data(), t.bytes(), cudaMemcpyDeviceToHost, s),
                                       "cudaMemcpyAsync");
    c->outs.push_back({static_cast<int>(k), stage, t.dtype(), t.shape(), halved_[id] != 0});
    ++copies_;
  }
  cudaGraph_t graph = nullptr;
  if (began) {
    Status end = cuda::CudaStatus(cudaStreamEndCapture(s, &graph), "cudaStreamEndCapture");
    if (st.ok()) st = end;
  }
  if (st.ok() && graph != nullptr)
    st = cuda::CudaStatus(cudaGraphInstantiate(&c->exec, graph, 0), "cudaGraphInstantiate");
  if (graph != nullptr) cudaGraphDestroy(graph);
  cudaGetLastError();  // a refused capture leaves its error behind
  capture_ = nullptr;
  building_graph_ = false;
  ClearRun();  // the activations go back to the graph's pool, which keeps them for its replays
  std::fill(tainted_.begin(), tainted_.end(), 0);
  std::swap(pool_, c->pool);
  std::swap(staging_, c->staging);
  staged_ = 0;
  if (!st.ok()) return st;
  c->copies = copies_;
  graph_bytes_ += c->pool->stats().reserved_bytes;
  sig->graph = std::move(c);
  ++graphs_;
  return Status::Ok();
}

std::optional<CudaSessionImpl::Variant> CudaSessionImpl::ClassVariant(int batch_class) {
  if (!tuned_[batch_class].has_value() && constants_ != nullptr) {
    const int code = constants_->tuned[batch_class].load(std::memory_order_acquire);
    if (code >= 0) tuned_[batch_class] = ExecVariant::FromCode(code);
  }
  // ONNXD_CUDA_DEPTHWISE fixes that choice whatever was tuned (by another process's setting, say).
  if (tuned_[batch_class].has_value() && depthwise_env_ >= 0) tuned_[batch_class]->own_dw = depthwise_env_ == 1;
  return tuned_[batch_class];
}

void CudaSessionImpl::DropGraph(std::unique_ptr<Captured> c) {
  if (c == nullptr) return;
  const size_t bytes = c->pool->stats().reserved_bytes;
  graph_bytes_ -= std::min(graph_bytes_, bytes);
  --graphs_;
  c.reset();
}

Status CudaSessionImpl::TuneCapture(std::span<const Value> inputs, const RunOptions& options, Signature* sig) {
  const int batch_class = BatchClass(inputs);
  if (std::optional<Variant> tuned = ClassVariant(batch_class)) {
    // Tuned already, by this session at another batch size or by another instance of the model on
    // this device: capture in that variant.
    variant_ = *tuned;
    Status st = Capture(inputs, options, sig);
    if (st.ok())
      last_tuning_ = "batch class " + std::string(batch_class ? ">= 8" : "< 8") + ": " + tuned->Name() +
                     ", as tuned before on this GPU";
    return st;
  }
  std::vector<Variant> candidates;
  // Both layouts (channels-last is the default only with tensor-core math, but cuDNN's fp32 NHWC
  // kernels win for some networks), both algorithm searches, and with and without the fused calls
  // where the graph has any. Without a convolution only the fused calls differ.
  for (bool nhwc : {nhwc_enabled_, !nhwc_enabled_})
    for (Search search : {Search::kHeuristic, Search::kMeasured})
      for (bool fuse : {true, false}) {
        if (fuse && !(fuse_enabled_ && fusion_sites_)) continue;
        if (!has_gpu_conv_ && (nhwc != nhwc_enabled_ || search != Search::kHeuristic)) continue;
        candidates.push_back({nhwc, search, fuse, depthwise_env_ == 1});
      }
  // Each candidate: captured (its priming run makes its plans), one replay to settle, then the
  // median of a few timed replays (host to host, as a request sees it).
  constexpr int kTimedReplays = 5;
  std::unique_ptr<Captured> best;
  Variant best_variant;
  double best_ms = 0;
  Status last = Status::Ok();
  std::string report;
  std::vector<Value> outs;
  // Then the best of those with depthwise convolutions by the other implementation (ours or
  // cuDNN's), when the graph has any and ONNXD_CUDA_DEPTHWISE does not fix the choice; and with
  // attention unfused (GEMM, softmax, GEMM), which wins where the fused kernel's grid is small.
  const size_t base = candidates.size();
  for (size_t ci = 0;; ++ci) {
    if (ci == base && best != nullptr) {
      if (has_depthwise_ && depthwise_env_ < 0) {
        Variant d = best_variant;
        d.own_dw = !d.own_dw;
        candidates.push_back(d);
      }
      if (has_attention_) {
        Variant a = best_variant;
        a.flash = false;
        candidates.push_back(a);
      }
    }
    if (ci >= candidates.size()) break;
    const Variant v = candidates[ci];
    variant_ = v;
    Status st = Capture(inputs, options, sig);
    if (st.ok()) {
      std::unique_ptr<Captured> c = std::move(sig->graph);
      std::vector<double> ms;
      st = Replay(*c, inputs, &outs, options);
      for (int k = 0; st.ok() && k < kTimedReplays; ++k) {
        const auto t0 = std::chrono::steady_clock::now();
        st = Replay(*c, inputs, &outs, options);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
      if (st.ok()) {
        std::sort(ms.begin(), ms.end());
        const double median = ms[ms.size() / 2];
        char buf[96];
        std::snprintf(buf, sizeof(buf), "%.3f ms", median);
        report += (report.empty() ? "" : "; ") + v.Name() + " " + buf;
        if (best == nullptr || median < best_ms) {
          DropGraph(std::move(best));
          best = std::move(c);
          best_variant = v;
          best_ms = median;
        } else {
          DropGraph(std::move(c));
        }
        continue;
      }
      DropGraph(std::move(c));
    }
    // A cancelled run or one past its deadline ends the tuning (the next run tries again), and so
    // does a first candidate (the default layout) that cannot be captured: host work on the inputs'
    // values does not depend on the variant. (A later one may fail alone: a layout whose cuDNN
    // call falls back to the CPU, say.)
    if (st.code() == StatusCode::kCancelled || st.code() == StatusCode::kDeadlineExceeded ||
        (ci == 0 && st.message().rfind(kNotCapturable, 0) == 0)) {
      DropGraph(std::move(best));
      variant_ = tuned_[batch_class].value_or(default_variant_);
      return st;
    }
    last = st;
    report += (report.empty() ? "" : "; ") + v.Name() + " failed (" + st.message() + ")";
  }
  if (best == nullptr) {
    variant_ = tuned_[batch_class].value_or(default_variant_);
    return last;
  }
  sig->graph = std::move(best);
  variant_ = best_variant;
  tuned_[batch_class] = best_variant;
  {
    int none = -1;  // the first instance to tune a class on this GPU sets it
    constants_->tuned[batch_class].compare_exchange_strong(none, best_variant.Code(), std::memory_order_acq_rel);
  }
  last_tuning_ = "batch class " + std::string(batch_class ? ">= 8" : "< 8") + ": " + best_variant.Name() +
                 " chosen; " + report;
  if (Debugging()) std::fprintf(stderr, "onnxd: CUDA autotune: %s\n", last_tuning_.c_str());
  return Status::Ok();
}

Status CudaSessionImpl::Replay(const Captured& c, std::span<const Value> inputs, std::vector<Value>* outputs,
                               const RunOptions& options) {
  if (options.cancelled != nullptr && options.cancelled->load(std::memory_order_relaxed))
    return Cancelled("run cancelled before it started");
  if (options.deadline != std::chrono::steady_clock::time_point::max() &&
      std::chrono::steady_clock::now() > options.deadline)
    return DeadlineExceeded("deadline exceeded before the run started");
  for (const auto& in : c.ins) {
    const Tensor& t = inputs[in.input].tensor();
    StageTensor(t, in.stage, in.halve);
  }
  cudaStream_t s = stream_->get();
  Status st = cuda::CudaStatus(cudaGraphLaunch(c.exec, s), "cudaGraphLaunch");
  if (st.ok()) st = stream_->Synchronize();
  if (!st.ok()) {
    cudaStreamSynchronize(s);
    cudaGetLastError();
    return st;
  }
  outputs->resize(c.outs.size());
  for (const auto& o : c.outs) {
    Tensor h = Tensor::Allocate(o.halved ? DataType::kFloat : o.dtype, o.shape);
    UnstageTensor(o.stage, &h, o.halved);
    (*outputs)[o.output] = Value(std::move(h));
  }
  copies_ = c.copies;
  replayed_ = true;
  return Status::Ok();
}

Status CudaSessionImpl::RunEager(std::span<const Value> inputs, std::vector<Value>* outputs,
                                 const RunOptions& options, size_t* staged_bytes) {
  const GraphPlan& g = *graph_;
  copies_ = 0;
  staged_ = 0;
  staged_total_ = 0;
  for (size_t k = 0; k < inputs.size() && k < g.input_ids.size(); ++k) {
    frame_.values[g.input_ids[k]] = inputs[k];
    on_host_[g.input_ids[k]] = 1;
  }
  Executor exec(*threads_, options);
  Status st = RunNodes(exec, options);
  if (st.ok()) st = EnsureHost(g.output_ids);
  // Every run ends with its stream drained: kernel errors surface here, and the next run may
  // reuse the staging area and the pooled buffers freely.
  if (st.ok()) st = stream_->Synchronize();
  if (st.ok()) {
    outputs->resize(g.output_ids.size());
    for (size_t k = 0; k < g.output_ids.size(); ++k) (*outputs)[k] = frame_.values[g.output_ids[k]];
    if (staged_bytes != nullptr) *staged_bytes = staged_total_;
    if (options.profile != nullptr && !prof_events_.empty()) {
      std::vector<NodeTiming>& nodes = options.profile->nodes;
      if (nodes.size() != g.nodes.size()) {
        nodes.assign(g.nodes.size(), NodeTiming{});
        for (size_t i = 0; i < g.nodes.size(); ++i) {
          nodes[i].name = g.nodes[i].name;
          nodes[i].op_type = g.nodes[i].op_type;
        }
      }
      for (size_t step = 0; step < order_.size(); ++step) {  // events in run order
        const int i = order_[step];
        float ms = 0.f;
        if (cudaEventElapsedTime(&ms, prof_events_[step], prof_events_[step + 1]) == cudaSuccess) {
          nodes[i].ns += static_cast<int64_t>(ms * 1e6);
          ++nodes[i].calls;
        }
      }
    }
  } else {
    // Leave nothing queued that reads buffers about to be reused.
    cudaStreamSynchronize(stream_->get());
    cudaGetLastError();
  }
  ClearRun();
  return st;
}

Status CudaSessionImpl::RunNode(int i, Executor& exec) {
  const PlannedNode& node = graph_->nodes[i];
  const std::vector<InputPlace>& places = plan_.input_place[i];
  const bool on_gpu = plan_.node_device[i] == Device::kCuda;
  std::vector<int> host_ids;
  for (size_t k = 0; k < node.inputs.size(); ++k) {
    int id = node.inputs[k];
    if (id < 0) continue;
    InputPlace p = k < places.size() ? places[k] : InputPlace::kNodeDevice;
    if (p == InputPlace::kNodeDevice && on_gpu) {
      RETURN_IF_ERROR(EnsureDevice(id));
    } else if (p != InputPlace::kAny) {
      host_ids.push_back(id);
    }
  }
  for (int id : node.implicit_inputs) host_ids.push_back(id);
  for (size_t k = 0; k < node.inputs.size(); ++k) {
    const int id = node.inputs[k];
    const bool dims_only = k < places.size() && places[k] == InputPlace::kAny;  // Shape: logical dims
    if (id >= 0 && IsView(id) && !on_host_[id] && !dims_only && !(on_gpu && AcceptsView(i, static_cast<int>(k))))
      RETURN_IF_ERROR(Materialize(id));
  }
  RETURN_IF_ERROR(EnsureHost(host_ids));
  bool out_nhwc = false;
  RETURN_IF_ERROR(PrepareLayouts(i, &out_nhwc));
  if (on_gpu && !plan_.cuda_params[i].op.empty()) {
    if (bias_gemm_[i].add >= 0) {
      bool done = false;
      RETURN_IF_ERROR(RunBiasGemm(i, &done));
      if (done) return Status::Ok();
    }
    if (attention_block_[i].pv >= 0) {
      bool done = false;
      RETURN_IF_ERROR(RunAttentionBlock(i, &done));
      if (done) return Status::Ok();
    }
    if (softmax_chain_[i].softmax >= 0) {
      bool done = false;
      RETURN_IF_ERROR(RunFusedSoftmax(i, &done));
      if (done) return Status::Ok();
    }
    if (add_layer_norm_[i].ln >= 0) {
      bool done = false;
      RETURN_IF_ERROR(RunAddLayerNorm(i, &done));
      if (done) return Status::Ok();
    }
    if (plan_.cuda_params[i].op == "Mul" && FoldScalarMul(i)) return Status::Ok();
    Status st = RunCudaKernel(i);
    // A layout-free elementwise node's output is laid out as its permuted-view input.
    if (st.ok() && node.outputs.size() == 1 && node.outputs[0] >= 0 && plan_.cuda_params[i].op != "Transpose" &&
        plan_.cuda_params[i].op != "MatMul")
      for (int id : node.inputs)
        if (id >= 0 && IsView(id)) {
          // (A scale only reaches a Mul, AcceptsView: (s * x) * y is s * (x * y).)
          perm_[node.outputs[0]] = perm_[id];
          scale_[node.outputs[0]] = scale_[id];
        }
    if (st.ok() && out_nhwc)
      for (int id : node.outputs)
        if (id >= 0 && dev_[id].is_tensor() && dev_[id].tensor().rank() == 4) nhwc_[id] = 1;
    if (st.ok())
      for (int id : node.outputs)
        if (id >= 0)
          halved_[id] = dev_[id].is_tensor() && HalvedResult(dev_[id].tensor().dtype(), id, node.inputs);
    if (st.code() != StatusCode::kUnimplemented || st.message().rfind(kFallback, 0) != 0) return st;
    // A case the CUDA kernel does not take (rank above 6, an unexpected element type...): the
    // CPU kernel computes it on host copies, so the GPU path never answers worse than the CPU.
    ++stats_.fallbacks;
    for (int id : node.outputs)
      if (id >= 0) {
        dev_[id] = Value();
        dev_buf_[id].reset();
      }
    std::vector<int> all;
    for (int id : node.inputs)
      if (id >= 0) all.push_back(id);
    RETURN_IF_ERROR(EnsureHost(all));
    return RunOnHost(i, exec, false);
  }
  return RunOnHost(i, exec, on_gpu);
}

// CPU kernels, and the metadata-only aliases placed on the GPU (their data input is a device view
// they never dereference).
Status CudaSessionImpl::RunOnHost(int i, Executor& exec, bool on_gpu) {
  const PlannedNode& node = graph_->nodes[i];
  std::vector<const Value*> ins;
  for (size_t k = 0; k < node.inputs.size(); ++k) {
    int id = node.inputs[k];
    if (id < 0) {
      ins.push_back(nullptr);
    } else if (on_host_[id] && !(on_gpu && k == 0)) {
      ins.push_back(&frame_.values[id]);
    } else if (dev_[id].is_tensor()) {
      ins.push_back(&dev_[id]);
    } else {
      ins.push_back(&frame_.values[id]);
    }
  }
  if (capture_ != nullptr) {
    // A host node reading the inputs' values would be baked into the graph with this run's, and
    // so would one whose result changes from run to run, or a subgraph's.
    const std::string& op = node.op_type;
    if (!node.implicit_inputs.empty() || op.rfind("Random", 0) == 0 || op == "Bernoulli" || op == "Multinomial")
      return Unavailable(std::string(kNotCapturable) + Label(node) + " runs on the host");
    const std::vector<InputPlace>& places = plan_.input_place[i];
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      const int id = node.inputs[k];
      const bool reads_data = k >= places.size() || places[k] != InputPlace::kAny;
      if (id >= 0 && reads_data && ins[k] == &frame_.values[id] && tainted_[id])
        return Unavailable(std::string(kNotCapturable) + Label(node) + " reads '" + graph_->value_names[id] +
                           "' on the host");
    }
  }
  std::vector<Value> outs(node.outputs.size());
  MixedContext ctx(exec, frame_, node, ins, &outs);
  RETURN_IF_ERROR(node.kernel->Compute(ctx));
  for (size_t k = 0; k < node.outputs.size(); ++k) {
    int id = node.outputs[k];
    if (id < 0) continue;
    int src = ctx.aliased(static_cast<int>(k));
    const int src_id = src >= 0 ? node.inputs[src] : -1;
    if (src_id >= 0 && ins[src] == &dev_[src_id]) {
      // An alias of device data: a device value sharing the source's storage.
      dev_[id] = std::move(outs[k]);
      dev_buf_[id] = dev_buf_[src_id];
      halved_[id] = halved_[src_id];
      nhwc_[id] = nhwc_[src_id];
      on_host_[id] = 0;
      frame_.values[id] = Value();
      perm_[id].clear();
      scale_[id] = 1.f;
      if (IsView(src_id) && dev_[id].is_tensor()) {
        // A reshaped permuted view (the reshape ops take views, AcceptsView): still a view when
        // the reshape only splits axes or merges ones adjacent in memory; else the source is
        // materialized and the alias made again over it.
        const Tensor& src_t = dev_[src_id].tensor();
        const Tensor& out_t = dev_[id].tensor();
        auto reshaped = perm_[src_id].empty() ? std::optional<cuda::ReshapedView>(cuda::ReshapedView{{}, {}})
                                              : cuda::ReshapeView(src_t.shape().dims(), perm_[src_id], out_t.shape().dims());
        if (reshaped) {
          bool identity = true;
          for (size_t a = 0; a < reshaped->perm.size(); ++a) identity &= reshaped->perm[a] == static_cast<int64_t>(a);
          if (!identity) perm_[id] = std::move(reshaped->perm);
          scale_[id] = scale_[src_id];
        } else {
          const DataType dt = out_t.dtype();
          const Shape shape = out_t.shape();
          RETURN_IF_ERROR(Materialize(src_id));
          dev_[id] = Value(Tensor::View(dt, shape, dev_[src_id].tensor().raw_data()));
          dev_buf_[id] = dev_buf_[src_id];
        }
      }
    } else {
      if (on_gpu) return Internal("a node placed on the GPU produced host data");
      frame_.values[id] = std::move(outs[k]);
      on_host_[id] = 1;
    }
  }
  return Status::Ok();
}

int64_t NumElementsOf(std::span<const int64_t> dims, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to; ++i) n *= dims[i];
  return n;
}

Status CudaSessionImpl::RunCudaKernel(int i) {
  const PlannedNode& node = graph_->nodes[i];
  const CudaNodeParams& p = plan_.cuda_params[i];
  cudaStream_t s = stream_->get();
  auto in = [&](int k) -> const Tensor* {
    if (k >= static_cast<int>(node.inputs.size()) || node.inputs[k] < 0) return nullptr;
    return &dev_[node.inputs[k]].tensor();
  };
  if (IsCudaDataOp(p.op)) {
    // Data-movement and mask ops (runtime/cuda_data_ops.cc): inputs as held (device views, host
    // tensors for the host-side ones), outputs allocated here by index.
    std::vector<CudaDataInput> data_in(node.inputs.size());
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      const int id = node.inputs[k];
      if (id < 0) continue;
      if (dev_[id].is_tensor()) data_in[k].device = &dev_[id].tensor();
      if (on_host_[id] && frame_.values[id].is_tensor()) data_in[k].host = &frame_.values[id].tensor();
      data_in[k].halved = halved_[id];
      // A capture bakes what the kernel reads on the host (Slice's starts...) into the graph: fine
      // for constants and values computed from dims, not for a graph input's values.
      const std::vector<InputPlace>& places = plan_.input_place[i];
      if (capture_ != nullptr && k < places.size() && places[k] == InputPlace::kHost && tainted_[id])
        return Unavailable(std::string(kNotCapturable) + Label(node) + " reads '" + graph_->value_names[id] +
                           "' on the host");
    }
    auto output = [&](int k, DataType dtype, const Shape& shape) -> StatusOr<Tensor*> {
      const int id = k < static_cast<int>(node.outputs.size()) ? node.outputs[k] : -1;
      if (id < 0) return static_cast<Tensor*>(nullptr);
      return DeviceOutput(id, dtype, shape);
    };
    if (p.op == "Resize" || p.op == "Upsample") return RunCudaResize(*node.kernel, data_in, output, s);
    return RunCudaDataOp(p, data_in, static_cast<int>(node.outputs.size()), options_.fp16, output, s);
  }
  if (p.op == "Attention") return RunCudaAttention(i);  // Y may be unnamed, present_key wanted
  const int out_id = node.outputs.empty() ? -1 : node.outputs[0];
  if (out_id < 0) return Status::Ok();  // nothing wanted
  const Tensor* x = in(0);
  if (x == nullptr) return InvalidArgument("input 0 is missing");
  if (p.op == "Where") {
    // Input 0 is the bool condition; X and Y carry the type.
    const Tensor* a = in(1);
    const Tensor* b = in(2);
    if (a == nullptr || b == nullptr) return InvalidArgument("Where takes three inputs");
    if (x->dtype() != DataType::kBool || a->dtype() != b->dtype() ||
        (a->dtype() != DataType::kFloat && a->dtype() != DataType::kFloat16))
      return Fallback("Where element types");
    if (x->rank() > cuda::kMaxRank || a->rank() > cuda::kMaxRank || b->rank() > cuda::kMaxRank)
      return Fallback("rank above 6");
    auto ab = cuda::BroadcastShape(a->shape().dims(), b->shape().dims());
    if (!ab.ok()) return InvalidArgument("X " + a->shape().ToString() + " and Y " + b->shape().ToString() + " do not broadcast");
    auto shape = cuda::BroadcastShape(x->shape().dims(), *ab);
    if (!shape.ok()) return InvalidArgument("the condition " + x->shape().ToString() + " does not broadcast");
    if (shape->size() > static_cast<size_t>(cuda::kMaxRank)) return Fallback("rank above 6");
    Tensor* out = nullptr;
    ASSIGN_OR_RETURN(out, DeviceOutput(out_id, a->dtype(), Shape(std::span<const int64_t>(*shape))));
    const auto* c = static_cast<const uint8_t*>(x->raw_data());
    if (a->dtype() == DataType::kFloat16)
      return cuda::Where(c, x->shape().dims(), a->data<__half>(), a->shape().dims(), b->data<__half>(),
                         b->shape().dims(), out->data<__half>(), s);
    return cuda::Where(c, x->shape().dims(), a->data<float>(), a->shape().dims(), b->data<float>(), b->shape().dims(),
                       out->data<float>(), s);
  }
  const DataType dt = x->dtype();
  const bool is_half = dt == DataType::kFloat16;
  // Integers: Add, Sub and Mul only (position ids and the like), wrapping as the CPU ops do.
  const bool is_int = dt == DataType::kInt32 || dt == DataType::kInt64;
  if (dt != DataType::kFloat && !is_half && !(is_int && (p.op == "Add" || p.op == "Sub" || p.op == "Mul")))
    return Fallback(std::string("element type ") + DataTypeName(dt));
  // Only the data inputs: host-side ones (a Reduce*'s constant axes) have no device tensor, and
  // an empty one here would send every such reduction back to the CPU.
  const std::vector<InputPlace>& places = plan_.input_place[i];
  for (size_t k = 1; k < node.inputs.size(); ++k) {
    if (k < places.size() && places[k] != InputPlace::kNodeDevice) continue;
    if (in(static_cast<int>(k)) != nullptr && in(static_cast<int>(k))->dtype() != dt)
      return Fallback("inputs of mixed element types");
  }

  const std::string& op = p.op;
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow") {
    const Tensor* y = in(1);
    if (y == nullptr) return InvalidArgument("input 1 is missing");
    if (x->rank() > cuda::kMaxRank || y->rank() > cuda::kMaxRank) return Fallback("rank above 6");
    auto shape = cuda::BroadcastShape(x->shape().dims(), y->shape().dims());
    if (!shape.ok())
      return InvalidArgument("shapes " + x->shape().ToString() + " and " + y->shape().ToString() + " do not broadcast");
    cuda::BinaryOp bop = op == "Add" ? cuda::BinaryOp::kAdd
                         : op == "Sub" ? cuda::BinaryOp::kSub
                         : op == "Mul" ? cuda::BinaryOp::kMul
                         : op == "Pow" ? cuda::BinaryOp::kPow
                                       : cuda::BinaryOp::kDiv;
    const Tensor* a = x;
    const Tensor* b = y;
    Tensor* out = nullptr;
    ASSIGN_OR_RETURN(out, DeviceOutput(out_id, dt, Shape(std::span<const int64_t>(*shape))));
    auto run = [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      return cuda::BinaryElementwise(bop, a->data<T>(), a->shape().dims(), b->data<T>(), b->shape().dims(),
                                     out->data<T>(), s);
    };
    if (is_half) return run(static_cast<__half*>(nullptr));
    if (dt == DataType::kInt32) return run(static_cast<int32_t*>(nullptr));
    if (dt == DataType::kInt64) return run(static_cast<int64_t*>(nullptr));
    return run(static_cast<float*>(nullptr));
  }
  static const std::pair<const char*, cuda::UnaryOp> kUnary[] = {
      {"Relu", cuda::UnaryOp::kRelu}, {"Sigmoid", cuda::UnaryOp::kSigmoid}, {"Tanh", cuda::UnaryOp::kTanh},
      {"Gelu", cuda::UnaryOp::kGelu}, {"Erf", cuda::UnaryOp::kErf},         {"Sqrt", cuda::UnaryOp::kSqrt},
      {"Exp", cuda::UnaryOp::kExp},   {"Log", cuda::UnaryOp::kLog},         {"Neg", cuda::UnaryOp::kNeg},
      {"Abs", cuda::UnaryOp::kAbs},   {"Reciprocal", cuda::UnaryOp::kReciprocal}};
  const auto* unary = std::find_if(std::begin(kUnary), std::end(kUnary), [&](const auto& e) { return op == e.first; });
  if (unary != std::end(kUnary)) {
    cuda::UnaryOp uop = unary->second;
    if (uop == cuda::UnaryOp::kGelu && p.gelu_tanh) uop = cuda::UnaryOp::kGeluTanh;
    const Tensor* src = x;
    Tensor* out = nullptr;
    ASSIGN_OR_RETURN(out, DeviceOutput(out_id, dt, src->shape()));
    if (is_half) return cuda::UnaryElementwise(uop, src->data<__half>(), out->data<__half>(), src->num_elements(), s);
    return cuda::UnaryElementwise(uop, src->data<float>(), out->data<float>(), src->num_elements(), s);
  }
  if (op == "Softmax" || op == "LogSoftmax") {
    const int r = x->rank();
    int64_t cols = 1;
    if (p.opset < 13) {
      int64_t axis = p.axis < 0 ? p.axis + r : p.axis;
      if (axis < 0 || axis > r) return InvalidArgument("axis " + std::to_string(p.axis) + " out of range");
      cols = NumElementsOf(x->shape().dims(), static_cast<size_t>(axis), static_cast<size_t>(r));
    } else {
      int64_t axis = p.axis < 0 ? p.axis + r : p.axis;
      // The planner's rank inference placed it; a run whose rank says otherwise goes to the CPU op.
      if (axis != r - 1) return Fallback(op + " over an axis that is not the last");
      cols = r == 0 ? 1 : x->dim(r - 1);
    }
    const int64_t n = x->num_elements();
    const int64_t rows = cols == 0 ? 0 : n / cols;
    const Tensor* src = x;
    Tensor* out = nullptr;
    ASSIGN_OR_RETURN(out, DeviceOutput(out_id, dt, src->shape()));
    if (rows == 0 || cols == 0) return Status::Ok();
    if (op == "LogSoftmax") {
      if (is_half) return cuda::LogSoftmaxLastAxis(src->data<__half>(), out->data<__half>(), rows, cols, s);
      return cuda::LogSoftmaxLastAxis(src->data<float>(), out->data<float>(), rows, cols, s);
    }
    if (is_half) return cuda::SoftmaxLastAxis(src->data<__half>(), out->data<__half>(), rows, cols, s);
    return cuda::SoftmaxLastAxis(src->data<float>(), out->data<float>(), rows, cols, s);
  }
  if (op == "Conv" || op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool" || op == "GlobalMaxPool" ||
      op == "LpPool")
    return RunConvOrPool(i, *x, dt);
  if (op == "IsNaN") {
    Tensor* out = nullptr;
    ASSIGN_OR_RETURN(out, DeviceOutput(out_id, DataType::kBool, x->shape()));
    auto* o = static_cast<uint8_t*>(out->raw_data());
    if (is_half) return cuda::IsNaN(x->data<__half>(), o, x->num_elements(), s);
    return cuda::IsNaN(x->data<float>(), o, x->num_elements(), s);
  }
  if (IsCudaTrailingReduce(op)) {
    // The planner's condition: the reduced axes are the trailing k; each row of the rest reduces.
    const int r = x->rank();
    const int k = static_cast<int>(p.axes.size());
    if (r == 0 || k == 0 || k > r) return Fallback("reduction axes do not fit the input's rank");
    std::vector<bool> reduced(r, false);
    for (int64_t a : p.axes) {
      const int64_t ax = a < 0 ? a + r : a;
      if (ax < r - k || ax >= r) return Fallback("reduced axes are not the trailing ones");
      reduced[ax] = true;
    }
    int64_t cols = 1;
    Shape out_shape;
    for (int d = 0; d < r; ++d) {
      if (!reduced[d]) {
        out_shape.PushBack(x->dim(d));
      } else {
        cols *= x->dim(d);
        if (p.keepdims) out_shape.PushBack(1);
      }
    }
    if (cols == 0) return Fallback("empty reduced axes");
    const int64_t rows = x->num_elements() / cols;
    // Every op IsCudaTrailingReduce lists, by name: one added there without a kernel here is an
    // error, not another reduction.
    static const std::pair<const char*, cuda::ReduceOp> kReduce[] = {
        {"ReduceMean", cuda::ReduceOp::kMean},       {"ReduceSum", cuda::ReduceOp::kSum},
        {"ReduceMax", cuda::ReduceOp::kMax},         {"ReduceMin", cuda::ReduceOp::kMin},
        {"ReduceProd", cuda::ReduceOp::kProd},       {"ReduceL2", cuda::ReduceOp::kL2},
        {"ReduceLogSumExp", cuda::ReduceOp::kLogSumExp}, {"ReduceSumSquare", cuda::ReduceOp::kSumSquare}};
    const auto* red =
        std::find_if(std::begin(kReduce), std::end(kReduce), [&](const auto& e) { return op == e.first; });
    if (red == std::end(kReduce)) return Internal("op " + op + " was placed on the GPU but has no CUDA reduction");
    const cuda::ReduceOp rop = red->second;
    const Tensor* src = x;
    Tensor* out = nullptr;
    ASSIGN_OR_RETURN(out, DeviceOutput(out_id, dt, out_shape));
    if (rows == 0) return Status::Ok();
    if (is_half) return cuda::ReduceLastAxis(rop, src->data<__half>(), out->data<__half>(), rows, cols, s);
    return cuda::ReduceLastAxis(rop, src->data<float>(), out->data<float>(), rows, cols, s);
  }
  if (op == "LayerNormalization" || op == "RMSNormalization") {
    const bool rms = op == "RMSNormalization";
    const Tensor* scale = in(1);
    const Tensor* bias = rms ? nullptr : in(2);
    const int r = x->rank();
    if (r == 0 || scale == nullptr) return InvalidArgument(op + " needs a rank >= 1 input and a scale");
    const int64_t axis = p.axis < 0 ? p.axis + r : p.axis;
    if (axis != r - 1) return Fallback(op + " over axes that are not the last");
    const int64_t cols = x->dim(r - 1);
    if (scale->num_elements() != cols || (bias != nullptr && bias->num_elements() != cols))
      return Fallback("scale / bias not of the last dim's size");
    const int64_t rows = cols == 0 ? 0 : x->num_elements() / cols;
    const Tensor* src = x;
    Tensor* out = nullptr;
    ASSIGN_OR_RETURN(out, DeviceOutput(out_id, dt, src->shape()));
    if (rows == 0) return Status::Ok();
    if (rms && is_half)
      return cuda::RmsNormLastAxis(src->data<__half>(), scale->data<__half>(), out->data<__half>(), rows, cols,
                                   p.epsilon, s);
    if (rms)
      return cuda::RmsNormLastAxis(src->data<float>(), scale->data<float>(), out->data<float>(), rows, cols, p.epsilon, s);
    if (is_half)
      return cuda::LayerNormLastAxis(src->data<__half>(), scale->data<__half>(),
                                     bias ? bias->data<__half>() : nullptr, out->data<__half>(), rows, cols,
                                     p.epsilon, s);
    return cuda::LayerNormLastAxis(src->data<float>(), scale->data<float>(), bias ? bias->data<float>() : nullptr,
                                   out->data<float>(), rows, cols, p.epsilon, s);
  }
  if (op == "Transpose") {
    const int r = x->rank();
    if (r > cuda::kMaxRank) return Fallback("rank above 6");
    std::vector<int64_t> perm = p.perm;
    if (perm.empty())
      for (int d = r - 1; d >= 0; --d) perm.push_back(d);
    if (static_cast<int>(perm.size()) != r) return InvalidArgument("perm has the wrong length for the input's rank");
    Shape out_shape;
    std::vector<bool> seen(r, false);
    for (int64_t d : perm) {
      if (d < 0 || d >= r || seen[d]) return InvalidArgument("perm is not a permutation");
      seen[d] = true;
      out_shape.PushBack(x->dim(static_cast<int>(d)));
    }
    // x may be a permuted view (its data laid out as P, x's axis k being P's axis q[k]): the
    // output's axis k is then P's axis q[perm[k]].
    const int x_id = node.inputs[0];
    const std::vector<int64_t>& q = perm_[x_id];
    const std::vector<int64_t> phys = cuda::PhysicalDims(x->shape().dims(), q);
    std::vector<int64_t> comp = perm;
    if (!q.empty())
      for (int k = 0; k < r; ++k) comp[k] = q[perm[k]];
    bool identity = true;
    for (int k = 0; k < r; ++k) identity &= comp[k] == k;
    // Nothing to move when the result is P itself (a MatMul wrote it transposed), or when every
    // reader takes the view (a MatMul folds the transpose into its strides).
    if (identity || may_view_[out_id]) {
      AliasOutput(out_id, x_id, dt, out_shape, identity ? std::vector<int64_t>() : comp);  // (keeps x's scale)
      return Status::Ok();
    }
    const float scale = scale_[x_id];
    Tensor* out = nullptr;
    ASSIGN_OR_RETURN(out, DeviceOutput(out_id, dt, out_shape));
    if (x->num_elements() == 0) return Status::Ok();
    ++stats_.moved_transposes;
    if (Debugging()) std::fprintf(stderr, "onnxd: %s moves data (a reader takes no view)\n", Label(node).c_str());
    if (is_half) {
      RETURN_IF_ERROR(cuda::Transpose(x->data<__half>(), phys, comp, out->data<__half>(), s));
      if (scale != 1.f) return cuda::ScaleElementwise(out->data<__half>(), out->data<__half>(), out->num_elements(), scale, s);
      return Status::Ok();
    }
    RETURN_IF_ERROR(cuda::Transpose(x->data<float>(), phys, comp, out->data<float>(), s));
    if (scale != 1.f) return cuda::ScaleElementwise(out->data<float>(), out->data<float>(), out->num_elements(), scale, s);
    return Status::Ok();
  }
  const cuda::GemmMath math = options_.allow_tf32 ? cuda::GemmMath::kTf32 : cuda::GemmMath::kFp32;
  if (op == "ConvTranspose") {
    const Tensor* w = in(1);
    if (w == nullptr) return InvalidArgument("input 1 (W) is missing");
    auto output = [&](int k, DataType dtype, const Shape& shape) -> StatusOr<Tensor*> {
      if (k != 0) return static_cast<Tensor*>(nullptr);
      return DeviceOutput(out_id, dtype, shape);
    };
    return RunCudaConvTranspose(*node.kernel, *x, *w, in(2), *blas_, *pool_, options_.allow_tf32, output, s);
  }
  if (op == "Gemm") {
    const Tensor* b = in(1);
    const Tensor* c = in(2);
    if (b == nullptr || x->rank() != 2 || b->rank() != 2) return InvalidArgument("Gemm takes rank-2 A and B");
    cuda::GemmArgs args;
    args.trans_a = p.trans_a;
    args.trans_b = p.trans_b;
    args.m = p.trans_a ? x->dim(1) : x->dim(0);
    args.k = p.trans_a ? x->dim(0) : x->dim(1);
    args.n = p.trans_b ? b->dim(0) : b->dim(1);
    const int64_t kb = p.trans_b ? b->dim(1) : b->dim(0);
    if (kb != args.k)
      return InvalidArgument("A " + x->shape().ToString() + " and B " + b->shape().ToString() + " do not multiply");
    args.alpha = p.alpha;
    const Tensor* a = x;
    const Shape out_shape{args.m, args.n};
    if (c != nullptr) {
      if (c->rank() > 2) return InvalidArgument("Gemm's C has rank above 2");
      auto shape = cuda::BroadcastShape(out_shape.dims(), c->shape().dims());
      if (!shape.ok() || *shape != out_shape.ToVector())
        return InvalidArgument("C " + c->shape().ToString() + " does not broadcast to " + out_shape.ToString());
    }
    Tensor* out = nullptr;
    ASSIGN_OR_RETURN(out, DeviceOutput(out_id, dt, out_shape));
    if (args.m == 0 || args.n == 0) return Status::Ok();
    // With C, the product goes to a pooled temporary and Y = product + C (beta is 1: the
    // planner's condition); the elementwise kernels do not take an output aliasing an input.
    cuda::DeviceBuffer product;
    void* prod = out->raw_data();
    if (c != nullptr) {
      ASSIGN_OR_RETURN(product, pool_->Allocate(out->bytes()));
      prod = product.data();
    }
    if (args.k == 0) {
      ONNXD_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(prod, 0, out->bytes(), s));
    } else if (is_half) {
      RETURN_IF_ERROR(blas_->GemmFp16(args, a->raw_data(), b->raw_data(), prod));
    } else {
      RETURN_IF_ERROR(blas_->Gemm(args, a->data<float>(), b->data<float>(), static_cast<float*>(prod), math));
    }
    if (c != nullptr) {
      // `product` goes back to the pool on return; the next user of the block is queued on the
      // same stream, after this Add.
      if (is_half)
        return cuda::BinaryElementwise(cuda::BinaryOp::kAdd, static_cast<const __half*>(prod), out_shape.dims(),
                                       c->data<__half>(), c->shape().dims(), out->data<__half>(), s);
      return cuda::BinaryElementwise(cuda::BinaryOp::kAdd, static_cast<const float*>(prod), out_shape.dims(),
                                     c->data<float>(), c->shape().dims(), out->data<float>(), s);
    }
    return Status::Ok();
  }
  if (op == "MatMul") {
    const Tensor* b = in(1);
    if (b == nullptr) return InvalidArgument("input 1 is missing");
    return RunMatMul(i, *x, *b, out_id, dt, math);
  }
  return Internal("op " + op + " was placed on the GPU but has no CUDA path");
}

static_assert(kMaxCudaTransposeRank == cuda::kMaxRank, "planner/cuda_fusions.h and the Transpose kernel agree");

void CudaSessionImpl::PlanFusions() {
  const int nodes = static_cast<int>(graph_->nodes.size());
  skip_.assign(nodes, 0);
  perm_.assign(graph_->num_values(), {});
  scale_.assign(graph_->num_values(), 1.f);
  // Planned once at compile (engine.cc, with ONNXD_CUDA_FOLD_TRANSPOSE); this session's copies.
  const CudaFusionPlan& f = *plan_.fusions;
  residual_ = f.residual;
  bias_gemm_ = f.bias_gemm;
  softmax_chain_ = f.softmax_chain;
  add_layer_norm_ = f.add_layer_norm;
  attention_block_ = f.attention_block;
  order_ = f.order;
  may_view_ = f.may_view;
  mm_out_perm_ = f.mm_out_perm;
}

bool CudaSessionImpl::AcceptsView(int i, int k) const {
  const PlannedNode& node = graph_->nodes[i];
  if (node.outputs.size() != 1) return false;
  const std::string& op = plan_.cuda_params[i].op.empty() ? node.op_type : plan_.cuda_params[i].op;
  switch (ViewRoleOf(op, node.inputs.size())) {
    case ViewRole::kMatMul: return k <= 1;
    case ViewRole::kTranspose: return k == 0;
    case ViewRole::kReshape: return k == 0 && node.outputs[0] >= 0 && may_view_[node.outputs[0]];
    case ViewRole::kUnary: return node.outputs[0] >= 0 && may_view_[node.outputs[0]] && scale_[node.inputs[k]] == 1.f;
    case ViewRole::kBinary: {
      if (node.outputs[0] < 0 || !may_view_[node.outputs[0]]) return false;
      // A scaled view only into a Mul (which folds its scalar into the scale).
      if (scale_[node.inputs[k]] != 1.f && op != "Mul") return false;
      // The other operand must be one element of no higher rank (the result keeps the view's dims).
      const int self = node.inputs[k], other = node.inputs[1 - k];
      if (other < 0 || other == self || !dev_[other].is_tensor() || !dev_[self].is_tensor()) return false;
      const Tensor& o = dev_[other].tensor();
      return o.num_elements() == 1 && o.rank() <= dev_[self].tensor().rank() && !IsView(other);
    }
    case ViewRole::kNone: return false;
  }
  return false;
}

Status CudaSessionImpl::Materialize(int id) {
  if (!IsView(id)) return Status::Ok();
  const std::vector<int64_t> q = std::move(perm_[id]);
  const float scale = scale_[id];
  perm_[id].clear();
  const Tensor& t = dev_[id].tensor();
  const DataType dt = t.dtype();
  if (dt != DataType::kFloat && dt != DataType::kFloat16)
    return Internal("permuted view of " + std::string(DataTypeName(dt)) + " value '" + graph_->value_names[id] + "'");
  const Shape shape = t.shape();
  const void* src = t.raw_data();
  const std::vector<int64_t> phys = cuda::PhysicalDims(shape.dims(), q);
  const DeviceBufferPtr keep = dev_buf_[id];  // the source outlives the queued copy's enqueue
  Tensor* out = nullptr;
  ASSIGN_OR_RETURN(out, DeviceOutput(id, dt, shape));  // (resets perm_ and scale_)
  if (out->num_elements() == 0) return Status::Ok();
  cudaStream_t s = stream_->get();
  const bool half = dt == DataType::kFloat16;
  if (!q.empty()) {
    ++stats_.moved_transposes;
    if (Debugging()) std::fprintf(stderr, "onnxd: permuted view '%s' materialized\n", graph_->value_names[id].c_str());
    RETURN_IF_ERROR(half ? cuda::Transpose(static_cast<const __half*>(src), phys, q, out->data<__half>(), s)
                         : cuda::Transpose(static_cast<const float*>(src), phys, q, out->data<float>(), s));
    src = out->raw_data();
  }
  if (scale == 1.f) return Status::Ok();
  const int64_t n = out->num_elements();
  return half ? cuda::ScaleElementwise(static_cast<const __half*>(src), out->data<__half>(), n, scale, s)
              : cuda::ScaleElementwise(static_cast<const float*>(src), out->data<float>(), n, scale, s);
}

Status CudaSessionImpl::RunMatMul(int i, const Tensor& a_in, const Tensor& b_in, int out_id, DataType dt,
                                  cuda::GemmMath math) {
  const PlannedNode& node = graph_->nodes[i];
  if (a_in.rank() == 0 || b_in.rank() == 0) return InvalidArgument("MatMul of a scalar");
  // Promote rank-1 operands as numpy does ([K] -> [1,K] for A, [K,1] for B), drop those dims after.
  std::vector<int64_t> ad = a_in.shape().ToVector(), bd = b_in.shape().ToVector();
  const bool a_vec = ad.size() == 1, b_vec = bd.size() == 1;
  if (a_vec) ad.insert(ad.begin(), 1);
  if (b_vec) bd.push_back(1);
  const int64_t m = ad[ad.size() - 2], k = ad.back(), n = bd.back();
  if (bd[bd.size() - 2] != k)
    return InvalidArgument("A " + a_in.shape().ToString() + " and B " + b_in.shape().ToString() + " do not multiply");
  std::vector<int64_t> abatch(ad.begin(), ad.end() - 2), bbatch(bd.begin(), bd.end() - 2);
  auto batch_or = cuda::BroadcastShape(abatch, bbatch);
  if (!batch_or.ok())
    return InvalidArgument("batch dims of " + a_in.shape().ToString() + " and " + b_in.shape().ToString() +
                           " do not broadcast");
  Shape out_shape;
  for (int64_t d : *batch_or) out_shape.PushBack(d);
  if (!a_vec) out_shape.PushBack(m);
  if (!b_vec) out_shape.PushBack(n);
  std::vector<int64_t> cd = *batch_or;  // the output with both matrix axes
  cd.push_back(m);
  cd.push_back(n);
  cudaStream_t s = stream_->get();
  if (out_shape.NumElements() == 0 || k == 0) {
    Tensor* out = nullptr;
    ASSIGN_OR_RETURN(out, DeviceOutput(out_id, dt, out_shape));
    if (out->num_elements() > 0) ONNXD_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(out->raw_data(), 0, out->bytes(), s));
    return Status::Ok();
  }
  // The operands as the GEMM reads them: packed, or permuted views of a Transpose's input.
  auto view_of = [&](int slot, const std::vector<int64_t>& dims) {
    return cuda::ViewOfPermuted(dims, perm_[node.inputs[slot]]);
  };
  // The result laid out as its Transpose readers would lay it out, when it has such readers.
  const std::vector<int64_t>& tp = mm_out_perm_[i];
  std::vector<int64_t> c_perm;
  if (!tp.empty() && !a_vec && !b_vec && tp.size() == cd.size()) c_perm = cuda::InversePerm(tp);
  auto plan_for = [&]() {
    return cuda::PlanStridedGemm(view_of(0, ad), view_of(1, bd), cuda::ViewOfPermuted(cd, c_perm));
  };
  std::optional<cuda::StridedGemmPlan> plan = plan_for();
  if (!plan && !c_perm.empty()) {
    c_perm.clear();
    plan = plan_for();
  }
  if (!plan) {
    // An operand with neither matrix axis packed: made packed first.
    for (int slot = 0; slot < 2; ++slot) RETURN_IF_ERROR(Materialize(node.inputs[slot]));
    plan = plan_for();
    if (!plan) return Fallback("a MatMul beyond cuBLAS's 32-bit interface");
  }
  const Tensor& a = dev_[node.inputs[0]].tensor();
  const Tensor& b = dev_[node.inputs[1]].tensor();
  Tensor* out = nullptr;
  ASSIGN_OR_RETURN(out, DeviceOutput(out_id, dt, out_shape));
  perm_[out_id] = c_perm;
  // Scaled views (a folded Mul by a scalar) scale the product: the GEMM's alpha.
  const float alpha = scale_[node.inputs[0]] * scale_[node.inputs[1]];
  return cuda::RunStridedGemm(*blas_, *pool_, *plan, a.raw_data(), b.raw_data(), out->raw_data(),
                              dt == DataType::kFloat16, math, s, alpha);
}

bool CudaSessionImpl::FoldScalarMul(int i) {
  const GraphPlan& g = *graph_;
  const PlannedNode& node = g.nodes[i];
  if (node.inputs.size() != 2 || node.outputs.size() != 1 || node.outputs[0] < 0 || !may_view_[node.outputs[0]])
    return false;
  const int out = node.outputs[0];
  for (int k = 0; k < 2; ++k) {
    const int c = node.inputs[k], x = node.inputs[1 - k];
    float v = 0.f;
    int c_rank = 0;
    if (x < 0 || c == x || !ScalarConstant(g, c, &v, &c_rank)) continue;
    if (!dev_[x].is_tensor() || nhwc_[x]) return false;
    const Tensor& xt = dev_[x].tensor();
    const DataType dt = xt.dtype();
    if ((dt != DataType::kFloat && dt != DataType::kFloat16) || c_rank > xt.rank()) return false;
    if (dt == DataType::kFloat16) v = __half2float(__float2half(v));  // the constant as the device holds it
    const Shape shape = xt.shape();
    AliasOutput(out, x, dt, shape, perm_[x]);
    scale_[out] *= v;
    halved_[out] = halved_[x];
    ++stats_.folded_scales;
    return true;
  }
  return false;
}

Status CudaSessionImpl::RunAddLayerNorm(int i, bool* done) {
  *done = false;
  if (!fuse_enabled_) return Status::Ok();
  const GraphPlan& g = *graph_;
  const int ln = add_layer_norm_[i].ln, out_id = add_layer_norm_[i].out;
  const PlannedNode& add = g.nodes[i];
  const PlannedNode& l = g.nodes[ln];
  const int a_id = add.inputs[0], b_id = add.inputs[1];
  const int scale_id = l.inputs.size() > 1 ? l.inputs[1] : -1, bias_id = l.inputs.size() > 2 ? l.inputs[2] : -1;
  if (scale_id < 0) return Status::Ok();
  for (int id : {a_id, b_id})
    if (!dev_[id].is_tensor() || nhwc_[id] || IsView(id)) return Status::Ok();
  // The LayerNorm's scale and bias: constants (uploaded once) or values already computed.
  for (int id : {scale_id, bias_id}) {
    if (id < 0) continue;
    ASSIGN_OR_RETURN(const bool there, OnDevice(id));
    if (!there) return Status::Ok();
  }
  for (int id : {scale_id, bias_id})
    if (id >= 0 && (IsView(id) || nhwc_[id])) return Status::Ok();
  // x the operand with the sum's shape; the other repeats over x's rows: its dims, right-aligned,
  // are 1s and then x's trailing dims (a [1, S, C] position embedding, a [C] bias), or x's own.
  auto repeats_over = [](const Tensor& r, const Tensor& x) {
    if (r.rank() > x.rank() || r.rank() == 0) return false;
    bool leading = true;
    for (int d = 0; d < r.rank(); ++d) {
      const int64_t rd = r.dim(d), xd = x.dim(x.rank() - r.rank() + d);
      if (leading && rd == 1 && xd != 1) continue;
      leading = false;
      if (rd != xd) return false;
    }
    return r.dim(r.rank() - 1) == x.dim(x.rank() - 1);
  };
  const Tensor* a = &dev_[a_id].tensor();
  const Tensor* b = &dev_[b_id].tensor();
  if (!repeats_over(*b, *a)) std::swap(a, b);  // the sum commutes, rounding included
  if (!repeats_over(*b, *a)) return Status::Ok();
  const Tensor& scale = dev_[scale_id].tensor();
  const Tensor* bias = bias_id >= 0 ? &dev_[bias_id].tensor() : nullptr;
  const DataType dt = a->dtype();
  if ((dt != DataType::kFloat && dt != DataType::kFloat16) || b->dtype() != dt || scale.dtype() != dt ||
      (bias != nullptr && bias->dtype() != dt) || a->rank() == 0)
    return Status::Ok();
  const int r = a->rank();
  const int64_t axis = plan_.cuda_params[ln].axis < 0 ? plan_.cuda_params[ln].axis + r : plan_.cuda_params[ln].axis;
  const int64_t cols = a->dim(r - 1);
  if (axis != r - 1 || scale.num_elements() != cols || (bias != nullptr && bias->num_elements() != cols))
    return Status::Ok();
  const int64_t rows = cols == 0 ? 0 : a->num_elements() / cols;
  const int64_t b_rows = cols == 0 ? 0 : b->num_elements() / cols;
  const bool half = dt == DataType::kFloat16;
  const void* a_data = a->raw_data();
  const void* b_data = b->raw_data();
  const Shape out_shape = a->shape();
  Tensor* out = nullptr;
  ASSIGN_OR_RETURN(out, DeviceOutput(out_id, dt, out_shape));
  // The sum itself, when other nodes read it (a pre-LN block's residual stream).
  const int sum_id = g.nodes[i].outputs[0];
  Tensor* sum = nullptr;
  if (add_layer_norm_[i].keep_sum) {
    ASSIGN_OR_RETURN(sum, DeviceOutput(sum_id, dt, out_shape));
  }
  if (rows > 0) {
    const float eps = plan_.cuda_params[ln].epsilon;
    Status st = half ? cuda::LayerNormLastAxis(static_cast<const __half*>(a_data), scale.data<__half>(),
                                               bias ? bias->data<__half>() : nullptr, out->data<__half>(), rows, cols,
                                               eps, stream_->get(), static_cast<const __half*>(b_data), b_rows,
                                               sum != nullptr ? sum->data<__half>() : nullptr)
                     : cuda::LayerNormLastAxis(static_cast<const float*>(a_data), scale.data<float>(),
                                               bias ? bias->data<float>() : nullptr, out->data<float>(), rows, cols,
                                               eps, stream_->get(), static_cast<const float*>(b_data), b_rows,
                                               sum != nullptr ? sum->data<float>() : nullptr);
    if (!st.ok()) {
      for (int id : {out_id, sum_id}) {
        dev_[id] = Value();
        dev_buf_[id].reset();
      }
      return st.code() == StatusCode::kUnimplemented ? Status::Ok() : st;
    }
  }
  skip_[ln] = 1;
  const int operands[] = {a_id, b_id};
  const bool halved_out = HalvedResult(dt, out_id, operands);
  halved_[out_id] = halved_out;
  if (sum != nullptr) halved_[sum_id] = halved_out;
  ++stats_.fused_layer_norm;
  *done = true;
  return Status::Ok();
}

Status CudaSessionImpl::RunFusedSoftmax(int i, bool* done) {
  *done = false;
  const SoftmaxChain& c = softmax_chain_[i];
  // Not an execution variant autotuning weighs: the same result, one kernel instead of up to four.
  if (!fuse_enabled_) return Status::Ok();
  const GraphPlan& g = *graph_;
  const CudaNodeParams& sp = plan_.cuda_params[c.softmax];
  // The operands: x (what the scale applies to, or the Add's input, or the Softmax's), the mask.
  int x_id = -1, bias_id = -1;
  cuda::SoftmaxFusion f;
  f.nan_to_zero = c.where >= 0;
  // The one-element constants (the scale, Where's zero): their rank must not widen the result.
  int max_const_rank = 0;
  if (c.where >= 0) {
    float zero = 0.f;
    if (!ScalarConstant(g, g.nodes[c.where].inputs[1], &zero, &max_const_rank)) return Status::Ok();
  }
  if (c.mul >= 0) {
    const PlannedNode& mul = g.nodes[c.mul];
    float v = 0.f;
    int rank = 0;
    const int s_slot = ScalarConstant(g, mul.inputs[0], &v, &rank) ? 0 : 1;
    if (s_slot == 1 && !ScalarConstant(g, mul.inputs[1], &v, &rank)) return Status::Ok();
    max_const_rank = std::max(max_const_rank, rank);
    f.has_scale = true;
    f.scale = v;
    x_id = mul.inputs[1 - s_slot];
    const PlannedNode& add = g.nodes[c.add];
    bias_id = add.inputs[0] == mul.outputs[0] ? add.inputs[1] : add.inputs[0];
    // The mask is the Add's input, not the Mul's: it may still be on the host, or a view.
    if (!dev_[bias_id].is_tensor()) RETURN_IF_ERROR(EnsureDevice(bias_id));
    RETURN_IF_ERROR(Materialize(bias_id));
  } else if (c.add >= 0) {
    const PlannedNode& add = g.nodes[c.add];
    x_id = add.inputs[0];
    bias_id = add.inputs[1];
    // The operand with the Add's full shape is x; the mask broadcasts to it.
    if (dev_[x_id].is_tensor() && dev_[bias_id].is_tensor() &&
        dev_[x_id].tensor().num_elements() < dev_[bias_id].tensor().num_elements())
      std::swap(x_id, bias_id);
  } else {
    x_id = g.nodes[c.softmax].inputs[0];
  }
  for (int id : {x_id, bias_id}) {
    if (id < 0) continue;
    // A graph input or constant is on the host too (on_host_): its device copy is as good.
    if (!dev_[id].is_tensor() || nhwc_[id] || IsView(id)) return Status::Ok();
  }
  const Tensor& x = dev_[x_id].tensor();
  const DataType dt = x.dtype();
  if (dt != DataType::kFloat && dt != DataType::kFloat16) return Status::Ok();
  const int r = x.rank();
  if (r == 0 || r > cuda::kMaxSoftmaxBiasRank + 1 || max_const_rank > r) return Status::Ok();
  // The Softmax over the last axis only (as its own handler takes it).
  const int64_t axis = sp.axis < 0 ? sp.axis + r : sp.axis;
  if (axis != r - 1) return Status::Ok();
  if (bias_id >= 0) {
    const Tensor& b = dev_[bias_id].tensor();
    if (b.dtype() != dt) return Status::Ok();
    auto layout = cuda::MakeSoftmaxBiasLayout(x.shape().dims(), b.shape().dims());
    if (!layout) return Status::Ok();  // the mask would widen x: not this kernel's case
    f.bias = b.raw_data();
    f.layout = *layout;
  }
  if (f.has_scale && dt == DataType::kFloat16) f.scale = __half2float(__float2half(f.scale));
  const int64_t cols = x.dim(r - 1);
  const int64_t rows = cols == 0 ? 0 : x.num_elements() / cols;
  Tensor* out = nullptr;
  ASSIGN_OR_RETURN(out, DeviceOutput(c.out, dt, x.shape()));
  if (rows > 0 && cols > 0) {
    Status st = dt == DataType::kFloat16
                    ? cuda::SoftmaxLastAxis(x.data<__half>(), out->data<__half>(), rows, cols, stream_->get(), f)
                    : cuda::SoftmaxLastAxis(x.data<float>(), out->data<float>(), rows, cols, stream_->get(), f);
    if (!st.ok()) {
      dev_[c.out] = Value();
      dev_buf_[c.out].reset();
      return st.code() == StatusCode::kUnimplemented ? Status::Ok() : st;
    }
  }
  for (int k : {c.add, c.softmax, c.isnan, c.where})
    if (k >= 0 && k != i) skip_[k] = 1;
  ++stats_.fused_softmax;
  const int operands[] = {x_id, bias_id};
  halved_[c.out] = HalvedResult(dt, c.out, operands);
  *done = true;
  return Status::Ok();
}

Status CudaSessionImpl::RunCudaAttention(int i) {
  const PlannedNode& node = graph_->nodes[i];
  const CudaNodeParams& p = plan_.cuda_params[i];
  cudaStream_t s = stream_->get();
  auto in = [&](size_t k) -> const Tensor* {
    if (k >= node.inputs.size() || node.inputs[k] < 0 || !dev_[node.inputs[k]].is_tensor()) return nullptr;
    return &dev_[node.inputs[k]].tensor();
  };
  auto out_id = [&](size_t k) { return k < node.outputs.size() ? node.outputs[k] : -1; };
  const Tensor *q = in(0), *k = in(1), *v = in(2), *mask = in(3), *past_k = in(4), *past_v = in(5), *nonpad = in(6);
  if (q == nullptr || k == nullptr || v == nullptr) return Fallback("Attention without Q, K or V");
  const DataType dt = q->dtype();
  if ((dt != DataType::kFloat && dt != DataType::kFloat16) || k->dtype() != dt || v->dtype() != dt)
    return Fallback("Attention element types");
  const int rank = q->rank();
  if ((rank != 3 && rank != 4) || k->rank() != rank || v->rank() != rank) return Fallback("Attention ranks");
  // Shapes as the CPU op checks them; anything it would reject goes to it for its message.
  const bool three_d = rank == 3;
  const int64_t B = q->dim(0);
  int64_t Hq, Hkv, Sq, Skv, D, Dv;
  if (three_d) {
    Hq = p.q_num_heads;
    Hkv = p.kv_num_heads;
    if (Hq <= 0 || Hkv <= 0 || q->dim(2) % Hq != 0 || k->dim(2) % Hkv != 0 || v->dim(2) % Hkv != 0)
      return Fallback("Attention heads");
    Sq = q->dim(1);
    Skv = k->dim(1);
    D = q->dim(2) / Hq;
    Dv = v->dim(2) / Hkv;
    if (k->dim(2) / Hkv != D || v->dim(1) != Skv) return Fallback("Attention shapes");
  } else {
    Hq = q->dim(1);
    Hkv = k->dim(1);
    Sq = q->dim(2);
    Skv = k->dim(2);
    D = q->dim(3);
    Dv = v->dim(3);
    if (v->dim(1) != Hkv || k->dim(3) != D || v->dim(2) != Skv) return Fallback("Attention shapes");
  }
  if (k->dim(0) != B || v->dim(0) != B || Hkv <= 0 || Hq % Hkv != 0) return Fallback("Attention shapes");
  if (D == 0 || Dv == 0) return Fallback("Attention with empty heads");
  if ((past_k == nullptr) != (past_v == nullptr)) return Fallback("Attention past");
  int64_t P = 0;
  if (past_k != nullptr) {
    if (past_k->dtype() != dt || past_v->dtype() != dt || past_k->rank() != 4 || past_v->rank() != 4)
      return Fallback("Attention past");
    P = past_k->dim(2);
    if (past_k->dim(0) != B || past_k->dim(1) != Hkv || past_k->dim(3) != D || past_v->dim(0) != B ||
        past_v->dim(1) != Hkv || past_v->dim(2) != P || past_v->dim(3) != Dv)
      return Fallback("Attention past shapes");
  }
  const int64_t T = P + Skv;
  if (nonpad != nullptr &&
      (p.opset < 24 || nonpad->dtype() != DataType::kInt64 || nonpad->rank() != 1 || nonpad->dim(0) != B))
    return Fallback("Attention nonpad_kv_seqlen");
  cuda::AttentionRowsArgs ra;
  if (mask != nullptr) {
    if (mask->dtype() != DataType::kBool && mask->dtype() != dt) return Fallback("Attention mask type");
    // The model's types (fp16 mode holds a float Q as fp16 on the device, which a fp16 mask would
    // match): a mask the CPU op rejects goes to it.
    const DataType mt = plan_.value_type[node.inputs[3]], qt = plan_.value_type[node.inputs[0]];
    if (mt != DataType::kBool && mt != DataType::kUndefined && qt != DataType::kUndefined && mt != qt)
      return Fallback("Attention mask type");
    const int mr = mask->rank();
    if (mr < 2 || mr > 4) return Fallback("Attention mask rank");
    const int64_t full[3] = {B, Hq, Sq};
    int64_t st[3] = {0, 0, 0}, stride = mask->dim(mr - 1);
    for (int d = mr - 2; d >= 0; --d) {
      const int ax = 4 - mr + d;
      const int64_t md = mask->dim(d);
      if (md != 1 && md != full[ax]) return Fallback("Attention mask shape");
      st[ax] = md == 1 ? 0 : stride;
      stride *= md;
    }
    ra.mask = mask->raw_data();
    ra.mask_bool = mask->dtype() == DataType::kBool;
    ra.mask_sb = st[0];
    ra.mask_sh = st[1];
    ra.mask_ss = st[2];
    ra.mask_len = mask->dim(mr - 1);
    if (ra.mask_len > T) return Fallback("Attention mask longer than the sequence");
  }
  if (B * Hq * Sq > 0x7fffffff) return Fallback("Attention with more than 2^31-1 query rows");
  // Outputs (Y to scratch when the model leaves it unnamed).
  Tensor* y = nullptr;
  const Shape y_shape = three_d ? Shape{B, Sq, Hq * Dv} : Shape{B, Hq, Sq, Dv};
  cuda::DeviceBuffer y_tmp;
  Tensor y_view;
  if (out_id(0) >= 0) {
    ASSIGN_OR_RETURN(y, DeviceOutput(out_id(0), dt, y_shape));
  } else {
    ASSIGN_OR_RETURN(y_tmp, pool_->Allocate(std::max<size_t>(static_cast<size_t>(y_shape.NumElements()) * ElementSize(dt), 1)));
    y_view = Tensor::View(dt, y_shape, y_tmp.data());
    y = &y_view;
  }
  Tensor *pk = nullptr, *pv = nullptr, *qk = nullptr;
  if (out_id(1) >= 0) {
    ASSIGN_OR_RETURN(pk, DeviceOutput(out_id(1), dt, Shape{B, Hkv, T, D}));
  }
  if (out_id(2) >= 0) {
    ASSIGN_OR_RETURN(pv, DeviceOutput(out_id(2), dt, Shape{B, Hkv, T, Dv}));
  }
  if (out_id(3) >= 0) {
    ASSIGN_OR_RETURN(qk, DeviceOutput(out_id(3), dt, Shape{B, Hq, Sq, T}));
  }
  const int es = dt == DataType::kFloat16 ? 2 : 4;
  // K and V over the whole sequence: the inputs, or past + current (into the present outputs).
  const void* kt = k->raw_data();
  const void* vt = v->raw_data();
  bool kv3d = three_d;
  cuda::DeviceBuffer k_tmp, v_tmp;
  auto present = [&](Tensor* out, const Tensor* past, const Tensor* cur, int64_t hd, cuda::DeviceBuffer* tmp,
                     const void** total) -> Status {
    void* dst = out != nullptr ? out->raw_data() : nullptr;
    if (dst == nullptr && past != nullptr) {
      ASSIGN_OR_RETURN(*tmp, pool_->Allocate(static_cast<size_t>(std::max<int64_t>(B * Hkv * T * hd, 1)) * es));
      dst = tmp->data();
    }
    if (dst == nullptr) return Status::Ok();
    RETURN_IF_ERROR(cuda::ConcatKv(past != nullptr ? past->raw_data() : nullptr, cur->raw_data(), three_d, dst, B, Hkv,
                                   past != nullptr ? P : 0, Skv, hd, es, s));
    if (past != nullptr) *total = dst;
    return Status::Ok();
  };
  RETURN_IF_ERROR(present(pk, past_k, k, D, &k_tmp, &kt));
  RETURN_IF_ERROR(present(pv, past_v, v, Dv, &v_tmp, &vt));
  if (past_k != nullptr) kv3d = false;
  if (y->num_elements() == 0) return Status::Ok();
  if (T == 0) {
    ONNXD_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(y->raw_data(), 0, y->bytes(), s));
    return Status::Ok();
  }
  const int64_t ldq = three_d ? Hq * D : D, sqb = three_d ? Sq * Hq * D : Hq * Sq * D, sqh = three_d ? D : Sq * D;
  const int64_t ldk = kv3d ? Hkv * D : D, skb = kv3d ? Skv * Hkv * D : Hkv * T * D, skh = kv3d ? D : T * D;
  const int64_t ldv = kv3d ? Hkv * Dv : Dv, svb = kv3d ? Skv * Hkv * Dv : Hkv * T * Dv, svh = kv3d ? Dv : T * Dv;
  const int64_t yb = three_d ? Sq * Hq * Dv : Hq * Sq * Dv, yh = three_d ? Dv : Sq * Dv, ys = three_d ? Hq * Dv : Dv;
  const bool half = dt == DataType::kFloat16;
  const float scale = p.has_scale ? p.scale : 1.f / std::sqrt(static_cast<float>(D));
  // fp16 without a qk output, a bool mask or a mask shorter than the sequence: the fused kernel
  // (kernels/cuda/flash_kernel.h), checked once per node and sizes against this unfused path.
  cuda::DeviceBuffer flash_check;
  int* flash_state = nullptr;
  if (half && flash_enabled_ && variant_.flash && qk == nullptr && Dv == D && cuda::FlashAttentionTakes(D) && B * Hq <= 65535 &&
      (mask == nullptr || (!ra.mask_bool && ra.mask_len == T))) {
    int& state = flash_state_[{i, FlashClass(B, Hq, Sq, T, P)}];
    if (state >= 0 && (state == 1 || capture_ == nullptr)) {
      cuda::FlashAttentionArgs fa;
      fa.B = B, fa.Hq = Hq, fa.Hkv = Hkv, fa.Sq = Sq, fa.T = T, fa.D = D;
      fa.q = q->raw_data(), fa.q_sb = sqb, fa.q_sh = sqh, fa.q_ss = ldq;
      fa.k = kt, fa.k_sb = skb, fa.k_sh = skh, fa.k_st = ldk;
      fa.v = vt, fa.v_sb = svb, fa.v_sh = svh, fa.v_st = ldv;
      fa.o = y->raw_data(), fa.o_sb = yb, fa.o_sh = yh, fa.o_ss = ys;
      fa.scale = scale;
      fa.round_scores = true;  // the unfused path's scores GEMM writes fp16
      fa.softcap = p.softcap;
      fa.causal = p.is_causal;
      fa.past = P;
      fa.nonpad = nonpad != nullptr ? nonpad->data<int64_t>() : nullptr;
      bool layout_ok = true;
      if (mask != nullptr) {
        auto layout = cuda::MakeSoftmaxBiasLayout(std::vector<int64_t>{B, Hq, Sq, T}, mask->shape().dims());
        layout_ok = layout.has_value();
        if (layout) fa.bias_layout = *layout;
        fa.bias = mask->raw_data();
      }
      if (layout_ok && state == 1) {
        ++stats_.flash_attention;
        return cuda::FlashAttention(fa, s);
      }
      if (layout_ok) {
        ASSIGN_OR_RETURN(flash_check, pool_->Allocate(y->bytes()));
        fa.o = flash_check.data();
        // A launch the device refuses (its shared memory, say) leaves the unfused path for good.
        if (cuda::FlashAttention(fa, s).ok()) flash_state = &state;
        else state = -1;
      }
    }
  }
  // Scores [B, Hkv, G, Sq, T] (= [B, Hq, Sq, T]): the q heads of a group share their kv head.
  const int64_t G = Hq / Hkv;
  ASSIGN_OR_RETURN(cuda::DeviceBuffer scores, pool_->Allocate(static_cast<size_t>(B * Hq * Sq * T) * es));
  const cuda::StridedView qv{{B, Hkv, G, Sq, D}, {sqb, G * sqh, sqh, ldq, 1}};
  const cuda::StridedView ktv{{B, Hkv, 1, D, T}, {skb, skh, 0, 1, ldk}};
  const std::vector<int64_t> sdims = {B, Hkv, G, Sq, T};
  const cuda::StridedView sv{sdims, cuda::PackedStrides(sdims)};
  const cuda::StridedView vv{{B, Hkv, 1, T, Dv}, {svb, svh, 0, ldv, 1}};
  const cuda::StridedView yv = three_d ? cuda::StridedView{{B, Hkv, G, Sq, Dv}, {Sq * Hq * Dv, G * Dv, Dv, Hq * Dv, 1}}
                                       : cuda::StridedView{{B, Hkv, G, Sq, Dv}, {Hq * Sq * Dv, G * Sq * Dv, Sq * Dv, Dv, 1}};
  const auto plan_s = cuda::PlanStridedGemm(qv, ktv, sv);
  const auto plan_y = cuda::PlanStridedGemm(sv, vv, yv);
  if (!plan_s || !plan_y) return Fallback("Attention beyond cuBLAS's 32-bit interface");
  const cuda::GemmMath math = options_.allow_tf32 ? cuda::GemmMath::kTf32 : cuda::GemmMath::kFp32;
  RETURN_IF_ERROR(cuda::RunStridedGemm(*blas_, *pool_, *plan_s, q->raw_data(), kt, scores.data(), half, math, s, scale));
  ra.B = B;
  ra.Hq = Hq;
  ra.Sq = Sq;
  ra.T = T;
  ra.softcap = p.softcap;
  ra.causal = p.is_causal;
  ra.past = P;
  ra.nonpad = nonpad != nullptr ? nonpad->data<int64_t>() : nullptr;
  ra.qk = qk != nullptr ? qk->raw_data() : nullptr;
  ra.qk_mode = static_cast<int>(p.qk_mode);
  RETURN_IF_ERROR(half ? cuda::AttentionRows(scores.as<__half>(), ra, s) : cuda::AttentionRows(scores.as<float>(), ra, s));
  RETURN_IF_ERROR(cuda::RunStridedGemm(*blas_, *pool_, *plan_y, scores.data(), vt, y->raw_data(), half, math, s));
  if (flash_state != nullptr) {
    *flash_state = FlashAgrees(flash_check.data(), y->raw_data(), y->num_elements(), i) ? 1 : -1;
    if (*flash_state == 1) {
      // The kernel's answer from this run on, this one included (runs of a signature agree).
      ONNXD_CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(y->raw_data(), flash_check.data(), y->bytes(), cudaMemcpyDeviceToDevice, s));
      ++stats_.flash_attention;
    }
  }
  return Status::Ok();
}

Status CudaSessionImpl::RunAttentionBlock(int i, bool* done) {
  *done = false;
  if (!flash_enabled_ || !fuse_enabled_ || !variant_.flash) return Status::Ok();
  const GraphPlan& g = *graph_;
  const CudaFusionPlan::AttentionBlock& blk = attention_block_[i];
  const CudaFusionPlan::SoftmaxChain& c = blk.chain;
  const PlannedNode& mm1 = g.nodes[i];
  const PlannedNode& mm2 = g.nodes[blk.pv];
  const int q_id = mm1.inputs[0], kt_id = mm1.inputs[1], v_id = mm2.inputs[1], out_id = mm2.outputs[0];
  if (out_id < 0 || !dev_[q_id].is_tensor() || !dev_[kt_id].is_tensor()) return Status::Ok();
  const Tensor& q = dev_[q_id].tensor();
  const Tensor& kt = dev_[kt_id].tensor();
  const int r = q.rank();
  if ((r != 3 && r != 4) || kt.rank() != r || q.dtype() != DataType::kFloat16 || kt.dtype() != DataType::kFloat16)
    return Status::Ok();
  // Logical sizes: Q [batch.., Sq, D], K^T [batch.., D, T], V [batch.., T, Dv]; batch [B, H] or [N].
  const int64_t Sq = q.dim(r - 2), D = q.dim(r - 1), T = kt.dim(r - 1);
  const int64_t B = q.dim(0), H = r == 4 ? q.dim(1) : 1;
  // Sizes whose check failed (or a capture before any check) take the unfused nodes, at no more cost.
  int& state = flash_state_[{i, FlashClass(B, H, Sq, T)}];
  if (state < 0 || (state == 0 && capture_ != nullptr)) return Status::Ok();
  // V is the second MatMul's input: it may not be on the device yet, or be a view to keep.
  ASSIGN_OR_RETURN(const bool v_there, OnDevice(v_id));
  if (!v_there) return Status::Ok();
  if (scale_[v_id] != 1.f) return Status::Ok();  // (Q's and K's scales go into the kernel's)
  const Tensor& v = dev_[v_id].tensor();
  if (v.dtype() != DataType::kFloat16 || v.rank() != r || nhwc_[q_id] || nhwc_[kt_id] || nhwc_[v_id]) return Status::Ok();
  const int64_t Dv = v.dim(r - 1);
  if (kt.dim(r - 2) != D || v.dim(r - 2) != T || Dv != D || !cuda::FlashAttentionTakes(D) || T == 0 || Sq == 0)
    return Status::Ok();
  auto batch_ok = [&](const Tensor& t) {
    return (t.dim(0) == B || t.dim(0) == 1) && (r == 3 || t.dim(1) == H || t.dim(1) == 1);
  };
  if (!batch_ok(kt) || !batch_ok(v) || B * H > 65535) return Status::Ok();
  // Element strides of each operand's axes (permuted views as they lie; broadcast axes 0).
  auto strides_of = [&](int id) {
    const Tensor& t = dev_[id].tensor();
    cuda::StridedView sv = cuda::ViewOfPermuted(t.shape().dims(), perm_[id]);
    for (int k = 0; k < t.rank(); ++k)
      if (t.dim(k) == 1) sv.strides[k] = 0;
    return sv.strides;
  };
  const std::vector<int64_t> qs = strides_of(q_id), ks = strides_of(kt_id), vs = strides_of(v_id);
  if (qs[r - 1] != 1 || ks[r - 2] != 1 || vs[r - 1] != 1) return Status::Ok();  // head axes packed
  // The output as the second MatMul would lay it out (for its Transpose readers), head axis packed.
  std::vector<int64_t> out_dims = q.shape().ToVector();
  out_dims[r - 1] = Dv;
  std::vector<int64_t> c_perm;
  const std::vector<int64_t>& tp = mm_out_perm_[blk.pv];
  if (!tp.empty() && tp.size() == out_dims.size()) c_perm = cuda::InversePerm(tp);
  const std::vector<int64_t> os = cuda::ViewOfPermuted(out_dims, c_perm).strides;
  if (os[r - 1] != 1) return Status::Ok();
  // The chain: its scalar, its mask (fp16, broadcast to the scores), NaN cleanup, last-axis softmax.
  cuda::FlashAttentionArgs fa;
  fa.scale = scale_[q_id] * scale_[kt_id];
  if (c.mul >= 0) {
    const PlannedNode& mul = g.nodes[c.mul];
    float sv = 0.f;
    if (!ScalarConstant(g, mul.inputs[0], &sv) && !ScalarConstant(g, mul.inputs[1], &sv)) return Status::Ok();
    fa.scale *= __half2float(__float2half(sv));
  }
  const int64_t axis = plan_.cuda_params[c.softmax].axis;
  if (axis != -1 && axis != r - 1) return Status::Ok();
  int mask_id = -1;
  if (c.add >= 0) {
    const PlannedNode& add = g.nodes[c.add];
    const int scores_side = c.mul >= 0 ? g.nodes[c.mul].outputs[0] : mm1.outputs[0];
    mask_id = add.inputs[0] == scores_side ? add.inputs[1] : add.inputs[0];
    ASSIGN_OR_RETURN(const bool mask_there, OnDevice(mask_id));
    if (!mask_there) return Status::Ok();
    if (nhwc_[mask_id]) return Status::Ok();
    RETURN_IF_ERROR(Materialize(mask_id));
    const Tensor& mask = dev_[mask_id].tensor();
    if (mask.dtype() != DataType::kFloat16) return Status::Ok();
    std::vector<int64_t> scores_dims = q.shape().ToVector();
    scores_dims[r - 1] = T;
    auto layout = cuda::MakeSoftmaxBiasLayout(scores_dims, mask.shape().dims());
    if (!layout) return Status::Ok();
    fa.bias = mask.raw_data();
    fa.bias_layout = *layout;
  }
  fa.nan_to_zero = c.where >= 0;
  fa.round_scores = fa.round_masked = true;  // the unfused nodes' fp16 scores and sums
  fa.B = B, fa.Hq = H, fa.Hkv = H, fa.Sq = Sq, fa.T = T, fa.D = D;
  fa.q = q.raw_data(), fa.q_sb = qs[0], fa.q_sh = r == 4 ? qs[1] : 0, fa.q_ss = qs[r - 2];
  fa.k = kt.raw_data(), fa.k_sb = ks[0], fa.k_sh = r == 4 ? ks[1] : 0, fa.k_st = ks[r - 1];
  fa.v = v.raw_data(), fa.v_sb = vs[0], fa.v_sh = r == 4 ? vs[1] : 0, fa.v_st = vs[r - 2];
  fa.o_sb = os[0], fa.o_sh = r == 4 ? os[1] : 0, fa.o_ss = os[r - 2];
  const Shape out_shape{std::span<const int64_t>(out_dims)};
  if (state == 0) {
    // First time: aside, for CheckPendingFlash when the second MatMul has run.
    PendingFlash pf;
    ASSIGN_OR_RETURN(pf.out, pool_->Allocate(static_cast<size_t>(out_shape.NumElements()) * sizeof(__half)));
    fa.o = pf.out.data();
    if (!cuda::FlashAttention(fa, stream_->get()).ok()) {
      state = -1;
      return Status::Ok();
    }
    pf.perm = c_perm;
    pf.key = {i, FlashClass(B, H, Sq, T)};
    pending_flash_[blk.pv] = std::move(pf);
    return Status::Ok();
  }
  Tensor* out = nullptr;
  ASSIGN_OR_RETURN(out, DeviceOutput(out_id, DataType::kFloat16, out_shape));
  perm_[out_id] = c_perm;
  fa.o = out->raw_data();
  RETURN_IF_ERROR(cuda::FlashAttention(fa, stream_->get()));
  for (int k : {c.mul, c.add, c.softmax, c.isnan, c.where, blk.pv})
    if (k >= 0 && k != i) skip_[k] = 1;
  const int operands[] = {q_id, kt_id, v_id};
  halved_[out_id] = HalvedResult(DataType::kFloat16, out_id, operands);
  ++stats_.flash_attention;
  *done = true;
  return Status::Ok();
}

void CudaSessionImpl::CheckPendingFlash(int i) {
  auto it = pending_flash_.find(i);
  if (it == pending_flash_.end()) return;
  PendingFlash pf = std::move(it->second);
  pending_flash_.erase(it);
  const int out_id = graph_->nodes[i].outputs[0];
  // Only a result laid out as the kernel wrote it compares; one that is not (the second MatMul
  // fell back to the CPU, or wrote another layout) leaves the block unfused.
  if (out_id < 0 || !dev_[out_id].is_tensor() || perm_[out_id] != pf.perm || scale_[out_id] != 1.f ||
      dev_[out_id].tensor().dtype() != DataType::kFloat16) {
    flash_state_[pf.key] = -1;
    return;
  }
  Tensor& t = dev_[out_id].tensor();
  const bool agrees = FlashAgrees(pf.out.data(), t.raw_data(), t.num_elements(), std::get<0>(pf.key));
  flash_state_[pf.key] = agrees ? 1 : -1;
  // The kernel's answer from this run on, this one included (runs of a signature agree).
  if (agrees && cudaMemcpyAsync(t.raw_data(), pf.out.data(), t.bytes(), cudaMemcpyDeviceToDevice, stream_->get()) ==
                    cudaSuccess)
    ++stats_.flash_attention;
}

bool CudaSessionImpl::FlashAgrees(const void* flash, const void* unfused, int64_t n, int node) {
  // Element by element (an error in one head or row must show): the fused kernel keeps the
  // scores in fp32 where the unfused path rounds them, a few fp16 roundings apart.
  // The absolute tolerance scales with the output's magnitude (values near 0 in a large output).
  auto range = cuda::MaxAbsDiff(flash, unfused, n, true, stream_->get());
  if (!range.ok()) return false;
  const float atol = 4e-3f * std::max(1.f, std::isfinite(range->second) ? range->second : 1.f);
  auto bad = cuda::CountMismatches(flash, unfused, n, true, atol, 2e-2f, stream_->get());
  const bool ok = bad.ok() && *bad == 0;
  if (!ok && Debugging())
    std::fprintf(stderr, "onnxd: fused attention of %s differs from the unfused path at %lld of %lld values: not used\n",
                 Label(graph_->nodes[node]).c_str(), bad.ok() ? static_cast<long long>(*bad) : -1LL,
                 static_cast<long long>(n));
  return ok;
}

Status CudaSessionImpl::RunBiasGemm(int i, bool* done) {
  *done = false;
  const BiasGemmFusion& f = bias_gemm_[i];
  if (f.add < 0 || !fuse_enabled_ || !variant_.fuse || lt_unavailable_) return Status::Ok();
  const PlannedNode& node = graph_->nodes[i];
  const int a_id = node.inputs[0], w_id = node.inputs[1];
  // (A graph input is on the host too: its device copy serves.)
  if (a_id < 0 || !dev_[a_id].is_tensor() || !dev_[w_id].is_tensor() || !dev_[f.bias].is_tensor() ||
      nhwc_[a_id] || IsView(a_id))
    return Status::Ok();
  const Tensor& a = dev_[a_id].tensor();
  const Tensor& w = dev_[w_id].tensor();
  const Tensor& b = dev_[f.bias].tensor();
  const DataType dt = a.dtype();
  const bool half = dt == DataType::kFloat16;
  if ((dt != DataType::kFloat && !half) || w.dtype() != dt || b.dtype() != dt) return Status::Ok();
  if (a.rank() < 2 || w.rank() != 2 || b.rank() > a.rank()) return Status::Ok();
  const int64_t k = a.dim(a.rank() - 1), n = w.dim(1);
  if (k <= 0 || n <= 0 || w.dim(0) != k || b.num_elements() != n) return Status::Ok();
  for (int d = 0; d + 1 < b.rank(); ++d)
    if (b.dim(d) != 1) return Status::Ok();
  const int64_t m = a.num_elements() / k;
  if (m <= 0) return Status::Ok();
  LtEntry& entry = lt_plans_[std::make_pair(i, m)];
  int& state = entry.state;
  if (state < 0 || (state == 0 && capture_ != nullptr)) return Status::Ok();  // checked outside a capture first
  constexpr size_t kLtWorkspace = size_t{32} << 20;
  if (lt_ == nullptr) {
    auto h = cuda::LtHandle::Create();
    if (!h.ok()) {
      lt_unavailable_ = true;
      return Status::Ok();
    }
    lt_ = std::move(h).value();
    auto buf = persist_pool_->Allocate(kLtWorkspace);
    if (!buf.ok()) return buf.status();
    lt_workspace_ = std::make_shared<cuda::DeviceBuffer>(std::move(buf).value());
  }
  auto& plan = entry.plan;
  if (plan == nullptr) {
    auto made = cuda::BiasGemm::Create(*lt_, m, n, k, half, options_.allow_tf32, kLtWorkspace);
    if (!made.ok()) {
      state = -1;
      return Status::Ok();
    }
    plan = std::move(made).value();
  }
  std::vector<int64_t> dims = a.shape().ToVector();
  dims.back() = n;
  Tensor* out = nullptr;
  ASSIGN_OR_RETURN(out, DeviceOutput(f.out, dt, Shape(std::span<const int64_t>(dims))));
  cudaStream_t s = stream_->get();
  Status st = plan->Run(*lt_, a.raw_data(), w.raw_data(), b.raw_data(), out->raw_data(), lt_workspace_->data(), s);
  if (!st.ok()) {
    if (capture_ != nullptr) return st;
    state = -1;
    dev_[f.out] = Value();
    dev_buf_[f.out].reset();
    return Status::Ok();
  }
  if (state == 0) {
    // The first time for this node and shape: the same product by cuBLAS and the broadcast Add.
    auto tmp_or = pool_->Allocate(std::max<size_t>(out->bytes(), 1));
    if (!tmp_or.ok()) return tmp_or.status();
    cuda::DeviceBuffer tmp = std::move(tmp_or).value();
    cuda::GemmArgs args;
    args.m = m;
    args.n = n;
    args.k = k;
    const cuda::GemmMath math = options_.allow_tf32 ? cuda::GemmMath::kTf32 : cuda::GemmMath::kFp32;
    RETURN_IF_ERROR(blas_->GemmStridedBatched(args, a.raw_data(), 0, w.raw_data(), 0, tmp.data(), 0, 1, half, math));
    const int64_t mn[2] = {m, n}, nn[1] = {n};
    if (half)
      RETURN_IF_ERROR(cuda::BinaryElementwise(cuda::BinaryOp::kAdd, tmp.as<__half>(), mn, b.data<__half>(), nn,
                                              tmp.as<__half>(), s));
    else
      RETURN_IF_ERROR(cuda::BinaryElementwise(cuda::BinaryOp::kAdd, tmp.as<float>(), mn, b.data<float>(), nn,
                                              tmp.as<float>(), s));
    auto diff = cuda::MaxAbsDiff(out->raw_data(), tmp.data(), out->num_elements(), half, s);
    const float tol = half ? 2e-2f : (options_.allow_tf32 ? 1e-2f : 1e-4f);
    if (diff.ok() && diff->first <= tol * std::max(1.f, diff->second)) {
      state = 1;
    } else {
      state = -1;  // keep cuBLAS's answer, and use it from now on
      if (Debugging())
        std::fprintf(stderr, "onnxd: cuBLASLt bias GEMM of %s differs from cuBLAS (%g of %g): not used\n",
                     Label(node).c_str(), diff.ok() ? diff->first : -1.f, diff.ok() ? diff->second : -1.f);
      ONNXD_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out->raw_data(), tmp.data(), out->bytes(), cudaMemcpyDeviceToDevice, s));
    }
  }
  skip_[f.add] = 1;
  halved_[f.out] = halved_[a_id] || halved_[w_id];
  *done = true;
  return Status::Ok();
}

Status CudaSessionImpl::Relayout(int id, bool to_nhwc) {
  const Tensor& t = dev_[id].tensor();
  if (t.rank() != 4) return Internal("channels-last value '" + graph_->value_names[id] + "' is not 4-D");
  const int64_t n = t.dim(0), c = t.dim(1), h = t.dim(2), w = t.dim(3);
  if (c == 1 || h * w == 1) {  // the same bytes in both layouts
    nhwc_[id] = to_nhwc;
    return Status::Ok();
  }
  const DataType dt = t.dtype();
  if (dt != DataType::kFloat && dt != DataType::kFloat16)
    return Internal("channels-last value '" + graph_->value_names[id] + "' is not float");
  auto buf = pool_->Allocate(std::max<size_t>(t.bytes(), 1));
  if (!buf.ok()) return buf.status();
  auto owner = std::make_shared<cuda::DeviceBuffer>(std::move(buf).value());
  // The source as laid out in memory, and the permutation to the other layout.
  const int64_t nchw[4] = {n, c, h, w}, nhwc[4] = {n, h, w, c};
  const int64_t to_last[4] = {0, 2, 3, 1}, to_first[4] = {0, 3, 1, 2};
  std::span<const int64_t> in_shape(to_nhwc ? nchw : nhwc, 4);
  std::span<const int64_t> perm(to_nhwc ? to_last : to_first, 4);
  cudaStream_t s = stream_->get();
  if (dt == DataType::kFloat16)
    RETURN_IF_ERROR(cuda::Transpose(t.data<__half>(), in_shape, perm, owner->as<__half>(), s));
  else
    RETURN_IF_ERROR(cuda::Transpose(t.data<float>(), in_shape, perm, owner->as<float>(), s));
  dev_[id] = Value(Tensor::View(dt, t.shape(), owner->data()));
  dev_buf_[id] = std::move(owner);
  nhwc_[id] = to_nhwc;
  return Status::Ok();
}

bool IsConvOrPool(const std::string& op) {
  return op == "Conv" || op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool" ||
         op == "GlobalMaxPool";
}

Status CudaSessionImpl::PrepareLayouts(int i, bool* out_nhwc) {
  *out_nhwc = false;
  if (!variant_.nhwc) return Status::Ok();
  const PlannedNode& node = graph_->nodes[i];
  const bool kernel = plan_.node_device[i] == Device::kCuda && !plan_.cuda_params[i].op.empty();
  const std::string& op = kernel ? plan_.cuda_params[i].op : node.op_type;
  auto device_input = [&](size_t k) {
    const int id = k < node.inputs.size() ? node.inputs[k] : -1;
    return id >= 0 && !on_host_[id] && dev_[id].is_tensor() ? id : -1;
  };
  if (kernel && IsConvOrPool(op)) {
    // 2-D convolutions and pooling of computed values run channels-last (a Conv only with a
    // constant filter, converted once); the rest stay NCHW.
    const int x = device_input(0);
    if (x < 0) return Status::Ok();
    bool want = dev_[x].tensor().rank() == 4 && !graph_->is_constant[x];
    // MaxPool's Indices number the NCHW input, and are written in the output's order: NCHW.
    if (op == "MaxPool" && node.outputs.size() > 1 && node.outputs[1] >= 0) want = false;
    if (op == "Conv") {
      const int wid = node.inputs.size() > 1 ? node.inputs[1] : -1;
      want = want && wid >= 0 && graph_->is_constant[wid] && dev_[wid].is_tensor();
    }
    if (want != (nhwc_[x] != 0)) RETURN_IF_ERROR(Relayout(x, want));
    *out_nhwc = want;
    return Status::Ok();
  }
  bool any = false;
  for (size_t k = 0; k < node.inputs.size(); ++k) {
    const int id = device_input(k);
    any |= id >= 0 && nhwc_[id];
  }
  if (!any) return Status::Ok();
  // Elementwise ops do not care about the layout when every operand with more than one element is
  // channels-last with the output's dims.
  static const std::set<std::string> kElementwise = {
      "Relu", "Sigmoid", "Tanh", "Gelu", "Erf", "Sqrt", "Exp", "Log", "Neg", "Abs", "Reciprocal", "Clip",
      "Add", "Sub", "Mul", "Div", "Pow", "IsNaN", "Cast", "LeakyRelu", "HardSigmoid", "HardSwish",
      "Elu", "Selu", "Softplus", "Sign", "Floor", "Ceil", "Round", "Mish", "Sin", "Cos", "Softsign",
      "ThresholdedRelu", "Celu", "PRelu"};
  if (kernel && kElementwise.count(op)) {
    const std::vector<InputPlace>& places = plan_.input_place[i];
    bool layout_free = true;
    // Only float outputs stay channels-last: Relayout transposes float and fp16 alone, and a
    // channels-last bool (IsNaN) or integer (Cast) output could not be brought back to NCHW.
    for (int id : node.outputs)
      if (id >= 0 && plan_.value_type[id] != DataType::kFloat && plan_.value_type[id] != DataType::kFloat16)
        layout_free = false;
    std::span<const int64_t> dims;
    for (size_t k = 0; k < node.inputs.size() && layout_free; ++k) {
      if (k < places.size() && places[k] != InputPlace::kNodeDevice) continue;  // a host-side parameter
      // Every operand the kernel reads, those also held on the host included (constants, graph
      // inputs): their device copies are NCHW, so a [1, C, 1, 1] scale or a graph input beside a
      // channels-last value is not layout-free.
      const int id = k < node.inputs.size() ? node.inputs[k] : -1;
      if (id < 0 || !dev_[id].is_tensor()) continue;
      const Tensor& t = dev_[id].tensor();
      // A one-element operand of rank above 4 would make the output 5-D (not flagged NHWC).
      if (t.num_elements() == 1 && t.rank() <= 4) continue;
      if (!nhwc_[id] || (!dims.empty() && !std::equal(dims.begin(), dims.end(), t.shape().dims().begin(),
                                                        t.shape().dims().end())))
        layout_free = false;
      dims = t.shape().dims();
    }
    if (layout_free) {
      *out_nhwc = true;
      return Status::Ok();
    }
  }
  // Anything else reads NCHW (Shape and Size read the dims only).
  if (op == "Shape" || op == "Size") return Status::Ok();
  for (size_t k = 0; k < node.inputs.size(); ++k) {
    const int id = device_input(k);
    if (id >= 0 && nhwc_[id]) RETURN_IF_ERROR(Relayout(id, false));
  }
  return Status::Ok();
}

StatusOr<const void*> CudaSessionImpl::NhwcFilter(int id) {
  auto it = nhwc_weights_.find(id);
  if (it != nhwc_weights_.end()) return static_cast<const void*>(it->second->data());
  if (capture_ != nullptr) return Unavailable(std::string(kNotCapturable) + "a filter first used in a capture");
  const Tensor& t = dev_[id].tensor();
  if (t.rank() != 4) return Internal("filter '" + graph_->value_names[id] + "' is not 4-D");
  auto buf = persist_pool_->Allocate(std::max<size_t>(t.bytes(), 1));
  if (!buf.ok()) return buf.status();
  auto owner = std::make_shared<cuda::DeviceBuffer>(std::move(buf).value());
  const int64_t dims[4] = {t.dim(0), t.dim(1), t.dim(2), t.dim(3)}, perm[4] = {0, 2, 3, 1};
  if (t.dtype() == DataType::kFloat16)
    RETURN_IF_ERROR(cuda::Transpose(t.data<__half>(), dims, perm, owner->as<__half>(), stream_->get()));
  else if (t.dtype() == DataType::kFloat)
    RETURN_IF_ERROR(cuda::Transpose(t.data<float>(), dims, perm, owner->as<float>(), stream_->get()));
  else
    return Internal("filter '" + graph_->value_names[id] + "' is not float");
  const void* p = owner->data();
  nhwc_weights_[id] = std::move(owner);
  return p;
}

// A Conv's fused activation (passes/fuse_conv_activation) over its output, in place.
Status CudaSessionImpl::ApplyConvActivation(const CudaNodeParams& p, void* data, int64_t count, bool is_half) {
  cudaStream_t s = stream_->get();
  if (p.activation == "Clip") {
    if (is_half)
      return cuda::ClipElementwise(static_cast<__half*>(data), static_cast<__half*>(data), count, p.activation_alpha,
                                   p.activation_beta, s);
    return cuda::ClipElementwise(static_cast<float*>(data), static_cast<float*>(data), count, p.activation_alpha,
                                 p.activation_beta, s);
  }
  if (p.activation == "LeakyRelu") {
    cuda::ActivationParams leaky;
    leaky.alpha = p.activation_alpha;
    if (is_half)
      return cuda::Activation(cuda::ActivationOp::kLeakyRelu, leaky, static_cast<__half*>(data),
                              static_cast<__half*>(data), count, s);
    return cuda::Activation(cuda::ActivationOp::kLeakyRelu, leaky, static_cast<float*>(data), static_cast<float*>(data),
                            count, s);
  }
  if (!p.activation.empty()) {
    const cuda::UnaryOp act = p.activation == "Relu"      ? cuda::UnaryOp::kRelu
                              : p.activation == "Sigmoid" ? cuda::UnaryOp::kSigmoid
                                                          : cuda::UnaryOp::kTanh;
    if (is_half) return cuda::UnaryElementwise(act, static_cast<__half*>(data), static_cast<__half*>(data), count, s);
    return cuda::UnaryElementwise(act, static_cast<float*>(data), static_cast<float*>(data), count, s);
  }
  return Status::Ok();
}

Status CudaSessionImpl::RunConvOrPool(int i, const Tensor& x, DataType dt) {
#ifndef ONNXD_WITH_CUDNN
  (void)i;
  (void)x;
  (void)dt;
  return Fallback("built without cuDNN");
#else
  const PlannedNode& node = graph_->nodes[i];
  const CudaNodeParams& p = plan_.cuda_params[i];
  const bool is_half = dt == DataType::kFloat16;
  const int r = x.rank();
  const std::string& op = p.op;
  // 3-D: Conv through cuDNN's N-d descriptors and pooling by our kernels, over NCDHW data; the
  // global pools see it as [N, C, D * H, W].
  const bool three_d = r == 5;
  if (r != 3 && r != 4 && r != 5) return Fallback("rank " + std::to_string(r));
  const bool one_d = r == 3;
  const int spatial = r - 2;
  const int64_t n = x.dim(0), c = x.dim(1), h = three_d ? x.dim(2) * x.dim(3) : x.dim(2);
  const int64_t w = one_d ? 1 : x.dim(r - 1);
  const int out_id = node.outputs[0];
  std::vector<int64_t> key = x.shape().ToVector();
  // The fused activations cuDNN's fused call can take: ReLU, and Clip(0, c) as its clipped ReLU.
  const bool relu6 = p.activation == "Clip" && p.activation_alpha == 0.f && p.activation_beta > 0.f;
  const bool relu_like = p.activation == "Relu" || relu6;
  // PrepareLayouts made x channels-last where this node runs so.
  const bool nhwc = r == 4 && nhwc_[node.inputs[0]] != 0;
  // Plans depend on the layout and on the variant's algorithm search (autotuning tries each).
  key.push_back(nhwc ? 1 : 0);
  key.push_back(static_cast<int64_t>(variant_.search));
  if (op == "Conv") {
    const Tensor& wt = dev_[node.inputs[1]].tensor();
    const Tensor* bias = node.inputs.size() > 2 && node.inputs[2] >= 0 ? &dev_[node.inputs[2]].tensor() : nullptr;
    if (wt.rank() != r) return InvalidArgument("W " + wt.shape().ToString() + " does not match X " + x.shape().ToString());
    cuda::ConvGeometry g;
    g.n = n;
    g.c = c;
    g.h = h;
    g.w = w;
    g.m = wt.dim(0);
    g.group = p.group;
    if (g.group <= 0 || c % g.group != 0 || wt.dim(1) != c / g.group)
      return InvalidArgument("X " + x.shape().ToString() + ", W " + wt.shape().ToString() + " and group " +
                             std::to_string(p.group) + " do not agree");
    if (bias != nullptr && bias->num_elements() != g.m) return InvalidArgument("B has the wrong size");
    // ONNX's pads for this input (auto_pad SAME_* resolved; window_geometry.h). cuDNN pads both
    // ends of an axis alike: it takes the pads' common part, and a padded copy of x the rest.
    // Axes [H, W] (1-D: [L] and a trivial one), 3-D [D, H, W].
    cuda::WindowAxis axes[3];
    {
      std::string why;
      const int64_t in[3] = {x.dim(2), one_d ? 1 : x.dim(3), three_d ? x.dim(4) : 1};
      const int64_t k[3] = {wt.dim(2), one_d ? 1 : wt.dim(3), three_d ? wt.dim(4) : 1};
      if (!cuda::ResolveWindow(spatial, in, k, p.strides, p.dilations, p.pads, cuda::ParseAutoPad(p.auto_pad), false,
                               axes, &why))
        return InvalidArgument(why);
    }
    for (int a = 0; a < spatial; ++a)
      if (axes[a].out <= 0) return InvalidArgument("the kernel is larger than the padded input");
    const cuda::WindowAxis* hw = three_d ? axes + 1 : axes;  // the H and W axes
    const cuda::SpatialPadShape extra = three_d ? cuda::ExtraPads3d(n, c, axes) : cuda::ExtraPads(n, c, hw, nhwc);
    if (three_d) {
      g.three_d = true;
      g.d = extra.out_d();
      g.kd = axes[0].k;
      g.pad_d = cuda::SplitPads(axes[0]).both;
      g.stride_d = axes[0].stride;
      g.dil_d = axes[0].dil;
    }
    g.h = extra.out_h();
    g.w = extra.out_w();
    g.kh = hw[0].k;
    g.kw = hw[1].k;
    g.pad_h = cuda::SplitPads(hw[0]).both;
    g.pad_w = cuda::SplitPads(hw[1]).both;
    g.stride_h = hw[0].stride;
    g.stride_w = hw[1].stride;
    g.dil_h = hw[0].dil;
    g.dil_w = hw[1].dil;
    if (g.out_h() != hw[0].out || g.out_w() != hw[1].out || (three_d && g.out_d() != axes[0].out))
      return Internal("Conv: cuDNN's output extents differ from ONNX's");
    ConvEntry& entry = conv_plans_[{i, key}];
    auto& plan = entry.plan;
    if (plan == nullptr) {
      const cuda::AlgoSearch search = variant_.search == Search::kMeasured    ? cuda::AlgoSearch::kMeasured
                                      : variant_.search == Search::kHeuristic ? cuda::AlgoSearch::kHeuristic
                                                                              : cuda::AlgoSearch::kDefault;
      auto made = cuda::ConvPlan::Create(*dnn_, g, is_half, options_.allow_tf32, nhwc, relu6 ? p.activation_beta : 0.0,
                                         search);
      if (!made.ok()) {
        conv_plans_.erase({i, key});
        if (made.status().code() == StatusCode::kUnimplemented) return Fallback(made.status().message());
        return made.status();
      }
      plan = std::move(made).value();
    }
    Shape out_shape{n, g.m};
    if (three_d) out_shape.PushBack(g.out_d());
    out_shape.PushBack(g.out_h());
    if (!one_d) out_shape.PushBack(g.out_w());
    const void* filter = wt.raw_data();
    if (nhwc) {
      ASSIGN_OR_RETURN(filter, NhwcFilter(node.inputs[1]));
    }
    // x with the pads cuDNN does not take (from the pool, as the workspace: freed in stream order),
    // made when cuDNN runs (our depthwise kernel reads x with ONNX's pads).
    const void* xin = x.raw_data();
    cuda::DeviceBuffer padded;
    auto pad_input = [&]() -> Status {
      if (!cuda::HasExtraPads(extra) || xin != x.raw_data()) return Status::Ok();
      ASSIGN_OR_RETURN(padded, pool_->Allocate(static_cast<size_t>(extra.out_count()) * ElementSize(dt)));
      if (is_half)
        RETURN_IF_ERROR(cuda::PadSpatial(x.data<__half>(), padded.as<__half>(), extra, stream_->get()));
      else
        RETURN_IF_ERROR(cuda::PadSpatial(x.data<float>(), padded.as<float>(), extra, stream_->get()));
      xin = padded.data();
      return Status::Ok();
    };
    // A depthwise convolution by our kernel (variant own_dw), with the bias and activation; checked
    // once per node and shape against cuDNN (outside a capture) before it is trusted.
    if (variant_.own_dw && r == 4 && g.group == c && g.m == c && wt.dim(1) == 1 && entry.own_dw >= 0 &&
        (entry.own_dw == 1 || capture_ == nullptr) &&
        (p.activation.empty() || p.activation == "Relu" || p.activation == "Clip" || p.activation == "LeakyRelu")) {
      cuda::DepthwiseGeometry dg;
      dg.n = n;
      dg.c = c;
      dg.h = x.dim(2);
      dg.w = x.dim(3);
      dg.kh = hw[0].k;
      dg.kw = hw[1].k;
      dg.stride_h = hw[0].stride;
      dg.stride_w = hw[1].stride;
      dg.dil_h = hw[0].dil;
      dg.dil_w = hw[1].dil;
      dg.pad_top = hw[0].pad_begin;
      dg.pad_left = hw[1].pad_begin;
      dg.out_h = hw[0].out;
      dg.out_w = hw[1].out;
      dg.act = p.activation == "Relu" ? 1 : p.activation == "Clip" ? 2 : p.activation == "LeakyRelu" ? 3 : 0;
      dg.alpha = p.activation_alpha;
      dg.beta = p.activation_beta;
      Tensor* out = nullptr;
      ASSIGN_OR_RETURN(out, DeviceOutput(out_id, dt, out_shape));
      if (out->num_elements() == 0) return Status::Ok();
      cudaStream_t s = stream_->get();
      if (is_half)
        RETURN_IF_ERROR(cuda::DepthwiseConv2d(x.data<__half>(), wt.data<__half>(), bias ? bias->data<__half>() : nullptr,
                                              out->data<__half>(), dg, nhwc, s));
      else
        RETURN_IF_ERROR(cuda::DepthwiseConv2d(x.data<float>(), wt.data<float>(), bias ? bias->data<float>() : nullptr,
                                              out->data<float>(), dg, nhwc, s));
      if (entry.own_dw == 1) {
        ++stats_.own_depthwise;
        return Status::Ok();
      }
      // First use: cuDNN's answer beside it.
      RETURN_IF_ERROR(pad_input());
      ASSIGN_OR_RETURN(cuda::DeviceBuffer ref, pool_->Allocate(out->bytes()));
      cuda::DeviceBuffer ws;
      if (plan->workspace_bytes() > 0) {
        ASSIGN_OR_RETURN(ws, pool_->Allocate(plan->workspace_bytes()));
      }
      RETURN_IF_ERROR(plan->Run(*dnn_, xin, filter, bias ? bias->raw_data() : nullptr, ref.data(), ws.data()));
      RETURN_IF_ERROR(ApplyConvActivation(p, ref.data(), out->num_elements(), is_half));
      auto diff = cuda::MaxAbsDiff(out->raw_data(), ref.data(), out->num_elements(), is_half, s);
      // cuDNN accumulates fp16 convolutions in fp32 too: the two differ by about one fp16 rounding.
      const float tol = is_half ? 4e-3f : (options_.allow_tf32 ? 1e-2f : 1e-4f);
      if (diff.ok() && diff->first <= tol * std::max(1.f, diff->second)) {
        entry.own_dw = 1;
        ++stats_.own_depthwise;
      } else {
        entry.own_dw = -1;  // keep cuDNN's answer, and use cuDNN from now on
        if (Debugging())
          std::fprintf(stderr, "onnxd: depthwise kernel of %s differs from cuDNN (%g of %g): not used\n",
                       Label(node).c_str(), diff.ok() ? diff->first : -1.f, diff.ok() ? diff->second : -1.f);
        ONNXD_CUDA_RETURN_IF_ERROR(
            cudaMemcpyAsync(out->raw_data(), ref.data(), out->bytes(), cudaMemcpyDeviceToDevice, s));
      }
      return Status::Ok();
    }
    RETURN_IF_ERROR(pad_input());
    // relu(conv + bias), and a residual block's relu(conv + z + bias), in one cuDNN call where it
    // takes the configuration (tried once per node and shape, before any capture).
    const Residual& res = residual_[i];
    int& fused = entry.fused;
    const Tensor* z = nullptr;
    const bool may_fuse = fuse_enabled_ && variant_.fuse && building_graph_ && fused >= 0 && plan->fusable();
    if (may_fuse && res.add >= 0 && !graph_->is_constant[res.z] && !on_host_[res.z] &&
        dev_[res.z].is_tensor() &&
        dev_[res.z].tensor().dtype() == dt && dev_[res.z].tensor().shape() == out_shape) {
      RETURN_IF_ERROR(Materialize(res.z));  // an input of the skipped Add: the hook never saw it
      if ((nhwc_[res.z] != 0) != nhwc) RETURN_IF_ERROR(Relayout(res.z, nhwc));
      z = &dev_[res.z].tensor();
    }
    const void* fused_bias = bias != nullptr ? bias->raw_data() : nullptr;
    if (fused_bias == nullptr && (z != nullptr || relu_like) && may_fuse) {
      auto zb = zero_bias_.find(i);
      if (zb == zero_bias_.end() && capture_ == nullptr) {
        auto buf = persist_pool_->Allocate(static_cast<size_t>(g.m) * ElementSize(dt));
        if (!buf.ok()) return buf.status();
        auto owner = std::make_shared<cuda::DeviceBuffer>(std::move(buf).value());
        ONNXD_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(owner->data(), 0, owner->size(), stream_->get()));
        zb = zero_bias_.emplace(i, std::move(owner)).first;
      }
      if (zb != zero_bias_.end()) fused_bias = zb->second->data();
    }
    // Only while a graph is built (its priming run and its capture): cuDNN's fused call costs
    // ~0.1 ms of host time in fp16 (13.9 vs 5 ms for ResNet-50 at batch 1 node by node), which a
    // replay does not pay.
    const bool fuse = may_fuse && fused_bias != nullptr && (z != nullptr || relu_like);
    const int fused_out = z != nullptr ? res.out : out_id;
    Tensor* out = nullptr;
    ASSIGN_OR_RETURN(out, DeviceOutput(fuse ? fused_out : out_id, dt, out_shape));
    if (out->num_elements() == 0) return Status::Ok();
    cuda::DeviceBuffer workspace;
    if (plan->workspace_bytes() > 0) {
      ASSIGN_OR_RETURN(workspace, pool_->Allocate(plan->workspace_bytes()));
    }
    if (fuse) {
      Status st = plan->RunFused(*dnn_, xin, filter, fused_bias, z != nullptr ? z->raw_data() : nullptr,
                                 out->raw_data(), workspace.data());
      if (st.ok()) {
        fused = 1;
        if (z != nullptr) {
          // The Add and the Relu are done: their output is this one.
          skip_[res.add] = skip_[res.relu] = 1;
          nhwc_[fused_out] = nhwc;
          halved_[fused_out] = halved_[node.inputs[0]] || halved_[node.inputs[1]];
        }
        return Status::Ok();
      }
      if (st.code() != StatusCode::kUnimplemented || capture_ != nullptr) return st;
      fused = -1;  // this cuDNN does not take it: separate ops from now on
      if (fused_out != out_id) {
        dev_[fused_out] = Value();
        dev_buf_[fused_out].reset();
        ASSIGN_OR_RETURN(out, DeviceOutput(out_id, dt, out_shape));
      }
    }
    RETURN_IF_ERROR(plan->Run(*dnn_, xin, filter, bias ? bias->raw_data() : nullptr, out->raw_data(),
                              workspace.data()));
    return ApplyConvActivation(p, out->raw_data(), out->num_elements(), is_half);
  }
  // Pooling.
  cuda::PoolGeometry g;
  g.n = n;
  g.c = c;
  g.h = h;
  g.w = w;
  cuda::PoolMode mode = cuda::PoolMode::kMax;
  // MaxPool's Indices output (int64), which our kernel writes beside the values.
  const int ind_id = op == "MaxPool" && node.outputs.size() > 1 ? node.outputs[1] : -1;
  if (op == "GlobalAveragePool" || op == "GlobalMaxPool") {
    g.kh = h;
    g.kw = w;
    mode = op == "GlobalMaxPool" ? cuda::PoolMode::kMax : cuda::PoolMode::kAverageIncludePad;
  } else {
    if (static_cast<int>(p.kernel_shape.size()) != spatial) return InvalidArgument("kernel_shape has the wrong length");
    // Our kernels: LpPool, channels-last max pooling (cuDNN's is several times slower than its NCHW
    // one), 3-D pooling, and every window cuDNN's pooling does not give as ONNX defines it: pads that
    // differ between the ends of an axis, ceil_mode's extra windows, dilations, and an average's
    // divisor for windows cut by the input's edge, the pads or ceil_mode's extra end. NCHW data is
    // [N*C, H, W, 1] to them, NCDHW data [N*C, D, H, W, 1].
    auto run_ours = [&](const cuda::PoolShape& ps, const Shape& out_shape) -> Status {
      Tensor* out = nullptr;
      ASSIGN_OR_RETURN(out, DeviceOutput(out_id, dt, out_shape));
      if (out->num_elements() == 0) return Status::Ok();
      if (op == "LpPool") {
        if (is_half) return cuda::LpPoolNhwc(x.data<__half>(), out->data<__half>(), ps, p.lp_p, stream_->get());
        return cuda::LpPoolNhwc(x.data<float>(), out->data<float>(), ps, p.lp_p, stream_->get());
      }
      if (op == "MaxPool" && ind_id >= 0) {
        Tensor* ind = nullptr;
        ASSIGN_OR_RETURN(ind, DeviceOutput(ind_id, DataType::kInt64, out_shape));
        if (is_half)
          return cuda::MaxPoolWithIndices(x.data<__half>(), out->data<__half>(), ind->data<int64_t>(), ps,
                                          p.storage_order == 1, stream_->get());
        return cuda::MaxPoolWithIndices(x.data<float>(), out->data<float>(), ind->data<int64_t>(), ps,
                                        p.storage_order == 1, stream_->get());
      }
      if (op == "MaxPool") {
        if (is_half) return cuda::MaxPoolNhwc(x.data<__half>(), out->data<__half>(), ps, stream_->get());
        return cuda::MaxPoolNhwc(x.data<float>(), out->data<float>(), ps, stream_->get());
      }
      if (is_half) return cuda::AveragePoolNhwc(x.data<__half>(), out->data<__half>(), ps, stream_->get());
      return cuda::AveragePoolNhwc(x.data<float>(), out->data<float>(), ps, stream_->get());
    };
    // ONNX's windows for this input (auto_pad SAME_* resolved, ceil_mode's grid; window_geometry.h).
    std::string why;
    if (three_d) {
      cuda::WindowAxis axes3[3];
      const int64_t in3[3] = {x.dim(2), x.dim(3), x.dim(4)};
      if (!cuda::ResolveWindow(3, in3, p.kernel_shape.data(), p.strides, p.dilations, p.pads,
                               cuda::ParseAutoPad(p.auto_pad), p.ceil_mode, axes3, &why))
        return InvalidArgument(why);
      return run_ours(cuda::MakePoolShape3d(n, c, axes3, p.count_include_pad),
                      Shape{n, c, axes3[0].out, axes3[1].out, axes3[2].out});
    }
    cuda::WindowAxis axes[2];
    const int64_t in[2] = {h, w}, k[2] = {p.kernel_shape[0], one_d ? 1 : p.kernel_shape[1]};
    if (!cuda::ResolveWindow(spatial, in, k, p.strides, p.dilations, p.pads, cuda::ParseAutoPad(p.auto_pad),
                             p.ceil_mode, axes, &why))
      return InvalidArgument(why);
    if ((nhwc && op == "MaxPool") || ind_id >= 0 || op == "LpPool" || !cuda::CudnnPoolable(axes)) {
      Shape out_shape{n, c, axes[0].out};
      if (!one_d) out_shape.PushBack(axes[1].out);
      return run_ours(cuda::MakePoolShape(n, c, axes, nhwc, p.count_include_pad), out_shape);
    }
    // cuDNN: symmetric pads, no dilation, the floor grid.
    g.kh = axes[0].k;
    g.kw = axes[1].k;
    g.pad_h = axes[0].pad_begin;
    g.pad_w = axes[1].pad_begin;
    g.stride_h = axes[0].stride;
    g.stride_w = axes[1].stride;
    if (op == "AveragePool")
      mode = p.count_include_pad ? cuda::PoolMode::kAverageIncludePad : cuda::PoolMode::kAverageExcludePad;
  }
  if (g.kh <= 0 || g.kw <= 0 || g.out_h() <= 0 || g.out_w() <= 0)
    return InvalidArgument("the pooling window does not fit the input " + x.shape().ToString());
  auto& plan = pool_plans_[{i, key}];
  if (plan == nullptr) {
    auto made = cuda::PoolPlan::Create(g, mode, is_half, nhwc);
    if (!made.ok()) {
      pool_plans_.erase({i, key});
      if (made.status().code() == StatusCode::kUnimplemented) return Fallback(made.status().message());
      return made.status();
    }
    plan = std::move(made).value();
  }
  Shape out_shape{n, c, g.out_h()};
  if (!one_d) out_shape.PushBack(g.out_w());
  if (three_d) out_shape.PushBack(1);  // a global pool's [N, C, 1, 1] is [N, C, 1, 1, 1]
  Tensor* out = nullptr;
  ASSIGN_OR_RETURN(out, DeviceOutput(out_id, dt, out_shape));
  if (out->num_elements() == 0) return Status::Ok();
  return plan->Run(*dnn_, x.raw_data(), out->raw_data());
#endif
}

}  // namespace

StatusOr<std::unique_ptr<CudaSession>> CreateCudaSession(std::shared_ptr<const GraphPlan> graph,
                                                         const DevicePlan& plan, const CompileOptions& options,
                                                         ThreadPool* pool, int gpu) {
  std::string why;
  if (!CudaRuntimeAvailable(&why)) return Unavailable("no usable CUDA device: " + why);
  const int count = cuda::DeviceCount(&why);
  if (gpu < 0 || gpu >= count) {
    std::string msg = "GPU " + std::to_string(gpu) + " does not exist: this process sees " + std::to_string(count) +
                      (count == 1 ? " GPU (ordinal 0" : " GPUs (ordinals 0-" + std::to_string(count - 1));
    if (const char* v = std::getenv("CUDA_VISIBLE_DEVICES"); v != nullptr)
      msg += std::string(", after CUDA_VISIBLE_DEVICES=") + v;
    return InvalidArgument(msg + ")");
  }
  // Everything the session makes lives on `gpu`; the caller's thread gets its device back.
  cuda::ScopedDevice on(gpu);
  RETURN_IF_ERROR(on.status());
  auto s = std::make_unique<CudaSessionImpl>(std::move(graph), plan, options, pool, gpu);
  RETURN_IF_ERROR(s->Init());
  return std::unique_ptr<CudaSession>(std::move(s));
}

}  // namespace onnxd::engine

#endif  // ONNXD_WITH_CUDA
