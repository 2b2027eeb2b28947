// tests/connect/prometheus: a bus's metrics scraped over HTTP on 127.0.0.1, as Prometheus does,
// and checked against describe_topic / describe_queue.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>

#include "lanes/lanes.hpp"
#include "lanes/metrics_exporter.hpp"
#include "support/bus.hpp"
#include "support/scratch_dir.hpp"

namespace {

using namespace std::chrono_literals;

// GET http://127.0.0.1:port/metrics with a plain socket (10 s timeouts); the body.
std::string scrape(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
  }
  const std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    throw std::runtime_error("send failed");
  }
  std::string resp;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto body = resp.find("\r\n\r\n");
  if (resp.rfind("HTTP/1.", 0) != 0 || resp.find(" 200 ") == std::string::npos ||
      body == std::string::npos) {
    throw std::runtime_error("bad HTTP response: " + resp.substr(0, 200));
  }
  return resp.substr(body + 4);
}

// "name{labels}" -> value, for every sample line.
std::map<std::string, double> parse(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto sp = line.rfind(' ');
    out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return out;
}

double value(const std::map<std::string, double>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) {
    ADD_FAILURE() << "no sample " << key;
    return -1;
  }
  return it->second;
}

std::string part(const std::string& topic, std::uint32_t p) {
  return "{partition=\"" + std::to_string(p) + "\",topic=\"" + topic + "\"}";
}

TEST(PrometheusMetrics, AScrapeShowsWhatDescribeTopicShows) {
  lanes_test::scratch_dir d("lanes_prom");
  lanes::bus bus(lanes_test::quiet_bus(d.path()));
  lanes::topic_config tc = lanes_test::log_topic(2, 1 << 16);
  tc.durable = lanes::durability::async;
  ASSERT_EQ(bus.create_topic("orders", tc), lanes::errc::ok);
  lanes::producer p = bus.make_producer("orders");
  constexpr int n = 300;
  std::uint64_t last_offset[2] = {0, 0};
  for (int i = 0; i < n; ++i) {
    const lanes::publish_result r =
        p.publish(lanes::message_key(std::to_string(i)), "value-" + std::to_string(i));
    ASSERT_EQ(r.status, lanes::errc::ok);
    last_offset[r.partition] = r.offset;
  }
  for (std::uint32_t i = 0; i < 2; ++i) {
    ASSERT_EQ(p.wait_durable(i, last_offset[i], 30s), lanes::errc::ok);
  }
  lanes::consumer_config cc;
  cc.group = "billing";
  cc.reset = lanes::offset_reset::earliest;
  cc.auto_commit = false;
  lanes::consumer c = bus.make_consumer(cc);
  ASSERT_EQ(c.subscribe({"orders"}), lanes::errc::ok);
  const auto got = lanes_test::poll_until(c, n, 60s);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(n));
  std::uint64_t bytes_out = 0;
  for (const auto& r : got) bytes_out += 32 + r.key.size() + r.value.size();
  ASSERT_EQ(c.commit(), lanes::errc::ok);

  lanes::metrics_exporter exporter(bus, "127.0.0.1:0");
  ASSERT_NE(exporter.port(), 0);
  const auto m = parse(scrape(exporter.port()));
  const auto info = bus.describe_topic("orders");
  ASSERT_TRUE(info);
  double in_records = 0, in_bytes = 0, out_records = 0, out_bytes = 0;
  for (const lanes::partition_stats& ps : info->partitions) {
    const std::string l = part("orders", ps.partition);
    EXPECT_EQ(value(m, "lanes_partition_end_offset" + l), static_cast<double>(ps.end_offset));
    EXPECT_EQ(value(m, "lanes_partition_log_start_offset" + l),
              static_cast<double>(ps.log_start_offset));
    EXPECT_EQ(value(m, "lanes_partition_durable_offset" + l),
              static_cast<double>(ps.durable_offset));
    EXPECT_EQ(value(m, "lanes_partition_ring_bytes" + l), static_cast<double>(ps.bytes));
    in_records += value(m, "lanes_partition_in_records_total" + l);
    in_bytes += value(m, "lanes_partition_in_bytes_total" + l);
    out_records += value(m, "lanes_partition_out_records_total" + l);
    out_bytes += value(m, "lanes_partition_out_bytes_total" + l);
    EXPECT_GE(value(m, "lanes_persist_fdatasyncs_total" + l), 1.0);
    EXPECT_GT(value(m, "lanes_persist_written_bytes_total" + l), 0.0);
    EXPECT_EQ(value(m, "lanes_persist_errors_total" + l), 0.0);
    const double syncs = value(m, "lanes_persist_sync_duration_seconds_count" + l);
    EXPECT_GE(syncs, 1.0);
    EXPECT_EQ(value(m, "lanes_persist_sync_duration_seconds_bucket{partition=\"" +
                           std::to_string(ps.partition) + "\",topic=\"orders\",le=\"+Inf\"}"),
              syncs);
    ASSERT_EQ(ps.groups.size(), 1u);
    const std::string gl =
        "{group=\"billing\",partition=\"" + std::to_string(ps.partition) + "\",topic=\"orders\"}";
    EXPECT_EQ(value(m, "lanes_group_committed_offset" + gl),
              static_cast<double>(ps.groups[0].committed));
    EXPECT_EQ(value(m, "lanes_group_lag_records" + gl), static_cast<double>(ps.groups[0].lag));
  }
  EXPECT_EQ(in_records, n);
  EXPECT_EQ(out_records, n);
  EXPECT_EQ(out_bytes, static_cast<double>(bytes_out));
  EXPECT_EQ(in_bytes, static_cast<double>(bytes_out));  // every record read once
  EXPECT_EQ(value(m, "lanes_group_members{group=\"billing\"}"), 1.0);
  EXPECT_GE(value(m, "lanes_group_rebalances_total{group=\"billing\"}"), 1.0);
  EXPECT_EQ(value(m, "lanes_bus_read_only"), 0.0);
}

