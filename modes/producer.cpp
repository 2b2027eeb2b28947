// modes/producer.cpp: producers: publish (key routing, claim, encode, commit), batches,
// try_claim/commit, blocking when the ring is full, durable waits.
#include <algorithm>
#include <cstddef>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "bus_state.hpp"
#include "lanes/clock.hpp"
#include "record_codec.hpp"

namespace lanes {

// ---------------------------------------------------------------------------------------
// producer

producer::producer(std::shared_ptr<detail::topic_state> t) noexcept
    : topic_(std::move(t)), partitioner_(topic_->config.partitions) {}

producer::producer(producer&& o) noexcept { *this = std::move(o); }

producer& producer::operator=(producer&& o) noexcept {
  if (this != &o) {
    if (topic_) topic_->producers.fetch_sub(1, std::memory_order_acq_rel);
    topic_ = std::move(o.topic_);
    partitioner_ = o.partitioner_;
    max_block_ = o.max_block_;
    claim_open_ = o.claim_open_;
    o.claim_open_ = false;
  }
  return *this;
}

producer::~producer() {
  if (topic_) topic_->producers.fetch_sub(1, std::memory_order_acq_rel);
}

const std::string& producer::topic() const noexcept { return topic_->name; }

namespace {

// Writes the record header, key and encoded headers at the start of a claimed frame and
// returns where the value goes. The header is built in registers and stored whole: every
// store a publish makes is a store-buffer entry, and while the consumer keeps the line of
// the newest record in its cache those entries drain one coherence round trip at a time.
// Copies n bytes. Small copies (keys, small values) are done inline with overlapping loads
// and stores instead of a call into the C library, which costs more than the copy itself.
[[gnu::always_inline]] inline void copy_bytes(std::byte* dst, const void* src,
                                              std::size_t n) noexcept {
  const auto* from = static_cast<const std::byte*>(src);
  auto chunk = [&]<std::size_t k>(std::size_t at) {
#if defined(__SSE2__)
    if constexpr (k == 16) {
      // Two 8-byte loads, one 16-byte store: a value the caller has just written with
      // 8-byte (or wider) stores forwards to 8-byte loads, where a 16-byte load spanning
      // two of those stores cannot forward and waits for the store buffer to drain, and
      // with it for every store to a ring line still on its way back from the consumer.
      std::uint64_t lo, hi;
      std::memcpy(&lo, from + at, 8);
      std::memcpy(&hi, from + at + 8, 8);
      asm("" : "+r"(lo), "+r"(hi));  // or the compiler merges them into one 16-byte load
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + at),
                       _mm_set_epi64x(static_cast<long long>(hi), static_cast<long long>(lo)));
      return;
    }
#endif
    unsigned char tmp[k];
    std::memcpy(tmp, from + at, k);
    std::memcpy(dst + at, tmp, k);
  };
  if (n >= 16) {
    if (n > 64) {
      std::memcpy(dst, src, n);
      return;
    }
    chunk.template operator()<16>(0);
    if (n > 32) {
      chunk.template operator()<16>(16);
      chunk.template operator()<16>(n - 32);
    }
    chunk.template operator()<16>(n - 16);
  } else if (n >= 8) {
    chunk.template operator()<8>(0);
    chunk.template operator()<8>(n - 8);
  } else if (n >= 4) {
    chunk.template operator()<4>(0);
    chunk.template operator()<4>(n - 4);
  } else if (n != 0) {
    dst[0] = from[0];
    dst[n / 2] = from[n / 2];
    dst[n - 1] = from[n - 1];
  }
}

[[gnu::always_inline]] inline std::byte* write_record(std::byte* out, std::uint64_t offset,
                                                      std::int64_t timestamp_ns, message_key key,
                                                      std::size_t headers_size,
                                                      std::size_t value_size,
                                                      const publish_options& o) noexcept {
  const std::uint32_t key_size =
      key ? static_cast<std::uint32_t>(key.size()) : record_header::no_key;
  detail::encode_record_header(
      out, offset, timestamp_ns, key_size, static_cast<std::uint32_t>(value_size),
      static_cast<std::uint32_t>(headers_size), static_cast<std::uint32_t>(o.headers.size()));
  out += sizeof(record_header);
  if (key) {
    copy_bytes(out, key.view().data(), key.size());
    out += key.size();
  }
  if (headers_size != 0) {
    detail::encode_headers(out, o.headers);
    out += headers_size;
  }
  return out;
}

}  // namespace

