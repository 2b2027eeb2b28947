// tools/perf_outcome.cpp: what a `lanes perf` run measured, gathered from the threads' slots
// once they are joined (perf_report.cpp then prints it).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "perf_internal.hpp"

namespace lanes_tools::perf_detail {
namespace {

// A group's shortfalls against the `produced` messages: errors, or notes when the run had
// already failed (`ok` false) or overwrites on purpose.
void check_group(const perf_options& o, const group_result& r, std::uint64_t produced, bool ok,
                 perf_outcome& out) {
  const std::string who = "group " + r.name + ": ";
  if (r.missing != 0) {
    const std::string what =
        std::to_string(r.missing) + " of " + std::to_string(produced) + " messages";
    if (!ok) {
      // The run already failed and was stopped; the shortfall follows from that.
      out.notes.push_back(who + what + " not read when the run was stopped");
    } else if (o.policy == lanes::backpressure::overwrite) {
      out.notes.push_back(who + what + " overwritten before it read them (--policy overwrite)");
    } else {
      out.errors.push_back(who + what + " missing");
    }
  }
  if (r.duplicates != 0) {
    out.errors.push_back(who + std::to_string(r.duplicates) +
                         " messages more than were published (duplicates)");
  }
  if (r.order_errors != 0) {
    out.errors.push_back(who + std::to_string(r.order_errors) +
                         " messages out of publish order within a partition");
  }
  if (r.malformed != 0) {
    out.errors.push_back(who + std::to_string(r.malformed) + " records without a valid stamp");
  }
}

// Group g's messages and latency from its consumers' slots; returns when its last one read.
std::int64_t collect_group(unsigned g, const consumer_slots& cslots, std::int64_t t0,
                           group_result& r, perf_outcome& out) {
  r.name = "perf-g" + std::to_string(g);
  std::int64_t last = t0;
  for (auto& s : cslots) {
    if (s->group != g) continue;
    r.messages += s->received.load(std::memory_order_relaxed);
    r.bytes += s->bytes;
    r.order_errors += s->order_errors;
    r.malformed += s->malformed;
    last = std::max(last, s->last_ns);
    r.hist.merge(s->hist);
    r.hist_sent.merge(s->hist_sent);
    out.to_written.merge(s->to_written);
    out.to_durable.merge(s->to_durable);
    out.to_polled.merge(s->to_polled);
    if (s->poll_errors != 0) {
      out.errors.push_back(
          "group " + r.name + ": " + std::to_string(s->poll_errors) +
          " polls failed, last: " + lanes::make_error_code(s->last_error).message());
    }
  }
  r.elapsed_s = static_cast<double>(last - t0) / 1e9;
  return last;
}

// The producers' bytes, lateness and failures; returns when the last one finished.
std::int64_t collect_producers(const perf_options& o, const producer_slots& pslots, std::int64_t t0,
                               perf_outcome& out) {
  std::int64_t producer_end = t0;
  for (unsigned i = 0; i < o.producers; ++i) {
    const producer_slot& s = *pslots[i];
    producer_end = std::max(producer_end, s.end_ns);
    out.produced_bytes += s.bytes;
    out.max_behind = std::max(out.max_behind, s.max_behind_ns);
    out.fallbacks += s.claim_fallbacks;
    if (s.error != lanes::errc::ok && !(s.error == lanes::errc::closed && !out.errors.empty())) {
      out.errors.push_back("producer " + std::to_string(i) +
                           ": publish failed: " + lanes::make_error_code(s.error).message());
    }
  }
  return producer_end;
}

// A failed run: where things stood, per partition end offset and each group's position.
void note_where_it_stood(const perf_options& o, lanes::bus& bus, perf_outcome& out) {
  if (auto info = bus.describe_topic(o.topic)) {
    for (const lanes::partition_stats& p : info->partitions) {
      std::string s = "partition " + std::to_string(p.partition) + ": end offset " +
                      std::to_string(p.end_offset);
      for (const auto& gs : p.groups) {
        s += ", " + gs.group + " committed " + std::to_string(gs.committed);
      }
      out.notes.push_back(s);
    }
  }
}

}  // namespace

perf_outcome collect_outcome(const perf_options& o, const producer_slots& pslots,
                             const consumer_slots& cslots, std::int64_t t0, std::uint64_t produced,
                             bool ok, lanes::bus& bus, std::vector<std::string> errors,
                             bool split) {
  perf_outcome out;
  out.errors = std::move(errors);
  out.produced = produced;
  out.split = split;
  const std::int64_t producer_end = collect_producers(o, pslots, t0, out);
  out.producer_s = static_cast<double>(producer_end - t0) / 1e9;
  std::int64_t run_end = producer_end;
  out.groups.resize(o.groups);
  for (unsigned g = 0; g < o.groups; ++g) {
    group_result& r = out.groups[g];
    run_end = std::max(run_end, collect_group(g, cslots, t0, r, out));
    out.all.merge(r.hist);
    out.all_sent.merge(r.hist_sent);
    if (r.messages < produced) r.missing = produced - r.messages;
    if (r.messages > produced) r.duplicates = r.messages - produced;
    check_group(o, r, produced, ok, out);
  }
  if (!ok) note_where_it_stood(o, bus, out);
  out.elapsed_s = static_cast<double>(run_end - t0) / 1e9;
  return out;
}

}  // namespace lanes_tools::perf_detail
