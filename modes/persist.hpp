// modes/persist.hpp: how durable topics reach the disk (internal, not installed).
//
// A bus opened with a data directory runs one persister thread. For every partition of a
// durable topic it owns an io::partition_log and a gating reader of the partition's ring:
//
//   publish -> ring (committed frames) -> persister: appends [appended, published) to the
//   log straight from ring memory (a wrap gives two iovecs) -> write completions: the
//   reader releases the written frames (ring space is reused only after that) -> fdatasync
//   completions (group commit, io/) -> durable_offset, durability waiters.
//
// The ring is a cache of the log: consumers of a durable topic do not gate producers; one
// that falls behind the ring reads the segment files (persist_read) and then returns to
// the ring without a gap. Durable queue topics are the exception: their queue hands out
// views into the ring, so its ack floor gates producers, and so does the durable ack floor
// (queue_acks below): everything not acked on disk stays in the ring.
//
// On disk, besides io/'s segment files (io/FORMAT.md):
//   <data_dir>/.lock                         flock'ed by the process that has the bus open
//   <data_dir>/<topic>/topic.conf            the topic_config, key=value lines
//   <data_dir>/<topic>/offsets/<group hex>   committed offsets of a group (io/FORMAT.md)
// Each is written to a temporary file, fsynced, renamed, and its directory fsynced
// (io::write_file_atomically).
//   <data_dir>/<topic>/<partition>/acks      durable queue topics: the queue's acks
//                                            (io/FORMAT.md, modes/queue_acks.cpp)
#pragma once

#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lanes/acks_file.hpp"
#include "lanes/bus.hpp"
#include "lanes/frame_ring.hpp"
#include "lanes/partition_log.hpp"
#include "lanes/wait.hpp"
#include "topic_conf.hpp"

namespace lanes::detail {

struct topic_state;
struct partition_state;
struct bus_state;

// Where the persister sleeps, and how others wake it. Shared by the bus and its topics, so
// that a producer that outlives the bus still has something to notify.
//
// The persister sleeps in poll() on one eventfd that three things signal:
//   - every io_uring completion of every partition log (registered eventfd, io/);
//   - a publish to a durable topic, but only while the persister is idle (`idle` set):
//     notify() costs a publish a compiler barrier and one relaxed load otherwise, as
//     park::notify_all does, with the same handshake (light barrier here, heavy barrier on
//     the sleeping side);
//   - kick(): a durability waiter or an acker wants a sync now, a topic was added, close.
// So an idle bus sleeps until something happens or a timer is due, and the first publish
// after idle is picked up at once.

struct persist_wakeup {
  persist_wakeup();
  ~persist_wakeup();
  persist_wakeup(const persist_wakeup&) = delete;
  persist_wakeup& operator=(const persist_wakeup&) = delete;

  // Any thread: wakes the persister now (and counts, so that it does not miss it).
  void kick() noexcept {
    kicks.fetch_add(1, std::memory_order_release);  // pairs with the acquire in the loop
    signal();
  }
  // A producer found a durable ring full: the persister may sleep until an fdatasync in
  // flight completes (tens of ms for a large group) and write nothing meanwhile. Kicks it
  // once until it runs its next pass (it clears room_wanted first), so a producer that
  // retries, try_publish in a loop or publish waiting for room, costs a load per retry.
  void want_room() noexcept {
    if (room_wanted.load(std::memory_order_relaxed) == 0 &&
        room_wanted.exchange(1, std::memory_order_acq_rel) == 0) {
      kick();
    }
  }
  // Publish hot path: wakes the persister only when it sleeps idle. (N1) pairs with (S1).
  [[gnu::always_inline]] void notify() noexcept {
    detail::light_barrier();
    if (idle.load(std::memory_order_relaxed) == 0) [[likely]]
      return;
    signal();
  }
  void signal() noexcept;
  // Persister: sleeps until the eventfd is signalled or `deadline_ns` (steady clock; INT64_MAX:
  // none) passes. `idle`: publishes should wake it (nothing in flight), checked by
  // `nothing_new` after announcing it. Drains the eventfd.
  template <class Pred>
  void sleep(std::int64_t deadline_ns, bool idle_sleep, Pred&& nothing_new) noexcept {
    if (idle_sleep) {
      idle.store(1, std::memory_order_relaxed);
      detail::heavy_barrier();  // (S1) pairs with (N1): a publish after this sees `idle`
      if (!nothing_new()) {
        idle.store(0, std::memory_order_relaxed);
        return;
      }
    }
    wait_fd(deadline_ns);
    idle.store(0, std::memory_order_relaxed);
  }
  void wait_fd(std::int64_t deadline_ns) noexcept;

