// tools/commands.hpp: the `lanes` subcommands other than perf (perf.hpp), one file each:
//   produce.cpp   lines of stdin or a file -> messages          (kcat -P)
//   consume.cpp   messages -> stdout as values, key<TAB>value or JSON lines (kcat -C)
//   topics.cpp    create | list | describe | delete
//   tail.cpp      follow a growing log file (tail -F) into a topic, restart-safe
//   dump.cpp      `dump FILE.log`: offline, never opens a bus
//   verify.cpp    `verify DIR`: offline, never opens a bus (both read with segment_check.cpp)
// Each add_X registers the subcommand and its options on the app; run_X runs it and returns
// the exit code, or throws cli_error (cli_common.hpp). Main thread; cold paths.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lanes/bus.hpp"

namespace CLI {
class App;
}

namespace lanes_tools {

struct produce_options {
  std::string data_dir;
  std::string topic;
  std::string file;  // empty or "-": stdin
  std::string key_delimiter;
  std::vector<std::string> headers;  // name=value
  std::optional<std::uint32_t> partition;
  lanes::durability durability = lanes::durability::async;
  bool verbose = false;
  bool create = false;
  std::uint32_t partitions = 1;
  lanes::durability topic_durability = lanes::durability::async;
};
CLI::App* add_produce_command(CLI::App& app, produce_options& o);
int run_produce(const produce_options& o);

enum class output_format : std::uint8_t { value, key_value, json };

struct consume_options {
  std::string metrics_listen;  // --metrics-listen
  std::string data_dir;
  std::string topic;
  std::string from = "earliest";
  std::string group;
  std::optional<std::uint32_t> partition;
  output_format format = output_format::value;
  bool json = false;
  bool exit_at_end = false;
  std::uint64_t max_count = 0;  // 0: no limit
};
CLI::App* add_consume_command(CLI::App& app, consume_options& o);
int run_consume(const consume_options& o);

struct topics_options {
  std::string data_dir;
  std::string topic;  // create / describe / delete
  std::uint32_t partitions = 1;
  lanes::durability durability = lanes::durability::async;
  std::size_t ring_capacity = std::size_t{1} << 20;
  std::size_t segment_bytes = std::size_t{64} << 20;
  lanes::topic_mode mode = lanes::topic_mode::log;
  double visibility_s = 30;          // queue topics
  std::uint32_t max_deliveries = 0;  // queue topics: 0 keeps messages forever
  std::string dead_letter_topic;     // queue topics
  bool json = false;
};
struct topics_commands {
  CLI::App* create = nullptr;
  CLI::App* list = nullptr;
  CLI::App* describe = nullptr;
  CLI::App* remove = nullptr;
};
CLI::App* add_topics_command(CLI::App& app, topics_options& o, topics_commands& sub);
int run_topics(const topics_options& o, const topics_commands& sub);

struct tail_options {
  std::string file;
  std::string data_dir;
  std::string topic;
  std::uint32_t partition = 0;
  lanes::durability durability = lanes::durability::async;
  bool create = false;
  std::string start = "beginning";  // first run only: beginning | end
  double poll_interval_s = 0.1;
  double idle_exit_s = 0;  // > 0: exit after this long without a new line
  bool verbose = false;
};
CLI::App* add_tail_command(CLI::App& app, tail_options& o);
int run_tail(const tail_options& o);

struct dump_options {
  std::string file;
  bool records = true;
  bool values = false;
  std::uint64_t max_batch_bytes = 0;  // 0: bounded by the file size only
};
CLI::App* add_dump_command(CLI::App& app, dump_options& o);
int run_dump(const dump_options& o);

struct verify_options {
  std::string data_dir;
  bool json = false;
  bool strict = false;  // a torn tail after the durable point is damage too
};
CLI::App* add_verify_command(CLI::App& app, verify_options& o);
int run_verify(const verify_options& o);

}  // namespace lanes_tools
