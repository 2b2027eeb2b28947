// lanes/frame.hpp: one frame of a frame ring (lanes/frame_ring.hpp): its 8-byte header,
// the bytes it occupies, and the handles a producer (frame_claim) and a reader (frame_view)
// hold on it. The byte layout is described in lanes/frame_ring.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "lanes/error.hpp"
#include "lanes/platform.hpp"  // align_up

namespace lanes {

enum class producer_mode : std::uint8_t { single, multi };

struct frame_header {
  std::uint32_t length;  // payload bytes
  std::uint16_t flags;   // frame_flags
  std::uint16_t user;    // free for the layer above
};
static_assert(sizeof(frame_header) == 8);

namespace frame_flags {
inline constexpr std::uint16_t padding = 1;
}

inline constexpr std::size_t frame_alignment = 8;

// Bytes a frame with `payload` bytes occupies in the ring.
constexpr std::uint64_t frame_footprint(std::uint64_t payload) noexcept {
  return align_up(sizeof(frame_header) + payload, frame_alignment);
}

// A claimed, not yet committed frame. Write `payload` bytes (exactly; use
// frame_ring::shrink to shorten), then commit or abort it.
struct frame_claim {
  std::byte* data = nullptr;   // payload; nullptr when the claim failed
  std::uint32_t size = 0;      // payload bytes requested
  errc status = errc::ok;      // ok, full, frame_too_large
  std::uint64_t position = 0;  // frame start position (its header)
  std::uint64_t begin = 0;     // claim start (before any padding frame)
  std::uint64_t end = 0;       // claim end (next frame's position)
  explicit operator bool() const noexcept { return status == errc::ok; }
  std::span<std::byte> bytes() const noexcept { return {data, size}; }
};

// A committed frame seen by a reader; valid until that reader releases it.
struct frame_view {
  const std::byte* data = nullptr;
  std::uint32_t size = 0;
  std::uint16_t user = 0;
  std::uint64_t position = 0;
  std::span<const std::byte> bytes() const noexcept { return {data, size}; }
};

}  // namespace lanes
