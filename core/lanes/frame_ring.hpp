// lanes/frame_ring.hpp: variable-length frames in one byte ring, many readers.
//
// This is what a partition is made of. Producers write frames of any length in place;
// any number of readers walk the same frames, each with its own cursor; the producer never
// overwrites bytes a registered reader has not released (back-pressure is `full`).
//
// Byte layout. Positions are 64-bit byte counts since creation; a position's place in
// memory is position & (capacity - 1). Every frame starts 8-byte aligned with a header:
//
//     0        4        6        8                     8 + length, rounded up to 8
//     | length | flags  | user   | payload ...         | next frame
//
// length is the payload size in bytes; flags bit 0 marks a padding frame. A frame never
// straddles the end of the ring: when it would, the producer first writes a padding frame
// that fills the ring to its end (readers skip it) and places the frame at the start.
// So the largest frame (header + payload, rounded up) is capacity / 2: the padding before
// it is always smaller than the frame, and both fit in one capacity.
//
// Publication. A frame is visible to readers only once `published_` (the end position of
// the last committed frame) covers it. commit() is a release store of published_ (W1);
// readers acquire-load it (R1) before reading headers or payloads, so a reader can never see
// a frame before its commit and needs no per-frame flag or zeroing.
//   - single producer: claims with plain stores; commit publishes everything claimed so far.
//   - multi producer: claims with a CAS on claimed_; commits happen in claim order: a
//     committer waits (pause, yield, then futex sleep) for published_ to reach its frame's
//     start. The wait is as long as the earlier producer's copy into its own frame, unless
//     that producer is descheduled in between. So that few claims are open at once (a
//     descheduled claimer then stalls few others), a claimer first backs off, bounded,
//     while another claim is open.
// Reclamation. Each reader release-stores its cursor (R2) after it is done with a frame;
// the producer acquire-loads the cursors (W2) to find the slowest one, caching the result
// so that the scan happens only when the cache says the ring is full.
//
// Thread contract: the producer API is called from one thread (single) or from any number
// of threads (multi). Each reader object is used by one thread at a time. add_reader and
// reader destruction are cold paths and may run concurrently with producers and readers.
// Nothing after construction allocates, locks or throws.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <system_error>
#include <thread>

#include "lanes/detail_aligned.hpp"
#include "lanes/detail_ring.hpp"
#include "lanes/error.hpp"
#include "lanes/frame.hpp"
#include "lanes/platform.hpp"
#include "lanes/wait.hpp"

namespace lanes {

class frame_ring {
  struct alignas(cache_line_size) reader_slot {
    std::atomic<std::uint64_t> cursor{0};  // (R2) released by the reader
    std::atomic<bool> active{false};
  };

 public:
  // Minimum capacity: room for two smallest frames on each half.
  static constexpr std::size_t min_capacity = 64;
  static constexpr std::size_t max_capacity = std::size_t{1} << 40;
  // Largest frame footprint: header + payload must keep the length in 32 bits.
  static constexpr std::size_t max_frame_bytes = std::size_t{1} << 32;

  // Cold path. Throws std::system_error with errc::capacity_not_power_of_two,
  // capacity_too_small (below min_capacity), capacity_too_large, or invalid_argument
  // (max_readers == 0).
  explicit frame_ring(std::size_t capacity, producer_mode mode = producer_mode::single,
                      std::size_t max_readers = 8)
      : mask_(checked_capacity(capacity) - 1),
        max_frame_(capacity / 2 < max_frame_bytes ? capacity / 2 : max_frame_bytes),
        mode_(mode),
        reader_count_(checked_readers(max_readers)),
        buffer_(capacity),
        readers_(std::make_unique<reader_slot[]>(max_readers)) {
    base_ = buffer_.data();
  }

  frame_ring(const frame_ring&) = delete;
  frame_ring& operator=(const frame_ring&) = delete;

  // Cold path, before any producer or reader uses the ring: makes every page of the buffer
  // resident, so that the first lap of producers takes no page faults (the buffer is
  // otherwise mapped lazily: a fault and a zeroed page per page written, 4 KiB, or 2 MiB
  // where the kernel gives the ring huge pages). The whole ring becomes resident at once.
  void prefault() noexcept { buffer_.populate(); }

