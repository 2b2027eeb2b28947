// bench/persist_bench.hpp: what the files of persist_bench share: its options and sizes, one
// run's metrics (sample), and the steps each file provides (disk, segment files, fio, the bus
// cases, the group-commit window sweep, the results file). See persist_bench_main.cpp for
// what it measures and how.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_bus.hpp"
#include "bench_common.hpp"
#include <lanes/lanes.hpp>

namespace lanes_bench {

namespace fs = std::filesystem;

// The persister hands the log batches of up to 1 MiB of ring (modes/persist.cpp,
// append_new: target_bytes); with a producer that keeps the ring full that is the size of
// every write. Group commit: one fdatasync per sync_bytes (topic_config default 1 MiB).
constexpr std::size_t kSeqValueBytes = 1024;
constexpr std::size_t kSeqBatchMsgs = 64;
constexpr std::size_t kSeqRingBytes = std::size_t{16} << 20;
constexpr std::size_t kBusWriteBytes = std::size_t{1} << 20;
constexpr std::size_t kSyncBytes = std::size_t{1} << 20;
constexpr int kFioIodepth = 4;
constexpr std::size_t kSyncValueBytes = 1024;
constexpr std::size_t kMemValueBytes = 64;
constexpr std::size_t kMemRingBytes = std::size_t{8} << 20;

struct options : run_options {
  options() : run_options{7, false, "results/persist_bench.json"} {}
  std::string dir = "/var/tmp/lanes-bench";
  std::string fio = "fio";
  std::uint64_t async_mib = 256;        // bytes of values per async run (and per fio run)
  std::uint64_t sync_ops = 1000;        // publishes per sync-latency run (and fio writes)
  double multi_seconds = 1.0;           // per group-commit run
  std::uint64_t mem_count = 2'000'000;  // messages per memory-only run
  bool window = true;                   // the group-commit window sweep
  int window_reps = 3;
  // msgs/s offered in the window latency runs: slow enough that a sync topic's single
  // producer keeps up when an fdatasync takes under 2 ms, fast enough for a few records per
  // window from 2 ms up
  double window_rate = 500;
  double window_seconds = 2.0;         // per window latency run
  double window_tput_seconds = 1.0;    // at most, per window throughput run
  std::uint64_t window_tput_mib = 64;  // and at most this many MiB of values
  std::string profile;
};

// Exact percentile of recorded samples (nearest rank).
inline double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(q * static_cast<double>(v.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

// One run of one case: named metrics; "value" is the one ratios use by default.
using sample = std::map<std::string, double>;

inline double get(const sample& s, const std::string& k) {
  const auto it = s.find(k);
  return it == s.end() ? 0.0 : it->second;
}

options parse(int argc, char** argv);  // persist_options.cpp

// ---- the disk under --dir (persist_disk.cpp) ----

struct disk_info {
  std::string dir, mount_point, device, fs_type, statfs_type, mount_options;
  std::string block_device, dev_numbers, rotational, write_cache, vendor, kind, journal;
  std::uint64_t size_bytes = 0;
  std::string stat_path;  // /sys/dev/block/M:m/stat, for I/O and flush counters
};

disk_info probe_disk(const fs::path& dir);

// Cumulative counters of the block device (Documentation/block/stat.rst).
struct block_counters {
  double writes = 0, write_sectors = 0, flushes = 0;
  bool ok = false;
};

block_counters read_block(const std::string& stat_path);
void add_block_delta(sample& s, const block_counters& a, const block_counters& b);

// CPU time (user + system) and context switches (voluntary + involuntary) of this process's
// threads (RUSAGE_SELF: producers, the persister, io_uring's io-wq workers) or of the
// children waited for (RUSAGE_CHILDREN: fio and its io-wq workers).
struct usage {
  double cpu_s = 0, switches = 0;
};

usage read_usage(int who);
usage operator-(const usage& a, const usage& b);

// ---- segment files (persist_segments.cpp) ----

struct log_scan {
  std::uint64_t files = 0, bytes = 0, batches = 0, records = 0, payload = 0;
};

// Walks every .log file under `root`, batch header by batch header (no CRC: the bus wrote
// them a moment ago; recovery is tested elsewhere).
log_scan scan_logs(const fs::path& root);

// What one bus or fio case did to the disk: made on a fresh (removed) directory, it reads the
// block device's counters; finish() reads them again, scans the segment files the case wrote
// and removes the directory. Cold path.
class disk_case {
 public:
  disk_case(const fs::path& dir, const disk_info& disk);
  log_scan finish();
  // The block device's writes and flushes meanwhile (add_block_delta).
  void add_device(sample& s) const { add_block_delta(s, before_, after_); }
  // add_device, records per batch written (from finish's scan) and s[per_key]: flushes per
  // `per` (messages, seconds), when the device counts flushes and per is not 0.
  void add_batches_and_flushes(sample& s, const char* per_key, double per) const;

 private:
  fs::path dir_;
  std::string stat_path_;
  block_counters before_, after_;
  log_scan scan_;
};

// ---- fio (persist_fio.cpp) ----

struct fio_run {
  nlohmann::json job;  // jobs[0] of fio's JSON
  std::string command;
  usage used;  // the fio process (with its start-up), its threads and io-wq workers
};

// fio's own start-up and exit (shared memory, job parsing, forking the job): measured once
// with a one-block job (measure_fio_startup), and taken off every fio run's CPU and switches.
extern usage fio_baseline;

// `fio --version`, trimmed; exits when fio is not installed.
std::string fio_version(const options& opt);
// Sets fio_baseline: the least of three one-block fio runs.
void measure_fio_startup(const options& opt, const fs::path& dir);
fio_run run_fio(const options& opt, const fs::path& dir, const std::string& args);
sample fio_seq(const options& opt, const fs::path& dir, const std::string& engine_args,
               std::uint64_t fdatasync_every, const disk_info& disk, std::string* command);
sample fio_sync_latency(const options& opt, const fs::path& dir, std::size_t write_bytes,
                        const disk_info& disk, std::string* command);

// ---- the bus (persist_cases.cpp) ----

sample bus_async(const options& opt, const fs::path& dir, const disk_info& disk);
sample bus_sync_latency(const options& opt, const fs::path& dir, const disk_info& disk);
sample bus_sync_producers(const options& opt, const fs::path& dir, const disk_info& disk,
                          int producers);
sample memory_only(const options& opt, const fs::path& dir, bool with_dir);
std::size_t probe_sync_write_bytes(const fs::path& dir);

// ---- durable-ack latency against the group-commit window (persist_window.cpp) ----

// Async group-commit windows (topic_config::sync_interval) swept, in microseconds.
constexpr std::int64_t kWindowsUs[] = {100, 500, 1000, 2000, 5000};
constexpr std::size_t kWindowRingBytes = std::size_t{4} << 20;

// How the producer learns that a record is durable.
//   callback: bus::on_durable, the persister's report; the producer does not wait, so the
//             group-commit window decides when the record is synced
//   wait:     producer::wait_durable right after each publish (documented to ask the
//             persister for a sync; the row measures whether it gets one before the window)
//   publish:  a sync topic: publish itself returns once the record is durable
enum class ack_via : std::uint8_t { callback, wait, publish };

const char* ack_name(ack_via a);

// One row of the sweep: a durability mode and window, how acks arrive, its samples.
struct window_point {
  std::string id;
  lanes::durability mode = lanes::durability::async;
  std::int64_t window_us = 0;  // 0: not an async topic
  ack_via via = ack_via::callback;
  bool throughput = true;  // also a saturation run
  std::vector<sample> latency, tput;
};

std::vector<window_point> window_points();
sample window_latency(const options& opt, const fs::path& dir, const disk_info& disk,
                      lanes::durability mode, std::int64_t window_us, ack_via via);
sample window_throughput(const options& opt, const fs::path& dir, const disk_info& disk,
                         lanes::durability mode, std::int64_t window_us);

// ---- the results file (persist_results.cpp) ----

// Every sample of every case, by case id, and what the run was measured on.
struct persist_run {
  std::vector<std::string> cases;  // in the order they run within a round
  std::map<std::string, std::vector<sample>> results;
  std::map<std::string, std::string> commands;  // fio command line per fio case
  std::vector<double> round_load;
  std::vector<window_point> windows;
  double load_start = 0, load_end = 0;
  std::string fio_version;
  std::size_t sync_write = 0;
};

// Writes the run to opt.out and prints the ratios to stderr.
void write_results(const options& opt, const disk_info& disk, persist_run& run);

}  // namespace lanes_bench