// The partition of a message: the explicit one (checked by the caller), the key's, or the
// next round-robin one (which the caller moves past once the message is claimed).
[[gnu::always_inline]] inline std::uint32_t producer::route(
    message_key key, const publish_options& o) const noexcept {
  return o.partition ? *o.partition
         : key       ? partitioner_.for_key(key.view())
                     : partitioner_.peek_round_robin();
}

// Routes, validates and claims. Inlined into publish; the zero-copy try_claim wraps it.
// Single producer: the record's offset is known at claim (one producer, one open claim, in
// order) and goes into the header with it; multi producer: it is stamped in commit order.
[[gnu::always_inline]] inline void producer::claim_record(message_key key, std::size_t value_size,
                                                          const publish_options& o, claim& c,
                                                          std::int64_t now_ns) noexcept {
  // Read first: the clock's latency overlaps the routing and the claim.
  const std::int64_t timestamp_ns = o.timestamp_ns != 0 ? o.timestamp_ns
                                    : now_ns != 0       ? now_ns
                                                        : realtime_ns();
  if (!topic_) {
    c.status = errc::unknown_topic;
    return;
  }
  detail::topic_state& t = *topic_;
  if (t.closed.load(std::memory_order_relaxed)) [[unlikely]] {
    c.status = t.deleted.load(std::memory_order_relaxed) ? errc::unknown_topic : errc::closed;
    return;
  }
  if (o.partition && partitioner_.check(*o.partition) != errc::ok) [[unlikely]] {
    c.status = errc::invalid_partition;
    return;
  }
  c.partition = route(key, o);
  if (!key && !o.partition) (void)partitioner_.next_round_robin();
  const std::size_t key_size = key.size();
  std::size_t headers_size = 0;
  if (!o.headers.empty()) [[unlikely]] {
    if (!detail::headers_ok(o.headers)) {
      c.status = errc::message_too_large;
      return;
    }
    headers_size = detail::encoded_headers_size(o.headers);
  }
  const std::size_t record = sizeof(record_header) + key_size + headers_size + value_size;
  if (record - sizeof(record_header) > t.max_message) [[unlikely]] {
    c.status = errc::message_too_large;
    return;
  }
  detail::partition_state& p = *t.partitions[c.partition];
  if (const errc io = p.io_status.load(std::memory_order_relaxed); io != errc::ok) [[unlikely]] {
    c.status = io;  // the partition's log failed: nothing more is accepted
    return;
  }
  c.frame = p.ring.try_claim(record);
  if (!c.frame) [[unlikely]] {
    claim_slow(p, record, c);
    if (!c.frame) return;
  }
  const bool single = p.ring.mode() == producer_mode::single;
  const std::uint64_t offset = single ? p.end_offset.load(std::memory_order_relaxed) : 0;
  c.value = {write_record(c.frame.data, offset, timestamp_ns, key, headers_size, value_size, o),
             value_size};
  c.status = errc::ok;
}

// The partition is full: retained records that every reader has released make way first
// (a zero-copy producer would otherwise see `full` for good once the ring has wrapped).
void producer::claim_slow(detail::partition_state& p, std::size_t record, claim& c) noexcept {
  while (c.frame.status == errc::full && p.make_room(frame_footprint(record))) {
    c.frame = p.ring.try_claim(record);
  }
  if (!c.frame) {
    c.status = c.frame.status == errc::frame_too_large ? errc::message_too_large : c.frame.status;
    // Durable: full of records the persister has not written yet; for every way of
    // publishing (publish waiting for room, try_publish, try_claim, publish_batch).
    if (c.status == errc::full && topic_->persister != nullptr) topic_->persister->want_room();
  }
}

