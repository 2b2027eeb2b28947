// tools/perf.cpp: `lanes perf` (see perf.hpp).
//
// One process, one in-memory bus, one topic. The run goes through phases that the main
// thread moves forward (shared_state::phase):
//   setup    consumers (created and subscribed by the main thread, so that every group has
//            all its members before anyone polls) poll until each group owns every
//            partition; nothing is published yet, so no message can be missed.
//   warmup   producers publish --warmup messages (not measured) and the groups drain them.
//   measure  t0 is taken; producers publish --count messages (or for --duration seconds).
//   drain    producers are joined; consumers read what is left.
//   stop     consumers leave.
// "Drained" is decided without guessing: the main thread raises drain_epoch only after every
// producer is done with the phase; a consumer that then sees lag 0 on every partition it owns
// has read everything and says so by storing the epoch in its slot. With policy block a
// group must then have every message; with policy overwrite the shortfall is reported as
// overwritten. A run that makes no progress for --timeout seconds fails.
//
// Each value starts with a 32-byte stamp: the time (steady clock, ns) the message was due
// (--rate; else when it was sent), the time it was sent, the producer's sequence number, the
// producer id and flags (warmup). Consumers take the time once per poll result (when the
// records were handed over) and record now - due for each record (and, with --rate, now - sent
// too: the part of the latency spent after the producer got to send, which tells a late
// producer from a slow bus); they also check that every producer's sequence numbers rise
// within each partition (publish order, DESIGN.md).
#include "perf.hpp"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cli_common.hpp"
#include "lanes/lanes.hpp"
#include "lanes_support/histogram.hpp"
#include "lanes_support/json_writer.hpp"
#include "lanes_support/run_info.hpp"
#include "metrics_flag.hpp"
#include "perf_report.hpp"
#include "persist_timeline.hpp"

