// tests/io/io_corruption_test.cpp: recovery against damaged segment files.
//
// A small single-segment log (16 batches, the last two small) is written and closed once;
// every case starts from a copy of those pristine files, damages them, writes a checkpoint
// that says offsets below X (the first offset of batch 8) were durable, and opens the log.
// Expected, for damage whose first bad byte lies in batch j:
//   j >= 8 (after the durable point): the open succeeds and the log ends at batch j's first
//          offset (a torn tail, cut off), every batch read back is intact;
//   j < 8 (before it), or the file header: the open refuses with corrupt_log.
// Nothing may crash, allocate hugely, or return a batch that fails its checksum
// (expect_sequence compares every byte with what was appended).
#include <gtest/gtest.h>

#include <random>

#include "lanes/segment_scan.hpp"
#include "support/io.hpp"

namespace {

using namespace lanes_test;
using lanes::errc;
using lanes::io::log_options;
using lanes::io::partition_log;

constexpr int batch_count = 16;
constexpr int durable_batch = 8;  // X = first offset of this batch

class IoCorruption : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!uring_unavailable_reason().empty()) return;
    pristine_ = new pristine();
    scratch_dir d;
    auto r = partition_log::open(d.path(), "t", 0, options());
    ASSERT_TRUE(r) << r.detail;
    log_writer w(*r.log);
    for (int i = 0; i < batch_count; ++i) {
      ASSERT_EQ(w.append(i < batch_count - 2 ? 800 : 100, 1 + i % 3).status, errc::ok);
    }
    ASSERT_EQ(r.log->close(), errc::ok);
    const fs::path dir = d.path() / "t" / "0";
    pristine_->log = read_file(dir / "00000000000000000000.log");
    pristine_->index = read_file(dir / "00000000000000000000.index");
    pristine_->timeindex = read_file(dir / "00000000000000000000.timeindex");
    lanes::io::memory_source src(pristine_->log.data(), pristine_->log.size());
    const auto s = lanes::io::scan_segment(
        src, 0, 4096,
        [](void* ctx, std::uint64_t pos, const lanes::io::batch_header& h) {
          static_cast<pristine*>(ctx)->batches.push_back({pos, h.base_offset});
        },
        pristine_);
    ASSERT_TRUE(s.clean());
    pristine_->end = s.next_offset;
    ASSERT_EQ(pristine_->batches.size(), static_cast<std::size_t>(batch_count));
  }
  static void TearDownTestSuite() {
    delete pristine_;
    pristine_ = nullptr;
  }
  void SetUp() override {
    LANES_REQUIRE_URING();
    ASSERT_NE(pristine_, nullptr);
  }

  static log_options options() {
    log_options o;
    o.segment_bytes = 1 << 20;
    o.max_batch_bytes = 4096;
    o.index_interval_bytes = 512;
    o.queue_depth = 8;
    return o;
  }
  struct batch_at {
    std::uint64_t pos;
    std::uint64_t base;
  };
  struct pristine {
    std::vector<std::byte> log, index, timeindex;
    std::vector<batch_at> batches;
    std::uint64_t end = 0;
  };
  static pristine* pristine_;

  static std::uint64_t durable_point() { return pristine_->batches[durable_batch].base; }
  static std::uint64_t pos(int j) { return pristine_->batches[static_cast<std::size_t>(j)].pos; }
  // The batch holding byte p (p past the file header), or batch_count past the end.
  static int batch_of(std::uint64_t p) {
    int j = -1;
    for (int k = 0; k < batch_count; ++k) {
      if (pos(k) <= p) j = k;
    }
    return p >= pristine_->log.size() ? batch_count : j;
  }
  static std::uint64_t base_of(int j) {
    return j >= batch_count ? pristine_->end : pristine_->batches[static_cast<std::size_t>(j)].base;
  }

  struct outcome {
    errc status = errc::ok;
    std::uint64_t end = 0;
    std::uint64_t truncated = 0;
    std::uint64_t file_size = 0;
    std::string detail;
  };

  // Writes the (damaged) files and a checkpoint, opens, reads everything back.
  outcome open_damaged(const std::vector<std::byte>& log_bytes, std::uint64_t durable,
                       bool clean = false, bool with_index = true, bool quarantine = false) {
    const fs::path dir = dir_.path() / "t" / "0";
    fs::remove_all(dir_.path() / "t");
    fs::create_directories(dir);
    write_file(dir / "00000000000000000000.log", log_bytes);
    if (with_index) {
      write_file(dir / "00000000000000000000.index", pristine_->index);
      write_file(dir / "00000000000000000000.timeindex", pristine_->timeindex);
    }
    lanes::io::checkpoint cp;
    cp.clean = clean;
    cp.durable_offset = durable;
    std::vector<std::byte> raw(lanes::io::checkpoint_size);
    lanes::io::encode_checkpoint(cp, raw.data());
    write_file(dir / "checkpoint", raw);
    log_options o = options();
    o.quarantine_on_damage = quarantine;
    auto r = partition_log::open(dir_.path(), "t", 0, o);
    outcome out;
    out.status = r.status;
    out.detail = r.detail;
    if (!r) return out;
    out.end = r.log->appended_offset();
    out.truncated = r.log->recovery().bytes_truncated;
    errc err = errc::ok;
    const auto all = read_all(*r.log, o.max_batch_bytes, UINT64_MAX, &err);
    EXPECT_EQ(err, errc::ok);
    expect_sequence(all, 0, out.end);
    EXPECT_EQ(r.log->durable_offset(), out.end);
    EXPECT_EQ(r.log->close(), errc::ok);
    out.file_size = fs::file_size(dir / "00000000000000000000.log");
    return out;
  }

  // Damage whose first bad byte is p: the outcome the header comment promises.
  void expect_for_damage_at(std::uint64_t p, const outcome& o, const std::string& what) {
    const int j = p < lanes::io::file_header_size ? -1 : batch_of(p);
    if (j < durable_batch) {
      EXPECT_EQ(o.status, errc::corrupt_log) << what << " (batch " << j << ")";
      if (o.status == errc::corrupt_log) {
        EXPECT_NE(o.detail.find("durable"), std::string::npos) << o.detail;
      }
      return;
    }
    ASSERT_EQ(o.status, errc::ok) << what << ": " << o.detail;
    EXPECT_EQ(o.end, base_of(j)) << what;
    if (j < batch_count) {
      EXPECT_EQ(o.file_size, pos(j)) << what;
    }
  }

  scratch_dir dir_;
};
IoCorruption::pristine* IoCorruption::pristine_ = nullptr;

