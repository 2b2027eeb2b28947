// tests/queue/queue_durable_files_test.cpp: the files of a durable queue topic (DESIGN.md,
// Queue mode and Durability; modes/queue_acks.cpp).
//
// Fully acked segments are deleted and partly acked ones kept; a damaged acks file redelivers
// (never loses) and is kept aside; a torn acks file tail is not damage; an unacked set larger
// than the ring refuses to open, naming the fix.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "lanes/queue.hpp"
#include "support/io.hpp"
#include "support/queue.hpp"

namespace {

namespace fs = std::filesystem;
using namespace lanes_test;

std::string v(int i) { return "m" + std::to_string(i); }

std::vector<std::uint64_t> segment_bases(const fs::path& partition_dir) {
  std::vector<std::uint64_t> bases;
  for (const auto& e : fs::directory_iterator(partition_dir)) {
    if (e.path().extension() == ".log") bases.push_back(std::stoull(e.path().stem().string()));
  }
  std::sort(bases.begin(), bases.end());
  return bases;
}

using QueueDurableSegments = data_dir_test;
using QueueDurableDamage = data_dir_test;

// Small segments: those whose records are all acked are deleted; the one holding an unacked
// message is kept, acked neighbours and all; acking that message lets it go too.
TEST_F(QueueDurableSegments, FullyAckedSegmentsAreDeletedPartlyAckedOnesKept) {
  lanes::topic_config tc = durable_queue(1, lanes::durability::sync, 16 * 1024);
  tc.segment_bytes = 8 * 1024 + 4096 + 128;  // the smallest a 16 KiB ring allows
  const fs::path pdir = dir.path() / "q" / "0";
  const std::string pad(100, 'x');
  lanes::receipt kept{};
  {
    lanes_test::bus_with_topic bt("q", tc, quiet_bus(dir.path()));
    auto& [b, p] = bt;
    lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(16));
    // 190 messages, consumed as they come; all acked except offset 100 (the ring holds the
    // 90 after it).
    int published = 0;
    while (published < 190) {
      for (int k = 0; k < 10; ++k, ++published) ASSERT_TRUE(p.publish("k", v(published) + pad));
      for (const auto& m : lanes_test::receive_until(c, 10)) {
        if (m.receipt.offset == 100) {
          kept = m.receipt;
          continue;
        }
        ASSERT_EQ(c.ack(m.receipt), errc::ok);
      }
    }
    ASSERT_EQ(kept.offset, 100u);
    const auto bases = segment_bases(pdir);
    ASSERT_GE(bases.size(), 2u);
    EXPECT_GT(bases.front(), 0u) << "the first segment, all acked, is deleted";
    EXPECT_LE(bases.front(), 100u) << "the segment holding the unacked offset 100 is kept";
    const auto info = b.describe_topic("q");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->partitions[0].log_start_offset, bases.front());
  }
  {
    lanes::bus b(quiet_bus(dir.path()));
    lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
    const auto got = drain(c);
    ASSERT_EQ(got.size(), 1u) << "only the unacked message comes back";
    EXPECT_EQ(got[0].receipt.offset, 100u);
    EXPECT_EQ(got[0].record.value, v(100) + pad);
    ASSERT_EQ(c.ack(got[0].receipt), errc::ok);
    const auto bases = segment_bases(pdir);
    ASSERT_FALSE(bases.empty());
    EXPECT_GT(bases.front(), 100u) << "its segment went once it was acked";
  }
}

