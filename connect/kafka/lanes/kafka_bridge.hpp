// lanes/kafka_bridge.hpp: a bridge between a lanes topic and an Apache Kafka topic
// (librdkafka), in one direction per object, exactly once per source offset.
//
//   lanes -> Kafka (direction::to_kafka)
//     Every record of the lanes topic goes to Kafka with its key, value, headers and
//     timestamp, plus the headers `lanes.partition` and `lanes.offset` (decimal text) and,
//     when the timestamp has a sub-millisecond part or is not after the epoch's first
//     millisecond, `lanes.timestamp_ns` (Kafka keeps milliseconds and librdkafka reads 0 as
//     "now"; the Kafka -> lanes direction takes the timestamp from this header when present).
//     Partitioning: when both topics have the same number of partitions, lanes partition i
//     goes to Kafka partition i. Otherwise a keyed record goes where librdkafka's default
//     partitioner puts it (`consistent_random`: CRC32 of the key modulo the partition count,
//     not Java's murmur2), and a record without a key to (lanes partition % Kafka partitions),
//     so that the target is a function of the record alone.
//     The producer is idempotent (enable.idempotence=true: no duplicate and no reordering
//     inside a Kafka partition across retries). A record counts as mirrored only once its
//     delivery report succeeded; a failed report ends the session, which starts again from
//     the data after a back-off.
//     Where it resumes: from the data in Kafka. With equal partition counts, the last record
//     of Kafka partition i names the last lanes offset of partition i that Kafka has. With
//     different counts, each Kafka partition is read from its start once at session start,
//     and a lanes record is skipped when its target Kafka partition already holds its offset
//     (cost: one read of the Kafka topic per start).
//   Kafka -> lanes (direction::from_kafka)
//     Kafka partition j goes to lanes partition j (the lanes topic is created when missing,
//     with Kafka's partition count and bridge_config::create_durability), with the Kafka
//     record's key, value, headers and timestamp, plus the headers `kafka.topic`,
//     `kafka.partition` and `kafka.offset` written in the same record. A batch counts as
//     mirrored once lanes made it durable (wait_durable). Where it resumes: from the last
//     record of each lanes partition (its last `kafka.offset` header, + 1), never from
//     offsets committed to Kafka (the group's commits are written for monitoring only).
//
// A topic written by a bridge must have no other writer: a last record without the bridge's
// header is an error at start, never a guess. Neither topic's partition count may change while
// it is mirrored (records already in Kafka would be looked for in other partitions).
// Kafka transactions are not used: the guarantee comes from the positions in the data and the
// idempotent producer alone. One gap remains with a real replicated cluster: records a
// killed bridge's producer had sent that the leader appended but had not yet replicated (so
// not yet readable below the high watermark) when the next session read the last record are
// sent again (a new idempotent producer has a new id, so nothing fences the old one);
// transactions would close it. librdkafka's mock cluster makes an append readable at once.
//
// Threads: start, stop and the destructor from one thread; stats and failed from any thread.
// The bridge runs on a thread of its own between start and stop.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <lanes/lanes.hpp>

namespace lanes::kafka {

enum class direction : std::uint8_t { to_kafka, from_kafka };

struct bridge_config {
  direction dir = direction::to_kafka;
  std::string bootstrap;    // Kafka's bootstrap.servers ("host:port,...")
  std::string lanes_topic;  // to_kafka: must exist; from_kafka: created when missing
  std::string kafka_topic;  // must exist (the bridge never creates Kafka topics)
  // to_kafka: the lanes consumer group whose committed offsets show the mirrored position
  // (monitoring only). from_kafka: Kafka's group.id (idem). Empty: "lanes-mirror".
  std::string group;
  // Longest wait for Kafka at start (metadata of the cluster and topic, resume positions).
  std::chrono::milliseconds connect_timeout{10000};
  // More librdkafka properties ("security.protocol", "sasl.*", ...), applied last.
  std::vector<std::pair<std::string, std::string>> kafka_properties;
  // from_kafka, when the lanes topic is created: its durability (async by default).
  durability create_durability = durability::async;
  // At most this many records per second (0: no limit).
  std::uint64_t max_records_per_second = 0;
  // Back-off between sessions after a transient failure: doubles from min to max.
  std::chrono::milliseconds retry_backoff_min{200};
  std::chrono::milliseconds retry_backoff_max{5000};
};

// What a bridge did so far. Counters only grow; lag is the latest sample.
struct bridge_stats {
  std::uint64_t records = 0;  // mirrored: acknowledged by the other side
  std::uint64_t bytes = 0;    // key + value bytes of those records
  std::uint64_t skipped = 0;  // to_kafka, unequal partition counts: already in Kafka
  std::uint64_t in_flight = 0;
  std::int64_t lag = -1;       // source records not yet read (-1: not known yet)
  std::uint64_t sessions = 0;  // sessions started (1 + restarts after transient failures)
  std::uint64_t errors = 0;    // transient failures seen (each restarted the session)
  bool caught_up = false;      // nothing left to read and nothing in flight at last look
  bool running = false;
  std::string last_error;  // the latest failure, one line (empty: none)
};

// A start that cannot succeed: unreachable bootstrap (after connect_timeout), unknown topic,
// authorization refused, partition counts that do not fit, a topic with another writer.
class bridge_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class kafka_bridge {
 public:
  // Keeps a reference to `bus`, which must outlive the bridge. Does not connect yet.
  kafka_bridge(bus& b, bridge_config config);
  // Stops (as stop()) when still running.
  ~kafka_bridge();
  kafka_bridge(const kafka_bridge&) = delete;
  kafka_bridge& operator=(const kafka_bridge&) = delete;

  // Connects, finds where to resume from the data, then mirrors on a thread of its own
  // until stop(). Blocks at most about connect_timeout (plus reading the Kafka topic once
  // with unequal partition counts). Throws bridge_error with a one-line message when the
  // first session cannot start; later transient failures (broker down, request errors,
  // failed deliveries) restart the session after a back-off and show in stats().
  // Allocates. Calling start twice throws std::logic_error.
  void start();

  // Stops the bridge: to_kafka waits (at most `drain`) for the deliveries in flight, then
  // commits the group's offsets; from_kafka finishes its durable wait. Blocks until the
  // thread ended. Idempotent.
  void stop(std::chrono::milliseconds drain = std::chrono::milliseconds(10000));

  // A snapshot; any thread; takes a short lock.
  [[nodiscard]] bridge_stats stats() const;

  // Whether the bridge ended by itself with an error that a restart cannot fix (its message
  // is stats().last_error): an authorization failure, a topic that disappeared, a failed
  // lanes partition (disk error). Any thread.
  [[nodiscard]] bool failed() const noexcept;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace lanes::kafka
