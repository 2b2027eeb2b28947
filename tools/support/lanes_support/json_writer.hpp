// lanes_support/json_writer.hpp: the machine-readable output of the tools and benchmarks,
// written with nlohmann::json (Debian nlohmann-json3-dev), the one JSON library of lanes.
//
//   json_writer j;
//   j.begin_object();
//   j.field("messages", 10);
//   j.object("latency_us", [&] { j.field("p50", 3.5); });
//   j.objects("groups", groups, [&](const group& g) { j.field("name", g.name); });
//   j.end_object();
//   std::string text = j.str();        // or json_writer j(stream): written at the last end_*
//
// A streaming-style front over a document: keys keep their order; text is indented by two
// spaces; doubles round-trip exactly; NaN and infinities become null; bytes that are not
// UTF-8 in a string are replaced (U+FFFD) rather than making the output invalid.
// Thread contract: one thread. Cold path (allocates).
#pragma once

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace lanes_support {

class json_writer {
 public:
  json_writer() = default;
  // Writes the document to `out` when its outermost object or array is closed.
  explicit json_writer(std::ostream& out) : out_(&out) {}

  void begin_object() { open(nlohmann::ordered_json::object()); }
  void end_object() { close(); }
  void begin_array() { open(nlohmann::ordered_json::array()); }
  void end_array() { close(); }
  void key(std::string_view k) { key_ = std::string(k); }

  void value(std::string_view s) { put(std::string(s)); }
  void value(const char* s) { put(std::string(s)); }
  void value(const std::string& s) { put(s); }
  void value(bool b) { put(b); }
  void value(double d) { put(std::isfinite(d) ? nlohmann::ordered_json(d) : nullptr); }
  template <class I>
  requires std::is_integral_v<I>
  void value(I i) { put(i); }

  template <class V>
  void field(std::string_view k, const V& v) {
    key(k);
    value(v);
  }
  // An array of values under key k.
  template <class V>
  void array(std::string_view k, const std::vector<V>& values) {
    key(k);
    begin_array();
    for (const V& v : values) value(v);
    end_array();
  }

  // An object under key k whose members write() adds.
  template <class Write>
  void object(std::string_view k, Write&& write) {
    key(k);
    begin_object();
    write();
    end_object();
  }
  // An array under key k of one object per item, whose members write_item(item) adds.
  template <class Items, class WriteItem>
  void objects(std::string_view k, const Items& items, WriteItem&& write_item) {
    key(k);
    begin_array();
    for (const auto& item : items) {
      begin_object();
      write_item(item);
      end_object();
    }
    end_array();
  }

  // The finished text (after the outermost end_*), with a final newline.
  std::string str() const {
    return doc_.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  }

 private:
  void put(nlohmann::ordered_json v) {
    if (stack_.empty()) throw std::logic_error("json_writer: a value outside any container");
    nlohmann::ordered_json& top = *stack_.back();
    if (top.is_object()) {
      top[key_] = std::move(v);
    } else {
      top.push_back(std::move(v));
    }
  }
  void open(nlohmann::ordered_json empty) {
    if (stack_.empty()) {
      doc_ = std::move(empty);
      stack_.push_back(&doc_);
      return;
    }
    nlohmann::ordered_json& top = *stack_.back();
    nlohmann::ordered_json* child = nullptr;
    if (top.is_object()) {
      top[key_] = std::move(empty);
      child = &top[key_];
    } else {
      top.push_back(std::move(empty));
      child = &top.back();
    }
    stack_.push_back(child);
  }
  void close() {
    stack_.pop_back();
    if (stack_.empty() && out_ != nullptr) *out_ << str();
  }

  nlohmann::ordered_json doc_;
  std::vector<nlohmann::ordered_json*> stack_;  // open containers (pointers into doc_)
  std::string key_;
  std::ostream* out_ = nullptr;
};

}  // namespace lanes_support

// The tools and benchmarks name it in their own namespaces.
namespace lanes_tools {
using lanes_support::json_writer;
}  // namespace lanes_tools
namespace lanes_bench {
using lanes_support::json_writer;
}  // namespace lanes_bench
