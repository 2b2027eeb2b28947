// tests/bus/bus_errors_test.cpp: bad input and a closed bus get a clear error and change
// nothing; poll's timeout, and a waiting poll woken by a publish and by close().
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "lanes/bus.hpp"
#include "support/bus.hpp"

namespace {

using namespace lanes_test;

TEST(BusClosed, EverythingAfterCloseIsClosed) {
  lanes_test::bus_with_topic bt("t", log_topic(2));
  auto& [b, p] = bt;
  ASSERT_TRUE(p.publish(std::nullopt, "before", lanes_test::opts().partition(0)));
  lanes::consumer group =
      b.make_consumer(lanes_test::cc().group("g").reset(offset_reset::earliest));
  ASSERT_EQ(group.subscribe({"t"}), errc::ok);
  lanes::consumer alone = b.make_consumer(lanes_test::cc().reset(offset_reset::earliest));
  const std::vector<topic_partition> mine{tp0};
  ASSERT_EQ(alone.assign(mine), errc::ok);
  const auto before = lanes_test::snapshot(b, "t");

  EXPECT_FALSE(b.is_closed());
  b.close();
  EXPECT_TRUE(b.is_closed());
  b.close();  // twice is fine

  EXPECT_EQ(p.publish(std::nullopt, "after").status, errc::closed);
  EXPECT_EQ(p.try_publish(std::nullopt, "after").status, errc::closed);
  EXPECT_EQ(p.try_claim(std::nullopt, 5).status, errc::closed);
  EXPECT_EQ(group.poll().status, errc::closed);
  EXPECT_EQ(group.poll(10ms).status, errc::closed);
  EXPECT_TRUE(group.poll().records.empty());
  EXPECT_EQ(alone.poll().status, errc::closed);

  errc st = errc::ok;
  EXPECT_FALSE(b.make_producer("t", &st));
  EXPECT_EQ(st, errc::closed);
  st = errc::ok;
  EXPECT_FALSE(b.make_consumer({}, &st));
  EXPECT_EQ(st, errc::closed);
  EXPECT_EQ(b.create_topic("u", log_topic(1)), errc::closed);
  EXPECT_EQ(b.delete_topic("t"), errc::closed);
  lanes::consumer late = b.make_consumer(lanes_test::cc().group("g2"));
  EXPECT_EQ(late.subscribe({"t"}), errc::closed);

  EXPECT_EQ(lanes_test::snapshot(b, "t"), before);
  EXPECT_EQ(b.list_topics(), (std::vector<std::string>{"t"}));
}

TEST(BusErrors, SingleProducerTopicHasOneProducerAtATime) {
  lanes::bus b(quiet_bus());
  lanes::topic_config cfg = log_topic(1);
  cfg.producers = lanes::producer_mode::single;
  ASSERT_EQ(b.create_topic("t", cfg), errc::ok);
  errc st = errc::ok;
  std::optional<lanes::producer> first(b.make_producer("t", &st));
  ASSERT_EQ(st, errc::ok);
  ASSERT_TRUE(*first);
  ASSERT_TRUE(first->publish(std::nullopt, "a"));

  lanes::producer second = b.make_producer("t", &st);
  EXPECT_EQ(st, errc::producer_busy);
  EXPECT_FALSE(second);

  // Moving the producer keeps the topic taken.
  lanes::producer moved = std::move(*first);
  first.reset();
  EXPECT_TRUE(moved);
  EXPECT_FALSE(b.make_producer("t", &st));
  EXPECT_EQ(st, errc::producer_busy);
  EXPECT_TRUE(moved.publish(std::nullopt, "b"));
  EXPECT_EQ(b.describe_topic("t")->partitions[0].end_offset, 2u);

  { lanes::producer gone = std::move(moved); }
  lanes::producer third = b.make_producer("t", &st);
  EXPECT_EQ(st, errc::ok);
  ASSERT_TRUE(third);
  const lanes::publish_result r = third.publish(std::nullopt, "c");
  ASSERT_TRUE(r);
  EXPECT_EQ(r.offset, 2u);

  // Multi-producer topics take any number.
  ASSERT_EQ(b.create_topic("m", log_topic(1)), errc::ok);
  std::vector<lanes::producer> many;
  for (int i = 0; i < 5; ++i) {
    many.push_back(b.make_producer("m", &st));
    EXPECT_EQ(st, errc::ok);
    EXPECT_TRUE(many.back());
  }
}

TEST(BusErrors, BadConsumerInputChangesNothing) {
  lanes_test::bus_with_topic bt("t", log_topic(2));
  auto& [b, p] = bt;
  ASSERT_TRUE(p.publish(std::nullopt, "x"));
  const auto before = lanes_test::snapshot(b, "t");

  for (const char* bad : {"bad group", "a/b", ".", "..", "caf\xc3\xa9"}) {
    errc st = errc::ok;
    lanes::consumer c = b.make_consumer(lanes_test::cc().group(bad), &st);
    EXPECT_EQ(st, errc::invalid_group) << bad;
    EXPECT_FALSE(c) << bad;
  }
  errc st = errc::ok;
  EXPECT_FALSE(b.make_consumer(lanes_test::cc().max_poll_records(0), &st));
  EXPECT_EQ(st, errc::invalid_config);

  lanes::consumer c = b.make_consumer(lanes_test::cc().group("g"), &st);
  ASSERT_EQ(st, errc::ok);
  EXPECT_EQ(c.subscribe({"nope"}), errc::unknown_topic);
  EXPECT_EQ(c.subscribe({"t", "nope"}), errc::unknown_topic);
  const std::vector<std::string> none;
  EXPECT_EQ(c.subscribe(none), errc::invalid_argument);
  EXPECT_TRUE(c.poll(5ms).records.empty());
  EXPECT_TRUE(c.assignment().empty()) << "a failed subscribe joined the group";
  EXPECT_EQ(c.generation(), 0u);

  // A group member is assigned by its group, not by hand.
  ASSERT_EQ(c.subscribe({"t"}), errc::ok);
  const std::vector<topic_partition> mine{tp0};
  EXPECT_EQ(c.assign(mine), errc::invalid_argument);

  // A default-constructed consumer is closed.
  lanes::consumer empty;
  EXPECT_FALSE(empty);
  EXPECT_EQ(empty.poll().status, errc::closed);
  EXPECT_EQ(empty.subscribe({"t"}), errc::closed);
  EXPECT_EQ(empty.commit(), errc::closed);
  EXPECT_EQ(empty.seek(tp0, 0), errc::closed);
  EXPECT_EQ(empty.position(tp0), -1);

  // A default-constructed producer fails instead of crashing.
  lanes::producer none_p;
  EXPECT_FALSE(none_p);
  EXPECT_EQ(none_p.try_claim(std::nullopt, 1).status, errc::unknown_topic);

  c.close();
  // The group now exists (the subscribe), but no offsets changed.
  const auto after = lanes_test::snapshot(b, "t");
  ASSERT_TRUE(after.has_value());
  for (std::size_t i = 0; i < after->size(); ++i) {
    EXPECT_EQ(std::get<1>((*after)[i]), std::get<1>((*before)[i]));
    EXPECT_EQ(std::get<2>((*after)[i]), std::get<2>((*before)[i]));
    EXPECT_EQ(std::get<3>((*after)[i]), std::get<3>((*before)[i]));
  }
}

// ---- poll waiting ----

TEST(BusPoll, TimeoutWithNothingToRead) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", log_topic(2)), errc::ok);
  lanes::consumer alone = b.make_consumer({});
  const std::vector<topic_partition> mine{tp0};
  ASSERT_EQ(alone.assign(mine), errc::ok);
  lanes::consumer member = b.make_consumer(lanes_test::cc().group("g"));
  ASSERT_EQ(member.subscribe({"t"}), errc::ok);
  (void)member.poll();

