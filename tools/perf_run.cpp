// tools/perf_run.cpp: `lanes perf`'s run (run_perf, perf.hpp): the bus and topic, the threads,
// and the phases the main thread moves them through.
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
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli_common.hpp"
#include "lanes_support/run_info.hpp"
#include "metrics_flag.hpp"
#include "perf_internal.hpp"

namespace lanes_tools {
namespace {
using namespace perf_detail;

// A durable topic that this run created is deleted at the end (unless --keep-topic).
struct topic_cleanup {
  lanes::bus& b;
  const perf_options& opt;
  bool armed = false;
  ~topic_cleanup() {
    if (armed && !opt.keep_topic && !b.is_closed()) (void)b.delete_topic(opt.topic);
  }
};

// The bus: in memory, or on --data-dir, where the topic must not exist yet (nullptr, with
// the error printed, when it does).
std::unique_ptr<lanes::bus> open_perf_bus(const perf_options& o) {
  lanes::bus_config bc;
  bc.housekeeping_interval = std::chrono::milliseconds(0);  // no retention: no extra thread
  if (o.data_dir.empty()) return std::make_unique<lanes::bus>(bc);
  std::unique_ptr<lanes::bus> bus = open_bus(o.data_dir, dir_use::may_create);
  if (bus->describe_topic(o.topic)) {
    std::fprintf(stderr,
                 "lanes: error: topic '%s' exists in %s; pick another --topic or delete it "
                 "(lanes topics --data-dir %s delete %s)\n",
                 o.topic.c_str(), o.data_dir.c_str(), o.data_dir.c_str(), o.topic.c_str());
    return nullptr;
  }
  return bus;
}

// Creates the run's topic; exit_ok, or exit_failed with the error printed.
int create_perf_topic(const perf_options& o, lanes::bus& bus) {
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
  return exit_ok;
}

std::uint64_t messages_sent(const producer_slots& pslots) {
  std::uint64_t sent = 0;
  for (auto& s : pslots) sent += s->sent.load(std::memory_order_relaxed);
  return sent;
}

// The sum of one counter over group g's consumers.
template <class T>
std::uint64_t group_sum(const consumer_slots& cslots, unsigned g,
                        std::atomic<T> consumer_slot::*field) {
  std::uint64_t n = 0;
  for (auto& s : cslots) {
    if (s->group == g) n += ((*s).*field).load(std::memory_order_acquire);
  }
  return n;
}

// The lines on stderr while the run measures. The live progress line (a terminal, or
// --progress) is rewritten in place twice a second with messages, rate, elapsed time and
// latency so far (mean and max over every group); otherwise a line every --report-interval.
class progress_lines {
 public:
  progress_lines(const perf_options& o, bool live, const producer_slots& pslots,
                 const consumer_slots& cslots)
      : o_(o), live_(live), pslots_(pslots), cslots_(cslots) {}

  // The measured phase starts at t0.
  void start(std::int64_t t0) {
    t0_ = t0;
    next_report_ = t0 + static_cast<std::int64_t>(o_.report_interval_s * 1e9);
    last_report_ns_ = t0;
    next_progress_ = t0 + progress_every;
  }

  void tick() {
    const std::int64_t now = steady_ns();
    live_line(now);
    if (o_.report_interval_s <= 0 || live_) return;
    if (now < next_report_) return;
    interval_line(now);
  }

  // Ends the live line, if one was shown.
  void finish() const {
    if (shown_) std::fputs("\n", stderr);
  }

 private:
  static constexpr std::int64_t progress_every = 500'000'000;

  void live_line(std::int64_t now) {
    if (!live_ || now < next_progress_) return;
    const std::uint64_t sent = messages_sent(pslots_);
    std::uint64_t received = 0, lat_sum = 0, lat_n = 0, lat_max = 0;
    for (auto& s : cslots_) {
      received += s->received.load(std::memory_order_relaxed);
      lat_sum += s->lat_sum_ns.load(std::memory_order_relaxed);
      lat_n += s->lat_count.load(std::memory_order_relaxed);
      lat_max = std::max(lat_max, s->lat_max_ns.load(std::memory_order_relaxed));
    }
    const double elapsed = static_cast<double>(now - t0_) / 1e9;
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
    shown_ = true;
    next_progress_ = now + progress_every;
  }

  void interval_line(std::int64_t now) {
    const std::uint64_t sent = messages_sent(pslots_);
    std::string line = fmt("lanes perf: %.1f s: ", static_cast<double>(now - t0_) / 1e9) +
                       std::to_string(sent) + " sent (" +
                       fmt("%.0f", per_second(static_cast<double>(sent - last_reported_),
                                              static_cast<double>(now - last_report_ns_) / 1e9)) +
                       " msg/s)";
    for (unsigned g = 0; g < o_.groups; ++g) {
      line += ", perf-g" + std::to_string(g) + " " +
              std::to_string(group_sum(cslots_, g, &consumer_slot::received)) + " received";
    }
    std::fprintf(stderr, "%s\n", line.c_str());
    last_reported_ = sent;
    last_report_ns_ = now;
    next_report_ = now + static_cast<std::int64_t>(o_.report_interval_s * 1e9);
  }

