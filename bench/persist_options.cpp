// bench/persist_options.cpp: persist_bench's command line (--help lists it) and the sizes
// --quick shrinks.
#include <algorithm>

#include "persist_bench.hpp"

namespace lanes_bench {
namespace {

constexpr const char* kUsage =
    "usage: persist_bench [--reps N] [--quick] [--dir PATH] [--out PATH] [--fio PATH]\n"
    "                     [--no-window]\n"
    "       persist_bench --profile async|sync|sync_p4|mem_dir|mem_nodir|window [--reps N]\n"
    "  --dir      where the bus and fio write (default /var/tmp/lanes-bench); the\n"
    "             benchmark uses a fresh subdirectory and deletes it\n"
    "  --quick    2 short rounds: a smoke run of a few seconds of disk time\n"
    "  --no-window  skip the group-commit window sweep\n"
    "  --profile  runs only that case (for perf record) and writes no results file";

}  // namespace

options parse(int argc, char** argv) {
  options o;
  parse_command_line(argc, argv, o, kUsage,
                     {{"--dir", [&](arg_cursor& a) { o.dir = a.value(); }},
                      {"--fio", [&](arg_cursor& a) { o.fio = a.value(); }},
                      {"--profile", [&](arg_cursor& a) { o.profile = a.value(); }},
                      {"--no-window", [&](arg_cursor&) { o.window = false; }}});
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
