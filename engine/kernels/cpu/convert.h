// Element conversions used by float kernels that compute narrow/wide float types through float32.
#pragma once

#include <cstdint>
#include <type_traits>

#include "onnxd/engine/types.h"

namespace onnxd::engine::cpu {

template <typename T>
inline void ToFloat(const T* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}

template <typename T>
inline void FromFloat(const float* src, T* dst, int64_t n) {
  if constexpr (std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>) {
    for (int64_t i = 0; i < n; ++i) dst[i] = T(src[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(src[i]);
  }
}

template <typename T>
inline T CastTo(float v) {
  if constexpr (std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>) return T(v);
  else return static_cast<T>(v);
}

}  // namespace onnxd::engine::cpu
