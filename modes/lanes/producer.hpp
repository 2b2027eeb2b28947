// lanes/producer.hpp: publishing to a topic: a producer (publish, publish_batch, the
// zero-copy try_claim/commit, durable waits), its options and results.
//
// Threads: a producer is used by one thread at a time (make one per thread). publish does not
// lock or allocate.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "lanes/bus_fwd.hpp"
#include "lanes/error.hpp"
#include "lanes/partitioner.hpp"
#include "lanes/record.hpp"

namespace lanes {

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

}  // namespace lanes
