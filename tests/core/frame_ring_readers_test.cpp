// tests/core/frame_ring_readers_test.cpp: lanes::frame_ring with several readers: each sees
// every frame in order, the slowest one gates the producer, closed and moved readers.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "frame_ring_frames.hpp"
#include "lanes/frame_ring.hpp"

namespace {

using namespace lanes_test;

TEST(FrameRing, EveryReaderSeesEveryFrameInOrder) {
  frame_ring r(256);
  auto r1 = r.add_reader();
  auto r2 = r.add_reader();
  auto r3 = r.add_reader();
  std::vector<std::string> sent;
  std::vector<std::string> got1, got2, got3;
  for (int i = 0; i < 200; ++i) {
    const std::string s =
        filler(static_cast<std::size_t>(i * 7 % 61), static_cast<char>('a' + i % 26));
    while (write(r, s) == errc::full) {
      // Readers drain at different paces: r3 only when the ring is full.
      for (const auto& f : drain(r1)) got1.push_back(f.text);
      if (i % 2 == 0) {
        for (const auto& f : drain(r2)) got2.push_back(f.text);
      }
      for (const auto& f : drain(r3)) got3.push_back(f.text);
      if (i % 2 != 0) {
        for (const auto& f : drain(r2)) got2.push_back(f.text);
      }
    }
    sent.push_back(s);
    if (i % 3 == 0) {
      for (const auto& f : drain(r1)) got1.push_back(f.text);
    }
  }
  for (const auto& f : drain(r1)) got1.push_back(f.text);
  for (const auto& f : drain(r2)) got2.push_back(f.text);
  for (const auto& f : drain(r3)) got3.push_back(f.text);
  EXPECT_EQ(got1, sent);
  EXPECT_EQ(got2, sent);
  EXPECT_EQ(got3, sent);
}

// Fills a 256-byte ring with sixteen 16-byte frames and reads them all through `fast` only:
// the ring stays full, held back by its other reader, which has read nothing.
void fill_and_read_with_the_fast_reader(frame_ring& r, frame_ring::reader& fast) {
  ASSERT_EQ(r.capacity(), 256u);
  for (int i = 0; i < 16; ++i) ASSERT_EQ(write(r, filler(8, 'a')), errc::ok);
  EXPECT_EQ(drain(fast).size(), 16u);
  EXPECT_EQ(fast.position(), 256u);
  EXPECT_EQ(write(r, "x"), errc::full) << "the slow reader has released nothing";
}

TEST(FrameRing, ProducerIsGatedByTheSlowestReader) {
  frame_ring r(256);
  auto fast = r.add_reader();
  auto slow = r.add_reader();
  ASSERT_NO_FATAL_FAILURE(fill_and_read_with_the_fast_reader(r, fast));
  EXPECT_EQ(r.min_reader_position(), 0u);

  EXPECT_EQ(slow.poll([](const frame_view&) {}, 4), 4u);
  EXPECT_EQ(slow.position(), 64u);
  EXPECT_EQ(r.min_reader_position(), 64u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(write(r, filler(8, 'b')), errc::ok) << i;
  EXPECT_EQ(write(r, ""), errc::full) << "room for exactly what the slowest reader released";
  EXPECT_EQ(drain(fast).size(), 4u);
  EXPECT_EQ(write(r, ""), errc::full);
  EXPECT_EQ(drain(slow).size(), 16u);
  EXPECT_EQ(write(r, ""), errc::ok);
}

TEST(FrameRing, ClosedReaderStopsGating) {
  frame_ring r(256);
  auto fast = r.add_reader();
  auto slow = r.add_reader();
  ASSERT_NO_FATAL_FAILURE(fill_and_read_with_the_fast_reader(r, fast));
  slow.close();
  EXPECT_FALSE(slow);
  EXPECT_EQ(r.min_reader_position(), 256u);
  EXPECT_EQ(write(r, "x"), errc::ok) << "a closed reader still holds the producer back";

  // A reader that goes out of scope closes itself too.
  for (int i = 0; i < 15; ++i) ASSERT_EQ(write(r, filler(8, 'a')), errc::ok);
  EXPECT_EQ(drain(fast).size(), 16u);
  {
    auto scoped = r.add_reader();
    ASSERT_EQ(write(r, filler(8, 'c')), errc::ok);
    EXPECT_EQ(drain(fast).size(), 1u);
    EXPECT_EQ(r.min_reader_position(), 512u);
  }
  EXPECT_EQ(r.min_reader_position(), 528u);
  for (int i = 0; i < 16; ++i) ASSERT_EQ(write(r, filler(8, 'a')), errc::ok) << i;
}

TEST(FrameRing, ReaderStartsAtThePublishedEnd) {
  frame_ring r(256);
  ASSERT_EQ(write(r, "old1"), errc::ok);
  ASSERT_EQ(write(r, "old2"), errc::ok);
  auto rd = r.add_reader();
  EXPECT_EQ(rd.position(), r.published_position());
  frame_view f;
  EXPECT_FALSE(rd.try_peek(f)) << "a new reader saw frames committed before it joined";
  ASSERT_EQ(write(r, "new"), errc::ok);
  const auto got = drain(rd);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].text, "new");
}

TEST(FrameRing, MovedReaderKeepsItsPlace) {
  frame_ring r(128, producer_mode::single, 1);
  auto a = r.add_reader();
  ASSERT_EQ(write(r, "one"), errc::ok);
  ASSERT_EQ(write(r, "two"), errc::ok);
  frame_view f;
  ASSERT_TRUE(a.try_peek(f));
  a.advance(f);
  a.release();
  frame_ring::reader b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_TRUE(b);
  EXPECT_FALSE(r.add_reader()) << "the moved registration still takes the only slot";
  const auto got = drain(b);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].text, "two");
}

}  // namespace
