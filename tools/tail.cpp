// tools/tail.cpp: `lanes tail FILE`, follows a growing log file (as `tail -F`) and publishes
// each complete new line as a message.
//
// Following: the file is read from where the last line ended; a line is published once its
// newline is there. Every --poll-interval it also looks at the path:
//   rotation   the path names another file (another inode): the old file is read to its end
//              (its last line even without a newline: nothing will complete it) and the new
//              file is followed from its start. While the path is missing (between rename
//              and create) the old file is kept.
//   truncation the file is shorter than what was read, or its first bytes (up to 4 KiB) are
//              no longer the ones read (copytruncate, then the file grew past the old
//              position before tail looked again): read again from 0, said on stderr. The
//              first bytes are compared before each read and again after each chunk read,
//              before its lines are published.
//
// Restart without loss or repetition: the file position travels WITH the data. Every message
// carries the header `tail.pos` = "<inode>:<end offset of its line>:<fingerprint>" (the
// fingerprint: 16 hex digits, FNV-1a 64 of the file's first min(end offset, 4096) bytes;
// positions written before it existed, "<inode>:<end offset>", are still read), and all
// go to one partition (--partition, default 0). On start, tail reads the last record of that
// partition and goes on from there: in the same file when the path still names that inode
// (from 0 when it is now shorter or its fingerprint differs), or, when the file was rotated while
// tail was down, it finds the old inode among the files of the same directory (access.log.1 ...),
// reads its rest, then starts the new file from 0. A message and its position are one record, so
// what the log has is exactly what was read: a record lost in a crash (async durability) takes its
// position with it and the line is read again.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include "cli_common.hpp"
#include "commands.hpp"
#include "fnv1a.hpp"
#include "lanes/lanes.hpp"

namespace lanes_tools {
namespace {

constexpr std::string_view pos_header = "tail.pos";
constexpr std::size_t head_bytes = 4096;  // the fingerprint covers this much of the file

struct file_pos {
  std::uint64_t inode = 0;
  std::uint64_t offset = 0;
  std::optional<std::uint64_t> fingerprint;  // absent in positions of the old format
};

// Tells a rewritten file from the one read.
std::uint64_t fingerprint_of(std::string_view bytes) noexcept { return fnv1a(bytes); }

bool parse_number(std::string_view s, int base, std::uint64_t& v) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  return !s.empty() && ec == std::errc{} && end == s.data() + s.size();
}

// "<inode>:<offset>" (old) or "<inode>:<offset>:<16 hex digits>".
std::optional<file_pos> parse_pos(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  file_pos p;
  std::string_view rest = s.substr(colon + 1);
  const auto colon2 = rest.find(':');
  if (colon2 != std::string_view::npos) {
    std::uint64_t fp = 0;
    if (!parse_number(rest.substr(colon2 + 1), 16, fp)) return std::nullopt;
    p.fingerprint = fp;
    rest = rest.substr(0, colon2);
  }
  if (!parse_number(s.substr(0, colon), 10, p.inode) || !parse_number(rest, 10, p.offset)) {
    return std::nullopt;
  }
  return p;
}

// The position in the last record of the partition, if it has any record.
std::optional<file_pos> recover_position(lanes::bus& bus, const std::string& topic,
                                         std::uint32_t partition) {
  const auto info = bus.describe_topic(topic);
  const lanes::partition_stats& ps = info->partitions[partition];
  if (ps.end_offset == ps.log_start_offset) return std::nullopt;
  lanes::consumer_config cc;
  cc.auto_commit = false;
  cc.reset = lanes::offset_reset::earliest;
  lanes::errc e = lanes::errc::ok;
  lanes::consumer c = bus.make_consumer(cc, &e);
  const lanes::topic_partition tp{topic, partition};
  if (e == lanes::errc::ok) e = c.assign({&tp, 1});
  if (e == lanes::errc::ok) e = c.seek(tp, ps.end_offset - 1);
  if (e != lanes::errc::ok)
    runtime_error("reading the last record of " + topic + ": " + describe(e));
  const std::int64_t deadline = steady_ns() + 10'000'000'000;
  while (steady_ns() < deadline) {
    const lanes::poll_result r = c.poll(std::chrono::milliseconds(100));
    if (r.status != lanes::errc::ok)
      runtime_error("reading the last record: " + describe(r.status));
    for (const lanes::record_view& rec : r.records) {
      if (rec.offset != ps.end_offset - 1) continue;
      std::string_view v;
      if (!rec.headers.find(pos_header, v)) {
        runtime_error("the last record of " + topic + " partition " + std::to_string(partition) +
                      " has no tail.pos header: something else writes there; give lanes tail a "
                      "topic (or partition) of its own");
      }
      auto p = parse_pos(v);
      if (!p)
        runtime_error("the last record's tail.pos header '" + std::string(v) + "' is malformed");
      return p;
    }
  }
  runtime_error("timed out reading the last record of " + topic);
}

class follower {
 public:
  follower(const tail_options& o, lanes::producer& prod) : o_(o), prod_(prod) {
    opts_.partition = o.partition;
    opts_.durable = o.durability == lanes::durability::sync;
  }
  ~follower() { close_file(); }
  follower(const follower&) = delete;
  follower& operator=(const follower&) = delete;