TEST_F(IoCorruption, PristineCopyOpensWhole) {
  const auto o = open_damaged(pristine_->log, durable_point());
  ASSERT_EQ(o.status, errc::ok) << o.detail;
  EXPECT_EQ(o.end, pristine_->end);
  EXPECT_EQ(o.truncated, 0u);
}

TEST_F(IoCorruption, BitFlipInEveryHeaderByteOfTheLastBatchesAndOneDurableBatch) {
  for (int j : {3, batch_count - 3, batch_count - 2, batch_count - 1}) {
    for (std::size_t b = 0; b < lanes::io::batch_header_size; ++b) {
      auto bytes = pristine_->log;
      const std::uint64_t p = pos(j) + b;
      bytes[p] ^= static_cast<std::byte>(1u << (b % 8));
      expect_for_damage_at(
          p, open_damaged(bytes, durable_point()),
          "flip in header byte " + std::to_string(b) + " of batch " + std::to_string(j));
    }
  }
}

TEST_F(IoCorruption, RandomBitFlipsAnywhere) {
  std::mt19937_64 rng(20240601);
  for (int i = 0; i < 150; ++i) {
    auto bytes = pristine_->log;
    const std::uint64_t p = rng() % bytes.size();
    bytes[p] ^= static_cast<std::byte>(1u << (rng() % 8));
    expect_for_damage_at(p, open_damaged(bytes, durable_point()),
                         "flip at byte " + std::to_string(p));
  }
}

TEST_F(IoCorruption, TruncationAtEveryByteOfTheLastTwoBatches) {
  for (std::uint64_t t = pos(batch_count - 2); t < pristine_->log.size(); ++t) {
    std::vector<std::byte> bytes(pristine_->log.begin(),
                                 pristine_->log.begin() + static_cast<std::ptrdiff_t>(t));
    const auto o = open_damaged(bytes, durable_point());
    ASSERT_EQ(o.status, errc::ok) << "cut at " << t << ": " << o.detail;
    EXPECT_EQ(o.end, base_of(batch_of(t))) << "cut at " << t;
    EXPECT_EQ(o.file_size, pos(batch_of(t))) << "cut at " << t;
  }
}

TEST_F(IoCorruption, TruncationBeforeTheDurablePointIsDamage) {
  for (std::uint64_t t :
       {std::uint64_t{0}, std::uint64_t{10}, pos(3) + 5, pos(durable_batch) - 1}) {
    std::vector<std::byte> bytes(pristine_->log.begin(),
                                 pristine_->log.begin() + static_cast<std::ptrdiff_t>(t));
    EXPECT_EQ(open_damaged(bytes, durable_point()).status, errc::corrupt_log) << "cut at " << t;
  }
  // Cut exactly at the durable point: nothing durable is missing.
  std::vector<std::byte> bytes(
      pristine_->log.begin(),
      pristine_->log.begin() + static_cast<std::ptrdiff_t>(pos(durable_batch)));
  const auto o = open_damaged(bytes, durable_point());
  ASSERT_EQ(o.status, errc::ok) << o.detail;
  EXPECT_EQ(o.end, durable_point());
}

