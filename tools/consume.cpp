// tools/consume.cpp: `lanes consume`, messages -> stdout (kcat -C).
//
// Output, one message per line: the value (default), key<TAB>value (-f key-value; no key
// prints an empty key), or --json: {"topic", "partition", "offset", "timestamp_ns", "key"
// (null without one), "value", "headers": [{"name", "value"}...]} on one line, valid JSON
// whatever the bytes: text (valid UTF-8) as strings, anything else in base64 with a field
// "<field>_encoding": "base64" after it (e.g. "value": "/wA=", "value_encoding": "base64").
//
// Where to read:
//   --partition N          that partition only, group-less; else every partition
//   --group G              a member of group G: it starts at G's committed offsets and
//                          commits what it printed (after each batch is written out)
//   --from earliest|latest|OFFSET|@TIMESTAMP_MS
//                          without --group: where each partition starts (default earliest);
//                          with --group: only earliest|latest, for partitions G never
//                          committed (Kafka's auto.offset.reset)
// When to stop: -c N after N messages; -e at the end: once every assigned partition's
// position reached the end offset it had when consume started (at once when that is
// nothing); else on SIGINT/SIGTERM.
//
// Queue topics: competing consumers; each printed message is acked once its line is out
// (see consume_queue).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <thread>

#include "cli_common.hpp"
#include "commands.hpp"
#include "json_bytes.hpp"
#include "lanes/lanes.hpp"
#include "metrics_flag.hpp"

namespace lanes_tools {
namespace {

// The --json line of a record (see the top of this file).
std::string record_json(const lanes::record_view& r) {
  nlohmann::ordered_json j;
  j["topic"] = r.topic;
  j["partition"] = r.partition;
  j["offset"] = r.offset;
  j["timestamp_ns"] = r.timestamp_ns;
  if (r.has_key) {
    put_bytes(j, "key", r.key);
  } else {
    j["key"] = nullptr;
  }
  put_bytes(j, "value", r.value);
  nlohmann::ordered_json& headers = j["headers"] = nlohmann::ordered_json::array();
  for (const lanes::header h : r.headers) {
    nlohmann::ordered_json one = nlohmann::ordered_json::object();
    put_bytes(one, "name", h.name);
    put_bytes(one, "value", h.value);
    headers.push_back(std::move(one));
  }
  return one_line(j);
}

void format_record(std::string& out, const lanes::record_view& r, output_format f) {
  switch (f) {
    case output_format::value: out.append(r.value); break;
    case output_format::key_value:
      out.append(r.key);
      out += '\t';
      out.append(r.value);
      break;
    case output_format::json: out += record_json(r); break;
  }
  out += '\n';
}

struct start_point {
  enum kind_t { earliest, latest, offset, timestamp } kind = earliest;
  std::uint64_t value = 0;
};

start_point parse_from(const std::string& s) {
  start_point p;
  if (s == "earliest" || s == "beginning") return p;
  if (s == "latest" || s == "end") {
    p.kind = start_point::latest;
    return p;
  }
  const bool at = !s.empty() && s[0] == '@';
  const std::string digits = at ? s.substr(1) : s;
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos ||
      digits.size() > 19) {
    usage_error("--from '" + s + "': use earliest, latest, an offset or @TIMESTAMP_MS");
  }
  p.kind = at ? start_point::timestamp : start_point::offset;
  p.value = std::stoull(digits);
  return p;
}

// A queue topic: competing consumers. Receives, prints, and acks what was written out (a
// message is deleted only after its line reached stdout; what could not be written is given
// back at once). -e: exit once the queue has nothing ready; -c N: after N messages.
int consume_queue(const consume_options& o, lanes::bus& bus, output_format format) {
  if (o.partition || !o.group.empty() || o.from != "earliest") {
    usage_error("topic '" + o.topic +
                "' is a queue: --partition, --group and --from do not "
                "apply (every consumer competes for the whole queue)");
  }
  lanes::queue_consumer_config qc;
  qc.topic = o.topic;
  qc.max_receive = 256;
  lanes::errc status = lanes::errc::ok;
  lanes::queue_consumer q = bus.make_queue_consumer(qc, &status);
  if (status != lanes::errc::ok) runtime_error("queue consumer: " + describe(status));
  std::uint64_t count = 0;
  std::string out;
  std::vector<lanes::receipt> receipts;
  while (!stop_requested.load(std::memory_order_relaxed)) {
    if (o.max_count != 0 && count >= o.max_count) break;
    std::size_t want = 256;
    if (o.max_count != 0)
      want = static_cast<std::size_t>(std::min<std::uint64_t>(want, o.max_count - count));
    const lanes::receive_result r = q.receive(want, std::chrono::milliseconds(100));
    if (r.status == lanes::errc::closed) break;
    if (r.status != lanes::errc::ok) runtime_error("receive: " + describe(r.status));
    if (r.messages.empty()) {
      if (o.exit_at_end) {
        const auto st = bus.describe_queue(o.topic);
        if (!st || st->total().ready == 0) break;
      }
      continue;
    }
    out.clear();
    receipts.clear();
    for (const lanes::queue_message& m : r.messages) {
      format_record(out, m.record, format);
      receipts.push_back(m.receipt);
    }
    if (!write_stdout(out)) {
      for (const lanes::receipt& rc : receipts) (void)q.nack(rc);  // e.g. `| head`
      break;
    }
    std::vector<lanes::errc> results(receipts.size(), lanes::errc::ok);
    q.ack(receipts, results);
    for (const lanes::errc e : results) {
      if (e != lanes::errc::ok) runtime_error("ack: " + describe(e));
    }
    count += receipts.size();
  }
  q.close();
  return exit_ok;
}

}  // namespace

