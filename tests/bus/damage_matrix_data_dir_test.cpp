// tests/bus/damage_matrix_data_dir_test.cpp: a data directory is safe to point at (README.md,
// "Damage"): a read-only open writes nothing, links inside it are not followed, modes of what
// the bus did not create are kept, listing a directory that is not lanes' writes nothing,
// group names must be file names, and a full disk opens read-only and says why.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "lanes/lanes.hpp"
#include "support/damage_matrix.hpp"

namespace {

using namespace lanes_test;
using DamageMatrix = lanes_test::damage_matrix_test;

// ---- a read-only open writes nothing and reads everything ----

TEST_F(DamageMatrix, AReadOnlyBusReadsEveryRecordAndChangesNoByte) {
  const auto before = snapshot(data_);
  {
    lanes::bus b(config(false, /*read_only=*/true));
    EXPECT_TRUE(b.is_read_only());
    EXPECT_EQ(read_from(b, 0).offsets.size(), kRecords);
    errc st = errc::ok;
    (void)b.make_producer("t", &st);
    EXPECT_EQ(st, errc::read_only);
    EXPECT_EQ(b.create_topic("u", lanes::topic_config{}), errc::read_only);
    EXPECT_EQ(b.delete_topic("t"), errc::read_only);
  }
  EXPECT_EQ(snapshot(data_), before);
}

// ---- the data directory is safe to point at ----

TEST_F(DamageMatrix, SymbolicLinksInsideTheDataDirectoryAreRefusedNotFollowed) {
  const fs::path outside = dir_.path() / "outside";
  spit(outside, "precious");
  const fs::path idx = fs::path(segments_[1]).replace_extension(".index");
  fs::remove(idx);
  fs::create_symlink(outside, idx);
  const open_outcome o = try_open();
  EXPECT_EQ(o.status, errc::file_error) << o.what;
  EXPECT_NE(o.what.find("symbolic link"), std::string::npos) << o.what;
  EXPECT_EQ(slurp(outside), "precious");
  fs::remove(idx);

  // A link where the lock file or a temporary offsets file would be: not followed either.
  fs::remove(data_ / ".lock");
  fs::create_symlink(outside, data_ / ".lock");
  EXPECT_EQ(try_open().status, errc::file_error);
  EXPECT_EQ(slurp(outside), "precious");
  fs::remove(data_ / ".lock");
  fs::path offsets_file;
  for (const auto& e : fs::directory_iterator(data_ / "t" / "offsets")) offsets_file = e.path();
  fs::create_symlink(outside, offsets_file.string() + ".tmp");
  {
    lanes::bus b(config());
    EXPECT_EQ(commit_as_group(b, 200), errc::ok);
  }
  EXPECT_EQ(slurp(outside), "precious");
}

TEST_F(DamageMatrix, OpeningNeverChangesTheModeOfWhatItDidNotCreate) {
  ::chmod(data_.c_str(), 0755);
  { lanes::bus b(config()); }
  struct stat st {};
  ASSERT_EQ(::stat(data_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  // What it creates: at most 0750 / 0640, and a stricter umask stays stricter.
  const mode_t old = ::umask(077);
  {
    lanes::bus b(config());
    lanes::topic_config t;
    t.durable = lanes::durability::async;
    ASSERT_EQ(b.create_topic("u", t), errc::ok);
  }
  ::umask(old);
  ASSERT_EQ(::stat((data_ / "u" / "0").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(::stat((data_ / "u" / "topic.conf").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(DamageMatrix, ListingADirectoryThatIsNotALanesDirectoryWritesNothingInIt) {
  const fs::path other = dir_.path() / "not-lanes";
  fs::create_directories(other / "sub");
  spit(other / "file.txt", "mine");
  ::chmod(other.c_str(), 0755);
  const auto before = snapshot(other);
  const cli_result l = run_lanes(dir_.path(), "topics -d '" + other.string() + "' list");
  EXPECT_EQ(l.rc, 0) << l.err;
  EXPECT_EQ(snapshot(other), before) << "listing wrote into a directory that is not lanes'";
  struct stat st {};
  ASSERT_EQ(::stat(other.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  // And a lanes directory is listed without a byte changed either (even after a crash).
  const auto lanes_before = snapshot(data_);
  const cli_result d = run_lanes(dir_.path(), "topics -d '" + data_.string() + "' describe t");
  EXPECT_EQ(d.rc, 0) << d.err;
  EXPECT_EQ(snapshot(data_), lanes_before);
}

TEST_F(DamageMatrix, GroupNamesThatCannotBeAFileNameAreRefusedAtCreation) {
  lanes::bus b(config());
  for (std::size_t n : {std::size_t{125}, std::size_t{126}, std::size_t{249}}) {
    lanes::consumer_config cc;
    cc.group = std::string(n, 'g');
    errc st = errc::ok;
    lanes::consumer c = b.make_consumer(cc, &st);
    EXPECT_EQ(st, n <= lanes::bus::max_group_name_size ? errc::ok : errc::invalid_group) << n;
    if (st == errc::ok) {
      ASSERT_EQ(c.assign(std::vector<lanes::topic_partition>{{"t", 0}}), errc::ok);
      EXPECT_EQ(c.commit({"t", 0}, 1), errc::ok) << n;
    }
  }
}

// ---- a full disk: the directory opens read-only, and says why ----

TEST_F(DamageMatrix, AFullDiskOpensReadOnlyAndEveryDurableRecordCanBeRead) {
  lanes_test::scratch_dir small;
  if (::mount("lanes-test", small.path().c_str(), "tmpfs", 0, "size=512k,mode=0700") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs for the ENOSPC test (" << std::strerror(errno)
                 << "; needs root)";
  }
  struct unmount {
    fs::path p;
    ~unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } guard{small.path()};
  data_ = small.path() / "data";
  std::uint64_t durable_end = 0;
  {
    lanes::bus b(config());
    lanes::topic_config t;
    t.durable = lanes::durability::sync;
    t.ring_capacity = 64 * 1024;
    t.segment_bytes = 64 * 1024;
    ASSERT_EQ(b.create_topic("t", t), errc::ok);
    lanes::producer p = b.make_producer("t");
    for (std::uint64_t i = 0; i < 100000; ++i) {
      const lanes::publish_result r = p.publish("k", value_of(i));
      if (!r) {
        EXPECT_EQ(r.status, errc::no_space) << lanes::to_string(r.status);
        break;
      }
      durable_end = r.offset + 1;
    }
    // The record whose publish failed is never delivered (consumers read durable records
    // only): a consumer of this bus stops at the last acknowledged one.
    const read_outcome seen = read_from(b, 0, durable_end);
    EXPECT_EQ(seen.offsets.size(), durable_end);
    lanes::consumer_config cc;
    cc.reset = lanes::offset_reset::earliest;
    lanes::consumer c = b.make_consumer(cc);
    ASSERT_EQ(c.seek({"t", 0}, durable_end), errc::not_assigned);
    ASSERT_EQ(c.assign(std::vector<lanes::topic_partition>{{"t", 0}}), errc::ok);
    ASSERT_EQ(c.seek({"t", 0}, durable_end), errc::ok);
    const lanes::poll_result after = c.poll(200ms);
    EXPECT_TRUE(after.records.empty()) << "a record whose publish failed was delivered";
  }
  ASSERT_GT(durable_end, 0u);
  lanes::bus b(config());
  EXPECT_TRUE(b.is_read_only());
  EXPECT_NE(b.read_only_reason().find("ENOSPC"), std::string::npos) << b.read_only_reason();
  EXPECT_EQ(read_from(b, 0, durable_end).offsets.size(), durable_end);
}

}  // namespace
