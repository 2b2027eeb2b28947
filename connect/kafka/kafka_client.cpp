// connect/kafka/kafka_client.cpp: librdkafka handles, metadata and range reads for the bridge.
#include "kafka_client.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace lanes::kafka::detail {
namespace {

struct message_deleter {
  void operator()(rd_kafka_message_t* m) const noexcept { rd_kafka_message_destroy(m); }
};
using message_ptr = std::unique_ptr<rd_kafka_message_t, message_deleter>;

struct metadata_deleter {
  void operator()(const rd_kafka_metadata_t* m) const noexcept { rd_kafka_metadata_destroy(m); }
};

struct partition_list_deleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const noexcept {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using partition_list_ptr = std::unique_ptr<rd_kafka_topic_partition_list_t, partition_list_deleter>;

int timeout_ms(const bridge_config& c) { return static_cast<int>(c.connect_timeout.count()); }

std::string seconds_text(const bridge_config& c) {
  const auto ms = c.connect_timeout.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

bool is_unreachable(rd_kafka_resp_err_t err) noexcept {
  return err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
         err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__RESOLVE;
}

}  // namespace

void client_deleter::operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }

client_ptr make_client(rd_kafka_type_t type, const bridge_config& c,
                       std::initializer_list<property> base,
                       const std::function<void(rd_kafka_conf_t*)>& setup) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  auto set = [&](const std::string& name, const std::string& value) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw session_error("librdkafka refuses property " + name + "=" + value + ": " + err, true);
    }
  };
  set("bootstrap.servers", c.bootstrap);
  // librdkafka's own log lines would interleave with the bridge's one-line errors; what
  // matters reaches the bridge as errors (error_cb, delivery reports, request results).
  set("log_level", "0");
  // Back within a second of a broker coming back (librdkafka waits up to 10 s by default).
  set("reconnect.backoff.max.ms", "1000");
  // TCP_NODELAY: librdkafka 2.0.2 leaves Nagle on by default, so a small request written
  // while an earlier one is unacknowledged waits for the peer's delayed ACK (~40 ms on
  // Linux). Measured against the mock cluster: the first record of an assigned partition
  // came after 43-48 ms in half the starts, 2-3 ms with this set.
  set("socket.nagle.disable", "true");
  for (const property& p : base) set(p.first, p.second);
  for (const auto& p : c.kafka_properties) set(p.first, p.second);
  if (setup) setup(conf);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw session_error(std::string("cannot create a Kafka client: ") + err, true);
  }
  return client_ptr(rk);
}

std::int32_t partition_count(rd_kafka_t* rk, const std::string& topic, const bridge_config& c) {
  const rd_kafka_metadata_t* raw = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &raw, timeout_ms(c));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (is_unreachable(err)) {
      throw session_error("cannot reach Kafka at '" + c.bootstrap + "' within " + seconds_text(c) +
                              " (" + rd_kafka_err2str(err) + ")",
                          false);
    }
    throw session_error(describe("asking Kafka at '" + c.bootstrap + "' for its topics", err),
                        is_permanent(err));
  }
  const std::unique_ptr<const rd_kafka_metadata_t, metadata_deleter> md(raw);
  std::string names;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (t.topic != topic) {
      if (names.size() < 200) names += (names.empty() ? "" : ", ") + std::string(t.topic);
      continue;
    }
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw session_error(describe("Kafka topic '" + topic + "'", t.err), is_permanent(t.err));
    }
    return t.partition_cnt;
  }
  throw session_error("Kafka topic '" + topic + "' does not exist at '" + c.bootstrap +
                          "' (the bridge does not create Kafka topics; topics there: " +
                          (names.empty() ? "none" : names) + ")",
                      true);
}

std::pair<std::int64_t, std::int64_t> watermarks(rd_kafka_t* rk, const std::string& topic,
                                                 std::int32_t partition, const bridge_config& c) {
  std::int64_t lo = 0;
  std::int64_t hi = 0;
  const rd_kafka_resp_err_t err =
      rd_kafka_query_watermark_offsets(rk, topic.c_str(), partition, &lo, &hi, timeout_ms(c));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw session_error(describe("reading the offsets of Kafka topic '" + topic + "' partition " +
                                     std::to_string(partition),
                                 err),
                        is_permanent(err));
  }
  return {lo, hi};
}

void read_range(rd_kafka_t* consumer, const std::string& topic, std::int32_t partition,
                std::int64_t from, std::int64_t to, const bridge_config& c,
                const std::function<void(const rd_kafka_message_t&)>& fn) {
  if (from >= to) return;
  partition_list_ptr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = from;
  rd_kafka_resp_err_t err = rd_kafka_assign(consumer, list.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) throw session_error(describe("assign", err), false);
  const auto deadline = std::chrono::steady_clock::now() + c.connect_timeout;
  std::int64_t next = from;
  rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR_NO_ERROR;
  while (next < to && std::chrono::steady_clock::now() < deadline) {
    const message_ptr m(rd_kafka_consumer_poll(consumer, 100));
    if (!m) continue;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) last = m->err;
      if (is_permanent(m->err)) break;
      continue;
    }
    if (m->partition != partition || m->offset < next) continue;
    fn(*m);
    next = m->offset + 1;
  }
  rd_kafka_assign(consumer, nullptr);
  if (next < to) {
    std::string what = "reading Kafka topic '" + topic + "' partition " +
                       std::to_string(partition) + " offsets " + std::to_string(from) + ".." +
                       std::to_string(to - 1) + " to find where the bridge stopped";
    if (last != RD_KAFKA_RESP_ERR_NO_ERROR) throw session_error(describe(what, last), false);
    throw session_error(what + ": timed out after " + seconds_text(c), false);
  }
}

bool is_permanent(rd_kafka_resp_err_t err) noexcept {
  switch (err) {
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR__INVALID_ARG: return true;
    default: return false;
  }
}

std::string describe(const std::string& what, rd_kafka_resp_err_t err) {
  std::string s = what + ": " + rd_kafka_err2name(err) + ": " + rd_kafka_err2str(err);
  if (err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
      err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED ||
      err == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED) {
    s += " (grant this client's principal access, or pass credentials with -X sasl.*)";
  }
  return s;
}

}  // namespace lanes::kafka::detail
