// bus_bench: the log-mode bus end to end against the raw frame ring it is built on and
// against ZeroMQ inproc:// PUSH/PULL, one producer on CPU 0 and one consumer on CPU 1.
//
//   throughput   1 partition: bus (64-byte values, 8-byte keys, single-producer topic,
//                busy polling consumer group), raw frame_ring (64-byte frames, batch reads),
//                ZeroMQ PUSH/PULL (72-byte messages: the same key + value bytes)
//   scaling      bus throughput with 1, 4 and 16 partitions (keys spread over all of them)
//   queue        1 partition of a queue topic: receive (busy spin) and ack every message
//   latency      publish -> poll at a fixed rate below saturation, busy-spin consumer, timed
//                from when each message was due (no coordinated omission); the same for the
//                raw frame ring (one-way claim/commit -> peek)
//
// Method (shared/BENCHMARKING.md): one warm-up round discarded, then --reps rounds in which
// every case runs once, in the same order; ratios are taken within a round, then their
// median. Results (every sample, medians, ratios, machine facts) go to --out as JSON, which
// tools/bench_report.py renders into BENCHMARKS.md.
//
//   bus_bench [--reps N] [--quick] [--out PATH]
#include <zmq.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "../tools/run_info.hpp"
#include "harness.hpp"
#include "json_writer.hpp"
#include <lanes/lanes.hpp>

namespace lanes_bench {
namespace {

constexpr std::size_t kValueBytes = 64;
constexpr std::size_t kBatch = 64;  // messages per publish_batch in the bus_batch case
constexpr std::size_t kRingBytes = std::size_t{8} << 20;
constexpr int kKeys = 1024;

struct options {
  int reps = 7;
  bool quick = false;
  std::string out = "results/bus_bench.json";
  std::uint64_t count = 2'000'000;  // messages per throughput run
  double rate = 100'000;            // messages/s for the latency runs
  double latency_seconds = 1.0;
  std::string profile;  // --profile CASE: run only that throughput case, print, no file
};

std::vector<std::string> make_keys() {
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) {
    char b[16];
    std::snprintf(b, sizeof b, "key-%04d", i);
    keys.emplace_back(b);
  }
  return keys;
}

struct sample {
  double value = 0;  // msgs/s for throughput; ns for latency percentiles
  double p50 = 0, p99 = 0, p999 = 0, max = 0;
  double floor_ns = 0;  // placement probe (ping-pong ns/trip) before the run
  bool ok = true;
};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "bus_bench: %s\n", what);
  std::exit(1);
}

// ---- bus ----

struct bus_fixture {
  explicit bus_fixture(std::uint32_t partitions)
      : b(lanes::bus_config{{}, std::chrono::milliseconds(0)}) {
    lanes::topic_config tc;
    tc.partitions = partitions;
    tc.ring_capacity = kRingBytes;
    tc.producers = lanes::producer_mode::single;
    if (b.create_topic("bench", tc) != lanes::errc::ok) die("create_topic failed");
    prod = b.make_producer("bench");
    lanes::consumer_config cc;
    cc.group = "bench";
    cc.reset = lanes::offset_reset::earliest;
    cc.busy_spin = true;
    cc.auto_commit = false;
    cc.max_poll_records = 1024;
    cons = b.make_consumer(cc);
    if (cons.subscribe({"bench"}) != lanes::errc::ok) die("subscribe failed");
    // Membership is taken over inside poll: poll until every partition is ours.
    for (int i = 0; i < 1000 && cons.assignment().size() < partitions; ++i) {
      (void)cons.poll(std::chrono::milliseconds(1));
    }
    if (cons.assignment().size() != partitions) die("group did not take every partition");
  }
  lanes::bus b;
  lanes::producer prod;
  lanes::consumer cons;
};

