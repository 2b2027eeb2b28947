// tests/core/partitioner_test.cpp: lanes::key_hash and lanes::partitioner.
//
// The key -> partition mapping is part of the on-disk contract, so key_hash is pinned to
// XXH3-64 (seed 0) values computed outside lanes: a throwaway C program linking the system
// libxxhash 0.8.1 (XXH3_64bits) printed the constants below. They are golden values of the
// xxHash specification, not of our code; if one fails, the mapping changed.
#include "lanes/partitioner.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

using lanes::errc;
using lanes::key_hash;
using lanes::partitioner;

// 100 bytes 'a'..'z' repeating, 300 bytes 'A'..'Z' repeating.
std::string letters(std::size_t n, char first) {
  std::string s(n, ' ');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(first + static_cast<char>(i % 26));
  return s;
}

// n bytes with value (i * 7 + 3) mod 256.
std::vector<std::byte> sevens(std::size_t n) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 7 + 3) & 0xff);
  return v;
}

TEST(KeyHash, MatchesXxh3GoldenValuesForStrings) {
  EXPECT_EQ(key_hash(std::string_view("")), 0x2d06800538d394c2ULL);
  EXPECT_EQ(key_hash(std::string_view("a")), 0xe6c632b61e964e1fULL);
  EXPECT_EQ(key_hash(std::string_view("lanes")), 0x27207e348ca23dbdULL);
  EXPECT_EQ(key_hash(std::string_view("orders-42")), 0x7a4471736168e586ULL);
  EXPECT_EQ(key_hash(letters(100, 'a')), 0x7f2b83f8e57a6e24ULL);
  EXPECT_EQ(key_hash(letters(300, 'A')), 0x4ae0c2095475801dULL);
}

TEST(KeyHash, MatchesXxh3GoldenValuesAcrossLengthClasses) {
  // XXH3 has separate code paths for 1-3, 4-8, 9-16, 17-128, 129-240 and longer inputs.
  struct golden {
    std::size_t len;
    std::uint64_t hash;
  };
  const golden cases[] = {
      {3, 0xa9088dda485b481cULL},   {16, 0xb8c859b0f030b585ULL},  {17, 0x714a04408e79b80fULL},
      {128, 0x67425a03650261bfULL}, {129, 0xc664bf3311c6abc4ULL}, {200, 0x746cd0025327bf5bULL},
      {240, 0x64556dc6b462a6cfULL}, {241, 0x8beadd3a8874fe17ULL}, {2000, 0x71f8268c6d856c4aULL},
  };
  const std::vector<std::byte> bytes = sevens(2000);
  for (const golden& g : cases) {
    const std::span<const std::byte> key(bytes.data(), g.len);
    EXPECT_EQ(key_hash(key), g.hash) << "length " << g.len;
    EXPECT_EQ(key_hash(key.data(), key.size()), g.hash) << "length " << g.len;
  }
}

TEST(KeyHash, OverloadsAgree) {
  const std::string k = "customer-17";
  EXPECT_EQ(key_hash(std::string_view(k)), key_hash(k.data(), k.size()));
  EXPECT_EQ(key_hash(std::as_bytes(std::span(k))), key_hash(k.data(), k.size()));
  EXPECT_NE(key_hash(std::string_view("customer-17")), key_hash(std::string_view("customer-71")));
}

TEST(Partitioner, ZeroPartitionsThrows) {
  try {
    partitioner p(0);
    FAIL() << "partitioner(0) did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), errc::no_partitions);
  }
}

TEST(Partitioner, ForKeyIsTheHashModuloTheCount) {
  const std::uint32_t counts[] = {1, 2, 3, 7, 16, 1000, 4'294'967'295u};
  for (std::uint32_t n : counts) {
    const partitioner p(n);
    EXPECT_EQ(p.partition_count(), n);
    for (int i = 0; i < 200; ++i) {
      const std::string key = "key-" + std::to_string(i);
      const std::uint64_t h = key_hash(key);
      EXPECT_EQ(p.for_key(key), h % n) << key << " into " << n;
      EXPECT_EQ(p.for_hash(h), h % n);
      EXPECT_LT(p.for_key(key), n);
    }
  }
  // Pinned through the golden hashes: the partition of "lanes" among 16 is fixed forever.
  EXPECT_EQ(partitioner(16).for_key("lanes"), 0x27207e348ca23dbdULL % 16);
  EXPECT_EQ(partitioner(16).for_key("lanes"), 13u);
  EXPECT_EQ(partitioner(7).for_key(""), 0x2d06800538d394c2ULL % 7);
}

TEST(Partitioner, SameKeySamePartition) {
  const partitioner a(12);
  const partitioner b(12);
  for (int i = 0; i < 100; ++i) {
    const std::string key = "user/" + std::to_string(i * 7919);
    const std::uint32_t first = a.for_key(key);
    EXPECT_EQ(a.for_key(key), first);
    EXPECT_EQ(b.for_key(key), first) << "two partitioners disagree";
    EXPECT_EQ(a.for_key(std::string(key)), first) << "depends on the key's address";
  }
}

TEST(Partitioner, RoundRobinCyclesPerInstance) {
  for (std::uint32_t n : {1u, 2u, 5u}) {
    partitioner p(n);
    partitioner q(n);
    for (std::uint32_t i = 0; i < 4 * n; ++i) EXPECT_EQ(p.next_round_robin(), i % n);
    // q has its own cursor: it starts at 0 regardless of p.
    EXPECT_EQ(q.next_round_robin(), 0u);
    EXPECT_EQ(p.next_round_robin(), 0u);
    if (n > 1) {
      EXPECT_EQ(q.next_round_robin(), 1u);
    }
  }
}

TEST(Partitioner, CheckRejectsOutOfRangePartitions) {
  const partitioner p(4);
  for (std::uint32_t i = 0; i < 4; ++i) EXPECT_EQ(p.check(i), errc::ok);
  EXPECT_EQ(p.check(4), errc::invalid_partition);
  EXPECT_EQ(p.check(5), errc::invalid_partition);
  EXPECT_EQ(p.check(UINT32_MAX), errc::invalid_partition);
  EXPECT_EQ(partitioner(1).check(1), errc::invalid_partition);
}

TEST(Partitioner, DistributionIsEven) {
  constexpr std::uint32_t n = 16;
  constexpr int keys = 100'000;
  const partitioner p(n);
  std::vector<int> counts(n, 0);
  for (int i = 0; i < keys; ++i) ++counts[p.for_key("order-" + std::to_string(i))];
  const double mean = static_cast<double>(keys) / n;
  for (std::uint32_t i = 0; i < n; ++i) {
    EXPECT_GE(counts[i], mean * 0.9) << "partition " << i;
    EXPECT_LE(counts[i], mean * 1.1) << "partition " << i;
  }
}

}  // namespace
