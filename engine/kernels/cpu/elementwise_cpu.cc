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

// One loop per kind, so each is vectorised on its own.
template <FloatUnaryKind K>
ONNXD_EW_INLINE float Apply(float v, float alpha) {
  if constexpr (K == FloatUnaryKind::kExp) return FastExp(v);
  else if constexpr (K == FloatUnaryKind::kLog) return FastLog(v);
  else if constexpr (K == FloatUnaryKind::kTanh) return FastTanh(v);
  else if constexpr (K == FloatUnaryKind::kSigmoid) return FastSigmoid(v);
  else if constexpr (K == FloatUnaryKind::kErf) return FastErf(v);
  else if constexpr (K == FloatUnaryKind::kGelu) return FastGelu(v);
  else if constexpr (K == FloatUnaryKind::kGeluTanh) return FastGeluTanh(v);
  else if constexpr (K == FloatUnaryKind::kSoftplus) return FastSoftplus(v);
  else if constexpr (K == FloatUnaryKind::kMish) return v * FastTanh(FastSoftplus(v));
  else return v * FastSigmoid(alpha * v);
}

#define ONNXD_EW_KERNEL(NAME, ATTR)                                                    \
  template <FloatUnaryKind K>                                                          \
  ATTR void NAME(const float* x, float* y, int64_t n, float alpha) {                   \
    for (int64_t i = 0; i < n; ++i) y[i] = Apply<K>(x[i], alpha);                      \
  }

ONNXD_EW_KERNEL(KernelDefault, __attribute__((noinline)))
#if defined(__x86_64__) && defined(__GNUC__)
#define ONNXD_EW_X86 1
ONNXD_EW_KERNEL(KernelAvx2, __attribute__((noinline, target("avx2,fma"))))
ONNXD_EW_KERNEL(KernelAvx512, __attribute__((noinline, target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma"))))
#endif
#undef ONNXD_EW_KERNEL

using KernelFn = void (*)(const float*, float*, int64_t, float);
constexpr int kNumKinds = static_cast<int>(FloatUnaryKind::kSwish) + 1;

// Table of kernels for one ISA, indexed by kind.
#define ONNXD_EW_TABLE(NAME)                                                                            \
  {&NAME<FloatUnaryKind::kExp>, &NAME<FloatUnaryKind::kLog>, &NAME<FloatUnaryKind::kTanh>,             \
   &NAME<FloatUnaryKind::kSigmoid>, &NAME<FloatUnaryKind::kErf>, &NAME<FloatUnaryKind::kGelu>,         \
   &NAME<FloatUnaryKind::kGeluTanh>, &NAME<FloatUnaryKind::kSoftplus>, &NAME<FloatUnaryKind::kMish>,   \
   &NAME<FloatUnaryKind::kSwish>}

struct KernelTable {
  KernelFn fn[kNumKinds];
};

KernelTable PickKernels() {
#ifdef ONNXD_EW_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw"))
    return KernelTable{ONNXD_EW_TABLE(KernelAvx512)};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return KernelTable{ONNXD_EW_TABLE(KernelAvx2)};
#endif
  return KernelTable{ONNXD_EW_TABLE(KernelDefault)};
}

}  // namespace

void FloatUnaryF32(FloatUnaryKind kind, const float* x, float* y, int64_t n, float alpha) {
  static const KernelTable table = PickKernels();
  table.fn[static_cast<int>(kind)](x, y, n, alpha);
}

}  // namespace onnxd::engine
