// tools/topics.cpp: `lanes topics --data-dir DIR create|list|describe|delete`.
//
// describe prints, per partition: log start, end and durable offsets, the bytes the ring
// holds and the bytes of its segment files, the partition's I/O status, and every group's
// committed offset and lag (end - committed, or end - log start when it never committed).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <map>

#include "cli_common.hpp"
#include "commands.hpp"
#include "lanes/lanes.hpp"
#include "lanes_support/json_writer.hpp"

namespace lanes_tools {
namespace {

std::uint64_t segment_bytes_on_disk(const std::string& dir, const std::string& topic,
                                    std::uint32_t partition) {
  namespace fs = std::filesystem;
  std::error_code e;
  std::uint64_t total = 0;
  const fs::path p = fs::path(dir) / topic / std::to_string(partition);
  for (const auto& entry : fs::directory_iterator(p, e)) {
    if (entry.path().extension() == ".log") total += entry.file_size(e);
  }
  return total;
}

void describe_human(const lanes::topic_info& info, const std::string& dir) {
  const lanes::topic_config& c = info.config;
  std::printf("topic %s: %s mode, %u partition%s, durability %s, ring %zu B/partition",
              info.name.c_str(), name_of(c.mode), c.partitions, c.partitions == 1 ? "" : "s",
              name_of(c.durable), c.ring_capacity);
  if (c.durable != lanes::durability::none) std::printf(", segments %zu B", c.segment_bytes);
  std::printf("\n%9s %12s %12s %12s %12s %14s  %s\n", "partition", "log_start", "end", "durable",
              "ring_bytes", "segment_bytes", "status");
  for (const lanes::partition_stats& p : info.partitions) {
    std::printf("%9u %12llu %12llu %12llu %12llu %14llu  %s\n", p.partition,
                static_cast<unsigned long long>(p.log_start_offset),
                static_cast<unsigned long long>(p.end_offset),
                static_cast<unsigned long long>(p.durable_offset),
                static_cast<unsigned long long>(p.bytes),
                static_cast<unsigned long long>(segment_bytes_on_disk(dir, info.name, p.partition)),
                lanes::to_string(p.status));
  }
  bool any = false;
  for (const lanes::partition_stats& p : info.partitions) {
    for (const lanes::group_partition_stats& g : p.groups) {
      if (!any) std::printf("%-24s %9s %12s %12s\n", "group", "partition", "committed", "lag");
      any = true;
      std::printf("%-24s %9u %12lld %12llu\n", g.group.c_str(), p.partition,
                  static_cast<long long>(g.committed), static_cast<unsigned long long>(g.lag));
    }
  }
  if (!any && c.mode == lanes::topic_mode::log) std::printf("no consumer groups\n");
}

// Queue topics: what the queue holds, per partition.
void describe_queue_human(const lanes::queue_group_stats& q) {
  std::printf("%9s %10s %10s %10s %12s %12s %12s %12s\n", "partition", "ready", "in_flight",
              "delayed", "acked", "redelivered", "dead_letters", "ack_floor");
  for (const lanes::queue_partition_stats& p : q.partitions) {
    std::printf(
        "%9u %10llu %10llu %10llu %12llu %12llu %12llu %12llu\n", p.partition,
        static_cast<unsigned long long>(p.ready), static_cast<unsigned long long>(p.in_flight),
        static_cast<unsigned long long>(p.delayed), static_cast<unsigned long long>(p.acked),
        static_cast<unsigned long long>(p.redelivered),
        static_cast<unsigned long long>(p.dead_lettered),
        static_cast<unsigned long long>(p.ack_floor));
  }
}

void describe_json(json_writer& j, const lanes::topic_info& info, const std::string& dir) {
  j.begin_object();
  j.field("topic", info.name);
  j.field("mode", name_of(info.config.mode));
  j.field("partitions", info.config.partitions);
  j.field("durability", name_of(info.config.durable));
  j.field("ring_capacity", info.config.ring_capacity);
  j.field("segment_bytes", info.config.segment_bytes);
  j.objects("partition_stats", info.partitions, [&](const lanes::partition_stats& p) {
    j.field("partition", p.partition);
    j.field("log_start_offset", p.log_start_offset);
    j.field("end_offset", p.end_offset);
    j.field("durable_offset", p.durable_offset);
    j.field("ring_bytes", p.bytes);
    j.field("segment_bytes", segment_bytes_on_disk(dir, info.name, p.partition));
    j.field("status", lanes::to_string(p.status));
    j.objects("groups", p.groups, [&](const lanes::group_partition_stats& g) {
      j.field("group", g.group);
      j.field("committed", g.committed);
      j.field("lag", g.lag);
    });
  });
  j.end_object();
}

}  // namespace

CLI::App* add_topics_command(CLI::App& app, topics_options& o, topics_commands& sub) {
  CLI::App* cmd = app.add_subcommand("topics", "Create, list, describe or delete topics");
  cmd->add_option("--data-dir,-d", o.data_dir, "Data directory of the bus")->required();
  cmd->require_subcommand(1);
  sub.create = cmd->add_subcommand("create", "Create a topic");
  sub.create->add_option("topic", o.topic, "Topic name")->required();
  add_partitions_option(sub.create, o.partitions, "Partitions");
  add_durability_option(sub.create, "--durability", o.durability,
                        "How records reach the disk: none (memory only: lost when the process "
                        "exits), async (group commit) or sync");
  add_size_option(sub.create, "--ring-capacity", o.ring_capacity, 1, std::uint64_t{1} << 40,
                  "Ring bytes per partition")
      ->default_str("1MiB");
  add_size_option(sub.create, "--segment-bytes", o.segment_bytes, 1, std::uint64_t{1} << 40,
                  "Roll segment files at this size")
      ->default_str("64MiB");
  sub.create
      ->add_option("--mode", o.mode,
                   "log (retained, offsets, groups) or queue (competing consumers, acks)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, lanes::topic_mode>{
          {"log", lanes::topic_mode::log}, {"queue", lanes::topic_mode::queue}}))
      ->default_str("log");
  add_real_option(sub.create, "--visibility-timeout", o.visibility_s, "seconds", 0.001,
                  bound::inclusive, 43200,
                  "Queue: seconds a received message stays invisible before it comes back");
  add_count_option(sub.create, "--max-deliveries", o.max_deliveries, 0, 1u << 20,
                   "Queue: deliveries before a message moves to --dead-letter-topic (0: never)");
  sub.create->add_option("--dead-letter-topic", o.dead_letter_topic,
                         "Queue: existing topic that takes dead letters (with --max-deliveries)");
  sub.list = cmd->add_subcommand("list", "List topics: name, partitions, durability");
  sub.describe = cmd->add_subcommand(
      "describe", "Partitions (log start, end, durable offsets, bytes) and groups with lag");
  sub.describe->add_option("topic", o.topic, "Topic name (default: every topic)");
  sub.describe->add_flag("--json", o.json, "One JSON array of topics");
  sub.remove = cmd->add_subcommand("delete", "Delete a topic and its files");
  sub.remove->add_option("topic", o.topic, "Topic name")->required();
  for (CLI::App* s : {sub.create, sub.list, sub.describe, sub.remove}) s->fallthrough();
  return cmd;
}

