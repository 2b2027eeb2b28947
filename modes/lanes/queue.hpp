// lanes/queue.hpp: queue mode: competing consumers, acks, redelivery, dead letters.
//
// A queue is a set of partitions (the same frame rings as log mode) plus, per partition, a
// table of delivery states. A queue-mode topic is one queue (group ""): a message stays until
// it is acked, whatever its age. A log-mode topic can also be read by queue groups (as Kafka's
// share groups): the log keeps messages by its retention, and each named queue group hands
// every message to one of its consumers, with acks, redelivery and dead letters. Log groups and
// queue groups can read the same topic at the same time.
//
// Delivery is at least once. receive() hands a message to one consumer with a receipt; the
// message is invisible to the others until the receipt's deadline. Then ack() deletes it for
// good, nack() gives it back (now or after a delay), extend() moves the deadline. A message not
// acked by its deadline is given back; each delivery counts, and one that is given back after
// max_deliveries deliveries moves to the dead-letter topic, with headers naming where it came
// from (see dead_letter_headers), and is acked here.
//
// Receipts carry the delivery count as a generation: once a message is delivered again, the
// receipts of earlier deliveries are stale (errc::stale_receipt) and change nothing.
//
// Durable queue topics (topic_config::durable async or sync, a bus with a data directory)
// persist enqueues as log topics do and acks in an acks file per partition; reopening the
// bus restores exactly the messages not acked on disk, each receivable again with a delivery
// count starting at 1 (receipts from before the restart are unknown to the new bus). Segments
// whose messages are all acked are deleted. See modes/queue_acks.cpp and io/FORMAT.md.
//
// Threads: a queue_consumer is used by one thread at a time (make one per thread); any number
// of consumers of the same queue compete for its messages without locks on receive and ack.
// Deadlines are enforced on receive and by the bus's housekeeping thread (bus_config::
// housekeeping_interval), or by bus::enforce_retention when that thread is off: each
// partition keeps its earliest deadline in one word, and whoever finds it passed walks the
// partition's unacked window once (at most once a millisecond), so a deadline is enforced at the
// next receive or housekeeping tick after it, up to a millisecond late.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lanes/bus.hpp"
#include "lanes/error.hpp"
#include "lanes/handle.hpp"
#include "lanes/record.hpp"
#include "lanes/wait.hpp"

namespace lanes {

// Names of the headers a dead letter gets, besides the message's own key, headers and value.
namespace dead_letter_headers {
inline constexpr std::string_view topic = "lanes.dlq.topic";            // source topic
inline constexpr std::string_view group = "lanes.dlq.group";            // source queue group
inline constexpr std::string_view partition = "lanes.dlq.partition";    // decimal
inline constexpr std::string_view offset = "lanes.dlq.offset";          // decimal
inline constexpr std::string_view deliveries = "lanes.dlq.deliveries";  // decimal
}  // namespace dead_letter_headers

// Proof of one delivery of one message. Copyable; valid for ack/nack/extend on any consumer
// of the same queue until the message is acked, given back, or delivered again.
struct receipt {
  std::uint64_t queue = 0;  // the queue (group of a topic) that delivered it
  std::uint32_t partition = 0;
  std::uint32_t delivery = 0;  // 1 for the first delivery; the receipt's generation
  std::uint64_t offset = 0;
  wait_clock::time_point deadline{};  // visible to others again from then on
};

// A received message. The views (key, value, headers) point into the partition's ring. They
// stay valid until this consumer's next receive (or close), and longer while the message is
// not acked by anyone: its ring space is held until then. Acking or nacking every message of
// the batch from a partition also ends the views of that partition's messages (nothing to
// read there any more). The queue_message objects are valid until this consumer's next receive.
struct queue_message {
  record_view record;
  lanes::receipt receipt;
  std::uint32_t delivery() const noexcept { return receipt.delivery; }
};

struct receive_result {
  errc status = errc::ok;  // ok (messages may be empty on timeout), closed, unknown_topic
  std::span<const queue_message> messages;
};

struct queue_consumer_config {
  std::string topic{};
  // Queue topics: empty (the queue itself). Log topics: the queue group's name; the group is
  // created by its first consumer and removed (with its unacked state) when its last consumer
  // closes.
  std::string group{};
  // Log topics: where a new queue group starts (earliest: the log start; latest: the end).
  offset_reset start = offset_reset::latest;
  // Largest batch one receive returns.
  std::size_t max_receive = 64;
  // Spin instead of parking while receive waits: lowest latency, burns a core.
  bool busy_spin = false;
  // Durable topics: hand out only messages that are on disk (the default, as Kafka's
  // consumers read up to the high watermark): a message a crash could take back is never
  // received, let alone acked. false: also messages still on their way to the disk (lower
  // latency; after a crash such a message may be gone, or its offset reused).
  bool read_durable_only = true;
};

struct queue_partition_stats {
  std::uint32_t partition = 0;
  // Receivable: never delivered, or given back. (With a delivery delay, a message no receive
  // has looked at yet counts here even while it is within the delay; a receive that finds it
  // early moves it to `delayed`.)
  std::uint64_t ready = 0;
  // Delivered, not acked, deadline not passed or not noticed yet; also dead letters that the
  // dead-letter topic has not taken yet (full or deleted: retried every 20 ms).
  std::uint64_t in_flight = 0;
  std::uint64_t delayed = 0;        // nacked with a delay, or found within the delivery delay
  std::uint64_t acked = 0;          // acked by consumers since the group started
  std::uint64_t redelivered = 0;    // deliveries after a message's first
  std::uint64_t dead_lettered = 0;  // moved to the dead-letter topic (and acked here)
  std::uint64_t skipped = 0;        // log topics: left the log by retention before delivery
  // Every offset below is done (acked, dead-lettered, skipped) and its ring space given back.
  // Acked messages after it wait for an older unacked one, or for a consumer whose current
  // batch's views still point at them (until its next receive): see bytes_acked_waiting.
  std::uint64_t ack_floor = 0;
  std::uint64_t end_offset = 0;
  // Ring bytes the queue holds (from the ack floor to the end), and why: bytes of messages
  // not acked yet, and bytes of messages already acked that wait behind an older unacked one
  // (they are given back to the ring as soon as everything before them is acked).
  std::uint64_t bytes_held = 0;
  std::uint64_t bytes_unacked = 0;
  std::uint64_t bytes_acked_waiting = 0;
};

struct queue_group_stats {
  std::string topic;
  std::string group;
  std::vector<queue_partition_stats> partitions;
  // Sum over partitions.
  queue_partition_stats total() const noexcept;
};

namespace detail {
struct queue_group;
}

// Receives, acks, nacks and extends messages of one queue. One thread at a time.
class queue_consumer final : public detail::closing_handle<detail::queue_consumer_state> {
 public:
  using impl = detail::queue_consumer_state;
  queue_consumer() noexcept = default;

