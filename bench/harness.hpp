// bench/harness.hpp: two pinned threads measuring one queue: throughput and round-trip time.
//
// Every measurement runs exactly two busy threads, thread A on CPU 0 (the producer; in a
// round trip, the side that sends and times) and thread B on CPU 1 (the consumer; in a
// round trip, the echo). The main thread only waits in join(), so no more threads spin than
// the machine has cores.
//
// Each run builds fresh queues, then, untimed, passes one full lap of items through each
// queue (touching every slot, faulting its pages in, leaving indices at the wrap), meets at
// a spin barrier, and only then starts the clock. Every item carries a sequence number that
// the receiver checks, so a queue that loses, duplicates or reorders an item fails the run.
// A short ping-pong probe before and after each run records where the hypervisor had put
// the two vCPUs (placement_probe), so that runs in different placements are not compared.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "lanes_support/cpu_affinity.hpp"
#include "lanes_support/histogram.hpp"
#include "queue_adapters.hpp"
#include <lanes/clock.hpp>
#include <lanes/platform.hpp>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace lanes_bench {

inline constexpr int kProducerCpu = 0;
inline constexpr int kConsumerCpu = 1;

// ---- clocks ----

// lanes::steady_ns() (the steady clock of every lanes wait), unsigned: the benchmarks take
// differences of readings that only move forward.
inline std::uint64_t now_ns() noexcept { return static_cast<std::uint64_t>(lanes::steady_ns()); }

// Cheapest timestamp for per-trip timing: the TSC on x86 (converted to ns per run against
// steady_clock), steady_clock elsewhere.
inline std::uint64_t ticks() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  return __rdtsc();
#else
  return now_ns();
#endif
}

inline const char* tick_source() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  return "rdtsc, calibrated per run against steady_clock";
#else
  return "steady_clock";
#endif
}

// The timer's step in ticks, measured once: 1 when the timer moves by one tick at a time
// (resolution limited only by the cost of reading it), more when it moves in coarse steps
// (the TSC of some AMD parts and VMs advances ~26 ticks every 10 ns). Found by timing
// intervals of varied length: with a stepped timer they all read within a tick of a
// multiple of the step.
inline double timer_step_ticks() {
  static const double step = [] {
    std::vector<std::uint64_t> gaps;
    for (int i = 0; i < 20000; ++i) {
      const std::uint64_t a = ticks();
      const std::uint64_t b = ticks();
      gaps.push_back(b - a);
    }
    std::sort(gaps.begin(), gaps.end());
    std::uint64_t mode = 1;
    std::size_t best = 0;
    for (std::size_t i = 0; i < gaps.size();) {
      std::size_t j = i;
      while (j < gaps.size() && gaps[j] == gaps[i]) ++j;
      if (gaps[i] > 1 && j - i > best) {
        best = j - i;
        mode = gaps[i];
      }
      i = j;
    }
    if (mode < 4) return 1.0;
    int on_step = 0;
    constexpr int trials = 2000;
    volatile std::uint64_t sink = 0;
    for (int i = 0; i < trials; ++i) {
      const std::uint64_t a = ticks();
      for (int k = 0; k < i % 97; ++k) sink = sink + 1;
      const std::uint64_t r = (ticks() - a) % mode;
      on_step += (r <= 1 || r + 1 >= mode) ? 1 : 0;
    }
    return on_step >= trials * 9 / 10 ? static_cast<double>(mode) : 1.0;
  }();
  return step;
}

// ---- threads ----

using lanes_support::pin_this_thread;

// Two counters on separate cache lines: A stores s into `ping` and spins until `pong` shows
// s; B spins until `ping` shows s and stores s into `pong`. One trip is two cache-line
// transfers, one each way: the physical floor of any round trip between the two cores.
class pingpong_lines {
 public:
  void ping(std::uint64_t s) noexcept {               // thread A
    ping_.value.store(s, std::memory_order_release);  // (A1) pairs with (B1)
    while (pong_.value.load(std::memory_order_acquire) != s) lanes::cpu_relax();  // (A2)
  }
  void echo(std::uint64_t s) noexcept {                                           // thread B
    while (ping_.value.load(std::memory_order_acquire) != s) lanes::cpu_relax();  // (B1)
    pong_.value.store(s, std::memory_order_release);  // (B2) pairs with (A2)
  }

 private:
  struct alignas(lanes::cache_line_size) line {
    std::atomic<std::uint64_t> value{0};
  };
  line ping_;
  line pong_;
};

