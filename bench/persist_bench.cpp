// persist_bench: durable topics against what fio measures on the same disk, in the same run.
//
//   seq          async durability: one producer publishes --async-mib of 1 KiB values
//                (publish_batch of 64) and the clock stops when the last one is durable;
//                MB/s of values against fio's sequential buffered writes to the same
//                directory with the bus's write size and group-commit cadence
//                (--bs = 1 MiB = the persister's batch target, --fdatasync = sync_bytes / bs),
//                io_uring (iodepth 4) and psync; O_DIRECT with the same cadence is reported too
//   sync latency one producer publishes 1 KiB values to a sync topic, one at a time; every
//                publish is timed (it returns when its record is durable) against fio
//                --fdatasync=1 --bs=<bytes the bus writes per such publish> (fio's `sync`
//                latency percentiles)
//   group commit a multi-producer sync topic, 1, 2 and 4 producer threads, each publishing
//                1 KiB values and waiting for its durable ack: ops/s, records per written
//                batch (from the segment files) and flushes per message (the block device's
//                flush counter, normalised by fio's flushes per fdatasync in the same round)
//   memory only  a memory-only topic on a bus without a data directory against a
//                durability::none topic on a bus with one: one producer (CPU 0), one busy
//                consumer group member (CPU 1), 64-byte values
//   window       async durability at group-commit windows (topic_config::sync_interval) of
//                100 us .. 5 ms, and a sync topic as the reference: durable-ack latency of 1 KiB
//                values published at a fixed rate (timed from when each was due), and the
//                throughput of one producer publishing back to back until the last is durable.
//                The acks come from bus::on_durable (the persister's report; the producer
//                does not wait). One extra row has the producer wait with wait_durable after
//                each publish (closed loop), which the API says asks for a sync: its service
//                time shows whether the window still applies to a waiting producer
//
// Method (shared/BENCHMARKING.md): one warm-up round discarded, then --reps rounds in which
// every case runs once, fio and bus alternating; ratios are taken within a round, then their
// median. Every case writes to a fresh directory under --dir (same filesystem for fio and
// the bus), deleted after it. Results go to --out as JSON (tools/persist_bench_report.py).
//
//   persist_bench [--reps N] [--quick] [--dir PATH] [--out PATH] [--fio PATH]
//   persist_bench --profile async|sync|sync_p4|mem_dir|mem_nodir [--reps N] [--dir PATH]
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "lanes_support/json_writer.hpp"
#include "lanes_support/median.hpp"
#include "lanes_support/run_info.hpp"
#include <lanes/lanes.hpp>
#include <lanes/segment_format.hpp>

namespace lanes_bench {
namespace {

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

struct options {
  int reps = 7;
  bool quick = false;
  std::string dir = "/var/tmp/lanes-bench";
  std::string out = "results/persist_bench.json";
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

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "persist_bench: %s\n", what.c_str());
  std::exit(1);
}

using lanes_support::median;

// Exact percentile of recorded samples (nearest rank).
double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(q * static_cast<double>(v.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

// One run of one case: named metrics; "value" is the one ratios use by default.
using sample = std::map<std::string, double>;

// ---- the disk under --dir ----

struct disk_info {
  std::string dir, mount_point, device, fs_type, statfs_type, mount_options;
  std::string block_device, dev_numbers, rotational, write_cache, vendor, kind, journal;
  std::uint64_t size_bytes = 0;
  std::string stat_path;  // /sys/dev/block/M:m/stat, for I/O and flush counters
};

std::string read_line(const fs::path& p) {
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string statfs_name(long type) {
  switch (static_cast<unsigned long>(type)) {
    case 0xEF53: return "ext2/ext3/ext4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs";
    case 0x794C7630: return "overlayfs";
    case 0x2FC12FC1: return "zfs";
    case 0x6969: return "nfs";
    default: {
      char b[32];
      std::snprintf(b, sizeof b, "0x%lx", static_cast<unsigned long>(type));
      return b;
    }
  }
}

disk_info probe_disk(const fs::path& dir) {
  disk_info d;
  d.dir = fs::canonical(dir).string();
  struct statfs sf {};
  if (::statfs(d.dir.c_str(), &sf) == 0) d.statfs_type = statfs_name(sf.f_type);
  // The mount holding the directory: the longest mount point that prefixes it.
  std::ifstream mounts("/proc/mounts");
  std::string line;
  std::size_t best = 0;
  while (std::getline(mounts, line)) {
    std::istringstream ls(line);
    std::string dev, mp, type, opts;
    ls >> dev >> mp >> type >> opts;
    const bool prefix = d.dir == mp || mp == "/" ||
                        (d.dir.compare(0, mp.size(), mp) == 0 && d.dir[mp.size()] == '/');
    if (prefix && mp.size() >= best) {
      best = mp.size();
      d.mount_point = mp;
      d.device = dev;
      d.fs_type = type;
      d.mount_options = opts;
    }
  }
  struct stat st {};
  if (::stat(d.dir.c_str(), &st) == 0) {
    const std::string mm =
        std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
    d.dev_numbers = mm;
    const fs::path sys = fs::path("/sys/dev/block") / mm;
    std::error_code ec;
    const fs::path real = fs::canonical(sys, ec);
    if (!ec) {
      d.block_device = real.filename().string();
      // ext4 and others with a jbd2 journal list it as /proc/fs/jbd2/<device>-<inode>.
      d.journal = "none (no /proc/fs/jbd2 entry)";
      for (const auto& e : fs::directory_iterator("/proc/fs/jbd2", ec)) {
        if (e.path().filename().string().rfind(d.block_device + "-", 0) == 0) {
          d.journal = "jbd2 (" + e.path().filename().string() + ")";
        }
      }
      d.stat_path = (real / "stat").string();
      // A partition has no queue/ of its own: the whole disk is its parent.
      const fs::path disk = fs::exists(real / "queue") ? real : real.parent_path();
      d.rotational = read_line(disk / "queue/rotational");
      d.write_cache = read_line(disk / "queue/write_cache");
      d.vendor = read_line(disk / "device/vendor");
      const std::string model = read_line(disk / "device/model");
      const std::string sectors = read_line(disk / "size");
      d.size_bytes = std::strtoull(sectors.c_str(), nullptr, 10) * 512;
      if (d.vendor == "0x1af4") {
        d.kind =
            "virtio-blk virtual disk (vendor 0x1af4): the hypervisor decides what a "
            "flush costs";
      } else if (!model.empty()) {
        d.kind = model;
      } else {
        d.kind = "unknown";
      }
    }
  }
  return d;
}

// Cumulative counters of the block device (Documentation/block/stat.rst).
struct block_counters {
  double writes = 0, write_sectors = 0, flushes = 0;
  bool ok = false;
};

block_counters read_block(const std::string& stat_path) {
  block_counters b;
  if (stat_path.empty()) return b;
  std::ifstream in(stat_path);
  std::vector<double> f;
  double x = 0;
  while (in >> x) f.push_back(x);
  if (f.size() < 7) return b;
  b.writes = f[4];
  b.write_sectors = f[6];
  b.flushes = f.size() >= 16 ? f[15] : -1;  // kernels before 5.5 have no flush counters
  b.ok = true;
  return b;
}

void add_block_delta(sample& s, const block_counters& a, const block_counters& b) {
  if (!a.ok || !b.ok) return;
  s["dev_writes"] = b.writes - a.writes;
  s["dev_write_mb"] = (b.write_sectors - a.write_sectors) * 512 / 1e6;
  if (a.flushes >= 0) s["dev_flushes"] = b.flushes - a.flushes;
}

// CPU time (user + system) and context switches (voluntary + involuntary) of this process's
// threads (RUSAGE_SELF: producers, the persister, io_uring's io-wq workers) or of the
// children waited for (RUSAGE_CHILDREN: fio and its io-wq workers).
struct usage {
  double cpu_s = 0, switches = 0;
};

usage read_usage(int who) {
  rusage u{};
  (void)getrusage(who, &u);
  usage r;
  r.cpu_s = static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
            static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
  r.switches = static_cast<double>(u.ru_nvcsw + u.ru_nivcsw);
  return r;
}

usage operator-(const usage& a, const usage& b) {
  return {a.cpu_s - b.cpu_s, a.switches - b.switches};
}

// ---- segment files ----

struct log_scan {
  std::uint64_t files = 0, bytes = 0, batches = 0, records = 0, payload = 0;
};

// Walks every .log file under `root`, batch header by batch header (no CRC: the bus wrote
// them a moment ago; recovery is tested elsewhere).
log_scan scan_logs(const fs::path& root) {
  log_scan s;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file() || it->path().extension() != ".log") continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ++s.files;
    s.bytes += data.size();
    std::size_t pos = lanes::io::file_header_size;
    while (pos + lanes::io::batch_header_size <= data.size()) {
      lanes::io::batch_header h;
      const auto bytes = std::as_bytes(std::span(data)).subspan(pos);
      if (lanes::io::decode_batch_header(bytes, 64u << 20, h) != lanes::io::batch_status::ok) {
        break;
      }
      ++s.batches;
      s.records += h.count;
      s.payload += h.total_size();
      pos += h.total_size();
    }
  }
  return s;
}

lanes::bus_config disk_bus(const fs::path& dir) {
  lanes::bus_config c;
  c.data_dir = dir.string();
  c.housekeeping_interval = std::chrono::milliseconds(0);
  return c;
}

// ---- fio ----

// The number at `path` in fio's JSON (object members by name), or fallback.
double number(const nlohmann::json& j, std::initializer_list<const char*> path,
              double fallback = 0) {
  const nlohmann::json* v = &j;
  for (const char* k : path) {
    if (!v->is_object() || !v->contains(k)) return fallback;
    v = &(*v)[k];
  }
  return v->is_number() ? v->get<double>() : fallback;
}

struct fio_run {
  nlohmann::json job;  // jobs[0] of fio's JSON
  std::string command;
  usage used;  // the fio process (with its start-up), its threads and io-wq workers
};

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string run_capture(const std::string& cmd, int& status) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) die("cannot run: " + cmd);
  std::string out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  status = ::pclose(p);
  return out;
}

