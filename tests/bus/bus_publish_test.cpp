// tests/bus/bus_publish_test.cpp: what publish writes: offsets dense per partition, routing
// (by key hash, round-robin, explicit partition), size limits, keys and values of every size,
// the forms of a key, headers and timestamps, and option structs built with designated
// initializers.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "lanes/bus.hpp"
#include "lanes/clock.hpp"
#include "lanes/partitioner.hpp"
#include "support/bus.hpp"

namespace {

using namespace lanes_test;

TEST(BusProduceConsume, OffsetsArePerPartitionDenseFromZero) {
  lanes_test::bus_with_topic bt("t", log_topic(3));
  auto& [b, p] = bt;
  for (std::uint32_t i = 0; i < 30; ++i) {
    const lanes::publish_result r =
        p.publish(std::nullopt, std::to_string(i), lanes_test::opts().partition(i % 3));
    ASSERT_TRUE(r) << lanes::to_string(r.status);
    EXPECT_EQ(r.partition, i % 3);
    EXPECT_EQ(r.offset, i / 3);
  }
  EXPECT_EQ(end_offsets(b, "t"), (std::vector<std::uint64_t>{10, 10, 10}));

  lanes::consumer c = reader_of(b, "t", 3);
  const auto got = lanes_test::poll_until(c, 30);
  ASSERT_EQ(got.size(), 30u);
  std::array<std::uint64_t, 3> next{};
  for (const owned_record& r : got) {
    ASSERT_LT(r.partition, 3u);
    EXPECT_EQ(r.offset, next[r.partition]++) << "partition " << r.partition;
    EXPECT_EQ(r.value, std::to_string(r.offset * 3 + r.partition));
    EXPECT_EQ(r.topic, "t");
  }
  EXPECT_EQ(next, (std::array<std::uint64_t, 3>{10, 10, 10}));
}

// publish copies keys and values with size-specific code (overlapping 4-, 8- and 16-byte
// moves up to 64 bytes, memcpy beyond); every size up to 200 bytes, with and without a key
// and with headers (the general path), must come back byte for byte.
TEST(BusProduceConsume, KeysAndValuesOfEverySizeRoundTripByteForByte) {
  lanes_test::bus_with_topic bt("t", log_topic(1, std::size_t{1} << 20));
  auto& [b, p] = bt;
  auto bytes = [](std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 7 + 1) & 0xff);
    return s;
  };
  struct sent {
    bool has_key;
    std::string key, value;
    bool with_header;
  };
  std::vector<sent> all;
  for (std::size_t n = 0; n <= 200; ++n) {
    const auto u = static_cast<unsigned>(n);
    all.push_back({false, "", bytes(n, u), false});
    all.push_back({true, bytes(n % 70, u + 1), bytes(n, u + 2), false});
    all.push_back({true, bytes(n % 70, u + 3), bytes(n, u + 4), true});
  }
  const std::array<lanes::header, 1> hdr{{{"h", "v"}}};
  for (const sent& m : all) {
    lanes::publish_options o;
    if (m.with_header) o.headers = hdr;
    const lanes::message_key key =
        m.has_key ? lanes::message_key(std::string_view(m.key)) : lanes::message_key();
    ASSERT_TRUE(p.publish(key, m.value, o));
  }
  lanes::consumer c = reader_of(b, "t", 1);
  const auto got = lanes_test::poll_until(c, all.size());
  ASSERT_EQ(got.size(), all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(got[i].has_key, all[i].has_key) << "message " << i;
    EXPECT_EQ(got[i].key, all[i].key) << "message " << i;
    EXPECT_EQ(got[i].value, all[i].value) << "message " << i << ", " << all[i].value.size() << " B";
    EXPECT_EQ(got[i].headers.size(), all[i].with_header ? 1u : 0u) << "message " << i;
  }
}

