// bench/ring_bench.hpp: what the files of ring_bench share: the metrics and item sizes, the
// table of queues, the options, the placement checks, one benchmark cell, and the steps each
// file provides. See ring_bench_main.cpp for what it measures and how.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "harness.hpp"

namespace lanes_bench {

// ---- what we measure ----

enum metric : int { throughput = 0, round_trip = 1 };
constexpr std::array<const char*, 2> metric_names = {"throughput", "round_trip"};
constexpr std::array<const char*, 2> metric_units = {"items/s", "ns"};
constexpr std::array<int, 2> item_sizes = {8, 64};

using run_fn = run_result (*)(std::size_t capacity, std::uint64_t count);

struct queue_entry {
  const char* id;      // stable key in the JSON
  const char* name;    // for people
  const char* family;  // spsc, mpmc, frame (ours), or floor
  bool ours;
  run_fn run[2][2];  // [metric][size index]; nullptr: not measured
};

// Ours interleaved with peers; rotated by one each round (ring_queues.cpp).
const std::vector<queue_entry>& all_queues();

// ---- options (ring_options.cpp) ----

struct options {
  int reps = 7;
  bool quick = false;
  double seconds = 0.3;  // target wall time of one timed run
  int max_attempts = 3;  // an unstable run is repeated until this many attempts (--quick: 2)
  std::string out = "results/ring_bench.json";
  std::vector<std::string> only;  // queue ids; empty: all
  std::string command;
};

options parse_options(int argc, char** argv);

// ---- machine and build facts for the metadata (ring_machine.cpp) ----

std::string git(const std::string& args);
std::string loadavg();  // the three load averages of /proc/loadavg, as one string
std::string kernel();
const char* compiler();
// Timer rate over 20 ms of the main thread's spinning (no other thread runs yet).
double measure_ticks_per_ns();

// ---- placement (ring_placement.cpp) ----

// Placement (see placement_probe): a run is stable when its probes before and after agree
// within kSamePlacement and its threads kept their cores (max_preemptions); two runs are
// comparable when both are stable and their floors agree too. The placements seen on the
// test machines differ by ~4x, noise by a few percent.
constexpr double kSamePlacement = 1.3;

double max_preemptions(const run_result& r);
bool within(double a, double b, double factor);
double floor_of(const run_result& r);
bool stable(const run_result& r);
bool comparable(const run_result& a, const run_result& b);

// ---- one benchmark cell: a queue, a metric, an item size (ring_cells.cpp) ----

struct summary {
  double median = 0, min = 0, max = 0;
};

summary summarize(const std::vector<double>& v);
// The value a run contributes to the comparison: items/s, or the median round trip.
double headline(metric m, const run_result& r);

struct cell {
  const queue_entry* queue;
  metric m;
  int size_index;
  std::uint64_t count;           // items or round trips for the next timed run
  std::vector<run_result> runs;  // measured rounds, in round order
  std::vector<int> attempts;     // per measured round: runs needed for a stable placement
  bool ok = true;
};

std::uint64_t initial_count(metric m, bool quick);
// After the warm-up round: the count that makes one run last about `seconds`.
std::uint64_t calibrated_count(metric m, const run_result& r, double seconds);
void print_run(const cell& c, int round, const run_result& r);

// ---- the results file (ring_results.cpp) ----

void write_json(const options& o, const std::vector<cell>& cells, bool pinned,
                const std::string& load_start, double duration_s, double ticks_per_ns);

}  // namespace lanes_bench
