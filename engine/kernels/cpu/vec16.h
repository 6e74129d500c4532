// 16-float vectors in GCC's vector extension, for kernels built once per ISA (target_clones): the
// helpers are always inlined, so each clone gets its own vector width (one zmm, two ymm, ...).
#pragma once

#include <cstring>

#define ONNXD_INLINE inline __attribute__((always_inline))

namespace onnxd::engine::cpu::vec {

typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));
typedef int vi16 __attribute__((vector_size(64)));

ONNXD_INLINE v16 Load(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
ONNXD_INLINE void Store(float* p, v16 v) { std::memcpy(p, &v, sizeof(v)); }
// One broadcast instruction. `v16{} + x` costs a scalar add first (-0 + +0 is +0, so it does not
// fold), and a braced list of 16 x's becomes 16 masked lane inserts with GCC 12.
ONNXD_INLINE v16 Splat(float x) {
  v16 v{};
  v[0] = x;
  return __builtin_shuffle(v, vi16{});
}

}  // namespace onnxd::engine::cpu::vec
