// 2-D convolution without im2col (see conv.h, DirectConv2D).
//
// The input image is copied once into zero-padded planes Wp = W + pad_left + pad_right wide. Output
// position (oh, ow) is then read as the "wide" column q = oh * Wp + ow, and its tap (c, kh, kw) sits
// at xpad[c*Hp*Wp + kh*Wp + kw + q]: every row of the GEMM's B matrix is a contiguous slice of the
// padded input, found through one offset per tap. Wide columns with ow >= OW straddle two image
// rows; they are computed and dropped, so the kernel spends (Wp - OW) / Wp more multiply-adds than
// the output needs and saves the im2col copy, which is KH*KW times the input and, for layers with
// few output channels, costs more than the GEMM itself.
#pragma GCC optimize("O3", "fp-contract=fast")

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "kernels/cpu/conv.h"
#include "kernels/cpu/vec16.h"

namespace onnxd::engine::cpu {
namespace {

using vec::Load;
using vec::Splat;
using vec::Store;
using vec::v16;

constexpr int64_t kCols = 32;  // wide columns per micro tile

// acc[R x 32] = W[R rows, K] * B, where B row p is x + off[p] (32 consecutive floats).
template <int R>
ONNXD_INLINE void Tile(int64_t k, const float* w, int64_t ldw, const float* x, const int64_t* off, float* acc) {
  v16 c0[R], c1[R];
  for (int r = 0; r < R; ++r) c0[r] = c1[r] = v16{};
  for (int64_t p = 0; p < k; ++p) {
    const float* b = x + off[p];
    const v16 b0 = Load(b), b1 = Load(b + 16);
    for (int r = 0; r < R; ++r) {
      const v16 a = Splat(w[r * ldw + p]);
      c0[r] += a * b0;
      c1[r] += a * b1;
    }
  }
  for (int r = 0; r < R; ++r) {
    Store(acc + r * kCols, c0[r]);
    Store(acc + r * kCols + 16, c1[r]);
  }
}

// Scatters wide columns [q0, q0 + n) of R accumulated rows into y (rows of OH*OW), adding bias.
template <int R>
ONNXD_INLINE void Scatter(const float* acc, int64_t q0, int64_t n, int64_t wp, int64_t ow_n, int64_t plane,
                          const float* bias, float* y) {
  int64_t oh = q0 / wp, ow = q0 % wp;
  int64_t i = 0;
  while (i < n) {
    const int64_t seg = std::min(wp - ow, n - i);
    const int64_t valid = std::max<int64_t>(0, std::min(seg, ow_n - ow));
    if (valid > 0) {
      for (int r = 0; r < R; ++r) {
        float* dst = y + r * plane + oh * ow_n + ow;
        const float* src = acc + r * kCols + i;
        const float bv = bias ? bias[r] : 0.f;
        for (int64_t j = 0; j < valid; ++j) dst[j] = src[j] + bv;
      }
    }
    i += seg;
    ++oh;
    ow = 0;
  }
}

template <int R>
ONNXD_INLINE void Rows(int64_t k, const float* w, int64_t ldw, const float* xpad, const int64_t* off, int64_t q0,
                       int64_t q1, int64_t wp, int64_t ow_n, int64_t plane, const float* bias, float* y) {
  alignas(64) float acc[R * kCols];
  for (int64_t q = q0; q < q1; q += kCols) {
    Tile<R>(k, w, ldw, xpad + q, off, acc);
    Scatter<R>(acc, q, std::min(kCols, q1 - q), wp, ow_n, plane, bias, y);
  }
}

// AVX-512 tile with intrinsics: each weight is broadcast by the FMA's own memory operand. The
// vector-extension Tile above compiles, with GCC 12, to two instructions per broadcast.
#pragma GCC push_options
#pragma GCC target("avx512f")

template <int R>
ONNXD_INLINE void TileZ(int64_t k, const float* w, int64_t ldw, const float* x, const int64_t* off, float* acc) {
  __m512 c0[R], c1[R];
  for (int r = 0; r < R; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const float* b = x + off[p];
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(w[r * ldw + p]);
      c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    _mm512_storeu_ps(acc + r * kCols, c0[r]);
    _mm512_storeu_ps(acc + r * kCols + 16, c1[r]);
  }
}

// The same for 16 columns: a last tile of at most 16 (small images, where a 32-wide one would be
// half waste).
template <int R>
ONNXD_INLINE void TileZ16(int64_t k, const float* w, int64_t ldw, const float* x, const int64_t* off, float* acc) {
  __m512 c0[R];
  for (int r = 0; r < R; ++r) c0[r] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const __m512 b0 = _mm512_loadu_ps(x + off[p]);
    for (int r = 0; r < R; ++r) c0[r] = _mm512_fmadd_ps(_mm512_set1_ps(w[r * ldw + p]), b0, c0[r]);
  }
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(acc + r * kCols, c0[r]);
}

template <int R>
ONNXD_INLINE void RowsZ(int64_t k, const float* w, int64_t ldw, const float* xpad, const int64_t* off, int64_t q0,
                        int64_t q1, int64_t wp, int64_t ow_n, int64_t plane, const float* bias, float* y) {
  alignas(64) float acc[R * kCols];
  for (int64_t q = q0; q < q1; q += kCols) {
    if (q1 - q <= 16) {
      TileZ16<R>(k, w, ldw, xpad + q, off, acc);
    } else {
      TileZ<R>(k, w, ldw, xpad + q, off, acc);
    }
    Scatter<R>(acc, q, std::min(kCols, q1 - q), wp, ow_n, plane, bias, y);
  }
}

void DirectConv2DAvx512(int64_t k, int64_t wp, int64_t ow_n, int64_t plane, const float* xpad, const int64_t* off,
                        const float* w, int64_t out_channels, const float* bias, int64_t q0, int64_t q1, float* y) {
  int64_t m = 0;
  for (; m + 12 <= out_channels; m += 12)
    RowsZ<12>(k, w + m * k, k, xpad, off, q0, q1, wp, ow_n, plane, bias ? bias + m : nullptr, y + m * plane);
  for (; m + 8 <= out_channels; m += 8)
    RowsZ<8>(k, w + m * k, k, xpad, off, q0, q1, wp, ow_n, plane, bias ? bias + m : nullptr, y + m * plane);
  for (; m + 4 <= out_channels; m += 4)
    RowsZ<4>(k, w + m * k, k, xpad, off, q0, q1, wp, ow_n, plane, bias ? bias + m : nullptr, y + m * plane);
  for (; m < out_channels; ++m)
    RowsZ<1>(k, w + m * k, k, xpad, off, q0, q1, wp, ow_n, plane, bias ? bias + m : nullptr, y + m * plane);
}

#pragma GCC pop_options

}  // namespace

