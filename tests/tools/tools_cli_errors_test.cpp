// tests/tools/tools_cli_errors_test.cpp: the errors of the command line tools end to end
// (tools_cli.hpp): one stderr line and the documented exit code for each, and the numeric
// flags of every subcommand and of lanes-stress (LANES_STRESS_BIN) kept to their ranges.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <future>
#include <string>
#include <utility>
#include <vector>

#include "lanes/lanes.hpp"
#include "tools_cli.hpp"

namespace {

using namespace lanes_test;

TEST_F(ToolsCli, ErrorsAreOneLineWithExitCodes) {
  ASSERT_EQ(lanes("topics -d " + d() + " create t --durability sync").rc, 0);
  ASSERT_EQ(lanes("produce -d " + d() + " -t t", "x\n").rc, 0);
  auto one_line = [](const result& r) {
    return r.err.rfind("lanes: error: ", 0) == 0 &&
           std::count(r.err.begin(), r.err.end(), '\n') <= 2;
  };
  // Unknown topic: 1, and the message names what there is.
  result r = lanes("consume -d " + d() + " -t nope -e");
  EXPECT_EQ(r.rc, 1);
  EXPECT_TRUE(one_line(r)) << r.err;
  EXPECT_NE(r.err.find("unknown topic 'nope'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("topics: t"), std::string::npos) << r.err;
  r = lanes("produce -d " + d() + " -t nope", "x\n");
  EXPECT_EQ(r.rc, 1);
  // Bad flags and values: 2.
  r = lanes("consume -d " + d() + " -t t --no-such-flag");
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(one_line(r)) << r.err;
  EXPECT_EQ(lanes("consume -d " + d() + " -t t --from yesterday").rc, 2);
  EXPECT_EQ(lanes("consume -d " + d() + " -t t --group g --from 5").rc, 2);
  EXPECT_EQ(lanes("produce -d " + d() + " -t t -H novalue", "x\n").rc, 2);
  EXPECT_EQ(lanes("produce -d " + d() + " -t 'bad/name'", "x\n").rc, 2);
  EXPECT_EQ(lanes("topics -d " + d() + " create u --durability maybe").rc, 2);
  EXPECT_EQ(lanes("no-such-command").rc, 2);
  EXPECT_EQ(lanes("").rc, 2);
  // A missing data directory: 1, and nothing is created.
  r = lanes("consume -d " + quote((dir_ / "missing").string()) + " -t t -e");
  EXPECT_EQ(r.rc, 1);
  EXPECT_TRUE(one_line(r)) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "missing"));
  // A memory-only topic cannot take lanes produce (its messages would vanish).
  ASSERT_EQ(lanes("topics -d " + d() + " create mem --durability none").rc, 0);
  r = lanes("produce -d " + d() + " -t mem", "x\n");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("memory-only"), std::string::npos) << r.err;
  // Partition out of range: 1.
  EXPECT_EQ(lanes("consume -d " + d() + " -t t -e --partition 7").rc, 1);
  // --help: 0 with the exit codes documented.
  r = lanes("--help");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("Exit codes: 0 ok; 1"), std::string::npos) << r.out;

  // Locked: this process holds the bus; every command that opens one says so, and the
  // offline readers still work.
  {
    lanes::bus_config bc;
    bc.data_dir = data_.string();
    lanes::bus held(bc);
    r = lanes("consume -d " + d() + " -t t -e");
    EXPECT_EQ(r.rc, 1);
    EXPECT_TRUE(one_line(r)) << r.err;
    EXPECT_NE(r.err.find("in use by another process"), std::string::npos) << r.err;
    EXPECT_EQ(lanes("produce -d " + d() + " -t t", "y\n").rc, 1);
    EXPECT_EQ(lanes("topics -d " + d() + " list").rc, 1);
    r = lanes("verify " + d());
    EXPECT_EQ(r.rc, 0) << r.err;
    r = lanes("dump " + quote((data_ / "t" / "0" / "00000000000000000000.log").string()));
    EXPECT_EQ(r.rc, 0) << r.err;
  }
  // Unreadable data directory (skipped as root, who reads everything).
  if (::geteuid() != 0) {
    const fs::path locked = dir_ / "noperm";
    fs::create_directory(locked);
    fs::permissions(locked, fs::perms::none);
    r = lanes("topics -d " + quote(locked.string()) + " list");
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.err.find("permissions"), std::string::npos) << r.err;
    fs::permissions(locked, fs::perms::owner_all);
  }
}