  // Opens `path` at `offset`. A file shorter than `offset`, or whose first bytes no longer
  // have `fingerprint` (when given), was truncated: it is read from 0. False if missing.
  bool open_at(const std::string& path, std::uint64_t offset,
               std::optional<std::uint64_t> fingerprint = std::nullopt) {
    close_file();
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return false;
    struct stat st {};
    ::fstat(fd_, &st);
    inode_ = static_cast<std::uint64_t>(st.st_ino);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    head_.clear();
    fp_len_ = SIZE_MAX;
    if (offset > size) {
      note("%s is shorter (%llu bytes) than the saved position %llu: truncated; reading from 0",
           path.c_str(), static_cast<unsigned long long>(size),
           static_cast<unsigned long long>(offset));
      offset = 0;
    } else if (offset > 0) {
      head_ = read_head(std::min<std::uint64_t>(offset, head_bytes));
      if (fingerprint && fingerprint_of(head_) != *fingerprint) {
        note(
            "%s does not start with the bytes read before (truncated and rewritten, %llu bytes "
            "now, saved position %llu): reading from 0",
            path.c_str(), static_cast<unsigned long long>(size),
            static_cast<unsigned long long>(offset));
        head_.clear();
        offset = 0;
      }
    }
    pos_ = line_start_ = offset;
    partial_.clear();
    return true;
  }
  bool is_open() const noexcept { return fd_ >= 0; }
  std::uint64_t inode() const noexcept { return inode_; }

