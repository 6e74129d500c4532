// Sleeping on a 32-bit word and waking its sleepers, straight through the futex system call: the
// engine's intra-op pool and the server's worker pool block this way.
//
// Not std::atomic<T>::wait / notify: libstdc++ 12's wait first spins and calls sched_yield a dozen
// times, and notify_one still wakes every waiter of a word it cannot tell apart. Both burn the
// cores a many-core server's other requests need (16 intra-op threads woken for every small loop).
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace onnxd {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

// Blocks while `word` holds `seen` (returns at once if it no longer does; may return spuriously).
inline void FutexWait(std::atomic<uint32_t>& word, uint32_t seen) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, seen, nullptr, nullptr, 0);
}

// Wakes up to `count` threads blocked on `word`.
inline void FutexWake(std::atomic<uint32_t>& word, int count) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
}

}  // namespace onnxd
