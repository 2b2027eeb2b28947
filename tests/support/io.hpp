// tests/support/io.hpp: data directories, segment batches and killed children in tests (io/,
// bus/, queue/, connect/).
//
//   scratch_dir          a fresh directory under /tmp (support/scratch_dir.hpp)
//   LANES_REQUIRE_URING  skips the test (with the reason) where io_uring cannot be set up
//   log_test             fixture: io_uring or a skip, a scratch directory, open(options)
//   data_dir_test        fixture: io_uring or a skip, and a scratch directory `dir` for a bus's
//                        data directory (the durable bus and queue tests)
//   batch_bytes(o, n, s) the deterministic payload of the batch starting at offset o
//   log_writer           appends deterministic batches, keeping their bytes alive
//   read_all(log)        every batch from the log start, through read()
//   fork_reporting_child(body), kill_and_drain  a child process reporting through a pipe,
//                        killed with SIGKILL
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "lanes/partition_log.hpp"
#include "lanes/uring.hpp"
#include "support/scratch_dir.hpp"

namespace lanes_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline std::string uring_unavailable_reason() {
  int err = 0;
  if (lanes::io::probe_io_uring(&err) == lanes::errc::ok) return {};
  return std::string("io_uring is not available here: ") + std::strerror(err);
}

#define LANES_REQUIRE_URING()                                          \
  do {                                                                 \
    const std::string why_ = ::lanes_test::uring_unavailable_reason(); \
    if (!why_.empty()) GTEST_SKIP() << why_;                           \
  } while (0)

// The fixture of the io tests that write one log: skips the test where io_uring cannot be set
// up, and opens partition 0 of topic "t" in a scratch directory (dir_) with open(options).
class log_test : public ::testing::Test {
 protected:
  void SetUp() override { LANES_REQUIRE_URING(); }
  // Opens the log (again, after the last one closed); check with ASSERT_TRUE(r) << r.detail.
  lanes::io::open_result open(const lanes::io::log_options& o) const {
    return lanes::io::partition_log::open(dir_.path(), "t", 0, o);
  }

  scratch_dir dir_;
};

// The fixture of the bus and queue tests that keep a data directory: skips the test where
// io_uring cannot be set up; `dir` is the test's data directory (quiet_bus(dir.path())).
// Suites name it: using BusDurable = lanes_test::data_dir_test;
class data_dir_test : public ::testing::Test {
 protected:
  void SetUp() override { LANES_REQUIRE_URING(); }

  scratch_dir dir;
};

// Payload of `size` bytes for the batch whose first offset is `first`: a function of both,
// so a batch read back at the wrong offset or with the wrong length does not match.
inline std::vector<std::byte> batch_bytes(std::uint64_t first, std::size_t size) {
  std::vector<std::byte> v(size);
  std::uint64_t x = first * 0x9E3779B97F4A7C15ull + size;
  for (std::size_t i = 0; i < size; ++i) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    v[i] = static_cast<std::byte>((x * 0x2545F4914F6CDD1Dull) >> 56);
  }
  return v;
}

// Size of the batch starting at `first` in the tests' usual sequence.
inline std::size_t batch_size_for(std::uint64_t first, std::size_t max = 2000) {
  return 1 + (first * 7919) % max;
}
inline std::uint32_t batch_count_for(std::uint64_t first) {
  return 1 + static_cast<std::uint32_t>(first % 5);
}
inline std::int64_t ts_for(std::uint64_t offset) {
  return 1'700'000'000'000'000'000 + static_cast<std::int64_t>(offset) * 1000;
}

// Appends the deterministic batch at the log's next offset (split into two iovecs, as a
// ring wrap gives, when `split`), polling while the log says full.
class log_writer {
 public:
  explicit log_writer(lanes::io::partition_log& log) : log_(log) {}

  lanes::io::append_result append(std::size_t size, std::uint32_t count, bool split = false) {
    const std::uint64_t first = log_.appended_offset();
    keep_.push_back(batch_bytes(first, size));
    if (keep_.size() > 4096) keep_.pop_front();  // written long ago (queue_depth is smaller)
    std::vector<std::byte>& b = keep_.back();
    iovec iov[2];
    std::size_t n = 1;
    if (split && size >= 2) {
      iov[0] = {b.data(), size / 3};
      iov[1] = {b.data() + size / 3, size - size / 3};
      n = 2;
    } else {
      iov[0] = {b.data(), size};
    }
    for (;;) {
      const auto r = log_.append({iov, n}, first, count, ts_for(first), ts_for(first + count - 1));
      if (r.status != lanes::errc::full) return r;
      (void)log_.poll_completions(10ms);
    }
  }
  // The usual sequence: sizes and counts from batch_size_for/batch_count_for.
  lanes::io::append_result append_next(bool split = false, std::size_t max = 2000) {
    const std::uint64_t first = log_.appended_offset();
    return append(batch_size_for(first, max), batch_count_for(first), split);
  }
  // `n` batches of the usual sequence, then a flush (10 s at most): the first status that is
  // not ok, or ok.
  lanes::errc append_and_flush(int n) {
    for (int i = 0; i < n; ++i) {
      const lanes::errc st = append_next().status;
      if (st != lanes::errc::ok) return st;
    }
    return log_.flush(10s);
  }

