// tests/core/frame_ring_claim_test.cpp: lanes::frame_ring claims: abort, shrink, the user field,
// zero-length payloads, batch commit, the commit hook, poll limits, and claims in multi-producer
// mode on one thread and on two.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "frame_ring_frames.hpp"
#include "lanes/frame_ring.hpp"

namespace {

using namespace lanes_test;

TEST(FrameRing, AbortedFrameIsSkipped) {
  frame_ring r(256);
  auto rd = r.add_reader();
  frame_claim c = r.try_claim(30);
  ASSERT_TRUE(c);
  std::memset(c.data, 0x5a, 30);
  r.abort(c);
  EXPECT_EQ(r.published_position(), c.end) << "abort must publish the space as padding";
  frame_view f;
  EXPECT_FALSE(rd.try_peek(f)) << "an aborted frame was delivered";
  EXPECT_EQ(rd.position(), c.end);
  put(r, "kept");
  expect_one_frame(rd, "kept", c.end);
}

TEST(FrameRing, AbortRightBeforeTheWrap) {
  frame_ring r(256);
  r.reset_position_for_test(lap_end - 16);
  auto rd = r.add_reader();
  frame_claim c = r.try_claim(50);  // padding 16, then the frame at the start
  ASSERT_TRUE(c);
  EXPECT_EQ(c.position, lap_end);
  r.abort(c);
  put(r, "next");
  expect_one_frame(rd, "next", c.end);
}

TEST(FrameRing, PollHandsBackPaddingItSteppedOver) {
  // A ring whose newest frames are all padding (aborted claims): poll() delivers nothing,
  // but it must still give the space back, or the producer stays full for good.
  frame_ring r(256);
  auto rd = r.add_reader();
  for (int i = 0; i < 2; ++i) {
    frame_claim c = r.try_claim(r.max_payload());
    ASSERT_TRUE(c);
    r.abort(c);
  }
  EXPECT_EQ(r.try_claim(0).status, errc::full);
  EXPECT_EQ(rd.poll([](const frame_view&) {}), 0u);
  EXPECT_EQ(rd.position(), 256u);
  EXPECT_EQ(r.min_reader_position(), 256u) << "skipped padding was not released";
  EXPECT_EQ(write(r, "unblocked"), errc::ok) << "producer stays blocked by padding";

  // The same through try_peek: stepping over padding moves the cursor, release() hands it
  // back even though no frame was returned.
  frame_claim c = r.try_claim(r.max_payload());
  ASSERT_TRUE(c);
  r.abort(c);
  frame_view f;
  ASSERT_TRUE(rd.try_peek(f));
  EXPECT_EQ(text_of(f), "unblocked");
  rd.advance(f);
  EXPECT_FALSE(rd.try_peek(f));
  EXPECT_EQ(rd.position(), r.published_position());
  rd.release();
  EXPECT_EQ(r.min_reader_position(), r.published_position());
}

TEST(FrameRing, ShrunkFrameKeepsLaterFramesReadable) {
  frame_ring r(512);
  auto rd = r.add_reader();
  for (std::uint32_t shrunk : {10u, 0u, 99u, 100u}) {
    frame_claim c = r.try_claim(100);
    ASSERT_TRUE(c);
    const std::string full = filler(100, 's');
    std::memcpy(c.data, full.data(), full.size());
    r.shrink(c, shrunk);
    EXPECT_EQ(c.size, shrunk);
    EXPECT_EQ(c.bytes().size(), shrunk);
    r.commit(c);
    frame_claim d = put(r, "after shrink");
    EXPECT_EQ(d.position, c.end);

    const auto got = drain(rd);
    ASSERT_EQ(got.size(), 2u) << "shrunk to " << shrunk;
    EXPECT_EQ(got[0].position, c.position);
    EXPECT_EQ(got[0].text, full.substr(0, shrunk));
    EXPECT_EQ(got[1].position, d.position) << "shrunk to " << shrunk;
    EXPECT_EQ(got[1].text, "after shrink") << "shrunk to " << shrunk;
    EXPECT_EQ(rd.position(), d.end);
  }
}

TEST(FrameRing, ShrinkThenAbort) {
  frame_ring r(256);
  auto rd = r.add_reader();
  frame_claim c = r.try_claim(64);
  ASSERT_TRUE(c);
  r.shrink(c, 3);
  r.abort(c);
  put(r, "z");
  const auto got = drain(rd);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].text, "z");
}

TEST(FrameRing, UserField) {
  frame_ring r(64);
  auto rd = r.add_reader();
  frame_claim c = r.try_claim(4);
  ASSERT_TRUE(c);
  std::memcpy(c.data, "abcd", 4);
  r.set_user(c, 0xBEEF);
  r.commit(c);
  ASSERT_EQ(write(r, "u7", 7), errc::ok);
  auto got = drain(rd);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].user, 0xBEEF);
  EXPECT_EQ(got[0].text, "abcd");
  EXPECT_EQ(got[1].user, 7);
  // Memory reused on later laps starts with user 0 again.
  for (int i = 0; i < 12; ++i) {
    ASSERT_EQ(write(r, "plain"), errc::ok);
    got = drain(rd);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].user, 0) << "lap " << i;
  }
}

TEST(FrameRing, ZeroLengthPayloads) {
  frame_ring r(64);
  auto rd = r.add_reader();
  for (int lap = 0; lap < 5; ++lap) {
    for (int i = 0; i < 8; ++i)
      ASSERT_EQ(write(r, "", static_cast<std::uint16_t>(i + 1)), errc::ok);
    EXPECT_EQ(write(r, ""), errc::full) << "eight 8-byte frames fill 64 bytes";
    std::vector<seen_frame> got = drain(rd);
    ASSERT_EQ(got.size(), 8u);
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].text, "");
      EXPECT_EQ(got[i].user, i + 1);
      EXPECT_EQ(got[i].position, static_cast<std::uint64_t>(lap) * 64 + i * 8);
    }
  }
}

