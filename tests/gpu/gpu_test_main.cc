// Main of onnxd_gpu_tests and onnxd_gpu_session_tests: skips the whole binary (exit 77, CTest's SKIP_RETURN_CODE) with the
// reason when no CUDA device is usable.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "kernels/cuda/cuda_status.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::string why;
  if (!::testing::GTEST_FLAG(list_tests) && !onnxd::cuda::CudaDeviceAvailable(&why)) {
    const char* slash = std::strrchr(argv[0], '/');
    std::printf("%s: SKIPPED, no CUDA device: %s\n", slash ? slash + 1 : argv[0], why.c_str());
    return 77;
  }
  return RUN_ALL_TESTS();
}
