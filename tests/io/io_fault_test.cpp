// tests/io/io_fault_test.cpp: failures of writes and syncs (the fault seam in
// lanes/fault_injection.hpp, and a real ENOSPC on a small tmpfs).
//
// What must hold (DESIGN.md, Durability): durable_offset() never passes what a successful
// fdatasync covered; after an error the log is failed, appenders and waiters get the error,
// nothing is retried and then acknowledged, and what was durable stays readable.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include "support/io.hpp"

namespace {

using namespace lanes_test;
using lanes::errc;
using lanes::io::fault_op;
using lanes::io::log_options;
using lanes::io::partition_log;

// Each fault test runs in both write paths: a sync log writes and syncs on the owner thread
// (pwritev, fdatasync), an async one through io_uring.
class IoFault : public lanes_test::log_test,
                public ::testing::WithParamInterface<lanes::io::durability> {
 protected:
  log_options opts() const {
    log_options o;
    o.segment_bytes = 64 * 1024;
    o.max_batch_bytes = 8192;
    o.queue_depth = 16;
    o.mode = GetParam();
    return o;
  }
};

std::string write_path_name(const ::testing::TestParamInfo<lanes::io::durability>& info) {
  return info.param == lanes::io::durability::sync ? "SyncOnTheOwnerThread" : "AsyncThroughIoUring";
}

const auto write_paths =
    ::testing::Values(lanes::io::durability::sync, lanes::io::durability::async);

INSTANTIATE_TEST_SUITE_P(WritePaths, IoFault, write_paths, write_path_name);

// A roll does not fsync the directory on the appending thread (a flush behind the group's
// took 13-31 ms there under load); the next group does, beside the fdatasyncs of the old
// and the new segment, and a failure of any of them keeps the new segment's records from
// becoming durable.
TEST_P(IoFault, ARollsDirectoryFsyncJoinsTheNextGroup) {
  log_options o = opts();
  o.sync_interval = std::chrono::hours(1);  // async: groups only when flushed
  o.sync_bytes = std::uint64_t{1} << 40;
  auto r = open(o);
  ASSERT_TRUE(r) << r.detail;
  partition_log& log = *r.log;
  log_writer w(log);
  // Appends up to the next roll and waits for their writes, so that one group covers them.
  const auto append_through_a_roll = [&] {
    const std::uint64_t rolls = log.stats().segments_rolled;
    while (log.stats().segments_rolled == rolls) ASSERT_EQ(w.append_next().status, errc::ok);
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (log.written_offset() < log.appended_offset() &&
           std::chrono::steady_clock::now() < deadline) {
      ASSERT_EQ(log.poll_completions(1ms), errc::ok);
    }
    ASSERT_EQ(log.written_offset(), log.appended_offset());
  };
  ASSERT_EQ(w.append_and_flush(1), errc::ok);
  auto before = log.stats();
  append_through_a_roll();
  EXPECT_EQ(log.stats().syncs, before.syncs) << "nothing synced before the group";
  ASSERT_EQ(log.flush(10s), errc::ok);
  auto after = log.stats();
  EXPECT_EQ(after.sync_groups - before.sync_groups, 1u);
  EXPECT_EQ(after.syncs - before.syncs, 3u) << "two segments and their directory";
  // Without a roll, a group is the active segment's fdatasync alone.
  before = after;
  ASSERT_EQ(w.append_and_flush(1), errc::ok);
  after = log.stats();
  EXPECT_EQ(after.syncs - before.syncs, 1u);
  // The group after the next roll fails in one of its three syncs (on the owner thread the
  // directory's, which runs first; through io_uring whichever completes last): the new
  // segment's records never become durable.
  const std::uint64_t good = log.durable_offset();
  append_through_a_roll();
  log.faults().fail_nth(fault_op::sync, GetParam() == lanes::io::durability::sync ? 1 : 3, EIO);
  EXPECT_EQ(log.flush(10s), errc::sync_failed);
  EXPECT_EQ(log.faults().fired(), 1u);
  EXPECT_EQ(log.durable_offset(), good);
  EXPECT_EQ(log.close(), errc::sync_failed);
}

TEST_P(IoFault, FailedSyncStopsDurabilityAndFailsTheLog) {
  const log_options o = opts();
  std::uint64_t good = 0;
  std::uint64_t appended = 0;
  {
    auto r = open(o);
    ASSERT_TRUE(r) << r.detail;
    partition_log& log = *r.log;
    log_writer w(log);
    // Two good group commits.
    for (int g = 0; g < 2; ++g) {
      ASSERT_EQ(w.append_and_flush(5), errc::ok);
    }
    good = log.durable_offset();
    ASSERT_EQ(good, log.appended_offset());
    // The next fdatasync fails: nothing it would have covered becomes durable.
    log.faults().fail_nth(fault_op::sync, 1, EIO);
    for (int i = 0; i < 5; ++i) ASSERT_EQ(w.append_next().status, errc::ok);
    appended = log.appended_offset();
    std::atomic<errc> waited{errc::ok};
    std::thread waiter([&] { waited = log.wait_durable(appended - 1, 30s); });
    EXPECT_EQ(log.flush(10s), errc::sync_failed);
    waiter.join();
    EXPECT_EQ(log.faults().fired(), 1u);
    EXPECT_EQ(waited.load(), errc::sync_failed);
    EXPECT_EQ(log.status(), errc::sync_failed);
    EXPECT_EQ(log.durable_offset(), good) << "never past the last good fdatasync";
    // flush() returns at the failure, possibly before the later writes' completions are
    // reaped. Reap them: the writes themselves complete, and still nothing past the failed
    // fdatasync becomes durable. Nothing is retried and then acknowledged.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (log.written_offset() < appended && std::chrono::steady_clock::now() < deadline) {
      EXPECT_EQ(log.poll_completions(1ms), errc::sync_failed);
    }
    EXPECT_EQ(log.written_offset(), appended) << "the writes themselves completed";
    for (int i = 0; i < 5; ++i) EXPECT_EQ(log.poll_completions(1ms), errc::sync_failed);
    EXPECT_EQ(log.durable_offset(), good);
    EXPECT_EQ(w.append_next().status, errc::sync_failed);
    EXPECT_EQ(log.wait_durable(good - 1, 1s), errc::ok) << "durable before the failure";
    EXPECT_EQ(log.wait_durable(good, 1s), errc::sync_failed);
    // Durable data stays readable; nothing past it is served.
    const auto all = read_all(log, o.max_batch_bytes);
    expect_sequence(all, 0, good);
    EXPECT_EQ(log.close(), errc::sync_failed);
  }
  // Reopening recovers: at least everything that was acknowledged, intact.
  auto r = open(o);
  ASSERT_TRUE(r) << r.detail;
  EXPECT_FALSE(r.log->recovery().clean_shutdown);
  EXPECT_GE(r.log->durable_offset(), good);
  const auto all = read_all(*r.log, o.max_batch_bytes);
  expect_sequence(all, 0, r.log->appended_offset());
}

