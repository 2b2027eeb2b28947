// durable_bench: what a user of a durable topic sees, each against its reference measured on
// the same directory in the same run (issue 13's targets, and the cost of the read checks):
//   latency    async topic, consumer reading durable records only (the default): end-to-end
//              latency from due time at fixed rates, against sync_interval + fio's fdatasync;
//              sync topic publish-to-poll and wait_durable at a 100 us window, against fio's
//              fdatasync
//   throughput async topic, one producer and one consumer: against the same run in memory
//              (64 B) and against fio's buffered sequential writes (1 KiB, 16 KiB)
//   catch-up   a consumer reading the segment files from the start, cold and warm page cache,
//              with every batch's CRC32C checked (the consumer) and without (a plain pread walk
//              of the same files), against fio's sequential read of the same files; offsets
//              dense while a producer keeps publishing
//   idle       CPU of a bus with a durable topic and a parked consumer, nothing published
// Rounds interleave lanes and its reference; ratios are per round, then their median.
//   durable_bench [--quick] [--reps N] [--dir PATH] [--out PATH]
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "lanes_support/histogram.hpp"
#include "lanes_support/json_file.hpp"
#include "lanes_support/run_info.hpp"
#include "record_codec.hpp"
#include <lanes/crc32c.hpp>
#include <lanes/lanes.hpp>
#include <lanes/segment_format.hpp>

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using lanes_bench::log_linear_histogram;

struct options {
  bool quick = false;
  int reps = 3;
  std::string dir = "/var/tmp/lanes-bench";
  std::string out = "results/durable_bench.json";
  std::uint64_t catchup_mib = 1024;
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "durable_bench: %s\n", what.c_str());
  std::exit(1);
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---- fio ----

json fio(const std::string& args) {
  const std::string cmd = "fio --output-format=json " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) die("cannot run fio");
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int st = ::pclose(p);
  const std::size_t a = out.find('{');
  if (st != 0 || a == std::string::npos) die("fio failed: " + cmd + "\n" + out);
  const json doc = json::parse(out.substr(a), nullptr, false);
  if (doc.is_discarded() || !doc.contains("jobs")) die("cannot parse fio's JSON: " + cmd);
  return doc["jobs"][0];
}

// fdatasync after every 4 KiB write (what a small group commit costs): p50, p99 in us.
json fio_fdatasync(const fs::path& dir, int ops) {
  fs::create_directories(dir);
  const json j = fio("--name=sync --directory=" + dir.string() +
                     " --filename=f --rw=write --ioengine=psync --bs=4k --fdatasync=1 --size=" +
                     std::to_string(ops * 4096));
  fs::remove_all(dir);
  const json& pct = j["sync"]["lat_ns"]["percentile"];
  return {{"p50_us", pct["50.000000"].get<double>() / 1e3},
          {"p99_us", pct["99.000000"].get<double>() / 1e3}};
}

// Buffered sequential writes, 1 MiB blocks, fsync at the end: MB/s.
double fio_write_mbs(const fs::path& dir, std::uint64_t mib) {
  fs::create_directories(dir);
  const json j =
      fio("--name=w --directory=" + dir.string() +
          " --filename=f --rw=write --bs=1M --end_fsync=1 --size=" + std::to_string(mib) + "M");
  fs::remove_all(dir);
  return j["write"]["bw_bytes"].get<double>() / 1e6;
}

// Sequential reads of these files in order, 1 MiB blocks: MB/s.
double fio_read_mbs(const std::vector<fs::path>& files) {
  std::string names;
  for (const fs::path& f : files) names += (names.empty() ? "" : ":") + f.string();
  const json j =
      fio("--name=r --rw=read --bs=1M --readonly --file_service_type=sequential "
          "--filename=" +
          names);
  return j["read"]["bw_bytes"].get<double>() / 1e6;
}