TEST(PrometheusMetrics, QueueCountsMatchDescribeQueue) {
  lanes::bus bus(lanes_test::quiet_bus());
  lanes::topic_config tc = lanes_test::log_topic(1, 1 << 16);
  tc.mode = lanes::topic_mode::queue;
  ASSERT_EQ(bus.create_topic("jobs", tc), lanes::errc::ok);
  lanes::producer p = bus.make_producer("jobs");
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(p.publish({}, "job"));
  lanes::queue_consumer_config qc;
  qc.topic = "jobs";
  lanes::queue_consumer q = bus.make_queue_consumer(qc);
  const lanes::receive_result r = q.receive(4, 5s);
  ASSERT_EQ(r.status, lanes::errc::ok);
  ASSERT_FALSE(r.messages.empty());
  ASSERT_EQ(q.ack(r.messages[0].receipt), lanes::errc::ok);

  lanes::metrics_exporter exporter(bus, "127.0.0.1:0");
  const auto m = parse(scrape(exporter.port()));
  const auto s = bus.describe_queue("jobs");
  ASSERT_TRUE(s);
  const lanes::queue_partition_stats t = s->total();
  const std::string l = "{group=\"\",partition=\"0\",topic=\"jobs\"}";
  EXPECT_EQ(value(m, "lanes_queue_ready_messages" + l), static_cast<double>(t.ready));
  EXPECT_EQ(value(m, "lanes_queue_in_flight_messages" + l), static_cast<double>(t.in_flight));
  EXPECT_EQ(value(m, "lanes_queue_acked_total" + l), 1.0);
  EXPECT_EQ(t.ready + t.in_flight + t.acked, 10u);
}

