// bench/queue_adapters.hpp: one shape for every queue the ring benchmark compares.
//
// Each adapter is built on the main thread with a capacity in items, then used by exactly
// one producer thread (try_push) and one consumer thread (try_pop). Both calls are the
// queue's own single-item, non-blocking, non-allocating API; a false return means full or
// empty and the harness spins (with a pause) and retries. Capacity is the same for every
// queue: where a peer fixes it at compile time, it is kCapacity.
//
// Items: std::uint64_t (8 bytes) and item64 (64 bytes), written and read in full (see
// make_item and seq_of). Sequence numbers start at 1, so the value 0 is never pushed and
// atomic_queue's NIL-based queues can carry 8-byte items.
#pragma once

#include <atomic_queue/atomic_queue.h>
#include <concurrentqueue/concurrentqueue.h>
#include <readerwriterqueue/readerwriterqueue.h>
#include <tbb/concurrent_queue.h>

#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>

#include <lanes/frame_ring.hpp>
#include <lanes/mpmc_ring.hpp>
#include <lanes/spsc_ring.hpp>

namespace lanes_bench {

// Slots per queue, for everyone (a power of two, as our rings require).
inline constexpr std::size_t kCapacity = 65536;

struct item64 {
  std::uint64_t seq;
  std::uint64_t payload[7];
};
static_assert(sizeof(item64) == 64 && std::is_trivially_copyable_v<item64>);

// The producer writes every byte of an item: the sequence number in each 8-byte word.
template <class T>
T make_item(std::uint64_t seq) noexcept {
  if constexpr (std::is_same_v<T, std::uint64_t>) {
    return seq;
  } else {
    T v;
    v.seq = seq;
    for (std::uint64_t& w : v.payload) w = seq;
    return v;
  }
}

// The consumer reads every byte of an item: its sequence number if all words agree, else 0
// (which no check accepts). A benchmark that never uses what it pops lets the compiler drop
// the read of the slot altogether, and then measures only the index traffic: on these
// machines that reads several times faster than the queues really deliver.
template <class T>
std::uint64_t seq_of(const T& v) noexcept {
  if constexpr (std::is_same_v<T, std::uint64_t>) {
    return v;
  } else {
    bool intact = true;
    for (const std::uint64_t w : v.payload) intact &= w == v.seq;
    return intact ? v.seq : 0;
  }
}

// ---- ours ----

// lanes::spsc_ring and lanes::mpmc_ring: their own API is the shape already.
template <template <class> class Ring, class T>
class lanes_typed {
 public:
  using value_type = T;
  explicit lanes_typed(std::size_t capacity) : ring_(capacity) {}
  bool try_push(const T& v) noexcept { return ring_.try_push(v); }
  bool try_pop(T& out) noexcept { return ring_.try_pop(out); }

 private:
  Ring<T> ring_;
};

template <class T>
using lanes_spsc = lanes_typed<lanes::spsc_ring, T>;
template <class T>
using lanes_mpmc = lanes_typed<lanes::mpmc_ring, T>;

// Bytes of a frame ring that holds at least `capacity` frames of sizeof(T) payload:
// capacity * footprint, rounded up to a power of two (8 B: 16 B frames, 1 MiB exactly;
// 64 B: 72 B frames, 4.5 MiB rounded up to 8 MiB).
template <class T>
constexpr std::size_t frame_ring_bytes(std::size_t capacity) noexcept {
  return std::bit_ceil(capacity * lanes::frame_footprint(sizeof(T)));
}

// Single producer, one registered reader. The producer claims a frame, copies the item into
// it and commits; the reader peeks, copies out, advances and releases, one frame at a time
// (the single-item API, as for the typed rings).
template <class T>
class lanes_frame {
 public:
  using value_type = T;
  explicit lanes_frame(std::size_t capacity)
      : ring_(frame_ring_bytes<T>(capacity), lanes::producer_mode::single, 1),
        reader_(ring_.add_reader()) {}

  bool try_push(const T& v) noexcept {
    const lanes::frame_claim c = ring_.try_claim(sizeof(T));
    if (!c) return false;
    std::memcpy(c.data, &v, sizeof(T));
    ring_.commit(c);
    return true;
  }
  bool try_pop(T& out) noexcept {
    lanes::frame_view f;
    if (!reader_.try_peek(f)) return false;
    std::memcpy(&out, f.data, sizeof(T));
    reader_.advance(f);
    reader_.release();
    return true;
  }

