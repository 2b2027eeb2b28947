// lanes/partition_log.hpp: one partition's log on disk, written through io_uring.
//
// A partition log takes batches of committed frames (the caller's memory, e.g. a frame
// ring; a wrap gives two iovecs), writes each batch to the active segment file with one
// writev straight from that memory, and makes them durable with group commit. It reads
// batches back by offset, recovers on open, and deletes old segments for retention.
//
// Watermarks (exclusive ends, as Kafka's log end offset: every offset below is covered):
//   appended_offset()  accepted by append(), maybe still in flight
//   written_offset()   every byte of every batch below it had a write completion with its
//                      full length (short writes are resubmitted until they have)
//   durable_offset()   additionally covered by a later fdatasync completion with res == 0
// An fdatasync is submitted only after the completions of every write it covers have been
// reaped, so it is ordered after them by construction (no IOSQE_IO_LINK/DRAIN needed, and a
// short or -EAGAIN write that is resubmitted is simply covered by the next sync). One sync
// group (one fdatasync per segment file written since the last group) is in flight at a
// time; batches appended meanwhile wait for the next one: group commit.
//
// Two write paths. async and none: writes and fdatasyncs go through io_uring and the owner
// never blocks. sync: the owner writes each batch itself (pwritev to the page cache, a few
// microseconds) and calls fdatasync itself when a group is due, because through io_uring
// both go to io-wq workers on this kernel (buffered ext4 writes are not async), and each
// hand-off and completion wake-up cost about as much as the disk's own fdatasync here.
// Their results go through the same completion handling (faults, short writes, errors).
//
// Failure. A write error (EIO, ENOSPC...), a failed fdatasync or lost completions put the
// log in a failed state: append and waiters get that error from then on, durable_offset()
// never moves again (nothing is retried and then acknowledged), and read() still serves
// what was durable. Reopening runs recovery.
//
// Threads. One owner thread (the persister) calls append, poll_completions, flush,
// enforce_retention, checkpoint and close. Any thread may call the observers, read and
// wait_durable. This version keeps one io_uring per partition log; a persister serving many
// logs owns many rings. (The intended shape, one ring per persister shared by its logs,
// needs only the user_data to name the log as well as the request.)
//
// Files: <root>/<topic>/<partition>/<base offset, 20 digits>.log, .index and .timeindex
// beside it, and a `checkpoint` file; directories 0750, files 0640 (io/FORMAT.md).
#pragma once

#include <sys/uio.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lanes/error.hpp"
#include "lanes/fault_injection.hpp"
#include "lanes/segment_format.hpp"

