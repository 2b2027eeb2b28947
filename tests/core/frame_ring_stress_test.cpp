// tests/core/frame_ring_stress_test.cpp: lanes::frame_ring single and multi producer stress
// runs with two readers (one polling, one peeking and releasing in batches) checking every
// frame.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "frame_ring_frames.hpp"
#include "lanes/frame_ring.hpp"
#include "stress_loop.hpp"
#include "support/concurrency.hpp"

namespace {

using namespace lanes_test;

// Frame payload: producer id, length, sequence, then bytes derived from all three.
constexpr std::size_t frame_head = 16;

std::size_t frame_len(std::uint32_t pid, std::uint64_t seq) {
  return frame_head + static_cast<std::size_t>((seq * 13 + pid * 7) % 57);
}
std::byte fill_byte(std::uint32_t pid, std::uint64_t seq, std::size_t i) {
  return static_cast<std::byte>((seq * 31 + pid + i) & 0xff);
}
void encode(std::byte* p, std::uint32_t pid, std::uint64_t seq, std::size_t len) {
  const auto len32 = static_cast<std::uint32_t>(len);
  std::memcpy(p, &pid, 4);
  std::memcpy(p + 4, &len32, 4);
  std::memcpy(p + 8, &seq, 8);
  for (std::size_t i = frame_head; i < len; ++i) p[i] = fill_byte(pid, seq, i);
}

struct reader_result {
  std::uint64_t frames = 0;
  std::uint64_t errors = 0;
  std::uint64_t first_error_frame = UINT64_MAX;
  std::string first_error;
};

// Checks one frame: well formed, user == producer + 1, next sequence of its producer.
void check_frame(const frame_view& f, std::vector<std::uint64_t>& next, reader_result& res) {
  auto fail = [&](const char* what) {
    if (res.errors++ == 0) {
      res.first_error_frame = res.frames;
      res.first_error = what;
    }
  };
  ++res.frames;
  if (f.size < frame_head) return fail("short frame");
  std::uint32_t pid = 0;
  std::uint32_t len = 0;
  std::uint64_t seq = 0;
  std::memcpy(&pid, f.data, 4);
  std::memcpy(&len, f.data + 4, 4);
  std::memcpy(&seq, f.data + 8, 8);
  if (pid >= next.size()) return fail("bad producer id");
  if (len != f.size) return fail("length mismatch");
  if (f.user != pid + 1) return fail("user field mismatch");
  if (seq != next[pid]) return fail("out of order for its producer");
  next[pid] = seq + 1;
  for (std::size_t i = frame_head; i < len; ++i) {
    if (f.data[i] != fill_byte(pid, seq, i)) return fail("payload bytes corrupted");
  }
}

// `producers` threads each commit n frames (some via try_write, some shrunk, some preceded
// by an aborted claim); two readers (one polling, one peeking and releasing in batches)
// check every frame.
void run_frame_ring(producer_mode mode, std::uint32_t producers, std::uint64_t n,
                    std::size_t capacity) {
  frame_ring r(capacity, mode, 4);
  const std::uint64_t total = n * producers;
  lanes_test::start_line start(static_cast<std::ptrdiff_t>(producers) + 2);
  frame_ring::reader polling = r.add_reader();
  frame_ring::reader peeking = r.add_reader();
  ASSERT_TRUE(polling && peeking);
  reader_result res_poll;
  reader_result res_peek;
  std::atomic<bool> gave_up{false};

  std::vector<std::thread> threads;
  for (std::uint32_t pid = 0; pid < producers; ++pid) {
    threads.emplace_back([&, pid] {
      std::vector<std::byte> buf(frame_head + 64);
      lanes_test::stall_guard guard(gave_up);
      auto claim = [&](std::size_t bytes, frame_claim& c) {
        return retry(guard, [&] { return static_cast<bool>(c = r.try_claim(bytes)); });
      };
      start.wait();
      for (std::uint64_t seq = 0; seq < n; ++seq) {
        const std::size_t len = frame_len(pid, seq);
        if (seq % 17 == 5) {  // a claim given up
          frame_claim c;
          if (!claim(len, c)) return;
          encode(c.data, pid, UINT64_MAX, len);
          r.abort(c);
        }
        if (seq % 5 == 0) {
          encode(buf.data(), pid, seq, len);
          const std::span<const std::byte> frame(buf.data(), len);
          if (!retry(guard, [&] {
                return r.try_write(frame, static_cast<std::uint16_t>(pid + 1)) == errc::ok;
              })) {
            return;
          }
          continue;
        }
        const bool shrink = seq % 11 == 3;
        frame_claim c;
        if (!claim(shrink ? len + 24 : len, c)) return;
        encode(c.data, pid, seq, len);
        if (shrink) r.shrink(c, static_cast<std::uint32_t>(len));
        r.set_user(c, static_cast<std::uint16_t>(pid + 1));
        r.commit(c);
      }
    });
  }
  threads.emplace_back([&] {
    std::vector<std::uint64_t> next(producers, 0);
    lanes_test::stall_guard guard(gave_up);
    start.wait();
    while (res_poll.frames < total) {
      const std::size_t got =
          polling.poll([&](const frame_view& f) { check_frame(f, next, res_poll); }, 7);
      if (!keep_going(guard, got != 0)) return;
    }
  });
  threads.emplace_back([&] {
    std::vector<std::uint64_t> next(producers, 0);
    lanes_test::stall_guard guard(gave_up);
    start.wait();
    std::uint64_t unreleased = 0;
    while (res_peek.frames < total) {
      frame_view f;
      if (peeking.try_peek(f)) {
        check_frame(f, next, res_peek);
        peeking.advance(f);
        guard.progress();
        if (++unreleased == 3) {
          peeking.release();
          unreleased = 0;
        }
      } else {
        peeking.release();  // never sit on unreleased frames while waiting
        unreleased = 0;
        if (guard.give_up()) return;
        lanes_test::backoff();
      }
    }
    peeking.release();
  });
  for (std::thread& t : threads) t.join();

  EXPECT_FALSE(gave_up.load()) << "no progress for 60 s: frames lost or a side stuck";
  for (const reader_result* res : {&res_poll, &res_peek}) {
    EXPECT_EQ(res->frames, total);
    EXPECT_EQ(res->errors, 0u) << "first error at frame " << res->first_error_frame << ": "
                               << res->first_error;
  }
  // Nothing is left, and stepping over any trailing padding (shrink slack, an aborted claim)
  // brings both readers to the end.
  frame_view f;
  EXPECT_FALSE(polling.try_peek(f)) << "frames left over after every producer's last frame";
  EXPECT_FALSE(peeking.try_peek(f)) << "frames left over after every producer's last frame";
  EXPECT_EQ(r.published_position(), r.claimed_position());
  EXPECT_EQ(polling.position(), r.published_position());
  EXPECT_EQ(peeking.position(), r.published_position());
}

TEST(FrameRing, SingleProducerTwoReaders) {
  run_frame_ring(producer_mode::single, 1, lanes_test::stress_iters(60'000), 1024);
}

TEST(FrameRing, SingleProducerTwoReadersSmallestUsefulRing) {
  // Claims of up to 104 bytes in 256: a wrap or back-pressure on almost every frame.
  run_frame_ring(producer_mode::single, 1, lanes_test::stress_iters(30'000), 256);
}

TEST(FrameRing, TwoProducersTwoReaders) {
  run_frame_ring(producer_mode::multi, 2, lanes_test::stress_iters(30'000), 1024);
}

TEST(FrameRing, FourProducersTwoReaders) {
  run_frame_ring(producer_mode::multi, 4, lanes_test::stress_iters(15'000), 2048);
}

TEST(FrameRing, ThreeProducersTwoReadersSmallRing) {
  run_frame_ring(producer_mode::multi, 3, lanes_test::stress_iters(10'000), 256);
}

}  // namespace