// batch == 0: one publish() per message; else publish_batch() of `batch` messages.
sample bus_throughput(std::uint32_t partitions, std::uint64_t count,
                      const std::vector<std::string>& keys, std::size_t batch = 0) {
  bus_fixture f(partitions);
  start_barrier barrier;
  std::uint64_t t0 = 0, t1 = 0, sum = 0;
  const pair_outcome o = run_pinned_pair(
      [&] {
        char value[kValueBytes] = {};
        std::vector<char> values(std::max<std::size_t>(batch, 1) * kValueBytes);
        std::vector<lanes::message> msgs(batch);
        std::vector<lanes::publish_result> results(batch);
        barrier.arrive_and_wait();
        t0 = now_ns();
        if (batch != 0) {
          for (std::uint64_t i = 0; i < count;) {
            const std::size_t n =
                static_cast<std::size_t>(std::min<std::uint64_t>(batch, count - i));
            for (std::size_t k = 0; k < n; ++k, ++i) {
              char* v = values.data() + k * kValueBytes;
              std::memcpy(v, &i, sizeof i);
              msgs[k].key = keys[i % kKeys];
              msgs[k].value = std::string_view(v, kValueBytes);
            }
            if (f.prod.publish_batch(std::span(msgs.data(), n), results) != n) {
              die("publish_batch failed");
            }
          }
          return;
        }
        for (std::uint64_t i = 0; i < count; ++i) {
          std::memcpy(value, &i, sizeof i);
          if (!f.prod.publish(keys[i % kKeys], std::string_view(value, sizeof value))) {
            die("publish failed");
          }
        }
      },
      [&] {
        barrier.arrive_and_wait();
        std::uint64_t got = 0;
        while (got < count) {
          const lanes::poll_result r = f.cons.poll();
          for (const lanes::record_view& rec : r.records) {
            std::uint64_t i = 0;
            std::memcpy(&i, rec.value.data(), sizeof i);
            sum += i;
          }
          got += r.records.size();
        }
        t1 = now_ns();
      });
  sample s;
  s.value = static_cast<double>(count) / (static_cast<double>(t1 - t0) * 1e-9);
  s.floor_ns = o.floor_before_ns;
  s.ok = sum == count * (count - 1) / 2;  // every message exactly once
  return s;
}

// ---- queue mode: receive and ack every message ----

// One queue topic partition, the same producer as bus_p1; the consumer receives batches
// (busy spin) and acks each message: the queue-mode hot path against the log-mode one.
sample queue_throughput(std::uint64_t count, const std::vector<std::string>& keys) {
  lanes::bus b(lanes::bus_config{{}, std::chrono::milliseconds(0)});
  lanes::topic_config tc;
  tc.mode = lanes::topic_mode::queue;
  tc.partitions = 1;
  tc.ring_capacity = kRingBytes;
  tc.producers = lanes::producer_mode::single;
  if (b.create_topic("bench", tc) != lanes::errc::ok) die("create_topic (queue) failed");
  lanes::producer prod = b.make_producer("bench");
  lanes::queue_consumer_config qc;
  qc.topic = "bench";
  qc.max_receive = 1024;
  qc.busy_spin = true;
  lanes::queue_consumer cons = b.make_queue_consumer(qc);
  if (!cons) die("make_queue_consumer failed");
  start_barrier barrier;
  std::uint64_t t0 = 0, t1 = 0, sum = 0, ack_errors = 0;
  const pair_outcome o = run_pinned_pair(
      [&] {
        char value[kValueBytes] = {};
        barrier.arrive_and_wait();
        t0 = now_ns();
        for (std::uint64_t i = 0; i < count; ++i) {
          std::memcpy(value, &i, sizeof i);
          if (!prod.publish(keys[i % kKeys], std::string_view(value, sizeof value))) {
            die("publish (queue) failed");
          }
        }
      },
      [&] {
        barrier.arrive_and_wait();
        std::uint64_t got = 0;
        while (got < count) {
          const lanes::receive_result r = cons.receive(1024);
          for (const lanes::queue_message& m : r.messages) {
            std::uint64_t i = 0;
            std::memcpy(&i, m.record.value.data(), sizeof i);
            sum += i;
            if (cons.ack(m.receipt) != lanes::errc::ok) ++ack_errors;
          }
          got += r.messages.size();
        }
        t1 = now_ns();
      });
  sample s;
  s.value = static_cast<double>(count) / (static_cast<double>(t1 - t0) * 1e-9);
  s.floor_ns = o.floor_before_ns;
  s.ok = sum == count * (count - 1) / 2 && ack_errors == 0;  // each once, each acked
  return s;
}

