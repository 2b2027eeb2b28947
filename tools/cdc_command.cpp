// tools/cdc_command.cpp: `lanes cdc` (see cdc_command.hpp and README.md, "Change data
// capture"). The stream runs on its own thread; the main thread prints progress every
// --progress seconds (stderr, or one JSON object per line on stdout with --json) and stops
// it on SIGINT/SIGTERM: the transaction in hand is finished or dropped whole, and whatever
// was confirmed is on disk.
#include "cdc_command.hpp"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <thread>

#include "cli_common.hpp"
#include "lanes/cdc.hpp"
#include "lanes/lanes.hpp"
#include "lanes/pgoutput.hpp"
#include "lanes_support/json_writer.hpp"
#include "metrics_flag.hpp"

namespace lanes_tools {

namespace {

void print_status(const cdc_options& o, const lanes::cdc::cdc_stats& s,
                  const lanes::cdc::cdc_stats& before, double seconds, bool final) {
  const double txn_rate = static_cast<double>(s.transactions - before.transactions) / seconds;
  const double row_rate = static_cast<double>(s.rows - before.rows) / seconds;
  const std::uint64_t lag = s.received_lsn > s.confirmed_lsn ? s.received_lsn - s.confirmed_lsn : 0;
  if (o.json) {
    json_writer j;
    j.begin_object();
    j.field("final", final);
    j.field("transactions", s.transactions);
    j.field("rows", s.rows);
    j.field("skipped_as_already_written", s.skipped);
    j.field("transactions_per_s", txn_rate);
    j.field("rows_per_s", row_rate);
    j.field("confirmed_lsn", lanes::cdc::lsn_text(s.confirmed_lsn));
    j.field("received_lsn", lanes::cdc::lsn_text(s.received_lsn));
    j.field("lag_bytes", lag);
    j.field("lag_seconds", s.lag_seconds);
    j.field("snapshot_rows", s.snapshot_rows);
    j.field("snapshot_retaken", s.snapshot_retaken);
    j.field("streaming", s.streaming);
    j.end_object();
    std::string line = j.str();
    for (char& c : line) {
      if (c == '\n') c = ' ';
    }
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    return;
  }
  std::fprintf(stderr,
               "lanes cdc: %s%s%llu transactions (%.0f/s), %llu rows (%.0f/s, %llu from the "
               "snapshot), confirmed %s, received %s, lag %llu bytes, %.3f s\n",
               final ? "stopped: " : "",
               s.streaming ? "" : "snapshot: ", static_cast<unsigned long long>(s.transactions),
               txn_rate, static_cast<unsigned long long>(s.rows), row_rate,
               static_cast<unsigned long long>(s.snapshot_rows),
               lanes::cdc::lsn_text(s.confirmed_lsn).c_str(),
               lanes::cdc::lsn_text(s.received_lsn).c_str(), static_cast<unsigned long long>(lag),
               s.lag_seconds);
}

lanes::cdc::cdc_config config_of(const cdc_options& o) {
  lanes::cdc::cdc_config c;
  c.dsn = o.dsn;
  c.publication = o.publication;
  c.slot = o.slot;
  c.topic_prefix = o.topic_prefix;
  c.partitions = o.partitions;
  c.durability = o.durability;
  c.snapshot =
      o.snapshot == "never" ? lanes::cdc::snapshot_mode::never : lanes::cdc::snapshot_mode::initial;
  c.tombstones = o.tombstones;
  return c;
}

}  // namespace

CLI::App* add_cdc_command(CLI::App& app, cdc_options& o) {
  CLI::App* cmd = app.add_subcommand(
      "cdc", "Stream every committed row change of a PostgreSQL publication into topics");
  cmd->add_option("--data-dir,-d", o.data_dir, "Data directory of the bus (created if missing)")
      ->required();
  cmd->add_option("--dsn", o.dsn,
                  "libpq connection string, e.g. 'host=/run/postgresql dbname=shop'")
      ->required();
  cmd->add_option("--publication", o.publication, "The publication to stream (CREATE PUBLICATION)")
      ->required();
  cmd->add_option("--slot", o.slot, "Logical replication slot (pgoutput; created when missing)")
      ->required();
  cmd->add_option("--topic-prefix", o.topic_prefix, "Topics are PREFIX.schema.table")
      ->capture_default_str();
  cmd->add_option("--snapshot", o.snapshot,
                  "initial: a new slot first writes every published row (op r); never: only "
                  "changes")
      ->check(CLI::IsMember({"initial", "never"}))
      ->capture_default_str();
  cmd->add_flag("--tombstones", o.tombstones,
                "Follow each delete with a tombstone (same key, empty value)");
  add_count_option(cmd, "--partitions", o.partitions, 1, 1024, "Partitions of topics it creates");
  add_durability_option(cmd, "--durability", o.durability,
                        "async or sync: durability of topics it creates (not none)");
  add_real_option(cmd, "--progress", o.progress_seconds, "s", 0.1, bound::inclusive, 3600,
                  "Seconds between progress lines");
  cmd->add_flag("--json", o.json, "Progress and the final status as JSON lines on stdout");
  add_metrics_flag(*cmd, o.metrics_listen);
  return cmd;
}

int run_cdc(const cdc_options& o) {
  if (o.durability == lanes::durability::none) {
    usage_error("--durability none: change data capture needs durable topics (async or sync)");
  }
  install_stop_signals();
  auto bus = open_bus(o.data_dir, dir_use::may_create);
  const lanes::cdc::cdc_config c = config_of(o);
  lanes::cdc::cdc_stream stream(*bus, c);
  const auto metrics = serve_metrics(*bus, o.metrics_listen, [&stream] {
    const lanes::cdc::cdc_stats s = stream.stats();
    return std::vector<tool_metric>{
        {"lanes_cdc_transactions_total", "Transactions written to lanes by lanes cdc.", true,
         static_cast<double>(s.transactions)},
        {"lanes_cdc_rows_total", "Row changes written to lanes by lanes cdc.", true,
         static_cast<double>(s.rows)},
        {"lanes_cdc_confirmed_lsn", "WAL position confirmed to the server (on disk in lanes).",
         false, static_cast<double>(s.confirmed_lsn)},
        {"lanes_cdc_lag_bytes", "WAL bytes received but not yet confirmed.", false,
         static_cast<double>(s.received_lsn > s.confirmed_lsn ? s.received_lsn - s.confirmed_lsn
                                                              : 0)},
        {"lanes_cdc_lag_seconds", "Seconds from a transaction's commit to its records on disk.",
         false, s.lag_seconds}};
  });
  std::atomic<bool> stop{false}, done{false};
  std::string error;
  std::thread t([&] {
    try {
      stream.run(stop);
    } catch (const std::exception& e) {
      error = e.what();
    }
    done = true;
  });
  const auto interval = std::chrono::duration<double>(o.progress_seconds);
  auto last_time = std::chrono::steady_clock::now();
  lanes::cdc::cdc_stats last = stream.stats();
  bool told_retaken = false;
  while (!done.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (stop_requested.load()) stop = true;
    if (!told_retaken && stream.stats().snapshot_retaken) {
      told_retaken = true;
      std::fprintf(stderr,
                   "lanes cdc: the last run ended during the initial snapshot; slot %s was "
                   "dropped and the snapshot is taken again (its unfinished records stay, with "
                   "another pg.snapshot header)\n",
                   o.slot.c_str());
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_time >= interval && !done.load()) {
      const lanes::cdc::cdc_stats s = stream.stats();
      print_status(o, s, last, std::chrono::duration<double>(now - last_time).count(), false);
      last = s;
      last_time = now;
    }
  }
  t.join();
  if (!error.empty()) runtime_error(error);
  if (!stream.stats().streaming && c.snapshot == lanes::cdc::snapshot_mode::initial) {
    std::fprintf(stderr,
                 "lanes cdc: stopped during the initial snapshot; the next start drops slot %s "
                 "and takes the snapshot again\n",
                 o.slot.c_str());
  }
  const auto now = std::chrono::steady_clock::now();
  print_status(o, stream.stats(), last,
               std::max(1e-3, std::chrono::duration<double>(now - last_time).count()), true);
  return exit_ok;
}

}  // namespace lanes_tools
