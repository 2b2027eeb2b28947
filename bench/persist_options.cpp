// bench/persist_options.cpp: persist_bench's command line (--help lists it) and the sizes
// --quick shrinks.
#include <cstdio>
#include <cstdlib>

#include "persist_bench.hpp"

namespace lanes_bench {

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--reps") {
      o.reps = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--dir") {
      o.dir = next();
    } else if (a == "--out") {
      o.out = next();
    } else if (a == "--fio") {
      o.fio = next();
    } else if (a == "--profile") {
      o.profile = next();
    } else if (a == "--no-window") {
      o.window = false;
    } else if (a == "--help" || a == "-h") {
      std::puts(
          "usage: persist_bench [--reps N] [--quick] [--dir PATH] [--out PATH] [--fio PATH]\n"
          "                     [--no-window]\n"
          "       persist_bench --profile async|sync|sync_p4|mem_dir|mem_nodir|window [--reps N]\n"
          "  --dir      where the bus and fio write (default /var/tmp/lanes-bench); the\n"
          "             benchmark uses a fresh subdirectory and deletes it\n"
          "  --quick    2 short rounds: a smoke run of a few seconds of disk time\n"
          "  --no-window  skip the group-commit window sweep\n"
          "  --profile  runs only that case (for perf record) and writes no results file");
      std::exit(0);
    } else {
      die("unknown option " + a + " (see --help)");
    }
  }
  if (o.quick) {
    o.reps = std::min(o.reps, 2);
    o.async_mib = 32;
    o.sync_ops = 60;
    o.multi_seconds = 0.2;
    o.mem_count = 300'000;
    o.window_reps = 1;
    o.window_seconds = 0.5;
    o.window_tput_seconds = 0.3;
    o.window_tput_mib = 16;
  }
  return o;
}

}  // namespace lanes_bench