// ---- raw frame ring ----

sample ring_throughput(std::uint64_t count, std::size_t payload = kValueBytes) {
  lanes::frame_ring ring(kRingBytes, lanes::producer_mode::single);
  lanes::frame_ring::reader reader = ring.add_reader();
  start_barrier barrier;
  std::uint64_t t0 = 0, t1 = 0, sum = 0;
  const pair_outcome o = run_pinned_pair(
      [&] {
        barrier.arrive_and_wait();
        t0 = now_ns();
        for (std::uint64_t i = 0; i < count; ++i) {
          lanes::frame_claim c;
          while (!(c = ring.try_claim(payload))) lanes::cpu_relax();
          std::memset(c.data, 0, payload);
          std::memcpy(c.data, &i, sizeof i);
          ring.commit(c);
        }
      },
      [&] {
        barrier.arrive_and_wait();
        std::uint64_t got = 0;
        while (got < count) {
          got += reader.poll(
              [&](const lanes::frame_view& v) {
                std::uint64_t i = 0;
                std::memcpy(&i, v.data, sizeof i);
                sum += i;
              },
              1024);
        }
        t1 = now_ns();
      });
  sample s;
  s.value = static_cast<double>(count) / (static_cast<double>(t1 - t0) * 1e-9);
  s.floor_ns = o.floor_before_ns;
  s.ok = sum == count * (count - 1) / 2;
  return s;
}

// ---- ZeroMQ inproc PUSH/PULL ----

sample zmq_throughput(std::uint64_t count, const std::vector<std::string>& keys) {
  void* ctx = zmq_ctx_new();
  void* push = zmq_socket(ctx, ZMQ_PUSH);
  void* pull = zmq_socket(ctx, ZMQ_PULL);
  if (zmq_bind(pull, "inproc://bus_bench") != 0 || zmq_connect(push, "inproc://bus_bench") != 0) {
    die("zmq bind/connect failed");
  }
  constexpr std::size_t msg_bytes = 8 + kValueBytes;  // the same key + value bytes
  start_barrier barrier;
  std::uint64_t t0 = 0, t1 = 0, sum = 0;
  const pair_outcome o = run_pinned_pair(
      [&] {
        char buf[msg_bytes] = {};
        barrier.arrive_and_wait();
        t0 = now_ns();
        for (std::uint64_t i = 0; i < count; ++i) {
          std::memcpy(buf, keys[i % kKeys].data(), 8);
          std::memcpy(buf + 8, &i, sizeof i);
          if (zmq_send(push, buf, msg_bytes, 0) != static_cast<int>(msg_bytes)) die("zmq_send");
        }
      },
      [&] {
        char buf[msg_bytes];
        barrier.arrive_and_wait();
        for (std::uint64_t got = 0; got < count; ++got) {
          if (zmq_recv(pull, buf, msg_bytes, 0) != static_cast<int>(msg_bytes)) die("zmq_recv");
          std::uint64_t i = 0;
          std::memcpy(&i, buf + 8, sizeof i);
          sum += i;
        }
        t1 = now_ns();
      });
  zmq_close(push);
  zmq_close(pull);
  zmq_ctx_term(ctx);
  sample s;
  s.value = static_cast<double>(count) / (static_cast<double>(t1 - t0) * 1e-9);
  s.floor_ns = o.floor_before_ns;
  s.ok = sum == count * (count - 1) / 2;
  return s;
}