TEST(BusProduceConsume, KeysRouteByKeyHashModuloPartitions) {
  lanes::bus b(quiet_bus());
  constexpr std::uint32_t n = 8;
  ASSERT_EQ(b.create_topic("t", log_topic(n)), errc::ok);
  lanes::producer p = b.make_producer("t");
  const lanes::partitioner router(n);
  std::map<std::string, std::uint32_t> where;
  std::set<std::uint32_t> used;
  for (int round = 0; round < 2; ++round) {
    for (int k = 0; k < 100; ++k) {
      const std::string key = lanes_test::cat("user-", k);
      const lanes::publish_result r = p.publish(key, lanes_test::cat(key, "@", round));
      ASSERT_TRUE(r);
      EXPECT_EQ(r.partition, lanes::key_hash(key) % n) << key;
      EXPECT_EQ(r.partition, router.for_key(key)) << key;
      auto [it, fresh] = where.emplace(key, r.partition);
      if (!fresh) {
        EXPECT_EQ(it->second, r.partition) << "same key, other partition: " << key;
      }
      used.insert(r.partition);
    }
  }
  EXPECT_GT(used.size(), 4u) << "100 keys should spread over most of 8 partitions";

  lanes::consumer c = reader_of(b, "t", n);
  const auto got = lanes_test::poll_until(c, 200);
  ASSERT_EQ(got.size(), 200u);
  std::map<std::string, int> rounds;
  for (const owned_record& r : got) {
    ASSERT_TRUE(r.has_key);
    EXPECT_EQ(r.partition, where.at(r.key));
    // Both records of a key are in one partition, so they come in publish order.
    EXPECT_EQ(r.value, lanes_test::cat(r.key, "@", rounds[r.key]++));
  }
}

TEST(BusProduceConsume, KeylessMessagesGoRoundRobinPerProducer) {
  lanes_test::bus_with_topic bt("t", log_topic(4));
  auto& [b, p] = bt;
  const lanes::publish_result first = p.publish(std::nullopt, "x");
  ASSERT_TRUE(first);
  for (std::uint32_t i = 1; i < 12; ++i) {
    const lanes::publish_result r = p.publish(std::nullopt, "x");
    ASSERT_TRUE(r);
    EXPECT_EQ(r.partition, (first.partition + i) % 4);
  }
  EXPECT_EQ(end_offsets(b, "t"), (std::vector<std::uint64_t>{3, 3, 3, 3}));
}

