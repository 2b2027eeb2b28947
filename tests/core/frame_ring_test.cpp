// tests/core/frame_ring_test.cpp: lanes::frame_ring edges, wrap states, back-pressure, misuse and
// single/multi producer stress runs with several readers.
#include "lanes/frame_ring.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "support/checks.hpp"
#include "support/concurrency.hpp"

namespace {

using lanes::errc;
using lanes::frame_claim;
using lanes::frame_ring;
using lanes::frame_view;
using lanes::producer_mode;

static_assert(lanes::frame_footprint(0) == 8);
static_assert(lanes::frame_footprint(1) == 16);
static_assert(lanes::frame_footprint(8) == 16);
static_assert(lanes::frame_footprint(9) == 24);

using lanes_test::code_thrown_by;

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s)); }

std::string text_of(const frame_view& f) {
  return std::string(reinterpret_cast<const char*>(f.data), f.size);
}

errc write(frame_ring& r, std::string_view s, std::uint16_t user = 0) {
  return r.try_write(bytes_of(s), user);
}

// Claims, fills with `s` and commits; fails the test (and returns the failed claim) if the
// claim did not succeed.
frame_claim put(frame_ring& r, std::string_view s) {
  frame_claim c = r.try_claim(s.size());
  EXPECT_TRUE(c) << "claim of " << s.size() << " bytes: " << lanes::to_string(c.status);
  if (!c) return c;
  if (!s.empty()) std::memcpy(c.data, s.data(), s.size());
  r.commit(c);
  return c;
}

struct seen_frame {
  std::uint64_t position;
  std::uint16_t user;
  std::string text;
};

// Reads every committed frame, releasing them.
std::vector<seen_frame> drain(frame_ring::reader& rd) {
  std::vector<seen_frame> out;
  // Bounded, so that a reader stepping through garbage fails instead of eating all memory.
  rd.poll([&](const frame_view& f) { out.push_back({f.position, f.user, text_of(f)}); }, 100'000);
  return out;
}

// Checks that the reader gets exactly one frame, holding `text` at `position`.
void expect_one_frame(frame_ring::reader& rd, const std::string& text, std::uint64_t position) {
  const auto got = drain(rd);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].text, text);
  EXPECT_EQ(got[0].position, position);
}

std::string filler(std::size_t n, char first) {
  std::string s(n, ' ');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(first + static_cast<char>(i % 23));
  return s;
}

// ---- construction and misuse ----

TEST(FrameRing, RejectsBadCapacityAndReaderCount) {
  for (std::size_t c : {0u, 8u, 32u, 63u}) {
    EXPECT_EQ(code_thrown_by([c] { frame_ring r(c); }), errc::capacity_too_small) << c;
  }
  for (std::size_t c : {65u, 96u, 100u, 1000u, 4095u}) {
    EXPECT_EQ(code_thrown_by([c] { frame_ring r(c); }), errc::capacity_not_power_of_two) << c;
  }
  EXPECT_EQ(code_thrown_by([] { frame_ring r(frame_ring::max_capacity * 2); }),
            errc::capacity_too_large);
  EXPECT_EQ(code_thrown_by([] { frame_ring r(1024, producer_mode::single, 0); }),
            errc::invalid_argument);
  EXPECT_EQ(code_thrown_by([] { frame_ring r(frame_ring::min_capacity); }), std::error_code{});
  EXPECT_EQ(frame_ring::min_capacity, 64u);
}

TEST(FrameRing, MaxPayloadIsHalfTheCapacityMinusTheHeader) {
  for (std::size_t cap : {64u, 128u, 256u, 4096u, 1u << 20}) {
    frame_ring r(cap);
    EXPECT_EQ(r.capacity(), cap);
    ASSERT_EQ(r.max_payload(), cap / 2 - 8) << cap;
    auto rd = r.add_reader();

    const std::uint64_t before = r.claimed_position();
    frame_claim big = r.try_claim(r.max_payload() + 1);
    EXPECT_FALSE(big);
    EXPECT_EQ(big.status, errc::frame_too_large);
    EXPECT_EQ(big.data, nullptr);
    EXPECT_EQ(r.claimed_position(), before) << "a refused claim moved the claim frontier";
    EXPECT_EQ(r.try_claim(SIZE_MAX).status, errc::frame_too_large);
    const std::string too_big(r.max_payload() + 1, 'x');
    EXPECT_EQ(write(r, too_big), errc::frame_too_large);

    // The largest frame fits and takes exactly half the ring.
    const std::string largest = filler(r.max_payload(), 'a');
    frame_claim c = put(r, largest);
    ASSERT_TRUE(c);
    EXPECT_EQ(c.end - c.position, cap / 2);
    const auto got = drain(rd);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].text, largest);
  }
}