 private:
  lanes::io::partition_log& log_;
  std::deque<std::vector<std::byte>> keep_;
};

struct read_batch {
  lanes::io::batch_header header;
  std::vector<std::byte> payload;
};

// Every batch from `from` on, through read(); stops at the end, asserts on errors.
inline std::vector<read_batch> read_all(const lanes::io::partition_log& log,
                                        std::uint32_t max_batch, std::uint64_t from = UINT64_MAX,
                                        lanes::errc* error = nullptr) {
  std::vector<read_batch> out;
  std::vector<std::byte> buf(64 * 1024);
  std::uint64_t offset = from == UINT64_MAX ? log.log_start_offset() : from;
  if (error != nullptr) *error = lanes::errc::ok;
  for (;;) {
    const auto r = log.read(offset, buf);
    if (r.status == lanes::errc::empty) break;
    if (r.status == lanes::errc::invalid_argument && r.needed > buf.size()) {
      buf.resize(r.needed);
      continue;
    }
    if (r.status != lanes::errc::ok) {
      if (error != nullptr) *error = r.status;
      break;
    }
    const std::size_t n = lanes::io::for_each_batch(
        std::span<const std::byte>(buf.data(), r.bytes), max_batch,
        [&](const lanes::io::batch_header& h, std::span<const std::byte> p) {
          out.push_back({h, std::vector<std::byte>(p.begin(), p.end())});
        });
    EXPECT_EQ(n, r.batches);
    offset = r.next_offset;
  }
  return out;
}

// Checks that batches are dense from `start` and each holds its deterministic bytes.
inline void expect_sequence(const std::vector<read_batch>& batches, std::uint64_t start,
                            std::uint64_t end) {
  std::uint64_t next = start;
  for (const read_batch& b : batches) {
    ASSERT_EQ(b.header.base_offset, next);
    ASSERT_EQ(b.payload, batch_bytes(next, b.payload.size())) << "batch at " << next;
    ASSERT_EQ(b.header.first_timestamp_ns, ts_for(next));
    next = b.header.next_offset();
  }
  EXPECT_EQ(next, end);
}

inline std::vector<std::byte> read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::byte> v(c.size());
  if (!c.empty()) std::memcpy(v.data(), c.data(), c.size());
  return v;
}

inline void write_file(const fs::path& p, const std::vector<std::byte>& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A forked child that reports to its parent through a pipe. fork_reporting_child(body) runs
// body(write_fd) in the child, which ends there (_exit(0) if body returns; a body usually
// loops until killed), and gives the parent the child's pid and the pipe's read end. A pid
// below 0, with a test failure, when the pipe or the fork could not be made.
struct reporting_child {
  pid_t pid = -1;
  int read_fd = -1;
};

template <class Body>
reporting_child fork_reporting_child(Body&& body) {
  int fds[2];
  if (::pipe(fds) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return {};
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    ::close(fds[0]);
    ::close(fds[1]);
    return {};
  }
  if (pid == 0) {
    ::close(fds[0]);
    body(fds[1]);
    ::_exit(0);
  }
  ::close(fds[1]);
  return {pid, fds[0]};
}

// Reads the child's reports into `out` until a whole line came (its first acknowledgement),
// the child closed the pipe, or `limit` passed. False unless a line came.
inline bool wait_first_line(int read_fd, std::string& out, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  while (out.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{read_fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;  // EINTR, or time is up
    const ssize_t n = ::read(read_fd, buf, sizeof buf);
    if (n <= 0) return false;  // the child ended (or the pipe broke) before reporting
    out.append(buf, buf + n);
  }
  return true;
}

// A forked child that reports what it got acknowledged through a pipe: lets it run for
// `after` from its first report, kills it with SIGKILL, and reads everything it wrote into
// `out`. False (with a test failure) when the child had stopped by itself before the kill.
inline bool kill_and_drain(pid_t child, int read_fd, std::chrono::milliseconds after,
                           std::string& out) {
  // The kill lands `after` the child's first report, not after its start: however slow the
  // machine is to open the bus, every round kills a child that was acknowledging.
  EXPECT_TRUE(wait_first_line(read_fd, out, std::chrono::seconds(60)))
      << "the child reported nothing within 60 s";
  std::this_thread::sleep_for(after);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  char buf[4096];
  for (ssize_t n; (n = ::read(read_fd, buf, sizeof buf)) > 0;) out.append(buf, buf + n);
  ::close(read_fd);
  EXPECT_TRUE(WIFSIGNALED(status)) << "the child stopped by itself: " << status;
  return WIFSIGNALED(status);
}

}  // namespace lanes_test