namespace lanes_tools {
namespace {

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

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

// splitmix64: small, fast, good enough to pick keys.
struct rng {
  std::uint64_t s;
  std::uint64_t next() noexcept {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
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

// ---- threads and CPUs ----

std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
  if (cpus.empty()) {
    for (unsigned c = 0; c < std::max(1u, std::thread::hardware_concurrency()); ++c) {
      cpus.push_back(static_cast<int>(c));
    }
  }
  return cpus;
}

bool pin_this_thread(int cpu) noexcept {
  if (cpu < 0) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set) == 0;
}

// Waits until the steady clock reaches `due`; returns the time it saw last. Sleeps while
// the wait is long, then spins (or yields, when threads outnumber cores).
std::int64_t pace_until(std::int64_t due, bool may_spin) noexcept {
  for (;;) {
    const std::int64_t now = now_ns();
    if (now >= due) return now;
    const std::int64_t left = due - now;
    if (left > 200'000) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(left - 100'000));
    } else if (may_spin) {
      lanes::cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

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

struct run_plan {
  unsigned producers = 0;
  unsigned consumers_total = 0;
  std::vector<int> cpus;
  bool pinned = false;
  bool may_spin = true;  // threads <= CPUs: pacing and waits may spin
  std::vector<std::string> warnings;

  int cpu_of(unsigned thread_index) const { return pinned ? cpus[thread_index % cpus.size()] : -1; }
};

// ---- producer thread ----

lanes::errc send(lanes::producer& p, std::optional<std::string_view> key, std::vector<char>& buf,
                 const stamp& s, bool zero_copy, std::uint64_t& fallbacks) noexcept {
  std::memcpy(buf.data(), &s, sizeof s);
  if (zero_copy) {
    lanes::producer::claim c = p.try_claim(key, buf.size());
    if (c) {
      std::memcpy(c.value.data(), buf.data(), buf.size());
      return p.commit(c).status;
    }
    if (c.status != lanes::errc::full) return c.status;
    ++fallbacks;  // the ring is full: publish() knows how to wait for room
  }
  return p.publish(key, std::string_view(buf.data(), buf.size())).status;
}

void producer_main(const perf_options& o, const run_plan& plan, unsigned id, lanes::producer prod,
                   producer_slot& slot, shared_state& st) {
  pin_this_thread(plan.cpu_of(id));
  prod.set_max_block(std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(o.timeout_s)));
  std::vector<char> buf(o.message_size);
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<char>('a' + i % 26);
  key_picker keys(o.keys, o.key_space, 0x5EED0000ull + id);
  const unsigned n = plan.producers;
  auto share_of = [&](std::uint64_t total) { return total / n + (id < total % n ? 1 : 0); };
  auto finish = [&] {
    slot.end_ns = now_ns();
    slot.warm_done.store(true, std::memory_order_release);
    slot.done.store(true, std::memory_order_release);  // pairs with the main thread's acquire
  };

  while (st.phase.load(std::memory_order_acquire) < phase_warmup) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  const std::uint64_t warm = share_of(o.warmup);
  for (std::uint64_t i = 0; i < warm; ++i) {
    if (st.abort.load(std::memory_order_relaxed)) return finish();
    const std::int64_t now = now_ns();
    const stamp s{now, now, i, id, flag_warmup};
    slot.error = send(prod, keys.next(), buf, s, o.zero_copy, slot.claim_fallbacks);
    if (slot.error != lanes::errc::ok) return finish();
  }
  slot.warm_done.store(true, std::memory_order_release);  // pairs with the main thread

  while (st.phase.load(std::memory_order_acquire) < phase_measure) {
    if (st.abort.load(std::memory_order_relaxed)) return finish();
    std::this_thread::yield();
  }
  const std::int64_t t0 = st.t0.load(std::memory_order_relaxed);  // published before phase
  const bool paced = o.rate > 0;
  const double period = paced ? 1e9 * n / o.rate : 0.0;  // ns between this producer's sends
  const double offset = period * id / n;                 // producers interleave their slots
  const std::int64_t end_at =
      o.duration_s > 0 ? t0 + static_cast<std::int64_t>(o.duration_s * 1e9) : INT64_MAX;
  const std::uint64_t share = o.duration_s > 0 ? UINT64_MAX : share_of(o.count);
  std::uint64_t i = 0;
  for (; i < share; ++i) {
    std::int64_t t;
    std::int64_t sent_at;
    if (paced) {
      const std::int64_t due =
          t0 + static_cast<std::int64_t>(std::llround(offset + static_cast<double>(i) * period));
      if (due >= end_at) break;
      const std::int64_t now = pace_until(due, plan.may_spin);
      slot.max_behind_ns = std::max(slot.max_behind_ns, now - due);
      t = due;  // latency counts from here, however late the send is
      sent_at = now;
    } else {
      t = now_ns();
      if (t >= end_at) break;
      sent_at = t;
    }
    if (st.abort.load(std::memory_order_relaxed)) break;
    slot.error = send(prod, keys.next(), buf, stamp{t, sent_at, i, id, 0}, o.zero_copy,
                      slot.claim_fallbacks);
    if (slot.error != lanes::errc::ok) break;
    slot.sent.store(i + 1, std::memory_order_relaxed);  // progress, read every few ms
  }
  slot.sent.store(i, std::memory_order_relaxed);
  slot.bytes = i * o.message_size;
  finish();
}

// ---- consumer thread ----

void consumer_main(const perf_options& o, const run_plan& plan, unsigned thread_index,
                   lanes::consumer c, consumer_slot& slot, shared_state& st,
                   const persist_timeline* timeline) {
  pin_this_thread(plan.cpu_of(thread_index));
  std::vector<persist_timeline::cursor> cursors(o.partitions);
  const unsigned np = plan.producers;
  const bool paced = o.rate > 0;
  // Next expected sequence number per (partition, producer): publish order must hold.
  std::vector<std::uint64_t> next_seq(static_cast<std::size_t>(o.partitions) * np, 0);
  std::vector<lanes::topic_partition> owned;
  std::uint64_t owned_generation = UINT64_MAX;
  std::uint64_t confirmed = 0;
  std::uint64_t received = 0;
  std::uint64_t warm = 0;
  std::uint64_t bytes = 0;

  for (;;) {
    const int ph = st.phase.load(std::memory_order_acquire);
    if (ph == phase_stop) break;
    const auto timeout =
        ph == phase_setup ? std::chrono::milliseconds(1) : std::chrono::milliseconds(20);
    const lanes::poll_result r = c.poll(timeout);
    if (r.status == lanes::errc::closed) break;
    if (r.status != lanes::errc::ok) {
      ++slot.poll_errors;
      slot.last_error = r.status;
    }
    if (!r.records.empty()) {
      const std::int64_t now = now_ns();  // the records were handed over now
      std::uint64_t batch_sum = 0, batch_n = 0, batch_max = 0;
      for (const lanes::record_view& rec : r.records) {
        stamp s;
        if (rec.value.size() < stamp_size) {
          ++slot.malformed;
          continue;
        }
        std::memcpy(&s, rec.value.data(), sizeof s);
        if (s.producer >= np || rec.partition >= o.partitions) {
          ++slot.malformed;
          continue;
        }
        if ((s.flags & flag_warmup) != 0) {
          ++warm;
          continue;
        }
        const std::uint64_t lat = now > s.due_ns ? static_cast<std::uint64_t>(now - s.due_ns) : 0;
        slot.hist.record(lat);
        batch_sum += lat;
        ++batch_n;
        batch_max = std::max(batch_max, lat);
        if (paced) {
          slot.hist_sent.record(now > s.sent_ns ? static_cast<std::uint64_t>(now - s.sent_ns) : 0);
        }
        if (timeline != nullptr) {  // durable: where the time went
          persist_timeline::cursor& cur = cursors[rec.partition];
          const std::int64_t w = timeline->written_at(rec.partition, rec.offset, cur);
          const std::int64_t d = timeline->durable_at(rec.partition, rec.offset, cur);
          if (w >= s.sent_ns && d >= w && now >= d) {
            slot.to_written.record(static_cast<std::uint64_t>(w - s.sent_ns));
            slot.to_durable.record(static_cast<std::uint64_t>(d - w));
            slot.to_polled.record(static_cast<std::uint64_t>(now - d));
          }
        }
        ++received;
        bytes += rec.value.size();
        std::uint64_t& expect = next_seq[static_cast<std::size_t>(rec.partition) * np + s.producer];
        if (s.seq < expect) ++slot.order_errors;  // gaps are fine: keys spread a producer
        expect = s.seq + 1;
      }
      slot.last_ns = now;
      if (batch_n != 0) {
        // Read by the main thread's progress line only; no ordering needed.
        slot.lat_sum_ns.fetch_add(batch_sum, std::memory_order_relaxed);
        slot.lat_count.fetch_add(batch_n, std::memory_order_relaxed);
        if (batch_max > slot.lat_max_ns.load(std::memory_order_relaxed)) {
          slot.lat_max_ns.store(batch_max, std::memory_order_relaxed);
        }
      }
      slot.received.store(received, std::memory_order_relaxed);
      slot.warm.store(warm, std::memory_order_relaxed);
    }
    if (ph == phase_setup) {
      slot.assigned.store(static_cast<std::uint32_t>(c.assignment().size()),
                          std::memory_order_release);
    }
    // Pairs with the main thread's release of drain_epoch, which it raises only after every
    // producer finished: end offsets read by lag() below are final for that phase.
    const std::uint64_t epoch = st.drain_epoch.load(std::memory_order_acquire);
    if (epoch != confirmed) {
      if (c.generation() != owned_generation) {
        owned = c.assignment();
        owned_generation = c.generation();
      }
      bool caught_up = true;
      for (const lanes::topic_partition& tp : owned) caught_up = caught_up && c.lag(tp) == 0;
      if (caught_up) {
        confirmed = epoch;
        slot.caught_up.store(epoch, std::memory_order_release);
      }
    }
  }
  slot.bytes = bytes;
  c.close();
}

// ---- queue consumer thread (--mode queue) ----

// As consumer_main, but receives and acks each message. Order is checked per consumer: the
// offsets one consumer takes from a partition rise (nothing is nacked or expires here).
void queue_consumer_main(const perf_options& o, const run_plan& plan, unsigned thread_index,
                         lanes::bus& bus, lanes::queue_consumer c, consumer_slot& slot,
                         shared_state& st) {
  pin_this_thread(plan.cpu_of(thread_index));
  const unsigned np = plan.producers;
  const bool paced = o.rate > 0;
  std::vector<std::uint64_t> next_seq(static_cast<std::size_t>(o.partitions) * np, 0);
  std::uint64_t confirmed = 0;
  std::uint64_t received = 0;
  std::uint64_t warm = 0;
  std::uint64_t bytes = 0;
  for (;;) {
    const int ph = st.phase.load(std::memory_order_acquire);
    if (ph == phase_stop) break;
    const auto timeout =
        ph == phase_setup ? std::chrono::milliseconds(1) : std::chrono::milliseconds(20);
    const lanes::receive_result r = c.receive(o.max_poll_records, timeout);
    if (r.status == lanes::errc::closed) break;
    if (r.status != lanes::errc::ok) {
      ++slot.poll_errors;
      slot.last_error = r.status;
    }
    if (!r.messages.empty()) {
      const std::int64_t now = now_ns();  // the messages were handed over now
      for (const lanes::queue_message& m : r.messages) {
        const lanes::record_view& rec = m.record;
        stamp s;
        const bool well_formed = rec.value.size() >= stamp_size;
        if (well_formed) std::memcpy(&s, rec.value.data(), sizeof s);
        if (!well_formed || s.producer >= np || rec.partition >= o.partitions) {
          ++slot.malformed;
        } else if ((s.flags & flag_warmup) != 0) {
          ++warm;
        } else {
          slot.hist.record(now > s.due_ns ? static_cast<std::uint64_t>(now - s.due_ns) : 0);
          if (paced) {
            slot.hist_sent.record(now > s.sent_ns ? static_cast<std::uint64_t>(now - s.sent_ns)
                                                  : 0);
          }
          ++received;
          bytes += rec.value.size();
          std::uint64_t& expect =
              next_seq[static_cast<std::size_t>(rec.partition) * np + s.producer];
          if (s.seq < expect) ++slot.order_errors;
          expect = s.seq + 1;
        }
        if (const lanes::errc e = c.ack(m.receipt); e != lanes::errc::ok) {
          ++slot.poll_errors;
          slot.last_error = e;
        }
      }
      slot.last_ns = now;
      slot.received.store(received, std::memory_order_relaxed);
      slot.warm.store(warm, std::memory_order_relaxed);
    }
    // Pairs with the main thread's release of drain_epoch (raised after every producer
    // finished): the queue has nothing left to hand out once everything published is acked.
    const std::uint64_t epoch = st.drain_epoch.load(std::memory_order_acquire);
    if (epoch != confirmed) {
      const auto q = bus.describe_queue(o.topic);
      if (q && q->total().ack_floor == q->total().end_offset) {
        confirmed = epoch;
        slot.caught_up.store(epoch, std::memory_order_release);
      }
    }
  }
  slot.bytes = bytes;
  c.close();
}

// Checks what CLI11 cannot check alone. Returns an error message, or "" when fine.
std::string validate(const perf_options& o, std::size_t longest_key) {
  if (!lanes::bus::valid_topic_name(o.topic)) {
    return "--topic '" + o.topic + "': use 1..249 characters of [A-Za-z0-9._-]";
  }
  if (o.message_size < stamp_size) {
    return "--message-size " + std::to_string(o.message_size) + ": at least " +
           std::to_string(stamp_size) + " bytes (due and send times, producer, sequence)";
  }
  if (!lanes::is_power_of_two(o.ring_capacity) || o.ring_capacity < 4096 ||
      o.ring_capacity > (std::size_t{1} << 32)) {
    return "--ring-capacity " + std::to_string(o.ring_capacity) +
           ": a power of two from 4096 (4KiB) to 4294967296 (4GiB)";
  }
  const std::size_t largest =
      o.ring_capacity / 2 - sizeof(lanes::frame_header) - sizeof(lanes::record_header);
  if (o.message_size + longest_key > largest) {
    return "--message-size " + std::to_string(o.message_size) + " (+ key) does not fit a ring of " +
           std::to_string(o.ring_capacity) + " bytes (largest message " + std::to_string(largest) +
           " bytes); raise --ring-capacity";
  }
  if (o.rate < 0 || !std::isfinite(o.rate)) return "--rate: 0 (as fast as possible) or more";
  if (o.rate > 0 && o.producers / o.rate > o.timeout_s / 2) {
    return "--rate " + fmt("%g", o.rate) +
           ": a producer would wait longer than half of --timeout " + fmt("%g", o.timeout_s) +
           " s between messages; raise --rate or --timeout";
  }
  if (o.groups + 1 > 4096) return "--groups: at most 4095";
  if (o.mode == lanes::topic_mode::queue) {
    if (o.groups != 1) return "--mode queue: a queue topic is one queue; use --groups 1";
    if (o.policy != lanes::backpressure::block) {
      return "--mode queue: a queue keeps every message until it is acked; use --policy block";
    }
  }
  return {};
}

// An option taking one of a few names (any case), stored as the matching value; the first
// name is the default.
template <class E>
void add_choice(CLI::App* cmd, const std::string& name, E& target,
                std::vector<std::pair<std::string, E>> choices, const std::string& help) {
  std::vector<std::string> names;
  for (const auto& c : choices) names.push_back(c.first);
  cmd->add_option_function<std::string>(
         name,
         [&target, choices](const std::string& v) {
           for (const auto& [n, e] : choices) {
             if (n == v) target = e;
           }
         },
         help)
      ->check(CLI::IsMember(names, CLI::ignore_case))
      ->default_str(names.front());
}

// Which CPUs the run's threads go to, whether they may spin, and what to warn about (printed
// here, and kept for the JSON).
run_plan make_plan(const perf_options& o) {
  run_plan plan;
  plan.producers = o.producers;
  plan.consumers_total = o.groups * o.consumers;
  plan.cpus = allowed_cpus();
  const std::size_t threads = plan.producers + plan.consumers_total;
  const std::size_t ncpu = plan.cpus.size();
  plan.pinned = o.pin && threads <= ncpu;
  plan.may_spin = threads <= ncpu;
  // Producers never sleep while they have work (flat out, or pacing by spinning); consumers
  // spin only with --wait spin.
  const std::size_t spinning =
      plan.producers + (o.wait == wait_mode::spin ? plan.consumers_total : 0);
  if (spinning > ncpu) {
    plan.warnings.push_back(
        std::to_string(spinning) + " busy threads (" + std::to_string(plan.producers) +
        " producers" +
        (o.wait == wait_mode::spin
             ? " + " + std::to_string(plan.consumers_total) + " spinning consumers"
             : std::string()) +
        ") on " + std::to_string(ncpu) + " CPUs: oversubscribed, threads steal each other's " +
        "time and the numbers show the scheduler" +
        (o.wait == wait_mode::spin ? "; use --wait park" : std::string()));
  } else if (threads > ncpu) {
    plan.warnings.push_back(std::to_string(threads) + " threads on " + std::to_string(ncpu) +
                            " CPUs: not pinned; consumers park (--wait park) when idle");
  }
  if (o.groups == 0) plan.warnings.push_back("--groups 0: producers only, no latency");
  for (const std::string& w : plan.warnings)
    std::fprintf(stderr, "lanes perf: warning: %s\n", w.c_str());
  return plan;
}

// The option checks CLI11 cannot make; exit_ok when the run may start, else the exit code
// (the error is printed).
int check_options(const perf_options& o) {
  if (o.durability != lanes::durability::none && o.data_dir.empty()) {
    std::fprintf(stderr,
                 "lanes: error: --durability %s needs --data-dir DIR (where the "
                 "partitions are written)\n",
                 name_of(o.durability));
    return exit_usage;
  }
  if (o.durability != lanes::durability::none && o.policy == lanes::backpressure::overwrite) {
    std::fprintf(stderr, "lanes: error: --policy overwrite: durable topics need --policy block\n");
    return exit_usage;
  }
  {
    const key_picker probe(o.keys, o.keys == key_mode::none ? 0 : o.key_space, 0);
    if (const std::string e = validate(o, probe.longest()); !e.empty()) {
      std::fprintf(stderr, "lanes perf: %s\nRun with --help for more information.\n", e.c_str());
      return exit_usage;
    }
  }
  return exit_ok;
}

// A group's shortfalls against the `produced` messages: errors, or notes when the run had
// already failed (`ok` false) or overwrites on purpose.
void check_group(const perf_options& o, const group_result& r, std::uint64_t produced, bool ok,
                 perf_outcome& out) {
  const std::string who = "group " + r.name + ": ";
  if (r.missing != 0) {
    const std::string what =
        std::to_string(r.missing) + " of " + std::to_string(produced) + " messages";
    if (!ok) {
      // The run already failed and was stopped; the shortfall follows from that.
      out.notes.push_back(who + what + " not read when the run was stopped");
    } else if (o.policy == lanes::backpressure::overwrite) {
      out.notes.push_back(who + what + " overwritten before it read them (--policy overwrite)");
    } else {
      out.errors.push_back(who + what + " missing");
    }
  }
  if (r.duplicates != 0) {
    out.errors.push_back(who + std::to_string(r.duplicates) +
                         " messages more than were published (duplicates)");
  }
  if (r.order_errors != 0) {
    out.errors.push_back(who + std::to_string(r.order_errors) +
                         " messages out of publish order within a partition");
  }
  if (r.malformed != 0) {
    out.errors.push_back(who + std::to_string(r.malformed) + " records without a valid stamp");
  }
}

// Group g's messages and latency from its consumers' slots; returns when its last one read.
std::int64_t collect_group(unsigned g, const std::vector<std::unique_ptr<consumer_slot>>& cslots,
                           std::int64_t t0, group_result& r, perf_outcome& out) {
  r.name = "perf-g" + std::to_string(g);
  std::int64_t last = t0;
  for (auto& s : cslots) {
    if (s->group != g) continue;
    r.messages += s->received.load(std::memory_order_relaxed);
    r.bytes += s->bytes;
    r.order_errors += s->order_errors;
    r.malformed += s->malformed;
    last = std::max(last, s->last_ns);
    r.hist.merge(s->hist);
    r.hist_sent.merge(s->hist_sent);
    out.to_written.merge(s->to_written);
    out.to_durable.merge(s->to_durable);
    out.to_polled.merge(s->to_polled);
    if (s->poll_errors != 0) {
      out.errors.push_back(
          "group " + r.name + ": " + std::to_string(s->poll_errors) +
          " polls failed, last: " + lanes::make_error_code(s->last_error).message());
    }
  }
  r.elapsed_s = static_cast<double>(last - t0) / 1e9;
  return last;
}

// What the run measured, from the threads' slots once they are joined: rates, latency, and
// every shortfall as an error (or a note when the run had already failed or overwrites).
perf_outcome collect_outcome(const perf_options& o,
                             const std::vector<std::unique_ptr<producer_slot>>& pslots,
                             const std::vector<std::unique_ptr<consumer_slot>>& cslots,
                             std::int64_t t0, std::uint64_t produced, bool ok, lanes::bus& bus,
                             std::vector<std::string> errors, bool split) {
  perf_outcome out;
  out.errors = std::move(errors);
  out.produced = produced;
  out.split = split;
  std::int64_t producer_end = t0;
  for (unsigned i = 0; i < o.producers; ++i) {
    const producer_slot& s = *pslots[i];
    producer_end = std::max(producer_end, s.end_ns);
    out.produced_bytes += s.bytes;
    out.max_behind = std::max(out.max_behind, s.max_behind_ns);
    out.fallbacks += s.claim_fallbacks;
    if (s.error != lanes::errc::ok && !(s.error == lanes::errc::closed && !out.errors.empty())) {
      out.errors.push_back("producer " + std::to_string(i) +
                           ": publish failed: " + lanes::make_error_code(s.error).message());
    }
  }
  out.producer_s = static_cast<double>(producer_end - t0) / 1e9;
  std::int64_t run_end = producer_end;
  out.groups.resize(o.groups);
  for (unsigned g = 0; g < o.groups; ++g) {
    group_result& r = out.groups[g];
    run_end = std::max(run_end, collect_group(g, cslots, t0, r, out));
    out.all.merge(r.hist);
    out.all_sent.merge(r.hist_sent);
    if (r.messages < produced) r.missing = produced - r.messages;
    if (r.messages > produced) r.duplicates = r.messages - produced;
    check_group(o, r, produced, ok, out);
  }
  if (!ok) {
    // Where things stood: per partition end offset and each group's position.
    if (auto info = bus.describe_topic(o.topic)) {
      for (const lanes::partition_stats& p : info->partitions) {
        std::string s = "partition " + std::to_string(p.partition) + ": end offset " +
                        std::to_string(p.end_offset);
        for (const auto& gs : p.groups) {
          s += ", " + gs.group + " committed " + std::to_string(gs.committed);
        }
        out.notes.push_back(s);
      }
    }
  }
  out.elapsed_s = static_cast<double>(run_end - t0) / 1e9;
  return out;
}

// The run's consumers (queue or log mode), producers and their slots.
struct perf_clients {
  std::vector<std::unique_ptr<consumer_slot>> slots;  // one per consumer, log or queue
  std::vector<lanes::consumer> consumers;
  std::vector<lanes::queue_consumer> queue_consumers;
  std::vector<std::unique_ptr<producer_slot>> pslots;
  std::vector<lanes::producer> producers;
};

// Makes o.groups x o.consumers consumers and o.producers producers of o.topic; exit_ok, or
// exit_failed with the error printed.
int make_clients(const perf_options& o, lanes::bus& bus, perf_clients& c) {
  const bool queue = o.mode == lanes::topic_mode::queue;
  const bool durable = o.durability != lanes::durability::none;
  for (unsigned g = 0; queue && g < o.groups; ++g) {
    for (unsigned k = 0; k < o.consumers; ++k) {
      lanes::queue_consumer_config qc;
      qc.topic = o.topic;
      qc.max_receive = o.max_poll_records;
      qc.busy_spin = o.wait == wait_mode::spin;
      lanes::errc e = lanes::errc::ok;
      c.queue_consumers.push_back(bus.make_queue_consumer(qc, &e));
      if (e != lanes::errc::ok) {
        std::fprintf(stderr, "lanes perf: queue consumer %u: %s\n", k,
                     lanes::make_error_code(e).message().c_str());
        return exit_failed;
      }
      c.slots.push_back(std::make_unique<consumer_slot>());
      c.slots.back()->group = g;
    }
  }
  for (unsigned g = 0; !queue && g < o.groups; ++g) {
    for (unsigned k = 0; k < o.consumers; ++k) {
      lanes::consumer_config cc;
      cc.group = "perf-g" + std::to_string(g);
      cc.reset = lanes::offset_reset::earliest;
      cc.busy_spin = o.wait == wait_mode::spin;
      cc.max_poll_records = o.max_poll_records;
      cc.read_durable_only = durable;
      lanes::errc e = lanes::errc::ok;
      lanes::consumer cons = bus.make_consumer(cc, &e);
      if (e == lanes::errc::ok) e = cons.subscribe({std::string_view(o.topic)});
      if (e != lanes::errc::ok) {
        std::fprintf(stderr, "lanes perf: consumer %u of group %s: %s\n", k, cc.group.c_str(),
                     lanes::make_error_code(e).message().c_str());
        return exit_failed;
      }
      c.consumers.push_back(std::move(cons));
      c.slots.push_back(std::make_unique<consumer_slot>());
      c.slots.back()->group = g;
    }
  }
  for (unsigned i = 0; i < o.producers; ++i) {
    lanes::errc e = lanes::errc::ok;
    c.producers.push_back(bus.make_producer(o.topic, &e));
    if (e != lanes::errc::ok) {
      std::fprintf(stderr, "lanes perf: producer %u: %s\n", i,
                   lanes::make_error_code(e).message().c_str());
      return exit_failed;
    }
    c.pslots.push_back(std::make_unique<producer_slot>());
  }
  return exit_ok;
}

}  // namespace

// ---------------------------------------------------------------------------------------

CLI::App* add_perf_command(CLI::App& app, perf_options& o) {
  CLI::App* cmd = app.add_subcommand(
      "perf",
      "Throughput and end-to-end latency of an in-memory bus in one process: producer threads "
      "publish, consumer groups read (as Kafka's producer/consumer perf tests)");
  cmd->add_option("--topic", o.topic, "Topic to create and use")->capture_default_str();
  add_choice(cmd, "--mode", o.mode,
             {{"log", lanes::topic_mode::log}, {"queue", lanes::topic_mode::queue}},
             "log: groups poll the topic; queue: competing consumers receive and ack");
  add_count_option(cmd, "--partitions", o.partitions, 1, 65536, "Partitions of the topic");
  add_count_option(cmd, "--producers", o.producers, 1, 1024,
                   "Producer threads (each publishes its share)");
  add_count_option(cmd, "--consumers", o.consumers, 1, 1024, "Consumer threads per group");
  add_count_option(cmd, "--groups", o.groups, 0, 4095,
                   "Consumer groups perf-g0, perf-g1, ...; each reads every message (0: "
                   "producers only)");
  add_count_option(
      cmd, "--message-size", o.message_size, 1, std::uint64_t{1} << 31,
      "Value bytes per message (the first 32 carry due and send times, producer, sequence)");
  CLI::Option* count =
      add_count_option(cmd, "--count", o.count, 1, UINT64_MAX / 2,
                       "Messages in total over all producers (not with --duration)");
  CLI::Option* duration =
      add_real_option(cmd, "--duration", o.duration_s, "seconds", 0, bound::exclusive, 1e6,
                      "Publish for this many seconds instead of --count");
  count->excludes(duration);
  duration->excludes(count);
  add_choice(
      cmd, "--keys", o.keys,
      {{"none", key_mode::none}, {"uniform", key_mode::uniform}, {"skewed", key_mode::skewed}},
      "none: round-robin without keys; uniform: random key \"key-N\" out of "
      "--key-space; skewed: 80% of messages on 20% of the keys");
  add_count_option(cmd, "--key-space", o.key_space, 1, 100'000'000,
                   "Distinct keys for --keys uniform|skewed");
  add_real_option(cmd, "--rate", o.rate, "messages/s", 0, bound::inclusive, 1e9,
                  "Target messages/s over all producers (0: as fast as possible); latency then "
                  "counts from each message's due time");
  add_size_option(cmd, "--ring-capacity", o.ring_capacity, 1, std::uint64_t{1} << 40,
                  "Ring bytes per partition, a power of two (e.g. 8MiB, 65536)")
      ->default_str("8MiB");
  add_choice(cmd, "--policy", o.policy,
             {{"block", lanes::backpressure::block}, {"overwrite", lanes::backpressure::overwrite}},
             "Full ring: block the producer, or overwrite the oldest messages");
  add_choice(cmd, "--wait", o.wait, {{"park", wait_mode::park}, {"spin", wait_mode::spin}},
             "How consumers wait in poll: park (spin briefly, then sleep; for threads > cores) "
             "or spin (busy-spin: lowest latency, burns a core each)");
  cmd->add_flag("--zero-copy", o.zero_copy,
                "Publish with try_claim/commit (write the value in the ring) instead of publish");
  add_count_option(cmd, "--max-poll-records", o.max_poll_records, 1, std::uint64_t{1} << 20,
                   "Records per poll at most");
  add_count_option(cmd, "--warmup", o.warmup, 0, UINT64_MAX / 2,
                   "Messages published and consumed first, not measured");
  add_real_option(cmd, "--timeout", o.timeout_s, "seconds", 0, bound::exclusive, 1e6,
                  "Fail when the run makes no progress for this many seconds");
  add_real_option(cmd, "--report-interval", o.report_interval_s, "seconds", 0, bound::inclusive,
                  1e6, "Seconds between progress lines on stderr (0: none)");
  cmd->add_flag("--pin,!--no-pin", o.pin,
                "Pin threads to CPUs round-robin when threads <= CPUs (default), or not");
  cmd->add_flag("--json", o.json,
                "Print one JSON object on stdout (the human summary goes to stderr)");
  cmd->add_option("--out", o.out, "Also write the JSON result to this file");
  add_metrics_flag(*cmd, o.metrics_listen);
  cmd->add_option("--data-dir", o.data_dir,
                  "Open the bus on this data directory (the topic must not exist there; it is "
                  "deleted after the run unless --keep-topic)");
  add_durability_option(cmd, "--durability", o.durability,
                        "none: memory only; async: group commit; sync: every publish waits for "
                        "the disk. Durable runs need --data-dir; consumers then read durable "
                        "records only, so latency includes the disk");
  cmd->add_flag("--keep-topic", o.keep_topic, "Keep the topic and its files after the run");
  cmd->add_flag("--progress", o.progress,
                "A live progress line on stderr even when it is not a terminal");
  return cmd;
}

int run_perf(const perf_options& o) {
  if (const int e = check_options(o); e != exit_ok) return e;
  const bool durable = o.durability != lanes::durability::none;
  const bool live_progress = o.progress || ::isatty(STDERR_FILENO) == 1;
  std::FILE* const human = o.json ? stderr : stdout;
  const double load_before = load_average();

  // ---- plan threads and CPUs ----
  const run_plan plan = make_plan(o);
  const std::size_t ncpu = plan.cpus.size();

  // ---- bus, topic, consumers, producers ----
  lanes::bus_config bc;
  bc.housekeeping_interval = std::chrono::milliseconds(0);  // no retention: no extra thread
  std::unique_ptr<lanes::bus> bus_holder;
  if (o.data_dir.empty()) {
    bus_holder = std::make_unique<lanes::bus>(bc);
  } else {
    bus_holder = open_bus(o.data_dir, dir_use::may_create);
    if (bus_holder->describe_topic(o.topic)) {
      std::fprintf(stderr,
                   "lanes: error: topic '%s' exists in %s; pick another --topic or delete it "
                   "(lanes topics --data-dir %s delete %s)\n",
                   o.topic.c_str(), o.data_dir.c_str(), o.data_dir.c_str(), o.topic.c_str());
      return exit_failed;
    }
  }
  lanes::bus& bus = *bus_holder;
  const auto metrics = serve_metrics(bus, o.metrics_listen);  // destroyed before the bus
  // A durable topic that this run created is deleted at the end (unless --keep-topic).
  struct topic_cleanup {
    lanes::bus& b;
    const perf_options& opt;
    bool armed = false;
    ~topic_cleanup() {
      if (armed && !opt.keep_topic && !b.is_closed()) (void)b.delete_topic(opt.topic);
    }
  } cleanup{bus, o};
  lanes::topic_config tc;
  tc.mode = o.mode;
  tc.durable = o.durability;
  tc.partitions = o.partitions;
  tc.ring_capacity = o.ring_capacity;
  tc.producers = o.producers == 1 ? lanes::producer_mode::single : lanes::producer_mode::multi;
  tc.policy = o.policy;
  tc.max_readers = std::max<std::size_t>(32, o.groups + 1);
  if (const lanes::errc e = bus.create_topic(o.topic, tc); e != lanes::errc::ok) {
    std::fprintf(stderr, "lanes perf: create_topic(%s): %s\n", o.topic.c_str(),
                 lanes::make_error_code(e).message().c_str());
    return exit_failed;
  }
  cleanup.armed = !o.data_dir.empty();

  shared_state st;
  perf_clients clients;
  if (const int e = make_clients(o, bus, clients); e != exit_ok) return e;
  const bool queue = o.mode == lanes::topic_mode::queue;
  auto& cslots = clients.slots;
  auto& pslots = clients.pslots;
  auto& consumers = clients.consumers;
  auto& queue_consumers = clients.queue_consumers;
  auto& producers = clients.producers;

  // Durable runs: the persister's watermark times, for the latency split.
  std::unique_ptr<persist_timeline> timeline;
  if (durable && !queue) {
    timeline = std::make_unique<persist_timeline>(o.partitions);
    (void)bus.on_persist_progress(
        o.topic, [tl = timeline.get()](std::uint32_t p, std::uint64_t w, std::uint64_t d) {
          tl->record(p, w, d, now_ns());
        });
  }
  std::vector<std::thread> cthreads;
  for (std::size_t k = 0; k < queue_consumers.size(); ++k) {
    cthreads.emplace_back(queue_consumer_main, std::cref(o), std::cref(plan),
                          static_cast<unsigned>(plan.producers + k), std::ref(bus),
                          std::move(queue_consumers[k]), std::ref(*cslots[k]), std::ref(st));
  }
  for (std::size_t k = 0; k < consumers.size(); ++k) {
    cthreads.emplace_back(consumer_main, std::cref(o), std::cref(plan),
                          static_cast<unsigned>(plan.producers + k), std::move(consumers[k]),
                          std::ref(*cslots[k]), std::ref(st), timeline.get());
  }
  std::vector<std::thread> pthreads;
  for (unsigned i = 0; i < o.producers; ++i) {
    pthreads.emplace_back(producer_main, std::cref(o), std::cref(plan), i, std::move(producers[i]),
                          std::ref(*pslots[i]), std::ref(st));
  }

  // ---- drive the phases (main thread) ----
  std::vector<std::string> errors;
  const auto stall_limit = static_cast<std::int64_t>(o.timeout_s * 1e9);
  auto progress = [&] {
    std::uint64_t p = 0;
    for (auto& s : pslots) p += s->sent.load(std::memory_order_relaxed);
    for (auto& s : cslots) {
      p += s->received.load(std::memory_order_relaxed) + s->warm.load(std::memory_order_relaxed);
    }
    return p;
  };
  // Waits until done() or no progress for --timeout; false (with an error) on a stall.
  auto wait_for = [&](const char* what, auto&& done, auto&& tick) {
    std::uint64_t last = progress();
    std::int64_t last_change = now_ns();
    for (;;) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      tick();
      const std::uint64_t p = progress();
      const std::int64_t now = now_ns();
      if (p != last) {
        last = p;
        last_change = now;
      } else if (now - last_change > stall_limit) {
        errors.push_back(std::string("no progress for ") + fmt("%g", o.timeout_s) + " s while " +
                         what);
        return false;
      }
    }
  };
  auto no_tick = [] {};
  auto group_sum = [&](unsigned g, auto field) {
    std::uint64_t n = 0;
    for (auto& s : cslots) {
      if (s->group == g) n += ((*s).*field).load(std::memory_order_acquire);
    }
    return n;
  };
  auto group_caught_up = [&](unsigned g, std::uint64_t epoch) {
    for (auto& s : cslots) {
      if (s->group == g && s->caught_up.load(std::memory_order_acquire) < epoch) return false;
    }
    return true;
  };
  // Every group has `expected` messages (field) or has read all there is (epoch confirmed).
  auto groups_done = [&](auto field, std::uint64_t expected, std::uint64_t epoch) {
    for (unsigned g = 0; g < o.groups; ++g) {
      if (group_sum(g, field) < expected && !group_caught_up(g, epoch)) return false;
    }
    return true;
  };

