// tests/core/frame_ring_frames.hpp: writing and reading frames of a lanes::frame_ring in the
// frame_ring tests (frame_ring_test.cpp, frame_ring_readers_test.cpp, frame_ring_wrap_test.cpp,
// frame_ring_claim_test.cpp; frame_ring_stress_test.cpp takes only the names).
//
//   write(r, s, user)        try_write of the bytes of s
//   put(r, s)                claim, fill, commit; fails the test if the claim fails
//   drain(rd)                every committed frame the reader gets (bounded), released
//   expect_one_frame(rd, ..) the reader gets exactly one frame, with that text and position
//   filler(n, first)         n bytes of a recognisable pattern
//   lap_end                  a far-away ring end for reset_position_for_test
// and the frame ring's names (errc, frame_ring, frame_claim, frame_view, producer_mode), so
// that a test file says `using namespace lanes_test;` once.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lanes/frame_ring.hpp"

namespace lanes_test {

using lanes::errc;
using lanes::frame_claim;
using lanes::frame_ring;
using lanes::frame_view;
using lanes::producer_mode;

inline std::span<const std::byte> bytes_of(std::string_view s) {
  return std::as_bytes(std::span(s));
}

inline std::string text_of(const frame_view& f) {
  return std::string(reinterpret_cast<const char*>(f.data), f.size);
}

inline errc write(frame_ring& r, std::string_view s, std::uint16_t user = 0) {
  return r.try_write(bytes_of(s), user);
}

// Claims, fills with `s` and commits; fails the test (and returns the failed claim) if the
// claim did not succeed.
inline frame_claim put(frame_ring& r, std::string_view s) {
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
inline std::vector<seen_frame> drain(frame_ring::reader& rd) {
  std::vector<seen_frame> out;
  // Bounded, so that a reader stepping through garbage fails instead of eating all memory.
  rd.poll([&](const frame_view& f) { out.push_back({f.position, f.user, text_of(f)}); }, 100'000);
  return out;
}

// Checks that the reader gets exactly one frame, holding `text` at `position`.
inline void expect_one_frame(frame_ring::reader& rd, const std::string& text,
                             std::uint64_t position) {
  const auto got = drain(rd);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].text, text);
  EXPECT_EQ(got[0].position, position);
}

inline std::string filler(std::size_t n, char first) {
  std::string s(n, ' ');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(first + static_cast<char>(i % 23));
  return s;
}

// A far-away ring end, for positions right before the wrap (reset_position_for_test).
inline constexpr std::uint64_t lap_end = std::uint64_t{256} * 1'000'003;

}  // namespace lanes_test
