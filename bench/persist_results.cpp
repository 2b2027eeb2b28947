// bench/persist_results.cpp: persist_bench's results file (--out, read by
// tools/persist_bench_report.py): run facts, the disk, the parameters, every sample of every
// case, the per-round ratios and the window sweep.
#include <thread>
#include <utility>

#include "lanes_support/run_info.hpp"
#include "persist_bench.hpp"

namespace lanes_bench {
namespace {

// Per-round ratios: numerator case.metric / denominator case.metric.
struct ratio_def {
  const char* id;
  const char* num;
  const char* num_metric;
  const char* den;
  const char* den_metric;
};
const std::vector<ratio_def> kRatioDefs = {
    {"async_vs_fio_best", "bus_async", "value", "fio_seq_best", "value"},
    {"async_vs_fio_uring", "bus_async", "value", "fio_seq_uring", "value"},
    {"async_vs_fio_psync_matched", "bus_async", "value", "fio_seq_psync_matched", "value"},
    {"async_vs_fio_uring_matched", "bus_async", "value", "fio_seq_uring_matched", "value"},
    {"async_vs_fio_psync", "bus_async", "value", "fio_seq_psync", "value"},
    {"async_vs_fio_direct", "bus_async", "value", "fio_seq_direct", "value"},
    {"async_disk_vs_fio_best", "bus_async", "disk_mb_s", "fio_seq_best", "value"},
    {"sync_p50_vs_fio_sync_p99", "bus_sync_lat", "p50", "fio_sync_lat", "p99"},
    {"sync_p99_vs_fio_sync_p99", "bus_sync_lat", "p99", "fio_sync_lat", "p99"},
    {"sync_p50_vs_fio_sync_p50", "bus_sync_lat", "p50", "fio_sync_lat", "p50"},
    {"sync_p2_vs_p1", "bus_sync_p2", "value", "bus_sync_p1", "value"},
    {"sync_p4_vs_p1", "bus_sync_p4", "value", "bus_sync_p1", "value"},
    // Messages made durable per fdatasync-time of one fio stream: the bus's durable rate
    // over fio's single-stream write+fdatasync rate. Its inverse estimates fdatasyncs per
    // message when each bus sync costs what fio's does.
    {"sync_p1_vs_fio_rate", "bus_sync_p1", "value", "fio_sync_lat", "iops"},
    {"sync_p2_vs_fio_rate", "bus_sync_p2", "value", "fio_sync_lat", "iops"},
    {"sync_p4_vs_fio_rate", "bus_sync_p4", "value", "fio_sync_lat", "iops"},
    {"mem_dir_vs_nodir", "mem_dir", "value", "mem_nodir", "value"},
};

void write_metrics(json_writer& w, const std::vector<sample>& ss) {
  std::map<std::string, std::vector<double>> by;
  for (const sample& s : ss) {
    for (const auto& [k, v] : s) by[k].push_back(v);
  }
  for (const auto& [k, v] : by) {
    w.object(k, [&] { write_samples(w, v); });
  }
}

void write_header(json_writer& w, const options& opt, const persist_run& run) {
  w.field("benchmark", "persist_bench");
  w.field("git_commit", lanes_tools::git_commit());
  w.field("compiler", lanes_tools::compiler());
  w.field("cpu_model", lanes_tools::cpu_model());
  w.field("cpus", static_cast<std::uint64_t>(std::thread::hardware_concurrency()));
  w.field("date", lanes_tools::utc_date());
  w.field("load_average", run.load_start);
  w.field("load_average_end", run.load_end);
  w.array("round_load_average", run.round_load);
  w.field("reps", opt.reps);
  w.field("quick", opt.quick);
  w.field("fio_version", run.fio_version);
  w.field("fio_startup_cpu_s", fio_baseline.cpu_s);
  w.field("fio_startup_switches", fio_baseline.switches);
}

// The disk's facts, by their key in the results.
const std::pair<const char*, std::string disk_info::*> kDiskFacts[] = {
    {"dir", &disk_info::dir},
    {"mount_point", &disk_info::mount_point},
    {"device", &disk_info::device},
    {"fs_type", &disk_info::fs_type},
    {"statfs_type", &disk_info::statfs_type},
    {"mount_options", &disk_info::mount_options},
    {"block_device", &disk_info::block_device},
    {"dev_numbers", &disk_info::dev_numbers},
    {"rotational", &disk_info::rotational},
    {"write_cache", &disk_info::write_cache},
    {"vendor", &disk_info::vendor},
    {"kind", &disk_info::kind},
    {"journal", &disk_info::journal},
};

void write_disk(json_writer& w, const disk_info& disk) {
  w.object("disk", [&] {
    for (const auto& [key, fact] : kDiskFacts) w.field(key, disk.*fact);
    w.field("size_bytes", disk.size_bytes);
  });
}

void write_params(json_writer& w, const options& opt, std::size_t sync_write) {
  w.object("params", [&] {
    w.field("async_bytes", opt.async_mib << 20);
    w.field("async_value_bytes", static_cast<std::uint64_t>(kSeqValueBytes));
    w.field("async_batch_msgs", static_cast<std::uint64_t>(kSeqBatchMsgs));
    w.field("async_ring_bytes", static_cast<std::uint64_t>(kSeqRingBytes));
    w.field("async_sync_bytes", static_cast<std::uint64_t>(kSyncBytes));
    w.field("async_sync_interval_us", static_cast<std::uint64_t>(1000));
    w.field("fio_seq_bs", static_cast<std::uint64_t>(kBusWriteBytes));
    w.field("fio_seq_fdatasync", static_cast<std::uint64_t>(kSyncBytes / kBusWriteBytes));
    w.field("fio_iodepth", kFioIodepth);
    w.key("best_buffered_of");
    w.begin_array();
    for (const char* id :
         {"fio_seq_uring", "fio_seq_psync", "fio_seq_psync_matched", "fio_seq_uring_matched"}) {
      w.value(id);
    }
    w.end_array();
    w.field("sync_value_bytes", static_cast<std::uint64_t>(kSyncValueBytes));
    w.field("sync_write_bytes", static_cast<std::uint64_t>(sync_write));
    w.field("sync_ops", opt.sync_ops);
    w.field("multi_seconds", opt.multi_seconds);
    w.field("mem_value_bytes", static_cast<std::uint64_t>(kMemValueBytes));
    w.field("mem_ring_bytes", static_cast<std::uint64_t>(kMemRingBytes));
    w.field("mem_count", opt.mem_count);
  });
}

void write_cases(json_writer& w, persist_run& run) {
  w.object("fio_commands", [&] {
    for (const auto& [id, c] : run.commands) w.field(id, c);
  });
  w.object("cases", [&] {
    for (const std::string& id : run.cases) {
      w.object(id, [&] { write_metrics(w, run.results[id]); });
    }
  });
}

void write_ratios(json_writer& w, persist_run& run) {
  auto& results = run.results;
  w.object("ratios", [&] {
    for (const ratio_def& d : kRatioDefs) {
      std::vector<double> rs;
      for (std::size_t i = 0; i < results[d.num].size(); ++i) {
        const double den = get(results[d.den][i], d.den_metric);
        rs.push_back(den != 0 ? get(results[d.num][i], d.num_metric) / den : 0.0);
      }
      write_ratio(w, d.id, std::string(d.num) + "." + d.num_metric,
                  std::string(d.den) + "." + d.den_metric, rs, 26);
    }
  });
}

void write_window_sweep(json_writer& w, const options& opt, const persist_run& run) {
  w.object("window_sweep", [&] {
    w.field("reps", opt.window_reps);
    w.field("value_bytes", static_cast<std::uint64_t>(kSyncValueBytes));
    w.field("ring_bytes", static_cast<std::uint64_t>(kWindowRingBytes));
    w.field("sync_bytes", static_cast<std::uint64_t>(kSyncBytes));
    w.field("rate_per_s", opt.window_rate);
    w.field("latency_seconds", opt.window_seconds);
    w.field("throughput_max_seconds", opt.window_tput_seconds);
    w.field("throughput_max_bytes", opt.window_tput_mib << 20);
    w.objects("points", run.windows, [&](const window_point& wp) {
      w.field("id", wp.id);
      w.field("durability", wp.mode == lanes::durability::sync ? "sync" : "async");
      w.field("window_us", static_cast<std::uint64_t>(wp.window_us));
      w.field("ack", ack_name(wp.via));
      w.object("latency", [&] { write_metrics(w, wp.latency); });
      if (!wp.tput.empty()) {
        w.object("throughput", [&] { write_metrics(w, wp.tput); });
      }
    });
  });
}

}  // namespace

void write_results(const options& opt, const disk_info& disk, persist_run& run) {
  write_results_file(opt.out, [&](json_writer& w) {
    write_header(w, opt, run);
    write_disk(w, disk);
    write_params(w, opt, run.sync_write);
    write_cases(w, run);
    write_ratios(w, run);
    if (opt.window) write_window_sweep(w, opt, run);
  });
  std::fprintf(stderr, "wrote %s (load average %.2f at start, %.2f at end)\n", opt.out.c_str(),
               run.load_start, run.load_end);
}

}  // namespace lanes_bench
