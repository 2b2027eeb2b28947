// tools/persist_timeline.hpp: when each offset of a durable topic's partitions was written and
// made durable, as the persister reports it (bus::on_persist_progress), so that `lanes perf`
// can split a record's end-to-end latency into publish -> written -> durable -> polled.
//
// One writer (the persister thread, in the callback) appends (watermark, time) events per
// partition; readers (consumer threads) look up the first event past an offset with a cursor
// that only moves forward, as they read each partition's offsets in order. Fixed capacity,
// allocated up front: past it nothing more is recorded and lookups say "unknown" (-1).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace lanes_tools {

class persist_timeline {
 public:
  explicit persist_timeline(std::uint32_t partitions, std::size_t capacity = std::size_t{1} << 18)
      : parts_(partitions) {
    for (auto& p : parts_) {
      p.written.events = std::make_unique<event[]>(capacity);
      p.durable.events = std::make_unique<event[]>(capacity);
      p.written.capacity = p.durable.capacity = capacity;
    }
  }

  // Persister thread (the callback): the watermarks of partition p moved at `now_ns`.
  void record(std::uint32_t p, std::uint64_t written, std::uint64_t durable,
              std::int64_t now_ns) noexcept {
    if (p >= parts_.size()) return;
    parts_[p].written.push(written, now_ns);
    parts_[p].durable.push(durable, now_ns);
  }

  struct cursor {
    std::size_t written = 0;
    std::size_t durable = 0;
  };
  // Reader: when `offset` of p was written / became durable (ns), or -1 when not recorded.
  // Offsets of one partition must be asked in increasing order with the same cursor.
  std::int64_t written_at(std::uint32_t p, std::uint64_t offset, cursor& c) const noexcept {
    return p < parts_.size() ? parts_[p].written.find(offset, c.written) : -1;
  }
  std::int64_t durable_at(std::uint32_t p, std::uint64_t offset, cursor& c) const noexcept {
    return p < parts_.size() ? parts_[p].durable.find(offset, c.durable) : -1;
  }

 private:
  struct event {
    std::uint64_t end;  // the watermark: every offset below it had passed
    std::int64_t ns;
  };
  struct series {
    std::unique_ptr<event[]> events;
    std::size_t capacity = 0;
    std::atomic<std::size_t> count{0};
    std::uint64_t last = 0;  // writer only
    void push(std::uint64_t end, std::int64_t ns) noexcept {
      if (end <= last) return;
      last = end;
      const std::size_t n = count.load(std::memory_order_relaxed);
      if (n == capacity) return;
      events[n] = {end, ns};
      count.store(n + 1, std::memory_order_release);  // pairs with the acquire in find
    }
    std::int64_t find(std::uint64_t offset, std::size_t& at) const noexcept {
      const std::size_t n = count.load(std::memory_order_acquire);  // pairs with push
      while (at < n && events[at].end <= offset) ++at;
      return at < n ? events[at].ns : -1;
    }
  };
  struct partition {
    series written;
    series durable;
  };
  std::vector<partition> parts_;
};

}  // namespace lanes_tools
