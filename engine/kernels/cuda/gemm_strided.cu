#include "kernels/cuda/gemm_strided.h"

#include <cstdint>

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/grid_stride.h"

namespace onnxd::cuda {
namespace {

// out[i], out[count + i], out[2 * count + i]: the plan's A, B and C matrices of batch entry i.
__global__ void FillGemmPointersKernel(StridedGemmPlan p, const char* a, const char* b, char* c, int64_t elem,
                                       int64_t count, void** out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t oa = 0, ob = 0, oc = 0;
    BatchOffsets(p, i, &oa, &ob, &oc);
    out[i] = const_cast<char*>(a + oa * elem);
    out[count + i] = const_cast<char*>(b + ob * elem);
    out[2 * count + i] = c + oc * elem;
  }
}

}  // namespace

Status RunStridedGemm(Blas& blas, DevicePool& pool, const StridedGemmPlan& plan, const void* a, const void* b, void* c,
                      bool fp16, GemmMath math, cudaStream_t stream, float alpha) {
  if (plan.swapped) std::swap(a, b);
  GemmArgs g;
  g.trans_a = plan.trans_a;
  g.trans_b = plan.trans_b;
  g.m = plan.m;
  g.n = plan.n;
  g.k = plan.k;
  g.lda = plan.lda;
  g.ldb = plan.ldb;
  g.ldc = plan.ldc;
  g.alpha = alpha;
  const int64_t count = plan.batch_count();
  if (plan.batch_rank <= 1)
    return blas.GemmStridedBatched(g, a, plan.batch_rank ? plan.stride_a[0] : 0, b,
                                   plan.batch_rank ? plan.stride_b[0] : 0, c, plan.batch_rank ? plan.stride_c[0] : 0,
                                   count, fp16, math);
  if (count == 0 || g.m == 0 || g.n == 0) return Status::Ok();
  const int64_t elem = fp16 ? 2 : 4;
  // cuBLAS cannot look at the matrices a device pointer array names: only when every one of them
  // is 16-byte aligned (tensor-core kernels assume it) does the pointer-array call run; otherwise
  // one strided-batched call per entry of the outer batch axes, whose pointers cuBLAS sees.
  bool aligned = ((reinterpret_cast<uintptr_t>(a) | reinterpret_cast<uintptr_t>(b) | reinterpret_cast<uintptr_t>(c)) &
                  15) == 0;
  for (int d = 0; d < plan.batch_rank; ++d)
    aligned &= ((plan.stride_a[d] * elem) | (plan.stride_b[d] * elem) | (plan.stride_c[d] * elem)) % 16 == 0;
  if (!aligned) {
    StridedGemmPlan outer = plan;  // the outer axes alone, to enumerate their entries
    outer.batch_rank = plan.batch_rank - 1;
    const int last = plan.batch_rank - 1;
    for (int64_t t = 0; t < outer.batch_count(); ++t) {
      int64_t oa = 0, ob = 0, oc = 0;
      BatchOffsets(outer, t, &oa, &ob, &oc);
      RETURN_IF_ERROR(blas.GemmStridedBatched(g, static_cast<const char*>(a) + oa * elem, plan.stride_a[last],
                                              static_cast<const char*>(b) + ob * elem, plan.stride_b[last],
                                              static_cast<char*>(c) + oc * elem, plan.stride_c[last],
                                              plan.batch_dims[last], fp16, math));
    }
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(DeviceBuffer ptrs, pool.Allocate(static_cast<size_t>(3 * count) * sizeof(void*)));
  void** p = ptrs.as<void*>();
  FillGemmPointersKernel<<<GridBlocks(count), kGridStrideBlock, 0, stream>>>(
      plan, static_cast<const char*>(a), static_cast<const char*>(b), static_cast<char*>(c), elem, count, p);
  ONNXD_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return blas.GemmBatched(g, p, p + count, p + 2 * count, count, fp16, math);
}

}  // namespace onnxd::cuda
