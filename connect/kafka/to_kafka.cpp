// connect/kafka/to_kafka.cpp: the lanes -> Kafka session (see lanes/kafka_bridge.hpp).
//
// Who moves what:
//   read      the lanes consumer's position: records handed to the producer (or skipped)
//   acked     per lanes partition, the offset below which every record had a successful
//             delivery report (or was skipped); committed to the lanes group for monitoring
//   resume    found at open from the last records in Kafka, never from `acked`
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
#include "payload_pool.hpp"
#include "session.hpp"

namespace lanes::kafka::detail {
namespace {

// A delivery's opaque: pooled << 63 | lanes partition << 48 | offset, where `pooled` says the
// value is in the session's payload_pool.
constexpr int offset_bits = 48;
constexpr std::uintptr_t pooled_bit = std::uintptr_t{1} << 63;
constexpr std::chrono::milliseconds settle_limit{10000};

// The records of one lanes partition between `acked` and the read position, each done or not.
class ack_window {
 public:
  void push(std::uint64_t offset, bool done) {
    if (flags_.empty()) first_ = offset;
    while (first_ + flags_.size() < offset) flags_.push_back(true);  // a gap in the log
    flags_.push_back(done);
    advance();
  }
  void mark(std::uint64_t offset) {
    if (offset < first_ || offset - first_ >= flags_.size()) return;
    flags_[offset - first_] = true;
    advance();
  }
  std::optional<std::uint64_t> acked() const { return acked_; }

 private:
  void advance() {
    while (!flags_.empty() && flags_.front()) {
      flags_.pop_front();
      acked_ = ++first_;
    }
  }
  std::deque<bool> flags_;
  std::uint64_t first_ = 0;
  std::optional<std::uint64_t> acked_;
};

struct lanes_position {
  std::uint32_t partition = 0;
  std::uint64_t offset = 0;
};

class to_kafka final : public session {
 public:
  using session::session;
  // A session that ends (stopped or failed) must not leave a produce request behind that a
  // broker could still append after the next session has read where to resume: that record
  // would then be in Kafka twice. So only what was never sent is dropped; requests already on
  // the wire get their answer (appended or not) before the producer goes, for at most
  // settle_limit (after a stop, drain has already waited as long as the caller allowed).
  // Only when a broker stays unreachable that long are they abandoned too, and the connection
  // closes with them (a broker answers a request on the connection it came on).
  ~to_kafka() override {
    if (!producer_) return;
    rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE);
    if (!drained_) rd_kafka_flush(producer_.get(), static_cast<int>(settle_limit.count()));
    rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  }

  void open() override {
    const auto info = bus_.describe_topic(c_.lanes_topic);
    if (!info) throw session_error("lanes topic '" + c_.lanes_topic + "' does not exist", true);
    lanes_partitions_ = static_cast<std::uint32_t>(info->partitions.size());
    if (lanes_partitions_ >= (1u << (63 - offset_bits)))
      throw session_error("too many lanes partitions for the bridge", true);
    producer_ = make_client(RD_KAFKA_PRODUCER, c_,
                            {{"enable.idempotence", "true"},
                             {"message.timeout.ms", "0"},  // retry until delivered or stopped
                             {"linger.ms", "5"}},
                            [this](rd_kafka_conf_t* conf) {
                              rd_kafka_conf_set_opaque(conf, this);
                              rd_kafka_conf_set_dr_msg_cb(conf, &to_kafka::on_delivery);
                              rd_kafka_conf_set_error_cb(conf, &to_kafka::on_error);
                            });
    kafka_partitions_ = partition_count(producer_.get(), c_.kafka_topic, c_);
    direct_ = kafka_partitions_ == static_cast<std::int32_t>(lanes_partitions_);
    topic_.reset(rd_kafka_topic_new(producer_.get(), c_.kafka_topic.c_str(), nullptr));
    windows_.assign(lanes_partitions_, {});
    const std::vector<std::optional<std::uint64_t>> resume = find_resume();
    subscribe_lanes(resume, *info);
  }