  std::size_t capacity() const noexcept { return mask_ + 1; }
  // Largest payload a single frame can carry: capacity / 2 - 8, and never more than
  // 2^32 - 8 (the header's length is 32 bits; this limit applies from 16 GiB rings on).
  std::size_t max_payload() const noexcept { return max_frame_ - sizeof(frame_header); }
  producer_mode mode() const noexcept { return mode_; }

  // ---- producer ----

  // Reserves a frame of `payload` bytes. status: ok, full (readers hold the space; retry),
  // frame_too_large (can never fit). Never blocks; multi: the CAS may retry, and while
  // another producer's claim is open it first backs off for a bounded while (see
  // wait_for_admission).
  [[nodiscard, gnu::always_inline]] frame_claim try_claim(std::size_t payload) noexcept {
    frame_claim c;
    const std::uint64_t need = frame_footprint(payload);
    if (payload > max_payload()) {
      c.status = errc::frame_too_large;
      return c;
    }
    if (mode_ == producer_mode::multi) wait_for_admission();
    std::uint64_t begin = claimed_.load(std::memory_order_relaxed);
    std::uint64_t pad = 0;
    for (;;) {
      const std::uint64_t offset = begin & mask_;
      pad = (capacity() - offset < need) ? capacity() - offset : 0;
      const std::uint64_t end = begin + pad + need;
      if (!has_room(end)) {
        c.status = errc::full;
        return c;
      }
      if (mode_ == producer_mode::single) {
        claimed_.store(end, std::memory_order_relaxed);
        break;
      }
      if (claimed_.compare_exchange_weak(begin, end, std::memory_order_relaxed)) break;
    }
    if (pad != 0)
      write_header(begin, static_cast<std::uint32_t>(pad - sizeof(frame_header)),
                   frame_flags::padding, 0);
    c.begin = begin;
    c.position = begin + pad;
    c.end = c.position + need;
    c.size = static_cast<std::uint32_t>(payload);
    c.data = base_ + (c.position & mask_) + sizeof(frame_header);
    write_header(c.position, c.size, 0, 0);
    return c;
  }

  // Sets the header's user field of a claimed frame (before commit).
  void set_user(const frame_claim& c, std::uint16_t user) noexcept {
    header_at(c.position)->user = user;
  }

  // Shortens a claimed frame's payload to `size` (<= claimed size) before commit; the
  // unused tail stays in the ring as a padding frame (readers step by the header's length,
  // so the bytes given up must be a frame of their own). Bytes past `size` may be overwritten.
  void shrink(frame_claim& c, std::uint32_t size) noexcept {
    c.size = size;
    header_at(c.position)->length = size;
    const std::uint64_t used_end = c.position + frame_footprint(size);
    if (used_end != c.end) {
      write_header(used_end, static_cast<std::uint32_t>(c.end - used_end - sizeof(frame_header)),
                   frame_flags::padding, 0);
    }
  }

  // Makes the frame (and, single producer, every earlier claimed frame) visible to readers.
  // Single producer: commit (or abort) claims in the order they were made.
  void commit(const frame_claim& c) noexcept {
    commit(c, [] {});
  }

  // As commit(c), and runs in_turn() right before publication, when every earlier claimed
  // frame is published and no later one can be: frames are committed in claim order, so
  // in_turn may hand out dense sequence numbers (offsets) without any atomic RMW.
  template <class Fn>
  [[gnu::always_inline]] void commit(const frame_claim& c, Fn&& in_turn) noexcept {
    if (mode_ == producer_mode::multi) {
      wait_turn(c.begin);
      in_turn();
      published_.store(c.end, std::memory_order_release);  // (W1) pairs with (R1)
      turn_.notify_all();  // a later committer may sleep on its turn (one relaxed load if not)
      return;
    }
    in_turn();
    published_.store(c.end, std::memory_order_release);  // (W1) pairs with (R1)
  }

  // Gives a claimed frame up: it becomes a padding frame that readers skip.
  void abort(const frame_claim& c) noexcept {
    frame_header* h = header_at(c.position);
    h->length = static_cast<std::uint32_t>(c.end - c.position - sizeof(frame_header));
    h->flags = frame_flags::padding;
    commit(c);
  }