namespace {

// The topic configuration `topics create` asks for; a usage error for queue options on a log.
lanes::topic_config config_of(const topics_options& o) {
  lanes::topic_config tc;
  tc.partitions = o.partitions;
  tc.durable = o.durability;
  tc.ring_capacity = o.ring_capacity;
  tc.segment_bytes = o.segment_bytes;
  tc.mode = o.mode;
  if (o.mode == lanes::topic_mode::queue) {
    tc.queue.visibility_timeout =
        std::chrono::nanoseconds(static_cast<std::int64_t>(o.visibility_s * 1e9));
    tc.queue.max_deliveries = o.max_deliveries;
    tc.queue.dead_letter_topic = o.dead_letter_topic;
    if ((o.max_deliveries == 0) != o.dead_letter_topic.empty()) {
      usage_error("--max-deliveries and --dead-letter-topic go together");
    }
  } else if (o.max_deliveries != 0 || !o.dead_letter_topic.empty()) {
    usage_error("--max-deliveries and --dead-letter-topic are for --mode queue");
  }
  return tc;
}

int create_topic(const topics_options& o) {
  auto bus = open_bus(o.data_dir, dir_use::may_create);
  const lanes::errc e = bus->create_topic(o.topic, config_of(o));
  if (e == lanes::errc::unknown_topic) {
    usage_error("--dead-letter-topic '" + o.dead_letter_topic +
                "' does not exist; create it first");
  }
  if (e == lanes::errc::topic_exists) runtime_error("topic '" + o.topic + "' exists already");
  if (e == lanes::errc::invalid_config || e == lanes::errc::capacity_not_power_of_two ||
      e == lanes::errc::capacity_too_small || e == lanes::errc::capacity_too_large) {
    usage_error("topic '" + o.topic + "': " + describe(e) +
                " (durable topics need --segment-bytes of at least 8 MiB + 80 bytes, and "
                "ring_capacity / 2 + 4176 with a ring above 16 MiB)");
  }
  if (e != lanes::errc::ok) runtime_error("cannot create topic '" + o.topic + "': " + describe(e));
  std::printf("created topic %s: %s mode, %u partition%s, durability %s\n", o.topic.c_str(),
              name_of(o.mode), o.partitions, o.partitions == 1 ? "" : "s", name_of(o.durability));
  return exit_ok;
}

int list_topics(lanes::bus& bus) {
  for (const std::string& name : bus.list_topics()) {
    if (auto info = bus.describe_topic(name)) {
      std::printf("%s\tmode=%s\tpartitions=%u\tdurability=%s\n", name.c_str(),
                  name_of(info->config.mode), info->config.partitions,
                  name_of(info->config.durable));
    }
  }
  return exit_ok;
}

int describe_topics(lanes::bus& bus, const topics_options& o) {
  std::vector<lanes::topic_info> infos;
  if (!o.topic.empty()) {
    infos.push_back(require_topic(bus, o.data_dir, o.topic));
  } else {
    for (const std::string& name : bus.list_topics()) {
      if (auto info = bus.describe_topic(name)) infos.push_back(*info);
    }
  }
  if (o.json) {
    json_writer j;
    j.begin_array();
    for (const auto& info : infos) describe_json(j, info, o.data_dir);
    j.end_array();
    std::fputs(j.str().c_str(), stdout);
    return exit_ok;
  }
  for (std::size_t i = 0; i < infos.size(); ++i) {
    if (i != 0) std::printf("\n");
    describe_human(infos[i], o.data_dir);
    if (infos[i].config.mode == lanes::topic_mode::queue) {
      if (auto q = bus.describe_queue(infos[i].name)) describe_queue_human(*q);
    }
  }
  return exit_ok;
}

int delete_topic(lanes::bus& bus, const topics_options& o) {
  (void)require_topic(bus, o.data_dir, o.topic);
  const lanes::errc e = bus.delete_topic(o.topic);
  if (e != lanes::errc::ok) runtime_error("cannot delete topic '" + o.topic + "': " + describe(e));
  std::printf("deleted topic %s\n", o.topic.c_str());
  return exit_ok;
}

}  // namespace

int run_topics(const topics_options& o, const topics_commands& sub) {
  if (!o.topic.empty()) check_topic_name("topic", o.topic);
  if (sub.create->parsed()) return create_topic(o);
  // list and describe only look: the directory is opened read-only (nothing written, not
  // even a recovery truncation or a lock file); delete needs it writable.
  auto bus = open_bus(o.data_dir, sub.remove->parsed() ? dir_use::existing : dir_use::read_only);
  if (sub.list->parsed()) return list_topics(*bus);
  if (sub.describe->parsed()) return describe_topics(*bus, o);
  if (sub.remove->parsed()) return delete_topic(*bus, o);
  return exit_usage;
}

}  // namespace lanes_tools
