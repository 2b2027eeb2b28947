// An application using the installed lanes package: rings, a partitioner and the bus.
// tests/install builds it against `cmake --install` output; it returns 0 when all went right.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>

#include <lanes/lanes.hpp>

int main() {
  // A bounded ring of values for one producer thread and one consumer thread.
  lanes::spsc_ring<long> queue(1024);  // capacity: a power of two
  if (!queue.try_push(42)) return 1;   // false when full
  long value = 0;
  if (!queue.try_pop(value) || value != 42) return 2;  // false when empty

  // A frame ring: messages of any length, written in place, seen by every reader.
  lanes::frame_ring ring(64 * 1024);
  lanes::frame_ring::reader reader = ring.add_reader();
  constexpr std::string_view msg = "order 17 filled";
  lanes::frame_claim claim = ring.try_claim(msg.size());  // writable bytes inside the ring
  if (!claim) return 3;                                   // claim.status: full, frame_too_large
  std::memcpy(claim.data, msg.data(), msg.size());
  ring.commit(claim);  // now readers can see it

  int matches = 0;
  std::size_t frames = reader.poll([&](const lanes::frame_view& f) {
    // f.data points into the ring: valid inside this callback only.
    matches += std::string_view(reinterpret_cast<const char*>(f.data), f.size) == msg;
  });
  if (frames != 1 || matches != 1) return 4;

  // Where a key goes: xxh3_64(key) % partitions, the same on every run and machine.
  lanes::partitioner partitions(8);
  std::uint32_t p = partitions.for_key("customer-17");
  if (p >= 8 || p != partitions.for_key("customer-17")) return 5;

  // The bus: a topic with partitions, a producer publishing by key, a consumer group.
  lanes::bus bus;  // memory only
  lanes::topic_config orders;
  orders.partitions = 4;
  if (bus.create_topic("orders", orders) != lanes::errc::ok) return 6;
  lanes::producer producer = bus.make_producer("orders");
  lanes::publish_result sent = producer.publish("customer-17", "order 17 filled");
  if (!sent) return 7;  // sent.status says why; sent.partition and sent.offset say where

  lanes::consumer_config config;
  config.group = "billing";
  config.reset = lanes::offset_reset::earliest;  // no committed offset yet: from the start
  lanes::consumer consumer = bus.make_consumer(config);
  if (consumer.subscribe({"orders"}) != lanes::errc::ok) return 8;
  int seen = 0;
  for (int i = 0; i < 100 && seen == 0; ++i) {
    lanes::poll_result got = consumer.poll(std::chrono::milliseconds(10));
    // Views valid until the next poll; lanes::own(r) copies one out to keep it.
    for (const lanes::record_view& r : got.records) {
      seen += r.key == "customer-17" && r.value == "order 17 filled" && r.offset == sent.offset;
    }
  }
  if (seen != 1 || consumer.commit() != lanes::errc::ok) return 9;

  std::printf("lanes %s ok: customer-17 -> partition %u\n", lanes::version_string, p);
  return 0;
}