  bool ok = wait_for(
      "consumers joined their groups",
      [&] {
        if (queue) return true;  // queue consumers share every partition from the start
        for (unsigned g = 0; g < o.groups; ++g) {
          if (group_sum(g, &consumer_slot::assigned) != o.partitions) return false;
        }
        return true;
      },
      no_tick);
  // The setup has no progress counter: wait_for above fails after --timeout as a stall.
  if (ok) {
    st.phase.store(phase_warmup, std::memory_order_release);
    ok = wait_for(
        "warming up",
        [&] {
          for (auto& s : pslots) {
            if (!s->warm_done.load(std::memory_order_acquire)) return false;
          }
          return true;
        },
        no_tick);
  }
  if (ok) {
    st.drain_epoch.store(1, std::memory_order_release);  // every producer finished warmup
    ok = wait_for(
        "draining the warmup messages",
        [&] { return groups_done(&consumer_slot::warm, o.warmup, 1); }, no_tick);
  }

  const std::int64_t t0 = now_ns();
  std::int64_t next_report = t0 + static_cast<std::int64_t>(o.report_interval_s * 1e9);
  std::uint64_t last_reported = 0;
  std::int64_t last_report_ns = t0;
  // The live progress line (a terminal, or --progress): rewritten in place twice a second
  // with messages, rate, elapsed time and latency so far (mean and max over every group).
  const std::int64_t progress_every = 500'000'000;
  std::int64_t next_progress = t0 + progress_every;
  bool progress_shown = false;
  auto progress_tick = [&](std::int64_t now) {
    if (!live_progress || now < next_progress) return;
    std::uint64_t sent = 0;
    for (auto& s : pslots) sent += s->sent.load(std::memory_order_relaxed);
    std::uint64_t received = 0, lat_sum = 0, lat_n = 0, lat_max = 0;
    for (auto& s : cslots) {
      received += s->received.load(std::memory_order_relaxed);
      lat_sum += s->lat_sum_ns.load(std::memory_order_relaxed);
      lat_n += s->lat_count.load(std::memory_order_relaxed);
      lat_max = std::max(lat_max, s->lat_max_ns.load(std::memory_order_relaxed));
    }
    const double elapsed = static_cast<double>(now - t0) / 1e9;
    std::string line = fmt("\rlanes perf: %.1f s, ", elapsed) + std::to_string(sent) +
                       " msgs sent, " +
                       fmt("%.0f msg/s", per_second(static_cast<double>(sent), elapsed)) + ", " +
                       std::to_string(received) + " received";
    if (lat_n != 0) {
      line += ", latency mean " + fmt_us(lat_sum / lat_n) + " us, max " + fmt_us(lat_max) + " us";
    }
    line += "   ";
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
    progress_shown = true;
    next_progress = now + progress_every;
  };
  auto report_tick = [&] {
    const std::int64_t now = now_ns();
    progress_tick(now);
    if (o.report_interval_s <= 0 || live_progress) return;
    if (now < next_report) return;
    std::uint64_t sent = 0;
    for (auto& s : pslots) sent += s->sent.load(std::memory_order_relaxed);
    std::string line = fmt("lanes perf: %.1f s: ", static_cast<double>(now - t0) / 1e9) +
                       std::to_string(sent) + " sent (" +
                       fmt("%.0f", per_second(static_cast<double>(sent - last_reported),
                                              static_cast<double>(now - last_report_ns) / 1e9)) +
                       " msg/s)";
    for (unsigned g = 0; g < o.groups; ++g) {
      line += ", perf-g" + std::to_string(g) + " " +
              std::to_string(group_sum(g, &consumer_slot::received)) + " received";
    }
    std::fprintf(stderr, "%s\n", line.c_str());
    last_reported = sent;
    last_report_ns = now;
    next_report = now + static_cast<std::int64_t>(o.report_interval_s * 1e9);
  };
  if (ok) {
    st.t0.store(t0, std::memory_order_relaxed);
    st.phase.store(phase_measure, std::memory_order_release);  // pairs with the producers
    ok = wait_for(
        "publishing",
        [&] {
          for (auto& s : pslots) {
            if (!s->done.load(std::memory_order_acquire)) return false;
          }
          return true;
        },
        report_tick);
  }
  if (!ok) {
    // Wake everyone blocked in publish or poll: both return errc::closed.
    st.abort.store(true, std::memory_order_relaxed);
    bus.close();
  }
  for (auto& t : pthreads) t.join();

