#include "kernels/cpu/conv.h"

#include <algorithm>
#include <cstring>
#include <limits>

// Hot loops below rely on auto-vectorisation, which the project's -O2 leaves to the "very cheap"
// cost model (no loops with unknown trip counts); raise it for this file only.
#pragma GCC optimize("O3")

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ONNXD_MULTI_ISA __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ONNXD_MULTI_ISA
#endif

namespace onnxd::engine::cpu {

int64_t WindowGeom::InSize() const {
  int64_t s = 1;
  for (int i = 0; i < nd; ++i) s *= in[i];
  return s;
}
int64_t WindowGeom::OutSize() const {
  int64_t s = 1;
  for (int i = 0; i < nd; ++i) s *= out[i];
  return s;
}
int64_t WindowGeom::KernelSize() const {
  int64_t s = 1;
  for (int i = 0; i < nd; ++i) s *= k[i];
  return s;
}
bool WindowGeom::IsPointwise() const {
  for (int i = 0; i < nd; ++i)
    if (k[i] != 1 || stride[i] != 1 || pad[i] != 0 || out[i] != in[i]) return false;
  return true;
}

namespace {

// Range of output positions o in [0, n_out) with 0 <= o*s + off < n_in.
inline void ValidRange(int64_t n_out, int64_t n_in, int64_t s, int64_t off, int64_t* lo, int64_t* hi) {
  // o*s + off >= 0  <=>  o >= ceil(-off / s)
  int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
  // o*s + off <= n_in - 1  <=>  o <= floor((n_in - 1 - off) / s)
  int64_t num = n_in - 1 - off;
  int64_t h = num < 0 ? 0 : num / s + 1;
  *lo = std::min(std::max<int64_t>(l, 0), n_out);
  *hi = std::max(std::min(h, n_out), *lo);
}

// d[0, n) = s[0, n) for the short runs of im2col (one output row, often 7 to 56 values): whole
// 32-byte moves, the last one overlapping, instead of a call to memcpy or a scalar loop.
template <typename T>
inline void CopyRun(T* d, const T* s, int64_t n) {
  constexpr int64_t kV = 32 / sizeof(T);
  if (n >= kV) {
    int64_t i = 0;
    for (; i + kV <= n; i += kV) std::memcpy(d + i, s + i, 32);
    if (i < n) std::memcpy(d + n - kV, s + n - kV, 32);
    return;
  }
  for (int64_t i = 0; i < n; ++i) d[i] = s[i];
}

template <typename T>
__attribute__((optimize("no-tree-loop-distribute-patterns"))) void Im2Col2D(const WindowGeom& g, const T* x, int64_t channels, int64_t p0, int64_t p1, T* col, T pad_value) {
  const int64_t H = g.in[0], W = g.in[1], OW = g.out[1];
  const int64_t KH = g.k[0], KW = g.k[1];
  const int64_t sh = g.stride[0], sw = g.stride[1], dh = g.dil[0], dw = g.dil[1];
  const int64_t ph = g.pad[0], pw = g.pad[1];
  const int64_t tw = p1 - p0;
  T* dst = col;
  for (int64_t c = 0; c < channels; ++c) {
    const T* xc = x + c * H * W;
    for (int64_t kh = 0; kh < KH; ++kh) {
      for (int64_t kw = 0; kw < KW; ++kw) {
        const int64_t woff = kw * dw - pw;
        int64_t lo, hi;
        ValidRange(OW, W, sw, woff, &lo, &hi);
        T* d = dst;
        int64_t p = p0;
        int64_t oh = p0 / OW, ow = p0 % OW;
        while (p < p1) {
          int64_t seg = std::min(OW - ow, p1 - p);
          int64_t ih = oh * sh - ph + kh * dh;
          if (ih < 0 || ih >= H) {
            std::fill(d, d + seg, pad_value);
          } else {
            const T* src = xc + ih * W;
            int64_t end = ow + seg;
            int64_t a = std::min(std::max(lo, ow), end), b = std::max(std::min(hi, end), a);
            int64_t j = 0;
            for (int64_t o = ow; o < a; ++o) d[j++] = pad_value;
            if (sw == 1) {
              CopyRun(d + j, src + woff + a, b - a);
              j += b - a;
            } else {
              for (int64_t o = a; o < b; ++o) d[j++] = src[o * sw + woff];
            }
            for (int64_t o = b; o < end; ++o) d[j++] = pad_value;
          }
          d += seg;
          p += seg;
          ++oh;
          ow = 0;
        }
        dst += tw;
      }
    }
  }
}

template <typename T>
void Im2ColND(const WindowGeom& g, const T* x, int64_t channels, int64_t p0, int64_t p1, T* col, T pad_value) {
  const int nd = g.nd;
  const int64_t ks = g.KernelSize(), in_size = g.InSize();
  const int64_t tw = p1 - p0;
  int64_t kidx[WindowGeom::kMaxDims], oidx[WindowGeom::kMaxDims];
  for (int64_t c = 0; c < channels; ++c) {
    const T* xc = x + c * in_size;
    for (int64_t kk = 0; kk < ks; ++kk) {
      int64_t r = kk;
      for (int i = nd - 1; i >= 0; --i) {
        kidx[i] = r % g.k[i];
        r /= g.k[i];
      }
      T* d = col + (c * ks + kk) * tw;
      int64_t q = p0;
      for (int i = nd - 1; i >= 0; --i) {
        oidx[i] = q % g.out[i];
        q /= g.out[i];
      }
      for (int64_t p = p0; p < p1; ++p) {
        int64_t off = 0;
        bool inside = true;
        for (int i = 0; i < nd; ++i) {
          int64_t v = oidx[i] * g.stride[i] - g.pad[i] + kidx[i] * g.dil[i];
          if (v < 0 || v >= g.in[i]) {
            inside = false;
            break;
          }
          off = off * g.in[i] + v;
        }
        *d++ = inside ? xc[off] : pad_value;
        for (int i = nd - 1; i >= 0; --i) {
          if (++oidx[i] < g.out[i]) break;
          oidx[i] = 0;
        }
      }
    }
  }
}

}  // namespace

template <typename T>
void Im2Col(const WindowGeom& g, const T* x, int64_t channels, int64_t p0, int64_t p1, T* col, T pad_value) {
  if (p1 <= p0) return;
  if (g.nd == 2) {
    Im2Col2D(g, x, channels, p0, p1, col, pad_value);
  } else if (g.nd == 1) {
    WindowGeom g2;
    g2.nd = 2;
    g2.in[0] = 1; g2.out[0] = 1; g2.k[0] = 1; g2.stride[0] = 1; g2.dil[0] = 1; g2.pad[0] = 0;
    g2.in[1] = g.in[0]; g2.out[1] = g.out[0]; g2.k[1] = g.k[0]; g2.stride[1] = g.stride[0];
    g2.dil[1] = g.dil[0]; g2.pad[1] = g.pad[0];
    Im2Col2D(g2, x, channels, p0, p1, col, pad_value);
  } else {
    Im2ColND(g, x, channels, p0, p1, col, pad_value);
  }
}

template void Im2Col<float>(const WindowGeom&, const float*, int64_t, int64_t, int64_t, float*, float);
template void Im2Col<int32_t>(const WindowGeom&, const int32_t*, int64_t, int64_t, int64_t, int32_t*, int32_t);

void Col2Im(const WindowGeom& g, const float* col, int64_t channels, float* x) {
  const int nd = g.nd;
  const int64_t ks = g.KernelSize(), in_size = g.InSize(), P = g.OutSize();
  if (nd == 2 || nd == 1) {
    const int64_t H = nd == 2 ? g.in[0] : 1, W = g.in[nd - 1];
    const int64_t OH = nd == 2 ? g.out[0] : 1, OW = g.out[nd - 1];
    const int64_t KH = nd == 2 ? g.k[0] : 1, KW = g.k[nd - 1];
    const int64_t sh = nd == 2 ? g.stride[0] : 1, sw = g.stride[nd - 1];
    const int64_t dh = nd == 2 ? g.dil[0] : 1, dw = g.dil[nd - 1];
    const int64_t ph = nd == 2 ? g.pad[0] : 0, pw = g.pad[nd - 1];
    for (int64_t c = 0; c < channels; ++c) {
      float* xc = x + c * in_size;
      for (int64_t kh = 0; kh < KH; ++kh)
        for (int64_t kw = 0; kw < KW; ++kw) {
          const float* src = col + ((c * KH + kh) * KW + kw) * P;
          const int64_t woff = kw * dw - pw;
          int64_t lo, hi;
          ValidRange(OW, W, sw, woff, &lo, &hi);
          for (int64_t oh = 0; oh < OH; ++oh) {
            int64_t ih = oh * sh - ph + kh * dh;
            if (ih < 0 || ih >= H) continue;
            float* row = xc + ih * W;
            const float* s = src + oh * OW;
            if (sw == 1) {
              float* r = row + woff;
              for (int64_t o = lo; o < hi; ++o) r[o] += s[o];
            } else {
              for (int64_t o = lo; o < hi; ++o) row[o * sw + woff] += s[o];
            }
          }
        }
    }
    return;
  }
  int64_t kidx[WindowGeom::kMaxDims], oidx[WindowGeom::kMaxDims];
  for (int64_t c = 0; c < channels; ++c) {
    float* xc = x + c * in_size;
    for (int64_t kk = 0; kk < ks; ++kk) {
      int64_t r = kk;
      for (int i = nd - 1; i >= 0; --i) {
        kidx[i] = r % g.k[i];
        r /= g.k[i];
      }
      const float* s = col + (c * ks + kk) * P;
      for (int i = 0; i < nd; ++i) oidx[i] = 0;
      for (int64_t p = 0; p < P; ++p) {
        int64_t off = 0;
        bool inside = true;
        for (int i = 0; i < nd; ++i) {
          int64_t v = oidx[i] * g.stride[i] - g.pad[i] + kidx[i] * g.dil[i];
          if (v < 0 || v >= g.in[i]) {
            inside = false;
            break;
          }
          off = off * g.in[i] + v;
        }
        if (inside) xc[off] += s[p];
        for (int i = nd - 1; i >= 0; --i) {
          if (++oidx[i] < g.out[i]) break;
          oidx[i] = 0;
        }
      }
    }
  }
}

ONNXD_MULTI_ISA
void DepthwiseConv2D(const WindowGeom& g, const float* x, const float* w, float bias, float* y) {
  const int64_t H = g.in[0], W = g.in[1], OH = g.out[0], OW = g.out[1];
  const int64_t KH = g.k[0], KW = g.k[1];
  const int64_t sh = g.stride[0], sw = g.stride[1], dh = g.dil[0], dw = g.dil[1];
  const int64_t ph = g.pad[0], pw = g.pad[1];
  int64_t lo[64], hi[64];
  const bool small_k = KW <= 64;
  if (small_k)
    for (int64_t kw = 0; kw < KW; ++kw) ValidRange(OW, W, sw, kw * dw - pw, &lo[kw], &hi[kw]);
  // Row-wise: each kernel tap is an axpy over the output row's valid columns.
  for (int64_t oh = 0; oh < OH; ++oh) {
    float* yr = y + oh * OW;
    for (int64_t o = 0; o < OW; ++o) yr[o] = bias;
    for (int64_t kh = 0; kh < KH; ++kh) {
      int64_t ih = oh * sh - ph + kh * dh;
      if (ih < 0 || ih >= H) continue;
      const float* xr = x + ih * W;
      const float* wr = w + kh * KW;
      for (int64_t kw = 0; kw < KW; ++kw) {
        const float wv = wr[kw];
        const int64_t off = kw * dw - pw;
        int64_t l, h;
        if (small_k) {
          l = lo[kw];
          h = hi[kw];
        } else {
          ValidRange(OW, W, sw, off, &l, &h);
        }
        if (sw == 1) {
          const float* xs = xr + off;
          for (int64_t o = l; o < h; ++o) yr[o] += wv * xs[o];
        } else if (sw == 2) {
          for (int64_t o = l; o < h; ++o) yr[o] += wv * xr[2 * o + off];
        } else {
          for (int64_t o = l; o < h; ++o) yr[o] += wv * xr[o * sw + off];
        }
      }
    }
  }
}

ONNXD_MULTI_ISA
void MaxPool2x2Stride2(const float* x, int64_t W, float* y, int64_t OH, int64_t OW) {
  constexpr float kLow = -std::numeric_limits<float>::infinity();
  for (int64_t oh = 0; oh < OH; ++oh) {
    const float* r0 = x + 2 * oh * W;
    const float* r1 = r0 + W;
    float* yr = y + oh * OW;
    for (int64_t ow = 0; ow < OW; ++ow) {
      // The window in the generic kernel's order and with its comparison (NaN is skipped).
      float m = r0[2 * ow] > kLow ? r0[2 * ow] : kLow;
      m = r0[2 * ow + 1] > m ? r0[2 * ow + 1] : m;
      m = r1[2 * ow] > m ? r1[2 * ow] : m;
      yr[ow] = r1[2 * ow + 1] > m ? r1[2 * ow + 1] : m;
    }
  }
}

}  // namespace onnxd::engine::cpu
