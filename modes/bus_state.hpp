// modes/bus_state.hpp: the bus's internal state (not installed).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lanes/bus.hpp"
#include "lanes/frame_ring.hpp"
#include "lanes/platform.hpp"
#include "lanes/wait.hpp"
#include "persist.hpp"

namespace lanes::detail {

struct topic_state;
struct queue_group;  // modes/queue_state.hpp
// Queue mode hooks (modes/queue_partition.cpp, queue_delivery.cpp): checks a topic's queue settings
// (name: the topic's); opens a queue topic's queue (dead_letters: its dead-letter topic, if any);
// gives back expired messages and moves queue topics' log starts to their ack floors.
errc validate_queue(std::string_view name, const topic_config& c) noexcept;
// Whether a topic configuration is usable (create_topic, and topic.conf on open).
errc validate(std::string_view name, const topic_config& c);
errc open_queue(topic_state& t, std::shared_ptr<topic_state> dead_letters);
void queue_housekeeping(topic_state& t) noexcept;

// One partition of a log topic: a frame ring whose frames are records, an offset index, and
// the log start (the retention reader: a reader of the ring that the partition itself moves,
// so that nothing at or after the log start can be overwritten).
//
// Who writes what:
//   - producers: frames; in commit order (frame_ring::commit's in_turn): the record's offset,
//     the index entry and end_offset.
//   - whoever holds `mu`: the log start (retention, make_room, seek). Seeks hold `mu` too, so
//     a position found for an offset >= log_start_offset stays valid while they use it.
struct partition_state {
  partition_state(const topic_config& c, std::uint32_t id);

  // Position of the record `offset`, log_start_offset <= offset <= end_offset. Caller holds
  // mu. For offset == end_offset it is where the next record will go (maybe after padding).
  std::uint64_t position_of(std::uint64_t offset) const noexcept;

  // Drops the oldest records while keep_going(record_header) says so and they lie before
  // `limit` (a position). Caller holds mu. Returns the number dropped.
  template <class Pred>
  std::uint64_t drop_oldest(std::uint64_t limit, Pred&& keep_going) noexcept;

  // Frees room for a producer: drops retained records that every reader has released,
  // about an eighth of the ring at a time. Returns true if the log start moved.
  bool make_room(std::uint64_t want_bytes) noexcept;

  // Moves the log start to the first record that starts at or after `target`, but not past
  // `limit` (a frame boundary, at most the published position). Found by binary search on
  // the offset index, so its cost does not grow with the number of records dropped. Caller
  // holds mu. Returns true if the log start moved.
  bool drop_before(std::uint64_t target, std::uint64_t limit) noexcept;
  // Publishes a new log start (position and offset). Caller holds mu.
  void set_log_start(std::uint64_t position, std::uint64_t offset) noexcept;

  // Retention by bytes, and by age at `now_realtime_ns` (the topic's realtime_now). Passes
  // readers (they get offset_out_of_range).
  void enforce_retention(std::size_t retention_bytes, std::chrono::nanoseconds age,
                         std::int64_t now_realtime_ns) noexcept;

  std::uint64_t bytes_held() const noexcept {
    return ring.published_position() - log_start_position.load(std::memory_order_acquire);
  }

  // Durable topics: the first offset that is kept only in the ring (older ones are in the
  // files). Sets end and log start; before any producer or consumer exists.
  void start_at(std::uint64_t offset) noexcept {
    end_offset.store(offset, std::memory_order_release);
    log_start_offset.store(offset, std::memory_order_release);
    opened_at = offset;
  }
  bool durable() const noexcept { return persist != nullptr; }
  // Durable topics: the oldest offset still in the files (else the ring's log start).
  std::uint64_t first_offset() const noexcept {
    return persist ? persist->log->log_start_offset()
                   : log_start_offset.load(std::memory_order_acquire);
  }

  const std::uint32_t id;
  frame_ring ring;
  frame_ring::reader retention;                         // its cursor is the log start position
  std::unique_ptr<std::atomic<std::uint32_t>[]> index;  // offset & index_mask -> ring offset
  const std::uint64_t index_mask;
  // Durable topics: ok, or the I/O error that failed the partition (producers read it on
  // every publish; written once, by the persister).
  std::atomic<errc> io_status{errc::ok};
  std::unique_ptr<partition_persistence> persist;  // null: memory only
  // Durable topics: below it every offset is on disk (the log's own watermark).
  std::uint64_t durable_offset() const noexcept {
    return persist ? persist->log->durable_offset() : 0;
  }
  // The status of the partition's log, as producers see it: set by the persister or by a
  // durability waiter that saw the log fail, whichever comes first.
  void fail(errc e) noexcept {
    errc ok = errc::ok;
    if (io_status.compare_exchange_strong(ok, e, std::memory_order_acq_rel)) space.notify_all();
  }

