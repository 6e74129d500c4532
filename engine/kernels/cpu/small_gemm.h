// Our own register-blocked float GEMM for small problems (M*N*K up to about 1e6), where OpenBLAS's
// small-matrix path allocates a packing buffer on every call (which would break the engine's
// no-allocation guarantee) and its setup cost dominates anyway. Row-major, op(A) = A only.
#pragma once

#include <cstdint>

namespace onnxd::engine::cpu {

// Largest M*N*K routed here.
constexpr double kSmallGemmMaxMacs = 1.0e6;

// C[M,N] = alpha * A[M,K] * op(B) + beta * C; op(B) = B[K,N] or, with trans_b, B[N,K]^T.
void SmallSgemm(bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace onnxd::engine::cpu
