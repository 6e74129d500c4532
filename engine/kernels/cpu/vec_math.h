// Vectorisable float math for hot loops (no libm calls, so the compiler can vectorise).
#pragma once

#include <cstdint>
#include <cstring>

namespace onnxd::engine::cpu {

// exp(x) with ~2 ulp error over [-87, 88]; saturates outside (tiny / large finite).
inline float FastExp(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.0f ? 88.0f : x;
  // Round x*log2(e) to nearest with the 1.5*2^23 trick.
  const float kMagic = 12582912.f;
  float fx = (x * 1.44269504088896341f + kMagic) - kMagic;
  x = x - fx * 0.693359375f;
  x = x - fx * -2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * x + 1.3981999507e-3f;
  y = y * x + 8.3334519073e-3f;
  y = y * x + 4.1665795894e-2f;
  y = y * x + 1.6666665459e-1f;
  y = y * x + 5.0000001201e-1f;
  y = y * x * x + x + 1.f;
  int32_t e = (static_cast<int32_t>(fx) + 127) << 23;
  float scale;
  std::memcpy(&scale, &e, 4);
  return y * scale;
}

}  // namespace onnxd::engine::cpu
