// tests/io/io_format_test.cpp: CRC32C vectors, batch/file/checkpoint encoding, the segment scan
// over memory (lanes/crc32c.hpp, lanes/segment_format.hpp, lanes/segment_scan.hpp).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string_view>
#include <vector>

#include "encoded_batch.hpp"
#include "lanes/crc32c.hpp"
#include "lanes/error.hpp"
#include "lanes/segment_format.hpp"
#include "lanes/segment_scan.hpp"

namespace {

using namespace lanes::io;

std::uint32_t crc_of(std::string_view s) { return crc32c_extend(0, s.data(), s.size()); }

TEST(IoCrc32c, KnownVectors) {
  EXPECT_EQ(crc_of("123456789"), 0xE3069283u);
  EXPECT_EQ(crc_of(""), 0u);
  EXPECT_EQ(crc_of("a"), 0xC1D04330u);
  // RFC 3720 (iSCSI) B.4: 32 bytes of zeros, of 0xFF, ascending and descending.
  std::vector<unsigned char> b(32, 0);
  EXPECT_EQ(crc32c_extend(0, b.data(), b.size()), 0x8A9136AAu);
  std::fill(b.begin(), b.end(), 0xFF);
  EXPECT_EQ(crc32c_extend(0, b.data(), b.size()), 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) b[i] = static_cast<unsigned char>(i);
  EXPECT_EQ(crc32c_extend(0, b.data(), b.size()), 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) b[i] = static_cast<unsigned char>(31 - i);
  EXPECT_EQ(crc32c_extend(0, b.data(), b.size()), 0x113FDB5Cu);
  EXPECT_EQ(crc32c_extend_software(0, "123456789", 9), 0xE3069283u);
}

TEST(IoCrc32c, HardwareAndSoftwareAgreeAndExtendComposes) {
  std::mt19937_64 rng(42);
  // Lengths around the three-stream rounds (3 KiB each) too: 3071, 3072, 3073, 9216 + 5...
  std::vector<unsigned char> data(20008);  // room for the longest length at the largest start
  for (auto& c : data) c = static_cast<unsigned char>(rng());
  for (std::size_t len :
       {0u, 1u, 7u, 8u, 9u, 63u, 64u, 1000u, 3071u, 3072u, 3073u, 4999u, 6144u, 9221u, 20000u}) {
    for (std::size_t start : {0u, 1u, 3u}) {
      const auto* p = data.data() + start;
      const std::uint32_t hw = crc32c_extend(0, p, len);
      EXPECT_EQ(hw, crc32c_extend_software(0, p, len)) << len << " at " << start;
      const std::size_t cut = len / 3;
      EXPECT_EQ(crc32c_extend(crc32c_extend(0, p, cut), p + cut, len - cut), hw);
    }
  }
  std::printf("crc32c uses %s\n", crc32c_uses_hardware() ? "SSE4.2" : "the table");
}

std::vector<std::byte> make_batch(std::uint64_t base, std::uint32_t count, std::size_t len) {
  return lanes_test::encoded_batch(base, count, lanes_test::pattern_bytes(len, 31, base), 10, 20);
}

TEST(IoFormat, BatchRoundTripAndRejections) {
  const auto b = make_batch(100, 3, 77);
  batch_header h;
  std::span<const std::byte> payload;
  ASSERT_EQ(decode_batch(b, 1 << 20, h, payload), batch_status::ok);
  EXPECT_EQ(h.base_offset, 100u);
  EXPECT_EQ(h.count, 3u);
  EXPECT_EQ(h.next_offset(), 103u);
  EXPECT_EQ(payload.size(), 77u);
  EXPECT_EQ(payload.data(), b.data() + batch_header_size);

  // Shorter than the header or the length: truncated.
  EXPECT_EQ(decode_batch({b.data(), 47}, 1 << 20, h, payload), batch_status::truncated);
  EXPECT_EQ(decode_batch({b.data(), b.size() - 1}, 1 << 20, h, payload), batch_status::truncated);
  // Length above the configured maximum: rejected before anything else.
  EXPECT_EQ(decode_batch(b, 76, h, payload), batch_status::bad_length);
  // Every single-bit flip anywhere is caught.
  for (std::size_t i = 0; i < b.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto c = b;
      c[i] ^= static_cast<std::byte>(1 << bit);
      EXPECT_NE(decode_batch(c, 1 << 20, h, payload), batch_status::ok) << i << ":" << bit;
    }
  }
}

// Acks file records (durable queues): a floor and a range round-trip; a flipped bit, a short
// buffer, an empty or inverted range, a floor with an end, or an unknown kind are refused.
TEST(IoFormat, AckRecords) {
  std::byte raw[ack_record_size];
  ack_record r;
  encode_ack_record({ack_kind::range, 7, 12}, raw);
  ASSERT_TRUE(decode_ack_record(raw, r));
  EXPECT_EQ(r.kind, ack_kind::range);
  EXPECT_EQ(r.first, 7u);
  EXPECT_EQ(r.end, 12u);
  EXPECT_FALSE(decode_ack_record({raw, ack_record_size - 1}, r));
  raw[9] ^= std::byte{2};
  EXPECT_FALSE(decode_ack_record(raw, r));

  encode_ack_record({ack_kind::floor, 40, 999}, raw);  // a floor's end is written as 0
  ASSERT_TRUE(decode_ack_record(raw, r));
  EXPECT_EQ(r.kind, ack_kind::floor);
  EXPECT_EQ(r.first, 40u);
  EXPECT_EQ(r.end, 0u);

  encode_ack_record({ack_kind::range, 5, 5}, raw);
  EXPECT_FALSE(decode_ack_record(raw, r)) << "an empty range";
  encode_ack_record({ack_kind::range, 9, 3}, raw);
  EXPECT_FALSE(decode_ack_record(raw, r)) << "an inverted range";
  encode_ack_record({static_cast<ack_kind>(3), 1, 2}, raw);
  EXPECT_FALSE(decode_ack_record(raw, r)) << "an unknown kind";

  std::byte fh_raw[file_header_size];
  encode_file_header({file_kind::acks, 0, 1}, fh_raw);
  file_header fh;
  ASSERT_TRUE(decode_file_header(fh_raw, fh));
  EXPECT_EQ(fh.kind, file_kind::acks);
}

