// connect/prometheus/metric_families.cpp: names, labels and units of lanes' metrics.
// Conventions (prometheus.io/docs/practices/naming): base units (seconds, bytes), counters end
// in _total, one metric per quantity with labels for topic, partition, group.
#include "metric_families.hpp"

#include <prometheus/text_serializer.h>

#include <limits>
#include <map>
#include <string>
#include <utility>

namespace lanes::prom {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using labels = std::vector<ClientMetric::Label>;

// Families by name, in the order they are first asked for.
class builder {
 public:
  MetricFamily& family(const std::string& name, const std::string& help, MetricType type) {
    auto [it, fresh] = index_.try_emplace(name, out_.size());
    if (fresh) out_.push_back(MetricFamily{name, help, type, {}});
    return out_[it->second];
  }
  // One sample of a gauge or a counter.
  void sample(MetricType type, const std::string& name, const std::string& help, labels l,
              double v) {
    ClientMetric c;
    c.label = std::move(l);
    (type == MetricType::Counter ? c.counter.value : c.gauge.value) = v;
    family(name, help, type).metric.push_back(std::move(c));
  }
  void gauge(const std::string& name, const std::string& help, labels l, double v) {
    sample(MetricType::Gauge, name, help, std::move(l), v);
  }
  void counter(const std::string& name, const std::string& help, labels l, double v) {
    sample(MetricType::Counter, name, help, std::move(l), v);
  }
  std::vector<MetricFamily> take() { return std::move(out_); }

 private:
  std::vector<MetricFamily> out_;
  std::map<std::string, std::size_t> index_;
};

double num(std::uint64_t v) { return static_cast<double>(v); }

void add_partition(builder& b, const topic_metrics& t, const partition_metrics& p) {
  const labels l{{"partition", std::to_string(p.partition)}, {"topic", t.name}};
  b.gauge("lanes_partition_log_start_offset", "Oldest retained offset (durable topics: on disk).",
          l, num(p.log_start_offset));
  b.gauge("lanes_partition_end_offset", "Next offset to be written.", l, num(p.end_offset));
  b.gauge("lanes_partition_ring_bytes", "Ring bytes held by retained records.", l,
          num(p.ring_bytes));
  b.counter("lanes_partition_in_records_total", "Records published since the bus opened.", l,
            num(p.records_in));
  b.counter("lanes_partition_in_bytes_total",
            "Record bytes published (32-byte header, key, headers, value).", l, num(p.bytes_in));
  b.counter("lanes_partition_out_records_total", "Records handed out by log consumers' polls.", l,
            num(p.records_out));
  b.counter("lanes_partition_out_bytes_total", "Record bytes handed out by log consumers' polls.",
            l, num(p.bytes_out));
  if (!p.durable) return;
  b.gauge("lanes_partition_durable_offset", "Every offset below is on disk (fdatasync).", l,
          num(p.durable_offset));
  b.counter("lanes_persist_written_bytes_total", "Bytes written to segment files.", l,
            num(p.persist.bytes_written));
  b.counter("lanes_persist_fdatasyncs_total", "Successful fdatasync calls.", l,
            num(p.persist.syncs));
  b.counter("lanes_persist_retries_total", "Writes resubmitted (short writes, EAGAIN, EINTR).", l,
            num(p.persist.retries));
  b.counter("lanes_persist_errors_total",
            "I/O errors that failed the partition's log (it takes no writes after one).", l,
            p.persist.status == errc::ok ? 0.0 : 1.0);
  ClientMetric h;
  h.label = l;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < p.persist.sync_latency.size(); ++i) {
    cumulative += p.persist.sync_latency[i];
    const double bound = i < persist_metrics::sync_bounds_seconds.size()
                             ? persist_metrics::sync_bounds_seconds[i]
                             : std::numeric_limits<double>::infinity();
    h.histogram.bucket.push_back({cumulative, bound});
  }
  h.histogram.sample_count = cumulative;
  h.histogram.sample_sum = p.persist.sync_latency_sum_seconds;
  b.family("lanes_persist_sync_duration_seconds",
           "From submitting a group commit's fdatasyncs to the last one's completion.",
           MetricType::Histogram)
      .metric.push_back(std::move(h));
}

