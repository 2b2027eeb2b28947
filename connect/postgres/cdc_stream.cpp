// connect/postgres/cdc_stream.cpp: the replication stream into lanes topics (lanes/cdc.hpp).
//
// A transaction's changes are collected between Begin and Commit, then published (each with
// pg.lsn, pg.seq, pg.xid headers); the stream reads on while the persister writes them, and
// confirms to the server, in commit order, each transaction whose records are all on disk
// (checked at every commit and when the connection is idle; at most max_unconfirmed
// transactions wait, then the stream waits for the oldest).
// Before writing to a partition for the first time, the stream reads that partition's last
// record: records of a transaction replayed after a restart at or below its (lsn, seq) are
// already there and are skipped. A new slot may first take the initial snapshot
// (initial_snapshot.hpp): its rows are op "r" records without pg.lsn, below every change.
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "initial_snapshot.hpp"
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

// The last offset written to each (producer, partition).
using tails = std::map<std::pair<lanes::producer*, std::uint32_t>, std::uint64_t>;

// True once every partition's records up to its tail are on disk, waiting at most `wait` for
// each; false when one is not yet (timeout). Throws with `what` on any other error. `wake`:
// a partition not on disk yet wakes the persister (wait_durable), which also reports a failed
// log; without it, only the durable watermark is read (producer::durable_offset).
template <class What>
bool on_disk(const tails& tail, std::chrono::nanoseconds wait, What what, bool wake = true) {
  for (const auto& [pp, offset] : tail) {
    if (pp.first->durable_offset(pp.second) > offset) continue;
    if (!wake) return false;
    const errc e = pp.first->wait_durable(pp.second, offset, wait);
    if (e == errc::timeout && wait == std::chrono::nanoseconds::zero()) return false;
    if (e != errc::ok) {
      throw cdc_error(what() + " did not reach the disk: " + std::string(to_string(e)));
    }
  }
  return true;
}

// Waits until every partition's records up to its tail are on disk (60 s at most each).
void wait_on_disk(const tails& tail, const std::string& what) {
  (void)on_disk(tail, std::chrono::seconds(60), [&] { return what; });
}

// A transaction published to lanes, not yet confirmed to the server.
struct unconfirmed_txn {
  std::uint64_t end_lsn = 0;
  std::uint32_t xid = 0;
  std::int64_t commit_us = 0;  // Unix time
  tails tail;
  std::uint64_t written = 0;
  std::uint64_t skipped = 0;
};

// Published but unconfirmed transactions kept before the stream waits for the oldest.
constexpr std::size_t max_unconfirmed = 1024;
// While changes stream in, transactions on disk are confirmed at most this often (each status
// update costs the server's walsender a slot update); when the connection is idle, at once.
constexpr std::chrono::milliseconds confirm_interval{10};

// Transactions on disk, not yet confirmed to the server: what they add to cdc_stats.
struct durable_unsent {
  std::uint64_t end_lsn = 0;  // the last one's; 0: none
  std::int64_t commit_us = 0;
  std::uint64_t transactions = 0;
  std::uint64_t rows = 0;
  std::uint64_t skipped = 0;
};

}  // namespace