  // Copies `payload` into a new frame and commits it. Returns ok, full or frame_too_large.
  [[nodiscard]] errc try_write(std::span<const std::byte> payload,
                               std::uint16_t user = 0) noexcept {
    frame_claim c = try_claim(payload.size());
    if (!c) return c.status;
    if (!payload.empty()) std::memcpy(c.data, payload.data(), payload.size());
    if (user != 0) set_user(c, user);
    commit(c);
    return errc::ok;
  }

  // ---- readers ----

  class reader {
   public:
    reader() noexcept = default;
    reader(reader&& o) noexcept { *this = std::move(o); }
    reader& operator=(reader&& o) noexcept {
      if (this != &o) {
        close();
        ring_ = o.ring_;
        slot_ = o.slot_;
        cursor_ = o.cursor_;
        published_cache_ = o.published_cache_;
        o.ring_ = nullptr;
        o.slot_ = nullptr;
      }
      return *this;
    }
    ~reader() { close(); }

    explicit operator bool() const noexcept { return ring_ != nullptr; }

    // The next committed frame, or nullopt-like (data == nullptr) when there is none.
    // Does not release it; call advance() when done. Padding frames are skipped (the cursor
    // moves past them even when it returns false; the next release() hands them back).
    [[nodiscard]] bool try_peek(frame_view& out) noexcept {
      for (;;) {
        if (cursor_ == published_cache_) {
          published_cache_ = ring_->published_.load(std::memory_order_acquire);  // (R1)
          if (cursor_ == published_cache_) return false;
        }
        const frame_header* h = ring_->header_at(cursor_);
        if ((h->flags & frame_flags::padding) != 0) {
          cursor_ += frame_footprint(h->length);
          continue;
        }
        out.data = reinterpret_cast<const std::byte*>(h) + sizeof(frame_header);
        out.size = h->length;
        out.user = h->user;
        out.position = cursor_;
        return true;
      }
    }

    // Steps past the frame returned by the last try_peek. Its bytes stay valid until
    // release() (or the next poll), so a batch can be read before releasing.
    void advance(const frame_view& f) noexcept { cursor_ = f.position + frame_footprint(f.size); }

    // Hands every frame read so far back to the producer.
    void release() noexcept {
      slot_->cursor.store(cursor_, std::memory_order_release);  // (R2) pairs with (W2)
    }
    // Hands back the frames before `position`, a frame boundary at or before the cursor: for
    // a reader that reads ahead and gives space back later (a persister, once written).
    void release_to(std::uint64_t position) noexcept {
      slot_->cursor.store(position, std::memory_order_release);  // (R2) pairs with (W2)
    }

    // Non-gating readers (a layer that lets the producer overwrite unread frames) gate only
    // while pinned, like a hazard pointer. pin() publishes the cursor with a seq_cst store;
    // the caller then re-reads (seq_cst) whatever the producer advances *before* it scans
    // the readers (W3), and reads frames only if its cursor is still at or after it: then
    // either that re-read saw the advance, or the producer's scan sees the pin.
    void pin() noexcept { slot_->cursor.store(cursor_, std::memory_order_seq_cst); }
    // Stops gating the producer (cursor "infinitely far ahead"); frames read since the pin
    // must not be touched any more.
    void unpin() noexcept {
      slot_->cursor.store(unpinned, std::memory_order_release);  // (R2)
    }
    static constexpr std::uint64_t unpinned = UINT64_MAX;

    // Calls fn(frame_view) for up to `max` committed frames, then releases them with one
    // store. Returns the number of frames handed to fn.
    template <class Fn>
    std::size_t poll(Fn&& fn, std::size_t max = SIZE_MAX) noexcept(noexcept(fn(frame_view{}))) {
      const std::uint64_t start = cursor_;
      std::size_t n = 0;
      frame_view f;
      while (n < max && try_peek(f)) {
        fn(f);
        advance(f);
        ++n;
      }
      // Also when only padding (a wrap, aborted claims) was stepped over: otherwise that
      // space stays held while this reader sees nothing, and the producer may stay full.
      if (cursor_ != start) release();
      return n;
    }

    // Position of the next frame this reader will see.
    std::uint64_t position() const noexcept { return cursor_; }

    // Moves the reader to `position`, which must be a frame boundary that the producer
    // cannot reclaim meanwhile (at or after another reader's cursor that gates it, such as
    // a log's retention reader). Cold path; the layer above checks the precondition.
    void reset_to(std::uint64_t position) noexcept {
      cursor_ = position;
      published_cache_ = position;
      slot_->cursor.store(position, std::memory_order_release);  // (R2)
    }

