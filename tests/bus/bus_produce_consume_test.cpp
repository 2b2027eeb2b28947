// tests/bus/bus_produce_consume_test.cpp: offsets, routing (key, round-robin, explicit), size
// limits, headers and timestamps, zero-copy claims, batches, and per-producer order per
// partition seen by several groups while several producer threads publish.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "lanes/bus.hpp"
#include "lanes/clock.hpp"
#include "lanes/partitioner.hpp"
#include "support/bus.hpp"
#include "support/concurrency.hpp"

namespace {

using namespace lanes_test;

// A group-less consumer reading every partition of `topic` from the log start.
lanes::consumer reader_of(lanes::bus& b, const std::string& topic, std::uint32_t partitions,
                          std::size_t max_poll = 500) {
  lanes::consumer c =
      b.make_consumer(lanes_test::cc().reset(offset_reset::earliest).max_poll_records(max_poll));
  std::vector<topic_partition> all;
  for (std::uint32_t i = 0; i < partitions; ++i) all.push_back({topic, i});
  EXPECT_EQ(c.assign(all), errc::ok);
  return c;
}

std::vector<std::uint64_t> end_offsets(const lanes::bus& b, const std::string& topic) {
  std::vector<std::uint64_t> out;
  const auto info = b.describe_topic(topic);
  if (!info) return out;
  for (const auto& p : info->partitions) out.push_back(p.end_offset);
  return out;
}

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

TEST(BusProduceConsume, ZeroCopyClaimCommitAndAbortLeavesNoGap) {
  lanes_test::bus_with_topic bt("t", log_topic(1));
  auto& [b, p] = bt;

  lanes::producer::claim c = p.try_claim("key", 5);
  ASSERT_TRUE(c) << lanes::to_string(c.status);
  ASSERT_EQ(c.value.size(), 5u);
  std::memcpy(c.value.data(), "hello", 5);
  lanes::publish_result r = p.commit(c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.offset, 0u);
  EXPECT_EQ(r.partition, 0u);

  lanes::producer::claim gone = p.try_claim(std::nullopt, 64);
  ASSERT_TRUE(gone);
  std::memset(gone.value.data(), 'X', gone.value.size());
  p.abort(gone);
  EXPECT_EQ(b.describe_topic("t")->partitions[0].end_offset, 1u) << "an abort takes no offset";
  p.abort(gone);  // a spent claim: nothing happens

  r = p.publish(std::nullopt, "after abort");
  ASSERT_TRUE(r);
  EXPECT_EQ(r.offset, 1u) << "no gap after an abort";

  const lanes::header hs[] = {{"h", "1"}};
  lanes::producer::claim d =
      p.try_claim(std::nullopt, 3, lanes_test::opts().timestamp_ns(7).headers(hs));
  ASSERT_TRUE(d);
  std::memcpy(d.value.data(), "xyz", 3);
  r = p.commit(d);
  EXPECT_EQ(r.offset, 2u);

  lanes::consumer cons = reader_of(b, "t", 1);
  const auto got = lanes_test::poll_until(cons, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].offset, 0u);
  EXPECT_EQ(got[0].key, "key");
  EXPECT_EQ(got[0].value, "hello");
  EXPECT_EQ(got[1].offset, 1u);
  EXPECT_EQ(got[1].value, "after abort");
  EXPECT_FALSE(got[1].has_key);
  EXPECT_EQ(got[2].offset, 2u);
  EXPECT_EQ(got[2].value, "xyz");
  EXPECT_EQ(got[2].timestamp_ns, 7);
  EXPECT_EQ(got[2].headers, (std::vector<std::pair<std::string, std::string>>{{"h", "1"}}));
  EXPECT_TRUE(lanes_test::poll_quiet(cons, 5ms).empty()) << "the aborted claim surfaced";
}

