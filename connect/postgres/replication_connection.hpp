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
#include "sql_connection.hpp"

namespace lanes::cdc {

class replication_connection {
 public:
  explicit replication_connection(const std::string& dsn);

  // Checks wal_level, the publication, and that each published table has a key (a primary
  // key, or a REPLICA IDENTITY index or FULL).
  void check_source(const std::string& publication);
  // Whether the slot exists; cdc_error when it belongs to another plugin or is in use.
  bool slot_exists(const std::string& slot);
  struct created_slot {
    std::uint64_t consistent_point = 0;  // changes committed after it are in the stream
    std::string snapshot;  // the exported snapshot (valid until the next command here)
  };
  // CREATE_REPLICATION_SLOT ... LOGICAL pgoutput, exporting a snapshot when asked.
  created_slot create_slot(const std::string& slot, bool export_snapshot);
  void drop_slot(const std::string& slot);
  // START_REPLICATION from the slot's confirmed position.
  void start(const std::string& publication, const std::string& slot);

  // The next XLogData payload (a pgoutput message), waiting at most `wait`; false when none
  // came. Keepalives are answered inside. wal_end: the server's WAL position.
  bool next(std::string& message, std::uint64_t& wal_end, std::chrono::milliseconds wait);
  // Standby status update: everything up to `flushed` is safe in lanes.
  void confirm(std::uint64_t flushed);
  // The latest position a keepalive carried: the logical walsender sends the WAL position it
  // has decoded up to (sentPtr), so every transaction committed below it was sent before it.
  std::uint64_t keepalive_position() const noexcept { return keepalive_; }

 private:
  void send_status(bool reply_requested);
  std::string query_value(const std::string& sql);
  pg_session conn_;
  std::uint64_t flushed_ = 0;
  std::uint64_t received_ = 0;
  std::uint64_t keepalive_ = 0;
};

}  // namespace lanes::cdc
