// lanes/bus.hpp: the Bus, its topics, producers and consumers (log mode).
//
// A bus holds named topics; a topic is split into partitions; each partition is a frame ring
// (lanes/frame_ring.hpp) in which every record gets a dense offset. Producers publish by key
// (XXH3-64 % partitions, see lanes/partitioner.hpp), round-robin without a key, or to an
// explicit partition. Consumers read records by offset: as members of a consumer group
// (each partition to exactly one member of the group, every group sees every record), or
// alone on partitions they assign themselves. Queue mode (competing consumers with acks, on the
// same partitions) is in lanes/queue.hpp.
//
// Threads: a bus and its topics may be used from any thread. A producer or a consumer object
// is used by one thread at a time (make one per thread). Cold paths (topics, groups,
// assignment, seek) take locks; publish and poll do not lock or allocate.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lanes/error.hpp"
#include "lanes/frame_ring.hpp"
#include "lanes/partitioner.hpp"
#include "lanes/queue_config.hpp"
#include "lanes/record.hpp"

namespace lanes {

enum class topic_mode : std::uint8_t { log, queue };

// What a producer does when a partition's ring has no room.
//   block:     wait (at most the producer's max_block) for the slowest group holding the
//              partition, as the Disruptor does. Nothing is ever dropped unread.
//   overwrite: drop the oldest records; consumers that had not read them are overrun and
//              get offset_out_of_range, then follow their offset_reset policy.
enum class backpressure : std::uint8_t { block, overwrite };

// Where a consumer starts when it has no committed offset or its offset left the log
// (Kafka's auto.offset.reset).
enum class offset_reset : std::uint8_t { earliest, latest, error };

enum class assignment_strategy : std::uint8_t { range, round_robin };

// How a topic's records reach the disk of a bus opened with a data directory.
//   none:  memory only (the default; also every topic of a bus without a data directory).
//   async: group commit: one fdatasync when sync_bytes are unsynced or the oldest unsynced
//          record is sync_interval old. publish returns at once; wait_durable or
//          publish_options::durable wait for the disk.
//   sync:  publish and publish_batch return only once their records are durable (one
//          fdatasync covers everything written meanwhile, so concurrent producers share it).
enum class durability : std::uint8_t { none, async, sync };

struct topic_config {
  topic_mode mode = topic_mode::log;
  std::uint32_t partitions = 1;
  // Bytes of ring per partition; a power of two, at least 4 KiB.
  std::size_t ring_capacity = std::size_t{1} << 20;
  // single: one producer object at a time writes the topic (plain stores, the fast path).
  // multi: any number of producers (a CAS per claim, commits in claim order; a producer
  // backs off briefly before claiming while another's claim is open, so that producers
  // outnumbering the cores do not queue up behind a descheduled one).
  producer_mode producers = producer_mode::multi;
  // Retention: records are kept while they fit the ring, and at most this many bytes
  // (0: the whole ring) and this long (0: no age limit) per partition.
  std::size_t retention_bytes = 0;
  std::chrono::nanoseconds retention_age{0};
  backpressure policy = backpressure::block;
  // Largest key + headers + value of one message (0: the largest the ring can carry).
  std::size_t max_message_size = 0;
  // Readers per partition: consumer groups plus group-less consumers (and the persister of
  // a durable topic). Each takes one slot while it holds the partition.
  std::size_t max_readers = 32;
  // Touch every page of each partition's ring when the topic is created (or opened), as
  // Aeron's pre-touch does: publishes of the first lap then take no page faults (measured
  // in kafka_bench: a fresh 32 MiB ring cost the Kafka bridge most of its time in faults).
  // Costs the creation time of writing the rings, and the rings are resident at once.
  bool prefault = false;
  // Queue mode: visibility, dead letters, delay, ordering (lanes/queue_config.hpp). A queue
  // topic needs backpressure::block and no retention (a message stays until it is acked).
  // Log topics use these settings for the queue groups that read them.
  queue_settings queue{};

