// io/log_recovery.hpp (private to io/): one run of partition_log's recovery, the steps of
// partition_log::recover (io/FORMAT.md, "Recovery"). Three steps:
//   inspect: reads only. Decides, for every segment file, whether it is kept as it is, cut
//            to its good prefix (a torn tail after the durable point), deleted (a torn new
//            segment, segments after a torn tail, leftovers of an interrupted retention), or
//            whether the directory holds damage before the durable point.
//   apply:   the writes those decisions need (log_recovery_apply.cpp);
//   install: the kept segments become the log's, and a new checkpoint is written.
// Damage stops after inspect: a refused open changes nothing on disk, so every later open
// refuses the same way until a person acts (or, with quarantine_on_damage, the partition
// directory is renamed aside, which is the one change asked for). A read-only open runs
// inspect only and keeps the decisions in memory.
//
// Thread contract: the opening thread, before the log is shared.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lanes/partition_log.hpp"
#include "lanes/segment_format.hpp"
#include "segment.hpp"

namespace lanes::io {

// What inspect decided for one segment file.
struct segment_plan {
  std::shared_ptr<segment> seg;  // kept (possibly cut); null when the file goes
  std::uint64_t base = 0;
  std::uint64_t file_size = 0;
  std::uint64_t keep_bytes = 0;  // < file_size: cut to this good prefix
  bool write_index = false;      // sealed, and its index files were missing or damaged
};

class log_recovery {
 public:
  // `detail` receives the sentence of any error (for a person).
  log_recovery(partition_log& log, std::string& detail) : log_(log), detail_(detail) {}

  // Reads the directory and decides. An error is a file that cannot be read at all.
  errc inspect();
  // Whether inspect found damage before the durable point.
  bool damaged() const noexcept { return !damage_.empty(); }
  // Refuses the open for that damage (corrupt_log), or moves the directory aside
  // (log_quarantined) when the options say so.
  errc refuse(const std::filesystem::path& topic_dir);
  // Makes the decisions true on disk; nothing when read-only.
  errc apply();
  // Hands the kept segments to the log and writes a checkpoint.
  errc install();

 private:
  enum class next_step { go_on, stop };  // stop: damage found, or a torn tail ends the log

  errc list_directory();
  errc read_checkpoint();
  void skip_leftovers();
  errc plan_segment(std::size_t i, next_step& step);
  errc open_segment(std::size_t i, segment& seg, std::uint64_t& file_size);
  errc read_indexes(std::size_t i, const segment& seg, std::uint64_t file_size,
                    std::vector<offset_index_entry>& idx, std::vector<time_index_entry>& tidx,
                    bool& index_ok);
  next_step plan_trusted(std::size_t i, std::shared_ptr<segment> seg, segment_plan& plan,
                         std::vector<offset_index_entry>& idx, std::vector<time_index_entry>& tidx);
  next_step plan_scanned(std::size_t i, std::shared_ptr<segment> seg, segment_plan& plan,
                         bool index_ok);
  void plan_removal_after(std::size_t i);
  void check_log_end();
  errc apply_plan(segment_plan& p, bool& dir_changed);
  void remove_segment_files(std::uint64_t base, bool& dir_changed);

  partition_log& log_;
  std::string& detail_;
  std::string damage_;  // non-empty: damage before the durable point (refuse or quarantine)
  std::uint64_t resume_hint_ = 0;
  std::vector<std::uint64_t> bases_;      // segment files by base offset
  std::vector<std::uint64_t> leftovers_;  // below the checkpoint's log start
  bool tmp_leftover_ = false;             // a checkpoint.tmp of a crashed write
  checkpoint cp_;
  std::uint64_t durable_ = 0;  // X: the checkpoint's durable point (0 without one)
  std::vector<segment_plan> plans_;
};

}  // namespace lanes::io
