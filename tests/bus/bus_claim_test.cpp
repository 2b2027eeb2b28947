// tests/bus/bus_claim_test.cpp: zero-copy publishing (try_claim, commit, abort): no gap after a
// commit or an abort, one open claim per producer, spent claims refused, retained space
// reused, and aborted claims do not fill the ring.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "lanes/bus.hpp"
#include "support/bus.hpp"

namespace {

using namespace lanes_test;

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

}  // namespace
