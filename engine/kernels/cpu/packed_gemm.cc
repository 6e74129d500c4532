// Prepacked-B float GEMM (see packed_gemm.h).
#pragma GCC optimize("O3", "fp-contract=fast")

#include "kernels/cpu/packed_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/vec16.h"

namespace onnxd::engine::cpu {
namespace {

using vec::Load;
using vec::Splat;
using vec::Store;
using vec::v16;

constexpr int64_t kPanel = PackedB::kPanel;
// K block: a 32-column panel slice of kKc rows is 64 KiB, reused by every row tile from L2
// (512 beat 128 and 256 on Zen 4: fewer passes over C).
constexpr int64_t kKc = 512;
// M block: kMc rows of A by kKc (at most 240 KiB) stay in L2 while every panel passes over them.
constexpr int64_t kMc = 120;

std::atomic<bool> g_portable_only{false};

// What a tile does with its sums: c = alpha * acc (+ c when load_c); on the last K block also
// + bias, then relu.
struct Epilogue {
  float alpha;
  const float* bias;  // at this tile's first column; null for none
  const float* row_bias;  // one value per row, at this tile's first row; null for none
  bool load_c;
  bool last;
  bool relu;
};

// ---------------------------------------------------------------------------------------------
// AVX-512: R rows x 32 columns in 2R zmm accumulators; each A element is broadcast by one
// instruction, the panel row is two aligned loads. Column tails use masked loads and stores.
#pragma GCC push_options
#pragma GCC target("avx512f")

inline __mmask16 Mask(int64_t cols) { return cols >= 16 ? __mmask16(0xFFFF) : cols <= 0 ? __mmask16(0) : __mmask16((1u << cols) - 1); }

ONNXD_INLINE __m512 FinishZ(__m512 acc, __mmask16 mask, const float* c, const float* bias, int r, __m512 alpha,
                            const Epilogue& e) {
  __m512 v = _mm512_mul_ps(acc, alpha);
  if (e.load_c) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, c));
  if (e.last) {
    if (e.bias != nullptr) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, bias));
    if (e.row_bias != nullptr) v = _mm512_add_ps(v, _mm512_set1_ps(e.row_bias[r]));
    if (e.relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
  }
  return v;
}

// B rows are ldb apart: kPanel in a packed panel, or the row stride of an unpacked B, where
// kMasked loads only the nc valid columns (the last tile of a row may end at the buffer's end).
template <int R, bool kMasked>
ONNXD_INLINE void TileZ32(int64_t kc, const float* a, int64_t lda, const float* bp, int64_t ldb, int64_t nc, float* c,
                          int64_t ldc, const Epilogue& e) {
  __m512 c0[R], c1[R];
  for (int r = 0; r < R; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
  const __mmask16 m0 = Mask(nc), m1 = Mask(nc - 16);
  for (int64_t p = 0; p < kc; ++p) {
    __m512 b0, b1;
    if constexpr (kMasked) {
      b0 = _mm512_maskz_loadu_ps(m0, bp + p * ldb);
      b1 = _mm512_maskz_loadu_ps(m1, bp + p * ldb + 16);
    } else {
      b0 = _mm512_loadu_ps(bp + p * ldb);
      b1 = _mm512_loadu_ps(bp + p * ldb + 16);
    }
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * lda + p]);
      c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
    }
  }
  const __m512 alpha = _mm512_set1_ps(e.alpha);
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    _mm512_mask_storeu_ps(cr, m0, FinishZ(c0[r], m0, cr, e.bias, r, alpha, e));
    _mm512_mask_storeu_ps(cr + 16, m1, FinishZ(c1[r], m1, cr + 16, e.bias + (e.bias ? 16 : 0), r, alpha, e));
  }
}

