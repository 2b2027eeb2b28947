// bench/bus_options.cpp: bus_bench's command line (--help lists it) and the sizes --quick
// shrinks.
#include <algorithm>

#include "bus_bench.hpp"

namespace lanes_bench {
namespace {

constexpr const char* kUsage =
    "usage: bus_bench [--reps N] [--quick] [--out PATH] [--count N] [--no-sweep]\n"
    "                 [--no-scaling] [--no-memory] [--sweep-only | --scaling-only]\n"
    "       bus_bench --profile bus_p1|bus_p4|bus_p16|frame_ring|zmq_push_pull|bus_fanout|\n"
    "                           zmq_pub_sub [--reps N]\n"
    "  --profile runs only that case (for perf record) and writes no results file";

}  // namespace

options parse(int argc, char** argv) {
  options o;
  parse_command_line(argc, argv, o, kUsage,
                     {{"--reps",
                       [&](arg_cursor& a) {
                         o.reps = a.reps();
                         o.sweep_reps = std::min(o.reps, 3);
                       }},
                      {"--profile", [&](arg_cursor& a) { o.profile = a.value(); }},
                      {"--no-sweep", [&](arg_cursor&) { o.sweep = false; }},
                      {"--no-scaling", [&](arg_cursor&) { o.scaling = false; }},
                      {"--no-memory", [&](arg_cursor&) { o.memory = false; }},
                      {"--sweep-only",
                       [&](arg_cursor&) {
                         o.reps = 0;
                         o.scaling = false;
                         o.memory = false;
                       }},
                      {"--scaling-only",
                       [&](arg_cursor&) {
                         o.reps = 0;
                         o.sweep = false;
                         o.memory = false;
                       }},
                      {"--count", [&](arg_cursor& a) { o.count = a.count(); }}});
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
