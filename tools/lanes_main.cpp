// tools/lanes_main.cpp: the `lanes` command line tool. Each subcommand lives in its own file
// (perf.cpp, produce.cpp, consume.cpp, topics.cpp, tail.cpp, dump.cpp, verify.cpp) and
// registers itself here.
//
// Exit codes, the same for every subcommand: 0 ok, 1 the command ran and failed, 2 usage.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "cli_common.hpp"
#include "commands.hpp"
#include "lanes/version.hpp"
#include "perf.hpp"
#ifdef LANES_HAVE_CDC
#include "cdc_command.hpp"
#endif
#ifdef LANES_HAVE_KAFKA
#include "mirror_command.hpp"
#endif

using namespace lanes_tools;

namespace {

// A subcommand: the CLI11 command its options were added to, and how to run it once parsed.
struct subcommand {
  CLI::App* cmd;
  std::function<int()> run;
};

// Adds a subcommand whose options live in one struct (kept alive by the run function).
template <class Options>
subcommand add(CLI::App& app, CLI::App* (*add_command)(CLI::App&, Options&),
               int (*run)(const Options&)) {
  auto o = std::make_shared<Options>();
  return {add_command(app, *o), [o, run] { return run(*o); }};
}

// `lanes topics` also keeps which of its own subcommands was given.
subcommand add_topics(CLI::App& app) {
  auto o = std::make_shared<std::pair<topics_options, topics_commands>>();
  return {add_topics_command(app, o->first, o->second),
          [o] { return run_topics(o->first, o->second); }};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lanes: command line tool of the lanes message bus (kcat-like)", "lanes"};
  app.set_version_flag("--version", std::string("lanes ") + lanes::version_string);
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 ok; 1 the command ran and failed (runtime error, damage found, messages "
      "missing); 2 usage error (bad flag or value).\n"
      "Errors are one line on stderr: 'lanes: error: ...'. A data directory is open in one "
      "process at a time; dump and verify read it without opening it.\n"
      "Run 'lanes SUBCOMMAND --help' for the options of a subcommand.");

  const std::vector<subcommand> subcommands = {
      add(app, add_perf_command, run_perf),       add(app, add_produce_command, run_produce),
      add(app, add_consume_command, run_consume), add_topics(app),
      add(app, add_tail_command, run_tail),       add(app, add_dump_command, run_dump),
      add(app, add_verify_command, run_verify),
#ifdef LANES_HAVE_CDC
      add(app, add_cdc_command, run_cdc),
#endif
#ifdef LANES_HAVE_KAFKA
      add(app, add_mirror_command, run_mirror),
#endif
  };
  return parse_and_run(app, argc, argv, "lanes", [&subcommands] {
    for (const subcommand& s : subcommands) {
      if (s.cmd->parsed()) return s.run();
    }
    return exit_usage;  // not reached: require_subcommand(1)
  });
}
