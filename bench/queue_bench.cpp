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
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "lanes_support/json_writer.hpp"
#include "lanes_support/median.hpp"
#include "lanes_support/run_info.hpp"
#include "queue_adapters.hpp"
#include <lanes/lanes.hpp>

namespace lanes_bench {
namespace {

constexpr std::size_t kValueBytes = 64;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "queue_bench: %s\n", what.c_str());
  std::exit(1);
}

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

// 1000 distinct 8-byte keys, made once (formatting one per message would cost more than
// the publish).
const std::vector<std::string>& keys() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> v;
    for (int i = 0; i < 1000; ++i) {
      char b[16];
      std::snprintf(b, sizeof b, "key-%04d", i);
      v.emplace_back(b);
    }
    return v;
  }();
  return k;
}

// lanes queue mode (ack = true) or log mode with one group (ack = false).
sample lanes_case(int producers, int consumers, std::uint64_t count, bool ack) {
  lanes::bus b(lanes::bus_config{{}, std::chrono::milliseconds(ack ? 1 : 0)});
  lanes::topic_config tc;
  tc.mode = ack ? lanes::topic_mode::queue : lanes::topic_mode::log;
  tc.partitions = static_cast<std::uint32_t>(std::max(producers, consumers));
  tc.ring_capacity = std::size_t{8} << 20;
  tc.producers = producers == 1 ? lanes::producer_mode::single : lanes::producer_mode::multi;
  if (b.create_topic("q", tc) != lanes::errc::ok) die("create_topic failed");
  const bool oversubscribed = producers + consumers > 2;
  std::vector<lanes::producer> prods;
  for (int i = 0; i < producers; ++i) prods.push_back(b.make_producer("q"));
  std::vector<lanes::queue_consumer> qcs;
  std::vector<lanes::consumer> lcs;
  for (int i = 0; i < consumers; ++i) {
    if (ack) {
      lanes::queue_consumer_config qc;
      qc.topic = "q";
      qc.max_receive = 256;
      qc.busy_spin = !oversubscribed;
      qcs.push_back(b.make_queue_consumer(qc));
      if (!qcs.back()) die("make_queue_consumer failed");
    } else {
      lanes::consumer_config cc;
      cc.group = "g";
      cc.reset = lanes::offset_reset::earliest;
      cc.auto_commit = false;
      cc.max_poll_records = 256;
      cc.busy_spin = !oversubscribed;
      lcs.push_back(b.make_consumer(cc));
      if (lcs.back().subscribe({"q"}) != lanes::errc::ok) die("subscribe failed");
    }
  }
  // Group members take their partitions inside poll: settle the assignment first.
  for (int round = 0; !ack && round < 2000; ++round) {
    std::size_t owned = 0;
    for (auto& c : lcs) {
      (void)c.poll(std::chrono::microseconds(100));
      owned += c.assignment().size();
    }
    if (owned == tc.partitions) break;
  }
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
          const std::string& key = keys()[seq % 1000];
          if (!prods[static_cast<std::size_t>(p)].publish(key,
                                                          std::string_view(value, kValueBytes))) {
            errors.fetch_add(1);
            return;
          }
        }
      },
      [&](int c) {
        std::uint64_t local_sum = 0;
        const auto slice = std::chrono::milliseconds(1);
        while (got.load(std::memory_order_relaxed) < total) {
          std::size_t n = 0;
          if (ack) {
            lanes::queue_consumer& qc = qcs[static_cast<std::size_t>(c)];
            const lanes::receive_result r = qc.receive(256, slice);
            for (const lanes::queue_message& m : r.messages) {
              std::uint64_t seq = 0;
              std::memcpy(&seq, m.record.value.data(), sizeof seq);
              local_sum += seq;
              if (qc.ack(m.receipt) != lanes::errc::ok) errors.fetch_add(1);
            }
            n = r.messages.size();
          } else {
            const lanes::poll_result r = lcs[static_cast<std::size_t>(c)].poll(slice);
            for (const lanes::record_view& v : r.records) {
              std::uint64_t seq = 0;
              std::memcpy(&seq, v.value.data(), sizeof seq);
              local_sum += seq;
            }
            n = r.records.size();
          }
          if (n != 0) got.fetch_add(n, std::memory_order_relaxed);
        }
        sum.fetch_add(local_sum);
      });
  sample s;
  s.value = static_cast<double>(total) / secs;
  s.ok = errors.load() == 0 && got.load() == total && sum.load() == total * (total - 1) / 2;
  return s;
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
          const item64 v = make_item<item64>(static_cast<std::uint64_t>(p) * per_producer + i + 1);
          for (unsigned spins = 0; !q.try_push(v); ++spins) {
            if (spins < 64)
              lanes::cpu_relax();
            else
              std::this_thread::yield();
          }
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
  s.ok = bad.load() == 0 && got.load() == total && sum.load() == total * (total - 1) / 2;
  return s;
}

