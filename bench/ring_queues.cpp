// bench/ring_queues.cpp: the table of queues ring_bench measures, lanes' rings and their peers,
// each with its runs per metric and item size.
#include <cstdint>
#include <vector>

#include "queue_adapters.hpp"
#include "ring_bench.hpp"

namespace lanes_bench {
namespace {

template <template <class> class Q>
constexpr queue_entry typed_queue(const char* id, const char* name, const char* family, bool ours) {
  return {id,
          name,
          family,
          ours,
          {{&measure_throughput<Q<std::uint64_t>>, &measure_throughput<Q<item64>>},
           {&measure_round_trip<Q<std::uint64_t>>, &measure_round_trip<Q<item64>>}}};
}

// atomic_queue's NIL queues carry 8-byte items only.
template <bool Spsc>
constexpr queue_entry nil_queue(const char* id, const char* name, const char* family) {
  return {id,
          name,
          family,
          false,
          {{&measure_throughput<atomic_queue_nil<Spsc>>, nullptr},
           {&measure_round_trip<atomic_queue_nil<Spsc>>, nullptr}}};
}

template <class T>
using atomic_queue_spsc = atomic_queue2<T, true>;
template <class T>
using atomic_queue_mpmc = atomic_queue2<T, false>;

}  // namespace

// Ours interleaved with peers; rotated by one each round.
const std::vector<queue_entry>& all_queues() {
  static const std::vector<queue_entry> queues = {
      typed_queue<lanes_spsc>("lanes_spsc_ring", "lanes::spsc_ring", "spsc", true),
      typed_queue<boost_spsc>("boost_spsc_queue", "boost::lockfree::spsc_queue", "spsc", false),
      typed_queue<lanes_mpmc>("lanes_mpmc_ring", "lanes::mpmc_ring", "mpmc", true),
      typed_queue<atomic_queue_mpmc>("atomic_queue_mpmc", "atomic_queue::AtomicQueue2 (MPMC)",
                                     "mpmc", false),
      typed_queue<lanes_frame>("lanes_frame_ring", "lanes::frame_ring", "frame", true),
      typed_queue<moodycamel_rwq>("moodycamel_rwq", "moodycamel::ReaderWriterQueue", "spsc", false),
      typed_queue<atomic_queue_spsc>("atomic_queue_spsc", "atomic_queue::AtomicQueue2 (SPSC)",
                                     "spsc", false),
      typed_queue<boost_queue>("boost_queue", "boost::lockfree::queue", "mpmc", false),
      nil_queue<true>("atomic_queue_nil_spsc", "atomic_queue::AtomicQueue (SPSC, NIL)", "spsc"),
      typed_queue<moodycamel_cq>("moodycamel_cq", "moodycamel::ConcurrentQueue", "mpmc", false),
      nil_queue<false>("atomic_queue_nil_mpmc", "atomic_queue::AtomicQueue (MPMC, NIL)", "mpmc"),
      typed_queue<tbb_bounded>("tbb_bounded_queue", "tbb::concurrent_bounded_queue", "mpmc", false),
      {"pingpong",
       "bare cache-line ping-pong",
       "floor",
       false,
       {{nullptr, nullptr}, {&measure_pingpong, &measure_pingpong}}},
  };
  return queues;
}

}  // namespace lanes_bench
