// tests/connect/postgres/cdc_snapshot_test.cpp: the initial snapshot against a real
// PostgreSQL 15 (pg_server.hpp): pre-existing rows as op "r" records, then concurrent writes
// with no gap and no duplicate; taken once; taken again (and told) after a stop mid-snapshot;
// --snapshot never; tombstones; lag in seconds; the CLI's --json status.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>

#include "cdc_test_support.hpp"
#include "lanes_support/pg_server.hpp"

namespace {

using namespace cdc_test;

class CdcSnapshot : public server_test {
 protected:
  void SetUp() override {
    server_test::SetUp();
    if (IsSkipped()) return;
    start_server(
        {"CREATE TABLE t (id int PRIMARY KEY, v text)", "CREATE PUBLICATION pub FOR TABLE t"});
    cfg_ = config_for(*pg_);
    bus_ = std::make_unique<lanes::bus>(dir_.bus_config());
  }
  lanes::cdc::cdc_config cfg_;
  scratch dir_;
  std::unique_ptr<lanes::bus> bus_;
};

std::map<std::string, int> count_keys(const std::vector<record>& recs) {
  std::map<std::string, int> n;
  for (const record& r : recs) ++n[r.key];
  return n;
}

TEST_F(CdcSnapshot, ExistingRowsThenConcurrentWritesArriveExactlyOnceAndTheSnapshotIsTakenOnce) {
  pg_->sql("INSERT INTO t SELECT i, 'old' FROM generate_series(1, 2000) i");
  std::thread writer([&] {
    for (int i = 2001; i <= 2300; ++i) {
      pg_->sql("INSERT INTO t VALUES (" + std::to_string(i) + ", 'new')");
    }
  });
  {
    running_stream s(*bus_, cfg_);
    writer.join();
    pg_->sql("INSERT INTO t VALUES (9999, 'last')");  // after every other write
    // One partition: the sentinel comes last, after every row exactly once.
    const auto got = read(*bus_, "db.public.t", 2301);
    ASSERT_EQ(got.size(), 2301u) << s.wait_error();
    EXPECT_EQ(got.back().key, "[9999]");
    EXPECT_EQ(got.back().value["op"], "c");
    const auto n = count_keys(got);
    for (int i = 1; i <= 2300; ++i) EXPECT_EQ(n.at("[" + std::to_string(i) + "]"), 1) << i;
    // The first 2000 were there before the slot: snapshot reads, marked with the snapshot.
    for (std::size_t i = 0; i < 2000; ++i) {
      ASSERT_EQ(got[i].value["op"], "r") << got[i].key;
      EXPECT_EQ(got[i].value["after"]["v"], "old");
      EXPECT_EQ(got[i].lsn, "");
      EXPECT_EQ(got[i].snapshot, got[0].snapshot);
    }
    EXPECT_NE(got[0].snapshot, "");
    const lanes::cdc::cdc_stats st = s.stream.stats();
    EXPECT_GE(st.snapshot_rows, 2000u);
    EXPECT_TRUE(st.streaming);
    EXPECT_FALSE(st.snapshot_retaken);
  }
  const auto marks = read(*bus_, "db.__cdc_snapshot", 2);
  ASSERT_EQ(marks.size(), 2u);
  EXPECT_EQ(marks[0].value["state"], "started");
  EXPECT_EQ(marks[1].value["state"], "done");
  EXPECT_GE(marks[1].value["rows"].get<int>(), 2000);
  // A restart finds the snapshot done: no second snapshot, the next change once.
  running_stream again(*bus_, cfg_);
  ASSERT_TRUE(wait_until([&] { return again.stream.stats().streaming; })) << again.wait_error();
  pg_->sql("INSERT INTO t VALUES (10000, 'after restart')");
  const auto got = read(*bus_, "db.public.t", 2302);
  ASSERT_EQ(got.size(), 2302u);
  EXPECT_EQ(got.back().key, "[10000]");
  EXPECT_EQ(again.stream.stats().snapshot_rows, 0u);
}

TEST_F(CdcSnapshot, AStopDuringTheSnapshotMeansItIsTakenAgainUnderANewName) {
  constexpr int rows = 100000;
  pg_->sql("INSERT INTO t SELECT i, 'x' FROM generate_series(1, " + std::to_string(rows) + ") i");
  std::uint64_t first_rows = 0;
  {
    running_stream s(*bus_, cfg_);
    ASSERT_TRUE(wait_until([&] { return s.stream.stats().snapshot_rows > 0; })) << s.wait_error();
    s.end();
    ASSERT_EQ(s.error_so_far(), "");
    const lanes::cdc::cdc_stats st = s.stream.stats();
    first_rows = st.snapshot_rows;
    ASSERT_FALSE(st.streaming);
    ASSERT_LT(first_rows, static_cast<std::uint64_t>(rows)) << "the snapshot ended before the stop";
  }
  running_stream s(*bus_, cfg_);
  ASSERT_TRUE(wait_until([&] { return s.stream.stats().streaming; })) << s.wait_error();
  EXPECT_TRUE(s.stream.stats().snapshot_retaken);
  EXPECT_EQ(s.stream.stats().snapshot_rows, static_cast<std::uint64_t>(rows));
  pg_->sql("INSERT INTO t VALUES (0, 'after')");
  const std::size_t total = first_rows + rows + 1;
  const auto got = read(*bus_, "db.public.t", total);
  ASSERT_EQ(got.size(), total);
  // The unfinished snapshot's records, then the whole new one under another name, then the
  // change: a consumer tells them apart by pg.snapshot.
  const std::string first = got.front().snapshot, second = got[first_rows].snapshot;
  EXPECT_NE(first, second);
  std::vector<int> seen(rows + 1, 0);
  for (std::size_t i = 0; i < first_rows; ++i) EXPECT_EQ(got[i].snapshot, first);
  for (std::size_t i = first_rows; i + 1 < total; ++i) {
    ASSERT_EQ(got[i].snapshot, second);
    ++seen[got[i].value["after"]["id"].get<std::size_t>()];
  }
  for (int id = 1; id <= rows; ++id) ASSERT_EQ(seen[static_cast<std::size_t>(id)], 1) << id;
  EXPECT_EQ(got.back().key, "[0]");
}

TEST_F(CdcSnapshot, NeverSkipsExistingRowsAndTombstonesFollowDeletesWithLagInSeconds) {
  pg_->sql("INSERT INTO t VALUES (1, 'before the slot')");
  cfg_.snapshot = lanes::cdc::snapshot_mode::never;
  cfg_.tombstones = true;
  running_stream s(*bus_, cfg_);
  ASSERT_TRUE(wait_until([&] { return s.stream.stats().streaming; })) << s.wait_error();
  pg_->sql("INSERT INTO t VALUES (2, 'new')");
  pg_->sql("DELETE FROM t WHERE id IN (1, 2)");
  const auto got = read(*bus_, "db.public.t", 5);
  ASSERT_EQ(got.size(), 5u) << s.wait_error();
  EXPECT_EQ(got[0].value["op"], "c");  // no snapshot read of row 1
  EXPECT_EQ(got[0].key, "[2]");
  EXPECT_EQ(got[1].value["op"], "d");
  EXPECT_EQ(got[1].key, "[1]");
  EXPECT_TRUE(got[2].value.is_null());  // the tombstone: same key, empty value
  EXPECT_EQ(got[2].key, "[1]");
  EXPECT_EQ(got[2].lsn, got[1].lsn);
  EXPECT_EQ(got[3].key, "[2]");
  EXPECT_TRUE(got[4].value.is_null());
  EXPECT_EQ(got[4].key, "[2]");
  // Records are visible before they are durable; the stats count a transaction once it is.
  ASSERT_TRUE(wait_until([&] { return s.stream.stats().transactions >= 2; }));
  const lanes::cdc::cdc_stats st = s.stream.stats();
  EXPECT_EQ(st.snapshot_rows, 0u);
  EXPECT_EQ(st.transactions, 2u);
  EXPECT_GT(st.lag_seconds, 0.0);  // commit to durable takes some time
  EXPECT_LT(st.lag_seconds, 60.0);
}

#ifdef LANES_BIN
// The CLI: --snapshot and --tombstones reach the stream; --json lines carry the lag in bytes
// and seconds and the snapshot's rows; SIGTERM ends with a final line and exit 0.
TEST_F(CdcSnapshot, TheCliReportsSnapshotRowsAndLagInSecondsAsJson) {
  pg_->sql("INSERT INTO t SELECT i, 'x' FROM generate_series(1, 3) i");
  scratch cli;  // the bus of the lanes process
  const std::string out = cli.at("cdc.json");
  const std::string cmd = std::string(LANES_BIN) + " cdc -d " + cli.path().string() +
                          "/bus --dsn '" + cfg_.dsn +
                          "' --publication pub --slot s1 --topic-prefix db " +
                          "--snapshot initial --tombstones --json --progress 0.1 >" + out;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), nullptr);
    ::_exit(127);
  }
  auto last_line = [&] {
    std::string all, line;
    if (FILE* f = std::fopen(out.c_str(), "r")) {
      char buf[4096];
      while (std::fgets(buf, sizeof buf, f) != nullptr) all = buf;
      std::fclose(f);
    }
    return all;
  };
  const bool streaming = wait_until([&] {
    const auto j = nlohmann::json::parse(last_line(), nullptr, false);
    return j.is_object() && j.value("streaming", false);
  });
  pg_->sql("DELETE FROM t WHERE id = 1");
  const bool deleted = wait_until([&] {
    const auto j = nlohmann::json::parse(last_line(), nullptr, false);
    return j.is_object() && j.value("transactions", 0) >= 1;
  });
  ::kill(pid, SIGTERM);
  int st = 0;
  ::waitpid(pid, &st, 0);
  ASSERT_TRUE(streaming && deleted) << last_line();
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  const auto j = nlohmann::json::parse(last_line(), nullptr, false);
  ASSERT_TRUE(j.is_object()) << last_line();
  EXPECT_EQ(j["final"], true);
  EXPECT_EQ(j["snapshot_rows"], 3);
  EXPECT_TRUE(j.contains("lag_bytes"));
  EXPECT_TRUE(j["lag_seconds"].is_number());
  lanes::bus_config bc;
  bc.data_dir = cli.path() / "bus";
  lanes::bus bus(bc);
  const auto got = read(bus, "db.public.t", 5);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[3].value["op"], "d");
  EXPECT_EQ(got[4].key, "[1]");
  EXPECT_TRUE(got[4].value.is_null());
}
#endif

}  // namespace
