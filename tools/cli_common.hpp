// tools/cli_common.hpp: what every `lanes` subcommand shares: exit codes, the one-line
// error, opening a bus on a data directory with errors a person can act on, and the small
// parsers (durability names, offsets, timestamps).
//
// Exit codes (documented in `lanes --help` and README): 0 ok; 1 the command ran and failed
// (runtime failure, damage found, messages missing); 2 usage error (bad flags, bad values).
// Thread contract: main thread only. Cold paths (allocate, may throw).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "lanes/bus.hpp"

namespace CLI {
class App;
}

namespace lanes_tools {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failed = 1;
inline constexpr int exit_usage = 2;

// Thrown by a subcommand to stop with `lanes: error: <message>` and this exit code.
class cli_error : public std::runtime_error {
 public:
  cli_error(int exit_code, const std::string& message)
      : std::runtime_error(message), code_(exit_code) {}
  int exit_code() const noexcept { return code_; }

 private:
  int code_;
};

[[noreturn]] inline void usage_error(const std::string& m) { throw cli_error(exit_usage, m); }
[[noreturn]] inline void runtime_error(const std::string& m) { throw cli_error(exit_failed, m); }

// How a data directory is to be opened.
enum class dir_use : std::uint8_t {
  existing,    // must exist already (consume, topics list/describe/delete)
  may_create,  // created when missing (produce --create, topics create, tail)
  read_only    // must exist; opened without writing anything (topics list, describe)
};

// Opens a bus on `dir` (housekeeping as the bus does by default). Turns every failure into a
// cli_error that says what to do: a missing or unreadable directory, another process holding
// the lock (errc::data_dir_locked), damaged logs.
std::unique_ptr<lanes::bus> open_bus(const std::string& dir, dir_use use);

// The topic's description, or a cli_error (exit 1) that lists the topics there are.
lanes::topic_info require_topic(lanes::bus& b, const std::string& dir, const std::string& topic);

// "none" | "async" | "sync" (any case) or a usage error naming the option.
lanes::durability parse_durability(const std::string& option, const std::string& value);
const char* name_of(lanes::durability d) noexcept;

// A message for a failed errc: "<id>: <message>".
std::string describe(lanes::errc e);

// SIGINT / SIGTERM set this (install_stop_signals); long-running commands poll it.
extern std::atomic<bool> stop_requested;
void install_stop_signals();

std::int64_t wall_ns() noexcept;
std::int64_t steady_ns() noexcept;

// Adds a `--durability none|async|sync` style option storing into `target`.
void add_durability_option(CLI::App* cmd, const std::string& name, lanes::durability& target,
                           const std::string& help);

}  // namespace lanes_tools
