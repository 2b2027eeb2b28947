// connect/postgres/replication_connection.cpp: see replication_connection.hpp. Protocol from
// PostgreSQL's "Streaming Replication Protocol": CopyBoth data frames 'w' (XLogData: start,
// end, send time, payload) and 'k' (keepalive: end, send time, reply requested); the client
// sends 'r' (standby status update: written, flushed, applied, time, reply requested).
#include "replication_connection.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "sql_connection.hpp"

namespace lanes::cdc {

namespace {

std::uint64_t be64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<unsigned char>(p[i]);
  return v;
}

void put64(char* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

std::int64_t pg_now_us() {
  const auto unix_us = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  return unix_us - std::int64_t{946684800} * 1'000'000;
}

}  // namespace

replication_connection::replication_connection(const std::string& dsn)
    : conn_(connect_or_throw(dsn, "replication=database")) {}

std::string replication_connection::query_value(const std::string& sql) {
  pg_result_ptr r(PQexec(conn_.get(), sql.c_str()));
  if (PQresultStatus(r.r) != PGRES_TUPLES_OK) {
    throw cdc_error("PostgreSQL refused `" + sql + "`: " + one_line(PQerrorMessage(conn_.get())));
  }
  if (PQntuples(r.r) == 0) return {};
  return PQgetvalue(r.r, 0, 0);
}

void replication_connection::check_source(const std::string& publication) {
  const std::string level = query_value("SHOW wal_level");
  if (level != "logical") {
    throw cdc_error("the server's wal_level is '" + level +
                    "'; change data capture needs 'logical' (set wal_level = logical in "
                    "postgresql.conf and restart the server)");
  }
  const std::string pub = quote_literal(conn_.get(), publication);
  if (query_value("SELECT 1 FROM pg_publication WHERE pubname = " + pub).empty()) {
    throw cdc_error("publication '" + publication + "' does not exist in this database (CREATE " +
                    "PUBLICATION " + quote_ident(conn_.get(), publication) + " FOR TABLE ...)");
  }
  // A table's rows have a key when its replica identity names columns: DEFAULT with a
  // primary key, USING INDEX, or FULL (the whole row).
  const std::string keyless = query_value(
      "SELECT format('%I.%I', t.schemaname, t.tablename) FROM "
      "pg_publication_tables t JOIN pg_class c ON c.oid = format('%I.%I', t.schemaname, "
      "t.tablename)::regclass WHERE t.pubname = " +
      pub +
      " AND (c.relreplident = 'n' OR (c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM "
      "pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))) ORDER BY 1 LIMIT 1");
  if (!keyless.empty()) {
    throw cdc_error("table " + keyless +
                    " has no primary key, so its rows have no record key: add a primary key, or "
                    "run ALTER TABLE " +
                    keyless + " REPLICA IDENTITY FULL (the whole row becomes the key)");
  }
}

bool replication_connection::slot_exists(const std::string& slot) {
  const std::string active = query_value(
      "SELECT CASE WHEN active THEN coalesce(active_pid::text, '?') ELSE 'no' END || ' ' || "
      "plugin FROM pg_replication_slots WHERE slot_name = " +
      quote_literal(conn_.get(), slot));
  if (active.empty()) return false;
  const auto sp = active.find(' ');
  if (active.substr(sp + 1) != "pgoutput") {
    throw cdc_error("replication slot '" + slot + "' uses plugin '" + active.substr(sp + 1) +
                    "', not pgoutput; pick another --slot");
  }
  if (active.substr(0, sp) != "no") {
    throw cdc_error("replication slot '" + slot + "' is in use by another process (pid " +
                    active.substr(0, sp) + "); stop it or pick another --slot");
  }
  return true;
}

replication_connection::created_slot replication_connection::create_slot(const std::string& slot,
                                                                         bool export_snapshot) {
  pg_result_ptr r(PQexec(conn_.get(), ("CREATE_REPLICATION_SLOT " + quote_ident(conn_.get(), slot) +
                                       " LOGICAL pgoutput (SNAPSHOT '" +
                                       (export_snapshot ? "export" : "nothing") + "')")
                                          .c_str()));
  if (PQresultStatus(r.r) != PGRES_TUPLES_OK || PQntuples(r.r) != 1 || PQnfields(r.r) < 3) {
    throw cdc_error("cannot create replication slot '" + slot +
                    "': " + one_line(PQerrorMessage(conn_.get())));
  }
  created_slot out;
  unsigned hi = 0, lo = 0;
  if (std::sscanf(PQgetvalue(r.r, 0, 1), "%X/%X", &hi, &lo) != 2) {
    throw cdc_error("replication slot '" + slot + "' was created without a consistent point");
  }
  out.consistent_point = std::uint64_t{hi} << 32 | lo;
  if (PQgetisnull(r.r, 0, 2) == 0) out.snapshot = PQgetvalue(r.r, 0, 2);
  if (export_snapshot && out.snapshot.empty()) {
    throw cdc_error("replication slot '" + slot + "' was created without an exported snapshot");
  }
  return out;
}

void replication_connection::drop_slot(const std::string& slot) {
  pg_result_ptr r(
      PQexec(conn_.get(), ("DROP_REPLICATION_SLOT " + quote_ident(conn_.get(), slot)).c_str()));
  if (PQresultStatus(r.r) != PGRES_COMMAND_OK) {
    throw cdc_error("cannot drop replication slot '" + slot +
                    "': " + one_line(PQerrorMessage(conn_.get())));
  }
}

void replication_connection::start(const std::string& publication, const std::string& slot) {
  const std::string sql = "START_REPLICATION SLOT " + quote_ident(conn_.get(), slot) +
                          " LOGICAL 0/0 (proto_version '1', publication_names " +
                          quote_literal(conn_.get(), publication) + ")";
  pg_result_ptr r(PQexec(conn_.get(), sql.c_str()));
  if (PQresultStatus(r.r) != PGRES_COPY_BOTH) {
    throw cdc_error("cannot start replication from slot '" + slot +
                    "': " + one_line(PQerrorMessage(conn_.get())));
  }
}

bool replication_connection::next(std::string& message, std::uint64_t& wal_end,
                                  std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    char* buf = nullptr;
    const int n = PQgetCopyData(conn_.get(), &buf, 1);
    if (n == 0) {
      // Rounded up: a wait under a millisecond still reads the socket once.
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{PQsocket(conn_.get()), POLLIN, 0};
      (void)::poll(&p, 1, static_cast<int>(left.count()));
      if (PQconsumeInput(conn_.get()) == 0) {
        throw cdc_error("lost the replication connection: " +
                        one_line(PQerrorMessage(conn_.get())));
      }
      continue;
    }
    if (n == -1) throw cdc_error("the server ended replication");
    if (n < 0) {
      throw cdc_error("replication stream failed: " + one_line(PQerrorMessage(conn_.get())));
    }
    const std::string_view frame(buf, static_cast<std::size_t>(n));
    std::string copy;
    bool data = false;
    if (frame[0] == 'w' && frame.size() >= 25) {
      wal_end = be64(buf + 9);
      received_ = std::max(received_, be64(buf + 1));
      copy.assign(frame.substr(25));
      data = true;
    } else if (frame[0] == 'k' && frame.size() >= 18) {
      wal_end = be64(buf + 1);
      received_ = std::max(received_, wal_end);
      keepalive_ = std::max(keepalive_, wal_end);
      if (buf[17] != 0) send_status(false);  // the server asks for an answer now
    }
    PQfreemem(buf);
    if (data) {
      message = std::move(copy);
      return true;
    }
  }
}

void replication_connection::confirm(std::uint64_t flushed) {
  flushed_ = std::max(flushed_, flushed);
  send_status(false);
}

void replication_connection::send_status(bool reply_requested) {
  char m[34];
  m[0] = 'r';
  put64(m + 1, std::max(received_, flushed_));
  put64(m + 9, flushed_);
  put64(m + 17, flushed_);
  put64(m + 25, static_cast<std::uint64_t>(pg_now_us()));
  m[33] = reply_requested ? 1 : 0;
  if (PQputCopyData(conn_.get(), m, sizeof m) != 1 || PQflush(conn_.get()) != 0) {
    throw cdc_error("cannot send a status update: " + one_line(PQerrorMessage(conn_.get())));
  }
}

}  // namespace lanes::cdc
