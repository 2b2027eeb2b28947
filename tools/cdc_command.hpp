// tools/cdc_command.hpp: `lanes cdc`, a PostgreSQL publication into lanes topics (lanes::cdc).
// Built when lanes::cdc is (libpq found). Main thread; cold path.
#pragma once

#include <cstdint>
#include <string>

#include "lanes/bus.hpp"

namespace CLI {
class App;
}

namespace lanes_tools {

struct cdc_options {
  std::string data_dir;
  std::string dsn;
  std::string publication;
  std::string slot;
  std::string topic_prefix = "cdc";
  std::uint32_t partitions = 1;
  lanes::durability durability = lanes::durability::async;
  std::string snapshot = "initial";  // initial or never
  bool tombstones = false;
  double progress_seconds = 5;
  bool json = false;
  std::string metrics_listen;
};
CLI::App* add_cdc_command(CLI::App& app, cdc_options& o);
int run_cdc(const cdc_options& o);

}  // namespace lanes_tools
