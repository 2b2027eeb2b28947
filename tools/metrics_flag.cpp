// tools/metrics_flag.cpp: see metrics_flag.hpp.
#include "metrics_flag.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli_common.hpp"
#if LANES_HAVE_PROMETHEUS
#include "lanes/metrics_exporter.hpp"
#endif

namespace lanes_tools {

void add_metrics_flag(CLI::App& cmd, std::string& listen) {
  cmd.add_option("--metrics-listen", listen,
                 "Serve the bus's metrics to Prometheus at http://HOST:PORT/metrics while "
                 "running (e.g. 127.0.0.1:9464; port 0: any free port, printed)");
}

std::shared_ptr<void> serve_metrics(const lanes::bus& b, const std::string& listen) {
  return serve_metrics(b, listen, nullptr);
}

std::shared_ptr<void> serve_metrics(const lanes::bus& b, const std::string& listen,
                                    tool_metrics source) {
  if (listen.empty()) return nullptr;
#if LANES_HAVE_PROMETHEUS
  try {
    auto e = std::make_shared<lanes::metrics_exporter>(b, listen);
    if (source) {
      e->add_source([source] {
        std::vector<lanes::metric_sample> out;
        for (tool_metric& m : source()) {
          out.push_back(
              {std::move(m.name), std::move(m.help),
               m.counter ? lanes::metric_sample::kind::counter : lanes::metric_sample::kind::gauge,
               std::move(m.labels), m.value});
        }
        return out;
      });
    }
    std::fprintf(stderr, "lanes: metrics on %s\n", e->url().c_str());
    return e;
  } catch (const std::exception& e) {
    runtime_error(std::string("--metrics-listen: ") + e.what());
  }
#else
  (void)b;
  (void)source;
  runtime_error(
      "--metrics-listen: this build has no lanes::prometheus (install "
      "prometheus-cpp-dev and rebuild)");
#endif
}

}  // namespace lanes_tools