CLI::App* add_consume_command(CLI::App& app, consume_options& o) {
  CLI::App* cmd = add_topic_command(
      app, "consume", "Print the messages of a topic of a data directory, one per line", o.data_dir,
      o.topic, "Topic to read");
  add_metrics_flag(*cmd, o.metrics_listen);
  cmd->add_option("--from,-o", o.from,
                  "Start: earliest, latest, OFFSET or @TIMESTAMP_MS (with --group: earliest or "
                  "latest, for partitions without a committed offset)")
      ->capture_default_str();
  cmd->add_option("--group,-G", o.group, "Read as a member of this group and commit");
  add_partition_option(cmd, o.partition, "Read this partition only (not with --group)");
  cmd->add_option_function<std::string>(
         "--format,-f",
         [&o](const std::string& v) {
           o.format = v == "key-value" ? output_format::key_value : output_format::value;
         },
         "value (default) or key-value (key<TAB>value)")
      ->check(CLI::IsMember({"value", "key-value"}));
  cmd->add_flag("--json", o.json,
                "One JSON object per line: topic, partition, offset, timestamp_ns, key, value, "
                "headers");
  cmd->add_flag("--exit,-e", o.exit_at_end,
                "Exit once every partition reached the end offset it had at start");
  add_count_option(cmd, "--count,-c", o.max_count, 1, UINT64_MAX, "Exit after this many messages")
      ->default_str("");
  return cmd;
}

namespace {

// --group rules out --partition and --from OFFSET|@TIMESTAMP_MS (parse options).
void check_group_options(const consume_options& o, const start_point& from) {
  if (o.group.empty()) return;
  if (o.partition) usage_error("--partition and --group: a group assigns partitions itself");
  if (from.kind == start_point::offset || from.kind == start_point::timestamp) {
    usage_error("--from " + o.from +
                " with --group: a group starts at its committed offsets; use earliest or "
                "latest (for partitions it never committed), or drop --group");
  }
}

// A consumer that does not commit by itself and says on stderr when records were gone
// before it read them (retention, an overwriting producer).
lanes::consumer open_consumer(lanes::bus& bus, const consume_options& o, const start_point& from) {
  lanes::consumer_config cc;
  cc.group = o.group;
  cc.auto_commit = false;
  cc.reset = from.kind == start_point::latest ? lanes::offset_reset::latest
                                              : lanes::offset_reset::earliest;
  cc.on_offset_reset = [](const lanes::topic_partition& tp, std::uint64_t gone_from,
                          std::uint64_t resume_at) {
    std::fprintf(stderr,
                 "lanes consume: %s/%u: offsets %llu..%llu were gone before they were read "
                 "(retention); resuming at %llu\n",
                 tp.topic.c_str(), tp.partition, static_cast<unsigned long long>(gone_from),
                 static_cast<unsigned long long>(resume_at - 1),
                 static_cast<unsigned long long>(resume_at));
  };
  lanes::errc status = lanes::errc::ok;
  lanes::consumer c = bus.make_consumer(cc, &status);
  if (status != lanes::errc::ok) runtime_error("consumer: " + describe(status));
  return c;
}

// Moves the consumer to where --from says on one assigned partition.
void seek_from(lanes::consumer& c, const lanes::topic_partition& tp, const consume_options& o,
               const start_point& from, const lanes::topic_info& info) {
  lanes::errc e = lanes::errc::ok;
  switch (from.kind) {
    case start_point::earliest: e = c.seek_to_beginning(tp); break;
    case start_point::latest: e = c.seek_to_end(tp); break;
    case start_point::offset: e = c.seek(tp, from.value); break;
    case start_point::timestamp:
      if (from.value > static_cast<std::uint64_t>(INT64_MAX / 1'000'000)) {
        usage_error("--from " + o.from + ": timestamp out of range");
      }
      e = c.seek_to_timestamp(tp, static_cast<std::int64_t>(from.value) * 1'000'000);
      break;
  }
  if (e != lanes::errc::ok) {
    const auto& ps = info.partitions[tp.partition];
    runtime_error("--from " + o.from + " on partition " + std::to_string(tp.partition) + ": " +
                  describe(e) + " (the partition holds offsets " +
                  std::to_string(ps.log_start_offset) + ".." + std::to_string(ps.end_offset) + ")");
  }
}

// A group member subscribes; otherwise the consumer takes the partitions (--partition, or
// all) and seeks each to --from.
void place_consumer(lanes::consumer& c, const consume_options& o, const start_point& from,
                    const lanes::topic_info& info) {
  if (!o.group.empty()) {
    const lanes::errc status = c.subscribe({std::string_view(o.topic)});
    if (status != lanes::errc::ok)
      runtime_error("joining group " + o.group + ": " + describe(status));
    return;
  }
  std::vector<lanes::topic_partition> tps;
  for (std::uint32_t p = 0; p < info.config.partitions; ++p) {
    if (!o.partition || *o.partition == p) tps.push_back({o.topic, p});
  }
  const lanes::errc status = c.assign(tps);
  if (status != lanes::errc::ok) runtime_error("assign: " + describe(status));
  for (const lanes::topic_partition& tp : tps) seek_from(c, tp, o, from, info);
}

// The loop of a log topic: poll, print, commit what was printed (with --group), until -c,
// -e, a signal or a closed stdout.
class log_printer {
 public:
  log_printer(const consume_options& o, lanes::consumer& c, output_format format,
              const lanes::topic_info& info)
      : o_(o), c_(c), format_(format), end_at_(info.config.partitions, 0) {
    // The end offsets at start: -e stops when every assigned partition reached its own.
    for (const lanes::partition_stats& p : info.partitions) end_at_[p.partition] = p.end_offset;
  }

