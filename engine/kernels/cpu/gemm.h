// Float GEMM on OpenBLAS, parallelised over the engine's one intra-op pool.
//
// OpenBLAS is forced single-threaded (openblas_set_num_threads(1) at static init); parallelism
// comes from splitting C into tiles along M or N, one cblas_sgemm per tile, run by ThreadPool.
#pragma once

#include <cstdint>

#include "runtime/thread_pool.h"

namespace onnxd::engine::cpu {

// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, row-major; op(X) = X^T when trans_x.
// `pool` may be null (single-threaded). Handles M, N or K == 0 (K == 0 scales C by beta).
void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc, ThreadPool* pool);

// Same for double (used by double MatMul/Gemm).
void Dgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
           int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc, ThreadPool* pool);

// Single-threaded sgemm (one cblas call; used inside already-parallel loops).
void SgemmSerial(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                 int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Number of threads worth using for a GEMM of this size (1 when small).
int GemmTasks(int64_t m, int64_t n, int64_t k, ThreadPool* pool);

}  // namespace onnxd::engine::cpu