  const perf_options& o_;
  const bool live_;
  const producer_slots& pslots_;
  const consumer_slots& cslots_;
  std::int64_t t0_ = 0;
  std::int64_t next_report_ = 0;
  std::uint64_t last_reported_ = 0;
  std::int64_t last_report_ns_ = 0;
  std::int64_t next_progress_ = 0;
  bool shown_ = false;
};

// The main thread's side of a run: starts the threads, moves them through the phases, and
// gathers what they measured. Each phase step returns false (with an error) on a stall.
class phase_driver {
 public:
  phase_driver(const perf_options& o, const run_plan& plan, lanes::bus& bus, perf_clients& c,
               bool live_progress)
      : o_(o),
        plan_(plan),
        bus_(bus),
        c_(c),
        progress_(o, live_progress, c.pslots, c.slots),
        stall_limit_(static_cast<std::int64_t>(o.timeout_s * 1e9)) {}
  phase_driver(const phase_driver&) = delete;
  phase_driver& operator=(const phase_driver&) = delete;
  // The persister calls the progress callback under the lock on_persist_progress takes, so
  // once it returns no call can reach the timeline that is released next.
  ~phase_driver() {
    if (timeline_) (void)bus_.on_persist_progress(o_.topic, nullptr);
  }

  perf_outcome run() {
    start_timeline();
    start_threads();
    bool ok = join_groups();
    if (ok) ok = warm_up();
    if (ok) ok = drain_warmup();
    const std::int64_t t0 = steady_ns();
    progress_.start(t0);
    if (ok) ok = measure(t0);
    if (!ok) abort_run();
    for (auto& t : pthreads_) t.join();
    const std::uint64_t produced = messages_sent(c_.pslots);
    if (ok) ok = drain(produced);
    stop_consumers();
    return collect_outcome(o_, c_.pslots, c_.slots, t0, produced, ok, bus_, std::move(errors_),
                           timeline_ != nullptr);
  }

 private:
  bool queue() const { return o_.mode == lanes::topic_mode::queue; }

  // Durable runs: the persister's watermark times, for the latency split.
  void start_timeline() {
    if (o_.durability == lanes::durability::none || queue()) return;
    timeline_ = std::make_unique<persist_timeline>(o_.partitions);
    (void)bus_.on_persist_progress(
        o_.topic, [tl = timeline_.get()](std::uint32_t p, std::uint64_t w, std::uint64_t d) {
          tl->record(p, w, d, steady_ns());
        });
  }

  void start_threads() {
    for (std::size_t k = 0; k < c_.queue_consumers.size(); ++k) {
      cthreads_.emplace_back(queue_consumer_main, std::cref(o_), std::cref(plan_),
                             static_cast<unsigned>(plan_.producers + k), std::ref(bus_),
                             std::move(c_.queue_consumers[k]), std::ref(*c_.slots[k]),
                             std::ref(st_));
    }
    for (std::size_t k = 0; k < c_.consumers.size(); ++k) {
      cthreads_.emplace_back(consumer_main, std::cref(o_), std::cref(plan_),
                             static_cast<unsigned>(plan_.producers + k), std::move(c_.consumers[k]),
                             std::ref(*c_.slots[k]), std::ref(st_), timeline_.get());
    }
    for (unsigned i = 0; i < o_.producers; ++i) {
      pthreads_.emplace_back(producer_main, std::cref(o_), std::cref(plan_), i,
                             std::move(c_.producers[i]), std::ref(*c_.pslots[i]), std::ref(st_));
    }
  }

  // setup: every group owns every partition. The setup has no progress counter: the wait
  // fails after --timeout as a stall.
  bool join_groups() {
    return wait_for("consumers joined their groups", false, [&] {
      if (queue()) return true;  // queue consumers share every partition from the start
      for (unsigned g = 0; g < o_.groups; ++g) {
        if (group_sum(c_.slots, g, &consumer_slot::assigned) != o_.partitions) return false;
      }
      return true;
    });
  }

  bool warm_up() {
    st_.phase.store(phase_warmup, std::memory_order_release);
    return wait_for("warming up", false, [&] { return all_producers(&producer_slot::warm_done); });
  }

  bool drain_warmup() {
    st_.drain_epoch.store(1, std::memory_order_release);  // every producer finished warmup
    return wait_for("draining the warmup messages", false,
                    [&] { return groups_done(&consumer_slot::warm, o_.warmup, 1); });
  }