namespace {
std::atomic<bool> g_direct_conv_portable_only{false};
}  // namespace

void DirectConv2DPortableOnlyForTests(bool on) { g_direct_conv_portable_only.store(on); }

int64_t DirectConv2DWideWidth(const WindowGeom& g) { return g.out[1] + (g.k[1] + g.stride[1] - 1) / g.stride[1] - 1; }

namespace {
// Rows of one phase plane (see DirectConv2DPad).
int64_t PhaseRows(const WindowGeom& g) { return g.out[0] + (g.k[0] + g.stride[0] - 1) / g.stride[0] - 1; }
}  // namespace

int64_t DirectConv2DPadFloats(const WindowGeom& g, int64_t channels) {
  // Reads reach kCols - 1 past the last wide column of the last tap (see DirectConv2D).
  const int64_t wp = DirectConv2DWideWidth(g);
  return channels * g.stride[0] * g.stride[1] * PhaseRows(g) * wp + wp + kCols;
}

bool DirectConv2DApplies(const WindowGeom& g, int64_t channels, int64_t out_channels) {
  if (g.nd != 2 || g.dil[0] != 1 || g.dil[1] != 1 || g.stride[0] < 1 || g.stride[1] < 1) return false;
  if (g.stride[0] > 4 || g.stride[1] > 4) return false;
  if (g.IsPointwise()) return false;  // a plain GEMM on the input, no im2col to save
  const int64_t wp = DirectConv2DWideWidth(g);
  if (g.out[0] <= 0 || g.out[1] <= 0 || wp > 2 * g.out[1]) return false;  // at most 2x wasted columns
  // B rows are re-read from L2 once per 12 output channels; up to 1024 channels (ResNet-50 3x3
  // 512) this still beats im2col + OpenBLAS (2.69 vs 3.02 ms at 512 channels, 7x7).
  if (out_channels > 1024 || channels * g.k[0] * g.k[1] > 9216) return false;
  return DirectConv2DPadFloats(g, channels) <= (int64_t{1} << 22);
}

