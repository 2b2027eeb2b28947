// connect/postgres/sql_connection.hpp: libpq helpers shared by lanes::cdc's connections
// (private): one-line server messages, quoting, an owned result, and a plain SQL session
// (the initial snapshot's reader).
// Thread contract: one thread per connection. Errors: cdc_error with PostgreSQL's message.
#pragma once

#include <memory>
#include <string>

#include "lanes/cdc.hpp"

struct pg_conn;
struct pg_result;

namespace lanes::cdc {

// A server message on one line (newlines to spaces, trailing blanks cut).
std::string one_line(std::string s);
// PQescapeIdentifier / PQescapeLiteral as strings.
std::string quote_ident(pg_conn* c, const std::string& s);
std::string quote_literal(pg_conn* c, const std::string& s);
// An open connection, finished (PQfinish) with its owner.
struct pg_finish {
  void operator()(pg_conn* c) const noexcept;
};
using pg_session = std::unique_ptr<pg_conn, pg_finish>;
// Connects (`dsn` plus `extra` options); cdc_error "cannot connect to PostgreSQL (dsn): why".
pg_session connect_or_throw(const std::string& dsn, const std::string& extra);

// Owns a PGresult.
struct pg_result_ptr {
  pg_result* r;
  explicit pg_result_ptr(pg_result* p) : r(p) {}
  ~pg_result_ptr();
  pg_result_ptr(const pg_result_ptr&) = delete;
  pg_result_ptr& operator=(const pg_result_ptr&) = delete;
};

// A normal (not replication) session.
class sql_connection {
 public:
  explicit sql_connection(const std::string& dsn);

  // Runs one statement; throws cdc_error unless it succeeded (command or rows).
  pg_result* run(const std::string& sql, pg_result_ptr& out);
  pg_conn* raw() const noexcept { return conn_.get(); }

 private:
  pg_session conn_;
};

}  // namespace lanes::cdc
