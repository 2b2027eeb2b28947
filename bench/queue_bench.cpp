// bench/queue_bench.cpp: queue mode (receive + ack of every message) against queues that do
// no acknowledgement at all, in the same run (issue 4's targets):
//
//   lanes_queue   a queue topic: producers publish 64-byte values with 8-byte keys, competing
//                 consumers receive and ack every message (ack deletes it for good)
//   lanes_log     the same bus in log mode, one group polling (no ack): the difference to
//                 lanes_queue is the cost of acknowledgement, shown as its own row
//   boost_queue   boost::lockfree::queue of 64-byte items (bounded_push / pop)
//   atomic_queue  atomic_queue's AtomicQueue2 MPMC of 64-byte items
//
// Each at 1 producer + 1 consumer and at 2 producers + 2 consumers. Two CPUs here: with four
// threads lanes waits by parking (its default), the peers spin and yield when empty or full.
// Rounds alternate the cases; round 0 is a warm-up. Every message is checked to arrive
// exactly once (sum of sequence numbers). Results: JSON (--out), ratios within each round.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bench_bus.hpp"
#include "bench_common.hpp"
#include "harness.hpp"
#include "lanes_support/run_info.hpp"
#include "queue_adapters.hpp"
#include <lanes/lanes.hpp>

namespace lanes_bench {
namespace {

constexpr std::size_t kValueBytes = 64;
constexpr int kKeys = 1000;

struct options : run_options {
  options() : run_options{5, false, "results/queue_bench.json"} {}
  std::uint64_t count = 1'000'000;
};

struct sample {
  double value = 0;  // messages per second
  bool ok = true;
};

// Runs producers() and consumers() threads together from one start line; returns seconds
// from the start to the last consumer's end.
double run_threads(int producers, int consumers, const std::function<void(int)>& produce,
                   const std::function<void(int)>& consume) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<std::uint64_t> end_ns{0};
  std::vector<std::thread> ts;
  const int n = producers + consumers;
  for (int i = 0; i < n; ++i) {
    ts.emplace_back([&, i] {
      pin_this_thread(i % 2);  // producers and consumers spread over both CPUs
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) lanes::cpu_relax();
      if (i < producers) {
        produce(i);
      } else {
        consume(i - producers);
        const std::uint64_t t = now_ns();
        std::uint64_t prev = end_ns.load();
        while (t > prev && !end_ns.compare_exchange_weak(prev, t)) {
        }
      }
    });
  }
  while (ready.load() < n) std::this_thread::yield();
  const std::uint64_t t0 = now_ns();
  go.store(true, std::memory_order_release);
  for (auto& t : ts) t.join();
  return static_cast<double>(end_ns.load() - t0) * 1e-9;
}

// The keys, made once (formatting one per message would cost more than the publish).
const std::vector<std::string>& keys() {
  static const std::vector<std::string> k = make_keys(kKeys);
  return k;
}

// A topic "q" for `producers` producers and `consumers` consumers: a queue topic whose
// competing consumers receive and ack (acked = true), or a log topic read by one group.
struct lanes_topic {
  lanes_topic(int producers, int consumers, bool acked)
      : acks(acked), b(lanes::bus_config{{}, std::chrono::milliseconds(acked ? 1 : 0)}) {
    lanes::topic_config tc =
        ring_topic(static_cast<std::uint32_t>(std::max(producers, consumers)), std::size_t{8} << 20,
                   producers == 1 ? lanes::producer_mode::single : lanes::producer_mode::multi);
    tc.mode = acked ? lanes::topic_mode::queue : lanes::topic_mode::log;
    create_topic(b, "q", tc);
    const bool oversubscribed = producers + consumers > 2;
    for (int i = 0; i < producers; ++i) prods.push_back(b.make_producer("q"));
    for (int i = 0; i < consumers; ++i) {
      if (acked) {
        add_queue_consumer(!oversubscribed);
      } else {
        add_group_member(!oversubscribed);
      }
    }
    if (!acked) settle_group(tc.partitions);
  }
  void add_queue_consumer(bool busy_spin) {
    lanes::queue_consumer_config qc;
    qc.topic = "q";
    qc.max_receive = 256;
    qc.busy_spin = busy_spin;
    qcs.push_back(b.make_queue_consumer(qc));
    if (!qcs.back()) die("make_queue_consumer failed");
  }
  void add_group_member(bool busy_spin) {
    lanes::consumer_config cc;
    cc.group = "g";
    cc.reset = lanes::offset_reset::earliest;
    cc.auto_commit = false;
    cc.max_poll_records = 256;
    cc.busy_spin = busy_spin;
    lcs.push_back(b.make_consumer(cc));
    if (lcs.back().subscribe({"q"}) != lanes::errc::ok) die("subscribe failed");
  }
  // Group members take their partitions inside poll: settle the assignment first.
  void settle_group(std::size_t partitions) {
    for (int round = 0; round < 2000; ++round) {
      std::size_t owned = 0;
      for (auto& c : lcs) {
        (void)c.poll(std::chrono::microseconds(100));
        owned += c.assignment().size();
      }
      if (owned == partitions) break;
    }
  }
  // Receives (and acks) or polls for about a millisecond; adds the numbers read to `sum`;
  // returns how many messages it read.
  std::size_t read(int c, std::uint64_t& sum, std::atomic<std::uint64_t>& errors) {
    const auto slice = std::chrono::milliseconds(1);
    const auto k = static_cast<std::size_t>(c);
    if (!acks) return add_numbers(lcs[k].poll(slice), sum);
    const lanes::receive_result r = qcs[k].receive(256, slice);
    for (const lanes::queue_message& m : r.messages) {
      sum += number_at(m.record.value.data());
      if (qcs[k].ack(m.receipt) != lanes::errc::ok) errors.fetch_add(1);
    }
    return r.messages.size();
  }

