// bench/bus_options.cpp: bus_bench's command line (--help lists it) and the sizes --quick
// shrinks.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "bus_bench.hpp"

namespace lanes_bench {

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die(("missing value after " + a).c_str());
      return argv[++i];
    };
    if (a == "--reps") {
      o.reps = std::max(1, std::atoi(next().c_str()));
      o.sweep_reps = std::min(o.reps, 3);
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--out") {
      o.out = next();
    } else if (a == "--profile") {
      o.profile = next();
    } else if (a == "--no-sweep") {
      o.sweep = false;
    } else if (a == "--no-scaling") {
      o.scaling = false;
    } else if (a == "--no-memory") {
      o.memory = false;
    } else if (a == "--sweep-only") {
      o.reps = 0;
      o.scaling = false;
      o.memory = false;
    } else if (a == "--scaling-only") {
      o.reps = 0;
      o.sweep = false;
      o.memory = false;
    } else if (a == "--count") {
      o.count = std::strtoull(next().c_str(), nullptr, 10);
    } else if (a == "--help" || a == "-h") {
      std::puts(
          "usage: bus_bench [--reps N] [--quick] [--out PATH] [--count N] [--no-sweep]\n"
          "                 [--no-scaling] [--no-memory] [--sweep-only | --scaling-only]\n"
          "       bus_bench --profile bus_p1|bus_p4|bus_p16|frame_ring|zmq_push_pull|bus_fanout|\n"
          "                           zmq_pub_sub [--reps N]\n"
          "  --profile runs only that case (for perf record) and writes no results file");
      std::exit(0);
    } else {
      die(("unknown option " + a + " (see --help)").c_str());
    }
  }
  if (o.quick) {
    o.reps = std::min(o.reps, 3);
    o.count = 300'000;
    o.latency_seconds = 0.3;
    o.sweep_reps = 1;
    o.sweep_seconds = 0.2;
    o.scaling_reps = 1;
    o.scaling_bytes = std::uint64_t{32} << 20;
    o.scaling_seconds = 0.25;
  }
  return o;
}

}  // namespace lanes_bench
