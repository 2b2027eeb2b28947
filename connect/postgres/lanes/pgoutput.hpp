// lanes/pgoutput.hpp (lanes::cdc): PostgreSQL's logical replication messages, as the built-in
// `pgoutput` plugin sends them (protocol version 1), decoded from their bytes.
//
// The messages of one transaction come as Begin, then Relation (a table's columns, sent before
// its first change in a session and again after a schema change), Insert / Update / Delete /
// Truncate, then Commit. decode() turns one message (the payload of an XLogData frame) into
// a pgoutput_message; the relation cache (relations) keeps what Relation said so that row
// changes can name their columns. Nothing here talks to a server.
// Thread contract: one thread. Cold path (allocates). Errors: decode_error (a message shorter
// than its fields say, an unknown type, a change for a relation never described), whose
// what() names the message type and the byte offset.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lanes::cdc {

class decode_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Microseconds since 2000-01-01 00:00:00 UTC (PostgreSQL's epoch) to Unix milliseconds.
std::int64_t pg_time_to_unix_ms(std::int64_t pg_us) noexcept;
// "16/B374D848": PostgreSQL's text form of an LSN.
std::string lsn_text(std::uint64_t lsn);

struct column {
  std::string name;
  std::uint32_t type_oid = 0;
  std::int32_t type_modifier = -1;
  bool key = false;  // part of the replica identity (the primary key, by default)
};

struct relation {
  std::uint32_t oid = 0;
  std::string schema;
  std::string table;
  // d: default (primary key), n: nothing, f: full, i: index.
  char replica_identity = 'd';
  std::vector<column> columns;
};

// One column's value in a row image.
struct value {
  enum class kind : std::uint8_t { null, unchanged_toast, text };
  kind what = kind::null;
  std::string text;  // PostgreSQL's text output of the value (kind text)
};
using row = std::vector<value>;  // in the relation's column order

struct begin_message {
  std::uint64_t final_lsn = 0;  // the commit's LSN
  std::int64_t commit_time_us = 0;
  std::uint32_t xid = 0;
};
struct commit_message {
  std::uint64_t commit_lsn = 0;
  std::uint64_t end_lsn = 0;  // the end of the commit record: where to resume after it
  std::int64_t commit_time_us = 0;
};
struct change_message {
  char op = 'c';               // c insert, u update, d delete
  std::uint32_t relation = 0;  // oid
  // Updates and deletes: the old row as the replica identity gives it ('K': key columns
  // only, the others null; 'O': the whole old row); absent for updates that did not change
  // the key under REPLICA IDENTITY DEFAULT.
  std::optional<row> before;
  char before_kind = 0;      // 'K', 'O' or 0
  std::optional<row> after;  // inserts and updates
};
struct truncate_message {
  std::vector<std::uint32_t> relations;
  bool cascade = false;
  bool restart_identity = false;
};
// Relation, Type and Origin messages (and the cache updates they cause) surface as this.
struct relation_message {
  std::uint32_t oid = 0;
};
struct other_message {
  char type = 0;
};

using pgoutput_message = std::variant<begin_message, commit_message, relation_message,
                                      change_message, truncate_message, other_message>;

// Relations seen so far in this session, by oid.
class relations {
 public:
  const relation* find(std::uint32_t oid) const noexcept;
  const relation& at(std::uint32_t oid) const;  // decode_error when unknown
  void put(relation r) { by_oid_[r.oid] = std::move(r); }

 private:
  std::map<std::uint32_t, relation> by_oid_;
};

// Decodes one pgoutput message; Relation messages update `rels`.
pgoutput_message decode(std::string_view bytes, relations& rels);

}  // namespace lanes::cdc
