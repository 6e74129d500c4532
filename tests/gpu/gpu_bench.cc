// onnxd_gpu_bench: a small throughput table for the CUDA building blocks (GEMM fp32/TF32/fp16,
// broadcast Add, Softmax, LayerNorm), as markdown on stdout. Median of 20 timed runs after 3
// warm-up runs, timed with CUDA events. Exits 77 without a device.
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "kernels/cuda/binary_elementwise.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/device_pool.h"
#include "kernels/cuda/gemm_cuda.h"
#include "kernels/cuda/layer_norm.h"
#include "kernels/cuda/select.h"
#include "kernels/cuda/softmax.h"
#include "kernels/cuda/stream.h"
#include "kernels/cuda/transpose.h"

using namespace onnxd::cuda;

namespace {

double MedianMs(cudaStream_t s, const std::function<onnxd::Status()>& fn) {
  for (int i = 0; i < 3; ++i) {
    onnxd::Status st = fn();
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.message().c_str());
      return -1;
    }
  }
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  std::vector<float> ms;
  for (int i = 0; i < 20; ++i) {
    cudaEventRecord(a, s);
    (void)fn();
    cudaEventRecord(b, s);
    cudaEventSynchronize(b);
    float t = 0;
    cudaEventElapsedTime(&t, a, b);
    ms.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main() {
  std::string why;
  if (!CudaDeviceAvailable(&why)) {
    std::printf("onnxd_gpu_bench: SKIPPED, no CUDA device: %s\n", why.c_str());
    return 77;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  auto stream = Stream::Create();
  auto blas = stream.ok() ? Blas::Create(stream->get()) : onnxd::StatusOr<Blas>(stream.status());
  if (!blas.ok()) {
    std::fprintf(stderr, "%s\n", blas.status().message().c_str());
    return 1;
  }
  cudaStream_t s = stream->get();
  DevicePool pool;
  std::printf("device: %s\n\n| op | shape | median ms | throughput |\n|---|---|---|---|\n", prop.name);
  for (int64_t n : {1024, 4096}) {
    auto a = pool.Allocate(n * n * 4), b = pool.Allocate(n * n * 4), c = pool.Allocate(n * n * 4);
    if (!a.ok() || !b.ok() || !c.ok()) return 1;
    cudaMemsetAsync(a->data(), 0, n * n * 4, s);
    cudaMemsetAsync(b->data(), 0, n * n * 4, s);
    GemmArgs g{false, false, n, n, n};
    const double flop = 2.0 * n * n * n;
    for (auto [math, name] : {std::pair{GemmMath::kFp32, "GEMM fp32"}, std::pair{GemmMath::kTf32, "GEMM tf32"}}) {
      double ms = MedianMs(s, [&] { return blas->Gemm(g, a->as<float>(), b->as<float>(), c->as<float>(), math); });
      std::printf("| %s | %lld^3 | %.3f | %.1f TFLOP/s |\n", name, (long long)n, ms, flop / ms / 1e9);
    }
    double ms = MedianMs(s, [&] { return blas->GemmFp16(g, a->data(), b->data(), c->data()); });
    std::printf("| GEMM fp16 | %lld^3 | %.3f | %.1f TFLOP/s |\n", (long long)n, ms, flop / ms / 1e9);
  }
  {
    const int64_t rows = 64 * 1024, cols = 256;  // 16M elements
    const int64_t n = rows * cols;
    auto x = pool.Allocate(n * 4), bias = pool.Allocate(cols * 4), y = pool.Allocate(n * 4);
    if (!x.ok() || !bias.ok() || !y.ok()) return 1;
    cudaMemsetAsync(x->data(), 0, n * 4, s);
    cudaMemsetAsync(bias->data(), 0, cols * 4, s);
    std::vector<int64_t> xs{rows, cols}, bs{cols};
    double ms = MedianMs(s, [&] {
      return BinaryElementwise(BinaryOp::kAdd, x->as<float>(), xs, x->as<float>(), xs, y->as<float>(), s);
    });
    std::printf("| Add same shape | %lldx%lld | %.3f | %.0f GB/s |\n", (long long)rows, (long long)cols, ms, 12.0 * n / ms / 1e6);
    ms = MedianMs(s, [&] {
      return BinaryElementwise(BinaryOp::kAdd, x->as<float>(), xs, bias->as<float>(), bs, y->as<float>(), s);
    });
    std::printf("| Add broadcast row | %lldx%lld | %.3f | %.0f GB/s |\n", (long long)rows, (long long)cols, ms, 8.0 * n / ms / 1e6);
    ms = MedianMs(s, [&] { return SoftmaxLastAxis(x->as<float>(), y->as<float>(), rows, cols, s); });
    std::printf("| Softmax last axis | %lldx%lld | %.3f | %.0f GB/s |\n", (long long)rows, (long long)cols, ms, 8.0 * n / ms / 1e6);
    ms = MedianMs(s, [&] {
      return LayerNormLastAxis(x->as<float>(), bias->as<float>(), bias->as<float>(), y->as<float>(), rows, cols, 1e-5f, s);
    });
    std::printf("| LayerNorm last axis | %lldx%lld | %.3f | %.0f GB/s |\n", (long long)rows, (long long)cols, ms, 8.0 * n / ms / 1e6);
  }
  {
    // BERT-base fp16 at batch 32 (seq 128, 12 heads of 64) and ResNet-50's first block at batch 64.
    const int64_t n = 32 * 128 * 768;
    auto x = pool.Allocate(n * 2), y = pool.Allocate(n * 2);
    auto scores = pool.Allocate(int64_t{32} * 12 * 128 * 128 * 2), mask = pool.Allocate(32 * 128 * 2);
    auto cond = pool.Allocate(int64_t{32} * 12 * 128 * 128);
    if (!x.ok() || !y.ok() || !scores.ok() || !mask.ok() || !cond.ok()) return 1;
    cudaMemsetAsync(x->data(), 0, n * 2, s);
    const int64_t sn = int64_t{32} * 12 * 128 * 128;
    cudaMemsetAsync(scores->data(), 0, sn * 2, s);
    cudaMemsetAsync(mask->data(), 0, 32 * 128 * 2, s);
    cudaMemsetAsync(cond->data(), 0, sn, s);
    struct Case {
      const char* name;
      std::vector<int64_t> shape, perm;
    };
    const Case cases[] = {{"Transpose heads [B,S,H,D]->[B,H,S,D]", {32, 128, 12, 64}, {0, 2, 1, 3}},
                          {"Transpose K^T [B,H,S,D]->[B,H,D,S]", {32, 12, 128, 64}, {0, 1, 3, 2}},
                          {"Transpose NCHW->NHWC", {64, 256, 56, 56}, {0, 2, 3, 1}}};
    for (const auto& c : cases) {
      int64_t count = 1;
      for (int64_t d : c.shape) count *= d;
      auto in = pool.Allocate(count * 2), out = pool.Allocate(count * 2);
      if (!in.ok() || !out.ok()) return 1;
      cudaMemsetAsync(in->data(), 0, count * 2, s);
      double ms = MedianMs(s, [&] { return Transpose(in->as<__half>(), c.shape, c.perm, out->as<__half>(), s); });
      std::printf("| %s fp16 | %lld elements | %.3f | %.0f GB/s |\n", c.name, (long long)count, ms, 4.0 * count / ms / 1e6);
    }
    std::vector<int64_t> ss{32, 12, 128, 128}, ms_shape{32, 1, 1, 128}, one{};
    double ms = MedianMs(s, [&] {
      return BinaryElementwise(BinaryOp::kAdd, scores->as<__half>(), ss, mask->as<__half>(), ms_shape,
                               scores->as<__half>(), s);
    });
    std::printf("| Add mask [B,H,S,S]+[B,1,1,S] fp16 | %lld elements | %.3f | %.0f GB/s |\n", (long long)sn, ms, 4.0 * sn / ms / 1e6);
    ms = MedianMs(s, [&] {
      return Where(cond->as<uint8_t>(), ss, mask->as<__half>(), one, scores->as<__half>(), ss, scores->as<__half>(), s);
    });
    std::printf("| Where [B,H,S,S] scalar fp16 | %lld elements | %.3f | %.0f GB/s |\n", (long long)sn, ms, 5.0 * sn / ms / 1e6);
    ms = MedianMs(s, [&] {
      return LayerNormLastAxis(x->as<__half>(), x->as<__half>(), x->as<__half>(), y->as<__half>(), 32 * 128, 768, 1e-5f, s);
    });
    std::printf("| LayerNorm [4096,768] fp16 | %lld elements | %.3f | %.0f GB/s |\n", (long long)n, ms, 4.0 * n / ms / 1e6);
  }
  return 0;
}
