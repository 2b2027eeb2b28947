// tools/stress_report.cpp: the summary `lanes-stress` prints at the end of a run: one JSON
// object on stdout (--json), or lines for a person.
#include <algorithm>
#include <cstdio>
#include <string>

#include "cli_common.hpp"
#include "lanes_support/json_writer.hpp"
#include "lanes_support/median.hpp"
#include "stress_internal.hpp"

namespace lanes_stress {
namespace {
using lanes_support::median;
using lanes_tools::json_writer;
using lanes_tools::name_of;

double recovery_max(const stats& s) {
  return s.recovery_ms.empty() ? 0 : *std::max_element(s.recovery_ms.begin(), s.recovery_ms.end());
}

double recovery_min(const stats& s) {
  return s.recovery_ms.empty() ? 0 : *std::min_element(s.recovery_ms.begin(), s.recovery_ms.end());
}

void print_json(const options& o, const stats& s, const run_summary& r) {
  const std::uint64_t bad = r.violations;
  json_writer j;
  j.begin_object();
  j.field("tool", "lanes-stress");
  j.field("lanes_version", lanes::version_string);
  j.field("status", bad == 0 ? "ok" : "failed");
  j.field("seed", o.seed);
  j.field("cycles", o.cycles);
  j.field("duration_s", o.duration_s);
  j.field("producers", o.producers);
  j.field("partitions", o.partitions);
  j.field("message_size", o.message_size);
  j.field("durability", name_of(o.durability));
  j.field("corrupt", o.corrupt);
  j.field("acked", s.acks);
  j.field("commits", s.commits);
  j.field("messages_verified", s.verified);
  j.field("corruptions", s.corruptions);
  j.field("queue", o.queue);
  j.field("queue_enqueued", s.q_enqueued);
  j.field("queue_acked", s.q_acked);
  j.field("queue_delivered_after_recoveries", s.q_delivered);
  j.field("fault_point", o.fault_point);
  j.field("faults_fired", s.faults_fired);
  j.field("retired", s.retired);
  j.field("corruptions_skipped", s.corruptions_skipped);
  j.field("violations", bad);
  j.object("violations_by_kind", [&] {
    for (const auto& [k, n] : s.violations) j.field(k, n);
  });
  j.array("first_violations", s.first_violations);
  j.object("recovery_ms", [&] {
    j.field("min", recovery_min(s));
    j.field("median", median(s.recovery_ms));
    j.field("max", recovery_max(s));
  });
  j.field("elapsed_s", r.elapsed_s);
  j.end_object();
  std::fputs(j.str().c_str(), stdout);
}

void print_text(const options& o, const stats& s, const run_summary& r) {
  const std::uint64_t bad = r.violations;
  for (const auto& e : r.events) std::printf("%s\n", e.c_str());
  std::printf(
      "lanes-stress: %u cycles in %.1f s: %llu durable acks and %llu commits in the ledger, "
      "%llu messages verified in the log at the end, %llu corruptions (%llu cycles without "
      "an undurable tail to damage), %llu violations\n",
      o.cycles, r.elapsed_s, static_cast<unsigned long long>(s.acks),
      static_cast<unsigned long long>(s.commits), static_cast<unsigned long long>(s.verified),
      static_cast<unsigned long long>(s.corruptions),
      static_cast<unsigned long long>(s.corruptions_skipped), static_cast<unsigned long long>(bad));
  std::printf("recovery (bus open after the kill): min %.1f ms, median %.1f ms, max %.1f ms\n",
              recovery_min(s), median(s.recovery_ms), recovery_max(s));
  if (o.queue) {
    std::printf(
        "queue: %llu durable enqueues and %llu %sacks in the ledger; %llu unacked messages "
        "delivered again after the recoveries (all cycles)\n",
        static_cast<unsigned long long>(s.q_enqueued), static_cast<unsigned long long>(s.q_acked),
        o.durability == lanes::durability::sync ? "durable " : "",
        static_cast<unsigned long long>(s.q_delivered));
  }
  if (!o.fault_point.empty()) {
    std::printf(
        "fault point %s: the child crashed there in %llu of %u cycles; %llu acked "
        "messages retired by retention\n",
        o.fault_point.c_str(), static_cast<unsigned long long>(s.faults_fired), o.cycles,
        static_cast<unsigned long long>(s.retired));
  }
  for (const auto& [k, n] : s.violations) {
    std::printf("violations %s: %llu\n", k.c_str(), static_cast<unsigned long long>(n));
  }
  for (const auto& v : s.first_violations) std::printf("  %s\n", v.c_str());
  if (bad != 0) {
    std::printf("replay: lanes-stress --seed %llu --cycles %u --duration %g ... (same options)\n",
                static_cast<unsigned long long>(o.seed), o.cycles, o.duration_s);
  }
}

}  // namespace

void print_summary(const options& o, const stats& s, const run_summary& r) {
  if (o.json) {
    print_json(o, s, r);
  } else {
    print_text(o, s, r);
  }
}

}  // namespace lanes_stress
