// Fused multiply-adds: ISO C++ mode turns contraction off by default.
#pragma GCC optimize("O3", "fp-contract=fast")

#include "kernels/cpu/small_gemm.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/vec16.h"

namespace onnxd::engine::cpu {
namespace {

// Everything below is inlined into each target clone of SmallSgemmImpl, so that each gets the
// vector width of its ISA.
using vec::Load;
using vec::Splat;
using vec::Store;
using vec::v16;

ONNXD_INLINE void WriteBack(float* c, const float* acc, int64_t n, float alpha, float beta) {
  if (beta == 0.f) {
    for (int64_t j = 0; j < n; ++j) c[j] = alpha * acc[j];
  } else {
    for (int64_t j = 0; j < n; ++j) c[j] = alpha * acc[j] + beta * c[j];
  }
}

// Rows [i0, i0+R) x columns [j0, j0+32) of C = A * B, B row-major K x N (or a 16-wide padded panel).
template <int R>
ONNXD_INLINE void BlockNN(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* acc /* R x 32 */) {
  v16 c0[R], c1[R];
  for (int r = 0; r < R; ++r) c0[r] = c1[r] = v16{};
  for (int64_t p = 0; p < k; ++p) {
    const v16 b0 = Load(b + p * ldb), b1 = Load(b + p * ldb + 16);
    for (int r = 0; r < R; ++r) {
      const v16 av = Splat(a[r * lda + p]);
      c0[r] += av * b0;
      c1[r] += av * b1;
    }
  }
  for (int r = 0; r < R; ++r) {
    Store(acc + r * 32, c0[r]);
    Store(acc + r * 32 + 16, c1[r]);
  }
}

// R rows x 16*V columns. For one or two rows (a GEMV) the 32-column block above leaves two or four
// FMA chains, each waiting on its last FMA; 8 vectors a row keep the FMA units busy.
template <int R, int V>
ONNXD_INLINE void BlockNNWide(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* acc) {
  v16 c[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) c[r][v] = v16{};
  for (int64_t p = 0; p < k; ++p) {
    v16 bv[V];
    for (int v = 0; v < V; ++v) bv[v] = Load(b + p * ldb + 16 * v);
    for (int r = 0; r < R; ++r) {
      const v16 av = Splat(a[r * lda + p]);
      for (int v = 0; v < V; ++v) c[r][v] += av * bv[v];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) Store(acc + r * 16 * V + 16 * v, c[r][v]);
}

template <int R>
ONNXD_INLINE void BlockNN16(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* acc /* R x 16 */) {
  v16 c0[R];
  for (int r = 0; r < R; ++r) c0[r] = v16{};
  for (int64_t p = 0; p < k; ++p) {
    const v16 b0 = Load(b + p * ldb);
    for (int r = 0; r < R; ++r) c0[r] += Splat(a[r * lda + p]) * b0;
  }
  for (int r = 0; r < R; ++r) Store(acc + r * 16, c0[r]);
}

template <int R>
ONNXD_INLINE void RowsNN(int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float alpha, float beta,
            float* c, int64_t ldc, float* tail_panel) {
  alignas(64) float acc[8 * 32];
  int64_t j = 0;
  if constexpr (R <= 2) {
    for (; j + 128 <= n; j += 128) {
      BlockNNWide<R, 8>(k, a, lda, b + j, ldb, acc);
      for (int r = 0; r < R; ++r) WriteBack(c + r * ldc + j, acc + r * 128, 128, alpha, beta);
    }
  }
  for (; j + 32 <= n; j += 32) {
    BlockNN<R>(k, a, lda, b + j, ldb, acc);
    for (int r = 0; r < R; ++r) WriteBack(c + r * ldc + j, acc + r * 32, 32, alpha, beta);
  }
  for (; j + 16 <= n; j += 16) {
    BlockNN16<R>(k, a, lda, b + j, ldb, acc);
    for (int r = 0; r < R; ++r) WriteBack(c + r * ldc + j, acc + r * 16, 16, alpha, beta);
  }
  if (j < n) {
    // The last n-j (< 16) columns come from a zero-padded K x 16 panel built once per call.
    BlockNN16<R>(k, a, lda, tail_panel, 16, acc);
    for (int r = 0; r < R; ++r) WriteBack(c + r * ldc + j, acc + r * 16, n - j, alpha, beta);
  }
}

// C = A * B^T: dot products of rows of A with rows of B, 2 x 4 at a time, vectorised over K.
template <int RA, int RB>
ONNXD_INLINE void BlockNT(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* out /* RA x RB */) {
  v16 s[RA][RB];
  for (int i = 0; i < RA; ++i)
    for (int j = 0; j < RB; ++j) s[i][j] = v16{};
  int64_t p = 0;
  for (; p + 16 <= k; p += 16) {
    v16 av[RA];
    for (int i = 0; i < RA; ++i) av[i] = Load(a + i * lda + p);
    for (int j = 0; j < RB; ++j) {
      const v16 bv = Load(b + j * ldb + p);
      for (int i = 0; i < RA; ++i) s[i][j] += av[i] * bv;
    }
  }
  for (int i = 0; i < RA; ++i) {
    for (int j = 0; j < RB; ++j) {
      float t = 0;
      for (int q = 0; q < 16; ++q) t += s[i][j][q];
      for (int64_t q = p; q < k; ++q) t += a[i * lda + q] * b[j * ldb + q];
      out[i * RB + j] = t;
    }
  }
}

template <int RA>
ONNXD_INLINE void RowsNT(int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float alpha, float beta,
            float* c, int64_t ldc) {
  float out[RA * 4];
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    BlockNT<RA, 4>(k, a, lda, b + j * ldb, ldb, out);
    for (int i = 0; i < RA; ++i) {
      float tmp[4] = {out[i * 4], out[i * 4 + 1], out[i * 4 + 2], out[i * 4 + 3]};
      WriteBack(c + i * ldc + j, tmp, 4, alpha, beta);
    }
  }
  for (; j < n; ++j) {
    BlockNT<RA, 1>(k, a, lda, b + j * ldb, ldb, out);
    for (int i = 0; i < RA; ++i) WriteBack(c + i * ldc + j, out + i, 1, alpha, beta);
  }
}

// Tail panels live on the stack up to this many floats (K x 16); larger K uses the scalar path.
constexpr int64_t kMaxPanelFloats = 16 * 2048;

__attribute__((target_clones("avx512f", "avx2", "default")))
void SmallSgemmImpl(bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                    const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  alignas(64) float panel[kMaxPanelFloats];
  if (trans_b && m >= 4 && k * 16 <= kMaxPanelFloats) {
    // Enough rows to amortise packing: transpose 16 rows of B at a time into a K x 16 panel and
    // run the broadcast kernel on it.
    alignas(64) float acc[4 * 16];
    for (int64_t j = 0; j < n; j += 16) {
      const int64_t w = std::min<int64_t>(16, n - j);
      for (int64_t p = 0; p < k; ++p) {
        float* row = panel + p * 16;
        for (int64_t q = 0; q < w; ++q) row[q] = b[(j + q) * ldb + p];
        for (int64_t q = w; q < 16; ++q) row[q] = 0.f;
      }
      int64_t i = 0;
      for (; i + 4 <= m; i += 4) {
        BlockNN16<4>(k, a + i * lda, lda, panel, 16, acc);
        for (int r = 0; r < 4; ++r) WriteBack(c + (i + r) * ldc + j, acc + r * 16, w, alpha, beta);
      }
      for (; i < m; ++i) {
        BlockNN16<1>(k, a + i * lda, lda, panel, 16, acc);
        WriteBack(c + i * ldc + j, acc, w, alpha, beta);
      }
    }
    return;
  }
  if (trans_b) {
    int64_t i = 0;
    for (; i + 2 <= m; i += 2) RowsNT<2>(n, k, a + i * lda, lda, b, ldb, alpha, beta, c + i * ldc, ldc);
    for (; i < m; ++i) RowsNT<1>(n, k, a + i * lda, lda, b, ldb, alpha, beta, c + i * ldc, ldc);
    return;
  }
  const int64_t tail = n % 16;
  if (tail != 0 && k * 16 > kMaxPanelFloats) {
    // Rare shape (tiny N tail with a huge K): plain loops.
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        float t = 0;
        for (int64_t p = 0; p < k; ++p) t += a[i * lda + p] * b[p * ldb + j];
        c[i * ldc + j] = alpha * t + (beta == 0.f ? 0.f : beta * c[i * ldc + j]);
      }
    }
    return;
  }
  if (tail != 0) {
    const int64_t j0 = n - tail;
    for (int64_t p = 0; p < k; ++p) {
      float* row = panel + p * 16;
      std::memcpy(row, b + p * ldb + j0, static_cast<size_t>(tail) * sizeof(float));
      std::memset(row + tail, 0, static_cast<size_t>(16 - tail) * sizeof(float));
    }
  }
  int64_t i = 0;
  for (; i + 8 <= m; i += 8) RowsNN<8>(n, k, a + i * lda, lda, b, ldb, alpha, beta, c + i * ldc, ldc, panel);
  for (; i + 4 <= m; i += 4) RowsNN<4>(n, k, a + i * lda, lda, b, ldb, alpha, beta, c + i * ldc, ldc, panel);
  for (; i + 2 <= m; i += 2) RowsNN<2>(n, k, a + i * lda, lda, b, ldb, alpha, beta, c + i * ldc, ldc, panel);
  for (; i < m; ++i) RowsNN<1>(n, k, a + i * lda, lda, b, ldb, alpha, beta, c + i * ldc, ldc, panel);
}

}  // namespace

void SmallSgemm(bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  SmallSgemmImpl(trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace onnxd::engine::cpu