// A queue group's metrics, per partition: one row per queue_partition_stats field.
struct queue_metric {
  MetricType type;
  const char* name;
  const char* help;
  std::uint64_t queue_partition_stats::*value;
};
constexpr queue_metric queue_metrics[] = {
    {MetricType::Gauge, "lanes_queue_ready_messages", "Receivable messages.",
     &queue_partition_stats::ready},
    {MetricType::Gauge, "lanes_queue_in_flight_messages",
     "Delivered, not acked, visibility not expired.", &queue_partition_stats::in_flight},
    {MetricType::Gauge, "lanes_queue_delayed_messages",
     "Nacked with a delay or within the delivery delay.", &queue_partition_stats::delayed},
    {MetricType::Gauge, "lanes_queue_held_bytes",
     "Ring bytes the queue holds (unacked and waiting).", &queue_partition_stats::bytes_held},
    {MetricType::Counter, "lanes_queue_acked_total", "Messages acked since the group started.",
     &queue_partition_stats::acked},
    {MetricType::Counter, "lanes_queue_redelivered_total", "Deliveries after a message's first.",
     &queue_partition_stats::redelivered},
    {MetricType::Counter, "lanes_queue_dead_lettered_total",
     "Messages moved to the dead-letter topic.", &queue_partition_stats::dead_lettered},
};

void add_queue(builder& b, const queue_group_stats& q) {
  for (const queue_partition_stats& s : q.partitions) {
    const labels l{
        {"group", q.group}, {"partition", std::to_string(s.partition)}, {"topic", q.topic}};
    for (const queue_metric& m : queue_metrics)
      b.sample(m.type, m.name, m.help, l, num(s.*m.value));
  }
}

}  // namespace

std::vector<MetricFamily> families_of(const bus_metrics& m) {
  builder b;
  b.gauge("lanes_bus_read_only", "1 when the data directory is open read-only.", {},
          m.read_only ? 1.0 : 0.0);
  for (const topic_metrics& t : m.topics) {
    for (const partition_metrics& p : t.partitions) add_partition(b, t, p);
  }
  std::map<std::string, std::pair<std::uint32_t, std::uint64_t>> groups;
  for (const group_metrics& g : m.groups) {
    groups[g.group] = {g.members, g.rebalances};
    for (const group_partition_metrics& p : g.partitions) {
      const labels l{
          {"group", g.group}, {"partition", std::to_string(p.partition)}, {"topic", g.topic}};
      if (p.committed >= 0) {
        b.gauge("lanes_group_committed_offset", "The group's committed offset.", l,
                static_cast<double>(p.committed));
      }
      b.gauge("lanes_group_lag_records", "Records from the committed offset to the end.", l,
              num(p.lag));
    }
  }
  for (const auto& [name, mr] : groups) {
    b.gauge("lanes_group_members", "Consumers in the group now.", {{"group", name}}, num(mr.first));
    b.counter("lanes_group_rebalances_total", "Assignments computed since the group formed.",
              {{"group", name}}, num(mr.second));
  }
  for (const queue_group_stats& q : m.queues) add_queue(b, q);
  return b.take();
}

void append_samples(std::vector<MetricFamily>& out, const std::vector<metric_sample>& samples) {
  for (const metric_sample& s : samples) {
    MetricFamily* f = nullptr;
    for (MetricFamily& x : out) {
      if (x.name == s.name) f = &x;
    }
    if (f == nullptr) {
      out.push_back(MetricFamily{
          s.name,
          s.help,
          s.type == metric_sample::kind::counter ? MetricType::Counter : MetricType::Gauge,
          {}});
      f = &out.back();
    }
    ClientMetric c;
    for (const auto& [k, v] : s.labels) c.label.push_back({k, v});
    (s.type == metric_sample::kind::counter ? c.counter.value : c.gauge.value) = s.value;
    f->metric.push_back(std::move(c));
  }
}

}  // namespace lanes::prom

namespace lanes {

std::string prometheus_text(const bus_metrics& m) {
  return prometheus::TextSerializer{}.Serialize(prom::families_of(m));
}

}  // namespace lanes
