// tools/perf_plan.cpp: what a `lanes perf` run will be, before it starts: the option checks
// CLI11 cannot make, which CPUs the threads go to, and the topic's consumers and producers.
#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli_common.hpp"
#include "perf_internal.hpp"

namespace lanes_tools::perf_detail {
namespace {

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

// --mode queue: o.consumers competing consumers of the one queue (group 0).
int make_queue_consumers(const perf_options& o, lanes::bus& bus, perf_clients& c) {
  for (unsigned g = 0; g < o.groups; ++g) {
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
  return exit_ok;
}

// --mode log: o.consumers members of each group perf-g<N>, subscribed to the topic.
int make_log_consumers(const perf_options& o, lanes::bus& bus, perf_clients& c) {
  const bool durable = o.durability != lanes::durability::none;
  for (unsigned g = 0; g < o.groups; ++g) {
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
  return exit_ok;
}

}  // namespace

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

int make_clients(const perf_options& o, lanes::bus& bus, perf_clients& c) {
  const bool queue = o.mode == lanes::topic_mode::queue;
  const int made = queue ? make_queue_consumers(o, bus, c) : make_log_consumers(o, bus, c);
  if (made != exit_ok) return made;
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

}  // namespace lanes_tools::perf_detail
