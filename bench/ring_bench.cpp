// ring_bench: lanes' rings against peer queues, one producer and one consumer on two pinned
// cores. Measures throughput (items/s) and round-trip time (ns, median per trip) for 8-byte
// and 64-byte items, and the bare cache-line ping-pong as the floor of a round trip.
//
// Method (shared/BENCHMARKING.md): one warm-up round that is discarded (it also sizes each
// run to about --seconds), then --reps rounds in which every queue runs once per metric and
// item size, ours interleaved with peers, the order rotated by one queue each round. Ratios
// ours/peer are taken pair by pair within a round, then their median. Everything is written
// to a JSON file (--out) from which tools/bench_report.py renders BENCHMARKS.md.
//
//   ring_bench [--reps N] [--quick] [--seconds S] [--out PATH] [--only ID,ID,...]
#include <sys/utsname.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"
#include "lanes_support/json_writer.hpp"
#include "queue_adapters.hpp"

namespace lanes_bench {
namespace {

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

template <template <class> class Q>
constexpr queue_entry typed_queue(const char* id, const char* name, const char* family, bool ours) {
  return {id,
          name,
          family,
          ours,
          {{&measure_throughput<Q<std::uint64_t>>, &measure_throughput<Q<item64>>},
           {&measure_round_trip<Q<std::uint64_t>>, &measure_round_trip<Q<item64>>}}};
}

template <class T>
using atomic_queue_spsc = atomic_queue2<T, true>;
template <class T>
using atomic_queue_mpmc = atomic_queue2<T, false>;

// Ours interleaved with peers; rotated by one each round.
const std::vector<queue_entry>& all_queues() {
  static const std::vector<queue_entry> queues = {
      typed_queue<lanes_spsc>("lanes_spsc_ring", "lanes::spsc_ring", "spsc", true),
      typed_queue<boost_spsc>("boost_spsc_queue", "boost::lockfree::spsc_queue", "spsc", false),
      typed_queue<lanes_mpmc>("lanes_mpmc_ring", "lanes::mpmc_ring", "mpmc", true),
      typed_queue<atomic_queue_mpmc>("atomic_queue_mpmc", "atomic_queue::AtomicQueue2 (MPMC)",
                                     "mpmc", false),
      typed_queue<lanes_frame>("lanes_frame_ring", "lanes::frame_ring", "frame", true),
      typed_queue<moodycamel_rwq>("moodycamel_rwq", "moodycamel::ReaderWriterQueue", "spsc", false),
      typed_queue<atomic_queue_spsc>("atomic_queue_spsc", "atomic_queue::AtomicQueue2 (SPSC)",
                                     "spsc", false),
      typed_queue<boost_queue>("boost_queue", "boost::lockfree::queue", "mpmc", false),
      {"atomic_queue_nil_spsc",
       "atomic_queue::AtomicQueue (SPSC, NIL)",
       "spsc",
       false,
       {{&measure_throughput<atomic_queue_nil<true>>, nullptr},
        {&measure_round_trip<atomic_queue_nil<true>>, nullptr}}},
      typed_queue<moodycamel_cq>("moodycamel_cq", "moodycamel::ConcurrentQueue", "mpmc", false),
      {"atomic_queue_nil_mpmc",
       "atomic_queue::AtomicQueue (MPMC, NIL)",
       "mpmc",
       false,
       {{&measure_throughput<atomic_queue_nil<false>>, nullptr},
        {&measure_round_trip<atomic_queue_nil<false>>, nullptr}}},
      typed_queue<tbb_bounded>("tbb_bounded_queue", "tbb::concurrent_bounded_queue", "mpmc", false),
      {"pingpong",
       "bare cache-line ping-pong",
       "floor",
       false,
       {{nullptr, nullptr}, {&measure_pingpong, &measure_pingpong}}},
  };
  return queues;
}

// ---- options ----

struct options {
  int reps = 7;
  bool quick = false;
  double seconds = 0.3;  // target wall time of one timed run
  int max_attempts = 3;  // an unstable run is repeated until this many attempts (--quick: 2)
  std::string out = "results/ring_bench.json";
  std::vector<std::string> only;  // queue ids; empty: all
  std::string command;
};

[[noreturn]] void usage(int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: ring_bench [--reps N] [--quick] [--seconds S] [--out PATH] "
               "[--only ID,ID,...]\n"
               "  --reps N     measured rounds after one discarded warm-up round (default 7)\n"
               "  --quick      smoke run: 3 rounds of ~0.03 s runs, an unstable run repeated\n"
               "               once (~15 s in all when quiet, under a minute at load 4)\n"
               "  --seconds S  target duration of one timed run (default 0.3)\n"
               "  --out PATH   JSON results (default results/ring_bench.json)\n"
               "  --only IDS   only these queue ids (see the JSON 'queues' list)\n");
  std::exit(code);
}

options parse_options(int argc, char** argv) {
  options o;
  bool seconds_set = false;
  bool reps_set = false;
  for (int i = 0; i < argc; ++i) {
    if (i != 0) o.command += ' ';
    o.command += argv[i];
  }
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage(2);
      return argv[++i];
    };
    if (a == "--reps") {
      o.reps = std::atoi(next().c_str());
      reps_set = true;
      if (o.reps < 1) usage(2);
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--seconds") {
      o.seconds = std::atof(next().c_str());
      seconds_set = true;
      if (!(o.seconds > 0)) usage(2);
    } else if (a == "--out") {
      o.out = next();
    } else if (a == "--only") {
      std::stringstream ss(next());
      for (std::string id; std::getline(ss, id, ',');) o.only.push_back(id);
    } else if (a == "--help" || a == "-h") {
      usage(0);
    } else {
      std::fprintf(stderr, "ring_bench: unknown argument '%s'\n", argv[i]);
      usage(2);
    }
  }
  if (o.quick) {
    // Rounds and retries trimmed so that tools/bench.sh --quick keeps to its 3 minutes on
    // a busy machine, where most runs are preempted and retried.
    if (!reps_set) o.reps = 3;
    o.max_attempts = 2;
    if (!seconds_set) o.seconds = 0.03;
  }
  return o;
}

