// The emulator's own device and runtime semantics (tests/cuda_emu/README.md): barriers, shuffles,
// shared memory, WMMA, the launch checks, and CUDA-graph capture rules. Kernels are written as
// convert_cu.py leaves them (Launcher(...).Run(kernel, args)).
#include <gtest/gtest.h>

#include <vector>

#include "device.h"
#include "emu.h"

namespace {

using onnxd::cuda_emu::Launcher;

template <typename T>
struct DeviceArray {
  T* p = nullptr;
  size_t n = 0;
  explicit DeviceArray(size_t count) : n(count) { EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(T)), cudaSuccess); }
  ~DeviceArray() { cudaFree(p); }
  std::vector<T> Read() const {
    std::vector<T> h(n);
    EXPECT_EQ(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }
};

// Each thread writes its slot, waits, then reads its neighbour's: wrong unless the barrier holds
// every thread until all have written.
__global__ void NeighbourThroughSharedMemory(int* out) {
  __shared__ int slot[256];
  const int t = static_cast<int>(threadIdx.x);
  slot[t] = 1000 * static_cast<int>(blockIdx.x) + t;
  __syncthreads();
  out[blockIdx.x * blockDim.x + t] = slot[(t + 1) % blockDim.x];
}

TEST(CudaEmuDevice, SyncThreadsOrdersSharedMemory) {
  DeviceArray<int> out(3 * 256);
  Launcher(dim3(3), dim3(256)).Run(NeighbourThroughSharedMemory, out.p);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const std::vector<int> h = out.Read();
  for (int b = 0; b < 3; ++b)
    for (int t = 0; t < 256; ++t) ASSERT_EQ(h[b * 256 + t], 1000 * b + (t + 1) % 256) << b << " " << t;
}

// A butterfly sum over each warp: every lane ends with its warp's total.
__global__ void WarpSum(const float* in, float* out) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = in[i];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  out[i] = v;
}

