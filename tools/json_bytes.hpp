// tools/json_bytes.hpp: arbitrary bytes in JSON text that every strict parser accepts, and the
// one-line JSON of `lanes consume --json`. The documents are nlohmann::ordered_json (the one
// JSON library of lanes, see lanes_support/json_writer.hpp): it escapes, we choose the layout.
//
// JSON strings are Unicode: bytes that are not valid UTF-8 (binary keys and values, a
// truncated multi-byte character) cannot go into one as they are. put_bytes stores a field's
// bytes as a JSON string when they are valid UTF-8, and otherwise as standard base64
// (RFC 4648, padded) followed by a field "<name>_encoding": "base64". So text stays readable
// and binary data round-trips exactly.
// Thread contract: none (pure functions). Cold path (allocates).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace lanes_tools {

// Whether `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most
// U+10FFFF). nlohmann only checks this while it writes, by throwing or replacing.
bool valid_utf8(std::string_view s) noexcept;
// Standard base64 with padding.
std::string base64(std::string_view s);
// Sets object[name] to s as text, or to base64(s) and object[name + "_encoding"] = "base64".
void put_bytes(nlohmann::ordered_json& object, std::string_view name, std::string_view s);
// `doc` on one line, as `lanes consume --json` has always written it: nlohmann's compact text
// with a space after every ':' and ',' between members ({"a": 1, "b": [{"c": null}]}).
std::string one_line(const nlohmann::ordered_json& doc);

}  // namespace lanes_tools
