// tests/tools/tools_cli_verify_test.cpp: `lanes dump` and `lanes verify` end to end
// (tools_cli.hpp): they read a good data directory, and find the damage in copies with a flipped
// byte and with a cut segment.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tools_cli.hpp"

namespace {

using namespace lanes_test;

TEST_F(ToolsCli, DumpAndVerifyFindDamage) {
  std::string input;
  for (int i = 0; i < 200; ++i)
    input += "key" + std::to_string(i % 7) + ":value-" + std::to_string(i) + "\n";
  ASSERT_EQ(lanes("produce -d " + d() + " -t t --create --partitions 2 -K :", input).rc, 0);
  result r = lanes("verify " + d());
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("200 records"), std::string::npos) << r.out;
  const fs::path seg = data_ / "t" / "0" / "00000000000000000000.log";
  r = lanes("dump " + quote(seg.string()) + " --values");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("batch at 32: offsets 0.."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("offset 0: timestamp"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("value-"), std::string::npos);

  // A copy with one flipped byte in the first batch's payload.
  const fs::path copy = dir_ / "copy";
  fs::copy(data_, copy, fs::copy_options::recursive);
  const fs::path bad = copy / "t" / "0" / "00000000000000000000.log";
  {
    std::fstream f(bad, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(32 + 48 + 40);
    char c = 0;
    f.get(c);
    f.seekp(32 + 48 + 40);
    f.put(static_cast<char>(c ^ 0x10));
  }
  r = lanes("verify " + quote(copy.string()));
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  EXPECT_NE(r.err.find(bad.string() + ": byte 32: bad_crc"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("lanes: error:"), std::string::npos);
  r = lanes("dump " + quote(bad.string()));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find(bad.string() + ": damage at byte 32: bad_crc"), std::string::npos) << r.err;
  // The original is untouched and still fine; a bus refuses the damaged copy.
  EXPECT_EQ(lanes("verify " + d()).rc, 0);
  r = lanes("consume -d " + quote(copy.string()) + " -t t -e");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("lanes verify"), std::string::npos) << r.err;

  // A second copy cut short by a few bytes: the data lay below the durable point.
  const fs::path copy2 = dir_ / "copy2";
  fs::copy(data_, copy2, fs::copy_options::recursive);
  const fs::path cut = copy2 / "t" / "1" / "00000000000000000000.log";
  fs::resize_file(cut, fs::file_size(cut) - 5);
  r = lanes("verify " + quote(copy2.string()) + " --json");
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("\"kind\": \"truncated\""), std::string::npos) << r.out;
  EXPECT_NE(r.err.find(cut.string()), std::string::npos) << r.err;
}

}  // namespace
