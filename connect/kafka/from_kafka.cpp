// connect/kafka/from_kafka.cpp: the Kafka -> lanes session (see lanes/kafka_bridge.hpp).
//
// Who moves what:
//   next      per Kafka partition, the next Kafka offset to read (the consumer's position)
//   pending   durable lanes topics: published batches whose records are not all on disk yet.
//             Reading goes on meanwhile (one wait per batch would cost a group commit per
//             batch: measured 0.32-0.37x of the memory topic's rate); at most
//             max_pending_batches are pending, then the oldest is waited for
//   done      a batch counts (stats.records) once lanes has it on disk; the Kafka group's
//             offsets are committed up to there, for monitoring only. Resuming never depends
//             on them: it reads lanes' own last records
//   resume    found at open from the last record of each lanes partition (kafka.offset + 1)
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "bridge_headers.hpp"
#include "kafka_client.hpp"
#include "session.hpp"

namespace lanes::kafka::detail {
namespace {

constexpr std::size_t max_batch = 500;
constexpr auto durable_timeout = std::chrono::seconds(30);
constexpr std::size_t max_pending_batches = 64;

struct message_deleter {
  void operator()(rd_kafka_message_t* m) const noexcept { rd_kafka_message_destroy(m); }
};
using message_ptr = std::unique_ptr<rd_kafka_message_t, message_deleter>;

struct partition_list_deleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const noexcept {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
struct queue_deleter {
  void operator()(rd_kafka_queue_t* q) const noexcept { rd_kafka_queue_destroy(q); }
};
using queue_ptr = std::unique_ptr<rd_kafka_queue_t, queue_deleter>;

using partition_list_ptr = std::unique_ptr<rd_kafka_topic_partition_list_t, partition_list_deleter>;

class from_kafka final : public session {
 public:
  using session::session;

  void open() override {
    consumer_ = make_client(RD_KAFKA_CONSUMER, c_,
                            {{"group.id", group_of(c_)},
                             {"enable.auto.commit", "false"},
                             {"enable.auto.offset.store", "false"},
                             {"enable.partition.eof", "false"},
                             {"auto.offset.reset", "earliest"}},
                            [this](rd_kafka_conf_t* conf) {
                              rd_kafka_conf_set_opaque(conf, this);
                              rd_kafka_conf_set_error_cb(conf, &from_kafka::on_error);
                            });
    partitions_ = partition_count(consumer_.get(), c_.kafka_topic, c_);
    open_lanes_topic();
    // Every partition is assigned at an absolute offset. A logical one (BEGINNING) makes
    // librdkafka 2.0.2 look the offset up, and when the partition's leader is not mapped yet at
    // that moment it retries after a fixed 500 ms (rd_kafka_toppar_offset_request): measured,
    // 1 start in 4 waited 500 ms for its first record even after a metadata request.
    next_.assign(static_cast<std::size_t>(partitions_), 0);
    for (std::int32_t j = 0; j < partitions_; ++j) {
      const auto last = last_kafka_offset(static_cast<std::uint32_t>(j));
      next_[static_cast<std::size_t>(j)] =
          last ? *last + 1 : watermarks(consumer_.get(), c_.kafka_topic, j, c_).first;
    }
    partition_list_ptr list(rd_kafka_topic_partition_list_new(partitions_));
    for (std::int32_t j = 0; j < partitions_; ++j) {
      rd_kafka_topic_partition_list_add(list.get(), c_.kafka_topic.c_str(), j)->offset =
          next_[static_cast<std::size_t>(j)];
    }
    queue_.reset(rd_kafka_queue_get_consumer(consumer_.get()));
    const rd_kafka_resp_err_t err = rd_kafka_assign(consumer_.get(), list.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw session_error(describe("assigning Kafka topic '" + c_.kafka_topic + "'", err), false);
  }

  void run() override {
    rate_limit limit(c_.max_records_per_second);
    auto next_report = std::chrono::steady_clock::now();
    std::vector<message_ptr> batch;
    while (!shared_.stop.load(std::memory_order_relaxed)) {
      const std::uint64_t allowed = std::min<std::uint64_t>(limit.allowance(handled_), max_batch);
      batch.clear();
      // With records pending on the way to disk, an empty poll must not wait: the idle
      // branch below settles them at once instead (the last batch of a burst counted 100 ms
      // late otherwise).
      read(batch, allowed, pending_.empty() ? 100 : 0);
      if (!batch.empty()) {
        publish(batch);
      } else if (!pending_.empty()) {
        (void)settle_front(std::chrono::milliseconds(100));  // idle: the rest reaches the disk
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_report) {
        report();
        next_report = now + std::chrono::milliseconds(200);
      }
    }
  }

  // Appends up to `allowed` messages to `batch`: waits up to `wait_ms` for the first, then
  // takes what librdkafka already holds in one call (rd_kafka_consume_batch_queue: one queue
  // lock for the lot, where rd_kafka_consumer_poll takes it per message). With a timeout it
  // would wait until the batch is full, so it is only ever called with 0.
  void read(std::vector<message_ptr>& batch, std::uint64_t allowed, int wait_ms) {
    if (allowed == 0) return;
    message_ptr first(rd_kafka_consumer_poll(consumer_.get(), wait_ms));
    if (!first) return;
    keep(batch, std::move(first));
    while (batch.size() < allowed) {
      const std::size_t want = static_cast<std::size_t>(allowed) - batch.size();
      raw_.resize(want);
      const ssize_t got = rd_kafka_consume_batch_queue(queue_.get(), 0, raw_.data(), want);
      if (got <= 0) return;
      for (ssize_t i = 0; i < got; ++i) keep(batch, message_ptr(raw_[static_cast<std::size_t>(i)]));
      if (static_cast<std::size_t>(got) < want) return;
    }
  }

  // A message joins the batch; an error event is noted (librdkafka retries by itself) or,
  // when permanent, ends the session.
  void keep(std::vector<message_ptr>& batch, message_ptr m) {
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      batch.push_back(std::move(m));
      return;
    }
    const std::string e = describe("reading Kafka topic '" + c_.kafka_topic + "'", m->err);
    if (is_permanent(m->err)) throw session_error(e, true);
    shared_.note_error(e);
  }

