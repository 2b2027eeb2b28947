// tools/metrics_flag.hpp: --metrics-listen HOST:PORT for the long-running commands (lanes perf,
// lanes consume, lanes-stress): the bus's metrics served to Prometheus while they run
// (lanes::prometheus). Cold path, main thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lanes/bus.hpp"

namespace CLI {
class App;
}  // namespace CLI

namespace lanes_tools {

void add_metrics_flag(CLI::App& cmd, std::string& listen);

// Starts serving `b`'s metrics when `listen` is not empty and says where on stderr; keep the
// result alive while the bus runs (destroy it before the bus). A cli_error (exit 1) when it
// cannot listen, or when this build has no lanes::prometheus.
std::shared_ptr<void> serve_metrics(const lanes::bus& b, const std::string& listen);

// A command's own progress, served with the bus's metrics (lanes mirror, lanes cdc): each
// scrape calls `source` on the exporter's thread (it must be thread-safe).
struct tool_metric {
  std::string name;  // e.g. lanes_cdc_transactions_total
  std::string help;
  bool counter = false;
  double value = 0;
  std::vector<std::pair<std::string, std::string>> labels = {};
};
using tool_metrics = std::function<std::vector<tool_metric>()>;
std::shared_ptr<void> serve_metrics(const lanes::bus& b, const std::string& listen,
                                    tool_metrics source);

}  // namespace lanes_tools