// A last panel of at most 16 columns: half the accumulators, no wasted multiply-adds.
template <int R, bool kMasked>
ONNXD_INLINE void TileZ16(int64_t kc, const float* a, int64_t lda, const float* bp, int64_t ldb, int64_t nc, float* c,
                          int64_t ldc, const Epilogue& e) {
  __m512 c0[R];
  for (int r = 0; r < R; ++r) c0[r] = _mm512_setzero_ps();
  const __mmask16 m0 = Mask(nc);
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 b0 = kMasked ? _mm512_maskz_loadu_ps(m0, bp + p * ldb) : _mm512_loadu_ps(bp + p * ldb);
    for (int r = 0; r < R; ++r) c0[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r * lda + p]), b0, c0[r]);
  }
  const __m512 alpha = _mm512_set1_ps(e.alpha);
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    _mm512_mask_storeu_ps(cr, m0, FinishZ(c0[r], m0, cr, e.bias, r, alpha, e));
  }
}

// A packed panel (zero-padded: full loads) or an unpacked B (masked loads on a tail tile).
template <int R>
ONNXD_INLINE void TileZ(int64_t kc, const float* a, int64_t lda, const float* bp, int64_t ldb, bool packed, int64_t nc,
                        float* c, int64_t ldc, const Epilogue& e) {
  const bool masked = !packed && nc < 32;
  if (nc > 16) {
    if (masked) TileZ32<R, true>(kc, a, lda, bp, ldb, nc, c, ldc, e);
    else TileZ32<R, false>(kc, a, lda, bp, ldb, nc, c, ldc, e);
  } else {
    if (masked) TileZ16<R, true>(kc, a, lda, bp, ldb, nc, c, ldc, e);
    else TileZ16<R, false>(kc, a, lda, bp, ldb, nc, c, ldc, e);
  }
}

// Rows [0, rows) of one panel (32 columns of B, ldb apart).
void PanelAvx512(int64_t rows, int64_t kc, const float* a, int64_t lda, const float* bp, int64_t ldb, bool packed,
                 int64_t nc, float* c, int64_t ldc, Epilogue e) {
  int64_t i = 0;
  for (; i + 12 <= rows; i += 12) {
    TileZ<12>(kc, a + i * lda, lda, bp, ldb, packed, nc, c + i * ldc, ldc, e);
    if (e.row_bias != nullptr) e.row_bias += 12;
  }
  const float* ai = a + i * lda;
  float* ci = c + i * ldc;
  switch (rows - i) {
    case 11: TileZ<11>(kc, ai, lda, bp, ldb, packed, nc, ci, ldc, e); break;
    case 10: TileZ<10>(kc, ai, lda, bp, ldb, packed, nc, ci, ldc, e); break;
    case 9: TileZ<9>(kc, ai, lda, bp, ldb, packed, nc, ci, ldc, e); break;
    case 8: TileZ<8>(kc, ai, lda, bp, ldb, packed, nc, ci, ldc, e); break;
    case 7: TileZ<7>(kc, ai, lda, bp, ldb, packed, nc, ci, ldc, e); break;
    case 6: TileZ<6>(kc, ai, lda, bp, ldb, packed, nc, ci, ldc, e); break;
    case 5: TileZ<5>(kc, ai, lda, bp, ldb, packed, nc, ci, ldc, e); break;
    case 4: TileZ<4>(kc, ai, lda, bp, ldb, packed, nc, ci, ldc, e); break;
    case 3: TileZ<3>(kc, ai, lda, bp, ldb, packed, nc, ci, ldc, e); break;
    case 2: TileZ<2>(kc, ai, lda, bp, ldb, packed, nc, ci, ldc, e); break;
    case 1: TileZ<1>(kc, ai, lda, bp, ldb, packed, nc, ci, ldc, e); break;
    default: break;
  }
}

#pragma GCC pop_options

