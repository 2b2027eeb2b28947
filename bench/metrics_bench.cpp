// bench/metrics_bench.cpp: what serving metrics to Prometheus costs the bus's hot paths.
//
// Each round runs the same pipeline twice, in alternating order: one producer thread
// publishing 64-byte values to a one-partition topic as fast as it can, one consumer in a
// group polling them, for a fixed time; once without an exporter, once with lanes::prometheus
// serving the bus and a scraper thread GETting /metrics over HTTP on 127.0.0.1 every
// second (as a Prometheus server would, only more often than the usual 15 s). The ratio
// "with / without" of the records published and polled per second is the result; its median
// over the rounds is the target (>= 0.97). Both runs use the same build: the bus's own
// counters are always on, so the microbenchmarks (bench/micro) before and after the counters
// were added are the other half of the evidence.
//
//   metrics_bench [--rounds N] [--seconds S] [--quick] --out FILE.json
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "lanes/lanes.hpp"
#include "lanes/metrics_exporter.hpp"
#include "lanes_support/json_file.hpp"
#include "lanes_support/run_info.hpp"

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

struct options {
  int rounds = 7;
  double seconds = 3.0;
  bool quick = false;
  std::string out = "results/metrics_bench.json";
};

// One HTTP GET of /metrics; the body's size, or -1 on any failure.
long scrape(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  long got = -1;
  const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof req - 1)) {
    std::string resp;
    char buf[16384];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) resp.append(buf, n);
    if (resp.find(" 200 ") != std::string::npos &&
        resp.find("lanes_partition_end_offset") != std::string::npos) {
      got = static_cast<long>(resp.size());
    }
  }
  ::close(fd);
  return got;
}

json run_case(bool metrics, double seconds) {
  lanes::bus_config bc;
  bc.housekeeping_interval = 0ms;
  lanes::bus bus(bc);
  lanes::topic_config tc;
  tc.partitions = 1;
  tc.ring_capacity = std::size_t{8} << 20;
  tc.producers = lanes::producer_mode::single;
  if (bus.create_topic("m", tc) != lanes::errc::ok) std::abort();
  std::unique_ptr<lanes::metrics_exporter> exporter;
  if (metrics) exporter = std::make_unique<lanes::metrics_exporter>(bus, "127.0.0.1:0");

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> polled{0};
  lanes::consumer_config cc;
  cc.group = "g";
  cc.reset = lanes::offset_reset::earliest;
  lanes::consumer c = bus.make_consumer(cc);
  if (c.subscribe({"m"}) != lanes::errc::ok) std::abort();
  std::thread consumer([&] {
    std::uint64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      n += c.poll(10ms).records.size();
      polled.store(n, std::memory_order_relaxed);
    }
  });
  std::uint64_t published = 0;
  std::vector<double> scrape_ms;
  long scrape_bytes = 0;
  int scrape_failures = 0;
  std::thread scraper;
  if (metrics) {
    scraper = std::thread([&] {
      auto next = clock_type::now() + 1s;
      while (!stop.load(std::memory_order_relaxed)) {
        if (clock_type::now() < next) {
          std::this_thread::sleep_for(5ms);
          continue;
        }
        next += 1s;
        const auto t0 = clock_type::now();
        const long b = scrape(exporter->port());
        scrape_ms.push_back(
            std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
        if (b < 0) ++scrape_failures;
        scrape_bytes = std::max(scrape_bytes, b);
      }
    });
  }
  lanes::producer p = bus.make_producer("m");
  const std::string value(64, 'v');
  const auto t0 = clock_type::now();
  const auto end =
      t0 + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
  while (clock_type::now() < end) {
    for (int i = 0; i < 256; ++i) {
      if (!p.publish(lanes::message_key{}, value)) std::abort();
    }
    published += 256;
  }
  const double elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
  const std::uint64_t got = polled.load();
  stop = true;
  consumer.join();
  if (scraper.joinable()) scraper.join();
  json r = {{"metrics", metrics},
            {"seconds", elapsed},
            {"published_per_s", static_cast<double>(published) / elapsed},
            {"polled_per_s", static_cast<double>(got) / elapsed}};
  if (metrics) {
    std::sort(scrape_ms.begin(), scrape_ms.end());
    r["scrapes"] = scrape_ms.size();
    r["scrape_failures"] = scrape_failures;
    r["scrape_bytes"] = scrape_bytes;
    r["scrape_ms_max"] = scrape_ms.empty() ? 0.0 : scrape_ms.back();
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "metrics_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--rounds")
      o.rounds = std::stoi(next());
    else if (a == "--seconds")
      o.seconds = std::stod(next());
    else if (a == "--quick")
      o.quick = true;
    else if (a == "--out")
      o.out = next();
    else {
      std::fprintf(stderr,
                   "usage: metrics_bench [--rounds N] [--seconds S] [--quick] --out FILE\n");
      return 2;
    }
  }
  if (o.quick) {
    o.rounds = 2;
    o.seconds = 1.5;
  }
  json rounds = json::array();
  for (int r = 0; r < o.rounds; ++r) {
    // Alternate which case runs first, so that drift in the machine's load hits both alike.
    const bool with_first = r % 2 == 1;
    json a = run_case(with_first, o.seconds);
    json b = run_case(!with_first, o.seconds);
    json with = with_first ? a : b, without = with_first ? b : a;
    std::fprintf(stderr,
                 "metrics_bench: round %d: publish %.2f M/s with, %.2f M/s without; poll %.2f "
                 "M/s with, %.2f M/s without; %d scrapes\n",
                 r + 1, with["published_per_s"].get<double>() / 1e6,
                 without["published_per_s"].get<double>() / 1e6,
                 with["polled_per_s"].get<double>() / 1e6,
                 without["polled_per_s"].get<double>() / 1e6, with["scrapes"].get<int>());
    rounds.push_back({{"with", with}, {"without", without}});
  }
  json doc = lanes_tools::result_header("metrics_bench");
  doc.update(json{{"quick", o.quick},
                  {"seconds_per_case", o.seconds},
                  {"value_bytes", 64},
                  {"rounds", rounds}});
  namespace fs = std::filesystem;
  if (fs::path(o.out).has_parent_path()) fs::create_directories(fs::path(o.out).parent_path());
  lanes_support::write_json_file(o.out, doc);
  std::fprintf(stderr, "metrics_bench: wrote %s\n", o.out.c_str());
  return 0;
}
