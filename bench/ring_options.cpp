// bench/ring_options.cpp: ring_bench's command line (--help lists it) and what --quick trims.
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

#include "ring_bench.hpp"

namespace lanes_bench {
namespace {

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

}  // namespace

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

}  // namespace lanes_bench
