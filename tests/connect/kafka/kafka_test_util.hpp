// tests/connect/kafka/kafka_test_util.hpp: what the Kafka bridge tests share.
//
//   mock_cluster      librdkafka's mock cluster in this process (rdkafka_mock.h): N brokers
//                     on 127.0.0.1, topics, brokers down and up, injected request errors.
//   kafka_record      a Kafka record copied out (key, value, headers, timestamp).
//   read_kafka        every record of a Kafka topic, read with a consumer of its own.
//   produce_kafka     records produced with an idempotent producer, waiting for delivery.
//   lanes_record      a lanes record copied out; read_lanes reads a whole topic.
//   scratch_dir       lanes_test::scratch_dir (tests/support/scratch_dir.hpp).
//   wait_until        lanes_test::wait_until (tests/support/concurrency.hpp), here for the Kafka
//   tests.
#pragma once

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/concurrency.hpp"
#include "support/scratch_dir.hpp"
#include <lanes/lanes.hpp>

namespace kafka_test {

using namespace std::chrono_literals;
using headers_list = std::vector<std::pair<std::string, std::string>>;

using lanes_test::wait_until;

using lanes_test::scratch_dir;

inline rd_kafka_t* new_client(rd_kafka_type_t type,
                              const std::vector<std::pair<std::string, std::string>>& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      throw std::runtime_error(err);
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) throw std::runtime_error(err);
  return rk;
}

class mock_cluster {
 public:
  explicit mock_cluster(int brokers = 3) {
    host_ = new_client(RD_KAFKA_PRODUCER, {{"log_level", "0"}});
    cluster_ = rd_kafka_mock_cluster_new(host_, brokers);
    if (cluster_ == nullptr) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
  }
  ~mock_cluster() {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(host_);
  }
  mock_cluster(const mock_cluster&) = delete;
  mock_cluster& operator=(const mock_cluster&) = delete;

  std::string bootstrap() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
  void create_topic(const std::string& name, int partitions) {
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  void broker_down(int id) { rd_kafka_mock_broker_set_down(cluster_, id); }
  void broker_up(int id) { rd_kafka_mock_broker_set_up(cluster_, id); }
  rd_kafka_mock_cluster_t* get() const { return cluster_; }

 private:
  rd_kafka_t* host_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

// What a record copied out of either side holds besides its place and time.
struct record_body {
  std::optional<std::string> key;
  std::string value;
  headers_list headers;

  // The value of the last header called `name`, "" when there is none.
  std::string header(const std::string& name) const {
    std::string v;
    for (const auto& [k, val] : headers)
      if (k == name) v = val;
    return v;
  }
};

struct kafka_record : record_body {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int64_t timestamp_ms = 0;
};

// Every record of `topic` up to the high watermark at the call, per partition in order.
inline std::vector<kafka_record> read_kafka(const std::string& bootstrap, const std::string& topic,
                                            int partitions) {
  rd_kafka_t* rk = new_client(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                                  {"group.id", "lanes-test-reader"},
                                                  {"enable.auto.commit", "false"},
                                                  {"fetch.wait.max.ms", "10"},
                                                  {"log_level", "0"}});
  std::vector<kafka_record> out;
  for (int p = 0; p < partitions; ++p) {
    std::int64_t lo = 0;
    std::int64_t hi = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &lo, &hi, 30000) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      ADD_FAILURE() << "watermarks of " << topic << " partition " << p;
      continue;
    }
    if (hi <= lo) continue;
    rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic.c_str(), p)->offset = lo;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    std::int64_t next = lo;
    // Gives up only after 60 s without a record (sanitizer builds read far slower).
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (next < hi && std::chrono::steady_clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->partition == p && m->offset >= next) {
        kafka_record r;
        r.partition = p;
        r.offset = m->offset;
        if (m->key) r.key = std::string(static_cast<const char*>(m->key), m->key_len);
        if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
        r.timestamp_ms = rd_kafka_message_timestamp(m, nullptr);
        rd_kafka_headers_t* h = nullptr;
        if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
          const char* name = nullptr;
          const void* v = nullptr;
          std::size_t size = 0;
          for (std::size_t i = 0; rd_kafka_header_get_all(h, i, &name, &v, &size) == 0; ++i)
            r.headers.emplace_back(name, v ? std::string(static_cast<const char*>(v), size) : "");
        }
        out.push_back(std::move(r));
        next = m->offset + 1;
        deadline = std::chrono::steady_clock::now() + 60s;
      }
      rd_kafka_message_destroy(m);
    }
    EXPECT_GE(next, hi) << "timed out reading " << topic << " partition " << p;
  }
  rd_kafka_destroy(rk);
  return out;
}