TEST(IoFormat, FileHeaderAndCheckpoint) {
  std::byte raw[file_header_size];
  file_header fh;
  fh.kind = file_kind::time_index;
  fh.base_offset = 12345;
  fh.created_ns = -7;
  encode_file_header(fh, raw);
  file_header back;
  ASSERT_TRUE(decode_file_header(raw, back));
  EXPECT_EQ(back.kind, file_kind::time_index);
  EXPECT_EQ(back.base_offset, 12345u);
  EXPECT_EQ(back.created_ns, -7);
  raw[9] ^= std::byte{1};
  EXPECT_FALSE(decode_file_header(raw, back));

  std::byte cpraw[checkpoint_size];
  checkpoint cp;
  cp.clean = true;
  cp.durable_offset = 99;
  cp.log_start_offset = 10;
  encode_checkpoint(cp, cpraw);
  checkpoint cb;
  ASSERT_TRUE(decode_checkpoint(cpraw, cb));
  EXPECT_TRUE(cb.clean);
  EXPECT_EQ(cb.durable_offset, 99u);
  EXPECT_EQ(cb.log_start_offset, 10u);
  EXPECT_FALSE(decode_checkpoint({cpraw, checkpoint_size - 1}, cb));
  cpraw[8] ^= std::byte{4};
  EXPECT_FALSE(decode_checkpoint(cpraw, cb));
}

std::vector<std::byte> make_segment(std::uint64_t base, int batches,
                                    std::vector<std::size_t>* positions = nullptr) {
  std::vector<std::byte> f(file_header_size);
  file_header fh;
  fh.base_offset = base;
  encode_file_header(fh, f.data());
  std::uint64_t next = base;
  for (int i = 0; i < batches; ++i) {
    if (positions != nullptr) positions->push_back(f.size());
    const auto b = make_batch(next, 2, 10 + static_cast<std::size_t>(i) * 13);
    f.insert(f.end(), b.begin(), b.end());
    next += 2;
  }
  return f;
}

TEST(IoScan, CleanSegmentAndTornTail) {
  std::vector<std::size_t> pos;
  const auto f = make_segment(1000, 5, &pos);
  memory_source whole(f.data(), f.size());
  auto r = scan_segment(whole, 1000, 1 << 20);
  EXPECT_TRUE(r.clean());
  EXPECT_EQ(r.batches, 5u);
  EXPECT_EQ(r.next_offset, 1010u);
  EXPECT_EQ(r.valid_bytes, f.size());

  // Cut inside the last batch: the good prefix ends where it starts.
  memory_source cut(f.data(), f.size() - 3);
  r = scan_segment(cut, 1000, 1 << 20);
  EXPECT_EQ(r.stop, scan_stop::truncated);
  EXPECT_EQ(r.valid_bytes, pos[4]);
  EXPECT_EQ(r.next_offset, 1008u);

  // The name says another base: the header does not belong to this file.
  r = scan_segment(whole, 999, 1 << 20);
  EXPECT_EQ(r.stop, scan_stop::bad_file_header);
  EXPECT_EQ(r.valid_bytes, 0u);

  // A hostile length field (4 GiB) stops the scan without reading or allocating it.
  auto g = f;
  const std::uint32_t huge = 0xFFFFFFF0u;
  std::memcpy(g.data() + pos[2] + 20, &huge, 4);
  memory_source hostile(g.data(), g.size());
  r = scan_segment(hostile, 1000, UINT32_MAX);
  EXPECT_EQ(r.stop, scan_stop::truncated);
  EXPECT_EQ(r.next_offset, 1004u);
  r = scan_segment(hostile, 1000, 1 << 20);
  EXPECT_EQ(r.stop, scan_stop::bad_length);
}

// The io/ error codes are stable (they may be logged and stored) and tell a person what to do.
TEST(IoErrors, CodesHaveStableValuesNamesAndMessages) {
  using lanes::errc;
  const std::pair<errc, int> codes[] = {{errc::io_uring_unavailable, 64},
                                        {errc::io_error, 65},
                                        {errc::no_space, 66},
                                        {errc::sync_failed, 67},
                                        {errc::corrupt_log, 68},
                                        {errc::log_quarantined, 69},
                                        {errc::completion_lost, 70},
                                        {errc::corrupt_batch, 71},
                                        {errc::file_error, 72},
                                        {errc::log_failed, 73}};
  for (const auto& [code, value] : codes) {
    EXPECT_EQ(static_cast<int>(code), value);
    EXPECT_STRNE(lanes::to_string(code), "unknown");
    const std::string msg = std::error_code(code).message();
    EXPECT_EQ(msg.find("unknown"), std::string::npos) << msg;
    EXPECT_GT(msg.size(), 40u) << "say what to do: " << msg;
  }
}

}  // namespace
