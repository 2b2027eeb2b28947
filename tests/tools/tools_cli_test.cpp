// tests/tools/tools_cli_test.cpp: the `lanes` command line tool end to end: produce and consume
// (log and queue topics, JSON output whatever the bytes), topics, and perf on a data
// directory. Every test runs the built binary (LANES_BIN) in a scratch directory, through the
// shell (tools_cli.hpp), and checks exit codes, what is printed and what is in the data
// directory afterwards. The other subcommands: tools_cli_tail_test.cpp (tail),
// tools_cli_verify_test.cpp (dump and verify), tools_cli_errors_test.cpp (errors and exit
// codes, numeric flags).
#include "tools_cli.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "lanes/lanes.hpp"

namespace {

using namespace lanes_test;

TEST_F(ToolsCli, ProduceConsumeRoundTrip) {
  const std::string input = "k1:v1\nk2:v2\nk1:v3\nno key here\nk3:\n";
  result r = lanes("produce -d " + d() + " -t orders -K : -H src=test -H trace=42 --create " +
                       "--partitions 3 -v",
                   input);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(lines_of(r.out).size(), 5u) << r.out;  // "partition offset" per message

  r = lanes("consume -d " + d() + " -t orders -e");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::vector<std::string> got = lines_of(r.out);
  std::vector<std::string> want = {"v1", "v2", "v3", "no key here", ""};
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);

  r = lanes("consume -d " + d() + " -t orders -e -f key-value");
  ASSERT_EQ(r.rc, 0) << r.err;
  got = lines_of(r.out);
  std::sort(got.begin(), got.end());
  want = {"\tno key here", "k1\tv1", "k1\tv3", "k2\tv2", "k3\t"};
  EXPECT_EQ(got, want);
  // One key, one partition, publish order.
  const auto k1 = std::find(got.begin(), got.end(), "k1\tv1");
  EXPECT_NE(k1, got.end());

  r = lanes("consume -d " + d() + " -t orders -e --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  ASSERT_EQ(lines_of(r.out).size(), 5u);
  EXPECT_NE(r.out.find("\"key\": \"k1\", \"value\": \"v1\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"key\": null, \"value\": \"no key here\""), std::string::npos);
  EXPECT_NE(r.out.find("\"headers\": [{\"name\": \"src\", \"value\": \"test\"}, {\"name\": "
                       "\"trace\", \"value\": \"42\"}]"),
            std::string::npos);
  EXPECT_NE(r.out.find("\"topic\": \"orders\""), std::string::npos);

  // `lanes consume -t orders ARGS` runs, in turn: each exits 0 and prints that many lines
  // (0 lines: nothing at all).
  auto expect_consumed = [&](const std::vector<std::pair<std::string, std::size_t>>& runs) {
    for (const auto& [args, lines] : runs) {
      const result c = lanes("consume -d " + d() + " -t orders " + args);
      ASSERT_EQ(c.rc, 0) << args << ": " << c.err;
      EXPECT_EQ(lines_of(c.out).size(), lines) << args << ": " << c.out;
    }
  };

  // -c, --partition, --from OFFSET and @TIMESTAMP_MS.
  ASSERT_NO_FATAL_FAILURE(expect_consumed({{"-c 2", 2}}));
  std::size_t per_partition = 0;
  for (int p = 0; p < 3; ++p) {
    r = lanes("consume -d " + d() + " -t orders -e --partition " + std::to_string(p));
    ASSERT_EQ(r.rc, 0) << r.err;
    per_partition += lines_of(r.out).size();
  }
  EXPECT_EQ(per_partition, 5u);
  ASSERT_NO_FATAL_FAILURE(expect_consumed({
      {"-e --json --from @9000000000000", 0},  // every record is older than the year 2255
      {"-e --from @0", 5},
      {"-e --from latest", 0},
  }));

  // A group commits what it printed: the second run has nothing new, then the new one.
  ASSERT_NO_FATAL_FAILURE(expect_consumed({
      {"-e --group g1 -c 3", 3},
      {"-e --group g1", 2},
      {"-e --group g1", 0},
  }));
  ASSERT_EQ(lanes("produce -d " + d() + " -t orders --durability sync", "late\n").rc, 0);
  r = lanes("consume -d " + d() + " -t orders -e --group g1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "late\n");

  // An empty topic with -e exits at once.
  ASSERT_EQ(lanes("topics -d " + d() + " create empty --durability sync").rc, 0);
  r = lanes("consume -d " + d() + " -t empty -e");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(ToolsCli, TopicsCreateListDescribeDelete) {
  result r = lanes("topics -d " + d() + " create t1 --partitions 2 --durability async");
  ASSERT_EQ(r.rc, 0) << r.err;
  r = lanes("topics -d " + d() + " create t1");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("lanes: error: topic 't1' exists already"), std::string::npos) << r.err;
  ASSERT_EQ(lanes("produce -d " + d() + " -t t1 -p 1", "a\nb\nc\n").rc, 0);
  ASSERT_EQ(lanes("consume -d " + d() + " -t t1 -e --group readers -c 1").rc, 0);
  r = lanes("topics -d " + d() + " list");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "t1\tmode=log\tpartitions=2\tdurability=async\n");
  r = lanes("topics -d " + d() + " describe t1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("2 partitions, durability async"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("readers"), std::string::npos) << r.out;
  r = lanes("topics -d " + d() + " describe t1 --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("\"end_offset\": 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"durable_offset\": 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"committed\": 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"lag\": 2"), std::string::npos) << r.out;
  r = lanes("topics -d " + d() + " delete t1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(lanes("topics -d " + d() + " list").out, "");
  EXPECT_FALSE(fs::exists(data_ / "t1"));
}

// A queue topic from the command line: consume prints and acks, so a second consume finds
// only what was left; -c takes part of the queue and leaves the rest.
TEST_F(ToolsCli, QueueTopicConsumeAcksWhatItPrinted) {
  result r =
      lanes("topics -d " + d() + " create jobs --mode queue --partitions 2 --durability sync");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("queue mode"), std::string::npos) << r.out;
  ASSERT_EQ(lanes("produce -d " + d() + " -t jobs", numbered(1, 10)).rc, 0);
  r = lanes("consume -d " + d() + " -t jobs -c 4");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::vector<std::string> first = lines_of(r.out);
  EXPECT_EQ(first.size(), 4u);
  r = lanes("topics -d " + d() + " describe jobs");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("ready"), std::string::npos) << r.out;
  r = lanes("consume -d " + d() + " -t jobs -e");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::vector<std::string> rest = lines_of(r.out);
  EXPECT_EQ(rest.size(), 6u) << "acked messages are gone, the others all come";
  first.insert(first.end(), rest.begin(), rest.end());
  std::sort(first.begin(), first.end());
  std::vector<std::string> want = lines_of(numbered(1, 10));
  std::sort(want.begin(), want.end());
  EXPECT_EQ(first, want);
  r = lanes("consume -d " + d() + " -t jobs -e");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "") << "everything was acked";
  r = lanes("consume -d " + d() + " -t jobs -e --from latest");
  EXPECT_EQ(r.rc, 2) << "a queue has no offsets to start from";
  EXPECT_NE(r.err.find("is a queue"), std::string::npos) << r.err;
  r = lanes("topics -d " + d() + " create bad --mode queue --max-deliveries 3");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("go together"), std::string::npos) << r.err;
}