TEST(BusProduceConsume, ExplicitPartitionAndOutOfRangeWritesNothing) {
  lanes_test::bus_with_topic bt("t", log_topic(3));
  auto& [b, p] = bt;
  // An explicit partition wins over the key.
  const lanes::publish_result r = p.publish("some-key", "v", lanes_test::opts().partition(2));
  ASSERT_TRUE(r);
  EXPECT_EQ(r.partition, 2u);
  const auto before = lanes_test::snapshot(b, "t");

  for (std::uint32_t bad : {3u, 4u, 1000u, 0xFFFF'FFFFu}) {
    EXPECT_EQ(p.publish(std::nullopt, "v", lanes_test::opts().partition(bad)).status,
              errc::invalid_partition);
    EXPECT_EQ(p.try_publish("k", "v", lanes_test::opts().partition(bad)).status,
              errc::invalid_partition);
    EXPECT_EQ(p.try_claim(std::nullopt, 8, lanes_test::opts().partition(bad)).status,
              errc::invalid_partition);
  }
  EXPECT_EQ(lanes_test::snapshot(b, "t"), before);
  EXPECT_EQ(end_offsets(b, "t"), (std::vector<std::uint64_t>{0, 0, 1}));
}

TEST(BusProduceConsume, OversizeMessageIsRejectedAndWritesNothing) {
  lanes::topic_config cfg = log_topic(1);
  cfg.max_message_size = 100;
  lanes_test::bus_with_topic bt("t", cfg);
  auto& [b, p] = bt;
  const std::string v100(100, 'a');
  const std::string v101(101, 'a');
  const std::string k50(50, 'k');
  const std::string v51(51, 'v');
  const lanes::header h[] = {{"n", "12345"}};  // 6 + 1 + 5 = 12 encoded bytes

  EXPECT_EQ(p.publish(std::nullopt, v101).status, errc::message_too_large);
  EXPECT_EQ(p.try_publish(std::nullopt, v101).status, errc::message_too_large);
  EXPECT_EQ(p.publish(k50, v51).status, errc::message_too_large);  // key counts
  EXPECT_EQ(p.publish(std::nullopt, std::string(89, 'a'), lanes_test::opts().headers(h)).status,
            errc::message_too_large);  // headers count
  EXPECT_EQ(p.try_claim(std::nullopt, 101).status, errc::message_too_large);
  EXPECT_EQ(end_offsets(b, "t"), (std::vector<std::uint64_t>{0}));
  EXPECT_EQ(b.describe_topic("t")->partitions[0].bytes, 0u);

  // Exactly the limit fits.
  EXPECT_TRUE(p.publish(std::nullopt, v100));
  EXPECT_TRUE(p.publish(std::string(50, 'k'), std::string(50, 'v')));
  EXPECT_TRUE(p.publish(std::nullopt, std::string(88, 'a'), lanes_test::opts().headers(h)));
  EXPECT_EQ(end_offsets(b, "t"), (std::vector<std::uint64_t>{3}));

  // Without max_message_size the ring's largest frame is the limit.
  ASSERT_EQ(b.create_topic("small", log_topic(1, 4096)), errc::ok);
  lanes::producer q = b.make_producer("small");
  const std::size_t largest = 4096 / 2 - sizeof(lanes::frame_header) - sizeof(lanes::record_header);
  EXPECT_EQ(q.publish(std::nullopt, std::string(largest + 1, 'x')).status, errc::message_too_large);
  EXPECT_TRUE(q.publish(std::nullopt, std::string(largest, 'x')));
}

TEST(BusProduceConsume, HeadersTimestampsAndKeysRoundTrip) {
  lanes_test::bus_with_topic bt("t", log_topic(1));
  auto& [b, p] = bt;
  const std::string binary("\0\x01\xff", 3);
  const lanes::header hs[] = {
      {"trace-id", "abc123"}, {"empty", ""}, {"bin", binary}, {"trace-id", "second"}};
  ASSERT_TRUE(
      p.publish("k1", "with headers", lanes_test::opts().timestamp_ns(123456789).headers(hs)));
  ASSERT_TRUE(p.publish(std::nullopt, "keyless", lanes_test::opts().timestamp_ns(42)));
  ASSERT_TRUE(p.publish("", "empty key", lanes_test::opts().timestamp_ns(43)));
  const auto before = std::chrono::system_clock::now();
  ASSERT_TRUE(p.publish(std::nullopt, ""));  // empty value, timestamp "now"
  const auto after = std::chrono::system_clock::now();

  lanes::consumer c = reader_of(b, "t", 1);
  const lanes::poll_result r = c.poll(1s);
  ASSERT_EQ(r.status, errc::ok);
  ASSERT_EQ(r.records.size(), 4u);

  const lanes::record_view& a = r.records[0];
  EXPECT_TRUE(a.has_key);
  EXPECT_EQ(a.key, "k1");
  EXPECT_EQ(a.value, "with headers");
  EXPECT_EQ(a.timestamp_ns, 123456789);
  ASSERT_EQ(a.headers.size(), 4u);
  std::vector<std::pair<std::string, std::string>> seen;
  for (lanes::header h : a.headers) seen.emplace_back(h.name, h.value);
  EXPECT_EQ(seen,
            (std::vector<std::pair<std::string, std::string>>{
                {"trace-id", "abc123"}, {"empty", ""}, {"bin", binary}, {"trace-id", "second"}}));
  std::string_view v;
  EXPECT_TRUE(a.headers.find("trace-id", v));
  EXPECT_EQ(v, "abc123");  // the first of that name
  EXPECT_TRUE(a.headers.find("bin", v));
  EXPECT_EQ(v, binary);
  EXPECT_TRUE(a.headers.find("empty", v));
  EXPECT_EQ(v, "");
  EXPECT_FALSE(a.headers.find("missing", v));

  const lanes::record_view& k = r.records[1];
  EXPECT_FALSE(k.has_key);
  EXPECT_TRUE(k.key.empty());
  EXPECT_TRUE(k.headers.empty());
  EXPECT_EQ(k.headers.begin(), k.headers.end());
  EXPECT_EQ(k.timestamp_ns, 42);

  const lanes::record_view& e = r.records[2];
  EXPECT_TRUE(e.has_key) << "an empty key is still a key";
  EXPECT_EQ(e.key, "");
  EXPECT_EQ(e.value, "empty key");

  const lanes::record_view& now = r.records[3];
  EXPECT_EQ(now.value, "");
  const auto ns = [](auto t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  };
  EXPECT_GE(now.timestamp_ns, ns(before) - 1'000'000);  // CLOCK_REALTIME, allow 1 ms skew
  EXPECT_LE(now.timestamp_ns, ns(after) + 1'000'000);
}

// lanes::own copies a record out of the ring: every field, the headers in their order, the
// topic. The copy stays as it was while later records reuse the ring's bytes.
TEST(BusProduceConsume, OwnedRecordKeepsEveryFieldAfterTheRingMovesOn) {
  lanes_test::bus_with_topic bt("orders", log_topic(2, 4096));
  auto& [b, p] = bt;
  const std::string binary("\0\x01", 2);
  const lanes::header hs[] = {{"trace-id", "abc"}, {"bin", binary}};
  ASSERT_TRUE(p.publish("k", "first", lanes_test::opts().partition(1).timestamp_ns(7).headers(hs)));
  lanes::consumer c = reader_of(b, "orders", 2);
  const lanes::poll_result r = c.poll(1s);
  ASSERT_EQ(r.status, errc::ok);
  ASSERT_EQ(r.records.size(), 1u);
  const lanes::owned_record kept = lanes::own(r.records[0]);
  const char* const ring_bytes = r.records[0].value.data();

  // Wrap partition 1's 4 KiB ring a few times over, reading as it goes (two records a round:
  // the records of a poll stay in the ring until the next poll).
  const std::string filler(500, 'x');
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(p.publish(std::nullopt, filler, lanes_test::opts().partition(1)));
    }
    ASSERT_EQ(poll_until(c, 2).size(), 2u) << "round " << round;
  }
  EXPECT_NE(std::string_view(ring_bytes, 5), "first") << "the ring reused the bytes";

  EXPECT_EQ(kept.topic, "orders");
  EXPECT_EQ(kept.partition, 1u);
  EXPECT_EQ(kept.offset, 0u);
  EXPECT_EQ(kept.timestamp_ns, 7);
  EXPECT_TRUE(kept.has_key);
  EXPECT_EQ(kept.key, "k");
  EXPECT_EQ(kept.value, "first");
  EXPECT_EQ(kept.headers, (std::vector<std::pair<std::string, std::string>>{{"trace-id", "abc"},
                                                                            {"bin", binary}}));
}

