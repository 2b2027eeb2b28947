// tools/cli_common.cpp: see cli_common.hpp.
#include "cli_common.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

const char* name_of(lanes::topic_mode m) noexcept {
  return m == lanes::topic_mode::queue ? "queue" : "log";
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

namespace {
std::string number_text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

[[noreturn]] void bad_value(const std::string& option, const std::string& expected,
                            const std::string& value) {
  usage_error(option + ": expected " + expected + ", got '" + value + "'");
}

// Leading decimal digits of `s` as a number; false when there are none or they overflow.
bool leading_digits(std::string_view s, std::uint64_t& v, std::size_t& used) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  used = static_cast<std::size_t>(end - s.data());
  return ec == std::errc{} && used != 0 && (s[0] >= '0' && s[0] <= '9');
}
}  // namespace

std::string option_name(const std::string& names) {
  std::string best;
  std::size_t from = 0;
  while (from <= names.size()) {
    std::size_t comma = names.find(',', from);
    if (comma == std::string::npos) comma = names.size();
    const std::string n = names.substr(from, comma - from);
    if (best.empty() || (n.rfind("--", 0) == 0 && best.rfind("--", 0) != 0)) best = n;
    from = comma + 1;
  }
  return best;
}

double parse_real(const std::string& option, const std::string& value, const char* unit, double min,
                  bound min_bound, double max) {
  const std::string expected = std::string("a finite number of ") + unit +
                               (min_bound == bound::inclusive ? " >= " : " > ") + number_text(min) +
                               " and <= " + number_text(max);
  const char* begin = value.c_str();
  char* end = nullptr;
  const double v = std::strtod(begin, &end);
  if (value.empty() || end != begin + value.size() || !std::isfinite(v) || v > max ||
      (min_bound == bound::inclusive ? v < min : v <= min)) {
    bad_value(option, expected, value);
  }
  return v;
}

std::uint64_t parse_count(const std::string& option, const std::string& value, std::uint64_t min,
                          std::uint64_t max) {
  std::uint64_t v = 0;
  std::size_t used = 0;
  if (!leading_digits(value, v, used) || used != value.size() || v < min || v > max) {
    bad_value(option, "a whole number from " + std::to_string(min) + " to " + std::to_string(max),
              value);
  }
  return v;
}

std::uint64_t parse_size(const std::string& option, const std::string& value, std::uint64_t min,
                         std::uint64_t max) {
  const std::string expected = "a size in bytes (e.g. 65536, 64KiB, 8MiB) from " +
                               std::to_string(min) + " to " + std::to_string(max);
  std::uint64_t v = 0;
  std::size_t used = 0;
  if (!leading_digits(value, v, used)) bad_value(option, expected, value);
  const std::string unit = lower(value.substr(used));
  int shift = -1;
  if (unit.empty() || unit == "b") shift = 0;
  const char* const units = "kmgt";
  for (int i = 0; i < 4 && shift < 0; ++i) {
    const std::string u(1, units[i]);
    if (unit == u || unit == u + "b" || unit == u + "ib") shift = 10 * (i + 1);
  }
  if (shift < 0 || (shift != 0 && v > (UINT64_MAX >> shift))) bad_value(option, expected, value);
  v <<= shift;
  if (v < min || v > max) bad_value(option, expected, value);
  return v;
}

CLI::Option* add_real_option(CLI::App* cmd, const std::string& names, double& target,
                             const char* unit, double min, bound min_bound, double max,
                             const std::string& help) {
  const std::string name = option_name(names);
  return cmd
      ->add_option_function<std::string>(
          names,
          [&target, name, unit, min, min_bound, max](const std::string& v) {
            target = parse_real(name, v, unit, min, min_bound, max);
          },
          help)
      ->type_name(std::string_view(unit) == "seconds" ? "SECONDS" : "NUMBER")
      ->default_str(number_text(target));
}

CLI::Option* add_count_option_to(CLI::App* cmd, const std::string& names,
                                 std::function<void(std::uint64_t)> store, std::uint64_t min,
                                 std::uint64_t max, const std::string& help,
                                 const std::string& default_text) {
  const std::string name = option_name(names);
  CLI::Option* opt = cmd->add_option_function<std::string>(
      names,
      [store = std::move(store), name, min, max](const std::string& v) {
        store(parse_count(name, v, min, max));
      },
      help);
  opt->type_name("UINT");
  if (!default_text.empty()) opt->default_str(default_text);
  return opt;
}

