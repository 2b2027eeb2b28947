// connect/postgres/replication_connection.hpp: a libpq connection in logical replication
// mode (private to lanes::cdc). Creates the slot, starts streaming, hands out XLogData
// payloads and answers keepalives with standby status updates.
// Thread contract: one thread. Errors: cdc_error with PostgreSQL's own message.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "lanes/cdc.hpp"

struct pg_conn;

namespace lanes::cdc {

class replication_connection {
 public:
  explicit replication_connection(const std::string& dsn);
  ~replication_connection();
  replication_connection(const replication_connection&) = delete;
  replication_connection& operator=(const replication_connection&) = delete;

  // Checks wal_level and the publication; creates the slot (pgoutput) when it is missing.
  void prepare(const std::string& publication, const std::string& slot);
  // START_REPLICATION from the slot's confirmed position.
  void start(const std::string& publication, const std::string& slot);

  // The next XLogData payload (a pgoutput message), waiting at most `wait`; false when none
  // came. Keepalives are answered inside. wal_end: the server's WAL position.
  bool next(std::string& message, std::uint64_t& wal_end, std::chrono::milliseconds wait);
  // Standby status update: everything up to `flushed` is safe in lanes.
  void confirm(std::uint64_t flushed);

 private:
  void send_status(bool reply_requested);
  std::string query_value(const std::string& sql);
  pg_conn* conn_ = nullptr;
  std::uint64_t flushed_ = 0;
  std::uint64_t received_ = 0;
};

}  // namespace lanes::cdc
