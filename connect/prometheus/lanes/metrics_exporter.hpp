// lanes/metrics_exporter.hpp (lanes::prometheus): serves a bus's metrics to Prometheus.
//
//   lanes::bus bus(config);
//   lanes::metrics_exporter metrics(bus, "127.0.0.1:9464");  // GET http://127.0.0.1:9464/metrics
//
// Each scrape takes bus::metrics() on the exporter's HTTP thread and answers in Prometheus'
// text format (names and units: README.md, "Metrics"). Nothing is collected between scrapes,
// so publish and poll pay nothing for the exporter beyond the bus's own counters.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lanes/bus.hpp"
#include "lanes/metrics.hpp"

namespace lanes {

// One sample of an application's own metric, for metrics_exporter::add_source (bridges
// report their progress this way). Counters should end in _total.
struct metric_sample {
  enum class kind : std::uint8_t { counter, gauge };
  std::string name;  // e.g. lanes_kafka_mirrored_records_total
  std::string help;
  kind type = kind::gauge;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

class metrics_exporter {
 public:
  // Listens on `listen` ("host:port"; port 0 picks a free one, see port()) and serves
  // /metrics until destroyed. The bus must outlive the exporter. Throws std::runtime_error
  // with a one-line message (naming the address) when it cannot listen.
  metrics_exporter(const bus& b, const std::string& listen);
  ~metrics_exporter();
  metrics_exporter(const metrics_exporter&) = delete;
  metrics_exporter& operator=(const metrics_exporter&) = delete;

  // Adds samples that each scrape asks `source` for (called on the HTTP thread; must be
  // thread-safe and must not block for long).
  void add_source(std::function<std::vector<metric_sample>()> source);

  std::uint16_t port() const;
  // http://host:port/metrics
  std::string url() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The text a scrape answers for one snapshot (Prometheus exposition format 0.0.4).
std::string prometheus_text(const bus_metrics& m);

}  // namespace lanes