// Drops the files from the page cache (they are durable: fsync first, then DONTNEED).
void drop_cache(const std::vector<fs::path>& files) {
  for (const fs::path& f : files) {
    const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    (void)::fsync(fd);
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

std::uint32_t benchmark_sink = 0;  // keeps results the compiler could otherwise drop

std::vector<fs::path> segment_files(const fs::path& pdir) {
  std::vector<fs::path> v;
  for (const auto& e : fs::directory_iterator(pdir)) {
    if (e.path().extension() == ".log") v.push_back(e.path());
  }
  std::sort(v.begin(), v.end());
  return v;
}

// ---- lanes ----

lanes::bus_config disk_bus(const fs::path& dir) {
  lanes::bus_config c;
  c.data_dir = dir.string();
  return c;
}

lanes::topic_config durable_topic(lanes::durability d, std::chrono::microseconds window) {
  lanes::topic_config t;
  t.durable = d;
  t.sync_interval = window;
  t.ring_capacity = std::size_t{16} << 20;
  t.segment_bytes = std::size_t{64} << 20;
  return t;
}

lanes::consumer reader(lanes::bus& b) {
  lanes::consumer_config cc;
  cc.reset = lanes::offset_reset::earliest;
  cc.max_poll_records = 1024;
  lanes::consumer c = b.make_consumer(cc);
  if (c.assign(std::vector<lanes::topic_partition>{{"t", 0}}) != lanes::errc::ok) die("assign");
  return c;
}

// A producer at a fixed rate (values carry their due time), a consumer timing each record
// from when it was due (no coordinated omission): p50, p99 in us.
json paced_latency(const fs::path& dir, const lanes::topic_config& tc, double rate, double secs) {
  std::fprintf(stderr, "durable_bench: latency at %.0f msg/s\n", rate);
  fs::remove_all(dir);
  lanes::bus b(disk_bus(dir));
  if (b.create_topic("t", tc) != lanes::errc::ok) die("create_topic");
  const auto total = static_cast<std::uint64_t>(rate * secs);
  log_linear_histogram h;
  lanes::consumer c = reader(b);  // reading before the first publish: nothing is dropped
  std::thread consumer([&] {
    for (std::uint64_t seen = 0; seen < total;) {
      const lanes::poll_result r = c.poll(100ms);
      const std::int64_t t = now_ns();
      for (const lanes::record_view& rec : r.records) {
        std::int64_t due = 0;
        std::memcpy(&due, rec.value.data(), sizeof due);
        h.record(static_cast<std::uint64_t>(std::max<std::int64_t>(t - due, 0)));
        ++seen;
      }
      if (r.status == lanes::errc::closed) break;
    }
  });
  lanes::producer p = b.make_producer("t");
  std::string value(64, 'v');
  const std::int64_t start = now_ns() + 20'000'000;
  const double gap = 1e9 / rate;
  // Every message that is due is published, then the producer sleeps ~50 us (it must not
  // spin: there are two cores for it, the consumer, the persister and the kernel's workers).
  // Latency counts from the due time, so the producer's own delay is in it.
  for (std::uint64_t i = 0; i < total;) {
    const std::int64_t now = now_ns();
    for (; i < total; ++i) {
      const auto due = start + static_cast<std::int64_t>(gap * static_cast<double>(i));
      if (due > now) break;
      std::memcpy(value.data(), &due, sizeof due);
      if (!p.publish(std::nullopt, value)) die("publish");
    }
    std::this_thread::sleep_for(50us);
  }
  consumer.join();
  return {{"rate", rate},
          {"count", h.count()},
          {"p50_us", h.quantile(0.5) / 1e3},
          {"p99_us", h.quantile(0.99) / 1e3}};
}

// wait_durable right after each publish, at a fixed rate: p50, p99 of publish..ok in us.
json durable_ack(const fs::path& dir, std::chrono::microseconds window, int count) {
  std::fprintf(stderr, "durable_bench: durable acks\n");
  fs::remove_all(dir);
  lanes::bus b(disk_bus(dir));
  if (b.create_topic("t", durable_topic(lanes::durability::async, window)) != lanes::errc::ok) {
    die("create_topic");
  }
  lanes::producer p = b.make_producer("t");
  log_linear_histogram h;
  for (int i = 0; i < count; ++i) {
    const std::int64_t t0 = now_ns();
    const lanes::publish_result r = p.publish(std::nullopt, "v");
    if (!r || p.wait_durable(r.partition, r.offset, 10s) != lanes::errc::ok) die("wait_durable");
    h.record(static_cast<std::uint64_t>(now_ns() - t0));
    std::this_thread::sleep_for(500us);
  }
  return {{"window_us", window.count()},
          {"p50_us", h.quantile(0.5) / 1e3},
          {"p99_us", h.quantile(0.99) / 1e3}};
}

// One producer publishing `bytes` of values as fast as it can, one consumer reading them
// (durable records only): producer and consumer MB/s of values, bytes on disk per record.
json throughput(const fs::path& dir, lanes::durability d, std::size_t value_size,
                std::uint64_t bytes) {
  std::fprintf(stderr, "durable_bench: throughput, %zu B values\n", value_size);
  fs::remove_all(dir);
  lanes::bus b(disk_bus(dir));
  lanes::topic_config tc = durable_topic(d, 1000us);
  if (b.create_topic("t", tc) != lanes::errc::ok) die("create_topic");
  const std::uint64_t total = std::max<std::uint64_t>(bytes / value_size, 1);
  std::int64_t consumer_end = 0;
  lanes::consumer c = reader(b);  // reading before the first publish: it holds the ring
  std::thread consumer([&] {
    for (std::uint64_t seen = 0; seen < total;) seen += c.poll(100ms).records.size();
    consumer_end = now_ns();
  });
  lanes::producer p = b.make_producer("t");
  const std::string value(value_size, 'v');
  const std::int64_t t0 = now_ns();
  for (std::uint64_t i = 0; i < total; ++i) {
    if (!p.publish(std::nullopt, value)) die("publish");
  }
  const std::int64_t producer_end = now_ns();
  consumer.join();
  const double mb = static_cast<double>(total * value_size) / 1e6;
  json j = {{"value_bytes", value_size},
            {"records", total},
            {"producer_mbs", mb / (static_cast<double>(producer_end - t0) / 1e9)},
            {"consumer_mbs", mb / (static_cast<double>(consumer_end - t0) / 1e9)}};
  if (d != lanes::durability::none) {
    std::uint64_t disk = 0;
    for (const fs::path& f : segment_files(dir / "t" / "0")) disk += fs::file_size(f);
    j["disk_bytes_per_record"] = static_cast<double>(disk) / static_cast<double>(total);
  }
  return j;
}

// A pread walk of the segment files without any check: batch headers and frames only (what
// reading the files costs without lanes' checks and bookkeeping).
double raw_walk_mbs(const std::vector<fs::path>& files, std::uint64_t& records) {
  // One batch per read, as the consumer reads (its read-ahead is one 1 MiB batch here): the
  // same reads without the checks and the per-record bookkeeping.
  std::vector<std::byte> buf((std::size_t{1} << 20) + (std::size_t{64} << 10));
  std::uint64_t bytes = 0;
  records = 0;
  const std::int64_t t0 = now_ns();
  for (const fs::path& f : files) {
    const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    std::uint64_t pos = lanes::io::file_header_size;
    for (;;) {
      const ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(pos));
      if (n <= 0) break;
      std::size_t at = 0;
      while (at + lanes::io::batch_header_size <= static_cast<std::size_t>(n)) {
        lanes::io::batch_header h;
        if (lanes::io::decode_batch_header({buf.data() + at, lanes::io::batch_header_size},
                                           1u << 30, h) != lanes::io::batch_status::ok ||
            h.total_size() > static_cast<std::size_t>(n) - at) {
          break;
        }
        // The frames, as a reader walks them (no CRC, no record size checks).
        const std::size_t end = at + h.total_size();
        lanes::detail::frame_walker w(
            {buf.data() + at + lanes::io::batch_header_size, h.payload_length});
        lanes::detail::record_frame frame;
        for (lanes::detail::frame_step s = w.next(frame);
             s == lanes::detail::frame_step::record || s == lanes::detail::frame_step::short_record;
             s = w.next(frame)) {
          ++records;
        }
        at = end;
      }
      if (at == 0) break;
      pos += at;
      bytes += at;
    }
    ::close(fd);
  }
  return static_cast<double>(bytes) / 1e6 / (static_cast<double>(now_ns() - t0) / 1e9);
}

// The time CRC32C takes over every byte of these files, as the consumer's checks run: on
// each 1 MiB just read (hot in the cache; only the CRC is timed). What the read checks add
// to a replay at most.
double crc_seconds(const std::vector<fs::path>& files) {
  std::vector<std::byte> buf(std::size_t{1} << 20);
  double total = 0;
  for (const fs::path& f : files) {
    const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    for (off_t pos = 0;;) {
      const ssize_t n = ::pread(fd, buf.data(), buf.size(), pos);
      if (n <= 0) break;
      const std::int64_t t0 = now_ns();
      benchmark_sink ^= lanes::io::crc32c_extend(0, buf.data(), static_cast<std::size_t>(n));
      total += static_cast<double>(now_ns() - t0) / 1e9;
      pos += n;
    }
    ::close(fd);
  }
  return total;
}

// A consumer reading everything from the files (each batch's CRC checked): MB/s of segment
// bytes; checks offsets are dense. `extra`: a producer publishing meanwhile, which the
// consumer must meet in the ring with no gap and no duplicate.
json catch_up(const fs::path& dir, std::uint64_t records, double file_mb, bool extra) {
  lanes::bus b(disk_bus(dir));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> published{0};
  std::thread producer;
  if (extra) {
    producer = std::thread([&] {
      lanes::producer p = b.make_producer("t");
      const std::string value(1024, 'x');
      while (!stop.load()) {
        if (p.publish(std::nullopt, value)) published.fetch_add(1);
        std::this_thread::sleep_for(50us);
      }
    });
  }
  lanes::consumer c = reader(b);
  std::uint64_t next = 0;
  bool dense = true;
  const std::int64_t t0 = now_ns();
  std::int64_t t_files = 0;
  while (next < records || (extra && (!stop.load() || next < records + published.load()))) {
    const lanes::poll_result r = c.poll(100ms);
    for (const lanes::record_view& rec : r.records) {
      dense = dense && rec.offset == next;
      next = rec.offset + 1;
    }
    if (t_files == 0 && next >= records) t_files = now_ns();
    if (r.status != lanes::errc::ok) die(std::string("poll: ") + lanes::to_string(r.status));
    if (extra && next >= records + 2000) stop = true;
  }
  stop = true;
  if (producer.joinable()) producer.join();
  return {{"mbs", file_mb / (static_cast<double>(t_files - t0) / 1e9)},
          {"seconds", static_cast<double>(t_files - t0) / 1e9},
          {"dense", dense},
          {"records_read", next}};
}

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// A bus with a 4-partition async durable topic, 100 records, a consumer parked in poll:
// CPU over `secs` idle seconds, and the first publish after that until it is polled.
json idle(const fs::path& dir, double secs) {
  fs::remove_all(dir);
  lanes::bus b(disk_bus(dir));
  lanes::topic_config tc = durable_topic(lanes::durability::async, 1000us);
  tc.partitions = 4;
  if (b.create_topic("t", tc) != lanes::errc::ok) die("create_topic");
  lanes::producer p = b.make_producer("t");
  for (int i = 0; i < 100; ++i) (void)p.publish("k" + std::to_string(i), "v");
  std::atomic<std::int64_t> seen_at{0};
  std::atomic<bool> armed{false};
  std::thread consumer([&] {
    lanes::consumer_config cc;
    cc.group = "g";
    cc.reset = lanes::offset_reset::earliest;
    lanes::consumer c = b.make_consumer(cc);
    if (c.subscribe({"t"}) != lanes::errc::ok) die("subscribe");
    while (seen_at.load() == 0) {
      const lanes::poll_result r = c.poll(1s);
      if (armed.load() && !r.records.empty()) seen_at = now_ns();
    }
  });
  std::this_thread::sleep_for(1s);  // the 100 records are read; everything settles
  armed = true;
  const double c0 = cpu_seconds();
  const std::int64_t t0 = now_ns();
  std::this_thread::sleep_for(std::chrono::duration<double>(secs));
  const double used = cpu_seconds() - c0;
  const double elapsed = static_cast<double>(now_ns() - t0) / 1e9;
  const std::int64_t sent = now_ns();
  (void)p.publish("after-idle", "v");
  consumer.join();
  return {{"cpu_percent", 100.0 * used / elapsed},
          {"first_publish_to_poll_us", static_cast<double>(seen_at.load() - sent) / 1e3}};
}

}  // namespace