// One open claim per producer: a second claim or a publish in between would be published by
// the first one's commit (single producer) or wait for it forever (multi producer).
TEST(BusProduceConsume, OneOpenClaimPerProducerAndSpentClaimsAreRefused) {
  for (const auto mode : {lanes::producer_mode::single, lanes::producer_mode::multi}) {
    SCOPED_TRACE(mode == lanes::producer_mode::single ? "single" : "multi");
    lanes::topic_config tc = log_topic(1);
    tc.producers = mode;
    lanes_test::bus_with_topic bt("t", tc);
    auto& [b, p] = bt;

    lanes::producer::claim open = p.try_claim("k", 4);
    ASSERT_TRUE(open);
    const auto before = lanes_test::snapshot(b, "t");
    EXPECT_EQ(p.try_claim("k", 4).status, errc::producer_busy);
    EXPECT_EQ(p.publish("k", "v").status, errc::producer_busy);
    EXPECT_EQ(p.try_publish(std::nullopt, "v").status, errc::producer_busy);
    EXPECT_EQ(lanes_test::snapshot(b, "t"), before) << "a refused call changed the topic";

    std::memcpy(open.value.data(), "abcd", 4);
    const lanes::publish_result r = p.commit(open);
    ASSERT_TRUE(r);
    EXPECT_EQ(r.offset, 0u);
    EXPECT_EQ(p.commit(open).status, errc::invalid_argument) << "a spent claim committed twice";
    EXPECT_EQ(b.describe_topic("t")->partitions[0].end_offset, 1u);

    // The producer is free again, and a moved-to producer inherits an open claim.
    lanes::producer::claim again = p.try_claim(std::nullopt, 2);
    ASSERT_TRUE(again);
    lanes::producer moved = std::move(p);
    EXPECT_EQ(moved.publish("k", "v").status, errc::producer_busy);
    moved.abort(again);
    EXPECT_EQ(moved.publish("k", "v").offset, 1u);
  }
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

// try_claim alone (no publish to make room) must reuse the space of retained records that
// every reader has released, as publish does; else a zero-copy producer is stuck at `full`.
TEST(BusProduceConsume, ZeroCopyClaimsReuseRetainedSpace) {
  lanes_test::bus_with_topic bt("t", log_topic(1, 4096));
  auto& [b, p] = bt;
  lanes::consumer c = reader_of(b, "t", 1);
  std::uint64_t read = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    lanes::producer::claim cl = p.try_claim(std::nullopt, 100);
    ASSERT_TRUE(cl) << "claim " << i << ": " << lanes::to_string(cl.status);
    std::memset(cl.value.data(), 'z', cl.value.size());
    EXPECT_EQ(p.commit(cl).offset, i);
    if (i % 10 == 9) read += c.poll().records.size();  // the reader keeps up
  }
  read += lanes_test::poll_quiet(c, 5ms).size();
  EXPECT_EQ(read, 1000u);
  EXPECT_GT(lanes_test::stats(b, "t", 0).log_start_offset, 0u);
}

// Aborted claims leave padding frames; they must not fill the ring for good.
TEST(BusProduceConsume, AbortedClaimsDoNotFillTheRing) {
  lanes_test::bus_with_topic bt("t", log_topic(1, 4096));
  auto& [b, p] = bt;
  ASSERT_TRUE(p.publish(std::nullopt, "first"));
  for (std::uint64_t i = 0; i < 200; ++i) {  // several rings' worth
    lanes::producer::claim cl = p.try_claim("k", 100);
    ASSERT_TRUE(cl) << "claim " << i << ": " << lanes::to_string(cl.status);
    p.abort(cl);
  }
  p.set_max_block(50ms);
  const lanes::publish_result r = p.publish(std::nullopt, "after");
  ASSERT_TRUE(r) << lanes::to_string(r.status);
  EXPECT_EQ(r.offset, 1u) << "aborts take no offsets";
  const auto s = lanes_test::stats(b, "t", 0);
  EXPECT_EQ(s.end_offset, 2u);
  EXPECT_LE(s.bytes, 4096u);

  lanes::consumer c = reader_of(b, "t", 1);
  const auto got = lanes_test::poll_quiet(c, 5ms);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().value, "after");
  EXPECT_EQ(got.back().offset, 1u);
}

// Both producer modes: a single-producer topic publishes each call's records together.
class PublishBatch : public ::testing::TestWithParam<lanes::producer_mode> {};
INSTANTIATE_TEST_SUITE_P(Modes, PublishBatch,
                         ::testing::Values(lanes::producer_mode::single,
                                           lanes::producer_mode::multi),
                         [](const auto& param_info) {
                           return param_info.param == lanes::producer_mode::single ? "single"
                                                                                   : "multi";
                         });