  void drain(std::chrono::milliseconds) override {
    while (!pending_.empty()) require_front();
    report();
  }

 private:
  static void on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
    static_cast<from_kafka*>(opaque)->shared_.note_error(
        std::string("Kafka: ") + rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)) + ": " +
        reason);
  }

  void open_lanes_topic() {
    auto info = bus_.describe_topic(c_.lanes_topic);
    if (!info) {
      topic_config tc;
      tc.partitions = static_cast<std::uint32_t>(partitions_);
      tc.durable = c_.create_durability;
      const errc e = bus_.create_topic(c_.lanes_topic, tc);
      if (e != errc::ok && e != errc::topic_exists) {
        throw session_error("creating lanes topic '" + c_.lanes_topic + "' with " +
                                std::to_string(partitions_) + " partitions: " + to_string(e),
                            true);
      }
      info = bus_.describe_topic(c_.lanes_topic);
    }
    if (!info || info->partitions.size() < static_cast<std::size_t>(partitions_)) {
      throw session_error("lanes topic '" + c_.lanes_topic + "' has " +
                              std::to_string(info ? info->partitions.size() : 0) +
                              " partitions, fewer than the " + std::to_string(partitions_) +
                              " of Kafka topic '" + c_.kafka_topic +
                              "' (Kafka partition j goes to lanes partition j)",
                          true);
    }
    durable_ = info->config.durable != durability::none;
    errc e = errc::ok;
    producer_ = bus_.make_producer(c_.lanes_topic, &e);
    if (e != errc::ok) {
      throw session_error(
          "publishing to lanes topic '" + c_.lanes_topic + "': " + std::string(to_string(e)), true);
    }
    info_ = std::move(*info);
  }

  // The kafka.offset of the last record of lanes partition j (nothing when it is empty).
  std::optional<std::int64_t> last_kafka_offset(std::uint32_t j) {
    const partition_stats& ps = info_.partitions[j];
    if (ps.end_offset == ps.log_start_offset) return std::nullopt;
    consumer_config cc;
    cc.auto_commit = false;
    cc.reset = offset_reset::earliest;
    errc e = errc::ok;
    consumer reader = bus_.make_consumer(cc, &e);
    const topic_partition tp{c_.lanes_topic, j};
    if (e == errc::ok) e = reader.assign({&tp, 1});
    if (e == errc::ok) e = reader.seek(tp, ps.end_offset - 1);
    const auto deadline = std::chrono::steady_clock::now() + c_.connect_timeout;
    while (e == errc::ok && std::chrono::steady_clock::now() < deadline) {
      const poll_result r = reader.poll(std::chrono::milliseconds(100));
      e = r.status;
      for (const record_view& rec : r.records) {
        if (rec.offset == ps.end_offset - 1) return kafka_offset_of(rec);
      }
    }
    throw session_error("reading the last record of lanes topic '" + c_.lanes_topic +
                            "' partition " + std::to_string(j) + ": " +
                            (e == errc::ok ? std::string("timed out") : to_string(e)),
                        e != errc::ok);
  }

