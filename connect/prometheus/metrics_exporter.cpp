// connect/prometheus/metrics_exporter.cpp: prometheus-cpp's HTTP exposer asking the bus for a
// snapshot at each scrape.
#include "lanes/metrics_exporter.hpp"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include <mutex>
#include <stdexcept>

#include "metric_families.hpp"

namespace lanes {

namespace {

class bus_collectable final : public prometheus::Collectable {
 public:
  explicit bus_collectable(const bus& b) : bus_(b) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out = prom::families_of(bus_.metrics());
    std::lock_guard lock(mu_);
    for (const auto& source : sources_) prom::append_samples(out, source());
    return out;
  }
  void add(std::function<std::vector<metric_sample>()> s) {
    std::lock_guard lock(mu_);
    sources_.push_back(std::move(s));
  }

 private:
  const bus& bus_;
  mutable std::mutex mu_;
  std::vector<std::function<std::vector<metric_sample>()>> sources_;
};

}  // namespace

struct metrics_exporter::impl {
  std::string host;
  std::shared_ptr<bus_collectable> collectable;
  std::unique_ptr<prometheus::Exposer> exposer;
};

metrics_exporter::metrics_exporter(const bus& b, const std::string& listen)
    : impl_(std::make_unique<impl>()) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    throw std::runtime_error("metrics: listen address '" + listen + "' is not host:port");
  }
  impl_->host = listen.substr(0, colon);
  impl_->collectable = std::make_shared<bus_collectable>(b);
  try {
    // One HTTP worker thread: scrapes are rare and each takes a whole snapshot.
    impl_->exposer = std::make_unique<prometheus::Exposer>(listen, 1);
  } catch (const std::exception& e) {
    throw std::runtime_error("metrics: cannot listen on " + listen + ": " + e.what());
  }
  impl_->exposer->RegisterCollectable(impl_->collectable);
}

metrics_exporter::~metrics_exporter() = default;

void metrics_exporter::add_source(std::function<std::vector<metric_sample>()> source) {
  impl_->collectable->add(std::move(source));
}

std::uint16_t metrics_exporter::port() const {
  const std::vector<int> ports = impl_->exposer->GetListeningPorts();
  return ports.empty() ? 0 : static_cast<std::uint16_t>(ports.front());
}

std::string metrics_exporter::url() const {
  return "http://" + impl_->host + ":" + std::to_string(port()) + "/metrics";
}

}  // namespace lanes