  // Persistence (a bus with a data directory). A durable topic's partitions are written to
  // segment files; its ring is then a cache: consumers that fall behind it read the files,
  // producers wait only for the disk, and retention_bytes / retention_age apply to the
  // files (whole segments), not to the ring. Durable topics need backpressure::block.
  durability durable = durability::none;
  std::chrono::microseconds sync_interval{1000};      // async: longest wait for a group commit
  std::size_t sync_bytes = std::size_t{1} << 20;      // async: unsynced bytes that force one
  std::size_t segment_bytes = std::size_t{64} << 20;  // roll segments at this size
  std::chrono::seconds segment_age{7 * 24 * 3600};    // and at this age
};

// Damage that opening a data directory found and dealt with instead of refusing. Never
// silent: each one goes to bus_config::on_damage and stays listed in topic_info::damage.
struct damage_report {
  enum class kind : std::uint8_t {
    // A crash left a torn tail after the checkpoint's durable point and recovery cut it: the
    // partition now ends at from_offset. Records written after the last checkpoint (at most
    // ~100 ms of durable acknowledgements) may have been among them; recovery cannot tell.
    torn_tail,
    // quarantine_on_damage: the partition's files were damaged before their durable point;
    // its directory was moved aside for a person (detail says where) and the partition
    // starts empty at to_offset, so no offset is used twice. [from_offset, to_offset) are
    // the offsets set aside.
    quarantined,
    // quarantine_on_damage: a group's committed-offsets file did not decode; it was moved
    // aside and the group starts again by its reset policy (detail names the group).
    group_offsets_set_aside,
    // A group's committed offset was past the recovered end of a partition (records that
    // were cut): it was lowered to from_offset (the new end).
    group_offset_lowered,
    // A durable queue's acks file was damaged: a copy was kept aside (detail says where)
    // and its acks from the damage on count as not acked, so those messages are delivered
    // again (at least once; none is lost).
    acks_damaged,
  };
  kind what = kind::torn_tail;
  std::string topic;
  std::uint32_t partition = 0;
  std::uint64_t from_offset = 0;
  std::uint64_t to_offset = 0;
  std::string detail;  // for a person: files, byte positions, where things were moved
};
const char* to_string(damage_report::kind k) noexcept;

struct bus_config {
  // Empty: memory only. Otherwise a directory that the bus creates if needed and locks
  // (one process at a time); topics and their durable records are restored from it on open.
  std::string data_dir{};
  // How often the housekeeping thread applies retention by age and bytes (0: never; call
  // bus::enforce_retention yourself).
  std::chrono::milliseconds housekeeping_interval{10};
  // Damage before a partition's durable point (a flipped byte, a zeroed page or a missing
  // segment of durable records, a damaged checkpoint) makes the constructor throw
  // corrupt_log naming the file, the byte and the offsets, and changes nothing on disk, so
  // every later open refuses the same way until a person acts. With quarantine_on_damage
  // the constructor succeeds instead: the damaged partition's directory is renamed to
  // <partition>.quarantine-<ns> for a person, the partition starts empty after the highest
  // offset the damaged log used, and a damage_report says so (on_damage, describe_topic).
  // A damaged group-offsets file is treated the same way (refused, or set aside).
  bool quarantine_on_damage = false;
  // Opens the directory without writing anything to it (no recovery truncation, checkpoint,
  // segment, offsets or acks file): every topic and every durable record can be read;
  // create_topic, delete_topic, make_producer, commit and durable queue consumers fail with
  // errc::read_only. The bus also opens read-only by itself when recovery cannot write
  // because the disk is full (ENOSPC): read_only_reason() then says so.
  bool read_only = false;
  // Called from the constructor, once per damage_report (see above), before it returns.
  std::function<void(const damage_report&)> on_damage{};
};

struct topic_partition {
  std::string topic{};
  std::uint32_t partition = 0;
  friend bool operator==(const topic_partition&, const topic_partition&) = default;
};

struct group_partition_stats {
  std::string group;
  std::int64_t committed = -1;  // -1: nothing committed yet
  std::uint64_t lag = 0;        // end_offset - committed (or - log_start when none)
};

struct partition_stats {
  std::uint32_t partition = 0;
  std::uint64_t log_start_offset = 0;  // oldest retained offset
  std::uint64_t end_offset = 0;        // next offset to be written
  std::uint64_t bytes = 0;             // ring bytes held by retained records
  // Durable topics: every offset below this one is on disk (an fdatasync covered it).
  std::uint64_t durable_offset = 0;
  errc status = errc::ok;  // durable topics: the I/O error that failed the partition
  std::vector<group_partition_stats> groups;
};

struct topic_info {
  std::string name;
  topic_config config;
  std::vector<partition_stats> partitions;
  // What opening the data directory found and dealt with for this topic (damage_report).
  std::vector<damage_report> damage;
};

// Result of a publish: where the record went, or why it did not.
struct publish_result {
  errc status = errc::ok;
  std::uint32_t partition = 0;
  std::uint64_t offset = 0;
  explicit operator bool() const noexcept { return status == errc::ok; }
};

struct publish_options {
  std::optional<std::uint32_t> partition{};  // explicit partition (else key / round-robin)
  std::int64_t timestamp_ns = 0;             // 0: now (CLOCK_REALTIME)
  std::span<const header> headers{};
  // Durable topics: return only once the record is on disk (raises async to sync for this
  // publish). Errors: timeout (after the producer's max_block; the record is published),
  // or the I/O error that failed the partition.
  bool durable = false;
};
// The defaults, one constant: publish(key, value) passes its address instead of building
// a temporary on every call.
inline constexpr publish_options default_publish_options{};

// The key of a message, or none. Converts from what callers have (a string, a string view, a
// C string, std::nullopt or an optional view) and is 16 bytes, so that publish takes it in
// two registers: a larger argument travels through memory, and reloading it costs a publish
// a stalled store-to-load forward.
class message_key {
 public:
  constexpr message_key() noexcept = default;
  constexpr message_key(std::nullopt_t) noexcept {}
  constexpr message_key(std::string_view k) noexcept : data_(k.data()), size_(k.size()) {}
  constexpr message_key(const char* k) noexcept : message_key(std::string_view(k)) {}
  message_key(const std::string& k) noexcept : data_(k.data()), size_(k.size()) {}
  constexpr message_key(std::optional<std::string_view> k) noexcept {
    if (k) *this = message_key(*k);
  }
  constexpr bool has_value() const noexcept { return size_ != absent; }
  constexpr explicit operator bool() const noexcept { return has_value(); }
  // The key's bytes; empty when there is no key.
  constexpr std::string_view view() const noexcept {
    return has_value() ? std::string_view(data_, size_) : std::string_view();
  }
  constexpr std::size_t size() const noexcept { return has_value() ? size_ : 0; }

