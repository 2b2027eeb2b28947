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
// the ring without a gap.
//
// On disk, besides io/'s segment files (io/FORMAT.md):
//   <data_dir>/.lock                         flock'ed by the process that has the bus open
//   <data_dir>/<topic>/topic.conf            the topic_config, key=value lines
//   <data_dir>/<topic>/offsets/<group hex>   committed offsets of a group, "partition offset"
// Each is written to a temporary file, fsynced, renamed, and its directory fsynced.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lanes/bus.hpp"
#include "lanes/frame_ring.hpp"
#include "lanes/partition_log.hpp"
#include "lanes/wait.hpp"

namespace lanes::detail {

struct topic_state;
struct partition_state;
struct bus_state;

// Wakes the persister (a durability waiter wants a sync soon). Shared by the bus and its
// topics, so that a producer that outlives the bus still has something to notify.
struct persist_wakeup {
  std::atomic<std::uint64_t> kicks{0};
  park wake;
  void kick() noexcept {
    kicks.fetch_add(1, std::memory_order_release);
    wake.notify_all();
  }
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
  std::uint64_t reported_durable = 0;  // last durable offset given to the callback
  bool reported_failure = false;
  std::uint64_t checkpointed = 0;  // durable offset of the last checkpoint written
};

// ---- files ----

// Locks the data directory (creating it, 0750). Returns the lock's fd or -1 with `ec`.
int lock_data_dir(const std::filesystem::path& dir, errc& ec, std::string& detail);
void unlock_data_dir(int fd) noexcept;

std::string encode_topic_config(const topic_config& c);
// Unknown keys are ignored and missing ones keep their defaults; false on a malformed line.
bool decode_topic_config(const std::string& text, topic_config& out);

// Writes `text` to dir/name atomically (temporary file, fsync, rename, fsync dir).
errc write_file_durably(const std::filesystem::path& dir, const std::string& name,
                        const std::string& text);
void fsync_dir(const std::filesystem::path& dir) noexcept;

// Group offsets of one topic: write one group's, read them all back.
errc store_group_offsets(const std::filesystem::path& topic_dir, const std::string& group,
                         const std::vector<std::int64_t>& committed);
std::vector<std::pair<std::string, std::vector<std::int64_t>>> load_group_offsets(
    const std::filesystem::path& topic_dir, std::uint32_t partitions);

// ---- partitions ----

io::log_options log_options_for(const topic_config& c, bool quarantine);

// Opens (recovering) the logs of a durable topic and positions its partitions after the
// recovered records. Cold. Returns ok or the first partition's error, with detail.
errc open_topic_logs(topic_state& t, const std::filesystem::path& root, bool quarantine,
                     std::string& detail);

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
