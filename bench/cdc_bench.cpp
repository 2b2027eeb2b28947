// cdc_bench: change data capture from PostgreSQL 15 (issue 16, point 6), against a server this
// benchmark starts in a temporary directory (lanes_support/pg_server.hpp, as the tests do):
//   throughput  the same pre-written WAL (N transactions of M rows of a small table) read by
//               lanes::cdc::cdc_stream into a durable (async) lanes topic, until every row is
//               durable and its transaction confirmed to the server; against pg_recvlogical
//               reading the same WAL with pgoutput (proto_version 1) to /dev/null until the end
//               LSN (--endpos: it exits by itself). Each side has its own slot, both created
//               before the writes, fresh every round. Both timings run from the start of the
//               client (cdc_stream::run / the pg_recvlogical process) to the end: connecting,
//               the source checks and START_REPLICATION are included on both sides.
//   latency     a writer commits single-row transactions at a fixed rate while a cdc_stream
//               runs into a durable topic; a consumer polls; per row, the poll time minus the
//               time the writer's COMMIT returned (matched by id, same steady clock), for a
//               consumer of durable records only (the default) and one reading records as
//               soon as they are published (read_durable_only = false, same topic).
// Rounds interleave ours and the peer (which goes first alternates); ratios are per round,
// then their median with the min-max spread. Goal: >= 0.8x of pg_recvlogical.
// tools/cdc_bench_report.py renders the results into BENCHMARKS.md (tools/bench.sh --only cdc).
//   cdc_bench [--quick] [--reps N] [--out PATH]
#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench_bus.hpp"
#include "bench_common.hpp"
#include "lanes/cdc.hpp"
#include "lanes/lanes.hpp"
#include "lanes_support/histogram.hpp"
#include "lanes_support/json_file.hpp"
#include "lanes_support/ours_vs_peer.hpp"
#include "lanes_support/pg_server.hpp"
#include "lanes_support/run_info.hpp"

namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;
using lanes_bench::die;
using lanes_bench::seconds_since;

const std::string data_root = "/var/tmp/lanes-cdc-bench";  // a real disk, not tmpfs

// One libpq connection for the writes (autocommit: one statement, one transaction).
class pg_conn {
 public:
  explicit pg_conn(const std::string& dsn) : c_(PQconnectdb(dsn.c_str())) {
    if (PQstatus(c_) != CONNECTION_OK) die(std::string("connect: ") + PQerrorMessage(c_));
  }
  ~pg_conn() { PQfinish(c_); }
  pg_conn(const pg_conn&) = delete;
  pg_conn& operator=(const pg_conn&) = delete;
  void exec(const std::string& q) {
    PGresult* r = PQexec(c_, q.c_str());
    const auto st = PQresultStatus(r);
    PQclear(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) die("`" + q + "`: " + PQerrorMessage(c_));
  }

 private:
  PGconn* c_;
};

// A fresh bus on a fresh data directory, removed at the end.
struct data_dir {
  std::filesystem::path path;
  explicit data_dir(const std::string& name) : path(data_root + "/" + name) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~data_dir() { std::filesystem::remove_all(path); }
};

lanes::bus open_bus(const data_dir& d) { return lanes::bus(lanes_bench::bus_at(d.path)); }

