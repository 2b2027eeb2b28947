// modes/topic_conf.cpp: see topic_conf.hpp. Each field is listed once (for_each_field); how
// a value is written and read follows from its type: numbers, durations (their count, in the
// unit the key names), enums (by name), a flag (0 or 1), a string.
#include "topic_conf.hpp"

#include <array>
#include <charconv>
#include <sstream>
#include <string_view>
#include <type_traits>

namespace lanes::detail {

namespace {

// The names of an enum's values, by value.
constexpr std::array<std::string_view, 2> names_of(topic_mode) { return {"log", "queue"}; }
constexpr std::array<std::string_view, 2> names_of(producer_mode) { return {"single", "multi"}; }
constexpr std::array<std::string_view, 2> names_of(backpressure) { return {"block", "overwrite"}; }
constexpr std::array<std::string_view, 3> names_of(durability) { return {"none", "async", "sync"}; }
constexpr std::array<std::string_view, 2> names_of(queue_ordering) {
  return {"best_effort", "strict_per_key"};
}

template <class T>
bool parse_num(std::string_view s, T& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

template <class T>
struct is_duration : std::false_type {};
template <class R, class P>
struct is_duration<std::chrono::duration<R, P>> : std::true_type {};

template <class T>
void write_value(std::ostream& o, const T& v) {
  if constexpr (std::is_enum_v<T>) {
    o << names_of(v)[static_cast<std::size_t>(v)];
  } else if constexpr (is_duration<T>::value) {
    o << v.count();
  } else if constexpr (std::is_same_v<T, bool>) {
    o << (v ? 1 : 0);
  } else {
    o << v;
  }
}

template <class T>
bool read_value(std::string_view text, T& v) {
  if constexpr (std::is_enum_v<T>) {
    const auto names = names_of(v);
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i] == text) {
        v = static_cast<T>(i);
        return true;
      }
    }
    return false;
  } else if constexpr (is_duration<T>::value) {
    typename T::rep count = 0;
    if (!parse_num(text, count)) return false;
    v = T(count);
    return true;
  } else if constexpr (std::is_same_v<T, bool>) {
    v = text == "1";
    return text == "0" || text == "1";
  } else if constexpr (std::is_same_v<T, std::string>) {
    v = std::string(text);
    return true;
  } else {
    return parse_num(text, v);
  }
}

// Calls f(key, field) for every field of topic.conf, in the order the file lists them.
// Config is topic_config or const topic_config.
template <class Config, class F>
void for_each_field(Config& c, F&& f) {
  f("mode", c.mode);
  f("partitions", c.partitions);
  f("ring_capacity", c.ring_capacity);
  f("producers", c.producers);
  f("retention_bytes", c.retention_bytes);
  f("retention_age_ns", c.retention_age);
  f("policy", c.policy);
  f("max_message_size", c.max_message_size);
  f("max_readers", c.max_readers);
  f("prefault", c.prefault);
  f("durability", c.durable);
  f("sync_interval_us", c.sync_interval);
  f("sync_bytes", c.sync_bytes);
  f("segment_bytes", c.segment_bytes);
  f("segment_age_s", c.segment_age);
  f("queue.visibility_timeout_ns", c.queue.visibility_timeout);
  f("queue.max_deliveries", c.queue.max_deliveries);
  f("queue.dead_letter_topic", c.queue.dead_letter_topic);
  f("queue.delivery_delay_ns", c.queue.delivery_delay);
  f("queue.ordering", c.queue.ordering);
}

}  // namespace

std::string encode_topic_config(const topic_config& c) {
  std::ostringstream o;
  o << "# lanes topic configuration (written by the bus; do not edit while it runs)\n";
  for_each_field(c, [&](std::string_view key, const auto& value) {
    o << key << "=";
    write_value(o, value);
    o << "\n";
  });
  return o.str();
}

bool decode_topic_config(const std::string& text, topic_config& c) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) return false;
    const std::string_view k = std::string_view(line).substr(0, eq);
    const std::string_view v = std::string_view(line).substr(eq + 1);
    bool ok = true;
    for_each_field(c, [&](std::string_view key, auto& field) {
      if (key == k) ok = read_value(v, field);
    });
    if (!ok) return false;
  }
  return true;
}

}  // namespace lanes::detail
