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
namespace {

// One partition of 1 MiB ring, durability::sync: every publish returns once durable.
lanes::topic_config sync_topic(lanes::producer_mode producers) {
  lanes::topic_config tc = ring_topic(1, std::size_t{1} << 20, producers);
  tc.durable = lanes::durability::sync;
  return tc;
}

}  // namespace

// ---- bus: async throughput ----

sample bus_async(const options& opt, const fs::path& dir, const disk_info& disk) {
  disk_case on_disk(dir, disk);
  const std::uint64_t total = (opt.async_mib << 20) / kSeqValueBytes;
  std::vector<char> values(kSeqBatchMsgs * kSeqValueBytes, 'v');
  std::vector<lanes::message> msgs(kSeqBatchMsgs);
  std::vector<lanes::publish_result> results(kSeqBatchMsgs);
  sample s;
  std::uint64_t t0 = 0, t_published = 0, t1 = 0;
  usage u0, used;
  {
    lanes::bus b(quiet_bus(dir));
    lanes::topic_config tc = ring_topic(1, kSeqRingBytes, lanes::producer_mode::single);
    tc.durable = lanes::durability::async;
    tc.sync_bytes = kSyncBytes;
    create_topic(b, "seq", tc);
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
  const log_scan ls = on_disk.finish();
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
  on_disk.add_device(s);
  return s;
}

// ---- bus: sync latency, one producer ----

sample bus_sync_latency(const options& opt, const fs::path& dir, const disk_info& disk) {
  disk_case on_disk(dir, disk);
  std::vector<double> lat;
  lat.reserve(opt.sync_ops);
  char value[kSyncValueBytes];
  std::memset(value, 's', sizeof value);
  std::uint64_t t0 = 0, t1 = 0;
  usage u0, used;
  {
    lanes::bus b(quiet_bus(dir));
    create_topic(b, "lat", sync_topic(lanes::producer_mode::single));
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
  on_disk.finish();
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
  on_disk.add_batches_and_flushes(s, "flushes_per_msg", static_cast<double>(opt.sync_ops));
  return s;
}

// ---- bus: sync, several producers (group commit) ----

sample bus_sync_producers(const options& opt, const fs::path& dir, const disk_info& disk,
                          int producers) {
  disk_case on_disk(dir, disk);
  sample s;
  std::uint64_t total = 0;
  double secs = 0;
  usage used;
  std::vector<double> lat;
  {
    lanes::bus b(quiet_bus(dir));
    create_topic(b, "group", sync_topic(lanes::producer_mode::multi));
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
  const log_scan ls = on_disk.finish();
  if (ls.records != total) die("group-commit run: the segment files do not hold every record");
  s["value"] = static_cast<double>(total) / secs;  // durable msgs/s
  s["messages"] = static_cast<double>(total);
  s["cpu_us_per_msg"] = total ? used.cpu_s * 1e6 / static_cast<double>(total) : 0;
  s["switches_per_msg"] = total ? used.switches / static_cast<double>(total) : 0;
  s["p50"] = percentile(lat, 0.50);
  s["p99"] = percentile(lat, 0.99);
  on_disk.add_batches_and_flushes(s, "flushes_per_msg", static_cast<double>(total));
  return s;
}

// ---- memory only: the same publish/poll path with and without a data directory ----

sample memory_only(const options& opt, const fs::path& dir, bool with_dir) {
  fs::remove_all(dir);
  sample s;
  {
    lanes::bus b(quiet_bus(with_dir ? dir : fs::path()));
    lanes::topic_config tc = ring_topic(1, kMemRingBytes, lanes::producer_mode::single);
    tc.durable = lanes::durability::none;
    create_topic(b, "mem", tc);
    lanes::producer prod = b.make_producer("mem");
    lanes::consumer cons = group_member(b, "mem", "bench", true, 1);
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
          for (std::uint64_t got = 0; got < count;) got += add_numbers(cons.poll(), sum);
          t1 = now_ns();
        });
    if (!each_once(sum, count)) die("memory-only run lost or duplicated messages");
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
    lanes::bus b(quiet_bus(dir));
    lanes::topic_config tc;
    tc.durable = lanes::durability::sync;
    tc.producers = lanes::producer_mode::single;
    create_topic(b, "probe", tc);
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
