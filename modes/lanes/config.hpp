// lanes/config.hpp: how a bus and its topics are configured: topic_config (mode,
// partitions, ring, back-pressure, durability, retention), bus_config (data directory,
// damage policy, the clock), and what opening a data directory reports (damage_report).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "lanes/bus_clock.hpp"
#include "lanes/frame.hpp"  // producer_mode
#include "lanes/queue_config.hpp"

namespace lanes {

enum class topic_mode : std::uint8_t { log, queue };

// What a producer does when a partition's ring has no room.
//   block:     wait (at most the producer's max_block) for the slowest group holding the
//              partition, as the Disruptor does. Nothing is ever dropped unread.
//   overwrite: drop the oldest records; consumers that had not read them are overrun and
//              get offset_out_of_range, then follow their offset_reset policy.
enum class backpressure : std::uint8_t { block, overwrite };

// How a topic's records reach the disk of a bus opened with a data directory.
//   none:  memory only (the default; also every topic of a bus without a data directory).
//   async: group commit: one fdatasync when sync_bytes are unsynced or the oldest unsynced
//          record is sync_interval old. publish returns at once; wait_durable or
//          publish_options::durable wait for the disk.
//   sync:  publish and publish_batch return only once their records are durable (one
//          fdatasync covers everything written meanwhile, so concurrent producers share it).
enum class durability : std::uint8_t { none, async, sync };

// A topic has 1 to max_partitions partitions, numbered from 0 (more: errc::invalid_config).
inline constexpr std::uint32_t max_partitions = 65536;

struct topic_config {
  topic_mode mode = topic_mode::log;
  std::uint32_t partitions = 1;  // 1 to max_partitions
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
  // Costs the creation time of populating the rings, and the rings are resident at once.
  // Without it, rings of 2 MiB and more still fault only once per 2 MiB where the kernel
  // gives them transparent huge pages (they ask for them: MADV_HUGEPAGE).
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
  // The time the bus decides visibility timeouts, delays and retention by age by
  // (lanes/bus_clock.hpp); empty: the system's clocks. Tests inject a shifted_clock.
  std::shared_ptr<const clock_source> clock{};
};

// A topic's configuration file (<data_dir>/<topic>/topic.conf) read without opening a bus,
// as `lanes verify` does: false when it does not decode or is not a usable configuration.
bool parse_topic_config(std::string_view topic, std::string_view text, topic_config& out);

}  // namespace lanes