// ---- machine and build facts for the metadata ----

std::string run_command(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof(buf), p) != nullptr) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string git(const std::string& args) {
  return run_command("git -C '" LANES_SOURCE_DIR "' " + args + " 2>/dev/null");
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
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

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
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

// ---- statistics ----

struct summary {
  double median = 0, min = 0, max = 0;
};

summary summarize(std::vector<double> v) {
  summary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  s.min = v.front();
  s.max = v.back();
  return s;
}

// The value a run contributes to the comparison: items/s, or the median round trip.
double headline(metric m, const run_result& r) {
  return m == throughput ? r.items_per_s : r.p50_ns;
}

// Placement (see placement_probe): a run is stable when its probes before and after agree
// within kSamePlacement and its threads kept their cores (max_preemptions); two runs are
// comparable when both are stable and their floors agree too. The placements seen on the
// test machines differ by ~4x, noise by a few percent.
constexpr double kSamePlacement = 1.3;
// A run whose threads were preempted more often than this competed with other tasks for
// its two cores (a compiler, a test): it is unstable too. A quiet run sees a handful around
// thread start and exit whatever its length; a task sharing a core adds hundreds a second.
constexpr double kPreemptionsBase = 12;
constexpr double kPreemptionsPerSecond = 30;
double max_preemptions(const run_result& r) {
  return kPreemptionsBase + kPreemptionsPerSecond * r.seconds;
}

bool within(double a, double b, double factor) {
  return a > 0 && b > 0 && a <= b * factor && b <= a * factor;
}
double floor_of(const run_result& r) { return (r.floor_before_ns + r.floor_after_ns) / 2; }
bool stable(const run_result& r) {
  return within(r.floor_before_ns, r.floor_after_ns, kSamePlacement) &&
         static_cast<double>(r.preemptions) <= max_preemptions(r);
}
bool comparable(const run_result& a, const run_result& b) {
  return stable(a) && stable(b) && within(floor_of(a), floor_of(b), kSamePlacement);
}

// 2 significant digits: counts that read well in the JSON.
std::uint64_t round_count(double c) {
  if (c < 1) return 1;
  const double scale = std::pow(10.0, std::floor(std::log10(c)) - 1);
  return static_cast<std::uint64_t>(std::llround(c / scale) * scale);
}

// ---- one benchmark cell: a queue, a metric, an item size ----

struct cell {
  const queue_entry* queue;
  metric m;
  int size_index;
  std::uint64_t count;           // items or round trips for the next timed run
  std::vector<run_result> runs;  // measured rounds, in round order
  std::vector<int> attempts;     // per measured round: runs needed for a stable placement
  bool ok = true;
};

std::uint64_t initial_count(metric m, bool quick) {
  if (m == throughput) return quick ? 500'000 : 4'000'000;
  return quick ? 10'000 : 50'000;
}

// After the warm-up round: the count that makes one run last about `seconds`.
std::uint64_t calibrated_count(metric m, const run_result& r, double seconds) {
  if (m == throughput) {
    const double c = r.items_per_s * seconds;
    return round_count(std::clamp(c, 2.0 * kCapacity, 500e6));
  }
  const double c = seconds * 1e9 / r.mean_ns;
  return round_count(std::clamp(c, 5'000.0, 20e6));
}

void print_run(const cell& c, int round, const run_result& r) {
  if (c.m == throughput) {
    std::printf(
        "  round %d  %-24s %2dB throughput %9.2f M items/s  (%llu items, %.3f s, waits/item "
        "empty %.2f full %.2f)",
        round, c.queue->id, item_sizes[static_cast<std::size_t>(c.size_index)], r.items_per_s / 1e6,
        static_cast<unsigned long long>(r.count), r.seconds, r.empty_waits, r.full_waits);
  } else {
    std::printf("  round %d  %-24s %2dB round trip p50 %8.1f ns  p99 %8.1f ns  (%llu trips)", round,
                c.queue->id, item_sizes[static_cast<std::size_t>(c.size_index)], r.p50_ns, r.p99_ns,
                static_cast<unsigned long long>(r.count));
  }
  std::printf(
      "  floor %.0f/%.0f ns%s%s\n", r.floor_before_ns, r.floor_after_ns,
      within(r.floor_before_ns, r.floor_after_ns, kSamePlacement) ? "" : "  placement moved",
      static_cast<double>(r.preemptions) <= max_preemptions(r) ? "" : "  preempted");
  std::fflush(stdout);
}

// ---- output ----

void write_metadata(json_writer& w, const options& o, bool pinned, const std::string& load_start,
                    double duration_s, double ticks_per_ns) {
  const std::string commit = git("rev-parse --short HEAD");
  const std::string dirty = git("status --porcelain --untracked-files=no -- core bench");
  w.key("metadata");
  w.begin_object();
  w.field("command", o.command);
  w.field("git_commit", commit.empty() ? "unknown" : commit);
  w.field("git_dirty_core_or_bench", !dirty.empty());
  w.field("compiler", compiler());
  w.field("build_type", LANES_BENCH_BUILD_TYPE);
  w.field("cpu_model", cpu_model());
  w.field("logical_cpus", static_cast<int>(std::thread::hardware_concurrency()));
  w.field("kernel", kernel());
  w.field("date_utc", utc_now());
  w.field("reps", o.reps);
  w.field("warmup_rounds", 1);
  w.field("quick", o.quick);
  w.field("target_run_seconds", o.seconds);
  w.field("capacity", static_cast<std::uint64_t>(kCapacity));
  w.key("frame_ring_bytes");
  w.begin_object();
  w.field("8", static_cast<std::uint64_t>(frame_ring_bytes<std::uint64_t>(kCapacity)));
  w.field("64", static_cast<std::uint64_t>(frame_ring_bytes<item64>(kCapacity)));
  w.end_object();
  w.field("producer_cpu", kProducerCpu);
  w.field("consumer_cpu", kConsumerCpu);
  w.field("pinned", pinned);
  w.field("round_trip_timer", tick_source());
  w.field("timer_step_ticks", timer_step_ticks());
  w.field("timer_step_ns", timer_step_ticks() / ticks_per_ns);
  w.field("round_trip_median",
          "median per trip, each sample spread over one timer step (see bench/histogram.hpp)");
  w.field("warm_trips", kWarmTrips);
  w.field("order", "ours interleaved with peers, each queue once per round, rotated by one");
  w.field("same_placement_factor", kSamePlacement);
  w.field("max_attempts", o.max_attempts);
  w.field("max_preemptions", "12 + 30 per second of the timed run");
  w.field("loadavg_start", load_start);
  w.field("loadavg_end", loadavg());
  w.field("duration_s", duration_s);
  w.end_object();
}

void write_results(json_writer& w, const std::vector<cell>& cells) {
  w.key("results");
  w.begin_array();
  for (const cell& c : cells) {
    std::vector<double> v, raw, p99, p999, mx, mean, floors, full, empty;
    std::vector<std::uint64_t> counts, preempted;
    std::vector<int> stable_flags;
    for (const run_result& r : c.runs) {
      floors.push_back(floor_of(r));
      counts.push_back(r.count);
      preempted.push_back(r.preemptions);
      full.push_back(r.full_waits);
      empty.push_back(r.empty_waits);
      stable_flags.push_back(stable(r) ? 1 : 0);
      v.push_back(headline(c.m, r));
      raw.push_back(r.p50_raw_ns);
      p99.push_back(r.p99_ns);
      p999.push_back(r.p999_ns);
      mx.push_back(r.max_ns);
      mean.push_back(r.mean_ns);
    }
    const summary s = summarize(v);
    w.begin_object();
    w.field("queue", c.queue->id);
    w.field("metric", metric_names[c.m]);
    w.field("item_bytes", item_sizes[static_cast<std::size_t>(c.size_index)]);
    w.field("unit", metric_units[c.m]);
    w.array("count_samples", counts);
    w.field("ok", c.ok);
    w.array("samples", v);
    w.field("median", s.median);
    w.field("min", s.min);
    w.field("max", s.max);
    w.array("floor_ns_samples", floors);
    w.array("stable_samples", stable_flags);
    w.array("attempts", c.attempts);
    w.array("preemptions_samples", preempted);
    if (c.m == throughput) {
      w.array("full_waits_per_item_samples", full);
      w.array("empty_waits_per_item_samples", empty);
    }
    if (c.m == round_trip) {
      w.array("p50_raw_samples", raw);
      w.array("p99_samples", p99);
      w.array("p999_samples", p999);
      w.array("max_samples", mx);
      w.array("mean_samples", mean);
    }
    w.end_object();
  }
  w.end_array();
}

// ours/peer per round for every queue of ours against every other queue in the same cell
// row (metric, size), then the median of those per-round ratios. A round's pair counts only
// when both runs had the same placement (comparable()); samples holds null for the others.
void write_ratios(json_writer& w, const std::vector<cell>& cells) {
  w.key("ratios");
  w.begin_array();
  for (const cell& a : cells) {
    if (!a.queue->ours) continue;
    for (const cell& b : cells) {
      if (&a == &b || a.m != b.m || a.size_index != b.size_index) continue;
      const std::size_t n = std::min(a.runs.size(), b.runs.size());
      std::vector<double> all, used;
      for (std::size_t i = 0; i < n; ++i) {
        const double ratio = headline(a.m, a.runs[i]) / headline(b.m, b.runs[i]);
        const bool ok = comparable(a.runs[i], b.runs[i]);
        all.push_back(ok ? ratio : std::nan(""));
        if (ok) used.push_back(ratio);
      }
      const summary s = summarize(used);
      w.begin_object();
      w.field("ours", a.queue->id);
      w.field("peer", b.queue->id);
      w.field("metric", metric_names[a.m]);
      w.field("item_bytes", item_sizes[static_cast<std::size_t>(a.size_index)]);
      w.array("samples", all);
      w.field("pairs_used", static_cast<std::uint64_t>(used.size()));
      w.field("pairs_skipped", static_cast<std::uint64_t>(n - used.size()));
      w.field("median", used.empty() ? std::nan("") : s.median);
      w.field("min", s.min);
      w.field("max", s.max);
      w.end_object();
    }
  }
  w.end_array();
}

void write_json(const options& o, const std::vector<cell>& cells, bool pinned,
                const std::string& load_start, double duration_s, double ticks_per_ns) {
  const std::filesystem::path path(o.out);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path);
  json_writer w(out);
  w.begin_object();
  w.field("schema", "lanes.ring_bench.v1");
  write_metadata(w, o, pinned, load_start, duration_s, ticks_per_ns);
  w.key("queues");
  w.begin_array();
  for (const queue_entry& q : all_queues()) {
    bool used = false;
    for (const cell& c : cells) used |= c.queue == &q;
    if (!used) continue;
    w.begin_object();
    w.field("id", q.id);
    w.field("name", q.name);
    w.field("family", q.family);
    w.field("ours", q.ours);
    w.end_object();
  }
  w.end_array();
  write_results(w, cells);
  write_ratios(w, cells);
  w.end_object();
  out << '\n';
  if (!out) {
    std::fprintf(stderr, "ring_bench: could not write %s\n", o.out.c_str());
    std::exit(1);
  }
}

int run(const options& o) {
  const auto& queues = all_queues();
  auto selected = [&](const queue_entry& q) {
    return o.only.empty() || std::find(o.only.begin(), o.only.end(), q.id) != o.only.end();
  };

  // Cells in round order: for each item size, each metric, the queues in list order.
  std::vector<cell> cells;
  for (int s = 0; s < 2; ++s) {
    for (const metric m : {throughput, round_trip}) {
      for (const queue_entry& q : queues) {
        if (selected(q) && q.run[m][s] != nullptr) {
          cells.push_back({&q, m, s, initial_count(m, o.quick), {}, {}, true});
        }
      }
    }
  }
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
  bool pinned = true;
  bool all_ok = true;
  const std::size_t n_queues = queues.size();
  for (int round = 0; round <= o.reps; ++round) {
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
          cell& c = *it;
          run_result r = q->run[m][s](kCapacity, c.count);
          int attempts = 1;
          for (; !stable(r) && attempts < o.max_attempts; ++attempts) {
            print_run(c, round, r);
            r = q->run[m][s](kCapacity, c.count);
          }
          if (!r.pinned && pinned) {
            std::printf("WARNING: could not pin threads to CPUs %d and %d; results are unpinned\n",
                        kProducerCpu, kConsumerCpu);
            pinned = false;
          }
          if (!r.ok) {
            std::printf("ERROR: %s lost, duplicated or reordered items\n", q->id);
            c.ok = false;
            all_ok = false;
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
      }
    }
  }
  const double duration_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();

  write_json(o, cells, pinned, load_start, duration_s, ticks_per_ns);
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
  std::printf("\nwrote %s (%.1f s)\n", o.out.c_str(), duration_s);
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace lanes_bench

int main(int argc, char** argv) { return lanes_bench::run(lanes_bench::parse_options(argc, argv)); }
