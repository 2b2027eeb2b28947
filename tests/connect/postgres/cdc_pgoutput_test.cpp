// tests/connect/postgres: pgoutput messages (protocol version 1) built byte by byte as the
// server lays them out, decoded, and turned into lanes cdc's records.
#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "lanes/cdc_envelope.hpp"
#include "lanes/pgoutput.hpp"

namespace {

using namespace lanes::cdc;

// Big-endian writer for test messages.
struct bytes {
  std::string b;
  explicit bytes(char type) { b += type; }
  bytes& u(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) b += static_cast<char>((v >> (8 * i)) & 0xff);
    return *this;
  }
  bytes& u8(std::uint8_t v) { return u(v, 1); }
  bytes& u16(std::uint16_t v) { return u(v, 2); }
  bytes& u32(std::uint32_t v) { return u(v, 4); }
  bytes& u64(std::uint64_t v) { return u(v, 8); }
  bytes& str(const std::string& s) {
    b += s;
    b += '\0';
    return *this;
  }
  bytes& ch(char c) {
    b += c;
    return *this;
  }
  bytes& text(const std::string& s) {
    return ch('t').u32(static_cast<std::uint32_t>(s.size())).raw(s);
  }
  bytes& raw(const std::string& s) {
    b += s;
    return *this;
  }
};

// public.orders (id int8 key, paid bool, note text, qty int4, big text), REPLICA IDENTITY d.
std::string orders_relation(std::uint16_t columns = 5) {
  bytes r('R');
  r.u32(16384).str("public").str("orders").ch('d').u16(columns);
  r.u8(1).str("id").u32(20).u32(0xffffffff);
  r.u8(0).str("paid").u32(16).u32(0xffffffff);
  r.u8(0).str("note").u32(25).u32(0xffffffff);
  r.u8(0).str("qty").u32(23).u32(0xffffffff);
  r.u8(0).str("big").u32(25).u32(0xffffffff);
  if (columns > 5) r.u8(0).str("added").u32(1700).u32(0x000a0006);  // numeric(10,2)
  return r.b;
}

TEST(CdcPgoutput, BeginAndCommitCarryTheLsnsXidAndTime) {
  relations rels;
  const auto b =
      std::get<begin_message>(decode(bytes('B').u64(0x16B374D848).u64(1'000'000).u32(731).b, rels));
  EXPECT_EQ(b.final_lsn, 0x16B374D848u);
  EXPECT_EQ(b.xid, 731u);
  EXPECT_EQ(pg_time_to_unix_ms(b.commit_time_us), 946684800000 + 1000);
  const auto c = std::get<commit_message>(
      decode(bytes('C').u8(0).u64(0x16B374D848).u64(0x16B374D8A0).u64(5).b, rels));
  EXPECT_EQ(c.commit_lsn, 0x16B374D848u);
  EXPECT_EQ(c.end_lsn, 0x16B374D8A0u);
  EXPECT_EQ(lsn_text(c.commit_lsn), "16/B374D848");
  EXPECT_EQ(lsn_text(0), "0/0");
}

TEST(CdcPgoutput, AnInsertBecomesAKeyedEnvelopeWithTypedValues) {
  relations rels;
  ASSERT_EQ(std::get<relation_message>(decode(orders_relation(), rels)).oid, 16384u);
  const std::string full = bytes('I')
                               .u32(16384)
                               .ch('N')
                               .u16(5)
                               .text("17")
                               .text("t")
                               .text("two\nlines \"quoted\"")
                               .ch('n')
                               .text("x")
                               .b;
  const auto c = std::get<change_message>(decode(full, rels));
  EXPECT_EQ(c.op, 'c');
  ASSERT_TRUE(c.after);
  EXPECT_FALSE(c.before);
  const relation& r = rels.at(16384);
  EXPECT_EQ(key_of(r, *c.after), "[17]");
  const auto e = nlohmann::json::parse(change_envelope(r, c, {0x1000, 9, 0}));
  EXPECT_EQ(e["op"], "c");
  EXPECT_TRUE(e["before"].is_null());
  EXPECT_EQ(e["after"]["id"], 17);
  EXPECT_EQ(e["after"]["paid"], true);
  EXPECT_EQ(e["after"]["note"], "two\nlines \"quoted\"");
  EXPECT_TRUE(e["after"]["qty"].is_null());
  EXPECT_EQ(e["after"]["big"], "x");
  EXPECT_EQ(e["source"]["lsn"], "0/1000");
  EXPECT_EQ(e["source"]["xid"], 9);
  EXPECT_EQ(e["source"]["schema"], "public");
  EXPECT_EQ(e["source"]["table"], "orders");
}

TEST(CdcPgoutput, AnUpdateKeepsTheOldKeyAndMarksAnUnchangedToastValue) {
  relations rels;
  (void)decode(orders_relation(), rels);
  // Key changed: 'K' old key image (non-key columns null), then the new row whose large
  // value was not changed ('u').
  const std::string msg = bytes('U')
                              .u32(16384)
                              .ch('K')
                              .u16(5)
                              .text("17")
                              .ch('n')
                              .ch('n')
                              .ch('n')
                              .ch('n')
                              .ch('N')
                              .u16(5)
                              .text("18")
                              .text("f")
                              .text("n")
                              .text("5")
                              .ch('u')
                              .b;
  const auto c = std::get<change_message>(decode(msg, rels));
  EXPECT_EQ(c.op, 'u');
  EXPECT_EQ(c.before_kind, 'K');
  const relation& r = rels.at(16384);
  const auto e = nlohmann::json::parse(change_envelope(r, c, {1, 2, 3}));
  EXPECT_EQ(e["before"], nlohmann::json::parse(R"({"id": 17})"));  // the key columns only
  EXPECT_EQ(e["after"]["id"], 18);
  EXPECT_EQ(e["after"]["paid"], false);
  EXPECT_EQ(e["after"]["qty"], 5);
  EXPECT_EQ(e["after"]["big"], nlohmann::json::parse(R"({"unchanged_toast": true})"));
  EXPECT_EQ(key_of(r, *c.after), "[18]");

  // No key change under REPLICA IDENTITY DEFAULT: no old image at all.
  const auto plain = std::get<change_message>(decode(
      bytes('U').u32(16384).ch('N').u16(5).text("18").text("t").ch('n').ch('n').ch('u').b, rels));
  EXPECT_FALSE(plain.before);
  EXPECT_TRUE(nlohmann::json::parse(change_envelope(r, plain, {}))["before"].is_null());
}

