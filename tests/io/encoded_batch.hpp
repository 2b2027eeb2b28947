// tests/io/encoded_batch.hpp: a valid batch as it stands in a segment file (header with its
// CRC, then the payload), for the format tests (io_format_test.cpp) and the fuzz seeds
// (tests/fuzz/segment_fuzz_target.cpp). No GoogleTest here: the fuzz target includes it too.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "lanes/segment_format.hpp"

namespace lanes_test {

// The encoded batch of `h` (its base offset, count and timestamps; the payload length and CRC
// are filled in here) followed by `payload`.
inline std::vector<std::byte> encoded_batch(lanes::io::batch_header h,
                                            std::span<const std::byte> payload) {
  h.payload_length = static_cast<std::uint32_t>(payload.size());
  std::vector<std::byte> out(lanes::io::batch_header_size + payload.size());
  lanes::io::encode_batch_header(h, out.data());
  const iovec v{const_cast<std::byte*>(payload.data()), payload.size()};
  h.crc = lanes::io::batch_crc(out.data(), {&v, 1});
  lanes::io::encode_batch_header(h, out.data());
  if (!payload.empty()) {
    std::memcpy(out.data() + lanes::io::batch_header_size, payload.data(), payload.size());
  }
  return out;
}

}  // namespace lanes_test
