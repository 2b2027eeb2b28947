// bench/bus_results.cpp: bus_bench's results file (--out, rendered into BENCHMARKS.md by
// tools/bench_report.py): run facts, every sample of every case with its medians, the
// per-round ratios, the rate sweep, the scaling matrix and the memory figures.
#include <algorithm>

#include "bus_bench.hpp"
#include "lanes_support/run_info.hpp"

namespace lanes_bench {
namespace {

// Ratios within each round, then their median.
struct ratio_def {
  const char* id;
  const char* num;
  const char* den;
  bool latency;  // compare p99s
};
const std::vector<ratio_def> kRatioDefs = {
    {"bus_vs_frame_ring_tput", "bus_p1", "frame_ring", false},
    {"bus_vs_zmq_tput", "bus_p1", "zmq_push_pull", false},
    {"bus_batch_vs_zmq_tput", "bus_batch", "zmq_push_pull", false},
    {"bus_batch_vs_frame_ring_tput", "bus_batch", "frame_ring", false},
    {"bus_vs_ring_p99", "bus_latency", "ring_latency", true},
    {"bus_vs_zmq_p99", "bus_latency", "zmq_latency", true},
    {"bus_p4_vs_p1_tput", "bus_p4", "bus_p1", false},
    {"bus_p16_vs_p1_tput", "bus_p16", "bus_p1", false},
    {"queue_vs_bus_tput", "queue_p1", "bus_p1", false},
    {"bus_fanout_vs_zmq_pub_sub_tput", "bus_fanout", "zmq_pub_sub", false},
};

void write_header(json_writer& w, const options& opt) {
  write_run_facts(w, "bus_bench");
  w.field("reps", opt.reps);
  w.field("quick", opt.quick);
  w.field("value_bytes", static_cast<std::uint64_t>(kValueBytes));
  w.field("key_bytes", static_cast<std::uint64_t>(8));
  w.field("ring_bytes", static_cast<std::uint64_t>(kRingBytes));
  w.field("messages_per_throughput_run", opt.count);
  w.field("latency_rate_per_s", opt.rate);
  w.field("latency_seconds", opt.latency_seconds);
}

// One case: its samples and medians; latency cases their percentiles, fan-out cases what the
// readers lost.
void write_case(json_writer& w, const options& opt, const std::string& id,
                const std::vector<sample>& ss) {
  std::vector<double> v, p50, p99, p999, mx, floor, allocs, lost;
  std::vector<double> q[kNq];
  for (const sample& s : ss) {
    for (std::size_t k = 0; k < kNq; ++k) q[k].push_back(s.q[k]);
    allocs.push_back(s.allocs_per_msg);
    lost.push_back(static_cast<double>(s.lost));
    v.push_back(s.value);
    p50.push_back(s.p50);
    p99.push_back(s.p99);
    p999.push_back(s.p999);
    mx.push_back(s.max);
    floor.push_back(s.floor_ns);
  }
  w.object(id, [&] {
    const bool lat = id.find("latency") != std::string::npos;
    w.field("unit", lat ? "ns" : "msgs/s");
    write_samples(w, v);
    if (lat) {
      w.field("p50_median", median(p50));
      w.field("p99_median", median(p99));
      w.field("p999_median", median(p999));
      w.field("max_median", median(mx));
      w.object("percentiles", [&] {  // median over rounds of each percentile, ns
        for (std::size_t k = 0; k < kNq; ++k) w.field(kQuantileNames[k], median(q[k]));
        w.field("max", median(mx));
      });
    } else {
      w.field("allocs_per_msg_max", *std::max_element(allocs.begin(), allocs.end()));
    }
    if (id == "bus_fanout" || id == "zmq_pub_sub") {
      // Messages sent that a reader did not receive, summed over both readers, per round.
      w.field("readers", kFanoutReaders);
      w.array("lost", lost);
      w.field("lost_max", *std::max_element(lost.begin(), lost.end()));
      w.field("messages_per_run", id == "bus_fanout" ? opt.count : opt.count / 4);
      w.field("waits", id == "bus_fanout"
                           ? "producer, two consumer-group members: unpinned threads, consumers "
                             "park in poll (busy_spin off), the producer waits for the slower "
                             "group when the ring is full (backpressure::block)"
                           : "producer, two SUB readers: unpinned threads, blocking zmq_recv; "
                             "SNDHWM and RCVHWM 0 (no limit): PUB never drops, pipes grow");
    }
    w.array("placement_floor_ns", floor);
  });
}

void write_cases(json_writer& w, const options& opt, bus_run& run) {
  w.object("cases", [&] {
    for (const std::string& id : run.cases) {
      const auto& ss = run.results[id];
      if (ss.empty()) continue;
      write_case(w, opt, id, ss);
    }
  });
}

void write_ratios(json_writer& w, bus_run& run) {
  auto& results = run.results;
  w.object("ratios", [&] {
    for (const ratio_def& d : kRatioDefs) {
      if (results[d.num].empty()) continue;
      std::vector<double> rs;
      for (std::size_t i = 0; i < results[d.num].size(); ++i) {
        rs.push_back(results[d.num][i].value / results[d.den][i].value);
      }
      write_ratio(w, d.id, d.num, d.den, rs, 24);
    }
  });
}

void write_sweep(json_writer& w, const options& opt, const std::vector<sweep_point>& sweep) {
  w.object("sweep", [&] {
    w.field("reps", opt.sweep_reps);
    w.field("seconds", opt.sweep_seconds);
    w.objects("points", sweep, [&](const sweep_point& sp) {
      w.field("case", sp.id);
      w.field("rate_per_s", sp.rate);
      std::vector<double> mx, p99;
      for (const sample& s : sp.runs) {
        mx.push_back(s.max);
        p99.push_back(s.p99);
      }
      for (std::size_t k = 0; k < kNq; ++k) {
        std::vector<double> v;
        for (const sample& s : sp.runs) v.push_back(s.q[k]);
        w.field(kQuantileNames[k], median(v));
      }
      w.field("max", median(mx));
      w.field("p99_min", *std::min_element(p99.begin(), p99.end()));
      w.field("p99_max", *std::max_element(p99.begin(), p99.end()));
    });
  });
}

void write_scaling(json_writer& w, const options& opt, const std::vector<scaling_cell>& scaling) {
  w.object("scaling", [&] {
    w.field("reps", opt.scaling_reps);
    w.field("value_bytes_per_run", opt.scaling_bytes);
    w.field("max_seconds_per_run", opt.scaling_seconds);
    w.field("ring_bytes", static_cast<std::uint64_t>(kScalingRingBytes));
    w.field("warm_up", "every ring written through about 1.5 times before the timed run");
    w.field("waits",
            "1 producer: pinned to CPU 0, single-producer topic, consumer busy-spins on CPU 1; "
            "2 and 4 producers: multi-producer topic, threads unpinned, consumer parks "
            "(busy_spin off)");
    w.objects("cells", scaling, [&](const scaling_cell& c) {
      w.field("partitions", static_cast<std::uint64_t>(c.partitions));
      w.field("producers", static_cast<std::uint64_t>(c.producers));
      w.field("value_bytes", static_cast<std::uint64_t>(c.value_bytes));
      w.field("messages_offered", c.messages);
      write_samples(w, c.rates);
    });
  });
}

void write_memory(json_writer& w, const memory_result& mem) {
  w.object("memory", [&] {
    w.field("partitions", static_cast<std::uint64_t>(mem.partitions));
    w.field("ring_bytes_per_partition", static_cast<std::uint64_t>(mem.ring_bytes));
    w.field("resident_bytes_per_partition_created", mem.per_partition_created);
    w.field("resident_bytes_per_partition_full", mem.per_partition_full);
    w.field("retained_bytes_all_partitions_full", mem.full_retained_bytes);
    w.field("retained_messages", mem.retained);
    w.field("retained_ring_bytes", static_cast<std::uint64_t>(mem.retained_ring_bytes));
    w.field("resident_bytes_per_million_retained", mem.per_million_retained);
    w.field("allocs_per_publish_fill", mem.allocs_per_msg_fill);
  });
}

}  // namespace

void write_results(const options& opt, bus_run& run) {
  write_results_file(opt.out, [&](json_writer& w) {
    write_header(w, opt);
    write_cases(w, opt, run);
    write_ratios(w, run);
    if (opt.sweep) write_sweep(w, opt, run.sweep);
    if (opt.scaling) write_scaling(w, opt, run.scaling);
    if (opt.memory) write_memory(w, run.mem);
  });
  std::fprintf(stderr, "wrote %s\n", opt.out.c_str());
}

}  // namespace lanes_bench
