// bench/bench_fio.hpp: running fio, the reference persist_bench and durable_bench measure lanes
// against on the same disk, and reading its JSON. Cold path: a run costs a process start.
#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>

#include "bench_common.hpp"

namespace lanes_bench {

// The number at `path` in fio's JSON (object members by name), or `fallback`.
inline double fio_number(const nlohmann::json& j, std::initializer_list<const char*> path,
                         double fallback = 0) {
  const nlohmann::json* v = &j;
  for (const char* k : path) {
    if (!v->is_object() || !v->contains(k)) return fallback;
    v = &(*v)[k];
  }
  return v->is_number() ? v->get<double>() : fallback;
}

// Runs `command` (an fio command line with --output-format=json) and returns its first job.
// fio prints notes before the JSON: they are cut out. Ends the run when fio fails, reports an
// error, or its JSON cannot be read.
inline nlohmann::json run_fio_job(const std::string& command) {
  int status = 0;
  const std::string out = command_output(command + " 2>&1", &status);
  const std::size_t a = out.find('{');
  const std::size_t b = out.rfind('}');
  if (status != 0 || a == std::string::npos || b == std::string::npos) {
    die("fio failed (" + command + "):\n" + out);
  }
  const nlohmann::json doc = nlohmann::json::parse(out.substr(a, b - a + 1), nullptr, false);
  if (doc.is_discarded() || !doc.contains("jobs") || !doc["jobs"].is_array() ||
      doc["jobs"].empty()) {
    die("cannot read fio's JSON (" + command + ")");
  }
  const nlohmann::json& job = doc["jobs"][0];
  if (fio_number(job, {"error"}) != 0) die("fio reported an error: " + command);
  return job;
}

}  // namespace lanes_bench
