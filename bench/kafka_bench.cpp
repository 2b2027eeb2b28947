// kafka_bench: the Kafka bridge's throughput against librdkafka alone, both against the same
// librdkafka mock cluster in this process, in the same run (issue 15, point 7):
//   to_kafka    lanes -> Kafka: kafka_bridge mirroring N records already in a memory lanes topic
//               (16 partitions, until every delivery report came back), against librdkafka's
//               idempotent producer sending the same N records (same key, value and headers,
//               including the bridge's lanes.* headers) to the same cluster, until flushed
//   from_kafka  Kafka -> lanes: kafka_bridge consuming N records into a memory lanes topic, and
//               into a durable (async) one, against librdkafka's consumer alone reading N
//               records of the same size, each reader from a topic of its own (reading each one's
//               key, timestamp and headers and touching its payload)
// N: 400 000 x 64 B and 100 000 x 1 KiB to Kafka; 480 000 x 64 B and 64 000 x 1 KiB from Kafka
// (the mock cluster keeps 5 MiB per partition; see main).
// Values of 64 B and 1 KiB. Each round runs every side once on a fresh cluster, and the order
// takes turns from round to round (12 rounds: each side is first, second and third equally
// often); ratios are per round, then their median with the min-max spread. Goal: >= 0.8x of
// each peer.
// tools/kafka_bench_report.py renders the results into BENCHMARKS.md (tools/bench.sh --only kafka).
//   kafka_bench [--quick] [--reps N] [--out PATH]
// Diagnostics: KAFKA_BENCH_TRACE=1 prints each side's time to its first record and from there
// to its last; KAFKA_BENCH_SIDE=ours|peer runs one side only (for a profile of it);
// KAFKA_BENCH_COLD_RING=1 creates the Kafka -> lanes topics without prefault.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"
#include "kafka_mock_cluster.hpp"
#include "lanes_support/json_file.hpp"
#include "lanes_support/ours_vs_peer.hpp"
#include "lanes_support/run_info.hpp"
#include <lanes/kafka_bridge.hpp>
#include <lanes/lanes.hpp>

namespace {

using json = nlohmann::json;
using lanes_bench::client;
using lanes_bench::cluster;
using lanes_bench::die;
using lanes_bench::seconds_since;
using clock_type = std::chrono::steady_clock;
// Of every topic, lanes and Kafka. 16: the mock cluster keeps 5 MiB per partition, and Kafka ->
// lanes must read back what it holds, so more partitions make those runs longer (4 partitions:
// 16 000 x 1 KiB read in 15-50 ms, where a few ms of scheduling decided the ratio).
constexpr int partitions = 16;

// Throughput over the whole run of one side, connecting included (librdkafka prefetches and
// batches delivery reports, so a first-to-last span would flatter the peer): from
// construction, just before the client or bridge is made, to the moment the count last moved.
class wall_span {
 public:
  explicit wall_span(const char* who) : who_(who) {}
  // Notes the count seen now; returns it.
  std::uint64_t see(std::uint64_t count) {
    if (count != count_) {
      last_ = clock_type::now();
      if (count_ == 0) first_ = last_;
    }
    count_ = count;
    return count;
  }
  double rate() const {
    const double s = std::chrono::duration<double>(last_ - start_).count();
    return s > 0 ? static_cast<double>(count_) / s : 0;
  }
  // Milliseconds from the start to the first record, and from the first to the last.
  double to_first_ms() const {
    return std::chrono::duration<double, std::milli>(first_ - start_).count();
  }
  double first_to_last_ms() const {
    return std::chrono::duration<double, std::milli>(last_ - first_).count();
  }
  ~wall_span() {
    if (std::getenv("KAFKA_BENCH_TRACE"))
      std::fprintf(stderr, "  %s: %llu records, first after %.1f ms, then %.1f ms\n", who_,
                   static_cast<unsigned long long>(count_), to_first_ms(), first_to_last_ms());
  }