// ---- latency at a fixed rate ----

// Producer: message i is due at start + i * period; it waits for that moment, stamps the due
// time and sends. Consumer: latency = receive time - due time, so a stalled producer shows
// up as latency instead of hiding it (no coordinated omission). Times in steady_clock ns.
template <class Send, class Receive>
sample fixed_rate(double rate, double seconds, Send&& send, Receive&& receive) {
  const auto n = static_cast<std::uint64_t>(rate * seconds);
  const double period_ns = 1e9 / rate;
  log_linear_histogram h;
  start_barrier barrier;
  const pair_outcome o = run_pinned_pair(
      [&] {
        barrier.arrive_and_wait();
        const std::uint64_t start = now_ns() + 1'000'000;  // first message 1 ms from now
        for (std::uint64_t i = 0; i < n; ++i) {
          const auto due = start + static_cast<std::uint64_t>(static_cast<double>(i) * period_ns);
          while (now_ns() < due) lanes::cpu_relax();
          send(due);
        }
      },
      [&] {
        barrier.arrive_and_wait();
        std::uint64_t got = 0;
        while (got < n) {
          got += receive([&](std::uint64_t due) {
            const std::uint64_t now = now_ns();
            h.record(now > due ? now - due : 0);
          });
        }
      });
  sample s;
  s.p50 = h.quantile(0.50);
  s.p99 = h.quantile(0.99);
  s.p999 = h.quantile(0.999);
  s.max = static_cast<double>(h.max());
  s.value = s.p99;
  s.floor_ns = o.floor_before_ns;
  s.ok = h.count() == n;
  return s;
}

sample bus_latency(const options& opt, const std::vector<std::string>& keys) {
  bus_fixture f(1);
  std::uint64_t i = 0;
  return fixed_rate(
      opt.rate, opt.latency_seconds,
      [&](std::uint64_t due) {
        char value[kValueBytes] = {};
        std::memcpy(value, &due, sizeof due);
        if (!f.prod.publish(keys[i++ % kKeys], std::string_view(value, sizeof value))) {
          die("publish failed");
        }
      },
      [&](auto&& record) {
        const lanes::poll_result r = f.cons.poll();
        for (const lanes::record_view& rec : r.records) {
          std::uint64_t due = 0;
          std::memcpy(&due, rec.value.data(), sizeof due);
          record(due);
        }
        return r.records.size();
      });
}

sample ring_latency(const options& opt) {
  lanes::frame_ring ring(kRingBytes, lanes::producer_mode::single);
  lanes::frame_ring::reader reader = ring.add_reader();
  return fixed_rate(
      opt.rate, opt.latency_seconds,
      [&](std::uint64_t due) {
        lanes::frame_claim c;
        while (!(c = ring.try_claim(kValueBytes))) lanes::cpu_relax();
        std::memset(c.data, 0, kValueBytes);
        std::memcpy(c.data, &due, sizeof due);
        ring.commit(c);
      },
      [&](auto&& record) {
        return reader.poll(
            [&](const lanes::frame_view& v) {
              std::uint64_t due = 0;
              std::memcpy(&due, v.data, sizeof due);
              record(due);
            },
            1024);
      });
}

// ---- driver ----

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die(("missing value after " + a).c_str());
      return argv[++i];
    };
    if (a == "--reps") {
      o.reps = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--out") {
      o.out = next();
    } else if (a == "--profile") {
      o.profile = next();
    } else if (a == "--count") {
      o.count = std::strtoull(next().c_str(), nullptr, 10);
    } else if (a == "--help" || a == "-h") {
      std::puts(
          "usage: bus_bench [--reps N] [--quick] [--out PATH] [--count N]\n"
          "       bus_bench --profile bus_p1|bus_p4|bus_p16|frame_ring|zmq_push_pull [--reps N]\n"
          "  --profile runs only that case (for perf record) and writes no results file");
      std::exit(0);
    } else {
      die(("unknown option " + a + " (see --help)").c_str());
    }
  }
  if (o.quick) {
    o.reps = std::min(o.reps, 3);
    o.count = 300'000;
    o.latency_seconds = 0.3;
  }
  return o;
}

}  // namespace
}  // namespace lanes_bench

