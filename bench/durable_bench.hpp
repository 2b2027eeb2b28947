// bench/durable_bench.hpp: what the files of durable_bench share: its options, the lanes
// topics it measures, and the steps each file provides (fio, the segment files, latency,
// throughput, catch-up, idle, the results file). See durable_bench_main.cpp for what it
// measures and how.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_bus.hpp"
#include "bench_common.hpp"
#include <lanes/lanes.hpp>

namespace lanes_bench {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct options : run_options {
  options() : run_options{3, false, "results/durable_bench.json"} {}
  std::string dir = "/var/tmp/lanes-bench";
  std::uint64_t catchup_mib = 1024;
};

options parse_options(int argc, char** argv);  // durable_options.cpp

// ---- fio (durable_fio.cpp) ----

// fdatasync after every 4 KiB write (what a small group commit costs): p50, p99 in us.
json fio_fdatasync(const fs::path& dir, int ops, int rate_iops = 0);
// Buffered sequential writes, 1 MiB blocks, fsync at the end: MB/s.
double fio_write_mbs(const fs::path& dir, std::uint64_t mib);
// Sequential reads of these files in order, 1 MiB blocks: MB/s.
double fio_read_mbs(const std::vector<fs::path>& files);

// ---- the segment files (durable_segments.cpp) ----

std::vector<fs::path> segment_files(const fs::path& pdir);
// Drops the files from the page cache (they are durable: fsync first, then DONTNEED).
void drop_cache(const std::vector<fs::path>& files);
// A pread walk of the segment files without any check: MB/s; `records` counts the frames.
double raw_walk_mbs(const std::vector<fs::path>& files, std::uint64_t& records);
// The seconds CRC32C takes over every byte of these files.
double crc_seconds(const std::vector<fs::path>& files);

// ---- the lanes topics (durable_topics.cpp) ----

lanes::topic_config durable_topic(lanes::durability d, std::chrono::microseconds window);
// A consumer of topic "t" partition 0 from the earliest offset.
lanes::consumer reader(lanes::bus& b);

// ---- latency (durable_latency.cpp) ----

json paced_latency(const fs::path& dir, const lanes::topic_config& tc, double rate, double secs);
json durable_ack(const fs::path& dir, std::chrono::microseconds window, int count);

// ---- throughput (durable_throughput.cpp) ----

json throughput(const fs::path& dir, lanes::durability d, std::size_t value_size,
                std::uint64_t bytes);

// ---- catch-up (durable_catchup.cpp) ----

// The data set every catch-up run reads: one partition of 1 KiB records, all durable.
struct catchup_data {
  fs::path dir;
  std::uint64_t records = 0;
  std::vector<fs::path> files;
  double file_mb = 0;
};

catchup_data write_catchup_data(const options& o, const fs::path& cdir);
// --reps rounds of fio, the raw walk and the consumer reading the files, cold and warm.
json catchup_rounds(const options& o, const catchup_data& d);
json catch_up(const fs::path& dir, std::uint64_t records, double file_mb, bool extra);

// ---- idle (durable_idle.cpp) ----

json idle(const fs::path& dir, double secs);

// ---- the results file (durable_results.cpp) ----

struct durable_run {
  json rounds = json::array();
  catchup_data catchup_set;
  json catchup = json::array();
  json rejoin;
  json idle_result;
};

void write_results(const options& o, const durable_run& run);

}  // namespace lanes_bench
