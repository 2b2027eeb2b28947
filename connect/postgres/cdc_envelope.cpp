// connect/postgres/cdc_envelope.cpp: see lanes/cdc_envelope.hpp.
#include "lanes/cdc_envelope.hpp"

#include <charconv>

namespace lanes::cdc {

namespace {

constexpr std::uint32_t bool_oid = 16, int8_oid = 20, int2_oid = 21, int4_oid = 23, oid_oid = 26;

nlohmann::ordered_json source_json(const relation& r, const source_info& s) {
  return {{"lsn", lsn_text(s.lsn)}, {"lsn_int", s.lsn},
          {"xid", s.xid},           {"ts_ms", pg_time_to_unix_ms(s.commit_time_us)},
          {"schema", r.schema},     {"table", r.table}};
}

std::string envelope(char op, nlohmann::ordered_json before, nlohmann::ordered_json after,
                     const relation& r, const source_info& s) {
  nlohmann::ordered_json e;
  e["op"] = std::string(1, op);
  e["before"] = std::move(before);
  e["after"] = std::move(after);
  e["source"] = source_json(r, s);
  return e.dump();
}

}  // namespace

nlohmann::ordered_json column_json(const column& c, const value& v) {
  switch (v.what) {
    case value::kind::null: return nullptr;
    case value::kind::unchanged_toast: return {{"unchanged_toast", true}};
    case value::kind::text: break;
  }
  switch (c.type_oid) {
    case bool_oid:
      if (v.text == "t") return true;
      if (v.text == "f") return false;
      break;
    case int2_oid:
    case int4_oid:
    case int8_oid:
    case oid_oid: {
      std::int64_t n = 0;
      const char* end = v.text.data() + v.text.size();
      auto [p, ec] = std::from_chars(v.text.data(), end, n);
      if (ec == std::errc() && p == end) return n;
      break;
    }
    default: break;
  }
  return v.text;
}

nlohmann::ordered_json row_json(const relation& r, const row& values, bool only_key) {
  nlohmann::ordered_json o = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < r.columns.size() && i < values.size(); ++i) {
    if (only_key && !r.columns[i].key) continue;
    o[r.columns[i].name] = column_json(r.columns[i], values[i]);
  }
  return o;
}

std::string key_of(const relation& r, const row& values) {
  nlohmann::ordered_json k = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < r.columns.size() && i < values.size(); ++i) {
    if (r.columns[i].key) k.push_back(column_json(r.columns[i], values[i]));
  }
  if (k.empty()) {
    throw decode_error("table " + r.schema + "." + r.table +
                       " has no primary key, so its rows have no key: add one, or run ALTER "
                       "TABLE " +
                       r.schema + "." + r.table + " REPLICA IDENTITY FULL");
  }
  return k.dump();
}

std::string change_envelope(const relation& r, const change_message& c, const source_info& s) {
  nlohmann::ordered_json before = nullptr, after = nullptr;
  if (c.before) before = row_json(r, *c.before, c.before_kind == 'K');
  if (c.after) after = row_json(r, *c.after);
  return envelope(c.op, std::move(before), std::move(after), r, s);
}

std::string read_envelope(const relation& r, const row& values, const source_info& s) {
  return envelope('r', nullptr, row_json(r, values), r, s);
}

std::string truncate_envelope(const relation& r, const source_info& s) {
  return envelope('t', nullptr, nullptr, r, s);
}

}  // namespace lanes::cdc
