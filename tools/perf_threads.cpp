// tools/perf_threads.cpp: the thread bodies of `lanes perf`: producers publish stamped
// messages phase by phase, consumers (log groups or a queue) read them, measure latency and
// check publish order. The main thread moves the phases forward (perf_run.cpp); the stamp and
// the shared state are in perf_internal.hpp.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "lanes_support/cpu_affinity.hpp"
#include "perf_internal.hpp"

namespace lanes_tools::perf_detail {
namespace {

using lanes_support::pin_this_thread;  // a negative cpu: the plan leaves the thread unpinned

// Waits until the steady clock reaches `due`; returns the time it saw last. Sleeps while
// the wait is long, then spins (or yields, when threads outnumber cores).
std::int64_t pace_until(std::int64_t due, bool may_spin) noexcept {
  for (;;) {
    const std::int64_t now = steady_ns();
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

// One producer thread's run: what its phases share.
struct producer_run {
  const perf_options& o;
  const run_plan& plan;
  unsigned id;
  lanes::producer& prod;
  producer_slot& slot;
  shared_state& st;
  std::vector<char> buf;
  key_picker keys;

  // This producer's part of `total` messages.
  std::uint64_t share_of(std::uint64_t total) const {
    const unsigned n = plan.producers;
    return total / n + (id < total % n ? 1 : 0);
  }
};

std::vector<char> filled_value(std::size_t size) {
  std::vector<char> buf(size);
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<char>('a' + i % 26);
  return buf;
}

// Ends the thread's work, whichever phase it is in.
void finish(producer_slot& slot) {
  slot.end_ns = steady_ns();
  slot.warm_done.store(true, std::memory_order_release);
  slot.done.store(true, std::memory_order_release);  // pairs with the main thread's acquire
}

// Publishes this producer's share of --warmup once the phase starts; false when the run
// was aborted or a publish failed.
bool publish_warmup(producer_run& r) {
  while (r.st.phase.load(std::memory_order_acquire) < phase_warmup) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  const std::uint64_t warm = r.share_of(r.o.warmup);
  for (std::uint64_t i = 0; i < warm; ++i) {
    if (r.st.abort.load(std::memory_order_relaxed)) return false;
    const std::int64_t now = steady_ns();
    const stamp s{now, now, i, r.id, flag_warmup};
    r.slot.error = send(r.prod, r.keys.next(), r.buf, s, r.o.zero_copy, r.slot.claim_fallbacks);
    if (r.slot.error != lanes::errc::ok) return false;
  }
  r.slot.warm_done.store(true, std::memory_order_release);  // pairs with the main thread
  return true;
}

// Waits for the measured phase; false when the run was aborted meanwhile.
bool wait_for_measure(producer_run& r) {
  while (r.st.phase.load(std::memory_order_acquire) < phase_measure) {
    if (r.st.abort.load(std::memory_order_relaxed)) return false;
    std::this_thread::yield();
  }
  return true;
}

// The measured phase: --count messages (this producer's share) or --duration seconds, at
// --rate or flat out.
void publish_measured(producer_run& r) {
  const perf_options& o = r.o;
  producer_slot& slot = r.slot;
  const unsigned n = r.plan.producers;
  const std::int64_t t0 = r.st.t0.load(std::memory_order_relaxed);  // published before phase
  const bool paced = o.rate > 0;
  const double period = paced ? 1e9 * n / o.rate : 0.0;  // ns between this producer's sends
  const double offset = period * r.id / n;               // producers interleave their slots
  const std::int64_t end_at =
      o.duration_s > 0 ? t0 + static_cast<std::int64_t>(o.duration_s * 1e9) : INT64_MAX;
  const std::uint64_t share = o.duration_s > 0 ? UINT64_MAX : r.share_of(o.count);
  std::uint64_t i = 0;
  for (; i < share; ++i) {
    std::int64_t t;
    std::int64_t sent_at;
    if (paced) {
      const std::int64_t due =
          t0 + static_cast<std::int64_t>(std::llround(offset + static_cast<double>(i) * period));
      if (due >= end_at) break;
      const std::int64_t now = pace_until(due, r.plan.may_spin);
      slot.max_behind_ns = std::max(slot.max_behind_ns, now - due);
      t = due;  // latency counts from here, however late the send is
      sent_at = now;
    } else {
      t = steady_ns();
      if (t >= end_at) break;
      sent_at = t;
    }
    if (r.st.abort.load(std::memory_order_relaxed)) break;
    slot.error = send(r.prod, r.keys.next(), r.buf, stamp{t, sent_at, i, r.id, 0}, o.zero_copy,
                      slot.claim_fallbacks);
    if (slot.error != lanes::errc::ok) break;
    slot.sent.store(i + 1, std::memory_order_relaxed);  // progress, read every few ms
  }
  slot.sent.store(i, std::memory_order_relaxed);
  slot.bytes = i * o.message_size;
}

// ---- consumer thread ----

// One log consumer's reading state.
struct log_reader {
  std::vector<persist_timeline::cursor> cursors;
  // Next expected sequence number per (partition, producer): publish order must hold.
  std::vector<std::uint64_t> next_seq;
  std::vector<lanes::topic_partition> owned;
  std::uint64_t owned_generation = UINT64_MAX;
  std::uint64_t confirmed = 0;
  std::uint64_t received = 0;
  std::uint64_t warm = 0;
  std::uint64_t bytes = 0;
};

// Takes one poll result's records: latency (and, durable, where the time went), order,
// counts; then publishes the counts for the main thread.
void take_records(const perf_options& o, unsigned np, const lanes::poll_result& r,
                  const persist_timeline* timeline, log_reader& rd, consumer_slot& slot) {
  const bool paced = o.rate > 0;
  const std::int64_t now = steady_ns();  // the records were handed over now
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
      ++rd.warm;
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
      persist_timeline::cursor& cur = rd.cursors[rec.partition];
      const std::int64_t w = timeline->written_at(rec.partition, rec.offset, cur);
      const std::int64_t d = timeline->durable_at(rec.partition, rec.offset, cur);
      if (w >= s.sent_ns && d >= w && now >= d) {
        slot.to_written.record(static_cast<std::uint64_t>(w - s.sent_ns));
        slot.to_durable.record(static_cast<std::uint64_t>(d - w));
        slot.to_polled.record(static_cast<std::uint64_t>(now - d));
      }
    }
    ++rd.received;
    rd.bytes += rec.value.size();
    std::uint64_t& expect = rd.next_seq[static_cast<std::size_t>(rec.partition) * np + s.producer];
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
  slot.received.store(rd.received, std::memory_order_relaxed);
  slot.warm.store(rd.warm, std::memory_order_relaxed);
}

// Says so in the slot once this consumer has read everything of the current drain epoch.
void confirm_drained(lanes::consumer& c, log_reader& rd, consumer_slot& slot, shared_state& st) {
  // Pairs with the main thread's release of drain_epoch, which it raises only after every
  // producer finished: end offsets read by lag() below are final for that phase.
  const std::uint64_t epoch = st.drain_epoch.load(std::memory_order_acquire);
  if (epoch == rd.confirmed) return;
  if (c.generation() != rd.owned_generation) {
    rd.owned = c.assignment();
    rd.owned_generation = c.generation();
  }
  bool caught_up = true;
  for (const lanes::topic_partition& tp : rd.owned) caught_up = caught_up && c.lag(tp) == 0;
  if (caught_up) {
    rd.confirmed = epoch;
    slot.caught_up.store(epoch, std::memory_order_release);
  }
}

}  // namespace

void producer_main(const perf_options& o, const run_plan& plan, unsigned id, lanes::producer prod,
                   producer_slot& slot, shared_state& st) {
  pin_this_thread(plan.cpu_of(id));
  prod.set_max_block(std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(o.timeout_s)));
  producer_run r{o,
                 plan,
                 id,
                 prod,
                 slot,
                 st,
                 filled_value(o.message_size),
                 key_picker(o.keys, o.key_space, 0x5EED0000ull + id)};
  if (publish_warmup(r) && wait_for_measure(r)) publish_measured(r);
  finish(slot);
}

void consumer_main(const perf_options& o, const run_plan& plan, unsigned thread_index,
                   lanes::consumer c, consumer_slot& slot, shared_state& st,
                   const persist_timeline* timeline) {
  pin_this_thread(plan.cpu_of(thread_index));
  const unsigned np = plan.producers;
  log_reader rd;
  rd.cursors.resize(o.partitions);
  rd.next_seq.assign(static_cast<std::size_t>(o.partitions) * np, 0);
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
    if (!r.records.empty()) take_records(o, np, r, timeline, rd, slot);
    if (ph == phase_setup) {
      slot.assigned.store(static_cast<std::uint32_t>(c.assignment().size()),
                          std::memory_order_release);
    }
    confirm_drained(c, rd, slot, st);
  }
  slot.bytes = rd.bytes;
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
      const std::int64_t now = steady_ns();  // the messages were handed over now
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

}  // namespace lanes_tools::perf_detail