using lanes_support::median;

}  // namespace
}  // namespace lanes_bench

int main(int argc, char** argv) {
  using namespace lanes_bench;
  int reps = 5;
  std::uint64_t count = 1'000'000;
  std::string out = "results/queue_bench.json";
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--reps") {
      reps = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--count") {
      count = std::strtoull(next().c_str(), nullptr, 10);
    } else if (a == "--out") {
      out = next();
    } else if (a == "--quick") {
      quick = true;
    } else if (a == "--help" || a == "-h") {
      std::puts("usage: queue_bench [--reps N] [--count N] [--quick] [--out PATH]");
      return 0;
    } else {
      die("unknown option " + a + " (see --help)");
    }
  }
  if (quick) {
    reps = std::min(reps, 2);
    count = 200'000;
  }
  struct config {
    const char* suffix;
    int producers, consumers;
  };
  const config configs[] = {{"1p1c", 1, 1}, {"2p2c", 2, 2}};
  std::map<std::string, std::vector<double>> values;
  std::vector<std::string> order;
  for (int round = 0; round <= reps; ++round) {
    std::map<std::string, sample> r;
    for (const config& c : configs) {
      const std::string s = c.suffix;
      r["lanes_queue_" + s] = lanes_case(c.producers, c.consumers, count, true);
      r["lanes_log_" + s] = lanes_case(c.producers, c.consumers, count, false);
      r["boost_queue_" + s] = peer_case<boost_queue<item64>>(c.producers, c.consumers, count);
      r["atomic_queue_" + s] =
          peer_case<atomic_queue2<item64, false>>(c.producers, c.consumers, count);
    }
    std::fprintf(stderr, "round %d%s:", round, round == 0 ? " (warm-up)" : "");
    for (auto& [id, s] : r) {
      if (!s.ok) die("case " + id + " lost, duplicated or failed messages");
      std::fprintf(stderr, " %s %.2fM/s", id.c_str(), s.value / 1e6);
      if (round > 0) {
        if (values.find(id) == values.end()) order.push_back(id);
        values[id].push_back(s.value);
      }
    }
    std::fprintf(stderr, "\n");
  }
  // Ratios within each round.
  std::map<std::string, std::vector<double>> ratios;
  for (const config& c : configs) {
    const std::string s = c.suffix;
    for (std::size_t k = 0; k < values["lanes_queue_" + s].size(); ++k) {
      const double q = values["lanes_queue_" + s][k];
      ratios["queue_vs_boost_" + s].push_back(q / values["boost_queue_" + s][k]);
      ratios["queue_vs_atomic_queue_" + s].push_back(q / values["atomic_queue_" + s][k]);
      ratios["queue_vs_log_" + s].push_back(q / values["lanes_log_" + s][k]);
      // The cost of an acknowledgement: ns per message more than polling a log.
      ratios["ack_cost_ns_" + s].push_back((1.0 / q - 1.0 / values["lanes_log_" + s][k]) * 1e9);
    }
  }
  std::filesystem::path path(out);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream file(path);
  if (!file) die("cannot write " + out);
  json_writer w(file);
  w.begin_object();
  w.field("benchmark", "queue_bench");
  w.field("git_commit", lanes_tools::git_commit());
  w.field("compiler", lanes_tools::compiler());
  w.field("cpu_model", lanes_tools::cpu_model());
  w.field("date", lanes_tools::utc_date());
  w.field("load_average", lanes_tools::load_average());
  w.field("reps", reps);
  w.field("quick", quick);
  w.field("messages_per_run", count);
  w.field("value_bytes", static_cast<std::uint64_t>(kValueBytes));
  w.key("cases");
  w.begin_object();
  for (const std::string& id : order) {
    const auto& v = values[id];
    w.key(id);
    w.begin_object();
    w.field("unit", "msgs/s");
    w.key("samples");
    w.begin_array();
    for (double x : v) w.value(x);
    w.end_array();
    w.field("median", median(v));
    w.field("min", *std::min_element(v.begin(), v.end()));
    w.field("max", *std::max_element(v.begin(), v.end()));
    w.end_object();
  }
  w.end_object();
  w.key("ratios");
  w.begin_object();
  for (auto& [id, v] : ratios) {
    w.key(id);
    w.begin_object();
    w.field("median", median(v));
    w.field("min", *std::min_element(v.begin(), v.end()));
    w.field("max", *std::max_element(v.begin(), v.end()));
    w.end_object();
  }
  w.end_object();
  w.end_object();
  file << "\n";
  for (auto& [id, v] : ratios) {
    std::fprintf(stderr, "%-28s median %.3f (min %.3f, max %.3f)\n", id.c_str(), median(v),
                 *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()));
  }
  std::fprintf(stderr, "wrote %s\n", out.c_str());
  return 0;
}
