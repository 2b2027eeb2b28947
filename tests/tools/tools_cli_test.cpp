// tests/tools/tools_cli_test.cpp: the `lanes` command line tool end to end. Every test runs the
// built binary (LANES_BIN) in a scratch directory, through the shell for one-shot commands
// and fork/exec for the ones that run in the background (tail), and checks exit codes, what
// is printed and what is in the data directory afterwards.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lanes/lanes.hpp"

namespace {
namespace fs = std::filesystem;

struct result {
  int rc = -1;
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const fs::path& p, const std::string& text, bool append = false) {
  std::ofstream f(p, append ? std::ios::app | std::ios::binary : std::ios::binary);
  f << text;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l)) v.push_back(l);
  return v;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

class ToolsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lanes-cli-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    data_ = dir_ / "data";
  }
  void TearDown() override {
    std::error_code ec;
    if (!HasFailure()) fs::remove_all(dir_, ec);
  }

  // Runs `lanes ARGS` (a shell command line after the binary) with `input` on stdin.
  result lanes(const std::string& args, const std::string& input = "") {
    return run(LANES_BIN, args, input);
  }
  // Runs `bin ARGS` the same way; calls with different `tag`s may run at once.
  result run(const std::string& bin, const std::string& args, const std::string& input = "",
             const std::string& tag = "") {
    const fs::path in = dir_ / ("stdin" + tag), out = dir_ / ("stdout" + tag),
                   err = dir_ / ("stderr" + tag);
    spit(in, input);
    const std::string cmd =
        bin + " " + args + " < " + quote(in) + " > " + quote(out) + " 2> " + quote(err);
    const int st = std::system(cmd.c_str());
    result r;
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  std::string d() const { return quote(data_.string()); }

  fs::path dir_;
  fs::path data_;
};