TEST_F(IoCorruption, ZeroedPages) {
  for (std::uint64_t page = 0; page < pristine_->log.size(); page += 4096) {
    auto bytes = pristine_->log;
    const std::uint64_t stop = std::min<std::uint64_t>(page + 4096, bytes.size());
    std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(page),
              bytes.begin() + static_cast<std::ptrdiff_t>(stop), std::byte{0});
    expect_for_damage_at(page, open_damaged(bytes, durable_point()),
                         "zeroed page at " + std::to_string(page));
  }
}

TEST_F(IoCorruption, GarbageAppendedIsCutOff) {
  std::mt19937_64 rng(7);
  for (std::size_t n : {1u, 47u, 48u, 49u, 1000u, 5000u}) {
    auto bytes = pristine_->log;
    for (std::size_t i = 0; i < n; ++i) bytes.push_back(static_cast<std::byte>(rng()));
    const auto o = open_damaged(bytes, pristine_->end);
    ASSERT_EQ(o.status, errc::ok) << n << ": " << o.detail;
    EXPECT_EQ(o.end, pristine_->end);
    EXPECT_EQ(o.truncated, n);
    EXPECT_EQ(o.file_size, pristine_->log.size());
  }
  // A plausible header claiming a 4 GiB payload, and a copy of the last batch (wrong
  // offset): neither is trusted, neither is allocated for.
  auto hostile = pristine_->log;
  std::vector<std::byte> fake(pristine_->log.begin() + static_cast<std::ptrdiff_t>(pos(0)),
                              pristine_->log.begin() + static_cast<std::ptrdiff_t>(pos(0) + 48));
  const std::uint32_t huge = 0xFFFFFFF0u;
  std::memcpy(fake.data() + 20, &huge, 4);
  hostile.insert(hostile.end(), fake.begin(), fake.end());
  auto o = open_damaged(hostile, pristine_->end);
  ASSERT_EQ(o.status, errc::ok) << o.detail;
  EXPECT_EQ(o.end, pristine_->end);
  auto dup = pristine_->log;
  dup.insert(dup.end(), pristine_->log.begin() + static_cast<std::ptrdiff_t>(pos(batch_count - 1)),
             pristine_->log.end());
  o = open_damaged(dup, pristine_->end);
  ASSERT_EQ(o.status, errc::ok) << o.detail;
  EXPECT_EQ(o.end, pristine_->end) << "a duplicate batch is not a new one";
}

TEST_F(IoCorruption, MissingOrEmptyIndex) {
  auto o = open_damaged(pristine_->log, pristine_->end, true, /*with_index=*/false);
  ASSERT_EQ(o.status, errc::ok) << o.detail;
  EXPECT_EQ(o.end, pristine_->end);
  const fs::path dir = dir_.path() / "t" / "0";
  EXPECT_EQ(read_file(dir / "00000000000000000000.index"), pristine_->index)
      << "close wrote the index again";
}

TEST_F(IoCorruption, CleanShutdownThenDamageIsRefusedOrQuarantined) {
  auto bytes = pristine_->log;
  bytes[pos(batch_count - 1) + 60] ^= std::byte{0x01};
  auto o = open_damaged(bytes, pristine_->end, /*clean=*/true);
  EXPECT_EQ(o.status, errc::corrupt_log) << o.detail;
  EXPECT_EQ(fs::file_size(dir_.path() / "t" / "0" / "00000000000000000000.log"), bytes.size())
      << "a refused open changes nothing";

  o = open_damaged(bytes, pristine_->end, true, true, /*quarantine=*/true);
  EXPECT_EQ(o.status, errc::log_quarantined) << o.detail;
  EXPECT_FALSE(fs::exists(dir_.path() / "t" / "0"));
  bool aside = false;
  for (const auto& e : fs::directory_iterator(dir_.path() / "t")) {
    aside = aside || e.path().filename().string().rfind("0.quarantine-", 0) == 0;
  }
  EXPECT_TRUE(aside);
  auto fresh = partition_log::open(dir_.path(), "t", 0, options());
  ASSERT_TRUE(fresh) << fresh.detail;
  EXPECT_EQ(fresh.log->appended_offset(), 0u);
}

TEST_F(IoCorruption, DamagedCheckpointIsRefused) {
  const fs::path dir = dir_.path() / "t" / "0";
  ASSERT_EQ(open_damaged(pristine_->log, pristine_->end).status, errc::ok);
  auto cp = read_file(dir / "checkpoint");
  cp[10] ^= std::byte{1};
  write_file(dir / "checkpoint", cp);
  EXPECT_EQ(partition_log::open(dir_.path(), "t", 0, options()).status, errc::corrupt_log);
}

TEST_F(IoCorruption, MissingSegmentBelowTheDurablePointIsRefused) {
  // Two segments; the first deleted behind the log's back while the checkpoint says its
  // records were durable... and the second one deleted: both are explicit damage.
  const fs::path dir = dir_.path() / "t" / "0";
  ASSERT_EQ(open_damaged(pristine_->log, pristine_->end).status, errc::ok);
  fs::remove(dir / "00000000000000000000.log");
  EXPECT_EQ(partition_log::open(dir_.path(), "t", 0, options()).status, errc::corrupt_log);
}

}  // namespace
