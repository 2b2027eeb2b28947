// lanes_support/json_file.hpp: writes a benchmark's result document, creating its directory;
// a file that cannot be written is an error, never a run whose numbers are quietly lost.
#pragma once

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace lanes_support {

// Writes `doc` (indented, with a final newline) to `path`; throws std::runtime_error naming
// the path when the directory cannot be made or the file cannot be written.
inline void write_json_file(const std::string& path, const nlohmann::json& doc) {
  const std::filesystem::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  std::ofstream file(p);
  file << doc.dump(2) << "\n";
  if (!file.flush()) throw std::runtime_error("cannot write " + path);
}

}  // namespace lanes_support