struct kafka_message {
  std::int32_t partition = 0;
  std::optional<std::string> key;
  std::string value;
  headers_list headers;
  std::int64_t timestamp_ms = 0;
};

// Produces `messages` (idempotent) and waits until every one was delivered.
inline void produce_kafka(const std::string& bootstrap, const std::string& topic,
                          const std::vector<kafka_message>& messages) {
  rd_kafka_t* rk = new_client(
      RD_KAFKA_PRODUCER,
      {{"bootstrap.servers", bootstrap}, {"enable.idempotence", "true"}, {"log_level", "0"}});
  for (const kafka_message& m : messages) {
    rd_kafka_headers_t* h = rd_kafka_headers_new(m.headers.size() + 1);
    for (const auto& [k, v] : m.headers)
      rd_kafka_header_add(h, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                          static_cast<ssize_t>(v.size()));
    rd_kafka_vu_t vu[7] = {};
    vu[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vu[0].u.cstr = topic.c_str();
    vu[1].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[1].u.i32 = m.partition;
    vu[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[2].u.i = RD_KAFKA_MSG_F_COPY;
    vu[3].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[3].u.mem = {const_cast<char*>(m.value.data()), m.value.size()};
    vu[4].vtype = RD_KAFKA_VTYPE_KEY;
    vu[4].u.mem = {m.key ? const_cast<char*>(m.key->data()) : nullptr, m.key ? m.key->size() : 0};
    vu[5].vtype = RD_KAFKA_VTYPE_HEADERS;
    vu[5].u.headers = h;
    vu[6].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
    vu[6].u.i64 = m.timestamp_ms;
    for (;;) {
      rd_kafka_error_t* e = rd_kafka_produceva(rk, vu, 7);
      if (e == nullptr) break;
      const bool full = rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__QUEUE_FULL;
      if (!full) ADD_FAILURE() << rd_kafka_error_string(e);
      rd_kafka_error_destroy(e);
      if (!full) {
        rd_kafka_headers_destroy(h);
        break;
      }
      rd_kafka_poll(rk, 100);
    }
    rd_kafka_poll(rk, 0);
  }
  EXPECT_EQ(rd_kafka_flush(rk, 60000), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(rk);
}

struct lanes_record : record_body {
  std::uint32_t partition = 0;
  std::uint64_t offset = 0;
  std::int64_t timestamp_ns = 0;
};

// Every record of a lanes topic at the call, per partition in order.
inline std::vector<lanes_record> read_lanes(lanes::bus& b, const std::string& topic) {
  std::vector<lanes_record> out;
  const auto info = b.describe_topic(topic);
  if (!info) {
    ADD_FAILURE() << "no lanes topic " << topic;
    return out;
  }
  for (const auto& ps : info->partitions) {
    if (ps.end_offset == ps.log_start_offset) continue;
    lanes::consumer_config cc;
    cc.auto_commit = false;
    cc.reset = lanes::offset_reset::earliest;
    lanes::consumer c = b.make_consumer(cc);
    const lanes::topic_partition tp{topic, ps.partition};
    EXPECT_EQ(c.assign({&tp, 1}), lanes::errc::ok);
    std::uint64_t next = ps.log_start_offset;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (next < ps.end_offset && std::chrono::steady_clock::now() < deadline) {
      const lanes::poll_result r = c.poll(100ms);
      EXPECT_EQ(r.status, lanes::errc::ok);
      for (const lanes::record_view& v : r.records) {
        lanes_record rec;
        rec.partition = v.partition;
        rec.offset = v.offset;
        if (v.has_key) rec.key = std::string(v.key);
        rec.value = std::string(v.value);
        rec.timestamp_ns = v.timestamp_ns;
        for (const lanes::header h : v.headers) rec.headers.emplace_back(h.name, h.value);
        out.push_back(std::move(rec));
        next = v.offset + 1;
      }
    }
    EXPECT_GE(next, ps.end_offset) << "timed out reading " << topic;
  }
  return out;
}

}  // namespace kafka_test
