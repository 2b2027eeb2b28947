// bench/durable_topics.cpp: the topic and consumer settings every durable_bench case uses (the
// bus: bus_at, bench_bus.hpp).
#include <vector>

#include "durable_bench.hpp"

namespace lanes_bench {

lanes::topic_config durable_topic(lanes::durability d, std::chrono::microseconds window) {
  lanes::topic_config t;
  t.durable = d;
  t.sync_interval = window;
  t.ring_capacity = std::size_t{16} << 20;
  t.segment_bytes = std::size_t{64} << 20;
  return t;
}

lanes::consumer reader(lanes::bus& b) {
  lanes::consumer_config cc;
  cc.reset = lanes::offset_reset::earliest;
  cc.max_poll_records = 1024;
  lanes::consumer c = b.make_consumer(cc);
  if (c.assign(std::vector<lanes::topic_partition>{{"t", 0}}) != lanes::errc::ok) die("assign");
  return c;
}

}  // namespace lanes_bench