  // Reads what was appended and publishes the complete lines. Returns lines published.
  std::uint64_t read_new() {
    std::uint64_t lines = 0;
    if (fd_ < 0) return 0;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::pread(fd_, buf, sizeof buf, static_cast<off_t>(pos_));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) runtime_error(std::string("reading ") + o_.file + ": " + std::strerror(errno));
      if (n == 0) break;
      // Checked after the read: the chunk is from the file whose first bytes were read.
      if (rewritten()) {
        restart_at_zero("its first bytes changed");
        continue;
      }
      if (pos_ < head_bytes && head_.size() == pos_) {
        head_.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), head_bytes - pos_));
      }
      pos_ += static_cast<std::uint64_t>(n);
      partial_.append(buf, static_cast<std::size_t>(n));
      std::size_t from = 0;
      for (;;) {
        const auto nl = partial_.find('\n', from);
        if (nl == std::string::npos) break;
        publish(std::string_view(partial_).substr(from, nl - from), line_start_ + nl + 1);
        ++lines;
        from = nl + 1;
      }
      partial_.erase(0, from);
      line_start_ += from;
    }
    return lines;
  }

  // The file is shorter than what was read, or its first bytes changed: start again from 0.
  bool check_truncated() {
    if (fd_ < 0) return false;
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return false;
    if (static_cast<std::uint64_t>(st.st_size) < pos_) {
      note("%s was truncated (%llu bytes, %llu read): reading from 0", o_.file.c_str(),
           static_cast<unsigned long long>(st.st_size), static_cast<unsigned long long>(pos_));
      reset();
      return true;
    }
    if (!rewritten()) return false;
    restart_at_zero("its first bytes changed");
    return true;
  }

  // The old file is done (rotated away): its last line counts even without a newline.
  std::uint64_t finish_file() {
    std::uint64_t lines = read_new();
    if (!partial_.empty()) {
      publish(partial_, pos_);
      partial_.clear();
      line_start_ = pos_;
      ++lines;
    }
    close_file();
    return lines;
  }

  template <class... A>
  void note(const char* f, A... a) {
    std::fprintf(stderr, "lanes tail: ");
    std::fprintf(stderr, f, a...);
    std::fprintf(stderr, "\n");
  }

  std::uint64_t published() const noexcept { return published_; }
  std::uint64_t last_offset() const noexcept { return last_offset_; }

 private:
  // The first n bytes of the open file (fewer when it is shorter).
  std::string read_head(std::uint64_t n) {
    std::string h(static_cast<std::size_t>(n), '\0');
    std::size_t got = 0;
    while (got < h.size()) {
      const ssize_t r = ::pread(fd_, h.data() + got, h.size() - got, static_cast<off_t>(got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += static_cast<std::size_t>(r);
    }
    h.resize(got);
    return h;
  }
  // The file no longer starts with the bytes read from it: truncated and written again.
  bool rewritten() { return !head_.empty() && read_head(head_.size()) != head_; }
  void reset() {
    pos_ = line_start_ = 0;
    partial_.clear();
    head_.clear();
    fp_len_ = SIZE_MAX;
  }
  void restart_at_zero(const char* why) {
    note("%s was truncated and rewritten (%s; %llu bytes had been read): reading from 0",
         o_.file.c_str(), why, static_cast<unsigned long long>(pos_));
    reset();
  }
  void close_file() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void publish(std::string_view line, std::uint64_t end_offset) {
    // The fingerprint of the first min(end_offset, head_bytes) bytes (head_ holds them).
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(end_offset, head_bytes));
    if (n != fp_len_) {
      fp_len_ = n;
      fp_ = fingerprint_of(std::string_view(head_).substr(0, n));
    }
    char fp[24];
    std::snprintf(fp, sizeof fp, ":%016llx", static_cast<unsigned long long>(fp_));
    const std::string pos = std::to_string(inode_) + ":" + std::to_string(end_offset) + fp;
    const lanes::header h{pos_header, pos};
    opts_.headers = {&h, 1};
    const lanes::publish_result r = prod_.publish(std::nullopt, line, opts_);
    if (!r) runtime_error("publish failed: " + describe(r.status));
    ++published_;
    last_offset_ = r.offset;
    if (o_.verbose) {
      std::printf("%u %llu\n", r.partition, static_cast<unsigned long long>(r.offset));
      std::fflush(stdout);
    }
  }

  const tail_options& o_;
  lanes::producer& prod_;
  lanes::publish_options opts_;
  int fd_ = -1;
  std::uint64_t inode_ = 0;
  std::uint64_t pos_ = 0;          // file offset read up to
  std::uint64_t line_start_ = 0;   // file offset of partial_[0]
  std::string partial_;            // bytes after the last newline
  std::string head_;               // the file's first min(pos_, head_bytes) bytes as read
  std::size_t fp_len_ = SIZE_MAX;  // fp_ is the fingerprint of head_'s first fp_len_ bytes
  std::uint64_t fp_ = 0;
  std::uint64_t published_ = 0;
  std::uint64_t last_offset_ = 0;
};

// A regular file in `dir` with this inode (where a rotated file went), or "".
std::string find_inode(const std::filesystem::path& dir, std::uint64_t inode) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    struct stat st {};
    if (::stat(e.path().c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        static_cast<std::uint64_t>(st.st_ino) == inode) {
      return e.path().string();
    }
  }
  return {};
}

std::optional<std::uint64_t> inode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(st.st_ino);
}

}  // namespace

CLI::App* add_tail_command(CLI::App& app, tail_options& o) {
  CLI::App* cmd = add_topic_command(
      app, "tail",
      "Follow a growing log file as tail -F (rotation, truncation) and publish each new line; "
      "restarts go on where the topic's last message says",
      o.data_dir, o.topic, "Topic to publish to");
  cmd->add_option("file", o.file, "The file to follow, e.g. /var/log/nginx/access.log")->required();
  add_partition_option(cmd, o.partition,
                       "Partition for every line (its last record holds the file position)");
  add_durability_option(cmd, "--durability", o.durability,
                        "async: group commit (a crash may lose the last lines' records, which are "
                        "then read again); sync: every line waits for the disk");
  cmd->add_flag("--create", o.create, "Create the topic (durable) when it does not exist");
  cmd->add_option("--start", o.start, "First run only: read the file from its beginning or end")
      ->check(CLI::IsMember({"beginning", "end"}))
      ->capture_default_str();
  add_real_option(cmd, "--poll-interval", o.poll_interval_s, "seconds", 0.001, bound::inclusive, 60,
                  "Seconds between looks at the file");
  add_real_option(cmd, "--idle-exit", o.idle_exit_s, "seconds", 0, bound::inclusive, 1e6,
                  "Exit after this many seconds without a new line (0: run until SIGINT/SIGTERM)");
  cmd->add_flag("--verbose,-v", o.verbose, "Print 'partition offset' for every line published");
  return cmd;
}

