// tests/bus/damage_matrix_recovered_test.cpp: damage a durable topic comes through (README.md,
// "Damage"): derived files are rebuilt from the segments; damage found on read is reported by
// poll (and `lanes consume`) with where to go on; with quarantine a damaged partition is set
// aside; a torn tail after the durable point is cut and reported.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "lanes/lanes.hpp"
#include "support/damage_matrix.hpp"

namespace {

using namespace lanes_test;
using DamageMatrix = lanes_test::damage_matrix_test;

// ---- derived files: rebuilt from the segments, nothing lost ----

TEST_F(DamageMatrix, ADamagedOrMissingIndexOrTimeIndexIsRebuiltAndEveryRecordReads) {
  const fs::path s = largest_sealed_segment();
  const fs::path idx = fs::path(s).replace_extension(".index");
  const fs::path tidx = fs::path(s).replace_extension(".timeindex");
  std::string bytes = slurp(idx);
  ASSERT_GE(bytes.size(), 40u);
  bytes[bytes.size() - 8] = static_cast<char>(bytes[bytes.size() - 8] ^ 0x01);  // its count
  spit(idx, bytes);
  fs::remove(tidx);
  {
    lanes::bus b(config());
    const read_outcome r = read_from(b, 0);
    EXPECT_EQ(r.status, errc::ok) << r.detail;
    EXPECT_EQ(r.offsets.size(), kRecords);
  }
  EXPECT_TRUE(fs::exists(tidx)) << "the time index was written again";
  const cli_result v = run_lanes(dir_.path(), "verify '" + data_.string() + "'");
  EXPECT_EQ(v.rc, 0) << v.err;
}

// ---- damage found on read: poll says where, at once, and a seek goes past it ----

TEST_F(DamageMatrix, AFlippedPayloadByteInASealedSegmentIsReportedByPollAndSkippable) {
  const fs::path s = largest_sealed_segment();
  std::string bytes = slurp(s);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x10);
  spit(s, bytes);
  lanes::bus b(config());  // a sealed, durable segment with a good index is not scanned
  read_outcome r = read_from(b, 0);
  ASSERT_EQ(r.status, errc::corrupt_batch);
  EXPECT_NE(r.detail.find(s.filename().string()), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("offset " + std::to_string(r.error_offset)), std::string::npos);
  EXPECT_GT(r.skip_to, r.error_offset);
  EXPECT_EQ(r.offsets.size(), r.error_offset) << "everything before the damage came";
  // Again at the next poll (never silently skipped), then past it with a seek.
  read_outcome again = read_from(b, r.error_offset);
  EXPECT_EQ(again.status, errc::corrupt_batch);
  EXPECT_TRUE(again.offsets.empty());
  read_outcome rest = read_from(b, r.skip_to);
  EXPECT_EQ(rest.status, errc::ok) << rest.detail;
  EXPECT_EQ(rest.offsets.size(), kRecords - r.skip_to);

  const cli_result v = run_lanes(dir_.path(), "verify '" + data_.string() + "'");
  EXPECT_EQ(v.rc, 1) << v.out << v.err;
  EXPECT_NE(v.err.find(s.filename().string()), std::string::npos) << v.err;
}

TEST_F(DamageMatrix, AZeroedPageInASealedSegmentIsReportedByPollAndTheCliExitsOne) {
  const fs::path s = largest_sealed_segment();
  std::string bytes = slurp(s);
  ASSERT_GE(bytes.size(), 3 * 4096u);
  std::fill(bytes.begin() + 4096, bytes.begin() + 8192, '\0');
  spit(s, bytes);
  std::uint64_t damaged_at = 0;
  {
    lanes::bus b(config());
    read_outcome r = read_from(b, 0);
    ASSERT_EQ(r.status, errc::corrupt_batch);
    EXPECT_NE(r.detail.find(s.filename().string()), std::string::npos) << r.detail;
    damaged_at = r.error_offset;
  }
  const cli_result c = run_lanes(dir_.path(), "consume -d '" + data_.string() + "' -t t -e");
  EXPECT_EQ(c.rc, 1) << c.err;
  EXPECT_EQ(lines(c.err), 1) << c.err;
  EXPECT_NE(c.err.find(s.filename().string()), std::string::npos) << c.err;
  EXPECT_EQ(static_cast<std::uint64_t>(lines(c.out)), damaged_at)
      << "the records before the damage were printed";
}

// ---- quarantine: the constructor succeeds, the loss is reported, no offset is reused ----

TEST_F(DamageMatrix, WithQuarantineADamagedPartitionIsSetAsideReportedAndItsOffsetsNotReused) {
  fs::remove(segments_[2]);
  const open_outcome o = try_open(/*quarantine=*/true);
  ASSERT_EQ(o.status, errc::ok) << o.what;
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_EQ(reports_[0].what, lanes::damage_report::kind::quarantined);
  EXPECT_EQ(reports_[0].to_offset, kRecords);
  bool aside = false;
  for (const auto& e : fs::directory_iterator(data_ / "t")) {
    aside = aside || e.path().filename().string().rfind("0.quarantine-", 0) == 0;
  }
  EXPECT_TRUE(aside);
  reports_.clear();
  lanes::bus b(config());
  EXPECT_TRUE(reports_.empty()) << "reported once, when it happened";
  lanes::producer p = b.make_producer("t");
  const lanes::publish_result r = p.publish("k", "after");
  ASSERT_TRUE(r);
  EXPECT_EQ(r.offset, kRecords) << "offsets continue after the quarantined ones";
}

// ---- after the durable point: a torn tail is cut and reported ----

TEST_F(DamageMatrix, ATornTailAfterTheDurablePointIsCutAndReported) {
  // Make the checkpoint say less is durable (as after a crash), then tear the last batch.
  { lanes::bus b(config()); }
  const fs::path cp = pdir_ / "checkpoint";
  std::string c = slurp(cp);
  const fs::path last = segments_.back();
  const std::uint64_t base = std::stoull(last.stem().string());
  lanes::io::checkpoint k;
  ASSERT_TRUE(
      lanes::io::decode_checkpoint({reinterpret_cast<const std::byte*>(c.data()), c.size()}, k));
  k.clean = false;
  k.durable_offset = base;
  std::vector<std::byte> raw(lanes::io::checkpoint_size);
  lanes::io::encode_checkpoint(k, raw.data());
  spit(cp, std::string(reinterpret_cast<const char*>(raw.data()), raw.size()));
  fs::resize_file(last, fs::file_size(last) - 10);
  lanes::bus b(config());
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_EQ(reports_[0].what, lanes::damage_report::kind::torn_tail);
  EXPECT_LT(reports_[0].from_offset, kRecords);
  EXPECT_GE(reports_[0].from_offset, base);
  const auto info = b.describe_topic("t");
  ASSERT_TRUE(info);
  ASSERT_EQ(info->damage.size(), 1u);
  EXPECT_EQ(info->partitions[0].end_offset, reports_[0].from_offset);
}

}  // namespace
