// tests/queue/queue_durable_test.cpp: durable queue topics (DESIGN.md, Queue mode and Durability;
// modes/queue_acks.cpp).
//
// Reopen after a clean close restores exactly the unacked set (acked, nacked, in flight,
// never received); SIGKILL of a child that publishes and acks with durable acknowledgements
// loses no unacked message and redelivers no acked one; fully acked segments are deleted and
// partly acked ones kept; a damaged acks file redelivers (never loses) and is kept aside; a
// torn acks file tail is not damage; strict per-key order and dead letters survive a reopen.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "lanes/queue.hpp"
#include "support/io.hpp"
#include "support/queue.hpp"

namespace {

namespace fs = std::filesystem;
using namespace lanes_test;

lanes::topic_config durable_queue(std::uint32_t partitions, lanes::durability d,
                                  std::size_t ring = std::size_t{1} << 16) {
  lanes::topic_config c = lanes_test::queue_topic(partitions, ring);
  c.durable = d;
  c.queue.visibility_timeout = 60s;  // nothing comes back by itself during a test
  return c;
}

// Receives until `quiet` passes with nothing new; does not ack.
std::vector<owned_message> drain(lanes::queue_consumer& c,
                                 std::chrono::milliseconds quiet = 200ms) {
  std::vector<owned_message> out;
  auto last = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - last < quiet) {
    const lanes::receive_result r = c.receive(64, 10ms);
    EXPECT_EQ(r.status, errc::ok) << lanes::to_string(r.status);
    if (r.status != errc::ok) break;
    for (const lanes::queue_message& m : r.messages) out.push_back(lanes_test::own(m));
    if (!r.messages.empty()) last = std::chrono::steady_clock::now();
  }
  return out;
}

std::set<std::string> values_of(const std::vector<owned_message>& ms) {
  std::set<std::string> s;
  for (const auto& m : ms) s.insert(m.record.value);
  return s;
}

std::string v(int i) { return "m" + std::to_string(i); }

std::vector<std::uint64_t> segment_bases(const fs::path& partition_dir) {
  std::vector<std::uint64_t> bases;
  for (const auto& e : fs::directory_iterator(partition_dir)) {
    if (e.path().extension() == ".log") bases.push_back(std::stoull(e.path().stem().string()));
  }
  std::sort(bases.begin(), bases.end());
  return bases;
}

class QueueDurable : public ::testing::TestWithParam<lanes::durability> {};

// Acked, nacked, in flight and never received messages of a durable queue; after a clean
// close and reopen, exactly the unacked ones come back, each once, with their offsets, keys,
// timestamps and values; acked ones never.
TEST_P(QueueDurable, ReopenAfterCleanCloseRestoresExactlyTheUnackedSet) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  std::set<std::string> unacked;
  std::map<std::string, owned_message> original;
  {
    lanes_test::bus_with_topic bt("q", durable_queue(2, GetParam()), quiet_bus(dir.path()));
    auto& [b, p] = bt;
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(p.publish("k" + std::to_string(i % 7), v(i), {.durable = true}));
    }
    lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(128));
    const auto got = lanes_test::receive_until(c, 80);  // 20 never received
    ASSERT_EQ(got.size(), 80u);
    for (std::size_t i = 0; i < got.size(); ++i) {
      const owned_message& m = got[i];
      original[m.record.value] = m;
      if (i % 4 == 0 || i % 4 == 1) {
        ASSERT_EQ(c.ack(m.receipt), errc::ok);  // 40 acked
      } else if (i % 4 == 2) {
        ASSERT_EQ(c.nack(m.receipt), errc::ok);  // 20 given back
        unacked.insert(m.record.value);
      } else {
        unacked.insert(m.record.value);  // 20 left in flight
      }
    }
    for (int i = 0; i < 100; ++i) {
      if (original.count(v(i)) == 0) unacked.insert(v(i));
    }
    ASSERT_EQ(unacked.size(), 60u);
  }
  for (int reopen = 0; reopen < 2; ++reopen) {
    lanes::bus b(quiet_bus(dir.path()));
    EXPECT_EQ(qstats(b, "q").ready, 60u) << "reopen " << reopen;
    lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(128));
    const auto got = drain(c);
    EXPECT_EQ(got.size(), 60u) << "each unacked message once";
    EXPECT_EQ(values_of(got), unacked);
    for (const auto& m : got) {
      EXPECT_EQ(m.receipt.delivery, 1u) << "delivery counts start again at 1";
      const auto it = original.find(m.record.value);
      if (it == original.end()) continue;
      EXPECT_EQ(m.record.partition, it->second.record.partition);
      EXPECT_EQ(m.record.offset, it->second.record.offset);
      EXPECT_EQ(m.record.key, it->second.record.key);
      EXPECT_EQ(m.record.timestamp_ns, it->second.record.timestamp_ns);
    }
    // The second time round: received but not acked before the close: all back again.
  }
  {
    lanes::bus b(quiet_bus(dir.path()));
    lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(128));
    const auto got = drain(c);
    ASSERT_EQ(got.size(), 60u);
    for (const auto& m : got) ASSERT_EQ(c.ack(m.receipt), errc::ok);
    lanes::producer p = b.make_producer("q");
    ASSERT_TRUE(p.publish("k", "after", {.durable = true}));
  }
  lanes::bus b(quiet_bus(dir.path()));
  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  const auto got = drain(c);
  ASSERT_EQ(got.size(), 1u) << "everything else was acked";
  EXPECT_EQ(got[0].record.value, "after");
}

