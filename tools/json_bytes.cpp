// tools/json_bytes.cpp: see json_bytes.hpp.
#include "json_bytes.hpp"

#include <cstdint>

namespace lanes_tools {

bool valid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra = 0;
    unsigned lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
      if (c == 0xe0) lo = 0xa0;  // overlong
      if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
      if (c == 0xf0) lo = 0x90;  // overlong
      if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
    } else {
      return false;  // continuation byte first, C0/C1 overlong, F5..FF
    }
    if (end - p <= extra) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (int i = 2; i <= extra; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
    }
    p += extra + 1;
  }
  return true;
}

std::string base64(std::string_view s) {
  static constexpr char digits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((s.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(s[k]));
  };
  for (; i + 3 <= s.size(); i += 3) {
    const std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += digits[v >> 18];
    out += digits[(v >> 12) & 63];
    out += digits[(v >> 6) & 63];
    out += digits[v & 63];
  }
  if (const std::size_t left = s.size() - i; left > 0) {
    const std::uint32_t v = byte(i) << 16 | (left == 2 ? byte(i + 1) << 8 : 0);
    out += digits[v >> 18];
    out += digits[(v >> 12) & 63];
    out += left == 2 ? digits[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

void put_bytes(nlohmann::ordered_json& object, std::string_view name, std::string_view s) {
  const std::string key(name);
  if (valid_utf8(s)) {
    object[key] = s;
    return;
  }
  object[key] = base64(s);
  object[key + "_encoding"] = "base64";
}

namespace {
// A scalar, or a key, as nlohmann writes it (escaped; bytes that are not UTF-8 replaced).
std::string scalar_text(const nlohmann::ordered_json& v) {
  return v.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void append_one_line(std::string& out, const nlohmann::ordered_json& v) {
  if (!v.is_structured()) {
    out += scalar_text(v);
    return;
  }
  out += v.is_object() ? '{' : '[';
  const char* separator = "";
  for (const auto& item : v.items()) {
    out += separator;
    separator = ", ";
    if (v.is_object()) out += scalar_text(item.key()) + ": ";
    append_one_line(out, item.value());
  }
  out += v.is_object() ? '}' : ']';
}
}  // namespace

std::string one_line(const nlohmann::ordered_json& doc) {
  std::string out;
  append_one_line(out, doc);
  return out;
}

}  // namespace lanes_tools