TEST_P(IoFault, ShortWritesAreResubmittedUntilComplete) {
  const log_options o = opts();
  std::uint64_t end = 0;
  {
    auto r = open(o);
    ASSERT_TRUE(r) << r.detail;
    partition_log& log = *r.log;
    log_writer w(log);
    // The first write comes back half done, then its remainder half done again, and a
    // later one (two iovecs, a "ring wrap") too.
    log.faults().short_nth_write(1);
    log.faults().short_nth_write(2);
    log.faults().short_nth_write(4);
    ASSERT_EQ(w.append(5000, 3).status, errc::ok);
    ASSERT_EQ(log.flush(10s), errc::ok);
    ASSERT_EQ(w.append(3001, 1, /*split=*/true).status, errc::ok);
    ASSERT_EQ(log.flush(10s), errc::ok);
    EXPECT_EQ(log.faults().fired(), 3u);
    EXPECT_EQ(log.stats().short_writes, 3u);
    EXPECT_EQ(log.status(), errc::ok);
    end = log.appended_offset();
    EXPECT_EQ(log.durable_offset(), end);
    expect_sequence(read_all(log, o.max_batch_bytes), 0, end);
  }
  auto r = open(o);
  ASSERT_TRUE(r) << r.detail;
  EXPECT_EQ(r.log->recovery().bytes_truncated, 0u);
  expect_sequence(read_all(*r.log, o.max_batch_bytes), 0, end);
}

