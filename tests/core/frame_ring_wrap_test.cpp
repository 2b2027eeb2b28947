// tests/core/frame_ring_wrap_test.cpp: lanes::frame_ring positions right before the wrap, set up
// on purpose with reset_position_for_test: padding frames, frames that end exactly at the end,
// padding counted against the space, many laps at every offset.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "frame_ring_frames.hpp"
#include "lanes/frame_ring.hpp"

namespace {

using namespace lanes_test;

TEST(FrameRing, FrameThatWouldStraddleTheEndGoesToTheStart) {
  frame_ring r(256);
  r.reset_position_for_test(lap_end - 24);
  auto rd = r.add_reader();
  auto rd2 = r.add_reader();
  EXPECT_EQ(rd.position(), lap_end - 24);

  const std::string payload = filler(40, 'k');  // footprint 48 > 24 bytes left
  frame_claim c = r.try_claim(payload.size());
  ASSERT_TRUE(c);
  EXPECT_EQ(c.begin, lap_end - 24) << "claim starts with the padding frame";
  EXPECT_EQ(c.position, lap_end) << "the frame must start at the beginning of the ring";
  EXPECT_EQ(c.end, lap_end + 48);
  EXPECT_EQ(r.claimed_position(), lap_end + 48);
  std::memcpy(c.data, payload.data(), payload.size());
  frame_view f;
  EXPECT_FALSE(rd.try_peek(f)) << "visible before commit";
  r.commit(c);
  EXPECT_EQ(r.published_position(), lap_end + 48);

  ASSERT_TRUE(rd.try_peek(f));
  EXPECT_EQ(f.position, lap_end);
  EXPECT_EQ(rd.position(), lap_end) << "the padding frame was not skipped";
  EXPECT_EQ(f.size, 40u);
  EXPECT_EQ(text_of(f), payload);
  EXPECT_EQ(f.data, c.data);
  rd.advance(f);
  EXPECT_EQ(rd.position(), lap_end + 48);
  EXPECT_FALSE(rd.try_peek(f));

  // The next frame follows right after it, and the second reader sees the same.
  frame_claim d = put(r, "after");
  EXPECT_EQ(d.position, lap_end + 48);
  EXPECT_EQ(d.data, c.data + 48);
  const auto got = drain(rd2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].position, lap_end);
  EXPECT_EQ(got[0].text, payload);
  EXPECT_EQ(got[1].position, lap_end + 48);
  EXPECT_EQ(got[1].text, "after");
}

TEST(FrameRing, FrameThatEndsExactlyAtTheEndNeedsNoPadding) {
  frame_ring r(256);
  r.reset_position_for_test(lap_end - 24);
  auto rd = r.add_reader();
  frame_claim c = put(r, filler(16, 'e'));  // footprint 24 == bytes left
  EXPECT_EQ(c.begin, lap_end - 24);
  EXPECT_EQ(c.position, lap_end - 24);
  EXPECT_EQ(c.end, lap_end);
  frame_claim d = put(r, "start");
  EXPECT_EQ(d.position, lap_end);
  EXPECT_EQ(d.data + 256, c.data + 24) << "the next frame must be at the start of the memory";
  const auto got = drain(rd);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].position, lap_end - 24);
  EXPECT_EQ(got[0].text, filler(16, 'e'));
  EXPECT_EQ(got[1].position, lap_end);
  EXPECT_EQ(got[1].text, "start");
}

TEST(FrameRing, EightBytesLeftMakeAnEmptyPaddingFrame) {
  frame_ring r(256);
  r.reset_position_for_test(lap_end - 8);
  auto rd = r.add_reader();
  frame_claim c = put(r, "x");  // footprint 16 > 8
  EXPECT_EQ(c.begin, lap_end - 8);
  EXPECT_EQ(c.position, lap_end);
  expect_one_frame(rd, "x", lap_end);
  EXPECT_EQ(rd.position(), lap_end + 16);
}

