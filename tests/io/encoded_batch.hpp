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

// `len` bytes that tell their position: byte i is (i * step + start) mod 256.
inline std::vector<std::byte> pattern_bytes(std::size_t len, std::uint64_t step,
                                            std::uint64_t start) {
  std::vector<std::byte> v(len);
  for (std::size_t i = 0; i < len; ++i) v[i] = static_cast<std::byte>(i * step + start);
  return v;
}

// The encoded batch of `count` records from offset `base`, timestamps first_ts..max_ts (ns),
// whose payload is `payload`: header (with its payload length and CRC), then the payload.
inline std::vector<std::byte> encoded_batch(std::uint64_t base, std::uint32_t count,
                                            std::span<const std::byte> payload,
                                            std::int64_t first_ts, std::int64_t max_ts) {
  lanes::io::batch_header h;
  h.base_offset = base;
  h.count = count;
  h.first_timestamp_ns = first_ts;
  h.max_timestamp_ns = max_ts;
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