namespace lanes::io {

class uring;
struct segment;

// When fdatasync runs (DESIGN.md, Durability).
enum class durability : std::uint8_t {
  none,   // only flush() and close() sync
  async,  // group commit when sync_bytes are unsynced or the oldest is sync_interval old
  sync,   // a sync as soon as anything is written and none is in flight
};

struct log_options {
  durability mode = durability::sync;
  std::uint64_t segment_bytes = std::uint64_t{64} << 20;  // roll before passing this size
  std::chrono::milliseconds segment_age{std::chrono::hours(24 * 7)};  // 0: never by age
  std::uint32_t max_batch_bytes = 8u << 20;       // largest payload appended or trusted on recovery
  std::uint32_t index_interval_bytes = 4096;      // one index entry per this many bytes
  std::uint64_t sync_bytes = 1u << 20;            // async only
  std::chrono::microseconds sync_interval{1000};  // async only
  unsigned queue_depth = 64;          // batches in flight at most (append says full beyond)
  std::uint64_t initial_offset = 0;   // first offset of a new, empty log
  bool quarantine_on_damage = false;  // damage before the durable point: rename dir aside
  // Open without writing anything: no directory, file, truncation or checkpoint is created
  // or changed (a full disk, a read-only mount, an inspection). A torn tail is left on disk
  // and only hidden; append fails with errc::read_only.
  bool read_only = false;
};

// What recovery found and did on open.
struct recovery_report {
  bool had_checkpoint = false;
  bool clean_shutdown = false;
  std::uint64_t checkpoint_durable = 0;
  std::uint64_t segments = 0;           // segments kept
  std::uint64_t segments_scanned = 0;   // read batch by batch
  std::uint64_t indexes_rebuilt = 0;    // sealed segments whose index was missing or damaged
  std::uint64_t bytes_truncated = 0;    // torn tail cut off after the durable point
  std::uint64_t segments_removed = 0;   // whole segments after a torn tail, or torn new ones
  std::uint64_t leftovers_removed = 0;  // segments below the checkpoint's log start (an
                                        // interrupted retention) and checkpoint.tmp
  // A torn tail after the checkpoint's durable point was cut (bytes_truncated bytes,
  // segments_removed files): the log now ends at torn_from. Records there may have been
  // acknowledged after the last checkpoint; recovery cannot tell, so the bus reports it
  // (describe_topic, bus_config::on_damage) instead of staying silent.
  bool torn_tail = false;
  std::uint64_t torn_from = 0;
  std::string detail;  // what damage was found, for a person: file, byte position, offsets
};

// The log's counters: a snapshot (stats()) that any thread may take, for tests and metrics.
struct log_stats {
  // Upper bounds of the sync-group latency buckets (submission of a group's fdatasyncs to
  // the completion of its last), in nanoseconds; one more bucket holds everything above.
  static constexpr std::array<std::uint64_t, 14> sync_bounds_ns = {
      50'000,     100'000,    250'000,    500'000,     1'000'000,   2'500'000,     5'000'000,
      10'000'000, 25'000'000, 50'000'000, 100'000'000, 250'000'000, 1'000'000'000, 5'000'000'000};
  std::uint64_t batches_written = 0;
  std::uint64_t bytes_written = 0;  // write completions, bytes (segment files)
  std::uint64_t short_writes = 0;   // resubmitted remainders
  std::uint64_t again = 0;          // -EAGAIN/-EINTR resubmissions
  std::uint64_t syncs = 0;          // fdatasync completions with res == 0
  std::uint64_t sync_groups = 0;    // groups submitted
  std::uint64_t segments_rolled = 0;
  // Completed sync groups by latency (per bucket, not cumulative), and their sum.
  std::array<std::uint64_t, sync_bounds_ns.size() + 1> sync_latency{};
  std::uint64_t sync_latency_sum_ns = 0;
};

struct append_result {
  errc status = errc::ok;        // ok, full, invalid_argument, file_error, closed, or the failure
  std::uint64_t end_offset = 0;  // the ticket: durable once durable_offset() >= end_offset
  explicit operator bool() const noexcept { return status == errc::ok; }
};

struct read_result {
  errc status = errc::ok;  // ok, empty, offset_out_of_range, invalid_argument, corrupt_batch
  std::size_t bytes = 0;   // whole batches (header + payload) copied into the buffer
  std::uint64_t first_offset = 0;  // base offset of the first batch (may be below the asked)
  std::uint64_t next_offset = 0;   // one past the last record returned
  std::size_t batches = 0;
  std::size_t needed = 0;  // invalid_argument: the buffer must hold at least this many bytes
  // corrupt_batch: where the damage is (segment file by base offset, byte position in it,
  // the first offset that cannot be read) and the first offset after it that a reader can
  // seek to (the next index entry or segment; the log's end when none is known).
  std::uint64_t damaged_segment = 0;
  std::uint64_t damaged_position = 0;
  std::uint64_t damaged_offset = 0;
  std::uint64_t skip_to = 0;
};

// Durability notification (owner thread, from poll_completions/flush/close): the new durable
// offset, and ok or the error that failed the log. Must not call back into the log.
using durable_callback = void (*)(void* ctx, std::uint64_t durable_offset, errc status) noexcept;

class partition_log;
class log_recovery;
struct open_result {
  std::unique_ptr<partition_log> log;
  errc status = errc::ok;
  std::string detail;  // for a person: which file, what damage
  // corrupt_log / log_quarantined: the highest offset the damaged log is known to have used
  // (its checkpoint's durable offset, or its good records' end). A log that replaces a
  // quarantined one starts here (log_options::initial_offset), so no offset is used twice.
  std::uint64_t resume_offset = 0;
  std::uint64_t damaged_log_start = 0;  // and where it started (its checkpoint's log start)
  explicit operator bool() const noexcept { return status == errc::ok; }
};

class partition_log {
 public:
  // Cold path. Creates or recovers <root>/<topic>/<partition>. Errors: invalid_topic_name,
  // invalid_config, io_uring_unavailable, file_error, corrupt_log (damage before the durable
  // point), log_quarantined (the same, with quarantine_on_damage: the directory was renamed
  // aside). Never throws; allocates (segment table, indexes).
  static open_result open(const std::filesystem::path& root, std::string_view topic,
                          std::uint32_t partition, const log_options& options);

