// Kernel execution for onnxd's CUDA emulator: blocks run one after another on the launching host
// thread; the threads of a block are fibers switched at barriers (device.h explains the model).
#include "device.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "emu.h"
#include "internal.h"

#if !defined(__x86_64__)
#error "the CUDA emulator's fiber switch is written for x86-64"
#endif

// onnxd_emu_switch(save, load): saves the callee-saved registers on the current stack, stores its
// pointer in *save, and resumes the stack `load` (saved the same way, or prepared by NewFiberStack).
// The floating-point control state (MXCSR, x87 control word) is not switched: no fiber changes it.
// onnxd_emu_entry starts a fiber: FiberMain(r12 = its BlockRun).
extern "C" void onnxd_emu_switch(void** save, void* load);
extern "C" void onnxd_emu_entry();
asm(R"(
  .text
  .globl onnxd_emu_switch
  .type onnxd_emu_switch, @function
onnxd_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size onnxd_emu_switch, .-onnxd_emu_switch

  .globl onnxd_emu_entry
  .type onnxd_emu_entry, @function
onnxd_emu_entry:
  movq %r12, %rdi
  callq *%r13
  ud2
  .size onnxd_emu_entry, .-onnxd_emu_entry
)");

namespace onnxd::cuda_emu {
namespace {

constexpr size_t kStackBytes = 256 * 1024;
constexpr size_t kGuardBytes = 4096;

enum class FiberState { kReady, kAtBlockBarrier, kAtWarpBarrier, kDone };

struct Fiber {
  void* sp = nullptr;
  FiberState state = FiberState::kReady;
  unsigned char exchange_phase = 0;  // which of its warp's two exchange sets this lane uses next
  ThreadPosition pos{};
};

struct BlockRun {
  const std::function<void()>* body = nullptr;
  const void* kernel = nullptr;  // named (by address) only in a deadlock's message
  std::vector<Fiber> fibers;
  // The order a pass runs the fibers in (ONNXD_CUDA_EMU_ORDER): a kernel whose result depends on it
  // has threads that read what others write with no barrier between (a race on the GPU).
  std::vector<unsigned> order;
  unsigned pos = 0;  // the running fiber's place in `order`
  unsigned current = 0;
  unsigned done = 0;  // fibers finished
  void* scheduler_sp = nullptr;
  std::vector<unsigned char> dynamic_smem;
  // Two sets of 32 lanes x 8 bytes per warp, used in turn: a lane can write its next exchange's
  // value while a slower lane still reads this one's.
  std::vector<uint64_t> warp_slots;
};

thread_local BlockRun* t_run = nullptr;

// Fiber stacks, kept for the host thread's later blocks. Each has a guard page below it, so an
// overflow faults instead of writing over the neighbouring stack.
struct StackPool {
  std::vector<char*> stacks;
  ~StackPool() {
    for (char* s : stacks) munmap(s, kStackBytes + kGuardBytes);
  }
  char* Top(size_t i) {
    while (stacks.size() <= i) {
      void* m = mmap(nullptr, kStackBytes + kGuardBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) {
        std::fprintf(stderr, "cuda_emu: cannot map a fiber stack\n");
        std::abort();
      }
      mprotect(m, kGuardBytes, PROT_NONE);
      stacks.push_back(static_cast<char*>(m));
    }
    return stacks[i] + kGuardBytes + kStackBytes;
  }
};
thread_local StackPool t_stacks;

// Leaves the running fiber (its state already set) for the next ready fiber after it in this pass
// over the block, or for the scheduler when there is none: one switch per fiber step, not two.
void SwitchOnward(BlockRun* run, void** save) {
  const unsigned n = static_cast<unsigned>(run->fibers.size());
  for (unsigned p = run->pos + 1; p < n; ++p) {
    const unsigned t = run->order[p];
    if (run->fibers[t].state == FiberState::kReady) {
      run->pos = p;
      run->current = t;
      onnxd_emu_switch(save, run->fibers[t].sp);
      return;
    }
  }
  onnxd_emu_switch(save, run->scheduler_sp);
}

[[noreturn]] void FiberMain(BlockRun* run) {
  (*run->body)();
  run->fibers[run->current].state = FiberState::kDone;
  ++run->done;
  void* dead = nullptr;
  SwitchOnward(run, &dead);
  std::abort();  // a finished fiber is never resumed
}

void* NewFiberStack(char* top, BlockRun* run) {
  auto* sp = reinterpret_cast<uint64_t*>(top);
  // `top` is 16-byte aligned: after the ret rsp == top, so onnxd_emu_entry's call enters FiberMain
  // with rsp % 16 == 8, as the ABI wants.
  *--sp = reinterpret_cast<uint64_t>(&onnxd_emu_entry);  // ret
  *--sp = 0;                                              // rbp
  *--sp = 0;                                              // rbx
  *--sp = reinterpret_cast<uint64_t>(run);                // r12
  *--sp = reinterpret_cast<uint64_t>(&FiberMain);         // r13
  *--sp = 0;                                              // r14
  *--sp = 0;                                              // r15
  return sp;
}

// Suspends the running fiber in `state` until the scheduler releases it.
void Wait(FiberState state) {
  BlockRun* run = t_run;
  if (run == nullptr) {
    std::fprintf(stderr, "cuda_emu: a barrier outside a kernel\n");
    std::abort();
  }
  Fiber& f = run->fibers[run->current];
  f.state = state;
  SwitchOnward(run, &f.sp);
}

std::string Describe(const BlockRun& run) {
  std::string s;
  for (size_t i = 0; i < run.fibers.size(); ++i) {
    const char* what = "";
    switch (run.fibers[i].state) {
      case FiberState::kAtBlockBarrier: what = "__syncthreads"; break;
      case FiberState::kAtWarpBarrier: what = "a warp barrier (__syncwarp, shuffle, wmma)"; break;
      case FiberState::kDone: what = "exited"; break;
      case FiberState::kReady: what = "ready"; break;
    }
    if (i == 0 || run.fibers[i].state != run.fibers[i - 1].state) s += "\n  thread " + std::to_string(i) + "+: " + what;
  }
  return s;
}

// Releases every barrier all its live participants have reached; false when none was.
bool ReleaseBarriers(BlockRun& run) {
  bool released = false;
  const size_t n = run.fibers.size();
  bool all_block = true, any_block = false;
  for (const Fiber& f : run.fibers) {
    if (f.state == FiberState::kDone) continue;
    if (f.state == FiberState::kAtBlockBarrier) any_block = true;
    else all_block = false;
  }
  if (any_block && all_block) {
    for (Fiber& f : run.fibers)
      if (f.state == FiberState::kAtBlockBarrier) f.state = FiberState::kReady;
    return true;
  }
  for (size_t w = 0; w < n; w += 32) {
    const size_t end = std::min(n, w + 32);
    bool all = true, any = false;
    for (size_t i = w; i < end; ++i) {
      const FiberState s = run.fibers[i].state;
      if (s == FiberState::kDone) continue;
      if (s == FiberState::kAtWarpBarrier) any = true;
      else all = false;
    }
    if (any && all) {
      for (size_t i = w; i < end; ++i)
        if (run.fibers[i].state == FiberState::kAtWarpBarrier) run.fibers[i].state = FiberState::kReady;
      released = true;
    }
  }
  return released;
}

// ONNXD_CUDA_EMU_ORDER: "forward" (default, thread 0 first), "reverse", or "shuffle" (a fixed
// pseudo-random order per block).
enum class Order { kForward, kReverse, kShuffle };
Order RunOrder() {
  static const Order o = [] {
    const char* e = std::getenv("ONNXD_CUDA_EMU_ORDER");
    const std::string s = e != nullptr ? e : "";
    return s == "reverse" ? Order::kReverse : s == "shuffle" ? Order::kShuffle : Order::kForward;
  }();
  return o;
}

void SetOrder(BlockRun& run, unsigned threads, uint3 block) {
  run.order.resize(threads);
  std::iota(run.order.begin(), run.order.end(), 0u);
  switch (RunOrder()) {
    case Order::kForward: break;
    case Order::kReverse: std::reverse(run.order.begin(), run.order.end()); break;
    case Order::kShuffle:
      std::shuffle(run.order.begin(), run.order.end(), std::mt19937(block.x * 73856093u ^ block.y * 19349663u ^ block.z * 83492791u));
      break;
  }
}

void RunBlock(BlockRun& run, uint3 block, dim3 block_dim, dim3 grid_dim) {
  const unsigned threads = block_dim.x * block_dim.y * block_dim.z;
  run.fibers.assign(threads, Fiber{});
  SetOrder(run, threads, block);
  for (unsigned t = 0; t < threads; ++t) {
    Fiber& f = run.fibers[t];
    f.pos.thread = uint3{t % block_dim.x, (t / block_dim.x) % block_dim.y, t / (block_dim.x * block_dim.y)};
    f.pos.block = block;
    f.pos.block_dim = block_dim;
    f.pos.grid_dim = grid_dim;
    f.pos.linear = t;
    f.sp = NewFiberStack(t_stacks.Top(t), &run);
  }
  if (!run.dynamic_smem.empty()) std::memset(run.dynamic_smem.data(), 0xff, run.dynamic_smem.size());
  run.done = 0;
  // Each pass starts the first ready fiber; fibers hand over to the next ready one themselves
  // (SwitchOnward), and the last of the pass comes back here.
  for (;;) {
    unsigned first = 0;
    while (first < threads && run.fibers[run.order[first]].state != FiberState::kReady) ++first;
    if (first < threads) {
      run.pos = first;
      run.current = run.order[first];
      onnxd_emu_switch(&run.scheduler_sp, run.fibers[run.current].sp);
      continue;
    }
    if (run.done == threads) return;
    if (!ReleaseBarriers(run)) {
      std::fprintf(stderr, "cuda_emu: deadlock in kernel %p, block (%u, %u, %u): the threads wait at different barriers:%s\n",
                   run.kernel, block.x, block.y, block.z, Describe(run).c_str());
      std::abort();
    }
  }
}

}  // namespace

const ThreadPosition& Position() {
  if (t_run == nullptr) {
    std::fprintf(stderr, "cuda_emu: threadIdx/blockIdx read outside a kernel\n");
    std::abort();
  }
  return t_run->fibers[t_run->current].pos;
}

void SyncThreads() { Wait(FiberState::kAtBlockBarrier); }
void SyncWarp(unsigned) { Wait(FiberState::kAtWarpBarrier); }

void* DynamicShared() { return t_run->dynamic_smem.empty() ? nullptr : t_run->dynamic_smem.data(); }

uint64_t WarpExchange(uint64_t mine, unsigned src_lane) {
  // Every lane of the warp takes part in every exchange, so each lane's count of exchanges is the
  // warp's, and the lane's own phase bit (flipped per exchange) names the set. A lane writes a set
  // again two exchanges later, after the barrier of the exchange in between, which no lane reaches
  // before it has read this one.
  BlockRun* run = t_run;
  const unsigned t = run->current;
  unsigned char& phase = run->fibers[t].exchange_phase;
  uint64_t* set = run->warp_slots.data() + ((t / 32) * 2 + phase) * 32;
  phase ^= 1;
  set[t % 32] = mine;
  SyncWarp(0xffffffffu);
  return set[src_lane];
}

void Launch(const void* kernel, dim3 grid, dim3 block, size_t dynamic_smem, cudaStream_t stream,
            std::function<void()> body) {
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0 || threads > kMaxThreadsPerBlock || block.z > 64 ||
      grid.y > 65535 || grid.z > 65535) {
    std::fprintf(stderr, "cuda_emu: launch refused: grid (%u, %u, %u), block (%u, %u, %u)\n", grid.x, grid.y, grid.z,
                 block.x, block.y, block.z);
    SetLastError(cudaErrorInvalidConfiguration);
    return;
  }
  const size_t allowed = std::max(kDefaultSharedMemoryPerBlock, MaxDynamicSharedMemory(kernel));
  if (dynamic_smem > allowed) {
    std::fprintf(stderr, "cuda_emu: launch refused: %zu bytes of dynamic shared memory, %zu allowed\n", dynamic_smem,
                 allowed);
    SetLastError(cudaErrorInvalidValue);
    return;
  }
  Enqueue(stream, [kernel, grid, block, dynamic_smem, body = std::move(body)]() {
    BlockRun run;
    run.body = &body;
    run.kernel = kernel;
    run.dynamic_smem.resize(dynamic_smem);
    run.warp_slots.resize(((block.x * block.y * block.z + 31) / 32) * 2 * 32);
    BlockRun* outer = t_run;
    t_run = &run;
    for (unsigned z = 0; z < grid.z; ++z)
      for (unsigned y = 0; y < grid.y; ++y)
        for (unsigned x = 0; x < grid.x; ++x) RunBlock(run, uint3{x, y, z}, block, grid);
    t_run = outer;
  });
}

}  // namespace onnxd::cuda_emu