  // Up to `max` (at most max_receive) messages, from all partitions, waiting at most
  // `timeout` while there are none. Gives back first messages whose deadline passed. Never
  // locks (strict_per_key: a partition another consumer is dispatching is skipped, not waited
  // for) and never allocates. Status: ok, closed (this consumer, the bus or the topic).
  receive_result receive(std::size_t max, std::chrono::nanoseconds timeout =
                                              std::chrono::nanoseconds::zero()) noexcept;

  // Deletes the message for good. ok; already_acked (by this or any receipt of the message, or
  // dead-lettered); stale_receipt (given back or delivered again since, not acked);
  // foreign_receipt (another queue); invalid_partition / invalid_argument (not a receipt this
  // queue handed out); closed. Anything but ok changes nothing. Lock-free.
  // Durable queue topics (modes/queue_acks.cpp): with durability::sync, ack returns once the
  // ack is on disk (it blocks for the persister's next fdatasync of the acks file, as SQS's
  // DeleteMessage returns once the delete is stored): an acked message is then never
  // delivered again, even after a crash. With durability::async it returns at once and the
  // ack reaches the disk within about sync_interval; a crash before that delivers the message
  // again (at least once, never lost). If the ack cannot be made durable, ack returns that
  // error (sync_failed, no_space, timeout, closed) with the message acked in memory only.
  errc ack(const receipt& r) noexcept;
  // Acks each receipt; results[i] (when given) is what happened to rs[i]. Returns how many
  // were acked. Durable sync queues: one wait for the batch; if the acks cannot be made
  // durable, the results of the acked ones hold the error and it returns 0.
  std::size_t ack(std::span<const receipt> rs, std::span<errc> results = {}) noexcept;

  // Gives the message back: receivable again now (delay 0) or after `delay`. The receipt is
  // spent. A message that has had max_deliveries deliveries goes to the dead-letter topic
  // instead. Errors as ack.
  errc nack(const receipt& r,
            std::chrono::nanoseconds delay = std::chrono::nanoseconds::zero()) noexcept;

  // Moves the receipt's deadline to now + visibility (SQS ChangeMessageVisibility; 0 gives it
  // back at the next check) and stores the new deadline in r.deadline. Errors as ack.
  errc extend(receipt& r, std::chrono::nanoseconds visibility) noexcept;

  // Stops receiving. Messages this consumer holds come back after their deadlines (or are
  // acked by anyone holding their receipt). Then every call returns errc::closed.
  void close() noexcept;
  // The topic's name (empty for a default-constructed consumer).
  const std::string& topic() const noexcept;

 private:
  friend class bus;
  using closing_handle::closing_handle;
};

}  // namespace lanes