// A `lanes` process in the background, stdout and stderr to files.
class background {
 public:
  background(std::vector<std::string> args, const fs::path& out, const fs::path& err) {
    pid_ = ::fork();
    if (pid_ == 0) {
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(o, 1);
      ::dup2(e, 2);
      std::vector<char*> argv;
      std::string bin = LANES_BIN;
      argv.push_back(bin.data());
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(LANES_BIN, argv.data());
      ::_exit(127);
    }
  }
  ~background() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const noexcept { return pid_; }
  // Sends sig and waits; returns the exit code (-1 when killed by a signal).
  int stop(int sig, std::chrono::seconds limit = std::chrono::seconds(30)) {
    if (sig != 0) ::kill(pid_, sig);
    const auto until = std::chrono::steady_clock::now() + limit;
    int st = 0;
    while (::waitpid(pid_, &st, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > until) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
        pid_ = -1;
        return -2;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

 private:
  pid_t pid_ = -1;
};

// Waits until `file` has at least n lines (tail -v prints one per published line).
bool wait_lines(const fs::path& file, std::size_t n,
                std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (lines_of(slurp(file)).size() >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::string numbered(int from, int to) {
  std::string s;
  for (int i = from; i <= to; ++i) s += "line-" + std::to_string(i) + "\n";
  return s;
}

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

  // -c, --partition, --from OFFSET and @TIMESTAMP_MS.
  r = lanes("consume -d " + d() + " -t orders -c 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(lines_of(r.out).size(), 2u);
  std::size_t per_partition = 0;
  for (int p = 0; p < 3; ++p) {
    r = lanes("consume -d " + d() + " -t orders -e --partition " + std::to_string(p));
    ASSERT_EQ(r.rc, 0) << r.err;
    per_partition += lines_of(r.out).size();
  }
  EXPECT_EQ(per_partition, 5u);
  r = lanes("consume -d " + d() + " -t orders -e --json --from @9000000000000");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "");  // every record is older than the year 2255
  r = lanes("consume -d " + d() + " -t orders -e --from @0");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(lines_of(r.out).size(), 5u);
  r = lanes("consume -d " + d() + " -t orders -e --from latest");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "");

  // A group commits what it printed: the second run has nothing new, then the new one.
  r = lanes("consume -d " + d() + " -t orders -e --group g1 -c 3");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(lines_of(r.out).size(), 3u);
  r = lanes("consume -d " + d() + " -t orders -e --group g1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(lines_of(r.out).size(), 2u);
  r = lanes("consume -d " + d() + " -t orders -e --group g1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "");
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

// tail -F behaviour: rotation (the path names a new file) and truncation while running, a
// stop, more lines and a rotation while stopped, a restart: every line once, in order.
TEST_F(ToolsCli, TailRotationTruncationRestart) {
  const fs::path log = dir_ / "access.log";
  spit(log, numbered(1, 50));
  const fs::path out = dir_ / "tail.out", err = dir_ / "tail.err";
  {
    background tail({"tail", log.string(), "-d", data_.string(), "-t", "access", "--create",
                     "--poll-interval", "0.02", "-v"},
                    out, err);
    ASSERT_TRUE(wait_lines(out, 50)) << slurp(err);
    spit(log, numbered(51, 60), true);
    ASSERT_TRUE(wait_lines(out, 60)) << slurp(err);
    spit(log, "line-61-part", true);  // no newline yet: not published
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(lines_of(slurp(out)).size(), 60u);
    spit(log, "ial\n", true);
    ASSERT_TRUE(wait_lines(out, 61)) << slurp(err);
    // Rotation: the writer still finishes lines in the old file before the new one appears.
    fs::rename(log, dir_ / "access.log.1");
    spit(dir_ / "access.log.1", numbered(62, 65), true);
    spit(log, numbered(66, 70));
    ASSERT_TRUE(wait_lines(out, 70)) << slurp(err);
    // Truncation (copytruncate): the file gets shorter, then grows again.
    fs::resize_file(log, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    spit(log, numbered(71, 73), true);
    ASSERT_TRUE(wait_lines(out, 73)) << slurp(err);
    EXPECT_EQ(tail.stop(SIGTERM), 0) << slurp(err);
  }
  // While stopped: more lines, then a rotation with lines finished in the old file.
  spit(log, numbered(74, 80), true);
  fs::rename(log, dir_ / "access.log.2");
  spit(dir_ / "access.log.2", numbered(81, 81), true);
  spit(log, numbered(82, 85));
  {
    background tail({"tail", log.string(), "-d", data_.string(), "-t", "access", "--poll-interval",
                     "0.02", "--idle-exit", "1", "-v"},
                    dir_ / "tail2.out", dir_ / "tail2.err");
    EXPECT_EQ(tail.stop(0), 0) << slurp(dir_ / "tail2.err");
  }
  EXPECT_EQ(lines_of(slurp(dir_ / "tail2.out")).size(), 12u) << slurp(dir_ / "tail2.err");
  // A restart with nothing new publishes nothing.
  {
    background tail({"tail", log.string(), "-d", data_.string(), "-t", "access", "--poll-interval",
                     "0.02", "--idle-exit", "0.5", "-v"},
                    dir_ / "tail3.out", dir_ / "tail3.err");
    EXPECT_EQ(tail.stop(0), 0) << slurp(dir_ / "tail3.err");
  }
  EXPECT_EQ(slurp(dir_ / "tail3.out"), "");
  const result r = lanes("consume -d " + d() + " -t access -e");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::string want = numbered(1, 60) + "line-61-partial\n" + numbered(62, 85);
  EXPECT_EQ(r.out, want);
  // Each record carries its position.
  const result j = lanes("consume -d " + d() + " -t access -e --json -c 1");
  EXPECT_NE(j.out.find("\"name\": \"tail.pos\""), std::string::npos) << j.out;
}

// A crash (SIGKILL) in the middle of a burst: the restart goes on from the last record
// that reached the log, so every line is there exactly once.
TEST_F(ToolsCli, TailSurvivesSigkill) {
  const fs::path log = dir_ / "app.log";
  spit(log, numbered(1, 30));
  {
    background tail({"tail", log.string(), "-d", data_.string(), "-t", "app", "--create",
                     "--durability", "sync", "--poll-interval", "0.01", "-v"},
                    dir_ / "t1.out", dir_ / "t1.err");
    ASSERT_TRUE(wait_lines(dir_ / "t1.out", 30)) << slurp(dir_ / "t1.err");
    spit(log, numbered(31, 400), true);
    ASSERT_TRUE(wait_lines(dir_ / "t1.out", 40)) << slurp(dir_ / "t1.err");
    EXPECT_EQ(tail.stop(SIGKILL), -1);
  }
  {
    background tail({"tail", log.string(), "-d", data_.string(), "-t", "app", "--poll-interval",
                     "0.01", "--idle-exit", "1"},
                    dir_ / "t2.out", dir_ / "t2.err");
    EXPECT_EQ(tail.stop(0), 0) << slurp(dir_ / "t2.err");
  }
  const result r = lanes("consume -d " + d() + " -t app -e");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, numbered(1, 400));
}

TEST_F(ToolsCli, DumpAndVerifyFindDamage) {
  std::string input;
  for (int i = 0; i < 200; ++i)
    input += "key" + std::to_string(i % 7) + ":value-" + std::to_string(i) + "\n";
  ASSERT_EQ(lanes("produce -d " + d() + " -t t --create --partitions 2 -K :", input).rc, 0);
  result r = lanes("verify " + d());
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("200 records"), std::string::npos) << r.out;
  const fs::path seg = data_ / "t" / "0" / "00000000000000000000.log";
  r = lanes("dump " + quote(seg.string()) + " --values");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("batch at 32: offsets 0.."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("offset 0: timestamp"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("value-"), std::string::npos);

  // A copy with one flipped byte in the first batch's payload.
  const fs::path copy = dir_ / "copy";
  fs::copy(data_, copy, fs::copy_options::recursive);
  const fs::path bad = copy / "t" / "0" / "00000000000000000000.log";
  {
    std::fstream f(bad, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(32 + 48 + 40);
    char c = 0;
    f.get(c);
    f.seekp(32 + 48 + 40);
    f.put(static_cast<char>(c ^ 0x10));
  }
  r = lanes("verify " + quote(copy.string()));
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  EXPECT_NE(r.err.find(bad.string() + ": byte 32: bad_crc"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("lanes: error:"), std::string::npos);
  r = lanes("dump " + quote(bad.string()));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find(bad.string() + ": damage at byte 32: bad_crc"), std::string::npos) << r.err;
  // The original is untouched and still fine; a bus refuses the damaged copy.
  EXPECT_EQ(lanes("verify " + d()).rc, 0);
  r = lanes("consume -d " + quote(copy.string()) + " -t t -e");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("lanes verify"), std::string::npos) << r.err;

  // A second copy cut short by a few bytes: the data lay below the durable point.
  const fs::path copy2 = dir_ / "copy2";
  fs::copy(data_, copy2, fs::copy_options::recursive);
  const fs::path cut = copy2 / "t" / "1" / "00000000000000000000.log";
  fs::resize_file(cut, fs::file_size(cut) - 5);
  r = lanes("verify " + quote(copy2.string()) + " --json");
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("\"kind\": \"truncated\""), std::string::npos) << r.out;
  EXPECT_NE(r.err.find(cut.string()), std::string::npos) << r.err;
}

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

// Every numeric option of every subcommand (and of lanes-stress) takes only values in its
// documented range: NaN, infinities, a negative number and a value too large for the option
// (or its type) are usage errors, exit 2, with one stderr line naming the flag.
TEST_F(ToolsCli, NumericFlagsRejectNanInfinityNegativeAndTooLarge) {
  struct flag {
    std::string bin;     // binary
    std::string prefix;  // subcommand and the arguments it requires
    std::string name;    // the flag
    std::string too_large;
  };
  const std::string file = quote((dir_ / "some.log").string());
  const std::string perf = "perf";
  const std::string produce = "produce -d " + d() + " -t t";
  const std::string consume = "consume -d " + d() + " -t t";
  const std::string create = "topics -d " + d() + " create x";
  const std::string tail = "tail " + file + " -d " + d() + " -t t";
  const std::string dump = "dump " + file;
  const std::string u64_over = "18446744073709551616";
  std::vector<flag> flags = {
      {LANES_BIN, perf, "--partitions", "65537"},
      {LANES_BIN, perf, "--producers", "1025"},
      {LANES_BIN, perf, "--consumers", "1025"},
      {LANES_BIN, perf, "--groups", "4096"},
      {LANES_BIN, perf, "--message-size", "4294967296"},
      {LANES_BIN, perf, "--count", u64_over},
      {LANES_BIN, perf, "--duration", "1e300"},
      {LANES_BIN, perf, "--key-space", "100000001"},
      {LANES_BIN, perf, "--rate", "1e300"},
      {LANES_BIN, perf, "--ring-capacity", "2TiB"},
      {LANES_BIN, perf, "--max-poll-records", "1048577"},
      {LANES_BIN, perf, "--warmup", u64_over},
      {LANES_BIN, perf, "--timeout", "1e300"},
      {LANES_BIN, perf, "--report-interval", "1e300"},
      {LANES_BIN, produce, "--partition", "65536"},
      {LANES_BIN, produce, "--partitions", "65537"},
      {LANES_BIN, consume, "--partition", "65536"},
      {LANES_BIN, consume, "--count", u64_over},
      {LANES_BIN, create, "--partitions", "65537"},
      {LANES_BIN, create, "--ring-capacity", "2TiB"},
      {LANES_BIN, create, "--segment-bytes", "2TiB"},
      {LANES_BIN, create, "--visibility-timeout", "43201"},
      {LANES_BIN, create, "--max-deliveries", "1048577"},
      {LANES_BIN, tail, "--partition", "65536"},
      {LANES_BIN, tail, "--poll-interval", "61"},
      {LANES_BIN, tail, "--idle-exit", "1e300"},
      {LANES_BIN, dump, "--max-batch-bytes", "4GiB"},
  };
#ifdef LANES_STRESS_BIN
  for (const auto& [name, too_large] :
       std::vector<std::pair<std::string, std::string>>{{"--cycles", "1000001"},
                                                        {"--duration", "3601"},
                                                        {"--message-size", "262145"},
                                                        {"--partitions", "257"},
                                                        {"--producers", "65"},
                                                        {"--seed", u64_over}}) {
    flags.push_back({LANES_STRESS_BIN, "", name, too_large});
  }
#endif
  for (const flag& f : flags) {
    const std::string program = fs::path(f.bin).filename() == "lanes" ? "lanes" : "lanes-stress";
    const std::vector<std::string> values = {"nan", "inf", "-inf", "-1", f.too_large};
    std::vector<std::future<result>> runs;  // one flag's values at once: sanitizers start slowly
    for (std::size_t i = 0; i < values.size(); ++i) {
      // --flag=value, so that CLI11 never takes "-inf" for a short option.
      const std::string args = f.prefix + " " + f.name + "=" + quote(values[i]);
      runs.push_back(std::async(std::launch::async, [this, &f, args, i] {
        return run(f.bin, args, "", "." + std::to_string(i));
      }));
    }
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::string& value = values[i];
      const std::string args = f.prefix + " " + f.name + "=" + quote(value);
      const result r = runs[i].get();
      const std::string want = program + ": error: " + f.name + ": expected ";
      EXPECT_EQ(r.rc, 2) << program << " " << args << ": " << r.err;
      EXPECT_EQ(r.err.rfind(want, 0), 0u) << program << " " << args << ": " << r.err;
      EXPECT_NE(r.err.find("got '" + value + "'"), std::string::npos) << args << ": " << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
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

// copytruncate, then the file grows past the old position before tail reads it again: the
// first bytes are not the ones read before, so tail starts again at 0 and says so. Both
// while tail is stopped (restart: the fingerprint in tail.pos) and while it runs (frozen
// with SIGSTOP at whatever point it was, so the rewrite lands between two of its reads).
TEST_F(ToolsCli, TailDetectsCopytruncateAfterTheFileGrewPastTheOldPosition) {
  const fs::path log = dir_ / "app.log";
  auto words = [](const std::string& w, int from, int to) {
    std::string s;
    for (int i = from; i <= to; ++i) s += w + "-" + std::to_string(i) + "\n";
    return s;
  };
  spit(log, words("first", 1, 10));
  auto tail_once = [&](const std::string& name) {
    background t({"tail", log.string(), "-d", data_.string(), "-t", "app", "--create",
                  "--poll-interval", "0.01", "--idle-exit", "0.3"},
                 dir_ / (name + ".out"), dir_ / (name + ".err"));
    EXPECT_EQ(t.stop(0), 0) << slurp(dir_ / (name + ".err"));
    return slurp(dir_ / (name + ".err"));
  };
  EXPECT_EQ(tail_once("t1"), "");
  // While stopped: truncated, then written longer than before (same inode).
  struct stat before {
  }, after{};
  ASSERT_EQ(::stat(log.c_str(), &before), 0);
  fs::resize_file(log, 0);
  spit(log, words("second", 1, 30), true);
  ASSERT_EQ(::stat(log.c_str(), &after), 0);
  ASSERT_EQ(after.st_ino, before.st_ino);  // the same file: only its bytes changed
  std::string err = tail_once("t2");
  EXPECT_NE(err.find("truncated and rewritten"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  // Nothing changed: the fingerprint still matches, nothing is read again.
  EXPECT_EQ(tail_once("t3"), "");

  // While running: frozen, truncated, rewritten longer, thawed.
  {
    const fs::path out = dir_ / "t4.out", err4 = dir_ / "t4.err";
    background t(
        {"tail", log.string(), "-d", data_.string(), "-t", "app", "--poll-interval", "0.01", "-v"},
        out, err4);
    spit(log, words("third", 1, 5), true);
    ASSERT_TRUE(wait_lines(out, 5)) << slurp(err4);
    ASSERT_EQ(::kill(t.pid(), SIGSTOP), 0);
    fs::resize_file(log, 0);
    spit(log, words("fourth", 1, 60), true);
    ASSERT_EQ(::kill(t.pid(), SIGCONT), 0);
    ASSERT_TRUE(wait_lines(out, 65)) << slurp(err4);
    EXPECT_EQ(t.stop(SIGTERM), 0) << slurp(err4);
    const std::string e = slurp(err4);
    EXPECT_NE(e.find("truncated and rewritten"), std::string::npos) << e;
    EXPECT_EQ(lines_of(slurp(out)).size(), 65u) << e;
  }
  const result r = lanes("consume -d " + d() + " -t app -e");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, words("first", 1, 10) + words("second", 1, 30) + words("third", 1, 5) +
                       words("fourth", 1, 60));
}

// Positions written before the fingerprint ("<inode>:<offset>") are still followed.
TEST_F(ToolsCli, TailResumesFromAPositionOfTheOldFormat) {
  const fs::path log = dir_ / "old.log";
  spit(log, numbered(1, 10));
  ASSERT_EQ(lanes("topics -d " + d() + " create old --durability sync").rc, 0);
  struct stat st {};
  ASSERT_EQ(::stat(log.c_str(), &st), 0);
  const std::string pos = std::to_string(st.st_ino) + ":" + std::to_string(numbered(1, 4).size());
  ASSERT_EQ(lanes("produce -d " + d() + " -t old -H tail.pos=" + pos, "line-4\n").rc, 0);
  background t({"tail", log.string(), "-d", data_.string(), "-t", "old", "--poll-interval", "0.01",
                "--idle-exit", "0.3"},
               dir_ / "t.out", dir_ / "t.err");
  EXPECT_EQ(t.stop(0), 0) << slurp(dir_ / "t.err");
  EXPECT_EQ(slurp(dir_ / "t.err"), "");
  const result r = lanes("consume -d " + d() + " -t old -e");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, numbered(4, 10));
}

}  // namespace

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
