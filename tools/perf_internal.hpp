// tools/perf_internal.hpp: what the files of `lanes perf` share (perf_threads.cpp,
// perf_plan.cpp, perf_outcome.cpp, perf_run.cpp): the stamp at the start of every value, the
// state the threads share with the main thread, and the steps of a run. Not a public header.
//
// Each value starts with a 32-byte stamp: the time (steady clock, ns) the message was due
// (--rate; else when it was sent), the time it was sent, the producer's sequence number, the
// producer id and flags (warmup). Consumers take the time once per poll result (when the
// records were handed over) and record now - due for each record (and, with --rate, now - sent
// too: the part of the latency spent after the producer got to send, which tells a late
// producer from a slow bus); they also check that every producer's sequence numbers rise
// within each partition (publish order, DESIGN.md).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lanes/clock.hpp"
#include "lanes/lanes.hpp"
#include "lanes_support/histogram.hpp"
#include "perf.hpp"
#include "perf_report.hpp"
#include "persist_timeline.hpp"
#include "splitmix64.hpp"

namespace lanes_tools::perf_detail {

using lanes::steady_ns;

// ---- the stamp at the start of every value ----

struct stamp {
  std::int64_t due_ns;   // steady clock: when the message was due (--rate), else sent_ns
  std::int64_t sent_ns;  // steady clock: right before publish
  std::uint64_t seq;     // per producer, from 0, per phase
  std::uint32_t producer;
  std::uint32_t flags;
};
static_assert(sizeof(stamp) == 32);
constexpr std::size_t stamp_size = sizeof(stamp);
constexpr std::uint32_t flag_warmup = 1;

// ---- keys ----

// splitmix64 with the draw key_picker makes (a seed replays it).
struct rng : lanes_tools::splitmix64 {
  // Uniform in [0, n).
  std::uint32_t below(std::uint32_t n) noexcept {
    return static_cast<std::uint32_t>(((next() >> 32) * n) >> 32);
  }
};

// Keys "key-0" ... "key-<space-1>". uniform: every key equally likely. skewed: a hot set of
// the first 20% of the keys gets 80% of the messages (uniform within the hot and cold sets).
class key_picker {
 public:
  key_picker(key_mode mode, std::uint32_t space, std::uint64_t seed)
      : mode_(mode), rng_{seed}, hot_(std::max<std::uint32_t>(1, space / 5)) {
    if (mode_ == key_mode::none) return;
    keys_.reserve(space);
    for (std::uint32_t i = 0; i < space; ++i) keys_.push_back("key-" + std::to_string(i));
  }

  std::optional<std::string_view> next() noexcept {
    const auto n = static_cast<std::uint32_t>(keys_.size());
    switch (mode_) {
      case key_mode::none: return std::nullopt;
      case key_mode::uniform: return keys_[rng_.below(n)];
      case key_mode::skewed:
        if (hot_ >= n || rng_.below(100) < 80) return keys_[rng_.below(hot_)];
        return keys_[hot_ + rng_.below(n - hot_)];
    }
    return std::nullopt;
  }

  std::size_t longest() const noexcept {
    std::size_t m = 0;
    for (const auto& k : keys_) m = std::max(m, k.size());
    return m;
  }