 private:
  static constexpr std::size_t absent = ~std::size_t{0};
  const char* data_ = nullptr;
  std::size_t size_ = absent;
};

// A message for publish_batch.
struct message {
  message_key key{};
  std::string_view value{};
  publish_options options{};
};

namespace detail {
struct topic_state;
struct partition_state;
struct group_state;
struct bus_state;
struct bus_access;  // tests reach the internals through it (defined by them)
struct queue_access;
}  // namespace detail

class bus;
class queue_consumer;          // lanes/queue.hpp
struct queue_consumer_config;  // lanes/queue.hpp
struct queue_group_stats;      // lanes/queue.hpp
struct bus_metrics;            // lanes/metrics.hpp

// Publishes to one topic. One thread at a time; cheap to create (make one per thread).
class producer {
 public:
  producer() noexcept = default;
  producer(producer&&) noexcept;
  producer& operator=(producer&&) noexcept;
  ~producer();

  // Publishes one message, waiting at most max_block when the partition is full
  // (backpressure::block). Errors: closed, unknown_topic (deleted), message_too_large,
  // invalid_partition, timeout. Never allocates.
  publish_result publish(message_key key, std::string_view value,
                         const publish_options& options = default_publish_options) noexcept;

  // As publish but never waits: errc::full when the partition has no room right now, and
  // no durable acknowledgement (use wait_durable).
  publish_result try_publish(message_key key, std::string_view value,
                             const publish_options& options = default_publish_options) noexcept;