  std::atomic<std::uint64_t> kicks{0};
  std::atomic<std::uint32_t> room_wanted{0};  // want_room() kicked since the last pass
  int fd = -1;                                // the eventfd
  alignas(cache_line_size) std::atomic<std::uint32_t> idle{0};
};

struct queue_partition;

// What the ackers of a durable queue's partition share with the persister. A round is one
// pass of the persister over the partition's delivery states that writes the acks it finds
// (and the ack floor) to the acks file and fdatasyncs it. A sync-mode acker reads `started`
// after its ack (both seq_cst) and waits until `durable` passes it: the round after that
// load began after the ack, so its scan saw it.
struct alignas(cache_line_size) ack_sync {
  std::atomic<std::uint64_t> started{0};  // rounds begun (persister: seq_cst store)
  std::atomic<std::uint64_t> durable{0};  // rounds whose acks are on disk (release)
  std::atomic<std::uint32_t> waiters{0};  // sync ackers waiting: the persister runs a round now
  std::atomic<errc> status{errc::ok};     // the error that failed the acks file, or closed
  bool sync = false;                      // durability::sync: ack waits for its round
  std::shared_ptr<persist_wakeup> wakeup;
  park done;  // waiters sleep here; the persister notifies after `durable` moves
};

// The persister's side of a durable queue's partition (modes/queue_acks.cpp): the acks file,
// the acks already on disk, and a gating reader of the ring at the durable ack floor, so
// that the ring holds every record from the durable floor on and recovery can put them all
// back (the records a crash makes unacked again fit the ring they came from).
struct queue_acks {
  io::acks_file file;       // <partition dir>/acks, appended to round by round
  std::uint64_t floor = 0;  // durable ack floor: every offset below is acked on disk
  std::uint64_t high = 0;   // one past the highest offset marked in `acked`
  // Offsets in [floor, floor + mask + 1) acked on disk, one bit each, by offset & mask.
  std::vector<std::uint64_t> acked;
  std::uint64_t mask = 0;
  frame_ring::reader reader;   // its cursor: the ring position of offset `released`
  std::uint64_t released = 0;  // offsets below it are given back to the ring
  queue_partition* queue = nullptr;
  std::uint64_t dead_letters_covered = 0;  // dead letters known durable before their acks
  wait_clock::time_point last_round{};
  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;  // new acks of one round
  // Recovery only: acked ranges above the recovered floor, for restore_queue.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> recovered;
  std::uint64_t recovered_end = 0;
  ack_sync sync;
};

// One durable partition, owned by the persister thread (the log's owner).
struct partition_persistence {
  std::unique_ptr<io::partition_log> log;
  std::uint32_t max_batch_bytes = 0;
  frame_ring::reader reader;       // gates the producer at the last written frame
  std::uint64_t appended_pos = 0;  // ring position after the last frame handed to the log
  std::uint64_t next_offset = 0;   // offset of the next record to hand to the log
  // Appended batches not written yet, oldest first: their end offset and ring position.
  struct in_flight {
    std::uint64_t end_offset;
    std::uint64_t end_position;
  };
  std::vector<in_flight> fifo;  // ring buffer, capacity fixed at open
  std::size_t head = 0, size = 0;
  bool closed = false;
  std::uint64_t reported_durable = 0;           // last durable offset given to the callback
  std::uint64_t notified_durable = 0;           // last durable offset consumers were woken for
  std::uint64_t reported_written = 0;           // last written offset given to on_progress
  std::uint64_t reported_progress_durable = 0;  // and the durable offset with it
  bool reported_failure = false;
  std::uint64_t checkpointed = 0;    // durable offset of the last checkpoint written
  std::unique_ptr<queue_acks> acks;  // durable queue topics
};

// ---- partitions ----

io::log_options log_options_for(const topic_config& c, bool quarantine);

struct log_open_mode {
  bool quarantine = false;  // damage before the durable point: set the partition aside
  bool read_only = false;   // write nothing (bus_config::read_only, a full disk)
};
// Opens (recovering) the logs of a durable topic and positions its partitions after the
// recovered records. A quarantined partition starts empty after the offsets its damaged
// log used. Torn tails cut and quarantines are appended to `damage`. Cold. Returns ok or the
// first partition's error, with detail.
errc open_topic_logs(topic_state& t, const std::filesystem::path& root, const log_open_mode& mode,
                     std::vector<damage_report>& damage, std::string& detail);

// ---- durable queues (modes/queue_acks.cpp) ----

// Cold, before the topic's queue opens (after open_topic_logs): reads the partition's acks
// file (a damaged one is kept aside as acks.damaged-<ns>; its acks from the damage on count
// as not acked: redelivered, never lost), and puts the records from the recovered ack floor
// to the log's end back into the ring at their offsets. Errors: capacity_too_small (they do
// not fit the ring), corrupt_log, file_error, too_many_readers; detail says more.
// A damaged acks file is reported to `damage` (when given).
errc recover_queue_partition(topic_state& t, partition_state& p, std::string& detail,
                             std::vector<damage_report>* damage = nullptr);
// Cold, after the topic's queue opened: marks the recovered acks in its delivery states,
// gives back the rest (receivable again, delivery counts from 1), writes the compacted
// acks file and hands the partition's acks to the persister.
errc attach_queue_acks(topic_state& t, std::string& detail);
// Persister thread: writes the acks found since the last round when one is due (sync
// waiters, sync_interval) or `force`; moves the durable floor, gives ring space back, and
// deletes segments whose records are all acked.
void persist_acks(topic_state& t, partition_state& p, wait_clock::time_point now,
                  bool force) noexcept;
// Persister thread: a last round, then closes the acks file; waiters get ok or closed.
void close_queue_acks(topic_state& t, partition_state& p) noexcept;
// Any thread but the persister: waits until a round that began after the caller's ack is
// durable. ok, closed, timeout, or the error that failed the acks file.
errc wait_ack_durable(ack_sync& s, const topic_state& t) noexcept;

// Persister thread: one round over a partition. Returns true when it did some work.
bool persist_pump(topic_state& t, partition_state& p) noexcept;
// Persister thread: appends what is left, waits for it, closes the log (clean checkpoint).
void persist_close(partition_state& p) noexcept;

// Reads records of a durable partition from its files into `buf`: whole batches starting
// with the one holding `offset`. Any thread. Returns the io read result.
io::read_result persist_read(const partition_state& p, std::uint64_t offset,
                             std::span<std::byte> buf) noexcept;

// Waits until `offset` of p is durable. Any thread but the persister.
errc persist_wait(const topic_state& t, partition_state& p, std::uint64_t offset,
                  std::chrono::nanoseconds timeout) noexcept;

}  // namespace lanes::detail