TEST_P(IoFault, WriteErrorFailsTheLogAndKeepsDurableData) {
  const log_options o = opts();
  auto r = open(o);
  ASSERT_TRUE(r) << r.detail;
  partition_log& log = *r.log;
  log_writer w(log);
  ASSERT_EQ(w.append_and_flush(4), errc::ok);
  const std::uint64_t good = log.durable_offset();
  log.faults().fail_nth(fault_op::write, 2, EIO);
  // Through io_uring the failure shows at a completion, after these appends; a sync log
  // writes on the owner thread, so the append after the failed write is refused at once.
  int accepted = 0;
  for (int i = 0; i < 4; ++i) {
    const errc e = w.append_next().status;
    if (e != errc::ok) {
      EXPECT_EQ(e, errc::io_error) << lanes::to_string(e);
      break;
    }
    ++accepted;
  }
  EXPECT_GE(accepted, 2) << "the batch whose write failed was accepted";
  EXPECT_EQ(log.flush(10s), errc::io_error);
  EXPECT_EQ(log.status(), errc::io_error);
  EXPECT_LE(log.durable_offset(), log.written_offset());
  EXPECT_LT(log.written_offset(), log.appended_offset()) << "the failed batch is not written";
  EXPECT_GE(log.durable_offset(), good);
  EXPECT_EQ(w.append_next().status, errc::io_error);
  EXPECT_EQ(log.wait_durable(log.appended_offset() - 1, 1s), errc::io_error);
  expect_sequence(read_all(log, o.max_batch_bytes), 0, log.durable_offset());
  EXPECT_EQ(log.close(), errc::io_error);
  EXPECT_EQ(log.in_flight(), 0u);
}

TEST_P(IoFault, EagainIsResubmittedNotAnError) {
  const log_options o = opts();
  auto r = open(o);
  ASSERT_TRUE(r) << r.detail;
  partition_log& log = *r.log;
  log_writer w(log);
  log.faults().fail_nth(fault_op::write, 1, EAGAIN);
  ASSERT_EQ(w.append_next().status, errc::ok);
  ASSERT_EQ(log.flush(10s), errc::ok);
  EXPECT_EQ(log.stats().again, 1u);
  expect_sequence(read_all(log, o.max_batch_bytes), 0, log.appended_offset());
}

// A real ENOSPC: a 256 KiB tmpfs that the test mounts (root only; skipped otherwise).
class IoNoSpace : public IoFault {
 protected:
  void SetUp() override {
    IoFault::SetUp();
    if (IsSkipped()) return;
    if (::mount("lanes-test", dir_.path().c_str(), "tmpfs", 0, "size=256k,mode=0700") != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs for the ENOSPC test (" << std::strerror(errno)
                   << "); needs root or CAP_SYS_ADMIN";
    }
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  bool mounted_ = false;
};

TEST_P(IoNoSpace, DiskFullFailsTheLogAndKeepsDurableData) {
  log_options o = opts();
  o.segment_bytes = 1 << 20;  // one segment, bigger than the disk
  auto r = open(o);
  ASSERT_TRUE(r) << r.detail;
  partition_log& log = *r.log;
  log_writer w(log);
  errc st = errc::ok;
  std::uint64_t acked = 0;
  for (int i = 0; i < 200 && st == errc::ok; ++i) {
    const auto a = w.append(4000, 1);
    st = a.status;
    if (st != errc::ok) break;
    st = log.flush(10s);
    if (st == errc::ok) acked = a.end_offset;
  }
  EXPECT_EQ(st, errc::no_space) << lanes::to_string(st);
  EXPECT_EQ(log.status(), errc::no_space);
  EXPECT_GT(acked, 10u) << "some batches fit before the disk filled";
  EXPECT_EQ(log.durable_offset(), acked) << "each flush acknowledged exactly what was synced";
  EXPECT_EQ(log.wait_durable(acked, 1s), errc::no_space);
  EXPECT_EQ(w.append(10, 1).status, errc::no_space);
  expect_sequence(read_all(log, o.max_batch_bytes), 0, acked);
  std::printf("ENOSPC after %llu batches; %llu short writes\n",
              static_cast<unsigned long long>(acked),
              static_cast<unsigned long long>(log.stats().short_writes));
  EXPECT_EQ(log.close(), errc::no_space);
}

INSTANTIATE_TEST_SUITE_P(WritePaths, IoNoSpace, write_paths, write_path_name);

}  // namespace