TEST(FrameRing, ClaimedPositionsAndBatchCommit) {
  frame_ring r(256);
  auto rd = r.add_reader();
  frame_claim a = r.try_claim(5);
  frame_claim b = r.try_claim(9);
  frame_claim c = r.try_claim(0);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a.position, 0u);
  EXPECT_EQ(b.position, 16u);
  EXPECT_EQ(c.position, 40u);
  EXPECT_EQ(r.claimed_position(), 48u);
  EXPECT_EQ(r.published_position(), 0u);
  std::memcpy(a.data, "aaaaa", 5);
  std::memcpy(b.data, "bbbbbbbbb", 9);
  frame_view f;
  EXPECT_FALSE(rd.try_peek(f));
  r.commit(c);  // single producer: publishes every earlier claim too
  EXPECT_EQ(r.published_position(), 48u);
  const auto got = drain(rd);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].text, "aaaaa");
  EXPECT_EQ(got[1].text, "bbbbbbbbb");
  EXPECT_EQ(got[2].text, "");
}

TEST(FrameRing, CommitHookRunsBeforePublication) {
  frame_ring r(256, producer_mode::multi);
  auto rd = r.add_reader();
  frame_claim a = r.try_claim(8);
  frame_claim b = r.try_claim(8);
  ASSERT_TRUE(a && b);
  std::vector<std::uint64_t> order;
  r.commit(a, [&] { order.push_back(r.published_position()); });
  r.commit(b, [&] { order.push_back(r.published_position()); });
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order[0], a.begin) << "hook must run before the frame is published";
  EXPECT_EQ(order[1], b.begin);
  EXPECT_EQ(drain(rd).size(), 2u);
}

TEST(FrameRing, PollHonoursMaxAndReleases) {
  frame_ring r(128);
  auto rd = r.add_reader();
  for (int i = 0; i < 8; ++i) ASSERT_EQ(write(r, filler(8, static_cast<char>('a' + i))), errc::ok);
  EXPECT_EQ(write(r, ""), errc::full);
  std::vector<std::string> got;
  auto collect = [&](const frame_view& f) { got.push_back(text_of(f)); };
  EXPECT_EQ(rd.poll(collect, 3), 3u);
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(r.min_reader_position(), 48u) << "poll must release what it handed out";
  EXPECT_EQ(rd.poll(collect, 0), 0u);
  EXPECT_EQ(rd.poll(collect), 5u);
  EXPECT_EQ(rd.poll(collect), 0u);
  ASSERT_EQ(got.size(), 8u);
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(got[static_cast<std::size_t>(i)], filler(8, static_cast<char>('a' + i)));
}

TEST(FrameRing, MultiProducerModeSingleThread) {
  frame_ring r(256, producer_mode::multi);
  EXPECT_EQ(r.mode(), producer_mode::multi);
  r.reset_position_for_test(lap_end - 40);
  auto rd = r.add_reader();
  frame_claim a = r.try_claim(20);  // 32 bytes, fits before the end
  frame_claim b = r.try_claim(20);  // 8 bytes left: padding, then at the start
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a.position, lap_end - 40);
  EXPECT_EQ(b.begin, lap_end - 8);
  EXPECT_EQ(b.position, lap_end);
  std::memcpy(a.data, "AAAAAAAAAAAAAAAAAAAA", 20);
  std::memcpy(b.data, "BBBBBBBBBBBBBBBBBBBB", 20);
  r.commit(a);
  EXPECT_EQ(r.published_position(), a.end) << "multi: commit publishes only up to its frame";
  r.commit(b);
  ASSERT_EQ(write(r, "c"), errc::ok);
  frame_claim d = r.try_claim(4);
  ASSERT_TRUE(d);
  r.abort(d);
  const auto got = drain(rd);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].text, std::string(20, 'A'));
  EXPECT_EQ(got[1].text, std::string(20, 'B'));
  EXPECT_EQ(got[1].position, lap_end);
  EXPECT_EQ(got[2].text, "c");
  EXPECT_EQ(rd.position(), d.end);
}

// Before claiming, a multi-producer claimer backs off while another claim is open, but only
// for a bounded while: a claim held open (a zero-copy producer writing slowly, or one that
// never commits) must not stop another producer from claiming.
TEST(FrameRing, AnOpenClaimHoldsAnotherProducersClaimOnlyBoundedly) {
  frame_ring r(1024, producer_mode::multi);
  auto rd = r.add_reader();
  frame_claim a = r.try_claim(8);
  ASSERT_TRUE(a);
  std::memcpy(a.data, "AAAAAAAA", 8);
  std::atomic<bool> claimed{false};
  frame_claim b;
  std::thread other([&] {
    b = r.try_claim(8);  // a is open all along: this claims after its back-off
    claimed.store(true, std::memory_order_release);
  });
  // a stays open until the other producer has its claim (or 30 s, so a regression fails
  // instead of hanging the suite).
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!claimed.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const bool claimed_while_open = claimed.load(std::memory_order_acquire);
  r.commit(a);
  other.join();
  EXPECT_TRUE(claimed_while_open) << "a claim waited for another producer's open claim";
  ASSERT_TRUE(b);
  EXPECT_EQ(b.begin, a.end);
  std::memcpy(b.data, "BBBBBBBB", 8);
  r.commit(b);
  const auto got = drain(rd);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].text, "AAAAAAAA");
  EXPECT_EQ(got[1].text, "BBBBBBBB");
}

}  // namespace
