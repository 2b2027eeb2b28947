// tools/perf_report.cpp: `lanes perf`'s reports: the human summary and the JSON document of a
// run's outcome (perf_report.hpp).
#include "perf_report.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "lanes/lanes.hpp"
#include "lanes_support/json_writer.hpp"
#include "lanes_support/run_info.hpp"

namespace lanes_tools {
namespace {

void write_latency(json_writer& j, const latency_histogram& h) {
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  j.begin_object();
  j.field("count", h.count());
  j.field("min", us(h.min()));
  j.field("mean", h.mean() / 1000.0);
  j.field("p50", us(h.value_at_percentile(50)));
  j.field("p90", us(h.value_at_percentile(90)));
  j.field("p99", us(h.value_at_percentile(99)));
  j.field("p99_9", us(h.value_at_percentile(99.9)));
  j.field("p99_99", us(h.value_at_percentile(99.99)));
  j.field("max", us(h.max()));
  j.end_object();
}

// "p50 X p99 Y" (us) for one leg of the durable latency split.
std::string split_line(const latency_histogram& h) {
  if (h.count() == 0) return "(none)";
  return "p50 " + fmt_us(h.value_at_percentile(50)) + " p99 " + fmt_us(h.value_at_percentile(99));
}

std::string latency_line(const latency_histogram& h) {
  return "count " + std::to_string(h.count()) + ", p50 " + fmt_us(h.value_at_percentile(50)) +
         ", p99 " + fmt_us(h.value_at_percentile(99)) + ", p99.9 " +
         fmt_us(h.value_at_percentile(99.9)) + ", max " + fmt_us(h.max());
}

}  // namespace

double per_second(double amount, double seconds) { return seconds > 0 ? amount / seconds : 0; }
double mib(double bytes) { return bytes / (1024.0 * 1024.0); }

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Microseconds with about three significant digits.
std::string fmt_us(std::uint64_t ns) {
  const double us = static_cast<double>(ns) / 1000.0;
  if (us < 10) return fmt("%.2f", us);
  if (us < 1000) return fmt("%.1f", us);
  return fmt("%.0f", us);
}

const char* name_of(key_mode k) {
  switch (k) {
    case key_mode::none: return "none";
    case key_mode::uniform: return "uniform";
    case key_mode::skewed: return "skewed";
  }
  return "?";
}
const char* name_of(lanes::backpressure b) {
  return b == lanes::backpressure::block ? "block" : "overwrite";
}
const char* name_of(wait_mode w) { return w == wait_mode::spin ? "spin" : "park"; }

void print_perf_summary(std::FILE* human, const perf_options& o, const perf_machine& m,
                        const perf_outcome& out) {
  const bool paced = o.rate > 0;
  const char* latency_from = paced ? "due time (fixed rate, no coordinated omission)"
                                   : "send time (no --rate: includes queueing in the ring)";
  std::fprintf(
      human,
      "lanes perf: topic %s, %u partition%s, %u producer%s, %u group%s x %u consumer%s, "
      "%zu B values, keys %s, policy %s, wait %s, ring %zu KiB/partition%s, durability %s\n",
      o.topic.c_str(), o.partitions, o.partitions == 1 ? "" : "s", o.producers,
      o.producers == 1 ? "" : "s", o.groups, o.groups == 1 ? "" : "s", o.consumers,
      o.consumers == 1 ? "" : "s", o.message_size, name_of(o.keys), name_of(o.policy),
      name_of(o.wait), o.ring_capacity / 1024, o.zero_copy ? ", zero-copy" : "",
      name_of(o.durability));
  std::fprintf(human, "threads: %s; load average %.2f at start (%zu CPUs)\n",
               m.pinned ? "pinned round-robin to CPUs (producers first)" : "not pinned",
               m.load_before, m.cpus);
  std::fprintf(human, "messages: %llu (%.2f MiB) in %.3f s%s\n",
               static_cast<unsigned long long>(out.produced),
               mib(static_cast<double>(out.produced_bytes)), out.elapsed_s,
               paced ? fmt(", target rate %.0f msg/s", o.rate).c_str() : "");
  std::fprintf(
      human, "producers: %.1f msg/s, %.2f MiB/s (%.3f s)%s\n",
      per_second(static_cast<double>(out.produced), out.producer_s),
      mib(per_second(static_cast<double>(out.produced_bytes), out.producer_s)), out.producer_s,
      paced
          ? (", max " + fmt_us(static_cast<std::uint64_t>(out.max_behind)) + " us behind schedule")
                .c_str()
          : "");
  for (const group_result& r : out.groups) {
    std::fprintf(human, "group %s: %llu messages, %.1f msg/s, %.2f MiB/s (%.3f s)%s\n",
                 r.name.c_str(), static_cast<unsigned long long>(r.messages),
                 per_second(static_cast<double>(r.messages), r.elapsed_s),
                 mib(per_second(static_cast<double>(r.bytes), r.elapsed_s)), r.elapsed_s,
                 r.missing != 0 ? (", " + std::to_string(r.missing) + " missing").c_str() : "");
  }
  if (o.groups > 0) {
    std::fprintf(human, "end-to-end latency (us) from %s: %s\n", latency_from,
                 latency_line(out.all).c_str());
    if (paced) {
      std::fprintf(human, "  from send time (without the producer's own delays): %s\n",
                   latency_line(out.all_sent).c_str());
    }
    if (out.split) {
      std::fprintf(human,
                   "  split (us, from send time; %llu records): publish -> written %s; "
                   "written -> durable %s; durable -> polled %s\n",
                   static_cast<unsigned long long>(out.to_written.count()),
                   split_line(out.to_written).c_str(), split_line(out.to_durable).c_str(),
                   split_line(out.to_polled).c_str());
    }
    if (o.groups > 1) {
      for (const group_result& r : out.groups) {
        std::fprintf(human, "  %s: %s\n", r.name.c_str(), latency_line(r.hist).c_str());
      }
    }
  }
  for (const std::string& n : out.notes) std::fprintf(human, "note: %s\n", n.c_str());
  for (const std::string& e : out.errors)
    std::fprintf(stderr, "lanes perf: FAILED: %s\n", e.c_str());
}

namespace {

// What the run measured on and with what (the start of every result document of lanes).
void write_run_info(json_writer& j, const perf_machine& m) {
  j.field("tool", "lanes perf");
  j.field("lanes_version", lanes::version_string);
  j.field("commit", git_commit());
  j.field("compiler", compiler());
  j.field("cpu", cpu_model());
  j.field("cpus", m.cpus);
  j.field("date", utc_date());
  j.field("load_average_1m", m.load_before);
}

void write_config(json_writer& j, const perf_options& o, const perf_machine& m) {
  j.object("config", [&] {
    j.field("topic", o.topic);
    j.field("mode", name_of(o.mode));
    j.field("partitions", o.partitions);
    j.field("producers", o.producers);
    j.field("consumers_per_group", o.consumers);
    j.field("groups", o.groups);
    j.field("message_size", o.message_size);
    if (o.duration_s > 0) {
      j.field("duration_s", o.duration_s);
    } else {
      j.field("count", o.count);
    }
    j.field("keys", name_of(o.keys));
    j.field("key_space", o.key_space);
    j.field("rate", o.rate);
    j.field("ring_capacity", o.ring_capacity);
    j.field("policy", name_of(o.policy));
    j.field("wait", name_of(o.wait));
    j.field("zero_copy", o.zero_copy);
    j.field("max_poll_records", o.max_poll_records);
    j.field("warmup", o.warmup);
    j.field("pinned", m.pinned);
    j.field("durability", name_of(o.durability));
    j.field("data_dir", o.data_dir);
    j.field("read_durable_only", o.durability != lanes::durability::none);
  });
}

// "status", and the "errors" and "warnings" arrays.
void write_status(json_writer& j, const perf_machine& m, const perf_outcome& out) {
  j.field("status", out.errors.empty() ? "ok" : "failed");
  j.array("errors", out.errors);
  std::vector<std::string> warnings = m.warnings;
  warnings.insert(warnings.end(), out.notes.begin(), out.notes.end());
  j.array("warnings", warnings);
}

// Messages and bytes in elapsed_s seconds, and their rates: the producers' and each group's.
void write_throughput(json_writer& j, std::uint64_t messages, std::uint64_t bytes,
                      double elapsed_s) {
  j.field("messages", messages);
  j.field("bytes", bytes);
  j.field("elapsed_s", elapsed_s);
  j.field("msgs_per_s", per_second(static_cast<double>(messages), elapsed_s));
  j.field("mib_per_s", mib(per_second(static_cast<double>(bytes), elapsed_s)));
}

// "latency_us" (from the due time with --rate, else the send time) and, with --rate,
// "latency_from_send_us".
void write_latencies(json_writer& j, const latency_histogram& from_due,
                     const latency_histogram& from_send, bool paced) {
  j.key("latency_us");
  write_latency(j, from_due);
  if (paced) {
    j.key("latency_from_send_us");
    write_latency(j, from_send);
  }
}

void write_producer(json_writer& j, const perf_options& o, const perf_outcome& out) {
  j.object("producer", [&] {
    write_throughput(j, out.produced, out.produced_bytes, out.producer_s);
    j.field("target_rate", o.rate);
    j.field("max_behind_schedule_us", static_cast<double>(out.max_behind) / 1000.0);
    j.field("claim_full_fallbacks", out.fallbacks);
  });
}

void write_groups(json_writer& j, const perf_options& o, const perf_outcome& out) {
  j.objects("groups", out.groups, [&](const group_result& r) {
    j.field("group", r.name);
    j.field("consumers", o.consumers);
    write_throughput(j, r.messages, r.bytes, r.elapsed_s);
    j.field("missing", r.missing);
    j.field("duplicates", r.duplicates);
    j.field("order_errors", r.order_errors);
    write_latencies(j, r.hist, r.hist_sent, o.rate > 0);
  });
}

// A durable log run's latency legs: publish -> written -> durable -> polled.
void write_split(json_writer& j, const perf_outcome& out) {
  j.object("latency_split_us", [&] {
    j.key("publish_to_written");
    write_latency(j, out.to_written);
    j.key("written_to_durable");
    write_latency(j, out.to_durable);
    j.key("durable_to_polled");
    write_latency(j, out.to_polled);
  });
}

}  // namespace

std::string perf_json(const perf_options& o, const perf_machine& m, const perf_outcome& out) {
  const bool paced = o.rate > 0;
  json_writer j;
  j.begin_object();
  write_run_info(j, m);
  write_config(j, o, m);
  write_status(j, m, out);
  j.field("messages", out.produced);
  j.field("bytes", out.produced_bytes);
  j.field("elapsed_s", out.elapsed_s);
  write_producer(j, o, out);
  write_groups(j, o, out);
  j.field("latency_from", paced ? "due" : "send");
  write_latencies(j, out.all, out.all_sent, paced);
  if (out.split) write_split(j, out);
  j.end_object();
  return j.str();
}

}  // namespace lanes_tools
