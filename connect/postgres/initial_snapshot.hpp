// connect/postgres/initial_snapshot.hpp: the initial snapshot (private to lanes::cdc).
//
// read_snapshot reads every published table inside the snapshot a new slot exported (a second,
// normal session: BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT), with the
// publication's column lists and row filters, through a cursor in batches, and hands each
// row over with a relation describing it as pgoutput would (same columns, same key flags), so
// that a row's snapshot record and its later changes have the same key. The replication
// connection that exported the snapshot must stay open and idle until it returns.
//
// The snapshot's progress is kept in lanes itself, in <topic_prefix>.__cdc_snapshot (one
// partition, sync durability): a record keyed by the slot name with {"state": "started"}
// before the slot is created, and {"state": "done", "snapshot", "consistent_point", "rows"}
// once every row is on disk. The last record of a slot says where its snapshot stands.
// Thread contract: the stream's thread. Cold path (allocates). Errors: cdc_error.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "lanes/bus.hpp"
#include "lanes/cdc.hpp"
#include "lanes/pgoutput.hpp"

namespace lanes::cdc {

// Calls each_row for every published row; false when `stop` was set before the end (checked
// before each batch).
bool read_snapshot(const cdc_config& config, const std::string& snapshot,
                   const std::atomic<bool>& stop,
                   const std::function<void(const relation&, const row&)>& each_row);

enum class snapshot_state : std::uint8_t { none, started, done };

std::string snapshot_topic(const cdc_config& config);
// The state the last record of config.slot in snapshot_topic says (none: no record).
snapshot_state last_snapshot_state(lanes::bus& bus, const cdc_config& config);
// Appends a record for config.slot ({"slot": ..., "state": ...} plus `more`) and waits until
// it is on disk.
void record_snapshot_state(lanes::bus& bus, const cdc_config& config, snapshot_state state,
                           nlohmann::ordered_json more = nlohmann::ordered_json::object());

}  // namespace lanes::cdc