    // Unregisters from the ring; the producer stops waiting for this reader.
    void close() noexcept {
      if (ring_ != nullptr) {
        slot_->active.store(false, std::memory_order_release);
        ring_ = nullptr;
        slot_ = nullptr;
      }
    }

   private:
    friend class frame_ring;
    reader(frame_ring* r, reader_slot* s, std::uint64_t cursor) noexcept
        : ring_(r), slot_(s), cursor_(cursor), published_cache_(cursor) {}

    frame_ring* ring_ = nullptr;
    reader_slot* slot_ = nullptr;
    std::uint64_t cursor_ = 0;
    std::uint64_t published_cache_ = 0;
  };

  // Registers a reader that will see every frame committed from now on. Cold path: takes a
  // mutex shared only with other add_reader calls. Returns errc::too_many_readers via `ec`
  // and an empty reader when all slots are taken.
  reader add_reader(errc* ec = nullptr) {
    std::lock_guard lock(readers_mutex_);
    for (std::size_t i = 0; i < reader_count_; ++i) {
      reader_slot& s = readers_[i];
      if (s.active.load(std::memory_order_relaxed)) continue;
      // Start at the published end. A producer racing with us can only have claimed up to
      // an older gate + capacity, which never reaches past what we are about to read.
      const std::uint64_t start = published_.load(std::memory_order_acquire);
      s.cursor.store(start, std::memory_order_relaxed);
      s.active.store(true, std::memory_order_release);  // makes the cursor visible with it
      if (ec != nullptr) *ec = errc::ok;
      return reader(this, &s, start);
    }
    if (ec != nullptr) *ec = errc::too_many_readers;
    return reader();
  }

  // The header of the frame at `position`, for a layer above that indexes frames itself.
  // The caller guarantees the frame is claimed or published and cannot be reclaimed.
  const frame_header& frame_at(std::uint64_t position) const noexcept {
    return *header_at(position);
  }

  // ---- observers (any thread; may be stale) ----
  std::uint64_t published_position() const noexcept {
    return published_.load(std::memory_order_acquire);
  }
  std::uint64_t claimed_position() const noexcept {
    return claimed_.load(std::memory_order_relaxed);
  }
  // Slowest active reader's position (published position when there are none), leaving
  // out `except` when given (a layer above may own a reader that it moves itself).
  std::uint64_t min_reader_position(const reader* except = nullptr) const noexcept {
    return scan_readers(except != nullptr ? except->slot_ : nullptr);
  }

  // Test hook: starts the ring's positions at `position` (must be 8-aligned), as if that
  // many bytes had already passed, so tests can place frames right before the wrap.
  // Only valid before any frame is claimed and any reader is added.
  void reset_position_for_test(std::uint64_t position) noexcept {
    claimed_.store(position, std::memory_order_relaxed);
    published_.store(position, std::memory_order_relaxed);
    gate_.store(position, std::memory_order_relaxed);
  }

 private:
  static std::size_t checked_capacity(std::size_t c) {
    return detail::checked_ring_capacity(c, min_capacity, max_capacity, "frame_ring");
  }
  static std::size_t checked_readers(std::size_t n) {
    if (n == 0) throw std::system_error(make_error_code(errc::invalid_argument), "frame_ring");
    return n;
  }

  frame_header* header_at(std::uint64_t position) const noexcept {
    return reinterpret_cast<frame_header*>(base_ + (position & mask_));
  }
  // One 8-byte store, not three: every store is a store-buffer entry, and the producer's
  // stores to a line a reader just read drain slowly (the line has to come back first).
  void write_header(std::uint64_t position, std::uint32_t length, std::uint16_t flags,
                    std::uint16_t user) noexcept {
    const frame_header h{length, flags, user};
    std::memcpy(header_at(position), &h, sizeof h);
  }

  // True when [.., end) fits behind the slowest reader. Reloads the gate only when the
  // cached one says no. Multi producer: the gate is shared, published with release/acquire
  // so that a producer using another producer's scan still happens-after the readers' (R2).
  [[gnu::always_inline]] bool has_room(std::uint64_t end) noexcept {
    if (end - gate_.load(std::memory_order_acquire) <= capacity()) [[likely]]
      return true;
    return rescan_gate(end);
  }
  [[gnu::noinline]] bool rescan_gate(std::uint64_t end) noexcept {
    const std::uint64_t g = scan_readers();
    gate_.store(g, std::memory_order_release);
    return end - g <= capacity();
  }

