// tests/io/io_kill_test.cpp: SIGKILL in the middle of durable appends.
//
// A forked child opens the log, appends deterministic batches in sync mode and, after each
// flush() says a batch is durable, writes its end offset to a pipe (outside the data
// directory). The parent kills it with SIGKILL at a random moment, reads every
// acknowledgement that reached the pipe, and reopens the log: every acknowledged offset
// must be there, intact, in order, with no duplicates (offsets dense from 0). Several
// rounds on the same directory, each child continuing where recovery left the log.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "support/io.hpp"

namespace {

using namespace lanes_test;
using lanes::errc;
using lanes::io::log_options;
using lanes::io::partition_log;

log_options opts() {
  log_options o;
  o.segment_bytes = 32 * 1024;  // rolls happen during the run too
  o.max_batch_bytes = 4096;
  o.queue_depth = 8;
  o.mode = lanes::io::durability::sync;
  return o;
}

[[noreturn]] void child(const fs::path& root, int ack_fd) {
  auto r = partition_log::open(root, "k", 0, opts());
  if (!r) _exit(10);
  partition_log& log = *r.log;
  log_writer w(log);
  for (;;) {
    // A few batches per group commit, then the acknowledgement.
    std::uint64_t end = 0;
    for (int i = 0; i < 3; ++i) {
      const auto a = w.append_next(i == 1, 3000);
      if (!a) _exit(11);
      end = a.end_offset;
    }
    if (log.flush(std::chrono::seconds(30)) != errc::ok) _exit(12);
    if (::write(ack_fd, &end, sizeof end) != sizeof end) _exit(13);
  }
}

TEST(IoKill, AcknowledgedOffsetsSurviveSigkill) {
  LANES_REQUIRE_URING();
  scratch_dir d;
  std::mt19937_64 rng(std::random_device{}());
  std::uint64_t max_acked = 0;
  const int rounds = 6;
  for (int round = 0; round < rounds; ++round) {
    const auto [pid, read_fd] =
        fork_reporting_child([&](int report_fd) { child(d.path(), report_fd); });
    ASSERT_GE(pid, 0);
    // Let it run a random while: 5..60 ms.
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + rng() % 56));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exited early with " << WEXITSTATUS(wstatus);
    std::uint64_t ack = 0;
    std::uint64_t acks = 0;
    std::uint64_t prev = max_acked;
    while (::read(read_fd, &ack, sizeof ack) == sizeof ack) {
      EXPECT_GT(ack, prev) << "acknowledgements grow";
      prev = ack;
      max_acked = ack;
      ++acks;
    }
    ::close(read_fd);

    auto r = partition_log::open(d.path(), "k", 0, opts());
    ASSERT_TRUE(r) << "round " << round << ": " << r.detail;
    const std::uint64_t end = r.log->appended_offset();
    EXPECT_GE(end, max_acked) << "round " << round << ": acknowledged offsets lost";
    const auto all = read_all(*r.log, opts().max_batch_bytes);
    expect_sequence(all, 0, end);
    std::printf(
        "round %d: %llu acks this round, acked up to %llu, recovered %llu, truncated %llu\n", round,
        static_cast<unsigned long long>(acks), static_cast<unsigned long long>(max_acked),
        static_cast<unsigned long long>(end),
        static_cast<unsigned long long>(r.log->recovery().bytes_truncated));
    // Close without a clean checkpoint: the next child starts from recovery as well.
    r.log.reset();
  }
  EXPECT_GT(max_acked, 0u) << "no child got a single acknowledgement out";
}

}  // namespace