TEST(FrameRing, HugeRingKeepsFrameLengthsInTheHeader) {
  // The header's length field is 32 bits: in rings of 16 GiB and more, capacity / 2 - 8
  // would not fit, so max_payload() must stop at 2^32 - 8. The ring is only reserved, not
  // touched (one header is written), but sanitizers reserve shadow memory for all of it.
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "a 16 GiB allocation under AddressSanitizer";
#endif
  if (lanes_test::under_tsan) GTEST_SKIP() << "a 16 GiB allocation under ThreadSanitizer";
  constexpr std::size_t cap = std::size_t{1} << 34;
  std::unique_ptr<frame_ring> r;
  try {
    r = std::make_unique<frame_ring>(cap);
  } catch (const std::bad_alloc&) {
    GTEST_SKIP() << "cannot reserve 16 GiB of address space here";
  }
  constexpr std::uint64_t largest = (std::uint64_t{1} << 32) - 8;
  EXPECT_EQ(r->max_payload(), largest);
  frame_claim too_big = r->try_claim(std::uint64_t{1} << 32);
  EXPECT_EQ(too_big.status, errc::frame_too_large) << "its length would be truncated";
  frame_claim c = r->try_claim(largest);
  ASSERT_TRUE(c);
  EXPECT_EQ(c.size, largest);
  EXPECT_EQ(c.end - c.position, largest + 8);
  r->abort(c);
}

TEST(FrameRing, TooManyReaders) {
  frame_ring r(256, producer_mode::single, 2);
  errc ec = errc::full;
  auto a = r.add_reader(&ec);
  EXPECT_TRUE(a);
  EXPECT_EQ(ec, errc::ok);
  auto b = r.add_reader(&ec);
  EXPECT_TRUE(b);
  EXPECT_EQ(ec, errc::ok);
  auto c = r.add_reader(&ec);
  EXPECT_FALSE(c) << "a third reader on a ring with max_readers = 2";
  EXPECT_EQ(ec, errc::too_many_readers);
  EXPECT_FALSE(r.add_reader());  // without an error out-parameter

  a.close();
  EXPECT_FALSE(a);
  auto d = r.add_reader(&ec);
  EXPECT_TRUE(d) << "closing a reader must free its slot";
  EXPECT_EQ(ec, errc::ok);
  {
    auto scoped = r.add_reader(&ec);
    EXPECT_EQ(ec, errc::too_many_readers);
  }
  b = frame_ring::reader();  // move-assigning closes b's old registration
  EXPECT_TRUE(r.add_reader(&ec));
  EXPECT_EQ(ec, errc::ok);
}

// ---- empty and full ----

TEST(FrameRing, EmptyRing) {
  frame_ring r(64);
  auto rd = r.add_reader();
  frame_view f;
  EXPECT_FALSE(rd.try_peek(f));
  EXPECT_EQ(rd.poll([](const frame_view&) {}), 0u);
  EXPECT_EQ(rd.position(), 0u);
  EXPECT_EQ(r.published_position(), 0u);
  EXPECT_EQ(r.claimed_position(), 0u);
  EXPECT_EQ(r.min_reader_position(), 0u);
}

TEST(FrameRing, SmallestCapacityFillsAndDrains) {
  frame_ring r(64);
  ASSERT_EQ(r.max_payload(), 24u);
  auto rd = r.add_reader();
  for (int lap = 0; lap < 20; ++lap) {
    const std::string a = filler(24, static_cast<char>('a' + lap % 5));
    const std::string b = filler(24, static_cast<char>('A' + lap % 5));
    ASSERT_EQ(write(r, a), errc::ok);
    ASSERT_EQ(write(r, b), errc::ok);
    EXPECT_EQ(write(r, ""), errc::full) << "not even an empty frame fits a full ring";
    frame_view f;
    ASSERT_TRUE(rd.try_peek(f));
    EXPECT_EQ(text_of(f), a);
    rd.advance(f);
    EXPECT_EQ(write(r, ""), errc::full) << "advance without release freed space";
    rd.release();
    ASSERT_EQ(write(r, filler(20, 'x')), errc::ok) << "space released by the reader";
    const auto got = drain(rd);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].text, b);
    EXPECT_EQ(got[1].text, filler(20, 'x'));
  }
}

