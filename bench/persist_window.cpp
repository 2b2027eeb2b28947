// bench/persist_window.cpp: persist_bench's group-commit window sweep: durable-ack latency at
// a fixed rate and saturated throughput of async topics at windows of 100 us .. 5 ms, with a
// sync topic as the reference.
#include <atomic>
#include <chrono>
#include <cstring>
#include <string_view>
#include <thread>
#include <utility>

#include "harness.hpp"
#include "persist_bench.hpp"

namespace lanes_bench {

const char* ack_name(ack_via a) {
  constexpr const char* names[] = {"on_durable", "wait_durable", "publish (sync topic)"};
  return names[static_cast<std::size_t>(a)];  // ack_via's values in order
}

namespace {

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
      : acks(max_acks), bus(quiet_bus(dir)) {
    lanes::topic_config tc = ring_topic(1, kWindowRingBytes, lanes::producer_mode::single);
    tc.durable = mode;
    tc.sync_bytes = kSyncBytes;
    if (window_us > 0) tc.sync_interval = std::chrono::microseconds(window_us);
    create_topic(bus, "window", tc);
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

}  // namespace

// Fixed rate: record i is due at start + i / rate; the producer sleeps until shortly before,
// spins to the due time and publishes; latency runs from the due time to the ack, so a
// publish or an ack that holds the producer up shows as latency (no coordinated omission).
sample window_latency(const options& opt, const fs::path& dir, const disk_info& disk,
                      lanes::durability mode, std::int64_t window_us, ack_via via) {
  disk_case on_disk(dir, disk);
  const auto n = static_cast<std::uint64_t>(opt.window_rate * opt.window_seconds);
  const double period_ns = 1e9 / opt.window_rate;
  std::vector<std::uint64_t> due(n), sent(n);
  std::vector<double> lat;
  lat.reserve(n);
  char value[kSyncValueBytes];
  std::memset(value, 'w', sizeof value);
  sample s;
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
  const log_scan ls = on_disk.finish();
  if (lat.size() != n) die("window run: a record has no ack time");
  if (ls.records != n + 1) die("window run: the segment files do not hold every record");
  const double secs = static_cast<double>(t1 - t0) * 1e-9;
  add_latency(s, lat);
  s["value"] = s["p99"];
  s["offered_per_s"] = opt.window_rate;
  s["acked_per_s"] = static_cast<double>(n) / secs;
  // records_per_batch: the warm-up record and its batch included
  on_disk.add_batches_and_flushes(s, "flushes_per_s", secs);
  return s;
}

// Saturation: one producer publishes back to back (one publish per message) until
// window_tput_mib of values or window_tput_seconds, then the clock stops when the last
// record is reported durable (the last group commit waits for its window, as it would).
// Ack latency here runs from the start of each publish call.
sample window_throughput(const options& opt, const fs::path& dir, const disk_info& disk,
                         lanes::durability mode, std::int64_t window_us) {
  disk_case on_disk(dir, disk);
  const std::uint64_t cap = (opt.window_tput_mib << 20) / kSyncValueBytes;
  const auto run_ns = static_cast<std::uint64_t>(opt.window_tput_seconds * 1e9);
  std::vector<std::uint64_t> start;
  start.reserve(cap);
  char value[kSyncValueBytes];
  std::memset(value, 't', sizeof value);
  sample s;
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
  const log_scan ls = on_disk.finish();
  if (lat.size() != n) die("window throughput run: a record has no ack time");
  if (ls.records != n) die("window throughput run: the segment files do not hold every record");
  const double secs = static_cast<double>(t1 - t0) * 1e-9;
  add_latency(s, lat);
  s["value"] = static_cast<double>(n) / secs;  // durable msgs/s
  s["messages"] = static_cast<double>(n);
  s["mb_s"] = static_cast<double>(n * kSyncValueBytes) / secs / 1e6;
  on_disk.add_batches_and_flushes(s, "flushes_per_msg", static_cast<double>(n));
  return s;
}

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

}  // namespace lanes_bench
