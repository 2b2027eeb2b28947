// tests/connect/kafka/mirror_crash_test.cpp: `lanes mirror` (the built binary) killed with
// SIGKILL mid-stream again and again, in each direction, against the mock cluster of this
// process: after the last restart every source offset is on the other side exactly once.
// Each cycle adds records, starts the mirror, waits until its --json progress shows records
// moving, lets it run a random few milliseconds more and kills it.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "kafka_test_util.hpp"
#include <lanes/lanes.hpp>

namespace {

using namespace kafka_test;

constexpr int cycles = 20;
constexpr int per_cycle = 1200;  // records added before each start
constexpr std::uint32_t partitions = 2;

// Starts `lanes mirror` with --json progress lines and kills it with SIGKILL a random
// 0-150 ms after it reported its first mirrored records (or, if it finished them all first,
// when it has). Returns whether the kill came while records were still left.
bool run_and_kill(const std::vector<std::string>& args, std::mt19937& rng) {
  std::vector<std::string> argv = {LANES_BIN, "mirror"};
  argv.insert(argv.end(), args.begin(), args.end());
  for (const char* a : {"--json", "--progress", "0.02", "--max-rate", "4000"}) argv.push_back(a);
  child_process mirror(argv);
  bool moving = false;
  bool left = true;
  while (auto line = mirror.read_line(60s)) {
    if (line->find("\"records\":0,") == std::string::npos) {
      moving = true;
      left = line->find("\"caught_up\":true") == std::string::npos;
      break;
    }
  }
  EXPECT_TRUE(moving) << "lanes mirror reported no progress";
  std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 150));
  mirror.kill(SIGKILL);
  EXPECT_EQ(mirror.wait(60s), std::optional<int>(128 + SIGKILL));
  return left;
}

// Runs `lanes mirror ... -e` to the end: it must exit 0 once everything is across.
void run_to_end(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {LANES_BIN, "mirror"};
  argv.insert(argv.end(), args.begin(), args.end());
  for (const char* a : {"-e", "--progress", "0", "--json"}) argv.push_back(a);
  child_process mirror(argv);
  const std::string out = mirror.read_all(120s);
  EXPECT_EQ(mirror.wait(120s), std::optional<int>(0)) << out;
}

lanes::bus_config bus_at(const scratch_dir& dir) {
  lanes::bus_config c;
  c.data_dir = dir.at("bus");
  return c;
}

TEST(MirrorCrash, ToKafkaLosesAndRepeatsNoOffsetAcross20KillNineCycles) {
  scratch_dir dir;
  mock_cluster kafka(3);
  kafka.create_topic("k", partitions);
  {
    lanes::bus b(bus_at(dir));
    lanes::topic_config tc;
    tc.partitions = partitions;
    tc.durable = lanes::durability::async;
    ASSERT_EQ(b.create_topic("src", tc), lanes::errc::ok);
  }
  const std::vector<std::string> args = {
      "-d", dir.at("bus"), "--to-kafka", kafka.bootstrap(), "--topic", "src", "--kafka-topic", "k"};
  std::mt19937 rng(15);
  int mid_stream = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    {
      lanes::bus b(bus_at(dir));
      lanes::producer p = b.make_producer("src");
      for (int i = 0; i < per_cycle; ++i) {
        lanes::publish_options o;
        o.partition = static_cast<std::uint32_t>(i) % partitions;
        ASSERT_TRUE(p.publish("key", "cycle " + std::to_string(cycle), o));
      }
      ASSERT_EQ(p.wait_durable(0, per_cycle * (cycle + 1) / partitions - 1, 60s), lanes::errc::ok);
      ASSERT_EQ(p.wait_durable(1, per_cycle * (cycle + 1) / partitions - 1, 60s), lanes::errc::ok);
    }
    mid_stream += run_and_kill(args, rng) ? 1 : 0;
  }
  run_to_end(args);
  EXPECT_GE(mid_stream, cycles / 2) << "most kills should land mid-stream";
  std::map<std::pair<std::string, std::string>, int> seen;
  const auto in_kafka = read_kafka(kafka.bootstrap(), "k", partitions);
  for (const kafka_record& r : in_kafka)
    ++seen[{r.header("lanes.partition"), r.header("lanes.offset")}];
  int lost = 0;
  int repeated = 0;
  for (std::uint32_t p = 0; p < partitions; ++p) {
    for (int o = 0; o < per_cycle * cycles / static_cast<int>(partitions); ++o) {
      const int n = seen[{std::to_string(p), std::to_string(o)}];
      lost += n == 0 ? 1 : 0;
      repeated += n > 1 ? n - 1 : 0;
    }
  }
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(repeated, 0);
  EXPECT_EQ(in_kafka.size(), static_cast<std::size_t>(per_cycle * cycles));
}

TEST(MirrorCrash, FromKafkaLosesAndRepeatsNoOffsetAcross20KillNineCycles) {
  scratch_dir dir;
  mock_cluster kafka(3);
  kafka.create_topic("in", partitions);
  const std::vector<std::string> args = {
      "-d", dir.at("bus"), "--from-kafka", kafka.bootstrap(), "--kafka-topic",
      "in", "--topic",     "dst"};
  std::mt19937 rng(16);
  int mid_stream = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    std::vector<kafka_message> batch;
    for (int i = 0; i < per_cycle; ++i)
      batch.push_back({static_cast<std::int32_t>(i % partitions),
                       "key",
                       "cycle " + std::to_string(cycle),
                       {{"i", std::to_string(i)}},
                       0});
    produce_kafka(kafka.bootstrap(), "in", batch);
    mid_stream += run_and_kill(args, rng) ? 1 : 0;
  }
  run_to_end(args);
  EXPECT_GE(mid_stream, cycles / 2) << "most kills should land mid-stream";
  lanes::bus b(bus_at(dir));
  const auto in_lanes = read_lanes(b, "dst");
  std::map<std::pair<std::string, std::string>, int> seen;
  for (const lanes_record& r : in_lanes)
    ++seen[{r.header("kafka.partition"), r.header("kafka.offset")}];
  int lost = 0;
  int repeated = 0;
  for (const kafka_record& k : read_kafka(kafka.bootstrap(), "in", partitions)) {
    const int n = seen[{std::to_string(k.partition), std::to_string(k.offset)}];
    lost += n == 0 ? 1 : 0;
    repeated += n > 1 ? n - 1 : 0;
  }
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(repeated, 0);
  EXPECT_EQ(in_lanes.size(), static_cast<std::size_t>(per_cycle * cycles));
}

}  // namespace
