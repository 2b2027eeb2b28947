// bench/ring_bench_main.cpp: ring_bench, lanes' rings against peer queues, one producer and one
// consumer on two pinned cores. Measures throughput (items/s) and round-trip time (ns, median
// per trip) for 8-byte and 64-byte items, and the bare cache-line ping-pong as the floor of a
// round trip.
//
// Method (shared/BENCHMARKING.md): one warm-up round that is discarded (it also sizes each
// run to about --seconds), then --reps rounds in which every queue runs once per metric and
// item size, ours interleaved with peers, the order rotated by one queue each round. Ratios
// ours/peer are taken pair by pair within a round, then their median. Everything is written
// to a JSON file (--out) from which tools/bench_report.py renders BENCHMARKS.md.
//
//   ring_bench [--reps N] [--quick] [--seconds S] [--out PATH] [--only ID,ID,...]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "ring_bench.hpp"

namespace lanes_bench {
namespace {

// Cells in round order: for each item size, each metric, the queues in list order (those
// --only selects).
std::vector<cell> make_cells(const options& o) {
  auto selected = [&](const queue_entry& q) {
    return o.only.empty() || std::find(o.only.begin(), o.only.end(), q.id) != o.only.end();
  };
  std::vector<cell> cells;
  for (int s = 0; s < 2; ++s) {
    for (const metric m : {throughput, round_trip}) {
      for (const queue_entry& q : all_queues()) {
        if (selected(q) && q.run[m][s] != nullptr) {
          cells.push_back({&q, m, s, initial_count(m, o.quick), {}, {}, true});
        }
      }
    }
  }
  return cells;
}

// What the runs found across the whole benchmark.
struct run_state {
  bool pinned = true;  // every run could pin its threads
  bool all_ok = true;  // every queue passed its items intact
};

// One timed run of a cell, repeated while its placement was unstable (up to
// o.max_attempts); kept unless it is the warm-up round.
void run_cell(const options& o, int round, cell& c, run_state& st) {
  const queue_entry* q = c.queue;
  const metric m = c.m;
  const int s = c.size_index;
  run_result r = q->run[m][s](kCapacity, c.count);
  int attempts = 1;
  for (; !stable(r) && attempts < o.max_attempts; ++attempts) {
    print_run(c, round, r);
    r = q->run[m][s](kCapacity, c.count);
  }
  if (!r.pinned && st.pinned) {
    std::printf("WARNING: could not pin threads to CPUs %d and %d; results are unpinned\n",
                kProducerCpu, kConsumerCpu);
    st.pinned = false;
  }
  if (!r.ok) {
    std::printf("ERROR: %s lost, duplicated or reordered items\n", q->id);
    c.ok = false;
    st.all_ok = false;
  }
  print_run(c, round, r);
  if (round != 0) {
    c.runs.push_back(r);
    c.attempts.push_back(attempts);
  }
  // Size the next runs from this one: in the warm-up round, and whenever a run took
  // three times longer or shorter than wanted (the placement changed speeds several
  // fold). Rates compare across counts; every count is many laps of the ring.
  if (round == 0 || r.seconds > 3 * o.seconds || r.seconds < o.seconds / 3) {
    c.count = calibrated_count(m, r, o.seconds);
  }
}

// One round: for each item size and metric, every queue's cell once, starting `round`
// queues further down the table.
void run_round(const options& o, int round, std::vector<cell>& cells, run_state& st) {
  const auto& queues = all_queues();
  const std::size_t n_queues = queues.size();
  std::printf(round == 0 ? "warm-up round (discarded, sizes the runs)\n" : "round %d of %d\n",
              round, o.reps);
  for (int s = 0; s < 2; ++s) {
    for (const metric m : {throughput, round_trip}) {
      for (std::size_t k = 0; k < n_queues; ++k) {
        const queue_entry* q = &queues[(k + static_cast<std::size_t>(round)) % n_queues];
        auto it = std::find_if(cells.begin(), cells.end(), [&](const cell& c) {
          return c.queue == q && c.m == m && c.size_index == s;
        });
        if (it == cells.end()) continue;
        run_cell(o, round, *it, st);
      }
    }
  }
}

// The table printed at the end: each cell's median, min and max over the measured rounds.
void print_summary(const std::vector<cell>& cells) {
  std::printf("\n%-24s %-10s %4s %14s %24s\n", "queue", "metric", "B", "median", "min - max");
  for (const cell& c : cells) {
    std::vector<double> v;
    for (const run_result& r : c.runs) v.push_back(headline(c.m, r));
    const summary sm = summarize(v);
    const double scale = c.m == throughput ? 1e-6 : 1.0;
    std::printf("%-24s %-10s %4d %10.2f %-3s %10.2f - %-10.2f\n", c.queue->id,
                c.m == throughput ? "tput" : "rtt",
                item_sizes[static_cast<std::size_t>(c.size_index)], sm.median * scale,
                c.m == throughput ? "M/s" : "ns", sm.min * scale, sm.max * scale);
  }
}

int run(const options& o) {
  std::vector<cell> cells = make_cells(o);
  if (cells.empty()) {
    std::fprintf(stderr, "ring_bench: --only selected nothing\n");
    return 2;
  }
#ifndef NDEBUG
  std::printf("WARNING: built without NDEBUG; numbers from an unoptimised build mean little\n");
#endif
  const std::string load_start = loadavg();
  const double ticks_per_ns = measure_ticks_per_ns();
  std::printf("timer: %s, step %.0f ticks = %.1f ns\n", tick_source(), timer_step_ticks(),
              timer_step_ticks() / ticks_per_ns);
  std::printf("ring_bench: %d rounds + 1 warm-up, ~%.2f s per run, capacity %zu, load %s\n", o.reps,
              o.seconds, kCapacity, load_start.c_str());

  const auto t_start = std::chrono::steady_clock::now();
  run_state st;
  for (int round = 0; round <= o.reps; ++round) run_round(o, round, cells, st);
  const double duration_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();

  write_json(o, cells, st.pinned, load_start, duration_s, ticks_per_ns);
  print_summary(cells);
  std::printf("\nwrote %s (%.1f s)\n", o.out.c_str(), duration_s);
  return st.all_ok ? 0 : 1;
}

}  // namespace
}  // namespace lanes_bench

int main(int argc, char** argv) { return lanes_bench::run(lanes_bench::parse_options(argc, argv)); }