TEST_P(PublishBatch, InOrderAndStopsAtFirstFailure) {
  lanes::topic_config tc = log_topic(2);
  tc.producers = GetParam();
  lanes_test::bus_with_topic bt("t", tc);
  auto& [b, p] = bt;
  std::vector<lanes::message> ms;
  for (int i = 0; i < 5; ++i) {
    lanes::message m;
    m.value = i % 2 == 0 ? "even" : "odd";
    m.options.partition = static_cast<std::uint32_t>(i % 2);
    m.options.timestamp_ns = 1000 + i;
    ms.push_back(m);
  }
  std::vector<lanes::publish_result> rs(5);
  ASSERT_EQ(p.publish_batch(ms, rs), 5u);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(rs[i]);
    EXPECT_EQ(rs[i].partition, static_cast<std::uint32_t>(i % 2));
    EXPECT_EQ(rs[i].offset, static_cast<std::uint64_t>(i / 2));
  }

  // The third message names a partition that does not exist: two go out, then it stops.
  ms[2].options.partition = 9;
  std::vector<lanes::publish_result> rs2(5);
  EXPECT_EQ(p.publish_batch(ms, rs2), 2u);
  EXPECT_EQ(rs2[2].status, errc::invalid_partition);
  EXPECT_EQ(end_offsets(b, "t"), (std::vector<std::uint64_t>{4, 3}));

  // Fewer result slots than messages: only that many are published.
  std::vector<lanes::publish_result> rs3(1);
  ms[2].options.partition = 0;
  EXPECT_EQ(p.publish_batch(ms, rs3), 1u);
  EXPECT_EQ(end_offsets(b, "t"), (std::vector<std::uint64_t>{5, 3}));

  lanes::consumer c = reader_of(b, "t", 2);
  const auto got = lanes_test::poll_until(c, 8);
  ASSERT_EQ(got.size(), 8u);
  for (const owned_record& r : got) EXPECT_EQ(r.value, r.partition == 0 ? "even" : "odd");

  // Records without a timestamp of their own get the call's time (one clock read).
  std::vector<lanes::message> plain(3);
  for (auto& m : plain) m.value = "t";
  plain[1].options.timestamp_ns = 77;
  const std::int64_t before = lanes::realtime_ns();
  ASSERT_EQ(p.publish_batch(plain, rs), 3u);
  const auto stamped = lanes_test::poll_until(c, 3);
  ASSERT_EQ(stamped.size(), 3u);
  std::vector<std::int64_t> ts;
  for (const owned_record& r : stamped) ts.push_back(r.timestamp_ns);
  std::sort(ts.begin(), ts.end());
  EXPECT_EQ(ts[0], 77);
  EXPECT_EQ(ts[1], ts[2]);
  EXPECT_GE(ts[1], before);
}

// More partitions than a call keeps open at once, rings smaller than one call's records and
// a consumer reading meanwhile: every record arrives once, per key in order, offsets dense.
TEST_P(PublishBatch, ManyPartitionsAndFullRingsWithAConcurrentConsumer) {
  lanes::topic_config tc = log_topic(12, 4096);
  tc.producers = GetParam();
  lanes_test::bus_with_topic bt("t", tc);
  auto& [b, p] = bt;
  lanes::consumer c = reader_of(b, "t", 12);
  constexpr int kCalls = 40, kPerCall = 150, kKeys = 37;
  std::thread producer([&] {
    std::vector<std::string> keys, values;
    for (int i = 0; i < kPerCall; ++i) values.emplace_back(24, ' ');
    for (int k = 0; k < kKeys; ++k) keys.push_back("key-" + std::to_string(k));
    std::vector<lanes::message> ms(kPerCall);
    std::vector<lanes::publish_result> rs(kPerCall);
    for (int call = 0; call < kCalls; ++call) {
      for (int i = 0; i < kPerCall; ++i) {
        const int seq = call * kPerCall + i;
        const int key = seq % kKeys;
        std::snprintf(values[i].data(), values[i].size() + 1, "%08d:%015d", key, seq);
        ms[i].key = keys[static_cast<std::size_t>(key)];
        ms[i].value = values[i];
      }
      ASSERT_EQ(p.publish_batch(ms, rs), static_cast<std::size_t>(kPerCall));
    }
  });
  const auto got = lanes_test::poll_until(c, kCalls * kPerCall, 20s);
  producer.join();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kCalls * kPerCall));
  std::vector<std::uint64_t> next_offset(12, 0);
  std::vector<int> last_seq(kKeys, -1);
  for (const owned_record& r : got) {
    EXPECT_EQ(r.offset, next_offset[r.partition]++) << "partition " << r.partition;
    const int key = std::stoi(r.value.substr(0, 8));
    const int seq = std::stoi(r.value.substr(9));
    EXPECT_EQ(r.key, "key-" + std::to_string(key));
    EXPECT_GT(seq, last_seq[static_cast<std::size_t>(key)]) << "key " << key << " out of order";
    last_seq[static_cast<std::size_t>(key)] = seq;
  }
  EXPECT_EQ(end_offsets(b, "t"), next_offset);
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