  // Publishes each message in order; results[i] tells what happened to messages[i].
  // Stops at the first failure and returns the number published. On a single-producer
  // topic the records of one call become visible together, with one store per partition
  // (Kafka's producer batches, the Disruptor's batch commit); blocks as publish does.
  // Records without a timestamp of their own get the time of the call.
  std::size_t publish_batch(std::span<const message> messages,
                            std::span<publish_result> results) noexcept;

  // Zero-copy: reserves room for a value of value_size bytes in the target partition. Write
  // the value into claim.value, then commit (returns offset) or abort. At most one claim
  // may be open per producer: while one is, try_claim, publish and try_publish return
  // errc::producer_busy. Committing a spent claim returns errc::invalid_argument.
  struct claim {
    errc status = errc::ok;
    std::span<std::byte> value;
    std::uint32_t partition = 0;
    explicit operator bool() const noexcept { return status == errc::ok; }

   private:
    friend class producer;
    frame_claim frame;
  };
  [[nodiscard]] claim try_claim(message_key key, std::size_t value_size,
                                const publish_options& options = default_publish_options) noexcept;
  publish_result commit(claim& c) noexcept;
  void abort(claim& c) noexcept;

  // Durable topics: waits until `offset` of `partition`, and with it every lower offset of
  // that partition, is on disk (durable_offset() > offset). Returns ok, timeout, wrong_mode
  // (the topic is not durable), closed, or the I/O error that failed it.
  errc wait_durable(std::uint32_t partition, std::uint64_t offset,
                    std::chrono::nanoseconds timeout) noexcept;
  // Durable topics: every offset of `partition` below the returned one is on disk. 0 for a
  // memory topic or a partition out of range. Any thread; never blocks, never wakes the
  // persister (wait_durable does both), so it suits a check on every batch.
  [[nodiscard]] std::uint64_t durable_offset(std::uint32_t partition) const noexcept;

  // How long publish waits for room (default 60 s, as Kafka's max.block.ms).
  void set_max_block(std::chrono::nanoseconds d) noexcept { max_block_ = d; }
  const std::string& topic() const noexcept;
  explicit operator bool() const noexcept { return topic_ != nullptr; }

 private:
  friend class bus;
  friend struct detail::queue_access;  // dead letters
  explicit producer(std::shared_ptr<detail::topic_state> t) noexcept;
  publish_result publish_impl(message_key key, std::string_view value,
                              const publish_options& options, bool wait, bool ack) noexcept;
  // Everything publish_impl's register-only fast path leaves to it (headers, a full ring, a
  // closed topic, errors). now_ns: the timestamp already read (0: none).
  publish_result publish_slow(message_key key, std::string_view value,
                              const publish_options& options, bool wait, bool ack,
                              std::int64_t now_ns) noexcept;
  std::uint32_t route(message_key key, const publish_options& o) const noexcept;
  // now_ns: the timestamp for a record without one (0: read the clock).
  void claim_record(message_key key, std::size_t value_size, const publish_options& o, claim& c,
                    std::int64_t now_ns = 0) noexcept;
  void claim_slow(detail::partition_state& p, std::size_t record, claim& c) noexcept;
  publish_result commit_record(claim& c) noexcept;
  errc wait_durable_after_publish(std::uint32_t partition, std::uint64_t offset) noexcept;
  void wait_durable_batch(std::span<const message> messages,
                          std::span<publish_result> results) noexcept;
  bool wait_for_room(message_key key, std::size_t value_size, const publish_options& o,
                     claim& c) noexcept;

