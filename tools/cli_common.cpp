// tools/cli_common.cpp: see cli_common.hpp.
#include "cli_common.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <system_error>

namespace lanes_tools {

std::atomic<bool> stop_requested{false};

namespace {
extern "C" void on_stop_signal(int) { stop_requested.store(true, std::memory_order_relaxed); }

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}
}  // namespace

void install_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocking reads return EINTR and the loop looks
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a closed stdout shows up as a write error instead
}

std::int64_t wall_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string describe(lanes::errc e) {
  return std::string(lanes::to_string(e)) + ": " + lanes::make_error_code(e).message();
}

const char* name_of(lanes::durability d) noexcept {
  switch (d) {
    case lanes::durability::none: return "none";
    case lanes::durability::async: return "async";
    case lanes::durability::sync: return "sync";
  }
  return "?";
}

lanes::durability parse_durability(const std::string& option, const std::string& value) {
  const std::string v = lower(value);
  if (v == "none") return lanes::durability::none;
  if (v == "async") return lanes::durability::async;
  if (v == "sync") return lanes::durability::sync;
  usage_error(option + " '" + value + "': use none, async or sync");
}

void add_durability_option(CLI::App* cmd, const std::string& name, lanes::durability& target,
                           const std::string& help) {
  cmd->add_option_function<std::string>(
         name, [&target, name](const std::string& v) { target = parse_durability(name, v); }, help)
      ->check(CLI::IsMember({"none", "async", "sync"}, CLI::ignore_case))
      ->default_str(name_of(target));
}

std::unique_ptr<lanes::bus> open_bus(const std::string& dir, dir_use use) {
  if (dir.empty()) usage_error("--data-dir is required");
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (use != dir_use::may_create) {
      runtime_error("data directory " + dir +
                    " does not exist; check --data-dir (lanes produce --create or lanes topics "
                    "create make one)");
    }
  } else {
    if (!S_ISDIR(st.st_mode)) runtime_error("--data-dir " + dir + " is not a directory");
    if (::access(dir.c_str(), use == dir_use::read_only ? R_OK | X_OK : R_OK | W_OK | X_OK) != 0) {
      runtime_error("data directory " + dir +
                    " is not readable and writable by this user; fix its permissions or run "
                    "as its owner (lanes dump and lanes verify only need read access)");
    }
  }
  lanes::bus_config bc;
  bc.data_dir = dir;
  bc.read_only = use == dir_use::read_only;
  try {
    return std::make_unique<lanes::bus>(bc);
  } catch (const std::system_error& e) {
    if (e.code() == lanes::make_error_code(lanes::errc::data_dir_locked)) {
      runtime_error("data directory " + dir + " is in use by another process (it holds " + dir +
                    "/.lock); stop that process first, or use lanes dump / lanes verify, which "
                    "read files without opening the bus");
    }
    if (e.code() == lanes::make_error_code(lanes::errc::corrupt_log) ||
        e.code() == lanes::make_error_code(lanes::errc::log_quarantined)) {
      runtime_error(std::string(e.what()) + "; run lanes verify " + dir +
                    " to see every damaged file");
    }
    runtime_error(std::string("cannot open data directory ") + dir + ": " + e.what());
  }
}

lanes::topic_info require_topic(lanes::bus& b, const std::string& dir, const std::string& topic) {
  if (topic.empty()) usage_error("--topic is required");
  if (!lanes::bus::valid_topic_name(topic)) {
    usage_error("--topic '" + topic + "': use 1..249 characters of [A-Za-z0-9._-]");
  }
  if (auto info = b.describe_topic(topic)) return *info;
  std::string known;
  for (const std::string& t : b.list_topics()) known += (known.empty() ? "" : ", ") + t;
  runtime_error("unknown topic '" + topic + "' in " + dir +
                " (topics: " + (known.empty() ? std::string("none") : known) +
                "); create it with lanes topics create or lanes produce --create");
}

}  // namespace lanes_tools
