#include "segment_fuzz_target.hpp"

#include <sys/uio.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <span>
#include <vector>

#include "../io/encoded_batch.hpp"
#include "lanes/crc32c.hpp"
#include "lanes/frame_ring.hpp"
#include "lanes/group_offsets_file.hpp"
#include "lanes/record.hpp"
#include "lanes/segment_format.hpp"
#include "lanes/segment_scan.hpp"

namespace lanes_fuzz {
namespace {

using namespace lanes::io;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

struct visit_state {
  std::uint64_t next = 0;
  std::uint64_t end = 0;  // position after the last visited batch
  std::uint64_t batches = 0;
};

}  // namespace

void segment_input(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const std::uint32_t max_batch = 64u << (data[0] % 16);
  const auto* file = reinterpret_cast<const std::byte*>(data + 1);
  const std::size_t n = size - 1;
  const std::span<const std::byte> bytes(file, n);

  // 1. The batch decoder, walked over the bytes as if they were back-to-back batches.
  std::span<const std::byte> rest = bytes;
  while (!rest.empty()) {
    batch_header h;
    std::span<const std::byte> payload;
    const batch_status s = decode_batch(rest, max_batch, h, payload);
    if (s != batch_status::ok) break;
    check(h.payload_length <= max_batch, "decoded length above the maximum");
    check(payload.size() == h.payload_length, "payload size");
    check(h.total_size() <= rest.size(), "batch larger than its buffer");
    check(payload.data() == rest.data() + batch_header_size, "payload position");
    const iovec v{const_cast<std::byte*>(payload.data()), payload.size()};
    check(batch_crc(rest.data(), {&v, 1}) == h.crc, "ok batch with a bad CRC");
    // The read path: the frames of a verified batch, and each record's views, as a
    // consumer reading the files walks them (a good CRC does not make the sizes sane).
    std::size_t at = 0;
    while (at + sizeof(lanes::frame_header) <= payload.size()) {
      lanes::frame_header fh;
      std::memcpy(&fh, payload.data() + at, sizeof fh);
      const std::size_t footprint = lanes::frame_footprint(fh.length);
      if (footprint > payload.size() - at || footprint < sizeof fh) break;
      const std::byte* rec = payload.data() + at + sizeof fh;
      if ((fh.flags & lanes::frame_flags::padding) == 0 && lanes::record_fits(rec, fh.length)) {
        lanes::record_header rh;
        std::memcpy(&rh, rec, sizeof rh);
        const std::size_t key = rh.key_size == lanes::record_header::no_key ? 0 : rh.key_size;
        const std::byte* hdrs = rec + sizeof rh + key;
        std::size_t seen = 0;
        for (lanes::header hd : lanes::headers_view(hdrs, rh.headers_size, rh.header_count)) {
          check(reinterpret_cast<const std::byte*>(hd.value.data()) + hd.value.size() <=
                    hdrs + rh.headers_size,
                "a header view past the record's headers");
          ++seen;
        }
        check(seen == rh.header_count, "header count");
        check(sizeof rh + key + rh.headers_size + rh.value_size <= fh.length,
              "a record that fits has views past its frame");
      }
      at += footprint;
    }
    rest = rest.subspan(h.total_size());
  }

  // 1b. The group-offsets decoder on the same bytes as text (any partition count).
  {
    const std::uint32_t partitions = 1 + data[0] % 8;
    std::vector<std::int64_t> committed;
    std::string why;
    const std::string_view text(reinterpret_cast<const char*>(file), n);
    if (decode_group_offsets(text, partitions, committed, why)) {
      check(committed.size() == partitions, "group offsets: one per partition");
      for (std::int64_t c : committed) check(c >= -1, "group offsets: below -1");
      std::vector<std::int64_t> again;
      check(decode_group_offsets(encode_group_offsets(committed), partitions, again, why) &&
                again == committed,
            "group offsets: encode then decode changes them");
    } else {
      check(!why.empty(), "group offsets: refused without a reason");
    }
  }

  // 2. Header and checkpoint decoders on the prefix.
  file_header fh;
  const bool header_ok = decode_file_header(bytes, fh);
  checkpoint cp;
  if (decode_checkpoint(bytes.first(n < checkpoint_size ? n : checkpoint_size), cp)) {
    check(cp.log_start_offset <= cp.durable_offset, "checkpoint start after durable");
  }

  // 3. The recovery scan, with the base the header names (so it gets past the header).
  const std::uint64_t base = header_ok ? fh.base_offset : 0;
  memory_source src(file, n);
  visit_state st;
  st.next = base;
  const scan_result r = scan_segment(
      src, base, max_batch,
      [](void* ctx, std::uint64_t pos, const batch_header& h) {
        auto& s = *static_cast<visit_state*>(ctx);
        check(h.base_offset == s.next, "visited batches are dense");
        check(pos == (s.batches == 0 ? file_header_size : s.end), "visited batches are contiguous");
        s.next = h.next_offset();
        s.end = pos + h.total_size();
        ++s.batches;
      },
      &st);
  check(r.valid_bytes <= n, "valid prefix beyond the file");
  check(r.batches == st.batches, "batch count");
  check(r.next_offset == st.next, "next offset");
  if (r.batches > 0) check(r.valid_bytes == st.end, "valid prefix ends after the last batch");
  if (r.clean()) check(r.valid_bytes == n, "clean scan that did not reach the end");
  if (!header_ok) check(r.stop == scan_stop::bad_file_header, "scan past a bad header");
}

namespace {

std::vector<std::uint8_t> batch(std::uint64_t base, std::uint32_t count, std::size_t len) {
  const std::vector<std::byte> b =
      lanes_test::encoded_batch(base, count, lanes_test::pattern_bytes(len, 7, base), 1000, 2000);
  const auto* p = reinterpret_cast<const std::uint8_t*>(b.data());
  return {p, p + b.size()};
}

std::vector<std::uint8_t> segment(std::uint64_t base, int batches) {
  std::vector<std::uint8_t> f(1 + file_header_size);
  f[0] = 4;  // max batch 1 KiB
  file_header fh;
  fh.base_offset = base;
  encode_file_header(fh, reinterpret_cast<std::byte*>(f.data() + 1));
  std::uint64_t next = base;
  for (int i = 0; i < batches; ++i) {
    const auto b =
        batch(next, 1 + static_cast<std::uint32_t>(i), 20 + static_cast<std::size_t>(i) * 30);
    f.insert(f.end(), b.begin(), b.end());
    next += 1 + static_cast<std::uint64_t>(i);
  }
  return f;
}

bool save(const std::string& dir, const char* name, const std::vector<std::uint8_t>& v) {
  std::ofstream f(dir + "/" + name, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size()));
  return static_cast<bool>(f);
}

}  // namespace

