// bench/durable_options.cpp: durable_bench's command line (the usage line lists it) and what
// --quick shrinks.
#include "durable_bench.hpp"

namespace lanes_bench {

options parse_options(int argc, char** argv) {
  options o;
  parse_command_line(argc, argv, o,
                     "usage: durable_bench [--quick] [--reps N] [--dir PATH] [--out PATH]",
                     {{"--quick",
                       [&](arg_cursor&) {  // one round; a later --reps still counts
                         o.quick = true;
                         o.reps = 1;
                         o.catchup_mib = 128;
                       }},
                      {"--dir", [&](arg_cursor& a) { o.dir = a.value(); }}});
  return o;
}

}  // namespace lanes_bench
