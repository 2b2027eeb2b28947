// connect/kafka/bridge_headers.hpp: the headers in which a bridge carries its source position
// with the data, and how they are written and read back (decimal text, readable with kcat).
// Any thread; no allocation.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

#include <lanes/lanes.hpp>

namespace lanes::kafka::detail {

// lanes -> Kafka: where the record was in lanes.
inline constexpr std::string_view lanes_partition_header = "lanes.partition";
inline constexpr std::string_view lanes_offset_header = "lanes.offset";
// lanes -> Kafka: the lanes timestamp when it has a sub-millisecond part (Kafka keeps ms).
inline constexpr std::string_view lanes_timestamp_header = "lanes.timestamp_ns";
// Kafka -> lanes: where the record was in Kafka.
inline constexpr std::string_view kafka_topic_header = "kafka.topic";
inline constexpr std::string_view kafka_partition_header = "kafka.partition";
inline constexpr std::string_view kafka_offset_header = "kafka.offset";

// A decimal number written into `buf` (at least 21 bytes); the view points into it.
inline std::string_view format_decimal(char* buf, std::size_t size, std::int64_t v) noexcept {
  const auto r = std::to_chars(buf, buf + size, v);
  return {buf, static_cast<std::size_t>(r.ptr - buf)};
}

// The whole text as a decimal number, or nothing.
inline std::optional<std::int64_t> parse_decimal(std::string_view s) noexcept {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// The value of the last header named `name` (a bridge appends its own headers after the
// record's, so a record mirrored twice is read by its newest position).
inline bool find_last(const headers_view& headers, std::string_view name,
                      std::string_view& value) noexcept {
  bool found = false;
  for (const header h : headers) {
    if (h.name == name) {
      value = h.value;
      found = true;
    }
  }
  return found;
}

}  // namespace lanes::kafka::detail