  std::shared_ptr<detail::topic_state> topic_;
  partitioner partitioner_{1};
  std::chrono::nanoseconds max_block_ = std::chrono::seconds(60);
  bool claim_open_ = false;  // a zero-copy claim is open (try_claim .. commit/abort)
};

struct consumer_config {
  // Consumer group; empty for a group-less consumer that assigns partitions itself.
  std::string group{};
  assignment_strategy strategy = assignment_strategy::range;
  offset_reset reset = offset_reset::latest;
  bool auto_commit = true;
  std::chrono::milliseconds auto_commit_interval{5000};
  std::size_t max_poll_records = 500;
  // Spin instead of parking while poll waits: lowest latency, burns a core.
  bool busy_spin = false;
  // Durable topics: hand out only records that are on disk (the default, as Kafka's
  // consumers read only up to the high watermark): a record this consumer saw is never taken
  // back by a crash, and one whose publish failed (no_space, io_error) is never seen.
  // false: also records still on their way to the disk (about one sync interval plus one
  // fdatasync sooner; after a crash such a record may be gone and its offset reused).
  bool read_durable_only = true;
  // Rebalance callbacks, called from inside poll on the consumer's thread.
  std::function<void(std::span<const topic_partition>)> on_assigned{};
  std::function<void(std::span<const topic_partition>)> on_revoked{};
  // Called from inside poll when the log lost records before this consumer read them
  // (retention, in memory or on disk, or an overwrite topic's producer passed its position)
  // and the reset policy moved it from `from` to `to` (Kafka logs "Resetting offset"; here
  // the application hears it). With reset error, poll returns offset_out_of_range instead.
  std::function<void(const topic_partition& tp, std::uint64_t from, std::uint64_t to)>
      on_offset_reset{};
};

// Why a partition's records could not be read (poll_result::error).
struct read_error {
  std::string_view topic{};
  std::uint32_t partition = 0;
  std::uint64_t offset = 0;   // the first offset that could not be read
  std::uint64_t skip_to = 0;  // the first offset after the damage a seek can resume at
  std::string_view detail{};  // for a person: file, byte position, what is wrong, what to do
};

struct poll_result {
  errc status = errc::ok;  // ok (records may still be empty on timeout), closed,
                           // offset_out_of_range (reset policy error), too_many_readers
                           // (the group gave this member a partition that has no reader
                           // slot left, see topic_config::max_readers; retried each poll,
                           // records of the other partitions still come), corrupt_batch
                           // (a durable partition's files are damaged at this consumer's
                           // position: see `error`; poll returns at once, hands out nothing
                           // past the damage, and says so again at every poll until the
                           // consumer seeks past it, e.g. to error.skip_to)
  std::span<const record_view> records;
  read_error error{};  // status corrupt_batch: where (views valid until the next poll)
};

// Reads records. One thread at a time. Record views stay valid until the next poll or close.
class consumer {
 public:
  consumer() noexcept;
  consumer(consumer&&) noexcept;
  consumer& operator=(consumer&&) noexcept;
  ~consumer();

  // Group consumers: join the group for these topics (rebalances the group).
  [[nodiscard]] errc subscribe(std::span<const std::string> topics);
  [[nodiscard]] errc subscribe(std::initializer_list<std::string_view> topics);
  // Group-less consumers: read exactly these partitions, from their committed offsets
  // (when a group name is set) or from the reset policy.
  [[nodiscard]] errc assign(std::span<const topic_partition> partitions);

