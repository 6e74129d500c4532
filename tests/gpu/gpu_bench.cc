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
#include "kernels/cuda/softmax.h"
#include "kernels/cuda/stream.h"

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
  return 0;
}
