// bench/durable_results.cpp: durable_bench's results file (--out): run facts, the rounds of
// latency and throughput, the catch-up rounds and rejoin, and the idle figures.
#include <cstdio>

#include "durable_bench.hpp"
#include "lanes_support/json_file.hpp"
#include "lanes_support/run_info.hpp"

namespace lanes_bench {

void write_results(const options& o, const durable_run& run) {
  json doc = lanes_tools::result_header("durable_bench");
  doc.update(json{{"quick", o.quick},
                  {"dir", o.dir},
                  {"sync_interval_us", 1000},
                  {"rounds", run.rounds},
                  {"catchup_file_mb", run.catchup_set.file_mb},
                  {"catchup_records", run.catchup_set.records},
                  {"catchup", run.catchup},
                  {"catchup_rejoin", run.rejoin},
                  {"idle", run.idle_result}});
  lanes_support::write_json_file(o.out, doc);
  std::fprintf(stderr, "durable_bench: wrote %s\n", o.out.c_str());
}

}  // namespace lanes_bench
