// connect/postgres/cdc_stream.cpp: the replication stream into lanes topics (lanes/cdc.hpp).
//
// A transaction's changes are collected between Begin and Commit, then published (each with
// pg.lsn, pg.seq, pg.xid headers), then waited for on disk, then confirmed to the server.
// Before writing to a partition for the first time, the stream reads that partition's last
// record: records of a transaction replayed after a restart at or below its (lsn, seq) are
// already there and are skipped.
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lanes/cdc.hpp"
#include "lanes/cdc_envelope.hpp"
#include "lanes/pgoutput.hpp"
#include "replication_connection.hpp"

namespace lanes::cdc {

namespace {

using position = std::pair<std::uint64_t, std::uint64_t>;  // (commit lsn, seq)

struct pending_record {
  std::string topic;
  std::string key;  // empty: no key (truncate goes to partition 0)
  std::string value;
};

// (pg.lsn, pg.seq) of a partition's last record, or (0, 0) when it has none.
position last_position(lanes::bus& bus, const std::string& topic, std::uint32_t partition,
                       std::uint64_t end) {
  if (end == 0) return {0, 0};
  lanes::consumer_config cc;
  cc.read_durable_only = true;
  lanes::consumer c = bus.make_consumer(cc);
  const lanes::topic_partition tp{topic, partition};
  if (c.assign(std::span<const lanes::topic_partition>(&tp, 1)) != errc::ok ||
      c.seek(tp, end - 1) != errc::ok) {
    throw cdc_error("cannot read the last record of " + topic + "/" + std::to_string(partition));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    const lanes::poll_result r = c.poll(std::chrono::milliseconds(100));
    if (r.status != errc::ok) {
      throw cdc_error("cannot read the last record of " + topic + "/" + std::to_string(partition) +
                      ": " + std::string(to_string(r.status)));
    }
    for (const lanes::record_view& v : r.records) {
      if (v.offset != end - 1) continue;
      position p{0, 0};
      for (const lanes::header h : v.headers) {
        if (h.name == "pg.lsn") p.first = std::stoull(std::string(h.value));
        if (h.name == "pg.seq") p.second = std::stoull(std::string(h.value));
      }
      return p;
    }
  }
  throw cdc_error("timed out reading the last record of " + topic + "/" +
                  std::to_string(partition));
}

}  // namespace

struct cdc_stream::impl {
  lanes::bus& bus;
  cdc_config cfg;
  relations rels;
  std::map<std::string, lanes::producer> producers;                // by topic
  std::map<std::pair<std::string, std::uint32_t>, position> last;  // what a partition holds
  mutable std::mutex stats_mu;
  cdc_stats st;

  // The transaction being collected.
  std::optional<begin_message> txn;
  std::vector<pending_record> records;

  impl(lanes::bus& b, cdc_config c) : bus(b), cfg(std::move(c)) {}

  std::string topic_of(const relation& r) const {
    return cfg.topic_prefix + "." + r.schema + "." + r.table;
  }

  lanes::producer& producer_for(const std::string& topic) {
    auto it = producers.find(topic);
    if (it != producers.end()) return it->second;
    if (!bus.describe_topic(topic)) {
      lanes::topic_config tc;
      tc.partitions = cfg.partitions;
      tc.durable = cfg.durability;
      const errc e = bus.create_topic(topic, tc);
      if (e != errc::ok && e != errc::topic_exists) {
        throw cdc_error("cannot create topic " + topic + ": " + std::string(to_string(e)));
      }
    }
    const auto info = bus.describe_topic(topic);
    if (!info) {
      throw cdc_error("cannot create topic " + topic +
                      ": a directory of that name is in the data directory but is not a topic");
    }
    for (const lanes::partition_stats& p : info->partitions) {
      last[{topic, p.partition}] = last_position(bus, topic, p.partition, p.end_offset);
    }
    return producers.emplace(topic, bus.make_producer(topic)).first->second;
  }

  void on_change(const change_message& c) {
    const relation& r = rels.at(c.relation);
    const row& image = c.after ? *c.after : *c.before;
    records.push_back({topic_of(r), key_of(r, image), change_envelope(r, c, source())});
  }

  source_info source() const { return {txn->final_lsn, txn->xid, txn->commit_time_us}; }