  ~partition_log();
  partition_log(const partition_log&) = delete;
  partition_log& operator=(const partition_log&) = delete;

  // Owner thread. Queues one batch of `count` records, offsets [first_offset, +count), whose
  // bytes are `frames` (at most max_iovecs, total <= max_batch_bytes), and submits it (a sync
  // log writes it at once: one pwritev to the page cache). Otherwise never blocks; no
  // allocation, no lock (except rolling to a new segment: a file create and a directory
  // fsync, cold). The frames' memory must stay untouched until written_offset()
  // passes the batch (or, after a failure, until in_flight() == 0). first_offset must be
  // appended_offset(). Returns full when queue_depth batches are in flight (poll, retry).
  [[nodiscard]] append_result append(std::span<const iovec> frames, std::uint64_t first_offset,
                                     std::uint32_t count, std::int64_t first_timestamp_ns,
                                     std::int64_t max_timestamp_ns) noexcept;
  static constexpr std::size_t max_iovecs = 8;

  // Owner thread. Reaps completions (waiting up to `timeout` for the first one when requests
  // are in flight), resubmits short writes, advances the watermarks, starts a sync group when
  // the durability mode says so (a sync log runs its fdatasync here, on this thread), then
  // notifies waiters and the callback. Returns ok or the error that failed the log. No
  // allocation.
  errc poll_completions(
      std::chrono::nanoseconds timeout = std::chrono::nanoseconds::zero()) noexcept;

  // Owner thread. Syncs everything appended so far and waits (polling) until it is durable.
  // Returns ok, timeout, or the failure.
  errc flush(std::chrono::nanoseconds timeout) noexcept;

  // Any thread except the owner (which must keep polling for this to finish). Waits until
  // `offset` is durable (durable_offset() > offset). Returns ok, timeout, closed, or the
  // error that failed the log. Asks the owner to sync soon (async mode). May lock.
  errc wait_durable(std::uint64_t offset, std::chrono::nanoseconds timeout) noexcept;

  // Cold, owner thread, before traffic: called (from the waiter's thread) each time
  // wait_durable has asked for a sync, so that an owner sleeping until its next timer wakes
  // and syncs now. Must not block or call back into the log.
  using sync_request_hook = void (*)(void* ctx) noexcept;
  void set_sync_request_hook(sync_request_hook fn, void* ctx) noexcept {
    sync_hook_ = fn;
    sync_hook_ctx_ = ctx;
  }

  // Cold, owner thread, before traffic: the notification hook the bus will use.
  void set_durable_callback(durable_callback fn, void* ctx) noexcept {
    callback_ = fn;
    callback_ctx_ = ctx;
  }

  // Any thread. Copies whole batches starting with the one holding `offset` into `buffer`,
  // each verified by its CRC32C, up to the buffer's size and written_offset() (durable_offset()
  // once failed), within one segment. Cold path (a reader that left the ring): pread, a lock
  // around the segment table. Parse the buffer with for_each_batch.
  read_result read(std::uint64_t offset, std::span<std::byte> buffer) const noexcept;

  // Owner thread. Deletes whole sealed, durable segments, oldest first, while the log is
  // above max_bytes (0: no limit) or while the segment's newest timestamp is older than
  // now - max_age (0: no limit). Never the active segment. Fsyncs the directory. Returns the
  // number of segments deleted.
  std::size_t enforce_retention(std::uint64_t max_bytes, std::chrono::nanoseconds max_age,
                                std::int64_t now_ns = -1) noexcept;

  // Owner thread. Deletes whole sealed, durable segments, oldest first, whose records all lie
  // below `offset` (a durable queue's ack floor: everything below it is acked). Never the
  // active segment. Fsyncs the directory and writes a checkpoint. Returns the number deleted.
  std::size_t delete_segments_below(std::uint64_t offset) noexcept;

