// lanes/queue_config.hpp: how a queue hands out messages (topic_config::queue).
//
// A queue-mode topic uses these settings for the queue it is; a log-mode topic uses them for
// every queue group (share group) that reads it. See lanes/queue.hpp for the consumer side.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lanes {

// best_effort:    any ready message may go to any consumer at any time.
// strict_per_key: a key's next message is not delivered while its previous one is in flight
//                 (as SQS FIFO message groups); messages without a key are not ordered.
enum class queue_ordering : std::uint8_t { best_effort, strict_per_key };

struct queue_settings {
  // How long a received message stays invisible to other consumers before it is given back
  // (unless acked, nacked or extended first). More than zero.
  std::chrono::nanoseconds visibility_timeout = std::chrono::seconds(30);
  // Deliveries after which a message that is given back again moves to the dead-letter topic
  // (0: unlimited, no dead letters). At most 1 << 20.
  std::uint32_t max_deliveries = 0;
  // Topic that receives dead letters; it must exist when this topic is created, accept many
  // producers, and differ from this topic. Required when max_deliveries > 0, else empty.
  std::string dead_letter_topic{};
  // A message becomes receivable this long after its timestamp (SQS DelaySeconds). >= 0.
  std::chrono::nanoseconds delivery_delay{0};
  queue_ordering ordering = queue_ordering::best_effort;
};

}  // namespace lanes
