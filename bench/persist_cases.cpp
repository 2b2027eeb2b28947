// bench/persist_cases.cpp: persist_bench's bus cases: async throughput, sync latency of one
// producer, group commit with several producers, memory-only topics with and without a data
// directory, and the probe of how many bytes one sync publish writes.
#include <sys/resource.h>

#include <atomic>
#include <cstring>
#include <string_view>
#include <thread>

#include "harness.hpp"
#include "persist_bench.hpp"

namespace lanes_bench {

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

}  // namespace lanes_bench