 private:
  const char* who_;
  clock_type::time_point start_ = clock_type::now();
  clock_type::time_point last_ = start_;
  clock_type::time_point first_ = start_;
  std::uint64_t count_ = 0;
};

// KAFKA_BENCH_CONSUMER="name=value,..." (diagnostic): librdkafka consumer properties given to
// both the bridge and the peer consumer, to test a hypothesis on both sides alike.
std::vector<std::pair<std::string, std::string>> extra_consumer_props() {
  std::vector<std::pair<std::string, std::string>> out;
  const char* env = std::getenv("KAFKA_BENCH_CONSUMER");
  std::string s = env != nullptr ? env : "";
  while (!s.empty()) {
    const std::size_t comma = s.find(',');
    const std::string item = s.substr(0, comma);
    s = comma == std::string::npos ? "" : s.substr(comma + 1);
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos) die("KAFKA_BENCH_CONSUMER: expected name=value, got " + item);
    out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  return out;
}

// Runs a bridge from its start until it mirrored n records; records/s over that time.
double run_bridge(lanes::bus& b, const lanes::kafka::bridge_config& c, std::size_t n) {
  lanes::kafka::kafka_bridge bridge(b, c);
  const auto t0 = clock_type::now();
  wall_span span("bridge");
  bridge.start();
  if (std::getenv("KAFKA_BENCH_TRACE"))
    std::fprintf(stderr, "  bridge start() returned after %.1f ms\n", seconds_since(t0) * 1e3);
  while (span.see(bridge.stats().records) < n) {
    if (bridge.failed() || seconds_since(t0) > 60) {
      const auto st = bridge.stats();
      die("bridge: " + std::to_string(st.records) + " of " + std::to_string(n) + " records, lag " +
          std::to_string(st.lag) + ", in flight " + std::to_string(st.in_flight) + ": " +
          st.last_error);
    }
    // 1 ms: waking every 200 us took a core's share from the 2-core machine's mock broker
    // and librdkafka threads (measured: 0.51x at 200 us, 0.83x at 1 ms, 16 000 x 1 KiB).
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  bridge.stop();
  return span.rate();
}

// The producer settings the bridge uses (connect/kafka/to_kafka.cpp), so that the peer does the
// same work per record.
std::vector<std::pair<std::string, std::string>> producer_props(const std::string& bootstrap) {
  return {{"bootstrap.servers", bootstrap}, {"enable.idempotence", "true"},
          {"message.timeout.ms", "0"},      {"linger.ms", "5"},
          {"socket.nagle.disable", "true"}, {"log_level", "0"}};
}

// Peer: librdkafka's producer alone, N records as the bridge would send them.
struct delivered {
  wall_span span{"librdkafka producer"};
  std::uint64_t count = 0;
};

void count_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* d = static_cast<delivered*>(opaque);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) d->span.see(++d->count);
}

