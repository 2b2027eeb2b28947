// lanes_support/run_info.hpp: what a result was measured on (commit, compiler, CPU, date), so that
// saved results name their origin (see the shared BENCHMARKING.md).
// Cold path; every function allocates and may run a child process (git).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace lanes_tools {

// `git rev-parse --short HEAD` of the source tree this binary was built from, run now;
// "unknown" when git or the tree is not there.
std::string git_commit();
// The compiler that built this binary ("GCC 12.2.0" style, from __VERSION__).
std::string compiler();
// "model name" of the first CPU in /proc/cpuinfo, or "unknown".
std::string cpu_model();
// Now, UTC, ISO 8601 ("2024-05-01T12:34:56Z").
std::string utc_date();
// The 1-minute load average (/proc/loadavg), or -1: on a shared machine, how busy it was.
double load_average();

// The fields every benchmark result file starts with: suite, commit, compiler, cpu, date and
// load average.
inline nlohmann::json result_header(const std::string& suite) {
  return {{"suite", suite},     {"commit", git_commit()}, {"compiler", compiler()},
          {"cpu", cpu_model()}, {"date", utc_date()},     {"load_average", load_average()}};
}

}  // namespace lanes_tools
