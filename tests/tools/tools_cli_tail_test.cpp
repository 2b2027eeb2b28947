// tests/tools/tools_cli_tail_test.cpp: `lanes tail` end to end, run in the background with
// fork/exec (tools_cli.hpp): rotation, truncation (copytruncate, also after the file grew past
// the old position), stops, restarts, SIGKILL, and positions of the old format.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "tools_cli.hpp"

namespace {

using namespace lanes_test;

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