double peer_produce(cluster& k, const std::string& topic, std::size_t n, std::size_t value_size) {
  // The N values, each in a place of its own, written just before (untimed) as the bridge's
  // records are in its lanes ring: the peer copies each record from memory as the bridge
  // does, not one cache-hot value N times.
  const std::string values(n * value_size, 'v');
  delivered span;
  rd_kafka_t* rk =
      client(RD_KAFKA_PRODUCER, producer_props(k.bootstrap), [&](rd_kafka_conf_t* conf) {
        rd_kafka_conf_set_opaque(conf, &span);
        rd_kafka_conf_set_dr_msg_cb(conf, &count_delivery);
      });
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  for (std::size_t i = 0; i < n; ++i) {
    rd_kafka_headers_t* h = rd_kafka_headers_new(2);
    const std::string off = std::to_string(i);
    const std::string part = std::to_string(i % partitions);
    rd_kafka_header_add(h, "lanes.partition", -1, part.data(), 1);
    rd_kafka_header_add(h, "lanes.offset", -1, off.data(), static_cast<ssize_t>(off.size()));
    rd_kafka_vu_t vu[6] = {};
    vu[0].vtype = RD_KAFKA_VTYPE_RKT;
    vu[0].u.rkt = t;
    vu[1].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[1].u.i32 = static_cast<std::int32_t>(i % partitions);
    vu[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[2].u.i = RD_KAFKA_MSG_F_COPY;
    vu[3].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[3].u.mem = {const_cast<char*>(values.data() + i * value_size), value_size};
    vu[4].vtype = RD_KAFKA_VTYPE_KEY;
    vu[4].u.mem = {const_cast<char*>("key"), 3};
    vu[5].vtype = RD_KAFKA_VTYPE_HEADERS;
    vu[5].u.headers = h;
    for (;;) {
      rd_kafka_error_t* e = rd_kafka_produceva(rk, vu, 6);
      if (e == nullptr) break;
      if (rd_kafka_error_code(e) != RD_KAFKA_RESP_ERR__QUEUE_FULL) die(rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
      rd_kafka_poll(rk, 100);
    }
    rd_kafka_poll(rk, 0);
  }
  if (rd_kafka_flush(rk, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) die("peer flush timed out");
  if (span.count != n) die("peer: " + std::to_string(span.count) + " of " + std::to_string(n));
  rd_kafka_topic_destroy(t);
  rd_kafka_destroy(rk);
  return span.span.rate();
}

// Ours: the bridge mirroring N records already in a memory lanes topic.
double ours_to_kafka(cluster& k, const std::string& topic, std::size_t n, std::size_t value_size) {
  lanes::bus b;
  lanes::topic_config tc;
  tc.ring_capacity = std::size_t{1} << 24;
  tc.partitions = partitions;
  if (const lanes::errc e = b.create_topic("src", tc); e != lanes::errc::ok)
    die(std::string("create_topic: ") + lanes::to_string(e));
  lanes::producer p = b.make_producer("src");
  const std::string value(value_size, 'v');
  for (std::size_t i = 0; i < n; ++i) {
    lanes::publish_options o;
    o.timestamp_ns = 1'700'000'000'000'000'000;  // whole ms: no lanes.timestamp_ns header
    o.partition = static_cast<std::uint32_t>(i % partitions);
    if (!p.publish("key", value, o)) die("publish");
  }
  lanes::kafka::bridge_config c;
  c.dir = lanes::kafka::direction::to_kafka;
  c.bootstrap = k.bootstrap;
  c.lanes_topic = "src";
  c.kafka_topic = topic;
  return run_bridge(b, c, n);
}

// Peer: librdkafka's consumer alone reading the N records of `topic`.
double peer_consume(cluster& k, const std::string& topic, std::size_t n) {
  const auto t0 = clock_type::now();
  wall_span span("librdkafka consumer");
  std::vector<std::pair<std::string, std::string>> props = {{"bootstrap.servers", k.bootstrap},
                                                            {"group.id", "bench"},
                                                            {"enable.auto.commit", "false"},
                                                            {"socket.nagle.disable", "true"},
                                                            {"log_level", "0"}};
  for (auto& p : extra_consumer_props()) props.push_back(std::move(p));
  rd_kafka_t* rk = client(RD_KAFKA_CONSUMER, props);
  // Started as the bridge starts: absolute offsets from the low watermarks. Assigning
  // RD_KAFKA_OFFSET_BEGINNING before the leader is known costs librdkafka's fixed 500 ms
  // offset-query retry (connect/kafka/from_kafka.cpp).
  rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    std::int64_t lo = 0;
    std::int64_t hi = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &lo, &hi, 10000) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
      die("peer: cannot read the watermarks of " + topic);
    rd_kafka_topic_partition_list_add(l, topic.c_str(), p)->offset = lo;
  }
  rd_kafka_assign(rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  std::size_t got = 0;
  std::uint64_t sum = 0;
  while (span.see(got) < n) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) {
      if (seconds_since(t0) > 300) die("peer consumer timed out");
      continue;
    }
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++got;
      for (std::size_t i = 0; i < m->len; i += 64)
        sum += static_cast<const unsigned char*>(m->payload)[i];
      // What receiving a record means here: its key, timestamp and headers too (the bridge
      // must carry them; librdkafka parses headers only when asked, with an allocation).
      sum += m->key_len + static_cast<std::uint64_t>(rd_kafka_message_timestamp(m, nullptr));
      rd_kafka_headers_t* h = nullptr;
      if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        std::size_t size = 0;
        for (std::size_t i = 0;
             rd_kafka_header_get_all(h, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
          sum += size;
      }
    }
    rd_kafka_message_destroy(m);
  }
  if (sum == 42) std::fprintf(stderr, " ");
  rd_kafka_destroy(rk);
  return span.rate();
}