TEST(FrameRing, EmptyFrameFillsTheLastEightBytes) {
  frame_ring r(256);
  r.reset_position_for_test(lap_end - 8);
  auto rd = r.add_reader();
  frame_claim c = put(r, "");
  EXPECT_EQ(c.position, lap_end - 8) << "an empty frame needs only its header";
  EXPECT_EQ(c.end, lap_end);
  put(r, "y");
  const auto got = drain(rd);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].position, lap_end - 8);
  EXPECT_EQ(got[0].text, "");
  EXPECT_EQ(got[1].position, lap_end);
  EXPECT_EQ(got[1].text, "y");
}

TEST(FrameRing, LargestFrameAfterTheLargestPadding) {
  frame_ring r(256);
  const std::uint64_t start = lap_end + 136;  // 120 bytes left, largest frame needs 128
  r.reset_position_for_test(start);
  auto rd = r.add_reader();
  const std::string big = filler(r.max_payload(), 'M');
  frame_claim c = r.try_claim(big.size());
  ASSERT_TRUE(c) << "padding + largest frame must fit one capacity: " << lanes::to_string(c.status);
  EXPECT_EQ(c.position, lap_end + 256);
  EXPECT_EQ(c.end, lap_end + 256 + 128);
  std::memcpy(c.data, big.data(), big.size());
  r.commit(c);

  // The next largest frame needs bytes the reader has not released.
  EXPECT_EQ(write(r, big), errc::full);
  expect_one_frame(rd, big, lap_end + 256);
  EXPECT_EQ(write(r, big), errc::ok);
  EXPECT_EQ(write(r, big), errc::ok);
  EXPECT_EQ(write(r, ""), errc::full);
}

TEST(FrameRing, PaddingCountsAgainstTheSpace) {
  frame_ring r(256);
  const std::uint64_t start = lap_end - 24;
  r.reset_position_for_test(start);
  auto rd = r.add_reader();
  frame_claim a = put(r, filler(40, 'a'));  // 24 padding + 48
  EXPECT_EQ(a.position, lap_end);
  EXPECT_EQ(a.end, start + 72);
  frame_claim b = put(r, filler(120, 'b'));  // 128, ends at offset 176
  EXPECT_EQ(b.end, start + 200);
  frame_claim c = put(r, filler(48, 'c'));  // 56: ends exactly one capacity after start
  EXPECT_EQ(c.end, start + 256);
  EXPECT_EQ(r.try_claim(0).status, errc::full) << "the padding bytes were not counted";

  frame_view f;
  ASSERT_TRUE(rd.try_peek(f));
  EXPECT_EQ(f.position, lap_end);
  rd.advance(f);
  rd.release();
  EXPECT_EQ(r.min_reader_position(), start + 72);
  frame_claim d = put(r, "");
  EXPECT_EQ(d.position, start + 256);
  const auto got = drain(rd);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].text, filler(120, 'b'));
  EXPECT_EQ(got[1].text, filler(48, 'c'));
  EXPECT_EQ(got[2].position, start + 256);
}

TEST(FrameRing, ManyLapsAtEveryOffset) {
  // Frames of every size at every alignment, across many wraps, with one reader that
  // checks positions are contiguous apart from padding at the end of the ring.
  frame_ring r(128);
  auto rd = r.add_reader();
  std::uint64_t expect_pos = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::size_t len = static_cast<std::size_t>((i * 5) % 57);
    const std::string s = filler(len, static_cast<char>('A' + i % 20));
    ASSERT_EQ(write(r, s), errc::ok);
    const auto got = drain(rd);
    ASSERT_EQ(got.size(), 1u);
    const std::uint64_t left = 128 - (expect_pos & 127);
    if (left < lanes::frame_footprint(len)) expect_pos += left;  // padding to the end
    ASSERT_EQ(got[0].position, expect_pos) << "frame " << i;
    ASSERT_EQ(got[0].text, s) << "frame " << i;
    expect_pos += lanes::frame_footprint(len);
    ASSERT_EQ(rd.position(), expect_pos);
  }
}

}  // namespace
