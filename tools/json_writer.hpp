// tools/json_writer.hpp: a small JSON writer for the tools' machine-readable output.
//
//   json_writer j;
//   j.begin_object();
//   j.field("messages", 10);
//   j.key("latency_us"); j.begin_object(); ... j.end_object();
//   j.end_object();
//   std::string text = j.str();
//
// Commas and two-space indentation are handled here; strings are escaped; doubles are
// written with up to 15 significant digits; NaN and infinities become null.
// Thread contract: one thread. Cold path (allocates).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace lanes_tools {

class json_writer {
 public:
  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }

  void key(std::string_view k) {
    element();
    quoted(k);
    out_ += ": ";
    after_key_ = true;
  }

  void value(std::string_view s) {
    element();
    quoted(s);
  }
  void value(const char* s) { value(std::string_view(s)); }
  void value(const std::string& s) { value(std::string_view(s)); }
  void value(bool b) {
    element();
    out_ += b ? "true" : "false";
  }
  void value(double d) {
    element();
    if (!std::isfinite(d)) {
      out_ += "null";
      return;
    }
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.15g", d);
    out_ += buf;
  }
  template <class I>
  requires std::is_integral_v<I>
  void value(I i) {
    element();
    out_ += std::to_string(i);
  }

  template <class V>
  void field(std::string_view k, const V& v) {
    key(k);
    value(v);
  }

  // The finished text (call after the outermost end_object), with a final newline.
  std::string str() const { return out_ + "\n"; }

 private:
  void open(char c) {
    element();
    out_ += c;
    first_.push_back(true);
  }
  void close(char c) {
    const bool empty = first_.back();
    first_.pop_back();
    if (!empty) newline();
    out_ += c;
  }
  // Separates this element from the previous one at the same level.
  void element() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (first_.empty()) return;
    if (!first_.back()) out_ += ',';
    first_.back() = false;
    newline();
  }
  void newline() {
    out_ += '\n';
    out_.append(2 * first_.size(), ' ');
  }
  void quoted(std::string_view s) {
    out_ += '"';
    for (const char ch : s) {
      const auto u = static_cast<unsigned char>(ch);
      switch (ch) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\n': out_ += "\\n"; break;
        case '\r': out_ += "\\r"; break;
        case '\t': out_ += "\\t"; break;
        default:
          if (u < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", u);
            out_ += buf;
          } else {
            out_ += ch;
          }
      }
    }
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written in it yet
  bool after_key_ = false;
};

}  // namespace lanes_tools
