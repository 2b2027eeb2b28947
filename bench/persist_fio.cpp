// bench/persist_fio.cpp: persist_bench's reference measurements, fio on the same disk:
// sequential writes with the bus's write size and group-commit cadence, and fdatasync latency
// with the bus's bytes per sync publish.
#include <sys/resource.h>

#include "bench_fio.hpp"
#include "persist_bench.hpp"

namespace lanes_bench {
namespace {

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

usage fio_baseline{};

// Runs fio on a fresh file in `dir` (appended to from empty, as the bus appends to its
// segments) and returns its only job. fio prints notes before the JSON: it is cut out.
fio_run run_fio(const options& opt, const fs::path& dir, const std::string& args) {
  fs::create_directories(dir);
  fio_run r;
  r.command = opt.fio + " --name=lanes --directory=" + shell_quote(dir.string()) +
              " --filename=fio.dat --rw=write --fallocate=none --file_append=1"
              " --output-format=json " +
              args;
  const usage u0 = read_usage(RUSAGE_CHILDREN);
  r.job = run_fio_job(r.command);
  r.used = read_usage(RUSAGE_CHILDREN) - u0 - fio_baseline;
  r.used.cpu_s = std::max(0.0, r.used.cpu_s);
  r.used.switches = std::max(0.0, r.used.switches);
  fs::remove_all(dir);
  return r;
}

// Sequential writes: MB/s (10^6 bytes) over fio's runtime.
sample fio_seq(const options& opt, const fs::path& dir, const std::string& engine_args,
               std::uint64_t fdatasync_every, const disk_info& disk, std::string* command) {
  const std::uint64_t bytes = opt.async_mib << 20;
  const block_counters b0 = read_block(disk.stat_path);
  const fio_run r = run_fio(
      opt, dir,
      "--bs=" + std::to_string(kBusWriteBytes) + " --size=" + std::to_string(bytes) +
          " --fdatasync=" + std::to_string(fdatasync_every) + " --end_fsync=1 " + engine_args);
  const block_counters b1 = read_block(disk.stat_path);
  if (command != nullptr) *command = r.command;
  sample s;
  s["value"] = fio_number(r.job, {"write", "bw_bytes"}) / 1e6;
  s["fdatasync_every"] = static_cast<double>(fdatasync_every);
  s["cpu_s_per_gb"] = r.used.cpu_s / (static_cast<double>(bytes) / 1e9);
  s["switches"] = r.used.switches;
  s["runtime_ms"] = fio_number(r.job, {"write", "runtime"});
  s["syncs"] = fio_number(r.job, {"sync", "lat_ns", "N"});
  s["sync_p50_ns"] = fio_number(r.job, {"sync", "lat_ns", "percentile", "50.000000"});
  s["sync_p99_ns"] = fio_number(r.job, {"sync", "lat_ns", "percentile", "99.000000"});
  add_block_delta(s, b0, b1);
  return s;
}

// fdatasync after every write of `write_bytes`: fio's `sync` latency percentiles.
sample fio_sync_latency(const options& opt, const fs::path& dir, std::size_t write_bytes,
                        const disk_info& disk, std::string* command) {
  const block_counters b0 = read_block(disk.stat_path);
  const fio_run r = run_fio(opt, dir,
                            "--ioengine=psync --bs=" + std::to_string(write_bytes) + " --size=" +
                                std::to_string(write_bytes * opt.sync_ops) + " --fdatasync=1");
  const block_counters b1 = read_block(disk.stat_path);
  if (command != nullptr) *command = r.command;
  sample s;
  s["p50"] = fio_number(r.job, {"sync", "lat_ns", "percentile", "50.000000"});
  s["p99"] = fio_number(r.job, {"sync", "lat_ns", "percentile", "99.000000"});
  s["p999"] = fio_number(r.job, {"sync", "lat_ns", "percentile", "99.900000"});
  s["max"] = fio_number(r.job, {"sync", "lat_ns", "max"});
  s["mean"] = fio_number(r.job, {"sync", "lat_ns", "mean"});
  s["syncs"] = fio_number(r.job, {"sync", "lat_ns", "N"});
  // Writes + fdatasyncs per second of one stream: the single-stream durable rate.
  s["iops"] = fio_number(r.job, {"write", "iops"});
  s["write_p50"] = fio_number(r.job, {"write", "clat_ns", "percentile", "50.000000"});
  s["value"] = s["p99"];
  // psync does everything on fio's job thread, whose own accounting is exact (the process
  // delta carries fio's noisy start-up); usr_cpu and sys_cpu are percent of job_runtime.
  const double job_cpu_s = (fio_number(r.job, {"usr_cpu"}) + fio_number(r.job, {"sys_cpu"})) /
                           100.0 * fio_number(r.job, {"job_runtime"}) * 1e-3;
  s["cpu_us_per_op"] = job_cpu_s * 1e6 / static_cast<double>(opt.sync_ops);
  s["switches_per_op"] = fio_number(r.job, {"ctx"}) / static_cast<double>(opt.sync_ops);
  add_block_delta(s, b0, b1);
  if (s.count("dev_flushes") != 0 && s["syncs"] > 0) {
    s["flushes_per_sync"] = s["dev_flushes"] / s["syncs"];
  }
  return s;
}

std::string fio_version(const options& opt) {
  int fio_status = 0;
  std::string version = command_output(opt.fio + " --version 2>&1", &fio_status);
  while (!version.empty() && version.back() == '\n') version.pop_back();
  if (fio_status != 0) die("fio is not installed (Debian package fio; tools/setup.sh)");
  return version;
}

void measure_fio_startup(const options& opt, const fs::path& dir) {
  usage least{1e9, 1e9};
  for (int i = 0; i < 3; ++i) {
    const fio_run r = run_fio(opt, dir, "--ioengine=psync --bs=4096 --size=4096");
    least.cpu_s = std::min(least.cpu_s, r.used.cpu_s);
    least.switches = std::min(least.switches, r.used.switches);
  }
  fio_baseline = least;
}

}  // namespace lanes_bench