// Zero-padded input split into stride[0] x stride[1] phase planes per channel: phase (a, b) holds
// padded rows a, a + sh, ... and columns b, b + sw, ..., so that output (oh, ow)'s tap (kh, kw),
// padded input (oh*sh + kh, ow*sw + kw), is phase (kh % sh, kw % sw) at (oh + kh / sh, ow + kw / sw):
// a stride-1 read again, one offset per tap. With stride 1 this is just the padded image.
__attribute__((target_clones("avx512f", "avx2", "default")))
void DirectConv2DPad(const WindowGeom& g, const float* x, int64_t channels, float* xpad, int64_t* off) {
  const int64_t H = g.in[0], W = g.in[1], sh = g.stride[0], sw = g.stride[1];
  const int64_t hp = PhaseRows(g), wp = DirectConv2DWideWidth(g), phase = hp * wp;
  const int64_t top = g.pad[0], left = g.pad[1];
  // Every float is written once: padding zeroed where it lies, not the whole buffer first.
  for (int64_t c = 0; c < channels; ++c) {
    const float* src = x + c * H * W;
    for (int64_t a = 0; a < sh; ++a)
      for (int64_t b = 0; b < sw; ++b) {
        float* dst = xpad + ((c * sh + a) * sw + b) * phase;
        // Phase columns j whose input column j*sw + b - left lies in [0, W).
        const int64_t last = W - 1 + left - b;  // sw * (the last phase column inside), if >= 0
        const int64_t j1 = last < 0 ? 0 : std::min<int64_t>(wp, last / sw + 1);
        const int64_t j0 = std::min(j1, std::max<int64_t>(0, (left - b + sw - 1) / sw));
        for (int64_t i = 0; i < hp; ++i) {
          const int64_t h = i * sh + a - top;
          float* d = dst + i * wp;
          if (h < 0 || h >= H) {
            std::memset(d, 0, sizeof(float) * static_cast<size_t>(wp));
            continue;
          }
          const float* row = src + h * W + b - left;
          for (int64_t j = 0; j < j0; ++j) d[j] = 0.f;
          if (sw == 1) {
            std::memcpy(d + j0, row + j0, sizeof(float) * static_cast<size_t>(j1 - j0));
          } else if (sw == 2) {
            for (int64_t j = j0; j < j1; ++j) d[j] = row[2 * j];  // a constant stride vectorises
          } else {
            for (int64_t j = j0; j < j1; ++j) d[j] = row[j * sw];
          }
          for (int64_t j = j1; j < wp; ++j) d[j] = 0.f;
        }
      }
  }
  const int64_t used = channels * sh * sw * phase;  // then the slack the last tiles read
  std::memset(xpad + used, 0, sizeof(float) * static_cast<size_t>(DirectConv2DPadFloats(g, channels) - used));
  int64_t p = 0;
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t kh = 0; kh < g.k[0]; ++kh)
      for (int64_t kw = 0; kw < g.k[1]; ++kw)
        off[p++] = ((c * sh + kh % sh) * sw + kw % sw) * phase + (kh / sh) * wp + kw / sw;
}

__attribute__((target_clones("avx2", "default")))
void DirectConv2D(const WindowGeom& g, const float* xpad, const int64_t* off, int64_t channels, const float* w,
                  int64_t out_channels, const float* bias, int64_t q0, int64_t q1, float* y) {
  const int64_t k = channels * g.k[0] * g.k[1];
  const int64_t wp = DirectConv2DWideWidth(g), ow_n = g.out[1], plane = g.out[0] * g.out[1];
  q1 = std::min(q1, g.out[0] * wp);
  if (q1 <= q0) return;
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512 && !g_direct_conv_portable_only.load(std::memory_order_relaxed)) return DirectConv2DAvx512(k, wp, ow_n, plane, xpad, off, w, out_channels, bias, q0, q1, y);
  int64_t m = 0;
  for (; m + 8 <= out_channels; m += 8)
    Rows<8>(k, w + m * k, k, xpad, off, q0, q1, wp, ow_n, plane, bias ? bias + m : nullptr, y + m * plane);
  for (; m + 4 <= out_channels; m += 4)
    Rows<4>(k, w + m * k, k, xpad, off, q0, q1, wp, ow_n, plane, bias ? bias + m : nullptr, y + m * plane);
  for (; m < out_channels; ++m)
    Rows<1>(k, w + m * k, k, xpad, off, q0, q1, wp, ow_n, plane, bias ? bias + m : nullptr, y + m * plane);
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void DepthwiseDirect2D(const WindowGeom& g, const float* xpad, const int64_t* off, const float* w, float bias,
                       float* y) {
  const int64_t k = g.k[0] * g.k[1];
  const int64_t wp = DirectConv2DWideWidth(g), ow_n = g.out[1], plane = g.out[0] * g.out[1];
  const int64_t cols = g.out[0] * wp;
  alignas(64) float acc[kCols];
  for (int64_t q = 0; q < cols; q += kCols) {
    v16 c0{}, c1{};
    const float* x = xpad + q;
    for (int64_t t = 0; t < k; ++t) {
      const v16 a = Splat(w[t]);
      c0 += a * Load(x + off[t]);
      c1 += a * Load(x + off[t] + 16);
    }
    Store(acc, c0);
    Store(acc + 16, c1);
    Scatter<1>(acc, q, std::min(kCols, cols - q), wp, ow_n, plane, &bias, y);
  }
}

}  // namespace onnxd::engine::cpu