  void run() {
    bool output_closed = false;
    while (!stop_requested.load(std::memory_order_relaxed)) {
      if (o_.exit_at_end && at_end()) break;
      if (o_.max_count != 0 && count_ >= o_.max_count) break;
      const lanes::poll_result r = c_.poll(std::chrono::milliseconds(100));
      if (r.status == lanes::errc::closed) break;
      if (r.status != lanes::errc::ok && r.status != lanes::errc::corrupt_batch) {
        runtime_error("poll: " + describe(r.status));
      }
      if (!print(r.records)) {
        output_closed = true;  // e.g. `| head`: stop reading, commit nothing more
        break;
      }
      commit_printed();
      // Damage: what came before it is printed (and committed), then one line and exit 1.
      if (r.status == lanes::errc::corrupt_batch) runtime_error(std::string(r.error.detail));
    }
    if (!output_closed) commit_printed();
  }

 private:
  // Prints the records up to -c; false when stdout is closed.
  bool print(std::span<const lanes::record_view> records) {
    out_.clear();
    for (const lanes::record_view& rec : records) {
      if (o_.max_count != 0 && count_ >= o_.max_count) {
        // Not printed: a group member must read it again, so rewind the position.
        if (o_.group.empty()) break;
        if (!printed_to_.count(rec.partition)) printed_to_[rec.partition] = rec.offset;
        continue;
      }
      format_record(out_, rec, format_);
      printed_to_[rec.partition] = rec.offset + 1;
      ++count_;
    }
    return out_.empty() || write_stdout(out_);
  }
  void commit_printed() {
    if (o_.group.empty()) return;
    for (const auto& [p, next] : printed_to_) {
      const lanes::errc e = c_.commit({o_.topic, p}, next);
      if (e != lanes::errc::ok) runtime_error("commit for group " + o_.group + ": " + describe(e));
    }
    printed_to_.clear();
  }
  bool at_end() const {
    const std::vector<lanes::topic_partition> owned = c_.assignment();
    if (owned.empty()) return false;  // a group member before its first assignment
    for (const lanes::topic_partition& tp : owned) {
      const std::int64_t pos = c_.position(tp);
      if (pos < 0 || static_cast<std::uint64_t>(pos) < end_at_[tp.partition]) return false;
    }
    return true;
  }

  const consume_options& o_;
  lanes::consumer& c_;
  const output_format format_;
  std::vector<std::uint64_t> end_at_;  // per partition: its end offset when consume started
  std::map<std::uint32_t, std::uint64_t> printed_to_;  // one past the last offset printed
  std::uint64_t count_ = 0;
  std::string out_;
};

}  // namespace

int run_consume(const consume_options& o) {
  const start_point from = parse_from(o.from);
  check_group_options(o, from);
  const output_format format = o.json ? output_format::json : o.format;
  install_stop_signals();

  auto bus = open_bus(o.data_dir, dir_use::existing);
  const auto metrics = serve_metrics(*bus, o.metrics_listen);
  const lanes::topic_info info = require_topic(*bus, o.data_dir, o.topic);
  if (info.config.mode == lanes::topic_mode::queue) return consume_queue(o, *bus, format);
  if (o.partition) require_partition(info, *o.partition);
  lanes::consumer c = open_consumer(*bus, o, from);
  place_consumer(c, o, from, info);
  log_printer(o, c, format, info).run();
  c.close();
  return exit_ok;
}

}  // namespace lanes_tools