int main(int argc, char** argv) {
  using namespace lanes_bench;
  const options opt = parse(argc, argv);
  const std::vector<std::string> keys = make_keys();

  // Case ids, in the order they run within a round.
  const std::vector<std::string> cases = {"bus_p1",        "bus_batch",    "frame_ring",
                                          "zmq_push_pull", "bus_p4",       "bus_p16",
                                          "bus_latency",   "ring_latency", "queue_p1"};
  if (!opt.profile.empty()) {
    for (int round = 0; round < opt.reps; ++round) {
      sample s;
      if (opt.profile == "bus_p1")
        s = bus_throughput(1, opt.count, keys);
      else if (opt.profile == "bus_p4")
        s = bus_throughput(4, opt.count, keys);
      else if (opt.profile == "bus_p16")
        s = bus_throughput(16, opt.count, keys);
      else if (opt.profile == "bus_batch")
        s = bus_throughput(1, opt.count, keys, kBatch);
      else if (opt.profile == "frame_ring")
        s = ring_throughput(opt.count);
      else if (opt.profile == "frame_ring_record")
        s = ring_throughput(opt.count, 104);
      else if (opt.profile == "queue_p1")
        s = queue_throughput(opt.count, keys);
      else if (opt.profile == "zmq_push_pull")
        s = zmq_throughput(opt.count, keys);
      else
        die(("unknown case " + opt.profile).c_str());
      std::printf("%s: %.2fM msgs/s (floor %.0f ns)%s\n", opt.profile.c_str(), s.value / 1e6,
                  s.floor_ns, s.ok ? "" : " LOST OR DUPLICATED");
    }
    return 0;
  }
  std::map<std::string, std::vector<sample>> results;
  for (int round = 0; round <= opt.reps; ++round) {  // round 0: warm-up, discarded
    std::map<std::string, sample> r;
    r["bus_p1"] = bus_throughput(1, opt.count, keys);
    r["bus_batch"] = bus_throughput(1, opt.count, keys, kBatch);
    r["frame_ring"] = ring_throughput(opt.count);
    r["zmq_push_pull"] = zmq_throughput(opt.count / 4, keys);  // ZeroMQ is slower: fewer msgs
    r["bus_p4"] = bus_throughput(4, opt.count, keys);
    r["bus_p16"] = bus_throughput(16, opt.count, keys);
    r["bus_latency"] = bus_latency(opt, keys);
    r["ring_latency"] = ring_latency(opt);
    r["queue_p1"] = queue_throughput(opt.count, keys);
    std::fprintf(
        stderr,
        "round %d%s: bus %.2fM/s batch %.2fM/s ring %.2fM/s zmq %.2fM/s p4 %.2fM/s p16 %.2fM/s | "
        "p99 bus %.0f ns ring %.0f ns | queue %.2fM/s | floor %.0f ns\n",
        round, round == 0 ? " (warm-up)" : "", r["bus_p1"].value / 1e6, r["bus_batch"].value / 1e6,
        r["frame_ring"].value / 1e6, r["zmq_push_pull"].value / 1e6, r["bus_p4"].value / 1e6,
        r["bus_p16"].value / 1e6, r["bus_latency"].p99, r["ring_latency"].p99,
        r["queue_p1"].value / 1e6, r["bus_p1"].floor_ns);
    for (auto& [id, s] : r) {
      if (!s.ok) die(("case " + id + " lost or duplicated messages").c_str());
      if (round > 0) results[id].push_back(s);
    }
  }

  // Ratios within each round, then their median.
  struct ratio_def {
    const char* id;
    const char* num;
    const char* den;
    bool latency;  // compare p99s
  };
  const std::vector<ratio_def> ratio_defs = {
      {"bus_vs_frame_ring_tput", "bus_p1", "frame_ring", false},
      {"bus_vs_zmq_tput", "bus_p1", "zmq_push_pull", false},
      {"bus_batch_vs_zmq_tput", "bus_batch", "zmq_push_pull", false},
      {"bus_batch_vs_frame_ring_tput", "bus_batch", "frame_ring", false},
      {"bus_vs_ring_p99", "bus_latency", "ring_latency", true},
      {"bus_p4_vs_p1_tput", "bus_p4", "bus_p1", false},
      {"bus_p16_vs_p1_tput", "bus_p16", "bus_p1", false},
      {"queue_vs_bus_tput", "queue_p1", "bus_p1", false},
  };

  std::filesystem::path out(opt.out);
  if (out.has_parent_path()) std::filesystem::create_directories(out.parent_path());
  std::ofstream file(out);
  if (!file) die(("cannot write " + opt.out).c_str());
  json_writer w(file);
  w.begin_object();
  w.field("benchmark", "bus_bench");
  w.field("git_commit", lanes_tools::git_commit());
  w.field("compiler", lanes_tools::compiler());
  w.field("cpu_model", lanes_tools::cpu_model());
  w.field("date", lanes_tools::utc_date());
  w.field("load_average", lanes_tools::load_average());
  w.field("reps", opt.reps);
  w.field("quick", opt.quick);
  w.field("value_bytes", static_cast<std::uint64_t>(kValueBytes));
  w.field("key_bytes", static_cast<std::uint64_t>(8));
  w.field("ring_bytes", static_cast<std::uint64_t>(kRingBytes));
  w.field("messages_per_throughput_run", opt.count);
  w.field("latency_rate_per_s", opt.rate);
  w.field("latency_seconds", opt.latency_seconds);
  w.key("cases");
  w.begin_object();
  for (const std::string& id : cases) {
    const auto& ss = results[id];
    std::vector<double> v, p50, p99, p999, mx, floor;
    for (const sample& s : ss) {
      v.push_back(s.value);
      p50.push_back(s.p50);
      p99.push_back(s.p99);
      p999.push_back(s.p999);
      mx.push_back(s.max);
      floor.push_back(s.floor_ns);
    }
    w.key(id);
    w.begin_object();
    const bool lat = id.find("latency") != std::string::npos;
    w.field("unit", lat ? "ns" : "msgs/s");
    w.array("samples", v);
    w.field("median", median(v));
    w.field("min", *std::min_element(v.begin(), v.end()));
    w.field("max", *std::max_element(v.begin(), v.end()));
    if (lat) {
      w.field("p50_median", median(p50));
      w.field("p99_median", median(p99));
      w.field("p999_median", median(p999));
      w.field("max_median", median(mx));
    }
    w.array("placement_floor_ns", floor);
    w.end_object();
  }
  w.end_object();
  w.key("ratios");
  w.begin_object();
  for (const ratio_def& d : ratio_defs) {
    std::vector<double> rs;
    for (std::size_t i = 0; i < results[d.num].size(); ++i) {
      rs.push_back(results[d.num][i].value / results[d.den][i].value);
    }
    w.key(d.id);
    w.begin_object();
    w.field("numerator", d.num);
    w.field("denominator", d.den);
    w.array("per_round", rs);
    w.field("median", median(rs));
    w.field("min", *std::min_element(rs.begin(), rs.end()));
    w.field("max", *std::max_element(rs.begin(), rs.end()));
    w.end_object();
    std::fprintf(stderr, "%-24s median %.3f (min %.3f, max %.3f)\n", d.id, median(rs),
                 *std::min_element(rs.begin(), rs.end()), *std::max_element(rs.begin(), rs.end()));
  }
  w.end_object();
  w.end_object();
  file << "\n";
  std::fprintf(stderr, "wrote %s\n", opt.out.c_str());
  return 0;
}
