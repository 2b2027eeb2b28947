// connect/prometheus/metric_families.hpp: bus_metrics as Prometheus metric families (private).
#pragma once

#include <prometheus/metric_family.h>

#include <vector>

#include "lanes/metrics.hpp"
#include "lanes/metrics_exporter.hpp"

namespace lanes::prom {

std::vector<prometheus::MetricFamily> families_of(const bus_metrics& m);
void append_samples(std::vector<prometheus::MetricFamily>& out,
                    const std::vector<metric_sample>& samples);

}  // namespace lanes::prom