struct cdc_stream::impl {
  lanes::bus& bus;
  cdc_config cfg;
  relations rels;
  std::map<std::string, lanes::producer> producers;                // by topic
  std::map<std::string, std::uint32_t> partition_counts;           // by topic
  std::map<std::pair<std::string, std::uint32_t>, position> last;  // what a partition holds
  mutable std::mutex stats_mu;
  cdc_stats st;
  std::int64_t in_hand_commit_us = 0;       // the oldest unconfirmed commit time (Unix); 0: none
  std::int64_t collecting_commit_us = 0;    // the transaction being collected's; 0: none
  std::deque<unconfirmed_txn> unconfirmed;  // in commit order
  durable_unsent unsent;
  std::chrono::steady_clock::time_point next_confirm{};

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
    partition_counts[topic] = info->config.partitions;
    return producers.emplace(topic, bus.make_producer(topic)).first->second;
  }

  void on_change(const change_message& c) {
    const relation& r = rels.at(c.relation);
    const row& image = c.after ? *c.after : *c.before;
    std::string key = key_of(r, image);
    if (c.op == 'u' && c.before) {
      // A key change, as Debezium emits it: the row leaves its old key (a delete there, and
      // its tombstone when asked) and arrives under the new one (a create), so that a reader
      // keeping the latest value per key drops the old row.
      std::string old_key = key_of(r, *c.before);
      if (old_key != key) {
        change_message gone{'d', c.relation, c.before, c.before_kind, std::nullopt};
        add_change(r, gone, std::move(old_key));
        change_message arrived{'c', c.relation, std::nullopt, 0, c.after};
        add_change(r, arrived, std::move(key));
        return;
      }
    }
    add_change(r, c, std::move(key));
  }

  void add_change(const relation& r, const change_message& c, std::string key) {
    records.push_back({topic_of(r), std::move(key), change_envelope(r, c, source())});
    if (c.op == 'd' && cfg.tombstones) records.push_back({topic_of(r), records.back().key, {}});
  }

  source_info source() const { return {txn->final_lsn, txn->xid, txn->commit_time_us}; }

  // Publishes the collected transaction; confirms what is on disk by now.
  void write_transaction(const commit_message& c, replication_connection& conn) {
    tails tail;
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
    unconfirmed.push_back({c.end_lsn, txn->xid, pg_time_to_unix_ms(c.commit_time_us) * 1000,
                           std::move(tail), written, skipped});
    collecting_commit_us = 0;
    // While changes stream in, look only when a confirmation is due (or too many wait).
    const bool full = unconfirmed.size() > max_unconfirmed;
    if (full || std::chrono::steady_clock::now() >= next_confirm)
      confirm_durable(conn, full, false);
  }

  // Confirms to the server the transactions, oldest first, whose records are on disk: with
  // `wait_oldest`, waits (60 s at most) for the oldest first; with `now`, sends at once, else
  // at most every confirm_interval.
  void confirm_durable(replication_connection& conn, bool wait_oldest, bool now) {
    bool waited = !wait_oldest;
    while (!unconfirmed.empty()) {
      const unconfirmed_txn& u = unconfirmed.front();
      const auto wait = waited ? std::chrono::nanoseconds::zero()
                               : std::chrono::nanoseconds(std::chrono::seconds(60));
      // While changes stream in (not `now`), only the watermark is read; idle or stopping,
      // the persister is woken to write now, and a failed log is reported.
      if (!on_disk(
              u.tail, wait, [&] { return "records of transaction " + std::to_string(u.xid); },
              now || wait != std::chrono::nanoseconds::zero())) {
        break;
      }
      waited = true;
      unsent.end_lsn = u.end_lsn;
      unsent.commit_us = u.commit_us;
      ++unsent.transactions;
      unsent.rows += u.written;
      unsent.skipped += u.skipped;
      unconfirmed.pop_front();
    }
    const auto t = std::chrono::steady_clock::now();
    if (unsent.end_lsn == 0 || (!now && t < next_confirm)) return;
    conn.confirm(unsent.end_lsn);
    next_confirm = t + confirm_interval;
    std::lock_guard lock(stats_mu);
    st.lag_seconds = seconds_since(unsent.commit_us);
    st.transactions += unsent.transactions;
    st.rows += unsent.rows;
    st.skipped += unsent.skipped;
    st.confirmed_lsn = unsent.end_lsn;
    unsent = {};
    in_hand_commit_us = unconfirmed.empty() ? collecting_commit_us : unconfirmed.front().commit_us;
  }
  bool confirm_pending() const { return !unconfirmed.empty() || unsent.end_lsn != 0; }

  // The partition the bus's partitioner picks for a key (so that the skip check looks at the
  // partition the record goes to).
  // Per record: the partition count noted when the topic was opened (describe_topic
  // allocates a whole topic_info; a topic deleted meanwhile fails the publish instead).
  std::uint32_t bus_partition(const std::string& topic, const std::string& key) {
    const auto it = partition_counts.find(topic);
    if (it == partition_counts.end()) throw cdc_error("topic " + topic + " was never opened");
    return lanes::partitioner(it->second).for_key(key);
  }

  static double seconds_since(std::int64_t unix_us) {
    const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    return now > unix_us ? static_cast<double>(now - unix_us) / 1e6 : 0.0;
  }

  // Writes every published row of the exported snapshot (op "r"), waits until they are on
  // disk, then records the snapshot as done. False when `stop` came first.
  bool take_snapshot(const replication_connection::created_slot& slot,
                     const std::atomic<bool>& stop) {
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const source_info src{slot.consistent_point, 0, now_us - std::int64_t{946684800} * 1'000'000};
    const lanes::header h[] = {{"pg.snapshot", slot.snapshot}};
    lanes::publish_options o;
    o.headers = h;
    tails tail;
    std::uint64_t rows = 0;
    const bool complete =
        read_snapshot(cfg, slot.snapshot, stop, [&](const relation& r, const row& values) {
          const std::string topic = topic_of(r);
          lanes::producer& p = producer_for(topic);
          const lanes::publish_result res =
              p.publish(key_of(r, values), read_envelope(r, values, src), o);
          if (!res) {
            throw cdc_error("cannot publish to " + topic + ": " +
                            std::string(to_string(res.status)));
          }
          tail[{&p, res.partition}] = res.offset;
          ++rows;
          std::lock_guard lock(stats_mu);
          ++st.snapshot_rows;
          ++st.rows;
        });
    if (!complete) return false;
    wait_on_disk(tail, "the snapshot's records");
    record_snapshot_state(bus, cfg, snapshot_state::done,
                          {{"snapshot", slot.snapshot},
                           {"consistent_point", lsn_text(slot.consistent_point)},
                           {"rows", rows}});
    return true;
  }

  // Checks the source, finds or creates the slot and takes the snapshot when it is due.
  // False when `stop` came during the snapshot.
  bool prepare(replication_connection& conn, const std::atomic<bool>& stop) {
    conn.check_source(cfg.publication);
    bool exists = conn.slot_exists(cfg.slot);
    const bool initial = cfg.snapshot == snapshot_mode::initial;
    if (exists && initial && last_snapshot_state(bus, cfg) == snapshot_state::started) {
      // A run died or stopped mid-snapshot: its slot's snapshot is gone; take a new one.
      conn.drop_slot(cfg.slot);
      exists = false;
      std::lock_guard lock(stats_mu);
      st.snapshot_retaken = true;
    }
    if (exists) return true;
    // "started" is on disk before the slot exists: a crash in between is never mistaken for
    // a slot that needs no snapshot.
    if (initial) record_snapshot_state(bus, cfg, snapshot_state::started);
    const auto created = conn.create_slot(cfg.slot, initial);
    return !initial || take_snapshot(created, stop);
  }

  void on_message(const pgoutput_message& m, replication_connection& conn) {
    if (const auto* b = std::get_if<begin_message>(&m)) {
      txn = *b;
      records.clear();
      collecting_commit_us = pg_time_to_unix_ms(b->commit_time_us) * 1000;
      std::lock_guard lock(stats_mu);
      if (unconfirmed.empty()) in_hand_commit_us = collecting_commit_us;
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
  cdc_stats out = impl_->st;
  if (impl_->in_hand_commit_us != 0) {
    out.lag_seconds = impl::seconds_since(impl_->in_hand_commit_us);
  }
  return out;
}

void cdc_stream::run(const std::atomic<bool>& stop) {
  impl& s = *impl_;
  replication_connection conn(s.cfg.dsn);
  if (!s.prepare(conn, stop)) return;
  conn.start(s.cfg.publication, s.cfg.slot);
  {
    std::lock_guard lock(s.stats_mu);
    s.st.streaming = true;
  }
  auto next_status = std::chrono::steady_clock::now() + s.cfg.status_interval;
  std::string msg;
  while (!stop.load(std::memory_order_relaxed)) {
    std::uint64_t wal_end = 0;
    // While transactions wait for the disk, look again every millisecond.
    const auto wait = std::chrono::milliseconds(s.confirm_pending() ? 1 : 100);
    if (conn.next(msg, wal_end, wait)) {
      try {
        s.on_message(decode(msg, s.rels), conn);
      } catch (const decode_error& e) {
        throw cdc_error(e.what());
      }
    } else if (s.confirm_pending()) {
      s.confirm_durable(conn, false, true);
    }
    {
      std::lock_guard lock(s.stats_mu);
      s.st.received_lsn = std::max(s.st.received_lsn, wal_end);
    }
    if (std::chrono::steady_clock::now() >= next_status) {
      // With no transaction being collected and none waiting for the disk or its
      // confirmation, every one the server decoded below its last keepalive is confirmed, so
      // that position is confirmed too: the slot then releases WAL of tables outside the
      // publication, which an idle publication on a busy database would otherwise hold
      // forever (as pg_recvlogical and PostgreSQL's own subscribers do). Otherwise, only
      // what is confirmed already.
      const std::uint64_t idle = s.txn || s.confirm_pending() ? 0 : conn.keepalive_position();
      conn.confirm(idle);
      if (idle != 0) {
        std::lock_guard lock(s.stats_mu);
        s.st.confirmed_lsn = std::max(s.st.confirmed_lsn, idle);
      }
      next_status = std::chrono::steady_clock::now() + s.cfg.status_interval;
    }
  }
  while (s.confirm_pending()) s.confirm_durable(conn, true, true);  // a clean stop confirms all
}

}  // namespace lanes::cdc