  bool acks;  // a queue topic whose consumers ack (else a log topic)
  lanes::bus b;
  std::vector<lanes::producer> prods;
  std::vector<lanes::queue_consumer> qcs;
  std::vector<lanes::consumer> lcs;
};

// lanes queue mode (ack = true) or log mode with one group (ack = false).
sample lanes_case(int producers, int consumers, std::uint64_t count, bool ack) {
  lanes_topic t(producers, consumers, ack);
  const std::uint64_t per_producer = count / static_cast<std::uint64_t>(producers);
  const std::uint64_t total = per_producer * static_cast<std::uint64_t>(producers);
  std::atomic<std::uint64_t> got{0}, sum{0}, errors{0};
  (void)keys();
  const double secs = run_threads(
      producers, consumers,
      [&](int p) {
        char value[kValueBytes] = {};
        for (std::uint64_t i = 0; i < per_producer; ++i) {
          const std::uint64_t seq = static_cast<std::uint64_t>(p) * per_producer + i;
          std::memcpy(value, &seq, sizeof seq);
          const std::string& key = keys()[seq % kKeys];
          if (!t.prods[static_cast<std::size_t>(p)].publish(key,
                                                            std::string_view(value, kValueBytes))) {
            errors.fetch_add(1);
            return;
          }
        }
      },
      [&](int c) {
        std::uint64_t local_sum = 0;
        while (got.load(std::memory_order_relaxed) < total) {
          const std::size_t n = t.read(c, local_sum, errors);
          if (n != 0) got.fetch_add(n, std::memory_order_relaxed);
        }
        sum.fetch_add(local_sum);
      });
  sample s;
  s.value = static_cast<double>(total) / secs;
  s.ok = errors.load() == 0 && got.load() == total && each_once(sum.load(), total);
  return s;
}

// Pushes `v`, spinning a little and then yielding while the queue is full.
template <class Q>
void push_or_yield(Q& q, const item64& v) {
  for (unsigned spins = 0; !q.try_push(v); ++spins) {
    if (spins < 64)
      lanes::cpu_relax();
    else
      std::this_thread::yield();
  }
}

// A peer queue of 64-byte items: producers push, consumers pop, yielding when they cannot.
template <class Q>
sample peer_case(int producers, int consumers, std::uint64_t count) {
  Q q(kCapacity);
  const std::uint64_t per_producer = count / static_cast<std::uint64_t>(producers);
  const std::uint64_t total = per_producer * static_cast<std::uint64_t>(producers);
  std::atomic<std::uint64_t> got{0}, sum{0}, bad{0};
  const double secs = run_threads(
      producers, consumers,
      [&](int p) {
        for (std::uint64_t i = 0; i < per_producer; ++i) {
          push_or_yield(q, make_item<item64>(static_cast<std::uint64_t>(p) * per_producer + i + 1));
        }
      },
      [&](int) {
        std::uint64_t local_sum = 0, local_got = 0;
        item64 v;
        unsigned spins = 0;
        while (got.load(std::memory_order_relaxed) < total) {
          if (q.try_pop(v)) {
            const std::uint64_t seq = seq_of(v);
            if (seq == 0) bad.fetch_add(1);
            local_sum += seq - 1;
            if (++local_got == 64) {
              got.fetch_add(local_got, std::memory_order_relaxed);
              local_got = 0;
            }
            spins = 0;
          } else if (++spins < 64) {
            lanes::cpu_relax();
          } else {
            if (local_got != 0) {
              got.fetch_add(local_got, std::memory_order_relaxed);
              local_got = 0;
            }
            std::this_thread::yield();
          }
        }
        got.fetch_add(local_got);
        sum.fetch_add(local_sum);
      });
  sample s;
  s.value = static_cast<double>(total) / secs;
  s.ok = bad.load() == 0 && got.load() == total && each_once(sum.load(), total);
  return s;
}

