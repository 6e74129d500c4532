// Float GEMM against a constant right-hand matrix packed once, at kernel Init.
//
// OpenBLAS's cblas_sgemm packs both operands on every call; for MatMul/Gemm whose B is an
// initializer that packing is repeated work (for a 64x512x512 product it is a large part of the
// call). PackedB holds op(B)[K,N] as column panels [ceil(N/32)][K][32], zero-padded on the right,
// 64-byte aligned, so a 32-column micro tile reads one contiguous 128-byte row of B per step of K.
// PackedSgemm then runs register-blocked tiles over it (AVX-512 intrinsics, 12 rows x 32 columns,
// picked at run time; otherwise a portable GCC-vector version built for AVX2 and baseline x86-64),
// blocked over K and M for the caches, parallel over the engine ThreadPool by N panels and M rows.
//
// Thread-safety: a packed PackedB is immutable; any number of threads may run PackedSgemm on it.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "runtime/thread_pool.h"

namespace onnxd::engine::cpu {

class PackedB {
 public:
  static constexpr int64_t kPanel = 32;  // columns per panel

  PackedB() = default;
  PackedB(PackedB&&) = default;
  PackedB& operator=(PackedB&&) = default;

  // Packs op(B)[K,N]: B is row-major [K,N] (leading dimension ldb), or with trans_b [N,K].
  // Allocates; call at Init, not per run.
  void Pack(bool trans_b, int64_t k, int64_t n, const float* b, int64_t ldb);

  bool empty() const { return data_ == nullptr; }
  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  int64_t panels() const { return (n_ + kPanel - 1) / kPanel; }
  // Panel j: [K][32] floats.
  const float* panel(int64_t j) const { return data_.get() + j * k_ * kPanel; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  int64_t k_ = 0, n_ = 0;
  std::unique_ptr<float[], Free> data_;
};

// C[M,N] = alpha * A[M,K] * B (+ C when accumulate) (+ bias[j] when bias != null), then
// max(0, .) when relu. A is row-major with leading dimension lda (>= K), C with ldc (>= N).
// C is not read unless accumulate. `pool` may be null. Allocates nothing.
void PackedSgemm(int64_t m, const float* a, int64_t lda, const PackedB& b, float alpha, const float* bias,
                 bool accumulate, bool relu, float* c, int64_t ldc, ThreadPool* pool);

// C[M,N] = A[M,K] * B[K,N] (+ row_bias[i] when not null), then max(0, .) when relu, with B read where
// it lies (no packing): for a product whose B changes every run and is used once, such as the
// input of a pointwise convolution (Y[M_out, HW] = W[M_out, C] * X[C, HW]), where packing it would
// cost as much as the product saves. Same tiles as PackedSgemm; masked loads at the column tail, so
// nothing past a row's N columns is read. Serial; allocates nothing.
void SgemmInPlaceB(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                   const float* row_bias, bool relu, float* c, int64_t ldc);

// Forces the portable (non-AVX-512) tiles, so tests can check both paths on an AVX-512 machine.
void PackedSgemmPortableOnlyForTests(bool on);

}  // namespace onnxd::engine::cpu
