// connect/postgres/initial_snapshot.cpp: see initial_snapshot.hpp.
#include "initial_snapshot.hpp"

#include <libpq-fe.h>

#include <chrono>
#include <set>
#include <vector>

#include "sql_connection.hpp"

namespace lanes::cdc {

namespace {

constexpr int fetch_rows = 1000;

struct published_table {
  std::string schema, table, columns, row_filter;  // columns: quoted, comma-separated
  char replica_identity = 'd';
};

std::vector<published_table> published_tables(sql_connection& db, const std::string& pub) {
  pg_result_ptr r(nullptr);
  db.run(
      "SELECT t.schemaname, t.tablename, (SELECT string_agg(quote_ident(a), ', ' ORDER BY o) "
      "FROM unnest(t.attnames) WITH ORDINALITY AS u(a, o)), coalesce(t.rowfilter, ''), "
      "c.relreplident::text FROM pg_publication_tables t JOIN pg_class c ON c.oid = "
      "format('%I.%I', t.schemaname, t.tablename)::regclass WHERE t.pubname = " +
          quote_literal(db.raw(), pub) + " ORDER BY 1, 2",
      r);
  std::vector<published_table> out;
  for (int i = 0; i < PQntuples(r.r); ++i) {
    out.push_back({PQgetvalue(r.r, i, 0), PQgetvalue(r.r, i, 1), PQgetvalue(r.r, i, 2),
                   PQgetvalue(r.r, i, 3), PQgetvalue(r.r, i, 4)[0]});
  }
  return out;
}

// The replica identity's columns, as pgoutput flags them (FULL: every column).
std::set<std::string> key_columns(sql_connection& db, const published_table& t) {
  const std::string table = quote_literal(
      db.raw(), quote_ident(db.raw(), t.schema) + "." + quote_ident(db.raw(), t.table));
  pg_result_ptr r(nullptr);
  db.run(
      "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE "
      "a.attrelid = " +
          table +
          "::regclass AND a.attnum > 0 AND NOT a.attisdropped AND (c.relreplident = 'f' OR "
          "a.attnum = ANY ((SELECT i.indkey FROM pg_index i WHERE i.indrelid = c.oid AND CASE "
          "WHEN c.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary END)::int2[]))",
      r);
  std::set<std::string> out;
  for (int i = 0; i < PQntuples(r.r); ++i) out.insert(PQgetvalue(r.r, i, 0));
  return out;
}

// One table through a cursor; false when stopped.
bool read_table(sql_connection& db, const published_table& t, const std::atomic<bool>& stop,
                const std::function<void(const relation&, const row&)>& each_row) {
  const std::set<std::string> keys = key_columns(db, t);
  pg_result_ptr r(nullptr);
  db.run("DECLARE lanes_cdc_snapshot NO SCROLL CURSOR FOR SELECT " + t.columns + " FROM " +
             quote_ident(db.raw(), t.schema) + "." + quote_ident(db.raw(), t.table) +
             (t.row_filter.empty() ? "" : " WHERE " + t.row_filter),
         r);
  relation rel;
  rel.schema = t.schema;
  rel.table = t.table;
  rel.replica_identity = t.replica_identity;
  row values;
  for (;;) {
    if (stop.load(std::memory_order_relaxed)) return false;
    db.run("FETCH " + std::to_string(fetch_rows) + " FROM lanes_cdc_snapshot", r);
    const int rows = PQntuples(r.r), cols = PQnfields(r.r);
    if (rows == 0) break;
    if (rel.columns.empty()) {
      for (int c = 0; c < cols; ++c) {
        const std::string name = PQfname(r.r, c);
        rel.columns.push_back({name, PQftype(r.r, c), PQfmod(r.r, c), keys.count(name) > 0});
      }
    }
    values.resize(static_cast<std::size_t>(cols));
    for (int i = 0; i < rows; ++i) {
      for (int c = 0; c < cols; ++c) {
        value& v = values[static_cast<std::size_t>(c)];
        v.what = PQgetisnull(r.r, i, c) != 0 ? value::kind::null : value::kind::text;
        v.text.assign(PQgetvalue(r.r, i, c), static_cast<std::size_t>(PQgetlength(r.r, i, c)));
      }
      each_row(rel, values);
    }
  }
  db.run("CLOSE lanes_cdc_snapshot", r);
  return true;
}

}  // namespace

bool read_snapshot(const cdc_config& config, const std::string& snapshot,
                   const std::atomic<bool>& stop,
                   const std::function<void(const relation&, const row&)>& each_row) {
  sql_connection db(config.dsn);
  pg_result_ptr r(nullptr);
  db.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", r);
  db.run("SET TRANSACTION SNAPSHOT " + quote_literal(db.raw(), snapshot), r);
  for (const published_table& t : published_tables(db, config.publication)) {
    if (!read_table(db, t, stop, each_row)) return false;
  }
  db.run("COMMIT", r);
  return true;
}

std::string snapshot_topic(const cdc_config& config) {
  return config.topic_prefix + ".__cdc_snapshot";
}

snapshot_state last_snapshot_state(lanes::bus& bus, const cdc_config& config) {
  const std::string topic = snapshot_topic(config);
  const auto info = bus.describe_topic(topic);
  if (!info || info->partitions.empty()) return snapshot_state::none;
  const std::uint64_t end = info->partitions[0].end_offset;
  lanes::consumer_config cc;
  cc.read_durable_only = true;
  lanes::consumer c = bus.make_consumer(cc);
  const lanes::topic_partition tp{topic, 0};
  if (c.assign(std::span<const lanes::topic_partition>(&tp, 1)) != errc::ok ||
      c.seek_to_beginning(tp) != errc::ok) {
    throw cdc_error("cannot read " + topic);
  }
  snapshot_state state = snapshot_state::none;
  std::uint64_t next = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (next < end) {
    if (std::chrono::steady_clock::now() > deadline) throw cdc_error("timed out reading " + topic);
    const lanes::poll_result res = c.poll(std::chrono::milliseconds(100));
    if (res.status != errc::ok) {
      throw cdc_error("cannot read " + topic + ": " + std::string(to_string(res.status)));
    }
    for (const lanes::record_view& v : res.records) {
      next = v.offset + 1;
      if (!v.has_key || v.key != config.slot) continue;
      const auto doc = nlohmann::json::parse(v.value, nullptr, false);
      const bool done = doc.is_object() && doc.value("state", "") == "done";
      state = done ? snapshot_state::done : snapshot_state::started;
    }
  }
  return state;
}

void record_snapshot_state(lanes::bus& bus, const cdc_config& config, snapshot_state state,
                           nlohmann::ordered_json more) {
  const std::string topic = snapshot_topic(config);
  lanes::topic_config tc;
  tc.partitions = 1;
  tc.durable = lanes::durability::sync;
  const errc created = bus.create_topic(topic, tc);
  if (created != errc::ok && created != errc::topic_exists) {
    throw cdc_error("cannot create topic " + topic + ": " + std::string(to_string(created)));
  }
  nlohmann::ordered_json v = {{"slot", config.slot},
                              {"state", state == snapshot_state::done ? "done" : "started"}};
  v.update(more);
  lanes::publish_options o;
  o.durable = true;
  const lanes::publish_result r = bus.make_producer(topic).publish(config.slot, v.dump(), o);
  if (!r) {
    throw cdc_error("cannot record the snapshot's state in " + topic + ": " +
                    std::string(to_string(r.status)));
  }
}

}  // namespace lanes::cdc
