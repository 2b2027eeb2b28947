// bench/ring_machine.cpp: the machine and build facts ring_bench writes into its metadata that
// lanes_support's run_info does not give in ring_bench's format (git status, load averages,
// kernel, compiler), and the timer rate.
#include <sys/utsname.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "bench_common.hpp"
#include "ring_bench.hpp"

namespace lanes_bench {

std::string git(const std::string& args) {
  std::string out = command_output("git -C '" LANES_SOURCE_DIR "' " + args + " 2>/dev/null");
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

std::string kernel() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return std::string(u.sysname) + " " + u.release + " " + u.machine;
}

const char* compiler() {
#if defined(__clang__)
  return "clang " __VERSION__;
#elif defined(__GNUC__)
  return "gcc " __VERSION__;
#else
  return __VERSION__;
#endif
}

// Timer rate over 20 ms of the main thread's spinning (no other thread runs yet).
double measure_ticks_per_ns() {
  const std::uint64_t ns0 = now_ns();
  const std::uint64_t t0 = ticks();
  std::uint64_t ns1 = ns0;
  while (ns1 - ns0 < 20'000'000) ns1 = now_ns();
  return static_cast<double>(ticks() - t0) / static_cast<double>(ns1 - ns0);
}

}  // namespace lanes_bench