// A cdc_stream's run() on a thread of its own, until finish().
class stream_thread {
 public:
  explicit stream_thread(lanes::cdc::cdc_stream& s)
      : t_([this, &s] {
          try {
            s.run(stop_);
          } catch (const std::exception& e) {
            error_ = e.what();
          }
          ended_.store(true, std::memory_order_release);  // error_ is written before
        }) {}
  stream_thread(const stream_thread&) = delete;
  stream_thread& operator=(const stream_thread&) = delete;
  ~stream_thread() { (void)finish(); }
  // Whether run() returned by itself (it failed, or stopped).
  bool ended() const { return ended_.load(std::memory_order_acquire); }
  // Stops the stream, waits for run(); its error, "" when none.
  std::string finish() {
    stop_ = true;
    if (t_.joinable()) t_.join();
    return error_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<bool> ended_{false};
  std::string error_;
  std::thread t_;  // last: starts once the members above exist
};

// Ours: a cdc_stream from its start until every one of `txns` transactions is durable in lanes
// and confirmed; rows/s over that time.
double ours_capture(const pg_test::server& s, const std::string& slot, std::uint64_t txns,
                    std::uint64_t rows) {
  data_dir d("throughput");
  lanes::bus b = open_bus(d);
  lanes::cdc::cdc_config c;
  c.dsn = s.dsn();
  c.publication = "p";
  c.slot = slot;
  c.snapshot = lanes::cdc::snapshot_mode::never;  // the slot exists: it streams from there
  const auto t0 = clock_type::now();
  lanes::cdc::cdc_stream stream(b, c);
  stream_thread running(stream);
  double took = 0;
  for (;;) {
    const lanes::cdc::cdc_stats st = stream.stats();
    if (st.transactions >= txns) {
      took = seconds_since(t0);
      if (st.rows != rows)
        die("lanes cdc wrote " + std::to_string(st.rows) + " rows, not " + std::to_string(rows));
      break;
    }
    if (running.ended()) die("lanes cdc: " + running.finish());
    if (seconds_since(t0) > 120)
      die("lanes cdc: timed out at " + std::to_string(st.rows) + " rows");
    std::this_thread::sleep_for(1ms);
  }
  if (const std::string e = running.finish(); !e.empty()) die("lanes cdc: " + e);
  return static_cast<double>(rows) / took;
}

// Peer: pg_recvlogical from its start until it exits at `end_lsn`; rows/s over that time.
double peer_capture(const pg_test::server& s, const std::string& slot, const std::string& end_lsn,
                    std::uint64_t rows) {
  const std::string bin = pg_test::pg_bin + "/pg_recvlogical";
  std::vector<std::string> args = {bin,
                                   "-d",
                                   s.dsn(),
                                   "--slot=" + slot,
                                   "--start",
                                   "--no-loop",
                                   "--endpos=" + end_lsn,
                                   "--plugin=pgoutput",
                                   "-o",
                                   "proto_version=1",
                                   "-o",
                                   "publication_names=p",
                                   "-f",
                                   "/dev/null"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto t0 = clock_type::now();
  const pid_t pid = ::fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    ::execv(bin.c_str(), argv.data());
    std::_Exit(127);
  }
  int status = 0;
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (seconds_since(t0) > 120) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      die("pg_recvlogical did not reach " + end_lsn + " in 120 s");
    }
    std::this_thread::sleep_for(1ms);
  }
  const double took = seconds_since(t0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("pg_recvlogical failed");
  return static_cast<double>(rows) / took;
}

struct throughput_round {
  double ours = 0;
  double peer = 0;
};

// Both slots, then N transactions of M rows, then each side reads them; slots dropped.
throughput_round capture_round(const pg_test::server& s, int round, std::uint64_t txns,
                               std::uint64_t per_txn) {
  s.sql("TRUNCATE t");
  s.sql("SELECT pg_create_logical_replication_slot('lanes_r', 'pgoutput')");
  s.sql("SELECT pg_create_logical_replication_slot('peer_r', 'pgoutput')");
  {
    pg_conn w(s.dsn());
    for (std::uint64_t i = 0; i < txns; ++i) {
      const std::uint64_t first = i * per_txn;
      w.exec("INSERT INTO t SELECT g, 'name ' || g, g % 1000 FROM generate_series(" +
             std::to_string(first) + ", " + std::to_string(first + per_txn - 1) + ") g");
    }
  }
  const std::string end_lsn = s.value("SELECT pg_current_wal_lsn()");
  const std::uint64_t rows = txns * per_txn;
  throughput_round r;
  if (round % 2 == 0) {
    r.ours = ours_capture(s, "lanes_r", txns, rows);
    r.peer = peer_capture(s, "peer_r", end_lsn, rows);
  } else {
    r.peer = peer_capture(s, "peer_r", end_lsn, rows);
    r.ours = ours_capture(s, "lanes_r", txns, rows);
  }
  s.sql("SELECT pg_drop_replication_slot('lanes_r')");
  s.sql("SELECT pg_drop_replication_slot('peer_r')");
  return r;
}

// The id in a record's key ("[17]").
std::int64_t key_id(std::string_view key) {
  if (key.size() < 3) return -1;
  return std::strtoll(std::string(key.substr(1, key.size() - 2)).c_str(), nullptr, 10);
}

// Polls `topic` partition 0 until `n` records, noting each id's poll time.
void poll_times(lanes::bus& b, bool durable_only, std::size_t n,
                std::vector<clock_type::time_point>& seen) {
  lanes::consumer_config cc;
  cc.read_durable_only = durable_only;
  lanes::consumer c = b.make_consumer(cc);
  const lanes::topic_partition tp{"cdc.public.lat", 0};
  if (c.assign(std::span<const lanes::topic_partition>(&tp, 1)) != lanes::errc::ok)
    die("cannot assign cdc.public.lat");
  (void)c.seek_to_beginning(tp);
  std::size_t got = 0;
  const auto deadline = clock_type::now() + 120s;
  while (got < n && clock_type::now() < deadline) {
    const lanes::poll_result r = c.poll(100ms);
    const auto now = clock_type::now();
    for (const lanes::record_view& v : r.records) {
      const std::int64_t id = key_id(v.key);
      if (id >= 0 && static_cast<std::size_t>(id) < seen.size()) seen[id] = now;
      ++got;
    }
  }
  if (got < n)
    die("latency: the consumer saw " + std::to_string(got) + " of " + std::to_string(n) +
        " records");
}

