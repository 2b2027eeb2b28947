// bench/durable_fio.cpp: fio on the same directory, the reference durable_bench measures lanes
// against: fdatasync latency, buffered sequential writes, sequential reads of the segments.
#include <string>

#include "bench_fio.hpp"
#include "durable_bench.hpp"

namespace lanes_bench {
namespace {

json fio(const std::string& args) { return run_fio_job("fio --output-format=json " + args); }

}  // namespace

// fdatasync after every 4 KiB write (what a small group commit costs): p50, p99 in us.
// Back to back, or at `rate_iops` writes per second: on this machine an fdatasync after the
// disk was idle for a millisecond or two costs more than one right after the last (~250 us
// against ~170 us at 500/s), so a paced bus is compared with fio at the same pace.
json fio_fdatasync(const fs::path& dir, int ops, int rate_iops) {
  fs::create_directories(dir);
  const json j = fio("--name=sync --directory=" + dir.string() +
                     " --filename=f --rw=write --ioengine=psync --bs=4k --fdatasync=1 --size=" +
                     std::to_string(ops * 4096) +
                     (rate_iops > 0 ? " --rate_iops=" + std::to_string(rate_iops) : ""));
  fs::remove_all(dir);
  const json& pct = j["sync"]["lat_ns"]["percentile"];
  return {{"p50_us", pct["50.000000"].get<double>() / 1e3},
          {"p99_us", pct["99.000000"].get<double>() / 1e3}};
}

// Buffered sequential writes, 1 MiB blocks, fsync at the end: MB/s.
double fio_write_mbs(const fs::path& dir, std::uint64_t mib) {
  fs::create_directories(dir);
  const json j =
      fio("--name=w --directory=" + dir.string() +
          " --filename=f --rw=write --bs=1M --end_fsync=1 --size=" + std::to_string(mib) + "M");
  fs::remove_all(dir);
  return j["write"]["bw_bytes"].get<double>() / 1e6;
}

// Sequential reads of these files in order, 1 MiB blocks: MB/s.
double fio_read_mbs(const std::vector<fs::path>& files) {
  std::string names;
  for (const fs::path& f : files) names += (names.empty() ? "" : ":") + f.string();
  const json j =
      fio("--name=r --rw=read --bs=1M --readonly --file_service_type=sequential "
          "--filename=" +
          names);
  return j["read"]["bw_bytes"].get<double>() / 1e6;
}

}  // namespace lanes_bench
