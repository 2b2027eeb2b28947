// tests/connect/postgres: lanes::cdc against a real PostgreSQL 15 server that the test starts
// (pg_server.hpp): row changes arrive as records, rolled-back transactions never do, and a
// restarted stream writes nothing twice.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cdc_test_support.hpp"
#include "lanes/cdc.hpp"
#include "lanes/lanes.hpp"
#include "lanes_support/pg_server.hpp"

namespace {

using namespace std::chrono_literals;
using namespace cdc_test;

class CdcStream : public server_test {
 protected:
  void SetUp() override {
    server_test::SetUp();
    if (IsSkipped()) return;
    start_server({"CREATE TABLE orders (id int PRIMARY KEY, note text, paid bool, qty bigint)",
                  "CREATE PUBLICATION shop FOR TABLE orders"});
    cfg_ = config_for(*pg_, "shop", "lanes", "pg");
  }
  void wait_for_slot() {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (pg_->value("SELECT active FROM pg_replication_slots WHERE slot_name = 'lanes'") != "t" &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
  }
  lanes::cdc::cdc_config cfg_;
  scratch dir_;
};

TEST_F(CdcStream, ChangesArriveOnceInCommitOrderAndRollbacksNever) {
  lanes::bus bus(dir_.bus_config());
  {
    running_stream s(bus, cfg_);
    wait_for_slot();
    ASSERT_EQ(s.error_so_far(), "");
    pg_->sql(
        "BEGIN; INSERT INTO orders VALUES (1, 'first', false, 10), (2, NULL, true, 20); "
        "COMMIT");
    pg_->sql("BEGIN; INSERT INTO orders VALUES (99, 'rolled back', false, 0); ROLLBACK");
    pg_->sql("UPDATE orders SET paid = true, qty = 9000000000 WHERE id = 1");
    pg_->sql("DELETE FROM orders WHERE id = 2");
    const auto got = read(bus, "pg.public.orders", 4);
    ASSERT_EQ(got.size(), 4u) << s.error_so_far();
    // One partition: commit order.
    EXPECT_EQ(got[0].value["op"], "c");
    EXPECT_EQ(got[0].key, "[1]");
    EXPECT_EQ(got[0].value["after"]["note"], "first");
    EXPECT_EQ(got[0].value["after"]["paid"], false);
    EXPECT_EQ(got[1].value["op"], "c");
    EXPECT_TRUE(got[1].value["after"]["note"].is_null());
    EXPECT_EQ(got[0].lsn, got[1].lsn);  // one transaction, one commit LSN
    EXPECT_EQ(got[2].value["op"], "u");
    EXPECT_EQ(got[2].value["after"]["qty"], 9000000000);
    EXPECT_EQ(got[3].value["op"], "d");
    EXPECT_EQ(got[3].key, "[2]");
    EXPECT_EQ(got[3].value["before"]["id"], 2);
    for (const auto& r : got) EXPECT_EQ(r.value.dump().find("rolled back"), std::string::npos);
    // Counted once confirmed to the server, which follows the disk by up to 10 ms.
    EXPECT_TRUE(wait_until([&] { return s.stream.stats().transactions >= 3; }));
    EXPECT_EQ(s.stream.stats().transactions, 3u);
  }
  // A new stream resumes from the slot: nothing is written twice, the next change once.
  {
    running_stream s(bus, cfg_);
    wait_for_slot();
    pg_->sql("INSERT INTO orders VALUES (3, 'after restart', false, 1)");
    pg_->sql("INSERT INTO orders VALUES (4, 'sentinel', false, 1)");
    // Had the restart written anything again, those copies would come before these two.
    const auto got = read(bus, "pg.public.orders", 6);
    ASSERT_EQ(got.size(), 6u) << s.error_so_far();
    EXPECT_EQ(got[4].key, "[3]");
    EXPECT_EQ(got[5].key, "[4]");
    EXPECT_TRUE(wait_until([&] { return s.stream.stats().transactions >= 2; }))
        << s.stream.stats().transactions;
    EXPECT_EQ(got[4].value["after"]["note"], "after restart");
  }
}

TEST_F(CdcStream, AMissingPublicationAndABadDsnAreOneLineErrors) {
  lanes::bus bus(dir_.bus_config());
  std::atomic<bool> stop{false};
  lanes::cdc::cdc_config c = cfg_;
  c.publication = "nope";
  try {
    lanes::cdc::cdc_stream(bus, c).run(stop);
    ADD_FAILURE() << "ran without a publication";
  } catch (const lanes::cdc::cdc_error& e) {
    EXPECT_NE(std::string(e.what()).find("publication 'nope' does not exist"), std::string::npos)
        << e.what();
  }
  c = cfg_;
  c.dsn = "host=/nonexistent port=1 user=postgres dbname=postgres";
  try {
    lanes::cdc::cdc_stream(bus, c).run(stop);
    ADD_FAILURE() << "connected to nothing";
  } catch (const lanes::cdc::cdc_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot connect to PostgreSQL"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
}

}  // namespace

// Writes to a table outside the publication send no records, but the slot must not hold
// their WAL forever: between transactions the stream confirms the position the server's
// keepalives carry, so the slot's confirmed_flush_lsn passes those writes.
TEST_F(CdcStream, AnIdlePublicationStillLetsTheServerRecycleWal) {
  pg_->sql("CREATE TABLE audit (id int PRIMARY KEY, line text)");  // not in the publication
  lanes::bus bus(dir_.bus_config());
  running_stream s(bus, cfg_);
  wait_for_slot();
  ASSERT_EQ(s.error_so_far(), "");
  pg_->sql("INSERT INTO audit SELECT g, repeat('x', 200) FROM generate_series(1, 5000) g");
  const std::string after = pg_->value("SELECT pg_current_wal_lsn()");
  const std::uint64_t after_lsn =
      std::stoull(pg_->value("SELECT pg_wal_lsn_diff('" + after + "', '0/0')"));
  EXPECT_TRUE(wait_until([&] {
    return pg_->value("SELECT confirmed_flush_lsn >= '" + after +
                      "'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'lanes'") == "t";
  })) << "confirmed_flush_lsn "
      << pg_->value("SELECT confirmed_flush_lsn FROM pg_replication_slots") << " < " << after;
  EXPECT_GE(s.stream.stats().confirmed_lsn, after_lsn);
  // Nothing of the audit table was written, and the stream still works.
  pg_->sql("INSERT INTO orders VALUES (1, 'after', false, 1)");
  const auto got = read(bus, "pg.public.orders", 1);
  ASSERT_EQ(got.size(), 1u) << s.error_so_far();
  EXPECT_EQ(got[0].key, "[1]");
}

// What the server sends for the harder cases, end to end: a key change, an unchanged TOASTed
// value, NULLs, an added column, a truncate, and a transaction of 100 000 rows.
TEST_F(CdcStream, KeyChangesToastAddedColumnsTruncateAndALargeTransaction) {
  pg_->sql("ALTER TABLE orders ALTER COLUMN note SET STORAGE EXTERNAL");  // TOAST, uncompressed
  lanes::bus bus(dir_.bus_config());
  running_stream s(bus, cfg_);
  wait_for_slot();
  const std::string big(5000, 'z');
  pg_->sql("INSERT INTO orders VALUES (1, '" + big + "', NULL, NULL)");
  pg_->sql("UPDATE orders SET qty = 5 WHERE id = 1");  // note not changed: TOAST not sent
  pg_->sql("UPDATE orders SET id = 2 WHERE id = 1");   // key change
  pg_->sql("ALTER TABLE orders ADD COLUMN region text DEFAULT 'eu'");
  pg_->sql("INSERT INTO orders VALUES (3, 'x', true, 1, 'us')");
  pg_->sql("TRUNCATE orders");
  pg_->sql("INSERT INTO orders SELECT g, 'bulk', false, g FROM generate_series(10, 100009) g");
  const auto got = read(bus, "pg.public.orders", 6 + 100000);
  ASSERT_EQ(got.size(), 6u + 100000u) << s.error_so_far();
  EXPECT_EQ(got[0].value["after"]["note"], big);
  EXPECT_TRUE(got[0].value["after"]["paid"].is_null());
  EXPECT_EQ(got[1].value["op"], "u");
  EXPECT_EQ(got[1].value["after"]["note"], nlohmann::json::parse(R"({"unchanged_toast": true})"));
  EXPECT_EQ(got[1].value["after"]["qty"], 5);
  // The key change: a delete under the old key, then a create under the new one, in one
  // transaction.
  EXPECT_EQ(got[2].value["op"], "d");
  EXPECT_EQ(got[2].key, "[1]");
  EXPECT_EQ(got[2].value["before"], nlohmann::json::parse(R"({"id": 1})"));
  EXPECT_TRUE(got[2].value["after"].is_null());
  EXPECT_EQ(got[3].value["op"], "c");
  EXPECT_EQ(got[3].key, "[2]");
  EXPECT_TRUE(got[3].value["before"].is_null());
  EXPECT_EQ(got[3].value["after"]["id"], 2);
  EXPECT_EQ(got[3].value["after"]["qty"], 5);
  EXPECT_EQ(got[2].lsn, got[3].lsn);
  EXPECT_EQ(got[4].value["after"]["region"], "us");
  EXPECT_EQ(got[5].value["op"], "t");
  EXPECT_EQ(got[6].value["after"]["id"], 10);
  EXPECT_EQ(got.back().value["after"]["id"], 100009);
  EXPECT_EQ(got[6].lsn, got.back().lsn);  // one transaction
}

// `lanes cdc` killed with SIGKILL 20 times while a writer commits numbered transactions (some
// of three rows, which land in different partitions): afterwards every committed row is in
// lanes exactly once, and each partition holds its records in commit order.
TEST_F(CdcStream, TwentyKillNineCyclesLoseAndRepeatNothing) {
  {
    // The slot first: changes committed before it exists are not in its stream.
    lanes::bus bus(dir_.bus_config());
    running_stream s(bus, cfg_);
    wait_for_slot();
    ASSERT_EQ(s.error_so_far(), "");
  }
  std::atomic<bool> writing{true};
  std::atomic<int> committed{0};  // rows committed
  std::string writer_error;
  std::thread writer([&] {
    try {
      int n = 0;
      while (writing.load()) {
        if (n % 4 == 3) {
          pg_->sql("BEGIN; INSERT INTO orders VALUES (" + std::to_string(n) + ", 'a', true, 1), (" +
                   std::to_string(n + 1) + ", 'b', true, 2), (" + std::to_string(n + 2) +
                   ", 'c', true, 3); COMMIT");
          n += 3;
        } else {
          pg_->sql("INSERT INTO orders VALUES (" + std::to_string(n) + ", 'x', false, 0)");
          n += 1;
        }
        committed = n;
        std::this_thread::sleep_for(2ms);
      }
    } catch (const std::exception& e) {
      writer_error = e.what();
    }
  });
  const std::string cmd = std::string(LANES_BIN) + " cdc -d " + dir_.path().string() + " --dsn '" +
                          cfg_.dsn + "' --publication shop --slot lanes --topic-prefix pg " +
                          "--partitions 3 --progress 1";
  const std::string log = dir_.at("cdc.log");
  auto start = [&] {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execl("/bin/sh", "sh", "-c", ("exec " + cmd + " >>" + log + " 2>&1").c_str(), nullptr);
      ::_exit(127);
    }
    return pid;
  };
  auto log_tail = [&] {
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    std::string t = text.str();
    return t.size() > 3000 ? t.substr(t.size() - 3000) : t;
  };
  std::mt19937 rng(20261205);
  int killed = 0, refused = 0;
  while (killed < 20) {
    const pid_t pid = start();
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 450));
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      // Exited by itself: the server had not yet noticed the previous run's death and the
      // slot was still in use. Anything else is a failure.
      ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 1)
          << "lanes cdc died (status " << st << "):\n"
          << log_tail();
      if (++refused >= 200) {
        writing = false;
        writer.join();
        FAIL() << "the slot stayed in use:\n"
               << log_tail() << "\nwalsenders: "
               << pg_->value(
                      "SELECT string_agg(pid || ' ' || state || ' ' || coalesce(wait_event, '-') "
                      "|| ' ' || "
                      "backend_start::text, '; ') FROM pg_stat_activity WHERE backend_type = "
                      "'walsender'");
      }
      continue;
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &st, 0);
    ++killed;
  }
  writing = false;
  writer.join();
  ASSERT_EQ(writer_error, "");
  const int total = committed.load();
  // A last, clean run catches up: the slot's confirmed position reaches the end of the WAL.
  const std::string end_lsn = pg_->value("SELECT pg_current_wal_lsn()");
  const pid_t pid = start();
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (pg_->value("SELECT confirmed_flush_lsn >= '" + end_lsn +
                    "'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'lanes'") != "t" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  ::kill(pid, SIGTERM);
  int st = 0;
  ::waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << log_tail();

  lanes::bus bus(dir_.bus_config());
  const auto got = read(bus, "pg.public.orders", static_cast<std::size_t>(total));
  EXPECT_EQ(got.size(), static_cast<std::size_t>(total));
  std::vector<int> seen(static_cast<std::size_t>(total), 0);
  for (const record& r : got) {
    const int id = r.value["after"]["id"].get<int>();
    ASSERT_GE(id, 0);
    ASSERT_LT(id, total);
    ++seen[static_cast<std::size_t>(id)];
  }
  std::string wrong;
  for (int id = 0; id < total; ++id) {
    if (seen[static_cast<std::size_t>(id)] != 1) {
      wrong += " " + std::to_string(id) + "x" + std::to_string(seen[static_cast<std::size_t>(id)]);
    }
  }
  if (!wrong.empty()) {
    const std::string tail = log_tail();
    ADD_FAILURE() << "rows not exactly once (id x count):" << wrong << "\nlog tail:\n" << tail;
  }
  // Commit order inside each partition: commit LSNs never go back.
  const auto info = bus.describe_topic("pg.public.orders");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->config.partitions, 3u);
  std::printf("cdc crash loop: %d kills, %d starts refused (slot still in use), %d rows\n", killed,
              refused, total);
}