namespace {

// The topic, created first with --create when it is missing (durable: async unless
// --durability sync); it must be durable and have --partition.
void open_tail_topic(lanes::bus& bus, const tail_options& o) {
  lanes::topic_config tc;
  tc.partitions = o.partition + 1;
  tc.durable =
      o.durability == lanes::durability::sync ? lanes::durability::sync : lanes::durability::async;
  const lanes::topic_info info = create_or_require_topic(bus, o.data_dir, o.topic, o.create, tc);
  require_durable(info,
                  ": lanes tail keeps its file position in the topic's records, so it needs a "
                  "durable topic");
  require_partition(info, o.partition);
}

// Opens the file where the partition's last record says reading stopped (see the top of
// this file); a first run starts at the beginning or, with --start end, at the end.
void resume(follower& f, lanes::bus& bus, const tail_options& o) {
  const std::filesystem::path dir = std::filesystem::path(o.file).parent_path().empty()
                                        ? std::filesystem::path(".")
                                        : std::filesystem::path(o.file).parent_path();
  const auto saved = recover_position(bus, o.topic, o.partition);
  if (!saved) {
    if (f.open_at(o.file, 0) && o.start == "end") {
      struct stat st {};
      ::stat(o.file.c_str(), &st);
      f.open_at(o.file, static_cast<std::uint64_t>(st.st_size));
    }
    return;
  }
  const auto now_inode = inode_of(o.file);
  if (now_inode && *now_inode == saved->inode) {
    f.open_at(o.file, saved->offset, saved->fingerprint);
    return;
  }
  // Rotated while we were away: finish the old file where it went, then the new one.
  const std::string old = find_inode(dir, saved->inode);
  if (!old.empty() && f.open_at(old, saved->offset, saved->fingerprint)) {
    f.note("%s was rotated to %s while lanes tail was stopped: reading its rest first",
           o.file.c_str(), old.c_str());
    f.finish_file();
  } else {
    f.note(
        "cannot find the file (inode %llu) read before the restart in %s: lines written "
        "to it after offset %llu are not published",
        static_cast<unsigned long long>(saved->inode), dir.c_str(),
        static_cast<unsigned long long>(saved->offset));
  }
  f.open_at(o.file, 0);
}

// One look at the file: opens it when it was missing, notices truncation and rotation, and
// publishes what was appended. Returns the lines published.
std::uint64_t look_once(follower& f, const tail_options& o) {
  if (!f.is_open()) return f.open_at(o.file, 0) ? f.read_new() : 0;
  f.check_truncated();
  std::uint64_t lines = f.read_new();
  const auto now_inode = inode_of(o.file);
  if (now_inode && *now_inode != f.inode()) {
    lines += f.finish_file();
    if (f.open_at(o.file, 0)) lines += f.read_new();
  }
  return lines;
}

// Looks at the file every --poll-interval until a signal or --idle-exit.
void follow(follower& f, const tail_options& o) {
  const auto interval = std::chrono::duration<double>(o.poll_interval_s);
  std::int64_t last_line_ns = steady_ns();
  while (!stop_requested.load(std::memory_order_relaxed)) {
    const std::uint64_t lines = look_once(f, o);
    const std::int64_t now = steady_ns();
    if (lines != 0) last_line_ns = now;
    if (o.idle_exit_s > 0 && static_cast<double>(now - last_line_ns) / 1e9 >= o.idle_exit_s) break;
    if (lines == 0) std::this_thread::sleep_for(interval);
  }
}

}  // namespace

int run_tail(const tail_options& o) {
  check_topic_name("--topic", o.topic);
  install_stop_signals();
  auto bus = open_bus(o.data_dir, o.create ? dir_use::may_create : dir_use::existing);
  open_tail_topic(*bus, o);
  lanes::producer prod = make_producer_or_fail(*bus, o.topic);

  follower f(o, prod);
  resume(f, *bus, o);
  if (!f.is_open()) f.note("%s does not exist yet: waiting for it", o.file.c_str());
  follow(f, o);
  if (f.published() != 0 && o.durability != lanes::durability::none) {
    const lanes::errc e = prod.wait_durable(o.partition, f.last_offset(), std::chrono::seconds(60));
    if (e != lanes::errc::ok)
      runtime_error("the last lines did not become durable: " + describe(e));
  }
  if (o.verbose) {
    std::fprintf(stderr, "lanes tail: %llu lines published to %s\n",
                 static_cast<unsigned long long>(f.published()), o.topic.c_str());
  }
  return exit_ok;
}

}  // namespace lanes_tools