TEST(CdcPgoutput, ADeleteCarriesTheOldKeyOrTheWholeOldRow) {
  relations rels;
  (void)decode(orders_relation(), rels);
  const relation& r = rels.at(16384);
  const auto k = std::get<change_message>(decode(
      bytes('D').u32(16384).ch('K').u16(5).text("17").ch('n').ch('n').ch('n').ch('n').b, rels));
  EXPECT_EQ(k.op, 'd');
  EXPECT_FALSE(k.after);
  EXPECT_EQ(key_of(r, *k.before), "[17]");
  auto e = nlohmann::json::parse(change_envelope(r, k, {}));
  EXPECT_EQ(e["op"], "d");
  EXPECT_TRUE(e["after"].is_null());
  EXPECT_EQ(e["before"], nlohmann::json::parse(R"({"id": 17})"));
  // REPLICA IDENTITY FULL: 'O', the whole old row.
  const auto o = std::get<change_message>(decode(
      bytes('D').u32(16384).ch('O').u16(5).text("17").text("t").text("a").text("1").text("b").b,
      rels));
  e = nlohmann::json::parse(change_envelope(r, o, {}));
  EXPECT_EQ(e["before"]["note"], "a");
  EXPECT_EQ(e["before"]["qty"], 1);
}

TEST(CdcPgoutput, TruncateNamesEveryRelationAndItsOptions) {
  relations rels;
  const auto t = std::get<truncate_message>(decode(bytes('T').u32(2).u8(3).u32(1).u32(2).b, rels));
  EXPECT_EQ(t.relations, (std::vector<std::uint32_t>{1, 2}));
  EXPECT_TRUE(t.cascade);
  EXPECT_TRUE(t.restart_identity);
  (void)decode(orders_relation(), rels);
  const auto e = nlohmann::json::parse(truncate_envelope(rels.at(16384), {7, 8, 9}));
  EXPECT_EQ(e["op"], "t");
  EXPECT_TRUE(e["before"].is_null() && e["after"].is_null());
}

TEST(CdcPgoutput, AnAddedColumnIsPickedUpFromTheNextRelationMessage) {
  relations rels;
  (void)decode(orders_relation(5), rels);
  (void)decode(orders_relation(6), rels);  // ALTER TABLE ... ADD COLUMN added numeric(10,2)
  const relation& r = rels.at(16384);
  ASSERT_EQ(r.columns.size(), 6u);
  const auto c = std::get<change_message>(decode(bytes('I')
                                                     .u32(16384)
                                                     .ch('N')
                                                     .u16(6)
                                                     .text("1")
                                                     .text("t")
                                                     .text("")
                                                     .text("2")
                                                     .text("")
                                                     .text("12.50")
                                                     .b,
                                                 rels));
  const auto e = nlohmann::json::parse(change_envelope(r, c, {}));
  EXPECT_EQ(e["after"]["added"], "12.50");  // numeric keeps its text form: no rounding
}

TEST(CdcPgoutput, DamagedMessagesAreErrorsThatSayWhere) {
  relations rels;
  (void)decode(orders_relation(), rels);
  auto fails_with = [&](const std::string& msg, const std::string& part) {
    try {
      (void)decode(msg, rels);
      ADD_FAILURE() << "decoded a bad message";
    } catch (const decode_error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  fails_with(bytes('B').u64(1).b, "message 'B' at byte 9 of 9: ends inside an integer");
  fails_with(bytes('I').u32(16384).ch('N').u16(1).ch('t').u32(100).raw("short").b,
             "ends inside a column value");
  fails_with(bytes('I').u32(99).ch('N').u16(0).b, "relation 99 before any Relation message");
  fails_with(bytes('I').u32(16384).ch('N').u16(9).b, "a row of 9 columns for public.orders");
  fails_with(bytes('D').u32(16384).ch('N').u16(0).b, "a delete without its old key");
  fails_with(bytes('I').u32(16384).ch('N').u16(1).ch('x').b, "unknown column kind 'x'");
  fails_with(bytes('Z').b, "message 'Z' at byte 1 of 1: an unknown message type");
  fails_with(bytes('R').u32(1).raw("no-terminator").b, "a string without its terminating NUL");
  fails_with("", "an empty message");
}

TEST(CdcPgoutput, ATableWithoutAPrimaryKeyIsRefusedWithWhatToDo) {
  relations rels;
  bytes r('R');
  r.u32(5).str("public").str("events").ch('n').u16(1).u8(0).str("payload").u32(25).u32(0xffffffff);
  (void)decode(r.b, rels);
  try {
    (void)key_of(rels.at(5), row{value{value::kind::text, "x"}});
    ADD_FAILURE() << "a keyless row got a key";
  } catch (const decode_error& e) {
    EXPECT_NE(std::string(e.what()).find("REPLICA IDENTITY FULL"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("public.events"), std::string::npos) << e.what();
  }
}

}  // namespace
