// The device side of onnxd's CUDA emulator, force-included (-include) into every engine .cu file
// when it is compiled as C++ for the emulated build (tests/cuda_emu/convert_cu.py has already turned
// its kernel launches into Launcher(...).Run(kernel, args...) calls).
//
// Each block runs on the calling thread; each CUDA thread of the block is a fiber with its own stack.
// __syncthreads, __syncwarp and the warp shuffles are barriers among the block's or the warp's
// live fibers, so code that would deadlock or diverge at a barrier on the GPU stops here with a
// message. Static __shared__ variables are thread_local statics (one copy per block being run);
// dynamic shared memory is a buffer filled with NaN bytes at every block's start, so a read before
// a write shows up. WMMA fragments hold their whole tile in every lane.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

#undef __shared__
#define __shared__ static thread_local
#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif

namespace onnxd::cuda_emu {

// Where the running fiber is in the grid.
struct ThreadPosition {
  uint3 thread;
  uint3 block;
  dim3 block_dim;
  dim3 grid_dim;
  unsigned linear;  // thread index within the block
};
const ThreadPosition& Position();

void SyncThreads();
void SyncWarp(unsigned mask);
void* DynamicShared();
// Every lane of the warp publishes `mine`, waits for the warp, and gets lane `src_lane`'s value.
uint64_t WarpExchange(uint64_t mine, unsigned src_lane);

// Runs `body` once per thread of every block of the grid (or records the launch when `stream` is
// being captured). `kernel` identifies the function for its attributes (cudaFuncSetAttribute).
// Sets the runtime's last error for a launch configuration CUDA would refuse.
void Launch(const void* kernel, dim3 grid, dim3 block, size_t dynamic_smem, cudaStream_t stream,
            std::function<void()> body);

class Launcher {
 public:
  Launcher(dim3 grid, dim3 block, size_t smem = 0, cudaStream_t stream = nullptr)
      : grid_(grid), block_(block), smem_(smem), stream_(stream) {}
  // The kernel's parameters are copied at the launch, as CUDA copies them.
  template <typename... P, typename... A>
  void Run(void (*kernel)(P...), A&&... args) {
    std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
    Launch(reinterpret_cast<const void*>(kernel), grid_, block_, smem_, stream_,
           [kernel, params]() { std::apply(kernel, params); });
  }

 private:
  dim3 grid_, block_;
  size_t smem_;
  cudaStream_t stream_;
};

// Every lane publishes `v` and gets lane `src`'s (any trivially copyable type of up to 8 bytes).
template <typename T>
T ExchangeValue(T v, unsigned src) {
  static_assert(sizeof(T) <= sizeof(uint64_t) && std::is_trivially_copyable_v<T>);
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = WarpExchange(bits, src);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

// __shfl_sync: lane `src_lane` of this lane's segment of `width` lanes.
template <typename T>
T Shuffle(T v, int src_lane, int width) {
  const unsigned lane = Position().linear & 31u;
  const unsigned w = static_cast<unsigned>(width);
  return ExchangeValue(v, (lane / w) * w + static_cast<unsigned>(src_lane) % w);
}

template <typename T>
T ShuffleXor(T v, int lane_mask, int width) {
  const unsigned lane = Position().linear & 31u;
  unsigned src = lane ^ static_cast<unsigned>(lane_mask);
  const unsigned w = static_cast<unsigned>(width);
  if ((src / w) != (lane / w)) src = lane;  // outside this lane's segment: its own value
  return ExchangeValue(v, src);
}

}  // namespace onnxd::cuda_emu

#define threadIdx (::onnxd::cuda_emu::Position().thread)
#define blockIdx (::onnxd::cuda_emu::Position().block)
#define blockDim (::onnxd::cuda_emu::Position().block_dim)
#define gridDim (::onnxd::cuda_emu::Position().grid_dim)
#define warpSize 32

inline void __syncthreads() { ::onnxd::cuda_emu::SyncThreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::onnxd::cuda_emu::SyncWarp(mask); }
template <typename T>
inline T __shfl_xor_sync(unsigned /*mask*/, T v, int lane_mask, int width = 32) {
  return ::onnxd::cuda_emu::ShuffleXor(v, lane_mask, width);
}
template <typename T>
inline T __shfl_sync(unsigned /*mask*/, T v, int src_lane, int width = 32) {
  return ::onnxd::cuda_emu::Shuffle(v, src_lane, width);
}

// Fibers of one block never run at the same time, but blocks of different host threads might.
template <typename T>
inline T atomicAdd(T* p, T v) {
  return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
inline float atomicAdd(float* p, float v) {
  float old;
  __atomic_load(p, &old, __ATOMIC_RELAXED);
  float desired;
  do {
    desired = old + v;
  } while (!__atomic_compare_exchange(p, &old, &desired, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  return old;
}
template <typename T>
inline T atomicMax(T* p, T v) {
  T old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (old < v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}

// Intrinsics with a defined rounding: the host does the same in round-to-nearest-even (the emulated
// build is compiled without contraction, -ffp-contract=off).
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
template <typename T>
inline T __ldg(const T* p) {
  return *p;
}
using std::isinf;
using std::isnan;

// CUDA's min/max overloads for device code: fminf/fmaxf for floating point, comparisons otherwise.
template <typename A, typename B>
inline std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<C>) return std::fmin(static_cast<C>(a), static_cast<C>(b));
  else return static_cast<C>(b) < static_cast<C>(a) ? static_cast<C>(b) : static_cast<C>(a);
}
template <typename A, typename B>
inline std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<C>) return std::fmax(static_cast<C>(a), static_cast<C>(b));
  else return static_cast<C>(a) < static_cast<C>(b) ? static_cast<C>(b) : static_cast<C>(a);
}

// cuda_runtime.h declares this overload for nvcc only.
template <typename T>
inline cudaError_t cudaFuncSetAttribute(T* func, cudaFuncAttribute attr, int value) {
  return ::cudaFuncSetAttribute(reinterpret_cast<const void*>(func), attr, value);
}

// WMMA (mma.h), the part onnxd's kernels use (fill, loads of A and B, mma, stores of an
// accumulator): every lane holds the whole tile, so loads and products are done by every lane on
// the same data and a store by lane 0; the warp barriers the collective calls imply are kept.
namespace nvcuda::wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static constexpr int rows = std::is_same_v<Use, matrix_b> ? K : M;
  static constexpr int cols = std::is_same_v<Use, matrix_a> ? K : N;
  static constexpr int num_elements = rows * cols;
  T x[num_elements];  // row-major tile
};

