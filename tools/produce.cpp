// tools/produce.cpp: `lanes produce`, lines -> messages (kcat -P).
//
// Every line of stdin (or --file) becomes one message; the newline is not part of it. With
// -K DELIM the line is split at the first DELIM into key and value (a line without DELIM
// has no key). -H name=value adds a header to every message. The publish waits as
// --durability says:
//   none   publish and go on; the bus syncs what it has when it closes at the end
//   async  publish and go on; before exiting wait until every message is durable (default)
//   sync   every publish returns only once its message is durable (publish_options::durable)
// Exit 0 only when every message was published (and, unless none, is durable).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>

#include "cli_common.hpp"
#include "commands.hpp"
#include "lanes/lanes.hpp"

namespace lanes_tools {

CLI::App* add_produce_command(CLI::App& app, produce_options& o) {
  CLI::App* cmd = add_topic_command(
      app, "produce",
      "Publish lines of stdin (or --file) as messages to a topic of a data directory", o.data_dir,
      o.topic, "Topic to publish to");
  cmd->add_option("--file,-f", o.file, "Read lines from this file instead of stdin");
  cmd->add_option("--key-delimiter,-K", o.key_delimiter,
                  "Split each line at the first DELIM into key and value (kcat -K)");
  cmd->add_option("--header,-H", o.headers, "Header name=value on every message (repeatable)");
  add_partition_option(cmd, o.partition,
                       "Publish to this partition (default: by key, round-robin without one)");
  add_durability_option(cmd, "--durability", o.durability,
                        "none: do not wait; async: wait for the disk once at the end; sync: "
                        "each message waits for its durable acknowledgement");
  cmd->add_flag("--verbose,-v", o.verbose, "Print 'partition offset' for every message");
  cmd->add_flag("--create", o.create, "Create the topic when it does not exist");
  add_partitions_option(cmd, o.partitions, "--create: partitions of the new topic");
  cmd->add_option_function<std::string>(
         "--durable",
         [&o](const std::string& v) {
           o.topic_durability = parse_durability("--durable", v);
           if (o.topic_durability == lanes::durability::none) {
             usage_error(
                 "--durable none: a topic created by lanes produce must be durable "
                 "(async or sync), or its messages vanish when lanes exits");
           }
         },
         "--create: how the new topic reaches the disk, async (group commit) or sync")
      ->check(CLI::IsMember({"async", "sync"}, CLI::ignore_case))
      ->default_str("async");
  return cmd;
}

namespace {

// The -H name=value options as headers (the strings stay in `texts`).
std::vector<lanes::header> parse_headers(const std::vector<std::string>& options,
                                         std::vector<std::string>& texts) {
  texts.clear();
  texts.reserve(options.size() * 2);  // no reallocation: the headers view these strings
  std::vector<lanes::header> headers;
  for (const std::string& h : options) {
    const auto eq = h.find('=');
    if (eq == std::string::npos || eq == 0) {
      usage_error("--header '" + h + "': use name=value (a non-empty name)");
    }
    texts.push_back(h.substr(0, eq));
    texts.push_back(h.substr(eq + 1));
    headers.push_back({texts[texts.size() - 2], texts.back()});
  }
  return headers;
}

// The topic, created first with --create when it is missing; it must be durable and have
// --partition.
void open_produce_topic(lanes::bus& bus, const produce_options& o) {
  lanes::topic_config tc;
  tc.partitions = o.partitions;
  tc.durable = o.topic_durability;
  const lanes::topic_info info = create_or_require_topic(bus, o.data_dir, o.topic, o.create, tc);
  require_durable(info,
                  " (durability none): its messages would vanish when lanes exits; create a "
                  "durable topic (lanes topics create --durability async)");
  if (o.partition) require_partition(info, *o.partition, true);
}

// Publishes every line of `in`; returns the last offset published per partition.
std::map<std::uint32_t, std::uint64_t> publish_lines(std::istream& in, lanes::producer& prod,
                                                     const produce_options& o,
                                                     const lanes::publish_options& opts,
                                                     std::uint64_t& count) {
  std::map<std::uint32_t, std::uint64_t> last;
  std::string line;
  while (std::getline(in, line)) {
    lanes::message_key key;
    std::string_view value = line;
    if (!o.key_delimiter.empty()) {
      const auto at = line.find(o.key_delimiter);
      if (at != std::string::npos) {
        key = std::string_view(line).substr(0, at);
        value = std::string_view(line).substr(at + o.key_delimiter.size());
      }
    }
    const lanes::publish_result r = prod.publish(key, value, opts);
    if (!r) {
      runtime_error("publish of line " + std::to_string(count + 1) + " failed: " +
                    describe(r.status) + " (" + std::to_string(count) + " published before)");
    }
    ++count;
    last[r.partition] = r.offset;
    if (o.verbose) std::printf("%u %llu\n", r.partition, static_cast<unsigned long long>(r.offset));
  }
  if (in.bad()) runtime_error("reading input failed after " + std::to_string(count) + " lines");
  return last;
}

// --durability async: waits until each partition is durable up to its last offset published.
void wait_durable_all(lanes::producer& prod, const std::map<std::uint32_t, std::uint64_t>& last) {
  for (const auto& [p, off] : last) {
    const lanes::errc e = prod.wait_durable(p, off, std::chrono::seconds(60));
    if (e != lanes::errc::ok) {
      runtime_error("partition " + std::to_string(p) + " did not become durable up to offset " +
                    std::to_string(off) + ": " + describe(e));
    }
  }
}

}  // namespace

int run_produce(const produce_options& o) {
  // Parse what does not need the bus first: a usage error changes nothing.
  std::vector<std::string> header_texts;
  const std::vector<lanes::header> headers = parse_headers(o.headers, header_texts);
  check_topic_name("--topic", o.topic);
  std::ifstream file;
  std::istream* in = &std::cin;
  if (!o.file.empty() && o.file != "-") {
    file.open(o.file, std::ios::binary);
    if (!file) runtime_error("cannot read --file " + o.file);
    in = &file;
  }

  auto bus = open_bus(o.data_dir, o.create ? dir_use::may_create : dir_use::existing);
  open_produce_topic(*bus, o);
  lanes::producer prod = make_producer_or_fail(*bus, o.topic);
  lanes::publish_options opts;
  opts.partition = o.partition;
  opts.headers = headers;
  opts.durable = o.durability == lanes::durability::sync;

  std::uint64_t count = 0;
  const auto last = publish_lines(*in, prod, o, opts, count);
  if (o.durability == lanes::durability::async) wait_durable_all(prod, last);
  if (o.verbose) {
    std::fprintf(stderr, "lanes produce: %llu messages to %s (durability %s)\n",
                 static_cast<unsigned long long>(count), o.topic.c_str(), name_of(o.durability));
  }
  std::fflush(stdout);
  return exit_ok;
}

}  // namespace lanes_tools
