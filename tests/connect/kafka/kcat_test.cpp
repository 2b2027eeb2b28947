// tests/connect/kafka/kcat_test.cpp: the bridge against an outside Kafka client: Debian's kcat,
// in another process, produces to and consumes from lanes-kafka-mock (another process too).
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "kafka_test_util.hpp"
#include <lanes/kafka_bridge.hpp>
#include <lanes/lanes.hpp>

namespace {

using namespace kafka_test;

class KcatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!on_path("kcat")) GTEST_SKIP() << "kcat is not installed (Debian package kcat)";
    mock_ = std::make_unique<child_process>(
        std::vector<std::string>{LANES_KAFKA_MOCK_BIN, "--brokers", "2", "--topic", "in:2",
                                 "--topic", "out:2", "--topic", "orders:2"});
    const auto line = mock_->read_line(60s);
    ASSERT_TRUE(line && !line->empty()) << "lanes-kafka-mock printed no bootstrap address";
    bootstrap_ = *line;
  }
  void TearDown() override {
    if (!mock_) return;
    mock_->kill(SIGTERM);
    EXPECT_EQ(mock_->wait(60s), std::optional<int>(0))
        << "lanes-kafka-mock did not stop on SIGTERM";
  }

  lanes::kafka::bridge_config config(lanes::kafka::direction d, const std::string& lanes_topic,
                                     const std::string& kafka_topic) const {
    lanes::kafka::bridge_config c;
    c.dir = d;
    c.bootstrap = bootstrap_;
    c.lanes_topic = lanes_topic;
    c.kafka_topic = kafka_topic;
    c.connect_timeout = 30s;
    return c;
  }

  std::unique_ptr<child_process> mock_;
  std::string bootstrap_;
};

TEST_F(KcatTest, RecordsProducedByKcatArriveInLanesWithKeysHeadersAndPositions) {
  for (const char* partition : {"0", "1"}) {
    child_process kcat({"kcat", "-b", bootstrap_, "-P", "-t", "in", "-p", partition, "-K:", "-H",
                        "source=kcat", "-H", std::string("part=") + partition});
    for (int i = 0; i < 50; ++i)
      kcat.write_stdin("key" + std::to_string(i) + ":value " + partition + "/" + std::to_string(i) +
                       "\n");
    kcat.close_stdin();
    ASSERT_EQ(kcat.wait(60s), std::optional<int>(0));
  }
  scratch_dir dir;
  lanes::bus_config bc;
  bc.data_dir = dir.at("bus");
  lanes::bus b(bc);
  lanes::kafka::kafka_bridge bridge(b, config(lanes::kafka::direction::from_kafka, "t", "in"));
  bridge.start();
  ASSERT_TRUE(wait_until([&] { return bridge.stats().records >= 100 || bridge.failed(); }));
  bridge.stop();
  EXPECT_EQ(bridge.stats().records, 100u) << bridge.stats().last_error;
  EXPECT_EQ(b.describe_topic("t")->partitions.size(), 2u);  // created with Kafka's count
  const auto records = read_lanes(b, "t");
  ASSERT_EQ(records.size(), 100u);
  for (const lanes_record& r : records) {
    const std::string p = std::to_string(r.partition);
    const std::string i = std::to_string(r.offset);
    EXPECT_EQ(r.key, "key" + i);
    EXPECT_EQ(r.value, "value " + p + "/" + i);
    const headers_list expected = {{"source", "kcat"},
                                   {"part", p},
                                   {"kafka.topic", "in"},
                                   {"kafka.partition", p},
                                   {"kafka.offset", i}};
    EXPECT_EQ(r.headers, expected);
  }
}

TEST_F(KcatTest, RecordsMirroredFromLanesReadBackWithKcat) {
  scratch_dir dir;
  lanes::bus_config bc;
  bc.data_dir = dir.at("bus");
  lanes::bus b(bc);
  lanes::topic_config tc;
  tc.partitions = 2;
  tc.durable = lanes::durability::async;
  ASSERT_EQ(b.create_topic("src", tc), lanes::errc::ok);
  {
    lanes::producer p = b.make_producer("src");
    const lanes::header h[] = {{"app", "lanes"}};
    for (int i = 0; i < 60; ++i) {
      lanes::publish_options o;
      o.partition = static_cast<std::uint32_t>(i % 2);
      o.headers = h;
      ASSERT_TRUE(p.publish("k" + std::to_string(i), "v" + std::to_string(i), o));
    }
  }
  lanes::kafka::kafka_bridge bridge(b, config(lanes::kafka::direction::to_kafka, "src", "out"));
  bridge.start();
  ASSERT_TRUE(wait_until([&] { return bridge.stats().records >= 60 || bridge.failed(); }));
  bridge.stop();
  ASSERT_EQ(bridge.stats().records, 60u) << bridge.stats().last_error;

  child_process kcat(
      {"kcat", "-b", bootstrap_, "-C", "-t", "out", "-e", "-q", "-f", "%p|%o|%k|%s|%h\\n"});
  const std::string out = kcat.read_all(60s);
  ASSERT_EQ(kcat.wait(60s), std::optional<int>(0));
  std::istringstream lines(out);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    // Kafka partition p offset o holds lanes partition p offset o, i.e. record 2 * o + p.
    int p = 0;
    int o = 0;
    char key[32] = {};
    char value[32] = {};
    char headers[256] = {};
    ASSERT_EQ(std::sscanf(line.c_str(), "%d|%d|%31[^|]|%31[^|]|%255s", &p, &o, key, value, headers),
              5)
        << line;
    const int i = 2 * o + p;
    EXPECT_EQ(std::string(key), "k" + std::to_string(i));
    EXPECT_EQ(std::string(value), "v" + std::to_string(i));
    // Then the lanes timestamp in ns (it has a sub-millisecond part; Kafka keeps ms).
    EXPECT_TRUE(std::string(headers).starts_with("app=lanes,lanes.partition=" + std::to_string(p) +
                                                 ",lanes.offset=" + std::to_string(o) +
                                                 ",lanes.timestamp_ns="))
        << headers;
    ++count;
  }
  EXPECT_EQ(count, 60) << out;
}

TEST_F(KcatTest, TheReadmeExampleMirrorsToKafkaAndBackTwice) {
  scratch_dir dir;
  // A second run on the same directory resumes: 100 new records each way, no repeat.
  for (int run = 0; run < 2; ++run) {
    child_process example({LANES_KAFKA_README_EXAMPLE, bootstrap_, dir.at("bus")});
    const std::string out = example.read_all(120s);
    ASSERT_EQ(example.wait(120s), std::optional<int>(0)) << out;
    EXPECT_EQ(out, "100 records to Kafka, 100 back; no error\n");
  }
}

}  // namespace
