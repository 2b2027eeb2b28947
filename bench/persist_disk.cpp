// bench/persist_disk.cpp: persist_bench's facts about the disk under --dir (mount, device,
// journal, write cache), the block device's I/O and flush counters, and the CPU time and
// context switches of this process and of fio.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <fstream>
#include <sstream>

#include "persist_bench.hpp"

namespace lanes_bench {
namespace {

std::string read_line(const fs::path& p) {
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string statfs_name(long type) {
  switch (static_cast<unsigned long>(type)) {
    case 0xEF53: return "ext2/ext3/ext4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs";
    case 0x794C7630: return "overlayfs";
    case 0x2FC12FC1: return "zfs";
    case 0x6969: return "nfs";
    default: {
      char b[32];
      std::snprintf(b, sizeof b, "0x%lx", static_cast<unsigned long>(type));
      return b;
    }
  }
}

}  // namespace

disk_info probe_disk(const fs::path& dir) {
  disk_info d;
  d.dir = fs::canonical(dir).string();
  struct statfs sf {};
  if (::statfs(d.dir.c_str(), &sf) == 0) d.statfs_type = statfs_name(sf.f_type);
  // The mount holding the directory: the longest mount point that prefixes it.
  std::ifstream mounts("/proc/mounts");
  std::string line;
  std::size_t best = 0;
  while (std::getline(mounts, line)) {
    std::istringstream ls(line);
    std::string dev, mp, type, opts;
    ls >> dev >> mp >> type >> opts;
    const bool prefix = d.dir == mp || mp == "/" ||
                        (d.dir.compare(0, mp.size(), mp) == 0 && d.dir[mp.size()] == '/');
    if (prefix && mp.size() >= best) {
      best = mp.size();
      d.mount_point = mp;
      d.device = dev;
      d.fs_type = type;
      d.mount_options = opts;
    }
  }
  struct stat st {};
  if (::stat(d.dir.c_str(), &st) == 0) {
    const std::string mm =
        std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
    d.dev_numbers = mm;
    const fs::path sys = fs::path("/sys/dev/block") / mm;
    std::error_code ec;
    const fs::path real = fs::canonical(sys, ec);
    if (!ec) {
      d.block_device = real.filename().string();
      // ext4 and others with a jbd2 journal list it as /proc/fs/jbd2/<device>-<inode>.
      d.journal = "none (no /proc/fs/jbd2 entry)";
      for (const auto& e : fs::directory_iterator("/proc/fs/jbd2", ec)) {
        if (e.path().filename().string().rfind(d.block_device + "-", 0) == 0) {
          d.journal = "jbd2 (" + e.path().filename().string() + ")";
        }
      }
      d.stat_path = (real / "stat").string();
      // A partition has no queue/ of its own: the whole disk is its parent.
      const fs::path disk = fs::exists(real / "queue") ? real : real.parent_path();
      d.rotational = read_line(disk / "queue/rotational");
      d.write_cache = read_line(disk / "queue/write_cache");
      d.vendor = read_line(disk / "device/vendor");
      const std::string model = read_line(disk / "device/model");
      const std::string sectors = read_line(disk / "size");
      d.size_bytes = std::strtoull(sectors.c_str(), nullptr, 10) * 512;
      if (d.vendor == "0x1af4") {
        d.kind =
            "virtio-blk virtual disk (vendor 0x1af4): the hypervisor decides what a "
            "flush costs";
      } else if (!model.empty()) {
        d.kind = model;
      } else {
        d.kind = "unknown";
      }
    }
  }
  return d;
}

block_counters read_block(const std::string& stat_path) {
  block_counters b;
  if (stat_path.empty()) return b;
  std::ifstream in(stat_path);
  std::vector<double> f;
  double x = 0;
  while (in >> x) f.push_back(x);
  if (f.size() < 7) return b;
  b.writes = f[4];
  b.write_sectors = f[6];
  b.flushes = f.size() >= 16 ? f[15] : -1;  // kernels before 5.5 have no flush counters
  b.ok = true;
  return b;
}

void add_block_delta(sample& s, const block_counters& a, const block_counters& b) {
  if (!a.ok || !b.ok) return;
  s["dev_writes"] = b.writes - a.writes;
  s["dev_write_mb"] = (b.write_sectors - a.write_sectors) * 512 / 1e6;
  if (a.flushes >= 0) s["dev_flushes"] = b.flushes - a.flushes;
}

usage read_usage(int who) {
  rusage u{};
  (void)getrusage(who, &u);
  usage r;
  r.cpu_s = static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
            static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
  r.switches = static_cast<double>(u.ru_nvcsw + u.ru_nivcsw);
  return r;
}

usage operator-(const usage& a, const usage& b) {
  return {a.cpu_s - b.cpu_s, a.switches - b.switches};
}

}  // namespace lanes_bench