// ---------------------------------------------------------------------------------------------
// Portable: R rows x 16 columns in GCC vectors (one zmm, two ymm or four xmm per row, whatever the
// clone's ISA), sums to a small buffer, then a scalar epilogue for the valid columns.
// B rows ldb apart; `partial` (an unpacked B's last tile) copies the nc valid columns of each row
// first, so nothing past them is read.
template <int R>
ONNXD_INLINE void TileV(int64_t kc, const float* a, int64_t lda, const float* bp, int64_t ldb, bool partial,
                        int64_t nc, float* c, int64_t ldc, const Epilogue& e) {
  v16 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = v16{};
  alignas(64) float row[16] = {};
  for (int64_t p = 0; p < kc; ++p) {
    v16 b;
    if (partial) {
      for (int64_t j = 0; j < nc; ++j) row[j] = bp[p * ldb + j];
      b = Load(row);
    } else {
      b = Load(bp + p * ldb);
    }
    for (int r = 0; r < R; ++r) acc[r] += Splat(a[r * lda + p]) * b;
  }
  alignas(64) float out[R * 16];
  for (int r = 0; r < R; ++r) Store(out + r * 16, acc[r]);
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    for (int64_t j = 0; j < nc; ++j) {
      float v = e.alpha * out[r * 16 + j];
      if (e.load_c) v += cr[j];
      if (e.last) {
        if (e.bias != nullptr) v += e.bias[j];
        if (e.row_bias != nullptr) v += e.row_bias[r];
        if (e.relu) v = std::max(v, 0.f);
      }
      cr[j] = v;
    }
  }
}

__attribute__((target_clones("avx2", "default")))
void PanelPortable(int64_t rows, int64_t kc, const float* a, int64_t lda, const float* bp, int64_t ldb, bool packed,
                   int64_t nc, float* c, int64_t ldc, const Epilogue& e0) {
  for (int64_t h = 0; h < nc; h += 16) {
    const int64_t cols = std::min<int64_t>(16, nc - h);
    const bool partial = !packed && cols < 16;
    Epilogue e = e0;
    if (e.bias != nullptr) e.bias += h;
    int64_t i = 0;
    for (; i + 6 <= rows; i += 6) {
      TileV<6>(kc, a + i * lda, lda, bp + h, ldb, partial, cols, c + i * ldc + h, ldc, e);
      if (e.row_bias != nullptr) e.row_bias += 6;
    }
    const float* ai = a + i * lda;
    float* ci = c + i * ldc + h;
    switch (rows - i) {
      case 5: TileV<5>(kc, ai, lda, bp + h, ldb, partial, cols, ci, ldc, e); break;
      case 4: TileV<4>(kc, ai, lda, bp + h, ldb, partial, cols, ci, ldc, e); break;
      case 3: TileV<3>(kc, ai, lda, bp + h, ldb, partial, cols, ci, ldc, e); break;
      case 2: TileV<2>(kc, ai, lda, bp + h, ldb, partial, cols, ci, ldc, e); break;
      case 1: TileV<1>(kc, ai, lda, bp + h, ldb, partial, cols, ci, ldc, e); break;
      default: break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
struct Problem {
  const float* a;
  int64_t lda;
  const PackedB* b;
  float alpha;
  const float* bias;
  bool accumulate, relu;
  float* c;
  int64_t ldc;
  bool avx512;
};

// C rows [i0, i1) by panels [j0, j1).
void RunBlock(const Problem& pr, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  const int64_t k = pr.b->k(), n = pr.b->n();
  for (int64_t ib = i0; ib < i1; ib += kMc) {
    const int64_t rows = std::min(kMc, i1 - ib);
    for (int64_t kb = 0; kb < k; kb += kKc) {
      const int64_t kc = std::min(kKc, k - kb);
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t col = j * kPanel, nc = std::min(kPanel, n - col);
        const Epilogue e{pr.alpha, pr.bias ? pr.bias + col : nullptr, nullptr, pr.accumulate || kb > 0,
                         kb + kc == k, pr.relu};
        const float* a = pr.a + ib * pr.lda + kb;
        const float* bp = pr.b->panel(j) + kb * kPanel;
        float* c = pr.c + ib * pr.ldc + col;
        if (pr.avx512) PanelAvx512(rows, kc, a, pr.lda, bp, kPanel, true, nc, c, pr.ldc, e);
        else PanelPortable(rows, kc, a, pr.lda, bp, kPanel, true, nc, c, pr.ldc, e);
      }
    }
  }
}

}  // namespace

void PackedSgemmPortableOnlyForTests(bool on) { g_portable_only.store(on); }

void PackedB::Pack(bool trans_b, int64_t k, int64_t n, const float* b, int64_t ldb) {
  k_ = k;
  n_ = n;
  const size_t floats = static_cast<size_t>(std::max<int64_t>(1, panels() * k * kPanel));
  const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
  data_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
  std::memset(data_.get(), 0, bytes);
  for (int64_t j = 0; j < panels(); ++j) {
    float* dst = data_.get() + j * k * kPanel;
    const int64_t col = j * kPanel, nc = std::min(kPanel, n - col);
    for (int64_t p = 0; p < k; ++p)
      for (int64_t jj = 0; jj < nc; ++jj)
        dst[p * kPanel + jj] = trans_b ? b[(col + jj) * ldb + p] : b[p * ldb + col + jj];
  }
}

void PackedSgemm(int64_t m, const float* a, int64_t lda, const PackedB& b, float alpha, const float* bias,
                 bool accumulate, bool relu, float* c, int64_t ldc, ThreadPool* pool) {
  const int64_t n = b.n(), k = b.k();
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {  // no products: the epilogue alone
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        float v = accumulate ? c[i * ldc + j] : 0.f;
        if (bias != nullptr) v += bias[j];
        if (relu) v = std::max(v, 0.f);
        c[i * ldc + j] = v;
      }
    return;
  }
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  const Problem pr{a, lda, &b, alpha, bias, accumulate, relu, c, ldc,
                   avx512 && !g_portable_only.load(std::memory_order_relaxed)};
  const int64_t panels = b.panels();
  const int tasks = GemmTasks(m, n, k, pool);
  if (tasks <= 1) {
    RunBlock(pr, 0, m, 0, panels);
    return;
  }
  // Split N panels first (each task then reads all of A but only its own part of B, the larger
  // operand here); split M too when there are fewer panels than tasks.
  const int64_t nt = std::min<int64_t>(panels, tasks);
  const int64_t pchunk = (panels + nt - 1) / nt, ncount = (panels + pchunk - 1) / pchunk;
  int64_t mt = std::min<int64_t>((tasks + ncount - 1) / ncount, (m + 11) / 12);
  int64_t rchunk = ((m + mt - 1) / mt + 11) / 12 * 12;
  const int64_t mcount = (m + rchunk - 1) / rchunk;
  pool->ParallelFor(mcount * ncount, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ti = t / ncount, tj = t % ncount;
      RunBlock(pr, ti * rchunk, std::min(m, (ti + 1) * rchunk), tj * pchunk, std::min(panels, (tj + 1) * pchunk));
    }
  });
}

