#pragma once

namespace onnxd::testing {
// Counts heap allocations made by any thread between the two calls.
void StartCountingAllocations();
long StopCountingAllocations();
}  // namespace onnxd::testing