// Where the two vCPUs sit decides every number: on the shared test machines the hypervisor
// moves them between a near placement (ping-pong ~85 ns) and a far one (~330 ns, about 4x
// slower for every queue). So each run is bracketed by a short ping-pong probe on its own
// threads: the least mean trip time of a few batches (preemption can only add time).
class placement_probe {
 public:
  static constexpr int batches = 5;
  static constexpr std::uint64_t trips_per_batch = 400;

  double run_a() noexcept {  // thread A: returns ns per trip
    double best = 1e300;
    for (int b = 0; b < batches; ++b) {
      const std::uint64_t t0 = now_ns();
      for (std::uint64_t i = 0; i < trips_per_batch; ++i) lines_.ping(++seq_a_);
      const double per_trip = static_cast<double>(now_ns() - t0) / trips_per_batch;
      best = per_trip < best ? per_trip : best;
    }
    return best;
  }
  void run_b() noexcept {  // thread B
    for (std::uint64_t i = 0; i < batches * trips_per_batch; ++i) lines_.echo(++seq_b_);
  }

 private:
  pingpong_lines lines_;
  std::uint64_t seq_a_ = 0;                                  // touched by A only
  alignas(lanes::cache_line_size) std::uint64_t seq_b_ = 0;  // touched by B only
};

struct pair_outcome {
  bool pinned = false;            // both threads were pinned to their CPU
  double floor_before_ns = 0;     // placement probe right before the measurement
  double floor_after_ns = 0;      // and right after it
  std::uint64_t preemptions = 0;  // involuntary context switches of both threads meanwhile
};

// Involuntary context switches of the calling thread so far: another task took its CPU.
// On a shared two-core machine that is the sign of a run that competed for its cores.
inline std::uint64_t involuntary_switches() noexcept {
  rusage u{};
  if (getrusage(RUSAGE_THREAD, &u) != 0) return 0;
  return static_cast<std::uint64_t>(u.ru_nivcsw);
}

// Runs a() on CPU 0 and b() on CPU 1 concurrently, each between two placement probes, and
// waits for both. The functions run even if pinning fails.
template <class A, class B>
pair_outcome run_pinned_pair(A&& a, B&& b) {
  auto probe = std::make_unique<placement_probe>();
  pair_outcome out;
  bool pinned_a = false;
  bool pinned_b = false;
  std::uint64_t switched_a = 0;
  std::uint64_t switched_b = 0;
  std::thread ta([&] {
    pinned_a = pin_this_thread(kProducerCpu);
    const std::uint64_t s0 = involuntary_switches();
    out.floor_before_ns = probe->run_a();
    a();
    out.floor_after_ns = probe->run_a();
    switched_a = involuntary_switches() - s0;
  });
  std::thread tb([&] {
    pinned_b = pin_this_thread(kConsumerCpu);
    const std::uint64_t s0 = involuntary_switches();
    probe->run_b();
    b();
    probe->run_b();
    switched_b = involuntary_switches() - s0;
  });
  ta.join();
  tb.join();
  out.pinned = pinned_a && pinned_b;
  out.preemptions = switched_a + switched_b;
  return out;
}

// Both threads spin here until the other arrives (two parties, one use).
class start_barrier {
 public:
  void arrive_and_wait() noexcept {
    arrived_.fetch_add(1, std::memory_order_acq_rel);
    while (arrived_.load(std::memory_order_acquire) < 2) lanes::cpu_relax();
  }

 private:
  alignas(lanes::cache_line_size) std::atomic<int> arrived_{0};
};

// ---- spin loops on a queue's single-item API ----

// Each adds its failed attempts (queue full, queue empty) to `waits`: per item, they show
// which regime a throughput run was in (see measure_throughput).

template <class Q>
void push_spin(Q& q, const typename Q::value_type& v, std::uint64_t& waits) noexcept {
  while (!q.try_push(v)) {
    ++waits;
    lanes::cpu_relax();
  }
}

template <class Q>
typename Q::value_type pop_spin(Q& q, std::uint64_t& waits) noexcept {
  typename Q::value_type v{};  // (initialised only to keep -Wmaybe-uninitialized quiet)
  while (!q.try_pop(v)) {
    ++waits;
    lanes::cpu_relax();
  }
  return v;
}

