// modes/consumer_impl.hpp (internal): a consumer's state, and its orchestration split by
// concept: consumer.cpp (poll: the read path over the cursors), consumer_group.cpp
// (assignment, group membership, rebalancing), consumer_offsets.cpp (positions, seeks,
// commits). The read path itself is the cursor types: ring_cursor, copying_cursor,
// disk_cursor (one file each), chosen when a partition is positioned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bus_state.hpp"
#include "disk_cursor.hpp"
#include "poll_batch.hpp"

namespace lanes {

struct detail::consumer_state {
  using disk_cursor = detail::disk_cursor;

  struct part {
    std::shared_ptr<detail::topic_state> topic;
    detail::partition_state* p = nullptr;
    std::shared_ptr<detail::group_offsets> offsets;  // null without a group
    frame_ring::reader reader;
    std::uint64_t next_offset = 0;
    bool paused = false;
    // backpressure::overwrite: the reader gates the producer only while pinned, and poll
    // copies records out of the ring (the producer may reuse their bytes at any time).
    bool overwrite = false;
    // Where poll reads, chosen when the partition is positioned (position_locked): the ring
    // (ring_cursor when !overwrite, copying_cursor when overwrite), or, for durable topics
    // whose next offset is older than the ring's log start, the segment files (disk_cursor)
    // until they reach the ring.
    enum class read_path : std::uint8_t { ring, copying, disk };
    read_path path = read_path::ring;
    bool dirty = false;         // read from the ring (gating reader) since the last release
    bool needs_seek = false;    // no valid offset and reset policy is error
    std::uint64_t skipped = 0;  // offsets jumped over by the reset policy (see overrun)
    enum class seek_kind : std::uint8_t { none, offset, beginning, end, timestamp };
    seek_kind pending = seek_kind::none;
    std::int64_t pending_value = 0;
    std::unique_ptr<disk_cursor> disk;  // durable topics, while reading the files
  };

  std::shared_ptr<detail::bus_state> bus;
  consumer_config cfg;
  std::shared_ptr<detail::group_state> group;
  std::uint64_t member_id = 0;
  std::uint64_t applied_generation = 0;
  std::vector<std::string> subscribed;
  std::vector<part> parts;
  std::vector<topic_partition> pending;  // assigned by the group, previous owner not gone yet
  std::vector<record_view> batch;
  std::vector<std::byte> arena;  // copies of records from overwrite topics, per poll
  std::uint64_t poll_seq = 0;    // polls so far (disk_cursor::used_in)
  read_error error{};            // this poll: the damage a partition met (corrupt_batch)
  std::string error_text;        // what error.detail points to
  std::size_t rr = 0;
  errc open_error = errc::ok;  // a partition the group gave us could not be opened
  wait_clock::time_point next_auto_commit{};
  bool closed = false;

  part* find(const topic_partition& tp) {
    for (part& a : parts) {
      if (a.p->id == tp.partition && a.topic->name == tp.topic) return &a;
    }
    return nullptr;
  }
  const part* find(const topic_partition& tp) const {
    return const_cast<consumer_state*>(this)->find(tp);
  }

  std::map<std::string, std::uint32_t> partition_counts_locked() const;

  // Where a newly opened partition starts. Caller holds p.mu.
  errc start_offset(part& a, std::uint64_t& out);

  // Moves a partition's reader to `offset` (checked against the log). Caller holds p.mu.
  errc position_locked(part& a, std::uint64_t offset);

  errc open(std::shared_ptr<detail::topic_state> t, std::uint32_t pid);

  // park: another member of the group is to own the partition next (see group_offsets).
  void release_part(part& a, bool commit_it, bool park = false);

  // Whether some member of the group has `tp` in its target. Caller holds group->mu.
  bool targeted_locked(const topic_partition& tp) const;