  for (lanes::consumer* c : {&alone, &member}) {
    const auto t0 = std::chrono::steady_clock::now();
    const lanes::poll_result r = c->poll(40ms);
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(r.status, errc::ok);
    EXPECT_TRUE(r.records.empty());
    EXPECT_GE(took, 40ms);
    EXPECT_LT(took, 5s);
  }
  // Zero timeout: returns at once.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(alone.poll().records.empty());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

// A consumer that waits on a partition and a publish from another thread.
class PollWake : public ::testing::TestWithParam<bool> {};  // param: busy_spin

TEST_P(PollWake, APublishWakesAWaitingPoll) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", log_topic(2)), errc::ok);
  lanes::consumer c = b.make_consumer(lanes_test::cc().group("g").busy_spin(GetParam()));
  ASSERT_EQ(c.subscribe({"t"}), errc::ok);
  (void)c.poll();
  ASSERT_EQ(c.assignment().size(), 2u);

  std::atomic<bool> polling{false};
  std::string value;
  std::chrono::steady_clock::duration took{};
  std::thread t([&] {
    polling = true;
    const auto t0 = std::chrono::steady_clock::now();
    const lanes::poll_result r = c.poll(5s);
    took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(r.status, errc::ok);
    if (r.records.size() == 1) value = std::string(r.records[0].value);
  });
  while (!polling.load()) std::this_thread::yield();
  std::this_thread::sleep_for(30ms);
  lanes::producer p = b.make_producer("t");
  ASSERT_TRUE(p.publish(std::nullopt, "wake up", lanes_test::opts().partition(1)));
  t.join();
  EXPECT_EQ(value, "wake up");
  EXPECT_LT(took, 2500ms) << "the publish did not wake the poll";
}