 private:
  key_mode mode_;
  rng rng_;
  std::uint32_t hot_;
  std::vector<std::string> keys_;
};

// ---- shared state ----

enum phase : int { phase_setup, phase_warmup, phase_measure, phase_drain, phase_stop };

struct shared_state {
  alignas(lanes::cache_line_size) std::atomic<int> phase{phase_setup};
  std::atomic<std::int64_t> t0{0};
  // Raised by the main thread after every producer finished a phase (1: warmup, 2: measure).
  std::atomic<std::uint64_t> drain_epoch{0};
  std::atomic<bool> abort{false};
};

struct alignas(lanes::cache_line_size) producer_slot {
  std::atomic<std::uint64_t> sent{0};  // measured messages published so far
  std::atomic<bool> warm_done{false};
  std::atomic<bool> done{false};
  // Read after the thread is joined.
  std::uint64_t bytes = 0;
  std::int64_t end_ns = 0;
  std::int64_t max_behind_ns = 0;  // --rate: worst lateness of a send against its due time
  std::uint64_t claim_fallbacks = 0;
  lanes::errc error = lanes::errc::ok;
};

struct alignas(lanes::cache_line_size) consumer_slot {
  unsigned group = 0;
  std::atomic<std::uint32_t> assigned{0};
  std::atomic<std::uint64_t> received{0};   // measured messages
  std::atomic<std::uint64_t> warm{0};       // warmup messages
  std::atomic<std::uint64_t> caught_up{0};  // last drain epoch this consumer confirmed
  // Latency so far, for the progress line: sum and count of measured records, largest.
  std::atomic<std::uint64_t> lat_sum_ns{0};
  std::atomic<std::uint64_t> lat_count{0};
  std::atomic<std::uint64_t> lat_max_ns{0};
  // Read after the thread is joined.
  latency_histogram hist;       // from due time
  latency_histogram hist_sent;  // from send time (--rate only)
  // Durable runs: the same records' time from send to written, written to durable, durable
  // to polled (records whose watermark times the timeline had).
  latency_histogram to_written, to_durable, to_polled;
  std::uint64_t bytes = 0;
  std::int64_t last_ns = 0;
  std::uint64_t order_errors = 0;
  std::uint64_t malformed = 0;
  std::uint64_t poll_errors = 0;
  lanes::errc last_error = lanes::errc::ok;
};

using producer_slots = std::vector<std::unique_ptr<producer_slot>>;
using consumer_slots = std::vector<std::unique_ptr<consumer_slot>>;

struct run_plan {
  unsigned producers = 0;
  unsigned consumers_total = 0;
  std::vector<int> cpus;
  bool pinned = false;
  bool may_spin = true;  // threads <= CPUs: pacing and waits may spin
  std::vector<std::string> warnings;

  int cpu_of(unsigned thread_index) const { return pinned ? cpus[thread_index % cpus.size()] : -1; }
};

// The run's consumers (queue or log mode), producers and their slots.
struct perf_clients {
  consumer_slots slots;  // one per consumer, log or queue
  std::vector<lanes::consumer> consumers;
  std::vector<lanes::queue_consumer> queue_consumers;
  producer_slots pslots;
  std::vector<lanes::producer> producers;
};

// ---- perf_plan.cpp: before the run ----

// The option checks CLI11 cannot make; exit_ok when the run may start, else the exit code
// (the error is printed).
int check_options(const perf_options& o);
// Which CPUs the run's threads go to, whether they may spin, and what to warn about (printed
// here, and kept for the JSON).
run_plan make_plan(const perf_options& o);
// Makes o.groups x o.consumers consumers and o.producers producers of o.topic; exit_ok, or
// exit_failed with the error printed.
int make_clients(const perf_options& o, lanes::bus& bus, perf_clients& c);

// ---- perf_threads.cpp: the thread bodies ----

void producer_main(const perf_options& o, const run_plan& plan, unsigned id, lanes::producer prod,
                   producer_slot& slot, shared_state& st);
// timeline: durable log runs, the persister's watermark times (else nullptr).
void consumer_main(const perf_options& o, const run_plan& plan, unsigned thread_index,
                   lanes::consumer c, consumer_slot& slot, shared_state& st,
                   const persist_timeline* timeline);
void queue_consumer_main(const perf_options& o, const run_plan& plan, unsigned thread_index,
                         lanes::bus& bus, lanes::queue_consumer c, consumer_slot& slot,
                         shared_state& st);

// ---- perf_outcome.cpp: after the run ----

// What the run measured, from the threads' slots once they are joined: rates, latency, and
// every shortfall as an error (or a note when the run had already failed or overwrites).
perf_outcome collect_outcome(const perf_options& o, const producer_slots& pslots,
                             const consumer_slots& cslots, std::int64_t t0, std::uint64_t produced,
                             bool ok, lanes::bus& bus, std::vector<std::string> errors, bool split);

}  // namespace lanes_tools::perf_detail
