// tests/support/damage_matrix.hpp: the fixture of the damage matrix (tests/bus/damage_matrix_*):
// a durable topic with a data directory to damage, and the ways to look at what the bus, `lanes
// verify` and `lanes consume` make of it. Test files built with BIN_LANES only (LANES_BIN).
//
//   damage_matrix_test   fixture: data_ holds topic "t" (kRecords records, ~12 segments in
//                        pdir_, segments_ sorted), group "g" committed at 100; config(),
//                        try_open(), read_from(b, from), expect_refused(errc, names)
//   slurp(p), spit(p, bytes)  a file's bytes, read and written (support/files.hpp)
//   snapshot(dir)        every file under dir with its bytes, to check that nothing changed
//   run_lanes(dir, args) runs the `lanes` binary; lines(s): how many lines s has
//   value_of(i)          the value of record i
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "lanes/lanes.hpp"
#include "support/files.hpp"
#include "support/io.hpp"

namespace lanes_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using lanes::errc;

// Every file under `dir` (links as "-> target"), with its bytes: two equal snapshots mean
// nothing was written, created, renamed or deleted.
inline std::map<std::string, std::string> snapshot(const fs::path& dir) {
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

inline cli_result run_lanes(const fs::path& scratch, const std::string& args) {
  const fs::path out = scratch / "cli.out", err = scratch / "cli.err";
  const std::string cmd =
      std::string(LANES_BIN) + " " + args + " > '" + out.string() + "' 2> '" + err.string() + "'";
  const int st = std::system(cmd.c_str());
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(out), slurp(err)};
}

inline int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

inline constexpr std::uint64_t kRecords = 3000;
inline constexpr std::size_t kValue = 200;

inline std::string value_of(std::uint64_t i) {
  std::string v(kValue, 'a' + static_cast<char>(i % 26));
  std::snprintf(v.data(), 21, "%020llu", static_cast<unsigned long long>(i));
  return v;
}

struct open_outcome {
  errc status = errc::ok;
  std::string what;
};

// The fixture: a durable topic "t" of one partition in `data_` (kRecords records of value_of(i)
// with key "k<i>", about a dozen segments, all durable) whose group "g" committed offset 100;
// the test damages a file and checks what opening and reading it do. Suites name it:
// using DamageMatrix = lanes_test::damage_matrix_test;
class damage_matrix_test : public ::testing::Test {
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
    ASSERT_EQ(commit_as_group(b, 100), errc::ok);
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

  // Commits `offset` of partition 0 for group "g", through a member assigned it by hand.
  static errc commit_as_group(lanes::bus& b, std::uint64_t offset) {
    lanes::consumer_config cc;
    cc.group = "g";
    cc.auto_commit = false;
    lanes::consumer c = b.make_consumer(cc);
    const errc assigned = c.assign(std::vector<lanes::topic_partition>{{"t", 0}});
    EXPECT_EQ(assigned, errc::ok);
    return assigned == errc::ok ? c.commit({"t", 0}, offset) : assigned;
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

}  // namespace lanes_test