// A producer and three competing consumers that ack (and sometimes nack) concurrently with
// the persister's rounds; after a clean close and reopen, the unacked set is exactly what
// was published minus what ack reported acked.
TEST_P(QueueDurable, ConcurrentAckersThenReopenRestoresExactlyTheUnackedSet) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  constexpr int total = 1500;
  std::vector<std::set<std::string>> acked(3);
  {
    lanes::bus b(quiet_bus(dir.path()));
    ASSERT_EQ(b.create_topic("q", durable_queue(2, GetParam(), 16 * 1024)), errc::ok);
    std::atomic<int> acks{0};  // a small ring: producers wait for the floor many times
    std::atomic<bool> failed{false};
    std::thread producer([&] {
      lanes::producer p = b.make_producer("q");
      for (int i = 0; i < total; ++i) {
        // Ends with closed when the consumers stop and the bus closes on a full ring.
        if (!p.publish("k" + std::to_string(i % 11), v(i))) return;
      }
    });
    std::vector<std::thread> consumers;
    for (int t = 0; t < 3; ++t) {
      consumers.emplace_back([&, t] {
        lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(8));
        std::mt19937 r(static_cast<unsigned>(t + 1));
        const auto stop = std::chrono::steady_clock::now() + 20s;
        // Acks 7 in 8 and nacks the rest until 2/3 are acked; then leaves its last batch in
        // flight (earlier, a message in flight would hold the ring: the floor stops there).
        bool last = false;
        while (!last && std::chrono::steady_clock::now() < stop) {
          last = acks.load() >= total * 2 / 3;
          const lanes::receive_result rr = c.receive(8, 5ms);
          if (rr.status != errc::ok) {
            failed = true;
            return;
          }
          if (last) break;  // in flight at the close: unacked
          for (const lanes::queue_message& m : rr.messages) {
            const std::string value(m.record.value);
            if (r() % 8 == 0) {
              (void)c.nack(m.receipt);
            } else if (c.ack(m.receipt) == errc::ok) {
              acked[static_cast<std::size_t>(t)].insert(value);
              acks.fetch_add(1);
            } else {
              failed = true;
            }
          }
        }
      });
    }
    for (auto& th : consumers) th.join();
    b.close();  // a producer blocked on a full ring returns closed
    producer.join();
    ASSERT_FALSE(failed.load()) << "a receive or an ack failed";
  }
  lanes::bus b(quiet_bus(dir.path()));
  const auto info = b.describe_topic("q");
  ASSERT_TRUE(info);
  std::uint64_t end = 0;
  for (const auto& part : info->partitions) end += part.end_offset;
  lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(64));
  const auto got = drain(c);
  std::set<std::string> all_acked;
  for (const auto& a : acked) all_acked.insert(a.begin(), a.end());
  EXPECT_GE(all_acked.size(), static_cast<std::size_t>(total * 2 / 3));
  EXPECT_EQ(got.size() + all_acked.size(), end) << "every message is acked or comes back, once";
  for (const auto& m : got) {
    EXPECT_EQ(all_acked.count(m.record.value), 0u) << "acked, delivered again: " << m.record.value;
  }
  EXPECT_EQ(values_of(got).size(), got.size());
}

