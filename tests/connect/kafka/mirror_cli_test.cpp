// tests/connect/kafka/mirror_cli_test.cpp: `lanes mirror` (the built binary) as a person meets
// it: usage errors exit 2, an unreachable bootstrap and an unknown topic are one line and exit
// 1 within the timeout, SIGTERM stops it cleanly with a final status, and the next run goes
// on where it stopped.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "kafka_test_util.hpp"
#include <lanes/lanes.hpp>

namespace {

using namespace kafka_test;

struct outcome {
  std::optional<int> status;
  std::string output;  // stdout and stderr
};

outcome run_mirror(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {LANES_BIN, "mirror"};
  argv.insert(argv.end(), args.begin(), args.end());
  child_process p(argv, true);
  outcome o;
  o.output = p.read_all(120s);
  o.status = p.wait(120s);
  return o;
}

std::size_t count_lines(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

class MirrorCli : public ::testing::Test {
 protected:
  void SetUp() override {
    kafka_.create_topic("k", 2);
    lanes::bus b(bus_at());
    lanes::topic_config tc;
    tc.partitions = 2;
    tc.durable = lanes::durability::async;
    ASSERT_EQ(b.create_topic("src", tc), lanes::errc::ok);
  }
  lanes::bus_config bus_at() const {
    lanes::bus_config c;
    c.data_dir = dir_.at("bus");
    return c;
  }
  void publish(int n) {
    lanes::bus b(bus_at());
    lanes::producer p = b.make_producer("src");
    for (int i = 0; i < n; ++i) ASSERT_TRUE(p.publish("k", "v"));
    const auto info = b.describe_topic("src");
    for (const auto& ps : info->partitions) {
      if (ps.end_offset > 0) {
        ASSERT_EQ(p.wait_durable(ps.partition, ps.end_offset - 1, 60s), lanes::errc::ok);
      }
    }
  }
  std::string dir() const { return dir_.at("bus"); }

  scratch_dir dir_;
  mock_cluster kafka_{1};
};

TEST_F(MirrorCli, UsageErrorsExitTwoWithOneLine) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"-d", dir(), "--topic", "src"},
           {"-d", dir(), "--to-kafka", "x:1", "--from-kafka", "y:1", "--topic", "src"},
           {"-d", dir(), "--from-kafka", kafka_.bootstrap(), "--topic", "src"},
           {"-d", dir(), "--to-kafka", kafka_.bootstrap(), "--topic", "src", "-X", "novalue"},
           {"-d", dir(), "--to-kafka", kafka_.bootstrap(), "--topic", "src", "--timeout", "nan"}}) {
    const outcome o = run_mirror(args);
    EXPECT_EQ(o.status, std::optional<int>(2)) << o.output;
    EXPECT_EQ(o.output.rfind("lanes: error: ", 0), 0u) << o.output;
  }
}

TEST_F(MirrorCli, AnUnreachableBootstrapIsOneLineWithinTheTimeout) {
  for (const char* way : {"--to-kafka", "--from-kafka"}) {
    const auto t0 = std::chrono::steady_clock::now();
    const outcome o = run_mirror({"-d", dir(), way, "127.0.0.1:1", "--topic", "src",
                                  "--kafka-topic", "k", "--timeout", "2"});
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
    EXPECT_EQ(o.status, std::optional<int>(1)) << o.output;
    EXPECT_EQ(o.output,
              "lanes: error: cannot reach Kafka at '127.0.0.1:1' within 2 s (Local: Broker "
              "transport failure)\n");
  }
}

TEST_F(MirrorCli, UnknownTopicsAreOneLineErrors) {
  const outcome kafka_side = run_mirror(
      {"-d", dir(), "--to-kafka", kafka_.bootstrap(), "--topic", "src", "--kafka-topic", "nope"});
  EXPECT_EQ(kafka_side.status, std::optional<int>(1));
  EXPECT_EQ(count_lines(kafka_side.output), 1u) << kafka_side.output;
  EXPECT_NE(kafka_side.output.find("Kafka topic 'nope' does not exist"), std::string::npos)
      << kafka_side.output;
  const outcome lanes_side =
      run_mirror({"-d", dir(), "--to-kafka", kafka_.bootstrap(), "--topic", "nope"});
  EXPECT_EQ(lanes_side.status, std::optional<int>(1));
  EXPECT_EQ(count_lines(lanes_side.output), 1u) << lanes_side.output;
  EXPECT_NE(lanes_side.output.find("unknown topic 'nope'"), std::string::npos) << lanes_side.output;
}

TEST_F(MirrorCli, RefusedAuthorizationIsAOneLineError) {
  rd_kafka_mock_topic_set_error(kafka_.get(), "k", RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  const outcome o = run_mirror(
      {"-d", dir(), "--to-kafka", kafka_.bootstrap(), "--topic", "src", "--kafka-topic", "k"});
  EXPECT_EQ(o.status, std::optional<int>(1));
  EXPECT_EQ(count_lines(o.output), 1u) << o.output;
  EXPECT_NE(o.output.find("TOPIC_AUTHORIZATION_FAILED"), std::string::npos) << o.output;
}

TEST_F(MirrorCli, SigtermStopsCleanlyWithAFinalStatusAndTheNextRunGoesOn) {
  publish(400);
  const std::vector<std::string> args = {
      "-d",   dir(),           "--to-kafka", kafka_.bootstrap(), "--topic",
      "src",  "--kafka-topic", "k",          "--json",           "--progress",
      "0.05", "--max-rate",    "2000"};
  {
    std::vector<std::string> argv = {LANES_BIN, "mirror"};
    argv.insert(argv.end(), args.begin(), args.end());
    child_process mirror(argv);
    // Progress lines come while it runs; stop it once records moved.
    bool moving = false;
    while (auto line = mirror.read_line(60s)) {
      ASSERT_EQ(line->front(), '{') << *line;
      if (line->find("\"records\":0,") == std::string::npos) {
        moving = true;
        break;
      }
    }
    ASSERT_TRUE(moving);
    mirror.kill(SIGTERM);
    std::string last;
    while (auto line = mirror.read_line(60s)) last = *line;
    EXPECT_EQ(mirror.wait(60s), std::optional<int>(0));
    EXPECT_NE(last.find("\"state\":\"stopped\""), std::string::npos) << last;
  }
  publish(100);
  std::vector<std::string> to_end = args;
  to_end.push_back("-e");
  const outcome o = run_mirror(to_end);
  EXPECT_EQ(o.status, std::optional<int>(0)) << o.output;
  const auto in_kafka = read_kafka(kafka_.bootstrap(), "k", 2);
  std::set<std::pair<std::string, std::string>> seen;
  for (const kafka_record& r : in_kafka)
    EXPECT_TRUE(seen.insert({r.header("lanes.partition"), r.header("lanes.offset")}).second)
        << "repeated: lanes partition " << r.header("lanes.partition") << " offset "
        << r.header("lanes.offset");
  EXPECT_EQ(in_kafka.size(), 500u);
}

}  // namespace
