// bench/micro/codec_micro.cpp: the bytes around the disk: CRC32C, encoding a batch header
// with its checksum (what the persister does per batch), and the recovery scan over a
// segment held in memory.
#include <benchmark/benchmark.h>
#include <sys/uio.h>

#include <cstring>
#include <vector>

#include "lanes/crc32c.hpp"
#include "lanes/segment_format.hpp"
#include "lanes/segment_scan.hpp"

namespace {

using namespace lanes::io;

void BM_crc32c(benchmark::State& state) {
  std::vector<std::byte> data(static_cast<std::size_t>(state.range(0)), std::byte{0x5a});
  for (auto _ : state) {
    benchmark::DoNotOptimize(lanes::io::crc32c_extend(0, data.data(), data.size()));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_crc32c)->ArgName("bytes")->Arg(64)->Arg(4096)->Arg(65536);

std::vector<std::byte> batch_bytes(std::uint64_t base, std::size_t payload) {
  std::vector<std::byte> out(batch_header_size + payload, std::byte{0x11});
  batch_header h;
  h.base_offset = base;
  h.count = 16;
  h.payload_length = static_cast<std::uint32_t>(payload);
  h.first_timestamp_ns = 1;
  h.max_timestamp_ns = 2;
  encode_batch_header(h, out.data());
  const iovec v{out.data() + batch_header_size, payload};
  h.crc = batch_crc(out.data(), {&v, 1});
  encode_batch_header(h, out.data());
  return out;
}

void BM_batch_encode(benchmark::State& state) {
  const auto payload = static_cast<std::size_t>(state.range(0));
  std::vector<std::byte> frames(payload, std::byte{0x22});
  std::byte header[batch_header_size];
  const iovec v{frames.data(), frames.size()};
  std::uint64_t base = 0;
  for (auto _ : state) {
    batch_header h;
    h.base_offset = base;
    h.count = 16;
    h.payload_length = static_cast<std::uint32_t>(payload);
    encode_batch_header(h, header);
    h.crc = batch_crc(header, {&v, 1});
    encode_batch_header(h, header);
    benchmark::DoNotOptimize(header);
    base += 16;
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(payload));
}
BENCHMARK(BM_batch_encode)->ArgName("payload")->Arg(1024)->Arg(65536);

void BM_segment_scan(benchmark::State& state) {
  const auto payload = static_cast<std::size_t>(state.range(0));
  std::vector<std::byte> file(file_header_size);
  file_header fh;
  encode_file_header(fh, file.data());
  std::uint64_t base = 0;
  while (file.size() < (std::size_t{4} << 20)) {
    const auto b = batch_bytes(base, payload);
    file.insert(file.end(), b.begin(), b.end());
    base += 16;
  }
  for (auto _ : state) {
    memory_source src(file.data(), file.size());
    benchmark::DoNotOptimize(scan_segment(src, 0, 1u << 20));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(file.size()));
}
BENCHMARK(BM_segment_scan)->ArgName("batch_payload")->Arg(4096)->Arg(65536);

}  // namespace