INSTANTIATE_TEST_SUITE_P(Modes, QueueDurable,
                         ::testing::Values(lanes::durability::sync, lanes::durability::async),
                         [](const auto& param_info) {
                           return param_info.param == lanes::durability::sync ? "sync" : "async";
                         });

// A child publishes with durable acknowledgements and acks (durably, sync topic) some of
// what it receives; it reports both through a pipe (an ack as "about to ack", then "acked"
// once ack returned) and is killed with SIGKILL at a random moment. After reopening: every
// message the ledger has as published and not being acked is delivered, no message the
// ledger has as acked is delivered again (an ack in doubt may go either way).
TEST(QueueDurableCrash, SigkillLosesNoUnackedMessageAndRedeliversNoAckedOne) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  {
    lanes::bus b(quiet_bus(dir.path()));
    lanes::topic_config c = durable_queue(2, lanes::durability::sync, 16 * 1024);
    c.segment_bytes = 16 * 1024;  // segments roll and get deleted during the run
    ASSERT_EQ(b.create_topic("q", c), errc::ok);
  }
  std::mt19937 rng(20261126);
  std::set<std::string> pending;  // unacked as far as the parent knows
  std::size_t total_acked = 0;
  std::size_t total_published = 0;
  for (int round = 0; round < 5; ++round) {
    const unsigned seed = static_cast<unsigned>(rng());
    const auto child = lanes_test::fork_reporting_child([&](int report_fd) {
      std::mt19937 r(seed);
      lanes::bus b(quiet_bus(dir.path()));
      lanes::producer p = b.make_producer("q");
      lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(16));
      auto report = [&](char what, const std::string& value) {
        char line[96];
        const int n = std::snprintf(line, sizeof line, "%c %s\n", what, value.c_str());
        if (::write(report_fd, line, static_cast<std::size_t>(n)) != n) ::_exit(4);
      };
      for (std::uint64_t i = 0;; ++i) {
        char value[48];
        std::snprintf(value, sizeof value, "r%d-%010llu", round,
                      static_cast<unsigned long long>(i));
        const lanes::publish_result pr = p.publish(std::to_string(i % 5), value);
        if (!pr) ::_exit(3);
        report('P', value);
        if (r() % 3 == 0) {
          const lanes::receive_result rr = c.receive(16);
          if (rr.status != errc::ok) ::_exit(5);
          for (const lanes::queue_message& m : rr.messages) {
            if (r() % 4 == 0) {
              // Given back (a message left in flight would hold the ring for good).
              if (c.nack(m.receipt) != errc::ok) ::_exit(7);
              continue;
            }
            const std::string mv(m.record.value);
            report('T', mv);  // about to ack: in doubt until 'A'
            const errc e = c.ack(m.receipt);
            if (e != errc::ok) ::_exit(6);
            report('A', mv);
          }
        }
      }
    });
    ASSERT_GE(child.pid, 0);
    std::string text;
    ASSERT_TRUE(lanes_test::kill_and_drain(child.pid, child.read_fd,
                                           std::chrono::milliseconds(60 + rng() % 200), text));
    std::set<std::string> acked;
    std::set<std::string> in_doubt;  // an ack was under way when the child died
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.size() < 3 || line[1] != ' ') continue;  // torn last line
      const std::string value = line.substr(2);
      if (line[0] == 'P') {
        pending.insert(value);
        ++total_published;
      } else if (line[0] == 'T') {
        ASSERT_EQ(pending.erase(value), 1u) << "acked before published? " << value;
        in_doubt.insert(value);
      } else if (line[0] == 'A') {
        ASSERT_EQ(in_doubt.erase(value), 1u) << value;
        acked.insert(value);
        ++total_acked;
      }
    }
    EXPECT_LE(in_doubt.size(), 1u) << "one ack at a time";
    lanes::bus b(quiet_bus(dir.path()));
    lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(64));
    const auto got = drain(c);
    std::set<std::string> seen;
    for (const auto& m : got) {
      ASSERT_TRUE(seen.insert(m.record.value).second) << "delivered twice: " << m.record.value;
      ASSERT_EQ(acked.count(m.record.value), 0u)
          << "round " << round << ": acked message delivered again: " << m.record.value;
    }
    for (const std::string& value : pending) {
      ASSERT_EQ(seen.count(value), 1u) << "round " << round << ": unacked message lost: " << value;
    }
    // What came back (including published-but-unreported ones, and an ack in doubt that did
    // not reach the disk) is the unacked set now; the parent closes without acking, so it
    // stays unacked for the next child.
    pending = seen;
  }
  EXPECT_GT(total_published, 0u);
  EXPECT_GT(total_acked, 0u) << "the children never acked anything";
}