// Every numeric option of every subcommand (and of lanes-stress) takes only values in its
// documented range: NaN, infinities, a negative number and a value too large for the option
// (or its type) are usage errors, exit 2, with one stderr line naming the flag.
TEST_F(ToolsCli, NumericFlagsRejectNanInfinityNegativeAndTooLarge) {
  // Each program (with the subcommand and the arguments it requires) and its numeric flags,
  // each with a value just above its range (or its type's).
  struct command {
    std::string bin;
    std::string prefix;
    std::vector<std::pair<std::string, std::string>> flags;  // name, a value too large
  };
  const std::string file = quote((dir_ / "some.log").string());
  const std::string u64_over = "18446744073709551616";
  std::vector<command> commands = {
      {LANES_BIN,
       "perf",
       {{"--partitions", "65537"},
        {"--producers", "1025"},
        {"--consumers", "1025"},
        {"--groups", "4096"},
        {"--message-size", "4294967296"},
        {"--count", u64_over},
        {"--duration", "1e300"},
        {"--key-space", "100000001"},
        {"--rate", "1e300"},
        {"--ring-capacity", "2TiB"},
        {"--max-poll-records", "1048577"},
        {"--warmup", u64_over},
        {"--timeout", "1e300"},
        {"--report-interval", "1e300"}}},
      {LANES_BIN,
       "produce -d " + d() + " -t t",
       {{"--partition", "65536"}, {"--partitions", "65537"}}},
      {LANES_BIN, "consume -d " + d() + " -t t", {{"--partition", "65536"}, {"--count", u64_over}}},
      {LANES_BIN,
       "topics -d " + d() + " create x",
       {{"--partitions", "65537"},
        {"--ring-capacity", "2TiB"},
        {"--segment-bytes", "2TiB"},
        {"--visibility-timeout", "43201"},
        {"--max-deliveries", "1048577"}}},
      {LANES_BIN,
       "tail " + file + " -d " + d() + " -t t",
       {{"--partition", "65536"}, {"--poll-interval", "61"}, {"--idle-exit", "1e300"}}},
      {LANES_BIN, "dump " + file, {{"--max-batch-bytes", "4GiB"}}}};
#ifdef LANES_STRESS_BIN
  commands.push_back({LANES_STRESS_BIN,
                      "",
                      {{"--cycles", "1000001"},
                       {"--duration", "3601"},
                       {"--message-size", "262145"},
                       {"--partitions", "257"},
                       {"--producers", "65"},
                       {"--seed", u64_over}}});
#endif
  for (const command& c : commands) {
    const std::string program = fs::path(c.bin).filename() == "lanes" ? "lanes" : "lanes-stress";
    for (const auto& [name, too_large] : c.flags) {
      const std::vector<std::string> values = {"nan", "inf", "-inf", "-1", too_large};
      std::vector<std::string> args;
      std::vector<std::future<result>> runs;  // one flag's values at once: sanitizers start slowly
      for (std::size_t i = 0; i < values.size(); ++i) {
        // --flag=value, so that CLI11 never takes "-inf" for a short option.
        args.push_back(c.prefix + " " + name + "=" + quote(values[i]));
        runs.push_back(std::async(std::launch::async, [this, &c, a = args.back(), i] {
          return run(c.bin, a, "", "." + std::to_string(i));
        }));
      }
      for (std::size_t i = 0; i < values.size(); ++i) {
        const result r = runs[i].get();
        const std::string want = program + ": error: " + name + ": expected ";
        EXPECT_EQ(r.rc, 2) << program << " " << args[i] << ": " << r.err;
        EXPECT_EQ(r.err.rfind(want, 0), 0u) << program << " " << args[i] << ": " << r.err;
        EXPECT_NE(r.err.find("got '" + values[i] + "'"), std::string::npos)
            << args[i] << ": " << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args[i] << ": " << r.err;
      }
    }
  }
  // The cases of the report: each used to hang, run forever or pass with nothing done.
  result r = lanes("perf --timeout nan");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err,
            "lanes: error: --timeout: expected a finite number of seconds > 0 and <= 1000000, "
            "got 'nan'\n");
  r = lanes("consume -d " + d() + " -t t -c -1");
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("--count: expected a whole number from 1 to"), std::string::npos) << r.err;
  r = lanes("tail " + file + " -d " + d() + " -t t --idle-exit nan");
  EXPECT_EQ(r.rc, 2) << r.err;
#ifdef LANES_STRESS_BIN
  r = run(LANES_STRESS_BIN, "--duration nan");
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_EQ(r.err,
            "lanes-stress: error: --duration: expected a finite number of seconds >= 0.01 and "
            "<= 3600, got 'nan'\n");
#endif
  // Values in range still pass, with units where sizes take them.
  ASSERT_EQ(lanes("topics -d " + d() +
                  " create ok --partitions 2 --ring-capacity 64KiB "
                  "--segment-bytes 1MiB --visibility-timeout 0.5")
                .rc,
            0);
}

}  // namespace