  // Up to max_poll_records records from the assigned partitions, waiting at most `timeout`
  // when there are none. Applies pending rebalances first. No allocation, no lock on the
  // fast path.
  poll_result poll(std::chrono::nanoseconds timeout = std::chrono::nanoseconds::zero()) noexcept;

  // Commits, for the group, position(tp) of every partition this consumer owns: the offset
  // after the last record poll returned (not yet past the one a poll is still showing).
  // Durable topics: when it returns ok the offsets are on disk (the group's offsets file was
  // written, fdatasynced and renamed, its directory fsynced), so a crash does not undo the
  // commit; memory topics: they live as long as the bus. Errors: invalid_group (no group),
  // closed, read_only, or the file error (no_space, io_error, file_error), in which case
  // the previous committed offsets stay on disk. Cold (allocates, writes a file).
  errc commit();
  // Commits an explicit offset (the next record to read) for one partition; as commit().
  errc commit(const topic_partition& tp, std::uint64_t offset);
  // Last committed offset of the group for a partition, or -1.
  std::int64_t committed(const topic_partition& tp) const;

  errc seek(const topic_partition& tp, std::uint64_t offset);
  errc seek_to_beginning(const topic_partition& tp);
  errc seek_to_end(const topic_partition& tp);
  // First record whose timestamp is >= timestamp_ns (end when none).
  errc seek_to_timestamp(const topic_partition& tp, std::int64_t timestamp_ns);

  errc pause(const topic_partition& tp);
  errc resume(const topic_partition& tp);

  // Next offset this consumer will read, or -1 when the partition is not assigned.
  std::int64_t position(const topic_partition& tp) const;
  // end_offset - position, or -1 when the partition is not assigned.
  std::int64_t lag(const topic_partition& tp) const;
  // Offsets this consumer's position jumped over on the partition since it was assigned,
  // because the records were gone and the reset policy moved it (see on_offset_reset);
  // -1 when the partition is not assigned. Seeks do not count.
  std::int64_t skipped(const topic_partition& tp) const;
  // Partitions currently owned (assigned and taken over from any previous owner).
  std::vector<topic_partition> assignment() const;
  // Rebalance generation this consumer has applied (group consumers).
  std::uint64_t generation() const noexcept;

  // Leaves the group (after committing, when auto-commit is on) and releases partitions.
  void close() noexcept;
  explicit operator bool() const noexcept { return impl_ != nullptr; }

  struct impl;

 private:
  friend class bus;
  explicit consumer(std::unique_ptr<impl> p) noexcept;
  std::unique_ptr<impl> impl_;
};

// A topic's configuration file (<data_dir>/<topic>/topic.conf) read without opening a bus,
// as `lanes verify` does: false when it does not decode or is not a usable configuration.
bool parse_topic_config(std::string_view topic, std::string_view text, topic_config& out);

class bus {
 public:
  // Opens a bus. Memory only when config.data_dir is empty; otherwise creates or locks the
  // directory and restores its topics, durable records and committed group offsets.
  // Throws std::system_error, whose what() names the file and what is wrong:
  //   data_dir_locked       another process has the directory open;
  //   file_error            cannot create, list, read or write it; a symbolic link where a
  //                         lanes file or directory should be (lanes never follows them);
  //   no_space, io_error    the disk is full or failing (a full disk at recovery opens
  //                         read-only instead, see bus_config::read_only);
  //   invalid_config        an unreadable topic.conf;
  //   corrupt_log           damage before a partition's durable point, or a damaged
  //                         group-offsets file (not with quarantine_on_damage: see there);
  //   capacity_too_small    a durable queue's unacked messages no longer fit its ring;
  //   io_uring_unavailable  the kernel refuses io_uring.
  // A refused open changes nothing on disk.
  explicit bus(bus_config config = {});
  ~bus();
  bus(const bus&) = delete;
  bus& operator=(const bus&) = delete;