struct config {
  const char* suffix;
  int producers, consumers;
};
constexpr config kConfigs[] = {{"1p1c", 1, 1}, {"2p2c", 2, 2}};

// Every case's rate per measured round, and the case ids in the order they were first seen.
struct queue_run {
  std::map<std::string, std::vector<double>> values;
  std::vector<std::string> order;
  std::map<std::string, std::vector<double>> ratios;
};

// One round: every case at both thread counts; printed, and kept unless it is the warm-up.
void run_round(const options& o, int round, queue_run& run) {
  std::map<std::string, sample> r;
  for (const config& c : kConfigs) {
    const std::string s = c.suffix;
    r["lanes_queue_" + s] = lanes_case(c.producers, c.consumers, o.count, true);
    r["lanes_log_" + s] = lanes_case(c.producers, c.consumers, o.count, false);
    r["boost_queue_" + s] = peer_case<boost_queue<item64>>(c.producers, c.consumers, o.count);
    r["atomic_queue_" + s] =
        peer_case<atomic_queue2<item64, false>>(c.producers, c.consumers, o.count);
  }
  std::fprintf(stderr, "round %d%s:", round, round == 0 ? " (warm-up)" : "");
  for (auto& [id, s] : r) {
    if (!s.ok) die("case " + id + " lost, duplicated or failed messages");
    std::fprintf(stderr, " %s %.2fM/s", id.c_str(), s.value / 1e6);
    if (round > 0) {
      if (run.values.find(id) == run.values.end()) run.order.push_back(id);
      run.values[id].push_back(s.value);
    }
  }
  std::fprintf(stderr, "\n");
}

// Ratios within each round.
void take_ratios(queue_run& run) {
  auto& values = run.values;
  for (const config& c : kConfigs) {
    const std::string s = c.suffix;
    for (std::size_t k = 0; k < values["lanes_queue_" + s].size(); ++k) {
      const double q = values["lanes_queue_" + s][k];
      run.ratios["queue_vs_boost_" + s].push_back(q / values["boost_queue_" + s][k]);
      run.ratios["queue_vs_atomic_queue_" + s].push_back(q / values["atomic_queue_" + s][k]);
      run.ratios["queue_vs_log_" + s].push_back(q / values["lanes_log_" + s][k]);
      // The cost of an acknowledgement: ns per message more than polling a log.
      run.ratios["ack_cost_ns_" + s].push_back((1.0 / q - 1.0 / values["lanes_log_" + s][k]) * 1e9);
    }
  }
}

void write_results(const options& o, queue_run& run) {
  write_results_file(o.out, [&](json_writer& w) {
    write_run_facts(w, "queue_bench");
    w.field("reps", o.reps);
    w.field("quick", o.quick);
    w.field("messages_per_run", o.count);
    w.field("value_bytes", static_cast<std::uint64_t>(kValueBytes));
    w.object("cases", [&] {
      for (const std::string& id : run.order) {
        w.object(id, [&] {
          w.field("unit", "msgs/s");
          write_samples(w, run.values[id]);
        });
      }
    });
    w.object("ratios", [&] {
      for (auto& [id, v] : run.ratios) {
        w.object(id, [&] { write_spread(w, v); });
      }
    });
  });
  for (auto& [id, v] : run.ratios) print_spread(id, v, 28);
  std::fprintf(stderr, "wrote %s\n", o.out.c_str());
}

options parse(int argc, char** argv) {
  options o;
  parse_command_line(argc, argv, o,
                     "usage: queue_bench [--reps N] [--count N] [--quick] [--out PATH]",
                     {{"--count", [&](arg_cursor& a) { o.count = a.count(); }}});
  if (o.quick) {
    o.reps = std::min(o.reps, 2);
    o.count = 200'000;
  }
  return o;
}

}  // namespace
}  // namespace lanes_bench

int main(int argc, char** argv) {
  using namespace lanes_bench;
  const options o = parse(argc, argv);
  queue_run run;
  for (int round = 0; round <= o.reps; ++round) run_round(o, round, run);
  take_ratios(run);
  write_results(o, run);
  return 0;
}
