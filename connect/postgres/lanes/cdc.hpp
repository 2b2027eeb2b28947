// lanes/cdc.hpp (lanes::cdc): every committed row change of a PostgreSQL database into lanes
// topics, from a logical replication slot (pgoutput), exactly once per transaction.
//
//   lanes::cdc::cdc_config c;
//   c.dsn = "host=/run/postgresql dbname=shop"; c.publication = "shop"; c.slot = "lanes";
//   lanes::cdc::cdc_stream s(bus, c);   // bus: opened on a data directory
//   s.run(stop);                        // until stop is set; throws cdc_error
//
// Start: when the slot is missing it is created; with snapshot_mode::initial (the default)
// it exports a snapshot, and every row of every published table in that snapshot is written
// first, as op "r" records (header pg.snapshot: the snapshot's name), then the stream starts
// at the slot's consistent point: no change is missed and none is written twice. The
// snapshot's progress is recorded durably in <topic_prefix>.__cdc_snapshot (key: the slot,
// value {"state": "started"|"done", ...}) before the slot is created and after the last row is
// durable. A start that finds "started" (a run died or was stopped mid-snapshot) drops the
// slot and takes the snapshot again under a new name (cdc_stats::snapshot_retaken): the rows
// of the unfinished snapshot stay in the topics, told apart by their pg.snapshot header. An
// existing slot with no snapshot record (created with snapshot_mode::never, or by another
// tool) streams from its position without a snapshot.
//
// Records: one topic per table, <topic_prefix>.<schema>.<table> (created when first seen,
// durable), keyed by the primary key, values as in lanes/cdc_envelope.hpp, with headers
// pg.lsn (the transaction's commit LSN, decimal), pg.seq (the record's place in its
// transaction) and pg.xid.
//
// Exactly once: the slot's flushed position is confirmed to the server only after the
// records of every transaction up to it are on disk in lanes (the stream reads and publishes
// on meanwhile: up to 1024 transactions wait for the disk at once; a clean stop confirms
// them all before run() returns). After a stop or a crash the
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

enum class snapshot_mode : std::uint8_t {
  initial,  // a new slot: first every published row (op "r"), then the changes
  never,    // a new slot: only the changes committed after it was created
};

struct cdc_config {
  std::string dsn;          // libpq connection string (replication=database is added)
  std::string publication;  // CREATE PUBLICATION ... FOR TABLE ...
  std::string slot;         // created (pgoutput) when missing
  std::string topic_prefix = "cdc";
  std::uint32_t partitions = 1;                             // for topics it creates
  lanes::durability durability = lanes::durability::async;  // must not be none
  snapshot_mode snapshot = snapshot_mode::initial;
  // A delete is followed by a tombstone: a record with the same key and an empty value (so
  // that a compacting consumer can forget the key).
  bool tombstones = false;
  // Standby status updates at least this often (well inside wal_sender_timeout, 60 s).
  std::chrono::milliseconds status_interval{1000};
};

struct cdc_stats {
  std::uint64_t transactions = 0;   // written to lanes by this stream, on disk and confirmed
  std::uint64_t rows = 0;           // records written (counted with their transaction)
  std::uint64_t skipped = 0;        // records already in lanes from before a restart
  std::uint64_t confirmed_lsn = 0;  // flushed position confirmed to the server
  std::uint64_t received_lsn = 0;   // the latest WAL position the server sent
  // Seconds between a transaction's commit on the server and the moment it was on disk in
  // lanes: the oldest transaction not yet on disk (now - its commit time) while there is one,
  // else the last confirmed one's. 0 before the first. Server and client clocks are compared.
  double lag_seconds = 0;
  std::uint64_t snapshot_rows = 0;  // op "r" records written by this run's snapshot
  bool snapshot_retaken = false;    // a snapshot left unfinished was dropped and taken again
  bool streaming = false;           // the snapshot (if any) is done; changes are streaming
};

class cdc_stream {
 public:
  // Checks the configuration (not the server). Throws cdc_error.
  cdc_stream(lanes::bus& bus, cdc_config config);
  ~cdc_stream();
  cdc_stream(const cdc_stream&) = delete;
  cdc_stream& operator=(const cdc_stream&) = delete;

  // Connects, checks the source (wal_level, the publication, a key per table, the slot not in
  // use), creates the slot when missing (taking the initial snapshot when configured), and
  // streams until `stop` is set (returns) or an error (throws cdc_error). Blocks; polls `stop`
  // at least every 100 ms (a stop during the snapshot leaves it to be taken again).
  void run(const std::atomic<bool>& stop);
  // Any thread.
  cdc_stats stats() const noexcept;

 private:
  struct impl;
  impl* impl_;
};

}  // namespace lanes::cdc
