// lanes/cdc.hpp (lanes::cdc): every committed row change of a PostgreSQL database into lanes
// topics, from a logical replication slot (pgoutput), exactly once per transaction.
//
//   lanes::cdc::cdc_config c;
//   c.dsn = "host=/run/postgresql dbname=shop"; c.publication = "shop"; c.slot = "lanes";
//   lanes::cdc::cdc_stream s(bus, c);   // bus: opened on a data directory
//   s.run(stop);                        // until stop is set; throws cdc_error
//
// Records: one topic per table, <topic_prefix>.<schema>.<table> (created when first seen,
// durable), keyed by the primary key, values as in lanes/cdc_envelope.hpp, with headers
// pg.lsn (the transaction's commit LSN, decimal), pg.seq (the record's place in its
// transaction) and pg.xid.
//
// Exactly once: the slot's flushed position is confirmed to the server only after the
// records of every transaction up to it are on disk in lanes. After a stop or a crash the
// server sends again from the last confirmed position; each partition's last record says
// how far that partition got ((pg.lsn, pg.seq)), and records at or below it are not written
// again. So a transaction is never written twice and never lost, whichever partitions a
// crash caught it in. Rolled-back transactions are never decoded by the server.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "lanes/bus.hpp"

namespace lanes::cdc {

// A one-line error a person can act on (bad DSN, missing publication, wal_level, slot in use,
// a table without a primary key, the connection lost).
class cdc_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct cdc_config {
  std::string dsn;          // libpq connection string (replication=database is added)
  std::string publication;  // CREATE PUBLICATION ... FOR TABLE ...
  std::string slot;         // created (pgoutput) when missing
  std::string topic_prefix = "cdc";
  std::uint32_t partitions = 1;                             // for topics it creates
  lanes::durability durability = lanes::durability::async;  // must not be none
  // Standby status updates at least this often (well inside wal_sender_timeout, 60 s).
  std::chrono::milliseconds status_interval{1000};
};

struct cdc_stats {
  std::uint64_t transactions = 0;   // written to lanes by this stream
  std::uint64_t rows = 0;           // records written
  std::uint64_t skipped = 0;        // records already in lanes from before a restart
  std::uint64_t confirmed_lsn = 0;  // flushed position confirmed to the server
  std::uint64_t received_lsn = 0;   // the latest WAL position the server sent
};

class cdc_stream {
 public:
  // Checks the configuration (not the server). Throws cdc_error.
  cdc_stream(lanes::bus& bus, cdc_config config);
  ~cdc_stream();
  cdc_stream(const cdc_stream&) = delete;
  cdc_stream& operator=(const cdc_stream&) = delete;

  // Connects, creates the slot when missing, and streams until `stop` is set (returns) or
  // an error (throws cdc_error). Blocks; polls `stop` at least every 100 ms.
  void run(const std::atomic<bool>& stop);
  // Any thread.
  cdc_stats stats() const noexcept;

 private:
  struct impl;
  impl* impl_;
};

}  // namespace lanes::cdc
