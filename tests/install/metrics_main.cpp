// Serving a bus's metrics to Prometheus (lanes::prometheus). tests/install builds it against
// `cmake --install` output and runs it; it returns 0 when all went right.
#include <cstdio>

#include <lanes/lanes.hpp>
#include <lanes/metrics_exporter.hpp>

int main() {
  lanes::bus bus;
  lanes::topic_config orders;
  orders.partitions = 4;
  if (bus.create_topic("orders", orders) != lanes::errc::ok) return 1;

  // GET http://127.0.0.1:<port>/metrics answers with every topic, group and queue of the bus
  // (port 0 here: any free one; a service would use a fixed one, e.g. 9464).
  lanes::metrics_exporter metrics(bus, "127.0.0.1:0");
  std::printf("metrics on %s\n", metrics.url().c_str());

  // The same numbers in the program: bus.metrics() is the snapshot each scrape serves.
  lanes::producer producer = bus.make_producer("orders");
  if (!producer.publish("customer-17", "order 17 filled")) return 2;
  std::uint64_t published = 0;
  for (const lanes::topic_metrics& t : bus.metrics().topics) {
    for (const lanes::partition_metrics& p : t.partitions) published += p.records_in;
  }
  return published == 1 ? 0 : 3;
}
