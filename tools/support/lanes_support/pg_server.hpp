// lanes_support/pg_server.hpp: a real PostgreSQL 15 server for a test or a benchmark, in a fresh
// temporary directory, listening only on a unix socket there, with wal_level = logical;
// stopped (immediate) and removed at the end. initdb refuses to run as root, so the server
// runs as the `postgres` user (runuser). available() says why a machine cannot run it.
#pragma once

#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace pg_test {

inline const std::string pg_bin = "/usr/lib/postgresql/15/bin";

// Empty when a server can be started here; else the reason.
inline std::string unavailable() {
  if (!std::filesystem::exists(pg_bin + "/initdb")) {
    return "PostgreSQL 15 is not installed (apt-get install postgresql-15; tools/setup.sh does)";
  }
  if (::geteuid() != 0) return "starting a server as the postgres user needs root (runuser)";
  if (std::system("id -u postgres >/dev/null 2>&1") != 0) return "no postgres user";
  return {};
}

class server {
 public:
  // wal_level: "logical" unless a test needs a server that cannot do logical replication.
  explicit server(const std::string& wal_level = "logical") {
    char t[] = "/tmp/lanes_pg_XXXXXX";
    if (::mkdtemp(t) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = t;
    run("chown postgres: " + dir_.string());
    as_postgres(pg_bin + "/initdb -D " + data() + " -U postgres -A trust --no-sync -E UTF8 >" +
                dir_.string() + "/initdb.log 2>&1");
    std::ofstream(data() + "/postgresql.conf", std::ios::app)
        << "wal_level = " << wal_level << "\nmax_replication_slots = 10\nmax_wal_senders = 10\n"
        << "listen_addresses = ''\nunix_socket_directories = '" << dir_.string() << "'\n"
        << "port = 5432\nfsync = off\nwal_sender_timeout = 60s\n";
    as_postgres(pg_bin + "/pg_ctl -D " + data() + " -l " + dir_.string() +
                "/server.log -w -t 60 start >/dev/null");
  }
  ~server() {
    (void)std::system(("runuser -u postgres -- " + pg_bin + "/pg_ctl -D " + data() +
                       " -m immediate -w -t 60 stop >/dev/null 2>&1")
                          .c_str());
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  std::string dsn() const {
    return "host=" + dir_.string() + " port=5432 user=postgres dbname=postgres";
  }

  // Runs SQL on a normal connection; throws with the server's message.
  void sql(const std::string& q) const {
    PGconn* c = PQconnectdb(dsn().c_str());
    if (PQstatus(c) != CONNECTION_OK) {
      const std::string why = PQerrorMessage(c);
      PQfinish(c);
      throw std::runtime_error("connect: " + why);
    }
    PGresult* r = PQexec(c, q.c_str());
    const auto st = PQresultStatus(r);
    const std::string why = PQerrorMessage(c);
    PQclear(r);
    PQfinish(c);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      throw std::runtime_error("`" + q + "`: " + why);
    }
  }
  // The first value of a query's first row ("" when none).
  std::string value(const std::string& q) const {
    PGconn* c = PQconnectdb(dsn().c_str());
    PGresult* r = PQexec(c, q.c_str());
    std::string v =
        PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    PQfinish(c);
    return v;
  }

 private:
  std::string data() const { return dir_.string() + "/data"; }
  static void run(const std::string& cmd) {
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  }
  void as_postgres(const std::string& cmd) const {
    run("runuser -u postgres -- sh -c '" + cmd + "'");
  }
  std::filesystem::path dir_;
};

}  // namespace pg_test
