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
//
// This header holds the bus itself; what it is built from has a header each: lanes/config.hpp
// (topic_config, bus_config), lanes/producer.hpp, lanes/consumer.hpp, lanes/topic_info.hpp
// (describe_topic's answer). Including lanes/bus.hpp includes them all.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lanes/config.hpp"
#include "lanes/consumer.hpp"
#include "lanes/error.hpp"
#include "lanes/frame_ring.hpp"
#include "lanes/partitioner.hpp"
#include "lanes/producer.hpp"
#include "lanes/queue_config.hpp"
#include "lanes/record.hpp"
#include "lanes/topic_info.hpp"

namespace lanes {

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