namespace {

// Where frame `f` starts in the partition's ring: its index entry.
[[gnu::always_inline]] inline std::uint32_t ring_offset_of(const detail::partition_state& p,
                                                           const frame_claim& f) noexcept {
  return static_cast<std::uint32_t>(f.position & (p.ring.capacity() - 1));
}

// Gives the next record the partition's next offset: its index entry, end_offset and bytes_in.
// Called in commit order (the ring's commit turn, or the single producer's own order): every
// earlier record has its offset, no later one can; the caller is the only writer of these
// words. Before the frame is published: end_offset is released first (it pairs with the
// acquire loads of stats, lag and seeks), so a seek may locate a record that is not visible
// yet, and a reader then waits.
[[gnu::always_inline]] inline std::uint64_t stamp_offset(detail::partition_state& p,
                                                         std::uint32_t ring_offset,
                                                         std::uint32_t frame_size) noexcept {
  const std::uint64_t offset = p.end_offset.load(std::memory_order_relaxed);
  p.index[offset & p.index_mask].store(ring_offset, std::memory_order_relaxed);
  p.end_offset.store(offset + 1, std::memory_order_release);
  p.bytes_in.store(p.bytes_in.load(std::memory_order_relaxed) + frame_size,
                   std::memory_order_relaxed);
  return offset;
}

// Publishes a claimed record frame of partition p and returns its offset. Single producer:
// the offset was already written at claim; multi producer: it is stamped here, in turn.
[[gnu::always_inline]] inline std::uint64_t commit_frame(detail::partition_state& p,
                                                         const frame_claim& f) noexcept {
  std::uint64_t offset = 0;
  const std::uint32_t ring_offset = ring_offset_of(p, f);
  p.ring.commit(
      f, [&]() __attribute__((always_inline)) {
        offset = stamp_offset(p, ring_offset, f.size);
        if (p.ring.mode() == producer_mode::multi) {
          std::memcpy(f.data, &offset, sizeof offset);  // record_header::offset
        }
      });
  return offset;
}

}  // namespace

[[gnu::always_inline]] inline publish_result producer::commit_record(claim& c) noexcept {
  detail::topic_state& t = *topic_;
  publish_result r;
  r.partition = c.partition;
  r.offset = commit_frame(*t.partitions[c.partition], c.frame);
  c.status = errc::closed;  // the claim is spent
  t.data.notify_all();
  if (t.persister != nullptr) t.persister->notify();  // durable: wake it if idle
  return r;
}

producer::claim producer::try_claim(message_key key, std::size_t value_size,
                                    const publish_options& o) noexcept {
  claim c;
  if (claim_open_) {
    c.status = errc::producer_busy;  // one open claim per producer
    return c;
  }
  claim_record(key, value_size, o, c);
  claim_open_ = c.status == errc::ok;
  return c;
}

publish_result producer::commit(claim& c) noexcept {
  if (c.status != errc::ok)
    return {c.status == errc::closed ? errc::invalid_argument : c.status, c.partition, 0};
  claim_open_ = false;
  return commit_record(c);
}

void producer::abort(claim& c) noexcept {
  if (c.status != errc::ok) return;
  claim_open_ = false;
  topic_->partitions[c.partition]->ring.abort(c.frame);
  c.status = errc::closed;
}

