// tests/bus/damage_matrix_refused_test.cpp: damage before the durable point of a durable topic
// (README.md, "Damage"): a deleted or cut segment, a damaged segment header, checkpoint, group
// offsets file or topic configuration, a garbage file named like a segment: the open is
// refused loudly, through the API and the CLI, and not a byte changes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "lanes/lanes.hpp"
#include "support/damage_matrix.hpp"

namespace {

using namespace lanes_test;
using DamageMatrix = lanes_test::damage_matrix_test;

// ---- damage before the durable point: refused, loudly, changing nothing ----

TEST_F(DamageMatrix, ADeletedFirstSegmentIsRefusedNotTakenForRetention) {
  fs::remove(segments_.front());
  expect_refused(errc::corrupt_log, "first segment file is missing");
}

TEST_F(DamageMatrix, ADeletedMiddleSegmentIsRefused) {
  fs::remove(segments_[segments_.size() / 2]);
  expect_refused(errc::corrupt_log, segments_[segments_.size() / 2 - 1].filename().string());
}

TEST_F(DamageMatrix, ADeletedLastSegmentIsRefused) {
  fs::remove(segments_.back());
  expect_refused(errc::corrupt_log, "segment files are missing");
}

TEST_F(DamageMatrix, ASealedSegmentCutShortIsRefused) {
  const fs::path s = segments_[2];
  for (std::uint64_t keep : {fs::file_size(s) / 2, fs::file_size(s) - 1, std::uint64_t{31}}) {
    SCOPED_TRACE(keep);
    const std::string whole = slurp(s);
    fs::resize_file(s, keep);
    expect_refused(errc::corrupt_log, s.filename().string());
    spit(s, whole);
  }
}

TEST_F(DamageMatrix, TheLastSegmentsFileHeaderDamagedBelowTheDurablePointIsRefusedEveryTime) {
  std::string bytes = slurp(segments_.back());
  bytes[5] = static_cast<char>(bytes[5] ^ 0x40);
  spit(segments_.back(), bytes);
  expect_refused(errc::corrupt_log, segments_.back().filename().string());
}

TEST_F(DamageMatrix, ADamagedOrDeletedCheckpointIsRefused) {
  const fs::path cp = pdir_ / "checkpoint";
  const std::string good = slurp(cp);
  for (std::size_t at : {std::size_t{0}, std::size_t{9}, std::size_t{20}, std::size_t{46}}) {
    SCOPED_TRACE(at);
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 1);
    spit(cp, bad);
    expect_refused(errc::corrupt_log, "checkpoint");
  }
  spit(cp, good.substr(0, 20));
  expect_refused(errc::corrupt_log, "checkpoint");
  fs::remove(cp);
  expect_refused(errc::corrupt_log, "checkpoint file is missing");
}

TEST_F(DamageMatrix, AGarbageFileNamedLikeASegmentIsRefusedNotDeleted) {
  std::string garbage(5000, '\0');
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 131 + 7);
  // After the last segment, and between two (base offsets no segment has).
  for (const char* name : {"00000000000099999999.log", "00000000000000000001.log"}) {
    SCOPED_TRACE(name);
    spit(pdir_ / name, garbage);
    expect_refused(errc::corrupt_log, "");
    EXPECT_EQ(slurp(pdir_ / name), garbage) << "recovery deleted or changed it";
    fs::remove(pdir_ / name);
  }
}

TEST_F(DamageMatrix, ADamagedGroupOffsetsFileIsRefusedOrSetAsideAndReported) {
  fs::path file;
  for (const auto& e : fs::directory_iterator(data_ / "t" / "offsets")) file = e.path();
  std::string bytes = slurp(file);
  bytes[0] = '7';  // partition 7: the checksum no longer matches
  spit(file, bytes);
  expect_refused(errc::corrupt_log, "group offsets file");
  const open_outcome q = try_open(/*quarantine=*/true);
  ASSERT_EQ(q.status, errc::ok) << q.what;
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_EQ(reports_[0].what, lanes::damage_report::kind::group_offsets_set_aside);
  EXPECT_NE(reports_[0].detail.find("set aside"), std::string::npos) << reports_[0].detail;
  EXPECT_FALSE(fs::exists(file));
  lanes::bus b(config());
  lanes::consumer_config cc;
  cc.group = "g";
  lanes::consumer c = b.make_consumer(cc);
  EXPECT_EQ(c.committed({"t", 0}), -1) << "the group starts again by its reset policy";
}

TEST_F(DamageMatrix, AnUnreadableTopicConfigurationIsRefused) {
  spit(data_ / "t" / "topic.conf", "partitions=many\n");
  expect_refused(errc::invalid_config, "topic.conf");
}

}  // namespace
