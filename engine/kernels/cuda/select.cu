#include "kernels/cuda/select.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/element_io.cuh"
#include "kernels/cuda/tensor_shape.h"

namespace onnxd::cuda {
namespace {

int GridFor(int64_t n, int block) {
  int64_t g = (n + block - 1) / block;
  return static_cast<int>(g < 65535 * 32 ? g : 65535 * 32);
}

template <typename T>
__global__ void IsNaNKernel(const T* in, uint8_t* out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float x = ToFloat(in[i]);
    out[i] = x != x ? 1 : 0;
  }
}

// `shape` holds the output dims right-aligned in kMaxRank slots; the strides are 0 on broadcast axes.
template <typename T>
__global__ void WhereKernel(const uint8_t* cond, const T* a, const T* b, T* out, int64_t n, KernelShape shape,
                            KernelShape cs, KernelShape as, KernelShape bs) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t rem = i, ic = 0, ia = 0, ib = 0;
#pragma unroll
    for (int d = kMaxRank - 1; d >= 0; --d) {
      const int64_t c = rem % shape.dims[d];
      rem /= shape.dims[d];
      ic += c * cs.strides[d];
      ia += c * as.strides[d];
      ib += c * bs.strides[d];
    }
    out[i] = cond[ic] ? a[ia] : b[ib];
  }
}

// Strides (in elements) of `shape` right-aligned into kMaxRank slots, 0 where the dim is 1.
KernelShape Strides(std::span<const int64_t> shape) {
  KernelShape s;
  s.rank = kMaxRank;
  int64_t stride = 1;
  for (int d = kMaxRank - 1, j = static_cast<int>(shape.size()) - 1; d >= 0; --d, --j) {
    const int64_t dim = j >= 0 ? shape[j] : 1;
    s.dims[d] = dim;
    s.strides[d] = dim == 1 ? 0 : stride;
    stride *= dim;
  }
  return s;
}

template <typename T>
Status LaunchIsNaN(const T* in, uint8_t* out, int64_t n, cudaStream_t stream) {
  if (n <= 0) return Status::Ok();
  IsNaNKernel<T><<<GridFor(n, 256), 256, 0, stream>>>(in, out, n);
  return CudaStatus(cudaGetLastError(), "IsNaN launch");
}

template <typename T>
Status LaunchWhere(const uint8_t* cond, std::span<const int64_t> cshape, const T* a, std::span<const int64_t> ashape,
                   const T* b, std::span<const int64_t> bshape, T* out, cudaStream_t stream) {
  auto ab = BroadcastShape(ashape, bshape);
  if (!ab.ok()) return ab.status();
  auto shape = BroadcastShape(cshape, *ab);
  if (!shape.ok()) return shape.status();
  if (shape->size() > static_cast<size_t>(kMaxRank) || cshape.size() > static_cast<size_t>(kMaxRank) ||
      ashape.size() > static_cast<size_t>(kMaxRank) || bshape.size() > static_cast<size_t>(kMaxRank))
    return Unimplemented("Where: rank > 6");
  const int64_t n = NumElements(*shape);
  if (n == 0) return Status::Ok();
  WhereKernel<T><<<GridFor(n, 256), 256, 0, stream>>>(cond, a, b, out, n, Strides(*shape), Strides(cshape),
                                                      Strides(ashape), Strides(bshape));
  return CudaStatus(cudaGetLastError(), "Where launch");
}

}  // namespace

Status IsNaN(const float* in, uint8_t* out, int64_t n, cudaStream_t stream) { return LaunchIsNaN(in, out, n, stream); }
Status IsNaN(const __half* in, uint8_t* out, int64_t n, cudaStream_t stream) { return LaunchIsNaN(in, out, n, stream); }

Status Where(const uint8_t* cond, std::span<const int64_t> cond_shape, const float* a, std::span<const int64_t> a_shape,
             const float* b, std::span<const int64_t> b_shape, float* out, cudaStream_t stream) {
  return LaunchWhere(cond, cond_shape, a, a_shape, b, b_shape, out, stream);
}

Status Where(const uint8_t* cond, std::span<const int64_t> cond_shape, const __half* a,
             std::span<const int64_t> a_shape, const __half* b, std::span<const int64_t> b_shape, __half* out,
             cudaStream_t stream) {
  return LaunchWhere(cond, cond_shape, a, a_shape, b, b_shape, out, stream);
}

}  // namespace onnxd::cuda