// Several producer threads publish tagged values to a multi-producer topic while two groups
// of two members each read everything: every group sees every message exactly once, and each
// producer's messages to a partition arrive in publish order.
TEST(BusProduceConsume, PerProducerOrderPerPartitionInEveryGroup) {
  constexpr std::uint32_t partitions = 4;
  constexpr int producers = 3;
  constexpr int groups = 2;
  constexpr int members = 2;
  const std::uint64_t per_producer = lanes_test::stress_iters(10000);
  const std::uint64_t total = per_producer * producers;

  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", log_topic(partitions, 1 << 14)), errc::ok);

  struct seen {
    std::uint32_t partition;
    std::uint64_t offset;
    std::uint64_t tag;
  };
  std::vector<lanes::consumer> cs;
  for (int g = 0; g < groups; ++g) {
    for (int m = 0; m < members; ++m) {
      cs.push_back(b.make_consumer(
          lanes_test::cc().group(lanes_test::cat("g", g)).reset(offset_reset::earliest)));
      ASSERT_EQ(cs.back().subscribe({"t"}), errc::ok);
    }
  }
  std::array<std::atomic<std::uint64_t>, groups> group_count{};
  std::vector<std::vector<seen>> got(cs.size());
  lanes_test::start_line settled(groups * members + producers);
  std::atomic<bool> give_up{false};

  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < cs.size(); ++i) {
    threads.emplace_back([&, i] {
      lanes::consumer& c = cs[i];
      const int g = static_cast<int>(i) / members;
      // Stable group first: own exactly this member's share before anyone publishes.
      const auto deadline = std::chrono::steady_clock::now() + 5s;
      while (c.assignment().size() != partitions / members &&
             std::chrono::steady_clock::now() < deadline) {
        (void)c.poll(1ms);
      }
      settled.wait();
      while (group_count[g].load() < total && !give_up.load()) {
        const lanes::poll_result r = c.poll(5ms);
        if (r.status != errc::ok) break;
        for (const lanes::record_view& v : r.records) {
          got[i].push_back({v.partition, v.offset, lanes_test::value_tag(v.value)});
        }
        group_count[g].fetch_add(r.records.size());
      }
    });
  }
  for (int pr = 0; pr < producers; ++pr) {
    threads.emplace_back([&, pr] {
      lanes::producer p = b.make_producer("t");
      p.set_max_block(10s);
      settled.wait();
      for (std::uint64_t s = 0; s < per_producer; ++s) {
        // Keyless (round-robin) for one producer, keyed for the others.
        const std::string key = lanes_test::cat("p", pr, "-", s % 7);
        const lanes::publish_result r =
            p.publish(pr == 0 ? std::nullopt : std::optional<std::string_view>(key),
                      lanes_test::tag_value(pr, s));
        if (!r) {
          ADD_FAILURE() << "publish: " << lanes::to_string(r.status);
          give_up = true;
          return;
        }
      }
    });
  }
  // A watchdog so that a lost message fails the test instead of hanging it.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while ((group_count[0].load() < total || group_count[1].load() < total) &&
         std::chrono::steady_clock::now() < deadline && !give_up.load()) {
    std::this_thread::sleep_for(1ms);
  }
  give_up = true;
  for (auto& t : threads) t.join();

  for (int g = 0; g < groups; ++g) {
    EXPECT_EQ(group_count[g].load(), total) << "group " << g;
    std::vector<std::uint8_t> once(total, 0);
    std::uint64_t dupes = 0;
    for (int m = 0; m < members; ++m) {
      const auto& v = got[static_cast<std::size_t>(g * members + m)];
      std::map<std::pair<std::uint32_t, std::uint64_t>, std::uint64_t> next_seq;  // (part, prod)
      std::array<std::uint64_t, partitions> last_offset{};
      std::array<bool, partitions> any{};
      for (const seen& s : v) {
        const std::uint64_t pr = lanes_test::tag_producer(s.tag);
        const std::uint64_t seq = lanes_test::tag_seq(s.tag);
        ASSERT_LT(pr, static_cast<std::uint64_t>(producers));
        ASSERT_LT(seq, per_producer);
        auto& n = next_seq[{s.partition, pr}];
        EXPECT_GE(seq, n) << "group " << g << " partition " << s.partition << " producer " << pr
                          << " went back";
        n = seq + 1;
        if (any[s.partition]) {
          EXPECT_EQ(s.offset, last_offset[s.partition] + 1);
        }
        any[s.partition] = true;
        last_offset[s.partition] = s.offset;
        std::uint8_t& o = once[pr * per_producer + seq];
        if (o != 0) ++dupes;
        o = 1;
      }
    }
    EXPECT_EQ(dupes, 0u) << "group " << g;
    EXPECT_EQ(std::count(once.begin(), once.end(), 1), static_cast<std::ptrdiff_t>(total))
        << "group " << g << " missed messages";
  }
}

}  // namespace