json latency_summary(const std::vector<clock_type::time_point>& commit,
                     const std::vector<clock_type::time_point>& seen) {
  lanes_support::log_linear_histogram<10, 40> h;
  std::uint64_t early = 0;
  for (std::size_t i = 0; i < commit.size(); ++i) {
    const auto d = std::chrono::duration_cast<std::chrono::nanoseconds>(seen[i] - commit[i]);
    if (d.count() < 0) ++early;  // polled before the writer's COMMIT returned
    h.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, d.count())));
  }
  return {{"count", h.count()},
          {"p50_us", h.value_at_percentile(50) / 1e3},
          {"p99_us", h.value_at_percentile(99) / 1e3},
          {"p999_us", h.value_at_percentile(99.9) / 1e3},
          {"max_us", h.max() / 1e3},
          {"polled_before_commit_returned", early}};
}

// The writer commits `n` single-row transactions at `rate`/s (each due at start + i/rate);
// the stream runs into a durable topic; two consumers poll it.
json latency_run(const pg_test::server& s, std::size_t n, int rate) {
  s.sql("SELECT pg_create_logical_replication_slot('lanes_lat', 'pgoutput')");
  data_dir d("latency");
  lanes::bus b = open_bus(d);
  lanes::topic_config tc;
  tc.durable = lanes::durability::async;
  if (b.create_topic("cdc.public.lat", tc) != lanes::errc::ok) die("create cdc.public.lat");
  lanes::cdc::cdc_config c;
  c.dsn = s.dsn();
  c.publication = "p";
  c.slot = "lanes_lat";
  c.snapshot = lanes::cdc::snapshot_mode::never;
  lanes::cdc::cdc_stream stream(b, c);
  stream_thread running(stream);
  std::vector<clock_type::time_point> commit(n), durable(n), memory(n);
  std::thread cd([&] { poll_times(b, true, n, durable); });
  std::thread cm([&] { poll_times(b, false, n, memory); });
  while (!stream.stats().streaming) {
    if (running.ended()) die("lanes cdc: " + running.finish());
    std::this_thread::sleep_for(1ms);
  }
  {
    pg_conn w(s.dsn());
    const auto start = clock_type::now() + 50ms;
    for (std::size_t i = 0; i < n; ++i) {
      std::this_thread::sleep_until(start + std::chrono::microseconds(i * 1'000'000 / rate));
      w.exec("INSERT INTO lat VALUES (" + std::to_string(i) + ", 0)");
      commit[i] = clock_type::now();
    }
  }
  cd.join();
  cm.join();
  if (const std::string e = running.finish(); !e.empty()) die("lanes cdc: " + e);
  s.sql("SELECT pg_drop_replication_slot('lanes_lat')");
  return {{"rate_per_s", rate},
          {"transactions", n},
          {"durable_only", latency_summary(commit, durable)},
          {"not_durable", latency_summary(commit, memory)}};
}

}  // namespace

int main(int argc, char** argv) {
  lanes_bench::run_options o{5, false, "results/cdc_bench.json"};
  lanes_bench::parse_command_line(argc, argv, o,
                                  "usage: cdc_bench [--quick] [--reps N] [--out PATH]",
                                  {{"--quick", [&](lanes_bench::arg_cursor&) {
                                      o.quick = true;  // one round; a later --reps still counts
                                      o.reps = 1;
                                    }}});
  const int reps = o.reps;
  const bool quick = o.quick;
  if (const std::string why = pg_test::unavailable(); !why.empty()) die(why);
  pg_test::server s;
  s.sql("CREATE TABLE t (id bigint PRIMARY KEY, name text, n int)");
  s.sql("CREATE TABLE lat (id bigint PRIMARY KEY, n int)");
  s.sql("CREATE PUBLICATION p FOR TABLE t, lat");
  const std::uint64_t txns = quick ? 100 : 1000;
  const std::uint64_t per_txn = 300;
  (void)capture_round(s, 1, txns / 10, per_txn);  // warm-up, discarded
  std::vector<double> ours, peer;
  for (int r = 0; r < reps; ++r) {
    std::fprintf(stderr, "cdc_bench: throughput round %d of %d\n", r + 1, reps);
    const throughput_round t = capture_round(s, r, txns, per_txn);
    ours.push_back(t.ours);
    peer.push_back(t.peer);
  }
  json cases = json::object();
  cases["throughput"] = lanes_support::ours_vs_peer(ours, peer, "rows_per_s");
  cases["throughput"]["transactions"] = txns;
  cases["throughput"]["rows_per_transaction"] = per_txn;
  std::fprintf(stderr, "cdc_bench: latency\n");
  cases["latency"] = latency_run(s, quick ? 1000 : 5000, 1000);
  json result = lanes_tools::result_header("cdc_bench");
  result["rounds"] = reps;
  result["server"] = "PostgreSQL 15 (" + s.value("SELECT version()") +
                     "), fsync off, unix socket, in a temporary directory";
  result["cases"] = cases;
  lanes_support::write_json_file(o.out, result);
  std::printf("%s\n", cases.dump(2).c_str());
  return 0;
}