template <typename Use, int M, int N, int K, typename T, typename Layout, typename V>
inline void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, V v) {
  for (int i = 0; i < f.num_elements; ++i) f.x[i] = static_cast<T>(v);
}

template <typename Use, int M, int N, int K, typename T, typename Layout>
inline void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const T* p, unsigned ldm) {
  using F = fragment<Use, M, N, K, T, Layout>;
  constexpr bool kColMajor = std::is_same_v<Layout, col_major>;
  for (int r = 0; r < F::rows; ++r)
    for (int c = 0; c < F::cols; ++c) f.x[r * F::cols + c] = kColMajor ? p[c * ldm + r] : p[r * ldm + c];
  __syncwarp();
}

template <int M, int N, int K, typename T>
inline void store_matrix_sync(T* p, const fragment<accumulator, M, N, K, T, void>& f, unsigned ldm, layout_t l) {
  __syncwarp();
  if ((::onnxd::cuda_emu::Position().linear & 31u) == 0) {
    for (int r = 0; r < M; ++r)
      for (int c = 0; c < N; ++c) (l == mem_col_major ? p[c * ldm + r] : p[r * ldm + c]) = f.x[r * N + c];
  }
  __syncwarp();
}

// d = a b + c, products of the inputs' values summed in fp32 (fp16 accumulators round at the end).
template <int M, int N, int K, typename TA, typename LA, typename TB, typename LB, typename TC>
inline void mma_sync(fragment<accumulator, M, N, K, TC, void>& d, const fragment<matrix_a, M, N, K, TA, LA>& a,
                     const fragment<matrix_b, M, N, K, TB, LB>& b, const fragment<accumulator, M, N, K, TC, void>& c) {
  float fa[M * K], fb[K * N], acc[M * N];
  for (int i = 0; i < M * K; ++i) fa[i] = static_cast<float>(a.x[i]);
  for (int i = 0; i < K * N; ++i) fb[i] = static_cast<float>(b.x[i]);
  for (int i = 0; i < M * N; ++i) acc[i] = static_cast<float>(c.x[i]);
  for (int r = 0; r < M; ++r)
    for (int k = 0; k < K; ++k) {
      const float x = fa[r * K + k];
      for (int col = 0; col < N; ++col) acc[r * N + col] += x * fb[k * N + col];
    }
  for (int i = 0; i < M * N; ++i) d.x[i] = static_cast<TC>(acc[i]);
}
}  // namespace nvcuda::wmma