int write_seeds(const std::string& dir) {
  bool ok = true;
  const auto good = segment(500, 4);
  ok = ok && save(dir, "segment_good", good);
  ok = ok && save(dir, "segment_empty", segment(0, 0));
  // (A copy of a prefix rather than resize(): GCC 12 with -fsanitize=address warns about a
  // memset of size() - 17 bytes it cannot prove non-negative.)
  const std::vector<std::uint8_t> torn(
      good.begin(),
      good.begin() + (good.size() > 17 ? static_cast<std::ptrdiff_t>(good.size() - 17) : 0));
  ok = ok && save(dir, "segment_torn", torn);
  auto flipped = good;
  flipped[1 + file_header_size + 50] ^= 0x20;
  ok = ok && save(dir, "segment_flipped_payload", flipped);
  auto huge = good;
  const std::uint32_t len = 0xFFFFFFF0u;
  std::memcpy(huge.data() + 1 + file_header_size + 20, &len, 4);
  huge[0] = 15;  // max batch 2 MiB: the length passes the cap, not the file size
  ok = ok && save(dir, "segment_huge_length", huge);
  auto garbage = good;
  for (int i = 0; i < 64; ++i) garbage.push_back(static_cast<std::uint8_t>(i * 37));
  ok = ok && save(dir, "segment_garbage_tail", garbage);
  auto zeros = good;
  zeros.insert(zeros.end(), 300, 0);
  ok = ok && save(dir, "segment_zero_tail", zeros);
  auto bare = batch(7, 2, 40);
  bare.insert(bare.begin(), 3);
  ok = ok && save(dir, "batch_bare", bare);
  std::vector<std::uint8_t> cp(1 + checkpoint_size);
  checkpoint c;
  c.clean = true;
  c.durable_offset = 42;
  encode_checkpoint(c, reinterpret_cast<std::byte*>(cp.data() + 1));
  ok = ok && save(dir, "checkpoint", cp);
  ok = ok && save(dir, "one_byte", {0});
  return ok ? 0 : 1;
}

}  // namespace lanes_fuzz