// A producer thread publishes to a sync queue topic (each publish returns once durable) while
// a consumer thread receives and acks, reporting each message it received through a pipe;
// the child is killed with SIGKILL at a random moment. Durable records only (the default):
// nothing a consumer received is taken back by the crash, so every received offset is below
// the recovered end (a message received before its enqueue was durable could be lost and
// its offset reused by another message).
TEST(QueueDurableCrash, AMessageAConsumerReceivedIsNeverTakenBackByACrash) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  {
    lanes::bus b(quiet_bus(dir.path()));
    ASSERT_EQ(b.create_topic("q", durable_queue(2, lanes::durability::sync, 64 * 1024)), errc::ok);
  }
  std::mt19937 rng(20261205);
  std::size_t received_total = 0;
  for (int round = 0; round < 8; ++round) {
    const auto child = lanes_test::fork_reporting_child([&](int report_fd) {
      lanes::bus b(quiet_bus(dir.path()));
      std::thread producer([&] {
        lanes::producer p = b.make_producer("q");
        for (std::uint64_t i = 0;; ++i) {
          if (!p.publish(std::to_string(i % 7), "m" + std::to_string(i))) ::_exit(3);
        }
      });
      lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(16));
      for (;;) {
        const lanes::receive_result rr = c.receive(16, std::chrono::milliseconds(10));
        if (rr.status != errc::ok) ::_exit(5);
        for (const lanes::queue_message& m : rr.messages) {
          char line[64];
          const int n = std::snprintf(line, sizeof line, "R %u %llu\n", m.receipt.partition,
                                      static_cast<unsigned long long>(m.receipt.offset));
          if (::write(report_fd, line, static_cast<std::size_t>(n)) != n) ::_exit(4);
          if (c.ack(m.receipt) != errc::ok) ::_exit(6);
        }
      }
    });
    ASSERT_GE(child.pid, 0);
    std::string text;
    ASSERT_TRUE(lanes_test::kill_and_drain(child.pid, child.read_fd,
                                           std::chrono::milliseconds(50 + rng() % 250), text));
    lanes::bus b(quiet_bus(dir.path()));
    const auto info = b.describe_topic("q");
    ASSERT_TRUE(info);
    std::istringstream in(text);
    std::string tag;
    std::uint32_t part = 0;
    unsigned long long offset = 0;
    while (in >> tag >> part >> offset) {
      ASSERT_LT(part, info->partitions.size());
      ++received_total;
      EXPECT_LT(offset, info->partitions[part].end_offset)
          << "round " << round << ": partition " << part << " offset " << offset
          << " was received, then the crash took it back";
    }
  }
  EXPECT_GT(received_total, 0u) << "the consumers never received anything";
}