  std::int64_t kafka_offset_of(const record_view& rec) const {
    std::string_view topic;
    std::string_view partition;
    std::string_view offset;
    std::optional<std::int64_t> p;
    std::optional<std::int64_t> o;
    if (find_last(rec.headers, kafka_topic_header, topic) &&
        find_last(rec.headers, kafka_partition_header, partition) &&
        find_last(rec.headers, kafka_offset_header, offset)) {
      p = parse_decimal(partition);
      o = parse_decimal(offset);
    }
    const std::string where = "the last record of lanes topic '" + c_.lanes_topic + "' partition " +
                              std::to_string(rec.partition) + " (offset " +
                              std::to_string(rec.offset) + ")";
    if (!p || !o || *o < 0) {
      throw session_error(where +
                              " has no valid kafka.topic/kafka.partition/kafka.offset header: "
                              "something else publishes there; mirror into a lanes topic of "
                              "its own",
                          true);
    }
    if (topic != c_.kafka_topic || *p != rec.partition) {
      throw session_error(where + " came from Kafka topic '" + std::string(topic) + "' partition " +
                              std::to_string(*p) + ", not from '" + c_.kafka_topic +
                              "' partition " + std::to_string(rec.partition),
                          true);
    }
    return *o;
  }

  void publish(const std::vector<message_ptr>& batch) {
    std::vector<std::int64_t> last(static_cast<std::size_t>(partitions_), -1);
    std::uint64_t bytes = 0;
    for (const message_ptr& m : batch) {
      const publish_result r = publish_one(*m);
      if (!r) {
        throw session_error("publishing to lanes topic '" + c_.lanes_topic + "' partition " +
                                std::to_string(m->partition) + ": " + to_string(r.status),
                            r.status != errc::timeout && r.status != errc::full);
      }
      last[static_cast<std::size_t>(m->partition)] = static_cast<std::int64_t>(r.offset);
      next_[static_cast<std::size_t>(m->partition)] = m->offset + 1;
      bytes += m->len + m->key_len;
    }
    handled_ += batch.size();
    if (!durable_) {
      shared_.add_done(batch.size(), bytes);
      done_next_ = next_;
      return;
    }
    pending_.push_back({std::move(last), next_, batch.size(), bytes});
    pending_records_ += batch.size();
    while (!pending_.empty() && settle_front(std::chrono::nanoseconds(0))) {
    }
    while (pending_.size() > max_pending_batches) require_front();
  }

  // A published batch of a durable topic, not counted yet.
  struct pending_batch {
    std::vector<std::int64_t> last;  // per lanes partition: its last offset (-1: none)
    std::vector<std::int64_t> next;  // per Kafka partition: next_ after the batch
    std::uint64_t records = 0;
    std::uint64_t bytes = 0;
  };

  // Counts the oldest pending batch when lanes has all of it on disk, waiting up to `wait`
  // (0: only looks; a wait wakes the persister). Returns whether it did; throws when lanes
  // failed the partition.
  bool settle_front(std::chrono::nanoseconds wait) {
    pending_batch& b = pending_.front();
    for (std::size_t j = 0; j < b.last.size(); ++j) {
      if (b.last[j] < 0) continue;
      const auto partition = static_cast<std::uint32_t>(j);
      const auto offset = static_cast<std::uint64_t>(b.last[j]);
      if (producer_.durable_offset(partition) > offset) continue;
      if (wait.count() == 0) return false;
      const errc e = producer_.wait_durable(partition, offset, wait);
      if (e == errc::timeout) return false;
      if (e != errc::ok) {
        throw session_error("waiting for lanes topic '" + c_.lanes_topic + "' partition " +
                                std::to_string(j) + " to be durable: " + to_string(e),
                            true);
      }
    }
    shared_.add_done(b.records, b.bytes);
    done_next_ = std::move(b.next);
    pending_records_ -= b.records;
    pending_.pop_front();
    return true;
  }