// fio's own start-up and exit (shared memory, job parsing, forking the job): measured once
// with a one-block job, the least of three, and taken off every fio run's CPU and switches.
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
  int status = 0;
  const usage u0 = read_usage(RUSAGE_CHILDREN);
  const std::string out = run_capture(r.command + " 2>&1", status);
  r.used = read_usage(RUSAGE_CHILDREN) - u0 - fio_baseline;
  r.used.cpu_s = std::max(0.0, r.used.cpu_s);
  r.used.switches = std::max(0.0, r.used.switches);
  const std::size_t a = out.find('{');
  const std::size_t b = out.rfind('}');
  if (status != 0 || a == std::string::npos || b == std::string::npos) {
    die("fio failed (" + r.command + "):\n" + out);
  }
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(std::string_view(out).substr(a, b - a + 1));
  } catch (const nlohmann::json::exception& e) {
    die(std::string("cannot parse fio's JSON: ") + e.what());
  }
  if (!doc.contains("jobs") || !doc["jobs"].is_array() || doc["jobs"].empty()) {
    die("fio's JSON has no jobs");
  }
  const nlohmann::json* job = &doc["jobs"][0];
  if (number(*job, {"error"}) != 0) die("fio reported an error: " + r.command);
  r.job = *job;
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
  s["value"] = number(r.job, {"write", "bw_bytes"}) / 1e6;
  s["fdatasync_every"] = static_cast<double>(fdatasync_every);
  s["cpu_s_per_gb"] = r.used.cpu_s / (static_cast<double>(bytes) / 1e9);
  s["switches"] = r.used.switches;
  s["runtime_ms"] = number(r.job, {"write", "runtime"});
  s["syncs"] = number(r.job, {"sync", "lat_ns", "N"});
  s["sync_p50_ns"] = number(r.job, {"sync", "lat_ns", "percentile", "50.000000"});
  s["sync_p99_ns"] = number(r.job, {"sync", "lat_ns", "percentile", "99.000000"});
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
  s["p50"] = number(r.job, {"sync", "lat_ns", "percentile", "50.000000"});
  s["p99"] = number(r.job, {"sync", "lat_ns", "percentile", "99.000000"});
  s["p999"] = number(r.job, {"sync", "lat_ns", "percentile", "99.900000"});
  s["max"] = number(r.job, {"sync", "lat_ns", "max"});
  s["mean"] = number(r.job, {"sync", "lat_ns", "mean"});
  s["syncs"] = number(r.job, {"sync", "lat_ns", "N"});
  // Writes + fdatasyncs per second of one stream: the single-stream durable rate.
  s["iops"] = number(r.job, {"write", "iops"});
  s["write_p50"] = number(r.job, {"write", "clat_ns", "percentile", "50.000000"});
  s["value"] = s["p99"];
  // psync does everything on fio's job thread, whose own accounting is exact (the process
  // delta carries fio's noisy start-up); usr_cpu and sys_cpu are percent of job_runtime.
  const double job_cpu_s = (number(r.job, {"usr_cpu"}) + number(r.job, {"sys_cpu"})) / 100.0 *
                           number(r.job, {"job_runtime"}) * 1e-3;
  s["cpu_us_per_op"] = job_cpu_s * 1e6 / static_cast<double>(opt.sync_ops);
  s["switches_per_op"] = number(r.job, {"ctx"}) / static_cast<double>(opt.sync_ops);
  add_block_delta(s, b0, b1);
  if (s.count("dev_flushes") != 0 && s["syncs"] > 0) {
    s["flushes_per_sync"] = s["dev_flushes"] / s["syncs"];
  }
  return s;
}

// ---- bus: async throughput ----

