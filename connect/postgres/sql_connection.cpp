// connect/postgres/sql_connection.cpp: see sql_connection.hpp.
#include "sql_connection.hpp"

#include <libpq-fe.h>

namespace lanes::cdc {

std::string one_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  return s;
}

std::string quote_ident(pg_conn* c, const std::string& s) {
  char* q = PQescapeIdentifier(c, s.data(), s.size());
  std::string out = q != nullptr ? q : "";
  PQfreemem(q);
  return out;
}

std::string quote_literal(pg_conn* c, const std::string& s) {
  char* q = PQescapeLiteral(c, s.data(), s.size());
  std::string out = q != nullptr ? q : "";
  PQfreemem(q);
  return out;
}

void pg_finish::operator()(pg_conn* c) const noexcept { PQfinish(c); }

pg_session connect_or_throw(const std::string& dsn, const std::string& extra) {
  const std::string full = extra.empty() ? dsn : dsn + " " + extra;
  pg_session c(PQconnectdb(full.c_str()));
  if (PQstatus(c.get()) != CONNECTION_OK) {
    throw cdc_error("cannot connect to PostgreSQL (" + dsn +
                    "): " + one_line(PQerrorMessage(c.get())));
  }
  return c;
}

pg_result_ptr::~pg_result_ptr() { PQclear(r); }

sql_connection::sql_connection(const std::string& dsn) : conn_(connect_or_throw(dsn, {})) {}

pg_result* sql_connection::run(const std::string& sql, pg_result_ptr& out) {
  PQclear(out.r);
  out.r = PQexec(conn_.get(), sql.c_str());
  const ExecStatusType st = PQresultStatus(out.r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    throw cdc_error("PostgreSQL refused `" + sql + "`: " + one_line(PQerrorMessage(conn_.get())));
  }
  return out.r;
}

}  // namespace lanes::cdc