  // The next offset: written by producers in commit order on every publish (single producer:
  // also read at claim), read by stats, lag and seeks. Its own line.
  alignas(cache_line_size) std::atomic<std::uint64_t> end_offset{0};
  // Record bytes published (metrics): written in commit order next to end_offset, on its line.
  std::atomic<std::uint64_t> bytes_in{0};
  // Written rarely (whoever holds mu), read by consumers on every poll: its own line, so
  // that polls do not miss on the line producers keep writing.
  alignas(cache_line_size) std::atomic<std::uint64_t> log_start_offset{0};
  std::atomic<std::uint64_t> log_start_position{0};
  std::uint64_t opened_at = 0;  // end offset when the bus opened it (records_in counts after)
  // Records and bytes handed out by log consumers' polls (one add per poll and partition).
  alignas(cache_line_size) std::atomic<std::uint64_t> records_out{0};
  std::atomic<std::uint64_t> bytes_out{0};
  std::mutex mu;
  park space;  // producers waiting for room (block)
};

// Committed offsets and current owners of one topic's partitions for one group.
struct group_offsets {
  explicit group_offsets(std::uint32_t partitions)
      : committed(partitions), owner(partitions), parked(partitions) {
    for (auto& c : committed) c.store(-1, std::memory_order_relaxed);
  }
  std::vector<std::atomic<std::int64_t>> committed;  // -1: none
  std::vector<std::atomic<std::uint64_t>> owner;     // member id, 0: free
  // The group holds a partition (its unread records gate producers, backpressure::block)
  // while any member is assigned it, owned or not yet: a partition between two owners (the
  // old one let go, the new one has not polled yet) has the old owner's reader parked here,
  // and one that a member is assigned before anyone owns it (the member has not polled yet)
  // gets a reader parked here by the rebalance (at the committed offset, or at the published
  // end when the group has none in the log). The next owner takes the parked reader over;
  // the last member to stop reading a topic closes them.
  // Cold path, under parked_mu; parking and closing also under the group's mu.
  std::mutex parked_mu;
  std::vector<frame_ring::reader> parked;
};

struct topic_state {
  // clock: bus_config::clock (null: the system's clocks).
  topic_state(std::string n, const topic_config& c, const clock_source* clock);

  std::shared_ptr<group_offsets> offsets_for(const std::string& group);

  const std::string name;
  const topic_config config;
  const clock_source* const clock;  // bus_config::clock; null: the system's clocks
  const std::size_t max_message;    // key + headers + value

  // The time the bus decides by (lanes/bus_clock.hpp): visibility timeouts and delays
  // (steady), retention by age (realtime).
  std::int64_t steady_now() const noexcept {
    return clock == nullptr ? steady_ns() : clock->steady_ns();
  }
  std::int64_t realtime_now() const noexcept {
    return clock == nullptr ? realtime_ns() : clock->realtime_ns();
  }
  std::vector<std::unique_ptr<partition_state>> partitions;

  alignas(cache_line_size) std::atomic<bool> closed{false};
  std::atomic<bool> deleted{false};
  std::atomic<std::uint32_t> producers{0};
  park data;  // consumers waiting for records
  // Durable topics: consumers that read durable records only wait here; the persister
  // notifies it when a partition's durable offset moves (or its log fails).
  park durable_data;
  // Durable topics: the persister's wake-up, for the publish path (raw; owned by wakeup).
  persist_wakeup* persister = nullptr;

  mutable std::mutex groups_mu;
  std::map<std::string, std::shared_ptr<group_offsets>, std::less<>> groups;
  // Queue groups reading this topic, under groups_mu (a queue topic: its queue, named "").
  std::map<std::string, std::shared_ptr<queue_group>, std::less<>> queue_groups;

  // Durable topics: <data_dir>/<name>, and the persister's wake-up.
  std::filesystem::path dir;
  std::shared_ptr<persist_wakeup> wakeup;
  bus::durable_callback on_durable;  // under the bus's persist_mu (the persister calls it)
  bus::persist_progress_callback on_progress;  // likewise
  bool durable() const noexcept { return wakeup != nullptr; }
};

struct member_info {
  std::uint64_t id;
  std::vector<std::string> topics;
  std::vector<topic_partition> target;
};

struct group_state {
  explicit group_state(std::string n) : name(std::move(n)) {}
  void rebalance_locked(assignment_strategy strategy,
                        const std::map<std::string, std::uint32_t>& partition_counts);

  const std::string name;
  std::mutex mu;
  std::atomic<std::uint64_t> generation{0};
  std::vector<member_info> members;  // in join order
  std::atomic<std::uint64_t> next_member{1};
};

struct bus_state {
  explicit bus_state(bus_config c) : config(std::move(c)) {}

  std::shared_ptr<topic_state> find(std::string_view name) const;
  // The housekeeper: a queue's visibility timeouts and ring retention every
  // housekeeping_interval while some topic has a queue group or retention; otherwise it
  // sleeps until wake_housekeeper() says that may have changed (or close).
  void housekeeping_loop();
  bool housekeeping_wanted() const;
  void wake_housekeeper();

  const bus_config config;
  mutable std::mutex mu;
  std::map<std::string, std::shared_ptr<topic_state>, std::less<>> topics;
  std::map<std::string, std::shared_ptr<group_state>, std::less<>> groups;
  std::atomic<bool> closed{false};

  std::mutex hk_mu;
  std::condition_variable hk_cv;
  std::uint64_t hk_changes = 0;  // under hk_mu: topics or queue groups were added
  std::thread housekeeper;

  // Persistence (data_dir set): the lock, the persister and the topics it serves.
  int lock_fd = -1;
  // Opened read-only (bus_config::read_only or a full disk): no persister, no writes.
  std::atomic<bool> read_only{false};
  std::string read_only_reason;       // under mu once open
  std::vector<damage_report> damage;  // found at open (written before any other thread)
  std::shared_ptr<persist_wakeup> wakeup;
  std::mutex persist_mu;  // held by the persister while it pumps; guards durable_topics
  std::vector<std::shared_ptr<topic_state>> durable_topics;
  std::atomic<bool> persist_stop{false};
  std::thread persister;
  void persister_loop();
  // The checkpointer: writes moved durable points every checkpoint_interval (persist.cpp).
  static constexpr std::chrono::milliseconds checkpoint_interval{100};
  std::mutex cp_mu;
  std::condition_variable cp_cv;
  std::thread checkpointer;
  void checkpointer_loop();
  void stop_persister() noexcept;
};

}  // namespace lanes::detail