  // A reader for the group on a partition that none of its members owns: at the group's
  // committed offset while that is still in the log, else at the published end (the group
  // has seen nothing after it). Empty when the partition has no reader slot left (the first
  // owner's open then reports too_many_readers).
  static frame_ring::reader group_reader(detail::partition_state& p,
                                         const detail::group_offsets& offs);

  // Brings the group's hold on these topics in line with the assignment just computed (see
  // group_offsets): a partition that some member is assigned but that nobody owns or has
  // parked gets a parked reader now, so that the producer waits for the group from the
  // moment a member is assigned the partition, not from that member's first poll; a partition
  // that no member is assigned any more is let go. Caller holds bus->mu and group->mu.
  void hold_locked(std::span<const std::string> topics);

  void apply_rebalance();

  // Durable topics: the first record in the files, before offset `below`, whose timestamp
  // is >= ts. Cold: reads batches, skipping those whose newest record is older.
  static bool disk_offset_for_time(const detail::partition_state& p, std::uint64_t below,
                                   std::int64_t ts, std::uint64_t& out);

  // The offset a pending seek leads to now (the end when none). Caller holds p.mu.
  static std::uint64_t seek_target_locked(const part& a);

  void apply_seek(part& a);

  errc commit_positions();

  errc store_offsets(const detail::topic_state& t, const detail::group_offsets& o) const;

  // The partition's log start passed this consumer's cursor. If only padding went (the
  // next record is still there), re-position on it; else follow the reset policy.
  // The jump is counted and reported (on_offset_reset), never silent.
  void overrun(part& a);

  // Overwrite policy and durable topics, in the ring: records copied out (copying_cursor).
  void fill_copying(part& a, detail::poll_batch& out, std::size_t& arena_used);

  // Durable topics: records older than the ring, from the segment files (disk_cursor).
  // Returns to the ring once it reaches the ring's start. Returns ok, or corrupt_batch when
  // the files are damaged at this consumer's position (read_error describes it; nothing past
  // the damage is handed out).
  errc fill_from_disk(part& a, detail::poll_batch& out);

  // Cold: a batch with a good CRC whose frames or records do not fit at a's position (the
  // rest of that batch is skipped by seeking to `skip_to`, the next batch).
  void bad_record(const part& a, std::uint64_t skip_to);

  // Cold: a damaged batch at a's position. Says where, once per poll, for a person.
  void report_damage(const part& a, const io::read_result& r);

  void set_error(const part& a, std::uint64_t offset, std::uint64_t skip_to,
                 const std::string& what);

  // Adds the records a partition handed out in one fill (batch[first, n)) to its out
  // counters when it goes out of scope: one add per poll and partition.
  struct out_count {
    detail::partition_state& p;
    const std::vector<record_view>& batch;
    const std::size_t first;
    const std::size_t& n;
    ~out_count() {
      if (n == first) return;
      std::uint64_t bytes = 0;
      for (std::size_t i = first; i < n; ++i) {
        const record_view& r = batch[i];
        bytes += sizeof(record_header) + r.key.size() + r.headers.encoded_bytes() + r.value.size();
      }
      p.records_out.fetch_add(n - first, std::memory_order_relaxed);
      p.bytes_out.fetch_add(bytes, std::memory_order_relaxed);
    }
  };

  // Reads up to max_poll_records. Returns offset_out_of_range when a partition overran with
  // reset policy error (its records are withheld until a seek).
  errc fill(std::size_t& n);

  // Whether a partition has something fill() would hand out (or a seek to apply).
  bool has_data() const noexcept;

  bool durable_only(const part& a) const noexcept {
    return cfg.read_durable_only && a.p->durable();
  }

  // Where poll sleeps: on the durable offset when every partition reads durable records
  // only (the persister wakes it), else on publishes (producers wake it).
  park& wait_spot() noexcept;

  bool rebalance_due() const noexcept {
    return group && (group->generation.load(std::memory_order_acquire) != applied_generation ||
                     !pending.empty());
  }

  void leave();
};

}  // namespace lanes