sample bus_async(const options& opt, const fs::path& dir, const disk_info& disk) {
  fs::remove_all(dir);
  const std::uint64_t total = (opt.async_mib << 20) / kSeqValueBytes;
  std::vector<char> values(kSeqBatchMsgs * kSeqValueBytes, 'v');
  std::vector<lanes::message> msgs(kSeqBatchMsgs);
  std::vector<lanes::publish_result> results(kSeqBatchMsgs);
  sample s;
  const block_counters b0 = read_block(disk.stat_path);
  std::uint64_t t0 = 0, t_published = 0, t1 = 0;
  usage u0, used;
  {
    lanes::bus b(disk_bus(dir));
    lanes::topic_config tc;
    tc.partitions = 1;
    tc.ring_capacity = kSeqRingBytes;
    tc.producers = lanes::producer_mode::single;
    tc.durable = lanes::durability::async;
    tc.sync_bytes = kSyncBytes;
    if (b.create_topic("seq", tc) != lanes::errc::ok) die("create_topic(seq) failed");
    lanes::producer p = b.make_producer("seq");
    std::uint64_t last = 0;
    u0 = read_usage(RUSAGE_SELF);
    t0 = now_ns();
    for (std::uint64_t i = 0; i < total;) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(kSeqBatchMsgs, total - i));
      for (std::size_t k = 0; k < n; ++k, ++i) {
        char* v = values.data() + k * kSeqValueBytes;
        std::memcpy(v, &i, sizeof i);
        msgs[k].value = std::string_view(v, kSeqValueBytes);
      }
      if (p.publish_batch(std::span(msgs.data(), n), results) != n) {
        die(std::string("publish_batch failed: ") + lanes::to_string(results[0].status));
      }
      last = results[n - 1].offset;
    }
    t_published = now_ns();
    const lanes::errc e = p.wait_durable(0, last, std::chrono::seconds(120));
    t1 = now_ns();
    used = read_usage(RUSAGE_SELF) - u0;
    if (e != lanes::errc::ok) die(std::string("wait_durable failed: ") + lanes::to_string(e));
    const auto info = b.describe_topic("seq");
    if (!info || info->partitions[0].durable_offset < total) die("not everything is durable");
  }
  const block_counters b1 = read_block(disk.stat_path);
  const log_scan ls = scan_logs(dir);
  fs::remove_all(dir);
  if (ls.records != total) die("async run: the segment files do not hold every record");
  const double secs = static_cast<double>(t1 - t0) * 1e-9;
  s["value"] = static_cast<double>(total * kSeqValueBytes) / secs / 1e6;  // MB/s of values
  s["disk_mb_s"] = static_cast<double>(ls.bytes) / secs / 1e6;            // segment bytes written
  s["msgs_per_s"] = static_cast<double>(total) / secs;
  s["publish_mb_s"] = static_cast<double>(total * kSeqValueBytes) /
                      (static_cast<double>(t_published - t0) * 1e-9) / 1e6;
  s["tail_ms"] = static_cast<double>(t1 - t_published) * 1e-6;  // last publish -> durable
  s["batches"] = static_cast<double>(ls.batches);
  s["avg_batch_bytes"] =
      ls.batches ? static_cast<double>(ls.payload) / static_cast<double>(ls.batches) : 0;
  s["segments"] = static_cast<double>(ls.files);
  s["cpu_s_per_gb"] = used.cpu_s / (static_cast<double>(total * kSeqValueBytes) / 1e9);
  s["switches"] = used.switches;
  add_block_delta(s, b0, b1);
  return s;
}

// ---- bus: sync latency, one producer ----

sample bus_sync_latency(const options& opt, const fs::path& dir, const disk_info& disk) {
  fs::remove_all(dir);
  std::vector<double> lat;
  lat.reserve(opt.sync_ops);
  char value[kSyncValueBytes];
  std::memset(value, 's', sizeof value);
  const block_counters b0 = read_block(disk.stat_path);
  std::uint64_t t0 = 0, t1 = 0;
  usage u0, used;
  {
    lanes::bus b(disk_bus(dir));
    lanes::topic_config tc;
    tc.partitions = 1;
    tc.ring_capacity = std::size_t{1} << 20;
    tc.producers = lanes::producer_mode::single;
    tc.durable = lanes::durability::sync;
    if (b.create_topic("lat", tc) != lanes::errc::ok) die("create_topic(lat) failed");
    lanes::producer p = b.make_producer("lat");
    u0 = read_usage(RUSAGE_SELF);
    t0 = now_ns();
    for (std::uint64_t i = 0; i < opt.sync_ops; ++i) {
      std::memcpy(value, &i, sizeof i);
      const std::uint64_t a = now_ns();
      const lanes::publish_result r = p.publish({}, std::string_view(value, sizeof value));
      const std::uint64_t z = now_ns();
      if (!r) die(std::string("sync publish failed: ") + lanes::to_string(r.status));
      lat.push_back(static_cast<double>(z - a));
    }
    t1 = now_ns();
    used = read_usage(RUSAGE_SELF) - u0;
  }
  const block_counters b1 = read_block(disk.stat_path);
  const log_scan ls = scan_logs(dir);
  fs::remove_all(dir);
  sample s;
  double sum = 0;
  for (double x : lat) sum += x;
  s["mean"] = sum / static_cast<double>(lat.size());
  s["p50"] = percentile(lat, 0.50);
  s["p99"] = percentile(lat, 0.99);
  s["p999"] = percentile(lat, 0.999);
  s["max"] = lat.back();
  s["ops_per_s"] = static_cast<double>(opt.sync_ops) / (static_cast<double>(t1 - t0) * 1e-9);
  s["cpu_us_per_op"] = used.cpu_s * 1e6 / static_cast<double>(opt.sync_ops);
  s["switches_per_op"] = used.switches / static_cast<double>(opt.sync_ops);
  s["value"] = s["p99"];
  s["records_per_batch"] =
      ls.batches ? static_cast<double>(ls.records) / static_cast<double>(ls.batches) : 0;
  add_block_delta(s, b0, b1);
  if (s.count("dev_flushes") != 0) {
    s["flushes_per_msg"] = s["dev_flushes"] / static_cast<double>(opt.sync_ops);
  }
  return s;
}

// ---- bus: sync, several producers (group commit) ----