// Flips one byte of one record in the middle of the acks file: the acks from there on count
// as not acked (their messages come back: at least once, never lost), and the file is kept
// aside for a person. A partial record at the end (a torn append) is not damage.
TEST_F(QueueDurableDamage, DamagedAcksFileRedeliversAndIsKeptAsideTornTailIsNot) {
  const fs::path pdir = dir.path() / "q" / "0";
  const fs::path acks = pdir / "acks";
  auto aside_count = [&] {
    int n = 0;
    for (const auto& e : fs::directory_iterator(pdir)) {
      n += e.path().filename().string().rfind("acks.damaged-", 0) == 0 ? 1 : 0;
    }
    return n;
  };
  // Opens the bus again: the number of acks files kept aside then, and the values of the
  // messages delivered again (not acked).
  auto reopen = [&] {
    lanes::bus b(quiet_bus(dir.path()));
    const int aside = aside_count();
    lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(64));
    return std::pair{aside, values_of(drain(c))};
  };
  // The values v(from) to v(to - 1).
  auto values = [](int from, int to) {
    std::set<std::string> s;
    for (int i = from; i < to; ++i) s.insert(v(i));
    return s;
  };
  {
    lanes_test::bus_with_topic bt("q", durable_queue(1, lanes::durability::sync),
                                  quiet_bus(dir.path()));
    auto& [b, p] = bt;
    for (int i = 0; i < 40; ++i) ASSERT_TRUE(p.publish(std::nullopt, v(i)));
    lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(64));
    const auto got = lanes_test::receive_until(c, 40);
    ASSERT_EQ(got.size(), 40u);
    // Acked one at a time out of order: odd offsets below 20 first (range records), then
    // the even ones (the floor moves), so the file holds many records.
    for (const auto& m : got) {
      if (m.receipt.offset < 20 && m.receipt.offset % 2 == 1) {
        ASSERT_EQ(c.ack(m.receipt), errc::ok);
      }
    }
    for (const auto& m : got) {
      if (m.receipt.offset < 20 && m.receipt.offset % 2 == 0) {
        ASSERT_EQ(c.ack(m.receipt), errc::ok);
      }
    }
  }
  // Torn tail: a whole record of zeros (a file extended before its data reached the disk)
  // and half a record appended. Nothing changes, nothing is kept aside.
  {
    std::ofstream out(acks, std::ios::binary | std::ios::app);
    out << std::string(lanes::io::ack_record_size, '\0') << std::string(13, '\x5a');
  }
  {
    const auto [aside, got] = reopen();
    EXPECT_EQ(aside, 0);
    EXPECT_EQ(got, values(20, 40)) << "a torn tail loses no durable ack";
  }
  // The reopen above rewrote the file compactly: header, floor 20. Append records by hand:
  // range [25, 30) acked, then damage, then range [30, 35) acked.
  {
    auto record = [](std::uint16_t kind, std::uint64_t first, std::uint64_t end) {
      std::byte r[lanes::io::ack_record_size];
      lanes::io::encode_ack_record({static_cast<lanes::io::ack_kind>(kind), first, end}, r);
      return std::string(reinterpret_cast<const char*>(r), sizeof r);
    };
    std::string bad = record(2, 22, 24);
    bad[10] ^= 0x40;  // the CRC no longer matches
    std::ofstream out(acks, std::ios::binary | std::ios::app);
    out << record(2, 25, 30) << bad << record(2, 30, 35);
  }
  {
    const auto [aside, got] = reopen();
    EXPECT_EQ(aside, 1) << "the damaged file is kept for a person";
    std::set<std::string> want = values(20, 25);
    want.merge(values(30, 40));  // [30, 35) after the damage: back again
    EXPECT_EQ(got, want);
  }
  // A damaged file header: nothing counts as acked; everything from the log start is back.
  {
    std::fstream f(acks, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(2);
    f.put('\x7f');
  }
  const auto [aside, got] = reopen();
  EXPECT_EQ(aside, 2);
  EXPECT_EQ(got, values(0, 40)) << "with no acks readable, everything is delivered again";
}

// With the acks file's header damaged, every message from the log start counts as unacked;
// when they cannot all fit the ring, the bus refuses to open with capacity_too_small (an
// explicit error naming the fix), instead of dropping any of them.
TEST_F(QueueDurableDamage, UnackedSetLargerThanTheRingRefusesToOpen) {
  {
    lanes_test::bus_with_topic bt("q", durable_queue(1, lanes::durability::sync, 16 * 1024),
                                  quiet_bus(dir.path()));
    auto& [b, p] = bt;
    lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(64));
    for (int i = 0; i < 600; i += 50) {  // 600 small messages, more than the ring holds
      for (int k = 0; k < 50; ++k) ASSERT_TRUE(p.publish(std::nullopt, v(i + k)));
      const auto got = lanes_test::receive_until(c, 50);
      ASSERT_EQ(got.size(), 50u);
      for (const auto& m : got) ASSERT_EQ(c.ack(m.receipt), errc::ok);
    }
  }
  {
    std::fstream f(dir.path() / "q" / "0" / "acks",
                   std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(0);
    f.put('\x7f');
  }
  try {
    lanes::bus b(quiet_bus(dir.path()));
    ADD_FAILURE() << "opened with more unacked messages than the ring holds";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), lanes::make_error_code(errc::capacity_too_small)) << e.what();
    EXPECT_NE(std::string(e.what()).find("ring_capacity"), std::string::npos) << e.what();
  }
  // Raising the ring in topic.conf, as the message says, opens it with all 600 back.
  const fs::path conf = dir.path() / "q" / "topic.conf";
  std::ifstream in(conf);
  std::stringstream text;
  text << in.rdbuf();
  in.close();
  std::string c = text.str();
  const auto at = c.find("ring_capacity=16384");
  ASSERT_NE(at, std::string::npos);
  c.replace(at, std::string("ring_capacity=16384").size(), "ring_capacity=131072");
  std::ofstream(conf, std::ios::trunc) << c;
  lanes::bus b(quiet_bus(dir.path()));
  lanes::queue_consumer qc2 = b.make_queue_consumer(qc("q").max_receive(64));
  EXPECT_EQ(drain(qc2).size(), 600u);
}

}  // namespace
