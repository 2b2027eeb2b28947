// bench/bus_allocations.cpp: bus_bench's count of heap allocations: every operator new in
// this binary counts itself (lanes_support/counting_new.hpp, the one counting allocator of
// the tests and benchmarks), so a run can report allocations per message.
#include "bus_bench.hpp"
#include "lanes_support/counting_new.hpp"

namespace lanes_bench {

std::uint64_t allocations() noexcept { return lanes_support::allocations(); }

}  // namespace lanes_bench
