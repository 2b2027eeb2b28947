// lanes_support/cpu_affinity.hpp: pinning the calling thread to one CPU, for the benchmarks'
// pinned pairs and `lanes perf`'s placement plan (the one copy of it).
// Linux only (pthread_setaffinity_np). Cold path: call it once, at the start of a thread.
#pragma once

#include <pthread.h>
#include <sched.h>

namespace lanes_support {

// Moves the calling thread onto CPU `cpu` and keeps it there; a negative cpu leaves the thread
// where it is. True when the thread is where it was asked to be (always for a negative cpu),
// false when the kernel refused (no such CPU, or not in this process's allowed set).
inline bool pin_this_thread(int cpu) noexcept {
  if (cpu < 0) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set) == 0;
}

}  // namespace lanes_support
