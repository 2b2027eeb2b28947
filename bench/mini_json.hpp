// bench/mini_json.hpp: a small JSON reader for benchmark inputs (fio's --output-format=json).
//
// Parses a whole document into a tree of json_value. Numbers become doubles; strings keep
// their escapes decoded only for the common ones (\" \\ \/ \b \f \n \r \t; \uXXXX becomes
// '?'), which is all fio's output needs. Cold path; allocates freely; never throws on bad
// input: parse() returns false and leaves an error message.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lanes_bench {

struct json_value {
  enum class kind { null, boolean, number, string, array, object };
  kind type = kind::null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<json_value> items;                            // array
  std::vector<std::pair<std::string, json_value>> members;  // object, in document order

  // The member named `k` of an object, or nullptr.
  const json_value* get(std::string_view k) const noexcept {
    if (type != kind::object) return nullptr;
    for (const auto& [name, v] : members) {
      if (name == k) return &v;
    }
    return nullptr;
  }
  // Walks object members by name; a purely numeric step indexes an array.
  const json_value* at(std::initializer_list<std::string_view> path) const noexcept {
    const json_value* v = this;
    for (std::string_view step : path) {
      if (v == nullptr) return nullptr;
      if (v->type == kind::array) {
        const std::size_t i = std::strtoull(std::string(step).c_str(), nullptr, 10);
        v = i < v->items.size() ? &v->items[i] : nullptr;
      } else {
        v = v->get(step);
      }
    }
    return v;
  }
  // The number at `path`, or `fallback` when it is missing or not a number.
  double number(std::initializer_list<std::string_view> path, double fallback = 0) const {
    const json_value* v = at(path);
    return v != nullptr && v->type == kind::number ? v->num : fallback;
  }
};

class json_reader {
 public:
  // Parses `text` (one JSON value, whitespace around it allowed) into `out`.
  bool parse(std::string_view text, json_value& out) {
    s_ = text;
    i_ = 0;
    error_.clear();
    if (!value(out, 0)) return false;
    skip_ws();
    if (i_ != s_.size()) return fail("trailing characters");
    return true;
  }
  const std::string& error() const noexcept { return error_; }

 private:
  static constexpr int max_depth = 64;

  bool fail(const char* what) {
    if (error_.empty()) error_ = std::string(what) + " at byte " + std::to_string(i_);
    return false;
  }
  void skip_ws() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) {
      ++i_;
    }
  }
  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return fail("bad literal");
    i_ += word.size();
    return true;
  }
  bool value(json_value& v, int depth) {
    if (depth > max_depth) return fail("nested too deeply");
    skip_ws();
    if (i_ >= s_.size()) return fail("unexpected end");
    const char c = s_[i_];
    if (c == '{') return object(v, depth);
    if (c == '[') return array(v, depth);
    if (c == '"') {
      v.type = json_value::kind::string;
      return string(v.str);
    }
    if (c == 't' || c == 'f') {
      v.type = json_value::kind::boolean;
      v.b = c == 't';
      return literal(c == 't' ? "true" : "false");
    }
    if (c == 'n') {
      v.type = json_value::kind::null;
      return literal("null");
    }
    return number(v);
  }
  bool number(json_value& v) {
    const std::size_t start = i_;
    while (i_ < s_.size() &&
           (std::string_view("+-.eE0123456789").find(s_[i_]) != std::string_view::npos)) {
      ++i_;
    }
    if (i_ == start) return fail("unexpected character");
    const std::string tok(s_.substr(start, i_ - start));
    char* end = nullptr;
    v.type = json_value::kind::number;
    v.num = std::strtod(tok.c_str(), &end);
    if (end != tok.c_str() + tok.size()) return fail("bad number");
    return true;
  }
  bool string(std::string& out) {
    ++i_;  // opening quote
    out.clear();
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) break;
      const char e = s_[i_++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u':
          if (i_ + 4 > s_.size()) return fail("bad escape");
          i_ += 4;
          out += '?';
          break;
        default: out += e;  // \" \\ \/
      }
    }
    return fail("unterminated string");
  }
  bool array(json_value& v, int depth) {
    ++i_;
    v.type = json_value::kind::array;
    skip_ws();
    if (i_ < s_.size() && s_[i_] == ']') {
      ++i_;
      return true;
    }
    for (;;) {
      v.items.emplace_back();
      if (!value(v.items.back(), depth + 1)) return false;
      skip_ws();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < s_.size() && s_[i_] == ']') {
        ++i_;
        return true;
      }
      return fail("expected , or ]");
    }
  }
  bool object(json_value& v, int depth) {
    ++i_;
    v.type = json_value::kind::object;
    skip_ws();
    if (i_ < s_.size() && s_[i_] == '}') {
      ++i_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != '"') return fail("expected a member name");
      std::string name;
      if (!string(name)) return false;
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != ':') return fail("expected :");
      ++i_;
      v.members.emplace_back(std::move(name), json_value{});
      if (!value(v.members.back().second, depth + 1)) return false;
      skip_ws();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < s_.size() && s_[i_] == '}') {
        ++i_;
        return true;
      }
      return fail("expected , or }");
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::string error_;
};

}  // namespace lanes_bench
