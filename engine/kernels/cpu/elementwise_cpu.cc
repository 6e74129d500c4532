// See elementwise_cpu.h. The float32 transcendental loops are compiled three times (baseline SSE2,
// AVX2, AVX-512) and picked at run time from the CPU's features.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic", "no-trapping-math")
#endif
#include "kernels/cpu/elementwise_cpu.h"

namespace onnxd::engine {

bool BroadcastPlan::Init(const Shape& out, const Shape* const* ins, int n) {
  num_inputs = n;
  total = out.NumElements();
  rank = 0;
  const int out_rank = out.rank();
  bool prev_bcast[kMaxInputs] = {};
  for (int i = 0; i < out_rank; ++i) {
    const int64_t d = out[i];
    if (d == 1) continue;
    bool bcast[kMaxInputs];
    for (int k = 0; k < n; ++k) {
      const Shape& s = *ins[k];
      const int j = i - (out_rank - s.rank());
      bcast[k] = j < 0 || s[j] == 1;
    }
    bool merge = rank > 0;
    for (int k = 0; k < n && merge; ++k) merge = bcast[k] == prev_bcast[k];
    if (merge) {
      dims[rank - 1] *= d;
    } else {
      if (rank == kMaxRank) return false;
      dims[rank] = d;
      for (int k = 0; k < n; ++k) strides[k][rank] = bcast[k] ? 0 : 1;  // marker, fixed below
      ++rank;
    }
    for (int k = 0; k < n; ++k) prev_bcast[k] = bcast[k];
  }
  if (rank == 0) {
    rank = 1;
    dims[0] = 1;
    for (int k = 0; k < n; ++k) strides[k][0] = 0;
    return true;
  }
  for (int k = 0; k < n; ++k) {
    int64_t s = 1;
    for (int j = rank - 1; j >= 0; --j) {
      if (strides[k][j] != 0) {
        strides[k][j] = s;
        s *= dims[j];
      }
    }
  }
  return true;
}

namespace {

template <typename F>
ONNXD_EW_INLINE void Loop(const float* x, float* y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

ONNXD_EW_INLINE void FloatUnaryBody(FloatUnaryKind kind, const float* x, float* y, int64_t n, float alpha) {
  switch (kind) {
    case FloatUnaryKind::kExp: Loop(x, y, n, [](float v) { return FastExp(v); }); break;
    case FloatUnaryKind::kLog: Loop(x, y, n, [](float v) { return FastLog(v); }); break;
    case FloatUnaryKind::kTanh: Loop(x, y, n, [](float v) { return FastTanh(v); }); break;
    case FloatUnaryKind::kSigmoid: Loop(x, y, n, [](float v) { return FastSigmoid(v); }); break;
    case FloatUnaryKind::kErf: Loop(x, y, n, [](float v) { return FastErf(v); }); break;
    case FloatUnaryKind::kGelu: Loop(x, y, n, [](float v) { return FastGelu(v); }); break;
    case FloatUnaryKind::kGeluTanh: Loop(x, y, n, [](float v) { return FastGeluTanh(v); }); break;
    case FloatUnaryKind::kSoftplus: Loop(x, y, n, [](float v) { return FastSoftplus(v); }); break;
    case FloatUnaryKind::kMish: Loop(x, y, n, [](float v) { return v * FastTanh(FastSoftplus(v)); }); break;
    case FloatUnaryKind::kSwish: Loop(x, y, n, [alpha](float v) { return v * FastSigmoid(alpha * v); }); break;
  }
}

void FloatUnaryDefault(FloatUnaryKind kind, const float* x, float* y, int64_t n, float alpha) {
  FloatUnaryBody(kind, x, y, n, alpha);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define ONNXD_EW_X86 1
__attribute__((target("avx2,fma"))) void FloatUnaryAvx2(FloatUnaryKind kind, const float* x, float* y, int64_t n,
                                                        float alpha) {
  FloatUnaryBody(kind, x, y, n, alpha);
}
__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma"))) void FloatUnaryAvx512(
    FloatUnaryKind kind, const float* x, float* y, int64_t n, float alpha) {
  FloatUnaryBody(kind, x, y, n, alpha);
}
#endif

using FloatUnaryFn = void (*)(FloatUnaryKind, const float*, float*, int64_t, float);

FloatUnaryFn PickFloatUnary() {
#ifdef ONNXD_EW_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw"))
    return &FloatUnaryAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &FloatUnaryAvx2;
#endif
  return &FloatUnaryDefault;
}

}  // namespace

void FloatUnaryF32(FloatUnaryKind kind, const float* x, float* y, int64_t n, float alpha) {
  static const FloatUnaryFn fn = PickFloatUnary();
  fn(kind, x, y, n, alpha);
}

}  // namespace onnxd::engine
