// lanes/cdc_envelope.hpp (lanes::cdc): a row change as the record lanes cdc writes.
//
// Key: the row's replica-identity (primary-key) columns as a JSON array, in column order,
// e.g. [17] or ["eu",17]: the same row always has the same key, so it lands in the same
// partition and its changes stay in order.
// Value: a JSON envelope, as Debezium's:
//   {"op": "c"|"u"|"d"|"t"|"r",   insert, update, delete, truncate, snapshot read
//    "before": {...} | null,      updates and deletes, as far as the replica identity gives it
//                                 (DEFAULT: the key columns only; FULL: the whole old row)
//    "after": {...} | null,       inserts, updates, snapshot reads
//    "source": {"lsn": "0/16B3748", "lsn_int": 23803720, "xid": 731,
//               "ts_ms": 1767225600123, "schema": "public", "table": "orders"}}
// Column values keep PostgreSQL's text form, except booleans, integers (int2, int4, int8,
// oid) and NULL, which become JSON true/false, numbers and null. A TOASTed value that an
// update did not change is not sent by the server: it appears as {"unchanged_toast": true},
// never invented.
// Thread contract: none (pure functions). Cold path (allocates).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "lanes/pgoutput.hpp"

namespace lanes::cdc {

struct source_info {
  std::uint64_t lsn = 0;  // the transaction's commit LSN (snapshot reads: the slot's point)
  std::uint32_t xid = 0;
  std::int64_t commit_time_us = 0;  // PostgreSQL microseconds since 2000-01-01
};

// One column value as JSON (see above).
nlohmann::ordered_json column_json(const column& c, const value& v);
// A row image as a JSON object (only_key: the key columns only).
nlohmann::ordered_json row_json(const relation& r, const row& values, bool only_key = false);
// The record key of a row: its key columns as a JSON array (text). A relation without key
// columns has no key: decode_error naming the table and what to do (REPLICA IDENTITY).
std::string key_of(const relation& r, const row& values);
// The envelope of a change, a snapshot read (op 'r', after = values) or a truncate (op 't').
std::string change_envelope(const relation& r, const change_message& c, const source_info& s);
std::string read_envelope(const relation& r, const row& values, const source_info& s);
std::string truncate_envelope(const relation& r, const source_info& s);

}  // namespace lanes::cdc