CLI::Option* add_size_option(CLI::App* cmd, const std::string& names, std::size_t& target,
                             std::uint64_t min, std::uint64_t max, const std::string& help) {
  const std::string name = option_name(names);
  return cmd
      ->add_option_function<std::string>(
          names,
          [&target, name, min, max](const std::string& v) {
            target = static_cast<std::size_t>(parse_size(name, v, min, max));
          },
          help)
      ->type_name("SIZE")
      ->default_str(std::to_string(target));
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

void check_topic_name(const std::string& label, const std::string& topic) {
  if (!lanes::bus::valid_topic_name(topic)) {
    usage_error(label + " '" + topic + "': use 1..249 characters of [A-Za-z0-9._-]");
  }
}

lanes::topic_info require_topic(lanes::bus& b, const std::string& dir, const std::string& topic) {
  if (topic.empty()) usage_error("--topic is required");
  check_topic_name("--topic", topic);
  if (auto info = b.describe_topic(topic)) return *info;
  std::string known;
  for (const std::string& t : b.list_topics()) known += (known.empty() ? "" : ", ") + t;
  runtime_error("unknown topic '" + topic + "' in " + dir +
                " (topics: " + (known.empty() ? std::string("none") : known) +
                "); create it with lanes topics create or lanes produce --create");
}

lanes::topic_info create_or_require_topic(lanes::bus& b, const std::string& dir,
                                          const std::string& topic, bool create,
                                          const lanes::topic_config& config) {
  if (create && !b.describe_topic(topic)) {
    if (const lanes::errc e = b.create_topic(topic, config); e != lanes::errc::ok) {
      runtime_error("cannot create topic '" + topic + "': " + describe(e));
    }
  }
  return require_topic(b, dir, topic);
}

void require_durable(const lanes::topic_info& info, const std::string& why) {
  if (info.config.durable == lanes::durability::none) {
    runtime_error("topic '" + info.name + "' is memory-only" + why);
  }
}

void require_partition(const lanes::topic_info& info, std::uint32_t partition, bool show_range) {
  const std::uint32_t n = info.config.partitions;
  if (partition < n) return;
  runtime_error("--partition " + std::to_string(partition) + ": topic '" + info.name + "' has " +
                std::to_string(n) + " partitions" +
                (show_range ? " (0.." + std::to_string(n - 1) + ")" : ""));
}

lanes::producer make_producer_or_fail(lanes::bus& b, const std::string& topic) {
  lanes::errc status = lanes::errc::ok;
  lanes::producer p = b.make_producer(topic, &status);
  if (status != lanes::errc::ok) runtime_error("producer for '" + topic + "': " + describe(status));
  return p;
}

bool write_stdout(const std::string& text) {
  return std::fwrite(text.data(), 1, text.size(), stdout) == text.size() &&
         std::fflush(stdout) == 0;
}

CLI::App* add_topic_command(CLI::App& app, const std::string& name, const std::string& help,
                            std::string& data_dir, std::string& topic,
                            const std::string& topic_help) {
  CLI::App* cmd = app.add_subcommand(name, help);
  cmd->add_option("--data-dir,-d", data_dir, "Data directory of the bus")->required();
  cmd->add_option("--topic,-t", topic, topic_help)->required();
  return cmd;
}

int parse_and_run(CLI::App& app, int argc, char** argv, const std::string& program,
                  const std::function<int()>& command) {
  auto fail = [&program](const char* what, int code) {
    std::fprintf(stderr, "%s: error: %s\n", program.c_str(), what);
    return code;
  };
  try {
    app.parse(argc, argv);
  } catch (const cli_error& e) {
    // Thrown by an option callback (a value CLI11's checks let through).
    return fail(e.what(), e.exit_code());
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with exit code 0; everything else is a usage error.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "%s: error: %s\nRun with --help for more information.\n", program.c_str(),
                 e.what());
    return exit_usage;
  }
  try {
    return command();
  } catch (const cli_error& e) {
    return fail(e.what(), e.exit_code());
  } catch (const std::exception& e) {
    return fail(e.what(), exit_failed);
  }
}

}  // namespace lanes_tools
