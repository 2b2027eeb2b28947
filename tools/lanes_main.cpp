// tools/lanes_main.cpp: the `lanes` command line tool. Each subcommand lives in its own file
// pair (perf.hpp/.cpp, ...) and registers itself here.
//
// Exit codes, the same for every subcommand: 0 ok, 1 the command ran and failed, 2 usage.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "lanes/version.hpp"
#include "perf.hpp"

namespace {
constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lanes: command line tool of the lanes in-memory message bus", "lanes"};
  app.set_version_flag("--version", std::string("lanes ") + lanes::version_string);
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 ok, 1 run failed (e.g. messages missing), 2 usage error.\n"
      "Run 'lanes SUBCOMMAND --help' for the options of a subcommand.");

  lanes_tools::perf_options perf;
  CLI::App* perf_cmd = lanes_tools::add_perf_command(app, perf);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with exit code 0; everything else is a usage error.
    const int printed = app.exit(e);
    return printed == 0 ? exit_ok : exit_usage;
  }

  try {
    if (perf_cmd->parsed()) return lanes_tools::run_perf(perf);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lanes: error: %s\n", e.what());
    return exit_failed;
  }
  return exit_usage;  // not reached: require_subcommand(1)
}
