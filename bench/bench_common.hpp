// bench/bench_common.hpp: what every benchmark in bench/ does the same way: ending the run on an
// error, reading the common options (--reps, --quick, --out, --help), running a command and
// reading its output, and writing the results file through json_writer with the spread
// (median, min, max) of what it measured. Cold path: nothing here is timed.
#pragma once

#include <errno.h>  // program_invocation_short_name (GNU)

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "lanes_support/json_writer.hpp"
#include "lanes_support/median.hpp"
#include "lanes_support/run_info.hpp"

namespace lanes_bench {

using lanes_support::median;

// Ends the run: "<benchmark>: <what>" on stderr, exit status 1. The benchmark is named by the
// name it was run by (bus_bench, persist_bench, ...).
[[noreturn]] inline void die(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, what.c_str());
  std::exit(1);
}

// Seconds of the steady clock since t0.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ---- the command line ----

// What every benchmark's command line takes: --reps N (at least 1), --quick, --out PATH.
struct run_options {
  int reps = 1;
  bool quick = false;
  std::string out;
};

// The arguments, one option at a time.
class arg_cursor {
 public:
  arg_cursor(int argc, char** argv) : argc_(argc), argv_(argv) {}
  // Moves to the next option; false after the last.
  bool next() noexcept { return ++i_ < argc_; }
  bool is(std::string_view name) const noexcept { return name == argv_[i_]; }
  std::string name() const { return argv_[i_]; }
  // The value after this option (and moves past it); ends the run when there is none.
  std::string value() {
    if (i_ + 1 >= argc_) die("missing value after " + name());
    return argv_[++i_];
  }
  int reps() { return std::max(1, std::atoi(value().c_str())); }
  std::uint64_t count() { return std::strtoull(value().c_str(), nullptr, 10); }

 private:
  int argc_;
  char** argv_;
  int i_ = 0;
};

// An option of one benchmark's own: its name, and what it does (reading its value, if it has
// one, from the cursor).
struct option_rule {
  const char* name;
  std::function<void(arg_cursor&)> take;
};

// Reads the command line into `o`: an option named in `own` does what its rule says (own
// comes first, so it may also take --quick or --reps); then --reps, --quick and --out;
// --help or -h prints `usage` and exits; anything else ends the run.
inline void parse_command_line(int argc, char** argv, run_options& o, const char* usage,
                               std::initializer_list<option_rule> own) {
  arg_cursor args(argc, argv);
  while (args.next()) {
    const auto rule =
        std::find_if(own.begin(), own.end(), [&](const option_rule& r) { return args.is(r.name); });
    if (rule != own.end()) {
      rule->take(args);
    } else if (args.is("--reps")) {
      o.reps = args.reps();
    } else if (args.is("--quick")) {
      o.quick = true;
    } else if (args.is("--out")) {
      o.out = args.value();
    } else if (args.is("--help") || args.is("-h")) {
      std::puts(usage);
      std::exit(0);
    } else {
      die("unknown option " + args.name() + " (see --help)");
    }
  }
}

// The run facts bus_bench's and queue_bench's results start with: the benchmark, the commit,
// compiler, CPU, date and load average (the later benchmarks write
// lanes_tools::result_header's).
inline void write_run_facts(json_writer& w, const char* benchmark) {
  w.field("benchmark", benchmark);
  w.field("git_commit", lanes_tools::git_commit());
  w.field("compiler", lanes_tools::compiler());
  w.field("cpu_model", lanes_tools::cpu_model());
  w.field("date", lanes_tools::utc_date());
  w.field("load_average", lanes_tools::load_average());
}

// ---- other programs ----

// Runs `command` with the shell and returns what it wrote to stdout; its exit status (as
// pclose returns it) goes to *status. Ends the run when the command cannot be started.
inline std::string command_output(const std::string& command, int* status = nullptr) {
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) die("cannot run: " + command);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int st = ::pclose(p);
  if (status != nullptr) *status = st;
  return out;
}

// ---- the results file ----

// Writes the results file `path` (its directory made if needed) as one JSON object whose
// members write(w) adds; ends the run when the file cannot be written.
template <class Write>
void write_results_file(const std::string& path, Write&& write) {
  const std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  std::ofstream file(p);
  if (!file) die("cannot write " + path);
  json_writer w(file);
  w.begin_object();
  write(w);
  w.end_object();
  file << "\n";
  if (!file.flush()) die("cannot write " + path);
}

// "median", "min" and "max" of `v` (not empty), as members of the open object.
inline void write_spread(json_writer& w, const std::vector<double>& v) {
  w.field("median", median(v));
  w.field("min", *std::min_element(v.begin(), v.end()));
  w.field("max", *std::max_element(v.begin(), v.end()));
}

// "samples" (every value) and their spread.
inline void write_samples(json_writer& w, const std::vector<double>& v) {
  w.array("samples", v);
  write_spread(w, v);
}

// The spread of `v` as a line on stderr, `id` padded to `width`.
inline void print_spread(const std::string& id, const std::vector<double>& v, int width) {
  std::fprintf(stderr, "%-*s median %.3f (min %.3f, max %.3f)\n", width, id.c_str(), median(v),
               *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()));
}

// A ratio taken round by round, numerator over denominator: its object under `id` (what was
// divided, every round's ratio, their spread) and its line on stderr.
inline void write_ratio(json_writer& w, const std::string& id, const std::string& numerator,
                        const std::string& denominator, const std::vector<double>& per_round,
                        int width) {
  w.key(id);
  w.begin_object();
  w.field("numerator", numerator);
  w.field("denominator", denominator);
  w.array("per_round", per_round);
  write_spread(w, per_round);
  w.end_object();
  print_spread(id, per_round, width);
}

}  // namespace lanes_bench
