// bench/durable_catchup.cpp: durable_bench's catch-up case: one data set of segment files,
// read cold and warm by fio, by a pread walk without checks and by a consumer (every batch's
// CRC32C checked), and a consumer that meets a live producer in the ring.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "durable_bench.hpp"
#include <lanes/clock.hpp>

namespace lanes_bench {

using namespace std::chrono_literals;

catchup_data write_catchup_data(const options& o, const fs::path& cdir) {
  catchup_data d;
  d.dir = cdir;
  fs::remove_all(cdir);
  {
    lanes::bus b(bus_at(cdir));
    if (b.create_topic("t", durable_topic(lanes::durability::async, 1000us)) != lanes::errc::ok) {
      die("create_topic");
    }
    lanes::producer p = b.make_producer("t");
    const std::string value(1024, 'c');
    d.records = (o.catchup_mib << 20) / 1024;
    lanes::publish_result last;
    for (std::uint64_t i = 0; i < d.records; ++i) {
      if (!(last = p.publish(std::nullopt, value))) die("publish");
    }
    if (p.wait_durable(0, last.offset, 60s) != lanes::errc::ok) die("wait_durable");
  }
  d.files = segment_files(cdir / "t" / "0");
  for (const fs::path& f : d.files) d.file_mb += static_cast<double>(fs::file_size(f)) / 1e6;
  return d;
}

// Cold reads on this machine vary 2-5x with what ran just before: fio's cold read of one data
// set ran at 1662-4139 MB/s across the rounds of one run, and a plain pread loop ran at 4.2-4.6
// GB/s right after a process that had a bus open but at 1.8-2.3 after another pread loop. So
// a round reads cold ten times, each after a drop, in an order where every reader follows
// every reader (itself too) exactly once: F F R F L R R L L F (F fio, R the raw walk, L the
// consumer). The first read only sets up the second; a round keeps each reader's median of
// its three reads after it ("cold_after": reader -> predecessor -> MB/s), and its ratio
// compares readers that met the same predecessors.
json catchup_rounds(const options& o, const catchup_data& d) {
  static constexpr std::string_view order = "FFRFLRRLLF";
  json catchup = json::array();
  for (int r = 0; r < o.reps; ++r) {
    std::uint64_t raw_records = 0;
    json after = json::object();
    std::vector<json> lanes_cold;
    for (std::size_t i = 0; i < order.size(); ++i) {
      drop_cache(d.files);
      double mbs = 0;
      switch (order[i]) {
        case 'F': mbs = fio_read_mbs(d.files); break;
        case 'R': mbs = raw_walk_mbs(d.files, raw_records); break;
        default:
          lanes_cold.push_back(catch_up(d.dir, d.records, d.file_mb, false));
          mbs = lanes_cold.back()["mbs"].get<double>();
          break;
      }
      if (i == 0) {  // the set-up read: its predecessor is not in the design
        lanes_cold.clear();
        continue;
      }
      after[std::string(1, order[i])][std::string(1, order[i - 1])] = mbs;
    }
    const auto median_of = [&](char reader) {
      std::vector<double> v;
      for (const json& mbs : after[std::string(1, reader)]) v.push_back(mbs.get<double>());
      return median(v);
    };
    std::sort(lanes_cold.begin(), lanes_cold.end(), [](const json& a, const json& b) {
      return a["mbs"].get<double>() < b["mbs"].get<double>();
    });
    json c;
    c["fio_cold_mbs"] = median_of('F');
    c["raw_cold_mbs"] = median_of('R');
    c["lanes_cold"] = lanes_cold[lanes_cold.size() / 2];
    c["cold_after"] = after;
    c["fio_warm_mbs"] = fio_read_mbs(d.files);
    c["raw_warm_mbs"] = raw_walk_mbs(d.files, raw_records);
    c["lanes_warm"] = catch_up(d.dir, d.records, d.file_mb, false);
    c["raw_records"] = raw_records;
    c["crc_seconds"] = crc_seconds(d.files);
    catchup.push_back(c);
  }
  return catchup;
}

// A consumer reading everything from the files (each batch's CRC checked): MB/s of segment
// bytes; checks offsets are dense. `extra`: a producer publishing meanwhile, which the
// consumer must meet in the ring with no gap and no duplicate.
json catch_up(const fs::path& dir, std::uint64_t records, double file_mb, bool extra) {
  lanes::bus b(bus_at(dir));
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
  const std::int64_t t0 = lanes::steady_ns();
  std::int64_t t_files = 0;
  while (next < records || (extra && (!stop.load() || next < records + published.load()))) {
    const lanes::poll_result r = c.poll(100ms);
    for (const lanes::record_view& rec : r.records) {
      dense = dense && rec.offset == next;
      next = rec.offset + 1;
    }
    if (t_files == 0 && next >= records) t_files = lanes::steady_ns();
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

}  // namespace lanes_bench
