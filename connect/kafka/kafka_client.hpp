// connect/kafka/kafka_client.hpp: what both directions of the bridge need from librdkafka:
// client handles built from a bridge_config, topic metadata with one-line errors, and reading
// a range of a Kafka partition (to find where a bridge stopped).
// Thread contract: one thread per handle (the bridge's); cold paths (allocate, may throw).
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

#include "lanes/kafka_bridge.hpp"

namespace lanes::kafka::detail {

// A failure of one session. permanent: restarting cannot fix it (unknown topic, refused
// authorization, another writer, a failed lanes partition); otherwise the bridge starts the
// session again after a back-off (unreachable broker, request errors, failed deliveries).
class session_error : public bridge_error {
 public:
  session_error(const std::string& what, bool permanent)
      : bridge_error(what), permanent_(permanent) {}
  bool permanent() const noexcept { return permanent_; }

 private:
  bool permanent_;
};

struct client_deleter {
  void operator()(rd_kafka_t* rk) const noexcept;
};
using client_ptr = std::unique_ptr<rd_kafka_t, client_deleter>;

struct topic_deleter {
  void operator()(rd_kafka_topic_t* t) const noexcept { rd_kafka_topic_destroy(t); }
};
using topic_ptr = std::unique_ptr<rd_kafka_topic_t, topic_deleter>;

using property = std::pair<const char*, std::string>;

// A producer or consumer on c.bootstrap with `base` properties, then c.kafka_properties.
// `setup` may add callbacks to the conf before the handle is made. Throws session_error
// (permanent) naming a property librdkafka refuses.
client_ptr make_client(rd_kafka_type_t type, const bridge_config& c,
                       std::initializer_list<property> base,
                       const std::function<void(rd_kafka_conf_t*)>& setup = {});

// The partition count of `topic`, asking the cluster (at most c.connect_timeout). Errors,
// one line each: the cluster cannot be reached in time (transient), the topic does not exist
// or authorization is refused (permanent).
std::int32_t partition_count(rd_kafka_t* rk, const std::string& topic, const bridge_config& c);

// Low and high watermarks of a partition, asking the leader (at most c.connect_timeout).
std::pair<std::int64_t, std::int64_t> watermarks(rd_kafka_t* rk, const std::string& topic,
                                                 std::int32_t partition, const bridge_config& c);

// Reads the records [from, to) of one partition with `consumer` (a consumer handle with a
// group.id that is not subscribed) and gives each to fn. Throws session_error (transient)
// when they do not arrive within c.connect_timeout.
void read_range(rd_kafka_t* consumer, const std::string& topic, std::int32_t partition,
                std::int64_t from, std::int64_t to, const bridge_config& c,
                const std::function<void(const rd_kafka_message_t&)>& fn);

// Errors that no retry fixes (authorization, an unknown topic, a record too large, fatal).
bool is_permanent(rd_kafka_resp_err_t err) noexcept;

// "<what>: <librdkafka's name>: <librdkafka's message>".
std::string describe(const std::string& what, rd_kafka_resp_err_t err);

}  // namespace lanes::kafka::detail
