// bench/ring_results.cpp: ring_bench's results file (--out, rendered into BENCHMARKS.md by
// tools/bench_report.py): run facts, the queues measured, every run of every cell with its
// summary, and the ours/peer ratios per round.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"
#include "lanes_support/run_info.hpp"
#include "ring_bench.hpp"

namespace lanes_bench {
namespace {

// What a row of cells shares: the metric and the item size.
void write_row_of(json_writer& w, const cell& c) {
  w.field("metric", metric_names[c.m]);
  w.field("item_bytes", item_sizes[static_cast<std::size_t>(c.size_index)]);
}

void write_summary(json_writer& w, const summary& s) {
  w.field("median", s.median);
  w.field("min", s.min);
  w.field("max", s.max);
}

void write_metadata(json_writer& w, const options& o, bool pinned, const std::string& load_start,
                    double duration_s, double ticks_per_ns) {
  const std::string commit = git("rev-parse --short HEAD");
  const std::string dirty = git("status --porcelain --untracked-files=no -- core bench");
  w.object("metadata", [&] {
    w.field("command", o.command);
    w.field("git_commit", commit.empty() ? "unknown" : commit);
    w.field("git_dirty_core_or_bench", !dirty.empty());
    w.field("compiler", compiler());
    w.field("build_type", LANES_BENCH_BUILD_TYPE);
    w.field("cpu_model", lanes_tools::cpu_model());
    w.field("logical_cpus", static_cast<int>(std::thread::hardware_concurrency()));
    w.field("kernel", kernel());
    w.field("date_utc", lanes_tools::utc_date());
    w.field("reps", o.reps);
    w.field("warmup_rounds", 1);
    w.field("quick", o.quick);
    w.field("target_run_seconds", o.seconds);
    w.field("capacity", static_cast<std::uint64_t>(kCapacity));
    w.object("frame_ring_bytes", [&] {
      w.field("8", static_cast<std::uint64_t>(frame_ring_bytes<std::uint64_t>(kCapacity)));
      w.field("64", static_cast<std::uint64_t>(frame_ring_bytes<item64>(kCapacity)));
    });
    w.field("producer_cpu", kProducerCpu);
    w.field("consumer_cpu", kConsumerCpu);
    w.field("pinned", pinned);
    w.field("round_trip_timer", tick_source());
    w.field("timer_step_ticks", timer_step_ticks());
    w.field("timer_step_ns", timer_step_ticks() / ticks_per_ns);
    w.field("round_trip_median",
            "median per trip, each sample spread over one timer step (see "
            "tools/support/lanes_support/histogram.hpp)");
    w.field("warm_trips", kWarmTrips);
    w.field("order", "ours interleaved with peers, each queue once per round, rotated by one");
    w.field("same_placement_factor", kSamePlacement);
    w.field("max_attempts", o.max_attempts);
    w.field("max_preemptions", "12 + 30 per second of the timed run");
    w.field("loadavg_start", load_start);
    w.field("loadavg_end", loadavg());
    w.field("duration_s", duration_s);
  });
}

// The queues that have at least one cell, in table order.
void write_queues(json_writer& w, const std::vector<cell>& cells) {
  std::vector<const queue_entry*> used;
  for (const queue_entry& q : all_queues()) {
    if (std::any_of(cells.begin(), cells.end(), [&](const cell& c) { return c.queue == &q; })) {
      used.push_back(&q);
    }
  }
  w.objects("queues", used, [&](const queue_entry* q) {
    w.field("id", q->id);
    w.field("name", q->name);
    w.field("family", q->family);
    w.field("ours", q->ours);
  });
}

// One cell's runs, each field as one array over the measured rounds.
struct cell_samples {
  std::vector<double> v, raw, p99, p999, mx, mean, floors, full, empty;
  std::vector<std::uint64_t> counts, preempted;
  std::vector<int> stable_flags;
};

cell_samples collect(const cell& c) {
  cell_samples s;
  for (const run_result& r : c.runs) {
    s.floors.push_back(floor_of(r));
    s.counts.push_back(r.count);
    s.preempted.push_back(r.preemptions);
    s.full.push_back(r.full_waits);
    s.empty.push_back(r.empty_waits);
    s.stable_flags.push_back(stable(r) ? 1 : 0);
    s.v.push_back(headline(c.m, r));
    s.raw.push_back(r.p50_raw_ns);
    s.p99.push_back(r.p99_ns);
    s.p999.push_back(r.p999_ns);
    s.mx.push_back(r.max_ns);
    s.mean.push_back(r.mean_ns);
  }
  return s;
}

// The members of a cell's object in "results".
void write_cell(json_writer& w, const cell& c) {
  const cell_samples cs = collect(c);
  const summary s = summarize(cs.v);
  w.field("queue", c.queue->id);
  write_row_of(w, c);
  w.field("unit", metric_units[c.m]);
  w.array("count_samples", cs.counts);
  w.field("ok", c.ok);
  w.array("samples", cs.v);
  write_summary(w, s);
  w.array("floor_ns_samples", cs.floors);
  w.array("stable_samples", cs.stable_flags);
  w.array("attempts", c.attempts);
  w.array("preemptions_samples", cs.preempted);
  if (c.m == throughput) {
    w.array("full_waits_per_item_samples", cs.full);
    w.array("empty_waits_per_item_samples", cs.empty);
  }
  if (c.m == round_trip) {
    w.array("p50_raw_samples", cs.raw);
    w.array("p99_samples", cs.p99);
    w.array("p999_samples", cs.p999);
    w.array("max_samples", cs.mx);
    w.array("mean_samples", cs.mean);
  }
}

void write_results(json_writer& w, const std::vector<cell>& cells) {
  w.objects("results", cells, [&](const cell& c) { write_cell(w, c); });
}

// One ratio: cell a (ours) over cell b (a peer in the same row), round by round.
void write_ratio(json_writer& w, const cell& a, const cell& b) {
  const std::size_t n = std::min(a.runs.size(), b.runs.size());
  std::vector<double> all, used;
  for (std::size_t i = 0; i < n; ++i) {
    const double ratio = headline(a.m, a.runs[i]) / headline(b.m, b.runs[i]);
    const bool ok = comparable(a.runs[i], b.runs[i]);
    all.push_back(ok ? ratio : std::nan(""));
    if (ok) used.push_back(ratio);
  }
  summary s = summarize(used);
  if (used.empty()) s.median = std::nan("");  // written as null
  w.begin_object();
  w.field("ours", a.queue->id);
  w.field("peer", b.queue->id);
  write_row_of(w, a);
  w.array("samples", all);
  w.field("pairs_used", static_cast<std::uint64_t>(used.size()));
  w.field("pairs_skipped", static_cast<std::uint64_t>(n - used.size()));
  write_summary(w, s);
  w.end_object();
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
      write_ratio(w, a, b);
    }
  }
  w.end_array();
}

}  // namespace

void write_json(const options& o, const std::vector<cell>& cells, bool pinned,
                const std::string& load_start, double duration_s, double ticks_per_ns) {
  write_results_file(o.out, [&](json_writer& w) {
    w.field("schema", "lanes.ring_bench.v1");
    write_metadata(w, o, pinned, load_start, duration_s, ticks_per_ns);
    write_queues(w, cells);
    write_results(w, cells);
    write_ratios(w, cells);
  });
}

}  // namespace lanes_bench
