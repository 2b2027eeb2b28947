// connect/postgres/pgoutput.cpp: decoding pgoutput's messages (see lanes/pgoutput.hpp).
// Layout from PostgreSQL's "Logical Replication Message Formats": integers big-endian,
// strings NUL-terminated, row images as TupleData (Int16 count, then per column 'n' null,
// 'u' unchanged TOAST, or 't' followed by Int32 length and the value's text).
#include "lanes/pgoutput.hpp"

#include <cinttypes>
#include <cstdio>

namespace lanes::cdc {

namespace {

class reader {
 public:
  reader(std::string_view b, char type) : b_(b), type_(type) {}

  std::uint64_t uint(int bytes) {
    need(static_cast<std::size_t>(bytes), "an integer");
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = v << 8 | static_cast<unsigned char>(b_[at_++]);
    return v;
  }
  std::uint8_t u8() { return static_cast<std::uint8_t>(uint(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(uint(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(uint(4)); }
  std::uint64_t u64() { return uint(8); }
  std::int64_t i64() { return static_cast<std::int64_t>(uint(8)); }
  char byte() { return static_cast<char>(u8()); }
  std::string cstring() {
    const auto end = b_.find('\0', at_);
    if (end == std::string_view::npos) fail("a string without its terminating NUL");
    std::string s(b_.substr(at_, end - at_));
    at_ = end + 1;
    return s;
  }
  std::string bytes(std::size_t n) {
    need(n, "a column value");
    std::string s(b_.substr(at_, n));
    at_ += n;
    return s;
  }
  row tuple(const relation& r) {
    const std::uint16_t n = u16();
    if (n > r.columns.size()) {
      fail("a row of " + std::to_string(n) + " columns for " + r.schema + "." + r.table +
           ", which has " + std::to_string(r.columns.size()));
    }
    row out(r.columns.size());  // columns the row does not carry (dropped at the end) are null
    for (std::uint16_t i = 0; i < n; ++i) {
      switch (const char k = byte()) {
        case 'n': out[i].what = value::kind::null; break;
        case 'u': out[i].what = value::kind::unchanged_toast; break;
        case 't': {
          out[i].what = value::kind::text;
          out[i].text = bytes(u32());
          break;
        }
        default: fail(std::string("an unknown column kind '") + k + "'");
      }
    }
    return out;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw decode_error("pgoutput message '" + std::string(1, type_) + "' at byte " +
                       std::to_string(at_) + " of " + std::to_string(b_.size()) + ": " + what);
  }

 private:
  void need(std::size_t n, const char* what) const {
    if (b_.size() - at_ < n) fail(std::string("ends inside ") + what);
  }
  std::string_view b_;
  char type_;
  std::size_t at_ = 1;  // after the type byte
};

change_message change(reader& in, char op, relations& rels) {
  change_message c;
  c.op = op;
  c.relation = in.u32();
  const relation& r = rels.at(c.relation);
  char k = in.byte();
  if (op != 'c' && (k == 'K' || k == 'O')) {
    c.before_kind = k;
    c.before = in.tuple(r);
    if (op == 'd') return c;
    k = in.byte();
  }
  if (op == 'd') in.fail("a delete without its old key ('K') or old row ('O')");
  if (k != 'N') in.fail(std::string("expected the new row ('N'), found '") + k + "'");
  c.after = in.tuple(r);
  return c;
}

}  // namespace

std::int64_t pg_time_to_unix_ms(std::int64_t pg_us) noexcept {
  constexpr std::int64_t pg_epoch_unix_s = 946684800;  // 2000-01-01T00:00:00Z
  return pg_us / 1000 + pg_epoch_unix_s * 1000;
}

std::string lsn_text(std::uint64_t lsn) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%" PRIX32 "/%" PRIX32, static_cast<std::uint32_t>(lsn >> 32),
                static_cast<std::uint32_t>(lsn));
  return buf;
}

const relation* relations::find(std::uint32_t oid) const noexcept {
  auto it = by_oid_.find(oid);
  return it == by_oid_.end() ? nullptr : &it->second;
}

const relation& relations::at(std::uint32_t oid) const {
  if (const relation* r = find(oid)) return *r;
  throw decode_error("pgoutput: a change for relation " + std::to_string(oid) +
                     " before any Relation message described it");
}

pgoutput_message decode(std::string_view bytes, relations& rels) {
  if (bytes.empty()) throw decode_error("pgoutput: an empty message");
  const char type = bytes[0];
  reader in(bytes, type);
  switch (type) {
    case 'B': {
      begin_message b;
      b.final_lsn = in.u64();
      b.commit_time_us = in.i64();
      b.xid = in.u32();
      return b;
    }
    case 'C': {
      commit_message c;
      (void)in.u8();  // flags, unused
      c.commit_lsn = in.u64();
      c.end_lsn = in.u64();
      c.commit_time_us = in.i64();
      return c;
    }
    case 'R': {
      relation r;
      r.oid = in.u32();
      r.schema = in.cstring();
      r.table = in.cstring();
      r.replica_identity = in.byte();
      const std::uint16_t n = in.u16();
      for (std::uint16_t i = 0; i < n; ++i) {
        column c;
        c.key = (in.u8() & 1) != 0;
        c.name = in.cstring();
        c.type_oid = in.u32();
        c.type_modifier = static_cast<std::int32_t>(in.u32());
        r.columns.push_back(std::move(c));
      }
      const std::uint32_t oid = r.oid;
      rels.put(std::move(r));
      return relation_message{oid};
    }
    case 'I': return change(in, 'c', rels);
    case 'U': return change(in, 'u', rels);
    case 'D': return change(in, 'd', rels);
    case 'T': {
      truncate_message t;
      const std::uint32_t n = in.u32();
      const std::uint8_t options = in.u8();
      t.cascade = (options & 1) != 0;
      t.restart_identity = (options & 2) != 0;
      for (std::uint32_t i = 0; i < n; ++i) t.relations.push_back(in.u32());
      return t;
    }
    case 'Y':  // Type: the name of a user type; values stay in their text form anyway
    case 'O':  // Origin: replication origin of the transaction
    case 'M':  // logical decoding message (pg_logical_emit_message)
      return other_message{type};
    default: in.fail("an unknown message type");
  }
}

}  // namespace lanes::cdc
