// A counting allocator hook for the whole test binary: every malloc-family call (operator new ends
// in malloc too) increments a counter while counting is switched on. Used to prove that a
// steady-state Session::Run makes no heap allocation.
#include "alloc_hook.h"

#include <atomic>
#include <cstddef>
#include <cstdlib>

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
}

namespace onnxd::testing {
namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_count{0};
inline void Count() {
  if (g_counting.load(std::memory_order_relaxed)) g_count.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

void StartCountingAllocations() {
  g_count.store(0);
  g_counting.store(true);
}
long StopCountingAllocations() {
  g_counting.store(false);
  return g_count.load();
}
}  // namespace onnxd::testing

extern "C" {
void* malloc(size_t n) {
  onnxd::testing::Count();
  return __libc_malloc(n);
}
void* calloc(size_t a, size_t b) {
  onnxd::testing::Count();
  return __libc_calloc(a, b);
}
void* realloc(void* p, size_t n) {
  onnxd::testing::Count();
  return __libc_realloc(p, n);
}
void* aligned_alloc(size_t align, size_t n) {
  onnxd::testing::Count();
  return __libc_memalign(align, n);
}
void* memalign(size_t align, size_t n) {
  onnxd::testing::Count();
  return __libc_memalign(align, n);
}
int posix_memalign(void** out, size_t align, size_t n) {
  onnxd::testing::Count();
  void* p = __libc_memalign(align, n);
  if (p == nullptr) return 12;  // ENOMEM
  *out = p;
  return 0;
}
}
