#include "kernels/cpu/gemm.h"

#include <cblas.h>

#include <dlfcn.h>

#include <algorithm>

#include "kernels/cpu/small_gemm.h"

namespace onnxd::engine::cpu {
namespace {

// OpenBLAS must not run its own threads: the engine has one pool. Setting one thread is not
// enough with the pthread build: its server threads, started when the library loaded, keep
// polling with sched_yield whenever the caller is busy in BLAS, taking a core from the pool on a
// small machine. Shutting the server down ends them; with one thread set, OpenBLAS never needs
// them again. Looked up at run time because only the pthread build has the symbol.
bool InitBlasThreads() {
  openblas_set_num_threads(1);
  using ShutdownFn = int (*)();
  if (auto shutdown = reinterpret_cast<ShutdownFn>(dlsym(RTLD_DEFAULT, "blas_thread_shutdown_"))) shutdown();
  return true;
}
[[maybe_unused]] const bool kBlasInit = InitBlasThreads();

inline void EnsureInit() {
  static const bool once = InitBlasThreads();
  (void)once;
}

// Multiply-adds one task should do at least, so pool overhead stays small.
constexpr int64_t kMinMacsPerTask = int64_t{1} << 17;

template <typename T>
void BlasCall(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
              int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int64_t i = 0; i < m; ++i) {
      T* row = c + i * ldc;
      if (beta == T(0)) std::fill(row, row + n, T(0));
      else if (beta != T(1))
        for (int64_t j = 0; j < n; ++j) row[j] *= beta;
    }
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (!ta && static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) <= kSmallGemmMaxMacs) {
      SmallSgemm(tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
    }
    if (m == 1) {
      // One row (a classifier head at batch 1): sgemv reads B once; sgemm would pack all of it
      // first (MobileNetV2's 1280x1000 head: 1.2 ms).
      const blasint inc_a = static_cast<blasint>(ta ? lda : 1);
      if (tb) {  // c = B[N,K] a
        cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<blasint>(n), static_cast<blasint>(k), alpha, b,
                    static_cast<blasint>(ldb), a, inc_a, beta, c, 1);
      } else {  // c = B[K,N]^T a
        cblas_sgemv(CblasRowMajor, CblasTrans, static_cast<blasint>(k), static_cast<blasint>(n), alpha, b,
                    static_cast<blasint>(ldb), a, inc_a, beta, c, 1);
      }
      return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
                static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
                static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
  }
}

template <typename T>
void ParallelGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                  const T* b, int64_t ldb, T beta, T* c, int64_t ldc, ThreadPool* pool) {
  EnsureInit();
  int tasks = GemmTasks(m, n, k, pool);
  if (tasks <= 1) {
    BlasCall(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // Split the larger of M and N; tiles aligned to the micro-kernel widths.
  bool split_m = m >= n || (n < 32 && m >= 16);
  int64_t dim = split_m ? m : n;
  int64_t align = split_m ? 8 : 16;
  int64_t chunk = (dim + tasks - 1) / tasks;
  chunk = std::min(dim, (chunk + align - 1) / align * align);
  int64_t count = (dim + chunk - 1) / chunk;
  pool->ParallelFor(count, 1, [&](int64_t tb0, int64_t te) {
    for (int64_t t = tb0; t < te; ++t) {
      int64_t s = t * chunk, len = std::min(chunk, dim - s);
      if (split_m) {
        const T* as = ta ? a + s : a + s * lda;
        BlasCall(ta, tb, len, n, k, alpha, as, lda, b, ldb, beta, c + s * ldc, ldc);
      } else {
        const T* bs = tb ? b + s * ldb : b + s;
        BlasCall(ta, tb, m, len, k, alpha, a, lda, bs, ldb, beta, c + s, ldc);
      }
    }
  });
}

}  // namespace

int GemmTasks(int64_t m, int64_t n, int64_t k, ThreadPool* pool) {
  if (pool == nullptr || pool->num_threads() <= 1) return 1;
  int64_t macs = m * n * std::max<int64_t>(k, 1);
  int64_t t = std::min<int64_t>(pool->num_threads(), macs / kMinMacsPerTask);
  // No point splitting a dimension finer than a micro tile.
  int64_t max_split = std::max((m + 7) / 8, (n + 15) / 16);
  t = std::min(t, max_split);
  return static_cast<int>(std::max<int64_t>(t, 1));
}

void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, ThreadPool* pool) {
  ParallelGemm<float>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pool);
}

void Dgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
           int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc, ThreadPool* pool) {
  ParallelGemm<double>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pool);
}

void SgemmSerial(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                 int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  EnsureInit();
  BlasCall<float>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace onnxd::engine::cpu