  std::uint64_t scan_readers(const reader_slot* except = nullptr) const noexcept {
    // With no active reader everything published is reclaimable.
    std::uint64_t slowest = published_.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < reader_count_; ++i) {
      const reader_slot& s = readers_[i];
      if (&s == except || !s.active.load(std::memory_order_acquire)) continue;
      // (W2) pairs with (R2); seq_cst for the pin protocol (W3), a plain load on x86.
      const std::uint64_t c = s.cursor.load(std::memory_order_seq_cst);
      if (c < slowest) slowest = c;
    }
    return slowest;
  }

  // Multi producer, before claiming: while another producer's claim is open (claimed, not
  // yet published), spins, then yields, a bounded number of times, then claims anyway. A
  // producer waits here holding nothing, so its preemption holds up nobody; whereas once it
  // has claimed, every later claimer must wait for its commit (commits go in claim order).
  // Without this, 4 producers on 2 CPUs queued their claims behind one another, and each
  // preempted claimer stalled the whole queue until the scheduler ran it again; every
  // commit then needed the next waiter woken, one by one (one partition: 0.15-0.67 M msg/s
  // against 15 with 2 producers). With it, the producer that just committed claims again at
  // once (the others are not queued) and 4 producers run at about the rate of 1. The bound
  // keeps it a back-off, not a lock: a producer never waits on another beyond it.
  static constexpr unsigned admission_spins = 64;
  static constexpr unsigned admission_yields = 64;
  // The common case (no claim open) inline; the back-off out of line and marked cold, so
  // that it does not grow every producer's publish (it was inlined into publish once
  // publish had a translation unit of its own: +400 bytes of code, publish 6-10% slower in
  // bench/micro, tools/micro_compare.py).
  [[gnu::always_inline]] void wait_for_admission() noexcept {
    // Relaxed: a hint only; the CAS on claimed_ and wait_turn do the ordering.
    if (claimed_.load(std::memory_order_relaxed) == published_.load(std::memory_order_relaxed))
        [[likely]] {
      return;
    }
    back_off_for_admission();
  }
  [[gnu::noinline, gnu::cold]] void back_off_for_admission() noexcept {
    for (unsigned i = 0; i < admission_spins + admission_yields; ++i) {
      // Relaxed: a hint only; the CAS on claimed_ and wait_turn do the ordering.
      if (claimed_.load(std::memory_order_relaxed) == published_.load(std::memory_order_relaxed))
        return;
      if (i < admission_spins) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
    }
  }

  // Multi producer: waits until every frame claimed before `begin` is published. Spins,
  // yields, then sleeps: when producers outnumber cores the earlier claimer is usually
  // descheduled between claim and commit, and committers that spin or yield only take the
  // CPU it needs (4 producers on 2 cores ran at a tenth of 2 producers' rate before).
  [[gnu::always_inline]] void wait_turn(std::uint64_t begin) noexcept {
    // Acquire: pairs with (W1) of the committer before, as the wait below does.
    if (published_.load(std::memory_order_acquire) == begin) [[likely]]
      return;
    wait_turn_slow(begin);
  }
  [[gnu::noinline, gnu::cold]] void wait_turn_slow(std::uint64_t begin) noexcept {
    turn_.wait_until([&] { return published_.load(std::memory_order_acquire) == begin; });
  }

  // Producer-written, reader-read: the publication point, alone on its line.
  alignas(cache_line_size) std::atomic<std::uint64_t> published_{0};
  // Producer-only: claim frontier and the cached gate (slowest reader).
  alignas(cache_line_size) std::atomic<std::uint64_t> claimed_{0};
  std::atomic<std::uint64_t> gate_{0};
  // Multi producer: committers waiting for their turn sleep here (see wait_turn).
  park turn_;
  // Read-only after construction.
  alignas(cache_line_size) const std::uint64_t mask_;
  const std::uint64_t max_frame_;
  const producer_mode mode_;
  const std::size_t reader_count_;
  std::byte* base_ = nullptr;
  detail::aligned_buffer buffer_;
  std::unique_ptr<reader_slot[]> readers_;
  std::mutex readers_mutex_;
};

}  // namespace lanes