// The common publish (no headers, room in the ring, an open topic) with every value in
// registers: claim, write and commit are inlined here, and nothing goes through memory but
// the record and the partition's own words. Why it matters: the consumer reads each new
// record (and the publication point) right after it is published, so the producer's next
// stores to those lines wait for the lines to come back, and stores leave the store buffer
// in order; each other store (a struct spilled to the stack) then waits its turn too, and
// the fewer there are, the more records fit in the buffer while a line is on its way.
// Anything else, including every error, goes to publish_slow, which routes the same way
// (round-robin moves on only once a record is published here).
[[gnu::always_inline]] inline publish_result producer::publish_impl(message_key key,
                                                                    std::string_view value,
                                                                    const publish_options& o,
                                                                    bool wait, bool ack) noexcept {
  // Read first: the clock's latency overlaps the routing and the claim.
  const std::int64_t timestamp_ns = o.timestamp_ns != 0 ? o.timestamp_ns : realtime_ns();
  detail::topic_state* t = topic_.get();
  if (t == nullptr || claim_open_ || !o.headers.empty() ||
      t->closed.load(std::memory_order_relaxed) ||
      (o.partition && partitioner_.check(*o.partition) != errc::ok)) [[unlikely]] {
    return publish_slow(key, value, o, wait, ack, timestamp_ns);
  }
  const std::uint32_t partition = route(key, o);
  const std::size_t key_size = key.size();
  const std::size_t record = sizeof(record_header) + key_size + value.size();
  detail::partition_state& p = *t->partitions[partition];
  if (record - sizeof(record_header) > t->max_message ||
      p.io_status.load(std::memory_order_relaxed) != errc::ok) [[unlikely]] {
    return publish_slow(key, value, o, wait, ack, timestamp_ns);
  }
  const frame_claim f = p.ring.try_claim(record);
  if (!f) [[unlikely]]
    return publish_slow(key, value, o, wait, ack, timestamp_ns);
  if (!key && !o.partition) (void)partitioner_.next_round_robin();
  const bool single = p.ring.mode() == producer_mode::single;
  const std::uint64_t first = single ? p.end_offset.load(std::memory_order_relaxed) : 0;
  std::byte* out = write_record(f.data, first, timestamp_ns, key, 0, value.size(), o);
  copy_bytes(out, value.data(), value.size());
  publish_result r;
  r.partition = partition;
  r.offset = commit_frame(p, f);
  t->data.notify_all();
  if (t->persister != nullptr) t->persister->notify();  // durable: wake it if idle
  if (ack && (o.durable || t->config.durable == durability::sync)) [[unlikely]] {
    r.status = wait_durable_after_publish(r.partition, r.offset);
  }
  return r;
}

[[gnu::noinline]] publish_result producer::publish_slow(message_key key, std::string_view value,
                                                        const publish_options& o, bool wait,
                                                        bool ack, std::int64_t now_ns) noexcept {
  if (claim_open_) return {errc::producer_busy, 0, 0};
  claim c;
  claim_record(key, value.size(), o, c, now_ns);
  if (c.status == errc::full && wait) {
    if (!wait_for_room(key, value.size(), o, c)) return {c.status, c.partition, 0};
  }
  if (!c) return {c.status, c.partition, 0};
  copy_bytes(c.value.data(), value.data(), value.size());
  publish_result r = commit_record(c);
  if (ack && (o.durable || topic_->config.durable == durability::sync)) {
    r.status = wait_durable_after_publish(r.partition, r.offset);
  }
  return r;
}

// Durable acknowledgement: the record is published; waits until it is on disk too.
errc producer::wait_durable_after_publish(std::uint32_t partition, std::uint64_t offset) noexcept {
  if (!topic_->durable()) return errc::ok;  // memory-only topic: nothing to wait for
  return detail::persist_wait(*topic_, *topic_->partitions[partition], offset, max_block_);
}

errc producer::wait_durable(std::uint32_t partition, std::uint64_t offset,
                            std::chrono::nanoseconds timeout) noexcept {
  if (!topic_) return errc::unknown_topic;
  if (partition >= topic_->partitions.size()) return errc::invalid_partition;
  if (!topic_->durable()) return errc::wrong_mode;
  detail::partition_state& p = *topic_->partitions[partition];
  if (offset >= p.end_offset.load(std::memory_order_acquire)) return errc::offset_out_of_range;
  return detail::persist_wait(*topic_, p, offset, timeout);
}

std::uint64_t producer::durable_offset(std::uint32_t partition) const noexcept {
  if (!topic_ || partition >= topic_->partitions.size()) return 0;
  return topic_->partitions[partition]->durable_offset();
}

bool producer::wait_for_room(message_key key, std::size_t value_size, const publish_options& o,
                             claim& c) noexcept {
  detail::partition_state& p = *topic_->partitions[c.partition];
  // Retries stay on the partition this message was routed to (round-robin moves on).
  publish_options routed = o;
  routed.partition = c.partition;
  p.space.wait_until(
      [&] {
        c = claim{};
        claim_record(key, value_size, routed, c);
        return c.status != errc::full;
      },
      wait_clock::now() + max_block_);
  if (c.status == errc::full) c.status = errc::timeout;
  return c.status == errc::ok;
}

