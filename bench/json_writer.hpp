// bench/json_writer.hpp: a small streaming JSON writer for benchmark results.
//
// Usage: begin_object(), key("x"), value(1.5), end_object() ... Commas and indentation are
// handled here; strings are escaped. Doubles are written with 17 significant digits
// (round-trip exact); non-finite doubles become null.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace lanes_bench {

class json_writer {
 public:
  explicit json_writer(std::ostream& out) : out_(out) {}

  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }

  void key(std::string_view k) {
    separate();
    write_string(k);
    out_ << ": ";
    after_key_ = true;
  }

  void value(std::string_view s) {
    separate();
    write_string(s);
  }
  void value(const char* s) { value(std::string_view(s)); }
  void value(bool b) {
    separate();
    out_ << (b ? "true" : "false");
  }
  void value(std::uint64_t v) {
    separate();
    out_ << v;
  }
  void value(int v) {
    separate();
    out_ << v;
  }
  void value(double v) {
    separate();
    if (!std::isfinite(v)) {
      out_ << "null";
      return;
    }
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.17g", v);
    out_ << buf;
  }

  template <class V>
  void field(std::string_view k, const V& v) {
    key(k);
    value(v);
  }

  // An array of numbers on one line.
  template <class V>
  void array(std::string_view k, const std::vector<V>& values) {
    key(k);
    begin_array();
    inline_ = true;
    for (const V& v : values) value(v);
    inline_ = false;
    end_array_inline();
  }

 private:
  void open(char c) {
    separate();
    out_ << c;
    first_.push_back(true);
  }
  void close(char c) {
    first_.pop_back();
    newline();
    out_ << c;
  }
  void end_array_inline() {
    first_.pop_back();
    out_ << ']';
  }
  // Before any value or key: a comma unless first in its container, then a line break.
  void separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (first_.empty()) return;
    if (!first_.back()) out_ << (inline_ ? ", " : ",");
    first_.back() = false;
    if (!inline_) newline();
  }
  void newline() {
    out_ << '\n';
    for (std::size_t i = 0; i < first_.size(); ++i) out_ << "  ";
  }
  void write_string(std::string_view s) {
    out_ << '"';
    for (const char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      switch (c) {
        case '"': out_ << "\\\""; break;
        case '\\': out_ << "\\\\"; break;
        case '\n': out_ << "\\n"; break;
        case '\t': out_ << "\\t"; break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            out_ << buf;
          } else {
            out_ << ch;
          }
      }
    }
    out_ << '"';
  }

  std::ostream& out_;
  std::vector<bool> first_;  // per open container: nothing written in it yet
  bool after_key_ = false;
  bool inline_ = false;
};

}  // namespace lanes_bench