  std::uint64_t produced = 0;
  for (auto& s : pslots) produced += s->sent.load(std::memory_order_relaxed);
  if (ok) {
    st.phase.store(phase_drain, std::memory_order_release);
    st.drain_epoch.store(2, std::memory_order_release);  // producers are joined: ends are final
    ok = wait_for(
        "draining", [&] { return groups_done(&consumer_slot::received, produced, 2); },
        report_tick);
    if (!ok) bus.close();
  }
  st.phase.store(phase_stop, std::memory_order_release);
  for (auto& t : cthreads) t.join();
  if (progress_shown) std::fputs("\n", stderr);

  // ---- results ----
  const perf_outcome out = collect_outcome(o, pslots, cslots, t0, produced, ok, bus,
                                           std::move(errors), timeline != nullptr);
  const perf_machine machine{load_before, ncpu, plan.pinned, plan.warnings};
  print_perf_summary(human, o, machine, out);
  if (o.json || !o.out.empty()) {
    const std::string text = perf_json(o, machine, out);
    if (o.json) std::fputs(text.c_str(), stdout);
    if (!o.out.empty()) {
      std::ofstream f(o.out);
      f << text;
      f.close();
      if (!f) {
        std::fprintf(stderr, "lanes perf: cannot write %s\n", o.out.c_str());
        return exit_failed;
      }
    }
  }
  return out.errors.empty() ? exit_ok : exit_failed;
}

}  // namespace lanes_tools
