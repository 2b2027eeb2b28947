// tests/core/frame_ring_test.cpp: lanes::frame_ring construction and misuse, empty and full.
// The other frame_ring tests, by concept: frame_ring_readers_test.cpp (several readers),
// frame_ring_wrap_test.cpp (positions right before the wrap), frame_ring_claim_test.cpp
// (claim, abort, shrink, user field), frame_ring_stress_test.cpp (producers and readers on
// threads); frame_ring_frames.hpp holds the helpers they share.
#include "lanes/frame_ring.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <system_error>

#include "frame_ring_frames.hpp"
#include "ring_capacity_checks.hpp"
#include "support/checks.hpp"
#include "support/concurrency.hpp"

namespace {

using namespace lanes_test;

static_assert(lanes::frame_footprint(0) == 8);
static_assert(lanes::frame_footprint(1) == 16);
static_assert(lanes::frame_footprint(8) == 16);
static_assert(lanes::frame_footprint(9) == 24);

// ---- construction and misuse ----

TEST(FrameRing, RejectsBadCapacityAndReaderCount) {
  lanes_test::expect_capacities_rejected<frame_ring>({0, 8, 32, 63}, errc::capacity_too_small);
  lanes_test::expect_capacities_rejected<frame_ring>({65, 96, 100, 1000, 4095},
                                                     errc::capacity_not_power_of_two);
  EXPECT_EQ(code_thrown_by([] { frame_ring r(frame_ring::max_capacity * 2); }),
            errc::capacity_too_large);
  EXPECT_EQ(code_thrown_by([] { frame_ring r(1024, producer_mode::single, 0); }),
            errc::invalid_argument);
  lanes_test::expect_capacity_accepted<frame_ring>(frame_ring::min_capacity);
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

}  // namespace