TEST(CudaEmuDevice, ShuffleXorSumsEachWarp) {
  const int n = 2 * 96;  // two blocks of three warps
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = static_cast<float>(i % 7) - 2.f;
  DeviceArray<float> in(n), out(n);
  ASSERT_EQ(cudaMemcpy(in.p, x.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  Launcher(dim3(2), dim3(96)).Run(WarpSum, static_cast<const float*>(in.p), out.p);
  const std::vector<float> h = out.Read();
  for (int w = 0; w < n / 32; ++w) {
    float want = 0;
    for (int l = 0; l < 32; ++l) want += x[w * 32 + l];
    for (int l = 0; l < 32; ++l) ASSERT_EQ(h[w * 32 + l], want) << "warp " << w << " lane " << l;
  }
}

// One warp multiplies a 16 x 16 A (row-major) by B (col-major) into C, as the flash kernel does.
__global__ void TileProduct(const __half* a, const __half* b, float* c) {
  nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __half, nvcuda::wmma::row_major> fa;
  nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 16, __half, nvcuda::wmma::col_major> fb;
  nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> acc;
  nvcuda::wmma::fill_fragment(acc, 0.5f);
  nvcuda::wmma::load_matrix_sync(fa, a, 16);
  nvcuda::wmma::load_matrix_sync(fb, b, 16);
  nvcuda::wmma::mma_sync(acc, fa, fb, acc);
  nvcuda::wmma::store_matrix_sync(c, acc, 16, nvcuda::wmma::mem_row_major);
}

TEST(CudaEmuDevice, WmmaTileProductMatchesAReference) {
  std::vector<__half> a(256), b(256);
  std::vector<float> af(256), bf(256);
  for (int i = 0; i < 256; ++i) {
    a[i] = __float2half(static_cast<float>(i % 11) * 0.25f - 1.f);
    b[i] = __float2half(static_cast<float>(i % 5) * 0.5f - 1.f);
    af[i] = __half2float(a[i]);
    bf[i] = __half2float(b[i]);
  }
  DeviceArray<__half> da(256), db(256);
  DeviceArray<float> dc(256);
  ASSERT_EQ(cudaMemcpy(da.p, a.data(), 512, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(db.p, b.data(), 512, cudaMemcpyHostToDevice), cudaSuccess);
  Launcher(dim3(1), dim3(32)).Run(TileProduct, static_cast<const __half*>(da.p), static_cast<const __half*>(db.p), dc.p);
  const std::vector<float> c = dc.Read();
  for (int r = 0; r < 16; ++r)
    for (int col = 0; col < 16; ++col) {
      double want = 0.5;
      for (int k = 0; k < 16; ++k) want += static_cast<double>(af[r * 16 + k]) * bf[col * 16 + k];  // B col-major
      ASSERT_NEAR(c[r * 16 + col], want, 1e-4) << r << "," << col;
    }
}

// Lanes 0-15 wait at __syncthreads, the others at a warp barrier: no barrier can be released.
__global__ void DivergentBarriers(int* out) {
  if (threadIdx.x < 16) __syncthreads();
  else __syncwarp();
  out[threadIdx.x] = 1;
}

TEST(CudaEmuDeviceDeathTest, DivergentBarriersStopTheRunAndSayWhere) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  DeviceArray<int> out(32);
  EXPECT_DEATH(Launcher(dim3(1), dim3(32)).Run(DivergentBarriers, out.p), "deadlock in kernel .*__syncthreads");
}

__global__ void Nothing(int* out) { out[0] = 1; }

TEST(CudaEmuDevice, LaunchesCudaWouldRefuseAreRefused) {
  DeviceArray<int> out(1);
  Launcher(dim3(1), dim3(2048)).Run(Nothing, out.p);  // more than 1024 threads a block
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  Launcher(dim3(0), dim3(32)).Run(Nothing, out.p);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  // Over 48 KiB of dynamic shared memory needs the kernel's attribute first.
  Launcher(dim3(1), dim3(32), 64 * 1024).Run(Nothing, out.p);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  ASSERT_EQ(cudaFuncSetAttribute(reinterpret_cast<const void*>(&Nothing), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 64 * 1024),
            cudaSuccess);
  Launcher(dim3(1), dim3(32), 64 * 1024).Run(Nothing, out.p);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(out.Read()[0], 1);
}

TEST(CudaEmuRuntime, CopiesMustSayTheirDirectionTruly) {
  DeviceArray<float> d(4);
  std::vector<float> h(4, 1.f);
  EXPECT_EQ(cudaMemcpy(d.p, h.data(), 16, cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(d.p, h.data(), 16, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);  // reversed
  EXPECT_EQ(cudaMemcpy(h.data(), d.p, 16, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemsetAsync(h.data(), 0, 16, nullptr), cudaErrorInvalidValue);  // host memory
  cudaGetLastError();
}

__global__ void AddOne(float* x) { x[threadIdx.x] += 1.f; }

TEST(CudaEmuRuntime, AGraphReplaysWhatItsStreamCaptured) {
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  DeviceArray<float> d(8);
  ASSERT_EQ(cudaMemset(d.p, 0, 32), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
  Launcher(dim3(1), dim3(8), 0, s).Run(AddOne, d.p);
  EXPECT_EQ(d.Read()[0], 0.f) << "a captured launch runs only when the graph is launched";
  cudaGraph_t g = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(s, &g), cudaSuccess);
  cudaGraphExec_t e = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&e, g, 0), cudaSuccess);
  for (int k = 0; k < 3; ++k) ASSERT_EQ(cudaGraphLaunch(e, s), cudaSuccess);
  EXPECT_EQ(d.Read()[7], 3.f);
  cudaGraphExecDestroy(e);
  cudaGraphDestroy(g);

  // Pageable host memory in a captured copy, or a sync of the capturing stream, ends the capture.
  std::vector<float> h(8, 2.f);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
  EXPECT_EQ(cudaMemcpyAsync(d.p, h.data(), 32, cudaMemcpyHostToDevice, s), cudaErrorStreamCaptureUnsupported);
  EXPECT_EQ(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(s), cudaErrorStreamCaptureUnsupported);
  EXPECT_EQ(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
  // Pinned memory is capturable.
  float* pinned = nullptr;
  ASSERT_EQ(cudaHostAlloc(reinterpret_cast<void**>(&pinned), 32, 0), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
  EXPECT_EQ(cudaMemcpyAsync(d.p, pinned, 32, cudaMemcpyHostToDevice, s), cudaSuccess);
  EXPECT_EQ(cudaStreamEndCapture(s, &g), cudaSuccess);
  cudaGraphDestroy(g);
  cudaFreeHost(pinned);
  cudaGetLastError();
  cudaStreamDestroy(s);
}

}  // namespace
