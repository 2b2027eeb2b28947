// tests/core/error_test.cpp: lanes::errc, its std::error_code category and names.
#include "lanes/error.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>
#include <system_error>
#include <type_traits>

namespace {

using lanes::errc;

static_assert(std::is_error_code_enum_v<errc>);
static_assert(std::is_convertible_v<errc, std::error_code>, "errc must convert implicitly");
static_assert(sizeof(errc) == 1, "hot paths return a one-byte status");
static_assert(noexcept(lanes::make_error_code(errc::full)));
static_assert(noexcept(lanes::to_string(errc::full)));

// The core codes, with their stable numbers: they may be logged and stored.
struct known {
  errc code;
  int value;
  const char* name;
};
constexpr known core_codes[] = {
    {errc::ok, 0, "ok"},
    {errc::full, 1, "full"},
    {errc::empty, 2, "empty"},
    {errc::timeout, 3, "timeout"},
    {errc::closed, 4, "closed"},
    {errc::capacity_not_power_of_two, 10, "capacity_not_power_of_two"},
    {errc::capacity_too_small, 11, "capacity_too_small"},
    {errc::capacity_too_large, 12, "capacity_too_large"},
    {errc::frame_too_large, 13, "frame_too_large"},
    {errc::too_many_readers, 14, "too_many_readers"},
    {errc::invalid_argument, 15, "invalid_argument"},
    {errc::invalid_partition, 16, "invalid_partition"},
    {errc::no_partitions, 17, "no_partitions"},
};

std::string unknown_message(int v) { return lanes::lanes_category().message(v); }

TEST(Error, CategoryIsNamedLanes) {
  EXPECT_STREQ(lanes::lanes_category().name(), "lanes");
  EXPECT_EQ(&lanes::lanes_category(), &lanes::lanes_category()) << "one category object";
  const std::error_code ec = errc::full;
  EXPECT_EQ(&ec.category(), &lanes::lanes_category());
}

TEST(Error, CoreCodesHaveStableValuesNamesAndMessages) {
  for (const known& k : core_codes) {
    EXPECT_EQ(static_cast<int>(k.code), k.value) << k.name;
    EXPECT_STREQ(lanes::to_string(k.code), k.name);
    const std::error_code ec = lanes::make_error_code(k.code);
    EXPECT_EQ(ec.value(), k.value);
    const std::string msg = ec.message();
    EXPECT_FALSE(msg.empty()) << k.name;
    EXPECT_NE(msg, unknown_message(k.value + 200)) << k.name;
    EXPECT_EQ(msg.find("unknown"), std::string::npos) << k.name << ": " << msg;
  }
}

// Every value of the enum's range either is a defined code (a name other than "unknown" and
// its own message) or falls back to "unknown" for both; names and messages are distinct.
TEST(Error, EveryDefinedCodeHasItsOwnNameAndMessage) {
  std::set<std::string> names;
  std::set<std::string> messages;
  int defined = 0;
  for (int v = 0; v < 256; ++v) {
    const auto e = static_cast<errc>(v);
    const char* name = lanes::to_string(e);
    ASSERT_NE(name, nullptr);
    const std::string msg = lanes::lanes_category().message(v);
    EXPECT_FALSE(msg.empty()) << v;
    const std::string fallback = "unknown lanes error " + std::to_string(v);
    if (std::strcmp(name, "unknown") == 0) {
      EXPECT_EQ(msg, fallback) << "value " << v << " has a message but no name";
      continue;
    }
    ++defined;
    EXPECT_NE(msg, fallback) << name << " has a name but no message";
    EXPECT_GT(std::strlen(name), 0u);
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
    EXPECT_TRUE(messages.insert(msg).second) << "duplicate message for " << name;
  }
  EXPECT_GE(defined, static_cast<int>(std::size(core_codes)));
}

TEST(Error, UnknownValuesFallBack) {
  EXPECT_STREQ(lanes::to_string(static_cast<errc>(255)), "unknown");
  const std::string msg = unknown_message(255);
  EXPECT_NE(msg.find("unknown"), std::string::npos);
  EXPECT_NE(msg.find("255"), std::string::npos) << "the message should name the value";
}

TEST(Error, OkIsFalseEverythingElseIsTrue) {
  const std::error_code ok = errc::ok;
  EXPECT_FALSE(ok);
  EXPECT_EQ(ok.value(), 0);
  for (const known& k : core_codes) {
    const std::error_code ec = k.code;  // implicit conversion
    EXPECT_EQ(static_cast<bool>(ec), k.code != errc::ok) << k.name;
  }
}

TEST(Error, ComparesWithErrorCodes) {
  const std::error_code ec = errc::frame_too_large;
  EXPECT_EQ(ec, errc::frame_too_large);
  EXPECT_NE(ec, errc::full);
  // Same number, other category: not equal.
  EXPECT_NE(ec, std::error_code(13, std::generic_category()));
  const std::system_error thrown(errc::too_many_readers, "ctx");
  EXPECT_EQ(thrown.code(), errc::too_many_readers);
  EXPECT_NE(std::string(thrown.what()).find("ctx"), std::string::npos);
}

}  // namespace
