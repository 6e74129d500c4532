#ifdef ONNXD_WITH_CUDA

#include "runtime/cuda_conv_transpose.h"

#include <cuda_fp16.h>

#include <algorithm>
#include <string>

#include "kernels/cuda/conv_transpose.h"
#include "ops/conv_transpose.h"

namespace onnxd::engine {

Status RunCudaConvTranspose(const OpKernel& cpu_kernel, const Tensor& x, const Tensor& w, const Tensor* b,
                            cuda::Blas& blas, cuda::DevicePool& pool, bool tf32, const CudaDataOutputFn& output,
                            cudaStream_t stream) {
  // Must match kFallback in runtime/cuda_session_gpu.cc: RunNode reruns such a node on the CPU.
  auto fallback = [](const std::string& why) { return Unimplemented("cuda fallback: " + why); };
  const DataType dt = x.dtype();
  if (dt != DataType::kFloat && dt != DataType::kFloat16) return fallback(std::string("ConvTranspose of ") + DataTypeName(dt));
  if (w.dtype() != dt || (b != nullptr && b->dtype() != dt)) return fallback("inputs of mixed element types");
  convt::Geom g;
  if (Status st = ConvTransposeRunGeometry(cpu_kernel, x, w, b, &g); !st.ok()) {
    if (st.code() == StatusCode::kUnimplemented) return fallback(st.message());
    return st;
  }
  Shape y_shape{g.n, g.m};
  for (int i = 0; i < g.nd; ++i) y_shape.PushBack(g.yout[i]);
  Tensor* y = nullptr;
  ASSIGN_OR_RETURN(y, output(0, dt, y_shape));
  if (y == nullptr || y->num_elements() == 0) return Status::Ok();
  const bool half = dt == DataType::kFloat16;
  const size_t elem = half ? sizeof(__half) : sizeof(float);
  const convt::ColGemm cg = convt::ColGemmFor(g);
  const int64_t col_per_image = cg.col_per_image, ys = g.YSize();
  // Images per chunk: the columns of a chunk stay within ~256 MB.
  constexpr int64_t kMaxColBytes = int64_t{256} << 20;
  const int64_t chunk = std::clamp<int64_t>(kMaxColBytes / std::max<int64_t>(1, col_per_image * static_cast<int64_t>(elem)),
                                            1, g.n);
  cuda::DeviceBuffer col;
  ASSIGN_OR_RETURN(col, pool.Allocate(static_cast<size_t>(std::max<int64_t>(1, chunk * col_per_image)) * elem));
  const auto* xp = static_cast<const char*>(x.raw_data());
  auto* colp = static_cast<char*>(col.data());
  auto* yp = static_cast<char*>(y->raw_data());
  const cuda::GemmMath math = tf32 ? cuda::GemmMath::kTf32 : cuda::GemmMath::kFp32;
  cuda::GemmArgs args;
  args.trans_a = true;
  args.m = cg.m;
  args.n = cg.n;
  args.k = cg.k;
  args.lda = cg.lda;
  args.ldb = cg.ldb;
  args.ldc = cg.ldc;
  for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
    const int64_t count = std::min(chunk, g.n - n0);
    if (col_per_image > 0) {  // else X has no positions: Y is the bias alone (the gather reads no column)
      if (g.group == 1) {
        // One GEMM per image, batched over the chunk's images: W is shared (stride 0).
        RETURN_IF_ERROR(blas.GemmStridedBatched(args, w.raw_data(), 0, xp + n0 * cg.x_per_image * elem, cg.x_per_image,
                                                colp, col_per_image, count, half, math));
      } else {
        // Per image, one GEMM per group, batched over the groups.
        for (int64_t i = 0; i < count; ++i)
          RETURN_IF_ERROR(blas.GemmStridedBatched(args, w.raw_data(), cg.stride_w, xp + (n0 + i) * cg.x_per_image * elem,
                                                  cg.stride_x, colp + i * col_per_image * elem, cg.stride_col, cg.batch,
                                                  half, math));
      }
    }
    char* y_chunk = yp + n0 * g.m * ys * elem;
    if (half)
      RETURN_IF_ERROR(cuda::ConvTransposeGather(reinterpret_cast<const __half*>(colp),
                                                b != nullptr ? static_cast<const __half*>(b->raw_data()) : nullptr,
                                                reinterpret_cast<__half*>(y_chunk), count, g, stream));
    else
      RETURN_IF_ERROR(cuda::ConvTransposeGather(reinterpret_cast<const float*>(colp),
                                                b != nullptr ? static_cast<const float*>(b->raw_data()) : nullptr,
                                                reinterpret_cast<float*>(y_chunk), count, g, stream));
  }
  return Status::Ok();
}

}  // namespace onnxd::engine

#endif  // ONNXD_WITH_CUDA
