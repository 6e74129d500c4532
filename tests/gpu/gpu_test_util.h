// Helpers for the GPU tests: device buffers from host vectors, random data, fp16 values on the
// host, and the comparison the node suite uses (|got - want| <= atol + rtol * |want|).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "kernels/cuda/device_pool.h"
#include "kernels/cuda/stream.h"

namespace onnxd::cuda::testing {

inline constexpr float kRtol = 1e-3f;
inline constexpr float kAtol = 1e-5f;

inline std::vector<float> RandomVector(size_t n, uint32_t seed, float lo = -2.f, float hi = 2.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Each value rounded to the nearest fp16 (what the fp16 kernels read).
inline std::vector<__half> ToHalf(const std::vector<float>& v) {
  std::vector<__half> h;
  h.reserve(v.size());
  for (float f : v) h.push_back(__float2half_rn(f));
  return h;
}

inline std::vector<float> FromHalf(const std::vector<__half>& h) {
  std::vector<float> v;
  v.reserve(h.size());
  for (__half e : h) v.push_back(__half2float(e));
  return v;
}

inline DeviceBuffer Upload(DevicePool& pool, const std::vector<float>& host) {
  auto buf = pool.Allocate(host.size() * sizeof(float));
  EXPECT_TRUE(buf.ok()) << buf.status().message();
  if (!host.empty()) {
    EXPECT_EQ(cudaMemcpy(buf->data(), host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    // A pageable copy may return before the DMA lands, and the kernels run on a non-blocking
    // stream that does not order after the legacy stream: wait for it.
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }
  return std::move(buf).value();
}

inline DeviceBuffer Empty(DevicePool& pool, size_t n) {
  auto buf = pool.Allocate(n * sizeof(float));
  EXPECT_TRUE(buf.ok()) << buf.status().message();
  return std::move(buf).value();
}

inline std::vector<float> Download(const DeviceBuffer& buf, size_t n, const Stream& stream) {
  Status st = stream.Synchronize();
  EXPECT_TRUE(st.ok()) << st.message();
  std::vector<float> host(n);
  if (n) {
    EXPECT_EQ(cudaMemcpy(host.data(), buf.data(), n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  }
  return host;
}

// Counts and reports the first few mismatches.
inline void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, float rtol = kRtol,
                        float atol = kAtol) {
  ASSERT_EQ(got.size(), want.size());
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const bool ok = std::fabs(got[i] - want[i]) <= atol + rtol * std::fabs(want[i]) ||
                    (std::isnan(got[i]) && std::isnan(want[i]));
    if (!ok && ++bad <= 5) ADD_FAILURE() << "element " << i << ": got " << got[i] << ", want " << want[i];
  }
  EXPECT_EQ(bad, 0) << "of " << got.size() << " elements";
}

// A test with its own stream and device pool, and typed copies between host and device.
class DeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Stream::Create();
    ASSERT_TRUE(s.ok()) << s.status().message();
    stream_ = std::make_unique<Stream>(std::move(s).value());
  }

  template <typename T>
  DeviceBuffer Up(const std::vector<T>& host) {
    auto buf = pool_.Allocate(std::max<size_t>(host.size() * sizeof(T), 1));
    EXPECT_TRUE(buf.ok()) << buf.status().message();
    if (!host.empty()) {
      EXPECT_EQ(cudaMemcpy(buf->data(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
    }
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    return std::move(buf).value();
  }

  DeviceBuffer Out(size_t bytes) {
    auto buf = pool_.Allocate(std::max<size_t>(bytes, 1));
    EXPECT_TRUE(buf.ok()) << buf.status().message();
    // A pattern that no expected value has: unwritten elements show.
    EXPECT_EQ(cudaMemset(buf->data(), 0x5a, std::max<size_t>(bytes, 1)), cudaSuccess);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    return std::move(buf).value();
  }

  template <typename T>
  std::vector<T> Down(const DeviceBuffer& buf, size_t n) {
    Status st = stream_->Synchronize();
    EXPECT_TRUE(st.ok()) << st.message();
    std::vector<T> host(n);
    if (n) {
      EXPECT_EQ(cudaMemcpy(host.data(), buf.data(), n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    }
    return host;
  }

  std::unique_ptr<Stream> stream_;
  DevicePool pool_;
};

}  // namespace onnxd::cuda::testing