TEST_P(PollWake, CloseWakesAWaitingPoll) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", log_topic(1)), errc::ok);
  lanes::consumer c =
      b.make_consumer(lanes_test::cc().reset(offset_reset::earliest).busy_spin(GetParam()));
  const std::vector<topic_partition> mine{tp0};
  ASSERT_EQ(c.assign(mine), errc::ok);
  std::atomic<bool> polling{false};
  errc status = errc::ok;
  std::chrono::steady_clock::duration took{};
  std::thread t([&] {
    polling = true;
    const auto t0 = std::chrono::steady_clock::now();
    status = c.poll(5s).status;
    took = std::chrono::steady_clock::now() - t0;
  });
  while (!polling.load()) std::this_thread::yield();
  std::this_thread::sleep_for(30ms);
  b.close();
  t.join();
  EXPECT_EQ(status, errc::closed);
  EXPECT_LT(took, 2500ms) << "close did not wake the poll";
}

INSTANTIATE_TEST_SUITE_P(ParkAndSpin, PollWake, ::testing::Values(false, true),
                         [](const auto& param_info) {
                           return param_info.param ? "busy_spin" : "park";
                         });

TEST(BusPoll, ADeleteWhileWaitingDoesNotHangThePoll) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", log_topic(1)), errc::ok);
  lanes::consumer c = reader_of(b, "t", 1, lanes_test::cc().max_poll_records(1));
  lanes::producer p = b.make_producer("t");
  ASSERT_TRUE(p.publish(std::nullopt, "a"));
  ASSERT_TRUE(p.publish(std::nullopt, "b"));
  ASSERT_EQ(c.poll().records.size(), 1u);
  ASSERT_EQ(b.delete_topic("t"), errc::ok);
  // The topic is gone with one record unread: a bounded poll still returns.
  const auto t0 = std::chrono::steady_clock::now();
  const lanes::poll_result r = c.poll(30ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s) << "poll overran its timeout";
  EXPECT_TRUE(r.records.empty());
}

}  // namespace
