// bench/ring_placement.cpp: whether a run is stable (same placement of the two vCPUs before
// and after, threads not preempted) and whether two runs may be compared.
#include "ring_bench.hpp"

namespace lanes_bench {
namespace {

// A run whose threads were preempted more often than this competed with other tasks for
// its two cores (a compiler, a test): it is unstable too. A quiet run sees a handful around
// thread start and exit whatever its length; a task sharing a core adds hundreds a second.
constexpr double kPreemptionsBase = 12;
constexpr double kPreemptionsPerSecond = 30;

}  // namespace

double max_preemptions(const run_result& r) {
  return kPreemptionsBase + kPreemptionsPerSecond * r.seconds;
}

bool within(double a, double b, double factor) {
  return a > 0 && b > 0 && a <= b * factor && b <= a * factor;
}
double floor_of(const run_result& r) { return (r.floor_before_ns + r.floor_after_ns) / 2; }
bool stable(const run_result& r) {
  return within(r.floor_before_ns, r.floor_after_ns, kSamePlacement) &&
         static_cast<double>(r.preemptions) <= max_preemptions(r);
}
bool comparable(const run_result& a, const run_result& b) {
  return stable(a) && stable(b) && within(floor_of(a), floor_of(b), kSamePlacement);
}

}  // namespace lanes_bench