publish_result producer::publish(message_key key, std::string_view value,
                                 const publish_options& o) noexcept {
  return publish_impl(key, value, o, true, true);
}

publish_result producer::try_publish(message_key key, std::string_view value,
                                     const publish_options& o) noexcept {
  return publish_impl(key, value, o, false, false);
}

std::size_t producer::publish_batch(std::span<const message> messages,
                                    std::span<publish_result> results) noexcept {
  const std::size_t count = std::min(messages.size(), results.size());
  // One clock read for the call: records without a timestamp of their own share it.
  const std::int64_t batch_ns = realtime_ns();
  // One message by publish's own path (waiting for room as publish does), stamped with the
  // batch's clock read when it has no time of its own.
  auto publish_one = [&](const message& m) __attribute__((always_inline)) {
    publish_options o = m.options;
    if (o.timestamp_ns == 0) o.timestamp_ns = batch_ns;
    return publish_impl(m.key, m.value, o, true, false);
  };
  if (!topic_ || topic_->config.producers != producer_mode::single || claim_open_) {
    std::size_t n = 0;
    for (; n < count; ++n) {
      results[n] = publish_one(messages[n]);
      if (!results[n]) break;
    }
    wait_durable_batch(messages.first(n), results.first(n));
    return n;
  }
  // Single producer: each record is claimed, written and given its offset (index entry and
  // end_offset, as commit does) but not published; one release store per partition then
  // publishes all of them (the single-producer ring publishes every frame claimed before
  // the one committed). Consumers see the batch at once and fetch the published line once.
  detail::topic_state& t = *topic_;
  struct open_run {
    detail::partition_state* p;
    frame_claim last;
  };
  constexpr std::size_t max_runs = 8;
  open_run runs[max_runs];
  std::size_t open = 0;
  auto publish_runs = [&] {
    for (std::size_t k = 0; k < open; ++k) runs[k].p->ring.commit(runs[k].last);
    if (open != 0) {
      t.data.notify_all();
      if (t.persister != nullptr) t.persister->notify();  // durable: wake it if idle
    }
    open = 0;
  };
  std::size_t n = 0;
  for (; n < count; ++n) {
    const message& m = messages[n];
    claim c;
    claim_record(m.key, m.value.size(), m.options, c, batch_ns);
    if (c.status == errc::full) {
      // Out of room: what is claimed goes out first (readers may be waiting for it), then
      // this message waits for room as publish() does.
      publish_runs();
      results[n] = publish_one(m);
      if (!results[n]) break;
      continue;
    }
    if (!c) {
      results[n] = {c.status, c.partition, 0};
      break;
    }
    copy_bytes(c.value.data(), m.value.data(), m.value.size());
    detail::partition_state& p = *t.partitions[c.partition];
    results[n] = {errc::ok, c.partition, stamp_offset(p, ring_offset_of(p, c.frame), c.frame.size)};
    std::size_t k = 0;
    while (k < open && runs[k].p != &p) ++k;
    if (k == open) {
      if (open == max_runs) {
        publish_runs();
        k = 0;
      }
      runs[k].p = &p;
      open = k + 1;
    }
    runs[k].last = c.frame;
  }
  publish_runs();
  wait_durable_batch(messages.first(n), results.first(n));
  return n;
}

// Durable acknowledgements of a batch: after the whole batch is published, so that one
// group commit covers it. A result that fails to become durable gets the error.
void producer::wait_durable_batch(std::span<const message> messages,
                                  std::span<publish_result> results) noexcept {
  if (!topic_ || !topic_->durable()) return;
  const bool all = topic_->config.durable == durability::sync;
  for (std::size_t i = results.size(); i-- > 0;) {  // newest first: the rest is then quick
    if (results[i] && (all || messages[i].options.durable)) {
      results[i].status = wait_durable_after_publish(results[i].partition, results[i].offset);
    }
  }
}

}  // namespace lanes
