// tests/connect/postgres/cdc_test_support.hpp: what the lanes::cdc tests share: the fixture
// of the tests against a real server, a scratch data directory, the config for a server's
// publication, a cdc_stream on its own thread, and reading a topic back from the start.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "lanes/cdc.hpp"
#include "lanes/lanes.hpp"
#include "lanes_support/pg_server.hpp"
#include "support/concurrency.hpp"
#include "support/scratch_dir.hpp"

namespace cdc_test {

using namespace std::chrono_literals;

// The fixture of the tests against a real PostgreSQL 15 server (lanes_support/pg_server.hpp):
// skips the test, with the reason, where no server can be started here. A derived SetUp()
// calls this one first and returns if IsSkipped().
class server_test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = pg_test::unavailable(); !why.empty()) GTEST_SKIP() << why;
  }
  // Starts the server (pg_) and runs `statements` on it: the tables and their publication.
  void start_server(std::initializer_list<const char*> statements) {
    pg_ = std::make_unique<pg_test::server>();
    for (const char* sql : statements) pg_->sql(sql);
  }
  std::unique_ptr<pg_test::server> pg_;
};

// A scratch data directory for the tests' buses (support/scratch_dir.hpp).
struct scratch : lanes_test::scratch_dir {
  scratch() : lanes_test::scratch_dir("lanes_cdc") {}
  // A bus on this directory.
  lanes::bus_config bus_config() const {
    lanes::bus_config c;
    c.data_dir = path();
    return c;
  }
};

// The cdc_config that streams `publication` of the server `pg` through the replication slot
// `slot` into topics named "<prefix>.<schema>.<table>".
inline lanes::cdc::cdc_config config_for(const pg_test::server& pg, std::string publication = "pub",
                                         std::string slot = "s1", std::string prefix = "db") {
  lanes::cdc::cdc_config c;
  c.dsn = pg.dsn();
  c.publication = std::move(publication);
  c.slot = std::move(slot);
  c.topic_prefix = std::move(prefix);
  return c;
}

// Runs a cdc_stream on its own thread until destroyed or end(); run()'s error, if any, in
// `error` (read it after `ended`).
struct running_stream {
  lanes::cdc::cdc_stream stream;
  std::atomic<bool> stop{false};
  std::atomic<bool> ended{false};
  std::string error;
  std::thread t;
  running_stream(lanes::bus& b, const lanes::cdc::cdc_config& c) : stream(b, c) {
    t = std::thread([this] {
      try {
        stream.run(stop);
      } catch (const std::exception& e) {
        error = e.what();
      }
      ended.store(true, std::memory_order_release);  // pairs with wait_error's acquire
    });
  }
  ~running_stream() { end(); }
  // run()'s error if it has ended, "" while it runs (never reads `error` during a write).
  std::string error_so_far() const {
    return ended.load(std::memory_order_acquire) ? error : std::string();
  }
  // Stops the stream and waits for run() to return.
  void end() {
    stop = true;
    if (t.joinable()) t.join();
  }
  // run()'s error once it ended by itself (60 s at most); "(still running)" otherwise.
  std::string wait_error() {
    if (!lanes_test::wait_until([&] { return ended.load(std::memory_order_acquire); }))
      return "(still running)";
    return error;
  }
};

struct record {
  std::string key;
  nlohmann::json value;  // null for a tombstone (empty value)
  std::string lsn;       // pg.lsn ("" for snapshot reads)
  std::string snapshot;  // pg.snapshot (snapshot reads only)
};

// Reads `topic` from the start until `n` records or 60 s.
inline std::vector<record> read(lanes::bus& b, const std::string& topic, std::size_t n) {
  std::vector<record> out;
  lanes::consumer_config cc;
  lanes::consumer c = b.make_consumer(cc);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  if (!lanes_test::wait_until([&] { return b.describe_topic(topic).has_value(); })) return out;
  const auto info = b.describe_topic(topic);
  if (!info) return out;
  std::vector<lanes::topic_partition> tps;
  for (std::uint32_t p = 0; p < info->config.partitions; ++p) tps.push_back({topic, p});
  if (c.assign(tps) != lanes::errc::ok) return out;
  for (const auto& tp : tps) (void)c.seek_to_beginning(tp);
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    const lanes::poll_result r = c.poll(50ms);
    for (const lanes::record_view& v : r.records) {
      record rec{std::string(v.key), nullptr, {}, {}};
      if (!v.value.empty()) rec.value = nlohmann::json::parse(v.value);
      for (const lanes::header h : v.headers) {
        if (h.name == "pg.lsn") rec.lsn = std::string(h.value);
        if (h.name == "pg.snapshot") rec.snapshot = std::string(h.value);
      }
      out.push_back(std::move(rec));
    }
  }
  return out;
}

// Waits (60 s at most) until a condition holds: the suite's one helper
// (tests/support/concurrency.hpp).
using lanes_test::wait_until;

}  // namespace cdc_test