  // Any thread (a background checkpointer, or the owner). Writes the checkpoint file
  // (durable point; not clean) unless nothing changed since the last one. Serialised with
  // retention and close by a mutex; closed after close(). Cold: write, fdatasync, rename
  // and a directory fsync (1-20 ms), so not on the owner's loop.
  errc checkpoint() noexcept;
  // Any thread: the durable offset of the last checkpoint written.
  std::uint64_t checkpointed_durable() const noexcept {
    return cp_durable_.load(std::memory_order_acquire);
  }

  // Cold, owner thread: every completion of this log also signals `eventfd` (io_uring's
  // registered eventfd), so that a persister serving many logs sleeps in one poll() until
  // any of them completes something. Errors: io_uring_unavailable.
  [[nodiscard]] errc set_completion_eventfd(int eventfd) noexcept;
  // Owner thread: when poll_completions() has timed work to do next (an async group
  // commit whose sync_interval runs out), on the steady clock in ns; INT64_MAX when none.
  std::int64_t next_deadline_ns() const noexcept;

  // Owner thread. Waits for every request in flight, syncs, writes the indexes and a clean
  // checkpoint (not clean when the log failed), closes the files. Idempotent. Returns ok or
  // the failure. Waiters get closed.
  errc close() noexcept;

  // ---- observers (any thread; may be stale) ----
  std::uint64_t log_start_offset() const noexcept { return start_.load(std::memory_order_acquire); }
  std::uint64_t appended_offset() const noexcept {
    return appended_.load(std::memory_order_relaxed);
  }
  std::uint64_t written_offset() const noexcept { return written_.load(std::memory_order_acquire); }
  std::uint64_t durable_offset() const noexcept { return durable_.load(std::memory_order_acquire); }
  // ok while healthy; the first error after a failure; closed after close().
  errc status() const noexcept { return status_.load(std::memory_order_acquire); }
  // Owner thread: requests (writes and syncs) the kernel still holds.
  std::size_t in_flight() const noexcept { return inflight_ops_; }
  std::size_t segment_count() const noexcept;
  const std::filesystem::path& directory() const noexcept { return dir_; }
  const recovery_report& recovery() const noexcept { return report_; }
  // Any thread: a snapshot of the counters (each read on its own; they may be a moment apart).
  log_stats stats() const noexcept;
  // The fault seam (tests arm it; owner thread).
  fault_injector& faults() noexcept { return faults_; }

 private:
  friend class log_recovery;  // the steps of recover() (io/log_recovery.hpp)
  partition_log() = default;
  struct write_slot;
  struct sync_group;
  errc recover(const std::filesystem::path& topic_dir, std::string& detail);
  errc roll(std::int64_t now_ns) noexcept;
  errc roll_if_due(std::uint64_t end_offset, std::uint64_t batch_bytes) noexcept;
  // sync_dir: fsync the directory now (open, recovery); otherwise (a roll) the next sync
  // group does, with the segments' fdatasyncs (dir_unsynced_).
  errc create_segment(std::uint64_t base, std::int64_t now_ns, bool sync_dir) noexcept;
  bool submit_write(std::uint32_t slot) noexcept;
  void write_inline(std::uint32_t slot) noexcept;
  void submit_pending() noexcept;
  void start_sync_group() noexcept;
  bool sync_due(std::int64_t now_ns) const noexcept;
  void handle_write(std::uint32_t slot, int res) noexcept;
  void handle_sync(int res) noexcept;
  void reap(std::chrono::nanoseconds timeout) noexcept;
  void fail(errc e) noexcept;
  void notify() noexcept;
  // Callers hold cp_mutex_.
  errc write_checkpoint(bool clean) noexcept;
  errc write_checkpoint(bool clean, std::uint64_t log_start) noexcept;
  template <class Pred>
  std::size_t drop_front(Pred&& drop) noexcept;

  std::filesystem::path dir_;
  log_options opt_;
  std::unique_ptr<uring> ring_;
  fault_injector faults_;
  recovery_report report_;
  // Written by the owner thread only, read by stats() on any thread.
  struct counters {
    std::atomic<std::uint64_t> batches_written{0}, bytes_written{0}, short_writes{0}, again{0},
        syncs{0}, sync_groups{0}, segments_rolled{0}, sync_latency_sum_ns{0};
    std::array<std::atomic<std::uint64_t>, log_stats::sync_bounds_ns.size() + 1> sync_latency{};
  } counters_;
  std::int64_t sync_started_ns_ = 0;  // owner: when the group in flight was submitted