TEST_F(ToolsCli, PerfOnADataDirectory) {
  for (const char* dur : {"async", "sync"}) {
    const result r = lanes("perf --data-dir " + d() + " --durability " + dur +
                           " --count 2000 --warmup 100 --json --progress");
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find(std::string("\"durability\": \"") + dur + "\""), std::string::npos);
    EXPECT_NE(r.out.find("\"status\": \"ok\""), std::string::npos) << r.out;
  }
  // The run's topic is deleted afterwards; a kept one blocks the next run with a clear error.
  ASSERT_EQ(lanes("perf --data-dir " + d() + " --durability async --count 100 --keep-topic").rc, 0);
  const result r = lanes("perf --data-dir " + d() + " --durability async --count 100");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("topic 'perf' exists"), std::string::npos) << r.err;
}

// `lanes consume --json` is JSON a strict parser accepts whatever the bytes: text stays a
// string, anything that is not UTF-8 comes as base64 with an encoding field, and decodes back
// to the exact bytes.
TEST_F(ToolsCli, ConsumeJsonIsValidJsonWhateverTheBytes) {
  using namespace std::string_literals;
  const std::vector<std::string> values = {
      "plain text",
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",  // valid multi-byte UTF-8 stays text
      "\xff\xfe\x00\x01"s,                          // binary with a NUL
      "\xc0\x80",                                   // overlong NUL
      "\xed\xa0\x80",                               // a UTF-16 surrogate
      "\xf4\x90\x80\x80",                           // above U+10FFFF
      "trunc\xe2\x82",                              // a cut multi-byte character
      "ab",
      "abc",
      "\"quoted\"\n\t\x01"};
  {
    lanes::bus_config bc;
    bc.data_dir = data_.string();
    lanes::bus b(bc);
    lanes::topic_config tc;
    tc.durable = lanes::durability::sync;
    ASSERT_EQ(b.create_topic("bin", tc), lanes::errc::ok);
    lanes::producer p = b.make_producer("bin");
    for (const std::string& v : values) {
      const lanes::header h[] = {{"h\xff", v}};
      lanes::publish_options o;
      o.headers = h;
      ASSERT_TRUE(p.publish(lanes::message_key(v), v, o));
    }
  }
  const result r = lanes("consume -d " + d() + " -t bin -e --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::vector<std::string> lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), values.size());
  auto decode = [](const nlohmann::json& obj, const std::string& field) -> std::string {
    const std::string text = obj.at(field).get<std::string>();
    if (!obj.contains(field + "_encoding")) return text;
    EXPECT_EQ(obj.at(field + "_encoding"), "base64");
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : text) {
      if (c == '=') break;
      const std::string alphabet =
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      const auto v = alphabet.find(c);
      EXPECT_NE(v, std::string::npos) << text;
      acc = (acc << 6) | static_cast<std::uint32_t>(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out += static_cast<char>((acc >> bits) & 0xff);
      }
    }
    return out;
  };
  for (std::size_t i = 0; i < lines.size(); ++i) {
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(lines[i])) << lines[i];  // strict: UTF-8 only
    EXPECT_EQ(j.at("offset"), i);
    EXPECT_EQ(decode(j, "key"), values[i]) << lines[i];
    EXPECT_EQ(decode(j, "value"), values[i]) << lines[i];
    ASSERT_EQ(j.at("headers").size(), 1u);
    EXPECT_EQ(decode(j.at("headers")[0], "name"), "h\xff");
    EXPECT_EQ(decode(j.at("headers")[0], "value"), values[i]);
    // Text stays readable: no encoding field for valid UTF-8.
    EXPECT_EQ(j.contains("value_encoding"), i != 0 && i != 1 && i != 7 && i != 8 && i != 9)
        << lines[i];
  }
}

}  // namespace