// Pushes items with sequence numbers [first, first + n).
template <class Q>
void push_range(Q& q, std::uint64_t first, std::uint64_t n, std::uint64_t& waits) noexcept {
  using T = typename Q::value_type;
  for (std::uint64_t s = first; s != first + n; ++s) push_spin(q, make_item<T>(s), waits);
}

// Pops n items and checks that they carry [first, first + n) in order.
template <class Q>
bool pop_range(Q& q, std::uint64_t first, std::uint64_t n, std::uint64_t& waits) noexcept {
  bool ok = true;
  for (std::uint64_t s = first; s != first + n; ++s) ok &= seq_of(pop_spin(q, waits)) == s;
  return ok;
}

// ---- measurements ----

struct run_result {
  bool ok = true;              // every item arrived once, in order
  bool pinned = true;          // both threads were pinned to their CPU
  double floor_before_ns = 0;  // placement probes (ping-pong ns per trip) around the run
  double floor_after_ns = 0;
  std::uint64_t preemptions = 0;  // involuntary context switches of the two threads
  std::uint64_t count = 0;        // items (throughput) or round trips
  double seconds = 0;             // wall time of the timed part
  double items_per_s = 0;         // throughput runs
  double full_waits = 0;          // throughput runs: failed pushes per item (ring full)
  double empty_waits = 0;         // throughput runs: failed pops per item (ring empty)
  double p50_ns = 0;              // round-trip runs: median per trip, smoothed over the timer step
  double p50_raw_ns = 0;          // median per trip as read, in whole timer steps
  double p99_ns = 0;
  double p999_ns = 0;
  double max_ns = 0;
  double mean_ns = 0;  // timed wall time / trips (includes the timestamp reads)

  void take(const pair_outcome& o) noexcept {
    pinned = o.pinned;
    preemptions = o.preemptions;
    floor_before_ns = o.floor_before_ns;
    floor_after_ns = o.floor_after_ns;
  }
};

// Throughput: A pushes `count` items as fast as the queue takes them, B pops them. Time runs
// from A's start (after the barrier) to B's last pop.
//
// Such a run settles in one of two regimes, depending on which side is slower: the consumer
// keeps up (the ring is near empty, every item is handed over as a cache-line transfer, and
// throughput follows the core-to-core latency), or the consumer falls behind (the ring
// stays near full and, with cached indices, both sides stream through memory without
// touching each other's lines). A small change in per-item cost can flip a queue from one
// to the other, so each run reports its failed pops (empty) and pushes (full) per item.
template <class Q>
run_result measure_throughput(std::size_t capacity, std::uint64_t count) {
  auto q = std::make_unique<Q>(capacity);
  start_barrier start;
  std::uint64_t t_begin = 0;
  std::uint64_t t_end = 0;
  bool ok = true;
  std::uint64_t full = 0, empty = 0;
  const std::uint64_t first = capacity + 1;  // sequence numbers after the warm-up lap
  run_result r;
  // Whatever a thread updates while the other runs is a local of its own lambda, published
  // once at the end: shared stack variables would put both threads on one cache line.
  r.take(run_pinned_pair(
      [&] {
        std::uint64_t waits = 0;
        push_range(*q, 1, capacity, waits);
        start.arrive_and_wait();
        t_begin = now_ns();
        waits = 0;
        push_range(*q, first, count, waits);
        full = waits;
      },
      [&] {
        std::uint64_t waits = 0;
        bool ok_b = pop_range(*q, 1, capacity, waits);
        start.arrive_and_wait();
        waits = 0;
        ok_b &= pop_range(*q, first, count, waits);
        t_end = now_ns();
        empty = waits;
        ok = ok_b;
      }));
  r.ok = ok;
  r.full_waits = static_cast<double>(full) / static_cast<double>(count);
  r.empty_waits = static_cast<double>(empty) / static_cast<double>(count);
  r.count = count;
  r.seconds = static_cast<double>(t_end - t_begin) * 1e-9;
  r.items_per_s = static_cast<double>(count) / r.seconds;
  return r;
}

// Untimed round trips before the timed ones, so both threads are in their steady loop.
inline constexpr std::uint64_t kWarmTrips = 1000;

