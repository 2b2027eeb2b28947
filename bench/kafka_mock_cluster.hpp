// bench/kafka_mock_cluster.hpp: the librdkafka mock cluster kafka_bench runs both sides
// against, and how it makes its clients.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace lanes_bench {

// A librdkafka client with these properties (and `setup` applied to its configuration last);
// dies with librdkafka's message when it cannot be made.
rd_kafka_t* client(rd_kafka_type_t type,
                   const std::vector<std::pair<std::string, std::string>>& props,
                   const std::function<void(rd_kafka_conf_t*)>& setup = {});

// One mock broker in this process; its topics have `partitions` partitions each.
struct cluster {
  explicit cluster(int partitions);
  ~cluster();
  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  // A new topic, "t0", "t1", ...
  std::string topic();

  rd_kafka_t* host = nullptr;
  rd_kafka_mock_cluster_t* mock = nullptr;
  std::string bootstrap;
  int partitions;
  int next = 0;

 private:
  void no_delay_on_listeners() const;
};

}  // namespace lanes_bench