TEST(FrameRing, FullUntilTheReaderReleases) {
  frame_ring r(256);
  auto rd = r.add_reader();
  // 8-byte payloads take 16 bytes: exactly 16 frames fit.
  for (int i = 0; i < 16; ++i) ASSERT_EQ(write(r, filler(8, static_cast<char>('a' + i))), errc::ok);
  const std::uint64_t claimed = r.claimed_position();
  EXPECT_EQ(claimed, 256u);
  frame_claim c = r.try_claim(0);
  EXPECT_EQ(c.status, errc::full);
  EXPECT_EQ(c.data, nullptr);
  EXPECT_EQ(r.claimed_position(), claimed) << "a refused claim moved the claim frontier";
  EXPECT_EQ(r.published_position(), claimed);

  for (int i = 0; i < 3; ++i) {
    frame_view f;
    ASSERT_TRUE(rd.try_peek(f));
    EXPECT_EQ(text_of(f), filler(8, static_cast<char>('a' + i)));
    rd.advance(f);
  }
  EXPECT_EQ(write(r, "x"), errc::full) << "space is reclaimed only on release";
  rd.release();
  EXPECT_EQ(r.min_reader_position(), 48u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(write(r, filler(8, 'z')), errc::ok);
  EXPECT_EQ(write(r, ""), errc::full);
  EXPECT_EQ(drain(rd).size(), 16u);
}

TEST(FrameRing, NoReadersMeansNoBackPressure) {
  frame_ring r(64);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(write(r, filler(24, 'q')), errc::ok);
  EXPECT_EQ(r.published_position(), 100u * 32u);
  EXPECT_EQ(r.min_reader_position(), r.published_position());
}

TEST(FrameRing, UncommittedClaimsAreNotOverwrittenWithoutReaders) {
  frame_ring r(64);
  frame_claim a = r.try_claim(24);
  ASSERT_TRUE(a);
  frame_claim b = r.try_claim(24);
  ASSERT_TRUE(b);
  EXPECT_EQ(r.try_claim(0).status, errc::full) << "claimed but unpublished bytes were reused";
  r.commit(b);
  EXPECT_TRUE(r.try_claim(0));
}

// ---- several readers ----

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

TEST(FrameRing, ProducerIsGatedByTheSlowestReader) {
  frame_ring r(256);
  auto fast = r.add_reader();
  auto slow = r.add_reader();
  for (int i = 0; i < 16; ++i) ASSERT_EQ(write(r, filler(8, 'a')), errc::ok);
  EXPECT_EQ(drain(fast).size(), 16u);
  EXPECT_EQ(fast.position(), 256u);
  EXPECT_EQ(write(r, "x"), errc::full) << "the slow reader has released nothing";
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
  for (int i = 0; i < 16; ++i) ASSERT_EQ(write(r, filler(8, 'a')), errc::ok);
  EXPECT_EQ(drain(fast).size(), 16u);
  EXPECT_EQ(write(r, "x"), errc::full);
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

// ---- positions right before the wrap (reset_position_for_test) ----

constexpr std::uint64_t lap_end = std::uint64_t{256} * 1'000'003;  // a far-away ring end

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

// ---- claim, abort, shrink, user field ----

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

// ---- concurrency ----

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
        while (!(c = r.try_claim(bytes))) {
          if (guard.give_up()) return false;
          lanes_test::backoff();
        }
        guard.progress();
        return true;
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
          while (r.try_write(std::span<const std::byte>(buf.data(), len),
                             static_cast<std::uint16_t>(pid + 1)) != errc::ok) {
            if (guard.give_up()) return;
            lanes_test::backoff();
          }
          guard.progress();
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
      if (got != 0) {
        guard.progress();
      } else {
        if (guard.give_up()) return;
        lanes_test::backoff();
      }
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