  void run() override {
    rate_limit limit(c_.max_records_per_second);
    auto next_report = std::chrono::steady_clock::now();
    while (!shared_.stop.load(std::memory_order_relaxed)) {
      check_failure();
      const std::uint64_t allowed = limit.allowance(handled_);
      if (allowed > 0) {
        const poll_result r = consumer_.poll(std::chrono::milliseconds(50));
        if (r.status != errc::ok) {
          throw session_error(
              "reading lanes topic '" + c_.lanes_topic + "': " + std::string(to_string(r.status)),
              r.status != errc::too_many_readers);
        }
        for (const record_view& rec : r.records) {
          if (!produce(rec)) break;
        }
      }
      rd_kafka_poll(producer_.get(), 0);
      if (done_records_ + skipped_ > 0) {
        shared_.add_done(done_records_, done_bytes_, skipped_);
        done_records_ = done_bytes_ = skipped_ = 0;
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_report) {
        report();
        next_report = now + std::chrono::milliseconds(200);
      }
    }
    check_failure();
  }

  void drain(std::chrono::milliseconds limit) override {
    rd_kafka_flush(producer_.get(), static_cast<int>(limit.count()));
    drained_ = true;
    report();
    commit_acked();
  }

 private:
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    static_cast<to_kafka*>(opaque)->delivered(*m);
  }
  static void on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<to_kafka*>(opaque);
    const auto e = static_cast<rd_kafka_resp_err_t>(err);
    self->shared_.note_error(std::string("Kafka: ") + rd_kafka_err2name(e) + ": " + reason);
    if (e == RD_KAFKA_RESP_ERR__FATAL && self->failure_.empty()) {
      char why[512];
      const rd_kafka_resp_err_t orig = rd_kafka_fatal_error(self->producer_.get(), why, sizeof why);
      self->failure_ =
          std::string("the Kafka producer failed: ") + rd_kafka_err2name(orig) + ": " + why;
    }
  }

  void delivered(const rd_kafka_message_t& m) {
    const auto packed = reinterpret_cast<std::uintptr_t>(m._private);
    const auto partition = static_cast<std::uint32_t>((packed & ~pooled_bit) >> offset_bits);
    const std::uint64_t offset = packed & ((std::uint64_t{1} << offset_bits) - 1);
    if ((packed & pooled_bit) != 0) pool_.release(m.payload);
    --in_flight_;
    if (m.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (failure_.empty()) {
        failure_ = describe("delivering lanes partition " + std::to_string(partition) + " offset " +
                                std::to_string(offset) + " to Kafka topic '" + c_.kafka_topic + "'",
                            m.err);
        failure_permanent_ = is_permanent(m.err);
      }
      return;
    }
    windows_[partition].mark(offset);
    done_records_ += 1;
    done_bytes_ += m.len + m.key_len;
  }

  void check_failure() {
    if (!failure_.empty()) throw session_error(failure_, failure_permanent_);
  }

  // The Kafka partition a lanes record goes to (see the header for the rule).
  std::int32_t target(const record_view& rec) const {
    if (direct_) return static_cast<std::int32_t>(rec.partition);
    if (rec.has_key) {
      return rd_kafka_msg_partitioner_consistent(topic_.get(), rec.key.data(), rec.key.size(),
                                                 kafka_partitions_, nullptr, nullptr);
    }
    return static_cast<std::int32_t>(rec.partition % static_cast<std::uint32_t>(kafka_partitions_));
  }

  // Hands one record to the producer; false when it could not (stopping, or a failure seen).
  bool produce(const record_view& rec) {
    ++handled_;
    const std::int32_t j = target(rec);
    if (!direct_ && in_kafka_[rec.partition][static_cast<std::size_t>(j)] >=
                        static_cast<std::int64_t>(rec.offset)) {
      windows_[rec.partition].push(rec.offset, true);
      ++skipped_;
      return true;
    }
    const bool pool = payload_pool::takes(rec.value.size());
    if (pool && !wait_for_room(rec.value.size())) return false;
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(rec.headers.size() + 3);
    for (const header h : rec.headers) {
      rd_kafka_header_add(hdrs, h.name.data(), static_cast<ssize_t>(h.name.size()), h.value.data(),
                          static_cast<ssize_t>(h.value.size()));
    }
    char buf[3][24];
    add_header(hdrs, lanes_partition_header, format_decimal(buf[0], 24, rec.partition));
    add_header(hdrs, lanes_offset_header,
               format_decimal(buf[1], 24, static_cast<std::int64_t>(rec.offset)));
    const std::int64_t ms = rec.timestamp_ns >= 0 ? rec.timestamp_ns / 1'000'000
                                                  : -((-rec.timestamp_ns + 999'999) / 1'000'000);
    // Kafka keeps milliseconds, and librdkafka reads a timestamp <= 0 as "now".
    if (rec.timestamp_ns != ms * 1'000'000 || ms <= 0)
      add_header(hdrs, lanes_timestamp_header, format_decimal(buf[2], 24, rec.timestamp_ns));
    static const char empty[1] = {};
    const void* key = rec.has_key ? (rec.key.empty() ? empty : rec.key.data()) : nullptr;
    const char* pooled = pool ? pool_.copy(rec.value) : nullptr;
    const void* value = pooled != nullptr ? pooled : rec.value.empty() ? empty : rec.value.data();
    const auto packed = (pooled != nullptr ? pooled_bit : 0) |
                        (std::uintptr_t{rec.partition} << offset_bits) |
                        static_cast<std::uintptr_t>(rec.offset);
    windows_[rec.partition].push(rec.offset, false);
    ++in_flight_;
    rd_kafka_vu_t vu[8] = {};
    vu[0].vtype = RD_KAFKA_VTYPE_RKT;
    vu[0].u.rkt = topic_.get();
    vu[1].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[1].u.i32 = j;
    vu[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[2].u.i = pooled != nullptr ? 0 : RD_KAFKA_MSG_F_COPY;  // librdkafka always copies keys
    vu[3].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[3].u.mem = {const_cast<void*>(value), rec.value.size()};
    vu[4].vtype = RD_KAFKA_VTYPE_KEY;
    vu[4].u.mem = {const_cast<void*>(key), rec.key.size()};
    vu[5].vtype = RD_KAFKA_VTYPE_HEADERS;
    vu[5].u.headers = hdrs;
    vu[6].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
    vu[6].u.i64 = ms;
    vu[7].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vu[7].u.ptr = reinterpret_cast<void*>(packed);
    for (;;) {
      rd_kafka_error_t* error = rd_kafka_produceva(producer_.get(), vu, 8);
      if (error == nullptr) return true;
      const rd_kafka_resp_err_t err = rd_kafka_error_code(error);
      rd_kafka_error_destroy(error);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !shared_.stop.load(std::memory_order_relaxed)) {
        rd_kafka_poll(producer_.get(), 100);  // deliveries make room
        if (failure_.empty()) continue;
      }
      rd_kafka_headers_destroy(hdrs);
      if (pooled != nullptr) pool_.release(pooled);
      --in_flight_;
      // Not produced: nothing after it may be produced in this session (Kafka would then hold
      // a later offset without this one); the next session reads it again.
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return false;
      throw session_error(describe("producing to Kafka topic '" + c_.kafka_topic + "'", err),
                          is_permanent(err));
    }
  }

  // Serves delivery reports until the payload pool has room for `size` bytes; false when the
  // session stops or failed meanwhile.
  bool wait_for_room(std::size_t size) {
    while (!pool_.has_room(size)) {
      if (shared_.stop.load(std::memory_order_relaxed) || !failure_.empty()) return false;
      rd_kafka_poll(producer_.get(), 10);
    }
    return true;
  }

  static void add_header(rd_kafka_headers_t* h, std::string_view name, std::string_view value) {
    rd_kafka_header_add(h, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                        static_cast<ssize_t>(value.size()));
  }

  // Where the record mirrored from lanes came from, from its last lanes.* headers.
  lanes_position position_of(const rd_kafka_message_t& m) const {
    rd_kafka_headers_t* hdrs = nullptr;
    const void* p = nullptr;
    const void* o = nullptr;
    std::size_t psize = 0;
    std::size_t osize = 0;
    std::optional<std::int64_t> partition;
    std::optional<std::int64_t> offset;
    if (rd_kafka_message_headers(&m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hdrs, lanes_partition_header.data(), &p, &psize) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hdrs, lanes_offset_header.data(), &o, &osize) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
      partition = parse_decimal({static_cast<const char*>(p), psize});
      offset = parse_decimal({static_cast<const char*>(o), osize});
    }
    if (!partition || !offset || *partition < 0 || *offset < 0 ||
        *partition >= static_cast<std::int64_t>(lanes_partitions_)) {
      throw session_error("Kafka topic '" + c_.kafka_topic + "' partition " +
                              std::to_string(m.partition) + " offset " + std::to_string(m.offset) +
                              " has no valid lanes.partition/lanes.offset header: another "
                              "producer writes to it; mirror into a Kafka topic of its own",
                          true);
    }
    return {static_cast<std::uint32_t>(*partition), static_cast<std::uint64_t>(*offset)};
  }

  // A record found in Kafka partition j at open: where its lanes partition resumes.
  void note_in_kafka(const rd_kafka_message_t& m, std::int32_t j,
                     std::vector<std::optional<std::uint64_t>>& resume) {
    const lanes_position pos = position_of(m);
    if (direct_) {
      if (pos.partition != static_cast<std::uint32_t>(j)) {
        throw session_error("Kafka topic '" + c_.kafka_topic + "' partition " + std::to_string(j) +
                                " ends with a record of lanes partition " +
                                std::to_string(pos.partition) +
                                ": it was mirrored with another partition count",
                            true);
      }
      resume[pos.partition] = pos.offset + 1;
    } else {
      auto& last = in_kafka_[pos.partition][static_cast<std::size_t>(j)];
      last = std::max(last, static_cast<std::int64_t>(pos.offset));
    }
  }

  // Per lanes partition, the first offset Kafka does not have (nothing: from the start).
  std::vector<std::optional<std::uint64_t>> find_resume() {
    std::vector<std::optional<std::uint64_t>> resume(lanes_partitions_);
    if (!direct_)
      in_kafka_.assign(lanes_partitions_, std::vector<std::int64_t>(kafka_partitions_, -1));
    client_ptr reader;  // made only when there is something to read
    for (std::int32_t j = 0; j < kafka_partitions_; ++j) {
      const auto [lo, hi] = watermarks(producer_.get(), c_.kafka_topic, j, c_);
      if (hi <= lo) continue;
      if (!reader) {
        reader = make_client(RD_KAFKA_CONSUMER, c_,
                             {{"group.id", group_of(c_)},
                              {"enable.auto.commit", "false"},
                              {"enable.partition.eof", "false"}});
      }
      read_range(reader.get(), c_.kafka_topic, j, direct_ ? std::max(lo, hi - 1) : lo, hi, c_,
                 [&](const rd_kafka_message_t& m) { note_in_kafka(m, j, resume); });
    }
    if (!direct_) {
      for (std::uint32_t i = 0; i < lanes_partitions_; ++i) {
        std::int64_t lowest = INT64_MAX;
        for (const std::int64_t last : in_kafka_[i]) lowest = std::min(lowest, last);
        if (lowest >= 0) resume[i] = static_cast<std::uint64_t>(lowest) + 1;
      }
    }
    return resume;
  }

  void subscribe_lanes(const std::vector<std::optional<std::uint64_t>>& resume,
                       const topic_info& info) {
    consumer_config cc;
    cc.group = group_of(c_);
    cc.auto_commit = false;
    cc.reset = offset_reset::earliest;
    if (c_.max_records_per_second != 0)  // a poll hands out about 10 ms worth of records
      cc.max_poll_records = std::clamp<std::size_t>(c_.max_records_per_second / 100, 1, 500);
    errc e = errc::ok;
    consumer_ = bus_.make_consumer(cc, &e);
    std::vector<topic_partition> tps;
    for (std::uint32_t i = 0; i < lanes_partitions_; ++i) tps.push_back({c_.lanes_topic, i});
    if (e == errc::ok) e = consumer_.assign(tps);
    for (std::uint32_t i = 0; e == errc::ok && i < lanes_partitions_; ++i) {
      const std::uint64_t end = info.partitions[i].end_offset;
      if (resume[i] && *resume[i] > end) {
        throw session_error("Kafka topic '" + c_.kafka_topic + "' has lanes partition " +
                                std::to_string(i) + " up to offset " +
                                std::to_string(*resume[i] - 1) + " but the lanes log ends at " +
                                std::to_string(end) +
                                ": the lanes log lost records that Kafka has (or another "
                                "lanes topic was mirrored there)",
                            true);
      }
      e = resume[i] ? consumer_.seek(tps[i], *resume[i]) : consumer_.seek_to_beginning(tps[i]);
    }
    if (e != errc::ok)
      throw session_error("reading lanes topic '" + c_.lanes_topic + "': " + to_string(e), true);
  }

  void commit_acked() {
    for (std::uint32_t i = 0; i < lanes_partitions_; ++i) {
      const auto acked = windows_[i].acked();
      if (acked && *acked != committed_[i]) {
        if (consumer_.commit({c_.lanes_topic, i}, *acked) == errc::ok) committed_[i] = *acked;
      }
    }
  }

  void report() {
    shared_.add_done(done_records_, done_bytes_, skipped_);
    done_records_ = done_bytes_ = skipped_ = 0;
    std::int64_t lag = 0;
    for (std::uint32_t i = 0; i < lanes_partitions_; ++i) {
      const std::int64_t l = consumer_.lag({c_.lanes_topic, i});
      if (l > 0) lag += l;
    }
    shared_.set_progress(lag, in_flight_);
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_commit_) {
      if (committed_.size() != lanes_partitions_) committed_.assign(lanes_partitions_, ~0ull);
      commit_acked();
      next_commit_ = now + std::chrono::seconds(1);
    }
  }

  payload_pool pool_;  // before producer_: outlives every message the producer still holds
  client_ptr producer_;
  topic_ptr topic_;
  consumer consumer_;
  std::uint32_t lanes_partitions_ = 0;
  std::int32_t kafka_partitions_ = 0;
  bool direct_ = true;
  // Unequal partition counts: [lanes partition][Kafka partition] the highest lanes offset
  // Kafka had there at open (-1: none).
  std::vector<std::vector<std::int64_t>> in_kafka_;
  std::vector<ack_window> windows_;
  std::vector<std::uint64_t> committed_;
  std::chrono::steady_clock::time_point next_commit_{};
  std::uint64_t in_flight_ = 0;
  std::uint64_t handled_ = 0;
  std::uint64_t done_records_ = 0;
  std::uint64_t done_bytes_ = 0;
  std::uint64_t skipped_ = 0;
  std::string failure_;
  bool failure_permanent_ = false;
  bool drained_ = false;  // drain ran: it waited for what was in flight as long as allowed
};

}  // namespace

std::unique_ptr<session> make_to_kafka_session(bus& b, const bridge_config& c, bridge_shared& s) {
  return std::make_unique<to_kafka>(b, c, s);
}

}  // namespace lanes::kafka::detail
