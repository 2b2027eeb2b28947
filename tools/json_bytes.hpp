// tools/json_bytes.hpp: arbitrary bytes in JSON text that every strict parser accepts.
//
// JSON strings are Unicode: bytes that are not valid UTF-8 (binary keys and values, a
// truncated multi-byte character) cannot go into one as they are. json_bytes writes a
// field's bytes as a JSON string when they are valid UTF-8 (control characters escaped),
// and otherwise as standard base64 (RFC 4648, padded) followed by a field
// "<name>_encoding": "base64". So text stays readable and binary data round-trips exactly.
// Thread contract: none (pure functions). Cold path (allocates).
#pragma once

#include <string>
#include <string_view>

namespace lanes_tools {

// Whether `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most
// U+10FFFF).
bool valid_utf8(std::string_view s) noexcept;
// Standard base64 with padding.
std::string base64(std::string_view s);
// Appends s as a JSON string literal (", \, control characters escaped). s must be UTF-8.
void json_string(std::string& out, std::string_view s);
// Appends "name": <s as text, or base64 and "name_encoding": "base64">.
void json_bytes(std::string& out, std::string_view name, std::string_view s);

}  // namespace lanes_tools
