// The emulated cuBLAS / cuBLASLt (blas_emu.cc), called through the tables onnxd uses, against a
// reference written here another way: operands unpacked into row-major op(A) / op(B) first, the
// product accumulated in double, l-outer (axpy) order.
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "kernels/cuda/cuda_libs.h"
#include "libs_emu.h"

namespace onnxd::cuda_emu {
namespace {

using Matrix = std::vector<std::vector<double>>;  // [row][col]

// A device buffer of `count` elements of T, filled from / read back to the host.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(size_t count) : count_(count) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&p_), count * sizeof(T)), cudaSuccess);
  }
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) { Upload(host); }
  ~DeviceArray() { cudaFree(p_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  void Upload(const std::vector<T>& host) {
    ASSERT_EQ(host.size(), count_);
    ASSERT_EQ(cudaMemcpy(p_, host.data(), count_ * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  std::vector<T> Download() const {
    std::vector<T> host(count_);
    EXPECT_EQ(cudaMemcpy(host.data(), p_, count_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return host;
  }
  T* get() const { return p_; }

 private:
  size_t count_;
  T* p_ = nullptr;
};

double ToDouble(float v) { return v; }
double ToDouble(__half v) { return __half2float(v); }
template <typename T>
T FromDouble(double v);
template <>
float FromDouble<float>(double v) { return static_cast<float>(v); }
template <>
__half FromDouble<__half>(double v) { return __float2half_rn(static_cast<float>(v)); }

// Random values that are exact in fp16 (multiples of 1/8 in [-2, 2]), so both types see the same data.
template <typename T>
std::vector<T> RandomBuffer(size_t count, std::mt19937* rng) {
  std::uniform_int_distribution<int> d(-16, 16);
  std::vector<T> v(count);
  for (auto& x : v) x = FromDouble<T>(d(*rng) / 8.0);
  return v;
}

// The matrix a column-major buffer holds (rows x cols, leading dimension ld), then op applied.
template <typename T>
Matrix Unpack(const std::vector<T>& buf, size_t offset, int rows, int cols, int ld, bool transpose) {
  Matrix stored(rows, std::vector<double>(cols));
  for (int c = 0; c < cols; ++c)
    for (int r = 0; r < rows; ++r) stored[r][c] = ToDouble(buf[offset + static_cast<size_t>(c) * ld + r]);
  if (!transpose) return stored;
  Matrix t(cols, std::vector<double>(rows));
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) t[c][r] = stored[r][c];
  return t;
}

// alpha * opA opB + beta * C (C given as a matrix, or empty when beta == 0).
Matrix Reference(const Matrix& opa, const Matrix& opb, double alpha, double beta, const Matrix& c) {
  const size_t m = opa.size(), k = opb.size(), n = opb.empty() ? 0 : opb[0].size();
  Matrix out(m, std::vector<double>(n, 0.0));
  for (size_t l = 0; l < k; ++l)
    for (size_t i = 0; i < m; ++i)
      for (size_t j = 0; j < n; ++j) out[i][j] += opa[i][l] * opb[l][j];
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j) out[i][j] = alpha * out[i][j] + (beta != 0.0 ? beta * c[i][j] : 0.0);
  return out;
}

class BlasEmuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FillCublas(blas_);
    FillCublasLt(lt_);
    ASSERT_TRUE(blas_.loaded);
    ASSERT_TRUE(lt_.loaded);
    ASSERT_EQ(blas_.create(&handle_), CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(blas_.set_stream(handle_, nullptr), CUBLAS_STATUS_SUCCESS);
  }
  void TearDown() override { EXPECT_EQ(blas_.destroy(handle_), CUBLAS_STATUS_SUCCESS); }

  // One GemmEx of every transpose combination for element type T, padded leading dimensions.
  template <typename T>
  void CheckGemmEx(cudaDataType type, double tolerance) {
    std::mt19937 rng(7);
    const int m = 5, n = 3, k = 7;
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        SCOPED_TRACE(testing::Message() << "transa " << ta << " transb " << tb);
        const int a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
        const int lda = a_rows + 2, ldb = b_rows + 1, ldc = m + 3;
        const auto ha = RandomBuffer<T>(static_cast<size_t>(lda) * a_cols, &rng);
        const auto hb = RandomBuffer<T>(static_cast<size_t>(ldb) * b_cols, &rng);
        const auto hc = RandomBuffer<T>(static_cast<size_t>(ldc) * n, &rng);
        DeviceArray<T> a(ha), b(hb), c(hc);
        const float alpha = 1.5f, beta = -0.5f;
        ASSERT_EQ(blas_.gemm_ex(handle_, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k,
                                &alpha, a.get(), type, lda, b.get(), type, ldb, &beta, c.get(), type, ldc,
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                  CUBLAS_STATUS_SUCCESS);
        const Matrix want = Reference(Unpack(ha, 0, a_rows, a_cols, lda, ta), Unpack(hb, 0, b_rows, b_cols, ldb, tb),
                                      alpha, beta, Unpack(hc, 0, m, n, ldc, false));
        const auto got = c.Download();
        for (int j = 0; j < n; ++j) {
          for (int i = 0; i < m; ++i)
            EXPECT_NEAR(ToDouble(got[static_cast<size_t>(j) * ldc + i]), want[i][j],
                        tolerance * (1.0 + std::fabs(want[i][j])))
                << "C(" << i << ", " << j << ")";
          for (int i = m; i < ldc; ++i)  // the padding between columns is not written
            EXPECT_EQ(ToDouble(got[static_cast<size_t>(j) * ldc + i]), ToDouble(hc[static_cast<size_t>(j) * ldc + i]));
        }
      }
    }
  }

  onnxd::cuda::libs::CublasApi blas_;
  onnxd::cuda::libs::CublasLtApi lt_;
  cublasHandle_t handle_ = nullptr;
};

TEST_F(BlasEmuTest, GemmExFp32AllTransposes) { CheckGemmEx<float>(CUDA_R_32F, 1e-6); }

TEST_F(BlasEmuTest, GemmExFp16AllTransposes) { CheckGemmEx<__half>(CUDA_R_16F, 1e-3); }

TEST_F(BlasEmuTest, GemmExFp16InputsFp32Output) {
  // A, B fp16 (values exact in fp16), C fp32: the sum of products is exact, so no rounding at all.
  const std::vector<__half> ha = {__float2half_rn(0.5f), __float2half_rn(-1.25f), __float2half_rn(2.f),
                                  __float2half_rn(0.125f)};  // 2 x 2, column-major
  const std::vector<__half> hb = {__float2half_rn(4.f), __float2half_rn(1.f)};  // 2 x 1
  DeviceArray<__half> a(ha), b(hb);
  DeviceArray<float> c(std::vector<float>{std::nanf(""), std::nanf("")});  // beta == 0: never read
  const float alpha = 1.f, beta = 0.f;
  ASSERT_EQ(blas_.gemm_ex(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 2, 1, 2, &alpha, a.get(), CUDA_R_16F, 2, b.get(),
                          CUDA_R_16F, 2, &beta, c.get(), CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  const auto got = c.Download();
  EXPECT_EQ(got[0], 0.5f * 4.f + 2.f * 1.f);
  EXPECT_EQ(got[1], -1.25f * 4.f + 0.125f * 1.f);
}

TEST_F(BlasEmuTest, Fp16AccumulatesInFp32) {
  // 2048 + 1 + 1: fp16 alone would lose each 1 (its spacing at 2048 is 2); fp32 accumulation gives 2050.
  std::vector<__half> ha = {__float2half_rn(2048.f), __float2half_rn(1.f), __float2half_rn(1.f)};  // 1 x 3
  std::vector<__half> hb(3, __float2half_rn(1.f));
  DeviceArray<__half> a(ha), b(hb), c(1);
  const float alpha = 1.f, beta = 0.f;
  ASSERT_EQ(blas_.gemm_ex(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 3, &alpha, a.get(), CUDA_R_16F, 1, b.get(),
                          CUDA_R_16F, 3, &beta, c.get(), CUDA_R_16F, 1, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(__half2float(c.Download()[0]), 2050.f);
}

TEST_F(BlasEmuTest, Tf32RoundsInputs) {
  const float x = 1.f + std::ldexp(1.f, -12);  // below TF32's 10 mantissa bits
  DeviceArray<float> a(std::vector<float>{x}), b(std::vector<float>{1.f}), c(1);
  const float alpha = 1.f, beta = 0.f;
  ASSERT_EQ(blas_.gemm_ex(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &alpha, a.get(), CUDA_R_32F, 1, b.get(),
                          CUDA_R_32F, 1, &beta, c.get(), CUDA_R_32F, 1, CUBLAS_COMPUTE_32F_FAST_TF32,
                          CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(c.Download()[0], 1.f);
  ASSERT_EQ(blas_.gemm_ex(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &alpha, a.get(), CUDA_R_32F, 1, b.get(),
                          CUDA_R_32F, 1, &beta, c.get(), CUDA_R_32F, 1, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(c.Download()[0], x);
  // Round to nearest even (TF32's spacing at 1 is 2^-10): a halfway value goes to the neighbour with
  // an even last mantissa bit, down or up; above halfway rounds up.
  const struct {
    float in, want;
  } cases[] = {{1.f + std::ldexp(1.f, -11), 1.f},
               {1.f + 3.f * std::ldexp(1.f, -11), 1.f + std::ldexp(1.f, -9)},
               {1.f + std::ldexp(1.f, -11) + std::ldexp(1.f, -12), 1.f + std::ldexp(1.f, -10)},
               {-(1.f + std::ldexp(1.f, -11)), -1.f}};
  for (const auto& t : cases) {
    a.Upload({t.in});
    ASSERT_EQ(blas_.gemm_ex(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &alpha, a.get(), CUDA_R_32F, 1, b.get(),
                            CUDA_R_32F, 1, &beta, c.get(), CUDA_R_32F, 1, CUBLAS_COMPUTE_32F_FAST_TF32,
                            CUBLAS_GEMM_DEFAULT),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(c.Download()[0], t.want) << "input " << t.in;
  }
}

TEST_F(BlasEmuTest, Compute16FTakesHalfScalars) {
  DeviceArray<__half> a(std::vector<__half>{__float2half_rn(3.f)}), b(std::vector<__half>{__float2half_rn(2.f)});
  DeviceArray<__half> c(std::vector<__half>{__float2half_rn(10.f)});
  const __half alpha = __float2half_rn(0.5f), beta = __float2half_rn(2.f);
  ASSERT_EQ(blas_.gemm_ex(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &alpha, a.get(), CUDA_R_16F, 1, b.get(),
                          CUDA_R_16F, 1, &beta, c.get(), CUDA_R_16F, 1, CUBLAS_COMPUTE_16F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(__half2float(c.Download()[0]), 0.5f * 6.f + 2.f * 10.f);
}

TEST_F(BlasEmuTest, StridedBatched) {
  std::mt19937 rng(11);
  const int m = 4, n = 3, k = 5, batch = 3, lda = k, ldb = k + 1, ldc = m;  // A^T (k x m stored), B (k x n)
  const long long stride_a = lda * m + 3, stride_b = 0, stride_c = ldc * n + 2;  // B broadcast to each entry
  const auto ha = RandomBuffer<float>(static_cast<size_t>(stride_a) * batch, &rng);
  const auto hb = RandomBuffer<float>(static_cast<size_t>(ldb) * n, &rng);
  const auto hc = RandomBuffer<float>(static_cast<size_t>(stride_c) * batch, &rng);
  DeviceArray<float> a(ha), b(hb), c(hc);
  const float alpha = 2.f, beta = 1.f;
  ASSERT_EQ(blas_.gemm_strided_batched_ex(handle_, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, a.get(), CUDA_R_32F,
                                          lda, stride_a, b.get(), CUDA_R_32F, ldb, stride_b, &beta, c.get(),
                                          CUDA_R_32F, ldc, stride_c, batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  const auto got = c.Download();
  for (int e = 0; e < batch; ++e) {
    const Matrix want = Reference(Unpack(ha, e * stride_a, k, m, lda, true), Unpack(hb, 0, k, n, ldb, false), alpha,
                                  beta, Unpack(hc, e * stride_c, m, n, ldc, false));
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i)
        EXPECT_NEAR(got[e * stride_c + j * ldc + i], want[i][j], 1e-5) << "entry " << e;
    for (int g = m * n; g < stride_c; ++g) EXPECT_EQ(got[e * stride_c + g], hc[e * stride_c + g]);  // the gaps
  }
}

TEST_F(BlasEmuTest, BatchedWithDevicePointerArrays) {
  std::mt19937 rng(3);
  const int m = 3, n = 4, k = 2, batch = 2;
  std::vector<std::vector<__half>> ha, hb, hc;
  std::vector<std::unique_ptr<DeviceArray<__half>>> da, db, dc;
  for (int e = 0; e < batch; ++e) {
    ha.push_back(RandomBuffer<__half>(m * k, &rng));
    hb.push_back(RandomBuffer<__half>(n * k, &rng));  // B^T: n x k stored
    hc.push_back(RandomBuffer<__half>(m * n, &rng));
    da.push_back(std::make_unique<DeviceArray<__half>>(ha.back()));
    db.push_back(std::make_unique<DeviceArray<__half>>(hb.back()));
    dc.push_back(std::make_unique<DeviceArray<__half>>(hc.back()));
  }
  // Entries in reverse order, so that entry i of the arrays is not allocation i.
  DeviceArray<const void*> pa(std::vector<const void*>{da[1]->get(), da[0]->get()});
  DeviceArray<const void*> pb(std::vector<const void*>{db[1]->get(), db[0]->get()});
  DeviceArray<void*> pc(std::vector<void*>{dc[1]->get(), dc[0]->get()});
  const float alpha = 1.f, beta = 0.25f;
  ASSERT_EQ(blas_.gemm_batched_ex(handle_, CUBLAS_OP_N, CUBLAS_OP_T, m, n, k, &alpha, pa.get(), CUDA_R_16F, m,
                                  pb.get(), CUDA_R_16F, n, &beta, pc.get(), CUDA_R_16F, m, batch, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  for (int e = 0; e < batch; ++e) {
    const Matrix want = Reference(Unpack(ha[e], 0, m, k, m, false), Unpack(hb[e], 0, n, k, n, true), alpha, beta,
                                  Unpack(hc[e], 0, m, n, m, false));
    const auto got = dc[e]->Download();
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) EXPECT_NEAR(ToDouble(got[j * m + i]), want[i][j], 2e-3 * (1 + std::fabs(want[i][j])));
  }
}

TEST_F(BlasEmuTest, Refusals) {
  DeviceArray<float> a(std::vector<float>(16, 1.f)), b(std::vector<float>(16, 1.f)), c(16);
  const float alpha = 1.f, beta = 0.f;
  auto gemm = [&](cublasHandle_t h, int m, int n, int k, const void* pa, int lda, int ldb, int ldc,
                  cudaDataType ctype = CUDA_R_32F) {
    return blas_.gemm_ex(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, pa, CUDA_R_32F, lda, b.get(), CUDA_R_32F, ldb,
                         &beta, c.get(), ctype, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  };
  EXPECT_EQ(gemm(handle_, 4, 2, 2, a.get(), 3, 2, 4), CUBLAS_STATUS_INVALID_VALUE);   // lda 3 < m 4
  EXPECT_EQ(gemm(handle_, 4, 2, 3, a.get(), 4, 2, 4), CUBLAS_STATUS_INVALID_VALUE);   // ldb 2 < k 3
  EXPECT_EQ(gemm(handle_, 4, 2, 2, a.get(), 4, 2, 3), CUBLAS_STATUS_INVALID_VALUE);   // ldc 3 < m 4
  EXPECT_EQ(gemm(handle_, 0, 2, 2, a.get(), 0, 2, 1), CUBLAS_STATUS_INVALID_VALUE);   // lda 0 < 1, even when empty
  EXPECT_EQ(gemm(handle_, -1, 2, 2, a.get(), 4, 2, 4), CUBLAS_STATUS_INVALID_VALUE);  // negative m
  EXPECT_EQ(gemm(nullptr, 4, 2, 2, a.get(), 4, 2, 4), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_EQ(gemm(handle_, 4, 2, 2, a.get(), 4, 2, 4, CUDA_R_16F), CUBLAS_STATUS_NOT_SUPPORTED);  // 32F A, 16F C
  std::vector<float> host(16);
  EXPECT_EQ(gemm(handle_, 4, 2, 2, host.data(), 4, 2, 4), CUBLAS_STATUS_INVALID_VALUE);  // host A
  EXPECT_EQ(gemm(handle_, 4, 4, 4, a.get(), 4, 4, 4), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(gemm(handle_, 2, 4, 5, a.get(), 2, 5, 2), CUBLAS_STATUS_INVALID_VALUE);  // B spans 20 floats of 16
  // Strided batched: the second entry of C runs past the allocation.
  EXPECT_EQ(blas_.gemm_strided_batched_ex(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &alpha, a.get(), CUDA_R_32F,
                                          2, 4, b.get(), CUDA_R_32F, 2, 4, &beta, c.get(), CUDA_R_32F, 2, 14, 2,
                                          CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_INVALID_VALUE);
  // Batched with a pointer array in host memory.
  const void* host_array[1] = {a.get()};
  DeviceArray<const void*> pb(std::vector<const void*>{b.get()});
  DeviceArray<void*> pc(std::vector<void*>{c.get()});
  EXPECT_EQ(blas_.gemm_batched_ex(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &alpha, host_array, CUDA_R_32F, 2,
                                  pb.get(), CUDA_R_32F, 2, &beta, pc.get(), CUDA_R_32F, 2, 1, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_INVALID_VALUE);
  // A destroyed handle.
  cublasHandle_t gone = nullptr;
  ASSERT_EQ(blas_.create(&gone), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(blas_.destroy(gone), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(blas_.set_stream(gone, nullptr), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_STREQ(blas_.status_name(CUBLAS_STATUS_INVALID_VALUE), "CUBLAS_STATUS_INVALID_VALUE");
  EXPECT_STREQ(blas_.status_name(CUBLAS_STATUS_NOT_SUPPORTED), "CUBLAS_STATUS_NOT_SUPPORTED");
  EXPECT_STREQ(blas_.status_name(CUBLAS_STATUS_SUCCESS), "CUBLAS_STATUS_SUCCESS");
}

TEST_F(BlasEmuTest, RefusedCallWritesNothing) {
  DeviceArray<float> a(std::vector<float>(4, 1.f)), b(std::vector<float>(4, 1.f)), c(std::vector<float>(4, 42.f));
  const float alpha = 1.f, beta = 0.f;
  EXPECT_EQ(blas_.gemm_ex(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &alpha, a.get(), CUDA_R_32F, 1, b.get(),
                          CUDA_R_32F, 2, &beta, c.get(), CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_INVALID_VALUE);
  for (float v : c.Download()) EXPECT_EQ(v, 42.f);
}

using BlasEmuDeathTest = BlasEmuTest;

TEST_F(BlasEmuDeathTest, PointerArrayEntryInHostMemoryStopsWhenRun) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  DeviceArray<float> b(4), c(4);
  std::vector<float> host(4);
  DeviceArray<const void*> pa(std::vector<const void*>{host.data()});
  DeviceArray<const void*> pb(std::vector<const void*>{b.get()});
  DeviceArray<void*> pc(std::vector<void*>{c.get()});
  const float alpha = 1.f, beta = 0.f;
  EXPECT_DEATH(blas_.gemm_batched_ex(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &alpha, pa.get(), CUDA_R_32F, 2,
                                     pb.get(), CUDA_R_32F, 2, &beta, pc.get(), CUDA_R_32F, 2, 1, CUBLAS_COMPUTE_32F,
                                     CUBLAS_GEMM_DEFAULT),
               "Aarray\\[i\\] of batch entry 0.*not device memory");
}

TEST_F(BlasEmuTest, CapturedGemmRunsWhenTheGraphRuns) {
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  ASSERT_EQ(blas_.set_stream(handle_, s), CUBLAS_STATUS_SUCCESS);
  DeviceArray<float> a(std::vector<float>{2.f}), b(std::vector<float>{3.f}), c(std::vector<float>{0.f});
  const float alpha = 1.f, beta = 1.f;
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
  ASSERT_EQ(blas_.gemm_ex(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &alpha, a.get(), CUDA_R_32F, 1, b.get(),
                          CUDA_R_32F, 1, &beta, c.get(), CUDA_R_32F, 1, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  EXPECT_EQ(c.Download()[0], 0.f);  // recorded, not run
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(c.Download()[0], 12.f);  // c += 2 * 3, twice
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  ASSERT_EQ(blas_.set_stream(handle_, nullptr), CUBLAS_STATUS_SUCCESS);
  cudaStreamDestroy(s);
}

// ------------------------------------------------------------------------------------------------
// cuBLASLt, used as onnxd's BiasGemm (gemm_lt.cc) uses it: row-major out[M, N] = a[M, K] w[K, N] + bias[N]
// as the column-major out^T = w^T a^T with one bias value per row of out^T.

class LtBiasGemm {
 public:
  LtBiasGemm(const onnxd::cuda::libs::CublasLtApi& lt, int64_t m, int64_t n, int64_t k, cudaDataType type,
             cublasComputeType_t compute, cublasLtEpilogue_t epilogue)
      : lt_(lt) {
    EXPECT_EQ(lt.create(&handle_), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(lt.matmul_desc_create(&desc_, compute, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(lt.matmul_desc_set_attribute(desc_, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(lt.matrix_layout_create(&w_, type, n, k, n), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(lt.matrix_layout_create(&a_, type, k, m, k), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(lt.matrix_layout_create(&out_, type, n, m, n), CUBLAS_STATUS_SUCCESS);
  }
  ~LtBiasGemm() {
    EXPECT_EQ(lt_.matrix_layout_destroy(w_), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(lt_.matrix_layout_destroy(a_), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(lt_.matrix_layout_destroy(out_), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(lt_.matmul_desc_destroy(desc_), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(lt_.destroy(handle_), CUBLAS_STATUS_SUCCESS);
  }
  cublasStatus_t Heuristic(cublasLtMatmulHeuristicResult_t* result, int* returned) {
    cublasLtMatmulPreference_t pref = nullptr;
    EXPECT_EQ(lt_.matmul_preference_create(&pref), CUBLAS_STATUS_SUCCESS);
    const size_t workspace = 1 << 20;
    EXPECT_EQ(lt_.matmul_preference_set_attribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                                                  sizeof(workspace)),
              CUBLAS_STATUS_SUCCESS);
    const cublasStatus_t st = lt_.matmul_algo_get_heuristic(handle_, desc_, w_, a_, out_, out_, pref, 1, result, returned);
    EXPECT_EQ(lt_.matmul_preference_destroy(pref), CUBLAS_STATUS_SUCCESS);
    return st;
  }
  cublasStatus_t Run(const void* a, const void* w, const void* bias, void* out, const cublasLtMatmulAlgo_t* algo) {
    EXPECT_EQ(lt_.matmul_desc_set_attribute(desc_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)),
              CUBLAS_STATUS_SUCCESS);
    const float one = 1.f, zero = 0.f;
    return lt_.matmul(handle_, desc_, &one, w, w_, a, a_, &zero, out, out_, out, out_, algo, nullptr, 0, nullptr);
  }
  cublasLtMatmulDesc_t desc() const { return desc_; }

 private:
  const onnxd::cuda::libs::CublasLtApi& lt_;
  cublasLtHandle_t handle_ = nullptr;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t w_ = nullptr, a_ = nullptr, out_ = nullptr;
};

double GeluTanh(double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }

template <typename T>
void CheckLtBias(const onnxd::cuda::libs::CublasLtApi& lt, cudaDataType type, cublasComputeType_t compute,
                 cublasLtEpilogue_t epilogue, double tolerance) {
  std::mt19937 rng(5);
  const int m = 3, n = 5, k = 4;
  const auto ha = RandomBuffer<T>(m * k, &rng), hw = RandomBuffer<T>(k * n, &rng), hbias = RandomBuffer<T>(n, &rng);
  DeviceArray<T> a(ha), w(hw), bias(hbias);
  DeviceArray<T> out(std::vector<T>(m * n, FromDouble<T>(std::nan(""))));  // beta == 0: not read
  LtBiasGemm g(lt, m, n, k, type, compute, epilogue);
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  ASSERT_EQ(g.Heuristic(&result, &returned), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(returned, 1);
  EXPECT_EQ(result.state, CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(result.workspaceSize, 0u);
  ASSERT_EQ(g.Run(a.get(), w.get(), bias.get(), out.get(), &result.algo), CUBLAS_STATUS_SUCCESS);
  const auto got = out.Download();
  for (int r = 0; r < m; ++r) {
    for (int col = 0; col < n; ++col) {
      double want = ToDouble(hbias[col]);
      for (int l = 0; l < k; ++l) want += ToDouble(ha[r * k + l]) * ToDouble(hw[l * n + col]);
      if (epilogue == CUBLASLT_EPILOGUE_RELU_BIAS) want = std::max(want, 0.0);
      if (epilogue == CUBLASLT_EPILOGUE_GELU_BIAS) want = GeluTanh(want);
      EXPECT_NEAR(ToDouble(got[r * n + col]), want, tolerance * (1 + std::fabs(want))) << "out[" << r << "][" << col << "]";
    }
  }
}

TEST_F(BlasEmuTest, LtBiasEpilogueFp32) {
  CheckLtBias<float>(lt_, CUDA_R_32F, CUBLAS_COMPUTE_32F, CUBLASLT_EPILOGUE_BIAS, 1e-6);
}
TEST_F(BlasEmuTest, LtBiasEpilogueFp16) {
  CheckLtBias<__half>(lt_, CUDA_R_16F, CUBLAS_COMPUTE_32F, CUBLASLT_EPILOGUE_BIAS, 1e-3);
}
TEST_F(BlasEmuTest, LtReluBiasAndGeluBias) {
  CheckLtBias<float>(lt_, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLASLT_EPILOGUE_RELU_BIAS, 1e-6);
  CheckLtBias<float>(lt_, CUDA_R_32F, CUBLAS_COMPUTE_32F, CUBLASLT_EPILOGUE_GELU_BIAS, 1e-5);
}

TEST_F(BlasEmuTest, LtRefusals) {
  // An epilogue the emulator does not do: no algorithm.
  {
    LtBiasGemm g(lt_, 2, 2, 2, CUDA_R_32F, CUBLAS_COMPUTE_32F, CUBLASLT_EPILOGUE_DRELU_BGRAD);
    cublasLtMatmulHeuristicResult_t result{};
    int returned = 0;
    EXPECT_EQ(g.Heuristic(&result, &returned), CUBLAS_STATUS_NOT_SUPPORTED);
  }
  // A bias epilogue without a bias pointer, and a bias in host memory.
  {
    LtBiasGemm g(lt_, 2, 2, 2, CUDA_R_32F, CUBLAS_COMPUTE_32F, CUBLASLT_EPILOGUE_BIAS);
    DeviceArray<float> a(4), w(4), out(4);
    EXPECT_EQ(g.Run(a.get(), w.get(), nullptr, out.get(), nullptr), CUBLAS_STATUS_INVALID_VALUE);
    std::vector<float> host_bias(2);
    EXPECT_EQ(g.Run(a.get(), w.get(), host_bias.data(), out.get(), nullptr), CUBLAS_STATUS_INVALID_VALUE);
    // Attribute of the wrong size.
    const uint64_t wide = CUBLASLT_EPILOGUE_BIAS;
    EXPECT_EQ(lt_.matmul_desc_set_attribute(g.desc(), CUBLASLT_MATMUL_DESC_EPILOGUE, &wide, sizeof(wide)),
              CUBLAS_STATUS_INVALID_VALUE);
  }
  // Layouts that do not chain: A is k x m with k 3, B has k 2.
  {
    cublasLtHandle_t h = nullptr;
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
    ASSERT_EQ(lt_.create(&h), CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(lt_.matmul_desc_create(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
    const int32_t t = CUBLAS_OP_T;
    ASSERT_EQ(lt_.matmul_desc_set_attribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)), CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(lt_.matrix_layout_create(&la, CUDA_R_32F, 3, 4, 3), CUBLAS_STATUS_SUCCESS);  // op(A) 4 x 3
    ASSERT_EQ(lt_.matrix_layout_create(&lb, CUDA_R_32F, 2, 5, 2), CUBLAS_STATUS_SUCCESS);  // B 2 x 5
    ASSERT_EQ(lt_.matrix_layout_create(&ld, CUDA_R_32F, 4, 5, 4), CUBLAS_STATUS_SUCCESS);
    DeviceArray<float> a(12), b(10), d(20);
    const float one = 1.f, zero = 0.f;
    EXPECT_EQ(lt_.matmul(h, desc, &one, a.get(), la, b.get(), lb, &zero, d.get(), ld, d.get(), ld, nullptr, nullptr,
                         0, nullptr),
              CUBLAS_STATUS_INVALID_VALUE);
    // With B 3 x 5 it chains: D = A^T B.
    cublasLtMatrixLayout_t lb3 = nullptr;
    ASSERT_EQ(lt_.matrix_layout_create(&lb3, CUDA_R_32F, 3, 5, 3), CUBLAS_STATUS_SUCCESS);
    std::vector<float> ha(12), hb(15);
    for (int i = 0; i < 12; ++i) ha[i] = static_cast<float>(i % 5) - 2.f;
    for (int i = 0; i < 15; ++i) hb[i] = static_cast<float>(i % 3) + 0.5f;
    a.Upload(ha);
    DeviceArray<float> b3(hb);
    EXPECT_EQ(lt_.matmul(h, desc, &one, a.get(), la, b3.get(), lb3, &zero, d.get(), ld, d.get(), ld, nullptr, nullptr,
                         0, nullptr),
              CUBLAS_STATUS_SUCCESS);
    const auto got = d.Download();
    for (int j = 0; j < 5; ++j)
      for (int i = 0; i < 4; ++i) {
        double want = 0;
        for (int l = 0; l < 3; ++l) want += ha[i * 3 + l] * hb[j * 3 + l];
        EXPECT_EQ(got[j * 4 + i], want) << i << "," << j;
      }
    EXPECT_EQ(lt_.matrix_layout_destroy(lb3), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(lt_.matrix_layout_destroy(la), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(lt_.matrix_layout_destroy(lb), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(lt_.matrix_layout_destroy(ld), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(lt_.matmul_desc_destroy(desc), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(lt_.destroy(h), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(lt_.destroy(h), CUBLAS_STATUS_NOT_INITIALIZED);  // already destroyed
  }
}

}  // namespace
}  // namespace onnxd::cuda_emu