TEST(PrometheusMetrics, AnApplicationsOwnSamplesAreScrapedWithTheBus) {
  lanes::bus bus(lanes_test::quiet_bus());
  lanes::metrics_exporter exporter(bus, "127.0.0.1:0");
  std::atomic<int> mirrored{41};
  exporter.add_source([&] {
    return std::vector<lanes::metric_sample>{{"lanes_kafka_mirrored_records_total",
                                              "Records mirrored.",
                                              lanes::metric_sample::kind::counter,
                                              {{"direction", "to_kafka"}},
                                              double(++mirrored)}};
  });
  EXPECT_EQ(value(parse(scrape(exporter.port())),
                  "lanes_kafka_mirrored_records_total{direction=\"to_kafka\"}"),
            42.0);
  EXPECT_EQ(exporter.url(), "http://127.0.0.1:" + std::to_string(exporter.port()) + "/metrics");
}

TEST(PrometheusMetrics, AnAddressItCannotListenOnIsAOneLineError) {
  lanes::bus bus(lanes_test::quiet_bus());
  lanes::metrics_exporter first(bus, "127.0.0.1:0");
  for (const std::string& bad :
       {std::string("nonsense"), "127.0.0.1:" + std::to_string(first.port())}) {
    try {
      lanes::metrics_exporter e(bus, bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(bad), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
}

}  // namespace

// tools/grafana-dashboard.json only uses metrics that a bus with a durable topic, a group and
// a queue actually serves (so a renamed metric cannot leave the dashboard blank).
TEST(PrometheusMetrics, EveryMetricTheGrafanaDashboardUsesIsServed) {
  std::ifstream in(LANES_DASHBOARD);
  ASSERT_TRUE(in) << LANES_DASHBOARD;
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json dashboard = nlohmann::json::parse(text.str());  // valid JSON
  std::set<std::string> used;
  for (const auto& panel : dashboard.at("panels")) {
    for (const auto& target : panel.at("targets")) {
      const std::string expr = target.at("expr").get<std::string>();
      // Every lanes_[a-z_]+ in the expression.
      for (auto at = expr.find("lanes_"); at != std::string::npos; at = expr.find("lanes_", at)) {
        auto end = at;
        while (end < expr.size() &&
               (std::islower(static_cast<unsigned char>(expr[end])) != 0 || expr[end] == '_')) {
          ++end;
        }
        used.insert(expr.substr(at, end - at));
        at = end;
      }
    }
  }
  ASSERT_GE(used.size(), 15u);

  lanes_test::scratch_dir d("lanes_prom");
  lanes::bus bus(lanes_test::quiet_bus(d.path()));
  lanes::topic_config tc = lanes_test::log_topic(1, 1 << 16);
  tc.durable = lanes::durability::sync;
  ASSERT_EQ(bus.create_topic("log", tc), lanes::errc::ok);
  lanes::topic_config qc = lanes_test::log_topic(1, 1 << 16);
  qc.mode = lanes::topic_mode::queue;
  ASSERT_EQ(bus.create_topic("jobs", qc), lanes::errc::ok);
  ASSERT_TRUE(bus.make_producer("log").publish({}, "x"));
  lanes::consumer_config cc;
  cc.group = "g";
  lanes::consumer c = bus.make_consumer(cc);
  ASSERT_EQ(c.subscribe({"log"}), lanes::errc::ok);
  (void)c.poll(10ms);  // joins: the group exists with one member
  lanes::queue_consumer_config q;
  q.topic = "jobs";
  lanes::queue_consumer qcons = bus.make_queue_consumer(q);

  lanes::metrics_exporter exporter(bus, "127.0.0.1:0");
  const std::string body = scrape(exporter.port());
  for (const std::string& m : used) {
    const bool served = body.find("\n" + m + "{") != std::string::npos ||
                        body.find("\n" + m + " ") != std::string::npos;
    EXPECT_TRUE(served) << m << " is not served:\n" << body;
  }
}