  // Publishes the collected transaction, waits until it is on disk; returns rows written.
  void write_transaction(const commit_message& c, replication_connection& conn) {
    std::map<std::pair<lanes::producer*, std::uint32_t>, std::uint64_t> tail;  // last offsets
    const std::string lsn = std::to_string(c.commit_lsn);
    std::uint64_t written = 0, skipped = 0;
    for (std::size_t seq = 0; seq < records.size(); ++seq) {
      pending_record& rec = records[seq];
      lanes::producer& p = producer_for(rec.topic);
      const std::string seq_text = std::to_string(seq);
      const std::string xid = std::to_string(txn->xid);
      const lanes::header h[] = {{"pg.lsn", lsn}, {"pg.seq", seq_text}, {"pg.xid", xid}};
      lanes::publish_options o;
      o.headers = h;
      o.timestamp_ns = pg_time_to_unix_ms(c.commit_time_us) * 1'000'000;
      const std::uint32_t partition = rec.key.empty() ? 0 : bus_partition(rec.topic, rec.key);
      o.partition = partition;
      position& have = last[{rec.topic, partition}];
      const position mine{c.commit_lsn, seq};
      if (mine <= have) {
        ++skipped;  // written before a restart
        continue;
      }
      const lanes::publish_result r = p.publish(
          rec.key.empty() ? lanes::message_key{} : lanes::message_key(rec.key), rec.value, o);
      if (!r) {
        throw cdc_error("cannot publish to " + rec.topic + ": " + std::string(to_string(r.status)));
      }
      have = mine;
      tail[{&p, r.partition}] = r.offset;
      ++written;
    }
    for (const auto& [pp, offset] : tail) {
      const errc e = pp.first->wait_durable(pp.second, offset, std::chrono::seconds(60));
      if (e != errc::ok) {
        throw cdc_error("records of transaction " + std::to_string(txn->xid) +
                        " did not reach the disk: " + std::string(to_string(e)));
      }
    }
    conn.confirm(c.end_lsn);
    std::lock_guard lock(stats_mu);
    ++st.transactions;
    st.rows += written;
    st.skipped += skipped;
    st.confirmed_lsn = c.end_lsn;
  }

  // The partition the bus's partitioner picks for a key (so that the skip check looks at the
  // partition the record goes to).
  std::uint32_t bus_partition(const std::string& topic, const std::string& key) {
    const auto info = bus.describe_topic(topic);
    if (!info) throw cdc_error("topic " + topic + " was deleted while lanes cdc wrote to it");
    return lanes::partitioner(info->config.partitions).for_key(key);
  }

  void on_message(const pgoutput_message& m, replication_connection& conn) {
    if (const auto* b = std::get_if<begin_message>(&m)) {
      txn = *b;
      records.clear();
    } else if (const auto* c = std::get_if<change_message>(&m)) {
      if (!txn) throw cdc_error("a row change outside a transaction");
      on_change(*c);
    } else if (const auto* t = std::get_if<truncate_message>(&m)) {
      if (!txn) throw cdc_error("a truncate outside a transaction");
      for (const std::uint32_t oid : t->relations) {
        const relation& r = rels.at(oid);
        records.push_back({topic_of(r), {}, truncate_envelope(r, source())});
      }
    } else if (const auto* cm = std::get_if<commit_message>(&m)) {
      if (!txn) throw cdc_error("a commit without its begin");
      write_transaction(*cm, conn);
      txn.reset();
      records.clear();
    }
  }
};

cdc_stream::cdc_stream(lanes::bus& bus, cdc_config config) {
  if (config.dsn.empty() || config.publication.empty() || config.slot.empty()) {
    throw cdc_error("cdc needs a DSN, a publication and a slot");
  }
  if (config.durability == lanes::durability::none) {
    throw cdc_error("cdc topics must be durable (async or sync): exactly once depends on it");
  }
  if (config.partitions == 0) throw cdc_error("cdc: partitions must be at least 1");
  impl_ = new impl(bus, std::move(config));
}

cdc_stream::~cdc_stream() { delete impl_; }

cdc_stats cdc_stream::stats() const noexcept {
  std::lock_guard lock(impl_->stats_mu);
  return impl_->st;
}

void cdc_stream::run(const std::atomic<bool>& stop) {
  impl& s = *impl_;
  replication_connection conn(s.cfg.dsn);
  conn.prepare(s.cfg.publication, s.cfg.slot);
  conn.start(s.cfg.publication, s.cfg.slot);
  auto next_status = std::chrono::steady_clock::now() + s.cfg.status_interval;
  std::string msg;
  while (!stop.load(std::memory_order_relaxed)) {
    std::uint64_t wal_end = 0;
    if (conn.next(msg, wal_end, std::chrono::milliseconds(100))) {
      try {
        s.on_message(decode(msg, s.rels), conn);
      } catch (const decode_error& e) {
        throw cdc_error(e.what());
      }
    }
    {
      std::lock_guard lock(s.stats_mu);
      s.st.received_lsn = std::max(s.st.received_lsn, wal_end);
    }
    if (std::chrono::steady_clock::now() >= next_status) {
      conn.confirm(0);  // a status update with what is already confirmed
      next_status = std::chrono::steady_clock::now() + s.cfg.status_interval;
    }
  }
}

}  // namespace lanes::cdc
