// core/error.cpp: lanes' error category: the name and the message of every errc.
#include "lanes/error.hpp"

namespace lanes {
namespace {

// What each error means and what to do about it, for a person (lanes_category().message).
// Looked up by code; every errc has a line (error_test checks it against to_string, whose
// switch the compiler checks for completeness).
struct errc_message {
  errc code;
  const char* text;
};

constexpr errc_message messages[] = {
    {errc::ok, "success"},
    {errc::full,
     "ring is full: the slowest reader has not released enough space; retry, wait, "
     "or give the ring more capacity"},
    {errc::empty, "nothing to read yet; poll again or wait"},
    {errc::timeout, "the wait timed out before the operation could complete"},
    {errc::closed, "the object is closed and accepts no more operations"},
    {errc::capacity_not_power_of_two,
     "capacity must be a power of two (e.g. 1024, 65536); round it up"},
    {errc::capacity_too_small,
     "capacity is below the minimum for this structure; see its documentation"},
    {errc::capacity_too_large,
     "capacity is above the maximum for this structure; use more partitions instead"},
    {errc::frame_too_large,
     "frame does not fit in the ring (payload + 8-byte header must be at most "
     "capacity / 2); raise the ring capacity or split the message"},
    {errc::too_many_readers,
     "all reader slots of the ring are taken; close an unused reader or raise "
     "max_readers when creating the ring"},
    {errc::invalid_argument, "invalid argument; check the documented contract"},
    {errc::invalid_partition,
     "partition index is out of range; it must be below the partition count"},
    {errc::no_partitions, "partition count must be at least 1"},
    {errc::invalid_topic_name,
     "invalid topic name: use 1 to 249 characters from [A-Za-z0-9._-], not '.' or '..'"},
    {errc::topic_exists,
     "a topic with this name already exists; pick another name or delete it first"},
    {errc::unknown_topic,
     "no topic with this name; create it first (lanes topics create) or check the "
     "spelling"},
    {errc::message_too_large,
     "message exceeds the topic's max_message_size; raise it (and the ring "
     "capacity) or split the message"},
    {errc::offset_out_of_range,
     "offset is outside the partition's retained range [log start, end offset); "
     "seek to earliest or latest, or set an auto offset reset policy"},
    {errc::invalid_config,
     "invalid topic or bus configuration; see the field named in the message of "
     "the call that failed"},
    {errc::producer_busy,
     "the topic is single-producer and already has a producer; close it, or "
     "create the topic with producers = many"},
    {errc::not_assigned,
     "this partition is not assigned to this consumer; assign or subscribe first"},
    {errc::wrong_mode, "operation does not apply to this topic's mode (log or queue)"},
    {errc::invalid_group,
     "invalid consumer group name: use 1 to 249 characters from [A-Za-z0-9._-]"},
    {errc::stale_receipt,
     "the receipt is no longer current: its visibility timeout passed and the message "
     "was given back or delivered again (or it was nacked); use the receipt of the "
     "latest delivery, and extend the visibility of messages that take long"},
    {errc::foreign_receipt,
     "the receipt belongs to another queue (topic or queue group); ack, nack or extend "
     "it with a consumer of the queue that delivered it"},
    {errc::already_acked,
     "the message was already acked (or dead-lettered): nothing to do; do not ack "
     "a receipt twice"},
    {errc::io_uring_unavailable,
     "io_uring is not available (old kernel, sysctl kernel.io_uring_disabled, or a "
     "seccomp filter); enable it or run the topic without durability"},
    {errc::io_error,
     "a write to the partition's segment file failed with EIO; the partition log is "
     "failed and accepts nothing more: check the disk and the kernel log, then reopen "
     "it (data already durable stays readable)"},
    {errc::no_space,
     "the disk holding the partition's segments is full (ENOSPC); the partition log "
     "is failed: free space or lower retention, then reopen it"},
    {errc::sync_failed,
     "fdatasync of a segment failed; nothing after the last good sync is "
     "acknowledged and the log is failed: check the disk, then reopen it (recovery "
     "keeps what was durable)"},
    {errc::corrupt_log,
     "the partition log is damaged before its durable point and was not opened; "
     "restore it from a backup or replica, or open it with quarantine to move it aside"},
    {errc::log_quarantined,
     "the damaged partition log was renamed aside (*.quarantine-*) and not opened; "
     "inspect or delete that directory, then open again to start an empty log"},
    {errc::completion_lost,
     "io_uring dropped completions (completion queue overflow on a kernel without "
     "IORING_FEAT_NODROP); the log is failed: reopen it, and use a newer kernel"},
    {errc::corrupt_batch,
     "a batch read from a segment file failed its CRC32C or bounds check; the data at "
     "this offset is damaged: restore the segment or seek past it"},
    {errc::file_error,
     "a segment file or directory could not be created, opened, renamed or deleted; "
     "check the path, its permissions and the open file limit"},
    {errc::log_failed,
     "the partition log failed earlier (see its first error) and accepts nothing "
     "more; close and reopen it to recover what was durable"},
    {errc::data_dir_locked,
     "another process has this data directory open; stop it or use another "
     "directory"},
    {errc::read_only,
     "the data directory was opened read-only (bus_config::read_only, or the disk "
     "was full at open): records can be read, nothing written; free space and reopen"},
};

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "lanes"; }

  std::string message(int v) const override {
    for (const errc_message& m : messages) {
      if (static_cast<int>(m.code) == v) return m.text;
    }
    return "unknown lanes error " + std::to_string(v);
  }
};

}  // namespace

const std::error_category& lanes_category() noexcept {
  static const category c;
  return c;
}

const char* to_string(errc e) noexcept {
  switch (e) {
    case errc::ok: return "ok";
    case errc::full: return "full";
    case errc::empty: return "empty";
    case errc::timeout: return "timeout";
    case errc::closed: return "closed";
    case errc::capacity_not_power_of_two: return "capacity_not_power_of_two";
    case errc::capacity_too_small: return "capacity_too_small";
    case errc::capacity_too_large: return "capacity_too_large";
    case errc::frame_too_large: return "frame_too_large";
    case errc::too_many_readers: return "too_many_readers";
    case errc::invalid_argument: return "invalid_argument";
    case errc::invalid_partition: return "invalid_partition";
    case errc::no_partitions: return "no_partitions";
    case errc::invalid_topic_name: return "invalid_topic_name";
    case errc::topic_exists: return "topic_exists";
    case errc::unknown_topic: return "unknown_topic";
    case errc::message_too_large: return "message_too_large";
    case errc::offset_out_of_range: return "offset_out_of_range";
    case errc::invalid_config: return "invalid_config";
    case errc::producer_busy: return "producer_busy";
    case errc::not_assigned: return "not_assigned";
    case errc::wrong_mode: return "wrong_mode";
    case errc::invalid_group: return "invalid_group";
    case errc::stale_receipt: return "stale_receipt";
    case errc::foreign_receipt: return "foreign_receipt";
    case errc::already_acked: return "already_acked";
    case errc::io_uring_unavailable: return "io_uring_unavailable";
    case errc::io_error: return "io_error";
    case errc::no_space: return "no_space";
    case errc::sync_failed: return "sync_failed";
    case errc::corrupt_log: return "corrupt_log";
    case errc::log_quarantined: return "log_quarantined";
    case errc::completion_lost: return "completion_lost";
    case errc::corrupt_batch: return "corrupt_batch";
    case errc::file_error: return "file_error";
    case errc::log_failed: return "log_failed";
    case errc::data_dir_locked: return "data_dir_locked";
    case errc::read_only: return "read_only";
  }
  return "unknown";
}

}  // namespace lanes
