// tests/bus/damage_matrix_test.cpp: what a durable topic does with every kind of damage to its
// data directory (README.md, "Damage"): for each file kind and each damage, the documented
// outcome for opening the bus (API and CLI), `lanes verify`, `poll` and `lanes consume`, with
// a bound on time so that a hang fails the test, and the files checked byte for byte before
// and after a refused open.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "lanes/lanes.hpp"
#include "support/io.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using lanes::errc;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

// Every file under `dir` (links as "-> target"), with its bytes: two equal snapshots mean
// nothing was written, created, renamed or deleted.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string rel = fs::relative(e.path(), dir).string();
    if (e.is_symlink()) {
      out[rel] = "-> " + fs::read_symlink(e.path()).string();
    } else if (e.is_regular_file()) {
      out[rel] = slurp(e.path());
    } else {
      out[rel] = "<dir>";
    }
  }
  return out;
}

struct cli_result {
  int rc = -1;
  std::string out, err;
};

cli_result run_lanes(const fs::path& scratch, const std::string& args) {
  const fs::path out = scratch / "cli.out", err = scratch / "cli.err";
  const std::string cmd =
      std::string(LANES_BIN) + " " + args + " > '" + out.string() + "' 2> '" + err.string() + "'";
  const int st = std::system(cmd.c_str());
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(out), slurp(err)};
}

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

constexpr std::uint64_t kRecords = 3000;
constexpr std::size_t kValue = 200;

std::string value_of(std::uint64_t i) {
  std::string v(kValue, 'a' + static_cast<char>(i % 26));
  std::snprintf(v.data(), 21, "%020llu", static_cast<unsigned long long>(i));
  return v;
}

struct open_outcome {
  errc status = errc::ok;
  std::string what;
};

class DamageMatrix : public ::testing::Test {
 protected:
  void SetUp() override {
    LANES_REQUIRE_URING();
    data_ = dir_.path() / "data";
    lanes::bus b(config());
    lanes::topic_config t;
    t.partitions = 1;
    t.durable = lanes::durability::async;
    t.ring_capacity = 64 * 1024;
    t.segment_bytes = 64 * 1024;  // ~12 segments
    ASSERT_EQ(b.create_topic("t", t), errc::ok);
    lanes::producer p = b.make_producer("t");
    for (std::uint64_t i = 0; i < kRecords; ++i) {
      ASSERT_TRUE(p.publish("k" + std::to_string(i), value_of(i)));
    }
    ASSERT_EQ(p.wait_durable(0, kRecords - 1, 30s), errc::ok);
    lanes::consumer_config cc;
    cc.group = "g";
    cc.auto_commit = false;
    lanes::consumer c = b.make_consumer(cc);
    ASSERT_EQ(c.assign(std::vector<lanes::topic_partition>{{"t", 0}}), errc::ok);
    ASSERT_EQ(c.commit({"t", 0}, 100), errc::ok);
    pdir_ = data_ / "t" / "0";
    for (const auto& e : fs::directory_iterator(pdir_)) {
      if (e.path().extension() == ".log") segments_.push_back(e.path());
    }
    std::sort(segments_.begin(), segments_.end());
    ASSERT_GE(segments_.size(), 6u);
  }

  lanes::bus_config config(bool quarantine = false, bool read_only = false) {
    lanes::bus_config c;
    c.data_dir = data_.string();
    c.housekeeping_interval = 0ms;
    c.quarantine_on_damage = quarantine;
    c.read_only = read_only;
    c.on_damage = [this](const lanes::damage_report& d) { reports_.push_back(d); };
    return c;
  }

  // Segment sizes vary (the persister's batches decide where a segment rolls): the largest
  // sealed one, for damage in its middle.
  fs::path largest_sealed_segment() const {
    fs::path best = segments_.front();
    for (std::size_t i = 0; i + 1 < segments_.size(); ++i) {
      if (fs::file_size(segments_[i]) > fs::file_size(best)) best = segments_[i];
    }
    return best;
  }

  open_outcome try_open(bool quarantine = false) {
    try {
      lanes::bus b(config(quarantine));
      return {};
    } catch (const std::system_error& e) {
      return {static_cast<errc>(e.code().value()), e.what()};
    }
  }

  // Reads partition 0 from the start: every record (checked against what was published) up
  // to the first error, which is returned with its detail; each poll must come back within
  // a bound (a hang or a spin that never returns fails).
  struct read_outcome {
    std::vector<std::uint64_t> offsets;
    lanes::errc status = errc::ok;
    std::string detail;
    std::uint64_t error_offset = 0, skip_to = 0;
  };
  read_outcome read_from(lanes::bus& b, std::uint64_t from, std::uint64_t until = kRecords) {
    read_outcome r;
    lanes::consumer_config cc;
    cc.reset = lanes::offset_reset::earliest;
    lanes::consumer c = b.make_consumer(cc);
    EXPECT_EQ(c.assign(std::vector<lanes::topic_partition>{{"t", 0}}), errc::ok);
    EXPECT_EQ(c.seek({"t", 0}, from), errc::ok);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    std::uint64_t next = from;
    while (next < until && std::chrono::steady_clock::now() < deadline) {
      const auto t0 = std::chrono::steady_clock::now();
      lanes::poll_result got = c.poll(200ms);
      EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s) << "poll did not return";
      for (const lanes::record_view& rec : got.records) {
        EXPECT_EQ(rec.offset, next);
        EXPECT_EQ(rec.value, value_of(rec.offset));
        r.offsets.push_back(rec.offset);
        next = rec.offset + 1;
      }
      if (got.status != errc::ok) {
        r.status = got.status;
        r.detail = std::string(got.error.detail);
        r.error_offset = got.error.offset;
        r.skip_to = got.error.skip_to;
        return r;
      }
    }
    EXPECT_EQ(next, until) << "reading stopped without an error";
    return r;
  }

  // The refused open of a damaged directory: three times through the API and through the
  // CLI, with the same error naming `names`, and not a byte changed.
  void expect_refused(errc want, const std::string& names) {
    const auto before = snapshot(data_);
    for (int i = 0; i < 3; ++i) {
      const open_outcome o = try_open();
      EXPECT_EQ(o.status, want) << lanes::to_string(o.status) << ": " << o.what;
      EXPECT_NE(o.what.find(names), std::string::npos) << o.what;
      const cli_result l = run_lanes(dir_.path(), "topics -d '" + data_.string() + "' list");
      EXPECT_EQ(l.rc, 1) << l.out << l.err;
      EXPECT_EQ(lines(l.err), 1) << l.err;
      EXPECT_NE(l.err.find(names), std::string::npos) << l.err;
      const cli_result v = run_lanes(dir_.path(), "verify '" + data_.string() + "'");
      EXPECT_EQ(v.rc, 1) << "verify: " << v.out << v.err;
      EXPECT_EQ(snapshot(data_), before)
          << "a refused open changed the directory (round " << i << ")";
    }
  }

  lanes_test::scratch_dir dir_;
  fs::path data_, pdir_;
  std::vector<fs::path> segments_;
  std::vector<lanes::damage_report> reports_;
};

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
    lanes::consumer_config cc;
    cc.group = "g";
    cc.auto_commit = false;
    lanes::consumer c = b.make_consumer(cc);
    ASSERT_EQ(c.assign(std::vector<lanes::topic_partition>{{"t", 0}}), errc::ok);
    EXPECT_EQ(c.commit({"t", 0}, 200), errc::ok);
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
