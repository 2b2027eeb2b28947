// tools/cli_common.hpp: what every `lanes` subcommand shares: exit codes, the one-line
// error, opening a bus on a data directory with errors a person can act on, and the small
// parsers (durability names, offsets, timestamps).
//
// Exit codes (documented in `lanes --help` and README): 0 ok; 1 the command ran and failed
// (runtime failure, damage found, messages missing); 2 usage error (bad flags, bad values).
// Thread contract: main thread only. Cold paths (allocate, may throw).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include "lanes/bus.hpp"
#include "lanes/clock.hpp"

namespace CLI {
class App;
class Option;
}  // namespace CLI

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
// A usage error unless `topic` is a valid topic name; `label` names it ("--topic", "topic").
void check_topic_name(const std::string& label, const std::string& topic);
// With `create`, makes the topic with `config` when it is missing; then require_topic.
lanes::topic_info create_or_require_topic(lanes::bus& b, const std::string& dir,
                                          const std::string& topic, bool create,
                                          const lanes::topic_config& config);
// A cli_error (exit 1) unless the topic is durable: "topic 'T' is memory-only<why>".
void require_durable(const lanes::topic_info& info, const std::string& why);
// A cli_error (exit 1) unless the topic has `partition`: "--partition P: topic 'T' has N
// partitions", followed by " (0..N-1)" with `show_range`.
void require_partition(const lanes::topic_info& info, std::uint32_t partition,
                       bool show_range = false);
// A producer for `topic`, or a cli_error (exit 1) naming it.
lanes::producer make_producer_or_fail(lanes::bus& b, const std::string& topic);

// Writes `text` to stdout and flushes; false when stdout is closed (e.g. `| head`).
bool write_stdout(const std::string& text);

// Adds subcommand `name` of a command that works on one topic of a bus: its required
// --data-dir,-d and --topic,-t (`topic_help` says what the topic is for).
CLI::App* add_topic_command(CLI::App& app, const std::string& name, const std::string& help,
                            std::string& data_dir, std::string& topic,
                            const std::string& topic_help);

// The command line of a program (`lanes`, `lanes-stress`): parses it and runs `command`,
// turning every error into one line "<program>: error: ..." on stderr and its exit code (a
// cli_error its own, a parse error exit_usage, any other exception exit_failed). --help and
// --version print and exit 0.
int parse_and_run(CLI::App& app, int argc, char** argv, const std::string& program,
                  const std::function<int()>& command);

// "none" | "async" | "sync" (any case) or a usage error naming the option.
lanes::durability parse_durability(const std::string& option, const std::string& value);
const char* name_of(lanes::durability d) noexcept;
const char* name_of(lanes::topic_mode m) noexcept;  // "log" | "queue"

// A message for a failed errc: "<id>: <message>".
std::string describe(lanes::errc e);

// SIGINT / SIGTERM set this (install_stop_signals); long-running commands poll it.
extern std::atomic<bool> stop_requested;
void install_stop_signals();

std::int64_t wall_ns() noexcept;
using lanes::steady_ns;  // the monotonic clock in ns (lanes/clock.hpp)

// Strict numeric values for every numeric option of `lanes` and `lanes-stress`: a value out of
// its documented range (NaN, an infinity, a sign on a count, a number that does not fit, a
// trailing word) is a usage error (exit 2) with one line naming the option, e.g.
//   --timeout: expected a finite number of seconds >= 0 and <= 1000000, got 'nan'
// `option` is the name in the message ("--timeout"). Each throws cli_error(exit_usage).

// How a bound of a real-valued range is compared.
enum class bound : std::uint8_t { inclusive, exclusive };

// A finite real number in [min, max] (or (min, max] with min_bound exclusive); `unit` names
// what is counted ("seconds", "messages/s").
double parse_real(const std::string& option, const std::string& value, const char* unit, double min,
                  bound min_bound, double max);
// A whole number of decimal digits only (no sign, no fraction) in [min, max].
std::uint64_t parse_count(const std::string& option, const std::string& value, std::uint64_t min,
                          std::uint64_t max);
// A byte size: digits with an optional unit b, k/kb/kib, m/mb/mib, g/gb/gib, t/tb/tib (any
// case, all powers of 1024), in [min, max].
std::uint64_t parse_size(const std::string& option, const std::string& value, std::uint64_t min,
                         std::uint64_t max);

// Adds option `names` ("--timeout" or "--count,-c") storing parse_real(...) into `target`;
// the help shows the current value as the default.
CLI::Option* add_real_option(CLI::App* cmd, const std::string& names, double& target,
                             const char* unit, double min, bound min_bound, double max,
                             const std::string& help);
// Adds a count option storing into `target` (an unsigned integer or std::optional of one);
// `max` defaults to the largest value of that type.
template <class T>
CLI::Option* add_count_option(CLI::App* cmd, const std::string& names, T& target, std::uint64_t min,
                              std::uint64_t max, const std::string& help);
// Adds a byte-size option (parse_size) storing into `target`.
CLI::Option* add_size_option(CLI::App* cmd, const std::string& names, std::size_t& target,
                             std::uint64_t min, std::uint64_t max, const std::string& help);

// The long name of "--count,-c" ("--count"), for messages.
std::string option_name(const std::string& names);
// add_count_option without the template: `store` receives the parsed value.
CLI::Option* add_count_option_to(CLI::App* cmd, const std::string& names,
                                 std::function<void(std::uint64_t)> store, std::uint64_t min,
                                 std::uint64_t max, const std::string& help,
                                 const std::string& default_text);

template <class T>
CLI::Option* add_count_option(CLI::App* cmd, const std::string& names, T& target, std::uint64_t min,
                              std::uint64_t max, const std::string& help) {
  if constexpr (requires { typename T::value_type; }) {
    using V = typename T::value_type;
    static_assert(std::is_unsigned_v<V>);
    return add_count_option_to(
        cmd, names, [&target](std::uint64_t v) { target = static_cast<V>(v); }, min,
        std::min<std::uint64_t>(max, std::numeric_limits<V>::max()), help, "");
  } else {
    static_assert(std::is_unsigned_v<T>);
    return add_count_option_to(
        cmd, names, [&target](std::uint64_t v) { target = static_cast<T>(v); }, min,
        std::min<std::uint64_t>(max, std::numeric_limits<T>::max()), help, std::to_string(target));
  }
}

// A topic has 1 to lanes::max_partitions partitions, numbered from 0.
inline constexpr std::uint64_t max_partitions = lanes::max_partitions;

// Adds `--partition,-p`: one partition of a topic, 0 to max_partitions - 1, into `target`.
template <class T>
CLI::Option* add_partition_option(CLI::App* cmd, T& target, const std::string& help) {
  return add_count_option(cmd, "--partition,-p", target, 0, max_partitions - 1, help);
}
// Adds `--partitions`: how many partitions a topic gets, 1 to max_partitions, into `target`.
template <class T>
CLI::Option* add_partitions_option(CLI::App* cmd, T& target, const std::string& help) {
  return add_count_option(cmd, "--partitions", target, 1, max_partitions, help);
}

// Adds a `--durability none|async|sync` style option storing into `target`.
void add_durability_option(CLI::App* cmd, const std::string& name, lanes::durability& target,
                           const std::string& help);

}  // namespace lanes_tools
