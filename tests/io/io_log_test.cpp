// tests/io/io_log_test.cpp: lanes::io::partition_log round trips, rolling, index rebuilding,
// reads, retention, waiters and the durability callback.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "support/io.hpp"

namespace {

using namespace lanes_test;
using lanes::errc;
using lanes::io::log_options;
using lanes::io::partition_log;

static_assert(noexcept(std::declval<partition_log&>().append({}, 0, 1, 0, 0)));
static_assert(noexcept(std::declval<partition_log&>().poll_completions()));

log_options small_segments() {
  log_options o;
  o.segment_bytes = 64 * 1024;
  o.max_batch_bytes = 4096;
  o.index_interval_bytes = 1024;
  o.queue_depth = 16;
  return o;
}

class IoLog : public lanes_test::log_test {};

TEST_F(IoLog, OpenValidatesNamesAndConfig) {
  EXPECT_EQ(partition_log::open(dir_.path(), "..", 0, {}).status, errc::invalid_topic_name);
  EXPECT_EQ(partition_log::open(dir_.path(), "a/b", 0, {}).status, errc::invalid_topic_name);
  log_options o;
  o.segment_bytes = 1000;  // smaller than one max batch
  EXPECT_EQ(open(o).status, errc::invalid_config);
  o = {};
  o.queue_depth = 0;
  EXPECT_EQ(open(o).status, errc::invalid_config);
}

TEST_F(IoLog, NewLogLayoutAndPermissions) {
  auto r = partition_log::open(dir_.path(), "orders", 3, {});
  ASSERT_TRUE(r) << r.detail;
  const fs::path dir = dir_.path() / "orders" / "3";
  EXPECT_EQ(r.log->directory(), dir);
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  ASSERT_EQ(::stat((dir_.path() / "orders").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  const fs::path seg = dir / "00000000000000000000.log";
  ASSERT_EQ(::stat(seg.c_str(), &st), 0) << seg;
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(r.log->durable_offset(), 0u);
  EXPECT_EQ(r.log->close(), errc::ok);
  ASSERT_EQ(::stat((dir / "checkpoint").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_TRUE(fs::exists(dir / "00000000000000000000.index"));
  EXPECT_TRUE(fs::exists(dir / "00000000000000000000.timeindex"));
}

TEST_F(IoLog, AppendRejectsMisuse) {
  auto r = open(small_segments());
  ASSERT_TRUE(r) << r.detail;
  partition_log& log = *r.log;
  std::vector<std::byte> b(100);
  iovec v{b.data(), b.size()};
  EXPECT_EQ(log.append({&v, 1}, 5, 1, 0, 0).status, errc::invalid_argument) << "not next";
  EXPECT_EQ(log.append({&v, 1}, 0, 0, 0, 0).status, errc::invalid_argument) << "count 0";
  EXPECT_EQ(log.append({&v, 1}, 0, 1, 2, 1).status, errc::invalid_argument) << "ts order";
  std::vector<std::byte> big(5000);
  iovec bv{big.data(), big.size()};
  EXPECT_EQ(log.append({&bv, 1}, 0, 1, 0, 0).status, errc::invalid_argument) << "too big";
  EXPECT_EQ(log.appended_offset(), 0u);
  EXPECT_EQ(log.close(), errc::ok);
  EXPECT_EQ(log.append({&v, 1}, 0, 1, 0, 0).status, errc::closed);
}

// Many batches, rolled by size, closed and reopened: same offsets, same bytes.
TEST_F(IoLog, RoundTripAcrossRollsAndReopen) {
  const log_options o = small_segments();
  std::uint64_t end = 0;
  {
    auto r = open(o);
    ASSERT_TRUE(r) << r.detail;
    partition_log& log = *r.log;
    log_writer w(log);
    for (int i = 0; i < 400; ++i) {
      const auto a = w.append_next(i % 3 == 0);
      ASSERT_EQ(a.status, errc::ok) << i;
      EXPECT_EQ(a.end_offset, log.appended_offset());
      ASSERT_EQ(log.poll_completions(), errc::ok);
    }
    end = log.appended_offset();
    ASSERT_EQ(log.flush(10s), errc::ok);
    EXPECT_EQ(log.written_offset(), end);
    EXPECT_EQ(log.durable_offset(), end);
    EXPECT_GT(log.stats().segments_rolled, 3u);
    EXPECT_EQ(log.segment_count(), log.stats().segments_rolled + 1);
    EXPECT_GE(log.stats().syncs, 1u);
    // Readable before close too, from any offset inside a batch.
    const auto all = read_all(log, o.max_batch_bytes);
    expect_sequence(all, 0, end);
    const auto tail = read_all(log, o.max_batch_bytes, end - 1);
    ASSERT_FALSE(tail.empty());
    EXPECT_EQ(tail.back().header.next_offset(), end);
    EXPECT_EQ(log.close(), errc::ok);
  }
  auto r = open(o);
  ASSERT_TRUE(r) << r.detail;
  partition_log& log = *r.log;
  EXPECT_TRUE(log.recovery().clean_shutdown);
  EXPECT_EQ(log.recovery().bytes_truncated, 0u);
  EXPECT_EQ(log.recovery().indexes_rebuilt, 0u);
  EXPECT_EQ(log.recovery().segments_scanned, 1u) << "sealed durable segments are trusted";
  EXPECT_EQ(log.appended_offset(), end);
  EXPECT_EQ(log.written_offset(), end);
  EXPECT_EQ(log.durable_offset(), end);
  expect_sequence(read_all(log, o.max_batch_bytes), 0, end);
  // Appending continues where it stopped.
  log_writer w(log);
  ASSERT_EQ(w.append_next().status, errc::ok);
  ASSERT_EQ(log.flush(10s), errc::ok);
  expect_sequence(read_all(log, o.max_batch_bytes), 0, log.appended_offset());
}

// Pages of file `f` in the page cache now (mincore of a read-only mapping), or -1.
long cached_pages(const fs::path& f) {
  const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  const auto size = static_cast<std::size_t>(fs::file_size(f));
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return -1;
  std::vector<unsigned char> v((size + page - 1) / page);
  const bool ok = ::mincore(m, size, v.data()) == 0;
  ::munmap(m, size);
  return ok ? static_cast<long>(
                  std::count_if(v.begin(), v.end(), [](unsigned char c) { return c & 1; }))
            : -1;
}

// Recovery trusts a sealed, durable segment after reading its file header and the batch
// headers after its last index entry, with no read-ahead (io/segment.hpp, hint_exact_reads):
// those pages are all it brings into the page cache, so a consumer's later cold read of the
// file starts a read-ahead of its own from the front.
TEST_F(IoLog, RecoveryReadsOnlyTheHeadersOfATrustedSegment) {
  log_options o;
  o.segment_bytes = 1u << 20;
  o.max_batch_bytes = 64u << 10;
  {
    auto r = open(o);
    ASSERT_TRUE(r) << r.detail;
    log_writer w(*r.log);
    while (r.log->segment_count() < 3) ASSERT_EQ(w.append(16u << 10, 16).status, errc::ok);
    ASSERT_EQ(r.log->close(), errc::ok);
  }
  const fs::path first = dir_.path() / "t" / "0" / "00000000000000000000.log";
  {
    const int fd = ::open(first.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::fdatasync(fd), 0);
    ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    ::close(fd);
  }
  const long before = cached_pages(first);
  ASSERT_GE(before, 0) << "mincore of " << first;
  if (before != 0) {
    GTEST_SKIP() << "this filesystem kept " << before << " pages of " << first
                 << " cached after POSIX_FADV_DONTNEED; nothing to measure";
  }
  auto r = open(o);
  ASSERT_TRUE(r) << r.detail;
  EXPECT_EQ(r.log->recovery().segments_scanned, 1u) << "the first two are trusted";
  const long after = cached_pages(first);
  EXPECT_GE(after, 1) << "the file header was read";
  EXPECT_LE(after, 3) << "the header page and the last batch's header, nothing read ahead; "
                      << after;
  // Readers still get every batch (and the read-ahead a sequential reader wants).
  expect_sequence(read_all(*r.log, o.max_batch_bytes), 0, r.log->appended_offset());
}

TEST_F(IoLog, MissingOrDamagedIndexIsRebuilt) {
  const log_options o = small_segments();
  std::uint64_t end = 0;
  {
    auto r = open(o);
    ASSERT_TRUE(r) << r.detail;
    log_writer w(*r.log);
    ASSERT_EQ(w.append_and_flush(200), errc::ok);
    ASSERT_GE(r.log->segment_count(), 3u);
    end = r.log->appended_offset();
  }
  const fs::path dir = dir_.path() / "t" / "0";
  const fs::path idx0 = dir / "00000000000000000000.index";
  const auto original = read_file(idx0);
  ASSERT_GT(original.size(), 40u);
  fs::remove(idx0);
  {
    auto r = open(o);
    ASSERT_TRUE(r) << r.detail;
    EXPECT_EQ(r.log->recovery().indexes_rebuilt, 1u);
    EXPECT_EQ(r.log->recovery().segments_scanned, 2u);
    expect_sequence(read_all(*r.log, o.max_batch_bytes), 0, end);
  }
  EXPECT_EQ(read_file(idx0), original) << "the rebuilt index is the one append wrote";
  // Damaged (a flipped byte) and empty indexes are rebuilt as well.
  auto bad = original;
  bad[45] ^= std::byte{0x10};
  write_file(idx0, bad);
  write_file(dir / "00000000000000000000.timeindex", {});
  {
    auto r = open(o);
    ASSERT_TRUE(r) << r.detail;
    EXPECT_EQ(r.log->recovery().indexes_rebuilt, 1u);
    expect_sequence(read_all(*r.log, o.max_batch_bytes), 0, end);
  }
  EXPECT_EQ(read_file(idx0), original);
}

TEST_F(IoLog, ReadBufferTooSmallSaysHowMuchIsNeeded) {
  auto r = open(small_segments());
  ASSERT_TRUE(r) << r.detail;
  log_writer w(*r.log);
  ASSERT_EQ(w.append(1000, 2).status, errc::ok);
  ASSERT_EQ(r.log->flush(10s), errc::ok);
  std::vector<std::byte> small(100);
  auto rr = r.log->read(0, small);
  EXPECT_EQ(rr.status, errc::invalid_argument);
  EXPECT_EQ(rr.needed, 1000 + lanes::io::batch_header_size);
  EXPECT_EQ(r.log->read(2, small).status, errc::empty);
  EXPECT_EQ(r.log->read(3, small).status, errc::offset_out_of_range);
}

TEST_F(IoLog, RetentionDeletesWholeOldSegmentsNeverTheActiveOne) {
  const log_options o = small_segments();
  auto r = open(o);
  ASSERT_TRUE(r) << r.detail;
  partition_log& log = *r.log;
  log_writer w(log);
  ASSERT_EQ(w.append_and_flush(300), errc::ok);
  const std::size_t before = log.segment_count();
  ASSERT_GE(before, 4u);
  // By bytes: keep at least 100 KiB.
  const std::size_t n = log.enforce_retention(100 * 1024, {});
  EXPECT_GT(n, 0u);
  EXPECT_EQ(log.segment_count(), before - n);
  EXPECT_GT(log.log_start_offset(), 0u);
  EXPECT_EQ(log.read(0, std::span<std::byte>()).status, errc::offset_out_of_range);
  const std::uint64_t start = log.log_start_offset();
  expect_sequence(read_all(log, o.max_batch_bytes), start, log.appended_offset());
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir_.path() / "t" / "0")) {
    files += e.path().extension() == ".log";
  }
  EXPECT_EQ(files, log.segment_count());
  // By age: everything is older than "now + 1 day", yet the active segment stays.
  const std::int64_t later = ts_for(log.appended_offset()) + 86'400'000'000'000;
  log.enforce_retention(0, std::chrono::hours(1), later);
  EXPECT_EQ(log.segment_count(), 1u);
  expect_sequence(read_all(log, o.max_batch_bytes), log.log_start_offset(), log.appended_offset());
  const std::uint64_t start2 = log.log_start_offset();
  ASSERT_EQ(log.close(), errc::ok);
  auto again = open(o);
  ASSERT_TRUE(again) << again.detail;
  EXPECT_EQ(again.log->log_start_offset(), start2);
}

struct callback_log {
  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint64_t> last{0};
};

TEST_F(IoLog, WaitDurableFromAnotherThreadAndCallback) {
  log_options o = small_segments();
  o.mode = lanes::io::durability::async;
  o.sync_bytes = UINT64_MAX;  // only a waiter's request (or the interval) syncs
  o.sync_interval = std::chrono::hours(1);
  auto r = open(o);
  ASSERT_TRUE(r) << r.detail;
  partition_log& log = *r.log;
  callback_log cb;
  log.set_durable_callback(
      [](void* ctx, std::uint64_t durable, errc st) noexcept {
        auto* c = static_cast<callback_log*>(ctx);
        EXPECT_TRUE(st == errc::ok || st == errc::closed) << lanes::to_string(st);
        EXPECT_GE(durable, c->last.load());
        c->last.store(durable);
        c->calls.fetch_add(1);
      },
      &cb);
  log_writer w(log);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(w.append_next().status, errc::ok);
  const std::uint64_t end = log.appended_offset();
  for (int i = 0; i < 100 && log.written_offset() < end; ++i) (void)log.poll_completions(10ms);
  ASSERT_EQ(log.written_offset(), end);
  EXPECT_EQ(log.durable_offset(), 0u) << "async with no trigger has not synced yet";
  EXPECT_EQ(log.wait_durable(end - 1, 1ms), errc::timeout);

  errc waited = errc::empty;
  std::thread waiter([&] { waited = log.wait_durable(end - 1, 30s); });
  // The owner keeps polling; the waiter's request makes it sync.
  while (log.durable_offset() < end) (void)log.poll_completions(1ms);
  waiter.join();
  EXPECT_EQ(waited, errc::ok);
  EXPECT_EQ(log.durable_offset(), end);
  EXPECT_GE(cb.calls.load(), 1u);
  EXPECT_EQ(cb.last.load(), end);
  EXPECT_EQ(log.wait_durable(end - 1, 0ms), errc::ok);
  EXPECT_EQ(log.close(), errc::ok);
  EXPECT_EQ(log.wait_durable(end + 5, 1s), errc::closed);
}

// Group commit: many batches in flight, fewer sync groups than batches, every ticket durable.
TEST_F(IoLog, GroupCommitCoversManyBatches) {
  log_options o = small_segments();
  o.mode = lanes::io::durability::sync;
  auto r = open(o);
  ASSERT_TRUE(r) << r.detail;
  partition_log& log = *r.log;
  log_writer w(log);
  ASSERT_EQ(w.append_and_flush(300), errc::ok);
  EXPECT_EQ(log.stats().batches_written, 300u);
  EXPECT_LE(log.stats().sync_groups, 300u);
  EXPECT_GE(log.stats().sync_groups, 1u);
  EXPECT_EQ(log.durable_offset(), log.appended_offset());
}

// A reader thread walks the log (read() from any thread) while the owner appends, rolls
// segments and deletes old ones: every batch it gets is whole and holds the right bytes.
TEST_F(IoLog, ConcurrentReaderDuringAppendsRollsAndRetention) {
  const log_options o = small_segments();
  auto r = open(o);
  ASSERT_TRUE(r) << r.detail;
  partition_log& log = *r.log;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> batches_seen{0};
  std::atomic<std::uint64_t> bad{0};
  std::atomic<std::uint64_t> reached{0};
  std::thread reader([&] {
    std::vector<std::byte> buf(64 * 1024);
    std::uint64_t offset = 0;
    while (!done.load(std::memory_order_acquire)) {
      const auto rr = log.read(offset, buf);
      if (rr.status == errc::offset_out_of_range) {  // retention passed us: skip ahead
        offset = log.log_start_offset();
        continue;
      }
      if (rr.status != errc::ok) {
        if (rr.status != errc::empty) bad.fetch_add(1);
        std::this_thread::yield();
        continue;
      }
      lanes::io::for_each_batch(std::span<const std::byte>(buf.data(), rr.bytes), o.max_batch_bytes,
                                [&](const auto& h, auto payload) {
                                  const auto want = batch_bytes(h.base_offset, payload.size());
                                  if (!std::equal(payload.begin(), payload.end(), want.begin())) {
                                    bad.fetch_add(1);
                                  }
                                  batches_seen.fetch_add(1);
                                });
      offset = rr.next_offset;
      reached.store(offset);
    }
  });
  log_writer w(log);
  for (int i = 0; i < 600; ++i) {
    ASSERT_EQ(w.append_next().status, errc::ok);
    ASSERT_EQ(log.poll_completions(), errc::ok);
    if (i % 100 == 99) log.enforce_retention(96 * 1024, {});
  }
  ASSERT_EQ(log.flush(10s), errc::ok);
  const std::uint64_t end = log.appended_offset();
  // Let the reader reach the end (bounded: a stuck reader fails the test, not hangs it).
  for (int i = 0; i < 10000 && reached.load() < end; ++i) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(reached.load(), end);
  done.store(true, std::memory_order_release);
  reader.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(batches_seen.load(), 0u);
  EXPECT_GT(log.log_start_offset(), 0u);
}

}  // namespace
