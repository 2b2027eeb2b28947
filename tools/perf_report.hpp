// tools/perf_report.hpp: what `lanes perf` reports: a run's outcome, the human summary and
// the JSON document (tools/perf_report.cpp). perf.cpp measures; this file says what it found.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "lanes_support/histogram.hpp"
#include "perf.hpp"

namespace lanes_tools {

struct group_result {
  std::string name;
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  double elapsed_s = 0;
  std::uint64_t missing = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t order_errors = 0;
  std::uint64_t malformed = 0;
  latency_histogram hist;
  latency_histogram hist_sent;
};

// What a run measured.
struct perf_outcome {
  std::uint64_t produced = 0;
  std::uint64_t produced_bytes = 0;
  std::uint64_t fallbacks = 0;  // claims that found the ring full and published instead
  std::int64_t max_behind = 0;  // ns the producers were behind a --rate schedule, at most
  double producer_s = 0;
  double elapsed_s = 0;
  std::vector<group_result> groups;
  latency_histogram all;       // from the due time (--rate) or the send time
  latency_histogram all_sent;  // from the send time
  bool split = false;          // a durable log run: the legs below are measured
  latency_histogram to_written, to_durable, to_polled;
  std::vector<std::string> errors;  // the run failed when not empty
  std::vector<std::string> notes;
};

// Where the run ran, as the reports say it.
struct perf_machine {
  double load_before = 0;  // 1-minute load average at the start
  std::size_t cpus = 0;
  bool pinned = false;
  std::vector<std::string> warnings;
};

double per_second(double amount, double seconds);
double mib(double bytes);
std::string fmt(const char* f, double v);
std::string fmt_us(std::uint64_t ns);  // microseconds, about three significant digits
const char* name_of(key_mode k);
const char* name_of(lanes::backpressure b);
const char* name_of(wait_mode w);

// The human summary, to `human` (stdout, or stderr with --json); errors go to stderr.
void print_perf_summary(std::FILE* human, const perf_options& o, const perf_machine& m,
                        const perf_outcome& out);
// The JSON document of --json and --out.
std::string perf_json(const perf_options& o, const perf_machine& m, const perf_outcome& out);

}  // namespace lanes_tools
