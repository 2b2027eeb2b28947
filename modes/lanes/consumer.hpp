// lanes/consumer.hpp: reading a topic by offset (log mode): a consumer, alone on the
// partitions it assigns itself or as a member of a consumer group, and its configuration.
//
// Threads: a consumer is used by one thread at a time (make one per thread). poll does not
// lock or allocate.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lanes/bus_fwd.hpp"
#include "lanes/error.hpp"
#include "lanes/handle.hpp"
#include "lanes/record.hpp"
#include "lanes/topic_info.hpp"

namespace lanes {

// Where a consumer starts when it has no committed offset or its offset left the log
// (Kafka's auto.offset.reset).
enum class offset_reset : std::uint8_t { earliest, latest, error };

enum class assignment_strategy : std::uint8_t { range, round_robin };

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
class consumer final : public detail::closing_handle<detail::consumer_state> {
 public:
  using impl = detail::consumer_state;
  consumer() noexcept = default;

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

 private:
  friend class bus;
  using closing_handle::closing_handle;
};

}  // namespace lanes