// Fills a run_result from a per-trip histogram in ticks and the timed interval measured in
// both ticks and nanoseconds (which gives the tick rate for this run).
inline void finish_round_trip(run_result& r, const log_linear_histogram& h, std::uint64_t trips,
                              std::uint64_t tick0, std::uint64_t tick1, std::uint64_t ns0,
                              std::uint64_t ns1) {
  const double ns = static_cast<double>(ns1 - ns0);
  const double ns_per_tick = ns / static_cast<double>(tick1 - tick0);
  r.count = trips;
  r.seconds = ns * 1e-9;
  r.p50_ns = h.smoothed_quantile(0.50, timer_step_ticks()) * ns_per_tick;
  r.p50_raw_ns = h.quantile(0.50) * ns_per_tick;
  r.p99_ns = h.quantile(0.99) * ns_per_tick;
  r.p999_ns = h.quantile(0.999) * ns_per_tick;
  r.max_ns = static_cast<double>(h.max()) * ns_per_tick;
  r.mean_ns = ns / static_cast<double>(trips);
}

// Times `trips` calls of trip(s) for s = first, first + 1, ... (after kWarmTrips untimed
// ones) one by one into `h`, and the whole loop into [tick0, tick1] and [ns0, ns1].
struct timed_loop {
  std::uint64_t tick0 = 0, tick1 = 0, ns0 = 0, ns1 = 0;

  template <class Trip>
  void run(log_linear_histogram& h, std::uint64_t first, std::uint64_t trips, Trip&& trip) {
    for (std::uint64_t s = first; s != first + kWarmTrips; ++s) trip(s);
    ns0 = now_ns();
    tick0 = ticks();
    for (std::uint64_t s = first + kWarmTrips; s != first + kWarmTrips + trips; ++s) {
      const std::uint64_t t0 = ticks();
      trip(s);
      const std::uint64_t t1 = ticks();
      h.record(t1 - t0);
    }
    tick1 = ticks();
    ns1 = now_ns();
  }
};

// Round trip through two queues of the same kind: A pushes an item into `there`, B pops it
// and pushes it into `back`, A pops it. A times each trip from just before its push to just
// after its pop.
template <class Q>
run_result measure_round_trip(std::size_t capacity, std::uint64_t trips) {
  using T = typename Q::value_type;
  auto there = std::make_unique<Q>(capacity);
  auto back = std::make_unique<Q>(capacity);
  auto hist = std::make_unique<log_linear_histogram>();
  start_barrier start;
  timed_loop loop;
  bool ok_a = true;
  bool ok_b = true;
  const std::uint64_t first = capacity + 1;  // sequence numbers after the warm-up laps
  run_result r;
  // Per-thread state lives in each lambda (see measure_throughput); waits are not reported.
  r.take(run_pinned_pair(
      [&] {
        std::uint64_t waits = 0;
        bool ok = true;
        push_range(*there, 1, capacity, waits);
        ok &= pop_range(*back, 1, capacity, waits);
        start.arrive_and_wait();
        loop.run(*hist, first, trips, [&](std::uint64_t s) {
          push_spin(*there, make_item<T>(s), waits);
          ok &= seq_of(pop_spin(*back, waits)) == s;
        });
        ok_a = ok;
      },
      [&] {
        std::uint64_t waits = 0;
        bool ok = pop_range(*there, 1, capacity, waits);
        push_range(*back, 1, capacity, waits);
        start.arrive_and_wait();
        for (std::uint64_t i = 0; i != kWarmTrips + trips; ++i) {
          push_spin(*back, pop_spin(*there, waits), waits);
        }
        ok_b = ok;
      }));
  r.ok = ok_a && ok_b;
  finish_round_trip(r, *hist, trips, loop.tick0, loop.tick1, loop.ns0, loop.ns1);
  return r;
}

// The floor: the same round trip with no queue, just the two cache lines of pingpong_lines.
inline run_result measure_pingpong(std::size_t /*capacity*/, std::uint64_t trips) {
  auto lines = std::make_unique<pingpong_lines>();
  auto hist = std::make_unique<log_linear_histogram>();
  start_barrier start;
  timed_loop loop;
  run_result r;
  r.take(run_pinned_pair(
      [&] {
        start.arrive_and_wait();
        loop.run(*hist, 1, trips, [&](std::uint64_t s) { lines->ping(s); });
      },
      [&] {
        start.arrive_and_wait();
        for (std::uint64_t s = 1; s != 1 + kWarmTrips + trips; ++s) lines->echo(s);
      }));
  finish_round_trip(r, *hist, trips, loop.tick0, loop.tick1, loop.ns0, loop.ns1);
  return r;
}

}  // namespace lanes_bench