  void require_front() {
    if (!settle_front(durable_timeout)) {
      throw session_error("lanes topic '" + c_.lanes_topic + "' made no record durable for " +
                              std::to_string(durable_timeout.count()) + " s",
                          false);
    }
  }

  publish_result publish_one(const rd_kafka_message_t& m) {
    headers_.clear();
    rd_kafka_headers_t* hdrs = nullptr;
    std::optional<std::int64_t> lanes_ns;
    if (rd_kafka_message_headers(&m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      std::size_t size = 0;
      for (std::size_t i = 0;
           rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        const std::string_view v =
            value ? std::string_view(static_cast<const char*>(value), size) : std::string_view();
        headers_.push_back({name, v});
        if (name == lanes_timestamp_header) lanes_ns = parse_decimal(v);
      }
    }
    char buf[2][24];
    headers_.push_back({kafka_topic_header, c_.kafka_topic});
    headers_.push_back({kafka_partition_header, format_decimal(buf[0], 24, m.partition)});
    headers_.push_back({kafka_offset_header, format_decimal(buf[1], 24, m.offset)});
    publish_options o;
    o.partition = static_cast<std::uint32_t>(m.partition);
    o.headers = headers_;
    const std::int64_t ms = rd_kafka_message_timestamp(&m, nullptr);
    if (ms >= 0) o.timestamp_ns = ms * 1'000'000;
    // A record that came from lanes: its own timestamp, in nanoseconds.
    if (lanes_ns) o.timestamp_ns = *lanes_ns;
    const message_key key =
        m.key ? message_key(std::string_view(static_cast<const char*>(m.key), m.key_len))
              : message_key();
    const std::string_view value =
        m.payload ? std::string_view(static_cast<const char*>(m.payload), m.len)
                  : std::string_view();
    return producer_.publish(key, value, o);
  }

  void report() {
    std::int64_t lag = 0;
    partition_list_ptr list(rd_kafka_topic_partition_list_new(partitions_));
    for (std::int32_t j = 0; j < partitions_; ++j) {
      std::int64_t lo = 0;
      std::int64_t hi = 0;
      const std::int64_t next = next_[static_cast<std::size_t>(j)];
      const std::int64_t done = done_next_.empty() ? -1 : done_next_[static_cast<std::size_t>(j)];
      if (rd_kafka_get_watermark_offsets(consumer_.get(), c_.kafka_topic.c_str(), j, &lo, &hi) !=
              RD_KAFKA_RESP_ERR_NO_ERROR ||
          hi < 0 || lag < 0) {
        lag = -1;
      } else {
        lag += std::max<std::int64_t>(0, hi - std::max(next, lo));
      }
      if (done >= 0)
        rd_kafka_topic_partition_list_add(list.get(), c_.kafka_topic.c_str(), j)->offset = done;
    }
    shared_.set_progress(lag, pending_records_);
    const auto now = std::chrono::steady_clock::now();
    if (list->cnt > 0 && now >= next_commit_) {
      rd_kafka_commit(consumer_.get(), list.get(), 1);  // monitoring only; async
      next_commit_ = now + std::chrono::seconds(1);
    }
  }

  client_ptr consumer_;
  queue_ptr queue_;  // the consumer's queue (after consumer_: released before it)
  std::vector<rd_kafka_message_t*> raw_;
  producer producer_;
  topic_info info_;
  std::int32_t partitions_ = 0;
  bool durable_ = false;
  std::vector<std::int64_t> next_;       // per Kafka partition: the next offset to read
  std::vector<std::int64_t> done_next_;  // per Kafka partition: next offset after `done`
  std::deque<pending_batch> pending_;
  std::uint64_t pending_records_ = 0;
  std::vector<header> headers_;  // reused for each record
  std::uint64_t handled_ = 0;
  std::chrono::steady_clock::time_point next_commit_{};
};

}  // namespace

std::unique_ptr<session> make_from_kafka_session(bus& b, const bridge_config& c, bridge_shared& s) {
  return std::make_unique<from_kafka>(b, c, s);
}

}  // namespace lanes::kafka::detail
