// tests/connect/kafka/payload_pool_test.cpp: the lanes -> Kafka session's value blocks
// (connect/kafka/payload_pool.hpp): copies are intact, a block is reused only once every
// copy in it was released, and the pool says when it is full instead of growing.
#include "payload_pool.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using lanes::kafka::detail::payload_pool;

TEST(PayloadPool, EmptyAndVeryLargeValuesAreLeftToLibrdkafka) {
  EXPECT_FALSE(payload_pool::takes(0));
  EXPECT_TRUE(payload_pool::takes(1));
  EXPECT_TRUE(payload_pool::takes(payload_pool::largest));
  EXPECT_FALSE(payload_pool::takes(payload_pool::largest + 1));
}

TEST(PayloadPool, IsFullAtItsBoundAndABlockIsReusedOnlyWhenAllItsCopiesAreReleased) {
  payload_pool pool;
  const std::string value(payload_pool::largest, 'v');
  std::vector<const char*> copies;
  while (pool.has_room(value.size())) {
    const char* p = pool.copy(value);
    ASSERT_EQ(std::string(p, value.size()), value);
    copies.push_back(p);
  }
  EXPECT_EQ(pool.blocks(), payload_pool::max_blocks);
  // Fifteen values of largest fill a block (its header takes the rest of the sixteenth).
  ASSERT_EQ(copies.size(), payload_pool::max_blocks * 15);
  // All but one copy of the first block released: still full.
  for (std::size_t i = 0; i + 1 < 15; ++i) pool.release(copies[i]);
  EXPECT_FALSE(pool.has_room(value.size()));
  pool.release(copies[14]);
  ASSERT_TRUE(pool.has_room(value.size()));
  const char* again = pool.copy(std::string(value.size(), 'w'));
  EXPECT_EQ(again, copies[0]) << "the released block is the one reused";
  EXPECT_EQ(pool.blocks(), payload_pool::max_blocks);
  // The copies in the other blocks were not touched by the reuse.
  EXPECT_EQ(std::string(copies[15], value.size()), value);
  EXPECT_EQ(std::string(copies.back(), value.size()), value);
}

TEST(PayloadPool, TheCurrentBlockIsKeptWhileItFillsEvenWhenItsCopiesAreReleased) {
  payload_pool pool;
  const char* a = pool.copy("first");
  pool.release(a);
  const char* b = pool.copy("second");
  EXPECT_EQ(b, a + 8) << "a copy goes after the previous one, not over it";
  EXPECT_EQ(std::string(b, 6), "second");
  EXPECT_EQ(pool.blocks(), 1u);
}

}  // namespace