  bool measure(std::int64_t t0) {
    st_.t0.store(t0, std::memory_order_relaxed);
    st_.phase.store(phase_measure, std::memory_order_release);  // pairs with the producers
    return wait_for("publishing", true, [&] { return all_producers(&producer_slot::done); });
  }

  // Wakes everyone blocked in publish or poll: both return errc::closed.
  void abort_run() {
    st_.abort.store(true, std::memory_order_relaxed);
    bus_.close();
  }

  bool drain(std::uint64_t produced) {
    st_.phase.store(phase_drain, std::memory_order_release);
    st_.drain_epoch.store(2, std::memory_order_release);  // producers are joined: ends are final
    const bool ok = wait_for("draining", true,
                             [&] { return groups_done(&consumer_slot::received, produced, 2); });
    if (!ok) bus_.close();
    return ok;
  }

  void stop_consumers() {
    st_.phase.store(phase_stop, std::memory_order_release);
    for (auto& t : cthreads_) t.join();
    progress_.finish();
  }

  // Messages sent and read so far, every phase's: it moves while the run makes progress.
  std::uint64_t progress() const {
    std::uint64_t p = messages_sent(c_.pslots);
    for (auto& s : c_.slots) {
      p += s->received.load(std::memory_order_relaxed) + s->warm.load(std::memory_order_relaxed);
    }
    return p;
  }

  // Waits until done() or no progress for --timeout; false (with an error) on a stall.
  // report: the progress lines tick meanwhile.
  bool wait_for(const char* what, bool report, const std::function<bool()>& done) {
    std::uint64_t last = progress();
    std::int64_t last_change = steady_ns();
    for (;;) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (report) progress_.tick();
      const std::uint64_t p = progress();
      const std::int64_t now = steady_ns();
      if (p != last) {
        last = p;
        last_change = now;
      } else if (now - last_change > stall_limit_) {
        errors_.push_back(std::string("no progress for ") + fmt("%g", o_.timeout_s) + " s while " +
                          what);
        return false;
      }
    }
  }

  bool all_producers(std::atomic<bool> producer_slot::*flag) const {
    for (auto& s : c_.pslots) {
      if (!((*s).*flag).load(std::memory_order_acquire)) return false;
    }
    return true;
  }

  bool group_caught_up(unsigned g, std::uint64_t epoch) const {
    for (auto& s : c_.slots) {
      if (s->group == g && s->caught_up.load(std::memory_order_acquire) < epoch) return false;
    }
    return true;
  }

  // Every group has `expected` messages (field) or has read all there is (epoch confirmed).
  bool groups_done(std::atomic<std::uint64_t> consumer_slot::*field, std::uint64_t expected,
                   std::uint64_t epoch) const {
    for (unsigned g = 0; g < o_.groups; ++g) {
      if (group_sum(c_.slots, g, field) < expected && !group_caught_up(g, epoch)) return false;
    }
    return true;
  }

  const perf_options& o_;
  const run_plan& plan_;
  lanes::bus& bus_;
  perf_clients& c_;
  progress_lines progress_;
  const std::int64_t stall_limit_;
  shared_state st_;
  std::unique_ptr<persist_timeline> timeline_;
  std::vector<std::thread> cthreads_;
  std::vector<std::thread> pthreads_;
  std::vector<std::string> errors_;
};

// The human summary, and the JSON on stdout (--json) and in --out; the exit code.
int report(const perf_options& o, const perf_machine& machine, const perf_outcome& out) {
  std::FILE* const human = o.json ? stderr : stdout;
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

}  // namespace

int run_perf(const perf_options& o) {
  if (const int e = check_options(o); e != exit_ok) return e;
  const bool live_progress = o.progress || ::isatty(STDERR_FILENO) == 1;
  const double load_before = load_average();
  const run_plan plan = make_plan(o);

  const std::unique_ptr<lanes::bus> bus_holder = open_perf_bus(o);
  if (!bus_holder) return exit_failed;
  lanes::bus& bus = *bus_holder;
  const auto metrics = serve_metrics(bus, o.metrics_listen);  // destroyed before the bus
  topic_cleanup cleanup{bus, o};
  if (const int e = create_perf_topic(o, bus); e != exit_ok) return e;
  cleanup.armed = !o.data_dir.empty();

  perf_clients clients;
  if (const int e = make_clients(o, bus, clients); e != exit_ok) return e;
  perf_outcome out;
  {
    // The threads are joined and the timeline released before the topic is deleted.
    phase_driver driver(o, plan, bus, clients, live_progress);
    out = driver.run();
  }
  const perf_machine machine{load_before, plan.cpus.size(), plan.pinned, plan.warnings};
  return report(o, machine, out);
}

}  // namespace lanes_tools