// Ours: the bridge consuming the N records of `topic` into a lanes topic.
double ours_from_kafka(cluster& k, const std::string& topic, std::size_t n, bool durable,
                       const std::string& dir) {
  lanes::bus_config bc;
  if (durable) {
    std::filesystem::remove_all(dir);
    bc.data_dir = dir;
  }
  lanes::bus b(bc);
  lanes::topic_config tc;
  tc.ring_capacity = std::size_t{1} << 24;  // 4.4 MB per partition in the 1 KiB case
  tc.partitions = partitions;
  tc.durable = durable ? lanes::durability::async : lanes::durability::none;
  // A mirror runs for long: its rings are warm after the first lap. A fresh ring would cost
  // a page fault per 4 KiB written in the timed span (measured: 0.34x -> see
  // bench/kafka_notes.json); the peer writes nowhere.
  tc.prefault = std::getenv("KAFKA_BENCH_COLD_RING") == nullptr;
  if (const lanes::errc e = b.create_topic("dst", tc); e != lanes::errc::ok)
    die(std::string("create_topic: ") + lanes::to_string(e));
  lanes::kafka::bridge_config c;
  c.dir = lanes::kafka::direction::from_kafka;
  c.bootstrap = k.bootstrap;
  c.lanes_topic = "dst";
  c.kafka_topic = topic;
  c.group = "bench";
  c.kafka_properties = extra_consumer_props();
  const double rate = run_bridge(b, c, n);
  if (durable) std::filesystem::remove_all(dir);
  return rate;
}

json summary(const std::vector<double>& ours, const std::vector<double>& peer) {
  return lanes_support::ours_vs_peer(ours, peer, "records_per_s");
}

struct options : lanes_bench::run_options {
  options() : run_options{12, false, "results/kafka_bench.json"} {}
  std::string only;  // "to" or "from": one direction (for profiling)
  std::vector<std::size_t> sizes{64, 1024};
  // KAFKA_BENCH_SIDE=ours|peer (diagnostic, for profiling one side): the other is not run.
  std::string side = std::getenv("KAFKA_BENCH_SIDE") ? std::getenv("KAFKA_BENCH_SIDE") : "";
};

constexpr const char* kUsage =
    "usage: kafka_bench [--quick] [--reps N] [--out PATH] [--only to|from] [--size 64|1024]";

options parse(int argc, char** argv) {
  options o;  // reps: a multiple of 2 and 3, so each side runs first (and second, third) equally
  lanes_bench::parse_command_line(
      argc, argv, o, kUsage,
      {{"--quick",
        [&](lanes_bench::arg_cursor&) {  // one round; a later --reps still counts
          o.quick = true;
          o.reps = 1;
        }},
       {"--only",
        [&](lanes_bench::arg_cursor& a) {
          o.only = a.value();
          if (o.only != "to" && o.only != "from") die(kUsage);
        }},
       {"--size", [&](lanes_bench::arg_cursor& a) {
          const std::string size = a.value();
          if (size != "64" && size != "1024") die(kUsage);
          o.sizes = {static_cast<std::size_t>(std::stoul(size))};
        }}});
  return o;
}

// Each side's rate per round, in records/s.
struct rates {
  std::vector<double> to_ours, to_peer, from_ours, from_durable, from_peer;
};

const std::string data_dir = "/var/tmp/lanes-kafka-bench";

