// tests/connect/postgres/cdc_errors_test.cpp: the one-line errors a user meets first, against
// a real PostgreSQL 15 (pg_server.hpp): wal_level not logical, a table without a primary key
// (and what to do), a slot in use, a bad DSN. Each says what to do and changes nothing.
#include <gtest/gtest.h>

#include <memory>

#include "cdc_test_support.hpp"
#include "lanes_support/pg_server.hpp"

namespace {

using namespace cdc_test;

// Each test starts the server it needs (pg_test::server), not the fixture's.
class CdcErrors : public server_test {
 protected:
  void SetUp() override {
    server_test::SetUp();
    if (IsSkipped()) return;
    bus_ = std::make_unique<lanes::bus>(dir_.bus_config());
  }
  // run()'s error (a stream that runs on is stopped and reported as such).
  std::string error_of(const lanes::cdc::cdc_config& c) {
    running_stream s(*bus_, c);
    return s.wait_error();
  }
  scratch dir_;
  std::unique_ptr<lanes::bus> bus_;
};

void expect_one_line(const std::string& e) {
  EXPECT_FALSE(e.empty());
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST_F(CdcErrors, AServerWithoutLogicalWalLevelIsRefusedWithWhatToDo) {
  pg_test::server pg("replica");
  pg.sql("CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION pub FOR TABLE t");
  const std::string e = error_of(config_for(pg));
  EXPECT_NE(e.find("wal_level is 'replica'"), std::string::npos) << e;
  EXPECT_NE(e.find("wal_level = logical"), std::string::npos) << e;
  expect_one_line(e);
  EXPECT_EQ(pg.value("SELECT count(*) FROM pg_replication_slots"), "0");
}

TEST_F(CdcErrors, ATableWithoutPrimaryKeySaysToAddOneOrSetReplicaIdentityFull) {
  pg_test::server pg;
  pg.sql("CREATE TABLE nokey (v int, w text); CREATE PUBLICATION pub FOR TABLE nokey");
  const std::string e = error_of(config_for(pg));
  EXPECT_NE(e.find("public.nokey has no primary key"), std::string::npos) << e;
  EXPECT_NE(e.find("add a primary key"), std::string::npos) << e;
  EXPECT_NE(e.find("REPLICA IDENTITY FULL"), std::string::npos) << e;
  expect_one_line(e);
  EXPECT_EQ(pg.value("SELECT count(*) FROM pg_replication_slots"), "0");  // nothing created
  // As the message says: with REPLICA IDENTITY FULL the whole row is the key, in the
  // snapshot and in the stream alike.
  pg.sql("INSERT INTO nokey VALUES (1, 'a')");
  pg.sql("ALTER TABLE nokey REPLICA IDENTITY FULL");
  running_stream s(*bus_, config_for(pg));
  ASSERT_TRUE(wait_until([&] { return s.stream.stats().streaming; })) << s.wait_error();
  pg.sql("DELETE FROM nokey");
  const auto got = read(*bus_, "db.public.nokey", 2);
  ASSERT_EQ(got.size(), 2u) << s.wait_error();
  EXPECT_EQ(got[0].value["op"], "r");
  EXPECT_EQ(got[0].key, R"([1,"a"])");
  EXPECT_EQ(got[1].value["op"], "d");
  EXPECT_EQ(got[1].key, got[0].key);
}

TEST_F(CdcErrors, ASlotInUseIsRefusedNamingTheProcess) {
  pg_test::server pg;
  pg.sql("CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION pub FOR TABLE t");
  running_stream first(*bus_, config_for(pg));
  ASSERT_TRUE(wait_until([&] { return first.stream.stats().streaming; })) << first.wait_error();
  ASSERT_TRUE(wait_until([&] {
    return pg.value("SELECT active FROM pg_replication_slots WHERE slot_name = 's1'") == "t";
  }));
  scratch other;
  lanes::bus_config bc;
  bc.data_dir = other.path();
  lanes::bus bus2(bc);
  running_stream second(bus2, config_for(pg));
  const std::string e = second.wait_error();
  EXPECT_NE(e.find("replication slot 's1' is in use by another process (pid "), std::string::npos)
      << e;
  expect_one_line(e);
  EXPECT_EQ(first.stream.stats().streaming, true);  // the first one goes on
}

TEST_F(CdcErrors, ABadDsnIsOneLineNamingTheConnection) {
  lanes::cdc::cdc_config c;
  c.dsn = "host=/nonexistent-dir port=1 dbname=x";
  c.publication = "pub";
  c.slot = "s1";
  const std::string e = error_of(c);
  EXPECT_EQ(e.rfind("cannot connect to PostgreSQL (host=/nonexistent-dir", 0), 0u) << e;
  expect_one_line(e);
}

}  // namespace