  // Topic names: 1..249 characters of [A-Za-z0-9._-], not "." or "..". Group names (log
  // and queue groups): 1..125 characters of the same (a group's committed offsets are a
  // file named by the group in hex); anything else is errc::invalid_group.
  [[nodiscard]] errc create_topic(std::string_view name, const topic_config& config);
  [[nodiscard]] errc delete_topic(std::string_view name);
  std::vector<std::string> list_topics() const;
  [[nodiscard]] std::optional<topic_info> describe_topic(std::string_view name) const;

  // A producer for one topic. status: unknown_topic, closed, producer_busy (single-producer
  // topic that already has one).
  [[nodiscard]] producer make_producer(std::string_view topic, errc* status = nullptr);
  // A consumer; join a group with subscribe() or pick partitions with assign().
  [[nodiscard]] consumer make_consumer(consumer_config config, errc* status = nullptr);

  // A queue consumer (lanes/queue.hpp): of a queue topic, or in a queue group (share group)
  // of a log topic. status: closed, unknown_topic, invalid_group, wrong_mode, invalid_config,
  // too_many_readers.
  [[nodiscard]] queue_consumer make_queue_consumer(const queue_consumer_config& config,
                                                   errc* status = nullptr);
  // Ready, in flight, delayed, acked, redelivered, dead-lettered and bytes held per partition
  // of a queue (group "" of a queue topic) or of a log topic's queue group. May be stale.
  [[nodiscard]] std::optional<queue_group_stats> describe_queue(std::string_view topic,
                                                                std::string_view group = {}) const;

  // Everything a monitoring system watches, now (lanes/metrics.hpp): per partition its
  // offsets, bytes and records in and out and the persister's work; per consumer group its
  // members, rebalances and lag; every queue's counts. Any thread; takes the bus's and the
  // groups' mutexes briefly and allocates; never blocks publish or poll. lanes::prometheus
  // serves it to Prometheus.
  [[nodiscard]] bus_metrics metrics() const;

  // Durable acknowledgements as callbacks: fn(partition, durable_offset, status) runs on the
  // persister thread each time a partition of `topic` makes more records durable (every
  // offset below durable_offset is on disk), and once with the error if its log fails.
  // Keep it short and do not call back into the bus from it; an empty fn removes it.
  // Errors: unknown_topic, wrong_mode (not a durable topic).
  using durable_callback = std::function<void(std::uint32_t, std::uint64_t, errc)>;
  [[nodiscard]] errc on_durable(std::string_view topic, durable_callback fn);

  // Where the time goes on the way to the disk: fn(partition, written_offset, durable_offset)
  // runs on the persister thread each time either moves (every offset below written_offset
  // had a write completion with its full length; below durable_offset, also a successful
  // fdatasync after it), before consumers of durable records are woken. Same rules as
  // on_durable; an empty fn removes it. `lanes perf` uses it for its latency split.
  using persist_progress_callback =
      std::function<void(std::uint32_t, std::uint64_t, std::uint64_t)>;
  [[nodiscard]] errc on_persist_progress(std::string_view topic, persist_progress_callback fn);

  // Applies retention by bytes and age to every partition now; for queues, also gives back
  // messages whose visibility timeout passed and moves the log start to the acked prefix.
  void enforce_retention();

  // Stops everything: publish and poll return errc::closed, every waiter wakes.
  void close() noexcept;
  bool is_closed() const noexcept;

  // Whether the data directory was opened read-only (bus_config::read_only, or by itself
  // because the disk was full), and why (empty when it was not).
  bool is_read_only() const noexcept;
  std::string read_only_reason() const;

  static bool valid_topic_name(std::string_view name) noexcept;
  static bool valid_group_name(std::string_view name) noexcept;
  static constexpr std::size_t max_group_name_size = 125;

 private:
  friend struct detail::bus_access;
  void open_data_dir();  // modes/data_dir.cpp
  std::shared_ptr<detail::bus_state> state_;
};

}  // namespace lanes