  // Segment table: mutated by the owner under seg_mutex_; readers lock it to look up.
  mutable std::mutex seg_mutex_;
  std::vector<std::shared_ptr<segment>> segments_;
  segment* active_ = nullptr;

  // Write slots: fixed at open; free list and a FIFO in append order.
  std::unique_ptr<write_slot[]> slots_;
  std::vector<std::uint32_t> free_;  // stack, capacity queue_depth
  std::vector<std::uint32_t> fifo_;  // ring, capacity queue_depth
  std::size_t fifo_head_ = 0;
  std::size_t fifo_size_ = 0;
  std::size_t inflight_ops_ = 0;
  std::size_t unsubmitted_ = 0;  // SQEs prepared, not yet accepted by the kernel

  // The one sync group in flight.
  bool sync_inflight_ = false;
  std::size_t sync_ops_left_ = 0;
  bool sync_group_failed_ = false;
  std::uint64_t sync_target_ = 0;
  std::uint64_t synced_request_ = 0;  // flush(): sync at least up to here
  std::int64_t oldest_unsynced_ns_ = 0;
  std::uint64_t unsynced_bytes_ = 0;
  // A roll created a segment whose directory entry is not synced yet: the next group
  // fsyncs the directory (dir_fd_, opened at the first roll) with the segments, so no record
  // of the new segment is durable before its name is.
  bool dir_unsynced_ = false;
  int dir_fd_ = -1;

  std::atomic<std::uint64_t> start_{0};
  std::atomic<std::uint64_t> appended_{0};
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> durable_{0};
  std::atomic<errc> status_{errc::ok};
  // wait_durable: a sync is wanted of every offset below this (a running maximum). The owner
  // syncs what it has appended whenever this is above what it last asked for and a waiter
  // waits, so a record appended after the waiter asked is still covered.
  std::atomic<std::uint64_t> sync_wanted_to_{0};
  std::uint64_t notified_durable_ = 0;
  errc notified_status_ = errc::ok;

  // Waiters: counted so the owner locks only when someone waits.
  std::atomic<std::uint32_t> waiters_{0};
  std::mutex wait_mutex_;
  std::condition_variable wait_cv_;
  durable_callback callback_ = nullptr;
  sync_request_hook sync_hook_ = nullptr;
  void* sync_hook_ctx_ = nullptr;
  void* callback_ctx_ = nullptr;
  bool closed_ = false;
  bool opened_ = false;  // open() succeeded: close() may write (checkpoint, indexes)
  // Checkpoints: written by any thread under cp_mutex_ (with retention's log-start change
  // and close's final one); the active segment as the owner last set it, for their fields.
  mutable std::mutex cp_mutex_;
  bool cp_closed_ = false;  // under cp_mutex_: close() wrote the last one
  std::atomic<std::uint64_t> cp_durable_{0};
  std::atomic<std::uint64_t> cp_start_{0};
  std::atomic<std::uint64_t> active_base_{0};
  std::atomic<std::uint64_t> active_size_{0};
  std::string last_file_error_;         // the last cold-path file error, for a person
  std::uint64_t last_resume_hint_ = 0;  // recover(): see open_result::resume_offset
  std::uint64_t last_start_hint_ = 0;   // recover(): see open_result::damaged_log_start
};

// Walks the batches read() copied into a buffer: fn(const batch_header&, payload span).
// Stops at the first batch that does not decode (read() only returns good ones).
template <class Fn>
std::size_t for_each_batch(std::span<const std::byte> bytes, std::uint32_t max_batch_bytes,
                           Fn&& fn) {
  std::size_t n = 0;
  while (!bytes.empty()) {
    batch_header h;
    std::span<const std::byte> payload;
    if (decode_batch(bytes, max_batch_bytes, h, payload) != batch_status::ok) break;
    fn(h, payload);
    bytes = bytes.subspan(h.total_size());
    ++n;
  }
  return n;
}

// Whether `name` is a valid topic name ([A-Za-z0-9._-], 1..249 chars, not "." or "..").
bool valid_topic_name(std::string_view name) noexcept;

// The file name of a segment: 20-digit zero-padded base offset plus `ext` (".log"...).
std::string segment_file_name(std::uint64_t base, std::string_view ext);

}  // namespace lanes::io