// lanes -> Kafka, one round: the bridge and librdkafka's producer, each to a topic of its own.
// Who runs first takes turns, round by round: the first client after the cluster starts (or
// after the topics are filled) found it slower to answer.
void to_kafka_round(const options& o, cluster& k, int r, std::size_t n, std::size_t size,
                    rates& out) {
  const std::string t_ours = k.topic();
  const std::string t_peer = k.topic();
  const auto ours = [&] {
    out.to_ours.push_back(o.side != "peer" ? ours_to_kafka(k, t_ours, n, size) : 1);
  };
  const auto peer = [&] {
    out.to_peer.push_back(o.side != "ours" ? peer_produce(k, t_peer, n, size) : 1);
  };
  if (r % 2 == 0) {
    ours();
    peer();
  } else {
    peer();
    ours();
  }
}

// Kafka -> lanes, one round: each reader its own topic, filled (untimed) in the order they
// read them; the order of the readers turns by one each round. Measured with
// KAFKA_BENCH_TRACE=1, Kafka -> lanes 1 KiB, 6 rounds: the first reader after the fills got its
// first record after 33-110 ms, the second after 5-75 ms, whichever side it was; with ours
// always first that was ratio 0.79, with the order swapped 1.13.
void from_kafka_round(const options& o, cluster& k, int r, std::size_t n, std::size_t size,
                      rates& out) {
  const std::string topics[3] = {k.topic(), k.topic(), k.topic()};
  for (const std::string& t : topics) (void)peer_produce(k, t, n, size);
  const std::function<void(const std::string&)> readers[3] = {
      [&](const std::string& t) {
        out.from_ours.push_back(o.side != "peer" ? ours_from_kafka(k, t, n, false, data_dir) : 1);
      },
      [&](const std::string& t) {
        out.from_peer.push_back(o.side != "ours" ? peer_consume(k, t, n) : 1);
      },
      [&](const std::string& t) {
        out.from_durable.push_back(o.side != "peer" ? ours_from_kafka(k, t, n, true, data_dir) : 1);
      }};
  for (int i = 0; i < 3; ++i) readers[(i + r) % 3](topics[i]);
}

// Every round at one value size; its cases are added to `cases`.
void run_size(const options& o, std::size_t size, json& cases) {
  // lanes -> Kafka only needs the delivery reports, so its runs are long enough (0.5-1 s) that
  // connecting is a small share. Kafka -> lanes must read back all it reads: the mock
  // cluster keeps at most 5 MiB and 100000 records per partition (older ones are deleted),
  // so those cases stay below that and are filled, untimed, by librdkafka's producer.
  const std::size_t n_to = partitions * (size == 64 ? 25000 : 6250) / (o.quick ? 4 : 1);
  const std::size_t n_from = partitions * (size == 64 ? 30000 : 4000) / (o.quick ? 4 : 1);
  rates got;
  for (int r = 0; r < o.reps; ++r) {
    std::fprintf(stderr, "kafka_bench: %zu B, round %d of %d\n", size, r + 1, o.reps);
    cluster k(partitions);  // a fresh cluster per round: every round starts from empty logs
    if (o.only != "from") to_kafka_round(o, k, r, n_to, size, got);
    if (o.only != "to") from_kafka_round(o, k, r, n_from, size, got);
  }
  const std::string s = std::to_string(size);
  if (o.only != "from") {
    cases["to_kafka_" + s] = summary(got.to_ours, got.to_peer);
    cases["to_kafka_" + s]["records"] = n_to;
  }
  if (o.only != "to") {
    cases["from_kafka_" + s] = summary(got.from_ours, got.from_peer);
    cases["from_kafka_durable_" + s] = summary(got.from_durable, got.from_peer);
    cases["from_kafka_" + s]["records"] = n_from;
    cases["from_kafka_durable_" + s]["records"] = n_from;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  json cases = json::object();
  for (const std::size_t size : o.sizes) run_size(o, size, cases);
  json result = lanes_tools::result_header("kafka_bench");
  result["rounds"] = o.reps;
  result["cluster"] =
      "librdkafka 2.0.2 mock cluster, 1 broker, 16 partitions, in this process (keeps 5 MiB per "
      "partition: N is sized below it)";
  result["cases"] = cases;
  lanes_support::write_json_file(o.out, result);
  std::printf("%s\n", cases.dump(2).c_str());
  return 0;
}