int main(int argc, char** argv) {
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
  const fs::path root = fs::path(o.dir) / "durable";
  fs::remove_all(root);
  fs::create_directories(root);
  const double secs = o.quick ? 1.0 : 3.0;
  json rounds = json::array();
  for (int r = 0; r < o.reps; ++r) {
    std::fprintf(stderr, "durable_bench: round %d of %d\n", r + 1, o.reps);
    json round;
    round["fio_fdatasync_4k"] = fio_fdatasync(root / "fio", o.quick ? 300 : 1000);
    round["latency_async_20k"] =
        paced_latency(root / "lat", durable_topic(lanes::durability::async, 1000us), 20000, secs);
    round["latency_async_200k"] =
        paced_latency(root / "lat", durable_topic(lanes::durability::async, 1000us), 200000, secs);
    round["latency_sync_500"] =
        paced_latency(root / "lat", durable_topic(lanes::durability::sync, 1000us), 500, secs);
    round["durable_ack_100us"] = durable_ack(root / "ack", 100us, o.quick ? 300 : 1000);
    const std::uint64_t mib = o.quick ? 64 : 256;
    round["fio_write_mbs"] = fio_write_mbs(root / "fio", mib);
    json tp = json::array();
    for (std::size_t v : {std::size_t{64}, std::size_t{1024}, std::size_t{16384}}) {
      const std::uint64_t bytes = (v == 64 ? mib / 4 : mib) << 20;
      tp.push_back({{"memory", throughput(root / "tp", lanes::durability::none, v, bytes)},
                    {"durable", throughput(root / "tp", lanes::durability::async, v, bytes)}});
    }
    round["throughput"] = tp;
    rounds.push_back(round);
  }
  // Catch-up: one data set, read cold and warm by each reader in turn.
  const fs::path cdir = root / "catchup";
  fs::remove_all(cdir);
  std::uint64_t records = 0;
  {
    lanes::bus b(disk_bus(cdir));
    if (b.create_topic("t", durable_topic(lanes::durability::async, 1000us)) != lanes::errc::ok) {
      die("create_topic");
    }
    lanes::producer p = b.make_producer("t");
    const std::string value(1024, 'c');
    records = (o.catchup_mib << 20) / 1024;
    lanes::publish_result last;
    for (std::uint64_t i = 0; i < records; ++i) {
      if (!(last = p.publish(std::nullopt, value))) die("publish");
    }
    if (p.wait_durable(0, last.offset, 60s) != lanes::errc::ok) die("wait_durable");
  }
  const std::vector<fs::path> files = segment_files(cdir / "t" / "0");
  double file_mb = 0;
  for (const fs::path& f : files) file_mb += static_cast<double>(fs::file_size(f)) / 1e6;
  json catchup = json::array();
  for (int r = 0; r < o.reps; ++r) {
    json c;
    std::uint64_t raw_records = 0;
    drop_cache(files);
    c["fio_cold_mbs"] = fio_read_mbs(files);
    c["fio_warm_mbs"] = fio_read_mbs(files);
    drop_cache(files);
    c["raw_cold_mbs"] = raw_walk_mbs(files, raw_records);
    c["raw_warm_mbs"] = raw_walk_mbs(files, raw_records);
    drop_cache(files);
    c["lanes_cold"] = catch_up(cdir, records, file_mb, false);
    c["lanes_warm"] = catch_up(cdir, records, file_mb, false);
    c["raw_records"] = raw_records;
    c["crc_seconds"] = crc_seconds(files);
    catchup.push_back(c);
  }
  const json rejoin = catch_up(cdir, records, file_mb, true);
  const json idle_result = idle(root / "idle", o.quick ? 2.0 : 5.0);
  fs::remove_all(root);

  json doc = lanes_tools::result_header("durable_bench");
  doc.update(json{{"quick", o.quick},
                  {"dir", o.dir},
                  {"sync_interval_us", 1000},
                  {"rounds", rounds},
                  {"catchup_file_mb", file_mb},
                  {"catchup_records", records},
                  {"catchup", catchup},
                  {"catchup_rejoin", rejoin},
                  {"idle", idle_result}});
  fs::create_directories(fs::path(o.out).parent_path().empty() ? "."
                                                               : fs::path(o.out).parent_path());
  lanes_support::write_json_file(o.out, doc);
  std::fprintf(stderr, "durable_bench: wrote %s\n", o.out.c_str());
  return 0;
}
