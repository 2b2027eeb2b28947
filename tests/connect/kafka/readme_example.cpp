// Mirrors the lanes topic "orders" to the Kafka topic "orders" and back into "orders-back":
//   readme_example BOOTSTRAP DATA_DIR
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <lanes/kafka_bridge.hpp>
#include <lanes/lanes.hpp>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s BOOTSTRAP DATA_DIR\n", argv[0]);
    return 2;
  }
  lanes::bus bus(lanes::bus_config{.data_dir = argv[2]});
  lanes::topic_config orders;
  orders.partitions = 2;  // as the Kafka topic: lanes partition i goes to Kafka partition i
  orders.durable = lanes::durability::async;
  (void)bus.create_topic("orders", orders);  // topic_exists when run again

  lanes::producer producer = bus.make_producer("orders");
  const lanes::header trace[] = {{"trace-id", "42"}};
  lanes::publish_options with_trace;
  with_trace.headers = trace;
  for (int i = 0; i < 100; ++i)
    producer.publish("customer-" + std::to_string(i % 7), "order " + std::to_string(i), with_trace);

  lanes::kafka::bridge_config to_kafka;
  to_kafka.dir = lanes::kafka::direction::to_kafka;
  to_kafka.bootstrap = argv[1];
  to_kafka.lanes_topic = "orders";
  to_kafka.kafka_topic = "orders";
  lanes::kafka::bridge_config from_kafka = to_kafka;
  from_kafka.dir = lanes::kafka::direction::from_kafka;
  from_kafka.lanes_topic = "orders-back";  // created with the Kafka topic's partitions

  lanes::kafka::kafka_bridge out(bus, to_kafka);
  lanes::kafka::kafka_bridge back(bus, from_kafka);
  try {
    out.start();  // each resumes after the last record it wrote on the other side
    back.start();
  } catch (const lanes::kafka::bridge_error& e) {
    std::fprintf(stderr, "cannot start: %s\n", e.what());
    return 1;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (back.stats().records < 100 && !out.failed() && !back.failed() &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  out.stop();  // waits for the deliveries in flight
  back.stop();
  std::printf("%llu records to Kafka, %llu back; %s\n",
              static_cast<unsigned long long>(out.stats().records),
              static_cast<unsigned long long>(back.stats().records),
              back.stats().last_error.empty() ? "no error" : back.stats().last_error.c_str());
  return back.stats().records == 100 ? 0 : 1;
}
