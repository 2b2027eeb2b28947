// tools/lanes_main.cpp: the `lanes` command line tool. Each subcommand lives in its own file
// (perf.cpp, produce.cpp, consume.cpp, topics.cpp, tail.cpp, dump.cpp, verify.cpp) and
// registers itself here.
//
// Exit codes, the same for every subcommand: 0 ok, 1 the command ran and failed, 2 usage.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

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

  perf_options perf;
  CLI::App* perf_cmd = add_perf_command(app, perf);
  produce_options produce;
  CLI::App* produce_cmd = add_produce_command(app, produce);
  consume_options consume;
  CLI::App* consume_cmd = add_consume_command(app, consume);
  topics_options topics;
  topics_commands topics_sub;
  CLI::App* topics_cmd = add_topics_command(app, topics, topics_sub);
  tail_options tail;
  CLI::App* tail_cmd = add_tail_command(app, tail);
  dump_options dump;
  CLI::App* dump_cmd = add_dump_command(app, dump);
  verify_options verify;
  CLI::App* verify_cmd = add_verify_command(app, verify);
#ifdef LANES_HAVE_CDC
  cdc_options cdc;
  CLI::App* cdc_cmd = add_cdc_command(app, cdc);
#endif
#ifdef LANES_HAVE_KAFKA
  mirror_options mirror;
  CLI::App* mirror_cmd = add_mirror_command(app, mirror);
#endif

  try {
    app.parse(argc, argv);
  } catch (const cli_error& e) {
    // Thrown by an option callback (a value CLI11's checks let through).
    std::fprintf(stderr, "lanes: error: %s\n", e.what());
    return e.exit_code();
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with exit code 0; everything else is a usage error.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "lanes: error: %s\nRun with --help for more information.\n", e.what());
    return exit_usage;
  }

  try {
    if (perf_cmd->parsed()) return run_perf(perf);
    if (produce_cmd->parsed()) return run_produce(produce);
    if (consume_cmd->parsed()) return run_consume(consume);
    if (topics_cmd->parsed()) return run_topics(topics, topics_sub);
    if (tail_cmd->parsed()) return run_tail(tail);
    if (dump_cmd->parsed()) return run_dump(dump);
    if (verify_cmd->parsed()) return run_verify(verify);
#ifdef LANES_HAVE_CDC
    if (cdc_cmd->parsed()) return run_cdc(cdc);
#endif
#ifdef LANES_HAVE_KAFKA
    if (mirror_cmd->parsed()) return run_mirror(mirror);
#endif
  } catch (const cli_error& e) {
    std::fprintf(stderr, "lanes: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lanes: error: %s\n", e.what());
    return exit_failed;
  }
  return exit_usage;  // not reached: require_subcommand(1)
}
