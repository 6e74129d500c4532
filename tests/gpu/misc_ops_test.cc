// The Pad and Tile kernels (kernels/cuda/misc_ops.h) against a host loop over the same index
// functions (kernels/cuda/pad_tile_math.h, themselves checked against the CPU ops on the CPU in
// tests/engine/kernels/cuda/pad_tile_math_test.cc): what is left to check here is the launch,
// every element size (1, 2, 4, 8 bytes) and partial blocks.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/cuda/misc_ops.h"

namespace onnxd::cuda {
namespace {

class MiscOpsTest : public testing::DeviceTest {
 protected:
  template <typename E>
  void CheckPad(const std::vector<int64_t>& dims, PadMode mode, const std::vector<int64_t>& pads, E constant) {
    PadTileGeometry g;
    ASSERT_EQ(MakePadGeometry(dims.data(), static_cast<int>(dims.size()), mode, pads.data(),
                              static_cast<int>(pads.size()), nullptr, 0, &g),
              "");
    Check<E>(dims, g, true, constant);
  }

  template <typename E>
  void CheckTile(const std::vector<int64_t>& dims, const std::vector<int64_t>& repeats) {
    PadTileGeometry g;
    ASSERT_EQ(MakeTileGeometry(dims.data(), static_cast<int>(dims.size()), repeats.data(),
                               static_cast<int>(repeats.size()), &g),
              "");
    Check<E>(dims, g, false, E{});
  }

  template <typename E>
  void Check(const std::vector<int64_t>& dims, const PadTileGeometry& g, bool pad, E constant) {
    int64_t n_in = 1;
    for (int64_t d : dims) n_in *= d;
    std::vector<E> x(static_cast<size_t>(n_in));
    std::mt19937_64 rng(static_cast<uint64_t>(n_in) * 31 + sizeof(E));
    for (E& v : x) v = static_cast<E>(rng());
    const int64_t n = PadTileOutputElements(g);
    std::vector<E> want(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t src = pad ? PadSourceOffset<int64_t>(g, i) : TileSourceOffset<int64_t>(g, i);
      want[static_cast<size_t>(i)] = src < 0 ? constant : x[static_cast<size_t>(src)];
    }
    DeviceBuffer in = Up(x);
    DeviceBuffer out = Out(static_cast<size_t>(n) * sizeof(E));
    uint64_t bits = 0;
    std::memcpy(&bits, &constant, sizeof(E));
    Status st = pad ? Pad(in.data(), out.data(), g, bits, sizeof(E), stream_->get())
                    : Tile(in.data(), out.data(), g, sizeof(E), stream_->get());
    ASSERT_TRUE(st.ok()) << st.message();
    const std::vector<E> got = Down<E>(out, static_cast<size_t>(n));
    int bad = 0;
    for (size_t i = 0; i < got.size(); ++i)
      if (got[i] != want[i] && ++bad <= 5) ADD_FAILURE() << "element " << i;
    EXPECT_EQ(bad, 0) << "of " << n << " elements (" << sizeof(E) << "-byte elements)";
  }
};

TEST_F(MiscOpsTest, PadEveryModeAndElementSize) {
  for (PadMode mode : {PadMode::kConstant, PadMode::kReflect, PadMode::kEdge, PadMode::kWrap}) {
    SCOPED_TRACE(static_cast<int>(mode));
    CheckPad<float>({2, 3, 17, 19}, mode, {0, 0, 1, 2, 0, 0, 2, 1}, 1.5f);
    CheckPad<uint16_t>({3, 33, 5}, mode, {1, 2, 0, 0, 3, 4}, uint16_t{0x3c00});  // fp16 1.0
    CheckPad<int64_t>({5, 7}, mode, {-1, 3, 2, -2}, int64_t{-7});
    CheckPad<uint8_t>({1, 2, 3, 4, 5, 6}, mode, {0, 1, 0, 1, 2, 1, 1, 0, 1, 0, 1, 2}, uint8_t{1});
  }
  // Large enough for several blocks a thread... and an empty output.
  CheckPad<float>({4, 64, 56, 56}, PadMode::kConstant, {0, 0, 1, 1, 0, 0, 1, 1}, 0.f);
  CheckPad<float>({4, 0, 3}, PadMode::kConstant, {0, 0, 1, 0, 0, 1}, 2.f);
}

TEST_F(MiscOpsTest, TileEveryElementSize) {
  CheckTile<float>({3, 5, 7}, {2, 3, 4});
  CheckTile<uint16_t>({1, 33}, {65, 2});
  CheckTile<int64_t>({2, 1, 3, 1, 2, 1}, {1, 4, 1, 3, 2, 5});
  CheckTile<uint8_t>({257}, {3});
  CheckTile<float>({2, 3}, {0, 2});
}

}  // namespace
}  // namespace onnxd::cuda