 private:
  lanes::frame_ring ring_;
  lanes::frame_ring::reader reader_;
};

// ---- peers ----

// Compile-time capacity (its fastest form); Boost 1.74's capacity<N> holds N items. The
// ring is large, so it lives on the heap.
template <class T>
class boost_spsc {
 public:
  using value_type = T;
  explicit boost_spsc(std::size_t) : q_(std::make_unique<queue>()) {}
  bool try_push(const T& v) noexcept { return q_->push(v); }
  bool try_pop(T& out) noexcept { return q_->pop(out); }

 private:
  using queue = boost::lockfree::spsc_queue<T, boost::lockfree::capacity<kCapacity>>;
  std::unique_ptr<queue> q_;
};

// Node-based MPMC queue; `capacity` nodes are preallocated and bounded_push never allocates
// (one node is the queue's dummy, so it holds capacity - 1 items).
template <class T>
class boost_queue {
 public:
  using value_type = T;
  explicit boost_queue(std::size_t capacity) : q_(capacity) {}
  bool try_push(const T& v) noexcept { return q_.bounded_push(v); }
  bool try_pop(T& out) noexcept { return q_.pop(out); }

 private:
  boost::lockfree::queue<T> q_;
};

template <class T>
class moodycamel_rwq {
 public:
  using value_type = T;
  explicit moodycamel_rwq(std::size_t capacity) : q_(capacity) {}
  bool try_push(const T& v) noexcept { return q_.try_enqueue(v); }
  bool try_pop(T& out) noexcept { return q_.try_dequeue(out); }

 private:
  moodycamel::ReaderWriterQueue<T> q_;
};

// MPMC, used the recommended fast way: a producer token and a consumer token. The
// preallocated blocks cover `capacity` items and the explicit producer's block index is
// sized from them, so try_enqueue never allocates.
template <class T>
class moodycamel_cq {
 public:
  using value_type = T;
  explicit moodycamel_cq(std::size_t capacity) : q_(capacity), producer_(q_), consumer_(q_) {}
  bool try_push(const T& v) noexcept { return q_.try_enqueue(producer_, v); }
  bool try_pop(T& out) noexcept { return q_.try_dequeue(consumer_, out); }

 private:
  moodycamel::ConcurrentQueue<T> q_;
  moodycamel::ProducerToken producer_;
  moodycamel::ConsumerToken consumer_;
};

// A queue of compile-time capacity (kCapacity) whose own API is the shape already; large, so
// it lives on the heap.
template <class Q, class T>
class fixed_on_heap {
 public:
  using value_type = T;
  explicit fixed_on_heap(std::size_t) : q_(std::make_unique<Q>()) {}
  bool try_push(const T& v) noexcept { return q_->try_push(v); }
  bool try_pop(T& out) noexcept { return q_->try_pop(out); }

 private:
  std::unique_ptr<Q> q_;
};

// atomic_queue's AtomicQueue2: any T, a state byte per slot, default options (minimise
// contention, maximise throughput); Spsc selects its SPSC mode.
template <class T, bool Spsc>
using atomic_queue2 =
    fixed_on_heap<atomic_queue::AtomicQueue2<T, kCapacity, true, true, false, Spsc>, T>;

// atomic_queue's AtomicQueue: atomic 8-byte elements with a NIL value (0) marking empty slots,
// its fastest form for integers.
template <bool Spsc>
using atomic_queue_nil =
    fixed_on_heap<atomic_queue::AtomicQueue<std::uint64_t, kCapacity, 0, true, true, false, Spsc>,
                  std::uint64_t>;

template <class T>
class tbb_bounded {
 public:
  using value_type = T;
  explicit tbb_bounded(std::size_t capacity) {
    q_.set_capacity(static_cast<std::ptrdiff_t>(capacity));
  }
  bool try_push(const T& v) noexcept { return q_.try_push(v); }
  bool try_pop(T& out) noexcept { return q_.try_pop(out); }

 private:
  tbb::concurrent_bounded_queue<T> q_;
};

}  // namespace lanes_bench