// Every form a key comes in reaches the record the same way; no key and an empty key differ.
TEST(BusProduceConsume, KeyFormsAndEmptyKeyVersusNoKey) {
  lanes_test::bus_with_topic bt("t", log_topic(1));
  auto& [b, p] = bt;
  const std::string s = "from-string";
  const std::optional<std::string_view> some = std::string_view("from-optional");
  const std::optional<std::string_view> none;
  ASSERT_TRUE(p.publish(s, "1"));
  ASSERT_TRUE(p.publish(std::string_view("from-view"), "2"));
  ASSERT_TRUE(p.publish("from-literal", "3"));
  ASSERT_TRUE(p.publish(some, "4"));
  ASSERT_TRUE(p.publish(none, "5"));
  ASSERT_TRUE(p.publish(std::nullopt, "6"));
  ASSERT_TRUE(p.publish("", "7"));
  lanes::consumer cons = reader_of(b, "t", 1);
  const auto got = lanes_test::poll_until(cons, 7);
  ASSERT_EQ(got.size(), 7u);
  EXPECT_EQ(got[0].key, "from-string");
  EXPECT_EQ(got[1].key, "from-view");
  EXPECT_EQ(got[2].key, "from-literal");
  EXPECT_EQ(got[3].key, "from-optional");
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(got[static_cast<std::size_t>(i)].has_key) << i;
  EXPECT_FALSE(got[4].has_key);
  EXPECT_FALSE(got[5].has_key);
  EXPECT_TRUE(got[6].has_key) << "an empty key is a key";
  EXPECT_EQ(got[6].key, "");
}

// The option structs are meant for designated initializers. This file builds with -Wextra
// and -Werror: GCC's -Wmissing-field-initializers fails it if a member a caller leaves out
// has no default member initializer.
TEST(BusProduceConsume, OptionStructsTakeDesignatedInitializers) {
  lanes::bus b(lanes::bus_config{.housekeeping_interval = 0ms});
  ASSERT_EQ(b.create_topic("t", {.partitions = 2, .ring_capacity = 4096}), errc::ok);
  lanes::producer p = b.make_producer("t");
  const lanes::header hs[] = {{.name = "h", .value = "v"}};
  ASSERT_TRUE(p.publish(std::nullopt, "a", {.partition = 1}));
  ASSERT_TRUE(p.publish("k", "b", {.partition = 0, .timestamp_ns = 5, .headers = hs}));
  const lanes::message ms[] = {{.value = "c", .options = {.partition = 1}}};
  std::array<lanes::publish_result, 1> rs{};
  EXPECT_EQ(p.publish_batch(ms, rs), 1u);
  lanes::consumer c =
      b.make_consumer({.group = "g", .reset = lanes::offset_reset::earliest, .auto_commit = false});
  ASSERT_EQ(c.subscribe({"t"}), errc::ok);
  const auto got = lanes_test::poll_until(c, 3);
  ASSERT_EQ(got.size(), 3u);
  const std::vector<topic_partition> one{{.topic = "t", .partition = 1}};
  EXPECT_EQ(c.position(one[0]), 2);
  EXPECT_EQ(c.commit(one[0], 2), errc::ok);
  EXPECT_EQ(c.committed({.topic = "t", .partition = 1}), 2);
}

}  // namespace