void SgemmInPlaceB(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                   const float* row_bias, bool relu, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const float v = row_bias ? row_bias[i] : 0.f;
        c[i * ldc + j] = relu ? std::max(v, 0.f) : v;
      }
    return;
  }
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool use_avx512 = avx512 && !g_portable_only.load(std::memory_order_relaxed);
  // Blocked as RunBlock, 32 columns of B at a time read where they lie.
  for (int64_t ib = 0; ib < m; ib += kMc) {
    const int64_t rows = std::min(kMc, m - ib);
    for (int64_t kb = 0; kb < k; kb += kKc) {
      const int64_t kc = std::min(kKc, k - kb);
      for (int64_t col = 0; col < n; col += kPanel) {
        const int64_t nc = std::min(kPanel, n - col);
        const Epilogue e{1.f, nullptr, row_bias ? row_bias + ib : nullptr, kb > 0, kb + kc == k, relu};
        const float* ap = a + ib * lda + kb;
        const float* bp = b + kb * ldb + col;
        float* cp = c + ib * ldc + col;
        if (use_avx512) PanelAvx512(rows, kc, ap, lda, bp, ldb, false, nc, cp, ldc, e);
        else PanelPortable(rows, kc, ap, lda, bp, ldb, false, nc, cp, ldc, e);
      }
    }
  }
}

}  // namespace onnxd::engine::cpu