// Small segments: those whose records are all acked are deleted; the one holding an unacked
// message is kept, acked neighbours and all; acking that message lets it go too.
TEST(QueueDurableSegments, FullyAckedSegmentsAreDeletedPartlyAckedOnesKept) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
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
TEST(QueueDurableDamage, DamagedAcksFileRedeliversAndIsKeptAsideTornTailIsNot) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  const fs::path pdir = dir.path() / "q" / "0";
  const fs::path acks = pdir / "acks";
  auto aside_count = [&] {
    int n = 0;
    for (const auto& e : fs::directory_iterator(pdir)) {
      n += e.path().filename().string().rfind("acks.damaged-", 0) == 0 ? 1 : 0;
    }
    return n;
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
    lanes::bus b(quiet_bus(dir.path()));
    EXPECT_EQ(aside_count(), 0);
    lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(64));
    const auto got = drain(c);
    std::set<std::string> want;
    for (int i = 20; i < 40; ++i) want.insert(v(i));
    EXPECT_EQ(values_of(got), want) << "a torn tail loses no durable ack";
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
    lanes::bus b(quiet_bus(dir.path()));
    EXPECT_EQ(aside_count(), 1) << "the damaged file is kept for a person";
    lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(64));
    const auto got = drain(c);
    std::set<std::string> want;
    for (int i = 20; i < 40; ++i) {
      if (i < 25 || i >= 30) want.insert(v(i));  // [30, 35) after the damage: back again
    }
    EXPECT_EQ(values_of(got), want);
  }
  // A damaged file header: nothing counts as acked; everything from the log start is back.
  {
    std::fstream f(acks, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(2);
    f.put('\x7f');
  }
  lanes::bus b(quiet_bus(dir.path()));
  EXPECT_EQ(aside_count(), 2);
  lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(64));
  const auto got = drain(c);
  std::set<std::string> want;
  for (int i = 0; i < 40; ++i) want.insert(v(i));
  EXPECT_EQ(values_of(got), want) << "with no acks readable, everything is delivered again";
}

// With the acks file's header damaged, every message from the log start counts as unacked;
// when they cannot all fit the ring, the bus refuses to open with capacity_too_small (an
// explicit error naming the fix), instead of dropping any of them.
TEST(QueueDurableDamage, UnackedSetLargerThanTheRingRefusesToOpen) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
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

// Strict per-key order holds across a reopen (recovered messages carry their key hashes),
// and a dead letter of a durable queue lands in a durable dead-letter topic and is not
// redelivered by the queue after a reopen.
TEST(QueueDurableSemantics, StrictOrderAndDeadLettersSurviveReopen) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  {
    lanes::bus b(quiet_bus(dir.path()));
    lanes::topic_config dl = durable_queue(1, lanes::durability::sync);
    ASSERT_EQ(b.create_topic("dead", dl), errc::ok);
    lanes::topic_config q = durable_queue(1, lanes::durability::async);
    q.queue.ordering = lanes::queue_ordering::strict_per_key;
    q.queue.max_deliveries = 1;
    q.queue.dead_letter_topic = "dead";
    ASSERT_EQ(b.create_topic("q", q), errc::ok);
    lanes::producer p = b.make_producer("q");
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(p.publish(i % 2 == 0 ? "a" : "b", v(i)));
    lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
    const auto got = lanes_test::receive_until(c, 2);  // the head of each key
    ASSERT_EQ(got.size(), 2u);
    for (const auto& m : got) {
      if (m.record.value == v(0)) {
        ASSERT_EQ(c.nack(m.receipt), errc::ok);  // -> dead letter
      }
    }
    // m1 (key b) stays in flight.
  }
  lanes::bus b(quiet_bus(dir.path()));
  lanes::queue_consumer dc = b.make_queue_consumer(qc("dead"));
  const auto dead = drain(dc);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].record.value, v(0));
  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  // Key order: a: m2 m4, b: m1 m3 m5. One per key at a time.
  std::vector<std::string> order;
  for (int step = 0; step < 10 && order.size() < 5; ++step) {
    const auto got = lanes_test::receive_until(c, 2, 200ms);
    std::set<std::string> keys;
    for (const auto& m : got) {
      EXPECT_TRUE(keys.insert(m.record.key).second) << "two messages of one key at once";
      order.push_back(m.record.value);
    }
    for (const auto& m : got) ASSERT_EQ(c.ack(m.receipt), errc::ok);
  }
  std::vector<std::string> a, bk;
  for (const auto& s : order) {
    const int i = std::stoi(s.substr(1));
    (i % 2 == 0 ? a : bk).push_back(s);
  }
  EXPECT_EQ(a, (std::vector<std::string>{v(2), v(4)})) << "the dead letter is not redelivered";
  EXPECT_EQ(bk, (std::vector<std::string>{v(1), v(3), v(5)}));
}

}  // namespace
