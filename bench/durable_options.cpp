// bench/durable_options.cpp: durable_bench's command line (the usage line lists it) and what
// --quick shrinks.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "durable_bench.hpp"

namespace lanes_bench {

options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      o.quick = true;
      o.reps = 1;
      o.catchup_mib = 128;
    } else if (a == "--reps" && i + 1 < argc) {
      o.reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--dir" && i + 1 < argc) {
      o.dir = argv[++i];
    } else if (a == "--out" && i + 1 < argc) {
      o.out = argv[++i];
    } else {
      die("usage: durable_bench [--quick] [--reps N] [--dir PATH] [--out PATH]");
    }
  }
  return o;
}

}  // namespace lanes_bench