sample bus_sync_producers(const options& opt, const fs::path& dir, const disk_info& disk,
                          int producers) {
  fs::remove_all(dir);
  sample s;
  const block_counters b0 = read_block(disk.stat_path);
  std::uint64_t total = 0;
  double secs = 0;
  usage used;
  std::vector<double> lat;
  {
    lanes::bus b(disk_bus(dir));
    lanes::topic_config tc;
    tc.partitions = 1;
    tc.ring_capacity = std::size_t{1} << 20;
    tc.producers = lanes::producer_mode::multi;
    tc.durable = lanes::durability::sync;
    if (b.create_topic("group", tc) != lanes::errc::ok) die("create_topic(group) failed");
    std::vector<lanes::producer> ps;
    for (int i = 0; i < producers; ++i) ps.push_back(b.make_producer("group"));
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::uint64_t> counts(static_cast<std::size_t>(producers), 0);
    std::vector<std::vector<double>> lats(static_cast<std::size_t>(producers));
    const auto run_ns = static_cast<std::uint64_t>(opt.multi_seconds * 1e9);
    std::uint64_t t0 = 0;
    std::vector<std::thread> threads;
    for (int i = 0; i < producers; ++i) {
      threads.emplace_back([&, i] {
        const auto k = static_cast<std::size_t>(i);
        char value[kSyncValueBytes];
        std::memset(value, 'g', sizeof value);
        lats[k].reserve(100'000);
        ready.fetch_add(1, std::memory_order_acq_rel);
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        const std::uint64_t deadline = t0 + run_ns;
        std::uint64_t n = 0;
        for (std::uint64_t a = now_ns(); a < deadline; ++n) {
          std::memcpy(value, &n, sizeof n);
          const lanes::publish_result r = ps[k].publish({}, std::string_view(value, sizeof value));
          const std::uint64_t z = now_ns();
          if (!r) die(std::string("sync publish failed: ") + lanes::to_string(r.status));
          lats[k].push_back(static_cast<double>(z - a));
          a = z;
        }
        counts[k] = n;
      });
    }
    while (ready.load(std::memory_order_acquire) < producers) std::this_thread::yield();
    const usage u0 = read_usage(RUSAGE_SELF);
    t0 = now_ns();
    go.store(true, std::memory_order_release);  // pairs with the producers' acquire of go
    for (auto& t : threads) t.join();
    secs = static_cast<double>(now_ns() - t0) * 1e-9;  // the last ack, not the deadline
    used = read_usage(RUSAGE_SELF) - u0;
    for (std::size_t k = 0; k < counts.size(); ++k) {
      total += counts[k];
      lat.insert(lat.end(), lats[k].begin(), lats[k].end());
    }
  }
  const block_counters b1 = read_block(disk.stat_path);
  const log_scan ls = scan_logs(dir);
  fs::remove_all(dir);
  if (ls.records != total) die("group-commit run: the segment files do not hold every record");
  s["value"] = static_cast<double>(total) / secs;  // durable msgs/s
  s["messages"] = static_cast<double>(total);
  s["cpu_us_per_msg"] = total ? used.cpu_s * 1e6 / static_cast<double>(total) : 0;
  s["switches_per_msg"] = total ? used.switches / static_cast<double>(total) : 0;
  s["p50"] = percentile(lat, 0.50);
  s["p99"] = percentile(lat, 0.99);
  s["records_per_batch"] =
      ls.batches ? static_cast<double>(ls.records) / static_cast<double>(ls.batches) : 0;
  add_block_delta(s, b0, b1);
  if (s.count("dev_flushes") != 0 && total != 0) {
    s["flushes_per_msg"] = s["dev_flushes"] / static_cast<double>(total);
  }
  return s;
}

// ---- memory only: the same publish/poll path with and without a data directory ----

sample memory_only(const options& opt, const fs::path& dir, bool with_dir) {
  fs::remove_all(dir);
  lanes::bus_config bc;
  bc.housekeeping_interval = std::chrono::milliseconds(0);
  if (with_dir) bc.data_dir = dir.string();
  sample s;
  {
    lanes::bus b(bc);
    lanes::topic_config tc;
    tc.partitions = 1;
    tc.ring_capacity = kMemRingBytes;
    tc.producers = lanes::producer_mode::single;
    tc.durable = lanes::durability::none;
    if (b.create_topic("mem", tc) != lanes::errc::ok) die("create_topic(mem) failed");
    lanes::producer prod = b.make_producer("mem");
    lanes::consumer_config cc;
    cc.group = "bench";
    cc.reset = lanes::offset_reset::earliest;
    cc.busy_spin = true;
    cc.auto_commit = false;
    cc.max_poll_records = 1024;
    lanes::consumer cons = b.make_consumer(cc);
    if (cons.subscribe({"mem"}) != lanes::errc::ok) die("subscribe failed");
    for (int i = 0; i < 1000 && cons.assignment().empty(); ++i) {
      (void)cons.poll(std::chrono::milliseconds(1));
    }
    if (cons.assignment().empty()) die("the group did not take the partition");
    const std::uint64_t count = opt.mem_count;
    start_barrier barrier;
    std::uint64_t t0 = 0, t1 = 0, sum = 0;
    const pair_outcome o = run_pinned_pair(
        [&] {
          char value[kMemValueBytes] = {};
          barrier.arrive_and_wait();
          t0 = now_ns();
          for (std::uint64_t i = 0; i < count; ++i) {
            std::memcpy(value, &i, sizeof i);
            if (!prod.publish({}, std::string_view(value, sizeof value))) die("publish failed");
          }
        },
        [&] {
          barrier.arrive_and_wait();
          std::uint64_t got = 0;
          while (got < count) {
            const lanes::poll_result r = cons.poll();
            for (const lanes::record_view& rec : r.records) {
              std::uint64_t i = 0;
              std::memcpy(&i, rec.value.data(), sizeof i);
              sum += i;
            }
            got += r.records.size();
          }
          t1 = now_ns();
        });
    if (sum != count * (count - 1) / 2) die("memory-only run lost or duplicated messages");
    s["value"] = static_cast<double>(count) / (static_cast<double>(t1 - t0) * 1e-9);
    s["floor_ns"] = o.floor_before_ns;
    s["preemptions"] = static_cast<double>(o.preemptions);
  }
  fs::remove_all(dir);
  return s;
}

// ---- durable-ack latency against the group-commit window ----

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

const char* ack_name(ack_via a) {
  switch (a) {
    case ack_via::callback: return "on_durable";
    case ack_via::wait: return "wait_durable";
    case ack_via::publish: return "publish (sync topic)";
  }
  return "?";
}

// The durable points bus::on_durable reported, with the time each arrived. Written only by
// the persister thread (the callback), read after the run; `durable` lets the producer's
// thread wait for the end without a lock.
class ack_log {
 public:
  explicit ack_log(std::size_t capacity) : events_(capacity) {}
  void on_durable(std::uint64_t durable_offset) noexcept {  // persister thread
    const std::uint64_t t = now_ns();
    const std::size_t i = size_.load(std::memory_order_relaxed);
    if (i < events_.size()) {
      events_[i] = {durable_offset, t};
      size_.store(i + 1, std::memory_order_release);  // (1) pairs with (2)
    }
    durable_.store(durable_offset, std::memory_order_release);
  }
  std::uint64_t durable() const noexcept { return durable_.load(std::memory_order_acquire); }
  // Waits (sleeping) until every offset below `end` is reported durable or `timeout` passed.
  bool wait_for(std::uint64_t end, std::chrono::milliseconds timeout) const {
    const std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(timeout.count()) * 1000000;
    while (durable() < end) {
      if (now_ns() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    return true;
  }
  // For each record i at offset first + i, published at start[i]: when it was reported
  // durable, less start[i]. Records never reported are left out (the caller checks).
  std::vector<double> latencies(std::uint64_t first,
                                const std::vector<std::uint64_t>& start) const {
    const std::size_t n = size_.load(std::memory_order_acquire);  // (2)
    std::vector<double> lat;
    lat.reserve(start.size());
    std::size_t k = 0;
    for (std::size_t i = 0; i < start.size(); ++i) {
      while (k < n && events_[k].first <= first + i) ++k;  // the first report covering it
      if (k == n) break;
      lat.push_back(static_cast<double>(events_[k].second - start[i]));
    }
    return lat;
  }
  std::size_t reports() const noexcept { return size_.load(std::memory_order_acquire); }

 private:
  std::vector<std::pair<std::uint64_t, std::uint64_t>> events_;  // (durable offset, ns)
  std::atomic<std::size_t> size_{0};
  std::atomic<std::uint64_t> durable_{0};
};

// One durable topic "window" on its own bus, its producer, and its on_durable reports.
struct window_topic {
  // Declared first, destroyed last: the bus reports the final durable point from its
  // destructor (the persister's stop), into acks.
  ack_log acks;
  lanes::bus bus;
  lanes::producer prod;
  window_topic(const fs::path& dir, lanes::durability mode, std::int64_t window_us,
               std::size_t max_acks)
      : acks(max_acks), bus(disk_bus(dir)) {
    lanes::topic_config tc;
    tc.partitions = 1;
    tc.ring_capacity = kWindowRingBytes;
    tc.producers = lanes::producer_mode::single;
    tc.durable = mode;
    tc.sync_bytes = kSyncBytes;
    if (window_us > 0) tc.sync_interval = std::chrono::microseconds(window_us);
    if (bus.create_topic("window", tc) != lanes::errc::ok) die("create_topic(window) failed");
    if (bus.on_durable("window", [this](std::uint32_t, std::uint64_t d, lanes::errc e) {
          if (e == lanes::errc::ok) acks.on_durable(d);
        }) != lanes::errc::ok) {
      die("on_durable(window) failed");
    }
    prod = bus.make_producer("window");
  }
};

void add_latency(sample& s, std::vector<double>& lat) {
  s["p50"] = percentile(lat, 0.50);
  s["p90"] = percentile(lat, 0.90);
  s["p99"] = percentile(lat, 0.99);
  s["p999"] = percentile(lat, 0.999);
  s["max"] = lat.empty() ? 0 : lat.back();  // percentile() sorted it
  s["acked"] = static_cast<double>(lat.size());
}

// Fixed rate: record i is due at start + i / rate; the producer sleeps until shortly before,
// spins to the due time and publishes; latency runs from the due time to the ack, so a
// publish or an ack that holds the producer up shows as latency (no coordinated omission).
sample window_latency(const options& opt, const fs::path& dir, const disk_info& disk,
                      lanes::durability mode, std::int64_t window_us, ack_via via) {
  fs::remove_all(dir);
  const auto n = static_cast<std::uint64_t>(opt.window_rate * opt.window_seconds);
  const double period_ns = 1e9 / opt.window_rate;
  std::vector<std::uint64_t> due(n), sent(n);
  std::vector<double> lat;
  lat.reserve(n);
  char value[kSyncValueBytes];
  std::memset(value, 'w', sizeof value);
  sample s;
  const block_counters b0 = read_block(disk.stat_path);
  std::uint64_t t0 = 0, t1 = 0;
  {
    window_topic w(dir, mode, window_us, n + 64);
    // Warm-up, untimed: the first commit of a fresh topic creates its segment file (and
    // syncs the directory), which can take a disk under load 100 ms: not what a window costs.
    {
      const lanes::publish_result r = w.prod.publish({}, std::string_view(value, sizeof value));
      if (!r) die(std::string("window publish failed: ") + lanes::to_string(r.status));
      if (!w.acks.wait_for(r.offset + 1, std::chrono::seconds(10))) {
        die("window run: the warm-up record was not reported durable within 10 s");
      }
    }
    std::uint64_t first = 0;
    t0 = now_ns() + 2'000'000;  // the first record 2 ms from now
    for (std::uint64_t i = 0; i < n; ++i) {
      due[i] = t0 + static_cast<std::uint64_t>(static_cast<double>(i) * period_ns);
      const std::uint64_t now = now_ns();
      if (due[i] > now + 200'000) {
        std::this_thread::sleep_for(std::chrono::nanoseconds(due[i] - now - 200'000));
      }
      while (now_ns() < due[i]) lanes::cpu_relax();
      sent[i] = now_ns();
      std::memcpy(value, &i, sizeof i);
      const lanes::publish_result r = w.prod.publish({}, std::string_view(value, sizeof value));
      if (!r) die(std::string("window publish failed: ") + lanes::to_string(r.status));
      if (i == 0) first = r.offset;
      if (r.offset != first + i) die("window run: offsets are not dense");
      if (via == ack_via::wait) {
        const lanes::errc e = w.prod.wait_durable(0, r.offset, std::chrono::seconds(10));
        if (e != lanes::errc::ok) die(std::string("wait_durable failed: ") + lanes::to_string(e));
      }
      if (via != ack_via::callback) lat.push_back(static_cast<double>(now_ns() - due[i]));
    }
    if (!w.acks.wait_for(first + n, std::chrono::seconds(10))) {
      die("window run: not every record was reported durable within 10 s");
    }
    t1 = now_ns();
    if (via == ack_via::callback) lat = w.acks.latencies(first, due);
    if (lat.size() == n) {
      // Service time: from the publish call, not the due time. It differs from the latency
      // only when the producer falls behind the rate (closed loop: sync, wait_durable).
      std::vector<double> svc(n);
      for (std::uint64_t i = 0; i < n; ++i) {
        svc[i] = lat[i] - static_cast<double>(sent[i] - due[i]);
      }
      s["svc_p50"] = percentile(svc, 0.50);
      s["svc_p99"] = percentile(svc, 0.99);
    }
    s["durable_reports"] = static_cast<double>(w.acks.reports());
  }
  const block_counters b1 = read_block(disk.stat_path);
  const log_scan ls = scan_logs(dir);
  fs::remove_all(dir);
  if (lat.size() != n) die("window run: a record has no ack time");
  if (ls.records != n + 1) die("window run: the segment files do not hold every record");
  const double secs = static_cast<double>(t1 - t0) * 1e-9;
  add_latency(s, lat);
  s["value"] = s["p99"];
  s["offered_per_s"] = opt.window_rate;
  s["acked_per_s"] = static_cast<double>(n) / secs;
  s["records_per_batch"] =  // the warm-up record and its batch included
      ls.batches ? static_cast<double>(ls.records) / static_cast<double>(ls.batches) : 0;
  add_block_delta(s, b0, b1);
  if (s.count("dev_flushes") != 0) s["flushes_per_s"] = s["dev_flushes"] / secs;
  return s;
}

// Saturation: one producer publishes back to back (one publish per message) until
// window_tput_mib of values or window_tput_seconds, then the clock stops when the last
// record is reported durable (the last group commit waits for its window, as it would).
// Ack latency here runs from the start of each publish call.
sample window_throughput(const options& opt, const fs::path& dir, const disk_info& disk,
                         lanes::durability mode, std::int64_t window_us) {
  fs::remove_all(dir);
  const std::uint64_t cap = (opt.window_tput_mib << 20) / kSyncValueBytes;
  const auto run_ns = static_cast<std::uint64_t>(opt.window_tput_seconds * 1e9);
  std::vector<std::uint64_t> start;
  start.reserve(cap);
  char value[kSyncValueBytes];
  std::memset(value, 't', sizeof value);
  sample s;
  const block_counters b0 = read_block(disk.stat_path);
  std::uint64_t t0 = 0, t1 = 0, n = 0;
  std::vector<double> lat;
  {
    window_topic w(dir, mode, window_us, cap + 64);
    std::uint64_t first = 0;
    t0 = now_ns();
    for (std::uint64_t a = t0; n < cap && a - t0 < run_ns; ++n) {
      std::memcpy(value, &n, sizeof n);
      start.push_back(a);
      const lanes::publish_result r = w.prod.publish({}, std::string_view(value, sizeof value));
      if (!r) die(std::string("window publish failed: ") + lanes::to_string(r.status));
      if (n == 0) first = r.offset;
      a = now_ns();
    }
    if (!w.acks.wait_for(first + n, std::chrono::seconds(30))) {
      die("window throughput run: not every record was reported durable within 30 s");
    }
    t1 = now_ns();
    lat = w.acks.latencies(first, start);
  }
  const block_counters b1 = read_block(disk.stat_path);
  const log_scan ls = scan_logs(dir);
  fs::remove_all(dir);
  if (lat.size() != n) die("window throughput run: a record has no ack time");
  if (ls.records != n) die("window throughput run: the segment files do not hold every record");
  const double secs = static_cast<double>(t1 - t0) * 1e-9;
  add_latency(s, lat);
  s["value"] = static_cast<double>(n) / secs;  // durable msgs/s
  s["messages"] = static_cast<double>(n);
  s["mb_s"] = static_cast<double>(n * kSyncValueBytes) / secs / 1e6;
  s["records_per_batch"] =
      ls.batches ? static_cast<double>(ls.records) / static_cast<double>(ls.batches) : 0;
  add_block_delta(s, b0, b1);
  if (s.count("dev_flushes") != 0 && n != 0) {
    s["flushes_per_msg"] = s["dev_flushes"] / static_cast<double>(n);
  }
  return s;
}

// One row of the sweep: a durability mode and window, how acks arrive, its samples.
struct window_point {
  std::string id;
  lanes::durability mode = lanes::durability::async;
  std::int64_t window_us = 0;  // 0: not an async topic
  ack_via via = ack_via::callback;
  bool throughput = true;  // also a saturation run
  std::vector<sample> latency, tput;
};

std::vector<window_point> window_points() {
  std::vector<window_point> pts;
  for (const std::int64_t w : kWindowsUs) {
    pts.push_back({"async_" + std::to_string(w) + "us",
                   lanes::durability::async,
                   w,
                   ack_via::callback,
                   true,
                   {},
                   {}});
  }
  pts.push_back({"sync", lanes::durability::sync, 0, ack_via::publish, true, {}, {}});
  // The largest window once more, the producer waiting for each ack with wait_durable.
  const std::int64_t wmax = kWindowsUs[std::size(kWindowsUs) - 1];
  pts.push_back({"async_" + std::to_string(wmax) + "us_wait_durable",
                 lanes::durability::async,
                 wmax,
                 ack_via::wait,
                 false,
                 {},
                 {}});
  return pts;
}

// Bytes the bus writes for one sync publish of a kSyncValueBytes value (batch header and
// frame): a few records through a sync topic, then the segment file's size per batch.
std::size_t probe_sync_write_bytes(const fs::path& dir) {
  fs::remove_all(dir);
  {
    lanes::bus b(disk_bus(dir));
    lanes::topic_config tc;
    tc.durable = lanes::durability::sync;
    tc.producers = lanes::producer_mode::single;
    if (b.create_topic("probe", tc) != lanes::errc::ok) die("create_topic(probe) failed");
    lanes::producer p = b.make_producer("probe");
    const std::string v(kSyncValueBytes, 'p');
    for (int i = 0; i < 4; ++i) {
      if (!p.publish({}, v)) die("probe publish failed");
    }
  }
  const log_scan ls = scan_logs(dir);
  fs::remove_all(dir);
  if (ls.batches != 4) die("probe: expected one batch per sync publish");
  return static_cast<std::size_t>(ls.payload / ls.batches);
}

// ---- driver ----

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--reps") {
      o.reps = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--dir") {
      o.dir = next();
    } else if (a == "--out") {
      o.out = next();
    } else if (a == "--fio") {
      o.fio = next();
    } else if (a == "--profile") {
      o.profile = next();
    } else if (a == "--no-window") {
      o.window = false;
    } else if (a == "--help" || a == "-h") {
      std::puts(
          "usage: persist_bench [--reps N] [--quick] [--dir PATH] [--out PATH] [--fio PATH]\n"
          "                     [--no-window]\n"
          "       persist_bench --profile async|sync|sync_p4|mem_dir|mem_nodir|window [--reps N]\n"
          "  --dir      where the bus and fio write (default /var/tmp/lanes-bench); the\n"
          "             benchmark uses a fresh subdirectory and deletes it\n"
          "  --quick    2 short rounds: a smoke run of a few seconds of disk time\n"
          "  --no-window  skip the group-commit window sweep\n"
          "  --profile  runs only that case (for perf record) and writes no results file");
      std::exit(0);
    } else {
      die("unknown option " + a + " (see --help)");
    }
  }
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

void write_metrics(json_writer& w, const std::vector<sample>& ss) {
  std::map<std::string, std::vector<double>> by;
  for (const sample& s : ss) {
    for (const auto& [k, v] : s) by[k].push_back(v);
  }
  for (const auto& [k, v] : by) {
    w.key(k);
    w.begin_object();
    w.array("samples", v);
    w.field("median", median(v));
    w.field("min", *std::min_element(v.begin(), v.end()));
    w.field("max", *std::max_element(v.begin(), v.end()));
    w.end_object();
  }
}

double get(const sample& s, const std::string& k) {
  const auto it = s.find(k);
  return it == s.end() ? 0.0 : it->second;
}

}  // namespace
}  // namespace lanes_bench

int main(int argc, char** argv) {
  using namespace lanes_bench;
  const options opt = parse(argc, argv);
  fs::create_directories(opt.dir);
  const fs::path work = fs::path(opt.dir) / ("run-" + std::to_string(::getpid()));
  fs::create_directories(work);
  const disk_info disk = probe_disk(work);

  if (!opt.profile.empty()) {
    for (int round = 0; round < opt.reps; ++round) {
      sample s;
      if (opt.profile == "async")
        s = bus_async(opt, work / "bus", disk);
      else if (opt.profile == "sync")
        s = bus_sync_latency(opt, work / "bus", disk);
      else if (opt.profile == "sync_p4")
        s = bus_sync_producers(opt, work / "bus", disk, 4);
      else if (opt.profile == "mem_dir")
        s = memory_only(opt, work / "bus", true);
      else if (opt.profile == "mem_nodir")
        s = memory_only(opt, work / "bus", false);
      else if (opt.profile == "window") {
        for (const window_point& wp : window_points()) {
          const sample l = window_latency(opt, work / "bus", disk, wp.mode, wp.window_us, wp.via);
          std::fprintf(stderr, "%-26s p50 %.3f p90 %.3f p99 %.3f max %.3f ms (service p99 %.3f)\n",
                       wp.id.c_str(), get(l, "p50") / 1e6, get(l, "p90") / 1e6, get(l, "p99") / 1e6,
                       get(l, "max") / 1e6, get(l, "svc_p99") / 1e6);
        }
        continue;
      } else
        die("unknown case " + opt.profile);
      std::fprintf(stderr, "%s:", opt.profile.c_str());
      for (const auto& [k, v] : s) std::fprintf(stderr, " %s=%.4g", k.c_str(), v);
      std::fprintf(stderr, "\n");
    }
    fs::remove_all(work);
    return 0;
  }

  const double load_start = lanes_tools::load_average();
  int fio_status = 0;
  std::string fio_version = run_capture(opt.fio + " --version 2>&1", fio_status);
  while (!fio_version.empty() && fio_version.back() == '\n') fio_version.pop_back();
  if (fio_status != 0) die("fio is not installed (Debian package fio; tools/setup.sh)");
  const std::size_t sync_write = probe_sync_write_bytes(work / "probe");
  {
    usage least{1e9, 1e9};
    for (int i = 0; i < 3; ++i) {
      const fio_run r = run_fio(opt, work / "fio", "--ioengine=psync --bs=4096 --size=4096");
      least.cpu_s = std::min(least.cpu_s, r.used.cpu_s);
      least.switches = std::min(least.switches, r.used.switches);
    }
    fio_baseline = least;
  }
  std::fprintf(stderr, "persist_bench: %s on %s (%s, %s), load %.2f; sync write %zu bytes; %s\n",
               work.c_str(), disk.device.c_str(), disk.fs_type.c_str(), disk.kind.c_str(),
               load_start, sync_write, fio_version.c_str());

  const std::vector<std::string> cases = {"fio_seq_uring",
                                          "bus_async",
                                          "fio_seq_psync",
                                          "fio_seq_psync_matched",
                                          "fio_seq_uring_matched",
                                          "fio_seq_direct",
                                          "fio_seq_best",
                                          "fio_sync_lat",
                                          "bus_sync_lat",
                                          "bus_sync_p1",
                                          "bus_sync_p2",
                                          "bus_sync_p4",
                                          "mem_nodir",
                                          "mem_dir"};
  std::map<std::string, std::vector<sample>> results;
  std::map<std::string, std::string> commands;
  const std::string uring = "--ioengine=io_uring --iodepth=" + std::to_string(kFioIodepth);
  std::vector<double> round_load;
  for (int round = 0; round <= opt.reps; ++round) {  // round 0: warm-up, discarded
    if (round > 0) round_load.push_back(lanes_tools::load_average());
    std::map<std::string, sample> r;
    // Group-commit cadence, configured: one fdatasync per sync_bytes. Observed: the bus
    // keeps one sync in flight and batches what is written meanwhile, so it syncs less
    // often; its block-device flushes in this round give fio a matched --fdatasync.
    const std::uint64_t cfg_every = kSyncBytes / kBusWriteBytes;
    r["fio_seq_uring"] =
        fio_seq(opt, work / "fio", uring, cfg_every, disk, &commands["fio_seq_uring"]);
    r["bus_async"] = bus_async(opt, work / "bus", disk);
    const double writes = static_cast<double>((opt.async_mib << 20) / kBusWriteBytes);
    const double bus_syncs = std::max(1.0, get(r["bus_async"], "dev_flushes"));
    const auto matched = static_cast<std::uint64_t>(std::max(1.0, writes / bus_syncs + 0.5));
    r["fio_seq_psync"] =
        fio_seq(opt, work / "fio", "--ioengine=psync", cfg_every, disk, &commands["fio_seq_psync"]);
    r["fio_seq_psync_matched"] = fio_seq(opt, work / "fio", "--ioengine=psync", matched, disk,
                                         &commands["fio_seq_psync_matched"]);
    r["fio_seq_uring_matched"] =
        fio_seq(opt, work / "fio", uring, matched, disk, &commands["fio_seq_uring_matched"]);
    r["fio_seq_direct"] = fio_seq(opt, work / "fio", uring + " --direct=1", cfg_every, disk,
                                  &commands["fio_seq_direct"]);
    // The reference for the async target: the best buffered fio run of this round.
    {
      sample best;
      const char* ids[] = {"fio_seq_uring", "fio_seq_psync", "fio_seq_psync_matched",
                           "fio_seq_uring_matched"};
      for (int k = 0; k < 4; ++k) {
        if (get(r[ids[k]], "value") > get(best, "value")) {
          best = r[ids[k]];
          best["which"] = k;  // index into best_buffered_of in the results
        }
      }
      r["fio_seq_best"] = best;
    }
    r["fio_sync_lat"] =
        fio_sync_latency(opt, work / "fio", sync_write, disk, &commands["fio_sync_lat"]);
    r["bus_sync_lat"] = bus_sync_latency(opt, work / "bus", disk);
    r["bus_sync_p1"] = bus_sync_producers(opt, work / "bus", disk, 1);
    r["bus_sync_p2"] = bus_sync_producers(opt, work / "bus", disk, 2);
    r["bus_sync_p4"] = bus_sync_producers(opt, work / "bus", disk, 4);
    // Alternate which memory-only peer goes first, so neither always follows disk work.
    if (round % 2 == 0) {
      r["mem_nodir"] = memory_only(opt, work / "bus", false);
      r["mem_dir"] = memory_only(opt, work / "bus", true);
    } else {
      r["mem_dir"] = memory_only(opt, work / "bus", true);
      r["mem_nodir"] = memory_only(opt, work / "bus", false);
    }
    std::fprintf(stderr,
                 "round %d%s: seq MB/s fio uring %.0f psync %.0f, every %.0f: psync %.0f uring "
                 "%.0f, direct %.0f, bus %.0f | sync p50/p99 ms bus %.2f/%.2f fio %.2f/%.2f | "
                 "sync msgs/s p1 %.0f p2 %.0f p4 %.0f | mem M/s nodir %.2f dir %.2f\n",
                 round, round == 0 ? " (warm-up)" : "", get(r["fio_seq_uring"], "value"),
                 get(r["fio_seq_psync"], "value"),
                 get(r["fio_seq_psync_matched"], "fdatasync_every"),
                 get(r["fio_seq_psync_matched"], "value"), get(r["fio_seq_uring_matched"], "value"),
                 get(r["fio_seq_direct"], "value"), get(r["bus_async"], "value"),
                 get(r["bus_sync_lat"], "p50") / 1e6, get(r["bus_sync_lat"], "p99") / 1e6,
                 get(r["fio_sync_lat"], "p50") / 1e6, get(r["fio_sync_lat"], "p99") / 1e6,
                 get(r["bus_sync_p1"], "value"), get(r["bus_sync_p2"], "value"),
                 get(r["bus_sync_p4"], "value"), get(r["mem_nodir"], "value") / 1e6,
                 get(r["mem_dir"], "value") / 1e6);
    if (round > 0) {
      for (auto& [id, s] : r) results[id].push_back(s);
    }
  }
  // Group-commit window sweep: every point once per rep, reps interleaved, after the rounds
  // above (which warmed the disk and the page cache).
  std::vector<window_point> windows;
  if (opt.window) windows = window_points();
  for (int rep = 0; rep < opt.window_reps && opt.window; ++rep) {
    for (window_point& wp : windows) {
      wp.latency.push_back(window_latency(opt, work / "bus", disk, wp.mode, wp.window_us, wp.via));
      if (wp.throughput) {
        wp.tput.push_back(window_throughput(opt, work / "bus", disk, wp.mode, wp.window_us));
      }
      const sample& l = wp.latency.back();
      std::fprintf(stderr,
                   "window %d %-26s ack p50 %.3f ms p99 %.3f ms, %.0f flushes/s | saturated %.0f "
                   "msgs/s, ack p50 %.3f ms p99 %.3f ms\n",
                   rep, wp.id.c_str(), get(l, "p50") / 1e6, get(l, "p99") / 1e6,
                   get(l, "flushes_per_s"), wp.tput.empty() ? 0.0 : get(wp.tput.back(), "value"),
                   wp.tput.empty() ? 0.0 : get(wp.tput.back(), "p50") / 1e6,
                   wp.tput.empty() ? 0.0 : get(wp.tput.back(), "p99") / 1e6);
    }
  }

  const double load_end = lanes_tools::load_average();
  fs::remove_all(work);

  // Per-round ratios: numerator case.metric / denominator case.metric.
  struct ratio_def {
    const char* id;
    const char* num;
    const char* num_metric;
    const char* den;
    const char* den_metric;
  };
  const std::vector<ratio_def> ratio_defs = {
      {"async_vs_fio_best", "bus_async", "value", "fio_seq_best", "value"},
      {"async_vs_fio_uring", "bus_async", "value", "fio_seq_uring", "value"},
      {"async_vs_fio_psync_matched", "bus_async", "value", "fio_seq_psync_matched", "value"},
      {"async_vs_fio_uring_matched", "bus_async", "value", "fio_seq_uring_matched", "value"},
      {"async_vs_fio_psync", "bus_async", "value", "fio_seq_psync", "value"},
      {"async_vs_fio_direct", "bus_async", "value", "fio_seq_direct", "value"},
      {"async_disk_vs_fio_best", "bus_async", "disk_mb_s", "fio_seq_best", "value"},
      {"sync_p50_vs_fio_sync_p99", "bus_sync_lat", "p50", "fio_sync_lat", "p99"},
      {"sync_p99_vs_fio_sync_p99", "bus_sync_lat", "p99", "fio_sync_lat", "p99"},
      {"sync_p50_vs_fio_sync_p50", "bus_sync_lat", "p50", "fio_sync_lat", "p50"},
      {"sync_p2_vs_p1", "bus_sync_p2", "value", "bus_sync_p1", "value"},
      {"sync_p4_vs_p1", "bus_sync_p4", "value", "bus_sync_p1", "value"},
      // Messages made durable per fdatasync-time of one fio stream: the bus's durable rate
      // over fio's single-stream write+fdatasync rate. Its inverse estimates fdatasyncs per
      // message when each bus sync costs what fio's does.
      {"sync_p1_vs_fio_rate", "bus_sync_p1", "value", "fio_sync_lat", "iops"},
      {"sync_p2_vs_fio_rate", "bus_sync_p2", "value", "fio_sync_lat", "iops"},
      {"sync_p4_vs_fio_rate", "bus_sync_p4", "value", "fio_sync_lat", "iops"},
      {"mem_dir_vs_nodir", "mem_dir", "value", "mem_nodir", "value"},
  };

  fs::path out(opt.out);
  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  std::ofstream file(out);
  if (!file) die("cannot write " + opt.out);
  json_writer w(file);
  w.begin_object();
  w.field("benchmark", "persist_bench");
  w.field("git_commit", lanes_tools::git_commit());
  w.field("compiler", lanes_tools::compiler());
  w.field("cpu_model", lanes_tools::cpu_model());
  w.field("cpus", static_cast<std::uint64_t>(std::thread::hardware_concurrency()));
  w.field("date", lanes_tools::utc_date());
  w.field("load_average", load_start);
  w.field("load_average_end", load_end);
  w.array("round_load_average", round_load);
  w.field("reps", opt.reps);
  w.field("quick", opt.quick);
  w.field("fio_version", fio_version);
  w.field("fio_startup_cpu_s", fio_baseline.cpu_s);
  w.field("fio_startup_switches", fio_baseline.switches);
  w.key("disk");
  w.begin_object();
  w.field("dir", disk.dir);
  w.field("mount_point", disk.mount_point);
  w.field("device", disk.device);
  w.field("fs_type", disk.fs_type);
  w.field("statfs_type", disk.statfs_type);
  w.field("mount_options", disk.mount_options);
  w.field("block_device", disk.block_device);
  w.field("dev_numbers", disk.dev_numbers);
  w.field("rotational", disk.rotational);
  w.field("write_cache", disk.write_cache);
  w.field("vendor", disk.vendor);
  w.field("kind", disk.kind);
  w.field("journal", disk.journal);
  w.field("size_bytes", disk.size_bytes);
  w.end_object();
  w.key("params");
  w.begin_object();
  w.field("async_bytes", opt.async_mib << 20);
  w.field("async_value_bytes", static_cast<std::uint64_t>(kSeqValueBytes));
  w.field("async_batch_msgs", static_cast<std::uint64_t>(kSeqBatchMsgs));
  w.field("async_ring_bytes", static_cast<std::uint64_t>(kSeqRingBytes));
  w.field("async_sync_bytes", static_cast<std::uint64_t>(kSyncBytes));
  w.field("async_sync_interval_us", static_cast<std::uint64_t>(1000));
  w.field("fio_seq_bs", static_cast<std::uint64_t>(kBusWriteBytes));
  w.field("fio_seq_fdatasync", static_cast<std::uint64_t>(kSyncBytes / kBusWriteBytes));
  w.field("fio_iodepth", kFioIodepth);
  w.key("best_buffered_of");
  w.begin_array();
  for (const char* id :
       {"fio_seq_uring", "fio_seq_psync", "fio_seq_psync_matched", "fio_seq_uring_matched"}) {
    w.value(id);
  }
  w.end_array();
  w.field("sync_value_bytes", static_cast<std::uint64_t>(kSyncValueBytes));
  w.field("sync_write_bytes", static_cast<std::uint64_t>(sync_write));
  w.field("sync_ops", opt.sync_ops);
  w.field("multi_seconds", opt.multi_seconds);
  w.field("mem_value_bytes", static_cast<std::uint64_t>(kMemValueBytes));
  w.field("mem_ring_bytes", static_cast<std::uint64_t>(kMemRingBytes));
  w.field("mem_count", opt.mem_count);
  w.end_object();
  w.key("fio_commands");
  w.begin_object();
  for (const auto& [id, c] : commands) w.field(id, c);
  w.end_object();
  w.key("cases");
  w.begin_object();
  for (const std::string& id : cases) {
    w.key(id);
    w.begin_object();
    write_metrics(w, results[id]);
    w.end_object();
  }
  w.end_object();
  w.key("ratios");
  w.begin_object();
  for (const ratio_def& d : ratio_defs) {
    std::vector<double> rs;
    for (std::size_t i = 0; i < results[d.num].size(); ++i) {
      const double den = get(results[d.den][i], d.den_metric);
      rs.push_back(den != 0 ? get(results[d.num][i], d.num_metric) / den : 0.0);
    }
    w.key(d.id);
    w.begin_object();
    w.field("numerator", std::string(d.num) + "." + d.num_metric);
    w.field("denominator", std::string(d.den) + "." + d.den_metric);
    w.array("per_round", rs);
    w.field("median", median(rs));
    w.field("min", *std::min_element(rs.begin(), rs.end()));
    w.field("max", *std::max_element(rs.begin(), rs.end()));
    w.end_object();
    std::fprintf(stderr, "%-26s median %.3f (min %.3f, max %.3f)\n", d.id, median(rs),
                 *std::min_element(rs.begin(), rs.end()), *std::max_element(rs.begin(), rs.end()));
  }
  w.end_object();
  if (opt.window) {
    w.key("window_sweep");
    w.begin_object();
    w.field("reps", opt.window_reps);
    w.field("value_bytes", static_cast<std::uint64_t>(kSyncValueBytes));
    w.field("ring_bytes", static_cast<std::uint64_t>(kWindowRingBytes));
    w.field("sync_bytes", static_cast<std::uint64_t>(kSyncBytes));
    w.field("rate_per_s", opt.window_rate);
    w.field("latency_seconds", opt.window_seconds);
    w.field("throughput_max_seconds", opt.window_tput_seconds);
    w.field("throughput_max_bytes", opt.window_tput_mib << 20);
    w.key("points");
    w.begin_array();
    for (const window_point& wp : windows) {
      w.begin_object();
      w.field("id", wp.id);
      w.field("durability", wp.mode == lanes::durability::sync ? "sync" : "async");
      w.field("window_us", static_cast<std::uint64_t>(wp.window_us));
      w.field("ack", ack_name(wp.via));
      w.key("latency");
      w.begin_object();
      write_metrics(w, wp.latency);
      w.end_object();
      if (!wp.tput.empty()) {
        w.key("throughput");
        w.begin_object();
        write_metrics(w, wp.tput);
        w.end_object();
      }
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  w.end_object();
  file << "\n";
  std::fprintf(stderr, "wrote %s (load average %.2f at start, %.2f at end)\n", opt.out.c_str(),
               load_start, load_end);
  return 0;
}
